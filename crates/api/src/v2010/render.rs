//! The 2010-04-01 representations: JSON as Twilio writes it, and the XML
//! of the same resources (`<TwilioResponse><Conference><Sid>…`), which is
//! the JSON's tree with `snake_case` keys as `CamelCase` elements.
//!
//! Every field Twilio has is present: confab's value, or `null` where it
//! has none (`region`, `price`, `annotation`, …; docs/api.md lists them).
//! Booleans are JSON booleans, dates RFC 2822 with `+0000`, and every URI
//! a path from the API root (a client makes it absolute on its own host).

use std::io;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{
    AccountSid, CallRecord, CallSid, ConferenceRecord, ConferenceSid, ConferenceStatus, PageWindow,
    ParticipantRecord, Timestamp,
};
use quick_xml::events::{BytesEnd, BytesStart, Event};
use serde_json::{Map, Value, json};

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

fn date(t: Timestamp) -> Value {
    Value::String(t.rfc2822())
}

fn opt<T: AsRef<str>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.as_ref().to_owned()))
}

/// The suffix of every URI in a body of `format`.
fn suffix(format: Format) -> &'static str {
    match format {
        Format::Json => ".json",
        Format::Xml => "",
    }
}

pub fn conference(c: &ConferenceRecord, format: Format) -> Value {
    let path = format!(
        "{}/Conferences/{}",
        account_base(c.account_sid.as_str()),
        c.sid
    );
    let s = suffix(format);
    json!({
        "account_sid": c.account_sid.as_str(),
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
    })
}

pub fn participant(p: &ParticipantRecord, format: Format) -> Value {
    json!({
        "account_sid": p.account_sid.as_str(),
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
        "uri": participant_uri(&p.account_sid, Some(&p.conference_sid), &p.call_sid, format),
    })
}

fn participant_uri(
    account: &AccountSid,
    conference: Option<&ConferenceSid>,
    call: &CallSid,
    format: Format,
) -> Value {
    match conference {
        Some(cf) => Value::String(format!(
            "{}/Conferences/{cf}/Participants/{call}{}",
            account_base(account.as_str()),
            suffix(format)
        )),
        None => Value::Null,
    }
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

pub fn queued_participant(q: &Queued<'_>, format: Format) -> Value {
    json!({
        "account_sid": q.account.as_str(),
        "call_sid": q.call.as_str(),
        "call_sid_to_coach": opt(q.coach),
        "coaching": q.coach.is_some(),
        "conference_sid": opt(q.conference),
        "date_created": date(q.now),
        "date_updated": date(q.now),
        "end_conference_on_exit": q.options.end_conference_on_exit,
        "hold": false,
        "label": opt(q.label),
        "muted": q.options.muted,
        "queue_time": "0",
        "start_conference_on_enter": q.options.start_conference_on_enter,
        "status": "queued",
        "uri": participant_uri(q.account, q.conference, q.call, format),
    })
}

pub fn call(c: &CallRecord, format: Format) -> Value {
    let path = format!("{}/Calls/{}", account_base(c.account_sid.as_str()), c.sid);
    let s = suffix(format);
    let sub = |name: &str| format!("{path}/{name}{s}");
    json!({
        "account_sid": c.account_sid.as_str(),
        "annotation": null,
        "answered_by": null,
        "api_version": API_VERSION,
        "caller_name": null,
        "date_created": date(c.date_created),
        "date_updated": date(c.date_updated),
        "direction": c.direction.as_str(),
        "duration": opt(c.duration.map(|d| d.to_string())),
        "end_time": c.end_time.map_or(Value::Null, date),
        "forwarded_from": null,
        "from": c.caller,
        "from_formatted": c.caller,
        "group_sid": null,
        "parent_call_sid": null,
        "phone_number_sid": opt(c.phone_number_sid.as_ref()),
        "price": null,
        "price_unit": null,
        "queue_time": "0",
        "sid": c.sid.as_str(),
        "start_time": c.start_time.map_or(Value::Null, date),
        "status": c.status.as_2010_str(),
        "subresource_uris": {
            "events": sub("Events"),
            "notifications": sub("Notifications"),
            "recordings": sub("Recordings"),
        },
        "to": c.called,
        "to_formatted": c.called,
        "trunk_sid": null,
        "uri": format!("{path}{s}"),
    })
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
pub fn list(
    names: ListNames,
    items: Vec<Value>,
    window: &PageWindow,
    uris: &PageUris,
    format: Format,
) -> io::Result<Response> {
    let or_null = |s: &str| {
        if s.is_empty() {
            Value::Null
        } else {
            Value::String(s.to_owned())
        }
    };
    match format {
        Format::Json => {
            let mut body = Map::new();
            body.insert(names.key.to_owned(), Value::Array(items));
            for (key, value) in [
                ("end", json!(window.end)),
                ("first_page_uri", json!(uris.first)),
                ("next_page_uri", or_null(&uris.next)),
                ("page", json!(window.page)),
                ("page_size", json!(window.pagesize)),
                ("previous_page_uri", or_null(&uris.previous)),
                ("start", json!(window.start)),
                ("uri", json!(uris.uri)),
            ] {
                body.insert(key.to_owned(), value);
            }
            Ok(json_response(StatusCode::OK, &Value::Object(body)))
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
                for item in &items {
                    write_value(w, names.item, item)?;
                }
                w.write_event(Event::End(BytesEnd::new(names.element)))
            })?;
            Ok(xml_response(StatusCode::OK, body))
        }
    }
}

/// One resource (or an error) in `format`: JSON as it is, or XML as
/// `<TwilioResponse><{element}>…`.
pub fn instance(
    status: StatusCode,
    element: &str,
    value: &Value,
    format: Format,
) -> io::Result<Response> {
    match format {
        Format::Json => Ok(json_response(status, value)),
        Format::Xml => Ok(xml_response(
            status,
            document(|w| write_value(w, element, value))?,
        )),
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        value.to_string(),
    )
        .into_response()
}

fn xml_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, crate::xml::content_type(), body).into_response()
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
    use super::*;

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
