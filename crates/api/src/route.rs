//! The one place a 2008-08-01 request path becomes a typed [`Route`]
//! (Conferences, Participants, and the Calls records).
//!
//! 2009 clients send slightly different paths for the same resource, so the
//! path is normalised before matching (decisions.md, "Path tolerance"):
//! repeated `/` collapse (php20 sends `//2008-08-01/...`), a trailing `/` is
//! ignored, a `.xml` suffix on the last segment is stripped, and the singular
//! `Conference` (the seed's own POST/DELETE examples) means `Conferences`.
//! An empty trailing `?` never reaches here: it is an empty query.
//!
//! Segments are case-sensitive. The conference and call sids are parsed
//! here, so a sid of the wrong kind or shape is an unknown path (404). The
//! account segment is kept as written: whether it names the authenticated
//! account is [`crate::auth`]'s question, and its answer is 401 either way.

use model::{CallSid, ConferenceSid};

/// The API version prefix, the first segment of every resource path.
pub const API_VERSION: &str = "2008-08-01";

/// The most segments a route has:
/// `2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants/{CA}`.
const MOST_SEGMENTS: usize = 7;

/// A resource path of the 2008-08-01 API, parsed (borrowing the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'p> {
    /// The `{AccountSid}` segment exactly as the client wrote it.
    account: &'p str,
    pub resource: Resource,
}

/// Which resource under the account a [`Route`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `/Conferences`
    ConferenceList,
    /// `/Conferences/{CF}`
    Conference(ConferenceSid),
    /// `/Conferences/{CF}/Participants`
    ParticipantList(ConferenceSid),
    /// `/Conferences/{CF}/Participants/{CA}`
    Participant(ConferenceSid, CallSid),
    /// `/Calls`: the call records confab keeps (read only).
    CallList,
    /// `/Calls/{CA}`
    Call(CallSid),
}

impl<'p> Route<'p> {
    /// Parses a request path (without its query). `None` means 404.
    pub fn parse(path: &'p str) -> Option<Self> {
        // More segments than any route has: no route.
        let (mut held, n) = segments::<MOST_SEGMENTS>(path)?;
        let segments = held.get_mut(..n)?;
        let last = segments.last_mut()?;
        *last = strip_format_suffix(last)?;

        match &*segments {
            [API_VERSION, "Accounts", account, conferences, rest @ ..]
                if matches!(*conferences, "Conferences" | "Conference") =>
            {
                let resource = match rest {
                    [] => Resource::ConferenceList,
                    [cf] => Resource::Conference(ConferenceSid::parse(cf).ok()?),
                    [cf, "Participants"] => {
                        Resource::ParticipantList(ConferenceSid::parse(cf).ok()?)
                    }
                    [cf, "Participants", ca] => Resource::Participant(
                        ConferenceSid::parse(cf).ok()?,
                        CallSid::parse(ca).ok()?,
                    ),
                    _ => return None,
                };
                Some(Self { account, resource })
            }
            [API_VERSION, "Accounts", account, "Calls", rest @ ..] => {
                let resource = match rest {
                    [] => Resource::CallList,
                    [ca] => Resource::Call(CallSid::parse(ca).ok()?),
                    _ => return None,
                };
                Some(Self { account, resource })
            }
            _ => None,
        }
    }

    /// The account segment as written in the path (not yet checked).
    pub fn account_segment(&self) -> &'p str {
        self.account
    }
}

/// The non-empty `/`-separated segments of `path` (so `//` and a trailing
/// `/` add none), on the stack, and how many there are; `None` if more
/// than `N`. The `/`s are found by `memchr`, a few instructions a segment:
/// `str::split` searched for each anew, a thousand instructions of every
/// request, and a loop over the bytes still took five hundred.
pub(crate) fn segments<const N: usize>(path: &str) -> Option<([&str; N], usize)> {
    let mut held = [""; N];
    let mut n = 0;
    let mut start = 0;
    // One more step at the end, as if the path ended in `/`.
    for i in memchr::memchr_iter(b'/', path.as_bytes()).chain([path.len()]) {
        if i > start {
            // `/` is ASCII, so both ends are char boundaries.
            *held.get_mut(n)? = path.get(start..i)?;
            n += 1;
        }
        start = i + 1;
    }
    Some((held, n))
}

impl Resource {
    /// The canonical path of this resource under `account`: plural
    /// `Conferences`, no suffix, single slashes. List page URIs start here.
    pub fn canonical_path(&self, account: &str) -> String {
        let base = format!("/{API_VERSION}/Accounts/{account}/Conferences");
        let calls = format!("/{API_VERSION}/Accounts/{account}/Calls");
        match self {
            Self::CallList => calls,
            Self::Call(ca) => format!("{calls}/{ca}"),
            Self::ConferenceList => base,
            Self::Conference(cf) => format!("{base}/{cf}"),
            Self::ParticipantList(cf) => format!("{base}/{cf}/Participants"),
            Self::Participant(cf, ca) => format!("{base}/{cf}/Participants/{ca}"),
        }
    }
}

/// Strips `.xml` from the last segment. The other 2008 representations
/// (`.json`, `.csv`, `.html`, twilio-2008.md §6) are not implemented yet, so
/// a path asking for one is answered 404 rather than with XML the client
/// did not ask for. `None` means 404.
fn strip_format_suffix(segment: &str) -> Option<&str> {
    const UNSUPPORTED: [&str; 3] = [".json", ".csv", ".html"];
    if UNSUPPORTED.iter().any(|suffix| segment.ends_with(suffix)) {
        return None;
    }
    let stripped = segment.strip_suffix(".xml").unwrap_or(segment);
    (!stripped.is_empty()).then_some(stripped)
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

    fn resource(path: &str) -> Option<Resource> {
        Route::parse(path).map(|r| r.resource)
    }

    proptest::proptest! {
        /// What `split('/')` without the empty pieces gives, or `None`
        /// past the limit, on paths of ASCII and multi-byte characters.
        #[test]
        fn segments_are_splits_without_empty_pieces(path in "[/a.é€]{0,40}") {
            let want: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            match segments::<7>(&path) {
                Some((held, n)) => proptest::prop_assert_eq!(&held[..n], &want[..]),
                None => proptest::prop_assert!(want.len() > 7),
            }
        }
    }

    #[test]
    fn the_four_resources() {
        let base = format!("/2008-08-01/Accounts/{AC}/Conferences");
        assert_eq!(resource(&base), Some(Resource::ConferenceList));
        assert_eq!(
            resource(&format!("{base}/{CF}")),
            Some(Resource::Conference(cf()))
        );
        assert_eq!(
            resource(&format!("{base}/{CF}/Participants")),
            Some(Resource::ParticipantList(cf()))
        );
        assert_eq!(
            resource(&format!("{base}/{CF}/Participants/{CA}")),
            Some(Resource::Participant(cf(), ca()))
        );
        assert_eq!(Route::parse(&base).unwrap().account_segment(), AC);
    }

    #[test]
    fn tolerates_what_2009_clients_send() {
        let want = Some(Resource::Participant(cf(), ca()));
        for path in [
            // php20: endpoint + "/" + "/2008-08-01/...".
            format!("//2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants/{CA}"),
            format!("/2008-08-01//Accounts///{AC}/Conferences/{CF}//Participants/{CA}"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants/{CA}/"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants/{CA}.xml"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants/{CA}.xml/"),
            // The seed's own POST/DELETE examples use the singular.
            format!("/2008-08-01/Accounts/{AC}/Conference/{CF}/Participants/{CA}"),
            format!("//2008-08-01/Accounts/{AC}/Conference/{CF}/Participants/{CA}.xml"),
        ] {
            assert_eq!(resource(&path), want, "{path}");
        }
        for path in [
            format!("/2008-08-01/Accounts/{AC}/Conferences.xml"),
            format!("/2008-08-01/Accounts/{AC}/Conference"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/"),
        ] {
            assert_eq!(resource(&path), Some(Resource::ConferenceList), "{path}");
        }
        assert_eq!(
            resource(&format!(
                "/2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants.xml"
            )),
            Some(Resource::ParticipantList(cf()))
        );
    }

    #[test]
    fn unknown_paths_are_none() {
        for path in [
            String::new(),
            "/".to_owned(),
            "/2008-08-01".to_owned(),
            format!("/2008-08-01/Accounts/{AC}"),
            format!("/2008-08-01/Accounts/{AC}/Calls/{CA}/Segments"),
            format!("/2008-08-01/Accounts/{AC}/Calls/{CF}"),
            format!("/2010-04-01/Accounts/{AC}/Conferences"),
            // Case-sensitive segments.
            format!("/2008-08-01/accounts/{AC}/Conferences"),
            format!("/2008-08-01/Accounts/{AC}/conferences"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}/participants"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants/{CA}/x"),
            format!(
                "/2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants/{CA}{}",
                "/x".repeat(50)
            ),
            // Representations that do not exist yet.
            format!("/2008-08-01/Accounts/{AC}/Conferences.json"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}.csv"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}.html"),
            // `.xml` only on the last segment, and not as the whole segment.
            format!("/2008-08-01/Accounts/{AC}/Conferences.xml/{CF}"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/.xml"),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}.xml.xml"),
        ] {
            assert_eq!(Route::parse(&path), None, "{path}");
        }
    }

    #[test]
    fn sids_of_the_wrong_kind_or_shape_are_unknown_paths() {
        let base = format!("/2008-08-01/Accounts/{AC}/Conferences");
        for path in [
            format!("{base}/{CA}"),
            format!("{base}/{AC}"),
            format!("{base}/CF123"),
            format!("{base}/cf9f2ead1ae43cdabeab102fa30d938378"),
            format!("{base}/CF9f2ead1ae43cdabeab102fa30d93837g"),
            format!("{base}/{CF}/Participants/{CF}"),
            format!("{base}/{CF}/Participants/CA9ae8e0404"),
            format!("{base}/{CA}/Participants/{CA}"),
            format!("{base}/%43F9f2ead1ae43cdabeab102fa30d938378"),
        ] {
            assert_eq!(Route::parse(&path), None, "{path}");
        }
    }

    #[test]
    fn calls() {
        let base = format!("/2008-08-01/Accounts/{AC}/Calls");
        assert_eq!(resource(&base), Some(Resource::CallList));
        assert_eq!(resource(&format!("{base}.xml")), Some(Resource::CallList));
        assert_eq!(
            resource(&format!("/{base}/{CA}.xml")),
            Some(Resource::Call(ca()))
        );
        assert_eq!(
            Resource::Call(ca()).canonical_path(AC),
            format!("{base}/{CA}")
        );
    }

    #[test]
    fn the_account_segment_is_kept_as_written() {
        for account in [
            "ACnot-a-sid",
            "CF9f2ead1ae43cdabeab102fa30d938378",
            "ac5ea872f6",
        ] {
            let path = format!("/2008-08-01/Accounts/{account}/Conferences");
            assert_eq!(Route::parse(&path).map(|r| r.account), Some(account));
        }
    }

    #[test]
    fn canonical_paths() {
        assert_eq!(
            Resource::ParticipantList(cf()).canonical_path(AC),
            format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants")
        );
        assert_eq!(
            Resource::ConferenceList.canonical_path(AC),
            format!("/2008-08-01/Accounts/{AC}/Conferences")
        );
    }
}
