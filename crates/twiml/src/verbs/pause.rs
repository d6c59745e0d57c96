//! `<Pause>`: silence for `length` seconds (whole seconds, at least 1,
//! default 1; anything else warns and pauses 1 s). Text inside is ignored
//! with a warning; a child element is an error.

use std::time::Duration;

use crate::element::{Context, Element, ParseError, Warning};

/// A parsed `<Pause>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub length: Duration,
}

/// `length` when absent or invalid, in seconds.
pub const DEFAULT_LENGTH_SECS: u32 = 1;

impl Pause {
    pub(crate) fn parse(el: &Element, cx: &mut Context<'_>) -> Result<Self, ParseError> {
        const NAME: &str = "Pause";
        el.no_children(NAME)?;
        if !el.trimmed_text().is_empty() {
            cx.warnings.push(Warning::IgnoredText(NAME));
        }
        let length = cx.seconds(el, NAME, "length", DEFAULT_LENGTH_SECS);
        Ok(Self { length })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verb;

    fn pause(xml: &str) -> Result<(Pause, Vec<Warning>), ParseError> {
        crate::parse_one("http://h.example/", xml, |v| match v {
            Verb::Pause(p) => Some(p),
            _ => None,
        })
    }

    #[test]
    fn length_default_and_given() {
        assert_eq!(
            pause("<Pause/>").unwrap(),
            (
                Pause {
                    length: Duration::from_secs(1)
                },
                vec![]
            )
        );
        assert_eq!(
            pause("<Pause length=\"7\"/>").unwrap(),
            (
                Pause {
                    length: Duration::from_secs(7)
                },
                vec![]
            )
        );
        assert_eq!(
            pause("<Pause length=\" 3 \"></Pause>").unwrap().0.length,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn bad_lengths_warn_and_pause_one_second() {
        for value in ["0", "-2", "1.5", "soon", "", "4294967296"] {
            let (p, w) = pause(&format!("<Pause length=\"{value}\"/>")).unwrap();
            assert_eq!(p.length, Duration::from_secs(1), "{value}");
            assert!(
                matches!(
                    &w[..],
                    [Warning::InvalidValue {
                        element: "Pause",
                        attribute: "length",
                        ..
                    }]
                ),
                "{value}: {w:?}"
            );
        }
    }

    #[test]
    fn text_is_ignored_and_children_are_errors() {
        let (p, w) = pause("<Pause>5</Pause>").unwrap();
        assert_eq!(p.length, Duration::from_secs(1));
        assert_eq!(w, [Warning::IgnoredText("Pause")]);
        assert!(matches!(
            pause("<Pause><Hangup/></Pause>"),
            Err(ParseError::UnexpectedElement {
                parent: "Pause",
                ..
            })
        ));
    }
}
