//! One task per call: routing, the call record, the TwiML script, and the
//! call's audio when it is not in a conference.
//!
//! A call starts when the SIP task reports an INVITE. The task routes it by
//! the Request-URI user: a number added with `confab numbers add` (the
//! call belongs to its account and runs its voice URL), else, with open
//! rooms on, the default account's room of that name (a built-in
//! `<Dial><Conference>`, no webhook), else 404. It binds an RTP port,
//! answers, records the call, and runs [`twiml::CallScript`]: every action
//! is carried out here (HTTP with a timeout, espeak-ng, decoding, playing
//! through a [`Player`], joining through the hub) and its outcome reported
//! back, while SIP events (hang-up, hold, moved media) and the server's
//! stop signal are watched throughout. When the call ends, either side, the
//! record gets its end and the application its `CallStatus=completed`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conference::{JoinError, JoinRequest, LeaveReason, ParticipantOptions};
use media::{AudioSource, PcmSource, Repeat, Silence, TICK};
use model::{Account, AuthToken, CallRecord, CallSid, CallStatus, HttpMethod, PhoneNumber};
use sip::sdp::NegotiatedAudio;
use sip::{IncomingCall, StatusCode};
use store::StoreError;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use twiml::{
    Action, CallInfo, CallScript, Document, FetchError, FetchedBody, HangupReason, HttpUrl, Verb,
    Voice, WaitAction, WaitAudio, WaitScript,
};

use crate::audio::{self, AudioError};
use crate::hub::{CallJoinFailed, HubHandle, JoinFailure};
use crate::membership::{CallNotice, LegHandover, LegUpdate};
use crate::metrics::Metrics;
use crate::player::{Player, leg_config};
use crate::room::RoomHandle;
use crate::rtp_ports::RtpPorts;
use crate::sip_task::{CallEvent, SipHandle};
use crate::{Clock, fetch, ids};

/// How long the end-of-call request may take (it is not waited for).
const COMPLETED_TIMEOUT: Duration = Duration::from_secs(10);

/// What every call task shares.
#[derive(Debug)]
pub struct CallServices {
    pub store: store::Store,
    pub hub: HubHandle,
    pub clock: Arc<dyn Clock>,
    pub ports: RtpPorts,
    pub http: reqwest::Client,
    /// Unknown numbers join the default account's room of that name.
    pub open_rooms: bool,
    pub metrics: Arc<Metrics>,
    /// Server shutdown: every call hangs up.
    pub stop: CancellationToken,
    pub tracker: TaskTracker,
}

/// Runs a new call in a task of its own, in a span carrying its sid.
pub fn spawn(
    services: Arc<CallServices>,
    incoming: Box<IncomingCall>,
    events: mpsc::Receiver<CallEvent>,
    sip: SipHandle,
) {
    let sid = ids::call_sid();
    let span = tracing::info_span!("call", call_sid = %sid);
    let tracker = services.tracker.clone();
    tracker.spawn(run(services, sid, incoming, events, sip).instrument(span));
}

/// How a call routes.
struct Route {
    account: Account,
    number: Option<PhoneNumber>,
    script: ScriptSource,
}

enum ScriptSource {
    Webhook(HttpUrl, HttpMethod),
    Verbs(Vec<Verb>),
}

async fn run(
    svc: Arc<CallServices>,
    sid: CallSid,
    incoming: Box<IncomingCall>,
    events: mpsc::Receiver<CallEvent>,
    sip: SipHandle,
) {
    let call = incoming.call;
    svc.metrics.call_received();
    tracing::debug!(
        from = ?incoming.from_user,
        to = ?incoming.request_uri_user,
        remote = %incoming.remote,
        "incoming call"
    );
    let route = match route(&svc, incoming.request_uri_user.as_deref()).await {
        Ok(Some(route)) => route,
        Ok(None) => {
            tracing::info!("no number routes this call (open rooms are off, or no account): 404");
            sip.reject(call, StatusCode::NOT_FOUND).await;
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not route a call");
            svc.metrics.call_failed();
            sip.reject(call, StatusCode::SERVICE_UNAVAILABLE).await;
            return;
        }
    };
    let bound = svc
        .ports
        .bind()
        .and_then(|socket| Ok((socket.local_addr()?.port(), socket)));
    let (rtp_port, socket) = match bound {
        Ok(bound) => bound,
        Err(e) => {
            tracing::warn!(error = %e, "no RTP port for a call: 503");
            svc.metrics.call_failed();
            sip.reject(call, StatusCode::SERVICE_UNAVAILABLE).await;
            return;
        }
    };
    if let Err(e) = sip.answer(call, rtp_port).await {
        tracing::debug!(error = %e, "the call ended before it was answered");
        return;
    }
    let _active = svc.metrics.call_answered();
    let now = svc.clock.now();
    let caller = incoming.from_user.clone().unwrap_or_default();
    let called = incoming.request_uri_user.clone().unwrap_or_default();
    let record = CallRecord {
        sid: sid.clone(),
        account_sid: route.account.sid.clone(),
        phone_number_sid: route.number.as_ref().map(|n| n.sid.clone()),
        caller: caller.clone(),
        called: called.clone(),
        status: CallStatus::InProgress,
        start_time: Some(now),
        end_time: None,
        duration: None,
        failure: None,
        date_created: now,
        date_updated: now,
    };
    if let Err(e) = svc.store.insert_call(&record).await {
        tracing::error!(error = %e, "could not record the call; it goes on unrecorded");
    }
    tracing::info!(account_sid = %route.account.sid, rtp_port, "call answered");
    let info = CallInfo {
        call_sid: sid.clone(),
        account_sid: route.account.sid.clone(),
        caller,
        called,
    };
    let script = match route.script {
        ScriptSource::Webhook(url, method) => CallScript::new(info.clone(), url, method),
        ScriptSource::Verbs(verbs) => CallScript::from_verbs(info.clone(), verbs),
    };
    let held = incoming.audio.on_hold();
    let player = Player::new(socket, &incoming.audio, None, held);
    let mut task = CallTask {
        svc,
        sid,
        token: route.account.auth_token,
        info,
        call,
        sip,
        events,
        script,
        audio: incoming.audio,
        player: Some(player),
        held,
        failure: None,
        clip: None,
    };
    let end = task.drive().await;
    task.finish(end).await;
}

/// The route of a call to `user` (the Request-URI user part).
async fn route(svc: &CallServices, user: Option<&str>) -> Result<Option<Route>, StoreError> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if let Some(number) = svc.store.phone_number_by_number(user).await? {
        let Some(account) = svc.store.account(&number.account_sid).await? else {
            return Ok(None);
        };
        let Ok(url) = HttpUrl::parse(&number.voice_url) else {
            tracing::warn!(phone_number_sid = %number.sid, "the number's voice URL is not http(s)");
            return Ok(None);
        };
        let method = number.voice_method;
        return Ok(Some(Route {
            account,
            number: Some(number),
            script: ScriptSource::Webhook(url, method),
        }));
    }
    if !svc.open_rooms {
        return Ok(None);
    }
    // The default account is the oldest one (`serve` creates it on first run).
    let Some(account) = svc.store.accounts().await?.into_iter().next() else {
        return Ok(None);
    };
    let Some(verbs) = open_room(user) else {
        return Ok(None);
    };
    Ok(Some(Route {
        account,
        number: None,
        script: ScriptSource::Verbs(verbs),
    }))
}

/// The built-in TwiML of an open room: `<Dial><Conference>user</Conference></Dial>`.
fn open_room(room: &str) -> Option<Vec<Verb>> {
    let mut name = String::with_capacity(room.len());
    for c in room.chars() {
        match c {
            '&' => name.push_str("&amp;"),
            '<' => name.push_str("&lt;"),
            '>' => name.push_str("&gt;"),
            c if c.is_control() => {}
            c => name.push(c),
        }
    }
    let xml = format!("<Response><Dial><Conference>{name}</Conference></Dial></Response>");
    let base = url::Url::parse("http://confab.invalid/").ok()?;
    Document::parse(xml.as_bytes(), &base).ok().map(|d| d.verbs)
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The SIP call is over (the caller hung up, or never acknowledged).
    Gone,
    /// The script hung up; the BYE is on its way.
    HungUp,
    /// The server is stopping.
    Shutdown,
}

/// A clip already made, kept for the next repetition of the same verb.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClipKey {
    Say(String, Voice),
    Play(HttpUrl),
}

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

struct CallTask {
    svc: Arc<CallServices>,
    sid: CallSid,
    token: AuthToken,
    info: CallInfo,
    call: sip::CallId,
    sip: SipHandle,
    events: mpsc::Receiver<CallEvent>,
    script: CallScript,
    audio: NegotiatedAudio,
    /// The call's media when it is not lent to a room.
    player: Option<Player>,
    held: bool,
    failure: Option<String>,
    clip: Option<(ClipKey, Arc<[i16]>)>,
}

impl CallTask {
    /// Runs the script until the call ends.
    async fn drive(&mut self) -> End {
        loop {
            let Some(action) = self.script.poll_action() else {
                // The script is over without a Hangup action (nothing normally).
                self.sip.hangup(self.call).await;
                return End::HungUp;
            };
            if let Err(end) = self.perform(action).await {
                return end;
            }
        }
    }

    async fn perform(&mut self, action: Action) -> Result<(), End> {
        match action {
            Action::Fetch(request) => {
                let result = self.webhook(request).await?;
                if let Err(e) = &result {
                    tracing::info!(error = %e, "TwiML request failed");
                }
                self.script.fetched(result);
            }
            Action::Say { text, voice, .. } => {
                let key = ClipKey::Say(text.clone(), voice);
                let clip = self
                    .clip(key, async move { audio::speak(&text, voice).await })
                    .await?;
                self.play_clip(clip).await?;
            }
            Action::Play { url } => {
                tracing::debug!(%url, "<Play>");
                let key = ClipKey::Play(url.clone());
                let client = self.svc.http.clone();
                let clip = self.clip(key, load_audio(client, url)).await?;
                self.play_clip(clip).await?;
            }
            Action::Pause { duration } => {
                self.play(Box::new(Silence::frames(frames(duration))))
                    .await?;
                self.script.finished();
            }
            Action::PlayErrorTone => self.play(Box::new(media::tone::Tone::error())).await?,
            Action::Warn(warning) => tracing::info!(%warning, "TwiML tolerated"),
            Action::JoinConference {
                name,
                options,
                wait,
                hangup_on_star,
                time_limit,
            } => {
                self.conference(name, options, wait, hangup_on_star, time_limit)
                    .await?;
            }
            Action::Hangup { reason } => {
                match reason {
                    HangupReason::ApplicationError(error) => {
                        tracing::warn!(%error, "the application failed the call");
                        self.failure = Some(error.to_string());
                    }
                    HangupReason::Normal | HangupReason::Shutdown => {}
                }
                self.sip.hangup(self.call).await;
                return Err(End::HungUp);
            }
        }
        Ok(())
    }

    async fn webhook(
        &mut self,
        request: twiml::WebhookRequest,
    ) -> Result<Result<FetchedBody, FetchError>, End> {
        let client = self.svc.http.clone();
        let token = self.token.clone();
        let metrics = self.svc.metrics.clone();
        self.wait_for(async move { fetch::webhook(&client, &request, &token, &metrics).await })
            .await
    }

    /// A clip from the cache (the same verb repeating), or made by `make`.
    async fn clip(
        &mut self,
        key: ClipKey,
        make: impl Future<Output = Result<Arc<[i16]>, AudioError>>,
    ) -> Result<Result<Arc<[i16]>, AudioError>, End> {
        if let Some((_, samples)) = self.clip.as_ref().filter(|(cached, _)| *cached == key) {
            return Ok(Ok(samples.clone()));
        }
        let made = self.wait_for(make).await?;
        if let Ok(samples) = &made {
            self.clip = Some((key, samples.clone()));
        }
        Ok(made)
    }

    async fn play_clip(&mut self, clip: Result<Arc<[i16]>, AudioError>) -> Result<(), End> {
        match clip {
            Ok(samples) => {
                self.play(Box::new(PcmSource::new(samples, Repeat::Times(1))))
                    .await?;
                self.script.finished();
            }
            Err(e) => {
                tracing::warn!(error = %e, "audio for the caller could not be made; skipped");
                self.script.media_failed();
            }
        }
        Ok(())
    }

    /// Waits for `future` while handling SIP events and the stop signal.
    async fn wait_for<T>(&mut self, future: impl Future<Output = T>) -> Result<T, End> {
        let mut future = std::pin::pin!(future);
        loop {
            tokio::select! {
                out = &mut future => return Ok(out),
                event = self.events.recv() => self.sip_event(event)?,
                () = self.svc.stop.cancelled() => return Err(End::Shutdown),
            }
        }
    }

    /// Plays `source` to the caller to its end.
    async fn play(&mut self, source: Box<dyn AudioSource + Send>) -> Result<(), End> {
        let Some(player) = self.player.as_mut() else {
            return Ok(()); // no media to play on (it was not given back)
        };
        player.play(source);
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let done = self.player.as_mut().is_none_or(|p| p.tick(Instant::now()));
                    if done {
                        return Ok(());
                    }
                }
                event = self.events.recv() => self.sip_event(event)?,
                () = self.svc.stop.cancelled() => return Err(End::Shutdown),
            }
        }
    }

    /// A SIP event while the call is not in a conference.
    fn sip_event(&mut self, event: Option<CallEvent>) -> Result<(), End> {
        match event {
            None => Err(End::Gone),
            Some(CallEvent::Ended(by)) => {
                tracing::debug!(?by, "the SIP call ended");
                Err(End::Gone)
            }
            Some(CallEvent::Acked) => Ok(()),
            Some(CallEvent::Hold(held)) => {
                self.held = held;
                if let Some(player) = &mut self.player {
                    player.set_hold(held);
                }
                Ok(())
            }
            Some(CallEvent::Media(audio)) => {
                let remote = leg_config(&audio, None).remote;
                self.audio = audio;
                if let Some(player) = &mut self.player {
                    player.relatch(remote);
                }
                Ok(())
            }
        }
    }

    /// `<Dial><Conference>`: hands the leg to the room and stays there until
    /// the call leaves it (the hub says why) or ends.
    async fn conference(
        &mut self,
        name: String,
        options: ParticipantOptions,
        wait: WaitAudio,
        hangup_on_star: bool,
        time_limit: Duration,
    ) -> Result<(), End> {
        let Some(player) = self.player.take() else {
            self.script.join_failed(&JoinError::Full);
            return Ok(());
        };
        let (socket, remote) = player.into_parts();
        let (notify, mut notices) = mpsc::channel(16);
        let (initial_wait, wait_url) = match wait {
            WaitAudio::BuiltIn => (Some(hold_music()), None),
            WaitAudio::Silence => (None, None),
            // Silent until the waitUrl's first audio is ready.
            WaitAudio::Url { url, method } => (None, Some(WaitAudio::Url { url, method })),
        };
        let leg = LegHandover {
            socket,
            config: leg_config(&self.audio, remote),
            wait: initial_wait,
            hangup_on_star,
            held: self.held,
            notify,
        };
        let request = JoinRequest {
            account: self.info.account_sid.clone(),
            name,
            call: self.sid.clone(),
            options,
        };
        let joined = match self.svc.hub.join_call(request, leg).await {
            Ok(joined) => joined,
            Err(CallJoinFailed { failure, leg }) => {
                tracing::info!(error = %failure, "the call could not join the conference");
                if let Some(leg) = leg {
                    self.player = Some(Player::new(
                        leg.socket,
                        &self.audio,
                        leg.config.remote,
                        self.held,
                    ));
                }
                let error = match failure {
                    JoinFailure::Rules(e) => e,
                    JoinFailure::Unavailable => JoinError::Full,
                };
                self.script.join_failed(&error);
                return Ok(());
            }
        };
        tracing::info!(conference_sid = %joined.joined.conference, "joined the conference");
        let mut wait = match (wait_url, joined.room) {
            (Some(audio), Some(room)) if joined.joined.status == model::ConferenceStatus::Init => {
                Some(Wait::new(
                    WaitScript::new(audio, self.info.clone()),
                    room,
                    self.sid.clone(),
                ))
            }
            _ => None,
        };
        let time_up = tokio::time::Instant::now() + time_limit;
        let mut limit_asked = false;
        loop {
            if let Some(w) = &mut wait {
                w.pump(&self.svc.http, &self.token, &self.svc.metrics).await;
            }
            let step = async {
                match wait.as_mut().and_then(|w| w.pending.as_mut()) {
                    Some(pending) => pending.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                notice = notices.recv() => match notice {
                    Some(CallNotice::Left { reason, leg }) => {
                        tracing::info!(?reason, "left the conference");
                        if let Some(leg) = leg {
                            // Registered with this runtime again: the room read it on its own.
                            match tokio::net::UdpSocket::from_std(leg.socket) {
                                Ok(socket) => {
                                    self.player = Some(Player::new(socket, &self.audio, leg.remote, self.held));
                                }
                                Err(e) => tracing::warn!(error = %e, "RTP socket lost leaving the room"),
                            }
                        }
                        self.script.left_conference(reason);
                        return Ok(());
                    }
                    Some(CallNotice::WaitEnded) => {
                        if let Some(w) = &mut wait {
                            w.script.finished();
                        }
                    }
                    Some(CallNotice::Started) => wait = None,
                    None => return Err(End::Shutdown),
                },
                done = step => {
                    if let Some(w) = &mut wait {
                        w.pending = None;
                        w.done(done).await;
                    }
                }
                event = self.events.recv() => match event {
                    None | Some(CallEvent::Ended(_)) => {
                        tracing::debug!("the SIP call ended in the conference");
                        self.svc.hub.leave(self.sid.clone(), LeaveReason::Hangup).await;
                        return Err(End::Gone);
                    }
                    Some(CallEvent::Acked) => {}
                    Some(CallEvent::Hold(held)) => {
                        self.held = held;
                        self.svc.hub.update_leg(self.sid.clone(), LegUpdate::Hold(held)).await;
                    }
                    Some(CallEvent::Media(audio)) => {
                        let remote = leg_config(&audio, None).remote;
                        self.audio = audio;
                        self.svc.hub.update_leg(self.sid.clone(), LegUpdate::Remote(remote)).await;
                    }
                },
                () = tokio::time::sleep_until(time_up), if !limit_asked => {
                    limit_asked = true;
                    tracing::info!("the <Dial> time limit is up");
                    // The hub's notice (TimeLimit, with the leg) follows.
                    self.svc.hub.leave(self.sid.clone(), LeaveReason::TimeLimit).await;
                }
                () = self.svc.stop.cancelled() => {
                    self.svc.hub.leave(self.sid.clone(), LeaveReason::Shutdown).await;
                    return Err(End::Shutdown);
                }
            }
        }
    }

    /// Records the end, hangs up if the call is still up, and tells the
    /// application (`CallStatus=completed`).
    async fn finish(mut self, end: End) {
        if end == End::Shutdown {
            self.sip.hangup(self.call).await;
        }
        let (status, failure) = match self.failure.take() {
            Some(failure) => {
                self.svc.metrics.call_failed();
                (CallStatus::FailedApplicationError, Some(failure))
            }
            None => (CallStatus::Complete, None),
        };
        let now = self.svc.clock.now();
        match self
            .svc
            .store
            .finish_call(&self.sid, status, now, failure.as_deref())
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the call had no record to finish"),
            Err(e) => tracing::error!(error = %e, "could not record the end of the call"),
        }
        if let Some(request) = self.script.call_ended() {
            let client = self.svc.http.clone();
            let token = self.token.clone();
            let metrics = self.svc.metrics.clone();
            let span = tracing::Span::current();
            self.svc.tracker.spawn(
                async move {
                    let sent = tokio::time::timeout(
                        COMPLETED_TIMEOUT,
                        fetch::webhook(&client, &request, &token, &metrics),
                    )
                    .await;
                    match sent {
                        Ok(Ok(_)) => tracing::debug!("end-of-call request sent"),
                        Ok(Err(e)) => tracing::info!(error = %e, "end-of-call request failed"),
                        Err(_) => tracing::info!("end-of-call request timed out"),
                    }
                }
                .instrument(span),
            );
        }
        tracing::info!(?end, ?status, "call ended");
    }
}

/// The wait audio of a `waitUrl` while the room is init: a
/// [`WaitScript`] whose actions run here and whose audio the room plays.
struct Wait {
    script: WaitScript,
    room: RoomHandle,
    sid: CallSid,
    pending: Option<Pending<WaitStep>>,
}

enum WaitStep {
    Fetched(Result<FetchedBody, FetchError>),
    Loaded(Result<Box<dyn AudioSource + Send>, AudioError>),
}

impl Wait {
    fn new(script: WaitScript, room: RoomHandle, sid: CallSid) -> Self {
        Self {
            script,
            room,
            sid,
            pending: None,
        }
    }

    /// Starts the script's next action, if nothing is under way.
    async fn pump(&mut self, client: &reqwest::Client, token: &AuthToken, metrics: &Arc<Metrics>) {
        while self.pending.is_none() {
            let Some(action) = self.script.poll_action() else {
                return;
            };
            let client = client.clone();
            let pending: Pending<WaitStep> =
                match action {
                    WaitAction::Fetch(request) => {
                        let token = token.clone();
                        let metrics = metrics.clone();
                        Box::pin(async move {
                            WaitStep::Fetched(
                                fetch::webhook(&client, &request, &token, &metrics).await,
                            )
                        })
                    }
                    WaitAction::PlayAudio { body, content_type } => Box::pin(async move {
                        WaitStep::Loaded(audio::decode(body, Some(content_type)).await.map(once))
                    }),
                    WaitAction::Say { text, voice, .. } => Box::pin(async move {
                        WaitStep::Loaded(audio::speak(&text, voice).await.map(once))
                    }),
                    WaitAction::Play { url } => Box::pin(async move {
                        WaitStep::Loaded(load_audio(client, url).await.map(once))
                    }),
                    WaitAction::Pause { duration } => {
                        let silence = Box::new(Silence::frames(frames(duration)));
                        self.room
                            .set_wait_source(self.sid.clone(), Some(silence))
                            .await;
                        return;
                    }
                    WaitAction::PlayHoldMusic => {
                        let music = Box::new(PcmSource::new(
                            media::hold_music::samples(),
                            Repeat::Times(1),
                        ));
                        self.room
                            .set_wait_source(self.sid.clone(), Some(music))
                            .await;
                        return;
                    }
                    WaitAction::Warn(warning) => {
                        tracing::info!(%warning, "wait audio");
                        continue;
                    }
                };
            self.pending = Some(pending);
        }
    }

    /// A fetch or a clip finished.
    async fn done(&mut self, step: WaitStep) {
        match step {
            WaitStep::Fetched(result) => self.script.fetched(result),
            WaitStep::Loaded(Ok(source)) => {
                self.room
                    .set_wait_source(self.sid.clone(), Some(source))
                    .await;
            }
            WaitStep::Loaded(Err(e)) => {
                tracing::info!(error = %e, "wait audio could not be played");
                self.script.media_failed();
            }
        }
    }
}

fn once(samples: Arc<[i16]>) -> Box<dyn AudioSource + Send> {
    Box::new(PcmSource::new(samples, Repeat::Times(1)))
}

fn hold_music() -> Box<dyn AudioSource + Send> {
    Box::new(media::hold_music::HoldMusic::new())
}

/// Fetches and decodes a `<Play>` file.
async fn load_audio(client: reqwest::Client, url: HttpUrl) -> Result<Arc<[i16]>, AudioError> {
    let body = fetch::audio(&client, &url).await?;
    let hint = body
        .content_type
        .or_else(|| url.as_url().path().rsplit('.').next().map(str::to_owned));
    audio::decode(body.body, hint).await
}

/// 20 ms frames in `duration`.
fn frames(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis() / 20).unwrap_or(u32::MAX)
}
