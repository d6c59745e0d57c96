//! What `GET /metrics` reports: calls, rooms, participants, RTP packets, the
//! mixer's tick and the webhooks, as typed `prometheus-client` families in one
//! [`Registry`] per [`crate::Server`] (no process-global recorder: tests run
//! several servers in one process).
//!
//! Who counts what:
//! - call tasks ([`crate::call`]) count calls received, answered (the
//!   [`ActiveCall`] guard) and failed; [`crate::fetch`] times every webhook;
//! - the hub feeds every rules event, in order, to [`RoomGauges`], which
//!   keeps the room and participant gauges;
//! - the SIP task counts the new requests its guard dropped or refused;
//! - [`crate::status_callbacks`] counts the callbacks a full queue dropped;
//! - each room task keeps its [`media::RoomStats`] (counted by `media`
//!   itself: the latch's foreign drops, the jitter buffer's late, duplicate
//!   and lost packets) and adds what is new to the shared counters once per
//!   tick through [`RtpFlushed`], so a packet costs no shared atomic; it also
//!   times its tick.
//!
//! A mix tick counts as late ([`LATE_TICK`]) when it began more than half a
//! tick after it was due: the room could not keep its 20 ms cadence (a
//! starved runtime, or a tick before it that overran, whose own duration
//! is in the histogram). Smaller delays are absorbed by the phones' jitter
//! buffers; past half a frame, packets leave visibly bunched, and a stall
//! of a whole tick skips one (the room's interval skips missed ticks).
//!
//! Labels carry no account sid, phone number or SIP URI: the endpoint is
//! unauthenticated, like `/healthz`, and reports aggregates only.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use conference::Event;
use media::{LegStats, TICK};
use model::{ConferenceSid, ConferenceStatus};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// A tick that begins later than this after it was due is counted late.
pub const LATE_TICK: Duration = Duration::from_millis(10);

/// Upper bounds of the tick histogram, in seconds: a tick mixing a few legs
/// takes tens of microseconds; 20 ms is the whole budget, 40 ms two of them.
const TICK_BUCKETS: [f64; 11] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.015, 0.02, 0.04,
];
/// Upper bounds of the webhook histogram, in seconds (the default timeout is 10 s).
const WEBHOOK_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

type StatusLabel = [(&'static str, &'static str); 1];
/// A mix thread's index (`thread="0"`).
type ThreadLabel = [(&'static str, String); 1];
const INIT: StatusLabel = [("status", "init")];
const IN_PROGRESS: StatusLabel = [("status", "in-progress")];

/// Every metric of one server, and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls_active: Gauge,
    calls: Counter,
    calls_failed: Counter,
    rooms_init: Gauge,
    rooms_in_progress: Gauge,
    rooms_completed: Counter,
    participants: Gauge,
    rtp_received: Counter,
    rtp_sent: Counter,
    rtp_lost: Counter,
    rtp_late: Counter,
    rtp_foreign: Counter,
    rtcp_received: Counter,
    rtcp_sent: Counter,
    rtcp_malformed: Counter,
    rtcp_peer_lost: Counter,
    mix_tick: TickHistogram,
    mix_ticks_late: Counter,
    mix_thread_rooms: Family<ThreadLabel, Gauge>,
    mix_thread_legs: Family<ThreadLabel, Gauge>,
    mix_thread_ticks_late: Family<ThreadLabel, Counter>,
    webhook: Histogram,
    webhook_failures: Counter,
    status_callbacks_dropped: Counter,
    sip_limited: Counter,
    sip_forbidden: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under the `confab_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("confab");
        let calls_active = Gauge::default();
        registry.register(
            "calls_active",
            "Calls answered and not yet ended",
            calls_active.clone(),
        );
        let calls = Counter::default();
        registry.register(
            "calls",
            "Calls received (INVITEs that reached a call task), answered or not",
            calls.clone(),
        );
        let calls_failed = Counter::default();
        registry.register(
            "calls_failed",
            "Calls refused with a server error (503: routing failed, no RTP port) \
             or ended by an application error (voice URL or TwiML failed)",
            calls_failed.clone(),
        );
        let rooms = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "rooms",
            "Live conferences by status (init: waiting to start; in-progress)",
            rooms.clone(),
        );
        let rooms_init = rooms.get_or_create_owned(&INIT);
        let rooms_in_progress = rooms.get_or_create_owned(&IN_PROGRESS);
        let rooms_completed = Counter::default();
        registry.register(
            "rooms_completed",
            "Conferences completed",
            rooms_completed.clone(),
        );
        let participants = Gauge::default();
        registry.register(
            "participants",
            "Participants in live conferences",
            participants.clone(),
        );
        let rtp_received = Counter::default();
        registry.register(
            "rtp_packets_received",
            "RTP packets accepted from conference legs' latched sources",
            rtp_received.clone(),
        );
        let rtp_sent = Counter::default();
        registry.register(
            "rtp_packets_sent",
            "RTP packets the mixer sent to conference legs",
            rtp_sent.clone(),
        );
        let rtp_lost = Counter::default();
        registry.register(
            "rtp_packets_lost",
            "RTP packets conference legs sent that never arrived (sequence gaps)",
            rtp_lost.clone(),
        );
        let rtp_late = Counter::default();
        registry.register(
            "rtp_packets_late",
            "RTP packets the jitter buffers dropped: arrived after their audio \
             was played, or duplicates",
            rtp_late.clone(),
        );
        let rtp_foreign = Counter::default();
        registry.register(
            "rtp_packets_foreign",
            "RTP packets dropped because they came from an address other than \
             the one the leg latched on",
            rtp_foreign.clone(),
        );
        let rtcp_received = Counter::default();
        registry.register(
            "rtcp_packets_received",
            "RTCP datagrams received from conference legs (on the RTP port, rtcp-mux)",
            rtcp_received.clone(),
        );
        let rtcp_sent = Counter::default();
        registry.register(
            "rtcp_reports_sent",
            "RTCP reports (SR or RR with SDES) sent to conference legs",
            rtcp_sent.clone(),
        );
        let rtcp_malformed = Counter::default();
        registry.register(
            "rtcp_packets_malformed",
            "RTCP datagrams from conference legs that did not parse (dropped)",
            rtcp_malformed.clone(),
        );
        let rtcp_peer_lost = Counter::default();
        registry.register(
            "rtcp_peer_packets_lost",
            "Packets of ours the legs' peers reported lost in their RTCP reports",
            rtcp_peer_lost.clone(),
        );
        let mix_tick = TickHistogram::default();
        registry.register_with_unit(
            "mix_tick",
            "Time one room's 20 ms tick took: read its legs' sockets, mix, send",
            Unit::Seconds,
            mix_tick.clone(),
        );
        let mix_ticks_late = Counter::default();
        registry.register(
            "mix_ticks_late",
            "Room ticks that began more than 10 ms (half a tick) after they were due",
            mix_ticks_late.clone(),
        );
        let mix_thread_rooms = Family::default();
        registry.register(
            "mix_thread_rooms",
            "Live rooms on each mix thread (--mix-threads)",
            mix_thread_rooms.clone(),
        );
        let mix_thread_legs = Family::default();
        registry.register(
            "mix_thread_legs",
            "Legs in the rooms of each mix thread",
            mix_thread_legs.clone(),
        );
        let mix_thread_ticks_late = Family::default();
        registry.register(
            "mix_thread_ticks_late",
            "Ticks of each mix thread's rooms that began more than 10 ms after they were due",
            mix_thread_ticks_late.clone(),
        );
        let webhook = Histogram::new(WEBHOOK_BUCKETS);
        registry.register_with_unit(
            "webhook",
            "Time webhook requests took (voice URL, action, waitUrl, end of call, \
             conference status callbacks), \
             failed ones included",
            Unit::Seconds,
            webhook.clone(),
        );
        let webhook_failures = Counter::default();
        registry.register(
            "webhook_failures",
            "Webhook requests that failed: transport error, timeout, non-2xx status",
            webhook_failures.clone(),
        );
        let status_callbacks_dropped = Counter::default();
        registry.register(
            "status_callbacks_dropped",
            "Conference status callbacks dropped unsent: their conference's queue was full, \
             or its account's AuthToken could not be read",
            status_callbacks_dropped.clone(),
        );
        let sip_limited = Counter::default();
        registry.register(
            "sip_requests_limited",
            "New SIP INVITEs and OPTIONS dropped unanswered: their source was over its rate",
            sip_limited.clone(),
        );
        let sip_forbidden = Counter::default();
        registry.register(
            "sip_invites_forbidden",
            "New SIP INVITEs refused 403: their source is outside --sip-allow",
            sip_forbidden.clone(),
        );
        Self {
            registry,
            calls_active,
            calls,
            calls_failed,
            rooms_init,
            rooms_in_progress,
            rooms_completed,
            participants,
            rtp_received,
            rtp_sent,
            rtp_lost,
            rtp_late,
            rtp_foreign,
            rtcp_received,
            rtcp_sent,
            rtcp_malformed,
            rtcp_peer_lost,
            mix_tick,
            mix_ticks_late,
            mix_thread_rooms,
            mix_thread_legs,
            mix_thread_ticks_late,
            webhook,
            webhook_failures,
            status_callbacks_dropped,
            sip_limited,
            sip_forbidden,
        }
    }

    /// A call task started for an INVITE.
    pub(crate) fn call_received(&self) {
        self.calls.inc();
    }

    /// The call was answered; it counts as active until the guard is dropped.
    #[must_use]
    pub(crate) fn call_answered(&self) -> ActiveCall {
        self.calls_active.inc();
        ActiveCall(self.calls_active.clone())
    }

    /// The call was refused with a server error, or the application failed it.
    pub(crate) fn call_failed(&self) {
        self.calls_failed.inc();
    }

    /// One webhook request took `took`, and succeeded or not.
    pub(crate) fn webhook_done(&self, took: Duration, ok: bool) {
        self.webhook.observe(took.as_secs_f64());
        if !ok {
            self.webhook_failures.inc();
        }
    }

    /// A conference status callback was dropped unsent (a full queue, no token).
    pub(crate) fn status_callback_dropped(&self) {
        self.status_callbacks_dropped.inc();
    }

    /// A new INVITE or OPTIONS was dropped: its source was over its rate.
    pub(crate) fn sip_request_limited(&self) {
        self.sip_limited.inc();
    }

    /// A new INVITE was refused 403: its source is not allowed to call.
    pub(crate) fn sip_invite_forbidden(&self) {
        self.sip_forbidden.inc();
    }

    /// Mix thread `thread`'s rooms and legs gauges and late-tick counter,
    /// shown from now on (at zero). The thread keeps these handles, so its
    /// rooms never look the family up again.
    pub(crate) fn mix_thread(&self, thread: usize) -> (Gauge, Gauge, Counter) {
        let label = [("thread", thread.to_string())];
        (
            self.mix_thread_rooms.get_or_create_owned(&label),
            self.mix_thread_legs.get_or_create_owned(&label),
            self.mix_thread_ticks_late.get_or_create_owned(&label),
        )
    }

    /// One room tick took `took` and began `late_by` after it was due; a
    /// late one counts in `thread_late` too (its mix thread's counter).
    pub(crate) fn tick_done(&self, took: Duration, late_by: Duration, thread_late: &Counter) {
        self.mix_tick.observe(took);
        if late_by > LATE_TICK {
            self.mix_ticks_late.inc();
            thread_late.inc();
        }
    }

    /// Adds to the RTP counters what one room's `stats` (sums over every
    /// leg it ever had) counted since `flushed`.
    pub(crate) fn flush_rtp(&self, stats: &LegStats, flushed: &mut RtpFlushed) {
        add_new(&self.rtp_received, stats.packets_in, &mut flushed.received);
        add_new(&self.rtp_sent, stats.packets_out, &mut flushed.sent);
        add_new(&self.rtp_lost, stats.lost, &mut flushed.lost);
        add_new(
            &self.rtp_late,
            stats.late.saturating_add(stats.duplicate),
            &mut flushed.late,
        );
        add_new(
            &self.rtp_foreign,
            stats.foreign_dropped,
            &mut flushed.foreign,
        );
        add_new(&self.rtcp_received, stats.rtcp_in, &mut flushed.rtcp_in);
        add_new(&self.rtcp_sent, stats.rtcp_out, &mut flushed.rtcp_out);
        add_new(
            &self.rtcp_malformed,
            stats.rtcp_malformed,
            &mut flushed.rtcp_malformed,
        );
        add_new(
            &self.rtcp_peer_lost,
            stats.peer_lost,
            &mut flushed.peer_lost,
        );
    }
}

impl api::MetricsSource for Metrics {
    fn render(&self) -> Result<api::Exposition, std::fmt::Error> {
        let mut body = String::with_capacity(4096);
        prometheus_text::encode(&mut body, &self.registry)?;
        Ok(api::Exposition {
            content_type: prometheus_text::CONTENT_TYPE,
            body,
        })
    }
}

/// The mix tick histogram ([`TICK_BUCKETS`]), in atomics: every room of
/// every mix thread observes its ticks here, and `prometheus-client`'s
/// `Histogram` takes a mutex to observe that `/metrics` also holds while it
/// renders, which a tick must never wait for. A scrape reads each bucket
/// once and counts their sum, so its buckets and count always agree (its
/// sum may miss a tick being observed).
#[derive(Debug, Clone, Default)]
struct TickHistogram(Arc<TickCounts>);

#[derive(Debug, Default)]
struct TickCounts {
    /// Ticks in each bucket (not cumulative), the last one past them all.
    buckets: [AtomicU64; TICK_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl TickHistogram {
    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = TICK_BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(TICK_BUCKETS.len());
        if let Some(counter) = self.0.buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl EncodeMetric for TickHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = TICK_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.0.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|&(_, n)| n).sum();
        let sum = Duration::from_nanos(self.0.sum_nanos.load(Ordering::Relaxed)).as_secs_f64();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// An answered call; dropping it (however the call task ends) makes the
/// call inactive.
#[derive(Debug)]
pub(crate) struct ActiveCall(Gauge);

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What one room has already added to the shared RTP counters.
#[derive(Debug, Default)]
pub(crate) struct RtpFlushed {
    received: u64,
    sent: u64,
    lost: u64,
    late: u64,
    foreign: u64,
    rtcp_in: u64,
    rtcp_out: u64,
    rtcp_malformed: u64,
    peer_lost: u64,
}

/// Adds `now - flushed` if `now` is ahead. Counts that can go back (the
/// jitter buffer's loss count drops when a reordered packet turns up) are
/// only added past their highest value, so a counter never counts twice.
fn add_new(counter: &Counter, now: u64, flushed: &mut u64) {
    if now > *flushed {
        counter.inc_by(now - *flushed);
        *flushed = now;
    }
}

/// The room and participant gauges, kept by the hub from the rules' events
/// in the order they happened.
#[derive(Debug, Default)]
pub(crate) struct RoomGauges {
    /// Live conferences that are in progress (the rest are init).
    started: HashSet<ConferenceSid>,
}

impl RoomGauges {
    pub(crate) fn observe(&mut self, metrics: &Metrics, event: &Event) {
        match event {
            Event::ConferenceCreated { .. } => {
                metrics.rooms_init.inc();
            }
            Event::StatusChanged {
                sid,
                status: ConferenceStatus::InProgress,
                ..
            } => {
                if self.started.insert(sid.clone()) {
                    metrics.rooms_init.dec();
                    metrics.rooms_in_progress.inc();
                }
            }
            Event::StatusChanged {
                sid,
                status: ConferenceStatus::Completed,
                ..
            } => {
                if self.started.remove(sid) {
                    metrics.rooms_in_progress.dec();
                } else {
                    metrics.rooms_init.dec();
                }
                metrics.rooms_completed.inc();
            }
            Event::StatusChanged {
                status: ConferenceStatus::Init,
                ..
            }
            | Event::ParticipantMuted { .. }
            | Event::ParticipantHold { .. }
            | Event::ParticipantEndOnExit { .. } => {}
            Event::ParticipantJoined { .. } => {
                metrics.participants.inc();
            }
            Event::ParticipantLeft { .. } => {
                metrics.participants.dec();
            }
        }
    }
}

// LATE_TICK is half a tick.
const _: () = assert!(LATE_TICK.as_millis() * 2 == TICK.as_millis());

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use api::MetricsSource;
    use conference::LeaveReason;
    use model::{AccountSid, CallSid, Timestamp};

    use super::*;

    fn render(metrics: &Metrics) -> String {
        let exposition = metrics.render().unwrap();
        assert_eq!(
            exposition.content_type,
            "text/plain; version=0.0.4; charset=utf-8"
        );
        exposition.body
    }

    /// The value of the sample written exactly `series` (name and labels).
    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    }

    fn sid(n: u8) -> ConferenceSid {
        ConferenceSid::parse(&format!("CF{n:032x}")).unwrap()
    }

    #[test]
    fn everything_starts_at_zero_and_is_named_by_the_conventions() {
        let text = render(&Metrics::new());
        for series in [
            "confab_calls_active",
            "confab_calls_total",
            "confab_calls_failed_total",
            r#"confab_rooms{status="init"}"#,
            r#"confab_rooms{status="in-progress"}"#,
            "confab_rooms_completed_total",
            "confab_participants",
            "confab_rtp_packets_received_total",
            "confab_rtp_packets_sent_total",
            "confab_rtp_packets_lost_total",
            "confab_rtp_packets_late_total",
            "confab_rtp_packets_foreign_total",
            "confab_mix_tick_seconds_count",
            "confab_mix_ticks_late_total",
            "confab_webhook_seconds_count",
            "confab_webhook_failures_total",
            "confab_status_callbacks_dropped_total",
        ] {
            assert_eq!(value(&text, series), 0.0, "{series}");
        }
        assert!(text.contains("# HELP confab_calls_total Calls received"));
        assert!(text.contains("# TYPE confab_mix_tick_seconds histogram"));
        assert!(text.contains(r#"confab_mix_tick_seconds_bucket{le="0.02"} 0"#));
    }

    #[test]
    fn calls_ticks_and_webhooks_move_their_counters() {
        let metrics = Metrics::new();
        metrics.call_received();
        metrics.call_received();
        let first = metrics.call_answered();
        let second = metrics.call_answered();
        drop(first);
        metrics.call_failed();
        let (_, _, thread_late) = metrics.mix_thread(1);
        metrics.tick_done(Duration::from_micros(80), Duration::ZERO, &thread_late);
        metrics.tick_done(
            Duration::from_millis(25),
            Duration::from_millis(11),
            &thread_late,
        );
        metrics.webhook_done(Duration::from_millis(30), true);
        metrics.webhook_done(Duration::from_secs(3), false);
        let text = render(&metrics);
        assert_eq!(value(&text, "confab_calls_total"), 2.0);
        assert_eq!(value(&text, "confab_calls_active"), 1.0);
        assert_eq!(value(&text, "confab_calls_failed_total"), 1.0);
        assert_eq!(value(&text, "confab_mix_tick_seconds_count"), 2.0);
        assert_eq!(
            value(&text, r#"confab_mix_tick_seconds_bucket{le="0.0001"}"#),
            1.0
        );
        assert_eq!(
            value(&text, r#"confab_mix_tick_seconds_bucket{le="0.02"}"#),
            1.0
        );
        assert_eq!(
            value(&text, r#"confab_mix_tick_seconds_bucket{le="+Inf"}"#),
            2.0
        );
        assert!((value(&text, "confab_mix_tick_seconds_sum") - 0.025_08).abs() < 1e-9);
        assert_eq!(value(&text, "confab_mix_ticks_late_total"), 1.0);
        assert_eq!(
            value(&text, r#"confab_mix_thread_ticks_late_total{thread="1"}"#),
            1.0
        );
        assert_eq!(value(&text, r#"confab_mix_thread_rooms{thread="1"}"#), 0.0);
        assert_eq!(value(&text, "confab_webhook_seconds_count"), 2.0);
        assert_eq!(value(&text, "confab_webhook_failures_total"), 1.0);
        metrics.status_callback_dropped();
        assert_eq!(
            value(&render(&metrics), "confab_status_callbacks_dropped_total"),
            1.0
        );
        drop(second);
        assert_eq!(value(&render(&metrics), "confab_calls_active"), 0.0);
    }

    #[test]
    fn rtp_counters_add_each_rooms_news_once_and_never_go_back() {
        let metrics = Metrics::new();
        let mut a = RtpFlushed::default();
        let mut b = RtpFlushed::default();
        let mut stats = LegStats {
            packets_in: 10,
            packets_out: 12,
            lost: 2,
            late: 1,
            duplicate: 1,
            foreign_dropped: 3,
            rtcp_in: 4,
            rtcp_out: 2,
            rtcp_malformed: 1,
            peer_lost: 6,
            ..LegStats::default()
        };
        metrics.flush_rtp(&stats, &mut a);
        metrics.flush_rtp(&stats, &mut a); // nothing new
        metrics.flush_rtp(&stats, &mut b); // another room
        // A reordered packet turned up: the loss count drops, then rises again.
        stats.lost = 1;
        stats.packets_in = 11;
        metrics.flush_rtp(&stats, &mut a);
        stats.lost = 3;
        metrics.flush_rtp(&stats, &mut a);
        let text = render(&metrics);
        assert_eq!(value(&text, "confab_rtp_packets_received_total"), 21.0);
        assert_eq!(value(&text, "confab_rtp_packets_sent_total"), 24.0);
        assert_eq!(value(&text, "confab_rtp_packets_lost_total"), 5.0);
        assert_eq!(value(&text, "confab_rtp_packets_late_total"), 4.0);
        assert_eq!(value(&text, "confab_rtp_packets_foreign_total"), 6.0);
        assert_eq!(value(&text, "confab_rtcp_packets_received_total"), 8.0);
        assert_eq!(value(&text, "confab_rtcp_reports_sent_total"), 4.0);
        assert_eq!(value(&text, "confab_rtcp_packets_malformed_total"), 2.0);
        assert_eq!(value(&text, "confab_rtcp_peer_packets_lost_total"), 12.0);
    }

    #[test]
    fn room_gauges_follow_the_rules_events() {
        let metrics = Metrics::new();
        let mut gauges = RoomGauges::default();
        let at = Timestamp::from_secs(0);
        let account = AccountSid::parse(&format!("AC{:032x}", 1)).unwrap();
        let call = CallSid::parse(&format!("CA{:032x}", 1)).unwrap();
        // Each batch of events, observed in order, then the exposition.
        let mut observe = |events: &[Event]| {
            for event in events {
                gauges.observe(&metrics, event);
            }
            render(&metrics)
        };
        let status = |n, status| Event::StatusChanged {
            sid: sid(n),
            status,
            reason: None,
            ending_call: None,
            at,
        };
        let text = observe(&[
            Event::ConferenceCreated {
                sid: sid(1),
                account: account.clone(),
                friendly_name: "a".into(),
                at,
            },
            Event::ConferenceCreated {
                sid: sid(2),
                account: account.clone(),
                friendly_name: "b".into(),
                at,
            },
            Event::ParticipantJoined {
                conference: sid(1),
                account,
                call: call.clone(),
                muted: false,
                start_conference_on_enter: true,
                end_conference_on_exit: false,
                label: None,
                coach: None,
                at,
            },
            status(1, ConferenceStatus::InProgress),
        ]);
        assert_eq!(value(&text, r#"confab_rooms{status="init"}"#), 1.0);
        assert_eq!(value(&text, r#"confab_rooms{status="in-progress"}"#), 1.0);
        assert_eq!(value(&text, "confab_participants"), 1.0);

        let text = observe(&[
            Event::ParticipantLeft {
                conference: sid(1),
                call,
                reason: LeaveReason::Hangup,
                at,
            },
            status(1, ConferenceStatus::Completed),
            // A room that never started completes from init.
            status(2, ConferenceStatus::Completed),
        ]);
        assert_eq!(value(&text, r#"confab_rooms{status="init"}"#), 0.0);
        assert_eq!(value(&text, r#"confab_rooms{status="in-progress"}"#), 0.0);
        assert_eq!(value(&text, "confab_rooms_completed_total"), 2.0);
        assert_eq!(value(&text, "confab_participants"), 0.0);
    }
}
