//! Sids: a two-letter prefix and 32 hex digits, 34 characters in all.
//!
//! Each resource kind has its own newtype so a `CallSid` can never be passed
//! where a `ConferenceSid` is meant. Parsing checks the prefix and the hex
//! digits; generation takes 16 random bytes from the caller (a CSPRNG in the
//! shell) and writes them as lowercase hex.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a sid of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidError {
    #[error("a sid is 34 characters long")]
    Length,
    #[error("expected the prefix {expected}")]
    Prefix { expected: &'static str },
    #[error("a sid ends in 32 hexadecimal digits")]
    Digits,
}

fn check(s: &str, prefix: &'static str) -> Result<(), SidError> {
    if s.len() != 34 {
        return Err(SidError::Length);
    }
    if !s.starts_with(prefix) {
        return Err(SidError::Prefix { expected: prefix });
    }
    if !s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit) {
        return Err(SidError::Digits);
    }
    Ok(())
}

/// Lowercase hex of 16 bytes.
pub(crate) fn hex32(bytes: [u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The two-letter prefix of this kind of sid.
            pub const PREFIX: &'static str = $prefix;

            /// Parses a sid, checking length, prefix and hex digits.
            /// The digits are kept as given: stored sids are matched exactly.
            pub fn parse(s: &str) -> Result<Self, SidError> {
                check(s, $prefix)?;
                Ok(Self(s.to_owned()))
            }

            /// A new sid from 16 random bytes (the shell draws them from a CSPRNG).
            pub fn from_random(bytes: [u8; 16]) -> Self {
                Self(format!("{}{}", $prefix, hex32(bytes)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = SidError;
            fn from_str(s: &str) -> Result<Self, SidError> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hashes and compares as its string (the derives go through the
        // one field), so a map keyed by sids is searched with a `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

sid_type!(
    /// An account: `AC` + 32 hex.
    AccountSid,
    "AC"
);
sid_type!(
    /// A call, which is also how a conference participant is named: `CA` + 32 hex.
    CallSid,
    "CA"
);
sid_type!(
    /// One conference instance (from first join to completion): `CF` + 32 hex.
    ConferenceSid,
    "CF"
);
sid_type!(
    /// An incoming phone number: `PN` + 32 hex.
    PhoneNumberSid,
    "PN"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_sids_and_keeps_case() {
        let s = "CFd0a50bbe038c437e87f6c82db8f37f21";
        assert_eq!(
            ConferenceSid::parse(s).map(|c| c.to_string()),
            Ok(s.to_owned())
        );
        let upper = "AC012345678901234567890123456789AF";
        assert_eq!(
            AccountSid::parse(upper).map(|c| c.to_string()),
            Ok(upper.to_owned())
        );
    }

    #[test]
    fn rejects_wrong_prefix_length_and_digits() {
        assert_eq!(
            CallSid::parse("CFd0a50bbe038c437e87f6c82db8f37f21"),
            Err(SidError::Prefix { expected: "CA" })
        );
        assert_eq!(CallSid::parse("CA123"), Err(SidError::Length));
        assert_eq!(
            CallSid::parse("CAg0a50bbe038c437e87f6c82db8f37f21"),
            Err(SidError::Digits)
        );
        // 34 bytes but not 34 ASCII characters must not panic on slicing.
        assert!(CallSid::parse("CAé0a50bbe038c437e87f6c82db8f37f2").is_err());
    }

    #[test]
    fn generated_sids_are_lowercase_and_parse() {
        let sid = PhoneNumberSid::from_random([0xAB; 16]);
        assert_eq!(sid.as_str(), "PNabababababababababababababababab");
        assert_eq!(PhoneNumberSid::parse(sid.as_str()), Ok(sid));
    }
}
