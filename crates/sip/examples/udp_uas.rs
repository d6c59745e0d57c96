//! The engine on a blocking UDP socket: the smallest real shell, for
//! interop runs against SIPp and baresip (confab's server has the tokio
//! one). It answers every call with RTP port 40000 (nothing listens there)
//! and prints every event.
//!
//! ```text
//! cargo run -p sip --example udp_uas -- 127.0.0.1:5060 [calls] [hangup-after-secs]
//! sipp -sn uac 127.0.0.1:5060 -s room1 -m 10 -r 5 -nostdin
//! ```
//!
//! It exits once `calls` calls (default 1) have ended. With a third
//! argument it hangs up (sends BYE) that many seconds after each ACK.

use std::error::Error;
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sip::{Engine, EngineConfig, SipEvent, Transport};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:5060".to_owned());
    let calls: usize = args.next().map_or(Ok(1), |n| n.parse())?;
    let hangup_after: Option<f64> = args.next().map(|s| s.parse()).transpose()?;
    let mut hangups = Vec::new();
    let socket = UdpSocket::bind(&bind)?;
    let local = socket.local_addr()?;
    // An example's RNG (xorshift, seeded from the clock); the server uses getrandom.
    let mut state = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64 | 1;
    let rng = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut engine = Engine::new(EngineConfig::new(local.ip(), local.port()), rng)?;
    let mut buf = vec![0; 65_536];
    let mut ended = 0;
    eprintln!("listening on {local}");
    while ended < calls {
        let next = engine
            .poll_timeout()
            .into_iter()
            .chain(hangups.iter().map(|(at, _)| *at));
        let wait = next.min().map_or(Duration::from_secs(1), |at| {
            at.saturating_duration_since(Instant::now())
        });
        socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                let datagram = buf.get(..len).unwrap_or_default();
                engine.handle_message(Transport::Udp, from, datagram, Instant::now());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        engine.handle_timeout(now);
        for (_, call) in hangups.extract_if(.., |(at, _)| *at <= now) {
            engine.hangup(call, now)?;
        }
        while let Some(event) = engine.poll_event() {
            println!("{event:?}");
            match event {
                SipEvent::IncomingCall(call) => engine.answer(call.call, 40_000, Instant::now())?,
                SipEvent::AckReceived { call } => {
                    if let Some(secs) = hangup_after {
                        hangups.push((Instant::now() + Duration::from_secs_f64(secs), call));
                    }
                }
                SipEvent::CallEnded { .. } | SipEvent::CallCancelled { .. } => ended += 1,
                _ => {}
            }
        }
        while let Some(transmit) = engine.poll_transmit() {
            socket.send_to(&transmit.bytes, transmit.to)?;
        }
    }
    println!("{:?}", engine.stats());
    Ok(())
}
