//! `<Dial>`: connect the caller, for now only to a `<Conference>` room.
//!
//! Attributes (spec §9.2): `action` (URL requested when the dial ends, with
//! `DialStatus`; absent or empty = go on with the next verb), `method` (GET
//! or POST for `action`, default POST), `hangupOnStar` (leave the room on
//! `*`, default false), `timeLimit` (whole seconds ≥ 1, default 14400 = 4 h;
//! anything else warns and uses the default). `timeout` and `callerId` have no
//! effect with a conference and are ignored.
//!
//! Content: exactly one `<Conference>`. Dialling out (`<Number>` or a bare
//! number as text) is [`ParseError::Unsupported`] until confab can place
//! outbound calls.

use std::time::Duration;

use model::HttpMethod;

use crate::HttpUrl;
use crate::element::{Context, Element, ParseError, clip};
use crate::verbs::Conference;

/// A parsed `<Dial>` with its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub action: Option<HttpUrl>,
    pub method: HttpMethod,
    pub hangup_on_star: bool,
    pub time_limit: Duration,
    pub conference: Conference,
}

/// `timeLimit` when absent or invalid, in seconds (4 hours).
pub const DEFAULT_TIME_LIMIT_SECS: u32 = 14_400;

impl Dial {
    pub(crate) fn parse(el: &Element, cx: &mut Context<'_>) -> Result<Self, ParseError> {
        const NAME: &str = "Dial";
        let mut conference = None;
        for child in &el.children {
            match child.name.as_str() {
                "Conference" if conference.is_none() => {
                    conference = Some(Conference::parse(child, cx)?);
                }
                "Conference" => return Err(ParseError::TooManyNouns),
                "Number" => return Err(ParseError::Unsupported("<Dial><Number> (calling out)")),
                other => {
                    return Err(ParseError::UnexpectedElement {
                        parent: NAME,
                        child: clip(other),
                    });
                }
            }
        }
        if !el.trimmed_text().is_empty() {
            return Err(ParseError::Unsupported("<Dial> to a number (calling out)"));
        }
        let conference = conference.ok_or(ParseError::NothingToDial)?;
        let action = match el.attr("action").map(str::trim) {
            None | Some("") => None,
            Some(reference) => Some(cx.url(NAME, "action", reference)?),
        };
        let method = cx.method(el, NAME, "method");
        let hangup_on_star = cx.flag(el, NAME, "hangupOnStar", false);
        let time_limit = cx.seconds(el, NAME, "timeLimit", DEFAULT_TIME_LIMIT_SECS);
        Ok(Self {
            action,
            method,
            hangup_on_star,
            time_limit,
            conference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Verb, Warning};

    fn dial(xml: &str) -> Result<(Dial, Vec<Warning>), ParseError> {
        crate::parse_one("http://h.example/conf/join.php", xml, |v| match v {
            Verb::Dial(d) => Some(*d),
            _ => None,
        })
    }

    #[test]
    fn defaults() {
        let (d, w) = dial("<Dial><Conference>room</Conference></Dial>").unwrap();
        assert_eq!(d.action, None);
        assert_eq!(d.method, HttpMethod::Post);
        assert!(!d.hangup_on_star);
        assert_eq!(d.time_limit, Duration::from_secs(14_400));
        assert_eq!(d.conference.name, "room");
        assert_eq!(w, []);
    }

    #[test]
    fn attributes() {
        let (d, w) = dial(
            "<Dial action=\"done.php\" method=\"GET\" hangupOnStar=\"True\" timeLimit=\"60\" \
             timeout=\"10\" callerId=\"4155551212\"><Conference>room</Conference></Dial>",
        )
        .unwrap();
        assert_eq!(d.action.unwrap().as_str(), "http://h.example/conf/done.php");
        assert_eq!(d.method, HttpMethod::Get);
        assert!(d.hangup_on_star);
        assert_eq!(d.time_limit, Duration::from_secs(60));
        assert_eq!(w, []);
    }

    #[test]
    fn an_empty_action_means_no_action() {
        let (d, _) = dial("<Dial action=\" \"><Conference>room</Conference></Dial>").unwrap();
        assert_eq!(d.action, None);
    }

    #[test]
    fn bad_values_warn_and_use_defaults() {
        let (d, w) = dial(
            "<Dial method=\"DELETE\" hangupOnStar=\"yes\" timeLimit=\"0\">\
             <Conference>room</Conference></Dial>",
        )
        .unwrap();
        assert_eq!(d.method, HttpMethod::Post);
        assert!(!d.hangup_on_star);
        assert_eq!(d.time_limit, Duration::from_secs(14_400));
        let attributes: Vec<&str> = w
            .iter()
            .map(|w| match w {
                Warning::InvalidValue { attribute, .. } => *attribute,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(attributes, ["method", "hangupOnStar", "timeLimit"]);
    }

    #[test]
    fn bad_content_is_an_error() {
        let cases: [(&str, ParseError); 6] = [
            ("<Dial/>", ParseError::NothingToDial),
            ("<Dial>  </Dial>", ParseError::NothingToDial),
            (
                "<Dial><Conference>a</Conference><Conference>b</Conference></Dial>",
                ParseError::TooManyNouns,
            ),
            (
                "<Dial><Number>4155551212</Number></Dial>",
                ParseError::Unsupported("<Dial><Number> (calling out)"),
            ),
            (
                "<Dial>415-555-1212</Dial>",
                ParseError::Unsupported("<Dial> to a number (calling out)"),
            ),
            (
                "<Dial><Say>x</Say></Dial>",
                ParseError::UnexpectedElement {
                    parent: "Dial",
                    child: "Say".into(),
                },
            ),
        ];
        for (xml, want) in cases {
            assert_eq!(dial(xml).unwrap_err(), want, "{xml}");
        }
        assert!(matches!(
            dial("<Dial action=\"ftp://x/\"><Conference>a</Conference></Dial>"),
            Err(ParseError::BadUrl {
                element: "Dial",
                what: "action",
                ..
            })
        ));
    }
}
