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
    let state = Feed::new(live, sessions, session, account);
    let events = futures_util::stream::unfold(state, |mut feed| async move {
        let event = match feed.next().await? {
            Sent::Snapshot(conferences) => snapshot_event(&conferences),
            Sent::Update(update) => update_event(&update),
        };
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
    first: Option<Vec<LiveConference>>,
}

/// What the feed sends next.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Snapshot(Vec<LiveConference>),
    Update(LiveUpdate),
}

impl Feed {
    fn new(
        live: Arc<dyn LiveFeed>,
        sessions: Arc<Sessions>,
        session: String,
        account: AccountSid,
    ) -> Self {
        let (snapshot, updates) = live.subscribe(&account);
        Self {
            live,
            sessions,
            session,
            account,
            updates,
            first: Some(snapshot),
        }
    }

    /// What to send this browser next; `None` ends the stream.
    async fn next(&mut self) -> Option<Sent> {
        if let Some(first) = self.first.take() {
            return Some(Sent::Snapshot(first));
        }
        loop {
            let received = tokio::time::timeout(SESSION_CHECK, self.updates.recv()).await;
            self.sessions.get(&self.session, Instant::now())?;
            match received {
                Err(_idle) => {}
                Ok(Ok(update)) if update.account() == &self.account => {
                    return Some(Sent::Update(update));
                }
                Ok(Ok(_theirs)) => {}
                Ok(Err(RecvError::Lagged(missed))) => {
                    tracing::debug!(missed, "a dashboard fell behind: a fresh snapshot");
                    let (snapshot, updates) = self.live.subscribe(&self.account);
                    self.updates = updates;
                    return Some(Sent::Snapshot(snapshot));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::Mutex;

    use super::*;
    use crate::dashboard::SESSION_TTL;

    /// A feed whose broadcast holds only two updates, and whose snapshot
    /// the test sets.
    struct Small {
        updates: broadcast::Sender<LiveUpdate>,
        snapshot: Mutex<Vec<LiveConference>>,
    }

    impl LiveFeed for Small {
        fn subscribe(
            &self,
            _: &AccountSid,
        ) -> (Vec<LiveConference>, broadcast::Receiver<LiveUpdate>) {
            (
                self.snapshot.lock().unwrap().clone(),
                self.updates.subscribe(),
            )
        }
    }

    fn conference(n: u8) -> LiveConference {
        LiveConference {
            sid: ConferenceSid::from_random([n; 16]),
            name: format!("room {n}"),
            status: ConferenceStatus::InProgress,
            participants: Vec::new(),
            level_dbfs: LiveUpdate::SILENT_DBFS,
        }
    }

    fn level(account: &AccountSid, n: u8) -> LiveUpdate {
        LiveUpdate::Level {
            account: account.clone(),
            conference: ConferenceSid::from_random([1; 16]),
            level_dbfs: -i16::from(n),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_browser_gets_its_own_updates_a_fresh_snapshot_when_it_lags_and_nothing_once_signed_out()
     {
        let ours = AccountSid::from_random([7; 16]);
        let theirs = AccountSid::from_random([8; 16]);
        let live = Arc::new(Small {
            updates: broadcast::channel(2).0,
            snapshot: Mutex::new(vec![conference(1)]),
        });
        let sessions = Arc::new(Sessions::new(SESSION_TTL));
        let (id, _) = sessions.open(ours.clone(), Instant::now()).unwrap();
        let mut feed = Feed::new(live.clone(), sessions.clone(), id.clone(), ours.clone());
        assert_eq!(feed.next().await, Some(Sent::Snapshot(vec![conference(1)])));

        // Another account's update is not sent; ours is.
        live.updates.send(level(&theirs, 1)).unwrap();
        live.updates.send(level(&ours, 2)).unwrap();
        assert_eq!(feed.next().await, Some(Sent::Update(level(&ours, 2))));

        // Five updates into a backlog of two: the browser lagged, so it
        // gets the state as it is now, then what comes after.
        *live.snapshot.lock().unwrap() = vec![conference(1), conference(2)];
        for n in 3..8 {
            live.updates.send(level(&ours, n)).unwrap();
        }
        assert_eq!(
            feed.next().await,
            Some(Sent::Snapshot(vec![conference(1), conference(2)]))
        );
        live.updates.send(level(&ours, 9)).unwrap();
        assert_eq!(feed.next().await, Some(Sent::Update(level(&ours, 9))));

        // Signed out: an idle stream ends at its next check.
        sessions.close(&id);
        assert_eq!(feed.next().await, None);
    }
}
