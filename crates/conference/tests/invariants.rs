//! Property test: random sequences of join, leave, mute, hold, kick and
//! the API's end (with labels) over
//! several accounts and conference names never break the rules' invariants, as
//! seen both from inside (`check_invariants`) and from the event stream a
//! store would persist:
//! - at most one live (not completed) conference per (account, name);
//! - a completed conference has no participants, and nothing happens to it again;
//! - a status never goes backwards;
//! - a conference's DateUpdated (the time of its latest event) never decreases.

use std::collections::{HashMap, HashSet};

use conference::{Conferences, Event, JoinRequest, LeaveReason, ParticipantOptions};
use model::{AccountSid, CallSid, ConferenceSid, ConferenceStatus, Timestamp};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Join {
        call: u8,
        account: u8,
        name: u8,
        options: ParticipantOptions,
        label: Option<u8>,
    },
    Leave {
        call: u8,
    },
    Mute {
        call: u8,
        muted: bool,
        wrong_account: bool,
    },
    Kick {
        call: u8,
        wrong_account: bool,
    },
    Hold {
        call: u8,
        hold: bool,
        wrong_account: bool,
    },
    /// The API ends the conference `call` is in.
    End {
        call: u8,
        wrong_account: bool,
    },
    /// The wall clock moves, sometimes backwards.
    Clock {
        delta: i64,
    },
}

fn options() -> impl Strategy<Value = ParticipantOptions> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(1u32..5),
    )
        .prop_map(|(muted, beep, start, end, max)| ParticipantOptions {
            muted,
            beep,
            beep_on_exit: beep,
            start_conference_on_enter: start,
            end_conference_on_exit: end,
            max_participants: max,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12, 0u8..2, 0u8..3, options(), prop::option::of(0u8..3))
            .prop_map(|(call, account, name, options, label)| Op::Join { call, account, name, options, label }),
        2 => (0u8..12).prop_map(|call| Op::Leave { call }),
        2 => (0u8..12, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(call, muted, wrong_account)| Op::Mute { call, muted, wrong_account }),
        1 => (0u8..12, prop::bool::weighted(0.2)).prop_map(|(call, wrong_account)| Op::Kick { call, wrong_account }),
        1 => (0u8..12, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(call, hold, wrong_account)| Op::Hold { call, hold, wrong_account }),
        1 => (0u8..12, prop::bool::weighted(0.2)).prop_map(|(call, wrong_account)| Op::End { call, wrong_account }),
        1 => (-3i64..10).prop_map(|delta| Op::Clock { delta }),
    ]
}

/// What a store would hold, rebuilt from the events alone.
#[derive(Default)]
struct Model {
    status: HashMap<ConferenceSid, ConferenceStatus>,
    name: HashMap<ConferenceSid, (AccountSid, String)>,
    updated: HashMap<ConferenceSid, Timestamp>,
    participants: HashMap<ConferenceSid, HashSet<CallSid>>,
}

impl Model {
    fn apply(&mut self, event: Event) -> Result<(), TestCaseError> {
        let sid = event.conference().clone();
        if let Some(status) = self.status.get(&sid) {
            prop_assert_ne!(
                *status,
                ConferenceStatus::Completed,
                "event after completion: {:?}",
                event
            );
        }
        if let Some(previous) = self.updated.get(&sid) {
            prop_assert!(
                event.at() >= *previous,
                "DateUpdated went backwards: {:?}",
                event
            );
        }
        self.updated.insert(sid.clone(), event.at());
        match event {
            Event::ConferenceCreated {
                account,
                friendly_name,
                ..
            } => {
                prop_assert!(!self.status.contains_key(&sid), "created twice");
                let key = (account, friendly_name);
                let live_with_name = self
                    .name
                    .iter()
                    .filter(|(s, n)| **n == key && self.status[*s] != ConferenceStatus::Completed)
                    .count();
                prop_assert_eq!(live_with_name, 0, "a second live conference with one name");
                self.status.insert(sid.clone(), ConferenceStatus::Init);
                self.name.insert(sid, key);
            }
            Event::StatusChanged { status, .. } => {
                let old = self.status.insert(sid.clone(), status);
                prop_assert!(
                    old.is_some_and(|o| o < status),
                    "status did not move forward"
                );
                if status == ConferenceStatus::Completed {
                    prop_assert!(
                        self.participants.get(&sid).is_none_or(HashSet::is_empty),
                        "completed with people in it"
                    );
                }
            }
            Event::ParticipantJoined { call, .. } => {
                prop_assert!(
                    self.participants.entry(sid).or_default().insert(call),
                    "joined twice"
                );
            }
            Event::ParticipantLeft { call, .. } => {
                prop_assert!(
                    self.participants.entry(sid).or_default().remove(&call),
                    "left without joining"
                );
            }
            Event::ParticipantMuted { call, .. }
            | Event::ParticipantHold { call, .. }
            | Event::ParticipantEndOnExit { call, .. } => {
                prop_assert!(
                    self.participants
                        .get(&sid)
                        .is_some_and(|p| p.contains(&call)),
                    "changed a stranger"
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rules_hold_under_random_operations(ops in prop::collection::vec(op(), 1..120)) {
        let mut confs = Conferences::new(4);
        let mut model = Model::default();
        let mut clock = 1_000_000i64;
        let mut fresh = 0u128;
        let account = |n: u8| AccountSid::from_random([n; 16]);
        let call = |n: u8| CallSid::from_random([n; 16]);

        for op in ops {
            let now = Timestamp::from_secs(clock);
            match op {
                Op::Join { call: c, account: a, name, options, label } => {
                    fresh += 1;
                    let label = label.map(|l| format!("label{l}"));
                    let request = JoinRequest { label, coach: None, status_callback: None, account: account(a), name: format!("room{name}"), call: call(c), options };
                    let _ = confs.join(request, ConferenceSid::from_random(fresh.to_be_bytes()), now);
                }
                Op::Leave { call: c } => {
                    let _ = confs.leave(&call(c), LeaveReason::Hangup, now);
                }
                Op::Mute { call: c, muted, wrong_account } => {
                    if let Some(p) = confs.participant(&call(c)) {
                        let a = if wrong_account { account(9) } else { p.account };
                        let result = confs.set_muted(&a, &p.conference, &call(c), muted, now);
                        prop_assert_eq!(result.is_ok(), !wrong_account);
                    }
                }
                Op::Kick { call: c, wrong_account } => {
                    if let Some(p) = confs.participant(&call(c)) {
                        let a = if wrong_account { account(9) } else { p.account };
                        let result = confs.kick(&a, &p.conference, &call(c), now);
                        prop_assert_eq!(result.is_ok(), !wrong_account);
                    }
                }
                Op::Hold { call: c, hold, wrong_account } => {
                    if let Some(p) = confs.participant(&call(c)) {
                        let a = if wrong_account { account(9) } else { p.account };
                        let result = confs.set_hold(&a, &p.conference, &call(c), hold, now);
                        prop_assert_eq!(result.is_ok(), !wrong_account);
                    }
                }
                Op::End { call: c, wrong_account } => {
                    if let Some(p) = confs.participant(&call(c)) {
                        let a = if wrong_account { account(9) } else { p.account };
                        let result = confs.end(&a, &p.conference, now);
                        prop_assert_eq!(result.is_ok(), !wrong_account);
                    }
                }
                Op::Clock { delta } => clock += delta,
            }
            prop_assert_eq!(confs.check_invariants(), Ok(()));
            while let Some(event) = confs.poll_event() {
                model.apply(event)?;
            }
            // The rules' view and the persisted view agree on who is where.
            for (sid, people) in &model.participants {
                let mut live: Vec<CallSid> = confs.participants_of(sid);
                live.sort();
                let mut stored: Vec<CallSid> = people.iter().cloned().collect();
                stored.sort();
                prop_assert_eq!(live, stored);
            }
        }
    }
}
