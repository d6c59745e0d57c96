//! A browser joins a room through a join link: headless Chromium (Debian's
//! `chromium`, a fake microphone playing a WAV tone) against the real
//! `confab serve`, driven over the DevTools protocol by
//! `tests/dashboard_browser.js` (with the WebRTC flags of
//! `../shared/crates-and-peers.md` §5.3 in `CHROMIUM_ARGS`).
//!
//! `confab join-link` prints the URL; a tampered one gets an error page.
//! The browser clicks join and shows `connected`; a testkit SIP phone in
//! the same room hears the browser's tone, and the browser receives the
//! phone's (its `inbound-rtp` `totalAudioEnergy` grows); both REST APIs
//! list the browser's call as a participant; a REST mute silences the
//! browser for the phone; a kick closes the leg (the page shows `ended`
//! and closes its peer connection, the call record completes); a muted
//! link joins muted; the leave button takes the browser out within 10 s;
//! the conference's end (REST) ends the page's call.
//! Screenshots of the join page are kept under the target dir
//! (`join-screenshots/`).
//!
//! The same join from headless Firefox (Debian's `firefox-esr`, its fake
//! microphone, driven over WebDriver BiDi by `tests/firefox_driver.js`):
//! connected, heard both ways, and the leave button hangs up.
//!
//! The wideband tone test: a 6 kHz tone from one browser reaches another
//! browser through the room, and a G.711 phone gets it band-limited.
//!
//! Without the browser or `node` a test says so loudly and passes, except
//! in CI (`CI` set), where it must run. RTP ports 59000–59399 (Chromium)
//! and 59400–59499 (Firefox), 55600–55699 (the wideband test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use common::browser::{self, Browser};
use common::{Serve, confab, db_url, http};
use media::goertzel::{rms, tone_fraction_at};
use serde_json::Value;
use testkit::{Codec, Phone, PhoneCall};

const ROOM: &str = "browser-join";
/// The browser's fake microphone.
const BROWSER_HZ: u32 = 700;
/// The SIP phone's tone.
const PHONE_HZ: u32 = 440;
/// How long a phone may take to hear a change in the room.
const HEAR: Duration = Duration::from_secs(10);

/// A 48 kHz, 16-bit mono WAV of `tones` (Hz; none: silence), steady (a
/// phone that stops hearing it is muted, not between two pulses), 12,000
/// peak between them. The browser takes it raw ([`join`]).
fn microphone(path: &Path, tones: &[u32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let amplitude = 12_000.0 / tones.len().max(1) as f64;
    let mut wav = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..48_000 * 20 {
        let t = f64::from(i) / 48_000.0;
        let s: f64 = tones
            .iter()
            .map(|&hz| (t * f64::from(hz) * std::f64::consts::TAU).sin() * amplitude)
            .sum();
        wav.write_sample(s as i16).unwrap();
    }
    wav.finalize().unwrap();
}

/// Chromium's flags for a join: the fake microphone playing `wav`, and the
/// WebRTC flags of `../shared/crates-and-peers.md` §5.3.
fn chromium_flags(wav: &Path) -> Vec<String> {
    vec![
        "--use-fake-ui-for-media-stream".to_owned(),
        "--use-fake-device-for-media-stream".to_owned(),
        format!("--use-file-for-fake-audio-capture={}", wav.display()),
        "--autoplay-policy=no-user-gesture-required".to_owned(),
        "--allow-loopback-in-peer-connection".to_owned(),
        "--disable-features=WebRtcHideLocalIpsWithMdns".to_owned(),
        "--disable-quic".to_owned(),
    ]
}

/// The browser's received audio energy so far (`inbound-rtp`).
async fn energy(browser: &mut Browser) -> f64 {
    browser
        .eval(
            "window.confabPeer.getStats().then(s => { let e = 0; \
             s.forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'audio') \
             e += r.totalAudioEnergy || 0; }); return e; })",
        )
        .await
        .as_f64()
        .unwrap()
}

/// Waits until the received energy grows by 0.01 (within [`HEAR`]);
/// returns it before and after. (Polled here: the driver's waitFor would
/// take a pending promise as true.)
async fn energy_grows(browser: &mut Browser) -> (f64, f64) {
    let before = energy(browser).await;
    let deadline = std::time::Instant::now() + HEAR;
    let mut after = before;
    while after < before + 0.01 {
        assert!(
            std::time::Instant::now() < deadline,
            "the received energy stayed at {after} (from {before})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = energy(browser).await;
    }
    (before, after)
}

/// Clicks the page's join button with the microphone taken raw: the page
/// asks for the browser's default audio processing (as a user's browser
/// should), but its gain control turns a fake microphone's tone down over
/// a minute (measured on a loaded machine: Chromium's `media-source`
/// `audioLevel` fell from 0.39 to 0.014 in 60 s, and once left the tone
/// under what a phone hears after a late unmute), and these tests check
/// what confab does with the audio, not what the browser's processing does.
async fn join(browser: &mut Browser) {
    browser
        .eval(
            "(() => { const md = navigator.mediaDevices; \
             const ask = md.getUserMedia.bind(md); \
             md.getUserMedia = () => ask({ audio: { autoGainControl: false, \
             noiseSuppression: false, echoCancellation: false } }); return true; })()",
        )
        .await;
    browser.click("[data-testid=join]").await;
}

/// What the page says it sends: its microphone's level after Chromium's
/// audio processing (`media-source` `audioLevel`, 0–1) and the packets
/// sent so far (`outbound-rtp`).
async fn sending(browser: &mut Browser) -> Value {
    browser
        .eval(
            "window.confabPeer.getStats().then(s => { const o = {}; \
             s.forEach(r => { if (r.kind !== 'audio') return; \
             if (r.type === 'media-source') o.audioLevel = r.audioLevel; \
             if (r.type === 'outbound-rtp') o.packetsSent = r.packetsSent; }); \
             return o; })",
        )
        .await
}

/// Waits until the phone hears the browser's tone; a failure says what the
/// page was sending then, and what the server logged.
async fn phone_hears_browser(call: &PhoneCall, browser: &mut Browser, serve: &Serve) {
    if let Err(e) = call.wait_to_hear(BROWSER_HZ, HEAR).await {
        let sending = sending(browser).await;
        panic!("{e}\nthe page sends {sending}\n{}", serve.log_tail());
    }
}

/// The MIME type of the codec the page sends.
async fn sending_codec(browser: &mut Browser) -> Value {
    browser
        .eval(
            "window.confabPeer.getStats().then(s => { let id = null; \
             s.forEach(r => { if (r.type === 'outbound-rtp' && r.kind === 'audio') id = r.codecId; }); \
             return id && s.get(id) ? s.get(id).mimeType : null; })",
        )
        .await
}

/// The page's call state (`idle`, `connecting`, `connected`, `ended`, …).
const STATE: &str = "document.querySelector('[data-testid=call-state]').textContent";

/// Polls until the page shows `connected`; panics on `failed` or after 30 s.
async fn wait_connected(browser: &mut Browser, serve: &Serve) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let state = browser.eval(STATE).await;
        if state == "connected" {
            return;
        }
        if state == "failed" || std::time::Instant::now() > deadline {
            let error = browser
                .eval("document.querySelector('[data-testid=error]').textContent")
                .await;
            panic!(
                "the page never connected: {state} / {error}\n{}",
                serve.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The live conference's sid and its participants' CallSids (2010 API).
fn participants(serve: &Serve, sid: &str, token: &str) -> (String, Vec<String>) {
    let (status, body) = http(
        &serve.addr,
        "GET",
        &format!(
            "/2010-04-01/Accounts/{sid}/Conferences.json?FriendlyName={ROOM}&Status=in-progress"
        ),
        Some((sid, token)),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let conferences: Value = serde_json::from_str(&body).unwrap();
    let Some(conference) = conferences["conferences"][0]["sid"].as_str() else {
        return (String::new(), Vec::new());
    };
    let (status, body) = http(
        &serve.addr,
        "GET",
        &format!("/2010-04-01/Accounts/{sid}/Conferences/{conference}/Participants.json"),
        Some((sid, token)),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let calls = list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["call_sid"].as_str().unwrap().to_owned())
        .collect();
    (conference.to_owned(), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_joins_through_a_join_link_hears_and_is_heard_and_is_muted_and_kicked() {
    let Some(chromium) = browser::chromium("the join-link browser test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let db = db_url(dir.path());
    let serve = Serve::start_with(&db, "59000-59399", Some(&log));
    let (sid, token) = serve.default_account();
    let api = |method, path: &str, body: &str| {
        http(&serve.addr, method, path, Some((&sid, &token)), body)
    };

    // The link, from the CLI, for the address serve listens on.
    let (ok, out, err) = confab(
        &db,
        &[
            "join-link",
            "--account",
            &sid,
            "--room",
            ROOM,
            "--expires",
            "1h",
            "--http-addr",
            &serve.addr,
        ],
    );
    assert!(ok, "{err}");
    let url = out.trim().to_owned();
    let prefix = format!("http://{}/join/", serve.addr);
    assert!(url.starts_with(&prefix), "{url}");
    assert_eq!(out.lines().count(), 1, "{out}");
    // A tampered link gets an error page, not the join page.
    let path = url.strip_prefix(&format!("http://{}", serve.addr)).unwrap();
    let (signed, mac) = path.split_once('.').unwrap();
    let flipped = if mac.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{flipped}{}", &mac[1..]);
    let (status, body) = http(&serve.addr, "GET", &tampered, None, "");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("data-testid=\"join-error\""), "{body}");
    assert!(!body.contains("data-testid=\"join\""), "{body}");

    // A SIP phone in the room, playing its tone.
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let phone = Phone::bind(server).await.unwrap();
    let call = phone.call(ROOM, Codec::Pcmu).await.unwrap();
    call.send_tone(PHONE_HZ);

    let wav = dir.path().join("mic.wav");
    microphone(&wav, &[BROWSER_HZ]);
    let mut browser = Browser::chromium(
        &chromium,
        dir.path(),
        &chromium_flags(&wav),
        "join-screenshots",
    )
    .await;
    browser.open(&url).await;
    browser.screenshot("1-join-page").await;
    assert_eq!(browser.eval(STATE).await, "idle");
    join(&mut browser).await;
    wait_connected(&mut browser, &serve).await;
    assert_eq!(
        browser.eval("window.confabPeer.connectionState").await,
        "connected"
    );
    let browser_call = browser.eval("window.confabCallSid").await;
    let browser_call = browser_call.as_str().unwrap().to_owned();
    assert!(browser_call.starts_with("CA"), "{browser_call}");

    let codec = sending_codec(&mut browser).await;
    println!("the browser sends {codec}");
    assert_eq!(
        codec, "audio/opus",
        "Chromium prefers Opus, and confab takes it"
    );

    // The phone hears the browser; the browser receives the phone.
    phone_hears_browser(&call, &mut browser, &serve).await;
    let (before, after) = energy_grows(&mut browser).await;
    println!("browser inbound totalAudioEnergy grew from {before} to {after}");
    browser.screenshot("2-connected").await;

    // Both APIs list the browser's call in the room; its record says who.
    let (conference, calls) = participants(&serve, &sid, &token);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.contains(&browser_call), "{calls:?}");
    let (status, body) = api(
        "GET",
        &format!("/2008-08-01/Accounts/{sid}/Conferences/{conference}/Participants"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&browser_call), "{body}");
    let (status, body) = api(
        "GET",
        &format!("/2010-04-01/Accounts/{sid}/Calls/{browser_call}.json"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let record: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["direction"], "inbound", "{body}");
    assert_eq!(record["from"], "browser", "{body}");
    assert_eq!(record["to"], ROOM, "{body}");
    assert_eq!(record["status"], "in-progress", "{body}");

    // A REST mute silences the browser for the phone.
    let participant = format!(
        "/2010-04-01/Accounts/{sid}/Conferences/{conference}/Participants/{browser_call}.json"
    );
    let (status, body) = api("POST", &participant, "Muted=true");
    assert_eq!(status, 200, "{body}");
    call.wait_not_hearing(BROWSER_HZ, HEAR).await.unwrap();
    let (status, body) = api("POST", &participant, "Muted=false");
    assert_eq!(status, 200, "{body}");
    phone_hears_browser(&call, &mut browser, &serve).await;

    // A kick takes the browser out and closes its leg.
    let (status, body) = api("DELETE", &participant, "");
    assert_eq!(status, 204, "{body}");
    call.wait_not_hearing(BROWSER_HZ, HEAR).await.unwrap();
    browser
        .wait_for(
            "document.querySelector('[data-testid=call-state]').textContent === 'ended' \
             && window.confabPeer.connectionState === 'closed'",
            10_000,
        )
        .await;
    browser.screenshot("3-kicked").await;
    let (_, calls) = participants(&serve, &sid, &token);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let completed = || {
        let (_, body) = api(
            "GET",
            &format!("/2010-04-01/Accounts/{sid}/Calls/{browser_call}.json"),
            "",
        );
        serde_json::from_str::<Value>(&body).unwrap()["status"] == "completed"
    };
    let deadline = std::time::Instant::now() + HEAR;
    while !completed() {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser's call never completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A link minted through the REST API, muted: the browser joins muted,
    // then its leave button hangs up and the room lets it go within 10 s
    // (what a closed tab does too: it falls silent).
    let links = format!("/2010-04-01/Accounts/{sid}/JoinLinks.json");
    let (status, body) = api("POST", &links, "Room=x&Expires=0");
    assert_eq!(status, 400, "{body}");
    let (status, body) = api(
        "POST",
        &links,
        &format!("Room={ROOM}&Expires=600&Muted=true"),
    );
    assert_eq!(status, 201, "{body}");
    let link: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(link["muted"], true, "{body}");
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&prefix), "{url}");
    browser.open(url).await;
    join(&mut browser).await;
    wait_connected(&mut browser, &serve).await;
    let muted_call = browser.eval("window.confabCallSid").await;
    let muted_call = muted_call.as_str().unwrap().to_owned();
    let (conference, calls) = participants(&serve, &sid, &token);
    assert!(calls.contains(&muted_call), "{calls:?}");
    let (_, body) = api(
        "GET",
        &format!(
            "/2010-04-01/Accounts/{sid}/Conferences/{conference}/Participants/{muted_call}.json"
        ),
        "",
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["muted"],
        true,
        "{body}"
    );
    assert!(!call.hears(BROWSER_HZ));
    browser.click("[data-testid=leave]").await;
    assert_eq!(browser.eval(STATE).await, "ended");
    // How soon is the core's (`webrtc::SILENCE_LIMIT`, tested on fake
    // time); here it only has to happen, and the time is reported.
    let left = std::time::Instant::now();
    while participants(&serve, &sid, &token).1.contains(&muted_call) {
        assert!(
            left.elapsed() < Duration::from_secs(60),
            "the browser that left was still in the room after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "the browser that left was out of the room after {:?}",
        left.elapsed()
    );

    // Joined again on the same page, the room's end (REST) ends the
    // browser's call too.
    join(&mut browser).await;
    wait_connected(&mut browser, &serve).await;
    let (conference, calls) = participants(&serve, &sid, &token);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let (status, body) = api(
        "POST",
        &format!("/2010-04-01/Accounts/{sid}/Conferences/{conference}.json"),
        "Status=completed",
    );
    assert_eq!(status, 200, "{body}");
    browser
        .wait_for(
            "document.querySelector('[data-testid=call-state]').textContent === 'ended' \
             && window.confabPeer.connectionState === 'closed'",
            10_000,
        )
        .await;

    browser.quit().await;
    drop(call);
    assert!(serve.stop(), "serve did not stop cleanly");
}

/// Firefox's fake microphone: a steady tone at this pitch.
const FIREFOX_HZ: u32 = 1000;

/// The same join from Firefox, which pairs no loopback ICE candidate: the
/// leg must listen on the interface the browser's own candidates route to
/// (`server::browser_reach`). Heard both ways; the leave button hangs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_joins_through_a_join_link_hears_and_is_heard() {
    let Some(binary) = browser::firefox("the Firefox join test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let db = db_url(dir.path());
    let serve = Serve::start_with(&db, "59400-59499", Some(&log));
    let (sid, token) = serve.default_account();
    let api = |method, path: &str, body: &str| {
        http(&serve.addr, method, path, Some((&sid, &token)), body)
    };
    let links = format!("/2010-04-01/Accounts/{sid}/JoinLinks.json");
    let (status, body) = api("POST", &links, &format!("Room={ROOM}&Expires=600"));
    assert_eq!(status, 201, "{body}");
    let link: Value = serde_json::from_str(&body).unwrap();
    let url = link["url"].as_str().unwrap().to_owned();

    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let phone = Phone::bind(server).await.unwrap();
    let call = phone.call(ROOM, Codec::Pcmu).await.unwrap();
    call.send_tone(PHONE_HZ);

    let mut browser = Browser::firefox(&binary, dir.path(), "join-screenshots").await;
    browser.open(&url).await;
    join(&mut browser).await;
    wait_connected(&mut browser, &serve).await;
    browser.screenshot("firefox-connected").await;
    let browser_call = browser.eval("window.confabCallSid").await;
    let browser_call = browser_call.as_str().unwrap().to_owned();
    let (_, calls) = participants(&serve, &sid, &token);
    assert!(calls.contains(&browser_call), "{calls:?}");
    let codec = sending_codec(&mut browser).await;
    println!("Firefox sends {codec}");
    assert_eq!(
        codec, "audio/opus",
        "Firefox prefers Opus, and confab takes it"
    );

    call.wait_to_hear(FIREFOX_HZ, HEAR).await.unwrap();
    let (before, after) = energy_grows(&mut browser).await;
    println!("Firefox inbound totalAudioEnergy grew from {before} to {after}");

    browser.click("[data-testid=leave]").await;
    assert_eq!(browser.eval(STATE).await, "ended");
    call.wait_not_hearing(FIREFOX_HZ, Duration::from_secs(60))
        .await
        .unwrap();
    browser.quit().await;
    drop(call);
    assert!(serve.stop(), "serve did not stop cleanly");
}

/// What a page receives from the room: `seconds` of its remote track's
/// samples (the first channel, as i16) and their rate, read from the
/// track's frames (`MediaStreamTrackProcessor` on a clone, stopped after).
async fn received_audio(browser: &mut Browser, seconds: f64) -> (u32, Vec<i16>) {
    let value = browser
        .eval(&format!(
            "(async () => {{ \
               const receiver = window.confabPeer.getReceivers() \
                 .find(r => r.track && r.track.kind === 'audio'); \
               const track = receiver.track.clone(); \
               const reader = new MediaStreamTrackProcessor({{ track }}).readable.getReader(); \
               const samples = []; let rate = 0; \
               while (rate === 0 || samples.length < {seconds} * rate) {{ \
                 const {{ value, done }} = await reader.read(); \
                 if (done) break; \
                 rate = value.sampleRate; \
                 const frame = new Float32Array(value.numberOfFrames); \
                 value.copyTo(frame, {{ planeIndex: 0, format: 'f32-planar' }}); \
                 value.close(); \
                 for (const x of frame) samples.push(Math.round(x * 32767)); \
               }} \
               track.stop(); \
               return {{ rate, samples }}; \
             }})()"
        ))
        .await;
    let rate = u32::try_from(value["rate"].as_u64().unwrap()).unwrap();
    let samples = value["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().clamp(-32768.0, 32767.0) as i16)
        .collect();
    (rate, samples)
}

/// The share of `samples`' energy at `hz`, summed over 20 ms blocks: a
/// tone broken by a lost packet or a splice spreads its energy over
/// sidebands that one long window's bin misses but a 20 ms block's (50 Hz
/// wide) holds.
fn tone_share(samples: &[i16], hz: u32, rate: u32) -> f64 {
    let block = rate as usize / 50;
    let (mut tone, mut total) = (0.0, 0.0);
    for chunk in samples.chunks_exact(block) {
        let energy: f64 = chunk.iter().map(|&x| f64::from(x).powi(2)).sum();
        tone += tone_fraction_at(chunk, f64::from(hz), rate) * energy;
        total += energy;
    }
    if total == 0.0 { 0.0 } else { tone / total }
}

/// The wideband tone test: two browsers and a G.711 phone in one room.
/// The talking browser's microphone plays 1 kHz and 6 kHz together; the
/// other browser (joined muted, so the room hears only the first) receives
/// both, through the 16 kHz mix and Opus both ways; the G.711 phone hears
/// the 1 kHz and nothing of the 6 kHz (which 8 kHz cannot carry), not even
/// its alias at 2 kHz. RTP ports 55600–55699.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_6_khz_tone_from_a_browser_reaches_another_browser_and_not_a_g711_phone() {
    const LOW_HZ: u32 = 1000;
    const HIGH_HZ: u32 = 6000;
    let Some(chromium) = browser::chromium("the wideband browser test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let db = db_url(dir.path());
    let serve = Serve::start_with(&db, "55600-55699", Some(&log));
    let (sid, token) = serve.default_account();
    let link = |muted: bool| {
        let (status, body) = http(
            &serve.addr,
            "POST",
            &format!("/2010-04-01/Accounts/{sid}/JoinLinks.json"),
            Some((&sid, &token)),
            &format!("Room={ROOM}&Expires=600&Muted={muted}"),
        );
        assert_eq!(status, 201, "{body}");
        let link: Value = serde_json::from_str(&body).unwrap();
        link["url"].as_str().unwrap().to_owned()
    };

    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), serve.sip_udp.port());
    let phone = Phone::bind(server).await.unwrap();
    let call = phone.call(ROOM, Codec::Pcmu).await.unwrap();

    // Each browser its own process (the fake microphone is a process's).
    let mut browsers = Vec::new();
    for (name, tones, muted) in [
        ("talker", &[LOW_HZ, HIGH_HZ][..], false),
        ("listener", &[][..], true),
    ] {
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        let wav = home.join("mic.wav");
        microphone(&wav, tones);
        let mut browser =
            Browser::chromium(&chromium, &home, &chromium_flags(&wav), "join-screenshots").await;
        browser.open(&link(muted)).await;
        join(&mut browser).await;
        wait_connected(&mut browser, &serve).await;
        browsers.push(browser);
    }
    let [talker, mut listener] = <[Browser; 2]>::try_from(browsers).ok().unwrap();

    // The phone hears the 1 kHz, so the talker's audio is in the room.
    call.wait_to_hear(LOW_HZ, HEAR).await.unwrap();
    let heard = call.listen(Duration::from_secs(2)).await.unwrap();
    let low = tone_share(&heard, LOW_HZ, 8000);
    let alias = tone_share(&heard, 8000 - HIGH_HZ, 8000);
    println!(
        "the G.711 phone: {low:.3} of its energy at {LOW_HZ} Hz, {alias:.5} at {} Hz (6 kHz folded), {:.0} RMS",
        8000 - HIGH_HZ,
        rms(&heard)
    );
    assert!(low > 0.6, "the G.711 phone hears {low} of 1 kHz");
    assert!(
        alias < 0.001,
        "{alias} of what the G.711 phone hears is at 2 kHz (6 kHz folded)"
    );

    // The listening browser receives both tones.
    let (rate, received) = received_audio(&mut listener, 2.0).await;
    let low = tone_share(&received, LOW_HZ, rate);
    let high = tone_share(&received, HIGH_HZ, rate);
    println!(
        "the listening browser ({rate} Hz): {low:.3} of its energy at {LOW_HZ} Hz, {high:.3} at {HIGH_HZ} Hz, {:.0} RMS",
        rms(&received)
    );
    assert!(low > 0.2, "the listening browser receives {low} at 1 kHz");
    assert!(high > 0.2, "the listening browser receives {high} at 6 kHz");

    talker.quit().await;
    listener.quit().await;
    drop(call);
    assert!(serve.stop(), "serve did not stop cleanly");
}
