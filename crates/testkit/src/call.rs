//! [`PhoneCall`]: one established dialog and its audio.
//!
//! The dialog (Call-ID, both tags, our CSeq, the far end's Contact as remote
//! target, any Record-Route set) is kept here and used for BYE and
//! re-INVITE; the audio lives in [`crate::audio`]'s two tasks. Every wait
//! is bounded: signalling by the phone's timeout, listening by the duration
//! asked for plus [`LISTEN_SLACK`], the rest by an explicit timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use media::Codec;
use media::rtp::{RtpTimestamp, SeqNo, Ssrc};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::agent::{DialogStart, Kind, Outcome, Shared, new_branch, random_u64};
use crate::audio::{
    FRAME, Fence, HEAR_WINDOW, Mark, Media, Mode, Recording, RtpStats, StreamStart, lock,
    tone_measure, tone_present,
};
use crate::message::{Message, header_param, uri_of};
use crate::sdp::{Answer, Direction, Offer};
use crate::{Error, Result};

/// How much longer than the asked duration [`PhoneCall::listen`] waits for audio
/// to arrive (jitter buffers and mixers delay it) before giving up.
pub const LISTEN_SLACK: Duration = Duration::from_secs(2);
/// [`PhoneCall::hears`] is false when no RTP arrived for this long: a silent
/// server is not still playing the last tone it sent.
pub const STALE_AFTER: Duration = Duration::from_millis(200);
/// How long [`PhoneCall::send_dtmf`] waits for the sender to finish one digit
/// (it takes 160 ms).
const DTMF_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for the final response to a CANCEL'd INVITE, to ACK it.
const CANCEL_WAIT: Duration = Duration::from_secs(2);

/// An established call: SIP dialog plus RTP in both directions.
///
/// Sending starts silent-and-stopped; call [`PhoneCall::send_tone`] or
/// [`PhoneCall::send_silence`]. Receiving records from the moment the call is
/// answered. Dropping a call that is still up sends one BYE without
/// waiting for its answer.
#[derive(Debug)]
pub struct PhoneCall {
    shared: Arc<Shared>,
    dialog: Dialog,
    media: Media,
    answer: Answer,
    provisional: Vec<u16>,
    timeout: Duration,
    offer: Offer,
    session_version: u64,
    bye: watch::Receiver<bool>,
    /// We sent BYE (or the server did): no more requests in this dialog.
    ended: bool,
}

#[derive(Debug, Clone)]
struct Dialog {
    call_id: String,
    /// Our From header value, tag included.
    from: String,
    /// The far end's To header value, tag included.
    to: String,
    remote_target: String,
    route_set: Vec<String>,
    cseq: u32,
}

impl PhoneCall {
    /// Runs the INVITE transaction and, on 2xx, starts the media tasks.
    pub(crate) async fn establish(
        shared: Arc<Shared>,
        start: DialogStart,
        rtp: UdpSocket,
        offer: Offer,
        sdp: String,
        bye: watch::Receiver<bool>,
        timeout: Duration,
    ) -> Result<Self> {
        let forget = ForgetDialog {
            shared: &shared,
            call_id: &start.call_id,
            armed: true,
        };
        let deadline = Instant::now() + timeout;
        let branch = new_branch()?;
        let request = |method: &str, uri: &str, branch: &str, to: &str, body: Option<&str>| {
            request_text(
                &shared,
                &RequestLine {
                    method,
                    uri,
                    branch,
                    from: &start.from,
                    to,
                    call_id: &start.call_id,
                    cseq: 1,
                    route_set: &[],
                },
                body,
            )
        };
        let delayed = offer.delayed;
        let invite_sdp = (!delayed).then_some(sdp.as_str());
        let invite = request("INVITE", &start.uri, &branch, &start.to, invite_sdp);
        let outcome = match shared
            .transact(&invite, &branch, Kind::Invite, deadline, "INVITE")
            .await
        {
            Ok(outcome) => outcome,
            Err(e @ Error::Timeout { .. }) => {
                // Give the server its 487 and ACK it, so it is not left ringing.
                let (mut rx, _guard) = shared.register(&branch);
                let cancel = request("CANCEL", &start.uri, &branch, &start.to, None);
                shared.send(&cancel).await?;
                let until = Instant::now() + CANCEL_WAIT;
                while let Ok(Some(resp)) = tokio::time::timeout_at(until, rx.recv()).await {
                    if resp.status().unwrap_or(0) >= 300
                        && resp.cseq().map(|c| c.1) == Some("INVITE")
                    {
                        let to = resp.header("To").unwrap_or(&start.to);
                        shared
                            .send(&request("ACK", &start.uri, &branch, to, None))
                            .await?;
                        break;
                    }
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let Outcome { provisional, last } = outcome;
        let (status, reason) = status_of(&last);
        let to = last.header("To").unwrap_or(&start.to).to_owned();
        if !(200..300).contains(&status) {
            // RFC 3261 §17.1.1.3: the ACK for a failure shares the INVITE's branch.
            let ack = request("ACK", &start.uri, &branch, &to, None);
            remember_ack(&shared, &start.call_id, 1, &ack);
            shared.send(&ack).await?;
            return Err(Error::Rejected { status, reason });
        }

        let remote_target = last
            .values("Contact")
            .first()
            .map(|c| uri_of(c).to_owned())
            .ok_or_else(|| Error::Protocol("2xx to INVITE without Contact".into()))?;
        let mut route_set: Vec<String> = last
            .values("Record-Route")
            .iter()
            .map(|r| (*r).to_owned())
            .collect();
        route_set.reverse();
        let dialog = Dialog {
            call_id: start.call_id.clone(),
            from: start.from.clone(),
            to,
            remote_target,
            route_set,
            cseq: 1,
        };
        let ack_sdp = delayed.then_some(sdp.as_str());
        let ack = dialog_request(&shared, &dialog, "ACK", &new_branch()?, ack_sdp);
        remember_ack(&shared, &dialog.call_id, 1, &ack);
        shared.send(&ack).await?;

        let parsed = Answer::parse(&last.body).and_then(|theirs| {
            if !delayed {
                return Ok(theirs);
            }
            // Their offer says where to send; our answer what we send.
            let ours = Answer::parse(sdp.as_bytes())?;
            Ok(Answer {
                codec: ours.codec,
                payload_type: ours.payload_type,
                telephone_event: ours.telephone_event,
                ..theirs
            })
        });
        let answer = match parsed {
            Ok(answer) => answer,
            Err(e) => {
                let bye = dialog_request(&shared, &dialog, "BYE", &new_branch()?, None);
                shared.try_send(&bye);
                return Err(Error::Protocol(format!("SDP answer: {e}")));
            }
        };
        let stream = random_start()?;
        let media = Media::start(
            rtp,
            answer.rtp,
            answer.codec,
            answer.payload_type,
            answer.telephone_event,
            stream,
        )?;
        let mut forget = forget;
        forget.armed = false;
        Ok(Self {
            shared: shared.clone(),
            dialog,
            media,
            answer,
            provisional,
            timeout,
            offer,
            session_version: 1,
            bye,
            ended: false,
        })
    }

    /// The callee's side of a call it answered ([`crate::Callee`]): the
    /// dialog the INVITE made (our tag on its To), and the media started
    /// toward its offer.
    pub(crate) fn answered(
        shared: Arc<Shared>,
        invite: &Message,
        to_with_tag: String,
        media: Media,
        answer: Answer,
        offer: Offer,
        bye: watch::Receiver<bool>,
    ) -> Self {
        let dialog = Dialog {
            call_id: invite.call_id().unwrap_or_default().to_owned(),
            // Our requests' From is the INVITE's To, and their To its From.
            from: to_with_tag,
            to: invite.header("From").unwrap_or_default().to_owned(),
            remote_target: invite
                .values("Contact")
                .first()
                .map(|c| uri_of(c).to_owned())
                .unwrap_or_default(),
            route_set: invite
                .values("Record-Route")
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            cseq: 0,
        };
        Self {
            shared,
            dialog,
            media,
            answer,
            provisional: Vec::new(),
            timeout: crate::DEFAULT_TIMEOUT,
            offer,
            session_version: 1,
            bye,
            ended: false,
        }
    }

    /// The dialog's Call-ID.
    #[must_use]
    pub fn call_id(&self) -> &str {
        &self.dialog.call_id
    }

    /// Our tag (in our From header).
    #[must_use]
    pub fn local_tag(&self) -> &str {
        header_param(&self.dialog.from, "tag").unwrap_or_default()
    }

    /// The far end's tag, from the To header of its 2xx (`None` if it sent none).
    #[must_use]
    pub fn remote_tag(&self) -> Option<&str> {
        header_param(&self.dialog.to, "tag")
    }

    /// The far end's Contact URI: the Request-URI of our in-dialog requests.
    #[must_use]
    pub fn remote_target(&self) -> &str {
        &self.dialog.remote_target
    }

    /// The CSeq number of our latest request in the dialog (1 after the INVITE).
    #[must_use]
    pub fn cseq(&self) -> u32 {
        self.dialog.cseq
    }

    /// The provisional status codes seen before the INVITE's 2xx (e.g. `[100, 180]`).
    #[must_use]
    pub fn provisional(&self) -> &[u16] {
        &self.provisional
    }

    /// The codec the answer chose (the first G.711 payload type in it).
    #[must_use]
    pub fn codec(&self) -> Codec {
        self.answer.codec
    }

    /// The answer's telephone-event payload type, if it kept one.
    #[must_use]
    pub fn telephone_event(&self) -> Option<u8> {
        self.answer.telephone_event
    }

    /// The direction in the latest answer (after a hold re-INVITE: `recvonly`).
    #[must_use]
    pub fn remote_direction(&self) -> Direction {
        self.answer.direction
    }

    /// Where our RTP goes: the address and port of the latest SDP answer.
    #[must_use]
    pub fn remote_rtp(&self) -> SocketAddr {
        self.media.remote()
    }

    /// Our RTP socket's address, as offered.
    #[must_use]
    pub fn local_rtp(&self) -> SocketAddr {
        self.media.local()
    }

    /// Sends a continuous sine tone, from the next 20 ms tick on.
    pub fn send_tone(&self, freq_hz: u32) {
        self.media.set_mode(Mode::Tone(freq_hz));
    }

    /// Sends a continuous sine tone of peak `amplitude` (in sample units,
    /// clamped to full scale: 23 197 is −3 dBFS), from the next 20 ms tick on.
    pub fn send_tone_at(&self, freq_hz: u32, amplitude: f64) {
        self.media
            .set_mode(Mode::ToneAt(freq_hz, amplitude.clamp(0.0, 32_767.0)));
    }

    /// Sends two tones at once, from the next 20 ms tick on: `send_tones(941,
    /// 1209)` is `*` pressed as in-band DTMF, for as long as it lasts.
    pub fn send_tones(&self, low_hz: u32, high_hz: u32) {
        self.media.set_mode(Mode::Tones(low_hz, high_hz));
    }

    /// Sends the stream under another SSRC from the next packet on (its
    /// sequence and timestamp run on), as a phone that switches sources does.
    pub fn set_ssrc(&self, ssrc: u32) {
        self.media.set_ssrc(Ssrc(ssrc));
    }

    /// Sends packets of digital silence (keeps the stream alive, says nothing).
    pub fn send_silence(&self) {
        self.media.set_mode(Mode::Silence);
    }

    /// Sends no audio packets (the RTP timestamp keeps running; the next
    /// packet carries the marker bit).
    pub fn stop_sending(&self) {
        self.media.set_mode(Mode::Stopped);
    }

    /// Sends one key press as RFC 4733 telephone events (marker on the first
    /// packet, five updates of growing duration, three end packets; 160 ms in
    /// all, audio paused meanwhile) and returns once the last one is out.
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub async fn send_dtmf(&self, digit: char) -> Result<()> {
        let done = self.queue_key(digit)?;
        match tokio::time::timeout(DTMF_TIMEOUT, done).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::Ended),
            Err(_) => Err(Error::Timeout {
                what: format!("DTMF {digit:?} to be sent"),
                after: DTMF_TIMEOUT,
            }),
        }
    }

    /// Queues one key press (see [`PhoneCall::send_dtmf`]) and returns at once,
    /// while the sender spells it out over the next ticks.
    pub fn press(&self, digit: char) -> Result<()> {
        drop(self.queue_key(digit)?);
        Ok(())
    }

    /// Checks that `digit` can be sent now and queues it; the receiver
    /// fires once its last packet is out.
    fn queue_key(&self, digit: char) -> Result<tokio::sync::oneshot::Receiver<()>> {
        let event = dtmf_event(digit).ok_or(Error::InvalidDigit(digit))?;
        if self.answer.telephone_event.is_none() {
            return Err(Error::NoTelephoneEvent);
        }
        if self.ended {
            return Err(Error::Ended);
        }
        Ok(self.media.queue_dtmf(event))
    }

    /// A point in the order packets reach our RTP socket: sends a datagram
    /// to that socket from itself and waits for the recorder to read it.
    /// A packet the far end sent before this call was already queued ahead
    /// of the fence (on loopback a datagram is queued when its send
    /// returns), so [`PhoneCall::packets_after`] the fence holds only packets
    /// sent after `fence` was called, however late the recorder reads them.
    pub async fn fence(&self) -> Result<Fence> {
        let id = self.media.send_fence().await?;
        self.wait_recording(self.timeout, |rec| {
            rec.fence(id)
                .map(Fence)
                .ok_or_else(|| "our own fence datagram on the RTP socket".to_owned())
        })
        .await
    }

    /// Waits until at least `duration` of audio arrived after `fence` and
    /// returns it packet by packet, in arrival order. Errors if that much
    /// has not arrived within `duration +` [`LISTEN_SLACK`].
    pub async fn packets_after(&self, fence: Fence, duration: Duration) -> Result<Vec<Vec<i16>>> {
        let want = samples_in(duration);
        self.wait_recording(duration + LISTEN_SLACK, |rec| {
            let packets = rec.packets_after(fence);
            let got: usize = packets.iter().map(|p| p.len()).sum();
            if got >= want {
                Ok(packets.into_iter().map(<[i16]>::to_vec).collect())
            } else {
                Err(format!(
                    "{duration:?} of audio after a fence (got {got} of {want} samples)"
                ))
            }
        })
        .await
    }

    /// Every audio packet that arrived at or after `since`, with its
    /// arrival instant (when the recorder read it).
    #[must_use]
    pub fn arrived_since(&self, since: Instant) -> Vec<(Instant, Vec<i16>)> {
        let rec = self.media.recording();
        let first = rec.arrivals.partition_point(|a| a.at < since);
        rec.arrivals[first..]
            .iter()
            .filter_map(|a| {
                let samples = rec.samples.get(a.start..a.start + a.len)?;
                Some((a.at, samples.to_vec()))
            })
            .collect()
    }

    /// Waits until the recording holds `duration` of audio after `mark`
    /// and returns exactly that. Errors if it has not within `timeout`.
    pub async fn recorded_after(
        &self,
        mark: Mark,
        duration: Duration,
        timeout: Duration,
    ) -> Result<Vec<i16>> {
        let want = samples_in(duration);
        self.wait_recording(timeout, |rec| {
            match rec.samples.get(mark.0..mark.0 + want) {
                Some(s) => Ok(s.to_vec()),
                None => Err(format!(
                    "{duration:?} of audio (got {} of {want} samples)",
                    rec.samples.len().saturating_sub(mark.0)
                )),
            }
        })
        .await
    }

    /// Waits, waking at each packet (or fence) recorded, until `check`
    /// finds what it looks for in the recording, or `timeout` passes; the
    /// error of `check`'s last look says what was waited for and seen.
    async fn wait_recording<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Recording) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut progress = self.media.progress();
        loop {
            let what = match check(&self.media.recording()) {
                Ok(found) => return Ok(found),
                Err(what) => what,
            };
            if tokio::time::timeout_at(deadline, progress.changed())
                .await
                .is_err()
            {
                return Err(Error::Timeout {
                    what,
                    after: started.elapsed(),
                });
            }
        }
    }

    /// The phone dies mid-call: its SIP reader stops (over TCP the
    /// connection closes), no BYE is sent, now or on drop, and both RTP
    /// tasks stop. The phone's other calls die with it.
    pub fn crash(&mut self) {
        self.ended = true;
        self.media.stop_all();
        self.shared.crash();
    }

    /// The current end of the recording; pass it to [`PhoneCall::recorded_since`].
    #[must_use]
    pub fn mark(&self) -> Mark {
        Mark(self.media.recording().samples.len())
    }

    /// Everything recorded after `mark` (8 kHz samples; gaps in the far
    /// end's timestamps are filled with zeros).
    #[must_use]
    pub fn recorded_since(&self, mark: Mark) -> Vec<i16> {
        self.media
            .recording()
            .samples
            .get(mark.0..)
            .map(<[i16]>::to_vec)
            .unwrap_or_default()
    }

    /// Records the next `duration` of received audio (by RTP timestamp, not
    /// wall clock). Errors if that much has not arrived within `duration +`
    /// [`LISTEN_SLACK`].
    pub async fn listen(&self, duration: Duration) -> Result<Vec<i16>> {
        self.recorded_after(self.mark(), duration, duration + LISTEN_SLACK)
            .await
    }

    /// Whether the last [`HEAR_WINDOW`] of received audio holds a tone at
    /// `freq_hz` by [`tone_present`]'s thresholds, and RTP is still arriving
    /// (some within [`STALE_AFTER`]). Never waits: poll it with
    /// [`PhoneCall::wait_to_hear`].
    #[must_use]
    pub fn hears(&self, freq_hz: u32) -> bool {
        let rec = self.media.recording();
        let fresh = rec.last_arrival.is_some_and(|t| t.elapsed() <= STALE_AFTER);
        fresh
            && rec
                .tail(samples_in(HEAR_WINDOW))
                .is_some_and(|w| tone_present(w, freq_hz))
    }

    /// Waits until [`PhoneCall::hears`] the tone; the error says what was heard instead.
    pub async fn wait_to_hear(&self, freq_hz: u32, timeout: Duration) -> Result<()> {
        self.poll_hearing(freq_hz, true, timeout).await
    }

    /// Waits until [`PhoneCall::hears`] no longer hears the tone.
    pub async fn wait_not_hearing(&self, freq_hz: u32, timeout: Duration) -> Result<()> {
        self.poll_hearing(freq_hz, false, timeout).await
    }

    /// Digits received as telephone events from the far end, once per press.
    #[must_use]
    pub fn received_dtmf(&self) -> Vec<char> {
        self.media.recording().digits.clone()
    }

    /// Packet counters and the last RTP source.
    #[must_use]
    pub fn rtp_stats(&self) -> RtpStats {
        self.media.stats()
    }

    /// Methods of the requests the far end sent in this dialog (`OPTIONS`, `BYE`, ...).
    #[must_use]
    pub fn requests_received(&self) -> Vec<String> {
        lock(&self.shared.state)
            .dialogs
            .get(&self.dialog.call_id)
            .map(|d| d.requests.clone())
            .unwrap_or_default()
    }

    /// Whether the far end has hung up (its BYE was answered with 200).
    #[must_use]
    pub fn bye_received(&self) -> bool {
        *self.bye.borrow()
    }

    /// Moves the call's media to a new RTP socket (a phone that changed
    /// network): a new stream (fresh SSRC, silent until told) and a new
    /// recording start there, and a `sendrecv` re-INVITE offers the
    /// new port. The old socket is closed.
    pub async fn reinvite_moved(&mut self) -> Result<Direction> {
        self.ensure_up()?;
        let socket = UdpSocket::bind(SocketAddr::new(self.local_rtp().ip(), 0)).await?;
        let stream = random_start()?;
        let moved = Media::start(
            socket,
            self.media.remote(),
            self.answer.codec,
            self.answer.payload_type,
            self.answer.telephone_event,
            stream,
        )?;
        self.media.stop_all();
        self.media = moved;
        self.reinvite_hold(false).await
    }

    /// Puts the call on hold (`a=sendonly`) or takes it off (`a=sendrecv`)
    /// with a re-INVITE; returns the direction the answer chose (`recvonly`
    /// or `inactive` for hold, `sendrecv` after). The audio we send does not
    /// change; the far end is expected to stop sending us its.
    pub async fn reinvite_hold(&mut self, hold: bool) -> Result<Direction> {
        self.ensure_up()?;
        let direction = if hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        self.session_version += 1;
        let sdp = self
            .offer
            .render(self.local_rtp(), self.session_version, direction);
        if let Some(slot) = lock(&self.shared.state)
            .dialogs
            .get_mut(&self.dialog.call_id)
        {
            slot.local_sdp.clone_from(&sdp);
        }
        self.dialog.cseq += 1;
        let branch = new_branch()?;
        let invite = dialog_request(&self.shared, &self.dialog, "INVITE", &branch, Some(&sdp));
        let deadline = Instant::now() + self.timeout;
        let Outcome { last, .. } = self
            .shared
            .transact(&invite, &branch, Kind::Invite, deadline, "re-INVITE")
            .await?;
        let (status, reason) = status_of(&last);
        if !(200..300).contains(&status) {
            let mut failed = self.dialog.clone();
            if let Some(to) = last.header("To") {
                to.clone_into(&mut failed.to);
            }
            let ack = dialog_request(&self.shared, &failed, "ACK", &branch, None);
            remember_ack(&self.shared, &self.dialog.call_id, self.dialog.cseq, &ack);
            self.shared.send(&ack).await?;
            return Err(Error::Rejected { status, reason });
        }
        if let Some(contact) = last.values("Contact").first() {
            self.dialog.remote_target = uri_of(contact).to_owned();
        }
        let ack = dialog_request(&self.shared, &self.dialog, "ACK", &new_branch()?, None);
        remember_ack(&self.shared, &self.dialog.call_id, self.dialog.cseq, &ack);
        self.shared.send(&ack).await?;
        let answer =
            Answer::parse(&last.body).map_err(|e| Error::Protocol(format!("SDP answer: {e}")))?;
        self.media.set_remote(answer.rtp);
        self.answer = answer;
        Ok(answer.direction)
    }

    /// Sends an INFO in the dialog with a body of `content_type` (DTMF:
    /// `application/dtmf-relay`, `Signal=*`) and returns its final status.
    pub async fn info(&mut self, content_type: &str, body: &str) -> Result<u16> {
        self.ensure_up()?;
        self.dialog.cseq += 1;
        let branch = new_branch()?;
        let bare = dialog_request(&self.shared, &self.dialog, "INFO", &branch, None);
        let text = String::from_utf8_lossy(&bare);
        let head = text
            .strip_suffix("Content-Length: 0\r\n\r\n")
            .unwrap_or(&text);
        let info = format!(
            "{head}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let deadline = Instant::now() + self.timeout;
        let Outcome { last, .. } = self
            .shared
            .transact(info.as_bytes(), &branch, Kind::NonInvite, deadline, "INFO")
            .await?;
        Ok(status_of(&last).0)
    }

    /// Sends BYE (retransmitted per Timer E over UDP) and waits for its final
    /// response; stops our audio either way. [`Error::Ended`] if the call had
    /// already ended, [`Error::Rejected`] for a non-2xx answer.
    pub async fn hang_up(&mut self) -> Result<()> {
        self.ensure_up()?;
        self.ended = true;
        self.media.stop();
        self.dialog.cseq += 1;
        let branch = new_branch()?;
        let bye = dialog_request(&self.shared, &self.dialog, "BYE", &branch, None);
        let deadline = Instant::now() + self.timeout;
        let Outcome { last, .. } = self
            .shared
            .transact(&bye, &branch, Kind::NonInvite, deadline, "BYE")
            .await?;
        match status_of(&last) {
            (200..=299, _) => Ok(()),
            (status, reason) => Err(Error::Rejected { status, reason }),
        }
    }

    /// Waits for the far end's BYE (answered with 200 as soon as it arrives,
    /// even before this is called); stops our audio.
    pub async fn wait_for_bye(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        match tokio::time::timeout(timeout, self.bye.wait_for(|&b| b)).await {
            Ok(Ok(_)) => {
                self.ended = true;
                self.media.stop();
                Ok(())
            }
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout {
                what: "the far end's BYE".into(),
                after: started.elapsed(),
            }),
        }
    }

    fn ensure_up(&self) -> Result<()> {
        if self.ended || self.bye_received() {
            Err(Error::Ended)
        } else {
            Ok(())
        }
    }

    async fn poll_hearing(&self, freq_hz: u32, want: bool, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut progress = self.media.progress();
        loop {
            if self.hears(freq_hz) == want {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let verb = if want { "hear" } else { "stop hearing" };
                return Err(Error::Timeout {
                    what: format!("to {verb} {freq_hz} Hz; {}", self.hearing_report(freq_hz)),
                    after: started.elapsed(),
                });
            }
            // A new packet, or one frame's time (staleness changes without packets).
            let _ =
                tokio::time::timeout_at(deadline.min(Instant::now() + FRAME), progress.changed())
                    .await;
        }
    }

    fn hearing_report(&self, freq_hz: u32) -> String {
        let rec = self.media.recording();
        let window = samples_in(HEAR_WINDOW);
        let tail = rec.tail(window).unwrap_or(&rec.samples);
        let (fraction, level) = tone_measure(tail, freq_hz);
        let since = rec
            .last_arrival
            .map_or_else(|| "never".into(), |t| format!("{:?} ago", t.elapsed()));
        format!(
            "last {} samples: {freq_hz} Hz share {fraction:.3}, level {level:.0}, \
             overall RMS {:.0}; {} RTP packets received, the last {since}",
            tail.len(),
            media::goertzel::rms(tail),
            rec.packets
        )
    }
}

impl Drop for PhoneCall {
    fn drop(&mut self) {
        if !self.ended && !self.bye_received() {
            // Best effort, so the server does not keep a zombie leg after a failed test.
            self.dialog.cseq += 1;
            let branch = new_branch().unwrap_or_else(|_| "z9hG4bKtestkit-drop".into());
            let bye = dialog_request(&self.shared, &self.dialog, "BYE", &branch, None);
            self.shared.try_send(&bye);
        }
        let mut state = lock(&self.shared.state);
        state.dialogs.remove(&self.dialog.call_id);
        state.acks.retain(|(id, _), _| *id != self.dialog.call_id);
    }
}

/// Forgets a dialog slot unless the call got established.
struct ForgetDialog<'a> {
    shared: &'a Shared,
    call_id: &'a str,
    armed: bool,
}

impl Drop for ForgetDialog<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.shared.state).dialogs.remove(self.call_id);
        }
    }
}

/// The parts of a request line and its dialog headers.
struct RequestLine<'a> {
    method: &'a str,
    uri: &'a str,
    branch: &'a str,
    from: &'a str,
    to: &'a str,
    call_id: &'a str,
    cseq: u32,
    route_set: &'a [String],
}

fn dialog_request(
    shared: &Shared,
    dialog: &Dialog,
    method: &str,
    branch: &str,
    body: Option<&str>,
) -> Vec<u8> {
    request_text(
        shared,
        &RequestLine {
            method,
            uri: &dialog.remote_target,
            branch,
            from: &dialog.from,
            to: &dialog.to,
            call_id: &dialog.call_id,
            cseq: dialog.cseq,
            route_set: &dialog.route_set,
        },
        body,
    )
}

/// A request as text; a body is always SDP.
fn request_text(shared: &Shared, line: &RequestLine<'_>, body: Option<&str>) -> Vec<u8> {
    let RequestLine {
        method,
        uri,
        branch,
        from,
        to,
        call_id,
        cseq,
        route_set,
    } = line;
    let mut out = format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: {from}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n",
        via = shared.via(branch),
    );
    for route in *route_set {
        out.push_str(&format!("Route: {route}\r\n"));
    }
    if *method == "INVITE" {
        out.push_str(&format!(
            "Contact: {}\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n",
            shared.contact()
        ));
    }
    out.push_str("User-Agent: confab-testkit\r\n");
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

fn remember_ack(shared: &Shared, call_id: &str, cseq: u32, ack: &[u8]) {
    lock(&shared.state)
        .acks
        .insert((call_id.to_owned(), cseq), ack.to_vec());
}

fn status_of(response: &Message) -> (u16, String) {
    match &response.start {
        crate::message::StartLine::Response { status, reason } => (*status, reason.clone()),
        crate::message::StartLine::Request { .. } => (0, String::new()),
    }
}

fn samples_in(duration: Duration) -> usize {
    (duration.as_micros() * 8 / 1000) as usize
}

/// RFC 4733 §3.2 event codes for the DTMF keys.
fn dtmf_event(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// Where a new RTP stream starts: random SSRC, sequence and timestamp.
pub(crate) fn random_start() -> Result<StreamStart> {
    let (r1, r2) = (random_u64()?, random_u64()?);
    Ok(StreamStart {
        ssrc: Ssrc(r1 as u32),
        seq: SeqNo((r1 >> 32) as u16),
        ts: RtpTimestamp(r2 as u32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::T1;

    #[test]
    fn dtmf_keys_map_to_rfc_4733_events() {
        let keys: Vec<Option<u8>> = "09*#AdE".chars().map(dtmf_event).collect();
        assert_eq!(
            keys,
            [
                Some(0),
                Some(9),
                Some(10),
                Some(11),
                Some(12),
                Some(15),
                None
            ]
        );
    }

    #[test]
    fn durations_become_sample_counts() {
        assert_eq!(samples_in(HEAR_WINDOW), 1600);
        assert_eq!(samples_in(Duration::from_millis(20)), 160);
        assert_eq!(samples_in(T1), 4000);
    }
}
