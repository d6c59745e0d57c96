//! Scenario tests: a `CallScript` stepped with canned documents, the way the
//! shell drives it, with no HTTP, audio or clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use conference::{JoinError, LeaveReason, ParticipantOptions};
use model::{HttpMethod, StatusCallback};
use twiml::{
    Action, AppError, CallInfo, CallScript, FetchError, FetchedBody, HangupReason, HttpUrl,
    MAX_FETCHES_IN_A_ROW, ParseError, Voice, WaitAudio, Warning, WebhookRequest,
};
use url::Url;

const VOICE_URL: &str = "http://app.example.com/conf/voice.php";

fn call() -> CallInfo {
    CallInfo::example()
}

/// A script whose first action (the voice URL fetch) has been taken.
fn started(method: HttpMethod) -> (CallScript, WebhookRequest) {
    let mut script = CallScript::new(call(), HttpUrl::parse(VOICE_URL).unwrap(), method);
    let request = expect_fetch(&mut script);
    assert_eq!(script.poll_action(), None, "nothing else before the answer");
    (script, request)
}

fn expect_fetch(script: &mut CallScript) -> WebhookRequest {
    match script.poll_action() {
        Some(Action::Fetch(request)) => request,
        other => panic!("expected a fetch, got {other:?}"),
    }
}

/// Answers the pending fetch with `xml`, served from `url`.
fn answer(script: &mut CallScript, url: &str, xml: &str) {
    script.fetched(Ok(FetchedBody {
        url: Url::parse(url).unwrap(),
        content_type: Some("text/xml".into()),
        body: xml.as_bytes().to_vec(),
    }));
}

fn drain(script: &mut CallScript) -> Vec<Action> {
    std::iter::from_fn(|| script.poll_action()).collect()
}

fn say(text: &str) -> Action {
    Action::Say {
        text: text.into(),
        voice: Voice::Man,
        language: "en".into(),
    }
}

fn play(url: &str) -> Action {
    Action::Play {
        url: HttpUrl::parse(url).unwrap(),
    }
}

fn hangup_normal() -> Action {
    Action::Hangup {
        reason: HangupReason::Normal,
    }
}

fn app_error(script: &mut CallScript) -> AppError {
    let actions = drain(script);
    match &actions[..] {
        [
            Action::PlayErrorTone,
            Action::Hangup {
                reason: HangupReason::ApplicationError(error),
            },
        ] => error.clone(),
        other => panic!("expected the error tone and a hang-up, got {other:?}"),
    }
}

#[test]
fn the_voice_url_is_requested_with_the_numbers_method_and_the_2008_parameters() {
    let (_, request) = started(HttpMethod::Post);
    assert_eq!(request.url.as_str(), VOICE_URL);
    assert_eq!(request.method, HttpMethod::Post);
    let names: Vec<&str> = request.params.iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "CallSid",
            "AccountSid",
            "Caller",
            "Called",
            "CallStatus",
            "CallGuid"
        ]
    );
    assert_eq!(request.params.get("CallStatus"), Some("in-progress"));
    assert_eq!(
        request.params.get("CallGuid"),
        Some("CA42ed11f93dc08b952027ffbc406d0868")
    );
    assert_eq!(request.request_url().as_str(), VOICE_URL);
    assert!(request.form_body().unwrap().contains("Caller=4158675309"));

    let (_, request) = started(HttpMethod::Get);
    assert_eq!(request.method, HttpMethod::Get);
    assert_eq!(request.form_body(), None);
    let url = request.request_url();
    assert!(
        url.as_str()
            .starts_with(&format!("{VOICE_URL}?CallSid=CA42"))
    );
    assert!(url.query().unwrap().contains("&CallStatus=in-progress&"));
}

#[test]
fn every_verb_in_turn() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response>\
           <Say voice=\"woman\" language=\"de\">Hallo</Say>\
           <Play>hello.mp3</Play>\
           <Pause length=\"3\"/>\
           <Dial><Conference>room</Conference></Dial>\
           <Say>after</Say>\
           <Hangup/>\
           <Say>never</Say>\
         </Response>",
    );
    assert_eq!(
        drain(&mut script),
        [Action::Say {
            text: "Hallo".into(),
            voice: Voice::Woman,
            language: "de".into()
        }]
    );
    script.finished();
    assert_eq!(
        drain(&mut script),
        [play("http://app.example.com/conf/hello.mp3")]
    );
    script.finished();
    assert_eq!(
        drain(&mut script),
        [Action::Pause {
            duration: Duration::from_secs(3)
        }]
    );
    script.finished();
    assert!(matches!(
        &drain(&mut script)[..],
        [Action::JoinConference { name, .. }] if name == "room"
    ));
    script.left_conference(LeaveReason::ConferenceEnded);
    assert_eq!(drain(&mut script), [say("after")]);
    script.finished();
    assert_eq!(drain(&mut script), [hangup_normal()]);
    assert!(script.is_ended());
}

#[test]
fn the_script_waits_for_each_report() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Say>one</Say><Say>two</Say></Response>",
    );
    assert_eq!(drain(&mut script), [say("one")]);
    assert_eq!(drain(&mut script), [], "nothing until the Say is finished");
    // Reports that do not fit the state are ignored.
    script.left_conference(LeaveReason::Kicked);
    script.join_failed(&JoinError::Full);
    answer(&mut script, VOICE_URL, "<Response><Hangup/></Response>");
    assert_eq!(drain(&mut script), []);
    script.finished();
    assert_eq!(drain(&mut script), [say("two")]);
}

#[test]
fn say_and_play_loop_the_given_number_of_times() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Say loop=\"3\">hi</Say><Play loop=\"2\">/a.wav</Play></Response>",
    );
    let mut heard = Vec::new();
    loop {
        let actions = drain(&mut script);
        let done = actions.contains(&hangup_normal());
        heard.extend(actions);
        if done {
            break;
        }
        script.finished();
    }
    let a = play("http://app.example.com/a.wav");
    assert_eq!(
        heard,
        [
            say("hi"),
            say("hi"),
            say("hi"),
            a.clone(),
            a,
            hangup_normal()
        ]
    );
}

#[test]
fn loop_zero_repeats_until_the_call_ends() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Play loop=\"0\">music.mp3</Play><Say>never</Say></Response>",
    );
    let music = play("http://app.example.com/conf/music.mp3");
    for _ in 0..1000 {
        assert_eq!(drain(&mut script), std::slice::from_ref(&music));
        script.finished();
    }
    let completed = script.call_ended().unwrap();
    assert_eq!(completed.params.get("CallStatus"), Some("completed"));
    assert_eq!(drain(&mut script), []);
    script.finished();
    assert_eq!(drain(&mut script), []);
}

#[test]
fn a_play_that_fails_skips_its_remaining_loops() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Play loop=\"0\">gone.mp3</Play><Say>next</Say></Response>",
    );
    assert_eq!(
        drain(&mut script),
        [play("http://app.example.com/conf/gone.mp3")]
    );
    script.media_failed();
    assert_eq!(drain(&mut script), [say("next")]);
}

#[test]
fn redirect_resolves_relative_urls_against_the_documents_final_url() {
    let (mut script, _) = started(HttpMethod::Post);
    // The shell followed an HTTP redirect: the body came from /v2/menu.xml.
    answer(
        &mut script,
        "http://app.example.com/v2/menu.xml",
        "<Response><Redirect method=\"GET\">next.xml?step=2</Redirect><Say>unreachable</Say></Response>",
    );
    let request = expect_fetch(&mut script);
    assert_eq!(
        request.url.as_str(),
        "http://app.example.com/v2/next.xml?step=2"
    );
    assert_eq!(request.method, HttpMethod::Get);
    assert_eq!(request.params.get("CallStatus"), Some("in-progress"));
    assert!(
        request
            .request_url()
            .as_str()
            .starts_with("http://app.example.com/v2/next.xml?step=2&CallSid=")
    );
    answer(
        &mut script,
        "http://app.example.com/v2/next.xml?step=2",
        "<Response><Redirect>/root</Redirect></Response>",
    );
    let request = expect_fetch(&mut script);
    assert_eq!(request.url.as_str(), "http://app.example.com/root");
    assert_eq!(request.method, HttpMethod::Post);
    answer(&mut script, "http://app.example.com/root", "<Response/>");
    assert_eq!(drain(&mut script), [hangup_normal()]);
}

#[test]
fn a_redirect_to_itself_is_bounded() {
    let (mut script, _) = started(HttpMethod::Post);
    let mut fetches = 1;
    loop {
        answer(
            &mut script,
            VOICE_URL,
            "<Response><Redirect>voice.php</Redirect></Response>",
        );
        match script.poll_action() {
            Some(Action::Fetch(request)) => {
                assert_eq!(request.url.as_str(), VOICE_URL);
                fetches += 1;
                assert!(fetches <= 100, "unbounded");
            }
            Some(Action::PlayErrorTone) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fetches, MAX_FETCHES_IN_A_ROW);
    assert_eq!(
        script.poll_action(),
        Some(Action::Hangup {
            reason: HangupReason::ApplicationError(AppError::FetchLoop {
                url: VOICE_URL.into()
            })
        })
    );
    assert!(script.is_ended());
}

#[test]
fn a_redirect_loop_that_plays_something_is_not_cut_short() {
    // The hold-music twimlet's shape: Play, then Redirect to itself.
    let (mut script, _) = started(HttpMethod::Post);
    for _ in 0..(3 * MAX_FETCHES_IN_A_ROW) {
        answer(
            &mut script,
            VOICE_URL,
            "<Response><Play>song.mp3</Play><Redirect>voice.php</Redirect></Response>",
        );
        assert_eq!(
            drain(&mut script),
            [play("http://app.example.com/conf/song.mp3")]
        );
        script.finished();
        expect_fetch(&mut script);
    }
}

#[test]
fn a_failing_play_does_not_reset_the_redirect_bound() {
    let (mut script, _) = started(HttpMethod::Post);
    let doc = "<Response><Play>broken.mp3</Play><Redirect>voice.php</Redirect></Response>";
    for _ in 1..MAX_FETCHES_IN_A_ROW {
        answer(&mut script, VOICE_URL, doc);
        drain(&mut script);
        script.media_failed();
        expect_fetch(&mut script);
    }
    answer(&mut script, VOICE_URL, doc);
    drain(&mut script);
    script.media_failed();
    assert_eq!(
        app_error(&mut script),
        AppError::FetchLoop {
            url: VOICE_URL.into()
        }
    );
}

#[test]
fn dial_conference_joins_with_the_documents_options() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial hangupOnStar=\"true\" timeLimit=\"600\">\
           <Conference muted=\"True\" beep=\"false\" startConferenceOnEnter=\"false\" \
             endConferenceOnExit=\"true\" waitUrl=\"wait.xml\" waitMethod=\"GET\" \
             maxParticipants=\"10\" participantLabel=\"chair\" \
             coach=\"CA42ed11f93dc08b952027ffbc406d0868\" statusCallback=\"events\" \
             statusCallbackEvent=\"join leave\">  Sales Standup  </Conference>\
         </Dial></Response>",
    );
    assert_eq!(
        drain(&mut script),
        [Action::JoinConference {
            name: "Sales Standup".into(),
            options: ParticipantOptions {
                muted: true,
                beep: false,
                beep_on_exit: false,
                start_conference_on_enter: false,
                end_conference_on_exit: true,
                max_participants: Some(10),
            },
            wait: WaitAudio::Url {
                url: HttpUrl::parse("http://app.example.com/conf/wait.xml").unwrap(),
                method: HttpMethod::Get,
            },
            hangup_on_star: true,
            time_limit: Duration::from_secs(600),
            label: Some("chair".into()),
            coach: Some(call().call_sid),
            status_callback: Some(StatusCallback {
                url: "http://app.example.com/conf/events".into(),
                method: HttpMethod::Post,
                events: vec!["join".into(), "leave".into()],
            }),
        }]
    );
}

#[test]
fn dial_defaults() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial><Conference>r</Conference></Dial></Response>",
    );
    assert_eq!(
        drain(&mut script),
        [Action::JoinConference {
            name: "r".into(),
            options: ParticipantOptions::default(),
            wait: WaitAudio::BuiltIn,
            hangup_on_star: false,
            time_limit: Duration::from_secs(14_400),
            label: None,
            coach: None,
            status_callback: None,
        }]
    );
}

#[test]
fn leaving_with_an_action_requests_it_with_dial_status_answered() {
    for reason in [
        LeaveReason::Kicked,
        LeaveReason::HangupOnStar,
        LeaveReason::TimeLimit,
        LeaveReason::ConferenceEnded,
    ] {
        let (mut script, _) = started(HttpMethod::Post);
        answer(
            &mut script,
            VOICE_URL,
            "<Response><Dial action=\"after.php?x=1\" method=\"GET\"><Conference>r</Conference></Dial>\
             <Say>skipped: the action's document replaces this one</Say></Response>",
        );
        drain(&mut script);
        script.left_conference(reason);
        let request = expect_fetch(&mut script);
        assert_eq!(
            request.url.as_str(),
            "http://app.example.com/conf/after.php?x=1"
        );
        assert_eq!(request.method, HttpMethod::Get, "{reason:?}");
        assert_eq!(
            request.params.get("DialStatus"),
            Some("answered"),
            "{reason:?}"
        );
        assert_eq!(request.params.get("CallStatus"), Some("in-progress"));
        assert_eq!(
            request.params.get("CallSid"),
            request.params.get("CallGuid")
        );
        assert!(
            request
                .request_url()
                .query()
                .unwrap()
                .starts_with("x=1&CallSid=")
        );
        answer(
            &mut script,
            "http://app.example.com/conf/after.php?x=1",
            "<Response><Say>bye</Say></Response>",
        );
        assert_eq!(drain(&mut script), [say("bye")], "{reason:?}");
    }
}

#[test]
fn the_action_method_defaults_to_post() {
    let (mut script, _) = started(HttpMethod::Get);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial action=\"/after\"><Conference>r</Conference></Dial></Response>",
    );
    drain(&mut script);
    script.left_conference(LeaveReason::TimeLimit);
    let request = expect_fetch(&mut script);
    assert_eq!(request.method, HttpMethod::Post);
    assert!(
        request
            .form_body()
            .unwrap()
            .ends_with("&DialStatus=answered")
    );
}

#[test]
fn leaving_without_an_action_runs_the_next_verb_or_hangs_up() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial><Conference>r</Conference></Dial><Say>goodbye</Say></Response>",
    );
    drain(&mut script);
    script.left_conference(LeaveReason::HangupOnStar);
    assert_eq!(drain(&mut script), [say("goodbye")]);

    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial><Conference>r</Conference></Dial></Response>",
    );
    drain(&mut script);
    script.left_conference(LeaveReason::Kicked);
    assert_eq!(drain(&mut script), [hangup_normal()]);
}

#[test]
fn a_full_room_ends_the_dial_with_dial_status_failed() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial action=\"full.php\"><Conference>r</Conference></Dial></Response>",
    );
    drain(&mut script);
    script.join_failed(&JoinError::Full);
    let request = expect_fetch(&mut script);
    assert_eq!(request.url.as_str(), "http://app.example.com/conf/full.php");
    assert_eq!(request.params.get("DialStatus"), Some("failed"));

    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial><Conference>r</Conference></Dial><Say>sorry, full</Say></Response>",
    );
    drain(&mut script);
    script.join_failed(&JoinError::Full);
    assert_eq!(drain(&mut script), [say("sorry, full")]);
}

#[test]
fn a_caller_who_hangs_up_in_the_room_gets_no_action_request() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial action=\"after\"><Conference>r</Conference></Dial><Say>x</Say></Response>",
    );
    drain(&mut script);
    script.left_conference(LeaveReason::Hangup);
    assert_eq!(drain(&mut script), []);
    assert!(script.is_ended());
    let completed = script.call_ended().unwrap();
    assert_eq!(completed.url.as_str(), VOICE_URL);
    assert_eq!(completed.params.get("CallStatus"), Some("completed"));
}

#[test]
fn a_shutdown_hangs_up() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial action=\"after\"><Conference>r</Conference></Dial></Response>",
    );
    drain(&mut script);
    script.left_conference(LeaveReason::Shutdown);
    assert_eq!(
        drain(&mut script),
        [Action::Hangup {
            reason: HangupReason::Shutdown
        }]
    );
}

#[test]
fn a_failing_voice_url_plays_the_error_tone_and_records_why() {
    for error in [
        FetchError::Timeout,
        FetchError::Status(500),
        FetchError::Status(404),
        FetchError::Transport("connection refused".into()),
    ] {
        let (mut script, _) = started(HttpMethod::Post);
        script.fetched(Err(error.clone()));
        let got = app_error(&mut script);
        assert_eq!(
            got,
            AppError::Fetch {
                url: VOICE_URL.into(),
                error
            }
        );
        assert!(got.to_string().contains(VOICE_URL), "{got}");
        assert!(script.is_ended());
        // The application still hears that the call ended.
        assert!(script.call_ended().is_some());
    }
}

#[test]
fn a_body_that_is_not_twiml_is_an_application_error() {
    for body in [
        "<html><body>Internal Server Error</body></html>",
        "OK",
        "",
        "<Response><Say>unclosed</Response>",
    ] {
        let (mut script, _) = started(HttpMethod::Post);
        answer(&mut script, VOICE_URL, body);
        assert!(
            matches!(app_error(&mut script), AppError::Parse { .. }),
            "{body:?}"
        );
    }
}

#[test]
fn an_unknown_verb_is_an_application_error() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Say>before</Say><Record maxLength=\"1\"/></Response>",
    );
    assert_eq!(
        app_error(&mut script),
        AppError::Parse {
            url: VOICE_URL.into(),
            error: ParseError::UnknownVerb("Record".into())
        }
    );
}

#[test]
fn a_failing_action_url_also_ends_the_call() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Dial action=\"after\"><Conference>r</Conference></Dial></Response>",
    );
    drain(&mut script);
    script.left_conference(LeaveReason::Kicked);
    expect_fetch(&mut script);
    script.fetched(Err(FetchError::Status(503)));
    assert_eq!(
        app_error(&mut script),
        AppError::Fetch {
            url: "http://app.example.com/conf/after".into(),
            error: FetchError::Status(503)
        }
    );
}

#[test]
fn warnings_are_passed_on_and_the_document_runs() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Say/><Pause length=\"soon\"/></Response>",
    );
    let actions = drain(&mut script);
    assert!(matches!(
        &actions[..],
        [
            Action::Warn(Warning::EmptySay),
            Action::Warn(Warning::InvalidValue { attribute: "length", .. }),
            Action::Pause { duration },
        ] if *duration == Duration::from_secs(1)
    ));
}

#[test]
fn an_empty_response_hangs_up() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(&mut script, VOICE_URL, "<Response/>");
    assert_eq!(drain(&mut script), [hangup_normal()]);
}

#[test]
fn the_end_of_call_request_goes_once_to_the_initial_url_with_its_method() {
    let (mut script, _) = started(HttpMethod::Get);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Redirect>elsewhere.php</Redirect></Response>",
    );
    expect_fetch(&mut script);
    let completed = script.call_ended().unwrap();
    assert_eq!(
        completed.url.as_str(),
        VOICE_URL,
        "the initial URL, not the redirect"
    );
    assert_eq!(completed.method, HttpMethod::Get);
    assert_eq!(completed.params.get("CallStatus"), Some("completed"));
    assert!(
        completed
            .request_url()
            .query()
            .unwrap()
            .contains("CallStatus=completed")
    );
    assert_eq!(script.call_ended(), None);
    // A late fetch result changes nothing.
    answer(&mut script, VOICE_URL, "<Response><Say>x</Say></Response>");
    assert_eq!(drain(&mut script), []);
}

#[test]
fn loop_counts_are_exact_for_large_values() {
    let (mut script, _) = started(HttpMethod::Post);
    answer(
        &mut script,
        VOICE_URL,
        "<Response><Say loop=\"4294967295\">x</Say></Response>",
    );
    for _ in 0..10 {
        assert_eq!(drain(&mut script), [say("x")]);
        script.finished();
    }
}

#[test]
fn a_script_from_verbs_joins_at_once_and_sends_no_end_of_call_request() {
    let doc = twiml::Document::parse(
        b"<Response><Dial><Conference>standup</Conference></Dial></Response>",
        &Url::parse("http://confab.invalid/").unwrap(),
    )
    .unwrap();
    let mut script = CallScript::from_verbs(call(), doc.verbs);
    match script.poll_action() {
        Some(Action::JoinConference { name, wait, .. }) => {
            assert_eq!(name, "standup");
            assert_eq!(wait, WaitAudio::BuiltIn);
        }
        other => panic!("expected a join, got {other:?}"),
    }
    script.left_conference(LeaveReason::Kicked);
    assert_eq!(drain(&mut script), [hangup_normal()]);
    assert_eq!(script.call_ended(), None);
}

/// A script that has run `xml` from the voice URL, with its first actions.
fn running(xml: &str) -> (CallScript, Vec<Action>) {
    let (mut script, _) = started(HttpMethod::Post);
    answer(&mut script, VOICE_URL, xml);
    let actions = drain(&mut script);
    (script, actions)
}

fn await_digits(secs: u64) -> Action {
    Action::AwaitDigits {
        timeout: Duration::from_secs(secs),
    }
}

/// The `Digits` and `FinishedOnKey` of an action request, and its URL.
fn gathered(request: &WebhookRequest) -> (&str, Option<&str>, Option<&str>) {
    (
        request.url.as_str(),
        request.params.get("Digits"),
        request.params.get("FinishedOnKey"),
    )
}

#[test]
fn gather_plays_its_prompts_then_waits_for_keys() {
    let (mut script, actions) = running(
        "<Response><Gather numDigits=\"4\" action=\"/pin\" timeout=\"7\">\
         <Say loop=\"2\">Enter your PIN</Say><Pause length=\"2\"/></Gather></Response>",
    );
    assert_eq!(actions, [say("Enter your PIN")]);
    assert!(script.gathering());
    script.finished();
    assert_eq!(drain(&mut script), [say("Enter your PIN")]);
    script.finished();
    assert_eq!(
        drain(&mut script),
        [Action::Pause {
            duration: Duration::from_secs(2)
        }]
    );
    script.finished();
    assert_eq!(drain(&mut script), [await_digits(7)]);
    for (key, rearmed) in [('1', true), ('2', true), ('3', true), ('4', false)] {
        assert!(script.digit(key));
        let actions = drain(&mut script);
        if rearmed {
            assert_eq!(actions, [await_digits(7)], "after {key}");
        } else {
            let [Action::Fetch(request)] = &actions[..] else {
                panic!("{actions:?}")
            };
            assert_eq!(
                gathered(request),
                ("http://app.example.com/pin", Some("1234"), Some(""))
            );
            assert_eq!(request.method, HttpMethod::Post);
            let names: Vec<&str> = request.params.iter().map(|(k, _)| k).collect();
            assert_eq!(
                names,
                [
                    "CallSid",
                    "AccountSid",
                    "Caller",
                    "Called",
                    "CallStatus",
                    "CallGuid",
                    "Digits",
                    "FinishedOnKey"
                ]
            );
        }
    }
    assert!(!script.gathering());
    // The action's document replaces the rest.
    answer(
        &mut script,
        "http://app.example.com/pin",
        "<Response><Say>in</Say></Response>",
    );
    assert_eq!(drain(&mut script), [say("in")]);
}

#[test]
fn the_finish_key_ends_the_gather_and_is_not_a_digit() {
    let (mut script, actions) = running("<Response><Gather method=\"GET\"/><Hangup/></Response>");
    assert_eq!(actions, [await_digits(5)]);
    assert!(script.digit('4'));
    assert_eq!(drain(&mut script), [await_digits(5)]);
    assert!(script.digit('2'));
    let _ = drain(&mut script);
    assert!(script.digit('#'));
    let request = expect_fetch(&mut script);
    // No action: the document's own URL, with the Gather's method.
    assert_eq!(gathered(&request), (VOICE_URL, Some("42"), Some("#")));
    assert_eq!(request.method, HttpMethod::Get);
    assert!(
        request
            .request_url()
            .query()
            .unwrap()
            .ends_with("&Digits=42&FinishedOnKey=%23")
    );
}

#[test]
fn finish_on_key_empty_means_keys_only_end_by_count_or_time() {
    let (mut script, _) =
        running("<Response><Gather finishOnKey=\"\" numDigits=\"2\" action=\"a\"/></Response>");
    assert!(script.digit('#'));
    let _ = drain(&mut script);
    assert!(script.digit('*'));
    let request = expect_fetch(&mut script);
    assert_eq!(
        gathered(&request),
        ("http://app.example.com/conf/a", Some("#*"), Some(""))
    );
}

#[test]
fn a_timeout_with_keys_sends_them() {
    let (mut script, _) = running("<Response><Gather action=\"a\"/><Say>no</Say></Response>");
    assert!(script.digit('9'));
    assert_eq!(drain(&mut script), [await_digits(5)]);
    script.gather_timed_out();
    let request = expect_fetch(&mut script);
    assert_eq!(
        gathered(&request),
        ("http://app.example.com/conf/a", Some("9"), Some(""))
    );
}

#[test]
fn a_timeout_without_keys_falls_through_to_the_next_verb() {
    let (mut script, actions) =
        running("<Response><Gather action=\"a\"><Say>PIN?</Say></Gather><Say>Bye</Say></Response>");
    assert_eq!(actions, [say("PIN?")]);
    // A timeout while the prompt plays is not the gather's: the wait has not begun.
    script.gather_timed_out();
    assert_eq!(drain(&mut script), []);
    script.finished();
    assert_eq!(drain(&mut script), [await_digits(5)]);
    script.gather_timed_out();
    assert_eq!(drain(&mut script), [say("Bye")]);
    assert!(!script.gathering());
    script.finished();
    assert_eq!(drain(&mut script), [hangup_normal()]);
}

#[test]
fn the_finish_key_alone_is_an_empty_result() {
    let (mut script, _) = running("<Response><Gather action=\"a\"/><Say>Bye</Say></Response>");
    assert!(script.digit('#'));
    assert_eq!(drain(&mut script), [say("Bye")]);
}

#[test]
fn action_on_empty_result_requests_the_action_with_empty_digits() {
    let (mut script, _) = running(
        "<Response><Gather action=\"a\" actionOnEmptyResult=\"true\"/><Say>never</Say></Response>",
    );
    script.gather_timed_out();
    let request = expect_fetch(&mut script);
    assert_eq!(
        gathered(&request),
        ("http://app.example.com/conf/a", Some(""), Some(""))
    );
    let (mut script, _) =
        running("<Response><Gather action=\"a\" actionOnEmptyResult=\"true\"/></Response>");
    assert!(script.digit('#'));
    assert_eq!(
        gathered(&expect_fetch(&mut script)),
        ("http://app.example.com/conf/a", Some(""), Some("#"))
    );
}

#[test]
fn a_key_during_the_prompt_barges_in() {
    let (mut script, actions) = running(
        "<Response><Gather numDigits=\"2\" action=\"a\"><Say loop=\"3\">one</Say>\
         <Play>two.wav</Play></Gather></Response>",
    );
    assert_eq!(actions, [say("one")]);
    assert!(script.digit('5'));
    // The Say's other loops and the Play are gone; the wait starts.
    assert_eq!(drain(&mut script), [await_digits(5)]);
    // A report about the stopped prompt changes nothing.
    script.finished();
    assert_eq!(drain(&mut script), []);
    assert!(script.digit('6'));
    assert_eq!(gathered(&expect_fetch(&mut script)).1, Some("56"));
}

#[test]
fn a_failed_prompt_goes_on_with_the_next() {
    let (mut script, _) = running(
        "<Response><Gather><Play loop=\"3\">x.mp3</Play><Say>two</Say></Gather></Response>",
    );
    script.media_failed();
    assert_eq!(drain(&mut script), [say("two")]);
    script.finished();
    assert_eq!(drain(&mut script), [await_digits(5)]);
}

#[test]
fn keys_outside_a_gather_are_dropped() {
    let (mut script, actions) =
        running("<Response><Say>first</Say><Gather numDigits=\"1\" action=\"a\"/></Response>");
    assert_eq!(actions, [say("first")]);
    // Pressed before the Gather: not kept for it.
    assert!(!script.digit('1'));
    assert_eq!(drain(&mut script), []);
    script.finished();
    assert_eq!(drain(&mut script), [await_digits(5)]);
    assert!(script.digit('2'));
    assert_eq!(gathered(&expect_fetch(&mut script)).1, Some("2"));
    // While the action is fetched, keys are not the finished gather's.
    assert!(!script.digit('3'));
    assert_eq!(drain(&mut script), []);
}

#[test]
fn a_stream_of_keys_is_bounded() {
    let (mut script, _) = running("<Response><Gather finishOnKey=\"\" action=\"a\"/></Response>");
    let mut pressed = 0;
    loop {
        assert!(script.digit('7'));
        pressed += 1;
        match drain(&mut script).pop() {
            Some(Action::AwaitDigits { .. }) => continue,
            Some(Action::Fetch(request)) => {
                assert_eq!(request.params.get("Digits").map(str::len), Some(pressed));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pressed, twiml::runner::MAX_DIGITS);
}

#[test]
fn the_default_action_is_the_url_the_document_was_requested_from() {
    // Fetched with GET: the document's final URL carries the call's
    // parameters; the default action does not repeat them.
    let (mut script, request) = started(HttpMethod::Get);
    let fetched_from = request.request_url();
    assert!(fetched_from.query().is_some());
    script.fetched(Ok(FetchedBody {
        url: fetched_from,
        content_type: Some("text/xml".into()),
        body: b"<Response><Gather method=\"GET\" numDigits=\"1\"/></Response>".to_vec(),
    }));
    assert_eq!(drain(&mut script), [await_digits(5)]);
    assert!(script.digit('8'));
    let action = expect_fetch(&mut script);
    assert_eq!(action.url.as_str(), VOICE_URL);
    let url = action.request_url();
    assert_eq!(url.query().unwrap().matches("CallSid=").count(), 1, "{url}");
    assert!(url.query().unwrap().ends_with("&Digits=8&FinishedOnKey="));
}

#[test]
fn a_script_with_no_document_url_has_no_default_action() {
    let base = Url::parse("http://confab.invalid/").unwrap();
    let doc = twiml::Document::parse(
        b"<Response><Gather numDigits=\"1\"/><Say>next</Say></Response>",
        &base,
    )
    .unwrap();
    let mut script = CallScript::from_verbs(call(), doc.verbs);
    assert_eq!(drain(&mut script), [await_digits(5)]);
    assert!(script.digit('1'));
    assert_eq!(drain(&mut script), [say("next")]);
}
