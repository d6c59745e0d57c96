//! `<Gather>` end to end: a PIN prompt in front of a room. The voice URL
//! gathers four keys, which the testkit phone presses as RFC 4733 events (or
//! sends as a SIP INFO); the action gets them as `Digits`, signed; the right
//! PIN joins the room (and the two callers hear each other), a wrong one
//! hears a message and is asked again; a SIP INFO key and an in-band one
//! are gathered too. RTP ports 51000–51299 and 51400–51449.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use crate::common::caller::{Caller, DEADLINE, Line, hears};
use crate::common::rig::{App, Hit, Hits, Rig, add_number_for, param};
use media::goertzel::rms;
use media::tone_fraction;
use model::HttpMethod;

/// The prompt: a spoken request, then a long 1000 Hz "beep"; hearing the
/// beep tells the test the `<Gather>` is listening (keys pressed before it
/// are dropped, as Twilio drops them).
const PROMPT: &str = "<Response><Gather numDigits=\"4\" action=\"/pin\">\
     <Say>Enter your PIN</Say><Play>/tone/1000/8000</Play></Gather>\
     <Say>Goodbye</Say></Response>";

const PIN: &str = "4321";

/// No `participantLabel`: both callers get this document, and a label is
/// unique within a conference (a second "member" would be refused).
const ROOM: &str =
    "<Response><Dial><Conference beep=\"false\">pinroom</Conference></Dial></Response>";

const WRONG: &str = "<Response><Say>Wrong PIN</Say><Redirect>/voice</Redirect></Response>";

/// Waits for the `n`th request (counting from 1) to `path` from `call`.
async fn nth_hit(hits: &Hits, path: &str, call: &str, n: usize) -> Hit {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let found: Vec<Hit> = hits
            .all()
            .into_iter()
            .filter(|h| h.path == path && param(h, "CallSid") == call)
            .collect();
        if let Some(hit) = found.get(n - 1) {
            return hit.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no request {n} to {path}; got {:?}",
            hits.all()
                .iter()
                .map(|h| (h.path.clone(), param(h, "Digits").to_owned()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits for the prompt's beep, then types `keys` as RFC 4733 events, each
/// sent to its end before the next. The beep stops at the first key.
async fn enter(caller: &Caller, keys: &str) {
    caller
        .until_heard("the PIN prompt's beep", hears(1000.0, 400.0))
        .await;
    let mut keys = keys.chars();
    let first = keys.next().expect("a key");
    caller.call().send_dtmf(first).await.unwrap();
    caller
        .until_heard("the beep stops at the first key (barge-in)", |s| {
            tone_fraction(s, 1000.0) < 0.05 && rms(s) < 100.0
        })
        .await;
    for key in keys {
        caller.call().send_dtmf(key).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_protected_room() {
    let rig = Rig::new((51000, 51199), false).await;
    let (base, hits) = App::new()
        .twiml("/voice", PROMPT)
        .twiml("/pin", WRONG)
        .twiml_when("/pin", ("Digits", PIN), ROOM)
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5551000",
        &format!("{base}/voice"),
        HttpMethod::Post,
    )
    .await;

    // Alice gets it wrong first: she hears the message and is asked again.
    let alice = Caller::dial(rig.sip, "5551000", "alice", 400)
        .await
        .unwrap();
    let alice_sid = param(&hits.to("/voice", "").await, "CallSid").to_owned();
    enter(&alice, "1234").await;
    let wrong = nth_hit(&hits, "/pin", &alice_sid, 1).await;
    assert_eq!(param(&wrong, "Digits"), "1234", "{wrong:?}");
    assert_eq!(param(&wrong, "FinishedOnKey"), "");
    assert_eq!(param(&wrong, "CallStatus"), "in-progress");
    assert_eq!(
        wrong.signature,
        wrong.expected_signature(&base, &account.auth_token),
        "the action request is signed"
    );
    nth_hit(&hits, "/voice", &alice_sid, 2).await;
    enter(&alice, PIN).await;
    let right = nth_hit(&hits, "/pin", &alice_sid, 2).await;
    assert_eq!(param(&right, "Digits"), PIN);

    // Bob knows it at once.
    let bob = Caller::dial(rig.sip, "5551000", "bob", 700).await.unwrap();
    let voice_hits = || {
        hits.all()
            .into_iter()
            .filter(|h| h.path == "/voice" && param(h, "CallSid") != alice_sid)
            .count()
    };
    let deadline = Instant::now() + DEADLINE;
    while voice_hits() == 0 {
        assert!(Instant::now() < deadline, "Bob's call never asked /voice");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    enter(&bob, PIN).await;

    let (_, calls) = rig.room_with("pinroom", 2).await;
    assert!(calls.contains(&alice_sid), "{calls:?}");
    alice
        .until_heard("Alice hears Bob in the room", hears(700.0, 400.0))
        .await;
    bob.until_heard("Bob hears Alice in the room", hears(400.0, 700.0))
        .await;
    // Neither fell through to the Say after the Gather, nor timed out.
    assert_eq!(
        hits.all()
            .iter()
            .filter(|h| h.path == "/pin")
            .map(|h| param(h, "Digits").to_owned())
            .collect::<Vec<_>>(),
        ["1234", PIN, PIN]
    );
    alice.hang_up().await;
    bob.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_info_key_is_gathered_too() {
    let rig = Rig::new((51200, 51299), false).await;
    let (base, hits) = App::new()
        .twiml(
            "/voice",
            "<Response><Gather numDigits=\"2\" action=\"/menu\" method=\"GET\">\
             <Play>/tone/1000/8000</Play></Gather></Response>",
        )
        .twiml("/menu", "<Response><Hangup/></Response>")
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5551001",
        &format!("{base}/voice"),
        HttpMethod::Post,
    )
    .await;
    let mut caller = Caller::dial(rig.sip, "5551001", "carol", 400)
        .await
        .unwrap();
    caller
        .until_heard("the menu's beep", hears(1000.0, 400.0))
        .await;
    let ok = caller
        .info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")
        .await;
    assert_eq!(ok, 200);
    caller.call().send_dtmf('*').await.unwrap();
    let menu = hits.to("/menu", "").await;
    assert_eq!(param(&menu, "Digits"), "5*", "{menu:?}");
    assert_eq!(
        menu.signature,
        menu.expected_signature(&base, &account.auth_token)
    );
    caller.expect_bye().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_band_key_is_gathered_from_a_phone_without_telephone_event() {
    let rig = Rig::new((51400, 51449), false).await;
    let (base, hits) = App::new()
        .twiml(
            "/voice",
            "<Response><Gather numDigits=\"1\" action=\"/key\">\
             <Play>/tone/1000/8000</Play></Gather></Response>",
        )
        .twiml("/key", "<Response><Hangup/></Response>")
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5551400",
        &format!("{base}/voice"),
        HttpMethod::Post,
    )
    .await;
    // PCMU only: keys can come only as tones.
    let line = Line {
        formats: Some(("0", &["a=rtpmap:0 PCMU/8000"])),
        ..Line::UDP
    };
    let mut caller = Caller::dial_on(line, rig.sip, "5551400", "dave", 0)
        .await
        .unwrap();
    assert_eq!(caller.call().telephone_event(), None);
    caller
        .until_heard("the prompt's beep", hears(1000.0, 400.0))
        .await;
    caller.call().send_tones(770, 1336); // '5'
    let key = hits.to("/key", "").await;
    caller.call().send_silence();
    assert_eq!(param(&key, "Digits"), "5", "{key:?}");
    caller.expect_bye().await;
    rig.server.stop().await;
}
