//! The tokio shell around confab's cores.
//!
//! [`Server::start`] opens nothing itself: it takes a connected
//! [`store::Store`], completes the conferences and calls a previous run left
//! live, and spawns the conference [`hub`], the one task that owns the
//! conference rules.
//! [`Server::listen_sip`] binds SIP (UDP and TCP) and starts taking calls;
//! the binary then hands [`Server::serve`] a bound HTTP listener (tests bind
//! `127.0.0.1:0` throughout).
//!
//! The tasks (`docs/architecture.md` draws them and the paths between them):
//! - the SIP task (`sip_task`) owns the SIP sockets and the `sip` engine,
//!   and applies `sip_guard` (who may call, how fast) in front of it;
//! - one task per call (`call`) routes it, then drives its sans-IO
//!   [`calls::Call`]: it carries out the call's commands (webhooks with
//!   `fetch`, `<Say>`/`<Play>` made by `audio` and played by a `player`,
//!   joins through the hub, the call's record) and feeds the results back;
//! - the [`hub`] owns the conference rules and persists every change;
//! - one task per live conference, its *room* (`room`), owns its legs' RTP
//!   sockets (from the `rtp_ports` pool) and mixes every 20 ms; "room"
//!   means only that here (the rules say "conference");
//! - what calls, the hub and rooms hand each other (a leg, a notice, a
//!   room's report) is typed in `membership`, which none of them owns;
//! - with `--node-id`, `cluster` keeps this node's lease, ends dead nodes'
//!   work, and carries the API's commands to the node that runs a room.
//!
//! They talk over bounded channels (but for a room's reports to the hub: a
//! room never waits, and sends at most one per leg). Side effects the cores
//! ask for are executed here; time comes from a [`Clock`], randomness from [`ids`].
//! Each counts what it does in the server's `metrics`, which the router
//! serves on `GET /metrics`.
//! Shutdown: calls hang up (BYE) and leave their conferences, the hub
//! completes what is left and writes it down, then SIP sends its last
//! messages.

pub mod accounts;
mod audio;
mod batch_recv;
mod browser;
mod browser_reach;
mod call;
pub mod clock;
mod cluster;
mod control;
mod fetch;
pub mod hub;
pub mod ids;
pub mod lenient;
mod live;
mod live_calls;
mod membership;
mod metrics;
mod mix_threads;
mod outbound;
mod player;
mod room;
mod room_audio;
mod rtp_activity;
mod rtp_ports;
mod sip_guard;
mod sip_task;
mod sip_udp;
mod status_callbacks;
mod webrtc;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[cfg(any(test, feature = "test-util"))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use cluster::{NodeConfig, valid_node_id};
pub use hub::{HubHandle, JoinFailure};
pub use sip_guard::{Networks, SipAllow, SourceLimits};
pub use sip_task::{SipAddrs, SipConfig, TcpLimits};

/// How long shutdown waits for calls to hang up and leave their conferences.
const CALLS_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the server shell (the binary builds these from its flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Participants a conference holds when its creator gave no
    /// `maxParticipants`.
    pub room_capacity: usize,
    /// Threads rooms mix on (`--mix-threads`), at least one: each room
    /// runs on one of them for its whole life.
    pub mix_threads: usize,
    /// `--node-id`: this server is one node of several on one PostgreSQL
    /// (`cluster`); its store must be that node's (`Store::with_node`).
    pub node: Option<NodeConfig>,
}

impl Default for Config {
    /// 40 participants a room; one mix thread per core this process may
    /// use; a single node.
    fn default() -> Self {
        Self {
            room_capacity: 40,
            mix_threads: usable_cores(),
            node: None,
        }
    }
}

/// The cores this process may run on (its CPU affinity and cgroup quota
/// count), at least one.
pub fn usable_cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Settings of the telephony side (the binary builds these from its flags).
#[derive(Debug, Clone)]
pub struct CallConfig {
    pub sip: SipConfig,
    /// The inclusive UDP port range of RTP legs (even ports are used).
    pub rtp_ports: (u16, u16),
    /// Calls to numbers nobody added join the default account's conference named
    /// after the number; off: 404. [`CallConfig::new`] turns them on only
    /// while SIP is bound to loopback ([`open_rooms_by_default`]).
    pub open_rooms: bool,
    /// How long a webhook or `<Play>` request may take.
    pub webhook_timeout: Duration,
    /// `--rtp-timeout`: a call whose caller sends no RTP this long while
    /// not on hold is hung up (a dead peer); `None` never is.
    pub rtp_timeout: Option<Duration>,
}

impl CallConfig {
    /// SIP on `bind`, RTP on `rtp_ports`, open rooms if `bind` is a
    /// loopback address, 10 s webhooks, a 60 s RTP timeout.
    pub fn new(bind: SocketAddr, rtp_ports: (u16, u16)) -> Self {
        Self {
            sip: SipConfig::new(bind),
            rtp_ports,
            open_rooms: open_rooms_by_default(bind.ip()),
            webhook_timeout: Duration::from_secs(10),
            rtp_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// Whether open rooms are on unless said otherwise, with SIP bound to
/// `bind`: only on loopback, where no stranger can dial in. Bound anywhere
/// else (a wildcard included), any caller could create rooms and listen in
/// by guessing names, so the operator must ask for them (`--open-rooms`).
pub fn open_rooms_by_default(bind: IpAddr) -> bool {
    bind.to_canonical().is_loopback()
}

/// A running confab: the store, the conference hub, and what stops them.
#[derive(Debug)]
pub struct Server {
    store: store::Store,
    clock: Arc<dyn Clock>,
    hub: HubHandle,
    hub_task: JoinHandle<()>,
    stop_hub: CancellationToken,
    calls: Option<Calls>,
    metrics: Arc<metrics::Metrics>,
    /// Places calls for the API, once SIP listens.
    dialer: Arc<OnceLock<outbound::Dialer>>,
    /// Makes browser legs of join links' offers, once SIP listens.
    browsers: browser::LateBrowsers,
    /// This node among several, if it is one.
    cluster: Option<Arc<cluster::Cluster>>,
    /// Stops the cluster's tasks (after the hub).
    stop_cluster: CancellationToken,
    /// What ends the calls: shutdown, or the cluster's fence.
    call_stop: Arc<live_calls::CallStop>,
}

/// The telephony side, once [`Server::listen_sip`] started it.
#[derive(Debug)]
struct Calls {
    sip_task: JoinHandle<()>,
    stop_sip: CancellationToken,
    tracker: TaskTracker,
}

impl Server {
    /// Recovers from a previous run and starts the conference hub.
    pub async fn start(
        store: store::Store,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, store::StoreError> {
        if let Some(node) = &config.node
            && store.node() != Some(node.id.as_str())
        {
            return Err(store::StoreError::Invalid(
                "a node's store must be that node's (Store::with_node)".into(),
            ));
        }
        let completed = store.complete_live_conferences(clock.now()).await?;
        if completed > 0 {
            tracing::info!(
                completed,
                "completed conferences left live by a previous run"
            );
        }
        let calls = store.complete_live_calls(clock.now()).await?;
        if calls > 0 {
            tracing::info!(calls, "completed calls left in progress by a previous run");
        }
        let stop_hub = CancellationToken::new();
        let metrics = Arc::new(metrics::Metrics::new());
        let mix = mix_threads::MixThreads::new(config.mix_threads, &metrics);
        tracing::debug!(threads = mix.count(), "mix threads");
        let (hub, hub_task) = hub::spawn(
            store.clone(),
            clock.clone(),
            config.room_capacity,
            stop_hub.clone(),
            metrics.clone(),
            mix,
        );
        let dialer: Arc<OnceLock<outbound::Dialer>> = Arc::default();
        let stop_cluster = CancellationToken::new();
        let call_stop = Arc::new(live_calls::CallStop::new(CancellationToken::new()));
        let cluster = match &config.node {
            Some(node) => {
                // Other nodes' commands are applied here as this node alone.
                let local = Arc::new(control::Control::new(hub.clone(), dialer.clone(), None));
                Some(
                    cluster::Cluster::start(
                        store.clone(),
                        node,
                        clock.clone(),
                        local,
                        call_stop.clone(),
                        stop_cluster.clone(),
                    )
                    .await?,
                )
            }
            None => None,
        };
        Ok(Self {
            store,
            clock,
            hub,
            hub_task,
            stop_hub,
            calls: None,
            metrics,
            dialer,
            browsers: browser::LateBrowsers::default(),
            cluster,
            stop_cluster,
            call_stop,
        })
    }

    /// Binds SIP on UDP and TCP and starts taking calls. Returns where it
    /// listens (port 0 picks one free port for both).
    pub async fn listen_sip(&mut self, config: CallConfig) -> std::io::Result<SipAddrs> {
        let (udp, tcp) = sip_task::bind(config.sip.bind).await?;
        let http = fetch::client(config.webhook_timeout).map_err(std::io::Error::other)?;
        // Render the hold music now, so that no room's tick pays for it.
        let _ = media::hold_music::samples();
        let stop_sip = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (low, high) = config.rtp_ports;
        let ports = rtp_ports::RtpPorts::new(config.sip.bind.ip(), low, high);
        tracing::debug!(ports = ports.capacity(), "RTP port pool");
        let services = Arc::new(call::CallServices {
            store: self.store.clone(),
            hub: self.hub.clone(),
            clock: self.clock.clone(),
            ports,
            public_addr: config.sip.fixed_public_addr(),
            http,
            webhook_timeout: config.webhook_timeout,
            rtp_timeout: config.rtp_timeout,
            open_rooms: config.open_rooms,
            metrics: self.metrics.clone(),
            stop: self.call_stop.clone(),
            tracker: tracker.clone(),
            live: live_calls::LiveCalls::default(),
            cluster: self.cluster.clone(),
        });
        let _ = self
            .browsers
            .0
            .set(browser::Browsers::new(services.clone()));
        let for_calls = services.clone();
        let on_call: sip_task::OnCall = Arc::new(move |incoming, events, sip| {
            call::spawn(for_calls.clone(), incoming, events, sip);
        });
        let (addrs, sip, sip_task) = sip_task::spawn(
            udp,
            tcp,
            &config.sip,
            on_call,
            self.metrics.clone(),
            stop_sip.clone(),
        )?;
        let _ = self.dialer.set(outbound::Dialer::new(services, sip));
        tracing::info!(udp = %addrs.udp, tcp = %addrs.tcp, "SIP listening");
        if let Some(cluster) = &self.cluster {
            // Where other nodes redirect this node's rooms' callers.
            let ip = config.sip.fixed_public_addr().unwrap_or(addrs.udp.ip());
            if ip.is_unspecified() {
                tracing::warn!(
                    "SIP is bound to a wildcard address without --public-addr: other nodes \
                     cannot redirect callers to this node's rooms"
                );
            } else {
                let addr = SocketAddr::new(ip, addrs.udp.port()).to_string();
                cluster
                    .advertise(&addr, self.clock.now())
                    .await
                    .map_err(std::io::Error::other)?;
            }
        }
        self.calls = Some(Calls {
            sip_task,
            stop_sip,
            tracker,
        });
        Ok(addrs)
    }

    /// The conference hub, for whoever puts callers into conferences.
    pub fn hub(&self) -> &HubHandle {
        &self.hub
    }

    /// The HTTP API bound to this server's store, hub and dialer, its
    /// metrics on `GET /metrics`, and the dashboard at `GET /` fed by the hub.
    pub fn router(&self) -> axum::Router {
        api::router(self.api_state())
    }

    fn api_state(&self) -> api::AppState {
        let control =
            control::Control::new(self.hub.clone(), self.dialer.clone(), self.cluster.clone());
        api::AppState::new(self.store.clone(), Arc::new(control))
            .with_metrics(self.metrics.clone())
            .with_live(Arc::new(self.hub.clone()))
            .with_browsers(Arc::new(self.browsers.clone()))
    }

    /// Serves HTTP on `listener` until `shutdown` resolves, then ends every
    /// conference (their participants leave, the store is updated) and
    /// returns.
    ///
    /// Request-targets with the raw `<`/`>` of the 2008 docs' date filters
    /// are percent-encoded before hyper parses them (see [`lenient`]). The
    /// router runs in [`api::Front`], which hands API requests straight to
    /// their handler; both see each request's peer address, which the
    /// API's limit on bad credentials counts by.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let front = api::Front::new(self.api_state());
        let served = axum::serve(lenient::LenientListener::new(listener), front)
            .with_graceful_shutdown(shutdown)
            .await;
        self.stop().await;
        served
    }

    /// Hangs up every call (BYE), ends every conference, waits for the hub to
    /// write that down, and lets SIP send its last messages.
    pub async fn stop(self) {
        if let Some(calls) = &self.calls {
            self.call_stop.shut_down();
            calls.tracker.close();
            if tokio::time::timeout(CALLS_STOP_TIMEOUT, calls.tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!("some calls did not end in time");
            }
        }
        self.stop_hub.cancel();
        if let Err(e) = self.hub_task.await {
            tracing::error!(error = %e, "the conference hub task failed");
        }
        self.stop_cluster.cancel();
        if let Some(cluster) = &self.cluster {
            cluster.leave().await;
        }
        if let Some(calls) = self.calls {
            calls.stop_sip.cancel();
            if let Err(e) = calls.sip_task.await {
                tracing::error!(error = %e, "the SIP task failed");
            }
        }
    }
}
