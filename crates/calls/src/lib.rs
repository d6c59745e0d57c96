//! A call, sans-IO: everything that happens to one call after it is routed,
//! as one state machine ([`Call`]) that takes inputs and returns commands.
//!
//! Where to look:
//! - a call's lifecycle (answer, record, script, rooms, hang-up, the end
//!   record and the end-of-call request): [`call`](crate::Call), in `call.rs`;
//! - where a TwiML verb is run: `twiml`'s one verb runner
//!   (`crates/twiml/src/runner.rs`), whose actions `call.rs` turns into
//!   commands (`Call::advance`);
//! - where a timer is set: `call.rs` (`timers.set`), with the kinds listed in
//!   [`TimerKind`] (`timer.rs`).
//!
//! Nothing here touches a socket, a clock, a file or a random number: the
//! shell (the server's call task) binds ports, answers, fetches, makes and
//! plays audio, moves the leg in and out of rooms and writes the record,
//! and reports each result back with the [`ReqId`] it was given. Time comes
//! in as `now`. The contract: after every input, drain [`Call::poll_command`]
//! and execute each command in order; then read [`Call::poll_timeout`]; stop
//! when [`Call::is_finished`]. The shell's loop:
//!
//! ```ignore
//! let mut call = Call::new(info, source, webhook_timeout, Instant::now());
//! loop {
//!     while let Some(command) = call.poll_command() {
//!         io.execute(command).await; // results come back as inputs
//!     }
//!     if call.is_finished() {
//!         break;
//!     }
//!     let deadline = call.poll_timeout().map(|(at, _)| at);
//!     if deadline.is_some_and(|at| at <= Instant::now()) {
//!         // The caller's latest RTP first, so RtpInactivity fires only if silent.
//!         call.handle(CallInput::RtpSeen(io.last_rtp()), Instant::now());
//!         call.handle_timeout(Instant::now()); // overdue: no sleep
//!         continue;
//!     }
//!     let input = tokio::select! {
//!         event = io.sip.recv() => CallInput::Sip(..),
//!         notice = io.room.recv() => CallInput::Room(..),
//!         done = io.next_done() => done, // Fetched, ClipMade
//!         () = io.player.tick() => CallInput::PlayEnded { .. },
//!         key = io.keys() => CallInput::Digit(key), // out of a room
//!         () = io.stop.cancelled() => CallInput::Shutdown, // once
//!         () = sleep_until(deadline) => {
//!             call.handle_timeout(Instant::now());
//!             continue;
//!         }
//!     };
//!     call.handle(input, Instant::now());
//! }
//! ```

mod call;
mod timer;
mod types;

pub use call::Call;
pub use timer::TimerKind;
pub use types::{
    CallCommand, CallEnd, CallInput, Clip, ClipSource, LegChange, LogLine, RecordChange, ReqId,
    RoomNotice, ScriptSource, SipNotice, open_room,
};
