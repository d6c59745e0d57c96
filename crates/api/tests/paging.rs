//! The paging of list resources as a client sees it, for any total, page
//! size and page number: the attributes of the list element
//! (decisions.md, "Lists"), the records on the page, and the page URIs,
//! which are followed to check where they lead.
//!
//! `crates/model/src/page.rs` checks the arithmetic of a window given what
//! the store returned; this checks what the router and the store return
//! together: that `LIMIT`/`OFFSET` and the totals agree with the
//! attributes, that pages partition the list (walking `nextpageuri` from
//! `firstpageuri` yields every record once, in the order of one big page),
//! and that the URIs keep the filters.
//!
//! One SQLite store holds, for each k in 0..=MAX_TOTAL, k completed
//! conferences named `n{k}` (so `FriendlyName=n{k}` matches exactly k,
//! with many ties in DateUpdated), and one live conference with
//! PARTICIPANTS participants, every third muted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use api::{AppState, BoxFuture, CallControl, CallControlError, ParticipantCommand, router};
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use model::{
    Account, AccountSid, AuthToken, CallSid, ConferenceRecord, ConferenceSid, ConferenceStatus,
    ParticipantRecord, Timestamp,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use store::{Change, Store};
use tower::ServiceExt as _;

const AC: &str = "AC5ea872f6da5a21de157d80997a64bd33";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const LIVE: &str = "CFffffffffffffffffffffffffffffffff";
const MAX_TOTAL: u64 = 45;
const PARTICIPANTS: u64 = 37;

/// Lists only: nobody is muted or kicked here.
struct NoControl;

impl CallControl for NoControl {
    fn apply(&self, _: ParticipantCommand) -> BoxFuture<'_, Result<(), CallControlError>> {
        Box::pin(async { Err(CallControlError::Unavailable) })
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_246_838_400 + secs)
}

async fn seeded(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = Store::connect(&url).await.unwrap();
    let ac = AccountSid::parse(AC).unwrap();
    store
        .insert_account(&Account {
            sid: ac.clone(),
            friendly_name: "paging".into(),
            auth_token: AuthToken::from_stored(TOKEN.into()),
            date_created: at(0),
            date_updated: at(0),
        })
        .await
        .unwrap();
    let mut changes = Vec::new();
    let mut i = 0u64;
    for k in 0..=MAX_TOTAL {
        for _ in 0..k {
            i += 1;
            // Few distinct times: ties must be broken the same way on every page.
            let when = at(i64::try_from(i % 4).unwrap() * 60);
            changes.push(Change::ConferenceCreated(ConferenceRecord {
                reason_ended: None,
                call_sid_ending: None,
                sid: ConferenceSid::parse(&format!("CF{:032x}", i * 7919 % 100_003)).unwrap(),
                account_sid: ac.clone(),
                friendly_name: format!("n{k}"),
                status: ConferenceStatus::Completed,
                date_created: when,
                date_updated: when,
            }));
        }
    }
    let live = ConferenceSid::parse(LIVE).unwrap();
    changes.push(Change::ConferenceCreated(ConferenceRecord {
        reason_ended: None,
        call_sid_ending: None,
        sid: live.clone(),
        account_sid: ac.clone(),
        friendly_name: "live".into(),
        status: ConferenceStatus::InProgress,
        date_created: at(10_000),
        date_updated: at(10_000),
    }));
    for p in 0..PARTICIPANTS {
        let when = at(10_000 + i64::try_from(p / 3).unwrap());
        changes.push(Change::ParticipantJoined(ParticipantRecord {
            hold: false,
            label: None,
            call_sid_to_coach: None,
            call_sid: CallSid::parse(&format!("CA{:032x}", p * 104_729 % 1_000_003)).unwrap(),
            conference_sid: live.clone(),
            account_sid: ac.clone(),
            muted: p % 3 == 0,
            start_conference_on_enter: true,
            end_conference_on_exit: false,
            date_created: when,
            date_updated: when,
        }));
    }
    for chunk in changes.chunks(200) {
        store.apply(chunk).await.unwrap();
    }
    store
}

/// A list response: the list element's attributes and the sids on the page.
#[derive(Debug)]
struct Page {
    attrs: BTreeMap<String, String>,
    sids: Vec<String>,
}

impl Page {
    fn num(&self, key: &str) -> u64 {
        self.attrs[key].parse().unwrap()
    }

    fn uri(&self, key: &str) -> &str {
        &self.attrs[key]
    }
}

async fn get(state: &AppState, uri: &str, list: &str, sid: &str) -> Page {
    let request = Request::builder()
        .uri(uri)
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("{AC}:{TOKEN}"))),
        )
        .body(Body::empty())
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let open = format!("<{list} ");
    let start = body.find(&open).unwrap_or_else(|| panic!("{uri}: {body}")) + open.len();
    let head = &body[start..start + body[start..].find('>').unwrap()];
    let mut attrs = BTreeMap::new();
    for pair in head.split("\" ") {
        let (key, value) = pair.split_once("=\"").unwrap();
        let value = value.trim_end_matches('"').replace("&amp;", "&");
        attrs.insert(key.to_owned(), value);
    }
    let (open, close) = (format!("<{sid}>"), format!("</{sid}>"));
    let sids = body
        .split(&open)
        .skip(1)
        .map(|rest| rest.split_once(&close).unwrap().0.to_owned())
        .collect();
    Page { attrs, sids }
}

/// Page `page` of size `num` of the list at `path` with `filter`, checked
/// against `all` (the whole list, in order), and its URIs followed.
async fn check(state: &AppState, path: &str, filter: &str, all: &[String], page: u64, num: u64) {
    let (list, sid) = if path.ends_with("/Participants") {
        ("Participants", "CallSid")
    } else {
        ("Conferences", "Sid")
    };
    let sep = if filter.is_empty() { "" } else { "&" };
    let uri = format!("{path}?{filter}{sep}Page={page}&PageSize={num}");
    let p = get(state, &uri, list, sid).await;
    let total = all.len() as u64;
    let numpages = total.div_ceil(num);
    // A page number a client may send can overflow page * num: confab
    // saturates (and the page is empty, being past any end).
    let start = page.saturating_mul(num);
    let items = total.saturating_sub(start).min(num);
    assert_eq!(
        (
            p.num("page"),
            p.num("pagesize"),
            p.num("total"),
            p.num("numpages")
        ),
        (page, num, total, numpages),
        "{uri}"
    );
    assert_eq!(p.num("start"), start, "{uri}");
    let end = if items == 0 { start } else { start + items - 1 };
    assert_eq!(p.num("end"), end, "{uri}");
    let expected: &[String] = if items == 0 {
        &[]
    } else {
        &all[start as usize..(start + items) as usize]
    };
    assert_eq!(p.sids, expected, "{uri}");

    // The URIs: the filters kept, then page and num.
    let at = |k: u64| {
        let want_tail = format!("page={k}&num={num}");
        move |u: &str| {
            u.starts_with(&format!("{path}?"))
                && u.ends_with(&want_tail)
                && (filter.is_empty() || u.contains(filter))
        }
    };
    let last = numpages.saturating_sub(1);
    assert!(at(page)(p.uri("uri")), "{uri}: uri {}", p.uri("uri"));
    assert!(
        at(0)(p.uri("firstpageuri")),
        "{uri}: first {}",
        p.uri("firstpageuri")
    );
    assert!(
        at(last)(p.uri("lastpageuri")),
        "{uri}: last {}",
        p.uri("lastpageuri")
    );
    match page.checked_add(1).filter(|&n| n < numpages) {
        Some(next) => assert!(at(next)(p.uri("nextpageuri")), "{uri}: {:?}", p.attrs),
        None => assert_eq!(p.uri("nextpageuri"), "", "{uri}"),
    }
    match page.checked_sub(1) {
        Some(prev) => assert!(
            at(prev.min(last))(p.uri("previouspageuri")),
            "{uri}: {:?}",
            p.attrs
        ),
        None => assert_eq!(p.uri("previouspageuri"), "", "{uri}"),
    }

    // Where they lead: the last page holds the remainder; from the first
    // page, nextpageuri walks the whole list once, in order.
    let last_page = get(state, p.uri("lastpageuri"), list, sid).await;
    let remainder = total - last * num;
    assert_eq!(
        last_page.sids.len() as u64,
        remainder.min(num),
        "{uri}: last page"
    );
    let mut walked = Vec::new();
    let mut next = p.uri("firstpageuri").to_owned();
    let mut pages = 0;
    while !next.is_empty() {
        let q = get(state, &next, list, sid).await;
        assert_eq!(q.num("total"), total, "{next}");
        walked.extend(q.sids.iter().cloned());
        next = q.uri("nextpageuri").to_owned();
        pages += 1;
        assert!(pages <= numpages.max(1), "{uri}: more pages than numpages");
    }
    assert_eq!(walked, all, "{uri}: walking nextpageuri");
}

#[test]
fn any_page_of_any_list_agrees_with_the_attributes_and_its_uris() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = rt.block_on(async {
        let store = seeded(&dir).await;
        AppState::new(store, Arc::new(NoControl))
    });
    let conferences = format!("/2008-08-01/Accounts/{AC}/Conferences");
    let participants = format!("{conferences}/{LIVE}/Participants");
    // The oracle: each list as one page of the largest size.
    let whole = |path: String, filter: String, list: &'static str, sid: &'static str| {
        let state = state.clone();
        rt.block_on(async move {
            let uri = format!("{path}?{filter}&num=1000");
            get(&state, &uri, list, sid).await.sids
        })
    };
    let mut lists = Vec::new();
    for k in 0..=MAX_TOTAL {
        let filter = format!("FriendlyName=n{k}");
        let all = whole(conferences.clone(), filter.clone(), "Conferences", "Sid");
        assert_eq!(all.len() as u64, k, "{filter}");
        lists.push((conferences.clone(), filter, all));
    }
    for filter in ["", "Muted=true", "Muted=false"] {
        let all = whole(
            participants.clone(),
            filter.into(),
            "Participants",
            "CallSid",
        );
        let want = match filter {
            "" => PARTICIPANTS,
            "Muted=true" => PARTICIPANTS.div_ceil(3),
            _ => PARTICIPANTS - PARTICIPANTS.div_ceil(3),
        };
        assert_eq!(all.len() as u64, want, "{filter}");
        lists.push((participants.clone(), filter.to_owned(), all));
    }
    let n = lists.len();
    let strategy = (
        0..n,
        prop_oneof![4 => 1u64..=12, 1 => 13u64..=1000],
        prop_oneof![4 => 0u64..=15, 1 => 16u64..=u64::MAX],
    );
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    runner
        .run(&strategy, |(which, num, page)| {
            let (path, filter, all) = &lists[which];
            rt.block_on(check(&state, path, filter, all, page, num));
            Ok(())
        })
        .unwrap();
}
