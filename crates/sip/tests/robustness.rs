//! Hostile input: whatever arrives, the engine answers or drops it, never
//! panics, and still takes a normal call afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::{Caller, Harness, RTP_PORT, offer};
use proptest::prelude::*;
use sip::{
    ConnId, Framed, Inbound, MAX_MESSAGE_LEN, Message, SipEvent, StreamFrame, Transport,
    frame_stream,
};

fn attacker() -> SocketAddr {
    "192.0.2.66:5099".parse().unwrap()
}

fn valid_invite() -> String {
    Caller::new("192.0.2.7:5070", "fuzz-seed").invite(&offer(6000, "0 8 101", None))
}

/// Feeds `bytes` over UDP and TCP (as a message, and as bytes that cannot
/// be framed if they cannot), checks what came out, then runs a
/// normal call on the same engine.
fn survive(bytes: &[u8]) {
    framed_parse_is_the_parse(bytes);
    let mut h = Harness::new();
    h.udp(attacker(), bytes);
    h.deliver(Transport::Tcp(ConnId(1)), attacker(), bytes);
    // What the shell does with bytes a stream cannot frame.
    if let Err(error) = frame_stream(bytes) {
        h.engine
            .handle_unframeable(Transport::Tcp(ConnId(2)), attacker(), bytes, error);
    }
    for sent in h.sent() {
        assert_eq!(sent.to, attacker(), "replies go to the source");
        assert!(sent.bytes.starts_with(b"SIP/2.0 "), "only responses");
        assert!(sent.bytes.len() <= MAX_MESSAGE_LEN);
    }
    // If it got through as a call, it can be answered.
    for event in h.events() {
        if let SipEvent::IncomingCall(call) = event {
            h.engine.answer(call.call, RTP_PORT, h.now).unwrap();
            assert!(!h.sent().is_empty());
        }
    }
    h.normal_call(&mut Caller::new("192.0.2.50:5070", "after-fuzz"));
    h.drain_timers();
    assert!(h.engine.is_idle(), "{:?}", h.engine);
}

/// A stream's message parsed while framing ([`Inbound::frame`]) is the
/// message [`Inbound::parse`] gives for the framed bytes, and the frame is
/// [`frame_stream`]'s.
fn framed_parse_is_the_parse(bytes: &[u8]) {
    let framed = Inbound::frame(bytes);
    match (frame_stream(bytes), framed) {
        (Ok(StreamFrame::Message { start, end }), Ok(Framed::Message { end: e, inbound })) => {
            assert_eq!(end, e);
            let alone = Inbound::parse(&bytes[start..end]);
            assert_eq!(format!("{inbound:?}"), format!("{alone:?}"));
        }
        (Ok(StreamFrame::KeepAlive { len, pong }), Ok(Framed::KeepAlive { len: l, pong: p })) => {
            assert_eq!((len, pong), (l, p));
        }
        (Ok(StreamFrame::Incomplete), Ok(Framed::Incomplete)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        (frame, framed) => panic!("{frame:?} but {framed:?}"),
    }
}

#[test]
fn a_1_mb_datagram_is_dropped() {
    let mut h = Harness::new();
    let mut big = valid_invite().into_bytes();
    big.resize(1 << 20, b'A');
    h.udp(attacker(), &big);
    h.udp(attacker(), vec![0u8; 1 << 20]);
    assert!(h.sent().is_empty());
    assert_eq!(h.engine.stats().dropped, 2);
    assert!(matches!(
        Message::parse(&big),
        Err(sip::SipParseError::TooLarge(_))
    ));
    h.normal_call(&mut Caller::new("192.0.2.50:5070", "after-big"));
}

#[test]
fn over_the_header_and_line_limits_is_dropped() {
    let invite = valid_invite();
    let many = invite.replacen("Max-Forwards", &"X-Pad: 1\r\n".repeat(300), 1);
    let long = invite.replacen(
        "Max-Forwards",
        &format!("X-Long: {}\r\nMax-Forwards", "a".repeat(9000)),
        1,
    );
    let folded = invite.replacen(
        "Max-Forwards",
        &format!(
            "X-Folded: a\r\n{}Max-Forwards",
            " bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n".repeat(200)
        ),
        1,
    );
    for (name, text) in [("many", &many), ("long", &long), ("folded", &folded)] {
        let mut h = Harness::new();
        h.udp(attacker(), text);
        assert!(h.sent().is_empty(), "{name}");
        assert_eq!(h.engine.stats().dropped, 1, "{name}");
        h.normal_call(&mut Caller::new("192.0.2.50:5070", "after-limits"));
    }
}

#[test]
fn keepalives_and_empty_datagrams_are_ignored() {
    let mut h = Harness::new();
    for bytes in [&b""[..], b"\r\n", b"\r\n\r\n", b"\n\n\n\n\n"] {
        h.udp(attacker(), bytes);
    }
    assert!(h.sent().is_empty());
    assert_eq!(h.engine.stats().keepalives, 4);
}

#[test]
fn stream_framing_finds_every_message_in_any_chunking() {
    let messages: Vec<String> = (0..5)
        .map(|i| {
            Caller::new("192.0.2.7:5070", &format!("stream-{i}")).invite(&offer(6000, "0", None))
        })
        .collect();
    let stream = format!("\r\n\r\n{}", messages.concat()).into_bytes();
    for chunk in [1, 7, 100, 1000, stream.len()] {
        let mut buf = Vec::new();
        let mut found = Vec::new();
        let mut pongs = 0;
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                framed_parse_is_the_parse(&buf);
                match frame_stream(&buf).unwrap() {
                    StreamFrame::Message { start, end } => {
                        found.push(String::from_utf8(buf[start..end].to_vec()).unwrap());
                        buf.drain(..end);
                    }
                    StreamFrame::KeepAlive { len, pong } => {
                        pongs += usize::from(pong);
                        buf.drain(..len);
                    }
                    StreamFrame::Incomplete => break,
                }
            }
        }
        assert_eq!(found, messages, "chunk {chunk}");
        assert_eq!(pongs, 1, "chunk {chunk}");
        assert!(buf.is_empty());
    }
}

/// One edit of a message.
#[derive(Debug, Clone)]
enum Edit {
    Overwrite(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// Inserts a character that means something to a SIP parser.
    Delimiter(usize, usize),
    /// Inserts one just after the k-th delimiter already there, where
    /// values, parameters and quoted strings begin.
    AtBoundary(usize, usize),
}

const DELIMITERS: &[&[u8]] = &[
    b":",
    b";",
    b",",
    b"<",
    b">",
    b"\"",
    b"\\",
    b" ",
    b"\t",
    b"\r\n",
    b"\r\n ",
    b"\n",
    b"\r",
    b"@",
    b"[",
    b"]",
    b"%",
    b"=",
    b"/",
    b"\0",
    b"\xff",
    b"\xc3",
    b"9999999999",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Overwrite(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 0..DELIMITERS.len()).prop_map(|(i, d)| Edit::Delimiter(i, d)),
        (any::<usize>(), 0..DELIMITERS.len()).prop_map(|(k, d)| Edit::AtBoundary(k, d)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len().max(1);
        match *edit {
            Edit::Overwrite(i, b) => {
                if let Some(slot) = bytes.get_mut(i % len) {
                    *slot = b;
                }
            }
            Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Edit::Delete(i) => {
                if !bytes.is_empty() {
                    bytes.remove(i % len);
                }
            }
            Edit::Truncate(i) => bytes.truncate(i % len),
            Edit::Delimiter(i, d) => {
                let at = i % (bytes.len() + 1);
                bytes.splice(at..at, DELIMITERS[d].iter().copied());
            }
            Edit::AtBoundary(k, d) => {
                let boundaries: Vec<usize> = (0..bytes.len())
                    .filter(|&i| b":;=<>, \n@/".contains(&bytes[i]))
                    .map(|i| i + 1)
                    .collect();
                if let Some(&at) = boundaries.get(k % boundaries.len().max(1)) {
                    bytes.splice(at..at, DELIMITERS[d].iter().copied());
                }
            }
        }
    }
    bytes
}

fn method_or_status() -> impl Strategy<Value = String> {
    prop_oneof![
        "(INVITE|OPTIONS|BYE|ACK|CANCEL|REGISTER|FOO)",
        "SIP/2.0 [0-9]{1,4}",
        "[ -~]{0,8}",
    ]
}

fn request_uri() -> impl Strategy<Value = String> {
    prop_oneof![3 => Just("sip:room1@192.0.2.1".to_owned()), 1 => sip_words()]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "(Via|v|From|f|To|t|Call-ID|i|CSeq|Contact|m|Content-Length|l|Content-Type|c|Max-Forwards|Accept|Require|Route|Record-Route)",
        1 => "[A-Za-z!%-]{0,8}",
    ]
}

/// A header value, start line part or body made of pieces that steer a
/// SIP parser into its branches.
fn sip_words() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "\"",
        "<",
        ">",
        ";",
        ",",
        "=",
        ":",
        " ",
        "\\",
        "%",
        "%4",
        "@",
        "[",
        "]",
        "/",
        "\r\n ",
        "sip:",
        "sips:",
        "tel:",
        "user",
        "host.example.com",
        "::1",
        "192.0.2.1",
        "5060",
        "99999999999",
        "-1",
        "tag",
        "branch",
        "z9hG4bK",
        "rport",
        "received",
        "SIP",
        "2.0",
        "UDP",
        "INVITE",
        "application/sdp",
        "v=0\r\n",
        "m=audio 1 RTP/AVP 0\r\n",
        "c=IN IP4 1.2.3.4\r\n",
        "a=sendonly\r\n",
        "\u{e9}",
        "\u{0}",
    ];
    proptest::collection::vec(proptest::sample::select(PIECES), 0..12)
        .prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn sip_looking_garbage_never_panics(
        start in (method_or_status(), request_uri()).prop_map(|(m, u)| format!("{m} {u} SIP/2.0")),
        lines in proptest::collection::vec((header_name(), sip_words()), 0..16),
        body in sip_words(),
    ) {
        let headers: String = lines.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
        survive(format!("{start}\r\n{headers}\r\n{body}").as_bytes());
    }

    #[test]
    fn mutated_invites_never_panic(edits in proptest::collection::vec(edit(), 1..6)) {
        survive(&apply(valid_invite().into_bytes(), &edits));
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
        survive(&bytes);
        let _ = frame_stream(&bytes);
    }

    #[test]
    fn framing_is_consistent(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        framed_parse_is_the_parse(&bytes);
        match frame_stream(&bytes) {
            Ok(StreamFrame::Message { start, end }) => {
                prop_assert!(start < end && end <= bytes.len());
                prop_assert_eq!(
                    frame_stream(&bytes[..end]),
                    Ok(StreamFrame::Message { start, end })
                );
            }
            Ok(StreamFrame::KeepAlive { len, .. }) => prop_assert!(len > 0 && len <= bytes.len()),
            Ok(StreamFrame::Incomplete) | Err(_) => {}
        }
    }
}
