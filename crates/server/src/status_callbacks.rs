//! Conference status callbacks: Twilio's `<Conference statusCallback
//! statusCallbackEvent statusCallbackMethod>` (and the API's
//! `ConferenceStatusCallback…`), sent as the conference's events happen.
//!
//! Whose callback: as at Twilio, the **first participant to join** a
//! conference sets its `statusCallback`, method and events for the
//! conference's whole life; what later joiners give is ignored, and a
//! conference whose first participant gave none sends nothing. Events
//! not named default to `start end` (the API's documented default).
//!
//! What is sent, in the order the rules produced it ([`Tracker`], a pure
//! function of the events, unit-tested below): `conference-start`,
//! `conference-end` (once each; the end is the conference's last
//! callback: the rules drop its participants first), `participant-join`,
//! `-leave`, `-mute`/`-unmute`, `-hold`/`-unhold`, `-modify` (a changed
//! `EndConferenceOnExit`), `-speech-start`/`-stop` (the room's talker
//! detection, [`media::talker`], turned on for conferences whose callback
//! asks for `speaker`), and `announcement-end`. Each carries Twilio's
//! parameters: `ConferenceSid FriendlyName AccountSid SequenceNumber
//! Timestamp StatusCallbackEvent`, a participant's `CallSid Muted Hold
//! Coaching EndConferenceOnExit StartConferenceOnEnter` (`true`/`false`)
//! and `ParticipantLabel`; a leave's `ReasonParticipantLeft` and
//! `ParticipantCallStatus`; an end's `ReasonConferenceEnded`, `Reason`,
//! `CallSidEndingConference` and `ParticipantLabelEndingConference`.
//! `SequenceNumber` counts the conference's callbacks from 1; `Timestamp`
//! is when the event happened, RFC 2822.
//!
//! Delivery ([`StatusCallbacks`]) never blocks the hub or a room: each
//! conference has a bounded queue and one task sending its requests one
//! at a time, in order (each signed with the account's AuthToken by
//! [`crate::fetch::webhook`], and finished or given up after
//! [`TIMEOUT`] before the next). A full queue drops the request with a
//! warning and counts it in `/metrics`; a failed request is not retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use conference::{Conferences, Event, LeaveReason};
use model::{
    AccountSid, CallSid, ConferenceEndReason, ConferenceSid, ConferenceStatus, HttpMethod,
    StatusCallback, Timestamp,
};
use store::Store;
use tokio::sync::mpsc;
use twiml::webhook::Params;
use twiml::{HttpUrl, WebhookRequest};

use crate::metrics::Metrics;

/// How long one callback request may take before the next is sent.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Callbacks of one conference waiting to be sent; more are dropped.
pub const QUEUE: usize = 256;

/// The hub's sender of status callbacks. See the module docs.
pub(crate) struct StatusCallbacks {
    tracker: Tracker,
    /// Each conference's queue, while it is live and has callbacks.
    queues: HashMap<ConferenceSid, mpsc::Sender<WebhookRequest>>,
    store: Store,
    /// `None` if no HTTP client could be built (nothing is sent).
    client: Option<reqwest::Client>,
    metrics: Arc<Metrics>,
}

impl StatusCallbacks {
    pub(crate) fn new(store: Store, metrics: Arc<Metrics>) -> Self {
        let client = crate::fetch::client(TIMEOUT)
            .inspect_err(|e| tracing::error!(error = %e, "no HTTP client: no status callbacks"))
            .ok();
        Self {
            tracker: Tracker::default(),
            queues: HashMap::new(),
            store,
            client,
            metrics,
        }
    }

    /// The hub persisted `events` (in order) and `conferences` is the state
    /// after them: queues their callbacks. (Every room detects talkers, for
    /// the dashboard too, so `speaker` events need nothing more.)
    pub(crate) fn persisted(&mut self, events: &[Event], conferences: &Conferences) {
        let observed = self.tracker.observe(events, |call| {
            conferences
                .participant(call)
                .and_then(|view| view.status_callback)
        });
        self.send(observed.requests);
        for sid in observed.finished {
            // Its worker sends what is queued, then ends.
            self.queues.remove(&sid);
        }
    }

    /// A room heard `call` start or stop speaking.
    pub(crate) fn speaking(
        &mut self,
        conference: &ConferenceSid,
        call: &CallSid,
        speaking: bool,
        now: Timestamp,
    ) {
        let kind = if speaking {
            Kind::SpeechStart
        } else {
            Kind::SpeechStop
        };
        let request = self.tracker.participant_event(conference, call, kind, now);
        self.send(request.into_iter().collect());
    }

    /// An announcement ended in `conference`: to `call`, or to everyone.
    pub(crate) fn announcement_ended(
        &mut self,
        conference: &ConferenceSid,
        call: Option<&CallSid>,
        now: Timestamp,
    ) {
        let request = self.tracker.announcement_ended(conference, call, now);
        self.send(request.into_iter().collect());
    }

    fn send(&mut self, requests: Vec<Outgoing>) {
        let Some(client) = &self.client else {
            return;
        };
        for Outgoing {
            conference,
            account,
            request,
        } in requests
        {
            let queue = self.queues.entry(conference.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(QUEUE);
                let worker = deliver(
                    account,
                    rx,
                    self.store.clone(),
                    client.clone(),
                    self.metrics.clone(),
                );
                tokio::spawn(worker);
                tx
            });
            let (request, why) = match queue.try_send(request) {
                Ok(()) => continue,
                Err(mpsc::error::TrySendError::Full(r)) => (r, "its queue is full"),
                // The worker could not read the account's AuthToken.
                Err(mpsc::error::TrySendError::Closed(r)) => (r, "it cannot be signed"),
            };
            tracing::warn!(
                conference_sid = %conference,
                event = request.params.get("StatusCallbackEvent").unwrap_or_default(),
                "a conference's status callback is dropped: {why}"
            );
            self.metrics.status_callback_dropped();
        }
    }
}

/// One conference's worker: sends its callbacks one at a time, in order,
/// until the hub drops the queue and it is drained.
async fn deliver(
    account: AccountSid,
    queue: mpsc::Receiver<WebhookRequest>,
    store: Store,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
) {
    let token = match store.account(&account).await {
        Ok(Some(account)) => account.auth_token,
        Ok(None) => {
            tracing::warn!(account_sid = %account, "status callbacks of an unknown account");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "no AuthToken to sign status callbacks with");
            return;
        }
    };
    send_in_order(queue, &token, &client, &metrics).await;
}

/// Sends each queued request once the one before it finished or timed out.
async fn send_in_order(
    mut queue: mpsc::Receiver<WebhookRequest>,
    token: &model::AuthToken,
    client: &reqwest::Client,
    metrics: &Metrics,
) {
    while let Some(request) = queue.recv().await {
        let sent = tokio::time::timeout(
            TIMEOUT,
            crate::fetch::webhook(client, &request, token, metrics),
        )
        .await;
        let failure = match sent {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        tracing::info!(
            url = %twiml::url_for_logs(request.url.as_url()),
            event = request.params.get("StatusCallbackEvent").unwrap_or_default(),
            error = failure,
            "a status callback failed"
        );
    }
}

// ---------------------------------------------------------------------------
// What to send: a pure function of the rules' events.

/// One callback to queue for a conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub conference: ConferenceSid,
    pub account: AccountSid,
    pub request: WebhookRequest,
}

/// What a batch of events produced.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub requests: Vec<Outgoing>,
    /// Conferences that completed: nothing more is sent for them.
    pub finished: Vec<ConferenceSid>,
}

/// A callback event, and the `statusCallbackEvent` word that asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ConferenceStart,
    ConferenceEnd,
    Join,
    Leave,
    Mute,
    Unmute,
    Hold,
    Unhold,
    Modify,
    SpeechStart,
    SpeechStop,
    AnnouncementEnd,
}

impl Kind {
    /// The `StatusCallbackEvent` parameter.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::ConferenceStart => "conference-start",
            Self::ConferenceEnd => "conference-end",
            Self::Join => "participant-join",
            Self::Leave => "participant-leave",
            Self::Mute => "participant-mute",
            Self::Unmute => "participant-unmute",
            Self::Hold => "participant-hold",
            Self::Unhold => "participant-unhold",
            Self::Modify => "participant-modify",
            Self::SpeechStart => "participant-speech-start",
            Self::SpeechStop => "participant-speech-stop",
            Self::AnnouncementEnd => "announcement-end",
        }
    }

    /// The `statusCallbackEvent` word that subscribes to it.
    fn word(self) -> &'static str {
        match self {
            Self::ConferenceStart => "start",
            Self::ConferenceEnd => "end",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Mute | Self::Unmute => "mute",
            Self::Hold | Self::Unhold => "hold",
            Self::Modify => "modify",
            Self::SpeechStart | Self::SpeechStop => "speaker",
            Self::AnnouncementEnd => "announcement",
        }
    }
}

/// The events a callback names when it names none.
const DEFAULT_EVENTS: [&str; 2] = ["start", "end"];

/// A conference's callback, checked.
#[derive(Debug, Clone)]
struct Subscription {
    url: HttpUrl,
    method: HttpMethod,
    events: Vec<String>,
}

impl Subscription {
    fn new(callback: StatusCallback) -> Option<Self> {
        let url = HttpUrl::parse(&callback.url)
            .inspect_err(|e| tracing::warn!(error = %e, "a statusCallback that is no URL"))
            .ok()?;
        let events = if callback.events.is_empty() {
            DEFAULT_EVENTS.map(str::to_owned).to_vec()
        } else {
            callback.events
        };
        Some(Self {
            url,
            method: callback.method,
            events,
        })
    }

    fn wants(&self, kind: Kind) -> bool {
        self.events.iter().any(|e| e == kind.word())
    }
}

/// A participant as its callbacks describe it.
#[derive(Debug, Clone)]
struct Participant {
    muted: bool,
    hold: bool,
    coaching: bool,
    start_conference_on_enter: bool,
    end_conference_on_exit: bool,
    label: Option<String>,
}

/// A live conference, as its callbacks need it.
#[derive(Debug)]
struct Tracked {
    account: AccountSid,
    friendly_name: String,
    /// Set at the first participant's join (and `decided` then).
    callback: Option<Subscription>,
    decided: bool,
    /// The last `SequenceNumber` sent.
    sequence: u64,
    participants: HashMap<CallSid, Participant>,
    /// Labels of participants who left, for `ParticipantLabelEndingConference`.
    labels_left: HashMap<CallSid, String>,
}

/// Every live conference's callback state; turns events into requests.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    conferences: HashMap<ConferenceSid, Tracked>,
}

impl Tracker {
    /// The callbacks of `events`, in order. `callback_of` gives a joiner's
    /// `statusCallback` (asked only for a conference's first participant).
    pub(crate) fn observe(
        &mut self,
        events: &[Event],
        callback_of: impl Fn(&CallSid) -> Option<StatusCallback>,
    ) -> Observed {
        // How the conferences of this batch ended, for their leaves (which
        // come before the end).
        let endings: HashMap<&ConferenceSid, Option<ConferenceEndReason>> = events
            .iter()
            .filter_map(|e| match e {
                Event::StatusChanged {
                    sid,
                    status: ConferenceStatus::Completed,
                    reason,
                    ..
                } => Some((sid, *reason)),
                _ => None,
            })
            .collect();
        let mut observed = Observed::default();
        for event in events {
            let conference = event.conference();
            let request = match event {
                Event::ConferenceCreated {
                    sid,
                    account,
                    friendly_name,
                    ..
                } => {
                    self.conferences.insert(
                        sid.clone(),
                        Tracked {
                            account: account.clone(),
                            friendly_name: friendly_name.clone(),
                            callback: None,
                            decided: false,
                            sequence: 0,
                            participants: HashMap::new(),
                            labels_left: HashMap::new(),
                        },
                    );
                    None
                }
                Event::ParticipantJoined {
                    call,
                    muted,
                    start_conference_on_enter,
                    end_conference_on_exit,
                    label,
                    coach,
                    at,
                    ..
                } => {
                    let Some(tracked) = self.conferences.get_mut(conference) else {
                        continue;
                    };
                    if !tracked.decided {
                        tracked.decided = true;
                        tracked.callback = callback_of(call).and_then(Subscription::new);
                    }
                    tracked.participants.insert(
                        call.clone(),
                        Participant {
                            muted: *muted,
                            hold: false,
                            coaching: coach.is_some(),
                            start_conference_on_enter: *start_conference_on_enter,
                            end_conference_on_exit: *end_conference_on_exit,
                            label: label.clone(),
                        },
                    );
                    tracked.participant_request(conference, call, Kind::Join, *at)
                }
                Event::ParticipantMuted {
                    call, muted, at, ..
                } => self.changed(conference, call, *at, |p| {
                    p.muted = *muted;
                    if *muted { Kind::Mute } else { Kind::Unmute }
                }),
                Event::ParticipantHold { call, hold, at, .. } => {
                    self.changed(conference, call, *at, |p| {
                        p.hold = *hold;
                        if *hold { Kind::Hold } else { Kind::Unhold }
                    })
                }
                Event::ParticipantEndOnExit {
                    call,
                    end_conference_on_exit,
                    at,
                    ..
                } => self.changed(conference, call, *at, |p| {
                    p.end_conference_on_exit = *end_conference_on_exit;
                    Kind::Modify
                }),
                Event::ParticipantLeft {
                    call, reason, at, ..
                } => {
                    let ending = endings.get(conference).copied().flatten();
                    self.left(conference, call, *reason, ending, *at)
                }
                Event::StatusChanged {
                    status: ConferenceStatus::InProgress,
                    at,
                    ..
                } => self.conferences.get_mut(conference).and_then(|tracked| {
                    tracked.request(conference, Kind::ConferenceStart, *at, |_| {})
                }),
                Event::StatusChanged {
                    status: ConferenceStatus::Completed,
                    reason,
                    ending_call,
                    at,
                    ..
                } => {
                    observed.finished.push(conference.clone());
                    self.conferences.remove(conference).and_then(|mut tracked| {
                        let label = ending_call
                            .as_ref()
                            .and_then(|c| tracked.labels_left.get(c).cloned());
                        tracked.request(conference, Kind::ConferenceEnd, *at, |params| {
                            if let Some(call) = ending_call {
                                params.push("CallSidEndingConference", call.as_str());
                            }
                            if let Some(label) = label {
                                params.push("ParticipantLabelEndingConference", label);
                            }
                            if let Some(reason) = reason {
                                params.push("ReasonConferenceEnded", reason.as_str());
                                params.push("Reason", reason_text(*reason, ending_call.as_ref()));
                            }
                        })
                    })
                }
                Event::StatusChanged { .. } => None,
            };
            observed.requests.extend(request);
        }
        observed
    }

    /// A participant's own event (speech), if it is in `conference`.
    pub(crate) fn participant_event(
        &mut self,
        conference: &ConferenceSid,
        call: &CallSid,
        kind: Kind,
        at: Timestamp,
    ) -> Option<Outgoing> {
        let tracked = self.conferences.get_mut(conference)?;
        tracked.participants.get(call)?;
        tracked.participant_request(conference, call, kind, at)
    }

    /// `announcement-end`: for a participant's announcement, with its
    /// parameters while it is still in the conference.
    pub(crate) fn announcement_ended(
        &mut self,
        conference: &ConferenceSid,
        call: Option<&CallSid>,
        at: Timestamp,
    ) -> Option<Outgoing> {
        let tracked = self.conferences.get_mut(conference)?;
        match call {
            Some(call) if tracked.participants.contains_key(call) => {
                tracked.participant_request(conference, call, Kind::AnnouncementEnd, at)
            }
            _ => tracked.request(conference, Kind::AnnouncementEnd, at, |_| {}),
        }
    }

    /// A participant's state changed by `change`, which says the event.
    fn changed(
        &mut self,
        conference: &ConferenceSid,
        call: &CallSid,
        at: Timestamp,
        change: impl FnOnce(&mut Participant) -> Kind,
    ) -> Option<Outgoing> {
        let tracked = self.conferences.get_mut(conference)?;
        let kind = change(tracked.participants.get_mut(call)?);
        tracked.participant_request(conference, call, kind, at)
    }

    fn left(
        &mut self,
        conference: &ConferenceSid,
        call: &CallSid,
        reason: LeaveReason,
        ending: Option<ConferenceEndReason>,
        at: Timestamp,
    ) -> Option<Outgoing> {
        let tracked = self.conferences.get_mut(conference)?;
        let participant = tracked.participants.remove(call)?;
        if let Some(label) = &participant.label {
            tracked.labels_left.insert(call.clone(), label.clone());
        }
        let (why, status) = leave_words(reason, ending);
        tracked.request(conference, Kind::Leave, at, |params| {
            participant_params(params, call, &participant);
            if let Some(why) = why {
                params.push("ReasonParticipantLeft", why);
            }
            params.push("ParticipantCallStatus", status);
        })
    }
}

impl Tracked {
    /// `kind` for a participant still here.
    fn participant_request(
        &mut self,
        conference: &ConferenceSid,
        call: &CallSid,
        kind: Kind,
        at: Timestamp,
    ) -> Option<Outgoing> {
        let participant = self.participants.get(call)?.clone();
        self.request(conference, kind, at, |params| {
            participant_params(params, call, &participant);
        })
    }

    /// The request for `kind` if the callback asks for it: the
    /// conference's parameters, then what `more` adds.
    fn request(
        &mut self,
        conference: &ConferenceSid,
        kind: Kind,
        at: Timestamp,
        more: impl FnOnce(&mut Params),
    ) -> Option<Outgoing> {
        let callback = self.callback.as_ref().filter(|c| c.wants(kind))?;
        self.sequence += 1;
        let mut params = Params::new();
        params.push("ConferenceSid", conference.as_str());
        params.push("FriendlyName", self.friendly_name.as_str());
        params.push("AccountSid", self.account.as_str());
        params.push("SequenceNumber", self.sequence.to_string());
        params.push("Timestamp", at.rfc2822());
        params.push("StatusCallbackEvent", kind.name());
        more(&mut params);
        Some(Outgoing {
            conference: conference.clone(),
            account: self.account.clone(),
            request: WebhookRequest {
                url: callback.url.clone(),
                method: callback.method,
                params,
            },
        })
    }
}

fn participant_params(params: &mut Params, call: &CallSid, p: &Participant) {
    let flag = |b: bool| if b { "true" } else { "false" };
    params.push("CallSid", call.as_str());
    params.push("Muted", flag(p.muted));
    params.push("Hold", flag(p.hold));
    params.push("Coaching", flag(p.coaching));
    params.push("EndConferenceOnExit", flag(p.end_conference_on_exit));
    params.push("StartConferenceOnEnter", flag(p.start_conference_on_enter));
    if let Some(label) = &p.label {
        params.push("ParticipantLabel", label.as_str());
    }
}

/// A leave's `ReasonParticipantLeft` (Twilio has words for a hang-up, the
/// API's removal and the conference ending; none for `*`, a time limit or
/// a shutdown) and `ParticipantCallStatus` (the call goes on with its
/// TwiML unless it hung up or the server is stopping).
fn leave_words(
    reason: LeaveReason,
    ending: Option<ConferenceEndReason>,
) -> (Option<&'static str>, &'static str) {
    match reason {
        LeaveReason::Hangup => (Some("participant_hung_up"), "completed"),
        LeaveReason::Kicked => (Some("participant_updated_via_api"), "in-progress"),
        LeaveReason::ConferenceEnded => {
            let why = match ending {
                Some(ConferenceEndReason::EndedViaApi) => Some("conference_ended_via_api"),
                Some(
                    ConferenceEndReason::EndConferenceOnExitLeft
                    | ConferenceEndReason::EndConferenceOnExitKicked,
                ) => Some("moderator_ended_conference"),
                _ => None,
            };
            (why, "in-progress")
        }
        LeaveReason::HangupOnStar | LeaveReason::TimeLimit => (None, "in-progress"),
        LeaveReason::Shutdown => (None, "completed"),
    }
}

/// The `Reason` of a `conference-end`, in words.
fn reason_text(reason: ConferenceEndReason, call: Option<&CallSid>) -> String {
    let call = call.map_or("", CallSid::as_str);
    match reason {
        ConferenceEndReason::EndedViaApi => "Conference ended via API".to_owned(),
        ConferenceEndReason::EndConferenceOnExitLeft => {
            format!("Participant {call} with endConferenceOnExit left the conference")
        }
        ConferenceEndReason::EndConferenceOnExitKicked => {
            format!("Participant {call} with endConferenceOnExit was removed from the conference")
        }
        ConferenceEndReason::LastParticipantLeft => {
            format!("Last participant {call} left the conference")
        }
        ConferenceEndReason::LastParticipantKicked => {
            format!("Last participant {call} was removed from the conference")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const CF: &str = "CF00000000000000000000000000000001";
    const AC: &str = "AC00000000000000000000000000000002";
    const A: &str = "CA0000000000000000000000000000000a";
    const B: &str = "CA0000000000000000000000000000000b";
    /// 2017-06-01T20:48:32Z, Twilio's documented example.
    const AT: i64 = 1_496_350_112;

    fn cf() -> ConferenceSid {
        ConferenceSid::parse(CF).unwrap()
    }
    fn ac() -> AccountSid {
        AccountSid::parse(AC).unwrap()
    }
    fn ca(s: &str) -> CallSid {
        CallSid::parse(s).unwrap()
    }
    fn at(plus: i64) -> Timestamp {
        Timestamp::from_secs(AT + plus)
    }

    fn callback(events: &[&str]) -> StatusCallback {
        StatusCallback {
            url: "https://app.example.com/events?x=1".into(),
            method: HttpMethod::Post,
            events: events.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    fn created() -> Event {
        Event::ConferenceCreated {
            sid: cf(),
            account: ac(),
            friendly_name: "room".into(),
            at: at(0),
        }
    }

    fn joined(call: &str, label: Option<&str>, coach: Option<&str>) -> Event {
        Event::ParticipantJoined {
            conference: cf(),
            account: ac(),
            call: ca(call),
            muted: false,
            start_conference_on_enter: true,
            end_conference_on_exit: call == B,
            label: label.map(str::to_owned),
            coach: coach.map(ca),
            at: at(1),
        }
    }

    fn status(status: ConferenceStatus, reason: Option<ConferenceEndReason>, call: &str) -> Event {
        Event::StatusChanged {
            sid: cf(),
            status,
            reason,
            ending_call: Some(ca(call)),
            at: at(9),
        }
    }

    fn left(call: &str, reason: LeaveReason) -> Event {
        Event::ParticipantLeft {
            conference: cf(),
            call: ca(call),
            reason,
            at: at(9),
        }
    }

    /// A tracker with the conference created and A (with `events`) then B
    /// joined (B with `endConferenceOnExit`), the conference started; the
    /// requests that made.
    fn started(events: &[&str]) -> (Tracker, Vec<Outgoing>) {
        let mut tracker = Tracker::default();
        let batches = [
            vec![created(), joined(A, Some("agent"), None)],
            vec![
                joined(B, None, Some(A)),
                status(ConferenceStatus::InProgress, None, B),
            ],
        ];
        let mut requests = Vec::new();
        for batch in batches {
            let observed =
                tracker.observe(&batch, |call| (call == &ca(A)).then(|| callback(events)));
            requests.extend(observed.requests);
        }
        (tracker, requests)
    }

    fn pairs(o: &Outgoing) -> Vec<(String, String)> {
        o.request
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn expect(pairs_: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs_
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const ALL: [&str; 9] = model::CONFERENCE_CALLBACK_EVENTS;

    #[test]
    fn joins_and_the_start_carry_twilios_parameters_in_order() {
        let (_, requests) = started(&ALL);
        assert_eq!(requests.len(), 3);
        for r in &requests {
            assert_eq!(r.conference, cf());
            assert_eq!(r.account, ac());
            assert_eq!(
                r.request.url.as_url().as_str(),
                "https://app.example.com/events?x=1"
            );
            assert_eq!(r.request.method, HttpMethod::Post);
        }
        let conference = |seq: &'static str, event: &'static str, ts: &'static str| {
            vec![
                ("ConferenceSid", CF),
                ("FriendlyName", "room"),
                ("AccountSid", AC),
                ("SequenceNumber", seq),
                ("Timestamp", ts),
                ("StatusCallbackEvent", event),
            ]
        };
        let mut first = conference("1", "participant-join", "Thu, 01 Jun 2017 20:48:33 +0000");
        first.extend([
            ("CallSid", A),
            ("Muted", "false"),
            ("Hold", "false"),
            ("Coaching", "false"),
            ("EndConferenceOnExit", "false"),
            ("StartConferenceOnEnter", "true"),
            ("ParticipantLabel", "agent"),
        ]);
        assert_eq!(pairs(&requests[0]), expect(&first));
        let mut second = conference("2", "participant-join", "Thu, 01 Jun 2017 20:48:33 +0000");
        second.extend([
            ("CallSid", B),
            ("Muted", "false"),
            ("Hold", "false"),
            ("Coaching", "true"),
            ("EndConferenceOnExit", "true"),
            ("StartConferenceOnEnter", "true"),
        ]);
        assert_eq!(pairs(&requests[1]), expect(&second));
        let start = conference("3", "conference-start", "Thu, 01 Jun 2017 20:48:41 +0000");
        assert_eq!(pairs(&requests[2]), expect(&start));
    }

    #[test]
    fn mute_hold_and_modify_say_the_new_state() {
        let (mut tracker, _) = started(&ALL);
        let events = [
            Event::ParticipantMuted {
                conference: cf(),
                call: ca(A),
                muted: true,
                at: at(2),
            },
            Event::ParticipantHold {
                conference: cf(),
                call: ca(A),
                hold: true,
                at: at(3),
            },
            Event::ParticipantMuted {
                conference: cf(),
                call: ca(A),
                muted: false,
                at: at(4),
            },
            Event::ParticipantHold {
                conference: cf(),
                call: ca(A),
                hold: false,
                at: at(5),
            },
            Event::ParticipantEndOnExit {
                conference: cf(),
                call: ca(A),
                end_conference_on_exit: true,
                at: at(6),
            },
        ];
        let requests = tracker.observe(&events, |_| None).requests;
        let got: Vec<(&str, &str, &str, &str, &str)> = requests
            .iter()
            .map(|r| {
                let p = &r.request.params;
                (
                    p.get("SequenceNumber").unwrap(),
                    p.get("StatusCallbackEvent").unwrap(),
                    p.get("Muted").unwrap(),
                    p.get("Hold").unwrap(),
                    p.get("EndConferenceOnExit").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("4", "participant-mute", "true", "false", "false"),
                ("5", "participant-hold", "true", "true", "false"),
                ("6", "participant-unmute", "false", "true", "false"),
                ("7", "participant-unhold", "false", "false", "false"),
                ("8", "participant-modify", "false", "false", "true"),
            ]
        );
        assert!(
            requests
                .iter()
                .all(|r| r.request.params.get("CallSid") == Some(A))
        );
    }

    #[test]
    fn an_end_on_exit_leave_ends_last_with_its_reason_and_the_dropped_leaves_first() {
        let (mut tracker, _) = started(&ALL);
        let reason = ConferenceEndReason::EndConferenceOnExitLeft;
        let events = [
            left(B, LeaveReason::Hangup),
            left(A, LeaveReason::ConferenceEnded),
            status(ConferenceStatus::Completed, Some(reason), B),
        ];
        let observed = tracker.observe(&events, |_| None);
        assert_eq!(observed.finished, [cf()]);
        let r = &observed.requests;
        assert_eq!(r.len(), 3);
        let leave = |o: &Outgoing, call: &str, why: &str, status: &str| {
            let p = &o.request.params;
            assert_eq!(p.get("StatusCallbackEvent"), Some("participant-leave"));
            assert_eq!(p.get("CallSid"), Some(call));
            assert_eq!(p.get("ReasonParticipantLeft"), Some(why));
            assert_eq!(p.get("ParticipantCallStatus"), Some(status));
        };
        leave(&r[0], B, "participant_hung_up", "completed");
        leave(&r[1], A, "moderator_ended_conference", "in-progress");
        assert_eq!(r[1].request.params.get("ParticipantLabel"), Some("agent"));
        let end = expect(&[
            ("ConferenceSid", CF),
            ("FriendlyName", "room"),
            ("AccountSid", AC),
            ("SequenceNumber", "6"),
            ("Timestamp", "Thu, 01 Jun 2017 20:48:41 +0000"),
            ("StatusCallbackEvent", "conference-end"),
            ("CallSidEndingConference", B),
            (
                "ReasonConferenceEnded",
                "participant-with-end-conference-on-exit-left",
            ),
            (
                "Reason",
                "Participant CA0000000000000000000000000000000b with endConferenceOnExit left the conference",
            ),
        ]);
        assert_eq!(pairs(&r[2]), end);
        // Nothing more for it: the conference is gone.
        assert!(
            tracker
                .participant_event(&cf(), &ca(A), Kind::SpeechStart, at(10))
                .is_none()
        );
        assert!(tracker.announcement_ended(&cf(), None, at(10)).is_none());
    }

    #[test]
    fn an_api_end_names_its_reason_on_every_leave_and_the_end() {
        let (mut tracker, _) = started(&ALL);
        let events = [
            left(A, LeaveReason::ConferenceEnded),
            left(B, LeaveReason::ConferenceEnded),
            Event::StatusChanged {
                sid: cf(),
                status: ConferenceStatus::Completed,
                reason: Some(ConferenceEndReason::EndedViaApi),
                ending_call: None,
                at: at(9),
            },
        ];
        let r = tracker.observe(&events, |_| None).requests;
        let words: Vec<(&str, Option<&str>)> = r
            .iter()
            .map(|o| {
                let p = &o.request.params;
                (
                    p.get("StatusCallbackEvent").unwrap(),
                    p.get("ReasonParticipantLeft")
                        .or(p.get("ReasonConferenceEnded")),
                )
            })
            .collect();
        assert_eq!(
            words,
            [
                ("participant-leave", Some("conference_ended_via_api")),
                ("participant-leave", Some("conference_ended_via_api")),
                ("conference-end", Some("conference-ended-via-api")),
            ]
        );
        let end = &r[2].request.params;
        assert_eq!(end.get("CallSidEndingConference"), None);
        assert_eq!(end.get("Reason"), Some("Conference ended via API"));
    }

    #[test]
    fn the_last_labelled_participant_leaving_names_its_label_on_the_end() {
        let mut tracker = Tracker::default();
        let events = [
            created(),
            joined(A, Some("agent"), None),
            left(A, LeaveReason::Kicked),
            status(
                ConferenceStatus::Completed,
                Some(ConferenceEndReason::LastParticipantKicked),
                A,
            ),
        ];
        let r = tracker
            .observe(&events, |_| Some(callback(&["leave", "end"])))
            .requests;
        assert_eq!(r.len(), 2);
        let leave = &r[0].request.params;
        assert_eq!(leave.get("SequenceNumber"), Some("1"));
        assert_eq!(
            leave.get("ReasonParticipantLeft"),
            Some("participant_updated_via_api")
        );
        assert_eq!(leave.get("ParticipantCallStatus"), Some("in-progress"));
        let end = &r[1].request.params;
        assert_eq!(end.get("SequenceNumber"), Some("2"));
        assert_eq!(end.get("ParticipantLabelEndingConference"), Some("agent"));
        assert_eq!(
            end.get("ReasonConferenceEnded"),
            Some("last-participant-kicked")
        );
    }

    #[test]
    fn speech_and_announcements_are_sent_for_participants_still_here() {
        let (mut tracker, _) = started(&ALL);
        let start = tracker
            .participant_event(&cf(), &ca(B), Kind::SpeechStart, at(3))
            .unwrap();
        let p = &start.request.params;
        assert_eq!(
            p.get("StatusCallbackEvent"),
            Some("participant-speech-start")
        );
        assert_eq!(p.get("CallSid"), Some(B));
        assert_eq!(p.get("SequenceNumber"), Some("4"));
        let stop = tracker
            .participant_event(&cf(), &ca(B), Kind::SpeechStop, at(4))
            .unwrap();
        assert_eq!(
            stop.request.params.get("StatusCallbackEvent"),
            Some("participant-speech-stop")
        );
        let stranger = ca("CA0000000000000000000000000000000c");
        assert!(
            tracker
                .participant_event(&cf(), &stranger, Kind::SpeechStart, at(4))
                .is_none()
        );

        let to_b = tracker
            .announcement_ended(&cf(), Some(&ca(B)), at(5))
            .unwrap();
        let p = &to_b.request.params;
        assert_eq!(p.get("StatusCallbackEvent"), Some("announcement-end"));
        assert_eq!(p.get("CallSid"), Some(B));
        let to_all = tracker.announcement_ended(&cf(), None, at(6)).unwrap();
        assert_eq!(to_all.request.params.get("CallSid"), None);
        assert_eq!(to_all.request.params.get("SequenceNumber"), Some("7"));
    }

    #[test]
    fn only_the_events_asked_for_are_sent_and_numbered() {
        let (mut tracker, requests) = started(&["join"]);
        let names: Vec<_> = requests
            .iter()
            .map(|r| r.request.params.get("SequenceNumber").unwrap().to_owned())
            .collect();
        assert_eq!(names, ["1", "2"]);
        assert!(
            tracker
                .participant_event(&cf(), &ca(A), Kind::SpeechStart, at(3))
                .is_none()
        );
        let events = [Event::ParticipantMuted {
            conference: cf(),
            call: ca(A),
            muted: true,
            at: at(2),
        }];
        assert!(tracker.observe(&events, |_| None).requests.is_empty());
    }

    #[test]
    fn no_events_named_means_start_and_end() {
        let (mut tracker, requests) = started(&[]);
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0].request.params.get("StatusCallbackEvent"),
            Some("conference-start")
        );
        let events = [
            left(A, LeaveReason::Hangup),
            left(B, LeaveReason::Hangup),
            status(
                ConferenceStatus::Completed,
                Some(ConferenceEndReason::LastParticipantLeft),
                B,
            ),
        ];
        let r = tracker.observe(&events, |_| None).requests;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].request.params.get("SequenceNumber"), Some("2"));
    }

    #[test]
    fn the_first_participants_callback_is_the_conferences_and_only_it() {
        // A named none: B's is ignored, nothing is ever sent.
        let mut tracker = Tracker::default();
        let observed = tracker.observe(
            &[created(), joined(A, None, None), joined(B, None, None)],
            |call| (call == &ca(B)).then(|| callback(&ALL)),
        );
        assert!(observed.requests.is_empty());

        // A asked for speaker events only: B's callback, which asks for
        // joins, is ignored.
        let mut tracker = Tracker::default();
        tracker.observe(&[created(), joined(A, None, None)], |_| {
            Some(callback(&["speaker"]))
        });
        let observed = tracker.observe(&[joined(B, None, None)], |_| Some(callback(&ALL)));
        assert!(observed.requests.is_empty(), "B's callback asked for joins");
    }

    /// Delivery over real sockets.
    mod delivery {
        use std::sync::Mutex;

        use api::MetricsSource;
        use axum::http::HeaderMap;

        use super::*;
        use crate::Clock;

        /// A store with one account.
        async fn store() -> (Store, model::Account, tempfile::TempDir) {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("confab.db").display());
            let store = Store::connect(&url).await.unwrap();
            let account = crate::accounts::create(&store, "cb", crate::SystemClock.now())
                .await
                .unwrap();
            (store, account, dir)
        }

        fn outgoing(account: &AccountSid, url: &str, n: usize) -> Outgoing {
            let mut params = Params::new();
            params.push("SequenceNumber", n.to_string());
            params.push("StatusCallbackEvent", "participant-join");
            Outgoing {
                conference: cf(),
                account: account.clone(),
                request: WebhookRequest {
                    url: HttpUrl::parse(url).unwrap(),
                    method: HttpMethod::Post,
                    params,
                },
            }
        }

        #[derive(Default)]
        struct Seen {
            in_flight: usize,
            most_in_flight: usize,
            /// Each request's SequenceNumber and whether its signature held.
            got: Vec<(String, bool)>,
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn callbacks_go_one_at_a_time_in_order_and_signed() {
            let (store, account, _dir) = store().await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/events", listener.local_addr().unwrap());
            let seen = Arc::new(Mutex::new(Seen::default()));
            let (token, at) = (account.auth_token.clone(), url.clone());
            let record = seen.clone();
            let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
                let (seen, token, url) = (record.clone(), token.clone(), at.clone());
                async move {
                    {
                        let mut s = seen.lock().unwrap();
                        s.in_flight += 1;
                        s.most_in_flight = s.most_in_flight.max(s.in_flight);
                    }
                    // A slow app: a second request would overlap this one.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let form: Vec<(String, String)> =
                        url::form_urlencoded::parse(&body).into_owned().collect();
                    let expected = twiml::webhook::signature(
                        &token,
                        &url,
                        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    );
                    let signed = headers
                        .get("x-twilio-signature")
                        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
                    let n = form
                        .iter()
                        .find(|(k, _)| k == "SequenceNumber")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    let mut s = seen.lock().unwrap();
                    s.in_flight -= 1;
                    s.got.push((n, signed));
                }
            };
            let app = axum::Router::new().route("/events", axum::routing::post(handler));
            tokio::spawn(async move { axum::serve(listener, app).await });

            let metrics = Arc::new(Metrics::new());
            let mut callbacks = StatusCallbacks::new(store, metrics.clone());
            let requests: Vec<Outgoing> =
                (1..=20).map(|n| outgoing(&account.sid, &url, n)).collect();
            callbacks.send(requests);

            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while seen.lock().unwrap().got.len() < 20 {
                assert!(std::time::Instant::now() < deadline, "not all arrived");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let s = seen.lock().unwrap();
            let expected: Vec<(String, bool)> = (1..=20).map(|n| (n.to_string(), true)).collect();
            assert_eq!(s.got, expected);
            assert_eq!(s.most_in_flight, 1);
        }

        /// An app that takes connections and never answers; counts them.
        async fn silent_app() -> (String, Arc<Mutex<usize>>) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/events", listener.local_addr().unwrap());
            let accepted = Arc::new(Mutex::new(0));
            let count = accepted.clone();
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((socket, _)) = listener.accept().await {
                    held.push(socket);
                    *count.lock().unwrap() += 1;
                }
            });
            (url, accepted)
        }

        /// On tokio's paused clock (it jumps ahead while everything waits).
        #[tokio::test(start_paused = true)]
        async fn a_request_that_never_answers_gives_way_to_the_next_after_the_timeout() {
            let (url, accepted) = silent_app().await;
            let account = ac();
            let (tx, rx) = mpsc::channel(QUEUE);
            for n in 1..=2 {
                tx.try_send(outgoing(&account, &url, n).request).unwrap();
            }
            drop(tx);
            let client = crate::fetch::client(TIMEOUT).unwrap();
            let token = model::AuthToken::from_stored("token".into());
            let began = tokio::time::Instant::now();
            let worker = tokio::spawn(async move {
                send_in_order(rx, &token, &client, &Metrics::new()).await;
            });
            let mut seen = Vec::new();
            while seen.len() < 2 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let n = *accepted.lock().unwrap();
                if n > seen.len() {
                    seen.push(began.elapsed());
                }
                assert!(began.elapsed() < TIMEOUT * 3, "the second never came");
            }
            assert!(seen[0] < Duration::from_secs(1), "{seen:?}");
            assert!(
                seen[1] >= TIMEOUT,
                "the second came before the first timed out: {seen:?}"
            );
            worker.await.unwrap();
            assert!(began.elapsed() >= TIMEOUT * 2);
        }

        #[tokio::test]
        async fn a_full_queue_drops_and_counts_without_waiting() {
            let (store, account, _dir) = store().await;
            let (url, _) = silent_app().await;
            let metrics = Arc::new(Metrics::new());
            let mut callbacks = StatusCallbacks::new(store, metrics.clone());
            // On this one-thread runtime the worker cannot take any before
            // `send` returns: the queue takes QUEUE, the rest are dropped.
            let requests: Vec<Outgoing> = (1..=QUEUE + 10)
                .map(|n| outgoing(&account.sid, &url, n))
                .collect();
            callbacks.send(requests);
            let text = metrics.render().unwrap().body;
            assert!(
                text.lines()
                    .any(|l| l == "confab_status_callbacks_dropped_total 10"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_get_callback_puts_the_parameters_in_the_query() {
        let mut tracker = Tracker::default();
        let get = StatusCallback {
            method: HttpMethod::Get,
            ..callback(&["join"])
        };
        let r = tracker
            .observe(&[created(), joined(A, None, None)], |_| Some(get.clone()))
            .requests;
        let url = r[0].request.request_url();
        assert!(
            url.as_str()
                .starts_with("https://app.example.com/events?x=1&ConferenceSid=CF")
        );
        assert!(
            url.as_str()
                .contains("StatusCallbackEvent=participant-join")
        );
        assert_eq!(r[0].request.form_body(), None);
    }
}
