//! What the API's writes reach ([`api::CallControl`]): the conference hub
//! for participants and conferences, and the dialer (`outbound`) for the
//! calls confab places and updates. With several nodes, what this node does
//! not have (`NotFound` here) is asked of the node that has it (`cluster`):
//! a room or call of this node costs no database lookup.
//!
//! The dialer exists once SIP listens ([`crate::Server::listen_sip`]); a
//! router made before (or a server without SIP) answers `dial` and
//! `update_call` with [`api::CallControlError::Unavailable`].

use std::future::Future;
use std::sync::{Arc, OnceLock};

use api::{
    BoxFuture, CallControl, CallControlError, CallUpdate, ConferenceCommand, DialError,
    DialRequest, ParticipantCommand,
};
use model::{AccountSid, CallSid};

use crate::cluster::Cluster;
use crate::hub::HubHandle;
use crate::outbound::Dialer;

/// `here` (this node's answer), unless this node has no such room or call
/// (`NotFound`) and there are other nodes: then the answer of the node that
/// has it (`ask`), if one does.
async fn or_elsewhere<'c, F>(
    cluster: Option<&'c Cluster>,
    here: Result<(), CallControlError>,
    ask: impl FnOnce(&'c Cluster) -> F,
) -> Result<(), CallControlError>
where
    F: Future<Output = Option<Result<(), CallControlError>>>,
{
    match cluster {
        Some(cluster) if here == Err(CallControlError::NotFound) => {
            ask(cluster).await.unwrap_or(here)
        }
        _ => here,
    }
}

/// The server's [`CallControl`].
#[derive(Debug, Clone)]
pub(crate) struct Control {
    hub: HubHandle,
    dialer: Arc<OnceLock<Dialer>>,
    /// This node among several: commands for rooms on other nodes go there.
    cluster: Option<Arc<Cluster>>,
}

impl Control {
    pub fn new(
        hub: HubHandle,
        dialer: Arc<OnceLock<Dialer>>,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        Self {
            hub,
            dialer,
            cluster,
        }
    }
}

impl CallControl for Control {
    fn apply(&self, command: ParticipantCommand) -> BoxFuture<'_, Result<(), CallControlError>> {
        Box::pin(async move {
            let here = self.hub.apply(command.clone()).await;
            or_elsewhere(self.cluster.as_deref(), here, |c| c.participant(&command)).await
        })
    }

    fn conference(
        &self,
        command: ConferenceCommand,
    ) -> BoxFuture<'_, Result<(), CallControlError>> {
        Box::pin(async move {
            let here = self.hub.conference(command.clone()).await;
            or_elsewhere(self.cluster.as_deref(), here, |c| c.conference(&command)).await
        })
    }

    fn dial(&self, request: DialRequest) -> BoxFuture<'_, Result<CallSid, DialError>> {
        Box::pin(async move {
            if let Some(cluster) = &self.cluster
                && let Some(node) = cluster.dials_elsewhere(&request).await
            {
                // Its room is not here: the call could not join it.
                tracing::warn!(
                    node,
                    "a call into a room another node runs: send the request to that node"
                );
                return Err(DialError::Control(CallControlError::Unavailable));
            }
            match self.dialer.get() {
                Some(dialer) => dialer.dial(request).await,
                None => Err(DialError::Control(CallControlError::Unavailable)),
            }
        })
    }

    fn update_call(
        &self,
        account: AccountSid,
        call: CallSid,
        update: CallUpdate,
    ) -> BoxFuture<'_, Result<(), CallControlError>> {
        Box::pin(async move {
            let here = match self.dialer.get() {
                Some(dialer) => dialer.update(&account, &call, update.clone()).await,
                None => Err(CallControlError::Unavailable),
            };
            or_elsewhere(self.cluster.as_deref(), here, |c| {
                c.call(&account, &call, &update)
            })
            .await
        })
    }
}
