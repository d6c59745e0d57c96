//! One task per call: routing, then the thin driver of the call's sans-IO
//! core ([`calls::Call`]).
//!
//! A call starts when the SIP task reports an INVITE. The task routes it by
//! the Request-URI user: a number added with `confab numbers add` (the
//! call belongs to its account and runs its voice URL), else, with open
//! rooms on, the default account's room of that name (a built-in
//! `<Dial><Conference>`, no webhook), else 404. Routing needs the store, so
//! it stays here. Everything after (answer, record, the TwiML verbs, rooms,
//! wait audio, the `timeLimit`, hang-up, the end record and the end-of-call
//! request) is decided by [`calls::Call`]; this file only carries its
//! commands out ([`CallIo::execute`]: SIP, webhooks, espeak-ng and
//! decoding, the [`Player`], the hub, the store, metrics) and brings every
//! result, SIP event, room notice, player tick, the stop signal and the
//! timer back as an input ([`drive`], one `select!`).
//!
//! Keys the caller presses out of a room (RFC 4733 and in-band ones the
//! player hears, SIP INFO ones the SIP task reports) go to the core as
//! [`CallInput::Digit`], each as soon as it is read; in a room they go to
//! the hub. While the core gathers keys, the player is read every 20 ms.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use calls::{
    Call, CallCommand, CallInput, Clip, ClipSource, LegChange, LogLine, RecordChange, ReqId,
    RoomNotice, ScriptSource, SipNotice,
};
use conference::{JoinError, LeaveReason};
use media::{AudioSource, PcmSource, Repeat, Silence, TICK};
use model::{Account, AuthToken, CallRecord, CallSid, ConferenceSid, PhoneNumber};
use sip::sdp::NegotiatedAudio;
use sip::{IncomingCall, StatusCode};
use store::StoreError;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use twiml::{CallInfo, FetchError, FetchedBody, HttpUrl};

use crate::audio::{self, AudioError};
use crate::cluster::Cluster;
use crate::hub::{CallJoinFailed, HubHandle, JoinFailure};
use crate::live_calls::{CallStop, LiveCall, LiveCalls};
use crate::membership::{CallNotice, LegHandover, LegUpdate, RoomReport};
use crate::metrics::{ActiveCall, Metrics};
use crate::player::{Player, leg_config, leg_media};
use crate::room::RoomHandle;
use crate::rtp_activity::RtpActivity;
use crate::rtp_ports::RtpPorts;
use crate::sip_task::{CallEvent, SipHandle};
use crate::{Clock, fetch, ids, room_audio};

/// How often the player's socket is read while no clip plays: a silent
/// caller is noticed this much after the `--rtp-timeout` at the latest.
const IDLE_DRAIN: Duration = Duration::from_secs(1);
/// How long a redirected call waits for its room to hand its leg back.
const REDIRECT_LEAVE: Duration = Duration::from_secs(5);
/// How long the end-of-call request may take (it is not waited for).
const COMPLETED_TIMEOUT: Duration = Duration::from_secs(10);

/// What every call task shares.
#[derive(Debug)]
pub struct CallServices {
    pub store: store::Store,
    pub hub: HubHandle,
    pub clock: Arc<dyn Clock>,
    pub ports: RtpPorts,
    /// `--public-addr`, when it is set (browser legs advertise it).
    pub public_addr: Option<std::net::IpAddr>,
    pub http: reqwest::Client,
    /// How long a TwiML webhook may take (the call's `Webhook` timer; the
    /// HTTP client has the same timeout).
    pub webhook_timeout: Duration,
    /// Unknown numbers join the default account's room of that name.
    pub open_rooms: bool,
    /// `--rtp-timeout` (`None`: off).
    pub rtp_timeout: Option<Duration>,
    pub metrics: Arc<Metrics>,
    /// This node among several (`--node-id`), if it is one.
    pub cluster: Option<Arc<Cluster>>,
    /// Server shutdown or a fence: every call up then hangs up.
    pub stop: Arc<CallStop>,
    pub tracker: TaskTracker,
    /// The calls that are up, for the API's updates.
    pub live: LiveCalls,
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

/// A call we placed (`outbound`), answered: what its task starts from.
pub(crate) struct Placed {
    pub info: CallInfo,
    pub token: AuthToken,
    pub script: ScriptSource,
    pub call: sip::CallId,
    pub sip: SipHandle,
    pub events: mpsc::Receiver<CallEvent>,
    /// The callee's answer to our offer.
    pub audio: NegotiatedAudio,
    /// The RTP socket our offer named, and its RTCP twin.
    pub socket: UdpSocket,
    pub rtcp: Option<Arc<std::net::UdpSocket>>,
}

/// Runs an answered call we placed through the same core as an incoming
/// one, in the caller's task: its script from the start, the record
/// already written (`CallIo::placed`).
pub(crate) async fn run_placed(svc: Arc<CallServices>, placed: Placed) {
    let Placed {
        info,
        token,
        script,
        call,
        sip,
        events,
        audio,
        socket,
        rtcp,
    } = placed;
    let now = Instant::now().into_std();
    let core = Call::new(info.clone(), script, svc.webhook_timeout, now)
        .with_rtp_timeout(svc.rtp_timeout, audio.on_hold());
    let rtp_port = socket.local_addr().map_or(0, |a| a.port());
    let mut io = CallIo::new(svc, token, info, call, sip, events, audio);
    io.socket = Some(socket);
    io.rtcp = rtcp;
    io.rtp_port = rtp_port;
    io.placed = true;
    drive(core, io).await;
}

/// How a call routes.
struct Route {
    account: Account,
    number: Option<PhoneNumber>,
    script: ScriptSource,
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
    let info = CallInfo {
        call_sid: sid.clone(),
        account_sid: route.account.sid.clone(),
        caller: incoming.from_user.clone().unwrap_or_default(),
        called: incoming.request_uri_user.clone().unwrap_or_default(),
    };
    // With several nodes, a caller whose room runs on another node is sent
    // there before it is answered.
    let mut prefetched = None;
    if let Some(cluster) = &svc.cluster {
        // The caller hears ringback while the voice URL is asked.
        sip.ringing(call).await;
        match place(&svc, cluster, &info, &route).await {
            Placement::Here(fetched) => prefetched = fetched,
            Placement::Elsewhere(target) => {
                tracing::info!(%target, "the call's room runs on another node: 302");
                sip.redirect(call, target).await;
                return;
            }
        }
    }
    // A delayed offer: the ACK's answer comes before the answer is
    // reported to the core (`CallIo::await_answer`).
    let awaiting_answer = incoming.audio.is_none();
    let audio = incoming.audio.unwrap_or_else(sip::sdp::offered_audio);
    let now = Instant::now().into_std();
    let core = Call::new(info.clone(), route.script, svc.webhook_timeout, now)
        .with_rtp_timeout(svc.rtp_timeout, audio.on_hold());
    svc.live.insert(
        sid.clone(),
        LiveCall {
            account: route.account.sid.clone(),
            sip: call,
            answered: true,
            redirect: None,
        },
    );
    let live = svc.live.clone();
    let mut io = CallIo::new(
        svc,
        route.account.auth_token,
        info,
        call,
        sip,
        events,
        audio,
    );
    io.phone_number_sid = route.number.map(|n| n.sid);
    io.awaiting_answer = awaiting_answer;
    io.arrival = incoming.arrival;
    io.prefetched = prefetched;
    drive(core, io).await;
    live.remove(&sid);
}

/// Where a call's room runs, with several nodes.
enum Placement {
    /// Here (or the script joins no room first): the voice URL's answer if
    /// it was fetched to find out.
    Here(Option<Result<FetchedBody, FetchError>>),
    /// On another node: where to redirect the caller (the number dialled,
    /// at that node).
    Elsewhere(sip::SipUri),
}

/// Runs the call's script, unanswered, up to its first action: a call whose
/// script begins by joining a room another node runs belongs on that node.
/// The fetch this takes is the one the call makes first (handed to it as
/// [`CallIo::prefetched`]), so the voice URL is asked once, like Twilio
/// asks it, before the call is answered.
async fn place(svc: &CallServices, cluster: &Cluster, info: &CallInfo, route: &Route) -> Placement {
    let mut script = match &route.script {
        ScriptSource::Webhook(url, method) => {
            twiml::CallScript::new(info.clone(), url.clone(), *method)
        }
        ScriptSource::Verbs(verbs) => twiml::CallScript::from_verbs(info.clone(), verbs.clone()),
    };
    let mut prefetched = None;
    loop {
        match script.poll_action() {
            Some(twiml::Action::Fetch(request)) if prefetched.is_none() => {
                let token = &route.account.auth_token;
                let result = fetch::webhook(&svc.http, &request, token, &svc.metrics).await;
                script.fetched(result.clone());
                prefetched = Some(result);
            }
            Some(twiml::Action::Warn(_)) => {}
            Some(twiml::Action::JoinConference { name, .. }) => {
                let Some(owner) = cluster.room_elsewhere(&info.account_sid, &name).await else {
                    return Placement::Here(prefetched);
                };
                let addr = owner.sip_addr.as_deref();
                let Some(addr) = addr.and_then(|a| a.parse::<std::net::SocketAddr>().ok()) else {
                    tracing::warn!(
                        node = owner.node_id,
                        "the call's room runs on a node with no SIP address to send it to"
                    );
                    return Placement::Here(prefetched);
                };
                let mut target = sip::SipUri::new(sip::Host::Ip(addr.ip()), Some(addr.port()));
                target.user = Some(info.called.clone());
                return Placement::Elsewhere(target);
            }
            _ => return Placement::Here(prefetched),
        }
    }
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
    let Some(verbs) = calls::open_room(user) else {
        return Ok(None);
    };
    Ok(Some(Route {
        account,
        number: None,
        script: ScriptSource::Verbs(verbs),
    }))
}

/// The call's I/O: what the core's commands act on.
struct CallIo {
    svc: Arc<CallServices>,
    token: AuthToken,
    info: CallInfo,
    phone_number_sid: Option<model::PhoneNumberSid>,
    call: sip::CallId,
    sip: SipHandle,
    /// `None` once the SIP task closed it (the call is over).
    events: Option<mpsc::Receiver<CallEvent>>,
    /// The SDP as last negotiated, and whether the caller holds: what a
    /// player or a room leg is made from.
    audio: NegotiatedAudio,
    /// A delayed offer: `audio` is our offer's until the ACK's answer.
    awaiting_answer: bool,
    /// An input the core needs right after the one a command returned
    /// (a delayed offer answered on hold: `Answered`, then the hold).
    follow_up: Option<CallInput>,
    held: bool,
    /// The bound RTP socket, until the player takes it.
    socket: Option<UdpSocket>,
    /// The RTCP socket on the odd port above it, if that was free (shared
    /// with the player or the room, which read it on their ticks).
    rtcp: Option<Arc<std::net::UdpSocket>>,
    rtp_port: u16,
    /// The local address the INVITE arrived on: RTP is bound there.
    arrival: Option<std::net::IpAddr>,
    /// The call's media when it is not lent to a room.
    player: Option<Player>,
    /// The clip playing, and the 20 ms ticks that drive the player.
    playing: Option<(ReqId, Interval)>,
    /// When the caller last sent RTP, recorded by the player or the room.
    activity: RtpActivity,
    /// Reads the player's socket while no clip plays (for the activity).
    idle_drain: Interval,
    /// Ticks the player while the core gathers keys and no clip plays.
    listen: Interval,
    /// The room the call is in, and what it tells the call.
    room: Option<RoomHandle>,
    /// The conference the call is in, for the digits it reports.
    conference: Option<ConferenceSid>,
    notices: Option<mpsc::Receiver<CallNotice>>,
    /// Fetches and clips under way, polled by this task itself (not
    /// spawned): cancelling one drops it at once, and a dropped webhook is
    /// counted as failed (`fetch::webhook`).
    work: Vec<(ReqId, Work)>,
    /// Clips made, until the core forgets them.
    clips: HashMap<ReqId, Arc<[i16]>>,
    stop_sent: bool,
    /// Cancelled at shutdown or a fence ([`CallStop`]).
    stop: CancellationToken,
    _active: Option<ActiveCall>,
    /// A call we placed (`run_placed`): answered and recorded already, its
    /// RTP bound before the INVITE, its webhooks say `Direction`.
    placed: bool,
    /// New scripts from the API (`POST Calls/{CA}` with `Url`/`Twiml`).
    redirects: Option<mpsc::Receiver<ScriptSource>>,
    /// The core runs a redirect's script: the call is answered, bound and
    /// recorded already (`CallIo::redirect`).
    resumed: bool,
    /// The voice URL's answer, fetched before the call was answered to
    /// find the node its room runs on (`place`): the core's first fetch.
    prefetched: Option<Result<FetchedBody, FetchError>>,
}

/// A fetch or a clip being made.
type Work = Pin<Box<dyn Future<Output = Done> + Send>>;

/// A finished fetch or clip.
enum Done {
    Fetched(ReqId, Result<FetchedBody, FetchError>),
    Clip(ReqId, Result<Arc<[i16]>, AudioError>),
}

/// What woke the driver.
enum Wake {
    Sip(Option<CallEvent>),
    Room(Option<CallNotice>),
    Work(Done),
    Tick,
    Drain,
    Listen,
    Stop,
    Timer,
    Redirect(Option<ScriptSource>),
}

/// The call task after routing: drain the core's commands, then wait for
/// the next input (one `select!`), until the call is finished.
async fn drive(mut call: Call, mut io: CallIo) {
    // A redirect replaces `call` (the core) with one running the new script.
    let mut ready = VecDeque::new();
    loop {
        while let Some(command) = call.poll_command() {
            ready.extend(io.execute(command).await);
            ready.extend(io.follow_up.take());
        }
        if let Some(input) = ready.pop_front() {
            call.handle(input, Instant::now().into_std());
            continue;
        }
        if call.is_finished() {
            return;
        }
        let deadline = call.poll_timeout().map(|(at, _)| Instant::from_std(at));
        if deadline.is_some_and(|at| at <= Instant::now()) {
            // Overdue: handled before polling anything (quinn 76020ba4).
            io.timeout(&mut call);
            continue;
        }
        let listening = call.gathering() && io.player.is_some() && io.playing.is_none();
        let idle = io.player.is_some() && io.playing.is_none() && !listening;
        let wake = tokio::select! {
            event = recv(&mut io.events) => Wake::Sip(event),
            notice = recv(&mut io.notices) => Wake::Room(notice),
            done = next_done(&mut io.work), if !io.work.is_empty() => Wake::Work(done),
            () = tick(&mut io.playing) => Wake::Tick,
            _ = io.idle_drain.tick(), if idle => Wake::Drain,
            _ = io.listen.tick(), if listening => Wake::Listen,
            () = io.stop.cancelled(), if !io.stop_sent => Wake::Stop,
            () = sleep_until(deadline) => Wake::Timer,
            script = recv(&mut io.redirects) => Wake::Redirect(script),
        };
        let input = match wake {
            Wake::Sip(event) => io.sip_event(event),
            Wake::Room(notice) => io.notice(notice),
            Wake::Work(done) => Some(io.done(done)),
            Wake::Tick => io.tick(),
            Wake::Drain => {
                if let Some(player) = &mut io.player {
                    player.drain(std::time::Instant::now());
                }
                None
            }
            Wake::Listen => {
                if let Some(player) = &mut io.player {
                    // Silence goes out; in-band keys are heard on ticks.
                    let _ = player.tick(std::time::Instant::now());
                }
                None
            }
            Wake::Stop => {
                io.stop_sent = true;
                Some(CallInput::Shutdown)
            }
            Wake::Timer => {
                io.timeout(&mut call);
                None
            }
            Wake::Redirect(Some(script)) => {
                call = io.redirect(script).await;
                continue;
            }
            Wake::Redirect(None) => {
                io.redirects = None;
                None
            }
        };
        if let Some(input) = input {
            call.handle(input, Instant::now().into_std());
        }
        io.keys(&mut call);
    }
}

/// The next message of a channel that may be closed (`None`: never).
async fn recv<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The first of `work` to finish, taken out of it.
async fn next_done(work: &mut Vec<(ReqId, Work)>) -> Done {
    std::future::poll_fn(|cx| {
        for i in 0..work.len() {
            if let Some((_, future)) = work.get_mut(i)
                && let Poll::Ready(done) = future.as_mut().poll(cx)
            {
                drop(work.swap_remove(i)); // finished: nothing left to poll
                return Poll::Ready(done);
            }
        }
        Poll::Pending
    })
    .await
}

/// The next 20 ms tick while a clip plays (never otherwise).
async fn tick(playing: &mut Option<(ReqId, Interval)>) {
    match playing {
        Some((_, ticks)) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl CallIo {
    /// A call's I/O as it starts: no socket yet (an incoming call binds one
    /// when its core asks), in no room, playing nothing; a call placed or
    /// routed from a number sets what differs.
    fn new(
        svc: Arc<CallServices>,
        token: AuthToken,
        info: CallInfo,
        call: sip::CallId,
        sip: SipHandle,
        events: mpsc::Receiver<CallEvent>,
        audio: NegotiatedAudio,
    ) -> Self {
        let mut idle_drain = tokio::time::interval(IDLE_DRAIN);
        idle_drain.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut listen = tokio::time::interval(TICK);
        listen.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let redirects = svc.live.take_redirects(&info.call_sid);
        let stop = svc.stop.token();
        Self {
            svc,
            token,
            info,
            phone_number_sid: None,
            call,
            sip,
            events: Some(events),
            held: audio.on_hold(),
            audio,
            awaiting_answer: false,
            follow_up: None,
            socket: None,
            rtcp: None,
            rtp_port: 0,
            arrival: None,
            player: None,
            playing: None,
            activity: RtpActivity::new(Instant::now().into_std()),
            idle_drain,
            listen,
            room: None,
            conference: None,
            notices: None,
            work: Vec::new(),
            clips: HashMap::new(),
            stop_sent: false,
            stop,
            _active: None,
            placed: false,
            redirects,
            resumed: false,
            prefetched: None,
        }
    }

    /// A deadline of the core's is due: it hears of the caller's latest RTP
    /// first (what the player's socket holds too), so that the
    /// `RtpInactivity` timer fires only for a caller really silent.
    fn timeout(&mut self, call: &mut Call) {
        let now = Instant::now().into_std();
        if let Some(player) = &mut self.player {
            player.drain(now);
        }
        if let Some(at) = self.activity.last() {
            call.handle(CallInput::RtpSeen(at), now);
        }
        // A key that came before the deadline counts (a Gather's timeout).
        self.keys(call);
        call.handle_timeout(now);
    }

    /// Hands the core every key the player heard, oldest first.
    fn keys(&mut self, call: &mut Call) {
        while let Some(digit) = self.player.as_mut().and_then(Player::poll_digit) {
            tracing::debug!(%digit, "DTMF (media), out of a room");
            call.handle(CallInput::Digit(digit.as_char()), Instant::now().into_std());
        }
    }

    /// Carries out one command; a result the core needs at once comes back.
    async fn execute(&mut self, command: CallCommand) -> Option<CallInput> {
        match command {
            CallCommand::BindRtp if self.placed || self.resumed => {
                return Some(CallInput::RtpBound(Some(self.rtp_port)));
            }
            CallCommand::BindRtp => {
                let bound = self
                    .svc
                    .ports
                    .bind_pair(self.arrival)
                    .and_then(|(socket, rtcp)| Ok((socket.local_addr()?.port(), socket, rtcp)));
                match bound {
                    Ok((port, socket, rtcp)) => {
                        self.rtp_port = port;
                        self.socket = Some(socket);
                        self.rtcp = rtcp;
                        return Some(CallInput::RtpBound(Some(port)));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "no RTP port for a call: 503");
                        return Some(CallInput::RtpBound(None));
                    }
                }
            }
            CallCommand::RejectUnavailable => {
                self.svc.metrics.call_failed();
                self.sip
                    .reject(self.call, StatusCode::SERVICE_UNAVAILABLE)
                    .await;
            }
            CallCommand::Answer { .. } if self.resumed => return Some(CallInput::Answered(true)),
            CallCommand::Answer { .. } if self.placed => return Some(self.placed_answered()),
            CallCommand::Answer { rtp_port } => {
                if let Err(e) = self.sip.answer(self.call, rtp_port).await {
                    tracing::debug!(error = %e, "the call ended before it was answered");
                    return Some(CallInput::Answered(false));
                }
                if self.awaiting_answer {
                    if !self.await_answer().await {
                        tracing::debug!("the ACK brought no usable answer to our offer");
                        return Some(CallInput::Answered(false));
                    }
                    // The core started on our offer's sendrecv.
                    if self.held {
                        self.follow_up = Some(CallInput::Sip(SipNotice::Hold(true)));
                    }
                }
                self._active = Some(self.svc.metrics.call_answered());
                if let Some(socket) = self.socket.take() {
                    self.player = Some(self.new_player(socket, None));
                }
                return Some(CallInput::Answered(true));
            }
            CallCommand::Hangup => self.sip.hangup(self.call).await,
            CallCommand::Fetch { id, mut request } => {
                if let Some(result) = self.prefetched.take() {
                    return Some(CallInput::Fetched { id, result });
                }
                if self.placed {
                    request.params.push("Direction", "outbound-api");
                }
                let client = self.svc.http.clone();
                let token = self.token.clone();
                let metrics = self.svc.metrics.clone();
                self.spawn(id, async move {
                    Done::Fetched(
                        id,
                        fetch::webhook(&client, &request, &token, &metrics).await,
                    )
                });
            }
            CallCommand::Cancel { id } => {
                self.work.retain(|(work, _)| *work != id);
                if self
                    .playing
                    .as_ref()
                    .is_some_and(|(playing, _)| *playing == id)
                {
                    self.playing = None;
                    if let Some(player) = &mut self.player {
                        player.stop();
                    }
                }
            }
            CallCommand::MakeClip { id, source } => {
                let client = self.svc.http.clone();
                match source {
                    ClipSource::Say { text, voice } => self.spawn(id, async move {
                        Done::Clip(id, audio::speak(&text, voice).await)
                    }),
                    ClipSource::Url(url) => {
                        tracing::debug!(%url, "<Play>");
                        self.spawn(
                            id,
                            async move { Done::Clip(id, audio::load(client, url).await) },
                        );
                    }
                    ClipSource::Audio { body, content_type } => self.spawn(id, async move {
                        Done::Clip(id, audio::decode(body, Some(content_type)).await)
                    }),
                }
            }
            CallCommand::ForgetClip { id } => {
                self.clips.remove(&id);
            }
            CallCommand::Play { id, clip } => {
                let source = self.source(&clip);
                match (self.player.as_mut(), source) {
                    (Some(player), Some(source)) => {
                        player.play(source);
                        let mut ticks = tokio::time::interval(TICK);
                        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
                        self.playing = Some((id, ticks));
                    }
                    // Nothing to play on, or nothing to play: over at once.
                    _ => return Some(CallInput::PlayEnded { id }),
                }
            }
            CallCommand::Join {
                request,
                wait,
                hangup_on_star,
            } => return Some(self.join(request, wait, hangup_on_star).await),
            CallCommand::Leave(reason) => {
                self.svc.hub.leave(self.info.call_sid.clone(), reason).await;
            }
            CallCommand::UpdateLeg(change) => {
                let update = match change {
                    LegChange::Hold(held) => LegUpdate::Hold(held),
                    LegChange::Moved => LegUpdate::Media(leg_media(&self.audio)),
                };
                self.svc
                    .hub
                    .update_leg(self.info.call_sid.clone(), update)
                    .await;
            }
            CallCommand::UpdatePlayer(change) => {
                if let Some(player) = &mut self.player {
                    match change {
                        LegChange::Hold(held) => player.set_hold(held),
                        LegChange::Moved => player.renegotiate(leg_media(&self.audio)),
                    }
                }
            }
            CallCommand::SetWaitSource(clip) => {
                let source = clip.and_then(|clip| self.source(&clip));
                if let Some(room) = &self.room {
                    room.set_wait_source(self.info.call_sid.clone(), source)
                        .await;
                }
            }
            CallCommand::Record(RecordChange::Start) if self.resumed => {}
            CallCommand::Record(RecordChange::Start) if self.placed => self.placed_recorded().await,
            CallCommand::Record(change) => self.record(change).await,
            // The end of a placed call is its StatusCallback's (`outbound`).
            CallCommand::Notify(_) if self.placed => {}
            CallCommand::Notify(request) => self.notify(request),
            CallCommand::Log(line) => log(line),
        }
        None
    }

    /// A delayed offer's answer: the ACK's SDP comes as `Media` before
    /// `Acked`, and the call's media is made from it. `false` if the call
    /// ended instead (no usable answer: the SIP task sent BYE; or no ACK).
    async fn await_answer(&mut self) -> bool {
        loop {
            match recv(&mut self.events).await {
                Some(CallEvent::Media(audio)) => {
                    self.held = audio.on_hold();
                    self.audio = audio;
                }
                Some(CallEvent::Hold(held)) => self.held = held,
                Some(CallEvent::Acked) => {
                    self.awaiting_answer = false;
                    return true;
                }
                // A key before the ACK has no room to go to; the others
                // are a placed call's, which is answered by then.
                Some(
                    CallEvent::Digit(_)
                    | CallEvent::Ringing
                    | CallEvent::Answered(_)
                    | CallEvent::DialFailed(_),
                ) => {}
                Some(CallEvent::Ended(by)) => {
                    tracing::debug!(?by, "the SIP call ended before its answer");
                    return false;
                }
                None => {
                    self.events = None;
                    return false;
                }
            }
        }
    }

    /// `POST Calls/{CA}` with `Url` or `Twiml`: what the call does stops
    /// (its fetches and clips dropped, its room left, the leg back from
    /// it) and a new core runs `script` on the same answered, recorded
    /// call. The old core is dropped without its end: the call goes on.
    async fn redirect(&mut self, script: ScriptSource) -> Call {
        tracing::info!("redirected by the API");
        self.work.clear();
        self.clips.clear();
        if self.playing.take().is_some()
            && let Some(player) = &mut self.player
        {
            player.stop();
        }
        if self.room.is_some() {
            let call = self.info.call_sid.clone();
            self.svc.hub.leave(call, LeaveReason::Kicked).await;
            // The leg comes back with the room's `Left` (bounded: a room
            // that is gone sends nothing, and its channel closes).
            let until = Instant::now() + REDIRECT_LEAVE;
            while let Ok(notice) = tokio::time::timeout_at(until, recv(&mut self.notices)).await {
                match notice {
                    Some(CallNotice::Left { .. }) | None => {
                        let _ = self.notice(notice);
                        break;
                    }
                    Some(_) => {}
                }
            }
            self.room = None;
            self.conference = None;
            self.notices = None;
        }
        self.resumed = true;
        let now = Instant::now().into_std();
        Call::new(self.info.clone(), script, self.svc.webhook_timeout, now)
            .with_rtp_timeout(self.svc.rtp_timeout, self.held)
    }

    /// A placed call is answered already (the callee's 200, our ACK): its
    /// media starts on the socket our offer named.
    fn placed_answered(&mut self) -> CallInput {
        self._active = Some(self.svc.metrics.call_answered());
        if let Some(socket) = self.socket.take() {
            self.player = Some(self.new_player(socket, None));
        }
        CallInput::Answered(true)
    }

    /// A placed call's record exists (queued since the API asked): it is
    /// in progress from now.
    async fn placed_recorded(&mut self) {
        let now = self.svc.clock.now();
        match self.svc.store.answer_call(&self.info.call_sid, now).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the placed call had no queued or ringing record"),
            Err(e) => tracing::error!(error = %e, "could not record the answer of a placed call"),
        }
        tracing::info!(account_sid = %self.info.account_sid, rtp_port = self.rtp_port, "placed call answered");
    }

    /// The call's own media on `socket`, sending to `remote` (or the SDP's).
    fn new_player(&self, socket: UdpSocket, remote: Option<std::net::SocketAddr>) -> Player {
        Player::new(
            socket,
            &self.audio,
            remote,
            self.held,
            self.activity.clone(),
            self.rtcp.clone(),
        )
    }

    fn spawn(&mut self, id: ReqId, work: impl Future<Output = Done> + Send + 'static) {
        self.work.push((id, Box::pin(work)));
    }

    /// Audio for the player or the room.
    fn source(&self, clip: &Clip) -> Option<Box<dyn AudioSource + Send>> {
        Some(match clip {
            Clip::Made(id) => Box::new(PcmSource::new(
                self.clips.get(id)?.clone(),
                Repeat::Times(1),
            )),
            Clip::Silence(duration) => Box::new(Silence::frames(frames(*duration))),
            Clip::ErrorTone => Box::new(media::tone::Tone::error()),
            Clip::HoldMusicOnce => Box::new(PcmSource::new(
                media::hold_music::samples(),
                Repeat::Times(1),
            )),
            Clip::HoldMusicForever => Box::new(media::hold_music::HoldMusic::new()),
        })
    }

    /// `<Dial><Conference>`: hands the leg to the room.
    async fn join(
        &mut self,
        request: conference::JoinRequest,
        wait: Option<Clip>,
        hangup_on_star: bool,
    ) -> CallInput {
        self.playing = None;
        let Some(player) = self.player.take() else {
            return CallInput::JoinFailed {
                error: JoinError::Full,
                reason: JoinFailure::Unavailable.to_string(),
                media_back: false,
            };
        };
        let (socket, remote) = player.into_parts();
        let (notify, notices) = mpsc::channel(16);
        let leg = LegHandover {
            socket,
            config: leg_config(&self.audio, remote),
            wait: wait.and_then(|clip| self.source(&clip)),
            hangup_on_star,
            held: self.held,
            activity: self.activity.clone(),
            rtcp_mux: self.audio.rtcp_mux,
            rtcp: self.rtcp.clone(),
            notify,
        };
        match self.svc.hub.join_call(request, leg).await {
            Ok(joined) => {
                let has_room = joined.room.is_some();
                self.room = joined.room;
                self.conference = Some(joined.joined.conference.clone());
                self.notices = Some(notices);
                CallInput::Joined {
                    conference: joined.joined.conference,
                    status: joined.joined.status,
                    has_room,
                }
            }
            Err(CallJoinFailed { failure, leg }) => {
                if let Some(leg) = leg {
                    self.player = Some(self.new_player(leg.socket, leg.config.remote));
                }
                let reason = failure.to_string();
                let error = match failure {
                    JoinFailure::Rules(e) => e,
                    JoinFailure::Unavailable => JoinError::Full,
                };
                CallInput::JoinFailed {
                    error,
                    reason,
                    media_back: self.player.is_some(),
                }
            }
        }
    }

    /// A `HoldUrl` or `AnnounceUrl` for the call's room (2010 API): made
    /// in a task of its own, which hands it to the room.
    fn make_room_audio(&self, fetchable: api::Fetchable, purpose: room_audio::Purpose) {
        let Some(room) = self.room.clone() else {
            return;
        };
        let maker = room_audio::Maker {
            http: self.svc.http.clone(),
            token: self.token.clone(),
            metrics: self.svc.metrics.clone(),
            call: self.info.clone(),
        };
        // Tracked like every task of a call, so shutdown waits for it.
        self.svc
            .tracker
            .spawn(room_audio::play(maker, fetchable, purpose, room).in_current_span());
    }

    fn sip_event(&mut self, event: Option<CallEvent>) -> Option<CallInput> {
        let event = match event {
            None => {
                self.events = None;
                SipNotice::Ended
            }
            Some(CallEvent::Ended(by)) => {
                tracing::debug!(?by, "the SIP call ended");
                SipNotice::Ended
            }
            Some(CallEvent::DialFailed(failure)) => {
                tracing::debug!(?failure, "the SIP call ended");
                SipNotice::Ended
            }
            // A placed call runs its script once answered: these are past.
            Some(CallEvent::Ringing | CallEvent::Answered(_)) => return None,
            Some(CallEvent::Acked) => SipNotice::Acked,
            Some(CallEvent::Hold(held)) => {
                self.held = held;
                SipNotice::Hold(held)
            }
            Some(CallEvent::Media(audio)) => {
                self.audio = audio;
                SipNotice::MediaMoved
            }
            Some(CallEvent::Digit(digit)) => {
                tracing::debug!(?digit, "DTMF (SIP INFO)");
                // Where a room's own digits go: the hub decides (`*` with
                // hangupOnStar leaves). Out of a room, the core (a Gather).
                let Some(conference) = &self.conference else {
                    return Some(CallInput::Digit(digit.as_char()));
                };
                self.svc.hub.report(RoomReport::Digit {
                    conference: conference.clone(),
                    call: self.info.call_sid.clone(),
                    digit,
                });
                return None;
            }
        };
        Some(CallInput::Sip(event))
    }

    fn notice(&mut self, notice: Option<CallNotice>) -> Option<CallInput> {
        let notice = match notice {
            None => {
                self.notices = None;
                self.room = None;
                self.conference = None;
                RoomNotice::Gone
            }
            Some(CallNotice::Left { reason, leg }) => {
                self.notices = None;
                self.room = None;
                self.conference = None;
                if let Some(leg) = leg {
                    // Registered with this runtime again: the room read it on its own.
                    match UdpSocket::from_std(leg.socket) {
                        Ok(socket) => {
                            self.player = Some(self.new_player(socket, leg.remote));
                        }
                        Err(e) => tracing::warn!(error = %e, "RTP socket lost leaving the room"),
                    }
                }
                RoomNotice::Left {
                    reason,
                    media_back: self.player.is_some(),
                }
            }
            Some(CallNotice::WaitEnded) => RoomNotice::WaitEnded,
            Some(CallNotice::Started) => RoomNotice::Started,
            Some(CallNotice::HoldMusic(url)) => {
                let purpose = room_audio::Purpose::Hold(self.info.call_sid.clone());
                self.make_room_audio(url, purpose);
                return None;
            }
            Some(CallNotice::Announce { audio, to_room }) => {
                let to = (!to_room).then(|| self.info.call_sid.clone());
                self.make_room_audio(audio, room_audio::Purpose::Announce(to));
                return None;
            }
        };
        Some(CallInput::Room(notice))
    }

    fn done(&mut self, done: Done) -> CallInput {
        match done {
            Done::Fetched(id, result) => CallInput::Fetched { id, result },
            Done::Clip(id, made) => {
                let result = match made {
                    Ok(samples) => {
                        self.clips.insert(id, samples);
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                };
                CallInput::ClipMade { id, result }
            }
        }
    }

    /// One 20 ms step of the playing clip.
    fn tick(&mut self) -> Option<CallInput> {
        let done = self
            .player
            .as_mut()
            .is_none_or(|p| p.tick(std::time::Instant::now()));
        if !done {
            return None;
        }
        let (id, _) = self.playing.take()?;
        Some(CallInput::PlayEnded { id })
    }

    async fn record(&mut self, change: RecordChange) {
        match change {
            RecordChange::Start => {
                let now = self.svc.clock.now();
                let record = CallRecord {
                    phone_number_sid: self.phone_number_sid.clone(),
                    ..CallRecord::answered_inbound(
                        self.info.call_sid.clone(),
                        self.info.account_sid.clone(),
                        self.info.caller.clone(),
                        self.info.called.clone(),
                        now,
                    )
                };
                if let Err(e) = self.svc.store.insert_call(&record).await {
                    tracing::error!(error = %e, "could not record the call; it goes on unrecorded");
                }
                tracing::info!(account_sid = %self.info.account_sid, rtp_port = self.rtp_port, "call answered");
            }
            RecordChange::Finish { status, failure } => {
                if failure.is_some() {
                    self.svc.metrics.call_failed();
                }
                let now = self.svc.clock.now();
                match self
                    .svc
                    .store
                    .finish_call(&self.info.call_sid, status, now, failure.as_deref())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        "the call had no live record to end (none, or already ended)"
                    ),
                    Err(e) => tracing::error!(error = %e, "could not record the end of the call"),
                }
            }
        }
    }

    /// The end-of-call request, in a task of its own (not waited for).
    fn notify(&self, request: twiml::WebhookRequest) {
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
}

/// A line of the core's, at its level.
fn log(line: LogLine) {
    match line {
        LogLine::Tolerated(warning) => tracing::info!(%warning, "TwiML tolerated"),
        LogLine::FetchFailed(error) => tracing::info!(%error, "TwiML request failed"),
        LogLine::AudioFailed(error) => {
            tracing::warn!(%error, "audio for the caller could not be made; skipped");
        }
        LogLine::AppFailed(error) => tracing::warn!(%error, "the application failed the call"),
        LogLine::JoinFailed(error) => {
            tracing::info!(%error, "the call could not join the conference");
        }
        LogLine::Joined(conference_sid) => {
            tracing::info!(%conference_sid, "joined the conference");
        }
        LogLine::Left(reason) => tracing::info!(?reason, "left the conference"),
        LogLine::TimeLimitUp => tracing::info!("the <Dial> time limit is up"),
        LogLine::RtpTimeout(timeout) => {
            tracing::info!(
                ?timeout,
                "no RTP from the caller (--rtp-timeout): hanging up"
            );
        }
        LogLine::Wait(warning) => tracing::info!(%warning, "wait audio"),
        LogLine::WaitAudioFailed(error) => {
            tracing::info!(%error, "wait audio could not be played");
        }
        LogLine::Ended { end, status } => tracing::info!(?end, ?status, "call ended"),
    }
}

/// 20 ms frames in `duration`.
fn frames(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis() / 20).unwrap_or(u32::MAX)
}
