//! Scenario tests for the wait-audio script.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use model::HttpMethod;
use twiml::{
    Action, AppError, CallInfo, FetchError, FetchedBody, HttpUrl, MAX_FETCHES_IN_A_ROW, Voice,
    WaitAudio, WaitScript, WaitWarning, Warning, WebhookRequest,
};
use url::Url;

const WAIT_URL: &str = "http://music.example.com/hold/index.xml";

fn call() -> CallInfo {
    CallInfo::example()
}

fn from_url(method: HttpMethod) -> (WaitScript, WebhookRequest) {
    let mut script = WaitScript::new(
        WaitAudio::Url {
            url: HttpUrl::parse(WAIT_URL).unwrap(),
            method,
        },
        call(),
    );
    let request = expect_fetch(&mut script);
    (script, request)
}

fn expect_fetch(script: &mut WaitScript) -> WebhookRequest {
    match script.poll_action() {
        Some(Action::Fetch(request)) => request,
        other => panic!("expected a fetch, got {other:?}"),
    }
}

fn answer(script: &mut WaitScript, url: &str, content_type: &str, body: &[u8]) {
    script.fetched(Ok(FetchedBody {
        url: Url::parse(url).unwrap(),
        content_type: Some(content_type.into()),
        body: body.to_vec(),
    }));
}

fn drain(script: &mut WaitScript) -> Vec<Action> {
    std::iter::from_fn(|| script.poll_action()).collect()
}

#[test]
fn built_in_music_loops() {
    let mut script = WaitScript::new(WaitAudio::BuiltIn, call());
    for _ in 0..5 {
        assert_eq!(drain(&mut script), [Action::PlayHoldMusic]);
        script.finished();
    }
}

#[test]
fn silence_has_nothing_to_do() {
    let mut script = WaitScript::new(WaitAudio::Silence, call());
    assert_eq!(drain(&mut script), []);
    script.finished();
    script.media_failed();
    assert_eq!(drain(&mut script), []);
}

#[test]
fn wait_url_is_requested_with_its_method_and_the_call_parameters() {
    let (_, request) = from_url(HttpMethod::Get);
    assert_eq!(request.url.as_str(), WAIT_URL);
    assert_eq!(request.method, HttpMethod::Get);
    assert_eq!(request.params.get("CallStatus"), Some("in-progress"));
    assert!(
        request
            .request_url()
            .query()
            .unwrap()
            .starts_with("CallSid=CA")
    );
}

#[test]
fn twiml_plays_then_the_wait_url_is_fetched_again() {
    let (mut script, _) = from_url(HttpMethod::Post);
    let doc = b"<Response><Say voice=\"woman\">Please hold</Say><Play loop=\"2\">song.mp3</Play><Pause length=\"2\"/></Response>";
    for _ in 0..3 {
        answer(&mut script, WAIT_URL, "text/xml", doc);
        assert_eq!(
            drain(&mut script),
            [Action::Say {
                text: "Please hold".into(),
                voice: Voice::Woman,
                language: "en".into()
            }]
        );
        script.finished();
        let song = Action::Play {
            url: HttpUrl::parse("http://music.example.com/hold/song.mp3").unwrap(),
        };
        assert_eq!(drain(&mut script), std::slice::from_ref(&song));
        script.finished();
        assert_eq!(drain(&mut script), [song]);
        script.finished();
        assert_eq!(
            drain(&mut script),
            [Action::Pause {
                duration: Duration::from_secs(2)
            }]
        );
        script.finished();
        let again = expect_fetch(&mut script);
        assert_eq!(again.url.as_str(), WAIT_URL);
    }
}

#[test]
fn the_holdmusic_twimlet_shape_loops_through_its_redirect() {
    let (mut script, _) = from_url(HttpMethod::Post);
    for _ in 0..(2 * MAX_FETCHES_IN_A_ROW) {
        answer(
            &mut script,
            WAIT_URL,
            "text/xml",
            b"<Response><Play>a.mp3</Play><Redirect>index.xml?next=1</Redirect></Response>",
        );
        assert!(matches!(&drain(&mut script)[..], [Action::Play { .. }]));
        script.finished();
        let request = expect_fetch(&mut script);
        assert_eq!(
            request.url.as_str(),
            "http://music.example.com/hold/index.xml?next=1"
        );
    }
}

#[test]
fn direct_audio_is_played_and_fetched_again() {
    let (mut script, _) = from_url(HttpMethod::Get);
    for _ in 0..3 {
        answer(&mut script, WAIT_URL, "audio/mpeg", b"ID3 fake mp3");
        assert_eq!(
            drain(&mut script),
            [Action::PlayAudio {
                body: b"ID3 fake mp3".to_vec(),
                content_type: "audio/mpeg".into()
            }]
        );
        script.finished();
        expect_fetch(&mut script);
    }
}

#[test]
fn dial_hangup_and_gather_are_skipped_with_a_warning() {
    let (mut script, _) = from_url(HttpMethod::Post);
    answer(
        &mut script,
        WAIT_URL,
        "text/xml",
        b"<Response><Hangup/><Dial><Conference>x</Conference></Dial><Gather><Say>PIN</Say></Gather><Say>still here</Say></Response>",
    );
    let actions = drain(&mut script);
    assert_eq!(
        actions,
        [
            Action::WaitWarn(WaitWarning::NotAllowed("Hangup")),
            Action::WaitWarn(WaitWarning::NotAllowed("Dial")),
            Action::WaitWarn(WaitWarning::NotAllowed("Gather")),
            Action::Say {
                text: "still here".into(),
                voice: Voice::Man,
                language: "en".into()
            },
        ]
    );
}

/// A tolerated problem in a wait document is the same `Warn` a call's
/// script gives; the shell logs it as wait audio's.
#[test]
fn a_wait_documents_tolerated_problems_are_warnings() {
    let (mut script, _) = from_url(HttpMethod::Post);
    answer(
        &mut script,
        WAIT_URL,
        "text/xml",
        b"<Response><Say></Say><Pause/></Response>",
    );
    let actions = drain(&mut script);
    assert_eq!(
        actions,
        [
            Action::Warn(Warning::EmptySay),
            Action::Pause {
                duration: Duration::from_secs(1)
            },
        ]
    );
}

fn expect_fallback(script: &mut WaitScript) -> AppError {
    match &drain(script)[..] {
        [
            Action::WaitWarn(WaitWarning::FellBack(error)),
            Action::PlayHoldMusic,
        ] => error.clone(),
        other => panic!("expected the fallback to hold music, got {other:?}"),
    }
}

#[test]
fn a_failing_wait_url_falls_back_to_hold_music_for_good() {
    let (mut script, _) = from_url(HttpMethod::Post);
    script.fetched(Err(FetchError::Status(404)));
    assert_eq!(
        expect_fallback(&mut script),
        AppError::Fetch {
            url: WAIT_URL.into(),
            error: FetchError::Status(404)
        }
    );
    for _ in 0..3 {
        script.finished();
        assert_eq!(drain(&mut script), [Action::PlayHoldMusic]);
    }
}

#[test]
fn a_bad_wait_document_falls_back() {
    for body in [
        &b"<Response><Record/></Response>"[..],
        b"not xml",
        b"<html/>",
    ] {
        let (mut script, _) = from_url(HttpMethod::Post);
        answer(&mut script, WAIT_URL, "text/html", body);
        assert!(matches!(
            expect_fallback(&mut script),
            AppError::Parse { .. }
        ));
    }
}

#[test]
fn an_empty_wait_document_is_bounded() {
    let (mut script, _) = from_url(HttpMethod::Post);
    let mut fetches = 1;
    loop {
        answer(&mut script, WAIT_URL, "text/xml", b"<Response/>");
        match script.poll_action() {
            Some(Action::Fetch(_)) => fetches += 1,
            Some(Action::WaitWarn(WaitWarning::FellBack(AppError::FetchLoop { .. }))) => break,
            other => panic!("{other:?}"),
        }
        assert!(fetches <= 100, "unbounded");
    }
    assert_eq!(fetches, MAX_FETCHES_IN_A_ROW);
    assert_eq!(script.poll_action(), Some(Action::PlayHoldMusic));
}

#[test]
fn broken_audio_is_bounded_too() {
    let (mut script, _) = from_url(HttpMethod::Post);
    for _ in 1..MAX_FETCHES_IN_A_ROW {
        answer(&mut script, WAIT_URL, "audio/wav", b"garbage");
        assert!(matches!(
            &drain(&mut script)[..],
            [Action::PlayAudio { .. }]
        ));
        script.media_failed();
        expect_fetch(&mut script);
    }
    answer(&mut script, WAIT_URL, "audio/wav", b"garbage");
    drain(&mut script);
    script.media_failed();
    assert_eq!(
        expect_fallback(&mut script),
        AppError::FetchLoop {
            url: WAIT_URL.into()
        }
    );
}

#[test]
fn if_even_hold_music_fails_the_wait_goes_silent() {
    let mut script = WaitScript::new(WaitAudio::BuiltIn, call());
    drain(&mut script);
    script.media_failed();
    assert_eq!(drain(&mut script), []);
}
