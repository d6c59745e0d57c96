//! The calls that are up, for what the API does to one
//! ([`api::CallControl::update_call`]): its SIP handle, whether it was
//! answered, and the way to hand it a new script (`POST Calls/{CA}` with
//! `Url` or `Twiml`). Incoming calls are filed by their task (`call`),
//! placed ones by theirs (`outbound`), each until it ends. Its own module
//! because both use it and `outbound` uses `call`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use calls::ScriptSource;
use model::{AccountSid, CallSid};
use tokio::sync::mpsc;

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
