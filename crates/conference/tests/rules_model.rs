//! Property test: the conference rules of decisions.md ("Conference life"), as a
//! reference model written from the text alone, against `Conferences` under
//! random joins, leaves (for every reason), kicks and mutes.
//!
//! `rules.rs` walks chosen scenarios step by step, and `invariants.rs`
//! checks that nothing structural breaks under random steps (one live conference
//! a name, no event after completion, statuses only forward); this checks
//! that each random step does what the rules say, result and events alike:
//! - a join lands in the live conference of its (account, name), or creates one
//!   (init); a caller already in a conference, or over the conference's capacity (its
//!   creator's `maxParticipants`, else the server's), does not join;
//! - the conference starts (in-progress) as soon as two are present and one of
//!   them has `startConferenceOnEnter`, and stays in progress when it drops
//!   to one;
//! - it completes when a participant with `endConferenceOnExit` leaves for
//!   any reason (everyone else leaves with it, in join order, reason
//!   "conference ended") or when the last participant leaves; its name then
//!   makes a new conference;
//! - mute and unmute change the flag, with an event only when it changes;
//!   so do hold and unhold, and `endConferenceOnExit` set through the API;
//! - a label held by a live participant of the conference refuses a join,
//!   and so does a call to coach that is not in it;
//! - the API's end drops everyone (in join order, "conference ended");
//! - a completed conference says why (the five reasons Twilio names) and
//!   whose leaving or kick completed it;
//! - the participants are listed in join order.

use conference::{
    Conferences, Event, JoinError, JoinRequest, Joined, LeaveReason, ParticipantOptions,
};
use model::{AccountSid, CallSid, ConferenceEndReason, ConferenceSid, ConferenceStatus, Timestamp};
use proptest::prelude::*;

const DEFAULT_CAPACITY: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Join {
        call: u8,
        account: u8,
        name: u8,
        options: ParticipantOptions,
        label: Option<u8>,
        coach: Option<u8>,
    },
    Leave {
        call: u8,
        reason: LeaveReason,
    },
    Kick {
        call: u8,
    },
    Mute {
        call: u8,
        muted: bool,
    },
    Hold {
        call: u8,
        hold: bool,
    },
    EndOnExit {
        call: u8,
        end: bool,
    },
    /// The API ends the conference `call` is in.
    End {
        call: u8,
    },
}

fn options() -> impl Strategy<Value = ParticipantOptions> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.2),
        prop::option::of(1u32..6),
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
    let reason = prop_oneof![
        Just(LeaveReason::Hangup),
        Just(LeaveReason::HangupOnStar),
        Just(LeaveReason::TimeLimit),
    ];
    prop_oneof![
        5 => (0u8..10, 0u8..2, 0u8..2, options(), prop::option::of(0u8..3), prop::option::weighted(0.1, 0u8..10))
            .prop_map(|(call, account, name, options, label, coach)| Op::Join { call, account, name, options, label, coach }),
        2 => (0u8..10, reason).prop_map(|(call, reason)| Op::Leave { call, reason }),
        1 => (0u8..10).prop_map(|call| Op::Kick { call }),
        2 => (0u8..10, any::<bool>()).prop_map(|(call, muted)| Op::Mute { call, muted }),
        2 => (0u8..10, any::<bool>()).prop_map(|(call, hold)| Op::Hold { call, hold }),
        1 => (0u8..10, any::<bool>()).prop_map(|(call, end)| Op::EndOnExit { call, end }),
        1 => (0u8..10).prop_map(|call| Op::End { call }),
    ]
}

/// A live conference as the rules describe it.
#[derive(Debug, Clone)]
struct ConferenceModel {
    sid: ConferenceSid,
    account: AccountSid,
    name: String,
    status: ConferenceStatus,
    capacity: usize,
    /// In join order.
    people: Vec<Person>,
}

#[derive(Debug, Clone)]
struct Person {
    call: CallSid,
    options: ParticipantOptions,
    muted: bool,
    hold: bool,
    label: Option<String>,
    coach: Option<CallSid>,
}

/// The live conferences.
#[derive(Debug, Default)]
struct Model {
    confs: Vec<ConferenceModel>,
}

impl Model {
    fn conference_of(&self, call: &CallSid) -> Option<usize> {
        self.confs
            .iter()
            .position(|r| r.people.iter().any(|p| &p.call == call))
    }

    /// What a join should return and emit.
    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        account: AccountSid,
        name: String,
        call: CallSid,
        options: ParticipantOptions,
        label: Option<String>,
        coach: Option<CallSid>,
        new_sid: ConferenceSid,
    ) -> (Result<Joined, JoinError>, Vec<Event>) {
        let mut events = Vec::new();
        if self.conference_of(&call).is_some() {
            return (Err(JoinError::AlreadyJoined), events);
        }
        let existing = self
            .confs
            .iter()
            .position(|r| r.account == account && r.name == name);
        let (index, created) = match existing {
            Some(i) if self.confs[i].people.len() >= self.confs[i].capacity => {
                return (Err(JoinError::Full), events);
            }
            Some(i) if label.is_some() && self.confs[i].people.iter().any(|p| p.label == label) => {
                return (Err(JoinError::LabelInUse), events);
            }
            Some(i)
                if coach
                    .as_ref()
                    .is_some_and(|c| !self.confs[i].people.iter().any(|p| &p.call == c)) =>
            {
                return (Err(JoinError::NoCallToCoach), events);
            }
            Some(i) => (i, false),
            None if coach.is_some() => return (Err(JoinError::NoCallToCoach), events),
            None => {
                events.push(Event::ConferenceCreated {
                    sid: new_sid.clone(),
                    account: account.clone(),
                    friendly_name: name.clone(),
                    at: ZERO,
                });
                self.confs.push(ConferenceModel {
                    sid: new_sid,
                    account: account.clone(),
                    name,
                    status: ConferenceStatus::Init,
                    capacity: options
                        .max_participants
                        .map_or(DEFAULT_CAPACITY, |m| m as usize),
                    people: Vec::new(),
                });
                (self.confs.len() - 1, true)
            }
        };
        let conf = &mut self.confs[index];
        conf.people.push(Person {
            call: call.clone(),
            options,
            muted: options.muted,
            hold: false,
            label: label.clone(),
            coach: coach.clone(),
        });
        events.push(Event::ParticipantJoined {
            conference: conf.sid.clone(),
            account,
            call,
            muted: options.muted,
            start_conference_on_enter: options.start_conference_on_enter,
            end_conference_on_exit: options.end_conference_on_exit,
            label,
            coach,
            at: ZERO,
        });
        let starts = conf.people.len() >= 2
            && conf
                .people
                .iter()
                .any(|p| p.options.start_conference_on_enter);
        if conf.status == ConferenceStatus::Init && starts {
            conf.status = ConferenceStatus::InProgress;
            events.push(Event::StatusChanged {
                sid: conf.sid.clone(),
                status: ConferenceStatus::InProgress,
                reason: None,
                ending_call: None,
                at: ZERO,
            });
        }
        let joined = Joined {
            conference: conf.sid.clone(),
            status: conf.status,
            created,
        };
        (Ok(joined), events)
    }

    /// What a leave (or a kick) should return and emit; `None` when the
    /// call is in no conference.
    fn leave(&mut self, call: &CallSid, reason: LeaveReason) -> Option<(Vec<CallSid>, Vec<Event>)> {
        let index = self.conference_of(call)?;
        let conf = &mut self.confs[index];
        let at = conf.people.iter().position(|p| &p.call == call)?;
        let leaver = conf.people.remove(at);
        let mut events = vec![Event::ParticipantLeft {
            conference: conf.sid.clone(),
            call: call.clone(),
            reason,
            at: ZERO,
        }];
        let mut dropped = Vec::new();
        let kicked = reason == LeaveReason::Kicked;
        let why = match (leaver.options.end_conference_on_exit, kicked) {
            (true, true) => ConferenceEndReason::EndConferenceOnExitKicked,
            (true, false) => ConferenceEndReason::EndConferenceOnExitLeft,
            (false, true) => ConferenceEndReason::LastParticipantKicked,
            (false, false) => ConferenceEndReason::LastParticipantLeft,
        };
        if leaver.options.end_conference_on_exit {
            for other in conf.people.drain(..).map(|p| p.call) {
                events.push(Event::ParticipantLeft {
                    conference: conf.sid.clone(),
                    call: other.clone(),
                    reason: LeaveReason::ConferenceEnded,
                    at: ZERO,
                });
                dropped.push(other);
            }
        }
        if conf.people.is_empty() {
            events.push(Event::StatusChanged {
                sid: conf.sid.clone(),
                status: ConferenceStatus::Completed,
                reason: Some(why),
                ending_call: Some(call.clone()),
                at: ZERO,
            });
            self.confs.remove(index);
        }
        Some((dropped, events))
    }

    /// The API's end of the conference `call` is in.
    fn end(&mut self, call: &CallSid) -> Option<(Vec<CallSid>, Vec<Event>)> {
        let index = self.conference_of(call)?;
        let conf = self.confs.remove(index);
        let mut events = Vec::new();
        let mut dropped = Vec::new();
        for other in conf.people.into_iter().map(|p| p.call) {
            events.push(Event::ParticipantLeft {
                conference: conf.sid.clone(),
                call: other.clone(),
                reason: LeaveReason::ConferenceEnded,
                at: ZERO,
            });
            dropped.push(other);
        }
        events.push(Event::StatusChanged {
            sid: conf.sid,
            status: ConferenceStatus::Completed,
            reason: Some(ConferenceEndReason::EndedViaApi),
            ending_call: None,
            at: ZERO,
        });
        Some((dropped, events))
    }

    fn person(&mut self, call: &CallSid) -> Option<(ConferenceSid, &mut Person)> {
        let index = self.conference_of(call)?;
        let conf = &mut self.confs[index];
        let person = conf.people.iter_mut().find(|p| &p.call == call)?;
        Some((conf.sid.clone(), person))
    }

    fn hold(&mut self, call: &CallSid, hold: bool) -> Option<Vec<Event>> {
        let (conference, person) = self.person(call)?;
        if person.hold == hold {
            return Some(Vec::new());
        }
        person.hold = hold;
        Some(vec![Event::ParticipantHold {
            conference,
            call: call.clone(),
            hold,
            at: ZERO,
        }])
    }

    fn end_on_exit(&mut self, call: &CallSid, end: bool) -> Option<Vec<Event>> {
        let (conference, person) = self.person(call)?;
        if person.options.end_conference_on_exit == end {
            return Some(Vec::new());
        }
        person.options.end_conference_on_exit = end;
        Some(vec![Event::ParticipantEndOnExit {
            conference,
            call: call.clone(),
            end_conference_on_exit: end,
            at: ZERO,
        }])
    }

    fn mute(&mut self, call: &CallSid, muted: bool) -> Option<Vec<Event>> {
        let (conference, person) = self.person(call)?;
        if person.muted == muted {
            return Some(Vec::new());
        }
        person.muted = muted;
        Some(vec![Event::ParticipantMuted {
            conference,
            call: call.clone(),
            muted,
            at: ZERO,
        }])
    }
}

const ZERO: Timestamp = Timestamp::from_secs(0);

/// The event without its time (the rules' clock is checked in invariants.rs).
fn timeless(event: Event) -> Event {
    match event {
        Event::ConferenceCreated {
            sid,
            account,
            friendly_name,
            ..
        } => Event::ConferenceCreated {
            sid,
            account,
            friendly_name,
            at: ZERO,
        },
        Event::StatusChanged {
            sid,
            status,
            reason,
            ending_call,
            ..
        } => Event::StatusChanged {
            sid,
            status,
            reason,
            ending_call,
            at: ZERO,
        },
        Event::ParticipantJoined {
            conference,
            account,
            call,
            muted,
            start_conference_on_enter,
            end_conference_on_exit,
            label,
            coach,
            ..
        } => Event::ParticipantJoined {
            conference,
            account,
            call,
            muted,
            start_conference_on_enter,
            end_conference_on_exit,
            label,
            coach,
            at: ZERO,
        },
        Event::ParticipantHold {
            conference,
            call,
            hold,
            ..
        } => Event::ParticipantHold {
            conference,
            call,
            hold,
            at: ZERO,
        },
        Event::ParticipantEndOnExit {
            conference,
            call,
            end_conference_on_exit,
            ..
        } => Event::ParticipantEndOnExit {
            conference,
            call,
            end_conference_on_exit,
            at: ZERO,
        },
        Event::ParticipantMuted {
            conference,
            call,
            muted,
            ..
        } => Event::ParticipantMuted {
            conference,
            call,
            muted,
            at: ZERO,
        },
        Event::ParticipantLeft {
            conference,
            call,
            reason,
            ..
        } => Event::ParticipantLeft {
            conference,
            call,
            reason,
            at: ZERO,
        },
    }
}

fn drain(confs: &mut Conferences) -> Vec<Event> {
    std::iter::from_fn(|| confs.poll_event())
        .map(timeless)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_step_follows_the_conference_rules(ops in prop::collection::vec(op(), 1..150)) {
        let mut confs = Conferences::new(DEFAULT_CAPACITY);
        let mut model = Model::default();
        let account = |n: u8| AccountSid::from_random([n; 16]);
        let call = |n: u8| CallSid::from_random([n; 16]);
        let mut fresh = 0u128;
        for (step, op) in ops.into_iter().enumerate() {
            let now = Timestamp::from_secs(1_000_000 + step as i64);
            match op {
                Op::Join { call: c, account: a, name, options, label, coach } => {
                    let label = label.map(|l| format!("label{l}"));
                    fresh += 1;
                    let sid = ConferenceSid::from_random(fresh.to_be_bytes());
                    let name = format!("room{name}");
                    let request = JoinRequest {
                        label: label.clone(),
                        coach: coach.map(call),
                        status_callback: None,
                        account: account(a),
                        // Surrounding whitespace is not part of the name.
                        name: if fresh.is_multiple_of(3) { format!("  {name}\t") } else { name.clone() },
                        call: call(c),
                        options,
                    };
                    let got = confs.join(request, sid.clone(), now);
                    let (want, events) = model.join(account(a), name, call(c), options, label, coach.map(call), sid);
                    prop_assert_eq!(got, want);
                    prop_assert_eq!(drain(&mut confs), events);
                }
                Op::Leave { call: c, reason } => {
                    let got = confs.leave(&call(c), reason, now);
                    match model.leave(&call(c), reason) {
                        Some((dropped, events)) => {
                            prop_assert_eq!(got, Ok(dropped));
                            prop_assert_eq!(drain(&mut confs), events);
                        }
                        None => {
                            prop_assert!(got.is_err());
                            prop_assert_eq!(drain(&mut confs), vec![]);
                        }
                    }
                }
                Op::Kick { call: c } => {
                    match confs.participant(&call(c)) {
                        Some(p) => {
                            let got = confs.kick(&p.account, &p.conference, &call(c), now);
                            let (dropped, events) = model.leave(&call(c), LeaveReason::Kicked).unwrap();
                            prop_assert_eq!(got, Ok(dropped));
                            prop_assert_eq!(drain(&mut confs), events);
                        }
                        None => prop_assert!(model.conference_of(&call(c)).is_none()),
                    }
                }
                Op::Mute { call: c, muted } => {
                    match confs.participant(&call(c)) {
                        Some(p) => {
                            let got = confs.set_muted(&p.account, &p.conference, &call(c), muted, now);
                            prop_assert_eq!(got, Ok(()));
                            let events = model.mute(&call(c), muted).unwrap();
                            prop_assert_eq!(drain(&mut confs), events);
                            prop_assert_eq!(confs.participant(&call(c)).map(|p| p.muted), Some(muted));
                        }
                        None => prop_assert!(model.conference_of(&call(c)).is_none()),
                    }
                }
                Op::Hold { call: c, hold } => {
                    match confs.participant(&call(c)) {
                        Some(p) => {
                            let got = confs.set_hold(&p.account, &p.conference, &call(c), hold, now);
                            prop_assert_eq!(got, Ok(()));
                            let events = model.hold(&call(c), hold).unwrap();
                            prop_assert_eq!(drain(&mut confs), events);
                        }
                        None => prop_assert!(model.conference_of(&call(c)).is_none()),
                    }
                }
                Op::EndOnExit { call: c, end } => {
                    match confs.participant(&call(c)) {
                        Some(p) => {
                            let got = confs.set_end_conference_on_exit(&p.account, &p.conference, &call(c), end, now);
                            prop_assert_eq!(got, Ok(()));
                            let events = model.end_on_exit(&call(c), end).unwrap();
                            prop_assert_eq!(drain(&mut confs), events);
                        }
                        None => prop_assert!(model.conference_of(&call(c)).is_none()),
                    }
                }
                Op::End { call: c } => {
                    match confs.participant(&call(c)) {
                        Some(p) => {
                            let got = confs.end(&p.account, &p.conference, now);
                            let (dropped, events) = model.end(&call(c)).unwrap();
                            prop_assert_eq!(got, Ok(dropped));
                            prop_assert_eq!(drain(&mut confs), events);
                        }
                        None => prop_assert!(model.conference_of(&call(c)).is_none()),
                    }
                }
            }
            // Who is where, in join order, with which flags and status.
            prop_assert_eq!(confs.live_count(), model.confs.len());
            for conf in &model.confs {
                let calls: Vec<CallSid> = conf.people.iter().map(|p| p.call.clone()).collect();
                prop_assert_eq!(confs.participants_of(&conf.sid), calls);
                prop_assert_eq!(
                    confs.live_conference(&conf.account, &conf.name),
                    Some((conf.sid.clone(), conf.status))
                );
                for person in &conf.people {
                    let p = confs.participant(&person.call).unwrap();
                    prop_assert_eq!(
                        (&p.conference, p.options, p.muted, p.hold, &p.label, &p.coach),
                        (&conf.sid, person.options, person.muted, person.hold, &person.label, &person.coach)
                    );
                }
            }
        }
    }
}
