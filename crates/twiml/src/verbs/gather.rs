//! `<Gather>`: collect the keys a caller presses, and send them (`Digits`)
//! to the `action` URL, whose document replaces this one.
//!
//! Attributes and their defaults (Twilio's of today):
//! - `action`: a URL relative to this document; absent or empty, the
//!   document's own URL (Twilio re-requests the TwiML it is running): the
//!   URL the runner requested it from, before any parameters it appended
//!   for a GET (so they are not sent twice);
//! - `method`: GET or POST, default POST;
//! - `timeout`: whole seconds ≥ 1, default 5: how long to wait for a key
//!   once the nested prompts are over, and again after each key;
//! - `finishOnKey`: one of `0`–`9`, `#`, `*`, default `#`; `""` means no
//!   key finishes. Anything else warns (Twilio's 13310) and uses `#`;
//! - `numDigits`: a whole number ≥ 1 (the gather ends when that many keys
//!   were pressed), default unlimited;
//! - `actionOnEmptyResult`: false by default: with no keys the gather falls
//!   through to the next verb; true requests the action with `Digits=""`;
//! - `input`: `dtmf` is served. confab has no speech recognition: `speech`
//!   or `dtmf speech` warns and gathers keys only.
//!
//! Speech-only attributes (`hints`, `language`, `speechTimeout`,
//! `speechModel`, `partialResultCallback`, `profanityFilter`, `enhanced`,
//! `bargeIn`...) are ignored like any unknown attribute.
//!
//! Content: `<Say>`, `<Play>` and `<Pause>`, played in order as the prompt;
//! a key pressed during them stops them (Twilio's barge-in). Any other
//! element is an error; text is ignored with a warning.

use std::time::Duration;

use model::HttpMethod;

use crate::HttpUrl;
use crate::element::{Context, Element, ParseError, Warning, clip};
use crate::verbs::{Pause, Play, Say};

/// A parsed `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// Where the keys go; `None`: the document's own URL, which the
    /// runner knows (a script that came with its verbs has none: then the
    /// gather is over without a request, as if no key was pressed).
    pub action: Option<HttpUrl>,
    pub method: HttpMethod,
    /// The wait for a key after the prompts and after each key.
    pub timeout: Duration,
    /// The key that ends the gather (not part of `Digits`); `None`: none does.
    pub finish_on_key: Option<char>,
    /// The gather ends after this many keys; `None`: no limit.
    pub num_digits: Option<u32>,
    /// Request the action even when no key was pressed.
    pub action_on_empty_result: bool,
    /// The nested verbs, played in order until a key is pressed.
    pub prompts: Vec<Prompt>,
}

/// A verb nested in `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Say(Say),
    Play(Play),
    Pause(Pause),
}

/// `timeout` when absent or invalid, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u32 = 5;

/// `finishOnKey` when absent or invalid.
pub const DEFAULT_FINISH_ON_KEY: char = '#';

/// The keys `finishOnKey` may name.
const KEYS: &str = "0123456789#*";

impl Gather {
    pub(crate) fn parse(el: &Element, cx: &mut Context<'_>) -> Result<Self, ParseError> {
        const NAME: &str = "Gather";
        let mut prompts = Vec::with_capacity(el.children.len());
        for child in &el.children {
            let prompt = match child.name.as_str() {
                "Say" => Say::parse(child, cx)?.map(Prompt::Say),
                "Play" => Some(Prompt::Play(Play::parse(child, cx)?)),
                "Pause" => Some(Prompt::Pause(Pause::parse(child, cx)?)),
                other => {
                    return Err(ParseError::UnexpectedElement {
                        parent: NAME,
                        child: clip(other),
                    });
                }
            };
            prompts.extend(prompt);
        }
        if !el.trimmed_text().is_empty() {
            cx.warnings.push(Warning::IgnoredText(NAME));
        }
        let action = match el.attr("action").map(str::trim) {
            None | Some("") => None,
            Some(reference) => Some(cx.url(NAME, "action", reference)?),
        };
        let method = cx.method(el, NAME, "method");
        let timeout = cx.seconds(el, NAME, "timeout", DEFAULT_TIMEOUT_SECS);
        let finish_on_key = finish_on_key(el, cx);
        let num_digits = el
            .attr("numDigits")
            .and_then(|value| match value.trim().parse::<u32>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    cx.invalid(NAME, "numDigits", value, "no limit");
                    None
                }
            });
        let action_on_empty_result = cx.flag(el, NAME, "actionOnEmptyResult", false);
        input(el, cx);
        Ok(Self {
            action,
            method,
            timeout,
            finish_on_key,
            num_digits,
            action_on_empty_result,
            prompts,
        })
    }
}

fn finish_on_key(el: &Element, cx: &mut Context<'_>) -> Option<char> {
    let Some(value) = el.attr("finishOnKey") else {
        return Some(DEFAULT_FINISH_ON_KEY);
    };
    let mut chars = value.trim().chars();
    match (chars.next(), chars.next()) {
        (None, _) => None,
        (Some(key), None) if KEYS.contains(key) => Some(key),
        _ => {
            cx.invalid("Gather", "finishOnKey", value, DEFAULT_FINISH_ON_KEY);
            Some(DEFAULT_FINISH_ON_KEY)
        }
    }
}

/// `input`: `dtmf`, `speech` or both, separated by spaces. Only keys are
/// gathered; asking for speech warns.
fn input(el: &Element, cx: &mut Context<'_>) {
    let Some(value) = el.attr("input") else {
        return;
    };
    let mut known = true;
    let mut speech = false;
    for word in value.split_whitespace() {
        if word.eq_ignore_ascii_case("speech") {
            speech = true;
        } else if !word.eq_ignore_ascii_case("dtmf") {
            known = false;
        }
    }
    if !known || value.trim().is_empty() {
        cx.invalid("Gather", "input", value, "dtmf");
    } else if speech {
        cx.warnings.push(Warning::NotSupported {
            element: "Gather",
            attribute: "input",
            value: clip(value),
            used: "dtmf".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verb;
    use media::Repeat;

    const BASE: &str = "http://h.example/ivr/pin.php?step=1";

    fn gather(xml: &str) -> Result<(Gather, Vec<Warning>), ParseError> {
        crate::parse_one(BASE, xml, |v| match v {
            Verb::Gather(g) => Some(g),
            _ => None,
        })
    }

    #[test]
    fn defaults_are_todays() {
        let (g, w) = gather("<Gather/>").unwrap();
        assert_eq!(g.action, None);
        assert_eq!(g.method, HttpMethod::Post);
        assert_eq!(g.timeout, Duration::from_secs(5));
        assert_eq!(g.finish_on_key, Some('#'));
        assert_eq!(g.num_digits, None);
        assert!(!g.action_on_empty_result);
        assert_eq!(g.prompts, []);
        assert_eq!(w, []);
        let (g, _) = gather("<Gather action=\"  \"></Gather>").unwrap();
        assert_eq!(g.action, None);
    }

    #[test]
    fn attributes() {
        let (g, w) = gather(
            "<Gather action=\"/pin\" method=\"get\" timeout=\"12\" finishOnKey=\"*\" \
             numDigits=\"4\" actionOnEmptyResult=\"true\" input=\"dtmf\" hints=\"x\" \
             language=\"fr-FR\"/>",
        )
        .unwrap();
        assert_eq!(g.action.unwrap().as_str(), "http://h.example/pin");
        assert_eq!(g.method, HttpMethod::Get);
        assert_eq!(g.timeout, Duration::from_secs(12));
        assert_eq!(g.finish_on_key, Some('*'));
        assert_eq!(g.num_digits, Some(4));
        assert!(g.action_on_empty_result);
        assert_eq!(w, []);
        let (g, w) = gather("<Gather finishOnKey=\"\"/>").unwrap();
        assert_eq!(g.finish_on_key, None);
        assert_eq!(w, []);
        let (g, _) = gather("<Gather finishOnKey=\"7\"/>").unwrap();
        assert_eq!(g.finish_on_key, Some('7'));
    }

    #[test]
    fn bad_values_warn_and_use_defaults() {
        let (g, w) = gather(
            "<Gather finishOnKey=\"##\" numDigits=\"0\" timeout=\"-1\" method=\"PUT\" \
             actionOnEmptyResult=\"maybe\" input=\"keys\"/>",
        )
        .unwrap();
        assert_eq!(g.finish_on_key, Some('#'));
        assert_eq!(g.num_digits, None);
        assert_eq!(g.timeout, Duration::from_secs(5));
        assert_eq!(g.method, HttpMethod::Post);
        assert!(!g.action_on_empty_result);
        let mut attributes: Vec<&str> = w
            .iter()
            .map(|w| match w {
                Warning::InvalidValue { attribute, .. } => *attribute,
                other => panic!("{other:?}"),
            })
            .collect();
        attributes.sort_unstable();
        assert_eq!(
            attributes,
            [
                "actionOnEmptyResult",
                "finishOnKey",
                "input",
                "method",
                "numDigits",
                "timeout"
            ]
        );
        for key in ["A", "x", "1#"] {
            let (g, w) = gather(&format!("<Gather finishOnKey=\"{key}\"/>")).unwrap();
            assert_eq!((g.finish_on_key, w.len()), (Some('#'), 1), "{key}");
        }
    }

    #[test]
    fn speech_is_tolerated_as_dtmf() {
        for input in ["speech", "dtmf speech", "SPEECH dtmf"] {
            let (_, w) = gather(&format!("<Gather input=\"{input}\"/>")).unwrap();
            assert!(
                matches!(
                    &w[..],
                    [Warning::NotSupported {
                        element: "Gather",
                        attribute: "input",
                        ..
                    }]
                ),
                "{input}: {w:?}"
            );
        }
    }

    #[test]
    fn nested_prompts_in_order() {
        let (g, w) = gather(
            "<Gather numDigits=\"4\">\n  <Say loop=\"2\">Enter your PIN</Say>\n  <Pause length=\"2\"/>\n  \
             <Play>beep.wav</Play><Say> </Say></Gather>",
        )
        .unwrap();
        let [Prompt::Say(say), Prompt::Pause(pause), Prompt::Play(play)] = &g.prompts[..] else {
            panic!("{:?}", g.prompts)
        };
        assert_eq!(say.text, "Enter your PIN");
        assert_eq!(say.repeat, Repeat::Times(2));
        assert_eq!(pause.length, Duration::from_secs(2));
        assert_eq!(play.url.as_str(), "http://h.example/ivr/beep.wav");
        assert_eq!(w, [Warning::EmptySay]);
    }

    #[test]
    fn bad_content() {
        for child in [
            "<Dial><Conference>r</Conference></Dial>",
            "<Gather/>",
            "<Redirect>x</Redirect>",
            "<Hangup/>",
        ] {
            assert!(
                matches!(
                    gather(&format!("<Gather>{child}</Gather>")),
                    Err(ParseError::UnexpectedElement {
                        parent: "Gather",
                        ..
                    })
                ),
                "{child}"
            );
        }
        let (_, w) = gather("<Gather>press a key</Gather>").unwrap();
        assert_eq!(w, [Warning::IgnoredText("Gather")]);
        assert!(matches!(
            gather("<Gather action=\"ftp://x/\"/>"),
            Err(ParseError::BadUrl {
                element: "Gather",
                what: "action",
                ..
            })
        ));
        assert!(matches!(
            gather("<Gather><Play>file:///etc/passwd</Play></Gather>"),
            Err(ParseError::BadUrl {
                element: "Play",
                ..
            })
        ));
    }
}
