//! The 2010-04-01 representations: JSON as Twilio writes it, and the XML
//! of the same resources (`<TwilioResponse><Conference><Sid>…`), which is
//! the JSON's tree with `snake_case` keys as `CamelCase` elements.
//!
//! Every field Twilio has is present: confab's value, or `null` where it
//! has none (`region`, `price`, `annotation`, …; docs/api.md lists them).
//! Booleans are JSON booleans, dates RFC 2822 with `+0000`, and every URI
//! a path from the API root (a client makes it absolute on its own host).
//!
//! A resource is a typed struct whose fields are declared in the order
//! of their names, which is the order `serde_json`'s maps write them in,
//! so a list page serialises its items straight into its body without a
//! map per item (a test pins the bytes against the `json!` rendering).

use std::hash::Hash;
use std::io;

use axum::http::StatusCode;
use axum::response::Response;
use model::{
    AccountSid, CallRecord, CallSid, ConferenceRecord, ConferenceSid, ConferenceStatus, PageWindow,
    ParticipantRecord, Timestamp,
};
use quick_xml::events::{BytesEnd, BytesStart, Event};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::rendered::{JsonRenderings, KeptJson, Rendered};
use crate::respond;
use crate::types::{Exception, PageUris};
use crate::v2010::route::{API_VERSION, Format, account_base};
use crate::xml::{XmlWriter, document, text_element, xml_safe};

/// A conference's 2010 `status`.
pub(crate) fn conference_status(status: ConferenceStatus) -> &'static str {
    match status {
        ConferenceStatus::Init => "init",
        ConferenceStatus::InProgress => "in-progress",
        ConferenceStatus::Completed => "completed",
    }
}

/// A date as the 2010 API writes it (RFC 2822), serialised without a
/// `String` of its own.
#[derive(Debug, Clone, Copy)]
pub struct Date(Timestamp);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A field Twilio has and confab has no value for: `null`.
type Null = ();

/// The suffix of every URI in a body of `format`.
fn suffix(format: Format) -> &'static str {
    match format {
        Format::Json => ".json",
        Format::Xml => "",
    }
}

/// A conference (`GET …/Conferences/CF….json`, and each of a list's).
#[derive(Debug, Serialize)]
pub struct Conference<'a> {
    account_sid: &'a str,
    api_version: &'static str,
    call_sid_ending_conference: Option<&'a str>,
    date_created: Date,
    date_updated: Date,
    friendly_name: &'a str,
    reason_conference_ended: Option<&'static str>,
    region: Null,
    sid: &'a str,
    status: &'static str,
    subresource_uris: ConferenceUris,
    uri: String,
}

#[derive(Debug, Serialize)]
struct ConferenceUris {
    participants: String,
    recordings: String,
}

pub fn conference(c: &ConferenceRecord, format: Format) -> Conference<'_> {
    let path = format!(
        "{}/Conferences/{}",
        account_base(c.account_sid.as_str()),
        c.sid
    );
    let s = suffix(format);
    Conference {
        account_sid: c.account_sid.as_str(),
        api_version: API_VERSION,
        call_sid_ending_conference: c.call_sid_ending.as_ref().map(CallSid::as_str),
        date_created: Date(c.date_created),
        date_updated: Date(c.date_updated),
        friendly_name: &c.friendly_name,
        reason_conference_ended: c.reason_ended.map(|r| r.as_str()),
        region: (),
        sid: c.sid.as_str(),
        status: conference_status(c.status),
        subresource_uris: ConferenceUris {
            participants: format!("{path}/Participants{s}"),
            recordings: format!("{path}/Recordings{s}"),
        },
        uri: format!("{path}{s}"),
    }
}

/// A record a JSON list page writes from its kept rendering
/// ([`kept_json`]).
pub trait KeptItem: PartialEq + Clone + Sized {
    type Key: Eq + Hash + Clone;
    /// The list's names.
    const NAMES: ListNames;
    /// What its rendering is kept under.
    fn key(&self) -> &Self::Key;
    /// Its JSON, as a list page writes it.
    fn json(&self) -> serde_json::Result<Box<RawValue>>;
    /// Where its kind's renderings are kept.
    fn kept(rendered: &Rendered) -> &JsonRenderings<Self::Key, Self>;
}

impl KeptItem for ConferenceRecord {
    type Key = ConferenceSid;
    const NAMES: ListNames = CONFERENCES;
    fn key(&self) -> &ConferenceSid {
        &self.sid
    }
    fn json(&self) -> serde_json::Result<Box<RawValue>> {
        serde_json::value::to_raw_value(&conference(self, Format::Json))
    }
    fn kept(rendered: &Rendered) -> &JsonRenderings<ConferenceSid, Self> {
        &rendered.conferences_json
    }
}

impl KeptItem for ParticipantRecord {
    type Key = CallSid;
    const NAMES: ListNames = PARTICIPANTS;
    fn key(&self) -> &CallSid {
        &self.call_sid
    }
    fn json(&self) -> serde_json::Result<Box<RawValue>> {
        serde_json::value::to_raw_value(&participant(self, Format::Json))
    }
    fn kept(rendered: &Rendered) -> &JsonRenderings<CallSid, Self> {
        &rendered.participants_json
    }
}

impl KeptItem for CallRecord {
    type Key = CallSid;
    const NAMES: ListNames = CALLS;
    fn key(&self) -> &CallSid {
        &self.sid
    }
    fn json(&self) -> serde_json::Result<Box<RawValue>> {
        serde_json::value::to_raw_value(&call(self, Format::Json))
    }
    fn kept(rendered: &Rendered) -> &JsonRenderings<CallSid, Self> {
        &rendered.calls_json
    }
}

/// Each of `items` in JSON, from (or into) its kind's kept renderings in
/// `rendered`: what a JSON list page writes as its items.
pub fn kept_json<R: KeptItem>(items: &[R], rendered: &Rendered) -> io::Result<Vec<KeptJson<R>>> {
    let kept = R::kept(rendered);
    items
        .iter()
        .map(|item| kept.get_or_render(item.key(), item, |item| Ok(item.json()?)))
        .collect()
}

/// The JSON of each of `kept`, to write as it is.
pub fn raw<R>(kept: &[KeptJson<R>]) -> Vec<&RawValue> {
    kept.iter().map(|k| &**k.output()).collect()
}

/// A participant (`…/Participants/CA….json`, and each of a list's).
#[derive(Debug, Serialize)]
pub struct Participant<'a> {
    account_sid: &'a str,
    call_sid: &'a str,
    call_sid_to_coach: Option<&'a str>,
    coaching: bool,
    /// `None` only while a dialled-out participant waits for a
    /// conference that is not live yet ([`queued_participant`]).
    conference_sid: Option<&'a str>,
    date_created: Date,
    date_updated: Date,
    end_conference_on_exit: bool,
    hold: bool,
    label: Option<&'a str>,
    muted: bool,
    queue_time: &'static str,
    start_conference_on_enter: bool,
    status: &'static str,
    uri: Option<String>,
}

pub fn participant(p: &ParticipantRecord, format: Format) -> Participant<'_> {
    Participant {
        account_sid: p.account_sid.as_str(),
        call_sid: p.call_sid.as_str(),
        call_sid_to_coach: p.call_sid_to_coach.as_ref().map(CallSid::as_str),
        coaching: p.call_sid_to_coach.is_some(),
        conference_sid: Some(p.conference_sid.as_str()),
        date_created: Date(p.date_created),
        date_updated: Date(p.date_updated),
        end_conference_on_exit: p.end_conference_on_exit,
        hold: p.hold,
        label: p.label.as_deref(),
        muted: p.muted,
        queue_time: "0",
        start_conference_on_enter: p.start_conference_on_enter,
        status: "connected",
        uri: participant_uri(&p.account_sid, Some(&p.conference_sid), &p.call_sid, format),
    }
}

fn participant_uri(
    account: &AccountSid,
    conference: Option<&ConferenceSid>,
    call: &CallSid,
    format: Format,
) -> Option<String> {
    conference.map(|cf| {
        format!(
            "{}/Conferences/{cf}/Participants/{call}{}",
            account_base(account.as_str()),
            suffix(format)
        )
    })
}

/// What a participant added by dialling out is before its call joins:
/// status `queued`, the settings it was asked to join with, and no
/// conference sid yet when the conference was named and is not live.
pub struct Queued<'a> {
    pub account: &'a AccountSid,
    pub call: &'a CallSid,
    pub conference: Option<&'a ConferenceSid>,
    pub label: Option<&'a str>,
    pub coach: Option<&'a CallSid>,
    pub options: &'a conference::ParticipantOptions,
    pub now: Timestamp,
}

pub fn queued_participant<'a>(q: &Queued<'a>, format: Format) -> Participant<'a> {
    Participant {
        account_sid: q.account.as_str(),
        call_sid: q.call.as_str(),
        call_sid_to_coach: q.coach.map(CallSid::as_str),
        coaching: q.coach.is_some(),
        conference_sid: q.conference.map(ConferenceSid::as_str),
        date_created: Date(q.now),
        date_updated: Date(q.now),
        end_conference_on_exit: q.options.end_conference_on_exit,
        hold: false,
        label: q.label,
        muted: q.options.muted,
        queue_time: "0",
        start_conference_on_enter: q.options.start_conference_on_enter,
        status: "queued",
        uri: participant_uri(q.account, q.conference, q.call, format),
    }
}

/// A call (`GET …/Calls/CA….json`, and each of a list's).
#[derive(Debug, Serialize)]
pub struct Call<'a> {
    account_sid: &'a str,
    annotation: Null,
    answered_by: Null,
    api_version: &'static str,
    caller_name: Null,
    date_created: Date,
    date_updated: Date,
    direction: &'static str,
    duration: Option<String>,
    end_time: Option<Date>,
    forwarded_from: Null,
    from: &'a str,
    from_formatted: &'a str,
    group_sid: Null,
    parent_call_sid: Null,
    phone_number_sid: Option<&'a str>,
    price: Null,
    price_unit: Null,
    queue_time: &'static str,
    sid: &'a str,
    start_time: Option<Date>,
    status: &'static str,
    subresource_uris: CallUris,
    to: &'a str,
    to_formatted: &'a str,
    trunk_sid: Null,
    uri: String,
}

#[derive(Debug, Serialize)]
struct CallUris {
    events: String,
    notifications: String,
    recordings: String,
}

pub fn call(c: &CallRecord, format: Format) -> Call<'_> {
    let path = format!("{}/Calls/{}", account_base(c.account_sid.as_str()), c.sid);
    let s = suffix(format);
    let sub = |name: &str| format!("{path}/{name}{s}");
    Call {
        account_sid: c.account_sid.as_str(),
        annotation: (),
        answered_by: (),
        api_version: API_VERSION,
        caller_name: (),
        date_created: Date(c.date_created),
        date_updated: Date(c.date_updated),
        direction: c.direction.as_str(),
        duration: c.duration.map(|d| d.to_string()),
        end_time: c.end_time.map(Date),
        forwarded_from: (),
        from: &c.caller,
        from_formatted: &c.caller,
        group_sid: (),
        parent_call_sid: (),
        phone_number_sid: c.phone_number_sid.as_ref().map(|n| n.as_str()),
        price: (),
        price_unit: (),
        queue_time: "0",
        sid: c.sid.as_str(),
        start_time: c.start_time.map(Date),
        status: c.status.as_2010_str(),
        subresource_uris: CallUris {
            events: sub("Events"),
            notifications: sub("Notifications"),
            recordings: sub("Recordings"),
        },
        to: &c.called,
        to_formatted: &c.called,
        trunk_sid: (),
        uri: format!("{path}{s}"),
    }
}

/// The body of an error: Twilio's `code`, `message`, `more_info`, `status`.
pub fn exception(e: &Exception<'_>, message: &str) -> Value {
    json!({
        "code": e.code,
        "message": message,
        "more_info": e.code.map(|c| format!("https://www.twilio.com/docs/errors/{c}")),
        "status": e.status.as_u16(),
    })
}

/// Names of a list: its JSON key, its XML element and its items' element.
#[derive(Debug, Clone, Copy)]
pub struct ListNames {
    pub key: &'static str,
    pub element: &'static str,
    pub item: &'static str,
}

pub const CONFERENCES: ListNames = ListNames {
    key: "conferences",
    element: "Conferences",
    item: "Conference",
};
pub const PARTICIPANTS: ListNames = ListNames {
    key: "participants",
    element: "Participants",
    item: "Participant",
};
pub const CALLS: ListNames = ListNames {
    key: "calls",
    element: "Calls",
    item: "Call",
};

/// A list page in `format`: the items and today's paging envelope
/// (`null` where there is no previous or next page).
pub fn list<T: Serialize>(
    names: ListNames,
    items: &[T],
    window: &PageWindow,
    uris: &PageUris,
    format: Format,
) -> io::Result<Response> {
    match format {
        Format::Json => {
            let page = Page {
                key: names.key,
                items,
                window,
                uris,
            };
            Ok(json_response(StatusCode::OK, &page)?)
        }
        Format::Xml => {
            let body = document(|w| {
                let mut start = BytesStart::new(names.element);
                for (key, value) in [
                    ("page", window.page.to_string()),
                    ("pagesize", window.pagesize.to_string()),
                    ("start", window.start.to_string()),
                    ("end", window.end.to_string()),
                ] {
                    start.push_attribute((key, value.as_str()));
                }
                for (key, value) in [
                    ("uri", &uris.uri),
                    ("firstpageuri", &uris.first),
                    ("previouspageuri", &uris.previous),
                    ("nextpageuri", &uris.next),
                ] {
                    start.push_attribute((key, xml_safe(value).as_ref()));
                }
                w.write_event(Event::Start(start))?;
                for item in items {
                    write_value(w, names.item, &to_value(item)?)?;
                }
                w.write_event(Event::End(BytesEnd::new(names.element)))
            })?;
            Ok(xml_response(StatusCode::OK, body))
        }
    }
}

/// A JSON list page: its items under the list's key and the paging
/// members, all in the order of their names as a `serde_json` map writes
/// them (`participants` comes after `page_size`).
struct Page<'a, T> {
    key: &'static str,
    items: &'a [T],
    window: &'a PageWindow,
    uris: &'a PageUris,
}

impl<T: Serialize> Serialize for Page<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        enum Member<'b, T> {
            Items(&'b [T]),
            Number(u64),
            Uri(&'b str),
            /// A URI, `null` when there is none.
            UriOrNull(&'b str),
        }
        let (w, u) = (self.window, self.uris);
        let mut members = [
            (self.key, Member::Items(self.items)),
            ("end", Member::Number(w.end)),
            ("first_page_uri", Member::Uri(&u.first)),
            ("next_page_uri", Member::UriOrNull(&u.next)),
            ("page", Member::Number(w.page)),
            ("page_size", Member::Number(w.pagesize)),
            ("previous_page_uri", Member::UriOrNull(&u.previous)),
            ("start", Member::Number(w.start)),
            ("uri", Member::Uri(&u.uri)),
        ];
        members.sort_unstable_by_key(|(key, _)| *key);
        let mut map = s.serialize_map(Some(members.len()))?;
        for (key, member) in &members {
            match member {
                Member::Items(items) => map.serialize_entry(key, items)?,
                Member::Number(n) => map.serialize_entry(key, n)?,
                Member::Uri(uri) => map.serialize_entry(key, uri)?,
                Member::UriOrNull(uri) => {
                    map.serialize_entry(key, &(!uri.is_empty()).then_some(uri))?;
                }
            }
        }
        map.end()
    }
}

/// One resource (or an error) in `format`: JSON as it is, or XML as
/// `<TwilioResponse><{element}>…`.
pub fn instance<T: Serialize>(
    status: StatusCode,
    element: &str,
    value: &T,
    format: Format,
) -> io::Result<Response> {
    match format {
        Format::Json => json_response(status, value),
        Format::Xml => Ok(xml_response(
            status,
            document(|w| write_value(w, element, &to_value(value)?))?,
        )),
    }
}

/// `value` as a JSON tree, for the XML that is written from one.
fn to_value<T: Serialize>(value: &T) -> io::Result<Value> {
    serde_json::to_value(value).map_err(io::Error::other)
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> io::Result<Response> {
    let json = serde_json::to_vec(value).map_err(io::Error::other)?;
    Ok(respond::body(status, respond::JSON, json))
}

fn xml_response(status: StatusCode, document: Vec<u8>) -> Response {
    respond::body(status, respond::XML, document)
}

/// `value` as the element `name`: an object's members as child elements
/// (keys in `CamelCase`), `null` as an empty element, arrays as repeated
/// elements of the singular name (never in confab's resources).
fn write_value(w: &mut XmlWriter, name: &str, value: &Value) -> io::Result<()> {
    match value {
        Value::Object(members) => {
            w.write_event(Event::Start(BytesStart::new(name)))?;
            for (key, member) in members {
                write_value(w, &camel_case(key), member)?;
            }
            w.write_event(Event::End(BytesEnd::new(name)))
        }
        Value::Array(items) => items.iter().try_for_each(|item| write_value(w, name, item)),
        Value::Null => text_element(w, name, ""),
        Value::String(s) => text_element(w, name, s),
        Value::Bool(b) => text_element(w, name, if *b { "true" } else { "false" }),
        Value::Number(n) => text_element(w, name, &n.to_string()),
    }
}

/// `account_sid` → `AccountSid`.
fn camel_case(key: &str) -> String {
    key.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::sync::Arc;

    use model::{CallDirection, CallStatus, ConferenceEndReason, PageRequest, PhoneNumberSid};

    const AC: &str = "AC5ef877a5fe4238be081ea6f3c44186f3";

    /// The reference renderings' helpers (as the `json!` code had them).
    fn date(t: Timestamp) -> Value {
        Value::String(t.rfc2822())
    }

    fn opt<T: AsRef<str>>(v: Option<T>) -> Value {
        v.map_or(Value::Null, |s| Value::String(s.as_ref().to_owned()))
    }

    /// A conference, a participant and a call with every optional field
    /// set, and the same with none.
    fn records() -> Vec<(ConferenceRecord, ParticipantRecord, CallRecord)> {
        let account = AccountSid::parse(AC).unwrap();
        let conference = ConferenceSid::parse("CFd0a50bbe038c437e87f6c82db8f37f21").unwrap();
        let call = CallSid::parse("CA0c7a9c6a1d3bab7e6e3a1ed2e1b0a7c4").unwrap();
        let coached = CallSid::parse("CA1d7a9c6a1d3bab7e6e3a1ed2e1b0a7c5").unwrap();
        let created = Timestamp::from_secs(1_252_046_273);
        let updated = Timestamp::from_secs(1_252_049_702);
        let full = (
            ConferenceRecord {
                sid: conference.clone(),
                account_sid: account.clone(),
                friendly_name: "room \"a\" <&> é".to_owned(),
                status: ConferenceStatus::Completed,
                date_created: created,
                date_updated: updated,
                reason_ended: Some(ConferenceEndReason::LastParticipantKicked),
                call_sid_ending: Some(call.clone()),
            },
            ParticipantRecord {
                call_sid: call.clone(),
                conference_sid: conference.clone(),
                account_sid: account.clone(),
                muted: true,
                hold: true,
                label: Some("coach \\ one".to_owned()),
                call_sid_to_coach: Some(coached),
                start_conference_on_enter: false,
                end_conference_on_exit: true,
                date_created: created,
                date_updated: updated,
            },
            CallRecord {
                sid: call.clone(),
                account_sid: account.clone(),
                phone_number_sid: Some(
                    PhoneNumberSid::parse("PN0c7a9c6a1d3bab7e6e3a1ed2e1b0a7c4").unwrap(),
                ),
                caller: "+14155551212".to_owned(),
                called: "sip:room\u{1}@x".to_owned(),
                direction: CallDirection::OutboundApi,
                status: CallStatus::FailedNoAnswer,
                start_time: Some(created),
                end_time: Some(updated),
                duration: Some(3429),
                failure: Some("no answer".to_owned()),
                date_created: created,
                date_updated: updated,
            },
        );
        let (mut c, mut p, mut k) = full.clone();
        c.status = ConferenceStatus::InProgress;
        c.reason_ended = None;
        c.call_sid_ending = None;
        p.label = None;
        p.call_sid_to_coach = None;
        k.phone_number_sid = None;
        k.status = CallStatus::InProgress;
        k.direction = CallDirection::Inbound;
        k.start_time = None;
        k.end_time = None;
        k.duration = None;
        vec![full, (c, p, k)]
    }

    /// Each resource's bytes are exactly what its `json!` rendering (a
    /// map per item, as before the typed structs) writes, in either format's
    /// URIs, and a list page's are the envelope's map around them.
    #[test]
    fn typed_resources_write_the_bytes_of_their_json_maps() {
        for (c, p, k) in records() {
            for format in [Format::Json, Format::Xml] {
                let path = format!("{}/Conferences/{}", account_base(AC), c.sid);
                let s = suffix(format);
                let want_conference = json!({
                    "account_sid": AC,
                    "api_version": API_VERSION,
                    "call_sid_ending_conference": opt(c.call_sid_ending.as_ref()),
                    "date_created": date(c.date_created),
                    "date_updated": date(c.date_updated),
                    "friendly_name": c.friendly_name,
                    "reason_conference_ended": opt(c.reason_ended.map(|r| r.as_str())),
                    "region": null,
                    "sid": c.sid.as_str(),
                    "status": conference_status(c.status),
                    "subresource_uris": {
                        "participants": format!("{path}/Participants{s}"),
                        "recordings": format!("{path}/Recordings{s}"),
                    },
                    "uri": format!("{path}{s}"),
                });
                let want_participant = json!({
                    "account_sid": AC,
                    "call_sid": p.call_sid.as_str(),
                    "call_sid_to_coach": opt(p.call_sid_to_coach.as_ref()),
                    "coaching": p.call_sid_to_coach.is_some(),
                    "conference_sid": p.conference_sid.as_str(),
                    "date_created": date(p.date_created),
                    "date_updated": date(p.date_updated),
                    "end_conference_on_exit": p.end_conference_on_exit,
                    "hold": p.hold,
                    "label": opt(p.label.as_ref()),
                    "muted": p.muted,
                    "queue_time": "0",
                    "start_conference_on_enter": p.start_conference_on_enter,
                    "status": "connected",
                    "uri": format!("{path}/Participants/{}{s}", p.call_sid),
                });
                let call_path = format!("{}/Calls/{}", account_base(AC), k.sid);
                let want_call = json!({
                    "account_sid": AC,
                    "annotation": null,
                    "answered_by": null,
                    "api_version": API_VERSION,
                    "caller_name": null,
                    "date_created": date(k.date_created),
                    "date_updated": date(k.date_updated),
                    "direction": k.direction.as_str(),
                    "duration": opt(k.duration.map(|d| d.to_string())),
                    "end_time": k.end_time.map_or(Value::Null, date),
                    "forwarded_from": null,
                    "from": k.caller,
                    "from_formatted": k.caller,
                    "group_sid": null,
                    "parent_call_sid": null,
                    "phone_number_sid": opt(k.phone_number_sid.as_ref()),
                    "price": null,
                    "price_unit": null,
                    "queue_time": "0",
                    "sid": k.sid.as_str(),
                    "start_time": k.start_time.map_or(Value::Null, date),
                    "status": k.status.as_2010_str(),
                    "subresource_uris": {
                        "events": format!("{call_path}/Events{s}"),
                        "notifications": format!("{call_path}/Notifications{s}"),
                        "recordings": format!("{call_path}/Recordings{s}"),
                    },
                    "to": k.called,
                    "to_formatted": k.called,
                    "trunk_sid": null,
                    "uri": format!("{call_path}{s}"),
                });
                assert_eq!(text(&conference(&c, format)), want_conference.to_string());
                assert_eq!(text(&participant(&p, format)), want_participant.to_string());
                assert_eq!(text(&call(&k, format)), want_call.to_string());
            }
        }
    }

    /// A dialled-out participant before its call joins, into a live
    /// conference and into one that is not live yet, writes what its
    /// `json!` rendering wrote.
    #[test]
    fn a_queued_participant_writes_the_bytes_of_its_json_map() {
        let account = AccountSid::parse(AC).unwrap();
        let call = CallSid::parse("CA0c7a9c6a1d3bab7e6e3a1ed2e1b0a7c4").unwrap();
        let coach = CallSid::parse("CA1d7a9c6a1d3bab7e6e3a1ed2e1b0a7c5").unwrap();
        let live = ConferenceSid::parse("CFd0a50bbe038c437e87f6c82db8f37f21").unwrap();
        let options = conference::ParticipantOptions {
            muted: true,
            beep: false,
            start_conference_on_enter: false,
            end_conference_on_exit: true,
            ..conference::ParticipantOptions::default()
        };
        for (conference, label, coach) in [
            (Some(&live), Some("a \"label\""), Some(&coach)),
            (None, None, None),
        ] {
            let q = Queued {
                account: &account,
                call: &call,
                conference,
                label,
                coach,
                options: &options,
                now: Timestamp::from_secs(1_252_046_273),
            };
            for format in [Format::Json, Format::Xml] {
                let uri = conference.map(|cf| {
                    format!(
                        "{}/Conferences/{cf}/Participants/{call}{}",
                        account_base(AC),
                        suffix(format)
                    )
                });
                let want = json!({
                    "account_sid": AC,
                    "call_sid": call.as_str(),
                    "call_sid_to_coach": opt(q.coach),
                    "coaching": q.coach.is_some(),
                    "conference_sid": opt(q.conference),
                    "date_created": date(q.now),
                    "date_updated": date(q.now),
                    "end_conference_on_exit": true,
                    "hold": false,
                    "label": opt(q.label),
                    "muted": true,
                    "queue_time": "0",
                    "start_conference_on_enter": false,
                    "status": "queued",
                    "uri": uri,
                });
                assert_eq!(text(&queued_participant(&q, format)), want.to_string());
            }
        }
    }

    fn text<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    /// A JSON page's envelope writes its members in the order a map of
    /// them would (the list's key among them where its name sorts), with
    /// `null` for a missing previous or next page.
    #[test]
    fn a_json_page_writes_the_bytes_of_its_map() {
        let items = [json!({"a": 1}), json!({"b": [2]})];
        let window = PageWindow::new(PageRequest { page: 1, size: 2 }, 7, 2);
        for names in [CONFERENCES, PARTICIPANTS, CALLS] {
            for (previous, next) in [("", ""), ("/p?Page=0", "/p?Page=2")] {
                let uris = PageUris {
                    uri: "/p?Page=1&x=%22".to_owned(),
                    first: "/p?Page=0".to_owned(),
                    previous: previous.to_owned(),
                    next: next.to_owned(),
                    last: String::new(),
                };
                let or_null = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                let mut map = serde_json::Map::new();
                map.insert(names.key.to_owned(), json!(items));
                map.insert("end".to_owned(), json!(window.end));
                map.insert("first_page_uri".to_owned(), json!(uris.first));
                map.insert("next_page_uri".to_owned(), json!(or_null(&uris.next)));
                map.insert("page".to_owned(), json!(window.page));
                map.insert("page_size".to_owned(), json!(window.pagesize));
                map.insert(
                    "previous_page_uri".to_owned(),
                    json!(or_null(&uris.previous)),
                );
                map.insert("start".to_owned(), json!(window.start));
                map.insert("uri".to_owned(), json!(uris.uri));
                let page = Page {
                    key: names.key,
                    items: &items,
                    window: &window,
                    uris: &uris,
                };
                assert_eq!(text(&page), Value::Object(map).to_string());
            }
        }
    }

    /// A JSON page of kept items writes the bytes of one rendered fresh,
    /// whether its items are rendered now or kept from an earlier page, and
    /// shows a changed record at once.
    #[test]
    fn kept_json_pages_write_fresh_bytes_and_show_a_change_at_once() {
        fn page<T: Serialize>(key: &'static str, items: &[T]) -> String {
            let window = PageWindow::new(PageRequest { page: 0, size: 50 }, 2, 2);
            let uris = PageUris {
                uri: "/p".to_owned(),
                first: "/p?Page=0".to_owned(),
                previous: String::new(),
                next: String::new(),
                last: String::new(),
            };
            let page = Page {
                key,
                items,
                window: &window,
                uris: &uris,
            };
            text(&page)
        }
        type Kept3 = (
            KeptJson<ConferenceRecord>,
            KeptJson<ParticipantRecord>,
            KeptJson<CallRecord>,
        );
        let rendered = Rendered::default();
        // Checks one page of each resource, and returns their first items'
        // kept renderings.
        let check = |records: &[(ConferenceRecord, ParticipantRecord, CallRecord)]| -> Kept3 {
            let cs: Vec<_> = records.iter().map(|r| r.0.clone()).collect();
            let ps: Vec<_> = records.iter().map(|r| r.1.clone()).collect();
            let ks: Vec<_> = records.iter().map(|r| r.2.clone()).collect();
            let fresh: Vec<_> = cs.iter().map(|c| conference(c, Format::Json)).collect();
            let kept_c = kept_json(&cs, &rendered).unwrap();
            assert_eq!(
                page("conferences", &raw(&kept_c)),
                page("conferences", &fresh)
            );
            let fresh: Vec<_> = ps.iter().map(|p| participant(p, Format::Json)).collect();
            let kept_p = kept_json(&ps, &rendered).unwrap();
            assert_eq!(
                page("participants", &raw(&kept_p)),
                page("participants", &fresh)
            );
            let fresh: Vec<_> = ks.iter().map(|k| call(k, Format::Json)).collect();
            let kept_k = kept_json(&ks, &rendered).unwrap();
            assert_eq!(page("calls", &raw(&kept_k)), page("calls", &fresh));
            (
                Arc::clone(&kept_c[0]),
                Arc::clone(&kept_p[0]),
                Arc::clone(&kept_k[0]),
            )
        };
        let same = |a: &Kept3, b: &Kept3| {
            Arc::ptr_eq(&a.0, &b.0) && Arc::ptr_eq(&a.1, &b.1) && Arc::ptr_eq(&a.2, &b.2)
        };
        // `records` gives two records of each sid: completed (failed, every
        // option set), then in progress. Each is rendered, then kept.
        let records = records();
        for r in &records {
            let first = check(std::slice::from_ref(r));
            assert!(same(&first, &check(std::slice::from_ref(r))));
        }
        // Both in one page: each replaces the other's kept rendering.
        check(&records);
        assert_eq!(rendered.conferences_json.cache.len(), 1);
        assert_eq!(rendered.participants_json.cache.len(), 1);
        assert_eq!(rendered.calls_json.cache.len(), 1);
        // A live record changed in one field.
        let (mut c, mut p, mut k) = records[1].clone();
        check(std::slice::from_ref(&records[1]));
        c.friendly_name = "renamed".to_owned();
        p.muted = !p.muted;
        k.date_updated = Timestamp::from_secs(1_252_049_703);
        check(&[(c, p, k)]);
    }

    #[test]
    fn camel_case_keys() {
        assert_eq!(camel_case("account_sid"), "AccountSid");
        assert_eq!(camel_case("subresource_uris"), "SubresourceUris");
        assert_eq!(camel_case("uri"), "Uri");
    }

    #[test]
    fn xml_of_a_value() {
        let v = json!({"a_b": null, "c": true, "d": {"e_f": "x<y"}, "n": 3});
        let body = document(|w| write_value(w, "Thing", &v)).unwrap();
        let body = String::from_utf8(body).unwrap();
        assert!(
            body.ends_with(
                "<TwilioResponse><Thing><AB/><C>true</C><D><EF>x&lt;y</EF></D><N>3</N></Thing></TwilioResponse>"
            ),
            "{body}"
        );
    }
}
