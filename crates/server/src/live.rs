//! The live view of every conference, for the dashboard (`api::LiveFeed`).
//!
//! [`Live`] keeps what the dashboard shows of each live conference (its
//! name, status, participants with their mute, hold and talking flags, and
//! its level) and broadcasts each change. It is fed by the same things as
//! the conference status callbacks: the hub hands it every rules event it
//! persisted ([`Live::observe`], beside the metrics' gauges) and every
//! `RoomReport::Speaking` ([`Live::speaking`]); a room sends its level meter
//! itself ([`Live::level`], a few times a second, only when it moves).
//!
//! Nothing here waits: the state is behind a mutex held only to apply one
//! change and send it on a `tokio::sync::broadcast`, whose slow receivers
//! lag (and then ask for a fresh snapshot) instead of holding anyone up.
//! Changes are sent while the lock is held, and a subscriber takes its
//! snapshot and its receiver under the same lock, so a dashboard sees each
//! change exactly once: in its snapshot or after it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use api::{LiveConference, LiveParticipant, LiveUpdate};
use conference::Event;
use model::{AccountSid, CallSid, ConferenceSid, ConferenceStatus};
use tokio::sync::broadcast;

/// Updates a dashboard may fall behind by before it lags.
const BACKLOG: usize = 1024;

/// Every live conference, as the dashboard sees it.
#[derive(Debug)]
pub struct Live {
    rooms: Mutex<HashMap<ConferenceSid, Room>>,
    updates: broadcast::Sender<LiveUpdate>,
}

#[derive(Debug)]
struct Room {
    account: AccountSid,
    conference: LiveConference,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            updates: broadcast::channel(BACKLOG).0,
        }
    }

    /// A rules event the hub persisted.
    pub fn observe(&self, event: &Event) {
        let mut rooms = self.lock();
        let changed = match event {
            Event::ConferenceCreated {
                sid,
                account,
                friendly_name,
                ..
            } => {
                let conference = LiveConference {
                    sid: sid.clone(),
                    name: friendly_name.clone(),
                    status: ConferenceStatus::Init,
                    participants: Vec::new(),
                    level_dbfs: LiveUpdate::SILENT_DBFS,
                };
                let room = Room {
                    account: account.clone(),
                    conference,
                };
                rooms.insert(sid.clone(), room);
                Some(sid)
            }
            Event::StatusChanged {
                sid,
                status: ConferenceStatus::Completed,
                ..
            } => {
                if let Some(room) = rooms.remove(sid) {
                    self.send(LiveUpdate::Ended {
                        account: room.account,
                        conference: sid.clone(),
                    });
                }
                None
            }
            Event::StatusChanged { sid, status, .. } => rooms.get_mut(sid).map(|room| {
                room.conference.status = *status;
                sid
            }),
            Event::ParticipantJoined {
                conference,
                call,
                muted,
                label,
                ..
            } => rooms.get_mut(conference).map(|room| {
                room.conference.participants.push(LiveParticipant {
                    call: call.clone(),
                    label: label.clone(),
                    muted: *muted,
                    hold: false,
                    talking: false,
                });
                conference
            }),
            Event::ParticipantMuted {
                conference,
                call,
                muted,
                ..
            } => change(&mut rooms, conference, call, |p| p.muted = *muted),
            Event::ParticipantHold {
                conference,
                call,
                hold,
                ..
            } => change(&mut rooms, conference, call, |p| p.hold = *hold),
            Event::ParticipantEndOnExit { .. } => None,
            Event::ParticipantLeft {
                conference, call, ..
            } => rooms.get_mut(conference).map(|room| {
                room.conference.participants.retain(|p| &p.call != call);
                conference
            }),
        };
        if let Some(sid) = changed {
            self.send_conference(&rooms, sid);
        }
    }

    /// A room heard `call` start or stop speaking.
    pub fn speaking(&self, conference: &ConferenceSid, call: &CallSid, speaking: bool) {
        let mut rooms = self.lock();
        if change(&mut rooms, conference, call, |p| p.talking = speaking).is_some() {
            self.send_conference(&rooms, conference);
        }
    }

    /// A room's meter: the RMS of its loudest heard leg (sample units).
    /// Sent only when the whole-dB level moved.
    pub fn level(&self, conference: &ConferenceSid, rms: u16) {
        let level_dbfs = dbfs(rms);
        // A room's mix thread calls this: it never waits for the hub or a
        // dashboard holding the map, and skips this reading instead: the
        // room's next one (240 ms on) brings the meter up to date.
        let mut rooms = match self.rooms.try_lock() {
            Ok(rooms) => rooms,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let Some(room) = rooms.get_mut(conference) else {
            return;
        };
        if room.conference.level_dbfs == level_dbfs {
            return;
        }
        room.conference.level_dbfs = level_dbfs;
        self.send(LiveUpdate::Level {
            account: room.account.clone(),
            conference: conference.clone(),
            level_dbfs,
        });
    }

    /// `account`'s live conferences, oldest first, and every update after.
    pub fn subscribe(
        &self,
        account: &AccountSid,
    ) -> (Vec<LiveConference>, broadcast::Receiver<LiveUpdate>) {
        let rooms = self.lock();
        let mut theirs: Vec<LiveConference> = rooms
            .values()
            .filter(|room| &room.account == account)
            .map(|room| room.conference.clone())
            .collect();
        // Sids are random: order by something a person recognises.
        theirs.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.sid.cmp(&b.sid)));
        (theirs, self.updates.subscribe())
    }

    fn send_conference(&self, rooms: &HashMap<ConferenceSid, Room>, sid: &ConferenceSid) {
        if let Some(room) = rooms.get(sid) {
            self.send(LiveUpdate::Conference {
                account: room.account.clone(),
                conference: room.conference.clone(),
            });
        }
    }

    fn send(&self, update: LiveUpdate) {
        // Fails only when no dashboard listens.
        let _ = self.updates.send(update);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ConferenceSid, Room>> {
        // Every change is applied whole before it is sent: a poisoned map
        // is still consistent.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies `f` to `call` in `conference`; the conference's sid if it did.
fn change<'a>(
    rooms: &mut HashMap<ConferenceSid, Room>,
    conference: &'a ConferenceSid,
    call: &CallSid,
    f: impl FnOnce(&mut LiveParticipant),
) -> Option<&'a ConferenceSid> {
    let participant = rooms
        .get_mut(conference)?
        .conference
        .participants
        .iter_mut()
        .find(|p| &p.call == call)?;
    f(participant);
    Some(conference)
}

/// An RMS in sample units as whole dBFS (full scale: a square wave of
/// ±32767), from [`LiveUpdate::SILENT_DBFS`] up.
fn dbfs(rms: u16) -> i16 {
    if rms == 0 {
        return LiveUpdate::SILENT_DBFS;
    }
    let db = 20.0 * (f64::from(rms) / 32767.0).log10();
    (db.round() as i16).max(LiveUpdate::SILENT_DBFS)
}

#[cfg(test)]
mod tests {
    use model::Timestamp;

    use super::*;

    fn sids() -> (AccountSid, ConferenceSid, CallSid) {
        (
            AccountSid::from_random([1; 16]),
            ConferenceSid::from_random([2; 16]),
            CallSid::from_random([3; 16]),
        )
    }

    fn created(account: &AccountSid, sid: &ConferenceSid) -> Event {
        Event::ConferenceCreated {
            sid: sid.clone(),
            account: account.clone(),
            friendly_name: "room".into(),
            at: Timestamp::from_secs(1),
        }
    }

    fn joined(account: &AccountSid, sid: &ConferenceSid, call: &CallSid) -> Event {
        Event::ParticipantJoined {
            conference: sid.clone(),
            account: account.clone(),
            call: call.clone(),
            muted: false,
            start_conference_on_enter: true,
            end_conference_on_exit: false,
            label: Some("alice".into()),
            coach: None,
            at: Timestamp::from_secs(1),
        }
    }

    fn only_conference(update: LiveUpdate) -> LiveConference {
        match update {
            LiveUpdate::Conference { conference, .. } => conference,
            other => panic!("expected a conference update, got {other:?}"),
        }
    }

    #[test]
    fn each_change_is_in_the_snapshot_or_after_it_never_both() {
        let live = Live::new();
        let (account, sid, call) = sids();
        live.observe(&created(&account, &sid));
        let (snapshot, mut updates) = live.subscribe(&account);
        assert_eq!(snapshot.len(), 1);
        assert!(snapshot[0].participants.is_empty());
        assert!(
            updates.try_recv().is_err(),
            "the creation is in the snapshot only"
        );

        live.observe(&joined(&account, &sid, &call));
        let c = only_conference(updates.try_recv().expect("the join"));
        assert_eq!(c.participants.len(), 1);
        assert_eq!(c.participants[0].label.as_deref(), Some("alice"));

        live.speaking(&sid, &call, true);
        let c = only_conference(updates.try_recv().expect("speech"));
        assert!(c.participants[0].talking);
        live.observe(&Event::ParticipantMuted {
            conference: sid.clone(),
            call: call.clone(),
            muted: true,
            at: Timestamp::from_secs(2),
        });
        let c = only_conference(updates.try_recv().expect("the mute"));
        assert!(c.participants[0].muted && c.participants[0].talking);

        live.level(&sid, 3277);
        assert_eq!(
            updates.try_recv().ok(),
            Some(LiveUpdate::Level {
                account: account.clone(),
                conference: sid.clone(),
                level_dbfs: -20,
            })
        );
        live.level(&sid, 3300);
        assert!(
            updates.try_recv().is_err(),
            "the same whole dB is not sent again"
        );

        live.observe(&Event::ParticipantLeft {
            conference: sid.clone(),
            call: call.clone(),
            reason: conference::LeaveReason::Hangup,
            at: Timestamp::from_secs(3),
        });
        assert!(
            only_conference(updates.try_recv().expect("the leave"))
                .participants
                .is_empty()
        );
        live.speaking(&sid, &call, false);
        assert!(
            updates.try_recv().is_err(),
            "a stale report about a leaver is dropped"
        );

        live.observe(&Event::StatusChanged {
            sid: sid.clone(),
            status: ConferenceStatus::Completed,
            reason: None,
            ending_call: None,
            at: Timestamp::from_secs(4),
        });
        assert_eq!(
            updates.try_recv().ok(),
            Some(LiveUpdate::Ended {
                account: account.clone(),
                conference: sid,
            })
        );
        assert!(live.subscribe(&account).0.is_empty());
    }

    #[test]
    fn a_snapshot_holds_only_the_accounts_own_conferences() {
        let live = Live::new();
        let (account, sid, _) = sids();
        let other = AccountSid::from_random([9; 16]);
        live.observe(&created(&account, &sid));
        live.observe(&created(&other, &ConferenceSid::from_random([8; 16])));
        let (mine, _) = live.subscribe(&account);
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].sid, sid);
    }

    #[test]
    fn levels_are_whole_dbfs_from_silence_to_full_scale() {
        assert_eq!(dbfs(0), LiveUpdate::SILENT_DBFS);
        assert_eq!(dbfs(1), -90);
        assert_eq!(dbfs(32767), 0);
        assert_eq!(dbfs(u16::MAX), 6);
        assert_eq!(dbfs(328), -40);
    }
}
