//! HTTP Basic authentication against the account named in the path
//! (twilio-2008.md §2, decisions.md).
//!
//! Every 2009 client sends credentials pre-emptively: user = AccountSid,
//! password = AuthToken. Whatever goes wrong (no header, another scheme,
//! bad base64, no `:`, not UTF-8, an unknown account, a wrong token, or
//! valid credentials for an account other than the one in the path) is the
//! same [`ApiError::Unauthorized`], so a client never learns whether some
//! other account exists. Tokens are compared in constant time and never
//! logged ([`Credentials`]'s `Debug` hides the token).
//!
//! A client that keeps presenting bad credentials is answered 429 for a
//! while (module `throttle`); the owner's right credentials never are.
//!
//! Accounts that authenticated are cached in memory ([`AccountCache`]):
//! accounts are immutable today, so the hot path is one query fewer. Misses
//! are not cached, so an account created later is found. The cache has no
//! bound but the number of accounts, which only an operator creates.
//!
//! A cached account also keeps the header its credentials make as every
//! client writes it (`Basic ` and the padded standard base64 of
//! `sid:token`). A request whose header is exactly that, on that account's
//! URL, is compared in constant time and let in without decoding anything;
//! any other spelling (another case of `Basic`, extra spaces, no padding)
//! is decoded and checked as before.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::http::HeaderValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use model::{Account, AccountSid, ReadCache};
use reqparse::Credentials;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use crate::throttle::{self, Verdict};

/// Checks the `Authorization` header against the account named in the
/// path (`url_account`, as written). Returns the authenticated account.
///
/// Credentials that do not verify are counted against `client` (the peer
/// address, when the server knows it): past the limit they are answered
/// [`ApiError::TooManyRequests`] instead of 401 (module `throttle`). No
/// header at all, and right credentials on another account's URL, are
/// never counted; right credentials are never refused.
pub async fn authenticate(
    state: &AppState,
    header: Option<&HeaderValue>,
    url_account: &str,
    client: Option<IpAddr>,
) -> Result<AccountSid, ApiError> {
    // No credentials: the challenge, which a browser needs before it sends any.
    let header = header.ok_or(ApiError::Unauthorized)?;
    // The owner's own header, byte for byte: nothing to decode.
    if let Some(cached) = state.accounts.get(url_account)
        && same_bytes(&cached.header, header.as_bytes())
    {
        return Ok(cached.account.sid.clone());
    }
    match verify(state, header).await? {
        // The same answer for a foreign account whether it exists or not.
        Some(sid) if sid.as_str() == url_account => Ok(sid),
        Some(_) => Err(ApiError::Unauthorized),
        None => Err(refuse(state, client)),
    }
}

/// The account whose credentials `header` carries, if they verify.
async fn verify(state: &AppState, header: &HeaderValue) -> Result<Option<AccountSid>, ApiError> {
    let Some(credentials) = Credentials::parse(header.as_bytes()) else {
        return Ok(None);
    };
    check(state, &credentials.account, credentials.token()).await
}

/// The account `account` names, if `token` is its AuthToken (the
/// dashboard's sign-in checks a typed pair the same way).
pub(crate) async fn check(
    state: &AppState,
    account: &AccountSid,
    token: &str,
) -> Result<Option<AccountSid>, ApiError> {
    let (cached, in_cache) = match state.accounts.get(account) {
        Some(cached) => (cached, true),
        None => match state.store.account(account).await? {
            Some(account) => (Arc::new(CachedAccount::new(account)), false),
            None => return Ok(None),
        },
    };
    if !same_bytes(
        cached.account.auth_token.expose().as_bytes(),
        token.as_bytes(),
    ) {
        return Ok(None);
    }
    let sid = cached.account.sid.clone();
    if !in_cache {
        state.accounts.insert(sid.clone(), cached);
    }
    Ok(Some(sid))
}

/// `a == b` in time that depends on their lengths alone, eight bytes per
/// step: every secret this module compares (a header, a token). `subtle`'s
/// slice comparison takes a step per byte, which was 900 instructions of
/// every request for an 82-byte header.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    let mut same = a_rest.ct_eq(b_rest);
    for (x, y) in a_words.iter().zip(b_words) {
        same &= u64::from_ne_bytes(*x).ct_eq(&u64::from_ne_bytes(*y));
    }
    same.into()
}

/// The answer to credentials that did not verify: 401, or 429 once
/// `client` has failed too often.
pub(crate) fn refuse(state: &AppState, client: Option<IpAddr>) -> ApiError {
    let Some(ip) = client else {
        return ApiError::Unauthorized;
    };
    // A poisoned lock still holds consistent counts: each update is one
    // assignment of plain numbers.
    let verdict = state
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .failed(ip, Instant::now());
    match verdict {
        Verdict::Unauthorized => ApiError::Unauthorized,
        Verdict::SlowDown { retry_after, first } => {
            let retry_after_secs = throttle::retry_after_secs(retry_after);
            if first {
                tracing::warn!(
                    client = %ip,
                    retry_after_secs,
                    "too many bad credentials from one client: 429 until its window closes"
                );
            }
            ApiError::TooManyRequests { retry_after_secs }
        }
    }
}

/// Accounts that authenticated before, by sid (shared: every request
/// reads one, and a copy would copy its strings).
pub type AccountCache = ReadCache<AccountSid, Arc<CachedAccount>>;

/// An account that authenticated, with the `Authorization` header its
/// credentials make as clients write it (see the module docs).
pub struct CachedAccount {
    account: Account,
    /// `Basic base64(sid:token)`, padded: a secret like the token.
    header: Box<[u8]>,
}

impl CachedAccount {
    fn new(account: Account) -> Self {
        let user_pass = format!("{}:{}", account.sid, account.auth_token.expose());
        let header = format!("Basic {}", STANDARD.encode(user_pass));
        Self {
            account,
            header: header.into_bytes().into_boxed_slice(),
        }
    }
}

/// No bound but the number of accounts (see the module docs), as before
/// the cache was a [`ReadCache`].
pub const ACCOUNT_CACHE_CAPACITY: usize = usize::MAX;

#[cfg(test)]
mod tests {
    use model::{AuthToken, Timestamp};

    use super::*;

    #[test]
    fn same_bytes_is_equality() {
        let header = b"Basic QUM1ZWE4NzJmNmRhNWEyMWRlMTU3ZDgwOTk3YTY0YmQzMzow";
        for n in 0..header.len() {
            let (a, b) = (&header[..n], &header[..n]);
            assert!(same_bytes(a, b), "{n}");
            assert!(!same_bytes(a, &header[..=n]), "{n}");
            // One bit off, at every position: in a whole word and in the tail.
            for i in 0..n {
                let mut off = a.to_vec();
                off[i] ^= 1;
                assert!(!same_bytes(&off, b), "{n} {i}");
            }
        }
    }

    /// The header a client sends (`Basic`, one space, padded base64), byte
    /// for byte: what lets a cached account's requests skip decoding.
    #[test]
    fn a_cached_account_keeps_the_header_clients_send() {
        let account = Account {
            sid: AccountSid::parse("AC5ea872f6da5a21de157d80997a64bd33").unwrap(),
            friendly_name: "test".to_owned(),
            auth_token: AuthToken::from_stored("0123456789abcdef0123456789abcdef".to_owned()),
            date_created: Timestamp::from_secs(0),
            date_updated: Timestamp::from_secs(0),
        };
        // base64 of "AC5ea872f6da5a21de157d80997a64bd33:0123456789abcdef0123456789abcdef"
        let expected = b"Basic QUM1ZWE4NzJmNmRhNWEyMWRlMTU3ZDgwOTk3YTY0YmQzMzowMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==";
        assert_eq!(&*CachedAccount::new(account).header, expected.as_slice());
    }
}
