//! A room: one task per live conference, the only thing "room" names in
//! this crate. It owns the conference's [`media::MediaRoom`] and its legs'
//! RTP sockets, and mixes every 20 ms.
//!
//! The hub spawns it when the conference rules create a conference and stops it
//! when they complete it; in between the hub sends it what the rules decided
//! (add or remove a leg, mute, start, beep, and the 2010 API's hold,
//! coaching and announcements). Each tick reads every leg's
//! sockets without blocking (no wake-up per packet), mixes, and sends each
//! leg's packet from the leg's own socket. A missed tick is
//! skipped rather than bunched up, as the jitter buffers expect. Each tick
//! is timed, and what the room's media counted since the last one is added
//! to the server's metrics.
//!
//! The task never waits for the hub, and knows nothing of it: a `*` from a
//! leg with `hangupOnStar` is reported into the hub's unbounded
//! [`RoomReports`] channel, so a hub waiting for this room's answer can
//! never wait for itself.
//!
//! Rooms run on the [`MixThreads`], dedicated threads beside the main
//! runtime's: a tick that falls due is not queued behind API requests,
//! webhooks and SIP on the main runtime's workers (under an API flood it
//! was, and ticks came late). A room is placed on one of them when it is
//! spawned and stays there; it counts its legs in that thread's load. A
//! leg's socket is a plain non-blocking `std::net::UdpSocket` while it is
//! in a room, so a tick's reads depend on no reactor either: the tick's own
//! read finds what has arrived.
//!
//! That read is one `recvmmsg` a socket ([`BatchRecv`]), not `recv_from`
//! until `EAGAIN`: a leg usually has one packet waiting at a tick, and
//! `recv_from` took two syscalls to learn it (the packet, then `EAGAIN`),
//! where a batch that comes back short says the same in one. A full batch
//! is read again, up to [`MAX_READS_PER_TICK`]. A leg without rtcp-mux has
//! a second socket for RTCP, which comes every few seconds: it is read
//! every [`RTCP_TICKS`]th tick (100 ms), not at every tick, where nearly
//! every read found nothing. With the one send per leg, a tick made about
//! four syscalls a leg, and now makes about two (docs/benchmarks.md,
//! "Batched reads on the tick").

use std::collections::HashMap;
use std::net::{self, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::{AudioSource, Beep, LegId, LegMedia, MediaEvent, MediaRoom, TICK};
use model::{CallSid, ConferenceSid};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::batch_recv::BatchRecv;
use crate::live::Live;
use crate::membership::{CallNotice, LegHandover, ReturnedLeg, RoomReport, RoomReports};
use crate::metrics::{Metrics, RtpFlushed};
use crate::mix_threads::{MixThreads, ThreadSlot};
use crate::rtp_activity::RtpActivity;

/// Commands waiting for the room before the hub waits too.
const QUEUE: usize = 256;
/// Datagrams read from one leg's socket per tick at most: a flood on one
/// port cannot starve the others' tick (a call's own player reads as much).
pub(crate) const MAX_READS_PER_TICK: usize = 64;
/// Ticks between two reads of a leg's RTCP socket (100 ms): RTCP comes
/// every few seconds, and a report read up to 100 ms late is none the worse.
const RTCP_TICKS: u32 = 5;
/// Ticks between two readings of the room's level meter (240 ms).
const LEVEL_TICKS: u32 = 12;

#[derive(Debug)]
enum Command {
    AddLeg {
        call: CallSid,
        leg: LegHandover,
        muted: bool,
    },
    RemoveLeg {
        call: CallSid,
        reply: oneshot::Sender<Option<ReturnedLeg>>,
    },
    SetMuted {
        call: CallSid,
        muted: bool,
        applied: oneshot::Sender<()>,
    },
    SetHold {
        call: CallSid,
        held: bool,
    },
    Renegotiate {
        call: CallSid,
        media: LegMedia,
    },
    SetWaiting(bool),
    SetWaitSource {
        call: CallSid,
        source: Option<Box<dyn AudioSource + Send>>,
    },
    Beep(Beep),
    SetOnHold {
        call: CallSid,
        music: Option<Box<dyn AudioSource + Send>>,
        applied: oneshot::Sender<()>,
    },
    ReplaceHoldMusic {
        call: CallSid,
        music: Box<dyn AudioSource + Send>,
    },
    SetCoaching {
        call: CallSid,
        coached: CallSid,
    },
    Announce {
        to: Option<CallSid>,
        audio: Box<dyn AudioSource + Send>,
    },
}

/// The hub's (and a call's) way to the room task. Dropping every handle
/// stops the task, dropping the sockets it still holds.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    tx: mpsc::Sender<Command>,
}

/// Starts the media task of conference `sid` on the least loaded of the
/// `mix` threads, for its whole life; it reports into
/// `reports`, and its level meter and talkers to `live` (the dashboard).
/// Every leg's talker detection is on from the start.
pub fn spawn(
    sid: &ConferenceSid,
    reports: RoomReports,
    metrics: Arc<Metrics>,
    live: Arc<Live>,
    mix: &MixThreads,
) -> RoomHandle {
    let (thread, slot) = mix.place();
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = RoomTask::new(sid, reports, metrics, live, slot);
    let span = tracing::info_span!("room", conference_sid = %sid);
    thread.spawn(task.run(rx).instrument(span));
    RoomHandle { tx }
}

impl RoomHandle {
    pub async fn add_leg(&self, call: CallSid, leg: LegHandover, muted: bool) {
        let _ = self.tx.send(Command::AddLeg { call, leg, muted }).await;
    }

    /// Takes a leg out; `None` if the room has no leg for the call.
    pub async fn remove_leg(&self, call: CallSid) -> Option<ReturnedLeg> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::RemoveLeg { call, reply })
            .await
            .ok()?;
        answer.await.ok().flatten()
    }

    /// Mutes or unmutes; returns once a tick has mixed with the new state.
    pub async fn set_muted(&self, call: CallSid, muted: bool) {
        let (applied, done) = oneshot::channel();
        let command = Command::SetMuted {
            call,
            muted,
            applied,
        };
        if self.tx.send(command).await.is_ok() {
            let _ = done.await;
        }
    }

    pub async fn set_hold(&self, call: CallSid, held: bool) {
        let _ = self.tx.send(Command::SetHold { call, held }).await;
    }

    /// A new offer/answer for the call's leg (a re-INVITE, an UPDATE).
    pub async fn renegotiate(&self, call: CallSid, media: LegMedia) {
        let _ = self.tx.send(Command::Renegotiate { call, media }).await;
    }

    pub async fn set_waiting(&self, waiting: bool) {
        let _ = self.tx.send(Command::SetWaiting(waiting)).await;
    }

    /// What the call's leg hears next while the room waits (`None`: silence).
    pub async fn set_wait_source(
        &self,
        call: CallSid,
        source: Option<Box<dyn AudioSource + Send>>,
    ) {
        let _ = self.tx.send(Command::SetWaitSource { call, source }).await;
    }

    pub async fn beep(&self, beep: Beep) {
        let _ = self.tx.send(Command::Beep(beep)).await;
    }

    /// Puts the call's leg on hold in the conference, hearing `music`
    /// (`Some`), or takes it off (`None`); returns once a tick has mixed
    /// with the new state.
    pub async fn set_on_hold(&self, call: CallSid, music: Option<Box<dyn AudioSource + Send>>) {
        let (applied, done) = oneshot::channel();
        let command = Command::SetOnHold {
            call,
            music,
            applied,
        };
        if self.tx.send(command).await.is_ok() {
            let _ = done.await;
        }
    }

    /// What a leg still on hold hears from now on (its `HoldUrl`'s audio,
    /// made after the hold); nothing if it is no longer on hold.
    pub async fn replace_hold_music(&self, call: CallSid, music: Box<dyn AudioSource + Send>) {
        let _ = self
            .tx
            .send(Command::ReplaceHoldMusic { call, music })
            .await;
    }

    /// Makes the call's leg a coach of `coached`'s: only that leg hears it.
    pub async fn set_coaching(&self, call: CallSid, coached: CallSid) {
        let _ = self.tx.send(Command::SetCoaching { call, coached }).await;
    }

    /// Plays `audio` over what `to` hears, or everyone not on hold (`None`);
    /// its end is reported as [`RoomReport::AnnouncementEnded`].
    pub async fn announce(&self, to: Option<CallSid>, audio: Box<dyn AudioSource + Send>) {
        let _ = self.tx.send(Command::Announce { to, audio }).await;
    }
}

struct Leg {
    call: CallSid,
    socket: net::UdpSocket,
    remote: Option<SocketAddr>,
    activity: RtpActivity,
    rtcp_mux: bool,
    rtcp: Option<Arc<net::UdpSocket>>,
    notify: mpsc::Sender<CallNotice>,
}

/// Where in the tick period a room's ticks fall, taken from its (random)
/// sid: rooms created together (a burst of calls) would otherwise tick in
/// the same millisecond for as long as they live, each one's mixing waiting
/// behind the others'. Spread over the period, a core's rooms take turns.
fn tick_phase(sid: &ConferenceSid) -> Duration {
    let tail = sid.as_str().get(sid.as_str().len().saturating_sub(8)..);
    let bits = tail
        .and_then(|t| u32::from_str_radix(t, 16).ok())
        .unwrap_or(0);
    TICK.mul_f64(f64::from(bits) / (f64::from(u32::MAX) + 1.0))
}

struct RoomTask {
    /// Where in the 20 ms period this room's ticks fall (see [`tick_phase`]).
    phase: Duration,
    room: MediaRoom,
    /// The dashboard's view: this room's level meter goes there.
    live: Arc<Live>,
    /// Ticks until the level meter is read again.
    level_in: u32,
    /// Ticks until the legs' RTCP sockets are read again.
    rtcp_in: u32,
    legs: HashMap<LegId, Leg>,
    calls: HashMap<CallSid, LegId>,
    next_leg: u64,
    conference: ConferenceSid,
    reports: RoomReports,
    /// Mutes applied since the last tick, answered after the next one.
    acks: Vec<oneshot::Sender<()>>,
    /// The tick's receive buffers, for every leg in turn.
    reader: BatchRecv,
    metrics: Arc<Metrics>,
    /// What this room's media counters already added to the metrics.
    flushed: RtpFlushed,
    /// This room's share of its mix thread's load, given back when it ends.
    slot: ThreadSlot,
}

impl RoomTask {
    fn new(
        sid: &ConferenceSid,
        reports: RoomReports,
        metrics: Arc<Metrics>,
        live: Arc<Live>,
        slot: ThreadSlot,
    ) -> Self {
        let mut room = MediaRoom::new();
        room.set_talker_detection(true);
        Self {
            phase: tick_phase(sid),
            room,
            live,
            level_in: LEVEL_TICKS,
            rtcp_in: RTCP_TICKS,
            legs: HashMap::new(),
            calls: HashMap::new(),
            next_leg: 0,
            conference: sid.clone(),
            reports,
            acks: Vec::new(),
            reader: BatchRecv::new(),
            metrics,
            flushed: RtpFlushed::default(),
            slot,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        // A room starts init: wait audio, nobody hears anybody.
        self.room.set_waiting(true);
        let first = tokio::time::Instant::now() + self.phase;
        let mut ticks = tokio::time::interval_at(first, TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                command = rx.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                due = ticks.tick() => {
                    let late_by = tokio::time::Instant::now().saturating_duration_since(due);
                    let began = Instant::now();
                    self.tick(began);
                    self.metrics.tick_done(began.elapsed(), late_by, self.slot.late_ticks());
                    self.metrics.flush_rtp(&self.room.stats().legs, &mut self.flushed);
                }
            }
        }
        tracing::debug!(stats = ?self.room.stats(), "room media stopped");
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::AddLeg { call, leg, muted } => {
                // Off the main runtime's reactor: this task reads it itself.
                let socket = match leg.socket.into_std() {
                    Ok(socket) => socket,
                    Err(e) => {
                        tracing::warn!(call_sid = %call, error = %e, "RTP socket lost joining the room");
                        return;
                    }
                };
                self.next_leg += 1;
                let id = LegId(self.next_leg);
                if self.room.add_leg(id, leg.config).is_err() {
                    return; // fresh ids never collide
                }
                let _ = self.room.set_muted(id, muted);
                let _ = self.room.set_hold(id, leg.held);
                let _ = self.room.set_rtcp_mux(id, leg.rtcp_mux);
                let _ = self.room.set_wait_source(id, leg.wait);
                if let Some(old) = self.calls.insert(call.clone(), id) {
                    self.drop_leg(old);
                }
                self.slot.leg_added();
                self.legs.insert(
                    id,
                    Leg {
                        call,
                        socket,
                        remote: leg.config.remote,
                        activity: leg.activity,
                        rtcp_mux: leg.rtcp_mux,
                        rtcp: leg.rtcp,
                        notify: leg.notify,
                    },
                );
            }
            Command::RemoveLeg { call, reply } => {
                let returned = self.calls.remove(&call).and_then(|id| self.drop_leg(id));
                let _ = reply.send(returned);
            }
            Command::SetMuted {
                call,
                muted,
                applied,
            } => {
                if let Some(&id) = self.calls.get(&call) {
                    let _ = self.room.set_muted(id, muted);
                }
                self.acks.push(applied);
            }
            Command::SetHold { call, held } => {
                if let Some(&id) = self.calls.get(&call) {
                    let _ = self.room.set_hold(id, held);
                }
            }
            Command::Renegotiate { call, media } => {
                if let Some(&id) = self.calls.get(&call)
                    && let Some(leg) = self.legs.get_mut(&id)
                {
                    leg.remote = media.remote;
                    leg.rtcp_mux = media.rtcp_mux;
                    let _ = self.room.renegotiate(id, media);
                }
            }
            Command::SetWaiting(waiting) => {
                self.room.set_waiting(waiting);
                if !waiting {
                    for leg in self.legs.values() {
                        let _ = leg.notify.try_send(CallNotice::Started);
                    }
                }
            }
            Command::SetWaitSource { call, source } => {
                if let Some(&id) = self.calls.get(&call) {
                    let _ = self.room.set_wait_source(id, source);
                }
            }
            Command::Beep(beep) => self.room.play_beep(beep),
            control => self.conference_control(control),
        }
    }

    /// The conference's own controls (2010 API): hold, coaching, announcements.
    fn conference_control(&mut self, command: Command) {
        match command {
            Command::SetOnHold {
                call,
                music,
                applied,
            } => {
                if let Some(&id) = self.calls.get(&call) {
                    let _ = self.room.set_on_hold(id, music);
                }
                self.acks.push(applied);
            }
            Command::ReplaceHoldMusic { call, music } => {
                if let Some(&id) = self.calls.get(&call)
                    && self.room.is_on_hold(id)
                {
                    let _ = self.room.set_on_hold(id, Some(music));
                }
            }
            Command::SetCoaching { call, coached } => {
                if let (Some(&id), Some(&target)) =
                    (self.calls.get(&call), self.calls.get(&coached))
                {
                    let _ = self.room.set_coaching(id, Some(target));
                }
            }
            Command::Announce { to, audio } => {
                let to = match to {
                    Some(call) => match self.calls.get(&call) {
                        Some(&id) => Some(id),
                        None => return,
                    },
                    None => None,
                };
                let _ = self.room.announce(to, audio);
            }
            // The rest are `command`'s, which sent only these here.
            _ => {}
        }
    }

    fn drop_leg(&mut self, id: LegId) -> Option<ReturnedLeg> {
        let _ = self.room.remove_leg(id);
        let leg = self.legs.remove(&id)?;
        self.slot.leg_removed();
        Some(ReturnedLeg {
            socket: leg.socket,
            remote: leg.remote,
        })
    }

    fn tick(&mut self, now: Instant) {
        self.rtcp_in -= 1;
        let read_rtcp = self.rtcp_in == 0;
        if read_rtcp {
            self.rtcp_in = RTCP_TICKS;
        }
        for (&id, leg) in &self.legs {
            let rtcp = leg.rtcp.as_deref().filter(|_| read_rtcp);
            let sockets = std::iter::once(&leg.socket).chain(rtcp);
            for socket in sockets {
                let read = self
                    .reader
                    .read(socket, MAX_READS_PER_TICK, |from, datagram| {
                        let received = self.room.handle_datagram(id, from, datagram, now);
                        leg.activity.note(received, now);
                    });
                // ICMP errors from an earlier send surface here; not fatal.
                if let Err(e) = read {
                    tracing::trace!(error = %e, "RTP receive error");
                }
            }
        }
        self.room.tick(now);
        while let Some(t) = self.room.poll_transmit() {
            if let Some(leg) = self.legs.get(&t.leg) {
                // A full send buffer drops this packet; the next tick sends the next.
                // RTCP without rtcp-mux goes from our RTCP port when we have one.
                let socket = match &leg.rtcp {
                    Some(rtcp) if t.rtcp && !leg.rtcp_mux => rtcp,
                    _ => &leg.socket,
                };
                let _ = socket.send_to(t.payload, t.to);
            }
        }
        while let Some(event) = self.room.poll_event() {
            self.event(event);
        }
        self.report_talkers();
        self.report_level();
        for ack in self.acks.drain(..) {
            let _ = ack.send(());
        }
    }

    /// Who started or stopped speaking this tick, to the hub.
    fn report_talkers(&mut self) {
        while let Some((id, speaking)) = self.room.poll_talker() {
            if let Some(leg) = self.legs.get(&id) {
                let _ = self.reports.send(RoomReport::Speaking {
                    conference: self.conference.clone(),
                    call: leg.call.clone(),
                    speaking,
                });
            }
        }
    }

    /// The room's level to the dashboard, every [`LEVEL_TICKS`] ticks
    /// (`Live` sends it on only when it moved).
    fn report_level(&mut self) {
        self.level_in -= 1;
        if self.level_in == 0 {
            self.level_in = LEVEL_TICKS;
            self.live.level(&self.conference, self.room.loudest_level());
        }
    }

    fn event(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::Latched { leg, remote } => {
                if let Some(leg) = self.legs.get_mut(&leg) {
                    leg.remote = Some(remote);
                }
            }
            MediaEvent::WaitSourceEnded { leg } => {
                if let Some(leg) = self.legs.get(&leg) {
                    let _ = leg.notify.try_send(CallNotice::WaitEnded);
                }
            }
            MediaEvent::AnnouncementEnded { leg } => {
                let call = match leg {
                    Some(id) => match self.legs.get(&id) {
                        Some(leg) => Some(leg.call.clone()),
                        None => return,
                    },
                    None => None,
                };
                let _ = self.reports.send(RoomReport::AnnouncementEnded {
                    conference: self.conference.clone(),
                    call,
                });
            }
            MediaEvent::Dtmf { leg, digit } => {
                let Some(leg) = self.legs.get(&leg) else {
                    return;
                };
                tracing::debug!(call_sid = %leg.call, ?digit, "DTMF");
                // The hub decides what a digit means. Fails only when the
                // hub is gone (shutting down).
                let _ = self.reports.send(RoomReport::Digit {
                    conference: self.conference.clone(),
                    call: leg.call.clone(),
                    digit,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_phases_spread_rooms_over_the_period() {
        // 1,000 sids from a fixed sequence: each 1 ms slot of the 20 ms
        // period gets its share (50 expected), none is crowded or empty.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut slots = [0u32; 20];
        for _ in 0..1000 {
            let mut bytes = [0u8; 16];
            for b in &mut bytes {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                *b = (state >> 56) as u8;
            }
            let phase = tick_phase(&ConferenceSid::from_random(bytes));
            assert!(phase < TICK, "{phase:?}");
            slots[phase.as_millis() as usize] += 1;
        }
        assert!(slots.iter().all(|&n| (20..=90).contains(&n)), "{slots:?}");
    }

    #[test]
    fn two_rooms_tick_at_different_phases() {
        let a = ConferenceSid::from_random([1; 16]);
        let b = ConferenceSid::from_random([2; 16]);
        assert_ne!(tick_phase(&a), tick_phase(&b));
    }

    /// A PCMU leg on a fresh loopback RTP socket, with `rtcp` as its
    /// RTCP socket (no rtcp-mux); the receiver of its notices beside it.
    async fn test_leg(
        rtcp: Option<Arc<net::UdpSocket>>,
    ) -> (LegHandover, mpsc::Receiver<CallNotice>) {
        let (notify, notices) = mpsc::channel(4);
        let leg = LegHandover {
            socket: tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind"),
            config: media::LegConfig {
                codec: media::Codec::Pcmu,
                payload_type: 0,
                telephone_event_pt: None,
                ssrc: media::Ssrc(1),
                initial_seq: media::SeqNo(1),
                initial_ts: media::RtpTimestamp(1),
                remote: None,
                jitter: media::JitterConfig::default(),
            },
            wait: None,
            hangup_on_star: false,
            held: false,
            activity: RtpActivity::new(Instant::now()),
            rtcp_mux: false,
            rtcp,
            notify,
        };
        (leg, notices)
    }

    /// Ten legs, each with its own RTCP socket, and a phone per leg that
    /// sends one 20 ms RTP packet before each tick and an RTCP receiver
    /// report every 250 ticks: every datagram reaches the room. Ticks run
    /// on a made-up clock, with no sleeping.
    ///
    /// It is also the harness that counts a tick's syscalls (no assertion
    /// can: strace does; docs/benchmarks.md, "Batched reads on the tick"):
    /// `strace -f -c -e trace=recvfrom,recvmmsg,sendto,sendmsg
    /// <server lib test binary> room::tests::ticks_read_every_datagram_of_every_leg --exact`
    #[tokio::test]
    async fn ticks_read_every_datagram_of_every_leg() {
        const LEGS: usize = 10;
        const TICKS: u32 = 500;
        const RTCP_EVERY: u32 = 250;
        let (reports, _reported) = mpsc::unbounded_channel();
        let metrics = Arc::new(Metrics::new());
        let mix = MixThreads::new(1, &metrics);
        let (_thread, slot) = mix.place();
        let sid = ConferenceSid::from_random([3; 16]);
        let mut task = RoomTask::new(&sid, reports, metrics, Arc::new(Live::new()), slot);
        let mut phones = Vec::new();
        let mut notices = Vec::new();
        for n in 0..LEGS {
            let rtcp = net::UdpSocket::bind("127.0.0.1:0").expect("bind RTCP");
            rtcp.set_nonblocking(true).expect("non-blocking");
            let rtcp_to = rtcp.local_addr().expect("RTCP address");
            let (leg, notice) = test_leg(Some(Arc::new(rtcp))).await;
            notices.push(notice);
            let rtp_to = leg.socket.local_addr().expect("RTP address");
            let phone = net::UdpSocket::bind("127.0.0.1:0").expect("bind phone");
            phones.push((phone, rtp_to, rtcp_to));
            let call = CallSid::from_random([u8::try_from(n).expect("few legs"); 16]);
            task.command(Command::AddLeg {
                call,
                leg,
                muted: false,
            });
        }
        let start = Instant::now();
        for tick in 0..TICKS {
            for (phone, rtp_to, rtcp_to) in &phones {
                phone.send_to(&rtp(tick), rtp_to).expect("send RTP");
                if tick % RTCP_EVERY == RTCP_EVERY - 1 {
                    phone.send_to(&RECEIVER_REPORT, rtcp_to).expect("send RTCP");
                }
            }
            task.tick(start + TICK * tick);
        }
        // Whatever arrived after the last tick's reads, the next ones read.
        for tick in TICKS..TICKS + RTCP_TICKS {
            task.tick(start + TICK * tick);
        }
        let stats = task.room.stats().legs;
        let legs = u64::try_from(LEGS).expect("few legs");
        // Each leg's first packet only shows the latch its source.
        assert_eq!(stats.packets_in, legs * u64::from(TICKS - 1), "{stats:?}");
        assert_eq!(
            stats.rtcp_in,
            legs * u64::from(TICKS / RTCP_EVERY),
            "{stats:?}"
        );
        assert_eq!(stats.malformed + stats.foreign_dropped, 0, "{stats:?}");
    }

    /// An empty receiver report (RTCP RR, no report blocks) from SSRC 9.
    const RECEIVER_REPORT: [u8; 8] = [0x80, 201, 0, 1, 0, 0, 0, 9];

    /// The `seq`th 20 ms PCMU packet of SSRC 7: silence.
    fn rtp(seq: u32) -> Vec<u8> {
        let mut packet = vec![0x80, 0];
        packet.extend_from_slice(&(seq as u16).to_be_bytes());
        packet.extend_from_slice(&(seq * 160).to_be_bytes());
        packet.extend_from_slice(&7u32.to_be_bytes());
        packet.extend_from_slice(&[0xff; 160]);
        packet
    }

    /// A clip of `ms` milliseconds of a quiet tone.
    fn clip(ms: usize) -> Box<dyn AudioSource + Send> {
        let samples: Arc<[i16]> = vec![1000i16; ms * 8].into();
        Box::new(media::PcmSource::new(samples, media::Repeat::Times(1)))
    }

    #[tokio::test]
    async fn announcements_report_their_end_to_the_hub_with_whom_they_were_for() {
        let (reports, mut reported) = mpsc::unbounded_channel();
        let sid = ConferenceSid::from_random([7; 16]);
        let metrics = Arc::new(Metrics::new());
        let mix = MixThreads::new(1, &metrics);
        let room = spawn(&sid, reports, metrics, Arc::new(Live::new()), &mix);
        let call = CallSid::from_random([8; 16]);
        let (leg, _notices) = test_leg(None).await;
        room.add_leg(call.clone(), leg, false).await;
        // A call the room does not have gets nothing, and reports nothing.
        room.announce(Some(CallSid::from_random([9; 16])), clip(40))
            .await;
        room.announce(Some(call.clone()), clip(60)).await;
        let ended = tokio::time::timeout(Duration::from_secs(5), reported.recv()).await;
        assert_eq!(
            ended.ok().flatten(),
            Some(RoomReport::AnnouncementEnded {
                conference: sid.clone(),
                call: Some(call),
            })
        );
        room.announce(None, clip(60)).await;
        let ended = tokio::time::timeout(Duration::from_secs(5), reported.recv()).await;
        assert_eq!(
            ended.ok().flatten(),
            Some(RoomReport::AnnouncementEnded {
                conference: sid,
                call: None,
            })
        );
    }
}
