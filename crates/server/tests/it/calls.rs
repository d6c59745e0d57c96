//! Calls end to end: a real server (SIP on UDP, RTP, the hub, the store) on
//! 127.0.0.1, driven by a tiny scripted SIP phone of our own that sends a
//! tone and records what it hears; the API through `router().oneshot`; a
//! voice URL served by a local axum app (all in `common`). Every wait polls
//! with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::caller::{Caller, DEADLINE, describe, hears};
use crate::common::rig::{Rig, add_number, next_hit, param, voice_app};
use axum::http::{Method, StatusCode};
use media::goertzel::rms;
use media::tone_fraction;
use model::CallStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_hear_each_other_and_the_api_mutes_and_kicks_for_real() {
    let rig = Rig::new((41000, 41099), true).await;
    let mut alice = Caller::dial(rig.sip, "demo", "alice", 400).await.unwrap();
    // Alone, she waits (hold music); nobody's tone reaches her. She is the
    // first participant (calls[0]) only once she is in the room before bob
    // dials: a call joins after its INVITE is answered, so bob's could
    // otherwise join first, and then the mute and the kick below went to
    // bob (the "bob still hears alice" and "no BYE" flakes).
    rig.room_of(&rig.account, "demo", "0", 1).await;
    let bob = Caller::dial(rig.sip, "demo", "bob", 700).await.unwrap();
    let (cf, calls) = rig.room_with("demo", 2).await;

    alice
        .until_heard(
            "alice hears bob's 700 Hz, not her own 400",
            hears(700.0, 400.0),
        )
        .await;
    bob.until_heard(
        "bob hears alice's 400 Hz, not his own 700",
        hears(400.0, 700.0),
    )
    .await;

    // Mute alice: once the API answers, bob hears silence. The room applies
    // a mute at a tick before the API answers, and a tick sends its packets
    // before it answers; so every packet sent to bob after the answer is
    // muted, and a fence on bob's socket now is queued behind every packet
    // mixed before the mute, however late bob's phone reads them.
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[0]);
    let (status, body) = rig.api(Method::POST, &participant, "Muted=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fence = bob.fence().await;
    let after: Vec<i16> = bob.packets_after_fence(fence, 300).await.concat();
    assert!(
        rms(&after) < 50.0,
        "bob still hears alice after the mute answered: rms {}, {}",
        rms(&after),
        describe(&after)
    );
    // Alice still hears bob.
    alice
        .until_heard("muted alice still hears bob", hears(700.0, 400.0))
        .await;
    let (status, _) = rig.api(Method::POST, &participant, "Muted=false").await;
    assert_eq!(status, StatusCode::OK);
    bob.until_heard("bob hears alice again", hears(400.0, 700.0))
        .await;

    // Kick alice: she gets a BYE (her <Dial> ends, nothing follows).
    let (status, body) = rig.api(Method::DELETE, &participant, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    alice.expect_bye().await;
    let row = rig
        .call_row(&calls[0], |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    assert_eq!(
        (row.caller.as_str(), row.called.as_str()),
        ("alice", "demo")
    );
    assert!(row.end_time.is_some() && row.duration.is_some());
    assert_eq!(row.phone_number_sid, None);
    drop(alice);

    // Bob hangs up: the room completes, his row ends.
    bob.hang_up().await;
    let row = rig
        .call_row(&calls[1], |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    let deadline = Instant::now() + DEADLINE;
    while rig
        .column(&format!("{}/Conferences/{cf}", rig.base()), "Status")
        .await
        != ["2"]
    {
        assert!(Instant::now() < deadline, "the room never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_runs_its_signed_voice_url_and_hears_completed_at_the_end() {
    let rig = Rig::new((41100, 41199), false).await;
    let (url, mut hits) = voice_app(
        StatusCode::OK,
        "<Response><Dial><Conference beep=\"false\">web</Conference></Dial></Response>",
    )
    .await;
    add_number(&rig, "5551234", &url).await;
    let phone = Caller::dial(rig.sip, "5551234", "4158675309", 400)
        .await
        .unwrap();

    let hit = next_hit(&mut hits).await;
    let expected = twiml::webhook::signature(
        &rig.account.auth_token,
        &url,
        hit.params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    assert_eq!(hit.signature, expected, "{hit:?}");
    assert_eq!(param(&hit, "AccountSid"), rig.account.sid.as_str());
    assert_eq!(param(&hit, "Caller"), "4158675309");
    assert_eq!(param(&hit, "Called"), "5551234");
    assert_eq!(param(&hit, "CallStatus"), "in-progress");
    let call = param(&hit, "CallSid").to_owned();
    assert_eq!(param(&hit, "CallGuid"), call);

    // The TwiML put the caller in "web" (init: one caller waits alone).
    let deadline = Instant::now() + DEADLINE;
    loop {
        let names = rig
            .column(
                &format!("{}/Conferences?Status=0", rig.base()),
                "FriendlyName",
            )
            .await;
        if names == ["web"] {
            break;
        }
        assert!(Instant::now() < deadline, "no room 'web': {names:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Alone in an init room, the caller hears the built-in hold music.
    phone.until_heard("hold music", |s| rms(s) > 300.0).await;
    let row = rig.call_row(&call, |_| true).await;
    assert_eq!(row.status, CallStatus::InProgress);
    assert!(row.phone_number_sid.is_some());

    phone.hang_up().await;
    let hit = next_hit(&mut hits).await;
    assert_eq!(param(&hit, "CallStatus"), "completed");
    assert_eq!(param(&hit, "CallSid"), call);
    let row = rig
        .call_row(&call, |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    assert_eq!(row.failure, None);
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_voice_url_ends_the_call_and_the_record_says_why() {
    let rig = Rig::new((41200, 41299), false).await;
    let (url, mut hits) = voice_app(StatusCode::INTERNAL_SERVER_ERROR, "oops").await;
    add_number(&rig, "5550500", &url).await;
    let mut phone = Caller::dial(rig.sip, "5550500", "bob", 400).await.unwrap();
    let call = param(&next_hit(&mut hits).await, "CallSid").to_owned();
    // The error tone, then the server hangs up.
    phone.expect_bye().await;
    let heard = phone.heard_since(0);
    assert!(
        tone_fraction(&heard, media::tone::ERROR_TONE_HZ[0]) > 0.05,
        "no error tone heard"
    );
    let row = rig
        .call_row(&call, |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::FailedApplicationError);
    let failure = row.failure.unwrap();
    assert!(failure.contains("500"), "{failure}");
    // The server goes on: a call to nobody is refused (open rooms are off).
    assert_eq!(
        Caller::dial(rig.sip, "nobody", "bob", 400).await.err(),
        Some(404)
    );
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hangs_up_every_call() {
    let rig = Rig::new((41300, 41399), true).await;
    let mut phone = Caller::dial(rig.sip, "standup", "carol", 400)
        .await
        .unwrap();
    rig.room_with_status("standup", "0").await;
    rig.server.stop().await;
    phone.expect_bye().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn say_and_play_reach_the_caller_then_the_script_hangs_up() {
    let rig = Rig::new((41400, 41499), false).await;
    let (url, mut hits) = voice_app(
        StatusCode::OK,
        "<Response><Say>Welcome to confab</Say><Play>tone/1000</Play><Hangup/></Response>",
    )
    .await;
    add_number(&rig, "5550001", &url).await;
    let mut phone = Caller::dial(rig.sip, "5550001", "dave", 400).await.unwrap();
    let call = param(&next_hit(&mut hits).await, "CallSid").to_owned();
    phone.expect_bye().await;
    let heard = phone.heard_since(0);
    // Speech first (espeak-ng), then one second of the 1 kHz file.
    let split = heard.len().saturating_sub(8000 + 8 * 200);
    let (speech, tail) = heard.split_at(split);
    assert!(rms(speech) > 300.0, "no speech heard: rms {}", rms(speech));
    assert!(tone_fraction(speech, 1000.0) < 0.2);
    assert!(
        tone_fraction(tail, 1000.0) > 0.5,
        "the <Play> file was not heard"
    );
    let row = rig
        .call_row(&call, |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!((row.status, row.failure), (CallStatus::Complete, None));
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_url_plays_until_the_room_starts_and_star_leaves_the_room() {
    let rig = Rig::new((41500, 41599), true).await;
    let (url, _hits) = voice_app(
        StatusCode::OK,
        "<Response><Dial hangupOnStar=\"true\"><Conference waitUrl=\"tone/1000\" \
         waitMethod=\"GET\" beep=\"false\">moderated</Conference></Dial></Response>",
    )
    .await;
    add_number(&rig, "5550002", &url).await;
    let mut erin = Caller::dial(rig.sip, "5550002", "erin", 400).await.unwrap();
    // Alone: the waitUrl's audio, looped (fetched again each time it ends).
    erin.until_heard("the waitUrl's 1 kHz", |s| tone_fraction(s, 1000.0) > 0.6)
        .await;
    let mark = erin.heard_len();
    let deadline = Instant::now() + DEADLINE;
    while erin.heard_len() < mark + 8 * 1500 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let later = erin.heard_since(mark + 8 * 1200);
    assert!(
        tone_fraction(&later, 1000.0) > 0.6,
        "the wait audio did not loop"
    );

    // A second caller starts the room: the wait audio stops, they talk.
    let frank = Caller::dial(rig.sip, "5550002", "frank", 700)
        .await
        .unwrap();
    erin.until_heard("erin hears frank", hears(700.0, 1000.0))
        .await;
    frank
        .until_heard("frank hears erin", hears(400.0, 700.0))
        .await;

    // Erin presses *: she leaves the room; nothing follows her <Dial>: BYE.
    erin.press('*');
    erin.expect_bye().await;
    let (cf, calls) = rig.room_with("moderated", 1).await;
    assert_eq!(calls.len(), 1, "{cf}");
    frank.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_hold_is_neither_heard_nor_sent_audio_until_resumed() {
    let rig = Rig::new((41600, 41699), true).await;
    let mut alice = Caller::dial(rig.sip, "holdroom", "alice", 400)
        .await
        .unwrap();
    let bob = Caller::dial(rig.sip, "holdroom", "bob", 700).await.unwrap();
    alice
        .until_heard("alice hears bob", hears(700.0, 400.0))
        .await;
    bob.until_heard("bob hears alice", hears(400.0, 700.0))
        .await;

    alice.reinvite("sendonly").await;
    bob.until_heard("bob no longer hears alice", |s| rms(s) < 50.0)
        .await;
    let mark = alice.heard_len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let sent = alice.heard_len() - mark;
    assert!(
        sent <= 8 * 60,
        "a held call was sent {} ms of audio",
        sent / 8
    );

    alice.reinvite("sendrecv").await;
    bob.until_heard("bob hears alice again", hears(400.0, 700.0))
        .await;
    alice
        .until_heard("alice hears bob again", hears(700.0, 400.0))
        .await;
    alice.hang_up().await;
    bob.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dial_time_limit_takes_the_caller_out() {
    let rig = Rig::new((41700, 41799), false).await;
    let (url, _hits) = voice_app(
        StatusCode::OK,
        "<Response><Dial timeLimit=\"1\"><Conference>short</Conference></Dial></Response>",
    )
    .await;
    add_number(&rig, "5550003", &url).await;
    let started = Instant::now();
    let mut phone = Caller::dial(rig.sip, "5550003", "gina", 400).await.unwrap();
    phone.expect_bye().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "out after {took:?}");
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kick_or_a_full_room_the_script_goes_on_with_the_callers_audio() {
    let rig = Rig::with_capacity((41800, 41899), false, 2).await;
    let (url, _hits) = voice_app(
        StatusCode::OK,
        "<Response><Dial><Conference beep=\"false\">pair</Conference></Dial>\
         <Play>tone/1000</Play></Response>",
    )
    .await;
    add_number(&rig, "5550004", &url).await;
    let mut hana = Caller::dial(rig.sip, "5550004", "hana", 400).await.unwrap();
    // Hana is in before ivan dials, so she is calls[0], the one kicked below.
    rig.room_of(&rig.account, "pair", "0", 1).await;
    let ivan = Caller::dial(rig.sip, "5550004", "ivan", 700).await.unwrap();
    let (cf, calls) = rig.room_with("pair", 2).await;
    hana.until_heard("hana hears ivan", hears(700.0, 400.0))
        .await;

    // The room is full: a third caller's <Dial> fails and the <Play> runs
    // (one second of 1 kHz), then the script ends with a BYE. Each wait is
    // for the next event, not for the whole script.
    let mut jo = Caller::dial(rig.sip, "5550004", "jo", 550).await.unwrap();
    jo.until_heard("the full room's caller gets the <Play>", |s| {
        tone_fraction(s, 1000.0) > 0.6
    })
    .await;
    jo.expect_bye().await;
    let heard = jo.heard_since(0);
    assert!(
        tone_fraction(&heard, 1000.0) > 0.5,
        "the full room's caller did not get the <Play>: {}",
        describe(&heard)
    );

    // Kicked, hana's <Dial> ends: she hears the <Play> on her own leg, then BYE.
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[0]);
    let (status, _) = rig.api(Method::DELETE, &participant, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mark = hana.heard_len();
    hana.until_heard("the kicked caller gets the <Play>", |s| {
        tone_fraction(s, 1000.0) > 0.6
    })
    .await;
    hana.expect_bye().await;
    let after = hana.heard_since(mark);
    assert!(
        tone_fraction(&after, 1000.0) > 0.5,
        "the kicked caller did not get the <Play>: {}",
        describe(&after)
    );
    ivan.hang_up().await;
    rig.server.stop().await;
}
