//! The 2010 API's conference controls end to end, on the audio: hold (with
//! confab's hold music or a `HoldUrl`), announcements, ending a conference,
//! `endConferenceOnExit` set on a live participant, labels, and the reason
//! a conference ended as the store records it. The HTTP side is the API's:
//! these drive `CallControl` through the server's hub handle, as the API
//! does. RTP ports 50000–50999.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use api::{CallControl, ConferenceCommand, Fetchable, ParticipantCommand, ParticipantKey};
use conference::{JoinError, JoinRequest, ParticipantOptions};
use media::goertzel::rms;
use media::tone_fraction;
use model::{
    AccountSid, CallSid, ConferenceEndReason, ConferenceRecord, ConferenceSid, HttpMethod,
    ParticipantRecord,
};
use server::hub::JoinFailure;

use crate::common::caller::{Caller, DEADLINE, describe};
use crate::common::rig::{App, Rig, param};

/// Hears `a` and `b` (two tones of equal level share the energy) and not `not`.
pub(crate) fn hears_both(a: f64, b: f64, not: f64) -> impl Fn(&[i16]) -> bool {
    move |s| {
        let (a, b) = (tone_fraction(s, a), tone_fraction(s, b));
        a > 0.3 && b > 0.3 && a + b > 0.85 && tone_fraction(s, not) < 0.05
    }
}

/// A participant of the rig's account, as the API names it.
fn key(rig: &Rig, cf: &str, call: &str) -> ParticipantKey {
    ParticipantKey {
        account: rig.account.sid.clone(),
        conference: ConferenceSid::parse(cf).unwrap(),
        call: CallSid::parse(call).unwrap(),
    }
}

/// The stored participant, once `until` holds for it.
async fn participant_row(
    rig: &Rig,
    key: &ParticipantKey,
    until: impl Fn(&ParticipantRecord) -> bool,
) -> ParticipantRecord {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let row = rig
            .store
            .participant(&key.account, &key.conference, &key.call)
            .await
            .unwrap();
        if let Some(row) = row
            && until(&row)
        {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "the participant row never got there"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stored conference, once it is completed.
async fn completed(rig: &Rig, account: &AccountSid, cf: &str) -> ConferenceRecord {
    let sid = ConferenceSid::parse(cf).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let row = rig.store.conference(account, &sid).await.unwrap();
        if let Some(row) = row
            && row.status == model::ConferenceStatus::Completed
        {
            return row;
        }
        assert!(Instant::now() < deadline, "conference {cf} never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every 200 ms window of `heard` passes `check`.
fn each_window(who: &str, what: &str, heard: &[i16], check: impl Fn(&[i16]) -> bool) {
    for (i, window) in heard.chunks(1600).enumerate() {
        assert!(
            check(window),
            "{who}, window {i}: {what}: {}",
            describe(window)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_caller_is_out_of_the_mix_both_ways_and_hears_hold_music_until_unheld() {
    let rig = Rig::new((50000, 50099), true).await;
    // One at a time: the participants' order is the callers'.
    let a = Caller::dial(rig.sip, "held", "a", 400).await.unwrap();
    rig.room_of(&rig.account, "held", "0", 1).await;
    let b = Caller::dial(rig.sip, "held", "b", 700).await.unwrap();
    rig.room_with("held", 2).await;
    let c = Caller::dial(rig.sip, "held", "c", 1100).await.unwrap();
    let (cf, calls) = rig.room_with("held", 3).await;
    a.until_heard("a hears b and c", hears_both(700.0, 1100.0, 400.0))
        .await;
    let held = key(&rig, &cf, &calls[2]);
    let hub = rig.server.hub();

    let hold = ParticipantCommand::SetHold {
        participant: held.clone(),
        hold: true,
        music: None,
    };
    hub.apply(hold).await.expect("hold");
    // Answered after a tick mixed without c: every packet behind the fences
    // lacks c's tone.
    let fences = [a.fence().await, b.fence().await];
    for ((who, phone, other), fence) in [("a", &a, 700.0), ("b", &b, 400.0)].into_iter().zip(fences)
    {
        let packets = phone.packets_after_fence(fence, 400).await;
        let mut stretch = Vec::new();
        for (i, packet) in packets.iter().enumerate() {
            assert!(
                tone_fraction(packet, 1100.0) < 0.02,
                "{who} still hears held c in packet {i}: {}",
                describe(packet)
            );
            stretch.extend_from_slice(packet);
        }
        assert!(
            tone_fraction(&stretch, other) > 0.6,
            "{who} lost the other caller too: {}",
            describe(&stretch)
        );
    }
    // c hears hold music, and nobody in the room, for a while.
    c.until_heard("held c hears music", |s| rms(s) > 300.0)
        .await;
    let heard = c.listen_from(c.heard_len(), 600).await;
    each_window("c", "held, hears the room", &heard, |w| {
        tone_fraction(w, 400.0) < 0.05 && tone_fraction(w, 700.0) < 0.05
    });
    assert!(
        rms(&heard) > 300.0,
        "held c hears no music: {}",
        describe(&heard)
    );
    let row = participant_row(&rig, &held, |p| p.hold).await;
    assert!(row.hold && !row.muted, "{row:?}");

    let unhold = ParticipantCommand::SetHold {
        participant: held.clone(),
        hold: false,
        music: None,
    };
    hub.apply(unhold).await.expect("unhold");
    c.until_heard("unheld c hears a and b", hears_both(400.0, 700.0, 1100.0))
        .await;
    a.until_heard("a hears c again", hears_both(700.0, 1100.0, 400.0))
        .await;
    assert!(!participant_row(&rig, &held, |p| !p.hold).await.hold);

    // Another account's key, or a call not in the conference: not found.
    let stranger = ParticipantKey {
        call: server::ids::call_sid(),
        ..held.clone()
    };
    let refused = hub
        .apply(ParticipantCommand::SetHold {
            participant: stranger,
            hold: true,
            music: None,
        })
        .await;
    assert_eq!(refused, Err(api::CallControlError::NotFound));
    a.hang_up().await;
    b.hang_up().await;
    c.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_url_and_an_announce_url_are_fetched_signed_and_heard_by_their_caller_only() {
    let rig = Rig::new((50100, 50199), true).await;
    let (base, hits) = App::new()
        .twiml("/hold", "<Response><Play>/tone/1300</Play></Response>")
        .twiml("/hold-2", "<Response><Play>/tone/1500</Play></Response>")
        .twiml(
            "/announce",
            "<Response><Pause length=\"1\"/><Play>/tone/1700</Play></Response>",
        )
        .start()
        .await;
    let a = Caller::dial(rig.sip, "urls", "a", 400).await.unwrap();
    rig.room_of(&rig.account, "urls", "0", 1).await;
    let b = Caller::dial(rig.sip, "urls", "b", 700).await.unwrap();
    let (cf, calls) = rig.room_with("urls", 2).await;
    a.until_heard("a hears b", |s| tone_fraction(s, 700.0) > 0.6)
        .await;
    let hub = rig.server.hub();

    let held = key(&rig, &cf, &calls[1]);
    let hold = ParticipantCommand::SetHold {
        participant: held.clone(),
        hold: true,
        music: Some(Fetchable {
            url: format!("{base}/hold"),
            method: HttpMethod::Post,
        }),
    };
    hub.apply(hold).await.expect("hold");
    b.until_heard("held b hears its HoldUrl's 1300 Hz", |s| {
        tone_fraction(s, 1300.0) > 0.6 && tone_fraction(s, 400.0) < 0.05
    })
    .await;
    let hit = hits.to("/hold", &calls[1]).await;
    assert_eq!(
        hit.signature,
        hit.expected_signature(&base, &rig.account.auth_token)
    );
    assert_eq!(param(&hit, "CallStatus"), "in-progress", "{hit:?}");
    // The music loops (the clip is one second) for as long as the hold.
    let heard = b.listen_from(b.heard_len(), 1400).await;
    each_window("b", "the hold music stopped", &heard, |w| {
        tone_fraction(w, 1300.0) > 0.6
    });
    assert!(
        a.recent(400).iter().all(|&x| x.abs() < 100),
        "a hears held b"
    );
    // Held again with another HoldUrl: its music replaces the first.
    hub.apply(ParticipantCommand::SetHold {
        participant: held.clone(),
        hold: true,
        music: Some(Fetchable {
            url: format!("{base}/hold-2"),
            method: HttpMethod::Get,
        }),
    })
    .await
    .expect("hold again");
    b.until_heard("held b hears the new HoldUrl's 1500 Hz", |s| {
        tone_fraction(s, 1500.0) > 0.6 && tone_fraction(s, 1300.0) < 0.05
    })
    .await;
    hub.apply(ParticipantCommand::SetHold {
        participant: held.clone(),
        hold: false,
        music: None,
    })
    .await
    .expect("unhold");
    b.until_heard("unheld b hears a", |s| tone_fraction(s, 400.0) > 0.6)
        .await;

    // An announcement to a: over the mix, after its one-second pause.
    let to_a = key(&rig, &cf, &calls[0]);
    let announce = ParticipantCommand::Announce {
        participant: to_a,
        audio: Fetchable {
            url: format!("{base}/announce"),
            method: HttpMethod::Get,
        },
    };
    let mark = b.heard_len();
    hub.apply(announce).await.expect("announce");
    a.until_heard("a hears the announcement over b", |s| {
        tone_fraction(s, 1700.0) > 0.3 && tone_fraction(s, 700.0) > 0.2
    })
    .await;
    let hit = hits.to("/announce", &calls[0]).await;
    assert_eq!(
        hit.signature,
        hit.expected_signature(&base, &rig.account.auth_token)
    );
    // It plays once: a hears b alone again.
    a.until_heard("the announcement ended", |s| {
        tone_fraction(s, 1700.0) < 0.05 && tone_fraction(s, 700.0) > 0.6
    })
    .await;
    let heard_by_b = b.heard_since(mark);
    assert!(
        tone_fraction(&heard_by_b, 1700.0) < 0.01,
        "b heard a's announcement: {}",
        describe(&heard_by_b)
    );
    a.hang_up().await;
    b.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conference_announcement_is_heard_by_everyone() {
    let rig = Rig::new((50200, 50299), true).await;
    let (base, _hits) = App::new()
        .twiml("/all", "<Response><Play>/tone/1700</Play></Response>")
        .start()
        .await;
    let a = Caller::dial(rig.sip, "all", "a", 400).await.unwrap();
    let b = Caller::dial(rig.sip, "all", "b", 700).await.unwrap();
    let (cf, _calls) = rig.room_with("all", 2).await;
    b.until_heard("b hears a", |s| tone_fraction(s, 400.0) > 0.6)
        .await;
    let announce = ConferenceCommand::Announce {
        account: rig.account.sid.clone(),
        conference: ConferenceSid::parse(&cf).unwrap(),
        audio: Fetchable {
            url: format!("{base}/all"),
            method: HttpMethod::Post,
        },
    };
    rig.server
        .hub()
        .conference(announce)
        .await
        .expect("announce");
    a.until_heard("a hears it", |s| tone_fraction(s, 1700.0) > 0.3)
        .await;
    b.until_heard("b hears it", |s| tone_fraction(s, 1700.0) > 0.3)
        .await;
    // Another account's conference is not found.
    let other = rig.add_account("other").await;
    let foreign = ConferenceCommand::Announce {
        account: other.sid,
        conference: ConferenceSid::parse(&cf).unwrap(),
        audio: Fetchable {
            url: format!("{base}/all"),
            method: HttpMethod::Post,
        },
    };
    assert_eq!(
        rig.server.hub().conference(foreign).await,
        Err(api::CallControlError::NotFound)
    );
    a.hang_up().await;
    b.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_conference_through_the_api_hangs_up_everyone_and_records_why() {
    let rig = Rig::new((50300, 50399), true).await;
    let mut a = Caller::dial(rig.sip, "ended", "a", 400).await.unwrap();
    let mut b = Caller::dial(rig.sip, "ended", "b", 700).await.unwrap();
    let (cf, calls) = rig.room_with("ended", 2).await;
    a.until_heard("a hears b", |s| tone_fraction(s, 700.0) > 0.6)
        .await;
    let end = ConferenceCommand::End {
        account: rig.account.sid.clone(),
        conference: ConferenceSid::parse(&cf).unwrap(),
    };
    rig.server.hub().conference(end.clone()).await.expect("end");
    // An open room's <Dial> has nothing after it: the server hangs up.
    a.expect_bye().await;
    b.expect_bye().await;
    let row = completed(&rig, &rig.account.sid, &cf).await;
    assert_eq!(
        (row.reason_ended, row.call_sid_ending),
        (Some(ConferenceEndReason::EndedViaApi), None)
    );
    for call in &calls {
        let row = rig
            .call_row(call, |r| r.status != model::CallStatus::InProgress)
            .await;
        assert_eq!(row.status, model::CallStatus::Complete, "{call}");
    }
    // Ended: no such live conference.
    assert_eq!(
        rig.server.hub().conference(end).await,
        Err(api::CallControlError::NotFound)
    );
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_to_leave_and_an_end_on_exit_set_live_are_recorded_as_the_reason() {
    let rig = Rig::new((50400, 50499), true).await;
    // The last participant hangs up.
    let alone = Caller::dial(rig.sip, "alone", "a", 400).await.unwrap();
    let (cf, calls) = rig.room_of(&rig.account, "alone", "0", 1).await;
    alone.hang_up().await;
    let row = completed(&rig, &rig.account.sid, &cf).await;
    assert_eq!(
        (row.reason_ended, row.call_sid_ending.map(|c| c.to_string())),
        (
            Some(ConferenceEndReason::LastParticipantLeft),
            Some(calls[0].clone())
        )
    );

    // endConferenceOnExit set through the API on a live participant.
    let chair = Caller::dial(rig.sip, "chaired", "chair", 400)
        .await
        .unwrap();
    rig.room_of(&rig.account, "chaired", "0", 1).await;
    let mut member = Caller::dial(rig.sip, "chaired", "m", 700).await.unwrap();
    let (cf, calls) = rig.room_with("chaired", 2).await;
    let set = ParticipantCommand::SetEndConferenceOnExit {
        participant: key(&rig, &cf, &calls[0]),
        end_conference_on_exit: true,
    };
    rig.server.hub().apply(set).await.expect("set");
    let row = participant_row(&rig, &key(&rig, &cf, &calls[0]), |p| {
        p.end_conference_on_exit
    })
    .await;
    assert!(row.end_conference_on_exit);
    chair.hang_up().await;
    member.expect_bye().await;
    let row = completed(&rig, &rig.account.sid, &cf).await;
    assert_eq!(
        (row.reason_ended, row.call_sid_ending.map(|c| c.to_string())),
        (
            Some(ConferenceEndReason::EndConferenceOnExitLeft),
            Some(calls[0].clone())
        )
    );

    // The last participant kicked.
    let mut kicked = Caller::dial(rig.sip, "kicked", "k", 400).await.unwrap();
    let (cf, calls) = rig.room_of(&rig.account, "kicked", "0", 1).await;
    let kick = ParticipantCommand::Kick {
        participant: key(&rig, &cf, &calls[0]),
    };
    rig.server.hub().apply(kick).await.expect("kick");
    kicked.expect_bye().await;
    let row = completed(&rig, &rig.account.sid, &cf).await;
    assert_eq!(
        (row.reason_ended, row.call_sid_ending.map(|c| c.to_string())),
        (
            Some(ConferenceEndReason::LastParticipantKicked),
            Some(calls[0].clone())
        )
    );
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_in_use_is_refused_and_the_store_shows_labels_and_coaching() {
    let rig = Rig::new((50500, 50599), true).await;
    let hub = rig.server.hub();
    let request = |call: &CallSid, label: &str, coach: Option<&CallSid>| JoinRequest {
        account: rig.account.sid.clone(),
        name: "labels".into(),
        call: call.clone(),
        options: ParticipantOptions::default(),
        label: Some(label.to_owned()),
        coach: coach.cloned(),
        status_callback: None,
    };
    let (customer, agent, again) = (
        server::ids::call_sid(),
        server::ids::call_sid(),
        server::ids::call_sid(),
    );
    let joined = hub
        .join(request(&customer, "customer", None))
        .await
        .expect("join");
    hub.join(request(&agent, "agent", Some(&customer)))
        .await
        .expect("a coach");
    assert_eq!(
        hub.join(request(&again, "customer", None)).await,
        Err(JoinFailure::Rules(JoinError::LabelInUse))
    );
    let cf = joined.conference;
    let (rows, _) = rig
        .store
        .participants(
            &rig.account.sid,
            &cf,
            &model::ParticipantFilter::default(),
            model::PageRequest { page: 0, size: 50 },
        )
        .await
        .unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|p| {
            (
                p.call_sid.clone(),
                p.label.clone(),
                p.call_sid_to_coach.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (customer.clone(), Some("customer".to_owned()), None),
            (
                agent.clone(),
                Some("agent".to_owned()),
                Some(customer.clone())
            ),
        ]
    );
    // The label is free again once its holder left.
    assert!(hub.leave(customer, conference::LeaveReason::Hangup).await);
    hub.join(request(&again, "customer", None))
        .await
        .expect("the label is free");
    rig.server.stop().await;
}
