//! Dial-out end to end: the 2010 API places a call (`POST
//! Conferences/{name}/Participants`, `POST Calls`), confab's UAC calls a
//! testkit `Callee` over real SIP and RTP, and what happens is checked on
//! the audio, the call records and the call's status callbacks. RTP ports
//! 52000–52999.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::{Method, StatusCode};
use model::{CallDirection, CallStatus};
use testkit::Callee;

use crate::common::caller::{Caller, DEADLINE, hears};
use crate::common::rig::{App, Rig, column, param};

const FROM: &str = "+15550001111";

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn base2010(rig: &Rig) -> String {
    format!("/2010-04-01/Accounts/{}", rig.account.sid)
}

/// The one `<field>` of an XML body.
fn field(body: &str, name: &str) -> String {
    let found = column(body, name);
    assert_eq!(found.len(), 1, "{name} in {body}");
    found[0].clone()
}

#[tokio::test]
async fn a_dialled_out_participant_hears_the_room_and_is_heard() {
    let rig = Rig::new((52000, 52099), true).await;
    let (app, hits) = App::new()
        .answer("/status", StatusCode::OK, "")
        .start()
        .await;
    let alice = Caller::dial(rig.sip, "dialroom", "+15551230001", 440)
        .await
        .unwrap();
    let callee = Callee::bind(rig.sip).await.unwrap();
    let to = callee.uri("bob");
    let callback = format!("{app}/status");
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Conferences/dialroom/Participants", base2010(&rig)),
            &form(&[
                ("From", FROM),
                ("To", &to),
                ("StatusCallback", &callback),
                (
                    "StatusCallbackEvent",
                    "initiated ringing answered completed",
                ),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sid = field(&body, "CallSid");
    let queued = rig.call_row(&sid, |_| true).await;
    assert_eq!(queued.direction, CallDirection::OutboundApi);
    assert_eq!(queued.called, to);
    assert_eq!(queued.caller, FROM);

    let invite = callee.next_invite(DEADLINE).await.unwrap();
    assert_eq!(invite.uri(), to);
    assert!(invite.from().contains(FROM), "{}", invite.from());
    callee.ring(&invite).await.unwrap();
    let mut bob = callee.answer(&invite).await.unwrap();
    bob.send_tone(700);
    // Each hears the other through the room.
    bob.wait_to_hear(440, DEADLINE).await.unwrap();
    alice.until_heard("bob's 700 Hz", hears(700.0, 440.0)).await;
    let row = rig
        .call_row(&sid, |r| r.status == CallStatus::InProgress)
        .await;
    assert!(row.start_time.is_some());
    // Bob is a participant of the room, under his call's sid.
    let (_, calls) = rig.room_with("dialroom", 2).await;
    assert!(calls.contains(&sid), "{calls:?}");

    bob.hang_up().await.unwrap();
    let done = rig
        .call_row(&sid, |r| r.status == CallStatus::Complete)
        .await;
    assert!(done.end_time.is_some() && done.duration.is_some());

    // Every event asked for, in order, signed with the account's token.
    let deadline = std::time::Instant::now() + DEADLINE;
    let events = loop {
        let events: Vec<_> = hits
            .all()
            .into_iter()
            .filter(|h| h.path == "/status")
            .collect();
        if events.iter().any(|h| param(h, "CallStatus") == "completed") {
            break events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no completed callback"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let statuses: Vec<&str> = events.iter().map(|h| param(h, "CallStatus")).collect();
    assert_eq!(
        statuses,
        ["initiated", "ringing", "in-progress", "completed"]
    );
    for (i, hit) in events.iter().enumerate() {
        assert_eq!(param(hit, "SequenceNumber"), i.to_string());
        assert_eq!(param(hit, "CallSid"), sid);
        assert_eq!(param(hit, "Direction"), "outbound-api");
        assert_eq!(param(hit, "To"), to);
        assert_eq!(param(hit, "From"), FROM);
        assert_eq!(param(hit, "AccountSid"), rig.account.sid.as_str());
        assert!(param(hit, "Timestamp").ends_with("+0000"));
        assert_eq!(
            hit.signature,
            hit.expected_signature(&app, &rig.account.auth_token)
        );
    }
    assert!(param(&events[3], "CallDuration").parse::<u64>().is_ok());
    drop(alice);
}

#[tokio::test]
async fn a_busy_callee_ends_the_call_busy() {
    let rig = Rig::new((52100, 52199), true).await;
    let (app, hits) = App::new()
        .answer("/status", StatusCode::OK, "")
        .start()
        .await;
    let callee = Callee::bind(rig.sip).await.unwrap();
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Calls", base2010(&rig)),
            &form(&[
                ("From", FROM),
                ("To", &callee.uri("carol")),
                ("Twiml", "<Response><Hangup/></Response>"),
                ("StatusCallback", &format!("{app}/status?from=test")),
                ("StatusCallbackMethod", "GET"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sid = field(&body, "Sid");
    assert_eq!(field(&body, "Status"), "queued");
    let invite = callee.next_invite(DEADLINE).await.unwrap();
    callee.reject(&invite, 486, "Busy Here").await.unwrap();
    let row = rig
        .call_row(&sid, |r| r.status == CallStatus::FailedBusy)
        .await;
    assert!(row.start_time.is_none());
    let (status, body) = rig
        .api(Method::GET, &format!("{}/Calls/{sid}", base2010(&rig)), "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&body, "Status"), "busy");
    assert_eq!(field(&body, "Direction"), "outbound-api");
    // Only `completed` by default, by GET after the URL's own query, signed.
    let done = hits.to("/status", &sid).await;
    assert_eq!(done.method, Method::GET);
    assert_eq!(param(&done, "CallStatus"), "busy");
    assert!(done.query.starts_with("from=test&"), "{}", done.query);
    assert_eq!(
        done.signature,
        done.expected_signature(&app, &rig.account.auth_token)
    );
    assert_eq!(hits.all().len(), 1, "{:?}", hits.all());
}

#[tokio::test]
async fn no_answer_within_the_timeout_is_cancelled() {
    let rig = Rig::new((52200, 52299), true).await;
    let callee = Callee::bind(rig.sip).await.unwrap();
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Calls", base2010(&rig)),
            &form(&[
                ("From", FROM),
                ("To", &callee.uri("dave")),
                ("Twiml", "<Response><Hangup/></Response>"),
                ("Timeout", "5"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sid = field(&body, "Sid");
    let invite = callee.next_invite(DEADLINE).await.unwrap();
    callee.ring(&invite).await.unwrap();
    // The 5 s ring timeout is confab's to keep; the callee only waits for
    // the CANCEL it brings (within the test's deadline).
    callee.wait_for_cancel(&invite, DEADLINE).await.unwrap();
    rig.call_row(&sid, |r| r.status == CallStatus::FailedNoAnswer)
        .await;
    let (_, body) = rig
        .api(Method::GET, &format!("{}/Calls/{sid}", base2010(&rig)), "")
        .await;
    assert_eq!(field(&body, "Status"), "no-answer");
}

#[tokio::test]
async fn a_number_goes_through_the_accounts_trunk_which_challenges() {
    let rig = Rig::new((52300, 52399), true).await;
    let trunk = Callee::bind(rig.sip).await.unwrap();
    rig.store
        .insert_trunk(&store::Trunk {
            sid: "TK0123456789abcdef0123456789abcdef".to_owned(),
            account_sid: rig.account.sid.clone(),
            uri: format!("sip:{}", trunk.sip_addr()),
            username: Some("confab".to_owned()),
            password: Some("s3cret".to_owned()),
            date_created: model::Timestamp::from_micros(0),
        })
        .await
        .unwrap();
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Calls", base2010(&rig)),
            &form(&[
                ("From", FROM),
                ("To", "+15557654321"),
                ("Twiml", "<Response><Pause length=\"30\"/></Response>"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sid = field(&body, "Sid");
    let first = trunk.next_invite(DEADLINE).await.unwrap();
    assert_eq!(
        first.uri(),
        format!("sip:+15557654321@{}", trunk.sip_addr())
    );
    assert!(first.message.header("Authorization").is_none());
    trunk
        .challenge(&first, "trunk.example", "nonce-1")
        .await
        .unwrap();
    let second = trunk.next_invite(DEADLINE).await.unwrap();
    assert_eq!(second.message.call_id(), first.message.call_id());
    assert!(
        second.digest_matches("trunk.example", "nonce-1", "confab", "s3cret"),
        "{:?}",
        second.message.header("Authorization")
    );
    assert!(!second.digest_matches("trunk.example", "nonce-1", "confab", "wrong"));
    let mut call = trunk.answer(&second).await.unwrap();
    rig.call_row(&sid, |r| r.status == CallStatus::InProgress)
        .await;
    call.hang_up().await.unwrap();
    rig.call_row(&sid, |r| r.status == CallStatus::Complete)
        .await;

    // Another account has no trunk: Twilio's 21215, and no call.
    let other = rig.add_account("other").await;
    let (status, body) = rig
        .api_as(
            &other,
            Method::POST,
            &format!("/2010-04-01/Accounts/{}/Calls.json", other.sid),
            &form(&[
                ("From", FROM),
                ("To", "+15557654321"),
                ("Twiml", "<Response/>"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("21215"), "{body}");
}

#[tokio::test]
async fn a_to_that_is_neither_a_sip_uri_nor_a_number_is_refused() {
    let rig = Rig::new((52400, 52499), true).await;
    for to in ["bob", "sip:", "sip:bob@", "+1-555", "tel:+15551234567"] {
        let (status, body) = rig
            .api(
                Method::POST,
                &format!("{}/Calls.json", base2010(&rig)),
                &form(&[("From", FROM), ("To", to), ("Twiml", "<Response/>")]),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{to}: {body}");
        assert!(body.contains("21211"), "{to}: {body}");
    }
}

#[tokio::test]
async fn the_api_redirects_a_dialled_out_participant_then_hangs_it_up() {
    let rig = Rig::new((52500, 52599), true).await;
    let (app, _hits) = App::new().start().await;
    let alice = Caller::dial(rig.sip, "redir", "+15551230002", 440)
        .await
        .unwrap();
    let callee = Callee::bind(rig.sip).await.unwrap();
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Conferences/redir/Participants", base2010(&rig)),
            &form(&[("From", FROM), ("To", &callee.uri("erin"))]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sid = field(&body, "CallSid");
    let invite = callee.next_invite(DEADLINE).await.unwrap();
    let mut erin = callee.answer(&invite).await.unwrap();
    erin.send_tone(700);
    erin.wait_to_hear(440, DEADLINE).await.unwrap();
    rig.room_with("redir", 2).await;

    // A new script: out of the room, a 600 Hz tone of its own.
    let twiml =
        format!("<Response><Play>{app}/tone/600/10000</Play><Pause length=\"30\"/></Response>");
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Calls/{sid}", base2010(&rig)),
            &form(&[("Twiml", &twiml)]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    erin.wait_to_hear(600, DEADLINE).await.unwrap();
    let (_, calls) = rig.room_with("redir", 1).await;
    assert!(!calls.contains(&sid), "{calls:?}");
    assert!(!erin.hears(440));
    rig.call_row(&sid, |r| r.status == CallStatus::InProgress)
        .await;

    // Status=completed: BYE, and the record completes.
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Calls/{sid}", base2010(&rig)),
            &form(&[("Status", "completed")]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    erin.wait_for_bye(DEADLINE).await.unwrap();
    rig.call_row(&sid, |r| r.status == CallStatus::Complete)
        .await;
    drop(alice);
}

#[tokio::test]
async fn the_api_redirects_and_hangs_up_an_incoming_call() {
    let rig = Rig::new((52600, 52699), true).await;
    let (app, _hits) = App::new().start().await;
    let mut alice = Caller::dial(rig.sip, "lobby", "+15551230003", 440)
        .await
        .unwrap();
    let (_, calls) = rig.room_of(&rig.account, "lobby", "0", 1).await;
    let sid = calls[0].clone();
    let twiml = format!("<Response><Play>{app}/tone/600/10000</Play></Response>");
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Calls/{sid}.json", base2010(&rig)),
            &form(&[("Twiml", &twiml)]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    alice
        .until_heard("the redirect's 600 Hz", hears(600.0, 440.0))
        .await;
    let (status, body) = rig
        .api(
            Method::POST,
            &format!("{}/Calls/{sid}.json", base2010(&rig)),
            &form(&[("Status", "completed")]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    alice.expect_bye().await;
    rig.call_row(&sid, |r| r.status == CallStatus::Complete)
        .await;
}

#[tokio::test]
async fn the_api_cancels_a_ringing_call() {
    let rig = Rig::new((52700, 52799), true).await;
    let (app, hits) = App::new()
        .answer("/status", StatusCode::OK, "")
        .start()
        .await;
    let callee = Callee::bind(rig.sip).await.unwrap();
    let (_, body) = rig
        .api(
            Method::POST,
            &format!("{}/Calls", base2010(&rig)),
            &form(&[
                ("From", FROM),
                ("To", &callee.uri("frank")),
                ("Twiml", "<Response/>"),
                ("StatusCallback", &format!("{app}/status")),
            ]),
        )
        .await;
    let sid = field(&body, "Sid");
    let instance = format!("{}/Calls/{sid}", base2010(&rig));
    let invite = callee.next_invite(DEADLINE).await.unwrap();
    callee.ring(&invite).await.unwrap();
    // The 180 makes it `ringing`, in the record and the API.
    rig.call_row(&sid, |r| r.status == CallStatus::Ringing)
        .await;
    let (_, body) = rig.api(Method::GET, &instance, "").await;
    assert_eq!(field(&body, "Status"), "ringing");
    // Nothing runs TwiML before the answer: a redirect is Twilio's 21220.
    let (status, body) = rig
        .api(
            Method::POST,
            &instance,
            &form(&[("Twiml", "<Response><Hangup/></Response>")]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(field(&body, "Code"), "21220");
    let (status, body) = rig
        .api(Method::POST, &instance, &form(&[("Status", "canceled")]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    callee.wait_for_cancel(&invite, DEADLINE).await.unwrap();
    let done = hits.to("/status", &sid).await;
    assert_eq!(param(&done, "CallStatus"), "canceled");
    let row = rig
        .call_row(&sid, |r| r.status == CallStatus::Canceled)
        .await;
    assert_eq!((row.start_time, row.duration), (None, None));
    assert!(row.end_time.is_some());
    let (_, body) = rig.api(Method::GET, &instance, "").await;
    assert_eq!(field(&body, "Status"), "canceled");
    // The 2008 API, which has no such word, says 5 ("Failed-No Answer").
    let (_, body) = rig
        .api(
            Method::GET,
            &format!("/2008-08-01/Accounts/{}/Calls/{sid}", rig.account.sid),
            "",
        )
        .await;
    assert_eq!(field(&body, "Status"), "5");
}
