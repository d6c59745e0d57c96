//! The `application/sdp` part of a `multipart/mixed` or
//! `multipart/alternative` body (RFC 5621, with RFC 2046's framing).
//!
//! Trunks put an ISUP part (`application/isup`) or a location object beside
//! the SDP; confab reads only the SDP. A MIME crate would parse far more
//! than this needs (encodings, nested trees, headers we ignore), so this is
//! a careful boundary splitter: parts are cut at delimiter lines
//! (`--boundary`, at the start of a line, before CRLF or `--`), each part's
//! headers are read up to its blank line, and a nested multipart is looked
//! into one level deep. Anything malformed is simply "no SDP part".

use crate::message::MediaType;
use crate::param::Param;
use crate::parse::parse_media_type;

/// How deep multiparts may nest (a `multipart/alternative` inside a
/// `multipart/mixed` is the deepest anyone sends).
const MAX_DEPTH: usize = 2;

/// Whether `content_type` is a multipart type this module reads.
pub(crate) fn is_multipart(content_type: &MediaType) -> bool {
    content_type.kind.eq_ignore_ascii_case("multipart")
}

/// The first `application/sdp` part of a multipart body, if it has one.
pub(crate) fn sdp_part<'a>(content_type: &MediaType, body: &'a [u8]) -> Option<&'a [u8]> {
    find_sdp(content_type, body, MAX_DEPTH)
}

fn find_sdp<'a>(content_type: &MediaType, body: &'a [u8], depth: usize) -> Option<&'a [u8]> {
    if depth == 0 || !is_multipart(content_type) {
        return None;
    }
    let boundary = Param::find(&content_type.params, "boundary")??;
    let boundary = boundary.trim_matches('"');
    if boundary.is_empty() || boundary.len() > 70 {
        return None;
    }
    parts(body, boundary.as_bytes())
        .into_iter()
        .find_map(|part| {
            let (headers, content) = split_part(part)?;
            let kind = part_content_type(headers)?;
            if kind.is("application", "sdp") {
                Some(content)
            } else {
                find_sdp(&kind, content, depth - 1)
            }
        })
}

/// The parts between the first delimiter and the close delimiter (or the
/// end), each without the line break that belongs to the next delimiter.
fn parts<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    let mut line_start = 0;
    while line_start <= body.len() {
        let rest = body.get(line_start..).unwrap_or_default();
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| line_start + i);
        let line = body.get(line_start..line_end).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(after) = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary))
        {
            let close = after.starts_with(b"--");
            // Transport padding (spaces, tabs) may follow a delimiter.
            let padding_only = after
                .get(if close { 2 } else { 0 }..)
                .unwrap_or_default()
                .iter()
                .all(|&b| b == b' ' || b == b'\t');
            if padding_only {
                if let Some(start) = open.take() {
                    // The CRLF before a delimiter is part of the delimiter.
                    let end = line_start.saturating_sub(1);
                    let end = if end > start && body.get(end - 1) == Some(&b'\r') {
                        end - 1
                    } else {
                        end
                    };
                    out.push(body.get(start..end.max(start)).unwrap_or_default());
                }
                if close {
                    return out;
                }
                open = Some((line_end + 1).min(body.len()));
            }
        }
        line_start = line_end + 1;
    }
    // No close delimiter: what was open runs to the end.
    if let Some(start) = open {
        out.push(body.get(start..).unwrap_or_default());
    }
    out
}

/// A part's header lines and its content, split at the first blank line.
/// A part with no headers starts with its blank line.
fn split_part(part: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut at = 0;
    loop {
        let rest = part.get(at..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = rest.get(..end)?;
        if line.is_empty() || line == b"\r" {
            return Some((part.get(..at)?, part.get(at + end + 1..)?));
        }
        at += end + 1;
    }
}

/// The part's Content-Type; RFC 2046 makes a part without one `text/plain`.
fn part_content_type(headers: &[u8]) -> Option<MediaType> {
    let text = std::str::from_utf8(headers).ok()?;
    let value = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("Content-Type")
            .then_some(value)
    });
    match value {
        Some(value) => parse_media_type(value.trim()).ok(),
        None => Some(MediaType::new("text", "plain")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixed(boundary: &str) -> MediaType {
        let mut t = MediaType::new("multipart", "mixed");
        t.params.push(Param::new("boundary", Some(boundary)));
        t
    }

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\n\
        t=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";

    #[test]
    fn the_sdp_part_of_a_trunks_sdp_and_isup_body() {
        let body = format!(
            "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n\
             --unique-boundary-1\r\nContent-Type: application/isup;version=itu-t92+\r\n\
             Content-Disposition: signal;handling=optional\r\n\r\n\x01\x00\x49\x00\x00\x03\r\n\
             --unique-boundary-1--\r\n"
        );
        let part = sdp_part(&mixed("unique-boundary-1"), body.as_bytes());
        assert_eq!(part, Some(SDP.as_bytes()));
    }

    #[test]
    fn a_quoted_boundary_a_preamble_and_the_sdp_second() {
        let body = format!(
            "This is a preamble.\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --b  \r\ncontent-type:APPLICATION/SDP\r\n\r\n{SDP}\r\n--b--"
        );
        let part = sdp_part(&mixed("\"b\""), body.as_bytes());
        assert_eq!(part, Some(SDP.as_bytes()));
    }

    #[test]
    fn a_nested_alternative_is_looked_into() {
        let body = format!(
            "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n\
             --inner\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--inner--\r\n\
             \r\n--outer--\r\n"
        );
        let part = sdp_part(&mixed("outer"), body.as_bytes());
        assert_eq!(part, Some(SDP.as_bytes()));
    }

    #[test]
    fn no_sdp_part_or_a_broken_body_is_none() {
        let no_sdp = "--b\r\nContent-Type: application/isup\r\n\r\nxx\r\n--b--\r\n";
        assert_eq!(sdp_part(&mixed("b"), no_sdp.as_bytes()), None);
        // A boundary that is only a prefix of a line is no delimiter.
        let prefix = format!("--bb\r\nContent-Type: application/sdp\r\n\r\n{SDP}--bb--");
        assert_eq!(sdp_part(&mixed("b"), prefix.as_bytes()), None);
        for junk in [
            "",
            "--b",
            "--b\r\n",
            "--b--",
            "\r\n\r\n",
            "--b\r\nContent-Type",
        ] {
            assert_eq!(sdp_part(&mixed("b"), junk.as_bytes()), None, "{junk:?}");
        }
        assert_eq!(
            sdp_part(&MediaType::new("multipart", "mixed"), b"--\r\n"),
            None
        );
        assert_eq!(sdp_part(&mixed(""), b"--\r\n"), None);
    }

    #[test]
    fn an_sdp_part_without_its_close_delimiter_runs_to_the_end() {
        let body = format!("--b\nContent-Type: application/sdp\n\n{SDP}");
        assert_eq!(sdp_part(&mixed("b"), body.as_bytes()), Some(SDP.as_bytes()));
    }
}
