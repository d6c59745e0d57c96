//! Golden tests: our bodies against the published examples, element for
//! element, plus byte-exact pins of whole bodies.

use std::hash::Hash;
use std::sync::Arc;

use axum::http::StatusCode;
use model::{
    AccountSid, CallRecord, CallSid, CallStatus, ConferenceEndReason, ConferenceRecord,
    ConferenceSid, ConferenceStatus, PageRequest, PageWindow, ParticipantRecord, Timestamp,
};
use quick_xml::Reader;
use quick_xml::events::Event;

use super::*;
use crate::form::FormPairs;

const SEED_CONFERENCE: &str = include_str!("../../testdata/seed/conference.xml");
const SEED_CONFERENCES: &str = include_str!("../../testdata/seed/conferences.xml");
const SEED_PARTICIPANT: &str = include_str!("../../testdata/seed/participant.xml");
const SEED_PARTICIPANT_MUTED: &str = include_str!("../../testdata/seed/participant-muted.xml");
const SEED_PARTICIPANTS: &str = include_str!("../../testdata/seed/participants.xml");
pub(crate) const DOC_404: &str = include_str!("../../testdata/seed/rest-exception-404.xml");
pub(crate) const DOC_400: &str = include_str!("../../testdata/seed/rest-exception-400.xml");

pub(crate) const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
const AC: &str = "AC5ea872f6da5a21de157d80997a64bd33";
const LIST_URI_ATTRS: [&str; 5] = [
    "uri",
    "firstpageuri",
    "previouspageuri",
    "nextpageuri",
    "lastpageuri",
];

// ---------------------------------------------------------------- fixtures

/// The seed's conference; its dates are the seed's instants (-0700) in UTC.
fn seed_conference() -> ConferenceRecord {
    ConferenceRecord {
        reason_ended: None,
        call_sid_ending: None,
        sid: ConferenceSid::parse("CFd0a50bbe038c437e87f6c82db8f37f21").unwrap(),
        account_sid: AccountSid::parse(AC).unwrap(),
        friendly_name: "1234".to_owned(),
        status: ConferenceStatus::Completed,
        date_created: Timestamp::from_secs(1_252_046_273), // Thu, 03 Sep 2009 23:37:53 -0700
        date_updated: Timestamp::from_secs(1_252_049_702), // Fri, 04 Sep 2009 00:35:02 -0700
    }
}

fn seed_participant(call: &str, muted: bool) -> ParticipantRecord {
    ParticipantRecord {
        hold: false,
        label: None,
        call_sid_to_coach: None,
        call_sid: CallSid::parse(call).unwrap(),
        conference_sid: ConferenceSid::parse("CF9f2ead1ae43cdabeab102fa30d938378").unwrap(),
        account_sid: AccountSid::parse(AC).unwrap(),
        muted,
        start_conference_on_enter: true,
        end_conference_on_exit: false,
        date_created: Timestamp::from_secs(1_252_046_273),
        date_updated: Timestamp::from_secs(1_252_046_273),
    }
}

const CA1: &str = "CA9ae8e040497c0598481c2031a154919e";
const CA2: &str = "CA3c3c002e06c4cdaa5367e814ade05c76";

fn list_uris(path: &str, window: &PageWindow) -> PageUris {
    PageUris::new(path, &FormPairs::default(), window)
}

pub(crate) fn utf8(body: io::Result<Vec<u8>>) -> String {
    String::from_utf8(body.unwrap()).unwrap()
}

// ---------------------------------------------------------- a small DOM

/// An element as read back: name, attributes in order, text, children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
}

/// Parses a whole document into its root element. Text inside an element
/// that has children (the published examples are indented) is dropped, and
/// noted in the second value so our own bodies can be checked to have none.
pub(crate) fn parse(xml: &str) -> (Node, bool) {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = vec![Node::named("#document")];
    let mut padding = false;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => stack.push(Node::from_start(&e)),
            Event::Empty(e) => {
                let node = Node::from_start(&e);
                stack.last_mut().unwrap().children.push(node);
            }
            Event::End(_) => {
                let mut node = stack.pop().unwrap();
                if !node.children.is_empty() && !node.text.is_empty() {
                    assert!(node.text.trim().is_empty(), "mixed content: {node:?}");
                    padding = true;
                    node.text.clear();
                }
                stack.last_mut().unwrap().children.push(node);
            }
            Event::Text(t) => stack.last_mut().unwrap().text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let entity = format!("&{};", r.into_inner());
                let resolved = quick_xml::escape::unescape(&entity).unwrap().into_owned();
                stack.last_mut().unwrap().text.push_str(&resolved);
            }
            Event::Decl(_) => {}
            Event::Eof => break,
            other => panic!("unexpected event {other:?}"),
        }
    }
    let mut document = stack.pop().unwrap();
    assert!(stack.is_empty(), "unbalanced document");
    padding |= !document.text.is_empty();
    assert_eq!(document.children.len(), 1, "one root element");
    (document.children.remove(0), padding)
}

impl Node {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            attrs: vec![],
            text: String::new(),
            children: vec![],
        }
    }

    fn from_start(e: &quick_xml::events::BytesStart<'_>) -> Self {
        let mut node = Self::named(e.name().as_ref());
        for a in e.attributes() {
            let a = a.unwrap();
            node.attrs.push((
                a.key.as_ref().to_owned(),
                a.normalized_value(quick_xml::XmlVersion::default())
                    .unwrap()
                    .into_owned(),
            ));
        }
        node
    }

    fn attr_names(&self) -> Vec<&str> {
        self.attrs.iter().map(|(k, _)| k.as_str()).collect()
    }

    pub(crate) fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Children decisions.md appends to a published element: (element, names).
pub(crate) type Extension<'a> = Option<(&'a str, &'a [&'a str])>;

/// Compares our element with a published one: same names, nesting and
/// order; attribute names equal, or (for list elements) the published ones
/// followed by the five page URIs decisions.md adds; and equal text, except
/// for dates (ours are UTC, the examples Pacific).
fn assert_like(ours: &Node, theirs: &Node, extension: Extension<'_>, path: &str) {
    let path = format!("{path}/{}", theirs.name);
    assert_eq!(ours.name, theirs.name, "{path}");
    let want_attrs: Vec<&str> = if theirs.attrs.is_empty() {
        vec![]
    } else {
        theirs
            .attr_names()
            .into_iter()
            .chain(LIST_URI_ATTRS)
            .collect()
    };
    assert_eq!(ours.attr_names(), want_attrs, "{path}: attributes");
    if !theirs.name.starts_with("Date") {
        assert_eq!(ours.text, theirs.text, "{path}: text");
    }
    let mut want_children = theirs.child_names();
    if let Some((element, extra)) = extension
        && element == theirs.name
    {
        want_children.extend_from_slice(extra);
    }
    assert_eq!(ours.child_names(), want_children, "{path}: children");
    for (o, t) in ours.children.iter().zip(&theirs.children) {
        assert_like(o, t, extension, &path);
    }
}

/// Checks one of our bodies: declaration first, no padding, and
/// element-for-element like the published example.
pub(crate) fn assert_golden(body: &str, published: &str, extension: Extension<'_>) -> Node {
    assert!(
        body.starts_with(&format!("{DECL}<TwilioResponse>")),
        "{body}"
    );
    assert!(body.ends_with("</TwilioResponse>"), "{body}");
    let (ours, padded) = parse(body);
    assert!(!padded, "whitespace between elements: {body}");
    let (theirs, _) = parse(published);
    assert_like(&ours, &theirs, extension, "");
    ours
}

// ------------------------------------------------------------ golden

#[test]
fn conference_is_like_the_seed() {
    assert_golden(
        &utf8(conference(
            &seed_conference(),
            &RenderedConferences::default(),
        )),
        SEED_CONFERENCE,
        None,
    );
}

#[test]
fn conference_list_is_like_the_seed() {
    let window = PageWindow::new(PageRequest::default(), 1, 1);
    let uris = list_uris(&format!("/2008-08-01/Accounts/{AC}/Conferences"), &window);
    let body = utf8(conference_list(
        &[seed_conference()],
        &window,
        &uris,
        &RenderedConferences::default(),
    ));
    let root = assert_golden(&body, SEED_CONFERENCES, None);
    // The paging numbers are the seed's too.
    let (theirs, _) = parse(SEED_CONFERENCES);
    assert_eq!(root.children[0].attrs[..6], theirs.children[0].attrs[..]);
}

/// A 2008 list page that `write` writes with its elements kept in
/// `rendered`: written twice, it is the page written fresh (with nothing
/// kept), the second time from the elements the first kept (that of
/// `items[0]`, under `key`, is the same allocation). Returns the page.
fn assert_kept_page<K: Eq + Hash + Clone, R: PartialEq + Clone>(
    items: &[R],
    key: &K,
    rendered: &Renderings<K, R, Box<[u8]>>,
    write: impl Fn(&[R], &Renderings<K, R, Box<[u8]>>) -> io::Result<Vec<u8>>,
) -> String {
    let fresh = utf8(write(items, &Renderings::default()));
    let first = utf8(write(items, rendered));
    let kept = rendered.cache.get(key).unwrap();
    let again = utf8(write(items, rendered));
    assert_eq!(first, fresh);
    assert_eq!(again, fresh);
    assert!(Arc::ptr_eq(&kept, &rendered.cache.get(key).unwrap()));
    fresh
}

/// Each record of `changed` (a change to a kept one) shows at once: its
/// page written from `rendered` is the page written fresh.
fn assert_changes_show<K, R>(
    changed: &[R],
    rendered: &Renderings<K, R, Box<[u8]>>,
    write: impl Fn(&[R], &Renderings<K, R, Box<[u8]>>) -> io::Result<Vec<u8>>,
) where
    K: Eq + Hash + Clone,
    R: PartialEq + Clone,
{
    for record in changed {
        let page = std::slice::from_ref(record);
        assert_eq!(
            utf8(write(page, rendered)),
            utf8(write(page, &Renderings::default()))
        );
    }
}

#[test]
fn rendered_participants_write_the_same_bytes_and_show_a_change_at_once() {
    let window = PageWindow::new(PageRequest::default(), 2, 2);
    let uris = list_uris(
        &format!(
            "/2008-08-01/Accounts/{AC}/Conferences/CF9f2ead1ae43cdabeab102fa30d938378/Participants"
        ),
        &window,
    );
    let write = |items: &[ParticipantRecord], rendered: &RenderedParticipants| {
        participant_list(items, &window, &uris, rendered)
    };
    let items = [seed_participant(CA1, false), seed_participant(CA2, true)];
    let rendered = RenderedParticipants::default();
    assert_kept_page(&items, &items[0].call_sid, &rendered, write);
    // Each field a participant's element shows that can change.
    let mut muted = items[0].clone();
    muted.muted = true;
    let mut later = items[0].clone();
    later.date_updated = Timestamp::from_secs(1_252_046_274);
    let mut ending = items[0].clone();
    ending.end_conference_on_exit = true;
    assert_changes_show(&[muted, later, ending], &rendered, write);
}

#[test]
fn rendered_calls_write_the_same_bytes_and_show_a_change_at_once() {
    let window = PageWindow::new(PageRequest::default(), 2, 2);
    let uris = list_uris(&format!("/2008-08-01/Accounts/{AC}/Calls"), &window);
    let write =
        |items: &[CallRecord], rendered: &RenderedCalls| call_list(items, &window, &uris, rendered);
    let live = CallRecord::answered_inbound(
        CallSid::parse("CA0c7a9c6a1d3bab7e6e3a1ed2e1b0a7c4").unwrap(),
        AccountSid::parse(AC).unwrap(),
        "+14155551212".to_owned(),
        "<room> & \u{1}".to_owned(),
        Timestamp::from_secs(1_252_046_273),
    );
    let mut ended = live.clone();
    ended.sid = CallSid::parse("CA1d7a9c6a1d3bab7e6e3a1ed2e1b0a7c5").unwrap();
    ended.status = CallStatus::Complete;
    ended.end_time = Some(Timestamp::from_secs(1_252_046_300));
    ended.duration = Some(27);
    let rendered = RenderedCalls::default();
    let page = assert_kept_page(&[live.clone(), ended], &live.sid, &rendered, write);
    assert!(page.contains("&lt;room&gt; &amp; \u{FFFD}"), "{page}");
    // Every field a live call's record changes as it ends.
    let mut later = live.clone();
    later.date_updated = Timestamp::from_secs(1_252_046_274);
    let mut ending = live.clone();
    ending.status = CallStatus::Complete;
    let mut timed = live.clone();
    timed.end_time = Some(Timestamp::from_secs(1_252_046_300));
    timed.duration = Some(27);
    assert_changes_show(&[later, ending, timed], &rendered, write);
}

#[test]
fn rendered_conferences_write_the_same_bytes_and_show_a_change_at_once() {
    let window = PageWindow::new(PageRequest::default(), 3, 3);
    let uris = list_uris(&format!("/2008-08-01/Accounts/{AC}/Conferences"), &window);
    let write = |items: &[ConferenceRecord], rendered: &RenderedConferences| {
        conference_list(items, &window, &uris, rendered)
    };
    let completed = seed_conference();
    let mut live = seed_conference();
    live.sid = ConferenceSid::parse("CF00000000000000000000000000000001").unwrap();
    live.status = ConferenceStatus::InProgress;
    let mut hostile = seed_conference();
    hostile.sid = ConferenceSid::parse("CF00000000000000000000000000000002").unwrap();
    hostile.friendly_name = "<a> & \u{1}".to_owned();
    let items = [completed.clone(), live.clone(), hostile];

    let rendered = RenderedConferences::default();
    let page = assert_kept_page(&items, &live.sid, &rendered, write);
    assert!(page.contains("&lt;a&gt; &amp; \u{FFFD}"), "{page}");
    // All three are kept, each with the record it shows.
    assert_eq!(rendered.cache.len(), 3);
    assert_eq!(rendered.cache.get(&live.sid).unwrap().from, live);
    // The instance GET shares the cache, and writes the same bytes as fresh.
    for c in [&completed, &live] {
        let fresh = utf8(conference(c, &RenderedConferences::default()));
        assert_eq!(utf8(conference(c, &rendered)), fresh);
    }
    // Every field a live room's record can change, and its name.
    let mut ended = live.clone();
    ended.status = ConferenceStatus::Completed;
    let mut later = live.clone();
    later.date_updated = Timestamp::from_micros(later.date_updated.as_micros() + 1_000_000);
    let mut ending = live.clone();
    ending.reason_ended = Some(ConferenceEndReason::EndedViaApi);
    let mut renamed = live.clone();
    renamed.friendly_name = "renamed".to_owned();
    assert_changes_show(&[ended, later, ending, renamed], &rendered, write);
}

#[test]
fn participant_is_like_the_seed() {
    assert_golden(
        &utf8(participant(&seed_participant(CA1, false))),
        SEED_PARTICIPANT,
        None,
    );
    assert_golden(
        &utf8(participant(&seed_participant(CA1, true))),
        SEED_PARTICIPANT_MUTED,
        None,
    );
}

#[test]
fn participant_list_is_like_the_seed() {
    let window = PageWindow::new(PageRequest::default(), 2, 2);
    let path = format!(
        "/2008-08-01/Accounts/{AC}/Conferences/CF9f2ead1ae43cdabeab102fa30d938378/Participants"
    );
    let uris = list_uris(&path, &window);
    let items = [seed_participant(CA1, false), seed_participant(CA2, false)];
    let body = utf8(participant_list(
        &items,
        &window,
        &uris,
        &RenderedParticipants::default(),
    ));
    let root = assert_golden(&body, SEED_PARTICIPANTS, None);
    let (theirs, _) = parse(SEED_PARTICIPANTS);
    assert_eq!(root.children[0].attrs[..6], theirs.children[0].attrs[..]);
}

/// The comparison itself must be able to fail.
#[test]
fn the_golden_comparison_catches_differences() {
    let swapped = SEED_CONFERENCE.replace("<Status>2</Status>", "").replace(
        "<FriendlyName>1234</FriendlyName>",
        "<Status>2</Status><FriendlyName>1234</FriendlyName>",
    );
    let body = utf8(conference(
        &seed_conference(),
        &RenderedConferences::default(),
    ));
    let result = std::panic::catch_unwind(|| assert_golden(&body, &swapped, None));
    assert!(result.is_err(), "element order is checked");
    let renamed = SEED_CONFERENCE.replace("AccountSid>", "AccountSID>");
    let result = std::panic::catch_unwind(|| assert_golden(&body, &renamed, None));
    assert!(result.is_err(), "element names are checked");
}

// ------------------------------------------------------ byte-exact pins

#[test]
fn conference_bytes() {
    let want = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        "<TwilioResponse><Conference>",
        "<Sid>CFd0a50bbe038c437e87f6c82db8f37f21</Sid>",
        "<AccountSid>AC5ea872f6da5a21de157d80997a64bd33</AccountSid>",
        "<FriendlyName>1234</FriendlyName>",
        "<Status>2</Status>",
        "<DateCreated>Fri, 04 Sep 2009 06:37:53 +0000</DateCreated>",
        "<DateUpdated>Fri, 04 Sep 2009 07:35:02 +0000</DateUpdated>",
        "</Conference></TwilioResponse>",
    );
    assert_eq!(
        utf8(conference(
            &seed_conference(),
            &RenderedConferences::default()
        )),
        want
    );
}

#[test]
fn participant_bytes() {
    let want = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        "<TwilioResponse><Participant>",
        "<ConferenceSid>CF9f2ead1ae43cdabeab102fa30d938378</ConferenceSid>",
        "<AccountSid>AC5ea872f6da5a21de157d80997a64bd33</AccountSid>",
        "<CallSid>CA9ae8e040497c0598481c2031a154919e</CallSid>",
        "<Muted>true</Muted>",
        "<StartConferenceOnEnter>1</StartConferenceOnEnter>",
        "<EndConferenceOnExit>0</EndConferenceOnExit>",
        "<DateCreated>Fri, 04 Sep 2009 06:37:53 +0000</DateCreated>",
        "<DateUpdated>Fri, 04 Sep 2009 06:37:53 +0000</DateUpdated>",
        "</Participant></TwilioResponse>",
    );
    assert_eq!(utf8(participant(&seed_participant(CA1, true))), want);
    let mut p = seed_participant(CA1, false);
    p.start_conference_on_enter = false;
    p.end_conference_on_exit = true;
    let body = utf8(participant(&p));
    assert!(body.contains(
        "<Muted>false</Muted><StartConferenceOnEnter>0</StartConferenceOnEnter>\
         <EndConferenceOnExit>1</EndConferenceOnExit>"
    ));
}

#[test]
fn conference_list_bytes_with_filters_and_neighbours() {
    let request = PageRequest { page: 1, size: 1 };
    let window = PageWindow::new(request, 3, 1);
    let query = FormPairs::parse(b"Status=2&FriendlyName=a+%26+b&page=1&num=1").unwrap();
    let uris = PageUris::new(
        &format!("/2008-08-01/Accounts/{AC}/Conferences"),
        &query,
        &window,
    );
    let base = format!("/2008-08-01/Accounts/{AC}/Conferences?Status=2&amp;FriendlyName=a+%26+b");
    let want = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<TwilioResponse>",
            r#"<Conferences page="1" numpages="3" pagesize="1" total="3" start="1" end="1" "#,
            r#"uri="{b}&amp;page=1&amp;num=1" firstpageuri="{b}&amp;page=0&amp;num=1" "#,
            r#"previouspageuri="{b}&amp;page=0&amp;num=1" nextpageuri="{b}&amp;page=2&amp;num=1" "#,
            r#"lastpageuri="{b}&amp;page=2&amp;num=1">"#,
            "<Conference><Sid>CFd0a50bbe038c437e87f6c82db8f37f21</Sid>",
            "<AccountSid>AC5ea872f6da5a21de157d80997a64bd33</AccountSid>",
            "<FriendlyName>1234</FriendlyName><Status>2</Status>",
            "<DateCreated>Fri, 04 Sep 2009 06:37:53 +0000</DateCreated>",
            "<DateUpdated>Fri, 04 Sep 2009 07:35:02 +0000</DateUpdated></Conference>",
            "</Conferences></TwilioResponse>",
        ),
        b = base
    );
    assert_eq!(
        utf8(conference_list(
            &[seed_conference()],
            &window,
            &uris,
            &RenderedConferences::default()
        )),
        want
    );
}

#[test]
fn empty_participant_list_bytes() {
    let window = PageWindow::new(PageRequest::default(), 0, 0);
    let path = "/2008-08-01/Accounts/AC5ea872f6da5a21de157d80997a64bd33/Conferences/CF9f2ead1ae43cdabeab102fa30d938378/Participants";
    let uris = list_uris(path, &window);
    let want = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<TwilioResponse>",
            r#"<Participants page="0" numpages="0" pagesize="50" total="0" start="0" end="0" "#,
            r#"uri="{p}?page=0&amp;num=50" firstpageuri="{p}?page=0&amp;num=50" "#,
            r#"previouspageuri="" nextpageuri="" lastpageuri="{p}?page=0&amp;num=50">"#,
            "</Participants></TwilioResponse>",
        ),
        p = path
    );
    assert_eq!(
        utf8(participant_list(
            &[],
            &window,
            &uris,
            &RenderedParticipants::default()
        )),
        want
    );
}

#[test]
fn rest_exception_bytes_without_a_code() {
    let no_code = Exception {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: "m",
        code: None,
    };
    assert_eq!(
        utf8(rest_exception(&no_code)),
        format!(
            "{DECL}<TwilioResponse><RestException><Status>413</Status><Message>m</Message></RestException></TwilioResponse>"
        )
    );
}

// ------------------------------------------------------------ escaping

#[test]
fn metacharacters_are_escaped_and_read_back() {
    let mut c = seed_conference();
    c.friendly_name = r#"a & b < c > d " e ' f ]]> <![CDATA[x]]> &amp;"#.to_owned();
    let body = utf8(conference(&c, &RenderedConferences::default()));
    assert!(body.contains(
        "<FriendlyName>a &amp; b &lt; c &gt; d &quot; e &apos; f ]]&gt; &lt;![CDATA[x]]&gt; \
         &amp;amp;</FriendlyName>"
    ));
    let (root, _) = parse(&body);
    assert_eq!(root.children[0].children[2].text, c.friendly_name);
}

#[test]
fn empty_values_are_empty_elements() {
    let mut c = seed_conference();
    c.friendly_name = String::new();
    let body = utf8(conference(&c, &RenderedConferences::default()));
    assert!(body.contains("<AccountSid>AC5ea872f6da5a21de157d80997a64bd33</AccountSid><FriendlyName/><Status>2</Status>"));
}

#[test]
fn names_keep_their_whitespace_and_lose_what_xml_cannot_carry() {
    let mut c = seed_conference();
    c.friendly_name = " room\u{0}\u{1b}\u{FFFE}\tone ".to_owned();
    let body = utf8(conference(&c, &RenderedConferences::default()));
    let (root, _) = parse(&body);
    assert_eq!(
        root.children[0].children[2].text,
        " room\u{FFFD}\u{FFFD}\u{FFFD}\tone "
    );
    assert_eq!(xml_safe("plain"), Cow::Borrowed("plain"));
    assert_eq!(
        xml_safe("\u{10FFFF}\u{D7FF}\u{E000}"),
        "\u{10FFFF}\u{D7FF}\u{E000}"
    );
}
