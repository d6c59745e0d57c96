//! The coach end to end: alice and bob talk in a room; a third caller whose
//! voice URL answers `<Conference coach="{alice's CallSid}">` joins it.
//! On the audio, alice hears the coach and bob does not, and the coach
//! hears both; in the 2010 API's participant JSON, the coach is `coaching`
//! alice. RTP ports 55100–55199.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use media::tone_fraction;

use crate::common::caller::{Caller, describe};
use crate::common::rig::{App, Rig, add_number};
use crate::control::hears_both;

/// What each caller sends.
const ALICE_HZ: f64 = 400.0;
const BOB_HZ: f64 = 700.0;
const COACH_HZ: f64 = 1100.0;
/// How long bob is listened to for any trace of the coach.
const STRETCH_MS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coach_from_twiml_is_heard_by_its_call_only_hears_everyone_and_shows_in_the_api() {
    let rig = Rig::new((55100, 55199), true).await;
    // One at a time: the participants' order is the callers'.
    let alice = Caller::dial(rig.sip, "coached", "alice", ALICE_HZ as u32)
        .await
        .unwrap();
    rig.room_of(&rig.account, "coached", "0", 1).await;
    let bob = Caller::dial(rig.sip, "coached", "bob", BOB_HZ as u32)
        .await
        .unwrap();
    let (cf, calls) = rig.room_with("coached", 2).await;
    let alice_sid = calls[0].clone();
    bob.until_heard("bob hears alice", |s| tone_fraction(s, ALICE_HZ) > 0.6)
        .await;

    // The coach's voice URL names alice's call, known only now.
    let twiml = format!(
        "<Response><Dial><Conference coach=\"{alice_sid}\" beep=\"false\">coached</Conference>\
         </Dial></Response>"
    );
    let (base, hits) = App::new().twiml("/coach", &twiml).start().await;
    add_number(&rig, "5555100", &format!("{base}/coach")).await;
    let coach = Caller::dial(rig.sip, "5555100", "coach", COACH_HZ as u32)
        .await
        .unwrap();
    let (_, calls) = rig.room_with("coached", 3).await;
    let coach_sid = calls[2].clone();
    hits.to("/coach", &coach_sid).await;

    alice
        .until_heard(
            "alice hears bob and her coach",
            hears_both(BOB_HZ, COACH_HZ, ALICE_HZ),
        )
        .await;
    coach
        .until_heard(
            "the coach hears alice and bob",
            hears_both(ALICE_HZ, BOB_HZ, COACH_HZ),
        )
        .await;
    // Bob, for a whole stretch after the coach was heard by alice: alice,
    // and never the coach.
    let heard = bob.listen_from(bob.heard_len(), STRETCH_MS).await;
    for (i, window) in heard.chunks(1600).enumerate() {
        assert!(
            tone_fraction(window, COACH_HZ) < 0.02 && tone_fraction(window, ALICE_HZ) > 0.6,
            "bob, window {i}: hears the coach, or not alice: {}",
            describe(window)
        );
    }

    // The 2010 API: the coach coaches alice; nobody else coaches.
    let participants = format!(
        "/2010-04-01/Accounts/{}/Conferences/{cf}/Participants",
        rig.account.sid
    );
    let (status, body) = rig
        .api(Method::GET, &format!("{participants}/{coach_sid}.json"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("\"coaching\":true")
            && body.contains(&format!("\"call_sid_to_coach\":\"{alice_sid}\"")),
        "the coach's participant: {body}"
    );
    let (status, body) = rig
        .api(Method::GET, &format!("{participants}/{alice_sid}.json"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("\"coaching\":false") && body.contains("\"call_sid_to_coach\":null"),
        "alice's participant: {body}"
    );
    let (status, body) = rig
        .api(
            Method::GET,
            &format!("{participants}.json?Coaching=true"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.matches("\"call_sid\"").count() == 1
            && body.contains(&format!("\"call_sid\":\"{coach_sid}\"")),
        "Coaching=true lists the coach only: {body}"
    );

    coach.hang_up().await;
    bob.hang_up().await;
    alice.hang_up().await;
    rig.server.stop().await;
}
