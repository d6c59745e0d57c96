//! The dashboard in a real browser: headless Chromium (Debian's
//! `chromium`), driven over the DevTools protocol by
//! `tests/dashboard_browser.js` (node, no packages), against the real
//! `confab serve` with two testkit phones in a room. It signs in by typing
//! and clicking, sees both participants, sees the one who talks, clicks
//! mute (the other phone stops hearing the muted one), unmutes with the
//! keyboard alone (Tab, Enter: heard again) and clicks kick (the kicked
//! phone gets a BYE). Screenshots of each step are kept under the target
//! directory (`dashboard-screenshots/`; their paths are printed).
//!
//! Without `chromium` or `node` the test says so loudly and passes, except
//! in CI (`CI` set), where it must run. RTP ports 57900–57999.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::browser::{self, Browser};
use common::{Serve, db_url};
use serde_json::json;
use testkit::{Codec, Phone};

const ROOM: &str = "dashboard-browser";
const ALICE_HZ: u32 = 440;
/// How long a phone may take to hear a change in the room.
const HEAR: Duration = Duration::from_secs(10);
/// How long the page may take to show a change (ms).
const WAIT: u64 = 10_000;

/// A selector for participant `call`'s element, or something in it.
fn participant(call: &str, inner: &str) -> String {
    format!("[data-testid=participant][data-sid=\"{call}\"] {inner}")
        .trim_end()
        .to_owned()
}

/// A page expression: participant `call`'s `data-{attr}` is `value`.
fn has(call: &str, attr: &str, value: &str) -> String {
    format!(
        "document.querySelector('{}')?.dataset.{attr} === '{value}'",
        participant(call, "")
    )
}

fn count_is(n: usize) -> String {
    format!("document.querySelectorAll('[data-testid=participant]').length === {n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_dashboard_shows_the_room_and_its_talker_and_mutes_and_kicks_real_calls() {
    let Some(chromium) = browser::chromium("the dashboard's browser test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let serve = Serve::start_with(&db_url(dir.path()), "57900-57999", Some(&log));
    let (sid, token) = serve.default_account();
    let mut browser = Browser::chromium(&chromium, dir.path(), &[], "dashboard-screenshots").await;

    browser.open(&format!("http://{}/", serve.addr)).await;
    browser.screenshot("1-sign-in").await;
    browser
        .run(json!({ "cmd": "type", "selector": "[data-testid=account-sid]", "text": sid }))
        .await;
    browser
        .run(json!({ "cmd": "type", "selector": "[data-testid=auth-token]", "text": token }))
        .await;
    browser.click("[data-testid=sign-in]").await;
    browser
        .wait_for("!document.getElementById('live-view').hidden", WAIT)
        .await;

    // Both phones join, silent, one after the other: the page lists them
    // in join order.
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let mut alice_phone = Phone::bind(server).await.unwrap();
    alice_phone.set_caller("alice");
    let alice = alice_phone.call(ROOM, Codec::Pcmu).await.unwrap();
    alice.send_silence();
    browser.wait_for(&count_is(1), WAIT).await;
    let alice_sid = browser
        .eval("document.querySelector('[data-testid=participant]').dataset.sid")
        .await;
    let alice_sid = alice_sid.as_str().unwrap().to_owned();
    let mut bob_phone = Phone::bind(server).await.unwrap();
    bob_phone.set_caller("bob");
    let mut bob = bob_phone.call(ROOM, Codec::Pcmu).await.unwrap();
    bob.send_silence();
    browser.wait_for(&count_is(2), WAIT).await;
    let bob_sid = browser
        .eval("document.querySelectorAll('[data-testid=participant]')[1].dataset.sid")
        .await;
    let bob_sid = bob_sid.as_str().unwrap().to_owned();
    let conference = browser
        .eval("[...document.querySelectorAll('[data-testid=conference]')].map(c => c.dataset.name)")
        .await;
    assert_eq!(conference, json!([ROOM]));
    for call in [&alice_sid, &bob_sid] {
        browser.wait_for(&has(call, "talking", "false"), WAIT).await;
        browser.wait_for(&has(call, "muted", "false"), WAIT).await;
    }
    browser.screenshot("2-two-participants").await;

    // Alice talks: the page shows her talking, within a second.
    let spoke = Instant::now();
    alice.send_tone(ALICE_HZ);
    browser
        .wait_for(&has(&alice_sid, "talking", "true"), WAIT)
        .await;
    println!(
        "alice shown talking {:?} after her tone started",
        spoke.elapsed()
    );
    browser
        .wait_for(&has(&bob_sid, "talking", "false"), WAIT)
        .await;
    bob.wait_to_hear(ALICE_HZ, HEAR).await.unwrap();
    browser.screenshot("3-alice-talking").await;

    // Mute, by a click: bob stops hearing her; the page says muted.
    browser
        .click(&participant(&alice_sid, "[data-testid=mute-toggle]"))
        .await;
    browser
        .wait_for(&has(&alice_sid, "muted", "true"), WAIT)
        .await;
    bob.wait_not_hearing(ALICE_HZ, HEAR).await.unwrap();
    browser.screenshot("4-alice-muted").await;

    // Unmute with the keyboard alone: Tab to the button, press Enter.
    let button = participant(&alice_sid, "[data-testid=mute-toggle]");
    let focused = format!("document.activeElement === document.querySelector('{button}')");
    let mut tabs = 0;
    while browser.eval(&focused).await != json!(true) {
        tabs += 1;
        assert!(tabs <= 20, "Tab never reached alice's mute button");
        browser.run(json!({ "cmd": "key", "key": "Tab" })).await;
    }
    browser.run(json!({ "cmd": "key", "key": "Enter" })).await;
    browser
        .wait_for(&has(&alice_sid, "muted", "false"), WAIT)
        .await;
    bob.wait_to_hear(ALICE_HZ, HEAR).await.unwrap();

    // Kick bob, by a click: his phone gets the BYE, the page drops him.
    browser
        .click(&participant(&bob_sid, "[data-testid=kick]"))
        .await;
    bob.wait_for_bye(HEAR).await.unwrap();
    browser.wait_for(&count_is(1), WAIT).await;
    // Alice, alone and talking, moves the room's meter (read every 240 ms).
    browser
        .wait_for(
            "document.querySelector('[data-testid=level]').value > -40",
            WAIT,
        )
        .await;
    browser.screenshot("5-bob-kicked").await;

    browser.quit().await;
    drop(alice);
    assert!(serve.stop(), "serve did not stop cleanly");
}
