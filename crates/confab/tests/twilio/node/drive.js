// Drives confab's 2010-04-01 API with the unmodified twilio-node library
// (pinned in package.json / package-lock.json).
//
// Only the API host changes, through the library's own HTTP-client hook: a
// RequestClient, passed as the `httpClient` option, that rewrites
// https://api.twilio.com to confab's base URL. Run by
// crates/confab/tests/twilio_node.rs against a live `confab serve` with two
// labelled callers (CONFAB_LABELS, "alice,bob") in the room CONFAB_ROOM and
// one caller alone in CONFAB_OTHER_ROOM. Ends CONFAB_ROOM last. Exits
// non-zero on the first failed check.
//
// `drive.js STEP ARGS...` runs one step of the calls test instead (see
// STEPS): dial a participant out, place, redirect, hang up and cancel
// calls, end a room; the Rust test checks what the callees hear and get on
// SIP between the steps. A step prints `SID CA...` for the call it made.
"use strict";

const twilio = require("twilio");

const BASE = process.env.CONFAB_BASE;
const SID = process.env.CONFAB_ACCOUNT_SID;
const TOKEN = process.env.CONFAB_AUTH_TOKEN;
const ROOM = process.env.CONFAB_ROOM;
const OTHER_ROOM = process.env.CONFAB_OTHER_ROOM;
const [ALICE, BOB] = (process.env.CONFAB_LABELS || ",").split(",");
/// Who the placed calls say they are from.
const FROM = "+15550002222";
/// The call progress events the calls test asks for.
const CALL_EVENTS = ["initiated", "ringing", "answered", "completed"];
/// How long a call may take to reach a status: generous, the machine is shared.
const WAIT_MS = 20000;
const TWILIO = "https://api.twilio.com";

class ConfabRequestClient extends twilio.RequestClient {
  request(opts) {
    const uri = opts.uri.startsWith(TWILIO) ? BASE + opts.uri.slice(TWILIO.length) : opts.uri;
    return super.request({ ...opts, uri });
  }
}

function client(token = TOKEN) {
  return twilio(SID, token, { httpClient: new ConfabRequestClient() });
}

function check(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

/// The library's RestException a call rejects with, or null if it succeeds.
async function restError(call) {
  try {
    await call();
  } catch (e) {
    if (e instanceof twilio.RestException) return e;
    throw e;
  }
  return null;
}

function isRestError(e, status, code) {
  return e !== null && e.status === status && e.code === code;
}

async function main() {
  const c = client();

  // Conferences: list with filters, fetch.
  const confs = await c.conferences.list({ friendlyName: ROOM });
  check(confs.length === 1, `one conference named ${ROOM}: ${confs.length}`);
  const conf = confs[0];
  check(conf.status === "in-progress", `status in-progress: ${conf.status}`);
  check(conf.apiVersion === "2010-04-01", `apiVersion: ${conf.apiVersion}`);
  check(
    conf.dateCreated instanceof Date && conf.dateCreated.getUTCFullYear() >= 2024,
    `dateCreated parsed: ${conf.dateCreated}`,
  );
  const live = await c.conferences.list({ status: "in-progress", friendlyName: ROOM });
  check(live.length === 1 && live[0].sid === conf.sid, "Status=in-progress filter");
  const done = await c.conferences.list({ status: "completed", friendlyName: ROOM });
  check(done.length === 0, "Status=completed filter");
  const fetched = await c.conferences(conf.sid).fetch();
  check(fetched.sid === conf.sid && fetched.friendlyName === ROOM, "fetch conference");

  // Paging through the library: one conference a page, next_page_uri made
  // absolute on the API host (confab emits paths), then through our hook.
  const all = await c.conferences.list({ pageSize: 1 });
  const names = all.map((x) => x.friendlyName).sort();
  check(
    all.length === 2 && names.join() === [ROOM, OTHER_ROOM].sort().join(),
    `two conferences over two pages: ${names}`,
  );
  const page = await c.conferences.page({ pageSize: 1 });
  check(
    page.instances.length === 1 && page.nextPageUrl.startsWith(`${TWILIO}/2010-04-01/`),
    `next page on the API host: ${page.nextPageUrl}`,
  );
  const next = await page.nextPage();
  check(
    next.instances.length === 1 && next.instances[0].sid !== page.instances[0].sid,
    "nextPage is the other conference",
  );

  // Participants: paging, booleans, labels.
  const participants = c.conferences(conf.sid).participants;
  const people = await participants.list({ pageSize: 1 });
  check(people.length === 2, `two participants over two pages: ${people.length}`);
  check(
    people.every((p) => p.muted === false && p.hold === false && p.coaching === false),
    "booleans are booleans",
  );
  check(people.every((p) => p.status === "connected"), "participant status connected");
  const byLabel = Object.fromEntries(people.map((p) => [p.label, p]));
  check(byLabel[ALICE] !== undefined && byLabel[BOB] !== undefined, `labels: ${Object.keys(byLabel)}`);
  const alice = byLabel[ALICE].callSid;
  const bob = byLabel[BOB].callSid;
  check((await participants(ALICE).fetch()).callSid === alice, "fetch by label");
  check((await participants(bob).fetch()).label === BOB, "fetch by call sid");

  // Mute and unmute, by sid and by label.
  const muted = await participants(alice).update({ muted: true });
  check(muted.muted === true && muted.callSid === alice, "update muted=true reads back muted");
  check((await participants(ALICE).fetch()).muted === true, "fetch muted by label");
  const onlyMuted = await participants.list({ muted: true });
  check(onlyMuted.length === 1 && onlyMuted[0].callSid === alice, "Muted filter");
  check((await participants(ALICE).update({ muted: false })).muted === false, "unmute by label");
  check((await participants.list({ muted: true })).length === 0, "nobody muted");

  // Hold and unhold, by label and by sid.
  const held = await participants(BOB).update({ hold: true });
  check(held.hold === true && held.callSid === bob, "update hold=true by label");
  const onlyHeld = await participants.list({ hold: true });
  check(onlyHeld.length === 1 && onlyHeld[0].callSid === bob, "Hold filter");
  check((await participants(bob).update({ hold: false })).hold === false, "unhold by sid");
  check((await participants(BOB).fetch()).hold === false, "fetch unheld");

  // Calls.
  const calls = await c.calls.list();
  const sids = new Set(calls.map((x) => x.sid));
  check(sids.has(alice) && sids.has(bob), "both legs are calls");
  const call = await c.calls(alice).fetch();
  check(
    call.direction === "inbound" && call.status === "in-progress",
    `call ${call.direction} ${call.status}`,
  );
  const inProgress = await c.calls.list({ status: "in-progress" });
  check(inProgress.length >= 3, `calls Status filter: ${inProgress.length}`);
  const completed = await c.calls.list({ status: "completed" });
  check(!completed.some((x) => x.sid === alice), "Status=completed excludes live calls");

  // Errors surface as the library's RestException with Twilio's code.
  let e = await restError(() => c.conferences("CF" + "0".repeat(32)).fetch());
  check(isRestError(e, 404, 20404), `conference 404 is 20404: ${e && e.code}`);
  e = await restError(() => participants("CA" + "0".repeat(32)).fetch());
  check(isRestError(e, 404, 20404), `participant 404 is 20404: ${e && e.code}`);
  e = await restError(() => c.calls("CA" + "0".repeat(32)).fetch());
  check(isRestError(e, 404, 20404), `call 404 is 20404: ${e && e.code}`);
  const stranger = client("0".repeat(32));
  e = await restError(() => stranger.conferences(conf.sid).fetch());
  check(isRestError(e, 401, 20003), `fetch 401 is 20003: ${e && e.code}`);
  e = await restError(() => stranger.conferences.list());
  check(isRestError(e, 401, 20003), `list 401 is 20003: ${e && e.code}`);

  // Kick bob, then end the room: alice leaves with it.
  check((await participants(bob).remove()) === true, "kick");
  const left = await participants.list();
  check(left.length === 1 && left[0].callSid === alice, "one participant left");
  const ended = await c.conferences(conf.sid).update({ status: "completed" });
  check(ended.status === "completed", `update status=completed: ${ended.status}`);
  const after = await c.conferences(conf.sid).fetch();
  check(
    after.status === "completed" && after.reasonConferenceEnded === "conference-ended-via-api",
    `ended via the API: ${after.status} ${after.reasonConferenceEnded}`,
  );
  e = await restError(() => participants(alice).fetch());
  check(isRestError(e, 404, 20404), "a participant of an ended room is gone");
  console.log("twilio-node: all checks passed");
}

/// Polls the call until its status is `want` (or fails after WAIT_MS).
async function awaitStatus(sid, want) {
  const c = client();
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const call = await c.calls(sid).fetch();
    if (call.status === want) return call;
    if (Date.now() > deadline) check(false, `call ${sid} reached ${want}: still ${call.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/// participants.create: dials CALLEE_URI into the room ROOM_NAME (one
/// caller waits in it, `init`), with the call's status callback; waits
/// until the participant is in, by label, and the room has started.
async function addParticipant(room, callee, label, callback) {
  const c = client();
  const confs = await c.conferences.list({ friendlyName: room, status: "init" });
  check(confs.length === 1, `one waiting conference ${room}: ${confs.length}`);
  const participants = c.conferences(confs[0].sid).participants;
  const p = await participants.create({
    from: FROM,
    to: callee,
    label,
    statusCallback: callback,
    statusCallbackEvent: CALL_EVENTS,
  });
  check(/^CA[0-9a-f]{32}$/.test(p.callSid), `participant callSid ${p.callSid}`);
  check(p.label === label, `label ${p.label}`);
  check(p.muted === false && p.hold === false, "booleans are booleans");
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const e = await restError(() => participants(label).fetch());
    if (e === null) break;
    check(isRestError(e, 404, 20404), `not joined yet is 20404: ${e.code}`);
    if (Date.now() > deadline) check(false, `the dialled participant ${label} joined`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const joined = await participants(label).fetch();
  check(joined.callSid === p.callSid && joined.status === "connected", "the participant by its label");
  check((await c.conferences(confs[0].sid).fetch()).status === "in-progress", "the room started");
  const call = await awaitStatus(p.callSid, "in-progress");
  check(call.direction === "outbound-api", `direction ${call.direction}`);
  check(call.to === callee && call.from === FROM, `to/from ${call.to} ${call.from}`);
  console.log(`SID ${p.callSid}`);
}

/// calls.create with a URL or a TwiML document (`url:...` or `twiml:...`).
async function createCall(callee, script, callback) {
  const c = client();
  const [kind, ...rest] = script.split(":");
  const body = rest.join(":");
  const call = await c.calls.create({
    from: FROM,
    to: callee,
    ...(kind === "url" ? { url: body } : { twiml: body }),
    statusCallback: callback,
    statusCallbackEvent: CALL_EVENTS,
  });
  check(/^CA[0-9a-f]{32}$/.test(call.sid), `call sid ${call.sid}`);
  check(call.direction === "outbound-api", `direction ${call.direction}`);
  check(["queued", "ringing"].includes(call.status), `a new call is queued: ${call.status}`);
  check(call.to === callee && call.from === FROM, `to/from ${call.to} ${call.from}`);
  console.log(`SID ${call.sid}`);
}

/// calls(sid).update({twiml}): the live call runs the new document.
async function redirect(sid, twiml) {
  const call = await client().calls(sid).update({ twiml });
  check(call.sid === sid && call.status === "in-progress", `redirected: ${call.status}`);
}

/// calls(sid).update({status: "completed"}): the callee gets a BYE.
async function hangUp(sid) {
  const call = await client().calls(sid).update({ status: "completed" });
  check(call.sid === sid, "hang-up answers the call");
  const done = await awaitStatus(sid, "completed");
  check(done.endTime instanceof Date && done.duration !== null, `ended: ${done.duration}`);
}

/// A call that rings: `ringing` read back, redirecting it refused with
/// Twilio's 21220, then calls(sid).update({status: "canceled"}).
async function cancel(sid) {
  const c = client();
  await awaitStatus(sid, "ringing");
  const e = await restError(() => c.calls(sid).update({ twiml: "<Response/>" }));
  check(isRestError(e, 400, 21220), `a ringing call is not redirected: ${e && e.code}`);
  await c.calls(sid).update({ status: "canceled" });
  const done = await awaitStatus(sid, "canceled");
  check(!(done.startTime instanceof Date) && done.endTime instanceof Date, "canceled before an answer");
  const listed = await c.calls.list({ status: "canceled" });
  check(listed.some((x) => x.sid === sid), "Status=canceled filter");
}

/// conferences(sid).update({status: "completed"}) on the live room.
async function endRoom(room) {
  const c = client();
  const confs = await c.conferences.list({ friendlyName: room, status: "in-progress" });
  check(confs.length === 1, `one live conference ${room}`);
  const ended = await c.conferences(confs[0].sid).update({ status: "completed" });
  check(ended.status === "completed", `ended: ${ended.status}`);
}

const STEPS = {
  checks: main,
  "add-participant": addParticipant,
  "create-call": createCall,
  redirect,
  "hang-up": hangUp,
  cancel,
  "end-room": endRoom,
};

const [step, ...args] = process.argv.slice(2);
const run = STEPS[step || "checks"];
if (run === undefined) {
  check(false, `a known step: ${step} (one of ${Object.keys(STEPS).join(", ")})`);
}
run(...args)
  .then(() => console.log(`twilio-node: step ${step || "checks"} passed`))
  .catch((e) => {
    console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  });
