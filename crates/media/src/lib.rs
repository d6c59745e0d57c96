//! stub while building
pub mod dtmf;
pub mod g711;
pub mod goertzel;
pub mod hold_music;
pub mod jitter;
pub mod mixer;
mod plc;
pub mod rtp;
pub mod source;
pub mod tone;

/// Samples per second of every signal in this crate (G.711's rate).
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms mixer tick.
pub const FRAME_SAMPLES: usize = 160;
/// One 20 ms tick of 8 kHz mono audio.
pub type Frame = [i16; FRAME_SAMPLES];
