//! Audio files for `<Play>` and `waitUrl`: WAV or MP3 bytes to 8 kHz mono.
//!
//! The shell fetches the URL (with its own size limit and timeout) and calls
//! [`decode`] off the tick path (e.g. in `spawn_blocking`): decoding a long
//! MP3 takes real CPU time. The result feeds a [`crate::PcmSource`].
//! Demuxing and decoding are symphonia's (WAV with PCM, μ-law or A-law
//! samples, and MP3); channels are averaged; the rate is converted by the
//! crate's windowed-sinc resampler. Output is capped (10 minutes by
//! default): a longer file plays its beginning. Anything that is not audio
//! is an error, never a panic.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use thiserror::Error;

use crate::SAMPLE_RATE;
use crate::resample::Resampler;

/// The default cap on decoded audio.
pub const DEFAULT_MAX_SECONDS: u32 = 600;

/// Why a file could not be played.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Not a format we read (we read WAV and MP3).
    #[error("not a supported audio file (WAV or MP3)")]
    Unsupported,
    /// A container without an audio track we can decode.
    #[error("no decodable audio track")]
    NoAudioTrack,
    /// The sample rate or channel count is absurd.
    #[error("unsupported audio shape: {rate} Hz, {channels} channels")]
    BadShape {
        /// Declared sample rate.
        rate: u32,
        /// Declared channel count.
        channels: usize,
    },
    /// The file is broken.
    #[error("malformed audio: {0}")]
    Malformed(String),
    /// The file decoded to nothing.
    #[error("no audio in file")]
    Empty,
}

/// A decoded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// 8 kHz mono samples.
    pub samples: Vec<i16>,
    /// The file's own sample rate.
    pub source_rate: u32,
    /// The file's channel count (averaged into one).
    pub source_channels: usize,
    /// True if the file was longer than the cap and was cut.
    pub truncated: bool,
}

/// Decodes WAV or MP3 `bytes` to 8 kHz mono, keeping at most `max_seconds`.
/// `hint` is the response's MIME type or the URL's file extension, if known;
/// the content is probed either way.
pub fn decode(bytes: &[u8], hint: Option<&str>, max_seconds: u32) -> Result<Decoded, DecodeError> {
    // Symphonia is careful, but this is hostile input from an arbitrary URL:
    // a panic deep in a demuxer becomes an error here, not a dead task.
    catch_unwind(AssertUnwindSafe(|| decode_inner(bytes, hint, max_seconds)))
        .unwrap_or_else(|_| Err(DecodeError::Malformed("decoder panicked".into())))
}

fn decode_inner(
    bytes: &[u8],
    hint: Option<&str>,
    max_seconds: u32,
) -> Result<Decoded, DecodeError> {
    let limit = max_seconds as usize * SAMPLE_RATE as usize;
    let mut probe_hint = Hint::new();
    match hint {
        Some(h) if h.contains('/') => {
            probe_hint.mime_type(h);
        }
        Some(h) => {
            probe_hint.with_extension(h.trim_start_matches('.'));
        }
        None => {}
    }
    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(
            &probe_hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|_| DecodeError::Unsupported)?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or(DecodeError::NoAudioTrack)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or(DecodeError::NoAudioTrack)?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|_| DecodeError::NoAudioTrack)?;

    let mut out: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut resampler: Option<(Resampler, u32, usize)> = None;
    let mut truncated = false;
    let mut last_error = None;

    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A stream cut short mid-packet ends the file like EOF does.
            Err(SymphoniaError::IoError(_)) => break,
            Err(e) => {
                last_error = Some(e.to_string());
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let audio = match decoder.decode(&packet) {
            Ok(a) => a,
            // One corrupt frame in an MP3 is skipped, as players do.
            Err(SymphoniaError::DecodeError(e)) => {
                last_error = Some(e.to_string());
                continue;
            }
            Err(e) => {
                last_error = Some(e.to_string());
                break;
            }
        };
        let rate = audio.spec().rate();
        let channels = audio.spec().channels().count();
        if !(1000..=384_000).contains(&rate) || !(1..=32).contains(&channels) {
            return Err(DecodeError::BadShape { rate, channels });
        }
        audio.copy_to_vec_interleaved(&mut interleaved);
        mono.clear();
        mono.extend(
            interleaved
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        let (r, _, _) = match &mut resampler {
            Some((r, rate0, ch0)) if *rate0 == rate && *ch0 == channels => (r, rate, channels),
            Some(_) => {
                return Err(DecodeError::Malformed("format changes mid-stream".into()));
            }
            None => {
                let (r, _, _) =
                    resampler.insert((Resampler::new(rate, SAMPLE_RATE), rate, channels));
                (r, rate, channels)
            }
        };
        r.push(&mono, &mut out, limit);
        if out.len() >= limit {
            truncated = true;
            break;
        }
    }
    let Some((mut r, source_rate, source_channels)) = resampler else {
        return Err(match last_error {
            Some(e) => DecodeError::Malformed(e),
            None => DecodeError::Empty,
        });
    };
    if !truncated {
        r.finish(&mut out, limit);
    }
    if out.is_empty() {
        return Err(DecodeError::Empty);
    }
    let samples = out
        .iter()
        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    Ok(Decoded {
        samples,
        source_rate,
        source_channels,
        truncated,
    })
}
