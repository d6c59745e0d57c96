//! Join-link tokens: who may join which room, until when, and muted or
//! not, signed with the account's AuthToken (HMAC-SHA256).
//!
//! A token is `<payload>.<mac>`, both base64url without padding. The
//! payload is a small JSON object (`a` account, `r` room, `e` expiry in
//! Unix seconds, `m` muted); it is readable by whoever holds the link (the
//! AuthToken never is: it only keys the MAC). Reading a token is two steps,
//! because the key depends on the account inside it: [`JoinToken::parse`]
//! (untrusted, shape only), then [`JoinToken::verify`] with that account's
//! AuthToken and `now`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit as _, Mac as _};
use model::{AccountSid, Timestamp};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A token longer than this is refused before decoding (a room name is at
/// most a few hundred bytes).
const MAX_TOKEN_LEN: usize = 2048;

/// What a join link grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinClaims {
    pub account: AccountSid,
    /// The conference's friendly name.
    pub room: String,
    /// The link works until this instant (exclusive).
    pub expires: Timestamp,
    /// The browser joins muted.
    pub muted: bool,
}

/// Why a token gives no join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinTokenError {
    #[error("the join link is malformed")]
    Malformed,
    #[error("the join link's signature does not match")]
    BadSignature,
    #[error("the join link has expired")]
    Expired,
}

/// A token parsed but not yet verified: its claims cannot be trusted until
/// [`JoinToken::verify`] says so.
#[derive(Debug, Clone)]
pub struct JoinToken {
    claims: JoinClaims,
    /// The base64url payload as written (the MAC covers these bytes).
    payload: String,
    mac: Vec<u8>,
}

impl JoinClaims {
    /// The token for these claims, signed with `auth_token`.
    pub fn sign(&self, auth_token: &str) -> String {
        let json = serde_json::json!({
            "a": self.account.as_str(),
            "r": self.room,
            "e": self.expires.as_micros() / 1_000_000,
            "m": self.muted,
        });
        let payload = URL_SAFE_NO_PAD.encode(json.to_string());
        let mac = URL_SAFE_NO_PAD.encode(mac(auth_token, &payload));
        format!("{payload}.{mac}")
    }
}

impl JoinToken {
    /// Reads a token's shape: its claims (not yet trusted) and its MAC.
    pub fn parse(token: &str) -> Result<Self, JoinTokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JoinTokenError::Malformed);
        }
        let (payload, mac) = token.split_once('.').ok_or(JoinTokenError::Malformed)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| JoinTokenError::Malformed)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| JoinTokenError::Malformed)?;
        let p: serde_json::Value =
            serde_json::from_slice(&json).map_err(|_| JoinTokenError::Malformed)?;
        let (Some(a), Some(room), Some(expires), Some(muted)) = (
            p["a"].as_str(),
            p["r"].as_str(),
            p["e"].as_i64(),
            p["m"].as_bool(),
        ) else {
            return Err(JoinTokenError::Malformed);
        };
        let account = AccountSid::parse(a).map_err(|_| JoinTokenError::Malformed)?;
        if room.trim().is_empty() {
            return Err(JoinTokenError::Malformed);
        }
        Ok(Self {
            claims: JoinClaims {
                account,
                room: room.to_owned(),
                expires: Timestamp::from_secs(expires),
                muted,
            },
            payload: payload.to_owned(),
            mac,
        })
    }

    /// The account whose AuthToken must verify the token.
    pub fn account(&self) -> &AccountSid {
        &self.claims.account
    }

    /// The claims, if `auth_token` signed them and they have not expired
    /// at `now`. The MAC is compared in constant time.
    pub fn verify(self, auth_token: &str, now: Timestamp) -> Result<JoinClaims, JoinTokenError> {
        let mut check = HmacSha256::new_from_slice(auth_token.as_bytes())
            .map_err(|_| JoinTokenError::BadSignature)?;
        check.update(self.payload.as_bytes());
        check
            .verify_slice(&self.mac)
            .map_err(|_| JoinTokenError::BadSignature)?;
        if now >= self.claims.expires {
            return Err(JoinTokenError::Expired);
        }
        Ok(self.claims)
    }
}

fn mac(auth_token: &str, payload: &str) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = match HmacSha256::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "5e5e5e5e9a9a9a9a5e5e5e5e9a9a9a9a";

    fn claims() -> JoinClaims {
        JoinClaims {
            account: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            room: "standup & co".into(),
            expires: Timestamp::from_secs(1_800_000_000),
            muted: true,
        }
    }

    fn before() -> Timestamp {
        Timestamp::from_secs(1_799_999_999)
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let token = claims().sign(TOKEN);
        let parsed = JoinToken::parse(&token).unwrap();
        assert_eq!(parsed.account(), &claims().account);
        assert_eq!(parsed.verify(TOKEN, before()).unwrap(), claims());
    }

    #[test]
    fn the_token_is_url_safe_and_holds_no_auth_token() {
        let token = claims().sign(TOKEN);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        let (payload, _) = token.split_once('.').unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(!json.contains(TOKEN), "{json}");
        assert!(!token.contains(TOKEN));
    }

    #[test]
    fn another_accounts_token_does_not_verify() {
        let token = claims().sign(TOKEN);
        let other = "fedcba9876543210fedcba9876543210";
        let err = JoinToken::parse(&token).unwrap().verify(other, before());
        assert_eq!(err, Err(JoinTokenError::BadSignature));
    }

    #[test]
    fn a_changed_claim_breaks_the_signature() {
        let token = claims().sign(TOKEN);
        let (_, mac) = token.split_once('.').unwrap();
        // The same MAC on a payload that unmutes, or names another room.
        for changed in [
            JoinClaims {
                muted: false,
                ..claims()
            },
            JoinClaims {
                room: "boardroom".into(),
                ..claims()
            },
            JoinClaims {
                expires: Timestamp::from_secs(1_900_000_000),
                ..claims()
            },
        ] {
            let (payload, _) = changed
                .sign("anything")
                .split_once('.')
                .map(|(p, m)| (p.to_owned(), m.to_owned()))
                .unwrap();
            let forged = format!("{payload}.{mac}");
            let err = JoinToken::parse(&forged).unwrap().verify(TOKEN, before());
            assert_eq!(err, Err(JoinTokenError::BadSignature));
        }
        // A flipped character of the MAC.
        let mut bytes = token.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        let err = JoinToken::parse(&flipped).unwrap().verify(TOKEN, before());
        assert_eq!(err, Err(JoinTokenError::BadSignature));
    }

    #[test]
    fn an_expired_token_is_refused_from_its_expiry_on() {
        let token = claims().sign(TOKEN);
        for now in [claims().expires, Timestamp::from_secs(1_900_000_000)] {
            let err = JoinToken::parse(&token).unwrap().verify(TOKEN, now);
            assert_eq!(err, Err(JoinTokenError::Expired));
        }
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        for bad in [
            "",
            ".",
            "abc",
            "!!.!!",
            "e30.AA",    // {} : no fields
            "bnVsbA.AA", // null
            long.as_str(),
            "eyJhIjoiQUN4IiwiciI6InIiLCJlIjoxLCJtIjpmYWxzZX0.AA", // a bad AccountSid
        ] {
            assert_eq!(
                JoinToken::parse(bad).map(|_| ()),
                Err(JoinTokenError::Malformed),
                "{bad}"
            );
        }
    }
}
