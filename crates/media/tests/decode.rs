//! `<Play>` files: WAV (written here by hound) and MP3 (small LAME-made
//! fixtures in testdata/) decoded to 8 kHz mono, checked with Goertzel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::sync::Arc;

use media::decode::{DecodeError, decode};
use media::goertzel::rms;
use media::{AudioSource, FRAME_SAMPLES, PcmSource, Repeat, tone_fraction};
use proptest::prelude::*;

fn wav(rate: u32, channels: u16, seconds: f64, tone: impl Fn(u16, f64) -> f64) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for n in 0..(f64::from(rate) * seconds) as usize {
            let t = n as f64 / f64::from(rate);
            for ch in 0..channels {
                w.write_sample((tone(ch, t) * 16_000.0) as i16).unwrap();
            }
        }
        w.finalize().unwrap();
    }
    bytes.into_inner()
}

fn sine(freq: f64, t: f64) -> f64 {
    (std::f64::consts::TAU * freq * t).sin()
}

#[test]
fn a_440_hz_wav_survives_resampling_from_22050_and_8000() {
    for rate in [22_050, 8000] {
        let bytes = wav(rate, 1, 1.0, |_, t| sine(440.0, t));
        let d = decode(&bytes, Some("audio/wav"), 600).unwrap();
        assert_eq!(
            (d.source_rate, d.source_channels, d.truncated),
            (rate, 1, false)
        );
        assert!(
            (7990..=8010).contains(&d.samples.len()),
            "{}",
            d.samples.len()
        );
        let steady = &d.samples[400..7600];
        let x = tone_fraction(steady, 440.0);
        assert!(x > 0.99, "{rate} Hz: {x}");
        assert!(
            (rms(steady) - 16_000.0 / 2f64.sqrt()).abs() < 300.0,
            "{}",
            rms(steady)
        );
    }
}

#[test]
fn stereo_is_averaged() {
    // Left 440 Hz, right 1000 Hz: both survive, at half level each.
    let bytes = wav(44_100, 2, 1.0, |ch, t| {
        if ch == 0 {
            sine(440.0, t)
        } else {
            sine(1000.0, t)
        }
    });
    let d = decode(&bytes, Some("wav"), 600).unwrap();
    assert_eq!(d.source_channels, 2);
    let steady = &d.samples[400..7600];
    for f in [440.0, 1000.0] {
        let x = tone_fraction(steady, f);
        assert!((0.45..0.55).contains(&x), "{f}: {x}");
    }
}

#[test]
fn mp3_fixtures_decode_to_their_tone() {
    for (file, freq, channels) in [
        ("tone440_44k1_stereo.mp3", 440.0, 2),
        ("tone1000_22k05_mono.mp3", 1000.0, 1),
    ] {
        let path = format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(path).unwrap();
        let d = decode(&bytes, Some("audio/mpeg"), 600).unwrap();
        assert_eq!(d.source_channels, channels, "{file}");
        // LAME adds encoder delay and padding: about a second, give or take 100 ms.
        assert!(
            (7200..=9000).contains(&d.samples.len()),
            "{file}: {}",
            d.samples.len()
        );
        let x = tone_fraction(&d.samples[1600..6400], freq);
        assert!(x > 0.98, "{file}: {x}");
        // Without a hint, probing finds it too.
        assert!(decode(&bytes, None, 600).is_ok());
    }
}

#[test]
fn long_files_are_cut_at_the_cap() {
    let bytes = wav(8000, 1, 3.0, |_, t| sine(440.0, t));
    let d = decode(&bytes, None, 1).unwrap();
    assert!(d.truncated);
    assert_eq!(d.samples.len(), 8000);
}

#[test]
fn garbage_is_an_error() {
    assert_eq!(decode(b"", None, 600), Err(DecodeError::Unsupported));
    assert_eq!(
        decode(b"<Response><Say>hi</Say></Response>", Some("text/xml"), 600),
        Err(DecodeError::Unsupported)
    );
    // A WAV header that promises data that is not there.
    let mut bytes = wav(8000, 1, 0.5, |_, t| sine(440.0, t));
    bytes.truncate(44);
    assert!(decode(&bytes, None, 600).is_err());
    // A truncated but otherwise fine file plays what it has.
    let mut bytes = wav(8000, 1, 0.5, |_, t| sine(440.0, t));
    bytes.truncate(44 + 2000);
    let d = decode(&bytes, None, 600).unwrap();
    assert!(
        (990..=1010).contains(&d.samples.len()),
        "{}",
        d.samples.len()
    );
}

#[test]
fn decoded_audio_plays_as_a_source() {
    let bytes = wav(16_000, 1, 0.1, |_, t| sine(440.0, t));
    let d = decode(&bytes, None, 600).unwrap();
    let mut source = PcmSource::new(Arc::from(d.samples), Repeat::Times(1));
    let mut frame = [0; FRAME_SAMPLES];
    let mut frames = 0;
    while source.next_frame(&mut frame) {
        frames += 1;
    }
    assert_eq!(frames, 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = decode(&bytes, None, 600);
        let _ = decode(&bytes, Some("audio/mpeg"), 600);
    }

    #[test]
    fn corrupted_files_never_panic(flips in proptest::collection::vec((0usize..8000, any::<u8>()), 1..20)) {
        let path = format!("{}/testdata/tone1000_22k05_mono.mp3", env!("CARGO_MANIFEST_DIR"));
        let mut mp3 = std::fs::read(path).unwrap();
        let mut wav = wav(11_025, 1, 0.3, |_, t| sine(440.0, t));
        for &(at, b) in &flips {
            let n = mp3.len();
            mp3[at % n] = b;
            let n = wav.len();
            wav[at % n] = b;
        }
        let _ = decode(&mp3, None, 600);
        let _ = decode(&wav, None, 600);
    }
}
