"""Drives confab's 2010-04-01 API with the unmodified twilio-python library.

Only the API host changes, through the library's own HTTP-client hook: a
TwilioHttpClient that rewrites https://api.twilio.com to confab's base URL.
Run by crates/confab/tests/twilio_python.rs against a live `confab serve`
with two callers in the room named by CONFAB_ROOM, one step per invocation
(`drive.py STEP [ARG]`, see STEPS; no step runs "checks"), so the Rust test
can check the callers' audio between steps. Exits non-zero on the first
failed check.
"""

import os
import sys

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

BASE = os.environ["CONFAB_BASE"]
SID = os.environ["CONFAB_ACCOUNT_SID"]
TOKEN = os.environ["CONFAB_AUTH_TOKEN"]
ROOM = os.environ["CONFAB_ROOM"]


class ConfabHttpClient(TwilioHttpClient):
    def request(self, method, url, *args, **kwargs):
        url = url.replace("https://api.twilio.com", BASE, 1)
        return super().request(method, url, *args, **kwargs)


def client(token=TOKEN):
    return Client(SID, token, http_client=ConfabHttpClient())


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def rest_error(call):
    try:
        call()
    except TwilioRestException as e:
        return e
    return None


def dial_out():
    """Adds a participant by dialing out to CONFAB_CALLEE_URI (a testkit
    callee, which answers and must hear the room), through the library's
    participants.create, and follows it until its call is in progress."""
    import time

    c = client()
    callee = os.environ["CONFAB_CALLEE_URI"]
    p = c.conferences(ROOM).participants.create(
        from_="+15550001111", to=callee, label="python", early_media=False
    )
    check(p.call_sid.startswith("CA") and len(p.call_sid) == 34, f"participant call_sid {p.call_sid}")
    check(p.label == "python", f"label {p.label}")
    check(p.muted is False and p.hold is False, "booleans are booleans")
    deadline = time.time() + 20
    while True:
        confs = c.conferences.list(friendly_name=ROOM, status="in-progress")
        people = c.conferences(confs[0].sid).participants.list() if confs else []
        if any(x.call_sid == p.call_sid for x in people):
            break
        if time.time() >= deadline:
            check(False, f"the dialled participant joined: {people}")
        time.sleep(0.05)
    check(True, "the dialled participant joined the room")
    by_label = c.conferences(confs[0].sid).participants("python").fetch()
    check(by_label.call_sid == p.call_sid, "the participant by its label")
    call = c.calls(p.call_sid).fetch()
    check(call.direction == "outbound-api", f"direction {call.direction}")
    check(call.status == "in-progress", f"status {call.status}")
    # The generated CallInstance keeps `from` as `_from` (a Python keyword).
    check(call.to == callee and call._from == "+15550001111", f"to/from {call.to} {call._from}")
    print("twilio-python: dial-out checks passed")


# The calls steps: the Rust test checks what the callees hear and get on
# SIP between them. A step that makes a call prints `SID CA...`.
FROM = "+15550003333"
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def await_status(sid, want):
    """Fetches the call until its status is `want` (or fails after 20 s)."""
    import time

    c = client()
    deadline = time.time() + 20
    while True:
        call = c.calls(sid).fetch()
        if call.status == want:
            return call
        if time.time() >= deadline:
            check(False, f"call {sid} reached {want}: still {call.status}")
        time.sleep(0.05)


def create_call(callee, script, callback):
    """calls.create running `url:URL` or `twiml:DOCUMENT`, with the call's
    StatusCallback asking for every progress event."""
    kind, _, body = script.partition(":")
    document = {"url": body} if kind == "url" else {"twiml": body}
    call = client().calls.create(
        from_=FROM,
        to=callee,
        status_callback=callback,
        status_callback_event=CALL_EVENTS,
        **document,
    )
    check(call.sid.startswith("CA") and len(call.sid) == 34, f"call sid {call.sid}")
    check(call.direction == "outbound-api", f"direction {call.direction}")
    check(call.status in ("queued", "ringing"), f"a new call is queued: {call.status}")
    check(call.to == callee and call._from == FROM, f"to/from {call.to} {call._from}")
    print(f"SID {call.sid}")


def redirect(sid, twiml):
    """calls(sid).update(twiml=...) on the answered call."""
    await_status(sid, "in-progress")
    call = client().calls(sid).update(twiml=twiml)
    check(call.sid == sid and call.status == "in-progress", f"redirected: {call.status}")


def hang_up(sid):
    """calls(sid).update(status="completed"): the callee gets a BYE."""
    call = client().calls(sid).update(status="completed")
    check(call.sid == sid, "hang-up answers the call")
    done = await_status(sid, "completed")
    check(done.end_time is not None and done.duration is not None, f"ended after {done.duration} s")


def cancel(sid):
    """A ringing call: read back `ringing`, its redirect refused (21220),
    then calls(sid).update(status="canceled")."""
    c = client()
    await_status(sid, "ringing")
    e = rest_error(lambda: c.calls(sid).update(twiml="<Response/>"))
    check(e is not None and e.status == 400 and e.code == 21220, f"no redirect while ringing: {e}")
    c.calls(sid).update(status="canceled")
    done = await_status(sid, "canceled")
    check(done.start_time is None and done.end_time is not None, "canceled before an answer")
    check(sid in {x.sid for x in c.calls.list(status="canceled")}, "Status=canceled filter")


def checks():
    """Lists, fetches, pages, mutes and kicks; errors as the library's."""
    c = client()
    confs = c.conferences.list(friendly_name=ROOM)
    check(len(confs) == 1, f"one conference named {ROOM}: {confs}")
    conf = confs[0]
    check(conf.status == "in-progress", f"status in-progress: {conf.status}")
    check(conf.api_version == "2010-04-01", "api_version")
    check(conf.date_created is not None and conf.date_created.year >= 2024, "date_created parsed")
    fetched = c.conferences(conf.sid).fetch()
    check(fetched.sid == conf.sid and fetched.friendly_name == ROOM, "fetch conference")
    check(len(c.conferences.list(status="completed", friendly_name=ROOM)) == 0, "Status filter")

    # Paging through next_page_uri, one participant a page.
    people = c.conferences(conf.sid).participants.list(page_size=1)
    check(len(people) == 2, f"two participants over two pages: {people}")
    first, second = people
    check(first.muted is False and first.hold is False, "booleans are booleans")
    check(first.status == "connected", "participant status")

    muted = c.conferences(conf.sid).participants(first.call_sid).update(muted=True)
    check(muted.muted is True, "update muted=True reads back muted")
    check(c.conferences(conf.sid).participants(first.call_sid).fetch().muted is True, "fetch muted")
    only = c.conferences(conf.sid).participants.list(muted=True)
    check([p.call_sid for p in only] == [first.call_sid], "Muted filter")

    calls = c.calls.list()
    sids = {x.sid for x in calls}
    check({first.call_sid, second.call_sid} <= sids, "both legs are calls")
    call = c.calls(first.call_sid).fetch()
    check(call.direction == "inbound" and call.status == "in-progress", f"call {call.direction} {call.status}")
    check(len(c.calls.list(status="in-progress")) >= 2, "calls Status filter")

    e = rest_error(lambda: c.conferences("CF" + "0" * 32).fetch())
    check(e is not None and e.status == 404 and e.code == 20404, f"404 is 20404: {e}")
    e = rest_error(lambda: client("0" * 32).conferences(conf.sid).fetch())
    check(e is not None and e.status == 401 and e.code == 20003, f"401 is 20003: {e}")
    # A list that fails surfaces as the library's own "Unable to fetch page".
    try:
        client("0" * 32).conferences.list()
        check(False, "a list with bad credentials fails")
    except TwilioException as e:
        check("Unable to fetch page" in str(e), f"list 401: {e}")

    check(c.conferences(conf.sid).participants(second.call_sid).delete() is True, "kick")
    left = c.conferences(conf.sid).participants.list()
    check([p.call_sid for p in left] == [first.call_sid], "one participant left")
    print("twilio-python: all checks passed")


def live_conference(c):
    confs = c.conferences.list(friendly_name=ROOM, status="in-progress")
    check(len(confs) == 1, f"one live conference named {ROOM}: {confs}")
    return confs[0]


def update_participant(call_sid, **update):
    """One participant update through the library, read back and fetched."""
    c = client()
    participant = c.conferences(live_conference(c).sid).participants(call_sid)
    done = participant.update(**update)
    fetched = participant.fetch()
    for key, want in update.items():
        check(getattr(done, key) is want, f"{call_sid} update {key}={want} reads back")
        check(getattr(fetched, key) is want, f"{call_sid} fetch {key}={want}")


# The audio steps: the Rust test checks what the callers hear after each.
def mute(call_sid):
    update_participant(call_sid, muted=True)


def unmute(call_sid):
    update_participant(call_sid, muted=False)


def hold(call_sid):
    update_participant(call_sid, hold=True)


def unhold(call_sid):
    update_participant(call_sid, hold=False)


STEPS = {
    "checks": checks,
    "dial-out": dial_out,
    "mute": mute,
    "unmute": unmute,
    "hold": hold,
    "unhold": unhold,
    "create-call": create_call,
    "redirect": redirect,
    "hang-up": hang_up,
    "cancel": cancel,
}

if __name__ == "__main__":
    step, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("checks", [])
    if step not in STEPS:
        check(False, f"a known step: {step} (one of {', '.join(STEPS)})")
    STEPS[step](*args)
    print(f"twilio-python: step {step} passed")
