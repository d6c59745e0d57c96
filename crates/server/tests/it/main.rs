//! The server's integration tests, one test binary (cargo links it once
//! instead of once per file). Each module is one area, driven end to end:
//! run one with `cargo test -p server --test it calls::`.
//!
//! `common` is their shared rig: a server on a real SQLite file, the API
//! through `router().oneshot`, a stand-in for the customer's web app, and
//! the testkit phone. Modules that start a SIP server use RTP port ranges
//! of their own (41xxx calls, 42xxx/44xxx rooms, 43xxx metrics and webhook
//! faults, 46xxx sip_guard, 47xxx addresses, 48xxx offers, 49xxx
//! media_field, 50xxx control, 510xx–512xx and 514xx gather, 513xx
//! conference_attrs, 52xxx dialout, 53xxx callbacks, 551xx coach, 56xxx
//! loud_mix, 57xxx dashboard, 595xx–599xx mix_threads, 319xx sip_tcp), since they all run in one
//! process at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod addresses;
mod api;
mod auth_limit;
mod callbacks;
mod calls;
mod coach;
mod conference_attrs;
mod control;
mod dashboard;
mod dialout;
mod gather;
mod isolation;
mod loud_mix;
mod media_field;
mod metrics;
mod mix_threads;
mod offers;
mod raw_targets;
mod rooms;
mod sip_guard;
mod sip_tcp;
mod webhook_faults;
