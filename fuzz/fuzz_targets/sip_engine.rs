//! Datagrams (the input split at NUL bytes) fed to one engine, with time
//! passing and every offered call answered: nothing panics, and once the
//! timers have run out the engine holds nothing.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sip::{Config, Engine, Event, Transport};

fuzz_target!(|data: &[u8]| {
    let mut counter = 0_u64;
    let rng = move || {
        counter += 1;
        counter
    };
    let mut engine = Engine::new(Config::new("203.0.113.10".parse().unwrap(), 5060), rng).unwrap();
    let from = "192.0.2.7:5070".parse().unwrap();
    let mut now = Instant::now();
    let mut hangup = Vec::new();
    for datagram in data.split(|&b| b == 0).filter(|d| !d.is_empty()) {
        engine.handle_message(Transport::Udp, from, datagram, now);
        now += Duration::from_millis(300);
        engine.handle_timeout(now);
        while let Some(event) = engine.poll_event() {
            match event {
                Event::IncomingCall(call) => engine.answer(call.call, 40000, now).unwrap(),
                Event::AckReceived { call } => hangup.push(call),
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
});
