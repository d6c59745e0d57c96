//! `<Play>`: play an audio file (WAV or MP3) whose URL is the element's text.
//!
//! Attributes: `loop` (default 1, 0 = until the call ends). The URL may be
//! relative to the document; it must resolve to http(s), and an empty one is
//! an error (there is nothing sensible to play instead).

use crate::HttpUrl;
use crate::element::{Context, Element, ParseError};
use media::Repeat;

/// A parsed `<Play>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    pub url: HttpUrl,
    pub repeat: Repeat,
}

impl Play {
    pub(crate) fn parse(el: &Element, cx: &mut Context<'_>) -> Result<Self, ParseError> {
        const NAME: &str = "Play";
        let text = el.required_text(NAME)?;
        let url = cx.url(NAME, "URL", text)?;
        let repeat = cx.repeat(el, NAME);
        Ok(Self { url, repeat })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Verb, Warning};

    fn play(xml: &str) -> Result<(Play, Vec<Warning>), ParseError> {
        crate::parse_one("http://h.example/app/voice.php", xml, |v| match v {
            Verb::Play(p) => Some(p),
            _ => None,
        })
    }

    #[test]
    fn absolute_and_relative_urls() {
        let (p, w) = play("<Play>http://cdn.example.com/a.mp3</Play>").unwrap();
        assert_eq!(p.url.as_str(), "http://cdn.example.com/a.mp3");
        assert_eq!(p.repeat, Repeat::Times(1));
        assert_eq!(w, []);
        let (p, _) = play("<Play>\n  audio/hello.wav\n</Play>").unwrap();
        assert_eq!(p.url.as_str(), "http://h.example/app/audio/hello.wav");
        let (p, _) = play("<Play>/x.wav?a=1&amp;b=2</Play>").unwrap();
        assert_eq!(p.url.as_str(), "http://h.example/x.wav?a=1&b=2");
    }

    #[test]
    fn loop_attribute() {
        let (p, _) = play("<Play loop=\"2\">a.wav</Play>").unwrap();
        assert_eq!(p.repeat, Repeat::Times(2));
        let (p, _) = play("<Play loop=\"0\">a.wav</Play>").unwrap();
        assert_eq!(p.repeat, Repeat::Forever);
        let (p, w) = play("<Play loop=\"1.5\">a.wav</Play>").unwrap();
        assert_eq!(p.repeat, Repeat::Times(1));
        assert!(matches!(
            &w[..],
            [Warning::InvalidValue {
                attribute: "loop",
                ..
            }]
        ));
    }

    #[test]
    fn bad_urls_are_errors() {
        assert_eq!(
            play("<Play/>").unwrap_err(),
            ParseError::MissingText("Play")
        );
        assert!(matches!(
            play("<Play>gopher://old.example/</Play>"),
            Err(ParseError::BadUrl {
                element: "Play",
                ..
            })
        ));
        assert!(matches!(
            play("<Play>http://[broken</Play>"),
            Err(ParseError::BadUrl {
                element: "Play",
                ..
            })
        ));
        assert!(matches!(
            play("<Play><Say>x</Say></Play>"),
            Err(ParseError::UnexpectedElement { parent: "Play", .. })
        ));
    }
}
