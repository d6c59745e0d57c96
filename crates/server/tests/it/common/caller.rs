//! [`Caller`]: a test's caller, one [`testkit`] phone placing one call, in
//! the words the call tests use (dial with a tone, until heard, expect a
//! BYE), panicking with a message where testkit returns an error. All SIP
//! and RTP is testkit's (the workspace's one test phone); nothing here
//! touches a socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::goertzel::rms;
use media::{Codec, tone_fraction};
use testkit::{Fence, Mark};

/// How long any one wait of a test may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// How the phone reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// The one audio codec offered (and so the one the server must send).
    pub codec: Codec,
    /// SIP over one TCP connection instead of UDP.
    pub tcp: bool,
    /// A delayed offer: no SDP in the INVITE, the answer in the ACK.
    pub delayed: bool,
    /// An offer of `m=audio` formats and `a=` lines written by hand (for
    /// `codec` on a payload type of its own), instead of the usual one.
    pub formats: Option<(&'static str, &'static [&'static str])>,
}

impl Line {
    pub const UDP: Line = Line {
        codec: Codec::Pcmu,
        tcp: false,
        delayed: false,
        formats: None,
    };
    pub const PCMA: Line = Line {
        codec: Codec::Pcma,
        tcp: false,
        delayed: false,
        formats: None,
    };
    pub const TCP: Line = Line {
        codec: Codec::Pcmu,
        tcp: true,
        delayed: false,
        formats: None,
    };
    /// A trunk's delayed offer, answered with PCMA (not the server's first
    /// choice, PCMU: the answer decides).
    pub const DELAYED_PCMA: Line = Line {
        codec: Codec::Pcma,
        tcp: false,
        delayed: true,
        formats: None,
    };
    /// PCMU on payload type 98 and telephone-event on 96 (`a=rtpmap`).
    pub const PCMU_98: Line = Line {
        codec: Codec::Pcmu,
        tcp: false,
        delayed: false,
        formats: Some((
            "98 96",
            &[
                "a=rtpmap:98 PCMU/8000",
                "a=rtpmap:96 telephone-event/8000",
                "a=fmtp:96 0-16",
                "a=ptime:20",
            ],
        )),
    };
}

/// One testkit phone and the one call it placed.
pub struct Caller {
    /// Dropped first: a call still up sends its BYE through the phone.
    call: testkit::PhoneCall,
    _phone: testkit::Phone,
}

impl Caller {
    /// Dials `user` over UDP offering PCMU; see [`Caller::dial_on`].
    pub async fn dial(
        server: SocketAddr,
        user: &str,
        caller: &str,
        tone_hz: u32,
    ) -> Result<Caller, u16> {
        Self::dial_on(Line::UDP, server, user, caller, tone_hz).await
    }

    /// Dials `user` at the server as `caller` and waits for the final
    /// response: Ok once the call is up (ACK sent, tone `tone_hz` flowing; 0
    /// is silence), Err(status) if refused.
    pub async fn dial_on(
        line: Line,
        server: SocketAddr,
        user: &str,
        caller: &str,
        tone_hz: u32,
    ) -> Result<Caller, u16> {
        let mut phone = if line.tcp {
            testkit::Phone::connect_tcp(server).await
        } else {
            testkit::Phone::bind(server).await
        }
        .expect("a test phone");
        phone.set_caller(caller);
        phone.set_timeout(DEADLINE);
        let placed = match line.formats {
            Some((formats, attributes)) => phone.call_offering(user, formats, attributes).await,
            None if line.delayed => phone.call_delayed(user, line.codec).await,
            None => phone.call(user, line.codec).await,
        };
        let call = match placed {
            Ok(call) => call,
            Err(e) => return Err(e.status().unwrap_or_else(|| panic!("dialling {user}: {e}"))),
        };
        assert_eq!(
            call.codec(),
            line.codec,
            "the answer's first format is not the one codec offered"
        );
        if tone_hz == 0 {
            call.send_silence();
        } else {
            call.send_tone(tone_hz);
        }
        Ok(Caller {
            call,
            _phone: phone,
        })
    }

    /// The call itself, for what testkit offers beyond these words.
    pub fn call(&self) -> &testkit::PhoneCall {
        &self.call
    }

    pub fn heard_len(&self) -> usize {
        self.call.mark().0
    }

    /// What was heard from sample `from` on.
    pub fn heard_since(&self, from: usize) -> Vec<i16> {
        self.call.recorded_since(Mark(from))
    }

    /// The last `ms` milliseconds heard.
    pub fn recent(&self, ms: usize) -> Vec<i16> {
        let len = self.heard_len();
        self.heard_since(len.saturating_sub(ms * 8))
    }

    /// Waits until the last 200 ms heard satisfy `check`. Every packet heard
    /// must be in the codec the phone offered.
    pub async fn until_heard(&self, what: &str, check: impl Fn(&[i16]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let recent = self.recent(200);
            assert_eq!(
                self.call.rtp_stats().other_codec,
                0,
                "{what}: the server sent another codec than the one offered"
            );
            if recent.len() == 1600 && check(&recent) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: never heard; last 200 ms: rms {:.0}, {}",
                rms(&recent),
                describe(&recent)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `ms` of audio arrived after `since`, and returns the
    /// packets that arrived from `since` on, each with its arrival instant.
    pub async fn packets_after(&self, since: Instant, ms: usize) -> Vec<(Instant, Vec<i16>)> {
        let deadline = Instant::now() + DEADLINE;
        let since_tokio = tokio::time::Instant::from_std(since);
        loop {
            let packets: Vec<(Instant, Vec<i16>)> = self
                .call
                .arrived_since(since_tokio)
                .into_iter()
                .map(|(at, p)| (at.into_std(), p))
                .collect();
            let samples: usize = packets.iter().map(|(_, p)| p.len()).sum();
            if samples >= ms * 8 {
                return packets;
            }
            assert!(
                Instant::now() < deadline,
                "only {} ms heard after the mark",
                samples / 8
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A point in the order packets reach the phone: every packet after it
    /// was sent by the server after this was called (see
    /// [`testkit::PhoneCall::fence`]).
    pub async fn fence(&self) -> Fence {
        self.call.fence().await.expect("the phone's own fence")
    }

    /// Waits until `ms` of audio arrived after `fence` and returns it,
    /// packet by packet.
    pub async fn packets_after_fence(&self, fence: Fence, ms: u64) -> Vec<Vec<i16>> {
        self.call
            .packets_after(fence, Duration::from_millis(ms))
            .await
            .expect("the phone stopped hearing anything")
    }

    /// Waits until `ms` more milliseconds were heard after sample `mark`
    /// and returns them.
    pub async fn listen_from(&self, mark: usize, ms: usize) -> Vec<i16> {
        self.call
            .recorded_after(Mark(mark), Duration::from_millis(ms as u64), DEADLINE)
            .await
            .expect("the phone stopped hearing anything")
    }

    /// Sends a re-INVITE whose offer has `direction` (`sendonly` puts the
    /// call on hold, `sendrecv` takes it off), waits for its 200 and ACKs.
    pub async fn reinvite(&mut self, direction: &str) {
        let hold = match direction {
            "sendonly" => true,
            "sendrecv" => false,
            other => panic!("no re-INVITE for {other}"),
        };
        self.call
            .reinvite_hold(hold)
            .await
            .unwrap_or_else(|e| panic!("re-INVITE {direction}: {e}"));
    }

    /// Presses a key (`*`, `1`, ...); the phone sends it over the next ticks.
    pub fn press(&self, key: char) {
        self.call.press(key).expect("a key press");
    }

    /// Sends a SIP INFO in the call's dialog; its final status.
    pub async fn info(&mut self, content_type: &str, body: &str) -> u16 {
        self.call
            .info(content_type, body)
            .await
            .unwrap_or_else(|e| panic!("INFO: {e}"))
    }

    /// Waits for the server's BYE (answered 200 as soon as it arrives).
    pub async fn expect_bye(&mut self) {
        self.expect_bye_within(DEADLINE).await;
    }

    /// [`Caller::expect_bye`] with a deadline of the test's choosing, for a
    /// BYE that follows other events of known length.
    pub async fn expect_bye_within(&mut self, deadline: Duration) {
        self.call
            .wait_for_bye(deadline)
            .await
            .unwrap_or_else(|e| panic!("no BYE from the server: {e}"));
    }

    /// Hangs up with a BYE and waits for its 200.
    pub async fn hang_up(mut self) {
        self.call
            .hang_up()
            .await
            .unwrap_or_else(|e| panic!("hanging up: {e}"));
    }

    /// The phone dies: its SIP connection closes without a BYE and its
    /// media stops.
    pub fn crash(&mut self) {
        self.call.crash();
    }
}

/// The probe tones' shares of `samples`, for failure messages.
pub fn describe(samples: &[i16]) -> String {
    [400.0, 440.0, 700.0, 1000.0, 1100.0, 659.25, 880.0]
        .iter()
        .map(|&hz| format!("{hz} Hz {:.2}", tone_fraction(samples, hz)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hears `hz` and not `not_hz`.
pub fn hears(hz: f64, not_hz: f64) -> impl Fn(&[i16]) -> bool {
    move |s| tone_fraction(s, hz) > 0.6 && tone_fraction(s, not_hz) < 0.05
}
