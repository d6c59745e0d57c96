//! Audio a room plays for the 2010 API: a participant's `HoldUrl` music and
//! an `AnnounceUrl` announcement.
//!
//! Twilio documents both URLs like a `waitUrl`: they answer with TwiML
//! (`<Play>`, `<Say>`, `<Pause>`, `<Redirect>`) or an audio file. So they
//! are run by the one wait runner, [`twiml::WaitScript`], driven here to
//! make *one pass* of what the URL answers into one clip: the pass ends at
//! the first fetch after something was heard (where a wait would start
//! over), or at [`MAX_CLIP`]. Hold music then loops that clip until the
//! unhold; an announcement plays it once. A URL that fails falls back as a
//! wait does: hold music becomes confab's own, an announcement is dropped
//! (logged).
//!
//! A call task makes the audio (it has the account's AuthToken to sign the
//! fetch, and the call's webhook parameters), in a task of its own that
//! hands the result to the room; nobody waits for it, and it gives up
//! after [`MAKE_TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use media::{AudioSource, PcmSource, Repeat};
use model::{AuthToken, CallSid};
use twiml::{Action, CallInfo, HttpUrl, WaitAudio, WaitScript};

use crate::metrics::Metrics;
use crate::room::RoomHandle;
use crate::{audio, fetch};

/// The longest clip made from one URL (five minutes): a `<Play loop="0">`
/// would otherwise never end the pass.
pub(crate) const MAX_CLIP: Duration = Duration::from_secs(300);

/// How long making one URL's audio may take in all (fetches, speech,
/// decoding): a call's tasks are waited for at shutdown.
pub(crate) const MAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the made audio is for.
#[derive(Debug, Clone)]
pub(crate) enum Purpose {
    /// The hold music of this call (looped while it is on hold).
    Hold(CallSid),
    /// An announcement to this call, or (`None`) to the whole room.
    Announce(Option<CallSid>),
}

/// What making audio needs from the call that makes it.
#[derive(Debug, Clone)]
pub(crate) struct Maker {
    pub(crate) http: reqwest::Client,
    pub(crate) token: AuthToken,
    pub(crate) metrics: Arc<Metrics>,
    /// The webhook parameters the URL is fetched with.
    pub(crate) call: CallInfo,
}

/// Makes the audio of `fetchable` and gives it to `room` for `purpose`.
pub(crate) async fn play(
    maker: Maker,
    fetchable: api::Fetchable,
    purpose: Purpose,
    room: RoomHandle,
) {
    let clip = tokio::time::timeout(MAKE_TIMEOUT, make(&maker, &fetchable))
        .await
        .unwrap_or_else(|_| {
            tracing::info!("a HoldUrl or AnnounceUrl took too long to make");
            None
        });
    match (purpose, clip) {
        (Purpose::Hold(call), clip) => {
            let music: Box<dyn AudioSource + Send> = match clip {
                Some(clip) => Box::new(PcmSource::new(clip, Repeat::Forever)),
                None => Box::new(media::hold_music::HoldMusic::new()),
            };
            room.replace_hold_music(call, music).await;
        }
        (Purpose::Announce(to), Some(clip)) => {
            room.announce(to, Box::new(PcmSource::new(clip, Repeat::Times(1))))
                .await;
        }
        (Purpose::Announce(_), None) => {
            tracing::info!("the AnnounceUrl gave nothing to play: no announcement");
        }
    }
}

/// One pass of what the URL answers, as 8 kHz samples; `None` if it gave
/// nothing that could be played.
async fn make(maker: &Maker, fetchable: &api::Fetchable) -> Option<Arc<[i16]>> {
    let url = match HttpUrl::parse(&fetchable.url) {
        Ok(url) => url,
        Err(e) => {
            tracing::info!(error = %e, "a HoldUrl or AnnounceUrl is not a URL");
            return None;
        }
    };
    let wait = WaitAudio::Url {
        url,
        method: fetchable.method,
    };
    let mut script = WaitScript::new(wait, maker.call.clone());
    let max = usize::try_from(MAX_CLIP.as_millis() * 8).unwrap_or(usize::MAX);
    let mut pcm: Vec<i16> = Vec::new();
    while pcm.len() < max {
        let Some(action) = script.poll_action() else {
            break;
        };
        match action {
            // A wait would start over here: the pass is done.
            Action::Fetch(_) if !pcm.is_empty() => break,
            Action::Fetch(request) => {
                let fetched =
                    fetch::webhook(&maker.http, &request, &maker.token, &maker.metrics).await;
                script.fetched(fetched);
            }
            Action::Say { text, voice, .. } => {
                heard(&mut script, &mut pcm, audio::speak(&text, voice).await);
            }
            Action::Play { url } => {
                let clip = audio::load(maker.http.clone(), url).await;
                heard(&mut script, &mut pcm, clip);
            }
            Action::PlayAudio { body, content_type } => {
                heard(
                    &mut script,
                    &mut pcm,
                    audio::decode(body, Some(content_type)).await,
                );
            }
            Action::Pause { duration } => {
                let samples = usize::try_from(duration.as_millis() * 8).unwrap_or(max);
                pcm.resize(pcm.len().saturating_add(samples).min(max), 0);
                script.finished();
            }
            // The URL failed us: what the caller falls back to is its own.
            Action::PlayHoldMusic => return None,
            Action::WaitWarn(warning) => tracing::info!(%warning, "HoldUrl or AnnounceUrl"),
            Action::Warn(warning) => tracing::info!(%warning, "HoldUrl or AnnounceUrl"),
            // A wait script makes none of a call's actions.
            Action::JoinConference { .. }
            | Action::AwaitDigits { .. }
            | Action::PlayErrorTone
            | Action::Hangup { .. } => break,
        }
    }
    pcm.truncate(max);
    (!pcm.is_empty()).then(|| pcm.into())
}

/// A clip was made (added to the pass) or could not be (skipped).
fn heard(script: &mut WaitScript, pcm: &mut Vec<i16>, clip: Result<Arc<[i16]>, audio::AudioError>) {
    match clip {
        Ok(clip) => {
            pcm.extend_from_slice(&clip);
            script.finished();
        }
        Err(e) => {
            tracing::info!(error = %e, "HoldUrl or AnnounceUrl audio could not be made");
            script.media_failed();
        }
    }
}
