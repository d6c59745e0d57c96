// A conference app's web side in node, checking confab's status callbacks
// with the unmodified twilio-node library's own `twilio.validateRequest`.
//
// Serves, on 127.0.0.1 (a free port, printed as `LISTENING http://...`):
// - /voice: TwiML (the library's VoiceResponse) putting the caller in the
//   room CONFAB_ROOM, with statusCallback="/events" and its event words;
// - /events: each conference status callback;
// - /call-events: each call StatusCallback of the calls the test places.
// Every callback is validated (X-Twilio-Signature, the account's
// AuthToken) by twilio.validateRequest.
//
// Run by crates/confab/tests/twilio_node.rs. Once `conference-end` and
// CONFAB_CALLS_ENDING final call statuses have arrived (or after a
// deadline), checks what came: every callback valid, the conference's in
// order with one start and one end, last, and each call's statuses one of
// CONFAB_CALL_SEQUENCES (`;` between sequences, `,` within one), each
// sequence used once. Exits non-zero on the first failed check.
"use strict";

const http = require("http");
const twilio = require("twilio");

const SID = process.env.CONFAB_ACCOUNT_SID;
const TOKEN = process.env.CONFAB_AUTH_TOKEN;
const ROOM = process.env.CONFAB_ROOM;
const ENDING = Number(process.env.CONFAB_CALLS_ENDING);
const SEQUENCES = process.env.CONFAB_CALL_SEQUENCES.split(";");
const DEADLINE_MS = 60000;
const FINAL = ["completed", "busy", "failed", "no-answer", "canceled"];

const conference = [];
const calls = [];

function check(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

function twiml() {
  const response = new twilio.twiml.VoiceResponse();
  response.dial().conference(
    {
      beep: false,
      statusCallback: "/events",
      statusCallbackEvent: ["start", "end", "join", "leave", "mute", "hold"],
    },
    ROOM,
  );
  return response.toString();
}

function done() {
  const ended = conference.some((c) => c.params.StatusCallbackEvent === "conference-end");
  const finals = calls.filter((c) => FINAL.includes(c.params.CallStatus)).length;
  return ended && finals >= ENDING;
}

const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    const params = Object.fromEntries(new URLSearchParams(body));
    const url = `http://127.0.0.1:${server.address().port}${req.url}`;
    const signature = req.headers["x-twilio-signature"] || "";
    const valid = twilio.validateRequest(TOKEN, signature, url, params);
    if (req.url === "/voice") {
      res.writeHead(200, { "Content-Type": "text/xml" });
      res.end(twiml());
      return;
    }
    const into = { "/events": conference, "/call-events": calls }[req.url];
    if (into === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    into.push({ params, valid });
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end();
    if (done()) finish();
  });
});

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  server.close();
  clearTimeout(timer);
  check(done(), `conference-end and ${ENDING} call ends arrived`);

  const all = conference.concat(calls);
  check(all.every((c) => c.valid), `every callback passes validateRequest: ${all.length}`);
  check(all.every((c) => c.params.AccountSid === SID), "the account's own");
  check(all.every((c) => c.params.Timestamp.endsWith("+0000")), "Timestamps in RFC 2822 +0000");

  const events = conference.map((c) => c.params.StatusCallbackEvent);
  const sequence = conference.map((c) => Number(c.params.SequenceNumber));
  check(sequence.every((n, i) => i === 0 || n > sequence[i - 1]), `SequenceNumber increases: ${sequence}`);
  check(events.filter((e) => e === "conference-start").length === 1, `one start: ${events}`);
  const end = events.indexOf("conference-end");
  check(
    end >= 0 && events.slice(end + 1).every((e) => e === "participant-leave"),
    `conference-end last but the leaves it causes: ${events}`,
  );
  check(conference[end].params.ReasonConferenceEnded === "conference-ended-via-api", "ended via the API");
  check(conference.every((c) => c.params.FriendlyName === ROOM), "the room's own");

  // Each call's statuses, in its SequenceNumber order, from 0.
  const bySid = new Map();
  for (const c of calls) {
    if (!bySid.has(c.params.CallSid)) bySid.set(c.params.CallSid, []);
    bySid.get(c.params.CallSid).push(c.params);
  }
  const seen = [];
  for (const [sid, list] of bySid) {
    const numbers = list.map((p) => Number(p.SequenceNumber));
    check(numbers.every((n, i) => n === i), `${sid}: SequenceNumber 0, 1, ...: ${numbers}`);
    check(list.every((p) => p.Direction === "outbound-api"), `${sid}: outbound-api`);
    seen.push(list.map((p) => p.CallStatus).join(","));
  }
  check(
    seen.slice().sort().join(";") === SEQUENCES.slice().sort().join(";"),
    `the calls' statuses: ${seen.join(";")}`,
  );
  console.log("twilio-node callbacks: all checks passed");
}

const timer = setTimeout(finish, DEADLINE_MS);
server.listen(0, "127.0.0.1", () => {
  console.log(`LISTENING http://127.0.0.1:${server.address().port}`);
});
