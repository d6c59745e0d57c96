//! Fresh sids and tokens from the operating system's CSPRNG.

use model::{AccountSid, AuthToken, CallSid, ConferenceSid, PhoneNumberSid};

/// 16 bytes from the OS CSPRNG.
///
/// # Panics
/// If the operating system cannot provide randomness at all, there is no safe
/// way to mint credentials or sids, so this stops the process.
pub fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    #[allow(clippy::expect_used)] // invariant: no CSPRNG, no credentials; nothing sane to do.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

pub fn account_sid() -> AccountSid {
    AccountSid::from_random(random_bytes())
}

pub fn auth_token() -> AuthToken {
    AuthToken::from_random(random_bytes())
}

pub fn call_sid() -> CallSid {
    CallSid::from_random(random_bytes())
}

pub fn conference_sid() -> ConferenceSid {
    ConferenceSid::from_random(random_bytes())
}

pub fn phone_number_sid() -> PhoneNumberSid {
    PhoneNumberSid::from_random(random_bytes())
}
