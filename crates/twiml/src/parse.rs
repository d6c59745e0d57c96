//! From response bytes to a typed [`Document`].
//!
//! Parsing happens in two steps. `read_tree` turns the bytes into a small
//! element tree with quick-xml's event reader, refusing what a TwiML document
//! never needs and a hostile one might use: more than
//! [`MAX_DOCUMENT_BYTES`], bytes that are not UTF-8, a `<!DOCTYPE>` (so no
//! external entities and no entity-expansion bombs), references to entities
//! other than the five predefined ones, more than [`MAX_DEPTH`] levels of
//! nesting, text or a second element beside the root. Then each verb's file
//! under `verbs/` turns its element into a typed value, resolving URLs
//! against the document's own URL.
//!
//! Two kinds of trouble, following Twilio's own split between errors and
//! warnings:
//! - an **error** ([`ParseError`]) rejects the whole document, and the call
//!   ends with an application error: malformed XML, a root other than
//!   `<Response>`, an unknown verb (element names are case-sensitive), a noun
//!   where it does not belong, a verb that needs text and has none, a URL
//!   that does not resolve to http(s), `<Dial>` to a number (not supported yet);
//! - a **warning** ([`Warning`]) keeps the document: an attribute value that
//!   does not parse or is out of range is replaced by the attribute's default
//!   (Twilio's 13410 "Play: Invalid loop value" is a warning too), an empty
//!   `<Say>` is skipped, stray text in an empty verb is ignored. Unknown
//!   attributes are ignored silently, as the 2008 docs require (they use a
//!   misspelled `startConferenceOnJoin` themselves).

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use url::Url;

use crate::verbs::{Dial, Gather, Pause, Play, Redirect, Say};

pub(crate) use crate::element::{Context, Element, clip};
pub use crate::element::{MAX_DEPTH, ParseError, Warning};

/// The largest document confab reads. A TwiML document is a few hundred
/// bytes; the shell should stop reading a response a byte past this.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// A parsed `<Response>`: the verbs in document order, and what was
/// tolerated on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub verbs: Vec<Verb>,
    pub warnings: Vec<Warning>,
}

/// One TwiML verb of the conference subset: 2009's, and today's `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say(Say),
    Play(Play),
    Pause(Pause),
    Redirect(Redirect),
    Hangup,
    /// Boxed: with its `<Conference>` it is the largest verb by far.
    Dial(Box<Dial>),
    Gather(Gather),
}

impl Document {
    /// Parses `body`, the response to a request whose final URL (after HTTP
    /// redirects) was `base`. Relative URLs in the document resolve against it.
    pub fn parse(body: &[u8], base: &Url) -> Result<Self, ParseError> {
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(ParseError::TooLarge {
                len: body.len(),
                max: MAX_DOCUMENT_BYTES,
            });
        }
        let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
        let root = read_tree(text)?;
        if root.name != "Response" {
            return Err(ParseError::NotResponse(clip(&root.name)));
        }
        root.no_text("Response")?;
        let mut cx = Context {
            base,
            warnings: Vec::new(),
        };
        let mut verbs = Vec::with_capacity(root.children.len());
        for el in &root.children {
            let verb = match el.name.as_str() {
                "Say" => Say::parse(el, &mut cx)?.map(Verb::Say),
                "Play" => Some(Verb::Play(Play::parse(el, &mut cx)?)),
                "Pause" => Some(Verb::Pause(Pause::parse(el, &mut cx)?)),
                "Redirect" => Some(Verb::Redirect(Redirect::parse(el, &mut cx)?)),
                "Hangup" => {
                    crate::verbs::hangup::parse(el, &mut cx)?;
                    Some(Verb::Hangup)
                }
                "Dial" => Some(Verb::Dial(Box::new(Dial::parse(el, &mut cx)?))),
                "Gather" => Some(Verb::Gather(Gather::parse(el, &mut cx)?)),
                other => return Err(ParseError::UnknownVerb(clip(other))),
            };
            verbs.extend(verb);
        }
        Ok(Self {
            verbs,
            warnings: cx.warnings,
        })
    }
}

/// Reads `xml` into an element tree, enforcing the limits of this module.
pub(crate) fn read_tree(xml: &str) -> Result<Element, ParseError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ParseError::Xml(clip(&e.to_string())))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(ParseError::OutsideRoot);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError::TooDeep);
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError::TooDeep);
                }
                let el = element(&start)?;
                close(el, &mut stack, &mut root)?;
            }
            Event::End(_) => {
                // quick-xml checks that end tags match their start tags.
                let el = stack
                    .pop()
                    .ok_or_else(|| ParseError::Xml("unmatched end tag".into()))?;
                close(el, &mut stack, &mut root)?;
            }
            Event::Text(text) => add_text(&text.xml10_content(), &mut stack)?,
            Event::CData(data) => add_text(&data.xml10_content(), &mut stack)?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name: &str = &reference;
                        quick_xml::escape::resolve_predefined_entity(name)
                            .ok_or_else(|| ParseError::UnknownEntity(clip(name)))?
                            .to_owned()
                    }
                    Err(e) => return Err(ParseError::Xml(clip(&e.to_string()))),
                };
                add_text(&resolved, &mut stack)?;
            }
            Event::DocType(_) => return Err(ParseError::DocType),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(ParseError::Xml(
            "unclosed element at end of document".into(),
        ));
    }
    root.ok_or(ParseError::NoRoot)
}

/// An element from its start tag, with its attributes decoded.
fn element(start: &BytesStart<'_>) -> Result<Element, ParseError> {
    let name = start.name();
    let name: &str = name.as_ref();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| ParseError::Xml(clip(&e.to_string())))?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| ParseError::Xml(clip(&e.to_string())))?;
        let key: &str = attr.key.as_ref();
        attrs.push((key.to_owned(), value.into_owned()));
    }
    Ok(Element {
        name: name.to_owned(),
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// A complete element goes to its parent, or becomes the root.
fn close(el: Element, stack: &mut [Element], root: &mut Option<Element>) -> Result<(), ParseError> {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(el);
        Ok(())
    } else if root.is_some() {
        Err(ParseError::OutsideRoot)
    } else {
        *root = Some(el);
        Ok(())
    }
}

/// Text belongs to the open element; outside the root only whitespace may be.
fn add_text(text: &str, stack: &mut [Element]) -> Result<(), ParseError> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(ParseError::OutsideRoot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://app.example.com/voice").unwrap()
    }

    fn parse(s: &str) -> Result<Document, ParseError> {
        Document::parse(s.as_bytes(), &base())
    }

    #[test]
    fn an_empty_response_has_no_verbs() {
        for doc in [
            "<Response/>",
            "<Response></Response>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response version=\"2008-08-01\">\n</Response>\n",
            "\u{feff}<Response/>",
            "<!-- hi --><Response><!-- c --></Response><!-- bye -->",
        ] {
            let got = parse(doc).unwrap();
            assert_eq!(got.verbs, [], "{doc:?}");
            assert_eq!(got.warnings, [], "{doc:?}");
        }
    }

    #[test]
    fn verbs_come_in_document_order() {
        let doc = parse(
            "<Response><Say>a</Say><Pause/><Play>b.mp3</Play><Redirect>c</Redirect><Hangup/></Response>",
        )
        .unwrap();
        let kinds: Vec<&str> = doc
            .verbs
            .iter()
            .map(|v| match v {
                Verb::Say(_) => "Say",
                Verb::Play(_) => "Play",
                Verb::Pause(_) => "Pause",
                Verb::Redirect(_) => "Redirect",
                Verb::Hangup => "Hangup",
                Verb::Dial(_) => "Dial",
                Verb::Gather(_) => "Gather",
            })
            .collect();
        assert_eq!(kinds, ["Say", "Pause", "Play", "Redirect", "Hangup"]);
    }

    /// Every way a document is rejected, one row each.
    #[test]
    fn malformed_documents_are_errors() {
        use ParseError as E;
        let deep = format!(
            "<Response>{}{}</Response>",
            "<a>".repeat(20),
            "</a>".repeat(20)
        );
        let big = format!(
            "<Response><Say>{}</Say></Response>",
            "x".repeat(MAX_DOCUMENT_BYTES)
        );
        type Case<'a> = (&'a str, &'a [u8], fn(&ParseError) -> bool);
        let cases: Vec<Case<'_>> = vec![
            ("empty body", b"", |e| *e == E::NoRoot),
            ("whitespace", b"  \n ", |e| *e == E::NoRoot),
            ("plain text", b"Hello there", |e| *e == E::OutsideRoot),
            ("html", b"<html><body>500</body></html>", |e| matches!(e, E::NotResponse(n) if n == "html")),
            ("json", b"{\"Say\":\"hi\"}", |e| *e == E::OutsideRoot),
            ("not utf-8", b"<Response><Say>\xff\xfe</Say></Response>", |e| *e == E::NotUtf8),
            ("mp3 bytes", b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb", |e| *e == E::NotUtf8),
            ("unclosed root", b"<Response><Say>hi</Say>", |e| matches!(e, E::Xml(_))),
            ("mismatched end", b"<Response><Say>hi</Play></Response>", |e| matches!(e, E::Xml(_))),
            ("stray end", b"</Response>", |e| matches!(e, E::Xml(_))),
            ("bad attribute", b"<Response><Pause length=5/></Response>", |e| matches!(e, E::Xml(_))),
            ("duplicate attribute", b"<Response><Pause length=\"1\" length=\"2\"/></Response>", |e| matches!(e, E::Xml(_))),
            ("lone ampersand", b"<Response><Say>a & b</Say></Response>", |e| matches!(e, E::Xml(_))),
            ("two roots", b"<Response/><Response/>", |e| *e == E::OutsideRoot),
            ("text after root", b"<Response/>trailing", |e| *e == E::OutsideRoot),
            ("lowercase root", b"<response/>", |e| matches!(e, E::NotResponse(_))),
            ("lowercase verb", b"<Response><say>hi</say></Response>", |e| matches!(e, E::UnknownVerb(v) if v == "say")),
            ("lowercase Gather", b"<Response><gather/></Response>", |e| matches!(e, E::UnknownVerb(v) if v == "gather")),
            ("Record", b"<Response><Record/></Response>", |e| matches!(e, E::UnknownVerb(v) if v == "Record")),
            ("Sms", b"<Response><Sms>hi</Sms></Response>", |e| matches!(e, E::UnknownVerb(v) if v == "Sms")),
            ("noun at top level", b"<Response><Conference>a</Conference></Response>", |e| matches!(e, E::UnknownVerb(_))),
            ("text in Response", b"<Response>hello</Response>", |e| *e == E::UnexpectedText("Response")),
            ("doctype", b"<!DOCTYPE Response><Response/>", |e| *e == E::DocType),
            (
                "external entity",
                b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Response><Say>&x;</Say></Response>",
                |e| *e == E::DocType,
            ),
            (
                "billion laughs",
                b"<!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><Response><Say>&b;</Say></Response>",
                |e| *e == E::DocType,
            ),
            ("undeclared entity", b"<Response><Say>&x;</Say></Response>", |e| matches!(e, E::UnknownEntity(n) if n == "x")),
            ("entity in attribute", b"<Response><Pause length=\"&x;\"/></Response>", |e| matches!(e, E::Xml(_))),
            ("bad char ref", b"<Response><Say>&#0;</Say></Response>", |e| matches!(e, E::Xml(_))),
            ("deep nesting", deep.as_bytes(), |e| *e == E::TooDeep),
            ("too large", big.as_bytes(), |e| matches!(e, E::TooLarge { .. })),
            ("Say with a child", b"<Response><Say>a<Play>b</Play></Say></Response>", |e| matches!(e, E::UnexpectedElement { parent: "Say", .. })),
            ("Play without URL", b"<Response><Play>  </Play></Response>", |e| *e == E::MissingText("Play")),
            ("Redirect without URL", b"<Response><Redirect/></Response>", |e| *e == E::MissingText("Redirect")),
            ("Play file URL", b"<Response><Play>file:///etc/passwd</Play></Response>", |e| matches!(e, E::BadUrl { element: "Play", .. })),
            ("Dial a number", b"<Response><Dial><Number>4155551212</Number></Dial></Response>", |e| matches!(e, E::Unsupported(_))),
            ("Dial bare number", b"<Response><Dial>4155551212</Dial></Response>", |e| matches!(e, E::Unsupported(_))),
            ("empty Dial", b"<Response><Dial/></Response>", |e| *e == E::NothingToDial),
            ("empty room name", b"<Response><Dial><Conference> </Conference></Dial></Response>", |e| *e == E::MissingText("Conference")),
        ];
        for (name, body, ok) in cases {
            match Document::parse(body, &base()) {
                Ok(doc) => panic!("{name}: parsed as {doc:?}"),
                Err(e) => assert!(ok(&e), "{name}: wrong error {e:?}"),
            }
        }
    }

    #[test]
    fn references_and_cdata_become_text() {
        let doc = parse(
            "<Response><Say>Tom &amp; Jerry &lt;3 &#x263A; &#65;<![CDATA[ <raw> ]]></Say></Response>",
        )
        .unwrap();
        let Verb::Say(say) = &doc.verbs[0] else {
            panic!("{doc:?}")
        };
        assert_eq!(say.text, "Tom & Jerry <3 \u{263a} A <raw>");
    }

    #[test]
    fn nesting_up_to_the_limit_is_read() {
        let xml = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(read_tree(&xml).is_ok());
        let xml = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(read_tree(&xml), Err(ParseError::TooDeep));
        let xml = format!(
            "{}<b/>{}",
            "<a>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        );
        assert_eq!(read_tree(&xml), Err(ParseError::TooDeep));
    }

    #[test]
    fn a_document_at_the_size_cap_is_read() {
        let head = "<Response><Say>";
        let tail = "</Say></Response>";
        let fill = "x".repeat(MAX_DOCUMENT_BYTES - head.len() - tail.len());
        let doc = format!("{head}{fill}{tail}");
        assert_eq!(doc.len(), MAX_DOCUMENT_BYTES);
        assert!(parse(&doc).is_ok());
    }

    #[test]
    fn messages_clip_hostile_values() {
        let name = "V".repeat(10_000);
        let err = parse(&format!("<Response><{name}/></Response>")).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }
}
