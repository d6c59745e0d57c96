// A small driver of headless Chromium over the DevTools protocol
// (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4), for
// tests/dashboard_browser.rs. It reads one JSON command a line on stdin and
// answers one JSON line on stdout: {"ok":true,"value":...} or
// {"ok":false,"error":"..."}. Commands:
//   {"cmd":"open","url":U}                  navigate and wait for the load
//   {"cmd":"type","selector":S,"text":T}    focus S (a click) and type T
//   {"cmd":"click","selector":S}            a real mouse click in S's middle
//   {"cmd":"key","key":K}                   a real key press (Tab, Enter, " ")
//   {"cmd":"waitFor","expr":E,"ms":N}       until the page's E is truthy
//   {"cmd":"eval","expr":E}                 E's value
//   {"cmd":"screenshot","path":P}           a PNG of the page at P
//   {"cmd":"quit"}
// Environment: CHROMIUM (the binary), CHROMIUM_LOG (its stderr), PROFILE
// (a fresh user-data dir), CHROMIUM_ARGS (a JSON array of extra flags, e.g.
// tests/browser_join.rs's fake microphone).
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const { answer, centre, serve, waitFor } = require("./driver_protocol.js");

const chromium = spawn(process.env.CHROMIUM || "chromium", [
  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
  "--disable-client-side-phishing-detection", "--disable-features=Translate,MediaRouter",
  "--window-size=1100,900", "--user-data-dir=" + process.env.PROFILE,
  ...JSON.parse(process.env.CHROMIUM_ARGS || "[]"),
  "--remote-debugging-pipe", "about:blank",
], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
const log = fs.createWriteStream(process.env.CHROMIUM_LOG || "/dev/null");
chromium.stderr.pipe(log);
let quitting = false;
chromium.on("exit", (code) => {
  if (quitting) process.exit(0);
  answer({ ok: false, error: "chromium exited (" + code + ")" });
  process.exit(1);
});

const toChromium = chromium.stdio[3];
const fromChromium = chromium.stdio[4];
let nextId = 1;
const pending = new Map();
let received = "";
fromChromium.on("data", (chunk) => {
  received += chunk.toString("utf8");
  let end;
  while ((end = received.indexOf("\0")) >= 0) {
    const message = JSON.parse(received.slice(0, end));
    received = received.slice(end + 1);
    const waiting = message.id && pending.get(message.id);
    if (waiting) {
      pending.delete(message.id);
      if (message.error) waiting.reject(new Error(message.error.message));
      else waiting.resolve(message.result);
    }
  }
});

function cdp(method, params, sessionId) {
  const id = nextId++;
  const message = { id, method, params: params || {} };
  if (sessionId) message.sessionId = sessionId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    toChromium.write(JSON.stringify(message) + "\0");
  });
}

let session = null;
const page = (method, params) => cdp(method, params, session);

async function evaluate(expr) {
  const result = await page("Runtime.evaluate", { expression: expr, returnByValue: true, awaitPromise: true });
  if (result.exceptionDetails) {
    throw new Error("page threw: " + (result.exceptionDetails.exception?.description || result.exceptionDetails.text));
  }
  return result.result.value;
}


async function click(selector) {
  const { x, y } = await centre(evaluate, selector);
  for (const type of ["mousePressed", "mouseReleased"]) {
    await page("Input.dispatchMouseEvent", { type, x, y, button: "left", clickCount: 1 });
  }
}

/// Key codes of the keys the tests press.
const KEYS = {
  Tab: { code: "Tab", windowsVirtualKeyCode: 9 },
  Enter: { code: "Enter", windowsVirtualKeyCode: 13, text: "\r" },
  " ": { code: "Space", windowsVirtualKeyCode: 32, text: " " },
};

async function key(name) {
  const k = KEYS[name];
  if (!k) throw new Error("no key " + name);
  await page("Input.dispatchKeyEvent", { type: k.text ? "keyDown" : "rawKeyDown", key: name, ...k });
  await page("Input.dispatchKeyEvent", { type: "keyUp", key: name, code: k.code, windowsVirtualKeyCode: k.windowsVirtualKeyCode });
}

const commands = {
  async open({ url }) {
    await page("Page.navigate", { url });
    await waitFor(evaluate, "document.readyState === 'complete'", 10000);
  },
  async type({ selector, text }) {
    await click(selector);
    await page("Input.insertText", { text });
  },
  click: ({ selector }) => click(selector),
  key: ({ key: name }) => key(name),
  waitFor: ({ expr, ms }) => waitFor(evaluate, expr, ms),
  eval: ({ expr }) => evaluate(expr),
  async screenshot({ path }) {
    const shot = await page("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
    fs.writeFileSync(path, Buffer.from(shot.data, "base64"));
  },
  async quit() {
    quitting = true;
    try { await cdp("Browser.close"); } catch (_) { /* it is going */ }
    chromium.kill();
  },
};


async function main() {
  const { targetId } = await cdp("Target.createTarget", { url: "about:blank" });
  ({ sessionId: session } = await cdp("Target.attachToTarget", { targetId, flatten: true }));
  await page("Page.enable");
  await page("Runtime.enable");
  await serve(commands);
}

main().catch((e) => { answer({ ok: false, error: String(e.message || e) }); process.exit(1); });
