//! The XML representations of the 2008-08-01 API (the seed's examples,
//! decisions.md "HTTP surface" and "Lists"; Calls per twilio-2008.md §11).
//!
//! Bodies are `<?xml version="1.0" encoding="UTF-8"?>` immediately followed
//! by `<TwilioResponse>…</TwilioResponse>`, with no whitespace anywhere
//! between elements, so no text node is ever padded (OpenVBX uses `Sid` text
//! as an id as it comes). Element order is the seed's; an empty value is an
//! empty element (`<FriendlyName/>`). quick-xml escapes `& < > " '` in text
//! and attributes; characters XML 1.0 cannot carry at all (most C0
//! controls, U+FFFE, U+FFFF) become U+FFFD, so a hostile conference name cannot
//! make a body unparseable.

use std::borrow::Cow;
use std::hash::Hash;
use std::io;

use model::{
    CallDirection, CallRecord, CallSid, ConferenceRecord, ConferenceSid, PageWindow,
    ParticipantRecord, Timestamp,
};
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

use crate::rendered::Renderings;
use crate::types::{Exception, PageUris, more_info};

pub(crate) type XmlWriter = Writer<Vec<u8>>;

/// `<TwilioResponse><Conference>…</Conference></TwilioResponse>`, its
/// element from (or into) `rendered`.
pub fn conference(c: &ConferenceRecord, rendered: &RenderedConferences) -> io::Result<Vec<u8>> {
    document(|w| write_kept(w, rendered, &c.sid, c, write_conference))
}

/// `<TwilioResponse><Participant>…</Participant></TwilioResponse>`
pub fn participant(p: &ParticipantRecord) -> io::Result<Vec<u8>> {
    document(|w| write_participant(w, p))
}

/// `<TwilioResponse><Conferences page=…>` one page of `<Conference>`s,
/// their elements from (or into) `rendered`.
pub fn conference_list(
    items: &[ConferenceRecord],
    window: &PageWindow,
    uris: &PageUris,
    rendered: &RenderedConferences,
) -> io::Result<Vec<u8>> {
    // About 330 bytes a conference.
    list("Conferences", items, 384, window, uris, |w, c| {
        write_kept(w, rendered, &c.sid, c, write_conference)
    })
}

/// The `<Conference>` elements the API keeps, each with the record it
/// shows (crate::rendered).
pub type RenderedConferences = Renderings<ConferenceSid, ConferenceRecord, Box<[u8]>>;

/// The `<Participant>` elements the API keeps, by call, each with the
/// record it shows.
pub type RenderedParticipants = Renderings<CallSid, ParticipantRecord, Box<[u8]>>;

/// The `<Call>` elements the API keeps, each with the record it shows.
pub type RenderedCalls = Renderings<CallSid, CallRecord, Box<[u8]>>;

/// Writes `record`'s element as `write` does, from `rendered` when it
/// keeps one rendered from an equal record.
fn write_kept<K: Eq + Hash + Clone, R: PartialEq + Clone>(
    w: &mut XmlWriter,
    rendered: &Renderings<K, R, Box<[u8]>>,
    key: &K,
    record: &R,
    write: fn(&mut XmlWriter, &R) -> io::Result<()>,
) -> io::Result<()> {
    let kept = rendered.get_or_render(key, record, |r| {
        let mut element = Writer::new(Vec::new());
        write(&mut element, r)?;
        Ok(element.into_inner().into_boxed_slice())
    })?;
    w.get_mut().extend_from_slice(kept.output());
    Ok(())
}

/// `<TwilioResponse><Participants page=…>` one page of `<Participant>`s,
/// their elements from (or into) `rendered`.
pub fn participant_list(
    items: &[ParticipantRecord],
    window: &PageWindow,
    uris: &PageUris,
    rendered: &RenderedParticipants,
) -> io::Result<Vec<u8>> {
    // About 420 bytes a participant.
    list("Participants", items, 448, window, uris, |w, p| {
        write_kept(w, rendered, &p.call_sid, p, write_participant)
    })
}

/// `<TwilioResponse><Call>…</Call></TwilioResponse>`
pub fn call(c: &CallRecord) -> io::Result<Vec<u8>> {
    document(|w| write_call(w, c))
}

/// `<TwilioResponse><Calls page=…>` one page of `<Call>`s, their
/// elements from (or into) `rendered`.
pub fn call_list(
    items: &[CallRecord],
    window: &PageWindow,
    uris: &PageUris,
    rendered: &RenderedCalls,
) -> io::Result<Vec<u8>> {
    // About 560 bytes a call.
    list("Calls", items, 640, window, uris, |w, c| {
        write_kept(w, rendered, &c.sid, c, write_call)
    })
}

/// `<TwilioResponse><RestException>` with Status, Message, Code, MoreInfo
/// (the last two only when there is a code).
pub fn rest_exception(e: &Exception<'_>) -> io::Result<Vec<u8>> {
    document(|w| {
        w.write_event(Event::Start(BytesStart::new("RestException")))?;
        text_element(w, "Status", e.status.as_str())?;
        text_element(w, "Message", e.message)?;
        if let Some(code) = e.code {
            text_element(w, "Code", &code.to_string())?;
            text_element(w, "MoreInfo", &more_info(code))?;
        }
        w.write_event(Event::End(BytesEnd::new("RestException")))
    })
}

/// `<TwilioResponse><{name} page=…>` with each item written by `write`,
/// in a buffer sized for the head, the paging attributes and `item_size`
/// bytes an item.
fn list<T>(
    name: &str,
    items: &[T],
    item_size: usize,
    window: &PageWindow,
    uris: &PageUris,
    mut write: impl FnMut(&mut XmlWriter, &T) -> io::Result<()>,
) -> io::Result<Vec<u8>> {
    document_sized(1024 + item_size * items.len(), |w| {
        w.write_event(Event::Start(list_start(name, window, uris)))?;
        for item in items {
            write(w, item)?;
        }
        w.write_event(Event::End(BytesEnd::new(name)))
    })
}

pub(crate) fn document(body: impl FnOnce(&mut XmlWriter) -> io::Result<()>) -> io::Result<Vec<u8>> {
    document_sized(512, body)
}

/// [`document`] into a buffer of `capacity` bytes to start with.
fn document_sized(
    capacity: usize,
    body: impl FnOnce(&mut XmlWriter) -> io::Result<()>,
) -> io::Result<Vec<u8>> {
    // The same bytes for every document: written as they are, where
    // quick-xml's declaration event would build and allocate them.
    const START: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><TwilioResponse>"#;
    const END: &[u8] = b"</TwilioResponse>";
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(START);
    let mut w = Writer::new(out);
    body(&mut w)?;
    let mut out = w.into_inner();
    out.extend_from_slice(END);
    Ok(out)
}

fn write_conference(w: &mut XmlWriter, c: &ConferenceRecord) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new("Conference")))?;
    text_element(w, "Sid", c.sid.as_str())?;
    text_element(w, "AccountSid", c.account_sid.as_str())?;
    text_element(w, "FriendlyName", &c.friendly_name)?;
    text_element(w, "Status", &c.status.code().to_string())?;
    text_element(w, "DateCreated", &c.date_created.rfc2822())?;
    text_element(w, "DateUpdated", &c.date_updated.rfc2822())?;
    w.write_event(Event::End(BytesEnd::new("Conference")))
}

fn write_participant(w: &mut XmlWriter, p: &ParticipantRecord) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new("Participant")))?;
    text_element(w, "ConferenceSid", p.conference_sid.as_str())?;
    text_element(w, "AccountSid", p.account_sid.as_str())?;
    text_element(w, "CallSid", p.call_sid.as_str())?;
    // The seed's table: Muted is true/false, the two flags 1/0.
    text_element(w, "Muted", if p.muted { "true" } else { "false" })?;
    text_element(
        w,
        "StartConferenceOnEnter",
        one_zero(p.start_conference_on_enter),
    )?;
    text_element(w, "EndConferenceOnExit", one_zero(p.end_conference_on_exit))?;
    text_element(w, "DateCreated", &p.date_created.rfc2822())?;
    text_element(w, "DateUpdated", &p.date_updated.rfc2822())?;
    w.write_event(Event::End(BytesEnd::new("Participant")))
}

/// A 2008 `<Call>` (twilio-2008.md §11): the record's fields, an empty
/// `CallSegmentSid` (confab's calls have one leg), an empty `Price`, and
/// `Flags` 1 for an incoming call, 2 for one placed through the API, 4 for
/// one a `<Dial>` placed.
fn write_call(w: &mut XmlWriter, c: &CallRecord) -> io::Result<()> {
    let time = |t: Option<Timestamp>| t.map(Timestamp::rfc2822).unwrap_or_default();
    let flags = match c.direction {
        CallDirection::Inbound => "1",
        CallDirection::OutboundApi => "2",
        CallDirection::OutboundDial => "4",
    };
    w.write_event(Event::Start(BytesStart::new("Call")))?;
    text_element(w, "Sid", c.sid.as_str())?;
    text_element(w, "DateCreated", &c.date_created.rfc2822())?;
    text_element(w, "DateUpdated", &c.date_updated.rfc2822())?;
    text_element(w, "CallSegmentSid", "")?;
    text_element(w, "AccountSid", c.account_sid.as_str())?;
    text_element(w, "Called", &c.called)?;
    text_element(w, "Caller", &c.caller)?;
    text_element(
        w,
        "PhoneNumberSid",
        c.phone_number_sid.as_ref().map_or("", |s| s.as_str()),
    )?;
    text_element(w, "Status", &c.status.code_2008().to_string())?;
    text_element(w, "StartTime", &time(c.start_time))?;
    text_element(w, "EndTime", &time(c.end_time))?;
    text_element(
        w,
        "Duration",
        &c.duration.map(|d| d.to_string()).unwrap_or_default(),
    )?;
    text_element(w, "Price", "")?;
    text_element(w, "Flags", flags)?;
    w.write_event(Event::End(BytesEnd::new("Call")))
}

/// The list element with its attributes, in the documented order.
fn list_start<'a>(name: &'a str, window: &PageWindow, uris: &'a PageUris) -> BytesStart<'a> {
    let numbers = [
        ("page", window.page),
        ("numpages", window.numpages),
        ("pagesize", window.pagesize),
        ("total", window.total),
        ("start", window.start),
        ("end", window.end),
    ];
    let mut start = BytesStart::new(name);
    for (key, value) in numbers {
        start.push_attribute((key, value.to_string().as_str()));
    }
    for (key, value) in [
        ("uri", &uris.uri),
        ("firstpageuri", &uris.first),
        ("previouspageuri", &uris.previous),
        ("nextpageuri", &uris.next),
        ("lastpageuri", &uris.last),
    ] {
        start.push_attribute((key, xml_safe(value).as_ref()));
    }
    start
}

/// `<name>value</name>`, or `<name/>` when the value is empty.
pub(crate) fn text_element(w: &mut XmlWriter, name: &str, value: &str) -> io::Result<()> {
    if value.is_empty() {
        return w.write_event(Event::Empty(BytesStart::new(name)));
    }
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(&xml_safe(value))))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn one_zero(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// `s` with every character XML 1.0 cannot represent replaced by U+FFFD.
pub(crate) fn xml_safe(s: &str) -> Cow<'_, str> {
    fn allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    }
    // Nearly every value is printable ASCII: a byte scan settles it.
    let printable_ascii = |b: u8| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7e);
    if s.bytes().all(printable_ascii) || s.chars().all(allowed) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests;
