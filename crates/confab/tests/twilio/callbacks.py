"""A conference app's web side, checking confab's status callbacks with the
unmodified twilio-python library's own RequestValidator.

Serves, on 127.0.0.1 (a free port, printed as `LISTENING http://...`):
- /voice: TwiML putting the caller in the room named by CONFAB_ROOM, with
  statusCallback="/events" and every event word;
- /events: each callback, validated (X-Twilio-Signature, with the account's
  AuthToken) by twilio.request_validator.RequestValidator.

Run by crates/confab/tests/twilio_python.rs, which then sends two callers
in and hangs them up. Once `conference-end` arrives (or after a deadline),
checks what came and exits non-zero on the first failed check.

`callbacks.py calls` serves /call-events instead: the call StatusCallbacks
of the calls the test places, each validated the same way. Once
CONFAB_CALLS_ENDING calls have reached a final status (or after a
deadline), checks that each call's statuses are one of
CONFAB_CALL_SEQUENCES (`;` between sequences, `,` within one), each used
once, in SequenceNumber order from 0.
"""

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

SID = os.environ["CONFAB_ACCOUNT_SID"]
TOKEN = os.environ["CONFAB_AUTH_TOKEN"]
ROOM = os.environ.get("CONFAB_ROOM", "")
DEADLINE_S = 30
FINAL = ("completed", "busy", "failed", "no-answer", "canceled")

validator = RequestValidator(TOKEN)
received = []
call_received = []
ended = threading.Event()
lock = threading.Lock()


def calls_ended():
    """Whether CONFAB_CALLS_ENDING calls have reached a final status."""
    want = int(os.environ.get("CONFAB_CALLS_ENDING", "0"))
    finals = [p for p, _ in call_received if p.get("CallStatus") in FINAL]
    return want > 0 and len(finals) >= want


def twiml():
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        ROOM,
        beep=False,
        status_callback="/events",
        status_callback_event="start end join leave mute hold modify speaker announcement",
    )
    response.append(dial)
    return str(response)


class App(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        params = dict(parse_qsl(body, keep_blank_values=True))
        url = f"http://127.0.0.1:{self.server.server_port}{self.path}"
        if self.path == "/voice":
            self.answer(twiml(), "text/xml")
            return
        if self.path == "/events":
            signature = self.headers.get("X-Twilio-Signature", "")
            valid = validator.validate(url, params, signature)
            with lock:
                received.append((params, valid))
            self.answer("", "text/plain")
            if params.get("StatusCallbackEvent") == "conference-end":
                ended.set()
            return
        if self.path == "/call-events":
            signature = self.headers.get("X-Twilio-Signature", "")
            valid = validator.validate(url, params, signature)
            with lock:
                call_received.append((params, valid))
                done = calls_ended()
            self.answer("", "text/plain")
            if done:
                ended.set()
            return
        self.send_response(404)
        self.end_headers()

    def answer(self, text, content_type):
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def serve():
    """Starts the app and says where; waits for the end (or the deadline)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"LISTENING http://127.0.0.1:{server.server_port}", flush=True)
    arrived = ended.wait(DEADLINE_S)
    server.shutdown()
    return arrived


def conference_checks():
    """The room's callbacks: valid, in order, one start, one end, last."""
    check(serve(), "conference-end arrived")
    with lock:
        got = list(received)
    events = [p.get("StatusCallbackEvent") for p, _ in got]
    check(all(valid for _, valid in got), f"every callback passes RequestValidator: {got}")
    check(
        [int(p["SequenceNumber"]) for p, _ in got] == list(range(1, len(got) + 1)),
        "SequenceNumber counts 1, 2, ...",
    )
    check(events[:3] == ["participant-join", "participant-join", "conference-start"], f"joins, start: {events}")
    check(events[-1] == "conference-end" and events.count("conference-end") == 1, "one end, last")
    check(events.count("conference-start") == 1, "one start")
    check(events.count("participant-leave") == 2, f"two leaves: {events}")
    for params, _ in got:
        check(params["AccountSid"] == SID and params["FriendlyName"] == ROOM, "the conference's own")
        check(params["Timestamp"].endswith("+0000"), f"Timestamp {params['Timestamp']}")
        if params["StatusCallbackEvent"].startswith("participant-"):
            check(params["Muted"] in ("true", "false") and params["Hold"] in ("true", "false"),
                  "Muted and Hold are true/false strings")
    end = got[-1][0]
    check(end.get("ReasonConferenceEnded") == "last-participant-left", f"end reason: {end}")
    print("twilio-python callbacks: all checks passed")


def call_checks():
    """The calls' StatusCallbacks: valid, each call's statuses in order."""
    check(serve(), "every call reached a final status")
    with lock:
        got = list(call_received)
    check(all(valid for _, valid in got), f"every callback passes RequestValidator: {got}")
    by_sid = {}
    for params, _ in got:
        check(params["AccountSid"] == SID, "the account's own")
        check(params["Direction"] == "outbound-api", f"Direction {params['Direction']}")
        check(params["Timestamp"].endswith("+0000"), f"Timestamp {params['Timestamp']}")
        by_sid.setdefault(params["CallSid"], []).append(params)
    seen = []
    for sid, events in by_sid.items():
        numbers = [int(p["SequenceNumber"]) for p in events]
        check(numbers == list(range(len(events))), f"{sid}: SequenceNumber 0, 1, ...: {numbers}")
        seen.append(",".join(p["CallStatus"] for p in events))
    want = os.environ["CONFAB_CALL_SEQUENCES"].split(";")
    check(sorted(seen) == sorted(want), f"the calls' statuses: {seen}")
    print("twilio-python call callbacks: all checks passed")


if __name__ == "__main__":
    if sys.argv[1:] == ["calls"]:
        call_checks()
    else:
        conference_checks()
