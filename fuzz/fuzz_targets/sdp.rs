//! Any body: SDP parsing, negotiation and the answer never panic, and an
//! answer we write is one we can read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::sdp::{Origin, SessionDescription, answer, negotiate};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse(data) else {
        return;
    };
    let Ok((stream, audio)) = negotiate(&offer) else {
        return;
    };
    let local = "203.0.113.10:40000".parse().unwrap();
    let text = answer(
        &offer,
        stream,
        &audio,
        local,
        Origin {
            session_id: 1,
            version: 1,
        },
    );
    let back = SessionDescription::parse(text.as_bytes()).unwrap();
    assert_eq!(negotiate(&back).unwrap().1.remote, local);
});
