//! HTTP digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617,
//! RFC 7616's MD5): the challenge a trunk sends in a 401
//! `WWW-Authenticate` or a 407 `Proxy-Authenticate`, and the credentials
//! our next INVITE carries in `Authorization` or `Proxy-Authorization`.
//!
//! Only `algorithm=MD5` (or none, which means MD5) is answered, with
//! `qop=auth` when the challenge offers it and the RFC 2069 form when it
//! offers no qop; `MD5-sess`, `SHA-256` and `auth-int` alone are not, and
//! the call fails with the challenge's status. The cnonce comes from the
//! engine's RNG, like every other token.

use md5::{Digest as _, Md5};

/// A user name and password for a trunk.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A `Digest` challenge we can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    /// `qop="auth"` (among others) was offered.
    qop_auth: bool,
    /// The algorithm as the challenge spelled it, echoed back.
    algorithm: Option<String>,
}

impl Challenge {
    /// Parses a `WWW-Authenticate`/`Proxy-Authenticate` value; `None` for
    /// another scheme, a missing realm or nonce, or an algorithm or qop we
    /// do not do.
    pub fn parse(value: &str) -> Option<Self> {
        let (scheme, rest) = value.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let params = params(rest);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let algorithm = get("algorithm");
        if algorithm
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
        {
            return None;
        }
        let qop_auth = match get("qop") {
            None => false,
            Some(qop)
                if qop
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth")) =>
            {
                true
            }
            Some(_) => return None,
        };
        Some(Self {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            qop_auth,
            algorithm,
        })
    }

    /// The `Authorization` value for `method` to `uri` with `credentials`;
    /// `cnonce` is used with `qop=auth` (nonce count 1: each challenge is
    /// answered once).
    pub fn authorize(
        &self,
        credentials: &Credentials,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let ha1 = md5_hex(&format!(
            "{}:{}:{}",
            credentials.username, self.realm, credentials.password
        ));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        const NC: &str = "00000001";
        let response = if self.qop_auth {
            md5_hex(&format!("{ha1}:{}:{NC}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut out = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\"",
            quoted(&credentials.username),
            quoted(&self.realm),
            quoted(&self.nonce),
        );
        if let Some(algorithm) = &self.algorithm {
            out.push_str(&format!(", algorithm={algorithm}"));
        }
        if self.qop_auth {
            out.push_str(&format!(", cnonce=\"{cnonce}\", qop=auth, nc={NC}"));
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(&format!(", opaque=\"{}\"", quoted(opaque)));
        }
        out
    }
}

/// `name=value` pairs separated by commas, values quoted or not (a quoted
/// one may hold commas and `\"`).
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, quoted.get(end..).unwrap_or_default())
        } else {
            let end = after.find(',').unwrap_or(after.len());
            let (value, tail) = after.split_at(end);
            (value.trim().to_owned(), tail)
        };
        out.push((name, value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// A value for a quoted-string (backslash and quote escaped).
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Credentials {
        Credentials {
            username: "Mufasa".to_owned(),
            password: "Circle Of Life".to_owned(),
        }
    }

    /// RFC 2617 §3.5's example, byte for byte.
    #[test]
    fn answers_the_rfc_2617_example() {
        let challenge = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("a digest challenge");
        let value = challenge.authorize(&alice(), "GET", "/dir/index.html", "0a4f113b");
        assert!(
            value.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{value}"
        );
        assert!(
            value.contains("qop=auth, nc=00000001")
                && value.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{value}"
        );
    }

    /// RFC 2069 (no qop): MD5(HA1:nonce:HA2).
    #[test]
    fn answers_a_challenge_without_qop() {
        let challenge =
            Challenge::parse("Digest realm=\"r\",nonce=\"n\",algorithm=MD5").expect("a challenge");
        let value = challenge.authorize(&alice(), "INVITE", "sip:bob@192.0.2.1", "c");
        let ha1 = md5_hex("Mufasa:r:Circle Of Life");
        let ha2 = md5_hex("INVITE:sip:bob@192.0.2.1");
        let expected = md5_hex(&format!("{ha1}:n:{ha2}"));
        assert!(
            value.contains(&format!("response=\"{expected}\"")),
            "{value}"
        );
        assert!(
            value.contains("algorithm=MD5") && !value.contains("qop"),
            "{value}"
        );
    }

    proptest::proptest! {
        /// A trunk's challenge is hostile input: any text parses or not,
        /// never panics, and what parses can be answered.
        #[test]
        fn any_challenge_text_is_safe(value in "\\PC{0,200}") {
            if let Some(challenge) = Challenge::parse(&value) {
                let _ = challenge.authorize(&alice(), "INVITE", "sip:x", "c");
            }
        }

        #[test]
        fn near_misses_are_safe(value in "Digest ((realm|nonce|qop|opaque|algorithm)=(\"[a-z,\\\\\"]{0,8}\"?|[a-z]{0,4}),? ?){0,6}") {
            if let Some(challenge) = Challenge::parse(&value) {
                let _ = challenge.authorize(&alice(), "INVITE", "sip:x", "c");
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        for value in [
            "Basic realm=\"r\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256",
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
            "Digest nonce=\"n\"",
            "Digest realm=\"r\"",
            "Digest",
            "",
            "Digest realm=\"unterminated, nonce=",
        ] {
            assert_eq!(Challenge::parse(value), None, "{value}");
        }
    }
}
