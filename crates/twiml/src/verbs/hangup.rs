//! `<Hangup>`: end the call. No attributes; text inside is ignored with a
//! warning; a child element is an error. The verb itself is
//! [`Verb::Hangup`](crate::Verb::Hangup), a unit variant.

use crate::element::{Context, Element, ParseError, Warning};

pub(crate) fn parse(el: &Element, cx: &mut Context<'_>) -> Result<(), ParseError> {
    const NAME: &str = "Hangup";
    el.no_children(NAME)?;
    if !el.trimmed_text().is_empty() {
        cx.warnings.push(Warning::IgnoredText(NAME));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Document, ParseError, Verb, Warning};

    fn parse(xml: &str) -> Result<Document, ParseError> {
        let base = url::Url::parse("http://h.example/").unwrap();
        Document::parse(format!("<Response>{xml}</Response>").as_bytes(), &base)
    }

    #[test]
    fn hangup_forms() {
        for xml in [
            "<Hangup/>",
            "<Hangup></Hangup>",
            "<Hangup reason=\"x\"> </Hangup>",
        ] {
            let doc = parse(xml).unwrap();
            assert_eq!(doc.verbs, [Verb::Hangup], "{xml}");
            assert_eq!(doc.warnings, [], "{xml}");
        }
        let doc = parse("<Hangup>now</Hangup>").unwrap();
        assert_eq!(doc.verbs, [Verb::Hangup]);
        assert_eq!(doc.warnings, [Warning::IgnoredText("Hangup")]);
        assert!(matches!(
            parse("<Hangup><Say>x</Say></Hangup>"),
            Err(ParseError::UnexpectedElement {
                parent: "Hangup",
                ..
            })
        ));
    }
}
