//! Audio the call tasks play: `<Say>` spoken by espeak-ng, `<Play>` files
//! decoded, both to 8 kHz samples shared by every repetition.
//!
//! espeak-ng runs as a subprocess with a timeout, writing a WAV file (not
//! `--stdout`, whose WAV header carries a placeholder length); the text goes
//! in on stdin, so a text that looks like an option is still just text.
//! Decoding is CPU work: it runs on the blocking pool, never on a tick.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use twiml::Voice;

/// The longest a clip may play (and a `<Play>` file may decode to).
const MAX_CLIP_SECONDS: u32 = 600;
/// How long espeak-ng may take for one `<Say>`.
const TTS_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a clip could not be made; logged, and the verb is skipped.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("espeak-ng: {0}")]
    Tts(String),
    #[error(transparent)]
    Decode(#[from] media::decode::DecodeError),
    #[error("{0}")]
    Fetch(#[from] twiml::FetchError),
}

/// Speaks `text` with espeak-ng into 8 kHz samples.
pub async fn speak(text: &str, voice: Voice) -> Result<Arc<[i16]>, AudioError> {
    let path = scratch_file();
    let result = speak_into(&path, text, voice).await;
    let _ = tokio::fs::remove_file(&path).await;
    let wav = result?;
    decode(wav, Some("audio/wav".to_owned())).await
}

/// Decodes a fetched WAV or MP3 off the async threads.
pub async fn decode(bytes: Vec<u8>, hint: Option<String>) -> Result<Arc<[i16]>, AudioError> {
    let decoded = tokio::task::spawn_blocking(move || {
        media::decode::decode(&bytes, hint.as_deref(), MAX_CLIP_SECONDS)
    })
    .await
    .map_err(|e| AudioError::Decode(media::decode::DecodeError::Malformed(e.to_string())))??;
    Ok(decoded.samples.into())
}

fn espeak_voice(voice: Voice) -> &'static str {
    match voice {
        Voice::Man => "en-us+m3",
        Voice::Woman | Voice::Alice => "en-us+f3",
    }
}

async fn speak_into(path: &PathBuf, text: &str, voice: Voice) -> Result<Vec<u8>, AudioError> {
    let tts = |e: std::io::Error| AudioError::Tts(e.to_string());
    let mut child = tokio::process::Command::new("espeak-ng")
        .arg("-v")
        .arg(espeak_voice(voice))
        .arg("-w")
        .arg(path)
        .arg("--stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(tts)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| AudioError::Tts("no stdin".into()))?;
    let text = text.to_owned();
    let run = async move {
        stdin.write_all(text.as_bytes()).await?;
        drop(stdin);
        child.wait().await
    };
    let status = tokio::time::timeout(TTS_TIMEOUT, run)
        .await
        .map_err(|_| AudioError::Tts("timed out".into()))?
        .map_err(tts)?;
    if !status.success() {
        return Err(AudioError::Tts(format!("exited with {status}")));
    }
    tokio::fs::read(path).await.map_err(tts)
}

/// A fresh path in the temp directory for one espeak-ng run.
fn scratch_file() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("confab-say-{}-{n}.wav", std::process::id()))
}

/// Fetches and decodes a `<Play>` file.
pub async fn load(client: reqwest::Client, url: twiml::HttpUrl) -> Result<Arc<[i16]>, AudioError> {
    let body = crate::fetch::audio(&client, &url).await?;
    let hint = body
        .content_type
        .or_else(|| url.as_url().path().rsplit('.').next().map(str::to_owned));
    decode(body.body, hint).await
}
