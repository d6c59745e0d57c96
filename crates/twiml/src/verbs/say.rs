//! `<Say>`: speak text (confab uses espeak-ng).
//!
//! Attributes: `voice` (`man` default, `woman`, and the later `alice`, any
//! case), `language` (kept as given, default `en`), `loop` (default 1, 0 =
//! until the call ends). The text has its whitespace runs collapsed to single
//! spaces: documents indent it across lines. A `<Say>` with no text is
//! skipped with a warning rather than failing the call.

use crate::element::{Context, Element, ParseError, Warning};
use media::Repeat;

/// A parsed `<Say>`; `text` is never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Say {
    pub text: String,
    pub voice: Voice,
    pub language: String,
    pub repeat: Repeat,
}

/// `<Say voice>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Voice {
    #[default]
    Man,
    Woman,
    Alice,
}

impl Voice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Man => "man",
            Self::Woman => "woman",
            Self::Alice => "alice",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Man, Self::Woman, Self::Alice]
            .into_iter()
            .find(|v| s.trim().eq_ignore_ascii_case(v.as_str()))
    }
}

/// The language when none is given.
pub const DEFAULT_LANGUAGE: &str = "en";

impl Say {
    pub(crate) fn parse(el: &Element, cx: &mut Context<'_>) -> Result<Option<Self>, ParseError> {
        const NAME: &str = "Say";
        el.no_children(NAME)?;
        let voice = match el.attr("voice") {
            None => Voice::default(),
            Some(value) => Voice::parse(value).unwrap_or_else(|| {
                cx.invalid(NAME, "voice", value, Voice::default().as_str());
                Voice::default()
            }),
        };
        let language = match el.attr("language").map(str::trim) {
            None | Some("") => DEFAULT_LANGUAGE.to_owned(),
            Some(given) => given.to_owned(),
        };
        let repeat = cx.repeat(el, NAME);
        let text = el.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            cx.warnings.push(Warning::EmptySay);
            return Ok(None);
        }
        Ok(Some(Self {
            text,
            voice,
            language,
            repeat,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Document, Verb};

    fn say(xml: &str) -> (Option<Say>, Vec<Warning>) {
        let base = url::Url::parse("http://h.example/").unwrap();
        let doc = Document::parse(format!("<Response>{xml}</Response>").as_bytes(), &base).unwrap();
        let say = doc.verbs.into_iter().next().map(|v| match v {
            Verb::Say(s) => s,
            other => panic!("{other:?}"),
        });
        (say, doc.warnings)
    }

    #[test]
    fn defaults() {
        let (s, w) = say("<Say>Hello</Say>");
        assert_eq!(
            s,
            Some(Say {
                text: "Hello".into(),
                voice: Voice::Man,
                language: "en".into(),
                repeat: Repeat::Times(1),
            })
        );
        assert_eq!(w, []);
    }

    #[test]
    fn attributes() {
        let (s, w) = say("<Say voice=\"WOMAN\" language=\"fr\" loop=\"3\">Bonjour</Say>");
        let s = s.unwrap();
        assert_eq!(s.voice, Voice::Woman);
        assert_eq!(s.language, "fr");
        assert_eq!(s.repeat, Repeat::Times(3));
        assert_eq!(w, []);
        assert_eq!(
            say("<Say voice=\"alice\">x</Say>").0.unwrap().voice,
            Voice::Alice
        );
        assert_eq!(
            say("<Say loop=\"0\">x</Say>").0.unwrap().repeat,
            Repeat::Forever
        );
        // Kept as given, not checked against a list.
        assert_eq!(
            say("<Say language=\"en-gb\">x</Say>").0.unwrap().language,
            "en-gb"
        );
    }

    #[test]
    fn whitespace_is_collapsed() {
        let (s, _) = say("<Say>\n    Welcome to\n\t the   conference.\n  </Say>");
        assert_eq!(s.unwrap().text, "Welcome to the conference.");
    }

    #[test]
    fn bad_values_warn_and_use_defaults() {
        for (xml, attribute) in [
            ("<Say voice=\"robot\">x</Say>", "voice"),
            ("<Say loop=\"-1\">x</Say>", "loop"),
            ("<Say loop=\"two\">x</Say>", "loop"),
            ("<Say loop=\"99999999999\">x</Say>", "loop"),
            ("<Say loop=\"\">x</Say>", "loop"),
        ] {
            let (s, w) = say(xml);
            let s = s.unwrap();
            assert_eq!((s.voice, s.repeat), (Voice::Man, Repeat::Times(1)), "{xml}");
            assert!(
                matches!(&w[..], [Warning::InvalidValue { element: "Say", attribute: a, .. }] if *a == attribute),
                "{xml}: {w:?}"
            );
        }
    }

    #[test]
    fn empty_say_is_skipped_with_a_warning() {
        for xml in ["<Say/>", "<Say>   </Say>", "<Say><!-- nothing --></Say>"] {
            assert_eq!(say(xml), (None, vec![Warning::EmptySay]), "{xml}");
        }
    }

    #[test]
    fn unknown_attributes_are_ignored() {
        let (s, w) = say("<Say rate=\"fast\" Voice=\"woman\">x</Say>");
        assert_eq!(s.unwrap().voice, Voice::Man);
        assert_eq!(w, []);
    }
}
