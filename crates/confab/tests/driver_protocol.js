// What the browser drivers (tests/dashboard_browser.js for Chromium,
// tests/firefox_driver.js for Firefox) share: the line protocol (one JSON
// command a line on stdin, one JSON answer a line on stdout), waiting on a
// page expression, and finding an element's middle to click.
"use strict";

const readline = require("readline");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function answer(reply) {
  process.stdout.write(JSON.stringify(reply) + "\n");
}

/// Until the page's `expr` is truthy, read with `evaluate`.
async function waitFor(evaluate, expr, ms) {
  const deadline = Date.now() + (ms || 10000);
  for (;;) {
    if (await evaluate("Boolean(" + expr + ")")) return true;
    if (Date.now() > deadline) throw new Error("never true within " + (ms || 10000) + " ms: " + expr);
    await sleep(50);
  }
}

/// The middle of `selector`'s element in viewport pixels, scrolled into
/// view first; it must be visible.
async function centre(evaluate, selector) {
  await waitFor(evaluate, "document.querySelector(" + JSON.stringify(selector) + ")", 10000);
  const box = await evaluate("(() => { const el = document.querySelector(" + JSON.stringify(selector) +
    "); el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();" +
    " return {x: r.x + r.width / 2, y: r.y + r.height / 2, w: r.width, h: r.height}; })()");
  if (!box.w || !box.h) throw new Error("not visible: " + selector);
  return box;
}

/// Answers "ready", then runs each command line by its `cmd` in
/// `commands` until stdin ends; then `commands.quit()`.
async function serve(commands) {
  answer({ ok: true, value: "ready" });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    let reply;
    try {
      const command = JSON.parse(line);
      const run = commands[command.cmd];
      if (!run) throw new Error("no command " + command.cmd);
      reply = { ok: true, value: (await run(command)) ?? null };
    } catch (e) {
      reply = { ok: false, error: String(e.message || e) };
    }
    answer(reply);
  }
  await commands.quit();
}

module.exports = { answer, centre, serve, sleep, waitFor };
