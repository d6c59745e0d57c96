//! RFC 4028 session timers: how long a session lasts without a refresh,
//! who refreshes it, and when the engine acts on it.
//!
//! A dead peer that never sends BYE would otherwise hold its call until
//! something else notices. The caller's INVITE (and every re-INVITE or
//! UPDATE after it) says how long the session may live
//! (`Session-Expires`) and may say who refreshes it; confab answers with
//! the interval and the refresher it agrees to. When confab refreshes, the
//! engine sends an UPDATE (or re-INVITE) at half the interval; when the
//! peer does and falls silent, the engine sends BYE before the session
//! expires (§10).
//!
//! Our choices where RFC 4028 leaves one: an interval below
//! [`MIN_SE`] (90 s, the RFC's floor) is refused with 422. With no
//! `Session-Expires` in the request, a peer that lists `timer` in
//! `Supported` gets [`DEFAULT_INTERVAL`] (30 min, the RFC's recommended
//! value) with itself as refresher, so a peer that can refresh is watched;
//! a peer that does not support the extension and asks for nothing gets no
//! session timer (confab's RTP timeout still notices a dead one). When the
//! request names no refresher, the peer refreshes if it supports the
//! extension, else confab does (§9).

use std::time::{Duration, Instant};

use crate::message::{Headers, RawHeader, Request};
use crate::rejection::{Rejection, raw};
use crate::timer::Kind;

/// The smallest session interval confab accepts, in seconds (RFC 4028 §5).
pub(crate) const MIN_SE: u32 = 90;
/// The interval confab picks when a peer that supports the extension asks
/// for none, in seconds (RFC 4028 §4 recommends 1800).
pub(crate) const DEFAULT_INTERVAL: u32 = 1800;
/// The longest margin before expiry at which the non-refresher hangs up
/// (RFC 4028 §10: 32 s, or a third of the interval if that is less).
const EXPIRY_MARGIN: u32 = 32;
/// When a refresh of ours that failed (491 glare, 5xx: not 408 or 481) is
/// tried again: inside RFC 3261 §14.1's 2.1-4 s, and far inside the
/// shortest session's remaining half (45 s).
pub(crate) const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(4);

/// A dialog's agreed session timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    /// The session interval, in seconds.
    pub interval: u32,
    /// Confab refreshes (else the peer does).
    pub we_refresh: bool,
    /// The peer listed `timer` in Supported (or Require).
    pub peer_supports: bool,
}

/// What a session refresh or its absence does when its timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline {
    pub kind: Kind,
    pub at: Instant,
}

/// The session timer a request from the peer (an INVITE, re-INVITE or
/// UPDATE) asks for, as confab agrees to it; `None` for no timer. An
/// interval below [`MIN_SE`] is [`Rejection::IntervalTooSmall`] (422); a
/// `Session-Expires` or `Min-SE` that does not parse is
/// [`Rejection::BadHeader`]. `known` says the peer already showed support
/// earlier in the dialog (a refresh need not repeat `Supported: timer`).
pub(crate) fn negotiate(request: &Request, known: bool) -> Result<Option<SessionTimer>, Rejection> {
    let h = &request.headers;
    let peer_supports =
        known || lists(h, "Supported", "timer") || h.require.iter().any(|t| is_timer(t));
    let their_min = match h.get("Min-SE") {
        Some(value) => delta_seconds(value).ok_or(Rejection::BadHeader("Min-SE"))?,
        None => 0,
    };
    let Some(value) = h.get("Session-Expires") else {
        return Ok(peer_supports.then(|| SessionTimer {
            interval: DEFAULT_INTERVAL.max(their_min),
            we_refresh: false,
            peer_supports,
        }));
    };
    let (interval, refresher) =
        parse_session_expires(value).ok_or(Rejection::BadHeader("Session-Expires"))?;
    if interval < MIN_SE {
        return Err(Rejection::IntervalTooSmall { min_se: MIN_SE });
    }
    // A UAC that does not support the extension cannot refresh (a proxy
    // may have put the header in): we do (RFC 4028 §9).
    let we_refresh = match refresher {
        _ if !peer_supports => true,
        Some(Role::Uas) => true,
        Some(Role::Uac) => false,
        None => false,
    };
    Ok(Some(SessionTimer {
        interval,
        we_refresh,
        peer_supports,
    }))
}

impl SessionTimer {
    /// The timer the 2xx to our initial INVITE sets, if it sets one (RFC
    /// 4028 §7.2): its `Session-Expires`, refreshed by us unless it names
    /// the UAS as refresher.
    pub fn of_answer(headers: &Headers) -> Option<Self> {
        headers.get("Session-Expires")?;
        let unset = Self {
            interval: MIN_SE,
            we_refresh: true,
            peer_supports: false,
        };
        let timer = unset.after_response(headers);
        (timer != unset).then_some(timer)
    }

    /// What our 2xx to the peer's request says: the interval and refresher
    /// (confab being the UAS), and `Require: timer` if the peer supports
    /// the extension (RFC 4028 §9).
    pub fn response_headers(&self) -> Vec<RawHeader> {
        let refresher = if self.we_refresh { "uas" } else { "uac" };
        let mut headers = vec![raw(
            "Session-Expires",
            &format!("{};refresher={refresher}", self.interval),
        )];
        if self.peer_supports {
            headers.push(raw("Require", "timer"));
        }
        headers
    }

    /// What our refresh request says (confab being the UAC, and the
    /// refresher).
    pub fn request_headers(&self) -> Vec<RawHeader> {
        vec![
            raw(
                "Session-Expires",
                &format!("{};refresher=uac", self.interval),
            ),
            raw("Min-SE", &MIN_SE.to_string()),
        ]
    }

    /// The timer after a 2xx to our refresh: what the peer's answer says,
    /// if it says anything (RFC 4028 §7.2), else as it was.
    pub fn after_response(&self, headers: &Headers) -> Self {
        let Some((interval, refresher)) = headers
            .get("Session-Expires")
            .and_then(parse_session_expires)
        else {
            return *self;
        };
        Self {
            interval: interval.max(MIN_SE),
            we_refresh: refresher != Some(Role::Uas),
            peer_supports: true,
        }
    }

    /// The next thing to do, counted from a refresh at `now`: refresh at
    /// half the interval (we refresh), or hang up at expiry minus
    /// min(32 s, interval / 3) (the peer refreshes; RFC 4028 §10).
    pub fn deadline(&self, now: Instant) -> Deadline {
        if self.we_refresh {
            let half = Duration::from_millis(u64::from(self.interval) * 500);
            return Deadline {
                kind: Kind::Refresh,
                at: now + half,
            };
        }
        let margin = EXPIRY_MARGIN.min(self.interval / 3);
        let left = Duration::from_secs(u64::from(self.interval - margin));
        Deadline {
            kind: Kind::Expire,
            at: now + left,
        }
    }
}

/// The refresher parameter's value: the UAC or the UAS of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Uac,
    Uas,
}

/// `Session-Expires: 1800;refresher=uac`: the interval and the refresher,
/// if named. `None` if the interval is no number.
fn parse_session_expires(value: &str) -> Option<(u32, Option<Role>)> {
    let mut parts = value.split(';');
    let interval = delta_seconds(parts.next()?)?;
    let refresher = parts
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("refresher"))
        .and_then(|(_, role)| match role.trim() {
            r if r.eq_ignore_ascii_case("uac") => Some(Role::Uac),
            r if r.eq_ignore_ascii_case("uas") => Some(Role::Uas),
            _ => None,
        });
    Some((interval, refresher))
}

/// `delta-seconds`, with parameters after a `;` ignored (Min-SE may carry
/// generic parameters). Values too large for `u32` are capped.
fn delta_seconds(value: &str) -> Option<u32> {
    let digits = value.split(';').next()?.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        digits
            .parse::<u64>()
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)),
    )
}

fn is_timer(tag: &str) -> bool {
    tag.trim().eq_ignore_ascii_case("timer")
}

/// Whether a comma-list header (`Supported`, `Allow`) lists `token`.
pub(crate) fn lists(headers: &Headers, name: &str, token: &str) -> bool {
    headers
        .get_all(name)
        .flat_map(|value| value.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_values_parse_or_are_refused() {
        assert_eq!(
            parse_session_expires("1800;refresher=uac"),
            Some((1800, Some(Role::Uac)))
        );
        assert_eq!(
            parse_session_expires(" 90 ; REFRESHER = UAS"),
            Some((90, Some(Role::Uas)))
        );
        assert_eq!(parse_session_expires("600;x=1"), Some((600, None)));
        assert_eq!(parse_session_expires("99999999999"), Some((u32::MAX, None)));
        assert_eq!(parse_session_expires("-5"), None);
        assert_eq!(parse_session_expires(""), None);
        assert_eq!(parse_session_expires("1e3"), None);
    }

    #[test]
    fn deadlines_are_half_the_interval_or_expiry_less_the_margin() {
        let t0 = Instant::now();
        let timer = |interval, we_refresh| SessionTimer {
            interval,
            we_refresh,
            peer_supports: true,
        };
        let at = |t: SessionTimer| {
            let d = t.deadline(t0);
            (d.kind, (d.at - t0).as_millis())
        };
        assert_eq!(at(timer(90, true)), (Kind::Refresh, 45_000));
        assert_eq!(at(timer(91, true)), (Kind::Refresh, 45_500));
        assert_eq!(at(timer(90, false)), (Kind::Expire, 60_000));
        assert_eq!(at(timer(1800, false)), (Kind::Expire, 1_768_000));
        assert_eq!(at(timer(u32::MAX, false)).0, Kind::Expire);
    }
}
