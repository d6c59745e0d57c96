//! [`Call`]: one call's lifecycle after routing, in one place.
//!
//! The phases, in order: bind an RTP port, answer, record the call, run its
//! TwiML ([`twiml::CallScript`], the one verb runner), in and out of rooms
//! (with the room's wait audio, [`twiml::WaitScript`], while it is init),
//! then hang up, finish the record and send the end-of-call request. Every
//! verb becomes commands here (`advance`); every timer is set here (search
//! for `timers.set`). See the [crate docs](crate) for the driver loop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use conference::{JoinError, JoinRequest, LeaveReason};
use model::{CallStatus, ConferenceStatus};
use twiml::{
    Action, CallInfo, CallScript, FetchError, FetchedBody, HangupReason, HttpUrl, Voice, WaitAudio,
    WaitScript, WaitWarning,
};

use crate::timer::{TimerKind, TimerTable};
use crate::types::{
    CallCommand, CallEnd, CallInput, Clip, ClipSource, LegChange, LogLine, RecordChange, ReqId,
    RoomNotice, ScriptSource, SipNotice,
};

/// One call, sans-IO. See the [crate docs](crate) for the contract.
#[derive(Debug)]
pub struct Call {
    info: CallInfo,
    script: CallScript,
    phase: Phase,
    commands: VecDeque<CallCommand>,
    timers: TimerTable,
    next_id: u64,
    /// Whether the call has its own media to play on (not lent to a room,
    /// not lost on the way back).
    media: bool,
    /// Why the application failed the call, for the record.
    failure: Option<String>,
    /// The last clip made for the script, kept for the same verb's next
    /// repetition.
    cache: Option<(ClipKey, ReqId)>,
    /// The server stopped before the call was answered.
    stopping: bool,
    /// How long a webhook may take, and the fetch the
    /// [`TimerKind::Webhook`] timer is running for.
    webhook_timeout: Duration,
    fetching: Option<ReqId>,
    /// The latest `now` seen: timers set by an input count from it.
    now: Instant,
    /// How long the caller may send no RTP (`None`: forever), and whether
    /// it holds (then silence is expected: the timer is stopped).
    rtp_timeout: Option<Duration>,
    held: bool,
    /// The newest RTP arrival reported.
    rtp_seen: Option<Instant>,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for [`CallInput::RtpBound`].
    Binding,
    /// Waiting for [`CallInput::Answered`].
    Answering,
    /// Running the script on the call's own media.
    Script(Busy),
    /// Waiting for the hub's answer to a join.
    Joining {
        time_limit: Duration,
        wait: WaitAudio,
    },
    /// In a room, with the wait audio's script while the room is init.
    InRoom {
        wait: Option<Box<Wait>>,
    },
    Finished,
}

/// What the script waits for, outside a room.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Busy {
    /// Nothing: ask the script for its next action.
    Idle,
    Fetching(ReqId),
    Making {
        id: ReqId,
        key: ClipKey,
    },
    Playing {
        id: ReqId,
        then: AfterPlay,
    },
    /// A `<Gather>` waits for a key ([`TimerKind::GatherTimeout`] runs).
    Listening,
}

/// What a play ending means to the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterPlay {
    /// A Say, Play or Pause: [`CallScript::finished`].
    Verb,
    /// The error tone: nothing (its Hangup follows).
    Tone,
}

/// A clip made for the script, by what it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClipKey {
    Say(String, Voice),
    Play(HttpUrl),
}

/// The wait audio of a `waitUrl` while the room is init.
#[derive(Debug)]
struct Wait {
    script: WaitScript,
    /// The fetch or clip under way.
    pending: Option<ReqId>,
}

impl Call {
    /// A routed call, whose webhooks may each take `webhook_timeout`. Its
    /// first command binds an RTP port.
    pub fn new(
        info: CallInfo,
        source: ScriptSource,
        webhook_timeout: Duration,
        now: Instant,
    ) -> Self {
        let script = match source {
            ScriptSource::Webhook(url, method) => CallScript::new(info.clone(), url, method),
            ScriptSource::Verbs(verbs) => CallScript::from_verbs(info.clone(), verbs),
        };
        let mut call = Self {
            info,
            script,
            phase: Phase::Binding,
            commands: VecDeque::new(),
            timers: TimerTable::default(),
            next_id: 0,
            media: true,
            failure: None,
            cache: None,
            stopping: false,
            webhook_timeout,
            fetching: None,
            now,
            rtp_timeout: None,
            held: false,
            rtp_seen: None,
        };
        call.push(CallCommand::BindRtp);
        call
    }

    /// Hangs the call up once the caller sent no RTP for `timeout` while
    /// not holding (`held`: how the INVITE's SDP began); `None` never does.
    /// The watch starts when the call is answered.
    #[must_use]
    pub fn with_rtp_timeout(mut self, timeout: Option<Duration>, held: bool) -> Self {
        self.rtp_timeout = timeout.filter(|t| !t.is_zero());
        self.held = held;
        self
    }

    /// The next thing for the shell to do.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<CallCommand> {
        self.commands.pop_front()
    }

    /// The next deadline, and which timer it is.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<(Instant, TimerKind)> {
        self.timers.next()
    }

    /// The deadline of one timer (for tests and logs).
    pub fn timer(&self, kind: TimerKind) -> Option<Instant> {
        self.timers.get(kind)
    }

    /// Whether the call is over: once its last commands are drained, the
    /// shell drops it.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// Whether the call is in a room.
    pub fn in_room(&self) -> bool {
        matches!(self.phase, Phase::InRoom { .. })
    }

    /// Whether a `<Gather>` is collecting the caller's keys: the shell
    /// reads the call's media every 20 ms meanwhile, so that keys (in-band
    /// ones above all) are heard when they are pressed.
    pub fn gathering(&self) -> bool {
        matches!(self.phase, Phase::Script(_)) && self.script.gathering()
    }

    /// Runs the action of every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        while let Some(kind) = self.timers.pop_expired(now) {
            match kind {
                TimerKind::TimeLimit => {
                    if self.in_room() {
                        self.push(CallCommand::Log(LogLine::TimeLimitUp));
                        // The hub's Left (TimeLimit, with the leg) follows.
                        self.push(CallCommand::Leave(LeaveReason::TimeLimit));
                    }
                }
                TimerKind::Webhook => {
                    if let Some(id) = self.fetching.take() {
                        self.push(CallCommand::Cancel { id });
                        self.fetched(id, Err(FetchError::Timeout));
                    }
                }
                TimerKind::RtpInactivity => self.rtp_timed_out(),
                TimerKind::GatherTimeout => {
                    if matches!(self.phase, Phase::Script(Busy::Listening)) {
                        self.phase = Phase::Script(Busy::Idle);
                        self.script.gather_timed_out();
                        self.advance();
                    }
                }
            }
        }
        debug_assert!(
            self.timers.next().is_none_or(|(at, _)| at > now),
            "no deadline at or before now after handling it"
        );
    }

    /// Something happened.
    pub fn handle(&mut self, input: CallInput, now: Instant) {
        self.now = self.now.max(now);
        match input {
            CallInput::RtpBound(port) => self.rtp_bound(port),
            CallInput::Answered(answered) => self.answered(answered),
            CallInput::Sip(event) => self.sip(event),
            CallInput::Joined {
                conference,
                status,
                has_room,
            } => self.joined(conference, status, has_room, now),
            CallInput::JoinFailed {
                error,
                reason,
                media_back,
            } => self.join_failed(&error, reason, media_back),
            CallInput::Room(notice) => self.room(notice),
            CallInput::Fetched { id, result } => self.fetched(id, result),
            CallInput::ClipMade { id, result } => self.clip_made(id, result),
            CallInput::PlayEnded { id } => self.play_ended(id),
            CallInput::RtpSeen(at) => self.rtp_seen(at),
            CallInput::Digit(key) => self.digit(key),
            CallInput::Shutdown => self.shutdown(),
        }
    }

    /// Arms [`TimerKind::RtpInactivity`] `timeout` after `from`, if the
    /// call is answered, watched, and not held.
    fn watch_rtp(&mut self, from: Instant) {
        let answered = !matches!(
            self.phase,
            Phase::Binding | Phase::Answering | Phase::Finished
        );
        match self.rtp_timeout {
            Some(timeout) if answered && !self.held => match from.checked_add(timeout) {
                Some(at) => self.timers.set(TimerKind::RtpInactivity, at),
                // Beyond any clock: never.
                None => self.timers.stop(TimerKind::RtpInactivity),
            },
            _ => self.timers.stop(TimerKind::RtpInactivity),
        }
    }

    fn rtp_seen(&mut self, at: Instant) {
        if self.rtp_seen.is_some_and(|seen| seen >= at) {
            return;
        }
        self.rtp_seen = Some(at);
        // Only moves a running watch (answered, not held) forward.
        if let Some(deadline) = self.timers.get(TimerKind::RtpInactivity)
            && let Some(timeout) = self.rtp_timeout
            && let Some(next) = at.checked_add(timeout)
            && next > deadline
        {
            self.timers.set(TimerKind::RtpInactivity, next);
        }
    }

    /// A dead peer: no RTP for the timeout, not held. Hung up like a script's
    /// `<Hangup>` (out of its room first); the record ends completed.
    fn rtp_timed_out(&mut self) {
        let Some(timeout) = self.rtp_timeout else {
            return;
        };
        self.push(CallCommand::Log(LogLine::RtpTimeout(timeout)));
        match self.phase {
            Phase::Script(_) => {}
            Phase::Joining { .. } | Phase::InRoom { .. } => {
                self.push(CallCommand::Leave(LeaveReason::Hangup));
            }
            Phase::Binding | Phase::Answering | Phase::Finished => return,
        }
        self.push(CallCommand::Hangup);
        self.end(CallEnd::HungUp);
    }

    fn rtp_bound(&mut self, port: Option<u16>) {
        if !matches!(self.phase, Phase::Binding) {
            return;
        }
        match port {
            Some(rtp_port) => {
                self.push(CallCommand::Answer { rtp_port });
                self.phase = Phase::Answering;
            }
            None => {
                self.push(CallCommand::RejectUnavailable);
                self.phase = Phase::Finished;
            }
        }
    }

    fn answered(&mut self, answered: bool) {
        if !matches!(self.phase, Phase::Answering) {
            return;
        }
        if !answered {
            // Gone before the answer: no record, no request.
            self.phase = Phase::Finished;
            return;
        }
        self.push(CallCommand::Record(RecordChange::Start));
        self.phase = Phase::Script(Busy::Idle);
        self.watch_rtp(self.now);
        if self.stopping {
            self.end(CallEnd::Shutdown);
        } else {
            self.advance();
        }
    }

    /// A key, out of a room: the script's `<Gather>` takes it or it is
    /// dropped. Taken during a prompt, the prompt stops (barge-in).
    fn digit(&mut self, key: char) {
        let Phase::Script(busy) = &self.phase else {
            return; // in a room the hub hears keys; before the answer, nothing does
        };
        let busy = busy.clone();
        if !self.script.digit(key) {
            return;
        }
        match busy {
            Busy::Playing { id, .. } | Busy::Making { id, .. } => self.cancel(id),
            Busy::Listening | Busy::Idle | Busy::Fetching(_) => {}
        }
        self.timers.stop(TimerKind::GatherTimeout);
        self.phase = Phase::Script(Busy::Idle);
        self.advance();
    }

    /// Runs the script's actions until one needs the shell.
    fn advance(&mut self) {
        while matches!(self.phase, Phase::Script(Busy::Idle)) {
            let Some(action) = self.script.poll_action() else {
                // The script is over without a Hangup action.
                self.push(CallCommand::Hangup);
                self.end(CallEnd::HungUp);
                return;
            };
            match action {
                Action::Fetch(request) => {
                    let id = self.id();
                    self.fetch(id, request);
                    self.phase = Phase::Script(Busy::Fetching(id));
                }
                Action::Say { text, voice, .. } => self.clip(
                    ClipKey::Say(text.clone(), voice),
                    ClipSource::Say { text, voice },
                ),
                Action::Play { url } => self.clip(ClipKey::Play(url.clone()), ClipSource::Url(url)),
                Action::Pause { duration } => self.play(Clip::Silence(duration), AfterPlay::Verb),
                Action::AwaitDigits { timeout } => {
                    let at = self.now.checked_add(timeout);
                    match at {
                        Some(at) => self.timers.set(TimerKind::GatherTimeout, at),
                        // Beyond any clock: only a key ends it.
                        None => self.timers.stop(TimerKind::GatherTimeout),
                    }
                    self.phase = Phase::Script(Busy::Listening);
                }
                Action::PlayErrorTone => self.play(Clip::ErrorTone, AfterPlay::Tone),
                Action::Warn(warning) => self.push(CallCommand::Log(LogLine::Tolerated(warning))),
                // A call's script makes none of a wait's actions.
                Action::PlayAudio { .. } | Action::PlayHoldMusic | Action::WaitWarn(_) => {}
                Action::JoinConference {
                    name,
                    options,
                    wait,
                    hangup_on_star,
                    time_limit,
                    label,
                    coach,
                    status_callback,
                } => {
                    if !self.media {
                        // No leg to hand over (it was not given back).
                        self.script.join_failed(&JoinError::Full);
                        continue;
                    }
                    let initial = match wait {
                        WaitAudio::BuiltIn => Some(Clip::HoldMusicForever),
                        // A waitUrl is silent until its first audio is ready.
                        WaitAudio::Silence | WaitAudio::Url { .. } => None,
                    };
                    let request = JoinRequest {
                        label,
                        coach,
                        status_callback,
                        account: self.info.account_sid.clone(),
                        name,
                        call: self.info.call_sid.clone(),
                        options,
                    };
                    self.push(CallCommand::Join {
                        request,
                        wait: initial,
                        hangup_on_star,
                    });
                    self.media = false;
                    self.phase = Phase::Joining { time_limit, wait };
                }
                Action::Hangup { reason } => {
                    if let HangupReason::ApplicationError(error) = reason {
                        self.failure = Some(error.to_string());
                        self.push(CallCommand::Log(LogLine::AppFailed(error)));
                    }
                    self.push(CallCommand::Hangup);
                    self.end(CallEnd::HungUp);
                }
            }
        }
    }

    /// A Say or Play: from the cache, or made first.
    fn clip(&mut self, key: ClipKey, source: ClipSource) {
        if let Some((_, id)) = self.cache.as_ref().filter(|(cached, _)| *cached == key) {
            let id = *id;
            return self.play(Clip::Made(id), AfterPlay::Verb);
        }
        let id = self.id();
        self.push(CallCommand::MakeClip { id, source });
        self.phase = Phase::Script(Busy::Making { id, key });
    }

    fn play(&mut self, clip: Clip, then: AfterPlay) {
        if !self.media {
            // Nothing to play on: the clip is over at once.
            if then == AfterPlay::Verb {
                self.script.finished();
            }
            return;
        }
        let id = self.id();
        self.push(CallCommand::Play { id, clip });
        self.phase = Phase::Script(Busy::Playing { id, then });
    }

    fn fetched(&mut self, id: ReqId, result: Result<FetchedBody, FetchError>) {
        self.fetch_over(id);
        match &mut self.phase {
            Phase::Script(Busy::Fetching(pending)) if *pending == id => {
                if let Err(error) = &result {
                    self.push(CallCommand::Log(LogLine::FetchFailed(error.clone())));
                }
                self.phase = Phase::Script(Busy::Idle);
                self.script.fetched(result);
                self.advance();
            }
            Phase::InRoom {
                wait: Some(wait), ..
            } if wait.pending == Some(id) => {
                wait.pending = None;
                wait.script.fetched(result);
                self.pump_wait();
            }
            _ => {} // stale: the call moved on
        }
    }

    fn clip_made(&mut self, id: ReqId, result: Result<(), String>) {
        match &mut self.phase {
            Phase::Script(Busy::Making { id: pending, key }) if *pending == id => {
                let key = key.clone();
                self.phase = Phase::Script(Busy::Idle);
                match result {
                    Ok(()) => {
                        if let Some((_, old)) = self.cache.replace((key, id)) {
                            self.push(CallCommand::ForgetClip { id: old });
                        }
                        self.play(Clip::Made(id), AfterPlay::Verb);
                    }
                    Err(error) => {
                        self.push(CallCommand::Log(LogLine::AudioFailed(error)));
                        self.script.media_failed();
                    }
                }
                self.advance();
            }
            Phase::InRoom {
                wait: Some(wait), ..
            } if wait.pending == Some(id) => {
                wait.pending = None;
                match result {
                    Ok(()) => {
                        self.push(CallCommand::SetWaitSource(Some(Clip::Made(id))));
                        self.push(CallCommand::ForgetClip { id });
                    }
                    Err(error) => {
                        wait.script.media_failed();
                        self.push(CallCommand::Log(LogLine::WaitAudioFailed(error)));
                    }
                }
                self.pump_wait();
            }
            Phase::Finished => {}
            // Made for a verb the call moved on from.
            _ => self.push(CallCommand::ForgetClip { id }),
        }
    }

    fn play_ended(&mut self, id: ReqId) {
        let Phase::Script(Busy::Playing { id: pending, then }) = self.phase else {
            return;
        };
        if pending != id {
            return;
        }
        self.phase = Phase::Script(Busy::Idle);
        if then == AfterPlay::Verb {
            self.script.finished();
        }
        self.advance();
    }

    fn joined(
        &mut self,
        conference: model::ConferenceSid,
        status: ConferenceStatus,
        has_room: bool,
        now: Instant,
    ) {
        if !matches!(self.phase, Phase::Joining { .. }) {
            return; // not waiting for a join (the call ended meanwhile)
        }
        let Phase::Joining { time_limit, wait } =
            std::mem::replace(&mut self.phase, Phase::Finished)
        else {
            return;
        };
        self.push(CallCommand::Log(LogLine::Joined(conference)));
        let wait = match wait {
            WaitAudio::Url { url, method } if has_room && status == ConferenceStatus::Init => {
                Some(Box::new(Wait {
                    script: WaitScript::new(WaitAudio::Url { url, method }, self.info.clone()),
                    pending: None,
                }))
            }
            _ => None,
        };
        self.timers.set(TimerKind::TimeLimit, now + time_limit);
        self.phase = Phase::InRoom { wait };
        self.pump_wait();
    }

    fn join_failed(&mut self, error: &JoinError, reason: String, media_back: bool) {
        if !matches!(self.phase, Phase::Joining { .. }) {
            return;
        }
        self.push(CallCommand::Log(LogLine::JoinFailed(reason)));
        self.media = media_back;
        self.phase = Phase::Script(Busy::Idle);
        self.script.join_failed(error);
        self.advance();
    }

    fn room(&mut self, notice: RoomNotice) {
        if !self.in_room() {
            return; // not in a room (any more)
        }
        match notice {
            RoomNotice::Left { reason, media_back } => {
                self.push(CallCommand::Log(LogLine::Left(reason)));
                self.drop_wait();
                self.timers.stop(TimerKind::TimeLimit);
                self.media = media_back;
                self.phase = Phase::Script(Busy::Idle);
                self.script.left_conference(reason);
                self.advance();
            }
            RoomNotice::WaitEnded => {
                if let Phase::InRoom { wait: Some(wait) } = &mut self.phase {
                    wait.script.finished();
                }
                self.pump_wait();
            }
            RoomNotice::Started => self.drop_wait(),
            RoomNotice::Gone => self.end(CallEnd::Shutdown),
        }
    }

    /// The wait audio is over: what it had under way is dropped.
    fn drop_wait(&mut self) {
        if let Phase::InRoom { wait } = &mut self.phase
            && let Some(id) = wait.take().and_then(|w| w.pending)
        {
            self.cancel(id);
        }
    }

    /// Asks for a webhook, with its deadline.
    fn fetch(&mut self, id: ReqId, request: twiml::WebhookRequest) {
        self.push(CallCommand::Fetch { id, request });
        self.fetching = Some(id);
        let deadline = self.now + self.webhook_timeout;
        self.timers.set(TimerKind::Webhook, deadline);
    }

    /// Drops the work under `id`, and its deadline if it is a fetch.
    fn cancel(&mut self, id: ReqId) {
        self.fetch_over(id);
        self.push(CallCommand::Cancel { id });
    }

    /// The work under `id` is over: if it is the fetch being timed, its
    /// deadline goes.
    fn fetch_over(&mut self, id: ReqId) {
        if self.fetching == Some(id) {
            self.fetching = None;
            self.timers.stop(TimerKind::Webhook);
        }
    }

    /// Starts the wait script's next actions, until one needs the shell.
    fn pump_wait(&mut self) {
        loop {
            let Phase::InRoom { wait: Some(wait) } = &mut self.phase else {
                return;
            };
            if wait.pending.is_some() {
                return;
            }
            let Some(action) = wait.script.poll_action() else {
                return;
            };
            let id = ReqId(self.next_id);
            let command = match action {
                Action::Fetch(request) => {
                    wait.pending = Some(id);
                    self.next_id += 1;
                    self.fetch(id, request);
                    continue;
                }
                Action::PlayAudio { body, content_type } => CallCommand::MakeClip {
                    id,
                    source: ClipSource::Audio { body, content_type },
                },
                Action::Say { text, voice, .. } => CallCommand::MakeClip {
                    id,
                    source: ClipSource::Say { text, voice },
                },
                Action::Play { url } => CallCommand::MakeClip {
                    id,
                    source: ClipSource::Url(url),
                },
                Action::Pause { duration } => {
                    self.push(CallCommand::SetWaitSource(Some(Clip::Silence(duration))));
                    continue;
                }
                Action::PlayHoldMusic => {
                    self.push(CallCommand::SetWaitSource(Some(Clip::HoldMusicOnce)));
                    continue;
                }
                Action::WaitWarn(warning) => {
                    self.push(CallCommand::Log(LogLine::Wait(warning)));
                    continue;
                }
                Action::Warn(warning) => {
                    let warning = WaitWarning::Document(warning);
                    self.push(CallCommand::Log(LogLine::Wait(warning)));
                    continue;
                }
                // A wait script makes none of a call's actions.
                Action::JoinConference { .. }
                | Action::AwaitDigits { .. }
                | Action::PlayErrorTone
                | Action::Hangup { .. } => {
                    continue;
                }
            };
            wait.pending = Some(id);
            self.next_id += 1;
            self.push(command);
        }
    }

    fn sip(&mut self, event: SipNotice) {
        let change = match event {
            SipNotice::Acked => return,
            SipNotice::Hold(held) => LegChange::Hold(held),
            SipNotice::MediaMoved => LegChange::Moved,
            SipNotice::Ended => return self.sip_ended(),
        };
        if let LegChange::Hold(held) = change {
            self.held = held;
        }
        // On hold the watch stops; resumed or moved, it counts afresh.
        self.watch_rtp(self.now);
        match self.phase {
            Phase::Finished => {}
            Phase::InRoom { .. } => self.push(CallCommand::UpdateLeg(change)),
            _ => self.push(CallCommand::UpdatePlayer(change)),
        }
    }

    fn sip_ended(&mut self) {
        match self.phase {
            Phase::Binding | Phase::Answering => self.phase = Phase::Finished,
            Phase::Script(_) => self.end(CallEnd::Gone),
            Phase::Joining { .. } | Phase::InRoom { .. } => {
                self.push(CallCommand::Leave(LeaveReason::Hangup));
                self.end(CallEnd::Gone);
            }
            Phase::Finished => {}
        }
    }

    fn shutdown(&mut self) {
        match self.phase {
            Phase::Binding | Phase::Answering => self.stopping = true,
            Phase::Script(_) => self.end(CallEnd::Shutdown),
            Phase::Joining { .. } | Phase::InRoom { .. } => {
                self.push(CallCommand::Leave(LeaveReason::Shutdown));
                self.end(CallEnd::Shutdown);
            }
            Phase::Finished => {}
        }
    }

    /// The call is over: drop what is under way, hang up at shutdown,
    /// finish the record, tell the application.
    fn end(&mut self, end: CallEnd) {
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Script(Busy::Fetching(id) | Busy::Making { id, .. }) => self.cancel(id),
            Phase::InRoom { wait: Some(wait) } => {
                if let Some(id) = wait.pending {
                    self.cancel(id);
                }
            }
            _ => {}
        }
        self.timers.clear();
        if end == CallEnd::Shutdown {
            self.push(CallCommand::Hangup);
        }
        let failure = self.failure.take();
        let status = if failure.is_some() {
            CallStatus::FailedApplicationError
        } else {
            CallStatus::Complete
        };
        self.push(CallCommand::Record(RecordChange::Finish {
            status,
            failure,
        }));
        if let Some(request) = self.script.call_ended() {
            self.push(CallCommand::Notify(request));
        }
        self.push(CallCommand::Log(LogLine::Ended { end, status }));
    }

    fn id(&mut self) -> ReqId {
        let id = ReqId(self.next_id);
        self.next_id += 1;
        id
    }

    fn push(&mut self, command: CallCommand) {
        self.commands.push_back(command);
    }
}
