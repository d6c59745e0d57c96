//! Conference status callbacks end to end: `<Conference statusCallback
//! statusCallbackEvent>` from a voice URL, real callers over SIP and RTP,
//! the app's receiver getting Twilio's requests in order, each signed.
//! Speech events come from the room hearing a caller's tone start and
//! stop; mute, hold, end and announcements go through the hub's
//! `CallControl`, as the API's do. RTP ports 53000–53999.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use api::{CallControl, ConferenceCommand, ParticipantCommand, ParticipantKey};
use axum::http::{Method, StatusCode};
use model::{CallSid, ConferenceSid, HttpMethod};

use crate::common::caller::{Caller, DEADLINE};
use crate::common::rig::{App, Hit, Hits, Rig, add_number_for, param};

/// The callbacks received so far, once there are `n` (in arrival order).
async fn callbacks(hits: &Hits, n: usize) -> Vec<Hit> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got: Vec<Hit> = hits
            .all()
            .into_iter()
            .filter(|h| h.path == "/events")
            .collect();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} callbacks: {:?}",
            got.len(),
            got.iter()
                .map(|h| param(h, "StatusCallbackEvent"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every callback is a signed POST of the conference with numbers 1, 2, ...
/// and the events `expected` (event, call or "" for the conference's own).
fn check(rig: &Rig, base: &str, got: &[Hit], cf: &str, name: &str, expected: &[(&str, &str)]) {
    let events: Vec<(&str, &str)> = got
        .iter()
        .map(|h| (param(h, "StatusCallbackEvent"), param(h, "CallSid")))
        .collect();
    assert_eq!(events, expected);
    for (i, hit) in got.iter().enumerate() {
        let event = param(hit, "StatusCallbackEvent");
        assert_eq!(hit.method, Method::POST, "{event}");
        assert_eq!(
            hit.signature,
            hit.expected_signature(base, &rig.account.auth_token),
            "{event}: a bad signature"
        );
        assert_eq!(param(hit, "SequenceNumber"), (i + 1).to_string(), "{event}");
        assert_eq!(param(hit, "ConferenceSid"), cf, "{event}");
        assert_eq!(param(hit, "FriendlyName"), name, "{event}");
        assert_eq!(
            param(hit, "AccountSid"),
            rig.account.sid.as_str(),
            "{event}"
        );
        let ts = param(hit, "Timestamp");
        assert!(
            ts.ends_with(" +0000") && ts.as_bytes().get(3) == Some(&b','),
            "{event}: Timestamp {ts:?} is not RFC 2822"
        );
        if !param(hit, "CallSid").is_empty() {
            for flag in ["Coaching", "EndConferenceOnExit"] {
                assert_eq!(param(hit, flag), "false", "{event}: {flag}");
            }
            assert_eq!(param(hit, "StartConferenceOnEnter"), "true", "{event}");
        }
    }
}

fn key(rig: &Rig, cf: &str, call: &str) -> ParticipantKey {
    ParticipantKey {
        account: rig.account.sid.clone(),
        conference: ConferenceSid::parse(cf).unwrap(),
        call: CallSid::parse(call).unwrap(),
    }
}

/// A number whose voice URL puts callers in conference `name`, reporting
/// `events` to `/events`.
async fn app(rig: &Rig, number: &str, name: &str, events: &str) -> (String, Hits) {
    let twiml = format!(
        "<Response><Dial><Conference statusCallback=\"/events\" \
         statusCallbackEvent=\"{events}\" beep=\"false\">{name}</Conference></Dial></Response>"
    );
    let (base, hits) = App::new()
        .twiml("/voice", &twiml)
        .answer("/events", StatusCode::OK, "")
        .start()
        .await;
    let url = format!("{base}/voice");
    add_number_for(rig, &rig.account, number, &url, HttpMethod::Post).await;
    (base, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conference_reports_joins_start_speech_mute_leaves_and_end_in_order() {
    let rig = Rig::new((53000, 53099), false).await;
    let events = "start end join leave mute hold speaker";
    let (base, hits) = app(&rig, "5553000", "cb-room", events).await;

    // One at a time: the join order is the callers'.
    let a = Caller::dial(rig.sip, "5553000", "a", 0).await.unwrap();
    rig.room_of(&rig.account, "cb-room", "0", 1).await;
    let b = Caller::dial(rig.sip, "5553000", "b", 0).await.unwrap();
    let (cf, calls) = rig.room_with("cb-room", 2).await;
    let (ca, cb) = (calls[0].clone(), calls[1].clone());
    callbacks(&hits, 3).await;

    // a talks until the room says so, then is quiet: it hears that too.
    a.call().send_tone(440);
    callbacks(&hits, 4).await;
    a.call().send_silence();
    callbacks(&hits, 5).await;

    let hub = rig.server.hub();
    for muted in [true, false] {
        let mute = ParticipantCommand::SetMuted {
            participant: key(&rig, &cf, &cb),
            muted,
        };
        hub.apply(mute).await.expect("mute");
    }
    for hold in [true, false] {
        let hold = ParticipantCommand::SetHold {
            participant: key(&rig, &cf, &cb),
            hold,
            music: None,
        };
        hub.apply(hold).await.expect("hold");
    }
    callbacks(&hits, 9).await;

    b.hang_up().await;
    callbacks(&hits, 10).await;
    a.hang_up().await;
    let got = callbacks(&hits, 12).await;

    let expected = [
        ("participant-join", ca.as_str()),
        ("participant-join", cb.as_str()),
        ("conference-start", ""),
        ("participant-speech-start", ca.as_str()),
        ("participant-speech-stop", ca.as_str()),
        ("participant-mute", cb.as_str()),
        ("participant-unmute", cb.as_str()),
        ("participant-hold", cb.as_str()),
        ("participant-unhold", cb.as_str()),
        ("participant-leave", cb.as_str()),
        ("participant-leave", ca.as_str()),
        ("conference-end", ""),
    ];
    check(&rig, &base, &got, &cf, "cb-room", &expected);
    let flags: Vec<(&str, &str)> = got
        .iter()
        .map(|h| (param(h, "Muted"), param(h, "Hold")))
        .collect();
    let no = ("false", "false");
    let conference = ("", "");
    let muted = ("true", "false");
    let held = ("false", "true");
    let expected = [
        no, no, conference, no, no, muted, no, held, no, no, no, conference,
    ];
    assert_eq!(flags, expected);
    for leave in &got[9..11] {
        assert_eq!(param(leave, "ReasonParticipantLeft"), "participant_hung_up");
        assert_eq!(param(leave, "ParticipantCallStatus"), "completed");
    }
    let end = &got[11];
    assert_eq!(param(end, "ReasonConferenceEnded"), "last-participant-left");
    assert_eq!(param(end, "CallSidEndingConference"), ca);
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_end_reports_the_leaves_then_the_end_with_its_reason() {
    let rig = Rig::new((53100, 53199), false).await;
    let (base, hits) = app(&rig, "5553100", "cb-end", "end leave").await;
    let mut a = Caller::dial(rig.sip, "5553100", "a", 400).await.unwrap();
    rig.room_of(&rig.account, "cb-end", "0", 1).await;
    let mut b = Caller::dial(rig.sip, "5553100", "b", 700).await.unwrap();
    let (cf, calls) = rig.room_with("cb-end", 2).await;

    let end = ConferenceCommand::End {
        account: rig.account.sid.clone(),
        conference: ConferenceSid::parse(&cf).unwrap(),
    };
    rig.server.hub().conference(end).await.expect("ended");
    let got = callbacks(&hits, 3).await;
    let expected = [
        ("participant-leave", calls[0].as_str()),
        ("participant-leave", calls[1].as_str()),
        ("conference-end", ""),
    ];
    check(&rig, &base, &got, &cf, "cb-end", &expected);
    for leave in &got[..2] {
        assert_eq!(
            param(leave, "ReasonParticipantLeft"),
            "conference_ended_via_api"
        );
        assert_eq!(param(leave, "ParticipantCallStatus"), "in-progress");
    }
    assert_eq!(
        param(&got[2], "ReasonConferenceEnded"),
        "conference-ended-via-api"
    );
    assert_eq!(param(&got[2], "CallSidEndingConference"), "");
    // Their <Dial> ended with nothing after it: both are hung up.
    a.expect_bye().await;
    b.expect_bye().await;
    assert_eq!(callbacks(&hits, 3).await.len(), 3);
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_report_their_end_to_the_room_or_to_the_participant() {
    let rig = Rig::new((53200, 53299), false).await;
    let (base, hits) = app(&rig, "5553200", "cb-announce", "announcement").await;
    let a = Caller::dial(rig.sip, "5553200", "a", 0).await.unwrap();
    rig.room_of(&rig.account, "cb-announce", "0", 1).await;
    let b = Caller::dial(rig.sip, "5553200", "b", 0).await.unwrap();
    let (cf, calls) = rig.room_with("cb-announce", 2).await;
    let audio = api::Fetchable {
        url: format!("{base}/tone/440/300"),
        method: HttpMethod::Get,
    };
    let hub = rig.server.hub();

    let to_room = ConferenceCommand::Announce {
        account: rig.account.sid.clone(),
        conference: ConferenceSid::parse(&cf).unwrap(),
        audio: audio.clone(),
    };
    hub.conference(to_room).await.expect("announced");
    callbacks(&hits, 1).await;
    let to_b = ParticipantCommand::Announce {
        participant: key(&rig, &cf, &calls[1]),
        audio,
    };
    hub.apply(to_b).await.expect("announced");
    let got = callbacks(&hits, 2).await;
    let expected = [
        ("announcement-end", ""),
        ("announcement-end", calls[1].as_str()),
    ];
    check(&rig, &base, &got, &cf, "cb-announce", &expected);
    assert_eq!(param(&got[1], "Muted"), "false");
    assert_eq!(param(&got[1], "Hold"), "false");
    drop((a, b));
    rig.server.stop().await;
}
