//! The RFC 4475 and RFC 5118 torture messages (testdata/torture, byte for
//! byte as in the RFCs' archives; see INDEX.md there) as a table: each is
//! fed to a fresh engine over UDP, which must never panic, must answer
//! exactly as the table says (or send nothing), and must then still take a
//! normal call and, once its timers run out, hold nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{Caller, Harness, RTP_PORT, describe, response, status_line};
use sip::SipEvent;

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Answered with exactly one response with this status.
    Status(u16),
    /// Taken as a call: 100 Trying and an IncomingCall for these users;
    /// answering it sends a 200 with our SDP.
    Call {
        request_uri_user: &'static str,
        from_user: &'static str,
    },
    /// A response that matches none of our transactions: dropped.
    Stray,
    /// Unparseable, and not a request we could answer: dropped.
    Dropped,
}

use Expect::{Call, Dropped, Status, Stray};

/// Every file, what it must get, and why.
const TABLE: &[(&str, Expect, &str)] = &[
    // RFC 4475 §3.1.1: valid messages.
    (
        "wsinv.dat",
        Status(481),
        "INVITE whose To has a tag, for a dialog we do not have",
    ),
    (
        "intmeth.dat",
        Status(501),
        "unknown method, parsed with its odd bytes",
    ),
    (
        "esc01.dat",
        Call {
            request_uri_user: "sips:user@example.com",
            from_user: "I have spaces",
        },
        "escapes decoded in user parts",
    ),
    (
        "escnull.dat",
        Status(405),
        "REGISTER parses (%00 kept); we are not a registrar",
    ),
    (
        "esc02.dat",
        Status(501),
        "RE%47IST%45R is an unknown method",
    ),
    (
        "lwsdisp.dat",
        Status(200),
        "OPTIONS; no LWS before < is fine",
    ),
    (
        "longreq.dat",
        Call {
            request_uri_user: "user",
            from_user: "amazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallername",
        },
        "long values, 34 Via values, no branch (RFC 2543 matching)",
    ),
    (
        "dblreq.dat",
        Status(405),
        "the REGISTER is handled; the trailing INVITE is ignored",
    ),
    (
        "semiuri.dat",
        Status(200),
        "OPTIONS; user part `user;par=u@example.net`",
    ),
    (
        "transports.dat",
        Status(200),
        "OPTIONS; unknown transports in lower Vias",
    ),
    (
        "mpart01.dat",
        Status(405),
        "MESSAGE parses, binary body framed by Content-Length",
    ),
    (
        "unreason.dat",
        Stray,
        "a 200 with a UTF-8 reason phrase parses",
    ),
    (
        "noreason.dat",
        Stray,
        "a 100 with an empty reason phrase parses",
    ),
    // RFC 4475 §3.1.2: invalid messages.
    (
        "badinv01.dat",
        Status(400),
        "empty Via and Contact list elements",
    ),
    ("clerr.dat", Status(400), "Content-Length 9999 over UDP"),
    ("ncl.dat", Status(400), "negative Content-Length"),
    ("scalar02.dat", Status(400), "CSeq over 2^32-1"),
    ("scalarlg.dat", Dropped, "a response with CSeq over 2^32-1"),
    (
        "quotbal.dat",
        Status(400),
        "unterminated quoted display name",
    ),
    ("ltgtruri.dat", Status(400), "<> around the Request-URI"),
    ("lwsruri.dat", Status(400), "LWS inside the Request-URI"),
    (
        "lwsstart.dat",
        Status(400),
        "two SP between request-line elements",
    ),
    ("trws.dat", Status(400), "trailing SP on the request line"),
    ("escruri.dat", Status(400), "headers in the Request-URI"),
    (
        "baddate.dat",
        Call {
            request_uri_user: "user",
            from_user: "caller",
        },
        "Date is not read, so its time zone does not matter",
    ),
    (
        "regbadct.dat",
        Status(400),
        "Contact addr-spec with ? outside <>",
    ),
    (
        "badaspec.dat",
        Status(400),
        "LWS inside <> around the To URI",
    ),
    (
        "baddn.dat",
        Status(400),
        "display name with a comma, no closing empty line",
    ),
    ("badvers.dat", Status(505), "SIP/7.0"),
    ("mismatch01.dat", Status(400), "OPTIONS with CSeq INVITE"),
    (
        "mismatch02.dat",
        Status(501),
        "unknown method beats the CSeq mismatch (RFC prefers 501)",
    ),
    ("bigcode.dat", Dropped, "status 4294967301"),
    // RFC 4475 §3.2–3.4: semantics.
    (
        "badbranch.dat",
        Status(200),
        "bare z9hG4bK branch: RFC 2543 matching",
    ),
    (
        "insuf.dat",
        Status(400),
        "no Call-ID, From or To; a Via and a CSeq are enough to answer",
    ),
    ("unkscm.dat", Status(416), "unknown Request-URI scheme"),
    ("novelsc.dat", Status(416), "soap.beep Request-URI"),
    (
        "unksm2.dat",
        Status(405),
        "unknown schemes in To/From/Contact parse; REGISTER refused",
    ),
    ("bext01.dat", Status(420), "Require: nothingSupportsThis"),
    (
        "invut.dat",
        Status(415),
        "INVITE with application/unknownformat",
    ),
    (
        "regaut01.dat",
        Status(405),
        "unknown Authorization scheme parses; REGISTER refused",
    ),
    ("multi01.dat", Status(400), "two Call-ID, CSeq, From, To"),
    ("mcl01.dat", Status(400), "two Content-Length"),
    ("bcast.dat", Stray, "a 200 with a broadcast Via parses"),
    (
        "zeromf.dat",
        Status(200),
        "Max-Forwards 0: an endpoint processes it normally",
    ),
    (
        "cparam01.dat",
        Status(405),
        "REGISTER parses; we are not a registrar",
    ),
    (
        "cparam02.dat",
        Status(405),
        "REGISTER parses; we are not a registrar",
    ),
    (
        "regescrt.dat",
        Status(405),
        "REGISTER parses; we are not a registrar",
    ),
    ("sdp01.dat", Status(406), "Accept without application/sdp"),
    (
        "inv2543.dat",
        Call {
            request_uri_user: "UserB",
            from_user: "+13035551111",
        },
        "RFC 2543 INVITE: no branch, no From tag, no Content-Length",
    ),
    // RFC 5118.
    (
        "ipv6-good.dat",
        Status(405),
        "REGISTER with IPv6 references parses",
    ),
    (
        "ipv6-bad.dat",
        Status(400),
        "IPv6 Request-URI host without []",
    ),
    (
        "ipv6-port-ambiguous.dat",
        Status(405),
        "parses; 5070 is part of the address",
    ),
    (
        "ipv6-port-unambiguous.dat",
        Status(405),
        "parses; port 5070",
    ),
    (
        "ipv6-via-received-param-with-delim.dat",
        Status(481),
        "parses; BYE for no dialog",
    ),
    (
        "ipv6-via-received-param-no-delim.dat",
        Status(200),
        "OPTIONS parses",
    ),
    (
        "ipv6-in-sdp.dat",
        Status(400),
        "Content-Length 268 against a 251-byte body, over UDP",
    ),
    (
        "ipv6-mult-ip-in-header.dat",
        Status(481),
        "parses; BYE for no dialog",
    ),
    (
        "ipv6-mult-ip-in-sdp.dat",
        Call {
            request_uri_user: "user",
            from_user: "user",
        },
        "PCMU at a media-level c=; the body is cut at Content-Length",
    ),
    (
        "ipv6-ipv4-mapped-ipv6.dat",
        Status(488),
        "parses; G726 is the only audio codec",
    ),
    (
        "ipv6-bug-abnf-3-colons.dat",
        Status(200),
        "[2001:db8:::192.0.2.1] tolerated",
    ),
    (
        "ipv6-correct-abnf-2-colons.dat",
        Status(200),
        "OPTIONS parses",
    ),
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/torture")
}

#[test]
fn every_fixture_is_in_the_table_once() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".dat"))
        .collect();
    let in_table: BTreeSet<String> = TABLE.iter().map(|(f, ..)| (*f).to_owned()).collect();
    assert_eq!(in_table.len(), TABLE.len(), "a file is listed twice");
    assert_eq!(on_disk, in_table);
    assert_eq!(on_disk.len(), 61);
}

/// Runs one file; returns what happened, for the printed table.
fn run(file: &str, expect: Expect) -> String {
    let bytes = std::fs::read(dir().join(file)).unwrap();
    let mut h = Harness::new();
    let from = "192.0.2.99:5062".parse().unwrap();
    h.udp(from, &bytes);
    let sent = h.sent();
    let events = h.events();
    let stats = h.engine.stats();
    let outcome = match expect {
        Status(code) => {
            assert_eq!(sent.len(), 1, "{file}: sent {}", describe(&sent));
            let line = status_line(&sent[0]);
            assert!(
                line.starts_with(&format!("SIP/2.0 {code} ")),
                "{file}: {line}"
            );
            assert_eq!(sent[0].to, from, "{file}: replies go to the source address");
            let text = String::from_utf8_lossy(&sent[0].bytes);
            assert!(
                text.contains("\r\nVia: ") && text.contains("\r\nCSeq: "),
                "{file}: {text}"
            );
            assert!(events.is_empty(), "{file}: {events:?}");
            line
        }
        Call {
            request_uri_user,
            from_user,
        } => {
            assert_eq!(sent.len(), 1, "{file}: sent {}", describe(&sent));
            assert_eq!(response(&sent[0]).status.as_u16(), 100, "{file}");
            let [SipEvent::IncomingCall(call)] = events.as_slice() else {
                panic!("{file}: {events:?}")
            };
            assert_eq!(
                call.request_uri_user.as_deref(),
                Some(request_uri_user),
                "{file}"
            );
            assert_eq!(call.from_user.as_deref(), Some(from_user), "{file}");
            h.engine.answer(call.call, RTP_PORT, h.now).unwrap();
            let ok = h.one_response();
            assert_eq!(ok.status.as_u16(), 200, "{file}");
            let body = String::from_utf8_lossy(&ok.body).into_owned();
            assert!(
                body.contains("m=audio 40000 RTP/AVP 0\r\n"),
                "{file}: {body}"
            );
            "100 Trying, IncomingCall; answered 200".to_owned()
        }
        Stray => {
            assert!(sent.is_empty(), "{file}: sent {}", describe(&sent));
            assert_eq!(stats.stray_responses, 1, "{file}: {stats:?}");
            "parsed, stray response dropped".to_owned()
        }
        Dropped => {
            assert!(sent.is_empty(), "{file}: sent {}", describe(&sent));
            assert_eq!(stats.dropped, 1, "{file}: {stats:?}");
            "unparseable, dropped".to_owned()
        }
    };
    h.normal_call(&mut Caller::new("192.0.2.50:5070", "after-torture"));
    h.drain_timers();
    assert!(
        h.engine.is_idle(),
        "{file}: state left behind: {:?}",
        h.engine
    );
    outcome
}

#[test]
fn torture_table() {
    let mut failures = Vec::new();
    for &(file, expect, why) in TABLE {
        match std::panic::catch_unwind(|| run(file, expect)) {
            Ok(outcome) => println!("{file:<40} {outcome:<40} {why}"),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failures.push(format!("{file}: {message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
