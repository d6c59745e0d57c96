//! 2010-04-01 request paths become a typed [`Route`], or a 404.
//!
//! The same tolerance as the 2008 paths (repeated and trailing `/`), then
//! Twilio's: the last segment's `.json` asks for JSON, `.xml` or no suffix
//! for XML. Segments are percent-decoded, because two of them are names a
//! client writes URL-encoded: a participant's label (Twilio addresses a
//! participant by its call sid or its label) and the conference name of
//! `POST Conferences/{name}/Participants`. Sids are parsed here, so a sid
//! of the wrong kind is a label or a name, or an unknown path.

use std::borrow::Cow;

use model::{CallSid, ConferenceSid};
use percent_encoding::percent_decode_str;

use crate::route;

/// The API version prefix, the first segment of every 2010 path.
pub const API_VERSION: &str = "2010-04-01";

/// The most segments a route has:
/// `2010-04-01/Accounts/{AC}/Conferences/{CF}/Participants/{CA or label}`.
const MOST_SEGMENTS: usize = 7;

/// The representation a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// The format a path asks for, even when the rest of it is no route
    /// (so a 404 comes in the format the client reads).
    pub fn of_path(path: &str) -> Self {
        if path.trim_end_matches('/').ends_with(".json") {
            Self::Json
        } else {
            Self::Xml
        }
    }
}

/// A resource path of the 2010-04-01 API, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The `{AccountSid}` segment exactly as the client wrote it.
    account: String,
    pub resource: Resource,
    pub format: Format,
}

/// A conference as the path names it: by sid, or (only to add a
/// participant) by its friendly name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConferencePath {
    Sid(ConferenceSid),
    Name(String),
}

/// A participant as the path names it: its call sid or its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantPath {
    Call(CallSid),
    Label(String),
}

/// Which resource under the account a [`Route`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `/Conferences`
    ConferenceList,
    /// `/Conferences/{CF}`
    Conference(ConferenceSid),
    /// `/Conferences/{CF or name}/Participants`
    ParticipantList(ConferencePath),
    /// `/Conferences/{CF}/Participants/{CA or label}`
    Participant(ConferenceSid, ParticipantPath),
    /// `/Calls`
    CallList,
    /// `/Calls/{CA}`
    Call(CallSid),
}

impl Route {
    /// Parses a request path (without its query). `None` means 404.
    pub fn parse(path: &str) -> Option<Self> {
        let format = Format::of_path(path);
        // On the stack, as the 2008 paths: more segments than any route
        // has is no route.
        let (mut raw, n) = route::segments::<MOST_SEGMENTS>(path)?;
        let raw = raw.get_mut(..n)?;
        let last = raw.last_mut()?;
        *last = last
            .strip_suffix(".json")
            .or_else(|| last.strip_suffix(".xml"))
            .unwrap_or(last);
        let mut decoded: [Cow<'_, str>; MOST_SEGMENTS] = Default::default();
        for (slot, segment) in decoded.iter_mut().zip(raw.iter()) {
            *slot = percent_decode_str(segment).decode_utf8().ok()?;
        }
        let mut held = [""; MOST_SEGMENTS];
        for (slot, segment) in held.iter_mut().zip(&decoded) {
            *slot = segment;
        }
        let segments = held.get(..n)?;
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        let [API_VERSION, "Accounts", account, rest @ ..] = segments else {
            return None;
        };
        let resource = match rest {
            ["Conferences"] => Resource::ConferenceList,
            ["Conferences", cf] => Resource::Conference(ConferenceSid::parse(cf).ok()?),
            ["Conferences", conference, "Participants"] => {
                Resource::ParticipantList(match ConferenceSid::parse(conference) {
                    Ok(sid) => ConferencePath::Sid(sid),
                    Err(_) => ConferencePath::Name((*conference).to_owned()),
                })
            }
            ["Conferences", cf, "Participants", participant] => Resource::Participant(
                ConferenceSid::parse(cf).ok()?,
                match CallSid::parse(participant) {
                    Ok(call) => ParticipantPath::Call(call),
                    Err(_) => ParticipantPath::Label((*participant).to_owned()),
                },
            ),
            ["Calls"] => Resource::CallList,
            ["Calls", ca] => Resource::Call(CallSid::parse(ca).ok()?),
            _ => return None,
        };
        Some(Self {
            account: (*account).to_owned(),
            resource,
            format,
        })
    }

    /// The account segment as written in the path (not yet checked).
    pub fn account_segment(&self) -> &str {
        &self.account
    }
}

/// Where the 2010 resources of `account` live, each path without its
/// format suffix; [`json`] adds Twilio's `.json`.
pub fn account_base(account: &str) -> String {
    format!("/{API_VERSION}/Accounts/{account}")
}

/// `path` with the `.json` suffix every URI in a 2010 body carries.
pub fn json(path: &str) -> String {
    format!("{path}.json")
}

impl Resource {
    /// The canonical path of a list resource under `account`, without a
    /// suffix; `None` for instances.
    pub fn list_path(&self, account: &str) -> Option<String> {
        let base = account_base(account);
        match self {
            Self::ConferenceList => Some(format!("{base}/Conferences")),
            Self::ParticipantList(ConferencePath::Sid(cf)) => {
                Some(format!("{base}/Conferences/{cf}/Participants"))
            }
            Self::CallList => Some(format!("{base}/Calls")),
            _ => None,
        }
    }

    /// The methods the resource has (GET includes HEAD), for `Allow`.
    pub fn allow(&self) -> &'static str {
        match self {
            Self::ConferenceList => "GET",
            Self::Conference(_) | Self::ParticipantList(_) | Self::CallList | Self::Call(_) => {
                "GET, POST"
            }
            Self::Participant(..) => "GET, POST, DELETE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "AC5ea872f6da5a21de157d80997a64bd33";
    const CF: &str = "CF9f2ead1ae43cdabeab102fa30d938378";
    const CA: &str = "CA9ae8e040497c0598481c2031a154919e";

    fn cf() -> ConferenceSid {
        ConferenceSid::parse(CF).unwrap()
    }

    fn ca() -> CallSid {
        CallSid::parse(CA).unwrap()
    }

    fn parse(path: &str) -> Option<(Resource, Format)> {
        Route::parse(path).map(|r| (r.resource, r.format))
    }

    #[test]
    fn every_resource_in_both_formats() {
        let base = format!("/2010-04-01/Accounts/{AC}");
        let cases = [
            ("/Conferences", Resource::ConferenceList),
            (&*format!("/Conferences/{CF}"), Resource::Conference(cf())),
            (
                &*format!("/Conferences/{CF}/Participants"),
                Resource::ParticipantList(ConferencePath::Sid(cf())),
            ),
            (
                &*format!("/Conferences/{CF}/Participants/{CA}"),
                Resource::Participant(cf(), ParticipantPath::Call(ca())),
            ),
            ("/Calls", Resource::CallList),
            (&*format!("/Calls/{CA}"), Resource::Call(ca())),
        ];
        for (tail, want) in cases {
            for (suffix, format) in [
                (".json", Format::Json),
                (".xml", Format::Xml),
                ("", Format::Xml),
            ] {
                let path = format!("{base}{tail}{suffix}");
                assert_eq!(parse(&path), Some((want.clone(), format)), "{path}");
            }
        }
        let route = Route::parse(&format!("//2010-04-01//Accounts/{AC}/Calls.json/")).unwrap();
        assert_eq!(
            (route.account_segment(), &route.resource, route.format),
            (AC, &Resource::CallList, Format::Json)
        );
    }

    #[test]
    fn labels_and_names_are_decoded() {
        let base = format!("/2010-04-01/Accounts/{AC}/Conferences");
        assert_eq!(
            parse(&format!("{base}/{CF}/Participants/customer%20one.json")),
            Some((
                Resource::Participant(cf(), ParticipantPath::Label("customer one".into())),
                Format::Json
            ))
        );
        assert_eq!(
            parse(&format!("{base}/My%20Room/Participants.json")),
            Some((
                Resource::ParticipantList(ConferencePath::Name("My Room".into())),
                Format::Json
            ))
        );
        // A sid of another kind is a label, not a call.
        assert_eq!(
            parse(&format!("{base}/{CF}/Participants/{CF}")),
            Some((
                Resource::Participant(cf(), ParticipantPath::Label(CF.into())),
                Format::Xml
            ))
        );
    }

    #[test]
    fn unknown_paths_are_none() {
        let base = format!("/2010-04-01/Accounts/{AC}");
        for path in [
            "/2010-04-01".to_owned(),
            base.clone(),
            format!("{base}.json"),
            format!("{base}/Conferences/{CA}.json"),
            format!("{base}/Conferences/room.json"),
            format!("{base}/Conferences/room/Participants/{CA}.json"),
            format!("{base}/Conferences/{CF}/Recordings.json"),
            format!("{base}/Calls/{CF}.json"),
            format!("{base}/Calls/{CA}/Recordings.json"),
            format!("{base}/calls.json"),
            format!("{base}/Conferences/{CF}/Participants/%FF.json"),
            format!("{base}/Conferences/{CF}/Participants/.json"),
            format!("{base}/Conferences/{CF}/Participants/%2F/x"),
            format!("/2008-08-01/Accounts/{AC}/Calls"),
        ] {
            assert_eq!(Route::parse(&path), None, "{path}");
        }
    }

    #[test]
    fn list_paths() {
        assert_eq!(
            Resource::CallList.list_path(AC),
            Some(format!("/2010-04-01/Accounts/{AC}/Calls"))
        );
        assert_eq!(Resource::Call(ca()).list_path(AC), None);
        assert_eq!(
            Resource::ParticipantList(ConferencePath::Name("x".into())).list_path(AC),
            None
        );
    }
}
