//! A loud room and a steady tone, through the real server: five callers
//! sending −3 dBFS tones are heard by a sixth turned down, not clipped
//! (the mixer's limiter); a caller's 1004 Hz test tone reaches another
//! caller as clean as μ-law allows, with no splice in the first seconds
//! (the playout buffer's shrink rule). RTP ports 56000–56999.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use media::goertzel::sinad;
use media::tone_fraction;

use crate::common::caller::{Caller, DEADLINE, describe};
use crate::common::rig::{App, Rig, add_number};

/// −3 dBFS, as a peak amplitude.
const MINUS_3_DBFS: f64 = 23_197.0;
/// The largest magnitude μ-law decodes to: a sample there is at full scale.
const MU_LAW_FULL_SCALE: u16 = 32_124;
/// The five talkers' tones.
const TALKERS_HZ: [u32; 5] = [350, 450, 620, 830, 1100];
/// The test tone (ITU-T O.132's 1004 Hz: no common factor with 8 kHz).
const TEST_HZ: u32 = 1004;
/// SINAD every 40 ms window must reach. A lone caller's tone passes the
/// room bit-exact, so what the listener hears is the caller's μ-law
/// coding alone: at the testkit's −12 dBFS that measured 39.3–39.5 dB in
/// every window here; the splice the playout buffer made about 0.9 s in
/// before it waited for a backlog measured 22.4 dB. 35 dB (near the
/// −3 dBFS tone's 37 dB μ-law ceiling) leaves over 4 dB for the coding
/// noise's spread and still catches any cut.
const MIN_SINAD_DB: f64 = 35.0;

/// A room with no join beeps, reached at `number`.
async fn quiet_room(rig: &Rig, number: &str, room: &str) {
    let twiml =
        format!("<Response><Dial><Conference beep=\"false\">{room}</Conference></Dial></Response>");
    let (base, _hits) = App::new().twiml("/room", &twiml).start().await;
    add_number(rig, number, &format!("{base}/room")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_talkers_at_minus_3_dbfs_reach_a_listener_turned_down_not_clipped() {
    let rig = Rig::new((56000, 56499), false).await;
    quiet_room(&rig, "5556000", "loud").await;
    let mut talkers = Vec::new();
    for (i, &hz) in TALKERS_HZ.iter().enumerate() {
        let caller = Caller::dial(rig.sip, "5556000", &format!("talker{i}"), hz)
            .await
            .unwrap();
        caller.call().send_tone_at(hz, MINUS_3_DBFS);
        talkers.push(caller);
    }
    let listener = Caller::dial(rig.sip, "5556000", "listener", 0)
        .await
        .unwrap();
    rig.room_with("loud", 6).await;
    listener
        .until_heard("the listener hears all five", |s| {
            TALKERS_HZ
                .iter()
                .all(|&hz| tone_fraction(s, f64::from(hz)) > 0.1)
        })
        .await;

    // Two seconds of what the listener hears, and of what one talker hears.
    let heard = listener.listen_from(listener.heard_len(), 2000).await;
    let talker_heard = talkers[0].listen_from(talkers[0].heard_len(), 2000).await;
    for (who, heard, voices) in [
        ("the listener", &heard, &TALKERS_HZ[..]),
        ("talker 0", &talker_heard, &TALKERS_HZ[1..]),
    ] {
        let pinned = heard
            .iter()
            .filter(|x| x.unsigned_abs() >= MU_LAW_FULL_SCALE)
            .count();
        assert!(
            pinned * 100 <= heard.len(),
            "{who}: {pinned} of {} samples at full scale",
            heard.len()
        );
        // A wrap jumps between the extremes; the loudest natural step of
        // these five tones, turned down to the ceiling, is under 20 000.
        let step = heard
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        assert!(step < 32_768, "{who}: a step of {step}: a wrap");
        // Every voice is there, at about an equal share.
        let share = 1.0 / voices.len() as f64;
        for &hz in voices {
            let f = tone_fraction(heard, f64::from(hz));
            assert!(
                (share * 0.7..share * 1.3).contains(&f),
                "{who}: {hz} Hz has {f:.3} of the energy: {}",
                describe(heard)
            );
        }
        let peak = heard.iter().map(|x| x.unsigned_abs()).max().unwrap();
        assert!(peak > 28_000, "{who}: turned down too far (peak {peak})");
        eprintln!(
            "{who}: {pinned} of {} samples at full scale, peak {peak}, largest step {step}",
            heard.len()
        );
    }

    for caller in talkers {
        caller.hang_up().await;
    }
    listener.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_test_tone_reaches_another_unspliced_from_the_rooms_start() {
    let rig = Rig::new((56500, 56999), false).await;
    quiet_room(&rig, "5556500", "tone").await;
    let talker = Caller::dial(rig.sip, "5556500", "talker", TEST_HZ)
        .await
        .unwrap();
    let listener = Caller::dial(rig.sip, "5556500", "listener", 0)
        .await
        .unwrap();

    // The room starts with the listener; the tone reaches it a tick or two
    // later. Find its first 40 ms, and measure from the window after (the
    // playout buffer fades a new stream in over 5 ms).
    let deadline = Instant::now() + DEADLINE;
    let onset = loop {
        let heard = listener.heard_since(0);
        let found = (0..heard.len().saturating_sub(320))
            .step_by(80)
            .find(|&i| tone_fraction(&heard[i..i + 320], f64::from(TEST_HZ)) > 0.9);
        if let Some(i) = found {
            break i + 320;
        }
        assert!(
            Instant::now() < deadline,
            "the listener never heard the tone: {}",
            describe(&heard)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let heard = listener.listen_from(onset, 3000).await;
    let windows: Vec<(usize, f64)> = (0..=heard.len() - 320)
        .step_by(80)
        .map(|i| (i / 8, sinad(&heard[i..i + 320], f64::from(TEST_HZ))))
        .collect();
    let (at_ms, worst) = windows
        .iter()
        .copied()
        .fold((0, f64::INFINITY), |w, x| if x.1 < w.1 { x } else { w });
    let median = {
        let mut db: Vec<f64> = windows.iter().map(|w| w.1).collect();
        db.sort_by(f64::total_cmp);
        db[db.len() / 2]
    };
    assert!(
        worst >= MIN_SINAD_DB,
        "SINAD {worst:.1} dB in the window {at_ms} ms after the tone arrived \
         (median {median:.1} dB over {} windows)",
        windows.len()
    );
    eprintln!(
        "1004 Hz through the room: worst window {worst:.2} dB, median {median:.2} dB, {} windows",
        windows.len()
    );

    talker.hang_up().await;
    listener.hang_up().await;
    rig.server.stop().await;
}
