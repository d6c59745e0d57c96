//! The dashboard's live feed: what a [`crate::LiveFeed`] hands out, and the
//! Server-Sent Events stream a signed-in browser reads it from.
//!
//! The stream opens with a `snapshot` of the account's live conferences,
//! then sends each change of one of them: `conference` (its whole state
//! after the change: a few dozen participants at most, and the browser
//! needs no merging), `ended`, and `level` (its meter, a few times a
//! second while it changes). Each event carries `retry: 1000`, so a dropped
//! connection is retried within a second, and every reconnect starts from a
//! fresh snapshot: it is never stale. A browser that falls behind the
//! broadcast (it lagged) gets a fresh snapshot in place of what it missed.
//! The stream ends when its session does (signed out, expired), checked
//! with every event and every few seconds.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use model::{AccountSid, CallSid, ConferenceSid, ConferenceStatus};
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};

use super::session::Sessions;
use crate::LiveFeed;

/// How soon a browser reconnects a dropped feed.
const RETRY: Duration = Duration::from_secs(1);
/// How often an idle stream checks that its session is still signed in.
const SESSION_CHECK: Duration = Duration::from_secs(5);

/// One participant of a live conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveParticipant {
    pub call: CallSid,
    pub label: Option<String>,
    pub muted: bool,
    pub hold: bool,
    /// The room's talker detection says it speaks (muted or not).
    pub talking: bool,
}

/// One live conference and who is in it, in the order they joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConference {
    pub sid: ConferenceSid,
    pub name: String,
    pub status: ConferenceStatus,
    pub participants: Vec<LiveParticipant>,
    /// How loud the room is (its loudest heard leg), in whole dBFS from
    /// [`LiveUpdate::SILENT_DBFS`] (nothing) to 0 (full scale).
    pub level_dbfs: i16,
}

/// A change to one live conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveUpdate {
    /// The conference, as it is after a change (created, started, a
    /// participant joined, left, was muted, held, started or stopped
    /// speaking).
    Conference {
        account: AccountSid,
        conference: LiveConference,
    },
    /// The conference completed: it is live no more.
    Ended {
        account: AccountSid,
        conference: ConferenceSid,
    },
    /// The conference's level meter moved.
    Level {
        account: AccountSid,
        conference: ConferenceSid,
        level_dbfs: i16,
    },
}

impl LiveUpdate {
    /// The quietest level a meter shows: no one heard.
    pub const SILENT_DBFS: i16 = -90;

    /// Whose conference it is about.
    pub fn account(&self) -> &AccountSid {
        match self {
            Self::Conference { account, .. }
            | Self::Ended { account, .. }
            | Self::Level { account, .. } => account,
        }
    }
}

/// The SSE response: `account`'s feed while session `session` lasts.
pub fn stream(
    live: Arc<dyn LiveFeed>,
    sessions: Arc<Sessions>,
    session: String,
    account: AccountSid,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (snapshot, updates) = live.subscribe(&account);
    let state = Feed {
        live,
        sessions,
        session,
        account,
        updates,
        first: Some(snapshot_event(&snapshot)),
    };
    let events = futures_util::stream::unfold(state, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event.retry(RETRY)), feed))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// One browser's place in the feed.
struct Feed {
    live: Arc<dyn LiveFeed>,
    sessions: Arc<Sessions>,
    session: String,
    account: AccountSid,
    updates: broadcast::Receiver<LiveUpdate>,
    /// The snapshot, until it is sent.
    first: Option<SseEvent>,
}

impl Feed {
    /// The next event for this browser; `None` ends the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            let received = tokio::time::timeout(SESSION_CHECK, self.updates.recv()).await;
            self.sessions.get(&self.session, Instant::now())?;
            match received {
                Err(_idle) => {}
                Ok(Ok(update)) if update.account() == &self.account => {
                    return Some(update_event(&update));
                }
                Ok(Ok(_theirs)) => {}
                Ok(Err(RecvError::Lagged(missed))) => {
                    tracing::debug!(missed, "a dashboard fell behind: a fresh snapshot");
                    let (snapshot, updates) = self.live.subscribe(&self.account);
                    self.updates = updates;
                    return Some(snapshot_event(&snapshot));
                }
                Ok(Err(RecvError::Closed)) => return None,
            }
        }
    }
}

fn snapshot_event(conferences: &[LiveConference]) -> SseEvent {
    let list: Vec<Value> = conferences.iter().map(conference_json).collect();
    SseEvent::default()
        .event("snapshot")
        .data(json!({ "conferences": list }).to_string())
}

fn update_event(update: &LiveUpdate) -> SseEvent {
    let (name, data) = match update {
        LiveUpdate::Conference { conference, .. } => ("conference", conference_json(conference)),
        LiveUpdate::Ended { conference, .. } => ("ended", json!({ "sid": conference.as_str() })),
        LiveUpdate::Level {
            conference,
            level_dbfs,
            ..
        } => (
            "level",
            json!({ "sid": conference.as_str(), "levelDbfs": level_dbfs }),
        ),
    };
    SseEvent::default().event(name).data(data.to_string())
}

/// A conference as the page reads it.
pub fn conference_json(c: &LiveConference) -> Value {
    let participants: Vec<Value> = c
        .participants
        .iter()
        .map(|p| {
            json!({
                "callSid": p.call.as_str(),
                "label": p.label,
                "muted": p.muted,
                "hold": p.hold,
                "talking": p.talking,
            })
        })
        .collect();
    json!({
        "sid": c.sid.as_str(),
        "name": c.name,
        "status": crate::v2010::render::conference_status(c.status),
        "levelDbfs": c.level_dbfs,
        "participants": participants,
    })
}
