//! The method a request means, and which methods each resource supports.
//!
//! HEAD is GET without a body. A POST may say it means PUT or DELETE with
//! `_method` (twilio-2008.md §1, "Method override"), in its query string or
//! its form body; the value is case-insensitive and anything else leaves it
//! a POST. Everything the 2008 API does not name is [`EffectiveMethod::Other`], which
//! no resource supports.

use axum::http::Method;

use crate::form::FormPairs;
use crate::route::Resource;

/// What a request asks to do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectiveMethod {
    Get,
    Post,
    Put,
    Delete,
    Other,
}

impl EffectiveMethod {
    /// The effective method. `query` and `body` are the request's decoded
    /// parameters where they parsed (a 400 for those that did not comes
    /// later, after the method check).
    pub fn resolve(method: &Method, query: Option<&FormPairs>, body: Option<&FormPairs>) -> Self {
        match *method {
            Method::GET | Method::HEAD => Self::Get,
            Method::PUT => Self::Put,
            Method::DELETE => Self::Delete,
            Method::POST => {
                let requested = query
                    .and_then(|q| q.get("_method"))
                    .or_else(|| body.and_then(|b| b.get("_method")));
                match requested {
                    Some(m) if m.eq_ignore_ascii_case("PUT") => Self::Put,
                    Some(m) if m.eq_ignore_ascii_case("DELETE") => Self::Delete,
                    _ => Self::Post,
                }
            }
            _ => Self::Other,
        }
    }
}

impl Resource {
    /// The `Allow` header of this resource: the seed says "Not supported"
    /// for everything else.
    pub fn allow(&self) -> &'static str {
        match self {
            Self::ConferenceList
            | Self::Conference(_)
            | Self::ParticipantList(_)
            | Self::CallList
            | Self::Call(_) => "GET",
            Self::Participant(..) => "GET, POST, DELETE",
        }
    }

    pub fn supports(&self, verb: EffectiveMethod) -> bool {
        match self {
            Self::ConferenceList
            | Self::Conference(_)
            | Self::ParticipantList(_)
            | Self::CallList
            | Self::Call(_) => verb == EffectiveMethod::Get,
            Self::Participant(..) => matches!(
                verb,
                EffectiveMethod::Get | EffectiveMethod::Post | EffectiveMethod::Delete
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> FormPairs {
        FormPairs::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn plain_methods() {
        assert_eq!(
            EffectiveMethod::resolve(&Method::GET, None, None),
            EffectiveMethod::Get
        );
        assert_eq!(
            EffectiveMethod::resolve(&Method::HEAD, None, None),
            EffectiveMethod::Get
        );
        assert_eq!(
            EffectiveMethod::resolve(&Method::POST, None, None),
            EffectiveMethod::Post
        );
        assert_eq!(
            EffectiveMethod::resolve(&Method::PUT, None, None),
            EffectiveMethod::Put
        );
        assert_eq!(
            EffectiveMethod::resolve(&Method::DELETE, None, None),
            EffectiveMethod::Delete
        );
        assert_eq!(
            EffectiveMethod::resolve(&Method::PATCH, None, None),
            EffectiveMethod::Other
        );
        assert_eq!(
            EffectiveMethod::resolve(&Method::OPTIONS, None, None),
            EffectiveMethod::Other
        );
    }

    #[test]
    fn method_override_on_post() {
        let post = |q: &str, b: &str| {
            EffectiveMethod::resolve(&Method::POST, Some(&form(q)), Some(&form(b)))
        };
        assert_eq!(post("_method=DELETE", ""), EffectiveMethod::Delete);
        assert_eq!(post("_method=delete", ""), EffectiveMethod::Delete);
        assert_eq!(post("", "Muted=true&_method=Put"), EffectiveMethod::Put);
        assert_eq!(post("_method=PUT", "_method=DELETE"), EffectiveMethod::Put);
        assert_eq!(post("_method=GET", ""), EffectiveMethod::Post);
        assert_eq!(
            post("_method=PATCH", "_method=DELETE"),
            EffectiveMethod::Post
        );
        assert_eq!(post("_Method=DELETE", ""), EffectiveMethod::Post);
        assert_eq!(post("", ""), EffectiveMethod::Post);
        // Only a POST is overridden.
        let get = EffectiveMethod::resolve(&Method::GET, Some(&form("_method=DELETE")), None);
        assert_eq!(get, EffectiveMethod::Get);
        let put = EffectiveMethod::resolve(&Method::PUT, None, Some(&form("_method=DELETE")));
        assert_eq!(put, EffectiveMethod::Put);
    }

    #[test]
    fn what_each_resource_supports() {
        let cf = model::ConferenceSid::parse("CF9f2ead1ae43cdabeab102fa30d938378").unwrap();
        let ca = model::CallSid::parse("CA9ae8e040497c0598481c2031a154919e").unwrap();
        let read_only = [
            Resource::ConferenceList,
            Resource::Conference(cf.clone()),
            Resource::ParticipantList(cf.clone()),
        ];
        for r in &read_only {
            assert_eq!(r.allow(), "GET");
            assert!(r.supports(EffectiveMethod::Get));
            for v in [
                EffectiveMethod::Post,
                EffectiveMethod::Put,
                EffectiveMethod::Delete,
                EffectiveMethod::Other,
            ] {
                assert!(!r.supports(v), "{r:?} {v:?}");
            }
        }
        let p = Resource::Participant(cf, ca);
        assert_eq!(p.allow(), "GET, POST, DELETE");
        for v in [
            EffectiveMethod::Get,
            EffectiveMethod::Post,
            EffectiveMethod::Delete,
        ] {
            assert!(p.supports(v));
        }
        assert!(!p.supports(EffectiveMethod::Put));
        assert!(!p.supports(EffectiveMethod::Other));
    }
}
