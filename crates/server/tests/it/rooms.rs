//! Conference rooms end to end, as a Twilio user expects them: who hears
//! whom, the API's mute and kick, the wait room and its moderator, a room
//! ended by its chair, names reused, GET and POST voice URLs, accounts kept
//! apart, `<Dial action>` after each way out, `maxParticipants`, beeps, and
//! callers on PCMA or SIP over TCP. The server, phone and web app are
//! `common`'s; every wait polls with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::caller::{Caller, Line, describe, hears};
use crate::common::rig::{App, Hit, Rig, add_number_for, base_of, column, param};
use axum::http::{Method, StatusCode};
use media::goertzel::rms;
use media::tone::{JOIN_BEEP_HZ, LEAVE_BEEP_HZ};
use media::tone_fraction;
use model::{CallStatus, HttpMethod};

/// Hears `a` and `b` (two tones of equal level share the energy), nothing
/// else to speak of (a beep), and not `not`.
fn hears_both(a: f64, b: f64, not: f64) -> impl Fn(&[i16]) -> bool {
    move |s| {
        let (a, b) = (tone_fraction(s, a), tone_fraction(s, b));
        a > 0.3 && b > 0.3 && a + b > 0.85 && tone_fraction(s, not) < 0.05
    }
}

/// The largest share of `hz` in any loud 200 ms window of `samples`
/// (stepping 20 ms): how clearly a short tone such as a beep is in there.
pub(crate) fn strongest(samples: &[i16], hz: f64) -> f64 {
    samples
        .windows(1600)
        .step_by(media::FRAME_SAMPLES)
        .filter(|w| rms(w) > 300.0)
        .map(|w| tone_fraction(w, hz))
        .fold(0.0, f64::max)
}

// ---------------------------------------------------------------------------
// Who hears whom.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_callers_each_hear_the_other_two_and_not_themselves() {
    let rig = Rig::new((42000, 42049), true).await;
    let a = Caller::dial(rig.sip, "trio", "a", 440).await.unwrap();
    let b = Caller::dial(rig.sip, "trio", "b", 700).await.unwrap();
    let c = Caller::dial(rig.sip, "trio", "c", 1100).await.unwrap();
    rig.room_with("trio", 3).await;
    a.until_heard(
        "a hears b and c, not itself",
        hears_both(700.0, 1100.0, 440.0),
    )
    .await;
    b.until_heard(
        "b hears a and c, not itself",
        hears_both(440.0, 1100.0, 700.0),
    )
    .await;
    c.until_heard(
        "c hears a and b, not itself",
        hears_both(440.0, 700.0, 1100.0),
    )
    .await;
    a.hang_up().await;
    b.hang_up().await;
    c.hang_up().await;
    rig.server.stop().await;
}

/// Mute and unmute through the API, judged by when the others' packets
/// arrive: from 100 ms after the API answered the mute, no packet carries
/// the muted caller's tone; after the unmute, the first packet with it
/// arrives within 100 ms, and it stays. (Frequencies with a whole number of
/// periods in 20 ms, so one packet is enough to tell. A packet the server
/// had to conceal or leave silent only takes energy away, so per packet
/// only the absence is asserted; presence is asserted over the stretch.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_mute_silences_a_caller_for_the_others_and_unmute_brings_it_back_within_100_ms() {
    let rig = Rig::new((42100, 42199), true).await;
    let a = Caller::dial(rig.sip, "mutes", "a", 400).await.unwrap();
    // a is the first participant.
    rig.room_of(&rig.account, "mutes", "0", 1).await;
    let b = Caller::dial(rig.sip, "mutes", "b", 700).await.unwrap();
    let c = Caller::dial(rig.sip, "mutes", "c", 1100).await.unwrap();
    let (cf, calls) = rig.room_with("mutes", 3).await;
    b.until_heard("b hears a and c", hears_both(400.0, 1100.0, 700.0))
        .await;
    c.until_heard("c hears a and b", hears_both(400.0, 700.0, 1100.0))
        .await;
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[0]);
    let grace = Duration::from_millis(100);

    // The room mutes at a tick before the API answers, and sends that tick's
    // packets before answering: every packet behind a fence sent once the
    // API answered is muted (no grace; see `Caller::fence`).
    let (status, body) = rig.api(Method::POST, &participant, "Muted=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(column(&body, "Muted"), ["true"], "{body}");
    let fences = [b.fence().await, c.fence().await];
    for ((who, phone, other), fence) in [("b", &b, 1100.0), ("c", &c, 700.0)]
        .into_iter()
        .zip(fences)
    {
        let packets = phone.packets_after_fence(fence, 400).await;
        let mut stretch = Vec::new();
        for (i, packet) in packets.iter().enumerate() {
            assert!(
                tone_fraction(packet, 400.0) < 0.02,
                "{who} still hears a in packet {i} after the mute answered: {}",
                describe(packet)
            );
            stretch.extend_from_slice(packet);
        }
        assert!(
            tone_fraction(&stretch, other) > 0.6,
            "{who} lost the unmuted caller too: {}",
            describe(&stretch)
        );
    }
    // Muted, a still hears the others.
    a.until_heard("muted a hears b and c", hears_both(700.0, 1100.0, 400.0))
        .await;

    let (status, body) = rig.api(Method::POST, &participant, "Muted=false").await;
    let unmuted_at = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(column(&body, "Muted"), ["false"], "{body}");
    for (who, phone, own, other) in [("b", &b, 700.0, 1100.0), ("c", &c, 1100.0, 700.0)] {
        let packets = phone.packets_after(unmuted_at, 400).await;
        let first = packets
            .iter()
            .find(|(_, packet)| tone_fraction(packet, 400.0) > 0.3)
            .map(|(at, _)| *at - unmuted_at);
        assert!(
            first.is_some_and(|after| after <= grace),
            "{who} first heard a again {first:?} after the unmute answered"
        );
        let stretch: Vec<i16> = packets
            .iter()
            .filter(|(at, _)| *at >= unmuted_at + grace)
            .flat_map(|(_, packet)| packet.iter().copied())
            .collect();
        assert!(
            hears_both(400.0, other, own)(&stretch),
            "{who} does not keep hearing a and the other: {}",
            describe(&stretch)
        );
    }
    a.hang_up().await;
    b.hang_up().await;
    c.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_joins_muted_only_listens_until_the_api_unmutes_it() {
    let rig = Rig::new((42050, 42099), false).await;
    let (base, _hits) = App::new()
        .twiml(
            "/listener",
            "<Response><Dial><Conference muted=\"true\" beep=\"false\">panel</Conference>\
             </Dial></Response>",
        )
        .twiml(
            "/speaker",
            "<Response><Dial><Conference beep=\"false\">panel</Conference></Dial></Response>",
        )
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5550050",
        &format!("{base}/listener"),
        HttpMethod::Post,
    )
    .await;
    add_number_for(
        &rig,
        &account,
        "5550051",
        &format!("{base}/speaker"),
        HttpMethod::Post,
    )
    .await;
    let listener = Caller::dial(rig.sip, "5550050", "listener", 400)
        .await
        .unwrap();
    rig.room_of(&account, "panel", "0", 1).await;
    let speaker = Caller::dial(rig.sip, "5550051", "speaker", 700)
        .await
        .unwrap();
    let (cf, calls) = rig.room_with("panel", 2).await;
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[0]);
    assert_eq!(rig.column(&participant, "Muted").await, ["true"]);
    listener
        .until_heard("the muted listener hears the speaker", hears(700.0, 400.0))
        .await;
    let heard = speaker.listen_from(speaker.heard_len(), 600).await;
    assert!(
        rms(&heard) < 50.0,
        "the speaker hears the muted listener: {}",
        describe(&heard)
    );
    let (status, body) = rig.api(Method::POST, &participant, "Muted=false").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    speaker
        .until_heard(
            "the speaker hears the unmuted listener",
            hears(400.0, 700.0),
        )
        .await;
    listener.hang_up().await;
    speaker.hang_up().await;
    rig.server.stop().await;
}

// ---------------------------------------------------------------------------
// Status: the wait room, the end, the name used again.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_who_do_not_start_the_room_wait_apart_until_the_moderator_joins() {
    let rig = Rig::new((42200, 42299), false).await;
    let (base, _hits) = App::new()
        .twiml(
            "/guest",
            "<Response><Dial><Conference startConferenceOnEnter=\"false\" beep=\"false\">\
             lobby</Conference></Dial></Response>",
        )
        .twiml(
            "/guest-tone",
            "<Response><Dial><Conference startConferenceOnEnter=\"false\" beep=\"false\" \
             waitUrl=\"/tone/1000\" waitMethod=\"GET\">lobby</Conference></Dial></Response>",
        )
        .twiml(
            "/host",
            "<Response><Dial><Conference beep=\"false\">lobby</Conference></Dial></Response>",
        )
        .start()
        .await;
    let account = rig.account.clone();
    for (number, path) in [
        ("5550100", "/guest"),
        ("5550101", "/guest-tone"),
        ("5550102", "/host"),
    ] {
        add_number_for(
            &rig,
            &account,
            number,
            &format!("{base}{path}"),
            HttpMethod::Post,
        )
        .await;
    }
    let g1 = Caller::dial(rig.sip, "5550100", "g1", 400).await.unwrap();
    let g2 = Caller::dial(rig.sip, "5550101", "g2", 700).await.unwrap();
    // Two callers, neither starts it: init, in the API too.
    let (waiting, calls) = rig.room_of(&account, "lobby", "0", 2).await;
    g1.until_heard("g1 hears the built-in hold music", |s| rms(s) > 300.0)
        .await;
    g2.until_heard("g2 hears its waitUrl's 1 kHz", |s| {
        tone_fraction(s, 1000.0) > 0.6
    })
    .await;
    // ... and for a while, neither hears the other (nor itself).
    let (m1, m2) = (g1.heard_len(), g2.heard_len());
    let (heard1, heard2) = (g1.listen_from(m1, 600).await, g2.listen_from(m2, 600).await);
    for (who, heard) in [("g1", &heard1), ("g2", &heard2)] {
        for window in heard.chunks(1600) {
            assert!(
                tone_fraction(window, 400.0) < 0.05 && tone_fraction(window, 700.0) < 0.05,
                "{who} hears a caller in a room that has not started: {}",
                describe(window)
            );
        }
    }

    // The moderator joins: the same conference starts, everyone talks.
    let host = Caller::dial(rig.sip, "5550102", "host", 1100)
        .await
        .unwrap();
    let (started, now) = rig.room_with("lobby", 3).await;
    assert_eq!(started, waiting);
    assert_eq!(now[..2], calls[..]);
    g1.until_heard("g1 hears g2 and the host", hears_both(700.0, 1100.0, 400.0))
        .await;
    g2.until_heard("g2 hears g1 and the host", hears_both(400.0, 1100.0, 700.0))
        .await;
    host.until_heard(
        "the host hears both guests",
        hears_both(400.0, 700.0, 1100.0),
    )
    .await;
    g1.hang_up().await;
    g2.hang_up().await;
    host.hang_up().await;
    rig.until_status(&waiting, "2").await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_chair_with_end_conference_on_exit_leaves_the_room_completes_and_everyone_is_hung_up()
 {
    let rig = Rig::new((42300, 42399), false).await;
    let (base, hits) = App::new()
        .twiml(
            "/member",
            "<Response><Dial><Conference beep=\"false\">board</Conference></Dial></Response>",
        )
        .twiml(
            "/member-action",
            "<Response><Dial action=\"/member-after\"><Conference beep=\"false\">board\
             </Conference></Dial><Play>/tone/550</Play></Response>",
        )
        .twiml(
            "/member-after",
            "<Response><Play>/tone/1000/300</Play></Response>",
        )
        .twiml(
            "/chair",
            "<Response><Dial><Conference beep=\"false\" endConferenceOnExit=\"true\">\
             board</Conference></Dial></Response>",
        )
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5550110",
        &format!("{base}/member"),
        HttpMethod::Post,
    )
    .await;
    add_number_for(
        &rig,
        &account,
        "5550111",
        &format!("{base}/chair"),
        HttpMethod::Post,
    )
    .await;
    add_number_for(
        &rig,
        &account,
        "5550112",
        &format!("{base}/member-action"),
        HttpMethod::Post,
    )
    .await;
    let mut m1 = Caller::dial(rig.sip, "5550110", "m1", 400).await.unwrap();
    let mut m2 = Caller::dial(rig.sip, "5550110", "m2", 700).await.unwrap();
    let chair = Caller::dial(rig.sip, "5550111", "chair", 1100)
        .await
        .unwrap();
    let mut m3 = Caller::dial(rig.sip, "5550112", "m3", 0).await.unwrap();
    let (cf, calls) = rig.room_with("board", 4).await;
    m1.until_heard(
        "m1 hears m2 and the chair",
        hears_both(700.0, 1100.0, 400.0),
    )
    .await;

    let mark = m3.heard_len();
    chair.hang_up().await;
    // Nothing follows m1's and m2's <Dial>: the server hangs up on them.
    m1.expect_bye().await;
    m2.expect_bye().await;
    // m3's <Dial> has an action: the room ended, so answered; its TwiML runs.
    m3.expect_bye().await;
    let m3_call = param(&hits.to("/member-action", "").await, "CallSid").to_owned();
    let action = hits.to("/member-after", &m3_call).await;
    assert_eq!(param(&action, "DialStatus"), "answered", "{action:?}");
    assert_eq!(
        action.signature,
        action.expected_signature(&base, &account.auth_token)
    );
    let heard = m3.heard_since(mark);
    assert!(
        tone_fraction(&heard, 1000.0) > 0.3 && tone_fraction(&heard, 550.0) < 0.01,
        "m3 did not get (only) the action's <Play>: {}",
        describe(&heard)
    );
    rig.until_status(&cf, "2").await;
    let participants = format!("{}/Conferences/{cf}/Participants", rig.base());
    assert_eq!(
        rig.column(&participants, "CallSid").await,
        Vec::<String>::new()
    );
    for call in &calls {
        let row = rig
            .call_row(call, |r| r.status != CallStatus::InProgress)
            .await;
        assert_eq!(row.status, CallStatus::Complete, "{call}");
    }
    // No room named "board" is left alive.
    let live = format!("{}/Conferences?FriendlyName=board", rig.base());
    assert_eq!(rig.column(&live, "Status").await, ["2"]);
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_name_used_again_after_the_room_completed_is_a_new_conference() {
    let rig = Rig::new((42400, 42499), true).await;
    let account = rig.account.clone();
    let first = Caller::dial(rig.sip, "again", "first", 400).await.unwrap();
    let (old, _) = rig.room_of(&account, "again", "0", 1).await;
    // It never started; its last caller leaving completes it all the same.
    first.hang_up().await;
    rig.until_status(&old, "2").await;

    let second = Caller::dial(rig.sip, "again", "second", 700).await.unwrap();
    let (new, _) = rig.room_of(&account, "again", "0", 1).await;
    assert_ne!(new, old);
    // While it lives, the name means that one room.
    let third = Caller::dial(rig.sip, "again", "third", 1100).await.unwrap();
    let (live, _) = rig.room_with("again", 2).await;
    assert_eq!(live, new);
    // The old one stays completed, empty, and listed under its name.
    let uri = format!("{}/Conferences/{old}", rig.base());
    assert_eq!(rig.column(&uri, "Status").await, ["2"]);
    let uri = format!("{}/Conferences/{old}/Participants", rig.base());
    assert_eq!(rig.column(&uri, "CallSid").await, Vec::<String>::new());
    let uri = format!("{}/Conferences?FriendlyName=again", rig.base());
    let mut listed = rig.column(&uri, "Sid").await;
    listed.sort();
    let mut both = vec![old.clone(), new.clone()];
    both.sort();
    assert_eq!(listed, both);
    second.hang_up().await;
    third.hang_up().await;
    rig.server.stop().await;
}

// ---------------------------------------------------------------------------
// Webhooks and accounts.

/// Waits for the app's request to `path` carrying `CallStatus=status`.
async fn request_with_status(hits: &crate::common::rig::Hits, path: &str, status: &str) -> Hit {
    let deadline = Instant::now() + crate::common::caller::DEADLINE;
    loop {
        if let Some(hit) = hits
            .all()
            .into_iter()
            .find(|h| h.path == path && param(h, "CallStatus") == status)
        {
            return hit;
        }
        assert!(
            Instant::now() < deadline,
            "no {path} with CallStatus={status}: {:?}",
            hits.all()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_urls_by_get_and_by_post_put_the_parameters_where_twilio_does_and_sign_them() {
    let rig = Rig::new((42500, 42599), false).await;
    let (base, hits) = App::new()
        .twiml("/get-voice", "<Response><Hangup/></Response>")
        .twiml("/post-voice", "<Response><Hangup/></Response>")
        .start()
        .await;
    let account = rig.account.clone();
    let token = &account.auth_token;
    let get_url = format!("{base}/get-voice?app=1");
    let post_url = format!("{base}/post-voice?app=2");
    add_number_for(&rig, &account, "5550200", &get_url, HttpMethod::Get).await;
    add_number_for(&rig, &account, "5550201", &post_url, HttpMethod::Post).await;

    for (number, path, method) in [
        ("5550200", "/get-voice", Method::GET),
        ("5550201", "/post-voice", Method::POST),
    ] {
        let mut phone = Caller::dial(rig.sip, number, "+14158675309", 400)
            .await
            .unwrap();
        phone.expect_bye().await;
        for status in ["in-progress", "completed"] {
            let hit = request_with_status(&hits, path, status).await;
            assert_eq!(hit.method, method, "{hit:?}");
            assert_eq!(param(&hit, "AccountSid"), account.sid.as_str());
            assert_eq!(param(&hit, "Caller"), "+14158675309");
            assert_eq!(param(&hit, "Called"), number);
            assert!(param(&hit, "CallSid").starts_with("CA"), "{hit:?}");
            assert_eq!(param(&hit, "CallGuid"), param(&hit, "CallSid"));
            let url = hit.url(&base);
            let expected = if method == Method::GET {
                // Everything in the query (after the URL's own), nothing in a body;
                // the signature covers the URL alone.
                assert!(hit.query.starts_with("app=1&"), "{hit:?}");
                assert!(hit.form.is_empty(), "{hit:?}");
                twiml::webhook::signature(token, &url, std::iter::empty::<(&str, &str)>())
            } else {
                // A form body; the query is the URL's own; the signature
                // covers the URL and the sorted form.
                assert_eq!(hit.query, "app=2", "{hit:?}");
                assert_eq!(url, post_url);
                twiml::webhook::signature(
                    token,
                    &url,
                    hit.form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )
            };
            assert_eq!(hit.signature, expected, "{hit:?}");
        }
    }
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_rooms_of_the_same_name_are_apart_in_audio_and_in_the_api() {
    let rig = Rig::new((42600, 42699), false).await;
    let (base, _hits) = App::new()
        .twiml(
            "/room",
            "<Response><Dial><Conference beep=\"false\">shared</Conference></Dial></Response>",
        )
        .start()
        .await;
    let a = rig.account.clone();
    let b = rig.add_account("other").await;
    let url = format!("{base}/room");
    add_number_for(&rig, &a, "5550300", &url, HttpMethod::Post).await;
    add_number_for(&rig, &b, "5550301", &url, HttpMethod::Post).await;
    let a1 = Caller::dial(rig.sip, "5550300", "a1", 400).await.unwrap();
    let a2 = Caller::dial(rig.sip, "5550300", "a2", 700).await.unwrap();
    let b1 = Caller::dial(rig.sip, "5550301", "b1", 1100).await.unwrap();
    // b1 is the first participant of B's room.
    rig.room_of(&b, "shared", "0", 1).await;
    let b2 = Caller::dial(rig.sip, "5550301", "b2", 1300).await.unwrap();
    let (cf_a, _) = rig.room_of(&a, "shared", "1", 2).await;
    let (cf_b, calls_b) = rig.room_of(&b, "shared", "1", 2).await;
    assert_ne!(cf_a, cf_b);
    let apart = |hz: f64, others: [f64; 2]| {
        move |s: &[i16]| {
            tone_fraction(s, hz) > 0.6 && others.iter().all(|&o| tone_fraction(s, o) < 0.05)
        }
    };
    a1.until_heard("a1 hears a2, nobody of b", apart(700.0, [1100.0, 1300.0]))
        .await;
    b1.until_heard("b1 hears b2, nobody of a", apart(1300.0, [400.0, 700.0]))
        .await;

    // A lists only its own room.
    let list = format!("{}/Conferences", base_of(&a));
    assert_eq!(
        rig.column_as(&a, &list, "Sid").await,
        std::slice::from_ref(&cf_a)
    );
    // With A's credentials, B's room and caller are out of reach: under B's
    // URL 401 (decisions.md: another account's URL is 401, Code 20003),
    // under A's own URL 404 (no such conference, or no such participant).
    let of_b = base_of(&b);
    let of_a = base_of(&a);
    let b1_sid = &calls_b[0];
    let attempts = [
        (Method::GET, format!("{of_b}/Conferences/{cf_b}"), ""),
        (
            Method::GET,
            format!("{of_b}/Conferences/{cf_b}/Participants"),
            "",
        ),
        (
            Method::POST,
            format!("{of_b}/Conferences/{cf_b}/Participants/{b1_sid}"),
            "Muted=true",
        ),
        (
            Method::DELETE,
            format!("{of_b}/Conferences/{cf_b}/Participants/{b1_sid}"),
            "",
        ),
        (Method::GET, format!("{of_a}/Conferences/{cf_b}"), ""),
        (
            Method::GET,
            format!("{of_a}/Conferences/{cf_b}/Participants"),
            "",
        ),
        (
            Method::POST,
            format!("{of_a}/Conferences/{cf_b}/Participants/{b1_sid}"),
            "Muted=true",
        ),
        (
            Method::DELETE,
            format!("{of_a}/Conferences/{cf_b}/Participants/{b1_sid}"),
            "",
        ),
        (
            Method::POST,
            format!("{of_a}/Conferences/{cf_a}/Participants/{b1_sid}"),
            "Muted=true",
        ),
        (
            Method::DELETE,
            format!("{of_a}/Conferences/{cf_a}/Participants/{b1_sid}"),
            "",
        ),
    ];
    for (method, uri, body) in attempts {
        let (status, text) = rig.api_as(&a, method.clone(), &uri, body).await;
        let (want, code) = if uri.starts_with(&of_b) {
            (StatusCode::UNAUTHORIZED, "20003")
        } else {
            (StatusCode::NOT_FOUND, "20404")
        };
        assert_eq!(status, want, "{method} {uri}: {text}");
        assert_eq!(column(&text, "Code"), [code], "{method} {uri}: {text}");
    }
    // None of it touched B's call: still in, unmuted, heard.
    let participant = format!("{of_b}/Conferences/{cf_b}/Participants/{b1_sid}");
    assert_eq!(rig.column_as(&b, &participant, "Muted").await, ["false"]);
    b2.until_heard("b2 still hears b1", apart(1100.0, [400.0, 700.0]))
        .await;
    for phone in [a1, a2, b1, b2] {
        phone.hang_up().await;
    }
    rig.server.stop().await;
}

// ---------------------------------------------------------------------------
// <Dial>: its action after each way out, maxParticipants, beeps.

/// Waits for the call to be hung up; returns what it heard since `mark`.
async fn heard_until_bye(phone: &mut Caller, mark: usize) -> Vec<i16> {
    phone.expect_bye().await;
    phone.heard_since(mark)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dial_action_gets_dial_status_answered_after_a_kick_a_star_or_the_time_limit_and_its_twiml_runs()
 {
    let rig = Rig::new((42700, 42799), false).await;
    let (base, hits) = App::new()
        // With an action, what follows the <Dial> is never reached.
        .twiml(
            "/kick",
            "<Response><Dial action=\"/after-kick\" method=\"GET\"><Conference beep=\"false\">\
             exits</Conference></Dial><Play>/tone/550</Play></Response>",
        )
        .twiml(
            "/after-kick",
            "<Response><Redirect method=\"GET\">/next</Redirect></Response>",
        )
        .twiml("/next", "<Response><Play>/tone/1000/400</Play></Response>")
        .twiml(
            "/star",
            "<Response><Dial hangupOnStar=\"true\" action=\"/after\"><Conference beep=\"false\">\
             exits</Conference></Dial></Response>",
        )
        .twiml(
            "/limited",
            "<Response><Dial timeLimit=\"1\" action=\"/after\"><Conference beep=\"false\">\
             exits</Conference></Dial></Response>",
        )
        .twiml("/after", "<Response><Play>/tone/1000/400</Play></Response>")
        .start()
        .await;
    let account = rig.account.clone();
    for (number, path) in [
        ("5550400", "/kick"),
        ("5550401", "/star"),
        ("5550402", "/limited"),
    ] {
        add_number_for(
            &rig,
            &account,
            number,
            &format!("{base}{path}"),
            HttpMethod::Post,
        )
        .await;
    }
    let mut kicked = Caller::dial(rig.sip, "5550400", "kicked", 400)
        .await
        .unwrap();
    let mut star = Caller::dial(rig.sip, "5550401", "star", 700).await.unwrap();
    let (cf, _) = rig.room_with("exits", 2).await;
    let calls = [
        param(&hits.to("/kick", "").await, "CallSid").to_owned(),
        param(&hits.to("/star", "").await, "CallSid").to_owned(),
    ];
    star.until_heard("star hears kicked", hears(400.0, 700.0))
        .await;

    // Kicked: the action (GET, as asked) says answered; its <Redirect> is followed.
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[0]);
    let mark = kicked.heard_len();
    let (status, _) = rig.api(Method::DELETE, &participant, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let heard = heard_until_bye(&mut kicked, mark).await;
    let action = hits.to("/after-kick", &calls[0]).await;
    assert_eq!(action.method, Method::GET);
    assert_eq!(param(&action, "DialStatus"), "answered", "{action:?}");
    assert_eq!(param(&action, "CallStatus"), "in-progress", "{action:?}");
    let next = hits.to("/next", &calls[0]).await;
    assert_eq!(next.method, Method::GET);
    for hit in [&action, &next] {
        assert_eq!(
            hit.signature,
            hit.expected_signature(&base, &account.auth_token)
        );
    }
    assert!(
        tone_fraction(&heard, 1000.0) > 0.3,
        "the kicked caller did not hear the redirected <Play>: {}",
        describe(&heard)
    );
    assert!(
        tone_fraction(&heard, 550.0) < 0.01,
        "the verb after the <Dial action> ran"
    );

    // `*` with hangupOnStar: the action (POST) says answered.
    let mark = star.heard_len();
    star.press('*');
    let heard = heard_until_bye(&mut star, mark).await;
    let action = hits.to("/after", &calls[1]).await;
    assert_eq!(action.method, Method::POST);
    assert_eq!(param(&action, "DialStatus"), "answered", "{action:?}");
    assert_eq!(
        action.signature,
        action.expected_signature(&base, &account.auth_token)
    );
    assert!(
        tone_fraction(&heard, 1000.0) > 0.3,
        "after *, the action's <Play> was not heard: {}",
        describe(&heard)
    );
    rig.until_status(&cf, "2").await;

    // The time limit: out after a second, the action says answered.
    let mut limited = Caller::dial(rig.sip, "5550402", "limited", 1100)
        .await
        .unwrap();
    let call = param(&hits.to("/limited", "").await, "CallSid").to_owned();
    let heard = heard_until_bye(&mut limited, 0).await;
    let action = hits.to("/after", &call).await;
    assert_eq!(param(&action, "DialStatus"), "answered", "{action:?}");
    assert!(
        tone_fraction(&heard[heard.len().saturating_sub(8 * 500)..], 1000.0) > 0.3,
        "after the time limit, the action's <Play> was not heard"
    );
    for call in calls.iter().chain([&call]) {
        let row = rig
            .call_row(call, |r| r.status != CallStatus::InProgress)
            .await;
        assert_eq!((row.status, row.failure), (CallStatus::Complete, None));
    }
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_over_max_participants_does_not_join_and_the_dial_action_gets_failed() {
    let rig = Rig::new((42800, 42899), false).await;
    let (base, hits) = App::new()
        .twiml(
            "/small",
            "<Response><Dial action=\"/small-after\"><Conference beep=\"false\" \
             maxParticipants=\"2\">small</Conference></Dial></Response>",
        )
        .twiml(
            "/small-after",
            "<Response><Play>/tone/1000/400</Play></Response>",
        )
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5550500",
        &format!("{base}/small"),
        HttpMethod::Post,
    )
    .await;
    let p1 = Caller::dial(rig.sip, "5550500", "p1", 400).await.unwrap();
    let p2 = Caller::dial(rig.sip, "5550500", "p2", 700).await.unwrap();
    let (cf, calls) = rig.room_with("small", 2).await;

    let mut p3 = Caller::dial(rig.sip, "5550500", "p3", 1100).await.unwrap();
    let heard = heard_until_bye(&mut p3, 0).await;
    let p3_call = hits
        .all()
        .into_iter()
        .filter(|h| h.path == "/small")
        .map(|h| param(&h, "CallSid").to_owned())
        .find(|c| !calls.contains(c))
        .unwrap();
    let action = hits.to("/small-after", &p3_call).await;
    assert_eq!(param(&action, "DialStatus"), "failed", "{action:?}");
    assert!(
        tone_fraction(&heard, 1000.0) > 0.3,
        "the refused caller did not get the action's <Play>: {}",
        describe(&heard)
    );
    // The room kept its two, who never heard the third.
    let participants = format!("{}/Conferences/{cf}/Participants", rig.base());
    assert_eq!(rig.column(&participants, "CallSid").await, calls);
    p1.until_heard("p1 hears p2 only", hears(700.0, 1100.0))
        .await;
    let row = rig
        .call_row(&p3_call, |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    p1.hang_up().await;
    p2.hang_up().await;
    rig.server.stop().await;
}

/// Joins, joins and a leave in room `name` (reached by `number`), with
/// silent callers: what the first caller heard at each step.
pub(crate) async fn joins_and_a_leave(rig: &Rig, number: &str, name: &str) -> [Vec<i16>; 3] {
    let account = rig.account.clone();
    let first = Caller::dial(rig.sip, number, "first", 0).await.unwrap();
    rig.room_of(&account, name, "0", 1).await;
    // Past its own join.
    first.listen_from(first.heard_len(), 400).await;

    let mut heard = Vec::new();
    let mark = first.heard_len();
    let second = Caller::dial(rig.sip, number, "second", 0).await.unwrap();
    rig.room_with(name, 2).await;
    heard.push(first.listen_from(mark, 600).await);

    let mark = first.heard_len();
    let third = Caller::dial(rig.sip, number, "third", 0).await.unwrap();
    rig.room_with(name, 3).await;
    heard.push(first.listen_from(mark, 600).await);

    let mark = first.heard_len();
    third.hang_up().await;
    rig.room_with(name, 2).await;
    heard.push(first.listen_from(mark, 600).await);
    second.hang_up().await;
    first.hang_up().await;
    heard.try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beep_true_beeps_for_the_others_on_each_join_and_leave_and_beep_false_does_not() {
    let rig = Rig::new((42900, 42999), false).await;
    let (base, _hits) = App::new()
        .twiml(
            "/beep",
            "<Response><Dial><Conference beep=\"true\" waitUrl=\"\">beeps</Conference></Dial>\
             </Response>",
        )
        .twiml(
            "/quiet",
            "<Response><Dial><Conference beep=\"false\" waitUrl=\"\">quiet</Conference></Dial>\
             </Response>",
        )
        .start()
        .await;
    let account = rig.account.clone();
    add_number_for(
        &rig,
        &account,
        "5550600",
        &format!("{base}/beep"),
        HttpMethod::Post,
    )
    .await;
    add_number_for(
        &rig,
        &account,
        "5550601",
        &format!("{base}/quiet"),
        HttpMethod::Post,
    )
    .await;

    let [second, third, left] = joins_and_a_leave(&rig, "5550600", "beeps").await;
    for (what, heard, hz) in [
        ("the second caller's join", &second, JOIN_BEEP_HZ),
        ("the third caller's join", &third, JOIN_BEEP_HZ),
        ("the third caller's leave", &left, LEAVE_BEEP_HZ),
    ] {
        assert!(
            strongest(heard, hz) > 0.6,
            "no {hz} Hz beep for {what}: strongest share {:.2}, rms {:.0}",
            strongest(heard, hz),
            rms(heard)
        );
    }

    let steps = joins_and_a_leave(&rig, "5550601", "quiet").await;
    for (step, heard) in steps.iter().enumerate() {
        assert!(
            rms(heard) < 50.0,
            "beep=\"false\", step {step}: something was heard: rms {:.0}, {}",
            rms(heard),
            describe(heard)
        );
    }
    rig.server.stop().await;
}

// ---------------------------------------------------------------------------
// Callers on PCMA, and over TCP.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pcma_only_caller_and_a_caller_over_tcp_talk_with_a_pcmu_caller() {
    let rig = Rig::new((44000, 44099), true).await;
    let pcmu = Caller::dial(rig.sip, "codecs", "pcmu", 400).await.unwrap();
    rig.room_of(&rig.account, "codecs", "0", 1).await;
    // The phone records only packets of the codec it offered.
    let pcma = Caller::dial_on(Line::PCMA, rig.sip, "codecs", "pcma", 700)
        .await
        .unwrap();
    rig.room_with("codecs", 2).await;
    let mut tcp = Caller::dial_on(Line::TCP, rig.sip, "codecs", "tcp", 1100)
        .await
        .unwrap();
    let (cf, calls) = rig.room_with("codecs", 3).await;
    pcmu.until_heard("PCMU hears PCMA and TCP", hears_both(700.0, 1100.0, 400.0))
        .await;
    pcma.until_heard("PCMA hears PCMU and TCP", hears_both(400.0, 1100.0, 700.0))
        .await;
    tcp.until_heard("TCP hears PCMU and PCMA", hears_both(400.0, 700.0, 1100.0))
        .await;
    // Kicked, the TCP caller gets its BYE on its connection.
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[2]);
    let (status, _) = rig.api(Method::DELETE, &participant, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    tcp.expect_bye().await;
    rig.room_with("codecs", 2).await;
    pcma.hang_up().await;
    pcmu.hang_up().await;
    rig.server.stop().await;
}
