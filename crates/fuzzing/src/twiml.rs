//! TwiML documents (crate `twiml`): parsed, then run by a call's script and
//! by a waiting participant's script.

use conference::{JoinError, LeaveReason};
use model::HttpMethod;
use twiml::{Action, CallInfo, CallScript, Document, FetchedBody, HttpUrl, WaitAudio, WaitScript};

/// Enough steps for any document the fuzzer builds to be run well past
/// its first verbs; a `<Redirect>` after a `<Say>` loops for ever by design.
const MAX_STEPS: usize = 500;

/// Any bytes as the answer to every fetch of a call's script and of a wait
/// script, whose reports alternate between success and failure.
///
/// Checked: a document parses or is refused without panicking, and once the
/// call script says `Hangup` it is ended and asks for nothing more; the
/// end-of-call request comes once.
pub fn twiml(data: &[u8]) {
    let base = url::Url::parse("http://app.example.com/twiml/voice").unwrap();
    let _ = Document::parse(data, &base);
    let voice_url = HttpUrl::parse(base.as_str()).unwrap();
    run_call(data, voice_url.clone());
    run_wait(data, voice_url);
}

fn run_call(data: &[u8], voice_url: HttpUrl) {
    let mut script = CallScript::new(call(), voice_url, HttpMethod::Post);
    for step in 0..MAX_STEPS {
        let Some(action) = script.poll_action() else {
            break;
        };
        match action {
            Action::Fetch(request) => {
                let _ = request.request_url();
                let _ = request.form_body();
                script.fetched(Ok(document(request.url, "text/xml", data)));
            }
            Action::Say { .. } | Action::Play { .. } | Action::Pause { .. } => {
                if step % 3 == 2 {
                    script.media_failed();
                } else {
                    script.finished();
                }
            }
            Action::JoinConference { .. } => {
                if step % 2 == 0 {
                    script.left_conference(LeaveReason::Kicked);
                } else {
                    script.join_failed(&JoinError::Full);
                }
            }
            Action::AwaitDigits { .. } => {
                // A key, the finish key, or the wait running out, in turn.
                match step % 3 {
                    0 => drop(script.digit('1')),
                    1 => drop(script.digit('#')),
                    _ => script.gather_timed_out(),
                }
            }
            Action::PlayErrorTone | Action::Warn(_) => {}
            Action::PlayAudio { .. } | Action::PlayHoldMusic | Action::WaitWarn(_) => {
                panic!("a call's script made a wait action: {action:?}")
            }
            Action::Hangup { .. } => {
                assert!(script.is_ended());
                assert_eq!(script.poll_action(), None);
                break;
            }
        }
    }
    assert!(script.call_ended().is_some());
    assert!(script.call_ended().is_none());
}

fn run_wait(data: &[u8], url: HttpUrl) {
    let wait = WaitAudio::Url {
        url,
        method: HttpMethod::Get,
    };
    let mut script = WaitScript::new(wait, call());
    for step in 0..MAX_STEPS {
        let Some(action) = script.poll_action() else {
            break;
        };
        match action {
            Action::Fetch(request) => {
                let _ = request.request_url();
                // Every third answer claims to be audio, as a waitUrl may.
                let content_type = if step % 3 == 1 {
                    "audio/wav"
                } else {
                    "text/xml"
                };
                script.fetched(Ok(document(request.url, content_type, data)));
            }
            Action::WaitWarn(_) | Action::Warn(_) => {}
            Action::PlayAudio { .. }
            | Action::Say { .. }
            | Action::Play { .. }
            | Action::Pause { .. }
            | Action::PlayHoldMusic => {
                if step % 4 == 3 {
                    script.media_failed();
                } else {
                    script.finished();
                }
            }
            Action::JoinConference { .. }
            | Action::AwaitDigits { .. }
            | Action::PlayErrorTone
            | Action::Hangup { .. } => {
                panic!("a wait script made a call action: {action:?}")
            }
        }
    }
}

fn document(url: HttpUrl, content_type: &str, body: &[u8]) -> FetchedBody {
    FetchedBody {
        url: url.into_url(),
        content_type: Some(content_type.to_owned()),
        body: body.to_vec(),
    }
}

fn call() -> CallInfo {
    CallInfo::example()
}
