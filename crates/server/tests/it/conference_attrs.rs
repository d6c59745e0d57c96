//! Today's `<Conference>` attributes on the audio: `beep="onEnter"` beeps
//! for the others when a caller joins and not when it leaves, and
//! `beep="onExit"` the other way round. RTP ports 51300–51399.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::caller::describe;
use crate::common::rig::{App, Rig, add_number_for};
use crate::rooms::{joins_and_a_leave, strongest};
use media::goertzel::rms;
use media::tone::{JOIN_BEEP_HZ, LEAVE_BEEP_HZ};
use model::HttpMethod;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beep_on_enter_and_beep_on_exit_beep_only_then() {
    let rig = Rig::new((51300, 51399), false).await;
    let (base, _hits) = App::new()
        .twiml(
            "/enter",
            "<Response><Dial><Conference beep=\"onEnter\" waitUrl=\"\">enter</Conference></Dial>\
             </Response>",
        )
        .twiml(
            "/exit",
            "<Response><Dial><Conference beep=\"onExit\" waitUrl=\"\">exit</Conference></Dial>\
             </Response>",
        )
        .start()
        .await;
    let account = rig.account.clone();
    for (number, path) in [("5551300", "/enter"), ("5551301", "/exit")] {
        let url = format!("{base}{path}");
        add_number_for(&rig, &account, number, &url, HttpMethod::Post).await;
    }
    let beeped = |heard: &[i16], hz: f64| strongest(heard, hz) > 0.6;
    let silent = |heard: &[i16]| rms(heard) < 50.0;

    let [second, third, left] = joins_and_a_leave(&rig, "5551300", "enter").await;
    for (what, heard) in [("second join", &second), ("third join", &third)] {
        assert!(
            beeped(heard, JOIN_BEEP_HZ),
            "onEnter, {what}: no join beep; {}",
            describe(heard)
        );
    }
    assert!(
        silent(&left),
        "onEnter, the leave: something was heard: rms {:.0}, {}",
        rms(&left),
        describe(&left)
    );

    let [second, third, left] = joins_and_a_leave(&rig, "5551301", "exit").await;
    for (what, heard) in [("second join", &second), ("third join", &third)] {
        assert!(
            silent(heard),
            "onExit, {what}: something was heard: rms {:.0}, {}",
            rms(heard),
            describe(heard)
        );
    }
    assert!(
        beeped(&left, LEAVE_BEEP_HZ),
        "onExit, the leave: no leave beep; {}",
        describe(&left)
    );
    rig.server.stop().await;
}
