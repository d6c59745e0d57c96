//! Log hygiene of a whole run of the real binary at its default log level:
//! a call from a phone number to a number routed to a voice URL (GET, so the
//! caller's and the called number travel in its query), the API with good
//! and bad credentials (into the 429s), a mute and a kick whose `<Dial
//! action>` fails (so the fetch error is logged), a refused caller from
//! outside `--sip-allow`, and a clean stop.
//!
//! Then the server's log (stderr) must hold none of: the AuthToken, either
//! phone number, any SIP URI. `serve` prints `AuthToken=` on stdout once, at
//! first start, for the operator: that is stdout, and intended.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Serve, confab, db_url, http, value};
use testkit::{Codec, Phone};

const CALLER: &str = "+15551230042";
const NUMBER: &str = "+15557654321";
const OUTSIDER: &str = "+15559870077";

/// A voice app: every request gets the same TwiML; request lines are kept.
fn voice_app(twiml: String) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            record
                .lock()
                .unwrap()
                .push(head.lines().next().unwrap_or_default().to_owned());
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{twiml}",
                twiml.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (addr, seen)
}

/// A port nothing listens on (bound, then let go).
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `<Sid>`s / `<CallSid>`s of a list.
fn texts(xml: &str, element: &str) -> Vec<String> {
    let open = format!("<{element}>");
    let close = format!("</{element}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_no_token_number_or_sip_uri() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let log = dir.path().join("serve.log");
    let twiml = format!(
        "<Response><Dial action=\"http://127.0.0.1:{}/after\" method=\"GET\">\
         <Conference>standup</Conference></Dial></Response>",
        dead_port()
    );
    let (app, requests) = voice_app(twiml);

    let serve =
        Serve::start_as_deployed(&db, "30900-30999", &log, &["--sip-allow", "127.0.0.1/32"]);
    let (addr, sip) = (serve.addr.clone(), serve.sip_udp);
    let printed = serve.preamble.join("\n");
    let sid = value(&printed, "AccountSid").to_owned();
    let token = value(&printed, "AuthToken").to_owned();
    let (ok, _, err) = confab(
        &db,
        &[
            "numbers",
            "add",
            "--account",
            &sid,
            "--number",
            NUMBER,
            "--url",
            &format!("http://{app}/voice"),
            "--method",
            "GET",
        ],
    );
    assert!(ok, "{err}");

    // The call, from a phone number.
    let mut phone = Phone::bind(sip).await.unwrap();
    phone.set_caller(CALLER);
    let mut call = phone.call(NUMBER, Codec::Pcmu).await.unwrap();
    let base = format!("/2008-08-01/Accounts/{sid}");
    let good = Some((sid.as_str(), token.as_str()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let (cf, ca) = loop {
        let (status, body) = http(&addr, "GET", &format!("{base}/Conferences"), good, "");
        assert_eq!(status, 200, "{body}");
        if let Some(cf) = texts(&body, "Sid").into_iter().next() {
            let list = format!("{base}/Conferences/{cf}/Participants");
            let (_, body) = http(&addr, "GET", &list, good, "");
            if let Some(ca) = texts(&body, "CallSid").into_iter().next() {
                break (cf, ca);
            }
        }
        assert!(Instant::now() < deadline, "the caller never joined");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The voice URL got the numbers in its query: they were there to leak.
    let first = requests
        .lock()
        .unwrap()
        .first()
        .cloned()
        .unwrap_or_default();
    assert!(first.contains("Caller=%2B15551230042"), "{first}");

    // The API, with good and bad credentials.
    let one = format!("{base}/Conferences/{cf}/Participants/{ca}");
    let (status, body) = http(&addr, "POST", &one, good, "Muted=true");
    assert_eq!(status, 200, "{body}");
    for i in 0..12 {
        let (status, _) = http(&addr, "GET", &one, Some((&sid, "wrong")), "");
        assert_eq!(status, if i < 10 { 401 } else { 429 }, "attempt {i}");
    }
    let stranger = "AC00000000000000000000000000000000";
    let (status, _) = http(&addr, "GET", &one, Some((stranger, &token)), "");
    assert_eq!(status, 429);
    let (status, _) = http(&addr, "GET", &one, good, "");
    assert_eq!(status, 200);

    // The kick: the <Dial action> fails, the call ends.
    let (status, body) = http(&addr, "DELETE", &one, good, "");
    assert_eq!(status, 204, "{body}");
    call.wait_for_bye(Duration::from_secs(20)).await.unwrap();

    // A caller from outside --sip-allow.
    let mut outsider = Phone::bind_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), sip)
        .await
        .unwrap();
    outsider.set_caller(OUTSIDER);
    let refused = outsider.call(NUMBER, Codec::Pcmu).await.unwrap_err();
    assert_eq!(refused.status(), Some(403), "{refused}");

    // A clean stop (SIGTERM; the phones' tasks keep answering meanwhile).
    let stopped = tokio::task::spawn_blocking(move || serve.stop())
        .await
        .unwrap();
    assert!(stopped, "serve did not stop cleanly");

    let text = std::fs::read_to_string(&log).unwrap();
    // The log is the real thing: the call, the 429s and the failed fetch are in it.
    for expected in [
        "call answered",
        "too many bad credentials",
        "the application failed the call",
        "SIP calls accepted only from --sip-allow",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    for secret in [
        token.as_str(),
        &CALLER[1..],
        &NUMBER[1..],
        &OUTSIDER[1..],
        "sip:",
        "Caller=",
        "Called=",
    ] {
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(hits.is_empty(), "{secret:?} is in the log: {hits:#?}");
    }
    // stdout had the token, once, for the operator.
    assert_eq!(printed.matches(&token).count(), 1, "{printed}");
}
