//! The dashboard's sign-in sessions, kept in memory on the server.
//!
//! A session is a random 256-bit id (the cookie's value) mapped to the
//! account that signed in, a CSRF token of its own (another 256 random bits)
//! and an expiry [`SESSION_TTL`] after the sign-in. Nothing secret is in the
//! cookie: the AuthToken is checked once at the sign-in and never stored
//! here, and an id means nothing once it is signed out, has expired, or the
//! server restarted (then the user signs in again). That is why the ids are
//! kept server-side rather than signed with the account's token: a sign-out
//! really ends the session, and the token never keys anything a browser
//! holds.
//!
//! Memory is bounded: at most [`MAX_SESSIONS`]; when full, the expired ones
//! go, then the one closest to expiry.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use model::AccountSid;
use subtle::ConstantTimeEq;

/// How long a session lasts after its sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// The most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

/// A signed-in browser: whose it is and the token its state-changing
/// requests must carry.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub account: AccountSid,
    pub csrf: String,
    expires: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &[u8]) -> bool {
        self.csrf.as_bytes().ct_eq(presented).into()
    }
}

/// The sessions of every signed-in browser.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            by_id: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session for `account`; returns its id and the session.
    pub fn open(&self, account: AccountSid, now: Instant) -> Option<(String, Session)> {
        let id = random_hex()?;
        let session = Session {
            account,
            csrf: random_hex()?,
            expires: now + self.ttl,
        };
        let mut by_id = self.lock();
        if by_id.len() >= MAX_SESSIONS {
            by_id.retain(|_, s| s.expires > now);
        }
        if by_id.len() >= MAX_SESSIONS
            && let Some(oldest) = by_id
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
        {
            by_id.remove(&oldest);
        }
        by_id.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session `id` names, if any (an expired one is forgotten).
    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let mut by_id = self.lock();
        match by_id.get(id) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                by_id.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id` (a sign-out).
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // Each change is one insert or remove: a poisoned map is consistent.
        self.by_id.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 256 bits from the operating system's CSPRNG, in hex; `None` if it failed.
fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn account() -> AccountSid {
        AccountSid::from_random([3; 16])
    }

    #[test]
    fn a_session_lives_until_it_expires_or_is_closed() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let (id, session) = sessions.open(account(), t0).unwrap();
        assert_eq!(id.len(), 64);
        assert_ne!(id, session.csrf);
        assert_eq!(
            sessions.get(&id, t0 + Duration::from_secs(59)),
            Some(session.clone())
        );
        assert_eq!(sessions.get(&id, t0 + Duration::from_secs(60)), None);
        assert_eq!(
            sessions.get(&id, t0),
            None,
            "an expired session is forgotten"
        );

        let (id, _) = sessions.open(account(), t0).unwrap();
        sessions.close(&id);
        assert_eq!(sessions.get(&id, t0), None);
        assert_eq!(sessions.get("nonsense", t0), None);
    }

    #[test]
    fn the_csrf_token_must_match_exactly() {
        let sessions = Sessions::new(SESSION_TTL);
        let (_, session) = sessions.open(account(), Instant::now()).unwrap();
        assert!(session.csrf_matches(session.csrf.as_bytes()));
        assert!(!session.csrf_matches(b""));
        assert!(!session.csrf_matches(&session.csrf.as_bytes()[1..]));
    }

    #[test]
    fn a_full_table_drops_the_oldest_session() {
        let sessions = Sessions::new(SESSION_TTL);
        let t0 = Instant::now();
        let (first, _) = sessions.open(account(), t0).unwrap();
        for i in 1..MAX_SESSIONS as u64 {
            let _ = sessions
                .open(account(), t0 + Duration::from_millis(i))
                .unwrap();
        }
        let (last, _) = sessions
            .open(account(), t0 + Duration::from_secs(60))
            .unwrap();
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
        assert!(sessions.get(&first, t0).is_none());
        assert!(sessions.get(&last, t0).is_some());
    }
}
