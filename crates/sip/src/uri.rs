//! URIs as they appear in SIP: `sip:`/`sips:` URIs parsed into parts (the
//! user part percent-decoded, because routing looks at it), and any other
//! absolute URI (`tel:`, `http:`, `urn:` ...) kept opaque. An element must
//! accept unknown schemes in headers (RFC 4475 §3.3.4) and reject them only
//! where it has to use them (the Request-URI, 416).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::param::Param;

/// A URI from a Request-URI, From, To, Contact, Route or Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    /// Another scheme, kept as written: `scheme:rest`.
    Other {
        scheme: String,
        rest: String,
    },
}

/// `sip:` or `sips:` `user:password@host:port;params?headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, percent-decoded (`%00` stays a NUL character; bytes
    /// that do not decode to UTF-8 become U+FFFD).
    pub user: Option<String>,
    /// The password, as written.
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    /// uri-parameters, as written.
    pub params: Vec<Param>,
    /// The `?headers` part, as written (without the `?`).
    pub headers: Option<String>,
}

/// The host of a SIP URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A domain name, as written.
    Name(String),
    Ip(IpAddr),
    /// A bracketed IPv6 reference that the RFC 3261 ABNF allows but is not
    /// a valid address (`[2001:db8:::192.0.2.1]`, RFC 5118 §4.10): tolerated
    /// and kept as written, without the brackets.
    Ipv6Ref(String),
}

impl Uri {
    /// Parses a URI with no surrounding whitespace or angle brackets.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let (scheme, rest) = s.split_once(':').ok_or("no scheme")?;
        if !is_scheme(scheme) {
            return Err("bad scheme");
        }
        if s.bytes()
            .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"'))
        {
            return Err("whitespace, control or delimiter character");
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            let secure = scheme.eq_ignore_ascii_case("sips");
            return SipUri::parse_after_scheme(secure, rest).map(Self::Sip);
        }
        if rest.is_empty() {
            return Err("empty URI");
        }
        Ok(Self::Other {
            scheme: scheme.to_owned(),
            rest: rest.to_owned(),
        })
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Self::Sip(sip) => Some(sip),
            Self::Other { .. } => None,
        }
    }

    /// The user: a SIP URI's (decoded) user part, or a `tel:` URI's number.
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::Sip(sip) => sip.user.as_deref(),
            Self::Other { scheme, rest } if scheme.eq_ignore_ascii_case("tel") => {
                rest.split(';').next().filter(|n| !n.is_empty())
            }
            Self::Other { .. } => None,
        }
    }
}

impl SipUri {
    fn parse_after_scheme(secure: bool, rest: &str) -> Result<Self, &'static str> {
        // The user part may hold `;`, `?` and `/` (RFC 3261 user-unreserved),
        // so the first `@` splits first; none of the later parts may hold
        // an unescaped `@`.
        let (userinfo, hostpart) = match rest.split_once('@') {
            Some((userinfo, hostpart)) => (Some(userinfo), hostpart),
            None => (None, rest),
        };
        if hostpart.contains('@') {
            return Err("more than one @");
        }
        let (hostpart, headers) = match hostpart.split_once('?') {
            Some((hostpart, headers)) => (hostpart, Some(headers.to_owned())),
            None => (hostpart, None),
        };
        let mut parts = hostpart.split(';');
        let (host, port) = parse_hostport(parts.next().unwrap_or(""))?;
        let mut params = Vec::new();
        for part in parts {
            let (name, value) = match part.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (part, None),
            };
            if name.is_empty() || value == Some("") {
                return Err("empty uri-parameter");
            }
            params.push(Param::new(name, value));
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password.to_owned())),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err("empty user part");
                }
                (Some(percent_decode(user)), password)
            }
        };
        Ok(Self {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// A `sip:` URI for `host:port` with no user.
    pub fn new(host: Host, port: Option<u16>) -> Self {
        Self {
            secure: false,
            user: None,
            password: None,
            host,
            port,
            params: Vec::new(),
            headers: None,
        }
    }

    /// The value of a uri-parameter (names compare case-insensitively).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        Param::find(&self.params, name)
    }
}

impl Host {
    /// Parses a host: a bracketed IPv6 reference, an IPv4 address or a
    /// domain name.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if let Ok(v6) = inner.parse::<Ipv6Addr>() {
                return Ok(Self::Ip(IpAddr::V6(v6)));
            }
            let loose = inner.contains(':')
                && inner
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            return if loose {
                Ok(Self::Ipv6Ref(inner.to_owned()))
            } else {
                Err("bad IPv6 reference")
            };
        }
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Self::Ip(IpAddr::V4(v4)));
        }
        let name_ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if name_ok {
            Ok(Self::Name(s.to_owned()))
        } else {
            Err("bad host")
        }
    }

    /// The address, if the host is a valid IP address.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) => Some(*ip),
            Self::Name(_) | Self::Ipv6Ref(_) => None,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

/// Splits `host[:port]` (no whitespace) into its parts.
pub(crate) fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), &'static str> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or("unclosed IPv6 reference")?;
        let (host, after) = s.split_at(close + 1);
        if after.is_empty() {
            (host, None)
        } else {
            (
                host,
                Some(after.strip_prefix(':').ok_or("junk after IPv6 reference")?),
            )
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let port = port.map(parse_port).transpose()?;
    Ok((Host::parse(host)?, port))
}

pub(crate) fn parse_port(s: &str) -> Result<u16, &'static str> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("bad port");
    }
    s.parse().map_err(|_| "bad port")
}

fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Decodes `%HH` escapes; a `%` not followed by two hex digits stays as is.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
            .flatten();
        match escaped {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Characters a SIP user part may carry unescaped (RFC 3261 `unreserved`
/// and `user-unreserved`).
fn is_user_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b)
}

struct EscapedUser<'a>(&'a str);

impl fmt::Display for EscapedUser<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0.as_bytes() {
            if is_user_char(b) {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sip(sip) => sip.fmt(f),
            Self::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            write!(f, "{}", EscapedUser(user))?;
            if let Some(password) = &self.password {
                write!(f, ":{password}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for param in &self.params {
            write!(f, ";{param}")?;
        }
        if let Some(headers) = &self.headers {
            write!(f, "?{headers}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Self::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Self::Ipv6Ref(text) => write!(f, "[{text}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s) {
            Ok(Uri::Sip(sip)) => sip,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn user_part_is_decoded_and_may_hold_semicolons() {
        assert_eq!(
            sip("sip:user;par=u%40example.net@example.com")
                .user
                .as_deref(),
            Some("user;par=u@example.net")
        );
        assert_eq!(
            sip("sip:sips%3Auser%40example.com@example.net")
                .user
                .as_deref(),
            Some("sips:user@example.com")
        );
        assert_eq!(
            sip("sip:null-%00-null@example.com").user.as_deref(),
            Some("null-\0-null")
        );
        assert_eq!(sip("sip:100%@h").user.as_deref(), Some("100%"));
    }

    #[test]
    fn hosts_and_ports() {
        let uri = sip("sip:[2001:db8::10]:5070");
        assert_eq!(
            uri.host,
            Host::Ip("2001:db8::10".parse().unwrap_or_else(|_| unreachable!()))
        );
        assert_eq!(uri.port, Some(5070));
        // Inside the brackets it is part of the address (RFC 5118 §4.3).
        assert_eq!(sip("sip:[2001:db8::10:5070]").port, None);
        assert!(matches!(
            sip("sip:user@[2001:db8:::192.0.2.1]").host,
            Host::Ipv6Ref(_)
        ));
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        assert!(Uri::parse("sip:host:99999").is_err());
        assert!(Uri::parse("sip:a@b@c").is_err());
        assert!(Uri::parse("<sip:user@example.com>").is_err());
        assert!(Uri::parse("sip:user@example.com; lr").is_err());
    }

    #[test]
    fn other_schemes_are_opaque() {
        assert_eq!(
            Uri::parse("soap.beep://192.0.2.103:3002"),
            Ok(Uri::Other {
                scheme: "soap.beep".into(),
                rest: "//192.0.2.103:3002".into()
            })
        );
        assert_eq!(
            Uri::parse("tel:+15551234;phone-context=x")
                .ok()
                .as_ref()
                .and_then(Uri::user),
            Some("+15551234")
        );
    }

    #[test]
    fn display_escapes_what_needs_it() {
        let uri = sip("sip:I%20have%20spaces@example.net;transport=tcp?Subject=x");
        assert_eq!(
            uri.to_string(),
            "sip:I%20have%20spaces@example.net;transport=tcp?Subject=x"
        );
        assert_eq!(Uri::parse(&uri.to_string()), Ok(Uri::Sip(uri)));
    }
}
