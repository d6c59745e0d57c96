//! The 2008-08-01 Conferences and Participants API, end to end through the
//! router, a real SQLite file, and rooms filled by the conference hub.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{DAY, Harness, JULY_6_NOON, basic};
use axum::http::{Method, StatusCode};
use conference::ParticipantOptions;
use model::{ConferenceStatus, Timestamp};

fn default() -> ParticipantOptions {
    ParticipantOptions::default()
}

fn waiter() -> ParticipantOptions {
    ParticipantOptions {
        start_conference_on_enter: false,
        ..ParticipantOptions::default()
    }
}

/// Three rooms on three days: "done" (completed, created Jul 5), "live"
/// (in-progress, created Jul 6), "waiting" (init, created Jul 7).
async fn three_rooms(h: &Harness) -> [String; 3] {
    h.clock.set(Timestamp::from_secs(JULY_6_NOON - DAY));
    let (a, done) = h.join("done", default()).await;
    h.clock.advance_secs(60);
    h.hang_up(&a).await;
    h.clock.set(Timestamp::from_secs(JULY_6_NOON));
    let (_, live) = h.join("live", default()).await;
    h.join("live", default()).await;
    h.clock.set(Timestamp::from_secs(JULY_6_NOON + DAY));
    let (_, waiting) = h.join("waiting", waiter()).await;
    [
        done.conference.to_string(),
        live.conference.to_string(),
        waiting.conference.to_string(),
    ]
}

#[tokio::test]
async fn conference_instance_reads_back_what_the_room_did() {
    let h = Harness::new().await;
    let [done, live, waiting] = three_rooms(&h).await;
    let r = h.get(&format!("{}/Conferences/{live}", h.base())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/xml; charset=utf-8");
    assert!(
        r.body
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{}",
        r.body
    );
    assert_eq!(r.column("Sid"), std::slice::from_ref(&live));
    assert_eq!(r.column("AccountSid"), [h.account.sid.to_string()]);
    assert_eq!(r.column("FriendlyName"), ["live"]);
    assert_eq!(r.column("Status"), ["1"]);
    assert_eq!(r.column("DateCreated"), ["Mon, 06 Jul 2009 12:00:00 +0000"]);
    let r = h.get(&format!("{}/Conferences/{done}", h.base())).await;
    assert_eq!(r.column("Status"), ["2"]);
    assert_eq!(r.column("DateUpdated"), ["Sun, 05 Jul 2009 12:01:00 +0000"]);
    let r = h.get(&format!("{}/Conferences/{waiting}", h.base())).await;
    assert_eq!(r.column("Status"), ["0"]);
}

#[tokio::test]
async fn list_is_newest_update_first_with_seed_attributes() {
    let h = Harness::new().await;
    let [done, live, waiting] = three_rooms(&h).await;
    let r = h.get(&format!("{}/Conferences", h.base())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.column("Sid"), [waiting, live.clone(), done]);
    for (attr, value) in [
        ("page", "0"),
        ("numpages", "1"),
        ("pagesize", "50"),
        ("total", "3"),
        ("start", "0"),
        ("end", "2"),
    ] {
        assert_eq!(r.attr(attr), value, "{attr}");
    }
    // A mute moves DateUpdated, and with it the sort.
    h.clock.set(Timestamp::from_secs(JULY_6_NOON + 2 * DAY));
    let (call, _) = h.join("live", default()).await;
    let r = h.get(&format!("{}/Conferences", h.base())).await;
    assert_eq!(r.column("Sid")[0], live);
    let _ = call;
}

#[tokio::test]
async fn every_filter_alone_and_combined() {
    // The raw `DateCreated<=` form cannot be built as an `http::Uri`; the
    // end-to-end test sends it over a real socket.
    let h = Harness::new().await;
    let [done, live, waiting] = three_rooms(&h).await;
    let cases: &[(&str, Vec<&String>)] = &[
        ("Status=0", vec![&waiting]),
        ("Status=1", vec![&live]),
        ("Status=2", vec![&done]),
        ("Status=in-progress", vec![&live]),
        ("FriendlyName=live", vec![&live]),
        ("FriendlyName=nothing", vec![]),
        ("DateCreated=2009-07-06", vec![&live]),
        ("DateCreated%3C=2009-07-06", vec![&live, &done]),
        ("DateCreated%3E=2009-07-06", vec![&waiting, &live]),
        (
            "DateCreated%3E=2009-07-06&DateCreated%3C=2009-07-06",
            vec![&live],
        ),
        ("DateUpdated=2009-07-05", vec![&done]),
        ("DateUpdated%3C=2009-07-05", vec![&done]),
        ("DateUpdated%3E%3D=2009-07-07", vec![&waiting]),
        (
            "DateUpdated%3E=2009-07-06&DateUpdated%3C=2009-07-06",
            vec![&live],
        ),
        ("Status=1&FriendlyName=live", vec![&live]),
        ("Status=2&DateCreated=2009-07-05", vec![&done]),
        ("Status=1&DateCreated%3E=2009-07-06", vec![&live]),
        ("Status=0&DateCreated%3C=2009-07-06", vec![]),
        ("Status=2&FriendlyName=live", vec![]),
    ];
    for (query, expected) in cases {
        let r = h.get(&format!("{}/Conferences?{query}", h.base())).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
        let expected: Vec<String> = expected.iter().map(|s| (*s).clone()).collect();
        assert_eq!(r.column("Sid"), expected, "{query}");
        assert_eq!(r.attr("total"), expected.len().to_string(), "{query}");
    }
}

#[tokio::test]
async fn paging_arithmetic_and_edges() {
    let h = Harness::new().await;
    let mut sids = Vec::new();
    for i in 0..7 {
        h.clock.advance_secs(1);
        let (_, j) = h.join(&format!("room{i}"), default()).await;
        sids.push(j.conference.to_string());
    }
    sids.reverse(); // newest first
    let list = |q: &str| format!("{}/Conferences?{q}", h.base());

    let r = h.get(&list("num=3")).await;
    assert_eq!(r.column("Sid"), sids[0..3]);
    assert_eq!(
        (r.attr("numpages"), r.attr("start"), r.attr("end")),
        ("3".into(), "0".into(), "2".into())
    );
    let r = h.get(&list("num=3&page=2")).await;
    assert_eq!(r.column("Sid"), sids[6..7]);
    assert_eq!(
        (r.attr("page"), r.attr("start"), r.attr("end")),
        ("2".into(), "6".into(), "6".into())
    );
    assert_eq!(r.attr("nextpageuri"), "");
    // The deprecated spellings work too.
    let r = h.get(&list("Num=3&Page=1")).await;
    assert_eq!(r.column("Sid"), sids[3..6]);
    let r = h.get(&list("PageSize=2&page=1")).await;
    assert_eq!(r.column("Sid"), sids[2..4]);
    // Past the end: 200, empty, true totals.
    let r = h.get(&list("num=3&page=9")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.column("Sid").is_empty());
    assert_eq!(
        (r.attr("total"), r.attr("numpages")),
        ("7".into(), "3".into())
    );
    // num=1000 is fine, num=1001 is not.
    let r = h.get(&list("num=1000")).await;
    assert_eq!(
        (r.status, r.attr("pagesize"), r.column("Sid").len()),
        (StatusCode::OK, "1000".into(), 7)
    );
    let r = h.get(&list("num=1001")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "20007".into())
    );
    // Walking nextpageuri visits every conference once, in order.
    let mut uri = list("num=2");
    let mut seen = Vec::new();
    loop {
        let r = h.get(&uri).await;
        seen.extend(r.column("Sid"));
        let next = r.attr("nextpageuri");
        if next.is_empty() {
            break;
        }
        uri = next;
    }
    assert_eq!(seen, sids);
}

#[tokio::test]
async fn empty_list() {
    let h = Harness::new().await;
    let r = h.get(&format!("{}/Conferences", h.base())).await;
    assert_eq!(r.status, StatusCode::OK);
    for (attr, value) in [
        ("page", "0"),
        ("numpages", "0"),
        ("total", "0"),
        ("start", "0"),
        ("end", "0"),
    ] {
        assert_eq!(r.attr(attr), value, "{attr}");
    }
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let h = Harness::new().await;
    three_rooms(&h).await;
    for (query, param) in [
        ("Status=7", "Status"),
        ("Status=abc", "Status"),
        ("DateCreated=july", "DateCreated"),
        ("DateUpdated%3E=2009-13-01", "DateUpdated"),
        ("num=0", "num"),
        ("num=-1", "num"),
        ("num=abc", "num"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("Page=1.5", "Page"),
        ("page=99999999999999999999999", "page"),
    ] {
        let r = h.get(&format!("{}/Conferences?{query}", h.base())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert_eq!(r.code(), "20001", "{query}");
        assert!(r.message().contains(param), "{query}: {}", r.message());
    }
    // A huge but valid page number is just past the end.
    let r = h
        .get(&format!(
            "{}/Conferences?page=18446744073709551615",
            h.base()
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.attr("total"), "3");
}

#[tokio::test]
async fn participants_list_instance_mute_and_kick() {
    let h = Harness::new().await;
    let (first, joined) = h
        .join(
            "r",
            ParticipantOptions {
                end_conference_on_exit: false,
                ..default()
            },
        )
        .await;
    h.clock.advance_secs(5);
    let (second, _) = h
        .join(
            "r",
            ParticipantOptions {
                muted: true,
                start_conference_on_enter: false,
                ..default()
            },
        )
        .await;
    let cf = joined.conference.to_string();
    let list = format!("{}/Conferences/{cf}/Participants", h.base());

    let r = h.get(&list).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.column("CallSid"), [first.to_string(), second.to_string()]);
    assert_eq!(r.column("Muted"), ["false", "true"]);
    assert_eq!(r.column("StartConferenceOnEnter"), ["1", "0"]);
    assert_eq!(r.column("EndConferenceOnExit"), ["0", "0"]);
    assert_eq!((r.attr("total"), r.attr("end")), ("2".into(), "1".into()));
    assert_eq!(
        h.get(&format!("{list}?Muted=true")).await.column("CallSid"),
        [second.to_string()]
    );
    assert_eq!(
        h.get(&format!("{list}?Muted=false"))
            .await
            .column("CallSid"),
        [first.to_string()]
    );

    // Mute: every spelling of true mutes; anything else unmutes.
    let one = format!("{list}/{first}");
    for (value, muted) in [
        ("true", "true"),
        ("false", "false"),
        ("1", "true"),
        ("0", "false"),
        ("True", "true"),
        ("yes", "false"),
        ("TRUE", "true"),
        ("", "false"),
    ] {
        h.clock.advance_secs(1);
        let r = h.post(&one, &format!("Muted={value}")).await;
        assert_eq!(r.status, StatusCode::OK, "{value}: {}", r.body);
        assert_eq!(r.column("Muted"), [muted], "Muted={value}");
        assert_eq!(
            h.get(&one).await.column("Muted"),
            [muted],
            "GET after Muted={value}"
        );
    }
    // The mute moved the participant's and the conference's DateUpdated.
    h.clock.advance_secs(100);
    let r = h.post(&one, "Muted=true").await;
    let updated = r.column("DateUpdated")[0].clone();
    assert_ne!(updated, r.column("DateCreated")[0]);
    let conf = h.get(&format!("{}/Conferences/{cf}", h.base())).await;
    assert_eq!(conf.column("DateUpdated"), [updated]);

    // Kick: 204, no body, and gone.
    let r = h.send(Method::DELETE, &one, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    assert_eq!(h.get(&one).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.get(&list).await.column("CallSid"), [second.to_string()]);
    assert_eq!(
        h.send(Method::DELETE, &one, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn kicking_the_last_participant_completes_the_room() {
    let h = Harness::new().await;
    let (call, joined) = h.join("r", default()).await;
    let cf = joined.conference;
    let r = h
        .send(
            Method::DELETE,
            &format!("{}/Conferences/{cf}/Participants/{call}", h.base()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h.get(&format!("{}/Conferences/{cf}", h.base())).await;
    assert_eq!(r.column("Status"), ["2"]);
    assert!(
        h.get(&format!("{}/Conferences/{cf}/Participants", h.base()))
            .await
            .column("CallSid")
            .is_empty()
    );
    // The name is free again: a new conference.
    let (_, again) = h.join("r", default()).await;
    assert_ne!(again.conference, cf);
    assert_eq!(again.status, ConferenceStatus::Init);
}

#[tokio::test]
async fn method_override_and_singular_alias() {
    let h = Harness::new().await;
    let (call, joined) = h.join("r", default()).await;
    h.join("r", default()).await;
    let cf = joined.conference;
    let singular = format!("{}/Conference/{cf}/Participants/{call}", h.base());
    let r = h.post(&singular, "Muted=true").await;
    assert_eq!(
        (r.status, r.column("Muted")),
        (StatusCode::OK, vec!["true".to_owned()])
    );
    let r = h.post(&format!("{singular}?_method=DELETE"), "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get(&singular).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn path_tolerance() {
    let h = Harness::new().await;
    let (_, joined) = h.join("r", default()).await;
    let cf = joined.conference;
    let ac = &h.account.sid;
    for uri in [
        format!("//2008-08-01/Accounts/{ac}/Conferences?"),
        format!("/2008-08-01//Accounts/{ac}/Conferences.xml"),
        format!("/2008-08-01/Accounts/{ac}/Conferences/{cf}.xml"),
        format!("/2008-08-01/Accounts/{ac}/Conference/{cf}"),
        format!("/2008-08-01/Accounts/{ac}/Conferences/"),
    ] {
        let r = h.get(&uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
    }
}

#[tokio::test]
async fn every_unsupported_method_is_405_with_allow() {
    let h = Harness::new().await;
    let (call, joined) = h.join("r", default()).await;
    let cf = joined.conference;
    let b = h.base();
    let cases = [
        (
            format!("{b}/Conferences"),
            vec![Method::POST, Method::PUT, Method::DELETE],
            "GET",
        ),
        (
            format!("{b}/Conferences/{cf}"),
            vec![Method::POST, Method::PUT, Method::DELETE],
            "GET",
        ),
        (
            format!("{b}/Conferences/{cf}/Participants"),
            vec![Method::POST, Method::PUT, Method::DELETE],
            "GET",
        ),
        (
            format!("{b}/Conferences/{cf}/Participants/{call}"),
            vec![Method::PUT],
            "GET, POST, DELETE",
        ),
    ];
    for (uri, methods, allow) in cases {
        for method in methods {
            let r = h.send(method.clone(), &uri, Some("Muted=true")).await;
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert_eq!(r.code(), "20004");
            assert_eq!(r.headers["allow"], allow, "{method} {uri}");
        }
    }
    // `_method=PUT` on a POST is a PUT.
    let r = h
        .post(
            &format!("{b}/Conferences/{cf}/Participants/{call}?_method=PUT"),
            "Muted=true",
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // Nothing changed.
    assert_eq!(
        h.get(&format!("{b}/Conferences/{cf}/Participants/{call}"))
            .await
            .column("Muted"),
        ["false"]
    );
}

#[tokio::test]
async fn unauthorized_is_401_with_a_challenge() {
    let h = Harness::new().await;
    let (call, joined) = h.join("r", default()).await;
    let cf = joined.conference;
    let mine = format!("{}/Conferences", h.base());
    let theirs = format!("/2008-08-01/Accounts/{}/Conferences", h.other.sid);
    let (sid, token) = h.credentials();
    let cases = [
        (mine.clone(), None),
        (
            mine.clone(),
            Some(basic(&sid, "0123456789abcdef0123456789abcdef")),
        ),
        (mine.clone(), Some(basic(&sid, ""))),
        (
            mine.clone(),
            Some(basic("ACffffffffffffffffffffffffffffffff", &token)),
        ),
        (mine.clone(), Some("Basic !!!notbase64".to_owned())),
        (mine.clone(), Some("Bearer abc".to_owned())),
        (mine.clone(), Some("Basic".to_owned())),
        (mine.clone(), Some(format!("Basic {}", "QUM=".repeat(3000)))),
        // Valid credentials for another account's URL.
        (theirs.clone(), Some(basic(&sid, &token))),
        (
            format!("/2008-08-01/Accounts/{}/Conferences/{cf}", h.other.sid),
            Some(basic(&sid, &token)),
        ),
        (
            "/2008-08-01/Accounts/ZZ123/Conferences".to_owned(),
            Some(basic(&sid, &token)),
        ),
    ];
    for (uri, auth) in cases {
        let r = h.request(Method::GET, &uri, None, auth.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri} {auth:?}");
        assert_eq!(r.headers["www-authenticate"], "Basic realm=\"confab\"");
        assert_eq!(r.code(), "20003");
    }
    // The other account's own credentials can't touch our participant either.
    let other = basic(h.other.sid.as_str(), h.other.auth_token.expose());
    let ours = format!("{}/Conferences/{cf}/Participants/{call}", h.base());
    let r = h
        .request(Method::DELETE, &ours, None, Some(other.clone()))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .request(Method::POST, &ours, Some("Muted=true"), Some(other))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h.get(&ours).await;
    assert_eq!(
        (r.status, r.column("Muted")),
        (StatusCode::OK, vec!["false".to_owned()])
    );
}

#[tokio::test]
async fn not_found_is_404() {
    let h = Harness::new().await;
    let (call, joined) = h.join("r", default()).await;
    let (their_call, theirs) = h.join_as(&h.other, "r", default()).await;
    let cf = joined.conference;
    let b = h.base();
    for uri in [
        format!("{b}/Conferences/CF00000000000000000000000000000000"),
        format!("{b}/Conferences/CA00000000000000000000000000000000"),
        format!("{b}/Conferences/XX123"),
        format!("{b}/Conferences/{}", theirs.conference),
        format!("{b}/Conferences/{}/Participants", theirs.conference),
        format!("{b}/Conferences/{cf}/Participants/{their_call}"),
        format!("{b}/Conferences/{cf}/Participants/CF00000000000000000000000000000000"),
        format!("{b}/Conferences/{cf}/Participants/CA00000000000000000000000000000000"),
        format!("{b}/conferences"),
        format!("{b}/Calls/{call}/Nope"),
        "/2008-08-01/Nope".to_owned(),
        "/nope".to_owned(),
    ] {
        let r = h.get(&uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}: {}", r.body);
        assert_eq!(r.message(), "The requested resource was not found");
    }
    // Mute/kick of a participant in another conference: 404, nothing changes.
    let wrong = format!("{b}/Conferences/{}/Participants/{call}", theirs.conference);
    assert_eq!(
        h.post(&wrong, "Muted=true").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.send(Method::DELETE, &wrong, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get(&format!("{b}/Conferences/{cf}/Participants/{call}"))
            .await
            .column("Muted"),
        ["false"]
    );
}

#[tokio::test]
async fn hostile_input_gets_a_rest_exception_and_changes_nothing() {
    let h = Harness::new().await;
    let evil = "'; DROP TABLE conferences; -- <a href=\"x\">&amp;</a>";
    let (call, joined) = h.join(evil, default()).await;
    let cf = joined.conference.to_string();
    let b = h.base();

    // The name comes back escaped and exact, and filters match it exactly.
    let r = h.get(&format!("{b}/Conferences/{cf}")).await;
    assert_eq!(r.column("FriendlyName"), [evil]);
    let encoded: String = url_encode(evil);
    let r = h
        .get(&format!("{b}/Conferences?FriendlyName={encoded}"))
        .await;
    assert_eq!(r.column("Sid"), std::slice::from_ref(&cf));
    let r = h
        .get(&format!(
            "{b}/Conferences?FriendlyName=%27%3B+DROP+TABLE+conferences%3B+--"
        ))
        .await;
    assert_eq!((r.status, r.attr("total")), (StatusCode::OK, "0".into()));

    // A 10 kB query string with unknown parameters is just ignored.
    let long = format!("{b}/Conferences?Junk={}&Other=1", "x".repeat(10 * 1024));
    let r = h.get(&long).await;
    assert_eq!((r.status, r.attr("total")), (StatusCode::OK, "1".into()));
    // Invalid UTF-8 in a parameter is a 400, not a 500.
    let r = h.get(&format!("{b}/Conferences?FriendlyName=%FF%FE")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "20001".into())
    );
    let r = h
        .post(
            &format!("{b}/Conferences/{cf}/Participants/{call}"),
            "Muted=%FF",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A form body with garbage bytes.
    let r = h
        .post(
            &format!("{b}/Conferences/{cf}/Participants/{call}"),
            "&&==&Muted&%%%",
        )
        .await;
    // Empty pieces are skipped, a bare `Muted` is an empty value (false),
    // and `%%%` is kept as written: the participant comes back unmuted.
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.column("Muted"), ["false"]);

    // Nothing changed.
    let r = h.get(&format!("{b}/Conferences")).await;
    assert_eq!(
        (r.attr("total"), r.column("Status")),
        ("1".into(), vec!["0".to_owned()])
    );
    assert_eq!(
        h.get(&format!("{b}/Conferences/{cf}/Participants"))
            .await
            .column("Muted"),
        ["false"]
    );
}

#[tokio::test]
async fn healthz_needs_no_auth() {
    let h = Harness::new().await;
    let r = h.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn restart_completes_rooms_left_live() {
    let h = Harness::new().await;
    let [done, live, waiting] = three_rooms(&h).await;
    // A new server on the same database, as after a crash: the old hub's
    // rooms are gone with it.
    let restarted = server::Server::start(
        h.store.clone(),
        server::Config::default(),
        std::sync::Arc::new(h.clock.clone()),
    )
    .await
    .unwrap();
    let router = restarted.router();
    let h2 = crate::common::Harness { router, ..h };
    for sid in [done, live, waiting] {
        let r = h2.get(&format!("{}/Conferences/{sid}", h2.base())).await;
        assert_eq!(r.column("Status"), ["2"], "{sid}");
        assert!(
            h2.get(&format!("{}/Conferences/{sid}/Participants", h2.base()))
                .await
                .column("CallSid")
                .is_empty()
        );
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
