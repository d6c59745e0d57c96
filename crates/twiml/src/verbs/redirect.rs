//! `<Redirect>`: fetch another document and run it instead of the rest of
//! this one. The URL is the element's text (relative to this document);
//! `method` is GET or POST, default POST.

use model::HttpMethod;

use crate::HttpUrl;
use crate::element::{Context, Element, ParseError};

/// A parsed `<Redirect>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub url: HttpUrl,
    pub method: HttpMethod,
}

impl Redirect {
    pub(crate) fn parse(el: &Element, cx: &mut Context<'_>) -> Result<Self, ParseError> {
        const NAME: &str = "Redirect";
        let text = el.required_text(NAME)?;
        let url = cx.url(NAME, "URL", text)?;
        let method = cx.method(el, NAME, "method");
        Ok(Self { url, method })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Verb, Warning};

    fn redirect(xml: &str) -> Result<(Redirect, Vec<Warning>), ParseError> {
        crate::parse_one("https://h.example/ivr/start?step=1", xml, |v| match v {
            Verb::Redirect(r) => Some(r),
            _ => None,
        })
    }

    #[test]
    fn url_and_method() {
        let (r, w) = redirect("<Redirect>next</Redirect>").unwrap();
        assert_eq!(r.url.as_str(), "https://h.example/ivr/next");
        assert_eq!(r.method, HttpMethod::Post);
        assert_eq!(w, []);
        let (r, _) = redirect("<Redirect method=\"get\">?step=2</Redirect>").unwrap();
        assert_eq!(r.url.as_str(), "https://h.example/ivr/start?step=2");
        assert_eq!(r.method, HttpMethod::Get);
    }

    #[test]
    fn a_bad_method_warns_and_posts() {
        let (r, w) = redirect("<Redirect method=\"PUT\">x</Redirect>").unwrap();
        assert_eq!(r.method, HttpMethod::Post);
        assert!(matches!(
            &w[..],
            [Warning::InvalidValue {
                attribute: "method",
                ..
            }]
        ));
    }

    #[test]
    fn missing_or_bad_urls_are_errors() {
        assert_eq!(
            redirect("<Redirect> </Redirect>").unwrap_err(),
            ParseError::MissingText("Redirect")
        );
        assert!(matches!(
            redirect("<Redirect>mailto:a@b.example</Redirect>"),
            Err(ParseError::BadUrl {
                element: "Redirect",
                ..
            })
        ));
    }
}
