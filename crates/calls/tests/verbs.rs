//! Fake-time scenarios of one call: every verb sequence, rooms, wait audio,
//! failures, hang-ups and shutdowns in every phase. Nothing sleeps: the
//! harness answers commands itself and jumps `now` to the next deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use calls::{
    Call, CallCommand, CallEnd, CallInput, Clip, ClipSource, LegChange, LogLine, RecordChange,
    ReqId, RoomNotice, ScriptSource, SipNotice, TimerKind,
};
use conference::{JoinError, LeaveReason};
use model::{CallStatus, ConferenceSid, ConferenceStatus, HttpMethod};
use twiml::{CallInfo, FetchError, FetchedBody, HttpUrl, WebhookRequest};
use url::Url;

const BASE: &str = "http://app.example.com";
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// How the fake hub answers a join.
#[derive(Debug, Clone, Copy)]
enum HubAnswer {
    Joined(ConferenceStatus),
    Full,
    /// Leave the join unanswered.
    Hold,
}

/// One call, the shell around it faked, and fake time.
struct Harness {
    t0: Instant,
    now: Instant,
    call: Call,
    /// Canned TwiML (or audio, with its content type) by URL path.
    responses: HashMap<String, (String, Vec<u8>)>,
    /// Every command the call gave, in order.
    log: Vec<CallCommand>,
    inputs: VecDeque<CallInput>,
    /// Fetches left unanswered (no canned response), by id.
    open_fetches: Vec<(ReqId, WebhookRequest)>,
    /// Plays the harness does not end by itself.
    hold_plays: bool,
    open_plays: Vec<ReqId>,
    hub: HubAnswer,
    failing_clips: bool,
}

impl Harness {
    fn new(voice: &str) -> Self {
        let url = HttpUrl::parse(&format!("{BASE}{voice}")).unwrap();
        Self::with_source(ScriptSource::Webhook(url, HttpMethod::Post))
    }

    fn with_source(source: ScriptSource) -> Self {
        let t0 = Instant::now();
        let info = CallInfo::example();
        Self {
            t0,
            now: t0,
            call: Call::new(info, source, WEBHOOK_TIMEOUT, t0),
            responses: HashMap::new(),
            log: Vec::new(),
            inputs: VecDeque::new(),
            open_fetches: Vec::new(),
            hold_plays: false,
            open_plays: Vec::new(),
            hub: HubAnswer::Joined(ConferenceStatus::InProgress),
            failing_clips: false,
        }
    }

    fn respond(&mut self, path: &str, xml: &str) {
        self.responses
            .insert(path.into(), ("text/xml".into(), xml.as_bytes().to_vec()));
    }

    fn respond_audio(&mut self, path: &str, body: &[u8]) {
        self.responses
            .insert(path.into(), ("audio/wav".into(), body.to_vec()));
    }

    fn input(&mut self, input: CallInput) {
        self.inputs.push_back(input);
        self.run_until_idle();
    }

    /// Carries out commands and feeds their results back until the call
    /// waits for something the test controls.
    fn run_until_idle(&mut self) {
        loop {
            while let Some(command) = self.call.poll_command() {
                self.execute(&command);
                self.log.push(command);
            }
            let Some(input) = self.inputs.pop_front() else {
                return;
            };
            self.call.handle(input, self.now);
        }
    }

    fn execute(&mut self, command: &CallCommand) {
        let answer = match command {
            CallCommand::BindRtp => Some(CallInput::RtpBound(Some(40_000))),
            CallCommand::Answer { .. } => Some(CallInput::Answered(true)),
            CallCommand::Fetch { id, request } => {
                let path = request.url.as_url().path().to_owned();
                match self.responses.get(&path) {
                    Some((content_type, body)) => Some(CallInput::Fetched {
                        id: *id,
                        result: Ok(FetchedBody {
                            url: request.url.as_url().clone(),
                            content_type: Some(content_type.clone()),
                            body: body.clone(),
                        }),
                    }),
                    None => {
                        self.open_fetches.push((*id, request.clone()));
                        None
                    }
                }
            }
            CallCommand::MakeClip { id, .. } => Some(CallInput::ClipMade {
                id: *id,
                result: if self.failing_clips {
                    Err("espeak-ng failed".into())
                } else {
                    Ok(())
                },
            }),
            CallCommand::Play { id, .. } if self.hold_plays => {
                self.open_plays.push(*id);
                None
            }
            CallCommand::Play { id, .. } => Some(CallInput::PlayEnded { id: *id }),
            CallCommand::Join { .. } => match self.hub {
                HubAnswer::Joined(status) => Some(CallInput::Joined {
                    conference: ConferenceSid::from_random([3; 16]),
                    status,
                    has_room: true,
                }),
                HubAnswer::Full => Some(CallInput::JoinFailed {
                    error: JoinError::Full,
                    reason: "the conference is full".into(),
                    media_back: true,
                }),
                HubAnswer::Hold => None,
            },
            _ => None,
        };
        self.inputs.extend(answer);
    }

    /// Jumps to the next deadline and runs what is due.
    fn advance_to_next_deadline(&mut self) {
        let (at, _) = self.call.poll_timeout().expect("a timer is set");
        assert!(at >= self.now, "no deadline in the past");
        self.now = at;
        self.call.handle_timeout(self.now);
        self.run_until_idle();
    }

    fn fetches(&self) -> Vec<&WebhookRequest> {
        self.log
            .iter()
            .filter_map(|c| match c {
                CallCommand::Fetch { request, .. } => Some(request),
                _ => None,
            })
            .collect()
    }

    fn paths_fetched(&self) -> Vec<String> {
        self.fetches()
            .iter()
            .map(|r| r.url.as_url().path().to_owned())
            .collect()
    }

    fn last_fetch(&self) -> &WebhookRequest {
        self.fetches().last().copied().expect("a fetch")
    }

    fn count(&self, pred: impl Fn(&CallCommand) -> bool) -> usize {
        self.log.iter().filter(|c| pred(c)).count()
    }

    fn sent(&self, command: &CallCommand) -> bool {
        self.log.contains(command)
    }

    fn notifies(&self) -> usize {
        self.count(|c| matches!(c, CallCommand::Notify(_)))
    }

    fn hangups(&self) -> usize {
        self.count(|c| matches!(c, CallCommand::Hangup))
    }

    fn finish_record(&self) -> Option<(CallStatus, Option<String>)> {
        self.log.iter().find_map(|c| match c {
            CallCommand::Record(RecordChange::Finish { status, failure }) => {
                Some((*status, failure.clone()))
            }
            _ => None,
        })
    }

    fn ended(&self) -> Option<CallEnd> {
        self.log.iter().find_map(|c| match c {
            CallCommand::Log(LogLine::Ended { end, .. }) => Some(*end),
            _ => None,
        })
    }

    fn plays(&self) -> Vec<Clip> {
        self.log
            .iter()
            .filter_map(|c| match c {
                CallCommand::Play { clip, .. } => Some(clip.clone()),
                _ => None,
            })
            .collect()
    }

    /// Answers the oldest open fetch.
    fn answer_fetch(&mut self, result: Result<FetchedBody, FetchError>) {
        let (id, _) = self.open_fetches.remove(0);
        self.input(CallInput::Fetched { id, result });
    }

    fn end_play(&mut self) {
        let id = self.open_plays.remove(0);
        self.input(CallInput::PlayEnded { id });
    }

    /// Whether the call finished cleanly: finished, with one record end.
    fn assert_over(&self, end: CallEnd, status: CallStatus) {
        assert!(self.call.is_finished());
        assert_eq!(self.ended(), Some(end));
        assert_eq!(self.finish_record().map(|(s, _)| s), Some(status));
        assert_eq!(
            self.count(|c| matches!(c, CallCommand::Record(RecordChange::Finish { .. }))),
            1
        );
        assert!(self.notifies() <= 1);
        assert_eq!(self.call.poll_timeout(), None, "no timer outlives the call");
    }
}

fn started(voice_xml: &str) -> Harness {
    let mut h = Harness::new("/voice");
    h.respond("/voice", voice_xml);
    h.run_until_idle();
    h
}

fn leave(h: &mut Harness, reason: LeaveReason) {
    h.input(CallInput::Room(RoomNotice::Left {
        reason,
        media_back: true,
    }));
}

#[test]
fn answer_record_then_the_voice_url() {
    let h = started("<Response/>");
    assert_eq!(
        &h.log[..3],
        [
            CallCommand::BindRtp,
            CallCommand::Answer { rtp_port: 40_000 },
            CallCommand::Record(RecordChange::Start),
        ]
    );
    let request = h.fetches()[0];
    assert_eq!(request.params.get("CallStatus"), Some("in-progress"));
    // An empty document hangs up normally, and the application hears of it.
    assert_eq!(h.hangups(), 1);
    assert_eq!(h.notifies(), 1);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn say_play_pause_hangup_in_order() {
    let h = started(
        r#"<Response><Say>Hello</Say><Play>a.wav</Play><Pause length="2"/><Hangup/><Say>never</Say></Response>"#,
    );
    let made: Vec<&ClipSource> = h
        .log
        .iter()
        .filter_map(|c| match c {
            CallCommand::MakeClip { source, .. } => Some(source),
            _ => None,
        })
        .collect();
    assert!(matches!(made[0], ClipSource::Say { text, .. } if text == "Hello"));
    assert!(
        matches!(made[1], ClipSource::Url(url) if url.as_str() == "http://app.example.com/a.wav")
    );
    assert_eq!(made.len(), 2);
    let plays = h.plays();
    assert!(matches!(plays[..], [Clip::Made(_), Clip::Made(_), Clip::Silence(d)] if d == secs(2)));
    let tail: Vec<_> = h.log.iter().rev().take(4).rev().cloned().collect();
    assert!(matches!(
        &tail[..],
        [
            CallCommand::Hangup,
            CallCommand::Record(RecordChange::Finish { status: CallStatus::Complete, failure: None }),
            CallCommand::Notify(request),
            CallCommand::Log(LogLine::Ended { end: CallEnd::HungUp, .. }),
        ] if request.params.get("CallStatus") == Some("completed")
    ));
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn a_looping_say_is_made_once_and_played_each_time() {
    let h = started(r#"<Response><Say loop="3">Again</Say></Response>"#);
    assert_eq!(h.count(|c| matches!(c, CallCommand::MakeClip { .. })), 1);
    let plays = h.plays();
    assert_eq!(plays.len(), 3);
    assert!(plays.iter().all(|p| *p == plays[0]));
}

#[test]
fn a_new_clip_forgets_the_cached_one() {
    let h = started("<Response><Say>One</Say><Say>Two</Say></Response>");
    let forgotten: Vec<ReqId> = h
        .log
        .iter()
        .filter_map(|c| match c {
            CallCommand::ForgetClip { id } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(forgotten.len(), 1);
    assert_eq!(h.plays()[0], Clip::Made(forgotten[0]));
}

#[test]
fn redirect_fetches_the_next_document() {
    let mut h = Harness::new("/voice");
    h.respond("/voice", "<Response><Redirect>/next</Redirect></Response>");
    h.respond("/next", "<Response><Say>there</Say></Response>");
    h.run_until_idle();
    assert_eq!(h.paths_fetched(), ["/voice", "/next"]);
    assert_eq!(h.count(|c| matches!(c, CallCommand::MakeClip { .. })), 1);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn a_failed_clip_is_skipped_and_logged() {
    let mut h = Harness::new("/voice");
    h.failing_clips = true;
    h.respond(
        "/voice",
        "<Response><Say loop=\"5\">x</Say><Pause/></Response>",
    );
    h.run_until_idle();
    assert_eq!(
        h.count(|c| matches!(c, CallCommand::Log(LogLine::AudioFailed(_)))),
        1
    );
    assert_eq!(h.plays(), [Clip::Silence(secs(1))]);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn a_failing_webhook_plays_the_error_tone_and_records_the_failure() {
    let mut h = Harness::new("/voice");
    h.hold_plays = true;
    h.run_until_idle();
    h.answer_fetch(Err(FetchError::Status(500)));
    assert!(
        h.sent(&CallCommand::Log(LogLine::FetchFailed(FetchError::Status(
            500
        ))))
    );
    assert_eq!(h.plays(), [Clip::ErrorTone]);
    assert_eq!(h.hangups(), 0, "the tone plays to its end first");
    h.end_play();
    assert_eq!(h.hangups(), 1);
    let (status, failure) = h.finish_record().unwrap();
    assert_eq!(status, CallStatus::FailedApplicationError);
    assert!(failure.unwrap().contains("HTTP status 500"));
    assert!(h.count(|c| matches!(c, CallCommand::Log(LogLine::AppFailed(_)))) == 1);
    h.assert_over(CallEnd::HungUp, CallStatus::FailedApplicationError);
}

#[test]
fn the_caller_hangs_up_mid_fetch_and_a_late_answer_is_ignored() {
    let mut h = Harness::new("/voice");
    h.run_until_idle();
    let (id, _) = h.open_fetches[0].clone();
    h.input(CallInput::Sip(SipNotice::Ended));
    assert!(h.sent(&CallCommand::Cancel { id }));
    assert_eq!(h.hangups(), 0, "no BYE for a call that is gone");
    assert_eq!(h.notifies(), 1);
    h.assert_over(CallEnd::Gone, CallStatus::Complete);
    let before = h.log.len();
    h.answer_fetch(Err(FetchError::Timeout));
    h.input(CallInput::Sip(SipNotice::Ended));
    h.input(CallInput::Shutdown);
    assert_eq!(h.log.len(), before, "nothing after the end");
}

#[test]
fn the_caller_hangs_up_mid_play() {
    let mut h = Harness::new("/voice");
    h.hold_plays = true;
    h.respond(
        "/voice",
        "<Response><Say>long</Say><Say>more</Say></Response>",
    );
    h.run_until_idle();
    assert_eq!(h.plays().len(), 1);
    h.input(CallInput::Sip(SipNotice::Ended));
    assert_eq!(h.hangups(), 0);
    h.end_play(); // a stale end: ignored
    assert_eq!(h.plays().len(), 1);
    h.assert_over(CallEnd::Gone, CallStatus::Complete);
    assert_eq!(h.notifies(), 1);
}

const DIAL: &str = r#"<Response><Dial timeLimit="600"><Conference>room</Conference></Dial><Say>after</Say></Response>"#;
const DIAL_ACTION: &str = r#"<Response><Dial action="/after" timeLimit="600"><Conference waitUrl="">room</Conference></Dial></Response>"#;

#[test]
fn dial_joins_and_arms_the_time_limit() {
    let h = started(DIAL);
    let join = h
        .log
        .iter()
        .find_map(|c| match c {
            CallCommand::Join {
                request,
                wait,
                hangup_on_star,
            } => Some((request.clone(), wait.clone(), *hangup_on_star)),
            _ => None,
        })
        .unwrap();
    assert_eq!(join.0.name, "room");
    assert_eq!(join.1, Some(Clip::HoldMusicForever), "built-in wait audio");
    assert!(!join.2);
    assert!(h.call.in_room());
    assert_eq!(h.call.timer(TimerKind::TimeLimit), Some(h.t0 + secs(600)));
    assert!(h.sent(&CallCommand::Log(LogLine::Joined(
        ConferenceSid::from_random([3; 16])
    ))));
}

#[test]
fn kicked_without_action_goes_on_with_the_next_verb() {
    let mut h = started(DIAL);
    leave(&mut h, LeaveReason::Kicked);
    assert_eq!(h.call.timer(TimerKind::TimeLimit), None);
    assert!(h.log.iter().any(
        |c| matches!(c, CallCommand::MakeClip { source: ClipSource::Say { text, .. }, .. } if text == "after")
    ));
    assert_eq!(h.plays().len(), 1, "the media came back");
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn every_way_out_of_the_room_requests_the_action_with_its_dial_status() {
    for reason in [
        LeaveReason::Kicked,
        LeaveReason::HangupOnStar,
        LeaveReason::TimeLimit,
        LeaveReason::ConferenceEnded,
    ] {
        let mut h = started(DIAL_ACTION);
        h.respond("/after", "<Response><Hangup/></Response>");
        leave(&mut h, reason);
        assert_eq!(h.paths_fetched(), ["/voice", "/after"], "{reason:?}");
        assert_eq!(h.last_fetch().params.get("DialStatus"), Some("answered"));
        h.assert_over(CallEnd::HungUp, CallStatus::Complete);
    }
}

#[test]
fn a_full_room_is_a_failed_dial() {
    let mut h = Harness::new("/voice");
    h.hub = HubAnswer::Full;
    h.respond("/voice", DIAL_ACTION);
    h.respond("/after", "<Response><Say>sorry</Say></Response>");
    h.run_until_idle();
    assert!(h.sent(&CallCommand::Log(LogLine::JoinFailed(
        "the conference is full".into()
    ))));
    assert_eq!(h.last_fetch().params.get("DialStatus"), Some("failed"));
    assert_eq!(h.plays().len(), 1, "the media came back with the refusal");
    assert_eq!(h.call.timer(TimerKind::TimeLimit), None);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn the_time_limit_fires_at_exactly_its_time() {
    let mut h = started(DIAL_ACTION);
    h.respond("/after", "<Response/>");
    h.advance_to_next_deadline();
    assert_eq!(h.now - h.t0, secs(600));
    assert!(h.sent(&CallCommand::Log(LogLine::TimeLimitUp)));
    assert!(h.sent(&CallCommand::Leave(LeaveReason::TimeLimit)));
    assert!(h.call.in_room(), "until the hub says it left");
    assert_eq!(h.call.poll_timeout(), None, "stopped before its action");
    // An extra timeout call does nothing.
    let before = h.log.len();
    h.call.handle_timeout(h.now + secs(1));
    h.run_until_idle();
    assert_eq!(h.log.len(), before);
    leave(&mut h, LeaveReason::TimeLimit);
    assert_eq!(h.last_fetch().params.get("DialStatus"), Some("answered"));
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn hanging_up_in_the_room_then_left() {
    let mut h = started(DIAL_ACTION);
    h.input(CallInput::Sip(SipNotice::Ended));
    assert!(h.sent(&CallCommand::Leave(LeaveReason::Hangup)));
    assert_eq!(h.hangups(), 0);
    h.assert_over(CallEnd::Gone, CallStatus::Complete);
    let before = h.log.len();
    leave(&mut h, LeaveReason::Hangup);
    assert_eq!(h.log.len(), before, "the late Left is ignored");
    assert_eq!(
        h.paths_fetched(),
        ["/voice"],
        "no <Dial action> for a hang-up"
    );
}

#[test]
fn left_for_a_hangup_then_the_sip_end() {
    let mut h = started(DIAL_ACTION);
    leave(&mut h, LeaveReason::Hangup);
    // The script is over without an action: the call hangs up.
    assert_eq!(h.hangups(), 1);
    assert_eq!(h.paths_fetched(), ["/voice"]);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
    let before = h.log.len();
    h.input(CallInput::Sip(SipNotice::Ended));
    assert_eq!(h.log.len(), before);
}

#[test]
fn a_room_that_goes_away_ends_the_call_as_a_shutdown() {
    let mut h = started(DIAL);
    h.input(CallInput::Room(RoomNotice::Gone));
    assert_eq!(h.hangups(), 1);
    h.assert_over(CallEnd::Shutdown, CallStatus::Complete);
}

#[test]
fn left_at_shutdown_hangs_up() {
    let mut h = started(DIAL_ACTION);
    leave(&mut h, LeaveReason::Shutdown);
    assert_eq!(h.hangups(), 1);
    assert_eq!(h.paths_fetched(), ["/voice"]);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn a_leg_not_given_back_plays_nothing_and_cannot_dial_again() {
    let mut h = started(
        r#"<Response><Dial><Conference>a</Conference></Dial><Say>x</Say><Dial><Conference>b</Conference></Dial></Response>"#,
    );
    h.input(CallInput::Room(RoomNotice::Left {
        reason: LeaveReason::Kicked,
        media_back: false,
    }));
    assert_eq!(h.plays(), []);
    assert_eq!(h.count(|c| matches!(c, CallCommand::Join { .. })), 1);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn shutdown_in_every_phase() {
    // Before the answer: the call is answered, recorded and hung up.
    let mut h = Harness::new("/voice");
    h.call.handle(CallInput::Shutdown, h.now);
    h.run_until_idle();
    assert!(h.sent(&CallCommand::Record(RecordChange::Start)));
    assert_eq!(h.paths_fetched(), Vec::<String>::new());
    assert_eq!(h.hangups(), 1);
    assert_eq!(h.notifies(), 1);
    h.assert_over(CallEnd::Shutdown, CallStatus::Complete);

    // Fetching.
    let mut h = Harness::new("/voice");
    h.run_until_idle();
    h.input(CallInput::Shutdown);
    assert!(h.sent(&CallCommand::Cancel { id: ReqId(0) }));
    assert_eq!(h.hangups(), 1);
    h.assert_over(CallEnd::Shutdown, CallStatus::Complete);

    // Playing.
    let mut h = Harness::new("/voice");
    h.hold_plays = true;
    h.respond("/voice", "<Response><Pause/></Response>");
    h.run_until_idle();
    h.input(CallInput::Shutdown);
    assert_eq!(h.hangups(), 1);
    h.assert_over(CallEnd::Shutdown, CallStatus::Complete);

    // Joining.
    let mut h = Harness::new("/voice");
    h.hub = HubAnswer::Hold;
    h.respond("/voice", DIAL);
    h.run_until_idle();
    h.input(CallInput::Shutdown);
    assert!(h.sent(&CallCommand::Leave(LeaveReason::Shutdown)));
    h.assert_over(CallEnd::Shutdown, CallStatus::Complete);

    // In a room.
    let mut h = started(DIAL);
    h.input(CallInput::Shutdown);
    assert!(h.sent(&CallCommand::Leave(LeaveReason::Shutdown)));
    assert_eq!(h.hangups(), 1);
    h.assert_over(CallEnd::Shutdown, CallStatus::Complete);
    let before = h.log.len();
    h.input(CallInput::Shutdown);
    leave(&mut h, LeaveReason::Shutdown);
    assert_eq!(h.log.len(), before, "after the end, nothing");
}

#[test]
fn hold_and_moved_media_go_to_the_player_or_the_room() {
    let mut h = Harness::new("/voice");
    h.hold_plays = true;
    h.respond(
        "/voice",
        &format!(
            "<Response><Pause/>{}</Response>",
            &DIAL[10..DIAL.len() - 11]
        ),
    );
    h.run_until_idle();
    h.input(CallInput::Sip(SipNotice::Hold(true)));
    h.input(CallInput::Sip(SipNotice::MediaMoved));
    h.input(CallInput::Sip(SipNotice::Acked));
    assert!(h.sent(&CallCommand::UpdatePlayer(LegChange::Hold(true))));
    assert!(h.sent(&CallCommand::UpdatePlayer(LegChange::Moved)));
    h.end_play();
    assert!(h.call.in_room());
    h.input(CallInput::Sip(SipNotice::Hold(false)));
    h.input(CallInput::Sip(SipNotice::MediaMoved));
    assert!(h.sent(&CallCommand::UpdateLeg(LegChange::Hold(false))));
    assert!(h.sent(&CallCommand::UpdateLeg(LegChange::Moved)));
    leave(&mut h, LeaveReason::Kicked);
    h.input(CallInput::Sip(SipNotice::Hold(true)));
    assert_eq!(
        h.count(|c| *c == CallCommand::UpdatePlayer(LegChange::Hold(true))),
        2
    );
}

fn wait_call(wait_xml: &str) -> Harness {
    let mut h = Harness::new("/voice");
    h.hub = HubAnswer::Joined(ConferenceStatus::Init);
    h.respond(
        "/voice",
        r#"<Response><Dial><Conference waitUrl="/wait" waitMethod="GET">room</Conference></Dial></Response>"#,
    );
    h.respond("/wait", wait_xml);
    h
}

fn wait_sources(h: &Harness) -> Vec<Option<Clip>> {
    h.log
        .iter()
        .filter_map(|c| match c {
            CallCommand::SetWaitSource(clip) => Some(clip.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_wait_url_plays_in_the_room_until_it_starts() {
    let mut h = wait_call("<Response><Play>song.wav</Play><Pause length=\"3\"/></Response>");
    h.run_until_idle();
    let join_wait = h.log.iter().find_map(|c| match c {
        CallCommand::Join { wait, .. } => Some(wait.clone()),
        _ => None,
    });
    assert_eq!(
        join_wait,
        Some(None),
        "silent until the waitUrl's audio is ready"
    );
    assert_eq!(h.paths_fetched(), ["/voice", "/wait"]);
    assert_eq!(h.last_fetch().method, HttpMethod::Get);
    let sources = wait_sources(&h);
    assert!(matches!(sources[..], [Some(Clip::Made(_))]));
    // The song ends: the pause; it ends: the waitUrl again.
    h.input(CallInput::Room(RoomNotice::WaitEnded));
    assert_eq!(wait_sources(&h).last(), Some(&Some(Clip::Silence(secs(3)))));
    h.responses.remove("/wait");
    h.input(CallInput::Room(RoomNotice::WaitEnded));
    assert_eq!(h.paths_fetched(), ["/voice", "/wait", "/wait"]);
    // The room starts: the wait is over, its fetch dropped.
    let (id, _) = h.open_fetches[0].clone();
    h.input(CallInput::Room(RoomNotice::Started));
    assert!(h.sent(&CallCommand::Cancel { id }));
    let before = h.log.len();
    h.answer_fetch(Err(FetchError::Timeout));
    h.input(CallInput::Room(RoomNotice::WaitEnded));
    assert_eq!(h.log.len(), before, "the wait is over");
    assert!(h.call.in_room());
}

#[test]
fn a_wait_url_audio_response_and_a_failing_one() {
    let mut h = wait_call("");
    h.respond_audio("/wait", b"RIFF....");
    h.run_until_idle();
    assert!(h.log.iter().any(|c| matches!(
        c,
        CallCommand::MakeClip { source: ClipSource::Audio { content_type, .. }, .. } if content_type == "audio/wav"
    )));
    let mut h = wait_call("not xml");
    h.run_until_idle();
    assert!(
        h.log
            .iter()
            .any(|c| matches!(c, CallCommand::Log(LogLine::Wait(_))))
    );
    assert_eq!(wait_sources(&h), [Some(Clip::HoldMusicOnce)]);
    assert!(h.call.in_room(), "wait audio never costs the call");
}

#[test]
fn no_wait_script_when_the_room_already_started() {
    let mut h = wait_call("<Response/>");
    h.hub = HubAnswer::Joined(ConferenceStatus::InProgress);
    h.run_until_idle();
    assert_eq!(h.paths_fetched(), ["/voice"]);
    assert_eq!(wait_sources(&h), []);
}

#[test]
fn silent_wait_audio_has_no_source() {
    let h = started(DIAL_ACTION);
    let join_wait = h.log.iter().find_map(|c| match c {
        CallCommand::Join { wait, .. } => Some(wait.clone()),
        _ => None,
    });
    assert_eq!(join_wait, Some(None));
    assert_eq!(wait_sources(&h), []);
}

#[test]
fn the_end_of_call_request_is_sent_exactly_once() {
    let mut h = started(DIAL_ACTION);
    h.input(CallInput::Sip(SipNotice::Ended));
    h.input(CallInput::Sip(SipNotice::Ended));
    h.input(CallInput::Shutdown);
    leave(&mut h, LeaveReason::Hangup);
    assert_eq!(h.notifies(), 1);
    let notify = h.log.iter().find_map(|c| match c {
        CallCommand::Notify(request) => Some(request.clone()),
        _ => None,
    });
    let notify = notify.unwrap();
    assert_eq!(notify.url.as_str(), "http://app.example.com/voice");
    assert_eq!(notify.params.get("CallStatus"), Some("completed"));
}

#[test]
fn the_open_room_script_joins_at_once_and_sends_no_request() {
    let verbs = calls::open_room("lob<by>&\u{7}").unwrap();
    let mut h = Harness::with_source(ScriptSource::Verbs(verbs));
    h.run_until_idle();
    assert!(h.call.in_room());
    let name = h.log.iter().find_map(|c| match c {
        CallCommand::Join { request, .. } => Some(request.name.clone()),
        _ => None,
    });
    assert_eq!(name.as_deref(), Some("lob<by>&"));
    assert_eq!(h.paths_fetched(), Vec::<String>::new());
    leave(&mut h, LeaveReason::Kicked);
    assert_eq!(h.hangups(), 1);
    assert_eq!(h.notifies(), 0);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn no_rtp_port_rejects_and_a_lost_answer_records_nothing() {
    let mut h = Harness::new("/voice");
    let _ = h.call.poll_command();
    h.call.handle(CallInput::RtpBound(None), h.now);
    assert_eq!(h.call.poll_command(), Some(CallCommand::RejectUnavailable));
    assert_eq!(h.call.poll_command(), None);
    assert!(h.call.is_finished());

    let mut h = Harness::new("/voice");
    let _ = h.call.poll_command();
    h.call.handle(CallInput::RtpBound(Some(1)), h.now);
    let _ = h.call.poll_command();
    h.call.handle(CallInput::Answered(false), h.now);
    assert_eq!(h.call.poll_command(), None);
    assert!(h.call.is_finished());
}

#[test]
fn a_slow_webhook_times_out_at_exactly_its_deadline() {
    let mut h = Harness::new("/voice");
    h.run_until_idle();
    assert_eq!(
        h.call.timer(TimerKind::Webhook),
        Some(h.t0 + WEBHOOK_TIMEOUT)
    );
    h.advance_to_next_deadline();
    assert_eq!(h.now - h.t0, WEBHOOK_TIMEOUT);
    assert!(h.sent(&CallCommand::Cancel { id: ReqId(0) }));
    assert!(h.sent(&CallCommand::Log(LogLine::FetchFailed(FetchError::Timeout))));
    assert_eq!(h.plays(), [Clip::ErrorTone]);
    let (status, failure) = h.finish_record().unwrap();
    assert_eq!(status, CallStatus::FailedApplicationError);
    assert!(failure.unwrap().contains("no response in time"));
    h.assert_over(CallEnd::HungUp, CallStatus::FailedApplicationError);
    // The late answer, with the stale id, is ignored.
    let before = h.log.len();
    h.answer_fetch(Ok(FetchedBody {
        url: Url::parse("http://app.example.com/voice").unwrap(),
        content_type: None,
        body: b"<Response><Say>late</Say></Response>".to_vec(),
    }));
    assert_eq!(h.log.len(), before);
}

#[test]
fn a_webhook_in_time_stops_its_timer() {
    let mut h = Harness::new("/voice");
    h.hold_plays = true;
    h.run_until_idle();
    h.now += secs(9);
    h.answer_fetch(Ok(FetchedBody {
        url: Url::parse("http://app.example.com/voice").unwrap(),
        content_type: None,
        body: b"<Response><Pause/><Redirect>/next</Redirect></Response>".to_vec(),
    }));
    assert_eq!(h.call.timer(TimerKind::Webhook), None);
    h.end_play();
    // The next fetch has a deadline of its own, from its own start.
    assert_eq!(
        h.call.timer(TimerKind::Webhook),
        Some(h.t0 + secs(9) + WEBHOOK_TIMEOUT)
    );
}

#[test]
fn a_slow_wait_url_falls_back_to_hold_music_and_the_time_limit_still_counts() {
    let mut h = wait_call("");
    h.responses.remove("/wait");
    h.run_until_idle();
    assert_eq!(h.paths_fetched(), ["/voice", "/wait"]);
    // Two timers: the webhook's first, then the <Dial> default time limit.
    h.advance_to_next_deadline();
    assert_eq!(h.now - h.t0, WEBHOOK_TIMEOUT);
    assert_eq!(wait_sources(&h), [Some(Clip::HoldMusicOnce)]);
    assert!(h.call.in_room());
    h.advance_to_next_deadline();
    assert_eq!(h.now - h.t0, secs(14_400));
    assert!(h.sent(&CallCommand::Leave(LeaveReason::TimeLimit)));
}

#[test]
fn the_room_starting_stops_the_wait_fetchs_timer() {
    let mut h = wait_call("");
    h.responses.remove("/wait");
    h.run_until_idle();
    assert!(h.call.timer(TimerKind::Webhook).is_some());
    h.input(CallInput::Room(RoomNotice::Started));
    assert_eq!(h.call.timer(TimerKind::Webhook), None);
}

#[test]
fn a_join_answered_after_the_call_ended_changes_nothing() {
    let mut h = Harness::new("/voice");
    h.hub = HubAnswer::Hold;
    h.respond("/voice", DIAL);
    h.run_until_idle();
    h.input(CallInput::Sip(SipNotice::Ended));
    assert!(h.sent(&CallCommand::Leave(LeaveReason::Hangup)));
    h.assert_over(CallEnd::Gone, CallStatus::Complete);
    let before = h.log.len();
    h.input(CallInput::Joined {
        conference: ConferenceSid::from_random([3; 16]),
        status: ConferenceStatus::InProgress,
        has_room: true,
    });
    assert_eq!(h.log.len(), before);
    assert_eq!(h.call.poll_timeout(), None);
}

const RTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A call watched by `--rtp-timeout` (30 s), its INVITE held or not.
fn watched(voice_xml: &str, held: bool) -> Harness {
    watched_for(voice_xml, RTP_TIMEOUT, held)
}

fn watched_for(voice_xml: &str, timeout: Duration, held: bool) -> Harness {
    let mut h = Harness::new("/voice");
    let url = HttpUrl::parse(&format!("{BASE}/voice")).unwrap();
    h.call = Call::new(
        CallInfo::example(),
        ScriptSource::Webhook(url, HttpMethod::Post),
        WEBHOOK_TIMEOUT,
        h.t0,
    )
    .with_rtp_timeout(Some(timeout), held);
    h.hold_plays = true;
    h.respond("/voice", voice_xml);
    h.run_until_idle();
    h
}

const LONG_PAUSE: &str = r#"<Response><Pause length="600"/></Response>"#;

#[test]
fn a_silent_caller_is_hung_up_at_exactly_the_rtp_timeout() {
    let mut h = watched(LONG_PAUSE, false);
    assert_eq!(
        h.call.timer(TimerKind::RtpInactivity),
        Some(h.t0 + RTP_TIMEOUT)
    );
    h.now = h.t0 + secs(20);
    h.input(CallInput::RtpSeen(h.t0 + secs(5)));
    assert_eq!(
        h.call.timer(TimerKind::RtpInactivity),
        Some(h.t0 + secs(35)),
        "counted from the packet, not from when it was reported"
    );
    // An older report changes nothing.
    h.input(CallInput::RtpSeen(h.t0 + secs(2)));
    assert_eq!(
        h.call.timer(TimerKind::RtpInactivity),
        Some(h.t0 + secs(35))
    );
    h.call
        .handle_timeout(h.t0 + secs(35) - Duration::from_millis(1));
    h.run_until_idle();
    assert_eq!(h.hangups(), 0, "not a millisecond early");
    h.advance_to_next_deadline();
    assert_eq!(h.now - h.t0, secs(35));
    assert!(h.sent(&CallCommand::Log(LogLine::RtpTimeout(RTP_TIMEOUT))));
    assert_eq!(h.hangups(), 1);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
    assert_eq!(h.paths_fetched(), ["/voice"]);
}

#[test]
fn a_silent_caller_in_a_room_leaves_it_and_is_hung_up() {
    let mut h = watched(DIAL_ACTION, false);
    assert!(h.call.in_room());
    h.now = h.t0 + secs(50);
    h.input(CallInput::RtpSeen(h.t0 + secs(49)));
    h.advance_to_next_deadline();
    assert_eq!(h.now - h.t0, secs(79));
    let left = h
        .log
        .iter()
        .position(|c| *c == CallCommand::Leave(LeaveReason::Hangup))
        .expect("left the room");
    let hangup = h
        .log
        .iter()
        .position(|c| *c == CallCommand::Hangup)
        .expect("hung up");
    assert!(left < hangup, "out of the room before the BYE");
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
    // The hub's Left that follows changes nothing: no <Dial action>.
    let before = h.log.len();
    leave(&mut h, LeaveReason::Hangup);
    assert_eq!(h.log.len(), before);
}

#[test]
fn hold_suspends_the_rtp_timeout_and_resume_restarts_it() {
    let mut h = watched(LONG_PAUSE, false);
    h.now = h.t0 + secs(10);
    h.input(CallInput::Sip(SipNotice::Hold(true)));
    assert_eq!(h.call.timer(TimerKind::RtpInactivity), None);
    // RTCP-only or silent for ages while held: nothing happens.
    h.now = h.t0 + secs(500);
    h.input(CallInput::RtpSeen(h.t0 + secs(11)));
    assert_eq!(h.call.timer(TimerKind::RtpInactivity), None);
    h.input(CallInput::Sip(SipNotice::Hold(false)));
    assert_eq!(
        h.call.timer(TimerKind::RtpInactivity),
        Some(h.t0 + secs(530)),
        "resumed: a full timeout from now"
    );
    // Moved media counts afresh too.
    h.now = h.t0 + secs(520);
    h.input(CallInput::Sip(SipNotice::MediaMoved));
    assert_eq!(
        h.call.timer(TimerKind::RtpInactivity),
        Some(h.t0 + secs(550))
    );
    h.advance_to_next_deadline();
    assert_eq!(h.now - h.t0, secs(550));
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn a_call_that_starts_held_is_watched_from_its_resume() {
    let mut h = watched(LONG_PAUSE, true);
    assert_eq!(h.call.timer(TimerKind::RtpInactivity), None);
    h.now = h.t0 + secs(100);
    h.input(CallInput::Sip(SipNotice::Hold(false)));
    assert_eq!(
        h.call.timer(TimerKind::RtpInactivity),
        Some(h.t0 + secs(130))
    );
}

#[test]
fn no_rtp_timeout_or_zero_means_no_watch() {
    let h = started(LONG_PAUSE);
    assert_eq!(h.call.timer(TimerKind::RtpInactivity), None);
    let h = watched_for(LONG_PAUSE, Duration::ZERO, false);
    assert_eq!(h.call.timer(TimerKind::RtpInactivity), None);
}

// <Gather>: keys reach the script, its timeout is a timer of the call's.

const PIN_PROMPT: &str = r#"<Response><Gather numDigits="4" action="/pin"><Say>Enter your PIN</Say></Gather><Say>Bye</Say></Response>"#;

fn press(h: &mut Harness, keys: &str) {
    for key in keys.chars() {
        h.input(CallInput::Digit(key));
    }
}

fn digits_sent(h: &Harness) -> Vec<(String, Option<String>)> {
    h.fetches()
        .iter()
        .filter_map(|r| {
            let digits = r.params.get("Digits")?;
            Some((
                format!("{}={digits}", r.url.as_url().path()),
                r.params.get("FinishedOnKey").map(str::to_owned),
            ))
        })
        .collect()
}

fn pin_call() -> Harness {
    let mut h = Harness::new("/voice");
    h.respond("/voice", PIN_PROMPT);
    h.respond("/pin", "<Response><Hangup/></Response>");
    h.run_until_idle();
    h
}

#[test]
fn gather_sends_the_keys_when_num_digits_is_reached() {
    let mut h = pin_call();
    // The prompt played; the wait for a key runs from its end.
    assert_eq!(h.call.timer(TimerKind::GatherTimeout), Some(h.t0 + secs(5)));
    assert!(h.call.gathering());
    for (i, key) in "123".chars().enumerate() {
        h.now += secs(2);
        press(&mut h, &key.to_string());
        assert_eq!(
            h.call.timer(TimerKind::GatherTimeout),
            Some(h.now + secs(5)),
            "the wait starts again after key {i}"
        );
    }
    assert_eq!(h.paths_fetched(), ["/voice"]);
    press(&mut h, "4");
    assert_eq!(digits_sent(&h), [("/pin=1234".into(), Some(String::new()))]);
    assert_eq!(h.last_fetch().params.get("CallStatus"), Some("in-progress"));
    // /pin hangs up; the Say after the Gather never ran.
    assert_eq!(h.plays().len(), 1);
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn the_finish_key_sends_the_keys_so_far() {
    let mut h = pin_call();
    press(&mut h, "12#");
    assert_eq!(digits_sent(&h), [("/pin=12".into(), Some("#".into()))]);
    assert_eq!(h.call.timer(TimerKind::GatherTimeout), None);
}

#[test]
fn a_timeout_with_keys_sends_them() {
    let mut h = pin_call();
    h.now += secs(3);
    press(&mut h, "7");
    h.advance_to_next_deadline();
    assert_eq!(h.now, h.t0 + secs(8), "five seconds after the key");
    assert_eq!(digits_sent(&h), [("/pin=7".into(), Some(String::new()))]);
}

#[test]
fn a_timeout_without_keys_runs_the_next_verb() {
    let mut h = pin_call();
    h.advance_to_next_deadline();
    assert_eq!(h.now, h.t0 + secs(5));
    assert_eq!(digits_sent(&h), []);
    assert_eq!(h.paths_fetched(), ["/voice"]);
    // "Enter your PIN", then "Bye", then the end of the document.
    assert_eq!(h.plays().len(), 2);
    assert!(!h.call.gathering());
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn action_on_empty_result_sends_empty_digits_at_the_timeout() {
    let mut h = Harness::new("/voice");
    h.respond(
        "/voice",
        r#"<Response><Gather timeout="3" action="/pin" actionOnEmptyResult="true"/><Say>Bye</Say></Response>"#,
    );
    h.respond("/pin", "<Response><Hangup/></Response>");
    h.run_until_idle();
    h.advance_to_next_deadline();
    assert_eq!(h.now, h.t0 + secs(3));
    assert_eq!(digits_sent(&h), [("/pin=".into(), Some(String::new()))]);
    assert!(h.plays().is_empty(), "the Say after the Gather never ran");
    h.assert_over(CallEnd::HungUp, CallStatus::Complete);
}

#[test]
fn a_key_during_the_nested_say_stops_it() {
    let mut h = Harness::new("/voice");
    h.hold_plays = true;
    h.respond("/voice", PIN_PROMPT);
    h.respond("/pin", "<Response><Hangup/></Response>");
    h.run_until_idle();
    let playing = h.open_plays[0];
    assert_eq!(
        h.call.timer(TimerKind::GatherTimeout),
        None,
        "not while the prompt plays"
    );
    h.now += secs(1);
    press(&mut h, "9");
    assert!(
        h.sent(&CallCommand::Cancel { id: playing }),
        "barge-in stops the prompt"
    );
    assert_eq!(
        h.call.timer(TimerKind::GatherTimeout),
        Some(h.now + secs(5))
    );
    // The stopped play's end, if the shell still reports it, changes nothing.
    h.end_play();
    assert_eq!(
        h.call.timer(TimerKind::GatherTimeout),
        Some(h.now + secs(5))
    );
    press(&mut h, "876");
    assert_eq!(digits_sent(&h), [("/pin=9876".into(), Some(String::new()))]);
    assert_eq!(h.plays().len(), 1);
}

#[test]
fn keys_before_the_gather_are_dropped() {
    let mut h = Harness::new("/voice");
    h.hold_plays = true;
    h.respond(
        "/voice",
        r#"<Response><Say>Welcome</Say><Gather numDigits="1" action="/pin"/></Response>"#,
    );
    h.respond("/pin", "<Response><Hangup/></Response>");
    h.run_until_idle();
    let welcome = h.open_plays[0];
    press(&mut h, "1");
    assert!(
        !h.sent(&CallCommand::Cancel { id: welcome }),
        "a Say outside a Gather plays on"
    );
    assert_eq!(h.call.timer(TimerKind::GatherTimeout), None);
    h.end_play();
    assert_eq!(
        h.call.timer(TimerKind::GatherTimeout),
        Some(h.now + secs(5))
    );
    press(&mut h, "2");
    assert_eq!(digits_sent(&h), [("/pin=2".into(), Some(String::new()))]);
}

#[test]
fn a_hang_up_while_gathering_ends_the_call_and_its_timer() {
    let mut h = pin_call();
    press(&mut h, "12");
    h.input(CallInput::Sip(SipNotice::Ended));
    assert_eq!(digits_sent(&h), []);
    h.assert_over(CallEnd::Gone, CallStatus::Complete);
}

#[test]
fn keys_in_a_room_are_not_the_scripts() {
    let mut h = started(
        r#"<Response><Dial><Conference>room</Conference></Dial><Gather numDigits="1" action="/pin"/></Response>"#,
    );
    assert!(h.call.in_room());
    press(&mut h, "1");
    assert!(h.call.in_room());
    leave(&mut h, LeaveReason::Kicked);
    assert!(h.call.gathering());
    press(&mut h, "3");
    assert_eq!(digits_sent(&h), [("/pin=3".into(), Some(String::new()))]);
}

#[test]
fn todays_conference_attributes_reach_the_join_request() {
    let h = started(
        r#"<Response><Dial><Conference participantLabel="agent" beep="onExit" coach="CA42ed11f93dc08b952027ffbc406d0868" statusCallback="/cb" statusCallbackEvent="start end" jitterBufferSize="small">room</Conference></Dial></Response>"#,
    );
    let request = h
        .log
        .iter()
        .find_map(|c| match c {
            CallCommand::Join { request, .. } => Some(request),
            _ => None,
        })
        .expect("a join");
    assert_eq!(request.name, "room");
    assert_eq!(request.label.as_deref(), Some("agent"));
    assert_eq!(
        request.coach.as_ref().map(|c| c.as_str()),
        Some("CA42ed11f93dc08b952027ffbc406d0868")
    );
    assert!(!request.options.beep && request.options.beep_on_exit);
    let callback = request.status_callback.as_ref().expect("a status callback");
    assert_eq!(callback.url, "http://app.example.com/cb");
    assert_eq!(callback.method, HttpMethod::Post);
    assert_eq!(callback.events, ["start", "end"]);
}
