// A small driver of headless Firefox over WebDriver BiDi, speaking the same
// line protocol as tests/dashboard_browser.js (which drives Chromium), for
// tests/browser_join.rs: one JSON command a line on stdin, one JSON answer a
// line on stdout ({"ok":true,"value":...} or {"ok":false,"error":"..."}).
// Commands: open, click (a real pointer click in the element's middle),
// waitFor, eval, screenshot, quit (see dashboard_browser.js).
// Environment: FIREFOX (the binary), FIREFOX_LOG (its stderr), PROFILE (a
// fresh profile dir). The profile gives the page a fake microphone (a
// tone) without asking, lets audio play, and keeps host candidates plain
// addresses (no mDNS names).
"use strict";

const { spawn, spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const { answer, centre, serve, waitFor } = require("./driver_protocol.js");

// Node 20 and 21 have WebSocket behind a flag; 22 on have it built in.
if (typeof WebSocket === "undefined") {
  const again = spawnSync(process.execPath, ["--experimental-websocket", "--no-warnings", __filename], {
    stdio: "inherit",
  });
  process.exit(again.status ?? 1);
}

const profile = process.env.PROFILE;
fs.mkdirSync(profile, { recursive: true });
fs.writeFileSync(path.join(profile, "user.js"), [
  ["media.navigator.streams.fake", true],
  ["media.navigator.permission.disabled", true],
  ["media.autoplay.default", 0],
  ["media.peerconnection.ice.obfuscate_host_addresses", false],
  ["browser.shell.checkDefaultBrowser", false],
  ["app.update.enabled", false],
  ["datareporting.policy.dataSubmissionEnabled", false],
  ["toolkit.telemetry.reportingpolicy.firstRun", false],
].map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join("\n"));

const firefox = spawn(process.env.FIREFOX || "firefox-esr", [
  "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port=0",
  "--window-size=1100,900", "about:blank",
], { stdio: ["ignore", "ignore", "pipe"] });
const log = fs.createWriteStream(process.env.FIREFOX_LOG || "/dev/null");
let quitting = false;
firefox.on("exit", (code) => {
  if (quitting) process.exit(0);
  answer({ ok: false, error: "firefox exited (" + code + ")" });
  process.exit(1);
});

/// The BiDi endpoint Firefox prints on stderr once it listens.
const listening = new Promise((resolve) => {
  let seen = "";
  firefox.stderr.on("data", (chunk) => {
    log.write(chunk);
    seen += chunk.toString("utf8");
    const m = seen.match(/WebDriver BiDi listening on (ws:\/\/[^\s]+)/);
    if (m) { resolve(m[1]); seen = ""; }
  });
});

let socket = null;
let nextId = 1;
const pending = new Map();

function bidi(method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    socket.send(JSON.stringify({ id, method, params: params || {} }));
  });
}

let context = null;

/// A BiDi remote value as plain JSON (what the tests' expressions return).
function plain(v) {
  switch (v.type) {
    case "undefined": case "null": return null;
    case "string": case "boolean": return v.value;
    case "number": return typeof v.value === "number" ? v.value : Number(v.value);
    case "array": return v.value.map(plain);
    case "object": return Object.fromEntries(v.value.map(([k, x]) => [typeof k === "string" ? k : plain(k), plain(x)]));
    default: return v.type;
  }
}

async function evaluate(expr) {
  const result = await bidi("script.evaluate", {
    expression: expr, target: { context }, awaitPromise: true, resultOwnership: "none",
  });
  if (result.type === "exception") {
    throw new Error("page threw: " + (result.exceptionDetails.text || JSON.stringify(result.exceptionDetails)));
  }
  return plain(result.result);
}

async function click(selector) {
  const box = await centre(evaluate, selector);
  await bidi("input.performActions", {
    context,
    actions: [{
      type: "pointer", id: "mouse", parameters: { pointerType: "mouse" },
      actions: [
        { type: "pointerMove", x: Math.round(box.x), y: Math.round(box.y) },
        { type: "pointerDown", button: 0 },
        { type: "pointerUp", button: 0 },
      ],
    }],
  });
}

const commands = {
  async open({ url }) {
    await bidi("browsingContext.navigate", { context, url, wait: "complete" });
  },
  click: ({ selector }) => click(selector),
  waitFor: ({ expr, ms }) => waitFor(evaluate, expr, ms),
  eval: ({ expr }) => evaluate(expr),
  async screenshot({ path: file }) {
    const { data } = await bidi("browsingContext.captureScreenshot", { context });
    fs.writeFileSync(file, Buffer.from(data, "base64"));
  },
  async quit() {
    quitting = true;
    try { await bidi("browser.close"); } catch (_) { /* it is going */ }
    firefox.kill();
  },
};


async function main() {
  const url = await listening;
  socket = new WebSocket(url + "/session");
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const waiting = message.id && pending.get(message.id);
    if (waiting) {
      pending.delete(message.id);
      if (message.type === "error") waiting.reject(new Error(message.error + ": " + message.message));
      else waiting.resolve(message.result);
    }
  };
  await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
  await bidi("session.new", { capabilities: {} });
  const tree = await bidi("browsingContext.getTree", {});
  context = tree.contexts[0].context;
  await serve(commands);
}

main().catch((e) => { answer({ ok: false, error: String(e.message || e) }); process.exit(1); });
