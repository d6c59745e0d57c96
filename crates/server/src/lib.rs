//! The tokio shell around confab's cores.
//!
//! [`Server::start`] opens nothing itself: it takes a connected
//! [`store::Store`], completes the rooms a previous run left live, and spawns
//! the conference [`hub`], the one task that owns the room rules. The binary
//! then hands [`Server::serve`] a bound listener (tests bind `127.0.0.1:0`).
//!
//! Side effects the cores ask for (persist a room change, later: send SIP,
//! fetch TwiML) are executed here; time comes from a [`Clock`], randomness
//! from [`ids`].

pub mod accounts;
pub mod clock;
pub mod hub;
pub mod ids;
pub mod lenient;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use clock::{Clock, ManualClock, SystemClock};
pub use hub::{HubHandle, JoinFailure};

/// Settings of the server shell (the binary builds these from its flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Participants a room holds when its creator gave no `maxParticipants`.
    pub room_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { room_capacity: 40 }
    }
}

/// A running confab: the store, the conference hub, and what stops them.
#[derive(Debug)]
pub struct Server {
    store: store::Store,
    hub: HubHandle,
    hub_task: JoinHandle<()>,
    stop_hub: CancellationToken,
}

impl Server {
    /// Recovers from a previous run and starts the conference hub.
    pub async fn start(
        store: store::Store,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, store::StoreError> {
        let completed = store.complete_live_conferences(clock.now()).await?;
        if completed > 0 {
            tracing::info!(
                completed,
                "completed conferences left live by a previous run"
            );
        }
        let stop_hub = CancellationToken::new();
        let (hub, hub_task) =
            hub::spawn(store.clone(), clock, config.room_capacity, stop_hub.clone());
        Ok(Self {
            store,
            hub,
            hub_task,
            stop_hub,
        })
    }

    /// The conference hub, for whoever puts callers into rooms.
    pub fn hub(&self) -> &HubHandle {
        &self.hub
    }

    /// The HTTP API bound to this server's store and hub.
    pub fn router(&self) -> axum::Router {
        let state = api::AppState::new(self.store.clone(), Arc::new(self.hub.clone()));
        api::router(state)
    }

    /// Serves HTTP on `listener` until `shutdown` resolves, then ends every
    /// room (their participants leave, the store is updated) and returns.
    ///
    /// Request-targets with the raw `<`/`>` of the 2008 docs' date filters
    /// are percent-encoded before hyper parses them (see [`lenient`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router();
        let served = axum::serve(lenient::LenientListener::new(listener), app)
            .with_graceful_shutdown(shutdown)
            .await;
        self.stop().await;
        served
    }

    /// Ends every room and waits for the hub to write that down.
    pub async fn stop(self) {
        self.stop_hub.cancel();
        if let Err(e) = self.hub_task.await {
            tracing::error!(error = %e, "the conference hub task failed");
        }
    }
}
