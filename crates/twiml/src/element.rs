//! What the parser and each verb's file share: the element tree, the
//! parsing context with its attribute readers, and the error and warning
//! types. A module of its own so that [`crate::parse`] and [`crate::verbs`]
//! both depend on it and not on each other.

use std::time::Duration;

use media::Repeat;
use model::HttpMethod;
use url::Url;

use crate::http_url::{HttpUrl, UrlError};

/// The deepest element nesting accepted. TwiML needs three
/// (`<Response><Dial><Conference>`, `<Response><Gather><Say>`).
pub const MAX_DEPTH: usize = 8;

/// Why a document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the document is {len} bytes, more than the {max} accepted")]
    TooLarge { len: usize, max: usize },
    #[error("the document is not UTF-8")]
    NotUtf8,
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("<!DOCTYPE> is not allowed")]
    DocType,
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    #[error("elements nested more than {MAX_DEPTH} deep")]
    TooDeep,
    #[error("the document has no root element")]
    NoRoot,
    #[error("content outside the root element")]
    OutsideRoot,
    #[error("the root element is <{0}>, not <Response>")]
    NotResponse(String),
    #[error("<{0}> is not a supported verb")]
    UnknownVerb(String),
    #[error("<{child}> is not allowed inside <{parent}>")]
    UnexpectedElement { parent: &'static str, child: String },
    #[error("text is not allowed inside <{0}>")]
    UnexpectedText(&'static str),
    #[error("<{0}> needs text")]
    MissingText(&'static str),
    #[error("<{element}> {what}: {error}")]
    BadUrl {
        element: &'static str,
        what: &'static str,
        error: UrlError,
    },
    #[error("<Dial> needs a <Conference>")]
    NothingToDial,
    #[error("<Dial> takes a single <Conference>")]
    TooManyNouns,
    #[error("not supported yet: {0}")]
    Unsupported(&'static str),
}

/// Something in a document that was tolerated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    /// The attribute's value did not parse or was out of range; `used` is
    /// what confab used instead.
    #[error("<{element} {attribute}=\"{value}\"> is not valid; using {used}")]
    InvalidValue {
        element: &'static str,
        attribute: &'static str,
        value: String,
        used: String,
    },
    /// The attribute asks for something confab does not do; `used` is
    /// what it does instead (`<Gather input="speech">` gathers keys).
    #[error("<{element} {attribute}=\"{value}\"> is not supported; using {used}")]
    NotSupported {
        element: &'static str,
        attribute: &'static str,
        value: String,
        used: String,
    },
    #[error("<Say> has no text and was skipped")]
    EmptySay,
    #[error("text inside <{0}> was ignored")]
    IgnoredText(&'static str),
}

/// An element of the document: its name, attributes, child elements and all
/// its text (text, CDATA and references, concatenated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) children: Vec<Element>,
    pub(crate) text: String,
}

impl Element {
    /// The value of attribute `name` (names are case-sensitive, like Twilio's).
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The element's text with surrounding whitespace trimmed.
    pub(crate) fn trimmed_text(&self) -> &str {
        self.text.trim()
    }

    /// Errors if the element has child elements.
    pub(crate) fn no_children(&self, name: &'static str) -> Result<(), ParseError> {
        match self.children.first() {
            None => Ok(()),
            Some(child) => Err(ParseError::UnexpectedElement {
                parent: name,
                child: clip(&child.name),
            }),
        }
    }

    /// The text of an element that must have some and no children
    /// (`<Play>`, `<Redirect>`, `<Conference>`), trimmed.
    pub(crate) fn required_text(&self, name: &'static str) -> Result<&str, ParseError> {
        self.no_children(name)?;
        match self.trimmed_text() {
            "" => Err(ParseError::MissingText(name)),
            text => Ok(text),
        }
    }

    /// Errors if the element has non-whitespace text.
    pub(crate) fn no_text(&self, name: &'static str) -> Result<(), ParseError> {
        if self.trimmed_text().is_empty() {
            Ok(())
        } else {
            Err(ParseError::UnexpectedText(name))
        }
    }
}

/// What verb parsers share: the base URL and the warnings so far.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    pub(crate) base: &'a Url,
    pub(crate) warnings: Vec<Warning>,
}

impl Context<'_> {
    /// Records that `value` of `attribute` was replaced by `used`.
    pub(crate) fn invalid(
        &mut self,
        element: &'static str,
        attribute: &'static str,
        value: &str,
        used: impl ToString,
    ) {
        self.warnings.push(Warning::InvalidValue {
            element,
            attribute,
            value: clip(value),
            used: used.to_string(),
        });
    }

    /// A boolean attribute: `true`/`false` in any case (py201 writes `True`),
    /// or `1`/`0` like the API's booleans; anything else warns and gives the
    /// default.
    pub(crate) fn flag(
        &mut self,
        el: &Element,
        element: &'static str,
        attribute: &'static str,
        default: bool,
    ) -> bool {
        let Some(value) = el.attr(attribute) else {
            return default;
        };
        let v = value.trim();
        if v.eq_ignore_ascii_case("true") || v == "1" {
            true
        } else if v.eq_ignore_ascii_case("false") || v == "0" {
            false
        } else {
            self.invalid(element, attribute, value, default);
            default
        }
    }

    /// An HTTP method attribute: `GET` or `POST` in any case, default POST.
    pub(crate) fn method(
        &mut self,
        el: &Element,
        element: &'static str,
        attribute: &'static str,
    ) -> HttpMethod {
        let default = HttpMethod::Post;
        let Some(value) = el.attr(attribute) else {
            return default;
        };
        HttpMethod::parse(value.trim()).unwrap_or_else(|| {
            self.invalid(element, attribute, value, default.as_str());
            default
        })
    }

    /// A whole number attribute within `range`, or `default` with a warning.
    pub(crate) fn number(
        &mut self,
        el: &Element,
        element: &'static str,
        attribute: &'static str,
        range: std::ops::RangeInclusive<u32>,
        default: u32,
    ) -> u32 {
        let Some(value) = el.attr(attribute) else {
            return default;
        };
        match value.trim().parse::<u32>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.invalid(element, attribute, value, default);
                default
            }
        }
    }

    /// A duration in whole seconds, at least one, or `default` with a warning.
    pub(crate) fn seconds(
        &mut self,
        el: &Element,
        element: &'static str,
        attribute: &'static str,
        default: u32,
    ) -> Duration {
        Duration::from_secs(
            self.number(el, element, attribute, 1..=u32::MAX, default)
                .into(),
        )
    }

    /// `loop`: a count of plays, where 0 means until the call ends.
    pub(crate) fn repeat(&mut self, el: &Element, element: &'static str) -> Repeat {
        let Some(value) = el.attr("loop") else {
            return Repeat::Times(1);
        };
        match value.trim().parse::<u32>() {
            Ok(n) => Repeat::from_twiml_loop(n),
            Err(_) => {
                self.invalid(element, "loop", value, 1);
                Repeat::Times(1)
            }
        }
    }

    /// Resolves a URL written in the document.
    pub(crate) fn url(
        &self,
        element: &'static str,
        what: &'static str,
        reference: &str,
    ) -> Result<HttpUrl, ParseError> {
        HttpUrl::resolve(self.base, reference).map_err(|error| ParseError::BadUrl {
            element,
            what,
            error,
        })
    }
}

/// Hostile values end up in messages; keep those short.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}
