//! The calls that are up, for what the API does to one
//! ([`api::CallControl::update_call`]): its SIP handle, whether it was
//! answered, and the way to hand it a new script (`POST Calls/{CA}` with
//! `Url` or `Twiml`). Incoming calls are filed by their task (`call`),
//! placed ones by theirs (`outbound`), each until it ends. Its own module
//! because both use it and `outbound` uses `call`.
//!
//! Here too is what stops them ([`CallStop`]): the server's shutdown, and
//! with several nodes a lease this node lost (`cluster`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use calls::ScriptSource;
use model::{AccountSid, CallSid};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How many redirects may wait for a call task.
pub const REDIRECTS: usize = 4;

/// One live call.
#[derive(Debug, Clone)]
pub struct LiveCall {
    pub account: AccountSid,
    pub sip: sip::CallId,
    /// Answered (a placed call that still rings is not).
    pub answered: bool,
    /// Where its task takes a new script, once it runs one.
    pub redirect: Option<mpsc::Sender<ScriptSource>>,
}

/// Every live call, by sid.
#[derive(Debug, Clone, Default)]
pub struct LiveCalls(Arc<Mutex<HashMap<CallSid, LiveCall>>>);

impl LiveCalls {
    pub fn get(&self, call: &CallSid) -> Option<LiveCall> {
        self.lock().get(call).cloned()
    }

    pub fn insert(&self, call: CallSid, live: LiveCall) {
        self.lock().insert(call, live);
    }

    pub fn remove(&self, call: &CallSid) {
        self.lock().remove(call);
    }

    /// Files `call`'s task as the taker of its redirects; returns the
    /// receiving end (`None` if the call is not filed).
    pub fn take_redirects(&self, call: &CallSid) -> Option<mpsc::Receiver<ScriptSource>> {
        let mut map = self.lock();
        let live = map.get_mut(call)?;
        let (tx, rx) = mpsc::channel(REDIRECTS);
        live.redirect = Some(tx);
        live.answered = true;
        Some(rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallSid, LiveCall>> {
        // The map holds plain data: a panic elsewhere leaves it usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What ends the calls that are up: the server's shutdown, or a fence.
///
/// A node found dead while it was paused (another node took its lease and
/// completed its conferences and calls in the store) must not carry on with
/// them: [`CallStop::fence`] hangs up every call up then, and leaves the
/// calls that come after alone. Each call task takes its token when it
/// starts ([`CallStop::token`]).
#[derive(Debug)]
pub struct CallStop {
    shutdown: CancellationToken,
    /// A child of `shutdown`, replaced by a new one at each fence.
    current: Mutex<CancellationToken>,
}

impl CallStop {
    pub fn new(shutdown: CancellationToken) -> Self {
        let current = Mutex::new(shutdown.child_token());
        Self { shutdown, current }
    }

    /// Cancelled at shutdown or at the next fence: for a call starting now.
    pub fn token(&self) -> CancellationToken {
        self.lock().clone()
    }

    /// Ends every call, now and after: the server is stopping.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// The server is stopping.
    pub fn is_shutdown(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Ends every call up now; calls that start after it go on.
    pub fn fence(&self) {
        let mut current = self.lock();
        current.cancel();
        *current = self.shutdown.child_token();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CancellationToken> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_stops_the_calls_up_then_and_not_those_after() {
        let stop = CallStop::new(CancellationToken::new());
        let before = stop.token();
        stop.fence();
        let after = stop.token();
        assert!(before.is_cancelled());
        assert!(!after.is_cancelled());
        assert!(!stop.is_shutdown());
        stop.shut_down();
        assert!(after.is_cancelled());
        assert!(stop.token().is_cancelled());
        assert!(stop.is_shutdown());
    }
}
