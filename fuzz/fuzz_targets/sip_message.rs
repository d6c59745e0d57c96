//! Any bytes: parsing and stream framing never panic, and what parses
//! reads back the same after the serializer writes it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::{Message, StreamFrame, frame_stream};

fuzz_target!(|data: &[u8]| {
    if let Ok(StreamFrame::Message { start, end }) = frame_stream(data) {
        assert!(start < end && end <= data.len());
    }
    let Ok(message) = Message::parse(data) else {
        return;
    };
    let bytes = match &message {
        Message::Request(request) => request.to_bytes(),
        Message::Response(response) => response.to_bytes(),
    };
    if bytes.len() <= sip::MAX_MESSAGE_LEN {
        assert_eq!(Message::parse(&bytes).as_ref(), Ok(&message));
    }
});
