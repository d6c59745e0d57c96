//! The Calls lists against their reference, `CallFilter::matches`: every
//! filter shape the APIs send, in both orders, paged, on a store of calls
//! that differ in every filtered field. Also the participant reads the
//! 2010-04-01 API adds (by label; the Hold and Coaching filters).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use model::{
    Account, AccountSid, AuthToken, CallDirection, CallFilter, CallRecord, CallSid, CallStatus,
    ConferenceRecord, ConferenceSid, ConferenceStatus, DateRange, PageRequest, ParticipantFilter,
    ParticipantRecord, Timestamp,
};
use store::{CallOrder, Change, Store};

const DAY: i64 = 86_400;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_700_006_400 + secs) // a UTC midnight + secs
}

fn sid(n: u8) -> CallSid {
    CallSid::from_random([n; 16])
}

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    (Store::connect(&url).await.unwrap(), dir)
}

/// 24 calls of one account over three days, and one of another account.
fn calls(account: &AccountSid, other: &AccountSid) -> Vec<CallRecord> {
    let statuses = [
        CallStatus::InProgress,
        CallStatus::Complete,
        CallStatus::FailedBusy,
        CallStatus::NotYetDialed,
        CallStatus::Ringing,
        CallStatus::Canceled,
        CallStatus::FailedNoAnswer,
        CallStatus::FailedApplicationError,
    ];
    let mut out: Vec<CallRecord> = (0..24u8)
        .map(|i| {
            let n = i64::from(i);
            let start = at((n % 3) * DAY + n * 60);
            let status = statuses[usize::from(i) % statuses.len()];
            let ended = status.is_final();
            CallRecord {
                sid: sid(i + 1),
                account_sid: account.clone(),
                phone_number_sid: None,
                caller: ["alice", "bob", "carol"][usize::from(i) % 3].to_owned(),
                called: ["room", "+15551234567"][usize::from(i) % 2].to_owned(),
                direction: CallDirection::Inbound,
                status,
                start_time: matches!(status, CallStatus::InProgress | CallStatus::Complete)
                    .then_some(start),
                end_time: ended.then(|| at((n % 3) * DAY + n * 60 + DAY / 2 * (n % 2))),
                duration: None,
                failure: None,
                date_created: start,
                // Updates in another order than creations.
                date_updated: at(((n * 7) % 24) * 3_600),
            }
        })
        .collect();
    let mut foreign = out[0].clone();
    foreign.sid = sid(99);
    foreign.account_sid = other.clone();
    out.push(foreign);
    out
}

fn filters() -> Vec<CallFilter> {
    let day = |d: i64| DateRange {
        from: Some(at(d * DAY)),
        until: Some(at((d + 1) * DAY)),
    };
    let from = |d: i64| DateRange {
        from: Some(at(d * DAY)),
        until: None,
    };
    let mut out = vec![CallFilter::default()];
    for status in CallStatus::ALL {
        out.push(CallFilter {
            status: Some(vec![status]),
            ..Default::default()
        });
    }
    // The 2008 codes that name two statuses each, and an empty set.
    for statuses in [CallStatus::from_code_2008(0), CallStatus::from_code_2008(5)] {
        assert_eq!(statuses.as_ref().map(Vec::len), Some(2));
        out.push(CallFilter {
            status: statuses,
            ..Default::default()
        });
    }
    out.push(CallFilter {
        status: Some(Vec::new()),
        ..Default::default()
    });
    out.push(CallFilter {
        caller: Some("bob".into()),
        called: Some("room".into()),
        ..Default::default()
    });
    out.push(CallFilter {
        called: Some("+15551234567".into()),
        start_time: day(1),
        ..Default::default()
    });
    out.push(CallFilter {
        start_time: from(2),
        end_time: from(2),
        ..Default::default()
    });
    out.push(CallFilter {
        end_time: day(0),
        status: Some(vec![CallStatus::FailedBusy]),
        ..Default::default()
    });
    out.push(CallFilter {
        parent_call_sid: Some(sid(1)),
        ..Default::default()
    });
    out
}

#[tokio::test]
async fn call_lists_agree_with_the_reference() {
    let (store, _dir) = store().await;
    let account = AccountSid::from_random([1; 16]);
    let other = AccountSid::from_random([2; 16]);
    let all = calls(&account, &other);
    for c in &all {
        store.insert_call(c).await.unwrap();
    }
    let seeking = store.clone().with_shallow_rows(0);
    for filter in filters() {
        for order in [CallOrder::Created, CallOrder::Updated] {
            let mut want: Vec<&CallRecord> = all
                .iter()
                .filter(|c| c.account_sid == account && filter.matches(c))
                .collect();
            want.sort_by(|a, b| {
                let key = |c: &CallRecord| match order {
                    CallOrder::Created => c.date_created,
                    CallOrder::Updated => c.date_updated,
                };
                key(b)
                    .cmp(&key(a))
                    .then_with(|| a.sid.as_str().cmp(b.sid.as_str()))
            });
            // Every status is in the store: a status filter finds each of
            // its statuses.
            for status in filter.status.iter().flatten() {
                assert!(want.iter().any(|c| c.status == *status), "{filter:?}");
            }
            // Every page both ways: walked from the top (the first 1,000
            // rows) and found through the per-day counts.
            let sizes = [1, 5, 50].into_iter();
            for (lists, size) in sizes.flat_map(|size| [(&store, size), (&seeking, size)]) {
                for page in 0..=want.len().div_ceil(size as usize) as u64 {
                    let (got, total) = lists
                        .calls(&account, &filter, order, PageRequest { page, size })
                        .await
                        .unwrap();
                    assert_eq!(total, want.len() as u64, "{filter:?}");
                    let expected: Vec<&CallRecord> = want
                        .iter()
                        .skip((page * size) as usize)
                        .take(size as usize)
                        .copied()
                        .collect();
                    let got: Vec<&CallRecord> = got.iter().collect();
                    assert_eq!(
                        got, expected,
                        "{filter:?} {order:?} page {page} size {size}"
                    );
                }
            }
        }
    }
    assert_eq!(
        store.call_of(&account, &sid(1)).await.unwrap().as_ref(),
        Some(&all[0])
    );
    assert_eq!(store.call_of(&other, &sid(1)).await.unwrap(), None);
    assert_eq!(store.call_of(&account, &sid(99)).await.unwrap(), None);
}

#[tokio::test]
async fn participants_by_label_and_by_hold_and_coaching() {
    let (store, _dir) = store().await;
    let account = AccountSid::from_random([1; 16]);
    let other = AccountSid::from_random([2; 16]);
    for a in [&account, &other] {
        store
            .insert_account(&Account {
                sid: a.clone(),
                friendly_name: "t".into(),
                auth_token: AuthToken::from_random([3; 16]),
                date_created: at(0),
                date_updated: at(0),
            })
            .await
            .unwrap();
    }
    let cf = ConferenceSid::from_random([4; 16]);
    let participant =
        |n: u8, hold: bool, coach: Option<u8>, label: Option<&str>| ParticipantRecord {
            call_sid: sid(n),
            conference_sid: cf.clone(),
            account_sid: account.clone(),
            muted: n.is_multiple_of(2),
            hold,
            label: label.map(str::to_owned),
            call_sid_to_coach: coach.map(sid),
            start_conference_on_enter: true,
            end_conference_on_exit: false,
            date_created: at(i64::from(n)),
            date_updated: at(i64::from(n)),
        };
    let people = [
        participant(1, false, None, Some("agent")),
        participant(2, true, None, Some("customer one")),
        participant(3, true, Some(2), None),
        participant(4, false, Some(1), Some("coach")),
    ];
    let mut changes = vec![Change::ConferenceCreated(ConferenceRecord {
        sid: cf.clone(),
        account_sid: account.clone(),
        friendly_name: "room".into(),
        status: ConferenceStatus::Init,
        date_created: at(0),
        date_updated: at(0),
        reason_ended: None,
        call_sid_ending: None,
    })];
    changes.extend(people.iter().cloned().map(Change::ParticipantJoined));
    store.apply(&changes).await.unwrap();

    let found = store
        .participant_by_label(&account, &cf, "customer one")
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&people[1]));
    for (acc, label) in [(&account, "nobody"), (&other, "agent"), (&account, "")] {
        assert_eq!(
            store.participant_by_label(acc, &cf, label).await.unwrap(),
            None
        );
    }
    for muted in [None, Some(true), Some(false)] {
        for hold in [None, Some(true), Some(false)] {
            for coaching in [None, Some(true), Some(false)] {
                let filter = ParticipantFilter {
                    muted,
                    hold,
                    coaching,
                };
                let want: Vec<&ParticipantRecord> =
                    people.iter().filter(|p| filter.matches(p)).collect();
                let (got, total) = store
                    .participants(&account, &cf, &filter, PageRequest::default())
                    .await
                    .unwrap();
                assert_eq!(got.iter().collect::<Vec<_>>(), want, "{filter:?}");
                assert_eq!(total, want.len() as u64);
            }
        }
    }
}

/// Ended calls are kept in the store's cache once read, and only those: a
/// live call is read afresh each time, so its end shows at once in the
/// lists and by sid; a cached call is still scoped by account.
#[tokio::test]
async fn a_live_call_is_read_afresh_and_an_ended_one_stays_scoped() {
    let (store, _dir) = store().await;
    let account = AccountSid::from_random([1; 16]);
    let other = AccountSid::from_random([2; 16]);
    let live = calls(&account, &other)[0].clone();
    assert_eq!(live.status, CallStatus::InProgress);
    store.insert_call(&live).await.unwrap();
    let list = |order| {
        let store = store.clone();
        let account = account.clone();
        async move {
            let page = PageRequest { page: 0, size: 50 };
            let filter = CallFilter::default();
            store.calls(&account, &filter, order, page).await.unwrap()
        }
    };
    for order in [CallOrder::Created, CallOrder::Updated] {
        assert_eq!(list(order).await, (vec![live.clone()], 1));
    }
    assert_eq!(
        store.call_of(&account, &live.sid).await.unwrap(),
        Some(live.clone())
    );

    assert!(
        store
            .finish_call(&live.sid, CallStatus::Complete, at(600), None)
            .await
            .unwrap()
    );
    let ended = store.call(&live.sid).await.unwrap().unwrap();
    assert_eq!(
        (ended.status, ended.end_time),
        (CallStatus::Complete, Some(at(600)))
    );
    for order in [CallOrder::Created, CallOrder::Updated] {
        assert_eq!(list(order).await, (vec![ended.clone()], 1));
    }
    // Now cached: read by sid, for its account only.
    assert_eq!(
        store.call_of(&account, &live.sid).await.unwrap(),
        Some(ended)
    );
    assert_eq!(store.call_of(&other, &live.sid).await.unwrap(), None);
}
