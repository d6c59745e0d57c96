//! Browser legs in rooms: the shell around [`crate::webrtc::BrowserLeg`].
//!
//! A verified join link's offer ([`api::BrowserOffer`]) becomes a call like
//! any other: its own CallSid and record (direction `inbound`, From the
//! name given or `browser`, To the room), joined to the conference through
//! the hub with a [`LegHandover`], so the rules count, mute, hold and kick
//! it, both REST APIs list it and the dashboard shows it.
//!
//! The seam with the room is a loopback socket pair. The room gets a
//! plain UDP socket (`127.0.0.1:0`) as the leg's socket, exactly like a SIP
//! call's, and the leg's remote is the task's own loopback socket: the
//! room reads the browser's audio there as plain RTP (G.722 for an Opus
//! browser, so the room mixes it at 16 kHz; PCMU for a PCMU one) and sends
//! its mix back the same way. One task per browser leg owns the public UDP
//! port (from `--rtp-ports`, our one ICE candidate: where, is
//! [`crate::browser_reach`]'s choice), the loopback socket
//! and the sans-IO `BrowserLeg`, and only moves datagrams and `now` in
//! and outputs out. The room needs no change and no second kind of leg;
//! the cost is one loopback datagram each way per 20 ms.
//!
//! The leg ends when the browser is gone (silence past
//! [`crate::webrtc::SILENCE_LIMIT`]: the hub is told it hung up), when the
//! hub takes it out (a kick, the conference's end: the peer connection is
//! closed), or at shutdown. Then its record is finished.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use api::{BoxFuture, BrowserAnswer, BrowserJoinError, BrowserJoins, BrowserOffer};
use conference::{JoinRequest, LeaveReason, ParticipantOptions};
use media::{LegConfig, RtpTimestamp, SeqNo, Ssrc};
use model::{AccountSid, CallRecord, CallSid, CallStatus};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

use crate::browser_reach;
use crate::call::CallServices;
use crate::hub::CallJoinFailed;
use crate::membership::{CallNotice, LegHandover};
use crate::rtp_activity::RtpActivity;
use crate::webrtc::{BrowserLeg, LegOutput};

/// Makes browser legs of join links' offers ([`api::BrowserJoins`]).
#[derive(Debug, Clone)]
pub struct Browsers {
    services: Arc<CallServices>,
    /// The live browser legs: their account, and what says they ended.
    live: Arc<Mutex<HashMap<CallSid, LiveLeg>>>,
}

/// A live browser leg's account, and what says it ended.
type LiveLeg = (AccountSid, watch::Receiver<bool>);

impl Browsers {
    pub fn new(services: Arc<CallServices>) -> Self {
        Self {
            services,
            live: Arc::default(),
        }
    }

    async fn wait_ended(&self, account: AccountSid, call: CallSid, within: Duration) -> bool {
        let ended = {
            let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            match live.get(&call) {
                Some((owner, ended)) if *owner == account => ended.clone(),
                _ => return true,
            }
        };
        let mut ended = ended;
        // An error: the task dropped its sender, so the leg is over.
        tokio::time::timeout(within, ended.wait_for(|ended| *ended))
            .await
            .is_ok()
    }

    async fn join(&self, offer: BrowserOffer) -> Result<BrowserAnswer, BrowserJoinError> {
        let svc = &self.services;
        if svc.stop.is_shutdown() {
            return Err(BrowserJoinError::Unavailable);
        }
        let reach = browser_reach::reach(
            svc.ports.ip(),
            svc.public_addr,
            &offer.sdp,
            browser_reach::local_address_toward,
        );
        let public = svc.ports.bind_one_on(reach.bind).map_err(|e| {
            tracing::warn!(error = %e, on = %reach.bind, "no RTP port for a browser leg");
            BrowserJoinError::Unavailable
        })?;
        let bound = public
            .local_addr()
            .map_err(|_| BrowserJoinError::Unavailable)?;
        let local = browser_reach::candidate(reach, bound);
        let r = crate::ids::random_bytes();
        let word = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        let (leg, answer) = BrowserLeg::answer(&offer.sdp, local, Ssrc(word(0)), Instant::now())
            .map_err(|e| BrowserJoinError::BadOffer(e.to_string()))?;
        // The loopback pair: the room's end, and ours.
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let room_end = UdpSocket::bind(loopback)
            .await
            .map_err(|_| BrowserJoinError::Unavailable)?;
        let our_end = UdpSocket::bind(loopback)
            .await
            .map_err(|_| BrowserJoinError::Unavailable)?;
        let room_addr = room_end
            .local_addr()
            .map_err(|_| BrowserJoinError::Unavailable)?;
        our_end
            .connect(room_addr)
            .await
            .map_err(|_| BrowserJoinError::Unavailable)?;
        let our_addr = our_end
            .local_addr()
            .map_err(|_| BrowserJoinError::Unavailable)?;

        let call = crate::ids::call_sid();
        let now = svc.clock.now();
        let record = CallRecord::answered_inbound(
            call.clone(),
            offer.claims.account.clone(),
            offer.name.clone().unwrap_or_else(|| "browser".into()),
            offer.claims.room.clone(),
            now,
        );
        if let Err(e) = svc.store.insert_call(&record).await {
            tracing::error!(error = %e, "could not record a browser leg");
            return Err(BrowserJoinError::Unavailable);
        }
        let (notify, notices) = mpsc::channel(16);
        let handover = LegHandover {
            socket: room_end,
            config: LegConfig {
                codec: leg.room_codec(),
                payload_type: leg.room_codec().payload_type(),
                telephone_event_pt: None,
                ssrc: Ssrc(word(4)),
                initial_seq: SeqNo(u16::from_le_bytes([r[8], r[9]])),
                initial_ts: RtpTimestamp(word(12)),
                remote: Some(our_addr),
                jitter: Default::default(),
            },
            wait: None,
            hangup_on_star: false,
            held: false,
            activity: RtpActivity::new(Instant::now()),
            rtcp_mux: true,
            rtcp: None,
            notify,
        };
        let request = JoinRequest {
            account: offer.claims.account.clone(),
            name: offer.claims.room.clone(),
            call: call.clone(),
            options: ParticipantOptions {
                muted: offer.claims.muted,
                ..ParticipantOptions::default()
            },
            label: None,
            coach: None,
            status_callback: None,
        };
        if let Err(CallJoinFailed { failure, .. }) = svc.hub.join_call(request, handover).await {
            let reason = failure.to_string();
            self.finish(&call, CallStatus::FailedApplicationError, Some(&reason))
                .await;
            return Err(BrowserJoinError::Refused(reason));
        }
        tracing::info!(call_sid = %call, rtp = %local, "browser leg joined");
        let (ended, watch_ended) = watch::channel(false);
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(call.clone(), (offer.claims.account.clone(), watch_ended));
        let task = LegTask {
            ended,
            browsers: self.clone(),
            call: call.clone(),
            leg,
            public,
            room: our_end,
            notices,
        };
        let span = tracing::info_span!("browser", call_sid = %call);
        svc.tracker.spawn(task.run().instrument(span));
        Ok(BrowserAnswer { call, sdp: answer })
    }

    async fn finish(&self, call: &CallSid, status: CallStatus, failure: Option<&str>) {
        let now = self.services.clock.now();
        if let Err(e) = self
            .services
            .store
            .finish_call(call, status, now, failure)
            .await
        {
            tracing::error!(call_sid = %call, error = %e, "could not record the end of a browser leg");
        }
    }
}

/// The router's way to browser legs, which exist once SIP listens
/// ([`crate::Server::listen_sip`] sets them): until then, offers are
/// answered `Unavailable`.
#[derive(Debug, Clone, Default)]
pub struct LateBrowsers(pub Arc<std::sync::OnceLock<Browsers>>);

impl BrowserJoins for LateBrowsers {
    fn offer(&self, offer: BrowserOffer) -> BoxFuture<'_, Result<BrowserAnswer, BrowserJoinError>> {
        let Some(browsers) = self.0.get().cloned() else {
            return Box::pin(async { Err(BrowserJoinError::Unavailable) });
        };
        // In a task of its own: a browser that drops the request half-way
        // must not cancel a join that already holds a port, a record or a
        // place in the room (the leg's task would never start).
        let tracker = browsers.services.tracker.clone();
        let join = tracker.spawn(async move { browsers.join(offer).await });
        Box::pin(async move { join.await.unwrap_or(Err(BrowserJoinError::Unavailable)) })
    }

    fn wait_ended(
        &self,
        account: AccountSid,
        call: CallSid,
        within: Duration,
    ) -> BoxFuture<'_, bool> {
        match self.0.get() {
            Some(browsers) => Box::pin(browsers.wait_ended(account, call, within)),
            None => Box::pin(async { true }),
        }
    }
}

/// One browser leg's task: the public socket, the loopback to the room,
/// and the notices of its membership.
struct LegTask {
    /// Set when the leg ends (the page's long poll waits on it).
    ended: watch::Sender<bool>,
    browsers: Browsers,
    call: CallSid,
    leg: BrowserLeg,
    public: UdpSocket,
    room: UdpSocket,
    notices: mpsc::Receiver<CallNotice>,
}

/// Why a leg's task ends.
enum End {
    /// The browser went away: it must leave its conference.
    BrowserGone,
    /// The hub took it out (kick, the conference's end): it is out already.
    Left,
    /// Server shutdown.
    Shutdown,
}

impl LegTask {
    async fn run(mut self) {
        let mut from_browser = vec![0u8; 2048];
        let mut from_room = vec![0u8; 2048];
        let stop = self.browsers.services.stop.token();
        let end = loop {
            if let Some(end) = self.drain().await {
                break end;
            }
            let deadline = tokio::time::Instant::from_std(self.leg.poll_timeout());
            tokio::select! {
                received = self.public.recv_from(&mut from_browser) => {
                    if let Ok((n, from)) = received {
                        self.leg.handle_datagram(from, &from_browser[..n], Instant::now());
                    }
                }
                received = self.room.recv(&mut from_room) => {
                    if let Ok(n) = received {
                        self.leg.handle_room_rtp(&from_room[..n], Instant::now());
                    }
                }
                notice = self.notices.recv() => match notice {
                    Some(CallNotice::Left { reason, .. }) => {
                        tracing::info!(call_sid = %self.call, ?reason, "browser leg left its room");
                        break End::Left;
                    }
                    Some(_) => {}
                    None => break End::Left,
                },
                () = tokio::time::sleep_until(deadline) => self.leg.handle_timeout(Instant::now()),
                () = stop.cancelled() => break End::Shutdown,
            }
        };
        self.leg.close();
        self.ended.send_replace(true);
        self.browsers
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.call);
        let hub = &self.browsers.services.hub;
        match end {
            End::BrowserGone => {
                hub.leave(self.call.clone(), LeaveReason::Hangup).await;
            }
            End::Shutdown => {
                hub.leave(self.call.clone(), LeaveReason::Shutdown).await;
            }
            End::Left => {}
        }
        self.browsers
            .finish(&self.call, CallStatus::Complete, None)
            .await;
    }

    /// Carries out what the leg has to do now; `Some` when the browser is gone.
    async fn drain(&mut self) -> Option<End> {
        while let Some(output) = self.leg.poll_output(Instant::now()) {
            match output {
                LegOutput::ToBrowser { to, payload } => {
                    let _ = self.public.send_to(&payload, to).await;
                }
                LegOutput::ToRoom(packet) => {
                    let _ = self.room.send(&packet).await;
                }
                LegOutput::Gone(why) => {
                    tracing::info!(call_sid = %self.call, why, "browser gone");
                    return Some(End::BrowserGone);
                }
            }
        }
        None
    }
}
