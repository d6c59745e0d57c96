//! Webhooks: what confab sends to an application's URLs, and how it signs it.
//!
//! Every TwiML request (the voice URL, a `<Redirect>`, a `<Dial action>`, a
//! `waitUrl`) carries the call's parameters of spec §10.1: `CallSid
//! AccountSid Caller Called CallStatus CallGuid` (`CallGuid` = `CallSid`, for
//! OpenVBX), plus `DialStatus` on a `<Dial action>` request. A POST sends them
//! as a form body; a GET appends them to the URL's query, after whatever query
//! the URL already had (spec §10.2).
//!
//! [`signature`] is spec §10.3 byte for byte: base64 of HMAC-SHA1, keyed with
//! the account's AuthToken, over the URL as requested followed, for a POST,
//! by every parameter's name and value sorted by name, with no delimiters.
//! The shell sends it as [`SIGNATURE_HEADER`].

use std::fmt;

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use model::{AccountSid, AuthToken, CallSid, HttpMethod};
use url::Url;

use crate::HttpUrl;

/// The request header that carries [`WebhookRequest::signature`].
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The Content-Type of a POST's body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Who is calling whom: the part of every webhook that does not change during
/// a call.
///
/// `caller` and `called` are what 2008 sent as phone numbers (10 digits for
/// US numbers) or whatever the SIP leg identified; they are personal data, so
/// `Debug` leaves them out.
#[derive(Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub call_sid: CallSid,
    pub account_sid: AccountSid,
    pub caller: String,
    pub called: String,
}

impl fmt::Debug for CallInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallInfo")
            .field("call_sid", &self.call_sid)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

#[cfg(any(test, feature = "test-util"))]
impl CallInfo {
    /// The call of spec §10.3's signature example (its sids, a 2008
    /// caller and called number): a fixture for tests and fuzz targets.
    #[allow(clippy::expect_used)] // two valid sid literals
    pub fn example() -> Self {
        Self {
            call_sid: CallSid::parse("CA42ed11f93dc08b952027ffbc406d0868")
                .expect("a valid call sid"),
            account_sid: AccountSid::parse("AC309475e5fede1b49e100272a8640f438")
                .expect("a valid account sid"),
            caller: "4158675309".into(),
            called: "4155551212".into(),
        }
    }
}

impl CallInfo {
    /// The standard parameters of a request about this call, in the order
    /// spec §10.1 lists them.
    pub fn params(&self, status: WebhookCallStatus) -> Params {
        let mut params = Params::new();
        params.push("CallSid", self.call_sid.as_str());
        params.push("AccountSid", self.account_sid.as_str());
        params.push("Caller", self.caller.as_str());
        params.push("Called", self.called.as_str());
        params.push("CallStatus", status.as_str());
        params.push("CallGuid", self.call_sid.as_str());
        params
    }
}

/// The `CallStatus` parameter of a webhook, as 2008 sent it (not the
/// call record's status, [`model::CallStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookCallStatus {
    InProgress,
    Completed,
    Busy,
    Failed,
    NoAnswer,
}

impl WebhookCallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::NoAnswer => "no-answer",
        }
    }
}

/// `DialStatus` on a `<Dial action>` request.
///
/// After a conference, confab sends `answered` whenever the caller was in the
/// room and left it (kicked, `*`, `timeLimit`, the room ended), and `failed`
/// when it never got in (the room was full): `spec/decisions.md`,
/// "Conference life". `busy` and `no-answer` are for dialling numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialStatus {
    Answered,
    Busy,
    NoAnswer,
    Failed,
}

impl DialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Failed => "failed",
        }
    }
}

/// Request parameters, in the order they were added. Values are plain
/// (decoded) text; encoding happens when a request is built.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One request to an application URL, before it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The URL as the document (or the number's configuration) named it.
    pub url: HttpUrl,
    pub method: HttpMethod,
    pub params: Params,
}

impl WebhookRequest {
    /// The URL to request: for a GET, [`url`](Self::url) with the parameters
    /// appended to its query (keeping any query it had); for a POST, `url`
    /// unchanged.
    pub fn request_url(&self) -> Url {
        let mut url = self.url.as_url().clone();
        if self.method == HttpMethod::Get && !self.params.is_empty() {
            url.query_pairs_mut().extend_pairs(self.params.iter());
        }
        url
    }

    /// The `application/x-www-form-urlencoded` body of a POST; `None` for a GET.
    pub fn form_body(&self) -> Option<String> {
        match self.method {
            HttpMethod::Get => None,
            HttpMethod::Post => Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(self.params.iter())
                    .finish(),
            ),
        }
    }

    /// The `X-Twilio-Signature` of this request, keyed with the account's
    /// AuthToken.
    pub fn signature(&self, token: &AuthToken) -> String {
        let url = self.request_url();
        match self.method {
            HttpMethod::Get => signature(token, url.as_str(), std::iter::empty::<(&str, &str)>()),
            HttpMethod::Post => signature(token, url.as_str(), self.params.iter()),
        }
    }
}

/// Spec §10.3: `base64(HMAC-SHA1(token, url + name1 + value1 + name2 + ...))`
/// with the POST parameters sorted by name (byte-wise; equal names by value).
/// For a GET pass no parameters: they are already in `url`.
pub fn signature<'a>(
    token: &AuthToken,
    url: &str,
    post_params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut sorted: Vec<(&str, &str)> = post_params.into_iter().collect();
    sorted.sort_unstable();
    // HMAC accepts keys of any length (long ones are hashed, short ones
    // padded); `new_from_slice` can only fail for fixed-key MACs.
    #[allow(clippy::expect_used)]
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> AuthToken {
        AuthToken::from_stored(s.to_owned())
    }

    fn call() -> CallInfo {
        CallInfo::example()
    }

    /// Spec §10.3, the official twilio-python vector.
    #[test]
    fn signature_matches_the_twilio_python_vector() {
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ];
        let got = signature(
            &token("12345"),
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            params,
        );
        assert_eq!(got, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    /// The order parameters are given in must not matter.
    #[test]
    fn signature_sorts_parameters_by_name() {
        let params = [
            ("To", "+18005551212"),
            ("Digits", "1234"),
            ("Caller", "+14158675309"),
            ("From", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
        ];
        let got = signature(
            &token("12345"),
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            params,
        );
        assert_eq!(got, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    /// Spec §10.3, the 2008-style vector, built through `WebhookRequest` with
    /// the parameters a voice request really carries (minus `CallGuid`, which
    /// the vector predates).
    #[test]
    fn signature_matches_the_2008_vector() {
        let mut params = call().params(WebhookCallStatus::InProgress);
        params.0.retain(|(k, _)| k != "CallGuid");
        let request = WebhookRequest {
            url: HttpUrl::parse("http://example.com/voice?x=1").unwrap(),
            method: HttpMethod::Post,
            params,
        };
        assert_eq!(
            request.signature(&token("3a2630a909aadbf60266234756fb15a0")),
            "Q63waQ8F9ryNr2VqHO1g944HyQ4="
        );
    }

    #[test]
    fn a_wrong_token_or_value_changes_the_signature() {
        let params = [("CallSid", "CA1234567890ABCDE")];
        let a = signature(&token("12345"), "https://h/", params);
        let b = signature(&token("12346"), "https://h/", params);
        let c = signature(
            &token("12345"),
            "https://h/",
            [("CallSid", "CA1234567890ABCDF")],
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn voice_params_are_the_2008_set_with_call_guid() {
        let params = call().params(WebhookCallStatus::InProgress);
        let names: Vec<&str> = params.iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "CallSid",
                "AccountSid",
                "Caller",
                "Called",
                "CallStatus",
                "CallGuid"
            ]
        );
        assert_eq!(params.get("CallGuid"), params.get("CallSid"));
        assert_eq!(params.get("CallStatus"), Some("in-progress"));
        assert_eq!(
            call()
                .params(WebhookCallStatus::Completed)
                .get("CallStatus"),
            Some("completed")
        );
    }

    #[test]
    fn post_sends_a_form_body_and_leaves_the_url_alone() {
        let mut params = Params::new();
        params.push("Caller", "+1 415&x=y");
        params.push("CallSid", "CA1");
        let request = WebhookRequest {
            url: HttpUrl::parse("http://example.com/voice?x=1").unwrap(),
            method: HttpMethod::Post,
            params,
        };
        assert_eq!(
            request.request_url().as_str(),
            "http://example.com/voice?x=1"
        );
        assert_eq!(
            request.form_body().as_deref(),
            Some("Caller=%2B1+415%26x%3Dy&CallSid=CA1")
        );
    }

    #[test]
    fn get_appends_to_the_query_and_signs_the_whole_url() {
        let mut params = Params::new();
        params.push("CallSid", "CA1");
        params.push("Caller", "+1 415");
        for (configured, requested) in [
            (
                "http://example.com/voice?x=1",
                "http://example.com/voice?x=1&CallSid=CA1&Caller=%2B1+415",
            ),
            (
                "http://example.com/voice",
                "http://example.com/voice?CallSid=CA1&Caller=%2B1+415",
            ),
        ] {
            let request = WebhookRequest {
                url: HttpUrl::parse(configured).unwrap(),
                method: HttpMethod::Get,
                params: params.clone(),
            };
            assert_eq!(request.request_url().as_str(), requested);
            assert_eq!(request.form_body(), None);
            // A GET's parameters are in the URL: nothing is appended to it.
            let t = token("12345");
            assert_eq!(
                request.signature(&t),
                signature(&t, requested, std::iter::empty::<(&str, &str)>())
            );
        }
    }

    #[test]
    fn debug_leaves_out_phone_numbers() {
        let shown = format!("{:?}", call());
        assert!(!shown.contains("4158675309"), "{shown}");
        assert!(shown.contains("CA42ed11f93dc08b952027ffbc406d0868"));
    }
}
