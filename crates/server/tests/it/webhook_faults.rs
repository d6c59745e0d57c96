//! Voice URLs that answer, but not with TwiML a call can run: a document
//! that `<Redirect>`s to itself, an HTML page, a body past the TwiML size
//! limit. Each call hears the error tone and is hung up, its record says
//! why (naming the URL), and a call in a room beside them goes on. (A
//! voice URL answering 500 is in calls.rs; one that is down, slow past the
//! timeout or redirects over HTTP forever is driven against the release
//! binary by scripts/webhook-faults.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::caller::{Caller, hears};
use crate::common::rig::{App, Rig, Started, insert_number, param};
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use model::{CallStatus, HttpMethod};
use server::CallConfig;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twiml_that_loops_or_is_not_twiml_ends_the_call_and_the_record_says_why() {
    let rig = Rig::new((43800, 43899), true).await;
    let big = format!(
        "<Response><Say>{}</Say></Response>",
        "a".repeat(twiml::MAX_DOCUMENT_BYTES)
    );
    let (base, hits) = App::new()
        .twiml("/self", "<Response><Redirect>/self</Redirect></Response>")
        .twiml(
            "/html",
            "<!DOCTYPE html><html><body><h1>It works!</h1></body></html>",
        )
        .twiml("/big", &big)
        .start()
        .await;
    for (number, path) in [
        ("5550701", "/self"),
        ("5550702", "/html"),
        ("5550703", "/big"),
    ] {
        crate::common::rig::add_number(&rig, number, &format!("{base}{path}")).await;
    }
    // A room that is up the whole time.
    let a = Caller::dial(rig.sip, "beside", "a", 400).await.unwrap();
    let b = Caller::dial(rig.sip, "beside", "b", 700).await.unwrap();
    rig.room_with("beside", 2).await;

    for (number, path, why) in [
        (
            "5550701",
            "/self",
            "10 documents were fetched in a row without playing anything",
        ),
        ("5550702", "/html", "is not valid TwiML"),
        ("5550703", "/big", "is not valid TwiML: the document is"),
    ] {
        let mut phone = Caller::dial(rig.sip, number, "c", 550).await.unwrap();
        phone.expect_bye().await;
        let call = param(&hits.to(path, "").await, "CallSid").to_owned();
        let row = rig
            .call_row(&call, |r| r.status != CallStatus::InProgress)
            .await;
        assert_eq!(row.status, CallStatus::FailedApplicationError, "{path}");
        let failure = row.failure.unwrap();
        assert!(failure.contains(why), "{path}: {failure}");
        assert!(
            failure.contains(&format!("{base}{path}")),
            "{path}: {failure}"
        );
    }
    // The <Redirect> loop stopped at the bound: ten fetches a call, then
    // the end-of-call request.
    let fetches = hits
        .all()
        .iter()
        .filter(|h| h.path == "/self" && param(h, "CallStatus") == "in-progress")
        .count();
    assert_eq!(fetches, twiml::MAX_FETCHES_IN_A_ROW as usize);

    // The room beside them was not disturbed.
    rig.room_with("beside", 2).await;
    a.until_heard("b's tone", hears(700.0, 400.0)).await;
    b.until_heard("a's tone", hears(400.0, 700.0)).await;
    rig.server.stop().await;
}

/// The end-of-call request has a deadline of its own (10 s) besides the
/// client's timeout; when that deadline cuts it off, the webhook still
/// counts, as a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_of_call_request_cut_off_by_its_deadline_counts_as_a_failed_webhook() {
    let mut started = Started::new(40).await;
    let mut calls = CallConfig::new("127.0.0.1:0".parse().unwrap(), (43900, 43999));
    calls.open_rooms = false;
    // Longer than the end-of-call deadline, so that the deadline is what ends it.
    calls.webhook_timeout = Duration::from_secs(30);
    let sip = started.server.listen_sip(calls).await.unwrap().udp;
    // The voice URL hangs up at once and never answers the end-of-call request.
    let app = axum::Router::new().route(
        "/voice",
        axum::routing::post(|body: String| async move {
            if body.contains("CallStatus=completed") {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            (
                [("content-type", "text/xml")],
                "<Response><Hangup/></Response>",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/voice", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    insert_number(
        &started.store,
        &started.account,
        "5550801",
        &url,
        HttpMethod::Post,
    )
    .await;
    let mut phone = Caller::dial(sip, "5550801", "d", 400).await.unwrap();
    phone.expect_bye().await;

    let router = started.server.router();
    let value = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let (count, failures) = (
            value(&text, "confab_webhook_seconds_count"),
            value(&text, "confab_webhook_failures_total"),
        );
        if (count, failures) == (2.0, 1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "webhooks {count}, failures {failures}: the cut-off end-of-call request was not counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.server.stop().await;
}
