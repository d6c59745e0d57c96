//! SIP messages, the SIP engine and SDP (crate `sip`).

use std::time::{Duration, Instant};

use ::sip::sdp::{Origin, SessionDescription, answer, negotiate};
use ::sip::{
    Engine, EngineConfig, Framed, Inbound, Message, SipEvent, StreamFrame, Transport, frame_stream,
};

/// Any bytes as a SIP datagram or stream: parsing and stream framing never
/// panic, the shell's parsed view ([`Inbound`]) is the same parse, and a
/// message that parses reads back equal after the serializer writes it.
pub fn sip_message(data: &[u8]) {
    if let Ok(StreamFrame::Message { start, end }) = frame_stream(data) {
        assert!(start < end && end <= data.len());
        let Ok(Framed::Message {
            end: framed_end,
            inbound,
        }) = Inbound::frame(data)
        else {
            panic!("framing and Inbound::frame disagree");
        };
        assert_eq!(framed_end, end);
        let alone = Inbound::parse(data.get(start..end).unwrap_or_default());
        assert_eq!(inbound.message(), alone.message());
        assert_eq!(inbound.method(), alone.method());
    }
    let inbound = Inbound::parse(data);
    assert_eq!(inbound.message(), Message::parse(data).ok().as_ref());
    if let Some(Message::Request(request)) = inbound.message() {
        assert_eq!(inbound.method(), Some(&request.method));
    }
    let Ok(message) = Message::parse(data) else {
        return;
    };
    let bytes = match &message {
        Message::Request(request) => request.to_bytes(),
        Message::Response(response) => response.to_bytes(),
    };
    if bytes.len() <= ::sip::MAX_MESSAGE_LEN {
        assert_eq!(Message::parse(&bytes).as_ref(), Ok(&message));
    }
}

/// Datagrams (the input split at NUL bytes) fed to one engine, with time
/// passing and every offered call answered: nothing panics, and once the
/// timers have run out the engine holds nothing.
pub fn sip_engine(data: &[u8]) {
    let mut counter = 0_u64;
    let rng = move || {
        counter += 1;
        counter
    };
    let mut engine = Engine::new(
        EngineConfig::new("203.0.113.10".parse().unwrap(), 5060),
        rng,
    )
    .unwrap();
    let from = "192.0.2.7:5070".parse().unwrap();
    let mut now = Instant::now();
    let mut hangup = Vec::new();
    for datagram in data.split(|&b| b == 0).filter(|d| !d.is_empty()) {
        engine.handle_message(Transport::Udp, from, datagram, now);
        now += Duration::from_millis(300);
        engine.handle_timeout(now);
        while let Some(event) = engine.poll_event() {
            match event {
                SipEvent::IncomingCall(call) => engine.answer(call.call, 40000, now).unwrap(),
                SipEvent::AckReceived { call } => hangup.push(call),
                _ => {}
            }
        }
        while engine.poll_transmit().is_some() {}
    }
    for call in hangup {
        let _ = engine.hangup(call, now);
    }
    while let Some(deadline) = engine.poll_timeout() {
        now = now.max(deadline);
        engine.handle_timeout(now);
        while engine.poll_transmit().is_some() {}
        while engine.poll_event().is_some() {}
    }
    assert!(engine.is_idle(), "{engine:?}");
}

/// Any body as an SDP offer: parsing, negotiation and the answer never
/// panic, and an answer we write is one we read back, naming our address.
pub fn sdp(data: &[u8]) {
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
}
