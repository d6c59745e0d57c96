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
//!
//! Today's attributes:
//! - `beep` also takes `onEnter` and `onExit` (any case): a beep when this
//!   participant joins only, or leaves only;
//! - `participantLabel`: the participant's label (trimmed; empty is none);
//! - `coach`: the `CA` sid of the participant this one coaches; one that is
//!   not a call sid warns and is ignored;
//! - `statusCallback` (a URL relative to the document), with
//!   `statusCallbackMethod` (GET or POST, default POST) and
//!   `statusCallbackEvent`: Twilio's event names (`start end join leave
//!   mute hold modify speaker announcement`) separated by spaces or commas;
//!   an unknown name warns and is left out. Without `statusCallback` the
//!   other two do nothing. The events are kept as given (none named: an
//!   empty list; what that means is the callbacks' to decide);
//! - `jitterBufferSize` is accepted and has no effect.
//!
//! Unknown attributes (the 2008 doc's own `startConferenceOnJoin`, later
//! `record`, `trim`, `recordingStatusCallback`, `region`, ...) are ignored.

use conference::ParticipantOptions;
use model::{CallSid, HttpMethod, StatusCallback};

use crate::HttpUrl;
use crate::element::{Context, Element, ParseError};

/// A parsed `<Conference>`: which room, how to be in it, what to hear while
/// it has not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    pub name: String,
    pub options: ParticipantOptions,
    pub wait: WaitAudio,
    /// `participantLabel`.
    pub label: Option<String>,
    /// `coach`: the call this participant coaches.
    pub coach: Option<CallSid>,
    /// `statusCallback`, `statusCallbackMethod`, `statusCallbackEvent`.
    pub status_callback: Option<StatusCallback>,
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
        let (beep, beep_on_exit) = beep(el, cx);
        let options = ParticipantOptions {
            muted: cx.flag(el, NAME, "muted", defaults.muted),
            beep,
            beep_on_exit,
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
        let label = el
            .attr("participantLabel")
            .map(str::trim)
            .filter(|label| !label.is_empty())
            .map(str::to_owned);
        let coach = el.attr("coach").and_then(|value| {
            CallSid::parse(value.trim())
                .inspect_err(|_| cx.invalid(NAME, "coach", value, "no coaching"))
                .ok()
        });
        let status_callback = status_callback(el, cx)?;
        Ok(Self {
            name: name.to_owned(),
            options,
            wait,
            label,
            coach,
            status_callback,
        })
    }
}

/// `beep`: (on joining, on leaving).
fn beep(el: &Element, cx: &mut Context<'_>) -> (bool, bool) {
    let Some(value) = el.attr("beep") else {
        return (true, true);
    };
    let v = value.trim();
    if v.eq_ignore_ascii_case("onEnter") {
        (true, false)
    } else if v.eq_ignore_ascii_case("onExit") {
        (false, true)
    } else {
        let both = cx.flag(el, "Conference", "beep", true);
        (both, both)
    }
}

/// `statusCallback` and its method and events.
fn status_callback(
    el: &Element,
    cx: &mut Context<'_>,
) -> Result<Option<StatusCallback>, ParseError> {
    const NAME: &str = "Conference";
    let Some(reference) = el.attr("statusCallback").map(str::trim) else {
        return Ok(None);
    };
    if reference.is_empty() {
        return Ok(None);
    }
    let url = cx.url(NAME, "statusCallback", reference)?;
    let method = cx.method(el, NAME, "statusCallbackMethod");
    let mut events = Vec::new();
    let given = el.attr("statusCallbackEvent").unwrap_or_default();
    for name in given
        .split([' ', ',', '\t', '\n'])
        .filter(|n| !n.is_empty())
    {
        match model::CONFERENCE_CALLBACK_EVENTS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(name))
        {
            Some(known) if !events.iter().any(|e| e == known) => events.push((*known).to_owned()),
            Some(_) => {}
            None => cx.invalid(NAME, "statusCallbackEvent", name, "the others"),
        }
    }
    Ok(Some(StatusCallback {
        url: url.into_url().into(),
        method,
        events,
    }))
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
                beep_on_exit: false,
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
        let (c, w) = conference("muted=\"yes\" beep=\"loud\"", "r").unwrap();
        assert!(!c.options.muted);
        assert!(c.options.beep && c.options.beep_on_exit);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn beep_values_of_today() {
        let beep = |v: &str| {
            let (c, w) = conference(&format!("beep=\"{v}\""), "r").unwrap();
            assert_eq!(w, [], "{v}");
            (c.options.beep, c.options.beep_on_exit)
        };
        assert_eq!(beep("true"), (true, true));
        assert_eq!(beep("false"), (false, false));
        assert_eq!(beep("onEnter"), (true, false));
        assert_eq!(beep("onexit"), (false, true));
        assert_eq!(beep(" OnExit "), (false, true));
    }

    #[test]
    fn label_coach_and_jitter_buffer() {
        let (c, w) = conference(
            "participantLabel=\" agent 1 \" coach=\"CA42ed11f93dc08b952027ffbc406d0868\" \
             jitterBufferSize=\"large\" record=\"record-from-start\" trim=\"do-not-trim\"",
            "r",
        )
        .unwrap();
        assert_eq!(c.label.as_deref(), Some("agent 1"));
        assert_eq!(
            c.coach.as_ref().map(CallSid::as_str),
            Some("CA42ed11f93dc08b952027ffbc406d0868")
        );
        assert_eq!(c.status_callback, None);
        assert_eq!(w, []);
        let (c, w) = conference("participantLabel=\"\" coach=\"PA123\"", "r").unwrap();
        assert_eq!((c.label, c.coach), (None, None));
        assert!(matches!(
            &w[..],
            [Warning::InvalidValue {
                attribute: "coach",
                ..
            }]
        ));
    }

    #[test]
    fn status_callback_and_its_events() {
        let (c, w) = conference(
            "statusCallback=\"/events\" statusCallbackMethod=\"GET\" \
             statusCallbackEvent=\"start end,join  leave, MUTE hold speaker announcement modify join\"",
            "r",
        )
        .unwrap();
        assert_eq!(
            c.status_callback,
            Some(StatusCallback {
                url: "http://h.example/events".into(),
                method: HttpMethod::Get,
                events: [
                    "start",
                    "end",
                    "join",
                    "leave",
                    "mute",
                    "hold",
                    "speaker",
                    "announcement",
                    "modify"
                ]
                .map(String::from)
                .to_vec(),
            })
        );
        assert_eq!(w, []);
        let (c, w) = conference(
            "statusCallback=\"https://cb.example/c\" statusCallbackEvent=\"start bogus ringing\"",
            "r",
        )
        .unwrap();
        let cb = c.status_callback.unwrap();
        assert_eq!(cb.method, HttpMethod::Post);
        assert_eq!(cb.events, ["start"]);
        assert_eq!(w.len(), 2, "{w:?}");
        let (c, _) = conference("statusCallback=\"/e\"", "r").unwrap();
        assert_eq!(c.status_callback.unwrap().events, Vec::<String>::new());
        let (c, _) = conference("statusCallbackEvent=\"start\"", "r").unwrap();
        assert_eq!(c.status_callback, None);
        assert!(matches!(
            conference("statusCallback=\"mailto:x@y.example\"", "r"),
            Err(ParseError::BadUrl {
                what: "statusCallback",
                ..
            })
        ));
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
