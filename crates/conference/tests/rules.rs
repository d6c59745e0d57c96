//! Scenario tests of the conference rules with fake time: each step is an input
//! and the exact events it must produce.
#![allow(clippy::expect_used)]

use conference::{
    Conferences, Event, JoinError, JoinRequest, Joined, LeaveReason, ParticipantError,
    ParticipantOptions,
};
use model::{AccountSid, CallSid, ConferenceEndReason, ConferenceSid, ConferenceStatus, Timestamp};

struct World {
    confs: Conferences,
    next_id: u8,
    now: i64,
}

fn account(n: u8) -> AccountSid {
    AccountSid::from_random([n; 16])
}

fn call(n: u8) -> CallSid {
    CallSid::from_random([n; 16])
}

fn moderator() -> ParticipantOptions {
    ParticipantOptions {
        end_conference_on_exit: true,
        ..ParticipantOptions::default()
    }
}

fn waiter() -> ParticipantOptions {
    ParticipantOptions {
        start_conference_on_enter: false,
        ..ParticipantOptions::default()
    }
}

impl World {
    fn new() -> Self {
        Self {
            confs: Conferences::new(40),
            next_id: 0,
            now: 1_000,
        }
    }

    fn t(&self) -> Timestamp {
        Timestamp::from_secs(self.now)
    }

    fn join_as(
        &mut self,
        acct: u8,
        name: &str,
        caller: u8,
        options: ParticipantOptions,
    ) -> Result<Joined, JoinError> {
        self.now += 1;
        self.next_id += 1;
        let fresh = ConferenceSid::from_random([self.next_id; 16]);
        let request = JoinRequest {
            label: None,
            coach: None,
            status_callback: None,
            account: account(acct),
            name: name.into(),
            call: call(caller),
            options,
        };
        let result = self.confs.join(request, fresh, self.t());
        self.confs.check_invariants().expect("invariants");
        result
    }

    fn join(&mut self, name: &str, caller: u8) -> Joined {
        self.join_as(1, name, caller, ParticipantOptions::default())
            .expect("join")
    }

    fn leave(&mut self, caller: u8) -> Vec<CallSid> {
        self.now += 1;
        let dropped = self
            .confs
            .leave(&call(caller), LeaveReason::Hangup, self.t())
            .expect("leave");
        self.confs.check_invariants().expect("invariants");
        dropped
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.confs.poll_event()).collect()
    }

    fn statuses(&mut self) -> Vec<ConferenceStatus> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::StatusChanged { status, .. } => Some(status),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn first_join_creates_an_init_conference() {
    let mut w = World::new();
    let joined = w.join("  standup\n ", 1);
    assert_eq!(joined.status, ConferenceStatus::Init);
    assert!(joined.created);
    let at = Timestamp::from_secs(1_001);
    assert_eq!(
        w.events(),
        vec![
            Event::ConferenceCreated {
                sid: joined.conference.clone(),
                account: account(1),
                friendly_name: "standup".into(),
                at,
            },
            Event::ParticipantJoined {
                conference: joined.conference.clone(),
                account: account(1),
                call: call(1),
                muted: false,
                start_conference_on_enter: true,
                end_conference_on_exit: false,
                label: None,
                coach: None,
                at,
            },
        ]
    );
    assert_eq!(
        w.confs.live_conference(&account(1), "standup"),
        Some((joined.conference, ConferenceStatus::Init))
    );
}

#[test]
fn second_participant_starts_the_conference() {
    let mut w = World::new();
    let first = w.join("r", 1);
    w.events();
    let second = w.join("r", 2);
    assert_eq!(second.conference, first.conference);
    assert!(!second.created);
    assert_eq!(second.status, ConferenceStatus::InProgress);
    assert_eq!(w.statuses(), vec![ConferenceStatus::InProgress]);
}

#[test]
fn waiters_wait_for_a_starter() {
    let mut w = World::new();
    w.join_as(1, "r", 1, waiter()).expect("join");
    let j = w.join_as(1, "r", 2, waiter()).expect("join");
    assert_eq!(j.status, ConferenceStatus::Init);
    assert_eq!(w.statuses(), vec![]);
    let j = w.join_as(1, "r", 3, moderator()).expect("join");
    assert_eq!(j.status, ConferenceStatus::InProgress);
    assert_eq!(w.statuses(), vec![ConferenceStatus::InProgress]);
}

#[test]
fn a_starter_alone_starts_when_anyone_joins() {
    let mut w = World::new();
    w.join_as(1, "r", 1, ParticipantOptions::default())
        .expect("join");
    let j = w.join_as(1, "r", 2, waiter()).expect("join");
    assert_eq!(j.status, ConferenceStatus::InProgress);
}

#[test]
fn stays_in_progress_down_to_one_then_last_out_completes() {
    let mut w = World::new();
    let j = w.join("r", 1);
    w.join("r", 2);
    w.events();
    assert!(w.leave(1).is_empty());
    assert_eq!(w.statuses(), vec![]);
    assert_eq!(
        w.confs.live_conference(&account(1), "r"),
        Some((j.conference.clone(), ConferenceStatus::InProgress))
    );
    w.leave(2);
    let events = w.events();
    assert_eq!(
        events.last(),
        Some(&Event::StatusChanged {
            sid: j.conference,
            status: ConferenceStatus::Completed,
            reason: Some(ConferenceEndReason::LastParticipantLeft),
            ending_call: Some(call(2)),
            at: w.t()
        })
    );
    assert_eq!(w.confs.live_conference(&account(1), "r"), None);
    assert_eq!(w.confs.live_count(), 0);
}

#[test]
fn an_init_conference_that_empties_completes() {
    let mut w = World::new();
    w.join("r", 1);
    w.events();
    w.leave(1);
    assert_eq!(w.statuses(), vec![ConferenceStatus::Completed]);
}

#[test]
fn reusing_a_name_after_completion_makes_a_new_conference() {
    let mut w = World::new();
    let old = w.join("r", 1);
    w.leave(1);
    let new = w.join("r", 1);
    assert!(new.created);
    assert_ne!(new.conference, old.conference);
    assert_eq!(new.status, ConferenceStatus::Init);
}

#[test]
fn end_conference_on_exit_drops_everyone() {
    let mut w = World::new();
    let j = w.join_as(1, "r", 1, moderator()).expect("join");
    w.join("r", 2);
    w.join("r", 3);
    w.events();
    let dropped = w.leave(1);
    assert_eq!(dropped, vec![call(2), call(3)]);
    let at = w.t();
    let sid = j.conference;
    assert_eq!(
        w.events(),
        vec![
            Event::ParticipantLeft {
                conference: sid.clone(),
                call: call(1),
                reason: LeaveReason::Hangup,
                at
            },
            Event::ParticipantLeft {
                conference: sid.clone(),
                call: call(2),
                reason: LeaveReason::ConferenceEnded,
                at
            },
            Event::ParticipantLeft {
                conference: sid.clone(),
                call: call(3),
                reason: LeaveReason::ConferenceEnded,
                at
            },
            Event::StatusChanged {
                sid,
                status: ConferenceStatus::Completed,
                reason: Some(ConferenceEndReason::EndConferenceOnExitLeft),
                ending_call: Some(call(1)),
                at
            },
        ]
    );
    assert!(w.confs.participant(&call(2)).is_none());
}

#[test]
fn kicking_the_moderator_ends_the_conference_too() {
    let mut w = World::new();
    let j = w.join_as(1, "r", 1, moderator()).expect("join");
    w.join("r", 2);
    w.events();
    let dropped = w
        .confs
        .kick(&account(1), &j.conference, &call(1), w.t())
        .expect("kick");
    assert_eq!(dropped, vec![call(2)]);
    let reasons: Vec<LeaveReason> = w
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ParticipantLeft { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![LeaveReason::Kicked, LeaveReason::ConferenceEnded]
    );
}

#[test]
fn capacity_turns_the_next_caller_away_without_a_trace() {
    let mut w = World::new();
    for caller in 1..=40 {
        w.join("big", caller);
    }
    w.events();
    assert_eq!(
        w.join_as(1, "big", 41, ParticipantOptions::default()),
        Err(JoinError::Full)
    );
    assert_eq!(w.events(), vec![]);
    assert!(w.confs.participant(&call(41)).is_none());

    let small = ParticipantOptions {
        max_participants: Some(2),
        ..ParticipantOptions::default()
    };
    w.join_as(1, "small", 50, small).expect("join");
    // A later joiner's maxParticipants does not change the conference.
    let big = ParticipantOptions {
        max_participants: Some(10),
        ..ParticipantOptions::default()
    };
    w.join_as(1, "small", 51, big).expect("join");
    assert_eq!(w.join_as(1, "small", 52, big), Err(JoinError::Full));
}

#[test]
fn mute_emits_only_changes_and_checks_ownership() {
    let mut w = World::new();
    let j = w.join("r", 1);
    w.events();
    let sid = j.conference.clone();
    w.confs
        .set_muted(&account(1), &sid, &call(1), true, w.t())
        .expect("mute");
    w.confs
        .set_muted(&account(1), &sid, &call(1), true, w.t())
        .expect("mute again");
    assert_eq!(
        w.events(),
        vec![Event::ParticipantMuted {
            conference: sid.clone(),
            call: call(1),
            muted: true,
            at: w.t()
        }]
    );
    assert!(w.confs.participant(&call(1)).expect("present").muted);

    let other = ConferenceSid::from_random([0xEE; 16]);
    assert_eq!(
        w.confs.set_muted(&account(2), &sid, &call(1), false, w.t()),
        Err(ParticipantError::NotFound)
    );
    assert_eq!(
        w.confs
            .set_muted(&account(1), &other, &call(1), false, w.t()),
        Err(ParticipantError::NotFound)
    );
    assert_eq!(
        w.confs.set_muted(&account(1), &sid, &call(9), false, w.t()),
        Err(ParticipantError::NotFound)
    );
    assert_eq!(
        w.confs.kick(&account(2), &sid, &call(1), w.t()),
        Err(ParticipantError::NotFound)
    );
    assert_eq!(w.events(), vec![]);
    assert!(w.confs.participant(&call(1)).is_some());
}

#[test]
fn joining_muted_is_remembered() {
    let mut w = World::new();
    w.join_as(
        1,
        "r",
        1,
        ParticipantOptions {
            muted: true,
            ..ParticipantOptions::default()
        },
    )
    .expect("join");
    assert!(w.confs.participant(&call(1)).expect("present").muted);
}

#[test]
fn two_first_joiners_at_once_share_one_conference() {
    let mut w = World::new();
    // Both callers drew a fresh sid for a conference that did not exist yet.
    let a = w.join("race", 1);
    let b = w.join("race", 2);
    assert_eq!(a.conference, b.conference);
    let created = w
        .events()
        .iter()
        .filter(|e| matches!(e, Event::ConferenceCreated { .. }))
        .count();
    assert_eq!(created, 1);
}

#[test]
fn names_are_per_account() {
    let mut w = World::new();
    let a = w
        .join_as(1, "r", 1, ParticipantOptions::default())
        .expect("join");
    let b = w
        .join_as(2, "r", 2, ParticipantOptions::default())
        .expect("join");
    assert_ne!(a.conference, b.conference);
    assert_eq!(b.status, ConferenceStatus::Init);
}

#[test]
fn bad_joins_change_nothing() {
    let mut w = World::new();
    assert_eq!(
        w.join_as(1, "  \t\n", 1, ParticipantOptions::default()),
        Err(JoinError::EmptyName)
    );
    w.join("r", 1);
    w.events();
    assert_eq!(
        w.join_as(1, "other", 1, ParticipantOptions::default()),
        Err(JoinError::AlreadyJoined)
    );
    assert_eq!(
        w.confs.leave(&call(7), LeaveReason::Hangup, w.t()),
        Err(ParticipantError::NotFound)
    );
    assert_eq!(w.events(), vec![]);
}

#[test]
fn event_times_never_go_backwards() {
    let mut w = World::new();
    w.join("r", 1);
    w.now -= 500; // the wall clock jumps back
    w.join("r", 2);
    w.now -= 500;
    w.leave(2);
    let times: Vec<Timestamp> = w.events().iter().map(Event::at).collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "{times:?}");
}

#[test]
fn end_all_completes_every_conference() {
    let mut w = World::new();
    w.join("a", 1);
    w.join("a", 2);
    w.join("b", 3);
    w.events();
    w.confs.end_all(w.t());
    w.confs.check_invariants().expect("invariants");
    assert_eq!(w.confs.live_count(), 0);
    let events = w.events();
    let left = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::ParticipantLeft {
                    reason: LeaveReason::Shutdown,
                    ..
                }
            )
        })
        .count();
    let completed = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::StatusChanged {
                    status: ConferenceStatus::Completed,
                    ..
                }
            )
        })
        .count();
    assert_eq!((left, completed), (3, 2));
}

impl World {
    /// A join with a label and a call to coach.
    fn join_labelled(
        &mut self,
        name: &str,
        caller: u8,
        label: Option<&str>,
        coach: Option<u8>,
    ) -> Result<Joined, JoinError> {
        self.now += 1;
        self.next_id += 1;
        let request = JoinRequest {
            label: label.map(str::to_owned),
            coach: coach.map(call),
            status_callback: None,
            account: account(1),
            name: name.into(),
            call: call(caller),
            options: ParticipantOptions::default(),
        };
        let fresh = ConferenceSid::from_random([self.next_id; 16]);
        let result = self.confs.join(request, fresh, self.t());
        self.confs.check_invariants().expect("invariants");
        result
    }

    /// The completion event's reason and ending call.
    fn ending(&mut self) -> Option<(Option<ConferenceEndReason>, Option<CallSid>)> {
        self.events().into_iter().find_map(|e| match e {
            Event::StatusChanged {
                status: ConferenceStatus::Completed,
                reason,
                ending_call,
                ..
            } => Some((reason, ending_call)),
            _ => None,
        })
    }
}

#[test]
fn a_label_taken_by_a_live_participant_refuses_the_join_and_is_free_again_after() {
    let mut w = World::new();
    let j = w.join_labelled("r", 1, Some("agent"), None).expect("join");
    assert_eq!(
        w.join_labelled("r", 2, Some("agent"), None),
        Err(JoinError::LabelInUse)
    );
    assert!(w.confs.participant(&call(2)).is_none());
    // Labels are per conference, and free once their holder left.
    w.join_labelled("other", 2, Some("agent"), None)
        .expect("another conference");
    w.join_labelled("r", 3, Some("customer"), None)
        .expect("another label");
    w.join_labelled("r", 4, None, None).expect("no label");
    w.leave(1);
    w.join_labelled("r", 5, Some("agent"), None)
        .expect("the label is free");
    let view = w.confs.participant(&call(5)).expect("in");
    assert_eq!(
        (view.conference, view.label.as_deref()),
        (j.conference, Some("agent"))
    );
}

#[test]
fn a_joined_event_and_the_view_carry_label_and_coach() {
    let mut w = World::new();
    let j = w
        .join_labelled("r", 1, Some("customer"), None)
        .expect("join");
    w.events();
    w.join_labelled("r", 2, Some("coach"), Some(1))
        .expect("coach");
    let at = w.t();
    assert_eq!(
        w.events(),
        vec![
            Event::ParticipantJoined {
                conference: j.conference.clone(),
                account: account(1),
                call: call(2),
                muted: false,
                start_conference_on_enter: true,
                end_conference_on_exit: false,
                label: Some("coach".into()),
                coach: Some(call(1)),
                at,
            },
            Event::StatusChanged {
                sid: j.conference,
                status: ConferenceStatus::InProgress,
                reason: None,
                ending_call: None,
                at,
            },
        ]
    );
    let view = w.confs.participant(&call(2)).expect("in");
    assert_eq!(view.coach, Some(call(1)));
    assert!(!view.hold);
}

#[test]
fn coaching_a_call_not_in_the_conference_is_refused() {
    let mut w = World::new();
    // No conference yet: nobody to coach, and nothing is created.
    assert_eq!(
        w.join_labelled("r", 2, None, Some(1)),
        Err(JoinError::NoCallToCoach)
    );
    assert_eq!(w.confs.live_count(), 0);
    assert_eq!(w.events(), vec![]);
    w.join("r", 1);
    w.join("elsewhere", 3);
    assert_eq!(
        w.join_labelled("r", 2, None, Some(3)),
        Err(JoinError::NoCallToCoach)
    );
}

#[test]
fn hold_and_end_on_exit_change_with_an_event_only_when_they_change() {
    let mut w = World::new();
    let j = w.join("r", 1);
    w.join("r", 2);
    w.events();
    let sid = j.conference.clone();
    let t = w.t();
    w.confs
        .set_hold(&account(1), &sid, &call(1), true, t)
        .expect("hold");
    w.confs
        .set_hold(&account(1), &sid, &call(1), true, t)
        .expect("hold again");
    w.confs
        .set_end_conference_on_exit(&account(1), &sid, &call(2), true, t)
        .expect("end on exit");
    w.confs
        .set_end_conference_on_exit(&account(1), &sid, &call(2), true, t)
        .expect("again");
    assert_eq!(
        w.events(),
        vec![
            Event::ParticipantHold {
                conference: sid.clone(),
                call: call(1),
                hold: true,
                at: t,
            },
            Event::ParticipantEndOnExit {
                conference: sid.clone(),
                call: call(2),
                end_conference_on_exit: true,
                at: t,
            },
        ]
    );
    let view = w.confs.participant(&call(1)).expect("in");
    assert!(view.hold);
    assert!(
        w.confs
            .participant(&call(2))
            .expect("in")
            .options
            .end_conference_on_exit
    );
    // Another account, or another conference, sees no such participant.
    assert_eq!(
        w.confs.set_hold(&account(2), &sid, &call(1), false, t),
        Err(ParticipantError::NotFound)
    );
    assert_eq!(
        w.confs.set_end_conference_on_exit(
            &account(1),
            &ConferenceSid::from_random([99; 16]),
            &call(1),
            false,
            t
        ),
        Err(ParticipantError::NotFound)
    );
    // The participant made to end the conference on exit now does.
    assert_eq!(w.leave(2), vec![call(1)]);
    assert_eq!(
        w.ending(),
        Some((
            Some(ConferenceEndReason::EndConferenceOnExitLeft),
            Some(call(2))
        ))
    );
}

#[test]
fn unsetting_end_on_exit_keeps_the_conference_going() {
    let mut w = World::new();
    let j = w.join_as(1, "r", 1, moderator()).expect("join");
    w.join("r", 2);
    let t = w.t();
    w.confs
        .set_end_conference_on_exit(&account(1), &j.conference, &call(1), false, t)
        .expect("unset");
    assert!(w.leave(1).is_empty());
    assert!(w.confs.participant(&call(2)).is_some());
}

#[test]
fn ending_through_the_api_drops_everyone_in_join_order() {
    let mut w = World::new();
    let j = w.join("r", 1);
    w.join("r", 2);
    w.join("other", 3);
    w.events();
    let t = w.t();
    assert_eq!(
        w.confs.end(&account(2), &j.conference, t),
        Err(ParticipantError::NotFound)
    );
    let dropped = w.confs.end(&account(1), &j.conference, t).expect("end");
    w.confs.check_invariants().expect("invariants");
    assert_eq!(dropped, vec![call(1), call(2)]);
    let sid = j.conference.clone();
    assert_eq!(
        w.events(),
        vec![
            Event::ParticipantLeft {
                conference: sid.clone(),
                call: call(1),
                reason: LeaveReason::ConferenceEnded,
                at: t,
            },
            Event::ParticipantLeft {
                conference: sid.clone(),
                call: call(2),
                reason: LeaveReason::ConferenceEnded,
                at: t,
            },
            Event::StatusChanged {
                sid: sid.clone(),
                status: ConferenceStatus::Completed,
                reason: Some(ConferenceEndReason::EndedViaApi),
                ending_call: None,
                at: t,
            },
        ]
    );
    assert_eq!(w.confs.live_conference(&account(1), "r"), None);
    assert!(w.confs.participant(&call(3)).is_some());
    // Ended already: no such live conference.
    assert_eq!(
        w.confs.end(&account(1), &sid, t),
        Err(ParticipantError::NotFound)
    );
}

#[test]
fn kicks_and_leaves_give_each_end_reason() {
    let mut w = World::new();
    // The last participant kicked.
    let j = w.join("a", 1);
    w.events();
    let t = w.t();
    w.confs
        .kick(&account(1), &j.conference, &call(1), t)
        .expect("kick");
    assert_eq!(
        w.ending(),
        Some((
            Some(ConferenceEndReason::LastParticipantKicked),
            Some(call(1))
        ))
    );
    // An endConferenceOnExit participant kicked.
    let j = w.join_as(1, "b", 2, moderator()).expect("join");
    w.join("b", 3);
    w.events();
    let t = w.t();
    w.confs
        .kick(&account(1), &j.conference, &call(2), t)
        .expect("kick");
    assert_eq!(
        w.ending(),
        Some((
            Some(ConferenceEndReason::EndConferenceOnExitKicked),
            Some(call(2))
        ))
    );
    // The last participant pressing `*` left.
    w.join("c", 4);
    w.events();
    w.confs
        .leave(&call(4), LeaveReason::HangupOnStar, w.t())
        .expect("leave");
    assert_eq!(
        w.ending(),
        Some((
            Some(ConferenceEndReason::LastParticipantLeft),
            Some(call(4))
        ))
    );
    // Shutdown has no reason Twilio names.
    w.join("d", 5);
    w.events();
    w.confs.end_all(w.t());
    assert_eq!(w.ending(), Some((None, None)));
}
