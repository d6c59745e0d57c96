//! Several nodes on one PostgreSQL (`docs/scaling.md`): this node's lease,
//! the dead nodes it finds, and the API's commands for rooms that run on
//! another node.
//!
//! - **The lease.** Every quarter of `--node-lease` the node renews its
//!   `nodes` row and looks for nodes whose lease ran out; it ends each one's
//!   rooms and calls in the store (`Store::end_node`, which one node wins).
//!   A node that finds its own lease gone (it was paused longer than the
//!   lease) hangs up every call it carries, as the store already says they
//!   ended, and takes a new lease.
//! - **Rooms.** The hub claims a room's name for this node before the rules
//!   create its conference (`hub`); a caller whose room runs on another
//!   node is redirected there before it is answered (`call`).
//! - **Commands.** An API mute, kick, hold, announcement or end for a
//!   conference another node runs (or a hang-up or redirect of a call it
//!   has) goes to that node as a PostgreSQL `NOTIFY` on its channel; the
//!   node applies it through its own hub (or dialer) and answers the same
//!   way, after the change took effect. The API answers
//!   with that outcome, or `Unavailable` if none came within
//!   [`ANSWER_TIMEOUT`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::{
    CallControl, CallControlError, CallScript, CallUpdate, ConferenceCommand, ConferenceRef,
    DialRequest, Fetchable, ParticipantCommand,
};
use model::{AccountSid, CallSid, ConferenceSid, HttpMethod, Timestamp};
use serde_json::{Value, json};
use store::{NodeRef, Store, StoreError};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::Clock;
use crate::live_calls::CallStop;

/// How long a command sent to another node waits for its answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// This node's place among several (`serve --node-id`).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Letters, digits, `-` and `_`, unique among the nodes.
    pub id: String,
    /// A node whose lease was not renewed this long is dead: another ends
    /// its rooms and calls. It renews every quarter of it.
    pub lease: Duration,
}

/// Whether `id` can name a node (it becomes part of a channel name).
pub fn valid_node_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// This node, for the hub, the calls and the API.
#[derive(Debug)]
pub(crate) struct Cluster {
    store: Store,
    node: String,
    /// Answers awaited from other nodes, by the id their question carried.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Result<(), CallControlError>>>>,
    next: AtomicU64,
    /// Where callers reach this node (`advertise`), for a lease taken anew.
    advertised: Mutex<Option<String>>,
    /// What hangs up this node's calls when it finds its lease lost: that
    /// node completed its conferences and calls in the store, so none of
    /// them may go on here.
    fence: Arc<CallStop>,
    clock: Arc<dyn Clock>,
}

impl Cluster {
    /// Takes this node's lease and starts renewing it, finding dead nodes,
    /// and serving other nodes' commands, until `stop`. `store` is this
    /// node's ([`Store::with_node`] with `config.id`); `local` applies
    /// other nodes' commands here (this node's control alone, which never
    /// forwards); `fence` hangs up this node's calls if it finds its lease
    /// taken.
    pub async fn start(
        store: Store,
        config: &NodeConfig,
        clock: Arc<dyn Clock>,
        local: Arc<dyn CallControl>,
        fence: Arc<CallStop>,
        stop: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        store.register_node(None, clock.now()).await?;
        let messages = store.listen_node().await?;
        let cluster = Arc::new(Self {
            store,
            node: config.id.clone(),
            waiting: Mutex::default(),
            next: AtomicU64::new(0),
            advertised: Mutex::default(),
            fence,
            clock,
        });
        tokio::spawn(lease(cluster.clone(), config.lease, stop.clone()));
        tokio::spawn(serve(cluster.clone(), messages, local, stop));
        Ok(cluster)
    }

    /// Tells other nodes where callers reach this one (`host:port`).
    pub async fn advertise(&self, sip_addr: &str, now: Timestamp) -> Result<(), StoreError> {
        *lock(&self.advertised) = Some(sip_addr.to_owned());
        self.store.register_node(Some(sip_addr), now).await
    }

    /// Gives up this node's lease (a clean stop, once its conferences and
    /// calls ended).
    pub async fn leave(&self) {
        if let Err(e) = self.store.leave_nodes().await {
            tracing::warn!(error = %e, "could not give up this node's lease");
        }
    }

    /// The node a live room runs on, if another node than this one.
    pub async fn room_elsewhere(&self, account: &AccountSid, name: &str) -> Option<NodeRef> {
        match self.store.room_owner(account, name.trim()).await {
            Ok(owner) => owner.filter(|o| o.node_id != self.node),
            Err(e) => {
                tracing::warn!(error = %e, "could not look up a room's node");
                None
            }
        }
    }

    /// The node a live conference runs on, if another node than this one.
    async fn conference_elsewhere(
        &self,
        conference: &ConferenceSid,
    ) -> Result<Option<String>, CallControlError> {
        match self.store.conference_owner(conference).await {
            Ok(owner) => Ok(owner.map(|o| o.node_id).filter(|n| *n != self.node)),
            Err(e) => {
                tracing::warn!(error = %e, "could not look up a conference's node");
                Err(CallControlError::Unavailable)
            }
        }
    }

    /// Runs `command` on the node its conference runs on: `None` if that is
    /// this node, or no node (the caller's own answer stands).
    pub async fn participant(
        &self,
        command: &ParticipantCommand,
    ) -> Option<Result<(), CallControlError>> {
        let key = participant_key(command);
        self.forward(&key.conference, encode_participant(command))
            .await
    }

    /// [`Cluster::participant`], for a whole conference's command.
    pub async fn conference(
        &self,
        command: &ConferenceCommand,
    ) -> Option<Result<(), CallControlError>> {
        let conference = match command {
            ConferenceCommand::End { conference, .. }
            | ConferenceCommand::Announce { conference, .. } => conference,
        };
        self.forward(conference, encode_conference(command)).await
    }

    /// [`Cluster::participant`], for a call's update: it goes to the node
    /// that handles the call.
    pub async fn call(
        &self,
        account: &AccountSid,
        call: &CallSid,
        update: &CallUpdate,
    ) -> Option<Result<(), CallControlError>> {
        let node = match self.store.call_node(call).await {
            Ok(node) => node.filter(|n| *n != self.node)?,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up a call's node");
                return Some(Err(CallControlError::Unavailable));
            }
        };
        let Some(update) = encode_call_update(update) else {
            tracing::warn!(
                node,
                "a call on another node cannot be redirected into a conference"
            );
            return Some(Err(CallControlError::Unavailable));
        };
        let mut command = json!({ "account": account.as_str(), "call": call.as_str() });
        merge(&mut command, update);
        Some(self.send(&node, command).await)
    }

    /// Whether a call placed for `request` would join a room that runs on
    /// another node (which cannot take it: its room is not here).
    pub async fn dials_elsewhere(&self, request: &DialRequest) -> Option<String> {
        let CallScript::Conference { conference, .. } = &request.script else {
            return None;
        };
        match conference {
            ConferenceRef::Name(name) => self
                .room_elsewhere(&request.account, name)
                .await
                .map(|n| n.node_id),
            ConferenceRef::Sid(sid) => self.conference_elsewhere(sid).await.ok().flatten(),
        }
    }

    async fn forward(
        &self,
        conference: &ConferenceSid,
        command: Value,
    ) -> Option<Result<(), CallControlError>> {
        match self.conference_elsewhere(conference).await {
            Ok(Some(node)) => Some(self.send(&node, command).await),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Sends `command` to `node` and waits for its outcome.
    async fn send(&self, node: &str, command: Value) -> Result<(), CallControlError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(id, tx);
        let ask = json!({ "ask": id, "from": self.node, "command": command }).to_string();
        if let Err(e) = self.store.notify_node(node, &ask, self.clock.now()).await {
            tracing::warn!(error = %e, node, "could not send a command to another node");
            lock(&self.waiting).remove(&id);
            return Err(CallControlError::Unavailable);
        }
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, rx).await;
        lock(&self.waiting).remove(&id);
        match answer {
            Ok(Ok(outcome)) => outcome,
            _ => {
                tracing::warn!(node, "no answer from another node");
                Err(CallControlError::Unavailable)
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Renews this node's lease and ends dead nodes' work, until `stop`.
async fn lease(cluster: Arc<Cluster>, lease: Duration, stop: CancellationToken) {
    let store = &cluster.store;
    let mut every = tokio::time::interval(lease / 4);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lease_micros = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = cluster.clock.now();
        match store.renew_node(now).await {
            Ok(true) => {}
            Ok(false) => {
                // Found dead (a pause longer than the lease): its rooms and
                // calls were completed in the store. What still runs here
                // hangs up (its rooms end as their callers leave), and the
                // node takes a new lease for the calls to come.
                tracing::error!(
                    "this node's lease had run out and another node ended its rooms: \
                     hanging up every call here"
                );
                cluster.fence.fence();
                let advertised = lock(&cluster.advertised).clone();
                if let Err(e) = store.register_node(advertised.as_deref(), now).await {
                    tracing::warn!(error = %e, "could not take a new lease");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew this node's lease"),
        }
        let before = Timestamp::from_micros(now.as_micros().saturating_sub(lease_micros));
        let dead = match store.expired_nodes(before).await {
            Ok(dead) => dead,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for dead nodes");
                continue;
            }
        };
        for node in dead {
            match store.end_node(&node, before, now).await {
                Ok(ended) if ended != store::NodeEnded::default() => tracing::warn!(
                    node,
                    conferences = ended.conferences,
                    calls = ended.calls,
                    "a node's lease ran out: ended its conferences and calls"
                ),
                Ok(_) => tracing::info!(node, "a node's lease ran out; it had nothing live"),
                Err(e) => tracing::warn!(error = %e, node, "could not end a dead node's work"),
            }
        }
    }
}

/// Serves other nodes' commands and takes their answers, until `stop`.
async fn serve(
    cluster: Arc<Cluster>,
    mut messages: store::NodeMessages,
    local: Arc<dyn CallControl>,
    stop: CancellationToken,
) {
    loop {
        let payload = tokio::select! {
            () = stop.cancelled() => return,
            payload = messages.recv() => payload,
        };
        let payload = match payload {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "lost the connection for other nodes' messages");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Ok(message) = serde_json::from_str::<Value>(&payload) else {
            tracing::debug!("dropped a node message that is not JSON");
            continue;
        };
        if let Some(id) = message["answer"].as_u64() {
            let outcome = decode_outcome(&message["outcome"]);
            if let Some(waiting) = lock(&cluster.waiting).remove(&id) {
                let _ = waiting.send(outcome);
            }
            continue;
        }
        let (Some(id), Some(from)) = (message["ask"].as_u64(), message["from"].as_str()) else {
            tracing::debug!("dropped a node message that is neither a question nor an answer");
            continue;
        };
        let from = from.to_owned();
        let command = message["command"].clone();
        let (local, cluster) = (local.clone(), cluster.clone());
        // Each in its own task: a slow one holds up no other.
        tokio::spawn(async move {
            let outcome = match decode(&command) {
                Some(Decoded::Participant(c)) => local.apply(c).await,
                Some(Decoded::Conference(c)) => local.conference(c).await,
                Some(Decoded::Call {
                    account,
                    call,
                    update,
                }) => local.update_call(account, call, update).await,
                None => {
                    tracing::debug!("dropped a node's command confab does not know");
                    Err(CallControlError::Unavailable)
                }
            };
            let answer = json!({ "answer": id, "outcome": encode_outcome(&outcome) });
            if let Err(e) = cluster
                .store
                .notify_node(&from, &answer.to_string(), cluster.clock.now())
                .await
            {
                tracing::warn!(error = %e, node = from, "could not answer another node");
            }
        });
    }
}

fn participant_key(command: &ParticipantCommand) -> &api::ParticipantKey {
    match command {
        ParticipantCommand::SetMuted { participant, .. }
        | ParticipantCommand::Kick { participant }
        | ParticipantCommand::SetHold { participant, .. }
        | ParticipantCommand::SetEndConferenceOnExit { participant, .. }
        | ParticipantCommand::Announce { participant, .. } => participant,
    }
}

// The wire: one JSON object a command, `op` naming it.

fn encode_participant(command: &ParticipantCommand) -> Value {
    let key = participant_key(command);
    let mut value = json!({
        "account": key.account.as_str(),
        "conference": key.conference.as_str(),
        "call": key.call.as_str(),
    });
    let extra = match command {
        ParticipantCommand::SetMuted { muted, .. } => json!({ "op": "mute", "on": muted }),
        ParticipantCommand::Kick { .. } => json!({ "op": "kick" }),
        ParticipantCommand::SetHold { hold, music, .. } => {
            json!({ "op": "hold", "on": hold, "audio": music.as_ref().map(encode_fetchable) })
        }
        ParticipantCommand::SetEndConferenceOnExit {
            end_conference_on_exit,
            ..
        } => json!({ "op": "end_on_exit", "on": end_conference_on_exit }),
        ParticipantCommand::Announce { audio, .. } => {
            json!({ "op": "announce", "audio": encode_fetchable(audio) })
        }
    };
    merge(&mut value, extra);
    value
}

fn encode_conference(command: &ConferenceCommand) -> Value {
    match command {
        ConferenceCommand::End {
            account,
            conference,
        } => json!({
            "op": "end",
            "account": account.as_str(),
            "conference": conference.as_str(),
        }),
        ConferenceCommand::Announce {
            account,
            conference,
            audio,
        } => json!({
            "op": "announce_room",
            "account": account.as_str(),
            "conference": conference.as_str(),
            "audio": encode_fetchable(audio),
        }),
    }
}

/// A call's update on the wire; `None` for a redirect into a conference
/// (the API's `POST Conferences/{…}/Participants` makes those, as calls it
/// places itself).
fn encode_call_update(update: &CallUpdate) -> Option<Value> {
    Some(match update {
        CallUpdate::End { canceled } => json!({ "op": "call_end", "on": canceled }),
        CallUpdate::Redirect(CallScript::Url(url)) => {
            json!({ "op": "call_redirect", "audio": encode_fetchable(url) })
        }
        CallUpdate::Redirect(CallScript::Twiml(twiml)) => {
            json!({ "op": "call_redirect", "twiml": twiml })
        }
        CallUpdate::Redirect(CallScript::Conference { .. }) => return None,
    })
}

fn decode_call_update(op: &str, value: &Value) -> Option<CallUpdate> {
    match op {
        "call_end" => Some(CallUpdate::End {
            canceled: value["on"].as_bool()?,
        }),
        "call_redirect" => Some(CallUpdate::Redirect(match value["twiml"].as_str() {
            Some(twiml) => CallScript::Twiml(twiml.to_owned()),
            None => CallScript::Url(decode_fetchable(&value["audio"])?),
        })),
        _ => None,
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

fn encode_fetchable(audio: &Fetchable) -> Value {
    json!({ "url": audio.url, "method": audio.method.as_str() })
}

fn decode_fetchable(value: &Value) -> Option<Fetchable> {
    Some(Fetchable {
        url: value["url"].as_str()?.to_owned(),
        method: HttpMethod::parse(value["method"].as_str()?)?,
    })
}

enum Decoded {
    Participant(ParticipantCommand),
    Conference(ConferenceCommand),
    Call {
        account: AccountSid,
        call: CallSid,
        update: CallUpdate,
    },
}

fn decode(value: &Value) -> Option<Decoded> {
    let account = AccountSid::parse(value["account"].as_str()?).ok()?;
    if let Some(update) = decode_call_update(value["op"].as_str()?, value) {
        return Some(Decoded::Call {
            account,
            call: CallSid::parse(value["call"].as_str()?).ok()?,
            update,
        });
    }
    let conference = ConferenceSid::parse(value["conference"].as_str()?).ok()?;
    let op = value["op"].as_str()?;
    match op {
        "end" => {
            return Some(Decoded::Conference(ConferenceCommand::End {
                account,
                conference,
            }));
        }
        "announce_room" => {
            return Some(Decoded::Conference(ConferenceCommand::Announce {
                account,
                conference,
                audio: decode_fetchable(&value["audio"])?,
            }));
        }
        _ => {}
    }
    let participant = api::ParticipantKey {
        account,
        conference,
        call: CallSid::parse(value["call"].as_str()?).ok()?,
    };
    let on = value["on"].as_bool();
    Some(Decoded::Participant(match op {
        "mute" => ParticipantCommand::SetMuted {
            participant,
            muted: on?,
        },
        "kick" => ParticipantCommand::Kick { participant },
        "hold" => ParticipantCommand::SetHold {
            participant,
            hold: on?,
            music: match &value["audio"] {
                Value::Null => None,
                audio => Some(decode_fetchable(audio)?),
            },
        },
        "end_on_exit" => ParticipantCommand::SetEndConferenceOnExit {
            participant,
            end_conference_on_exit: on?,
        },
        "announce" => ParticipantCommand::Announce {
            participant,
            audio: decode_fetchable(&value["audio"])?,
        },
        _ => return None,
    }))
}

fn encode_outcome(outcome: &Result<(), CallControlError>) -> &'static str {
    match outcome {
        Ok(()) => "done",
        Err(CallControlError::NotFound) => "not_found",
        Err(CallControlError::Unavailable) => "unavailable",
    }
}

fn decode_outcome(value: &Value) -> Result<(), CallControlError> {
    match value.as_str() {
        Some("done") => Ok(()),
        Some("not_found") => Err(CallControlError::NotFound),
        _ => Err(CallControlError::Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> api::ParticipantKey {
        api::ParticipantKey {
            account: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            conference: ConferenceSid::parse("CF0123456789abcdef0123456789abcdef").unwrap(),
            call: CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap(),
        }
    }

    fn audio() -> Fetchable {
        Fetchable {
            url: "https://example.com/a.wav".into(),
            method: HttpMethod::Get,
        }
    }

    #[test]
    fn every_command_crosses_the_wire_unchanged() {
        let participant = key();
        let commands = [
            ParticipantCommand::SetMuted {
                participant: participant.clone(),
                muted: true,
            },
            ParticipantCommand::Kick {
                participant: participant.clone(),
            },
            ParticipantCommand::SetHold {
                participant: participant.clone(),
                hold: true,
                music: Some(audio()),
            },
            ParticipantCommand::SetHold {
                participant: participant.clone(),
                hold: false,
                music: None,
            },
            ParticipantCommand::SetEndConferenceOnExit {
                participant: participant.clone(),
                end_conference_on_exit: false,
            },
            ParticipantCommand::Announce {
                participant: participant.clone(),
                audio: audio(),
            },
        ];
        for command in commands {
            let wire = encode_participant(&command).to_string();
            let back = serde_json::from_str(&wire).unwrap();
            assert!(
                matches!(decode(&back), Some(Decoded::Participant(c)) if c == command),
                "{wire}"
            );
        }
        let rooms = [
            ConferenceCommand::End {
                account: participant.account.clone(),
                conference: participant.conference.clone(),
            },
            ConferenceCommand::Announce {
                account: participant.account.clone(),
                conference: participant.conference.clone(),
                audio: audio(),
            },
        ];
        for command in rooms {
            let wire = encode_conference(&command).to_string();
            let back = serde_json::from_str(&wire).unwrap();
            assert!(
                matches!(decode(&back), Some(Decoded::Conference(c)) if c == command),
                "{wire}"
            );
        }
        let updates = [
            CallUpdate::End { canceled: true },
            CallUpdate::End { canceled: false },
            CallUpdate::Redirect(CallScript::Url(audio())),
            CallUpdate::Redirect(CallScript::Twiml("<Response><Hangup/></Response>".into())),
        ];
        for update in updates {
            let mut wire = json!({
                "account": participant.account.as_str(),
                "call": participant.call.as_str(),
            });
            merge(&mut wire, encode_call_update(&update).unwrap());
            let back = serde_json::from_str(&wire.to_string()).unwrap();
            assert!(
                matches!(
                    decode(&back),
                    Some(Decoded::Call { account, call, update: u })
                        if account == participant.account && call == participant.call && u == update
                ),
                "{wire}"
            );
        }
        for outcome in [
            Ok(()),
            Err(CallControlError::NotFound),
            Err(CallControlError::Unavailable),
        ] {
            assert_eq!(decode_outcome(&json!(encode_outcome(&outcome))), outcome);
        }
    }

    #[test]
    fn garbage_decodes_to_nothing() {
        let participant = encode_participant(&ParticipantCommand::Kick { participant: key() });
        for broken in [
            json!({}),
            json!({ "op": "kick" }),
            json!({ "op": "mute", "account": "AC1", "conference": "CF1", "call": "CA1" }),
            {
                let mut v = participant.clone();
                v["op"] = json!("explode");
                v
            },
            {
                let mut v = participant.clone();
                v["op"] = json!("mute");
                v
            },
            {
                let mut v = participant;
                v["call"] = json!(7);
                v
            },
        ] {
            assert!(decode(&broken).is_none(), "{broken}");
        }
        assert_eq!(
            decode_outcome(&json!("maybe")),
            Err(CallControlError::Unavailable)
        );
        assert!(valid_node_id("node-1_a"));
        for bad in ["", "a b", "ünï", "x;DROP", &"n".repeat(41)] {
            assert!(!valid_node_id(bad), "{bad}");
        }
    }
}
