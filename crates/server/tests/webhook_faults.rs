//! Voice URLs that answer, but not with TwiML a call can run: a document
//! that `<Redirect>`s to itself, an HTML page, a body past the TwiML size
//! limit. Each call hears the error tone and is hung up, its record says
//! why (naming the URL), and a call in a room beside them goes on. (A
//! voice URL answering 500 is in calls.rs; one that is down, slow past the
//! timeout or redirects over HTTP forever is driven against the release
//! binary by scripts/webhook-faults.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phone::{Phone, hears};
use common::rig::{App, Rig, param};
use model::CallStatus;

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
        common::rig::add_number(&rig, number, &format!("{base}{path}")).await;
    }
    // A room that is up the whole time.
    let a = Phone::dial(rig.sip, "beside", "a", 400.0).await.unwrap();
    let b = Phone::dial(rig.sip, "beside", "b", 700.0).await.unwrap();
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
        let mut phone = Phone::dial(rig.sip, number, "c", 550.0).await.unwrap();
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
