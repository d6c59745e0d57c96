//! What the API's writes reach ([`api::CallControl`]): the conference hub
//! for participants and conferences (another node's, through `cluster`,
//! for a conference that runs there), and the dialer (`outbound`) for the
//! calls confab places and updates.
//!
//! The dialer exists once SIP listens ([`crate::Server::listen_sip`]); a
//! router made before (or a server without SIP) answers `dial` and
//! `update_call` with [`api::CallControlError::Unavailable`].

use std::sync::{Arc, OnceLock};

use api::{
    BoxFuture, CallControl, CallControlError, CallUpdate, ConferenceCommand, DialError,
    DialRequest, ParticipantCommand,
};
use model::{AccountSid, CallSid};

use crate::cluster::Cluster;
use crate::hub::HubHandle;
use crate::outbound::Dialer;

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
            if let Some(cluster) = &self.cluster
                && let Some(elsewhere) = cluster.participant(&command).await
            {
                return elsewhere;
            }
            self.hub.apply(command).await
        })
    }

    fn conference(
        &self,
        command: ConferenceCommand,
    ) -> BoxFuture<'_, Result<(), CallControlError>> {
        Box::pin(async move {
            if let Some(cluster) = &self.cluster
                && let Some(elsewhere) = cluster.conference(&command).await
            {
                return elsewhere;
            }
            self.hub.conference(command).await
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
            if let Some(cluster) = &self.cluster
                && let Some(elsewhere) = cluster.call(&account, &call, &update).await
            {
                return elsewhere;
            }
            match self.dialer.get() {
                Some(dialer) => dialer.update(&account, &call, update).await,
                None => Err(CallControlError::Unavailable),
            }
        })
    }
}
