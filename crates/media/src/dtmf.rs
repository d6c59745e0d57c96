//! RFC 4733 telephone events (DTMF digits sent as RTP packets, not tones).
//!
//! A sender sends many packets for one key press, all carrying the RTP
//! timestamp of the event's start and a growing duration, then repeats the
//! final "end" packet three times. [`DtmfDetector`] reports each press once,
//! on its first packet (so a lost end packet never loses a digit), keyed by
//! that timestamp.

use thiserror::Error;

use crate::rtp::RtpTimestamp;

/// A DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(char);

impl Digit {
    /// The key for RFC 4733 event codes 0–15: `0`–`9`, `*`, `#`, `A`–`D`.
    /// Other events (flash, modem tones) are not digits.
    #[must_use]
    pub fn from_event(event: u8) -> Option<Self> {
        const KEYS: &[u8; 16] = b"0123456789*#ABCD";
        KEYS.get(usize::from(event)).map(|&b| Self(char::from(b)))
    }

    /// The key as Twilio writes it in `Digits`.
    #[must_use]
    pub fn as_char(self) -> char {
        self.0
    }
}

impl std::fmt::Display for Digit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a telephone-event payload was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TelephoneEventError {
    /// Fewer than the 4 bytes of one event.
    #[error("telephone-event payload of {0} bytes, need 4")]
    TooShort(usize),
}

/// One RFC 4733 §2.3 event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 are DTMF keys).
    pub event: u8,
    /// The E bit: this is (a repeat of) the final packet of the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63.
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event block; any redundant blocks after it are ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, TelephoneEventError> {
        let Some(&[event, flags, d0, d1]) = payload.first_chunk::<4>() else {
            return Err(TelephoneEventError::TooShort(payload.len()));
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte payload (the R bit is always zero).
    #[must_use]
    pub fn to_bytes(self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            u8::from(self.end) << 7 | (self.volume & 0x3f),
            d0,
            d1,
        ]
    }
}

/// Turns a leg's telephone-event packets into key presses, once each.
#[derive(Debug, Default)]
pub struct DtmfDetector {
    /// Recently reported events, newest last: (start timestamp, event code).
    /// A few are kept because a late repeat of the previous event may still
    /// arrive after the next one started.
    recent: [Option<(RtpTimestamp, u8)>; 4],
    /// The newest event's state, for long-press continuation (RFC 4733 §2.5.2.3).
    last: Option<LastEvent>,
}

#[derive(Debug, Clone, Copy)]
struct LastEvent {
    event: u8,
    start: RtpTimestamp,
    duration: u16,
    ended: bool,
}

impl DtmfDetector {
    /// A detector that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet; returns the digit if this packet
    /// starts a key press not seen before.
    pub fn on_packet(&mut self, timestamp: RtpTimestamp, event: TelephoneEvent) -> Option<Digit> {
        let key = (timestamp, event.event);
        if self.recent.contains(&Some(key)) {
            if let Some(last) = self.last.as_mut()
                && last.start == timestamp
                && last.event == event.event
            {
                last.duration = last.duration.max(event.duration);
                last.ended |= event.end;
            }
            return None;
        }
        // A press longer than the 16-bit duration goes on under a new timestamp
        // that starts where the previous segment's duration ran out.
        let continuation = self.last.is_some_and(|last| {
            !last.ended
                && last.event == event.event
                && last.duration >= 0xff00
                && (0..=0x1_0400).contains(&timestamp.distance(last.start))
        });
        self.recent.rotate_left(1);
        self.recent[3] = Some(key);
        self.last = Some(LastEvent {
            event: event.event,
            start: timestamp,
            duration: event.duration,
            ended: event.end,
        });
        if continuation {
            return None;
        }
        Digit::from_event(event.event)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn ev(event: u8, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    /// What a phone sends for one press: a packet every 50 ms, then three ends.
    fn press(event: u8, packets: u16) -> Vec<TelephoneEvent> {
        let mut out: Vec<_> = (1..=packets).map(|i| ev(event, false, i * 400)).collect();
        out.extend([ev(event, true, packets * 400 + 400); 3]);
        out
    }

    #[test]
    fn maps_event_codes_to_keys() {
        let keys: String = (0..16)
            .map(|e| Digit::from_event(e).unwrap().as_char())
            .collect();
        assert_eq!(keys, "0123456789*#ABCD");
        assert_eq!(Digit::from_event(16), None);
        assert_eq!(Digit::from_event(10).unwrap().to_string(), "*");
    }

    #[test]
    fn parses_and_writes_payloads() {
        let e = TelephoneEvent::parse(&[10, 0x8a, 0x03, 0x20]).unwrap();
        assert_eq!(e, ev(10, true, 800));
        assert_eq!(e.to_bytes(), [10, 0x8a, 0x03, 0x20]);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(TelephoneEventError::TooShort(3))
        );
        // Redundant blocks after the first are tolerated.
        assert!(TelephoneEvent::parse(&[1, 0, 0, 0, 2, 0, 0, 0]).is_ok());
    }

    #[test]
    fn a_star_pressed_like_a_phone_is_reported_once() {
        let mut d = DtmfDetector::new();
        let ts = RtpTimestamp(16_000);
        let digits: Vec<Digit> = press(10, 6)
            .into_iter()
            .filter_map(|e| d.on_packet(ts, e))
            .collect();
        assert_eq!(digits, vec![Digit::from_event(10).unwrap()]);
    }

    #[test]
    fn repeated_digits_are_separate_presses() {
        let mut d = DtmfDetector::new();
        let mut got = String::new();
        for (i, event) in [1u8, 1, 2, 1].into_iter().enumerate() {
            let ts = RtpTimestamp(u32::MAX - 1000).wrapping_add(i as u32 * 4000);
            for e in press(event, 3) {
                got.extend(d.on_packet(ts, e).map(Digit::as_char));
            }
        }
        assert_eq!(got, "1121");
    }

    #[test]
    fn a_lost_start_or_end_still_reports_once() {
        let mut d = DtmfDetector::new();
        // Only end packets arrive.
        let hits = [ev(5, true, 800); 3]
            .into_iter()
            .filter_map(|e| d.on_packet(RtpTimestamp(100), e))
            .count();
        assert_eq!(hits, 1);
        // A late repeat of that end after the next press started is not a new press.
        assert!(d.on_packet(RtpTimestamp(900), ev(6, false, 400)).is_some());
        assert!(d.on_packet(RtpTimestamp(100), ev(5, true, 800)).is_none());
    }

    #[test]
    fn a_press_longer_than_the_duration_field_is_one_digit() {
        let mut d = DtmfDetector::new();
        let start = RtpTimestamp(1000);
        assert!(d.on_packet(start, ev(3, false, 400)).is_some());
        assert!(d.on_packet(start, ev(3, false, 0xffff)).is_none());
        let next = start.wrapping_add(0xffff);
        assert!(d.on_packet(next, ev(3, false, 400)).is_none());
        assert!(d.on_packet(next, ev(3, true, 800)).is_none());
        // After it ended, the same key again is a new press.
        assert!(
            d.on_packet(next.wrapping_add(8000), ev(3, false, 400))
                .is_some()
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(e) = TelephoneEvent::parse(&bytes) {
                prop_assert_eq!(e.to_bytes()[0], bytes[0]);
            }
        }

        #[test]
        fn each_press_is_reported_once(events in proptest::collection::vec(0u8..16, 1..8),
                                       repeats in 1u16..10) {
            let mut d = DtmfDetector::new();
            let mut count = 0;
            for (i, &event) in events.iter().enumerate() {
                let ts = RtpTimestamp(i as u32 * 8000);
                count += press(event, repeats).into_iter()
                    .filter(|&e| d.on_packet(ts, e).is_some()).count();
            }
            prop_assert_eq!(count, events.len());
        }
    }
}
