//! Hostile input never panics: arbitrary bytes, XML-ish noise and random
//! report sequences.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use conference::{JoinError, LeaveReason};
use model::HttpMethod;
use proptest::prelude::*;
use twiml::{
    Action, CallInfo, CallScript, Document, FetchError, FetchedBody, HttpUrl, WaitAudio, WaitScript,
};
use url::Url;

fn base() -> Url {
    Url::parse("http://app.example.com/voice").unwrap()
}

fn call() -> CallInfo {
    CallInfo::example()
}

/// Fragments that make the parser take its less travelled paths.
fn xmlish() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "<Response>",
        "</Response>",
        "<Response/>",
        "<Say>",
        "</Say>",
        "<Play>",
        "</Play>",
        "<Pause length=\"2\"/>",
        "<Redirect>",
        "</Redirect>",
        "<Hangup/>",
        "<Dial action=\"a\">",
        "</Dial>",
        "<Conference waitUrl=\"\" maxParticipants=\"99\">",
        "</Conference>",
        "<Number>",
        "</Number>",
        "<Gather/>",
        "&amp;",
        "&#x0;",
        "&#65;",
        "&foo;",
        "<![CDATA[x]]>",
        "<!--c-->",
        "<?xml version=\"1.0\"?>",
        "<!DOCTYPE r>",
        "<?pi x?>",
        "text",
        " ",
        "\n",
        "http://h/x.mp3",
        "loop=\"0\"",
        "<",
        ">",
        "\"",
        "'",
        "=",
        "/",
        "\u{feff}",
        "é",
        "\u{0}",
    ]);
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Document::parse(&body, &base());
    }

    #[test]
    fn xml_noise_never_panics(body in xmlish()) {
        let _ = Document::parse(body.as_bytes(), &base());
    }

    /// Whatever the documents and the order of reports, the script neither
    /// panics nor emits actions after its hang-up.
    #[test]
    fn any_report_sequence_is_handled(
        docs in prop::collection::vec(xmlish(), 1..6),
        reports in prop::collection::vec(0u8..9, 0..60),
    ) {
        let mut script = CallScript::new(call(), HttpUrl::parse("http://app.example.com/voice").unwrap(), HttpMethod::Post);
        let mut wait = WaitScript::new(
            WaitAudio::Url { url: HttpUrl::parse("http://app.example.com/wait").unwrap(), method: HttpMethod::Get },
            call(),
        );
        let mut hung_up = false;
        for (i, report) in reports.into_iter().enumerate() {
            while let Some(action) = script.poll_action() {
                prop_assert!(!hung_up, "action after hang-up: {:?}", action);
                hung_up |= matches!(action, Action::Hangup { .. });
            }
            let _ = std::iter::from_fn(|| wait.poll_action()).count();
            let doc = docs[i % docs.len()].clone().into_bytes();
            let body = FetchedBody { url: base(), content_type: Some("text/xml".into()), body: doc };
            match report {
                0 => { script.fetched(Ok(body.clone())); wait.fetched(Ok(body)); }
                1 => { script.fetched(Err(FetchError::Timeout)); wait.fetched(Err(FetchError::Timeout)); }
                2 => { script.finished(); wait.finished(); }
                3 => { script.media_failed(); wait.media_failed(); }
                4 => script.join_failed(&JoinError::Full),
                5 => script.left_conference(LeaveReason::Kicked),
                6 => script.left_conference(LeaveReason::Hangup),
                7 => script.left_conference(LeaveReason::TimeLimit),
                _ => { let _ = script.call_ended(); hung_up = true; }
            }
        }
    }
}
