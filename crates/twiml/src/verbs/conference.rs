//! `<Conference>`: the room noun inside `<Dial>`.
//!
//! The room's name is the element's text, trimmed; empty is an error. The
//! six 2008 attributes (spec §9.1) and their defaults: `muted` false, `beep`
//! true, `startConferenceOnEnter` true, `endConferenceOnExit` false (booleans
//! in any case, or 1/0), `waitUrl` (absent → built-in hold music, `""` →
//! silence, else a URL relative to the document), `waitMethod` (GET or POST,
//! default POST). Bad values warn and use the default.
//!
//! The later `maxParticipants` is honoured too: 2 to 40 as given; above 40
//! it is clamped to 40 (the most a room ever held) with a warning; 0, 1 or
//! not a number warns and is ignored, leaving the server's capacity.
//! Unknown attributes (the 2008 doc's own `startConferenceOnJoin`, later
//! `record`, `trim`, ...) are ignored.

use conference::ParticipantOptions;
use model::HttpMethod;

use crate::HttpUrl;
use crate::element::{Context, Element, ParseError};

/// A parsed `<Conference>`: which room, how to be in it, what to hear while
/// it has not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    pub name: String,
    pub options: ParticipantOptions,
    pub wait: WaitAudio,
}

/// What a participant hears while the room waits to start (`waitUrl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitAudio {
    /// No `waitUrl`: the hold music shipped with confab.
    BuiltIn,
    /// `waitUrl=""`: nothing.
    Silence,
    /// A TwiML document (Play/Say/Pause/Redirect) or an audio file.
    Url { url: HttpUrl, method: HttpMethod },
}

/// The largest `maxParticipants` honoured.
pub const MAX_PARTICIPANTS: u32 = 40;

impl Conference {
    pub(crate) fn parse(el: &Element, cx: &mut Context<'_>) -> Result<Self, ParseError> {
        const NAME: &str = "Conference";
        let name = el.required_text(NAME)?;
        let defaults = ParticipantOptions::default();
        let options = ParticipantOptions {
            muted: cx.flag(el, NAME, "muted", defaults.muted),
            beep: cx.flag(el, NAME, "beep", defaults.beep),
            start_conference_on_enter: cx.flag(
                el,
                NAME,
                "startConferenceOnEnter",
                defaults.start_conference_on_enter,
            ),
            end_conference_on_exit: cx.flag(
                el,
                NAME,
                "endConferenceOnExit",
                defaults.end_conference_on_exit,
            ),
            max_participants: max_participants(el, cx),
        };
        let method = cx.method(el, NAME, "waitMethod");
        let wait = match el.attr("waitUrl") {
            None => WaitAudio::BuiltIn,
            Some(v) if v.trim().is_empty() => WaitAudio::Silence,
            Some(reference) => WaitAudio::Url {
                url: cx.url(NAME, "waitUrl", reference)?,
                method,
            },
        };
        Ok(Self {
            name: name.to_owned(),
            options,
            wait,
        })
    }
}

fn max_participants(el: &Element, cx: &mut Context<'_>) -> Option<u32> {
    const NAME: &str = "Conference";
    const ATTRIBUTE: &str = "maxParticipants";
    let value = el.attr(ATTRIBUTE)?;
    match value.trim().parse::<u64>() {
        Ok(n) if n > u64::from(MAX_PARTICIPANTS) => {
            cx.invalid(NAME, ATTRIBUTE, value, MAX_PARTICIPANTS);
            Some(MAX_PARTICIPANTS)
        }
        Ok(n) if n >= 2 => u32::try_from(n).ok(),
        _ => {
            cx.invalid(NAME, ATTRIBUTE, value, "the server's capacity");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Verb, Warning};

    fn conference(attrs: &str, name: &str) -> Result<(Conference, Vec<Warning>), ParseError> {
        let xml = format!("<Dial><Conference {attrs}>{name}</Conference></Dial>");
        crate::parse_one("http://h.example/conf/join.php", &xml, |v| match v {
            Verb::Dial(d) => Some(d.conference),
            _ => None,
        })
    }

    #[test]
    fn defaults_are_2008s() {
        let (c, w) = conference("", "standup").unwrap();
        assert_eq!(c.name, "standup");
        assert_eq!(c.options, ParticipantOptions::default());
        assert!(c.options.beep && c.options.start_conference_on_enter);
        assert!(!c.options.muted && !c.options.end_conference_on_exit);
        assert_eq!(c.wait, WaitAudio::BuiltIn);
        assert_eq!(w, []);
    }

    #[test]
    fn the_six_attributes() {
        let (c, w) = conference(
            "muted=\"true\" beep=\"FALSE\" startConferenceOnEnter=\"False\" \
             endConferenceOnExit=\"True\" waitUrl=\"music.xml\" waitMethod=\"GET\"",
            "\n      Customer Waiting Room\n    ",
        )
        .unwrap();
        assert_eq!(c.name, "Customer Waiting Room");
        assert_eq!(
            c.options,
            ParticipantOptions {
                muted: true,
                beep: false,
                start_conference_on_enter: false,
                end_conference_on_exit: true,
                max_participants: None,
            }
        );
        assert_eq!(
            c.wait,
            WaitAudio::Url {
                url: HttpUrl::parse("http://h.example/conf/music.xml").unwrap(),
                method: HttpMethod::Get,
            }
        );
        assert_eq!(w, []);
    }

    #[test]
    fn empty_wait_url_is_silence() {
        assert_eq!(
            conference("waitUrl=\"\"", "r").unwrap().0.wait,
            WaitAudio::Silence
        );
        assert_eq!(
            conference("waitUrl=\"  \"", "r").unwrap().0.wait,
            WaitAudio::Silence
        );
    }

    #[test]
    fn wait_method_defaults_to_post() {
        let (c, _) = conference("waitUrl=\"http://twimlets.com/holdmusic?Bucket=x\"", "r").unwrap();
        assert_eq!(
            c.wait,
            WaitAudio::Url {
                url: HttpUrl::parse("http://twimlets.com/holdmusic?Bucket=x").unwrap(),
                method: HttpMethod::Post,
            }
        );
    }

    #[test]
    fn max_participants_range() {
        let max = |v: &str| {
            let (c, w) = conference(&format!("maxParticipants=\"{v}\""), "r").unwrap();
            (c.options.max_participants, w.len())
        };
        assert_eq!(max("2"), (Some(2), 0));
        assert_eq!(max("40"), (Some(40), 0));
        assert_eq!(max("41"), (Some(40), 1));
        assert_eq!(max("250"), (Some(40), 1));
        assert_eq!(max("99999999999999999999999"), (None, 1));
        assert_eq!(max("1"), (None, 1));
        assert_eq!(max("0"), (None, 1));
        assert_eq!(max("-3"), (None, 1));
        assert_eq!(max("ten"), (None, 1));
    }

    #[test]
    fn unknown_attributes_are_ignored() {
        let (c, w) = conference("startConferenceOnJoin=\"false\" record=\"true\"", "r").unwrap();
        assert!(c.options.start_conference_on_enter);
        assert_eq!(w, []);
    }

    #[test]
    fn bad_booleans_warn_and_use_defaults() {
        let (c, w) = conference("muted=\"yes\" beep=\"onEnter\"", "r").unwrap();
        assert!(!c.options.muted);
        assert!(c.options.beep);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn errors() {
        assert_eq!(
            conference("", "  ").unwrap_err(),
            ParseError::MissingText("Conference")
        );
        assert!(matches!(
            conference("waitUrl=\"file:///music\"", "r"),
            Err(ParseError::BadUrl {
                element: "Conference",
                what: "waitUrl",
                ..
            })
        ));
        assert!(matches!(
            conference("", "a<Play>b</Play>"),
            Err(ParseError::UnexpectedElement {
                parent: "Conference",
                ..
            })
        ));
    }
}
