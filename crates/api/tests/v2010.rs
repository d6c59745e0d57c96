//! The 2010-04-01 API end to end through `oneshot`: a real SQLite store in
//! a temporary directory and a fake owner of the rooms and calls that
//! records every command it is sent (and, for dial-outs, records the call
//! in the store as the contract says the real one does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use api::{
    AppState, BoxFuture, CallControl, CallControlError, CallScript, CallUpdate, ConferenceCommand,
    ConferenceRef, DialError, DialRequest, ParticipantCommand, router,
};
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use model::{
    Account, AccountSid, AuthToken, CallDirection, CallRecord, CallSid, CallStatus,
    ConferenceEndReason, ConferenceRecord, ConferenceSid, ConferenceStatus, HttpMethod,
    ParticipantRecord, Timestamp,
};
use serde_json::{Value, json};
use store::{Change, Store};
use tower::ServiceExt as _;

const AC: &str = "AC5ea872f6da5a21de157d80997a64bd33";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const OTHER_AC: &str = "AC309475e5fede1b49e100272a8640f438";
const OTHER_TOKEN: &str = "fedcba9876543210fedcba9876543210";
const CF: &str = "CF9f2ead1ae43cdabeab102fa30d938378";
const CF_DONE: &str = "CFd0a50bbe038c437e87f6c82db8f37f21";
const CF_OTHER: &str = "CF00000000000000000000000000000001";
const CA1: &str = "CA9ae8e040497c0598481c2031a154919e";
const CA2: &str = "CA3c3c002e06c4cdaa5367e814ade05c76";
const CA3: &str = "CA3c3c002e06c4cdaa5367e814ade05c77";
const CA_OTHER: &str = "CA00000000000000000000000000000001";
const CA_DIALLED: &str = "CAdddddddddddddddddddddddddddddddd";

/// The owner of rooms and calls, as a log of what it was asked.
#[derive(Default)]
struct FakeControl {
    store: Mutex<Option<Store>>,
    log: Mutex<Vec<String>>,
    dials: Mutex<Vec<DialRequest>>,
    /// Answer every command `Unavailable`, as the server does today for
    /// what is not built.
    unavailable: Mutex<bool>,
}

impl FakeControl {
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn push(&self, s: String) -> Result<(), CallControlError> {
        if *self.unavailable.lock().unwrap() {
            return Err(CallControlError::Unavailable);
        }
        self.log.lock().unwrap().push(s);
        Ok(())
    }
}

impl CallControl for FakeControl {
    fn apply(&self, command: ParticipantCommand) -> BoxFuture<'_, Result<(), CallControlError>> {
        let entry = match &command {
            ParticipantCommand::SetMuted { participant, muted } => {
                format!("mute {} {muted}", participant.call)
            }
            ParticipantCommand::Kick { participant } => format!("kick {}", participant.call),
            ParticipantCommand::SetHold {
                participant,
                hold,
                music,
            } => format!(
                "hold {} {hold} {}",
                participant.call,
                music.as_ref().map_or("-".to_owned(), |m| format!(
                    "{} {}",
                    m.method.as_str(),
                    m.url
                ))
            ),
            ParticipantCommand::SetEndConferenceOnExit {
                participant,
                end_conference_on_exit,
            } => format!("end-on-exit {} {end_conference_on_exit}", participant.call),
            ParticipantCommand::Announce { participant, audio } => {
                format!("announce {} {}", participant.call, audio.url)
            }
        };
        Box::pin(async move {
            self.push(entry)?;
            // Mute is persisted like the hub does, so the read back shows it.
            if let ParticipantCommand::SetMuted { participant, muted } = command {
                let store = self.store.lock().unwrap().clone().unwrap();
                store
                    .apply(&[Change::ParticipantMuted {
                        conference_sid: participant.conference,
                        call_sid: participant.call,
                        muted,
                        at: at(5_000),
                    }])
                    .await
                    .map_err(|_| CallControlError::NotFound)?;
            }
            Ok(())
        })
    }

    fn conference(
        &self,
        command: ConferenceCommand,
    ) -> BoxFuture<'_, Result<(), CallControlError>> {
        let entry = match &command {
            ConferenceCommand::End { conference, .. } => format!("end {conference}"),
            ConferenceCommand::Announce {
                conference, audio, ..
            } => format!(
                "announce {conference} {} {}",
                audio.method.as_str(),
                audio.url
            ),
        };
        Box::pin(async move { self.push(entry) })
    }

    fn dial(&self, request: DialRequest) -> BoxFuture<'_, Result<CallSid, DialError>> {
        Box::pin(async move {
            if request.to == "sip:nobody" {
                return Err(DialError::BadTo);
            }
            if request.to == "+15550000000" {
                return Err(DialError::NoTrunk(request.to.clone()));
            }
            self.push(format!("dial {}", request.to))?;
            let sid = CallSid::parse(CA_DIALLED).unwrap();
            if matches!(request.script, CallScript::Url(_) | CallScript::Twiml(_)) {
                let store = self.store.lock().unwrap().clone().unwrap();
                let mut record = call(CA_DIALLED, AC, CallStatus::NotYetDialed, 9_000);
                record.caller = request.from.clone();
                record.called = request.to.clone();
                record.direction = CallDirection::OutboundApi;
                record.start_time = None;
                store.insert_call(&record).await.unwrap();
            }
            self.dials.lock().unwrap().push(request);
            Ok(sid)
        })
    }

    fn update_call(
        &self,
        _account: AccountSid,
        call: CallSid,
        update: CallUpdate,
    ) -> BoxFuture<'_, Result<(), CallControlError>> {
        let entry = match update {
            CallUpdate::End { canceled } => format!("hangup {call} canceled={canceled}"),
            CallUpdate::Redirect(CallScript::Url(f)) => format!("redirect {call} {}", f.url),
            CallUpdate::Redirect(CallScript::Twiml(t)) => format!("redirect {call} {t}"),
            CallUpdate::Redirect(other) => format!("redirect {call} {other:?}"),
        };
        Box::pin(async move { self.push(entry) })
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_246_838_400 + secs) // 2009-07-06T00:00:00Z + secs
}

fn account(sid: &str, token: &str) -> Account {
    Account {
        sid: AccountSid::parse(sid).unwrap(),
        friendly_name: "test".to_owned(),
        auth_token: AuthToken::from_stored(token.to_owned()),
        date_created: at(0),
        date_updated: at(0),
    }
}

fn conference(sid: &str, account: &str, name: &str, secs: i64) -> ConferenceRecord {
    ConferenceRecord {
        reason_ended: None,
        call_sid_ending: None,
        sid: ConferenceSid::parse(sid).unwrap(),
        account_sid: AccountSid::parse(account).unwrap(),
        friendly_name: name.to_owned(),
        status: ConferenceStatus::Init,
        date_created: at(secs),
        date_updated: at(secs),
    }
}

fn participant(call: &str, secs: i64) -> ParticipantRecord {
    ParticipantRecord {
        hold: false,
        label: None,
        call_sid_to_coach: None,
        call_sid: CallSid::parse(call).unwrap(),
        conference_sid: ConferenceSid::parse(CF).unwrap(),
        account_sid: AccountSid::parse(AC).unwrap(),
        muted: false,
        start_conference_on_enter: true,
        end_conference_on_exit: false,
        date_created: at(secs),
        date_updated: at(secs),
    }
}

fn call(sid: &str, account: &str, status: CallStatus, secs: i64) -> CallRecord {
    CallRecord {
        sid: CallSid::parse(sid).unwrap(),
        account_sid: AccountSid::parse(account).unwrap(),
        phone_number_sid: None,
        caller: "alice".to_owned(),
        called: "room".to_owned(),
        direction: CallDirection::Inbound,
        status,
        start_time: Some(at(secs)),
        end_time: None,
        duration: None,
        failure: None,
        date_created: at(secs),
        date_updated: at(secs),
    }
}

struct Fixture {
    state: AppState,
    control: Arc<FakeControl>,
    store: Store,
    _dir: tempfile::TempDir,
}

/// Ours: a live room "My Room" (CA1 plain; CA2 labelled "customer one",
/// muted, on hold, coaching CA1) and a completed room "Old" ended via the
/// API; three calls. The other account: a room and a call.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.insert_account(&account(AC, TOKEN)).await.unwrap();
    store
        .insert_account(&account(OTHER_AC, OTHER_TOKEN))
        .await
        .unwrap();
    let mut done = conference(CF_DONE, AC, "Old", 10);
    done.reason_ended = Some(ConferenceEndReason::EndedViaApi);
    let mut labelled = participant(CA2, 200);
    labelled.label = Some("customer one".to_owned());
    labelled.muted = true;
    labelled.hold = true;
    labelled.call_sid_to_coach = Some(CallSid::parse(CA1).unwrap());
    store
        .apply(&[
            Change::ConferenceCreated(done),
            Change::ConferenceStatus {
                sid: ConferenceSid::parse(CF_DONE).unwrap(),
                status: ConferenceStatus::Completed,
                at: at(20),
            },
            Change::ConferenceCreated(conference(CF, AC, "My Room", 100)),
            Change::ParticipantJoined(participant(CA1, 100)),
            Change::ParticipantJoined(labelled),
            Change::ConferenceCreated(conference(CF_OTHER, OTHER_AC, "My Room", 50)),
        ])
        .await
        .unwrap();
    let mut ended = call(CA1, AC, CallStatus::Complete, 100);
    ended.end_time = Some(at(160));
    ended.duration = Some(60);
    store.insert_call(&ended).await.unwrap();
    store
        .insert_call(&call(CA2, AC, CallStatus::InProgress, 200))
        .await
        .unwrap();
    let mut next_day = call(CA3, AC, CallStatus::InProgress, 86_400 + 5);
    next_day.caller = "bob".to_owned();
    next_day.direction = CallDirection::OutboundApi;
    store.insert_call(&next_day).await.unwrap();
    store
        .insert_call(&call(CA_OTHER, OTHER_AC, CallStatus::InProgress, 300))
        .await
        .unwrap();
    let control = Arc::new(FakeControl::default());
    *control.store.lock().unwrap() = Some(store.clone());
    let state = AppState::new(store.clone(), control.clone());
    Fixture {
        state,
        control,
        store,
        _dir: dir,
    }
}

fn base() -> String {
    format!("/2010-04-01/Accounts/{AC}")
}

fn auth(user: &str, token: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{token}")))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    /// Twilio's error body, with this status and code.
    fn assert_error(&self, status: u16, code: u32) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        let v = self.json();
        assert_eq!(v["status"], status, "{v}");
        assert_eq!(v["code"], code, "{v}");
        assert_eq!(
            v["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}"),
            "{v}"
        );
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v
    }
}

impl Fixture {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        body: &str,
        credentials: Option<&str>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(c) = credentials {
            request = request.header(header::AUTHORIZATION, c);
        }
        let request = request.body(Body::from(body.to_owned())).unwrap();
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.unwrap();
        Answer {
            status,
            headers: parts.headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn req(&self, method: Method, uri: &str, body: &str) -> Answer {
        self.send(method, uri, body, Some(&auth(AC, TOKEN))).await
    }

    async fn get(&self, uri: &str) -> Answer {
        self.req(Method::GET, uri, "").await
    }

    async fn get_json(&self, uri: &str) -> Value {
        let a = self.get(uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text);
        assert_eq!(
            a.headers[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        a.json()
    }

    async fn post(&self, uri: &str, body: &str) -> Answer {
        self.req(Method::POST, uri, body).await
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn a_conference_has_twilios_fields() {
    let f = fixture().await;
    let c = f
        .get_json(&format!("{}/Conferences/{CF_DONE}.json", base()))
        .await;
    assert_eq!(
        keys(&c),
        [
            "account_sid",
            "api_version",
            "call_sid_ending_conference",
            "date_created",
            "date_updated",
            "friendly_name",
            "reason_conference_ended",
            "region",
            "sid",
            "status",
            "subresource_uris",
            "uri"
        ]
    );
    let path = format!("{}/Conferences/{CF_DONE}", base());
    assert_eq!(
        c,
        json!({
            "account_sid": AC,
            "api_version": "2010-04-01",
            "call_sid_ending_conference": null,
            "date_created": "Mon, 06 Jul 2009 00:00:10 +0000",
            "date_updated": "Mon, 06 Jul 2009 00:00:20 +0000",
            "friendly_name": "Old",
            "reason_conference_ended": "conference-ended-via-api",
            "region": null,
            "sid": CF_DONE,
            "status": "completed",
            "subresource_uris": {
                "participants": format!("{path}/Participants.json"),
                "recordings": format!("{path}/Recordings.json"),
            },
            "uri": format!("{path}.json"),
        })
    );
    let live = f
        .get_json(&format!("{}/Conferences/{CF}.json", base()))
        .await;
    assert_eq!(live["status"], "init");
    assert_eq!(live["reason_conference_ended"], Value::Null);
}

#[tokio::test]
async fn conference_lists_page_and_filter_with_todays_envelope() {
    let f = fixture().await;
    let list = format!("{}/Conferences.json", base());
    let page = f.get_json(&format!("{list}?PageSize=1")).await;
    assert_eq!(
        keys(&page),
        [
            "conferences",
            "end",
            "first_page_uri",
            "next_page_uri",
            "page",
            "page_size",
            "previous_page_uri",
            "start",
            "uri"
        ]
    );
    assert_eq!(page["conferences"].as_array().unwrap().len(), 1);
    // Newest update first: the live room.
    assert_eq!(page["conferences"][0]["sid"], CF);
    assert_eq!(page["page"], 0);
    assert_eq!(page["page_size"], 1);
    assert_eq!(
        (page["start"].clone(), page["end"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(page["uri"], format!("{list}?PageSize=1&Page=0"));
    assert_eq!(page["first_page_uri"], format!("{list}?PageSize=1&Page=0"));
    assert_eq!(page["previous_page_uri"], Value::Null);
    let next = page["next_page_uri"].as_str().unwrap();
    assert_eq!(next, format!("{list}?PageSize=1&Page=1"));
    // Following next_page_uri as a client does: a path on the same host.
    let second = f.get_json(next).await;
    assert_eq!(second["conferences"][0]["sid"], CF_DONE);
    assert_eq!(second["next_page_uri"], Value::Null);
    assert_eq!(
        second["previous_page_uri"],
        format!("{list}?PageSize=1&Page=0")
    );
    assert_eq!(
        (second["start"].clone(), second["end"].clone()),
        (json!(1), json!(1))
    );

    for (query, want) in [
        ("Status=completed", vec![CF_DONE]),
        ("Status=in-progress", vec![]),
        ("Status=init", vec![CF]),
        ("FriendlyName=My+Room", vec![CF]),
        ("DateCreated%3E=2009-07-06", vec![CF, CF_DONE]),
        ("DateCreated%3C=2009-07-05", vec![]),
        ("DateUpdated=2009-07-06&PageToken=PAxyz", vec![CF, CF_DONE]),
    ] {
        let page = f.get_json(&format!("{list}?{query}")).await;
        let sids: Vec<&str> = page["conferences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, want, "{query}");
        // Filters stay in the page URIs; the token does not.
        let uri = page["uri"].as_str().unwrap();
        assert!(!uri.contains("PageToken"), "{uri}");
        assert!(uri.starts_with(&format!("{list}?")), "{uri}");
    }
    for bad in ["Status=7", "DateCreated=july", "PageSize=0", "Page=-1"] {
        f.get(&format!("{list}?{bad}"))
            .await
            .assert_error(400, 20001);
    }
    f.get(&format!("{list}?PageSize=1001"))
        .await
        .assert_error(400, 20007);
}

#[tokio::test]
async fn xml_is_the_same_tree() {
    let f = fixture().await;
    for suffix in ["", ".xml"] {
        let a = f.get(&format!("{}/Conferences/{CF}{suffix}", base())).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(
            a.headers[header::CONTENT_TYPE],
            "application/xml; charset=utf-8"
        );
        assert!(
            a.text.starts_with(&format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><TwilioResponse><Conference><AccountSid>{AC}</AccountSid><ApiVersion>2010-04-01</ApiVersion><CallSidEndingConference/>"#
            )),
            "{}",
            a.text
        );
        assert!(a.text.contains("<Status>init</Status>"), "{}", a.text);
        assert!(
            a.text.contains(&format!(
                "<SubresourceUris><Participants>{}/Conferences/{CF}/Participants</Participants>",
                base()
            )),
            "{}",
            a.text
        );
    }
    let a = f
        .get(&format!("{}/Conferences/{CF}/Participants", base()))
        .await;
    assert!(
        a.text.contains(&format!(
            r#"<Participants page="0" pagesize="50" start="0" end="1" uri="{}/Conferences/{CF}/Participants?PageSize=50&amp;Page=0""#,
            base()
        )),
        "{}",
        a.text
    );
    assert!(a.text.contains("<Muted>true</Muted>"), "{}", a.text);
    assert!(a.text.contains("<Label>customer one</Label>"), "{}", a.text);
    let a = f.get(&format!("{}/Conferences/{CF_OTHER}", base())).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(
        a.text
            .contains("<RestException><Code>20404</Code><Message>The requested resource"),
        "{}",
        a.text
    );
    assert!(
        a.text.contains(
            "<MoreInfo>https://www.twilio.com/docs/errors/20404</MoreInfo><Status>404</Status>"
        ),
        "{}",
        a.text
    );
}

#[tokio::test]
async fn participants_list_filter_and_fetch_by_sid_or_label() {
    let f = fixture().await;
    let list = format!("{}/Conferences/{CF}/Participants.json", base());
    let page = f.get_json(&list).await;
    let items = page["participants"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let labelled = &items[1];
    assert_eq!(
        labelled,
        &json!({
            "account_sid": AC,
            "call_sid": CA2,
            "call_sid_to_coach": CA1,
            "coaching": true,
            "conference_sid": CF,
            "date_created": "Mon, 06 Jul 2009 00:03:20 +0000",
            "date_updated": "Mon, 06 Jul 2009 00:03:20 +0000",
            "end_conference_on_exit": false,
            "hold": true,
            "label": "customer one",
            "muted": true,
            "queue_time": "0",
            "start_conference_on_enter": true,
            "status": "connected",
            "uri": format!("{}/Conferences/{CF}/Participants/{CA2}.json", base()),
        })
    );
    assert_eq!(items[0]["label"], Value::Null);
    assert_eq!(items[0]["coaching"], false);
    for (query, want) in [
        ("Muted=true", vec![CA2]),
        ("Muted=false", vec![CA1]),
        ("Hold=true", vec![CA2]),
        ("Hold=false&Muted=false", vec![CA1]),
        ("Coaching=true", vec![CA2]),
        ("Coaching=false", vec![CA1]),
        ("Muted=true&Hold=false", vec![]),
    ] {
        let page = f.get_json(&format!("{list}?{query}")).await;
        let sids: Vec<&str> = page["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["call_sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, want, "{query}");
    }
    f.get(&format!("{list}?Muted=yes"))
        .await
        .assert_error(400, 20001);

    let by_sid = f
        .get_json(&format!(
            "{}/Conferences/{CF}/Participants/{CA2}.json",
            base()
        ))
        .await;
    let by_label = f
        .get_json(&format!(
            "{}/Conferences/{CF}/Participants/customer%20one.json",
            base()
        ))
        .await;
    assert_eq!(by_sid, by_label);
    assert_eq!(by_sid, *labelled);
    for missing in [
        format!("{}/Conferences/{CF}/Participants/nobody.json", base()),
        format!("{}/Conferences/{CF}/Participants/{CA3}.json", base()),
        format!("{}/Conferences/{CF_OTHER}/Participants.json", base()),
        format!("{}/Conferences/{CF_DONE}/Participants/{CA1}.json", base()),
        format!("{}/Conferences/My%20Room/Participants.json", base()),
    ] {
        f.get(&missing).await.assert_error(404, 20404);
    }
}

#[tokio::test]
async fn participant_updates_send_one_command_each_in_order_then_read_back() {
    let f = fixture().await;
    let uri = format!("{}/Conferences/{CF}/Participants/{CA1}.json", base());
    let a = f
        .post(
            &uri,
            "AnnounceUrl=https%3A%2F%2Fexample.com%2Fa.xml&Hold=true&HoldUrl=http%3A%2F%2Fexample.com%2Fmusic.wav&HoldMethod=GET&Muted=true&EndConferenceOnExit=true&BeepOnExit=false",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        f.control.log(),
        [
            format!("end-on-exit {CA1} true"),
            format!("mute {CA1} true"),
            format!("hold {CA1} true GET http://example.com/music.wav"),
            format!("announce {CA1} https://example.com/a.xml"),
        ]
    );
    // What the store says afterwards (the fake persists only mute).
    let v = a.json();
    assert_eq!(v["muted"], true);
    assert_eq!(v["call_sid"], CA1);

    // By label; unhold carries no music.
    let a = f
        .post(
            &format!(
                "{}/Conferences/{CF}/Participants/customer%20one.json",
                base()
            ),
            "Hold=false",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        f.control.log().last().unwrap(),
        &format!("hold {CA2} false -")
    );

    // Anything invalid applies nothing.
    let before = f.control.log().len();
    for (body, code) in [
        ("Muted=true&HoldUrl=ftp%3A%2F%2Fx", 21205),
        ("Muted=true&Hold=true&HoldUrl=not+a+url", 21205),
        ("Muted=maybe", 20001),
        (
            "Muted=true&AnnounceUrl=https%3A%2F%2Fx.example&AnnounceMethod=PUT",
            21209,
        ),
        (
            "Coaching=true&CallSidToCoach=CA3c3c002e06c4cdaa5367e814ade05c76",
            20001,
        ),
        ("Muted=true&WaitUrl=http%3A%2F%2Fexample.com", 20001),
        ("BeepOnExit=sometimes", 20001),
    ] {
        f.post(&uri, body).await.assert_error(400, code);
    }
    assert_eq!(f.control.log().len(), before);

    // Nothing to change: the participant as it is.
    let a = f.post(&uri, "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(f.control.log().len(), before);
    // Unknown participant: 404, nothing sent.
    f.post(
        &format!("{}/Conferences/{CF}/Participants/{CA3}.json", base()),
        "Muted=true",
    )
    .await
    .assert_error(404, 20404);
    assert_eq!(f.control.log().len(), before);
}

#[tokio::test]
async fn deleting_a_participant_kicks_it() {
    let f = fixture().await;
    let a = f
        .req(
            Method::DELETE,
            &format!(
                "{}/Conferences/{CF}/Participants/customer%20one.json",
                base()
            ),
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(a.text.is_empty());
    assert_eq!(f.control.log(), [format!("kick {CA2}")]);
    f.req(
        Method::DELETE,
        &format!("{}/Conferences/{CF}/Participants/nobody.json", base()),
        "",
    )
    .await
    .assert_error(404, 20404);
}

#[tokio::test]
async fn ending_and_announcing_a_conference() {
    let f = fixture().await;
    let uri = format!("{}/Conferences/{CF}.json", base());
    let a = f
        .post(
            &uri,
            "Status=completed&AnnounceUrl=http%3A%2F%2Fexample.com%2Fbye.xml",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        f.control.log(),
        [
            format!("announce {CF} POST http://example.com/bye.xml"),
            format!("end {CF}")
        ]
    );
    assert_eq!(a.json()["sid"], CF);
    // A completed conference is not ended again.
    let a = f
        .post(
            &format!("{}/Conferences/{CF_DONE}.json", base()),
            "Status=completed",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(f.control.log().len(), 2);
    f.post(&uri, "Status=init").await.assert_error(400, 20001);
    f.post(
        &format!("{}/Conferences/{CF_OTHER}.json", base()),
        "Status=completed",
    )
    .await
    .assert_error(404, 20404);
    // The owner being away is a 503, never a 500.
    *f.control.unavailable.lock().unwrap() = true;
    f.post(&uri, "Status=completed")
        .await
        .assert_error(503, 20503);
}

#[tokio::test]
async fn adding_a_participant_dials_out() {
    let f = fixture().await;
    let a = f
        .post(
            &format!("{}/Conferences/My%20Room/Participants.json", base()),
            "From=confab&To=sip%3Abob%40127.0.0.1%3A5070&Label=bob&Muted=true&Beep=onEnter\
             &StartConferenceOnEnter=false&EndConferenceOnExit=true&Timeout=2\
             &StatusCallback=https%3A%2F%2Fexample.com%2Fcall&StatusCallbackEvent=ringing\
             &StatusCallbackEvent=answered+completed&ConferenceStatusCallback=https%3A%2F%2Fexample.com%2Fconf\
             &ConferenceStatusCallbackEvent=join%2Cleave&ConferenceStatusCallbackMethod=GET\
             &WaitUrl=&CallSidToCoach=CA9ae8e040497c0598481c2031a154919e&Record=true",
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let v = a.json();
    assert_eq!(v["call_sid"], CA_DIALLED);
    assert_eq!(v["conference_sid"], CF);
    assert_eq!(v["status"], "queued");
    assert_eq!(v["label"], "bob");
    assert_eq!(v["muted"], true);
    assert_eq!(v["coaching"], true);
    assert_eq!(v["start_conference_on_enter"], false);
    let dials = f.control.dials.lock().unwrap().clone();
    let d = &dials[0];
    assert_eq!(
        (d.from.as_str(), d.to.as_str()),
        ("confab", "sip:bob@127.0.0.1:5070")
    );
    assert_eq!(d.timeout_secs, 5, "clamped to Twilio's minimum");
    let cb = d.status_callback.as_ref().unwrap();
    assert_eq!(cb.url, "https://example.com/call");
    assert_eq!(cb.events, ["ringing", "answered", "completed"]);
    assert_eq!(cb.method, HttpMethod::Post);
    let CallScript::Conference {
        conference,
        options,
        label,
        coach,
        wait,
        status_callback,
    } = &d.script
    else {
        panic!("{:?}", d.script)
    };
    assert_eq!(conference, &ConferenceRef::Name("My Room".to_owned()));
    assert!(options.muted && options.beep && !options.start_conference_on_enter);
    assert!(options.end_conference_on_exit);
    assert_eq!(label.as_deref(), Some("bob"));
    assert_eq!(coach.as_ref().map(CallSid::as_str), Some(CA1));
    assert_eq!(wait.as_ref().map(|w| w.url.as_str()), Some(""));
    let conf_cb = status_callback.as_ref().unwrap();
    assert_eq!(conf_cb.events, ["join", "leave"]);
    assert_eq!(conf_cb.method, HttpMethod::Get);

    // A name with no live conference: queued, no conference sid yet; by
    // sid, the conference must exist. Defaults: Twilio's.
    let a = f
        .post(
            &format!("{}/Conferences/New%20Room/Participants.json", base()),
            "From=confab&To=sip%3Acarol%40example.com&StatusCallback=http%3A%2F%2Fexample.com",
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json()["conference_sid"], Value::Null);
    assert_eq!(a.json()["uri"], Value::Null);
    let d = f.control.dials.lock().unwrap()[1].clone();
    assert_eq!(d.timeout_secs, 60);
    assert_eq!(d.status_callback.unwrap().events, ["completed"]);
    let CallScript::Conference { options, .. } = d.script else {
        panic!()
    };
    assert_eq!(options, conference::ParticipantOptions::default());

    let add = format!("{}/Conferences/{CF}/Participants.json", base());
    for (body, status, code) in [
        ("To=sip%3Ax%40example.com", 400, 21213),
        ("From=confab", 400, 21201),
        ("From=confab&To=sip%3Anobody", 400, 21211),
        ("From=confab&To=%2B15550000000", 400, 21215),
        ("From=confab&To=sip%3Ax%40y&Beep=loud", 400, 20001),
        ("From=confab&To=sip%3Ax%40y&Timeout=soon", 400, 21208),
        ("From=confab&To=sip%3Ax%40y&StatusCallback=x", 400, 21205),
        (
            "From=confab&To=sip%3Ax%40y&StatusCallback=http%3A%2F%2Fe.com&StatusCallbackEvent=rang",
            400,
            20001,
        ),
        ("From=confab&To=sip%3Ax%40y&Coaching=true", 400, 20001),
        ("From=confab&To=sip%3Ax%40y&Label=", 400, 20001),
    ] {
        f.post(&add, body).await.assert_error(status, code);
    }
    for gone in [CF_DONE, CF_OTHER] {
        f.post(
            &format!("{}/Conferences/{gone}/Participants.json", base()),
            "From=confab&To=sip%3Ax%40y",
        )
        .await
        .assert_error(404, 20404);
    }
    // Dial-out not built in the owner: 503.
    *f.control.unavailable.lock().unwrap() = true;
    f.post(&add, "From=confab&To=sip%3Ax%40y")
        .await
        .assert_error(503, 20503);
}

#[tokio::test]
async fn calls_list_filter_and_fetch() {
    let f = fixture().await;
    let list = format!("{}/Calls.json", base());
    let page = f.get_json(&list).await;
    let sids: Vec<&str> = page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sid"].as_str().unwrap())
        .collect();
    // Newest created first; the other account's call is not there.
    assert_eq!(sids, [CA3, CA2, CA1]);
    let c = &page["calls"][2];
    assert_eq!(c["status"], "completed");
    assert_eq!(c["duration"], "60");
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["from"], "alice");
    assert_eq!(c["to"], "room");
    assert_eq!(c["start_time"], "Mon, 06 Jul 2009 00:01:40 +0000");
    assert_eq!(c["end_time"], "Mon, 06 Jul 2009 00:02:40 +0000");
    assert_eq!(c["price"], Value::Null);
    assert_eq!(c["uri"], format!("{}/Calls/{CA1}.json", base()));
    assert_eq!(page["calls"][0]["direction"], "outbound-api");
    assert_eq!(page["calls"][1]["end_time"], Value::Null);
    assert_eq!(page["calls"][1]["duration"], Value::Null);

    for (query, want) in [
        ("Status=in-progress", vec![CA3, CA2]),
        ("Status=completed", vec![CA1]),
        ("Status=ringing", vec![]),
        ("From=bob", vec![CA3]),
        ("To=room&From=alice", vec![CA2, CA1]),
        ("StartTime=2009-07-07", vec![CA3]),
        ("StartTime%3E=2009-07-07T00:00:00Z", vec![CA3]),
        ("StartTime%3C=2009-07-06", vec![CA2, CA1]),
        ("EndTime=2009-07-06", vec![CA1]),
        ("ParentCallSid=CA9ae8e040497c0598481c2031a154919e", vec![]),
    ] {
        let page = f.get_json(&format!("{list}?{query}")).await;
        let sids: Vec<&str> = page["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, want, "{query}");
    }
    let page = f.get_json(&format!("{list}?PageSize=2&Page=1")).await;
    assert_eq!(page["calls"][0]["sid"], CA1);
    assert_eq!(page["start"], 2);
    assert_eq!(
        page["previous_page_uri"],
        format!("{list}?PageSize=2&Page=0")
    );
    f.get(&format!("{list}?Status=2"))
        .await
        .assert_error(400, 20001);

    let one = f.get_json(&format!("{}/Calls/{CA1}.json", base())).await;
    assert_eq!(one, page["calls"][0]);
    f.get(&format!("{}/Calls/{CA_OTHER}.json", base()))
        .await
        .assert_error(404, 20404);
}

#[tokio::test]
async fn creating_and_updating_calls() {
    let f = fixture().await;
    let a = f
        .post(
            &format!("{}/Calls.json", base()),
            "To=sip%3Adave%40example.com&From=confab&Url=https%3A%2F%2Fexample.com%2Fvoice&Method=GET&Twiml=%3CResponse%2F%3E",
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let v = a.json();
    assert_eq!(v["sid"], CA_DIALLED);
    assert_eq!(v["status"], "queued");
    assert_eq!(v["direction"], "outbound-api");
    assert_eq!(v["to"], "sip:dave@example.com");
    let d = f.control.dials.lock().unwrap()[0].clone();
    let CallScript::Url(fetch) = &d.script else {
        panic!("{:?}", d.script)
    };
    assert_eq!(
        (fetch.url.as_str(), fetch.method),
        ("https://example.com/voice", HttpMethod::Get)
    );
    assert_eq!(d.status_callback, None);
    let calls = format!("{}/Calls.json", base());
    for (body, code) in [
        ("From=confab&Url=http%3A%2F%2Fe.com", 21201),
        ("To=sip%3Ax%40y&Url=http%3A%2F%2Fe.com", 21213),
        ("To=sip%3Ax%40y&From=confab", 21205),
        ("To=sip%3Ax%40y&From=confab&ApplicationSid=AP123", 21218),
        ("To=sip%3Ax%40y&From=confab&Url=%2Frelative", 21205),
    ] {
        f.post(&calls, body).await.assert_error(400, code);
    }

    let live = format!("{}/Calls/{CA2}.json", base());
    let done = format!("{}/Calls/{CA1}.json", base());
    let a = f
        .post(
            &live,
            "Twiml=%3CResponse%3E%3CHangup%2F%3E%3C%2FResponse%3E",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["sid"], CA2);
    let a = f.post(&live, "Url=http%3A%2F%2Fexample.com%2Fnext").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(f.post(&live, "Status=canceled").await.status.is_success());
    assert!(f.post(&live, "Status=completed").await.status.is_success());
    assert!(f.post(&done, "Status=completed").await.status.is_success());
    assert_eq!(
        f.control.log()[1..],
        [
            format!("redirect {CA2} <Response><Hangup/></Response>"),
            format!("redirect {CA2} http://example.com/next"),
            // `canceled` leaves an answered call alone; `completed` on an
            // ended call changes nothing.
            format!("hangup {CA2} canceled=false"),
        ]
    );
    f.post(&done, "Url=http%3A%2F%2Fexample.com")
        .await
        .assert_error(400, 21220);
    f.post(&live, "Status=busy").await.assert_error(400, 20001);
    f.post(
        &format!("{}/Calls/{CA_OTHER}.json", base()),
        "Status=completed",
    )
    .await
    .assert_error(404, 20404);
}

/// Placed calls that ring, are canceled or still wait: the 2010 words,
/// the 2008 codes they map to (0 and 5), the filters of both, what an
/// update does to them, and 21220 for a redirect before the answer.
#[tokio::test]
async fn ringing_canceled_and_queued_calls() {
    const CA_RINGING: &str = "CA00000000000000000000000000000a01";
    const CA_CANCELED: &str = "CA00000000000000000000000000000a02";
    const CA_QUEUED: &str = "CA00000000000000000000000000000a03";
    let f = fixture().await;
    for (sid, status, secs) in [
        (CA_RINGING, CallStatus::Ringing, 300),
        (CA_CANCELED, CallStatus::Canceled, 301),
        (CA_QUEUED, CallStatus::NotYetDialed, 302),
    ] {
        let mut record = call(sid, AC, status, secs);
        record.direction = CallDirection::OutboundApi;
        record.start_time = None;
        if status == CallStatus::Canceled {
            record.end_time = Some(at(secs + 5));
        }
        f.store.insert_call(&record).await.unwrap();
    }
    let instance = |sid: &str| format!("{}/Calls/{sid}.json", base());
    for (sid, word) in [
        (CA_RINGING, "ringing"),
        (CA_CANCELED, "canceled"),
        (CA_QUEUED, "queued"),
    ] {
        assert_eq!(f.get_json(&instance(sid)).await["status"], word, "{sid}");
        let page = f
            .get_json(&format!("{}/Calls.json?Status={word}", base()))
            .await;
        assert_eq!(page["calls"].as_array().unwrap().len(), 1, "{word}");
        assert_eq!(page["calls"][0]["sid"], sid, "{word}");
    }

    // The 2008 API has no word for two of them: 0 and 5 (twilio-2008.md §11).
    let list_2008 = format!("/2008-08-01/Accounts/{AC}/Calls");
    for (sid, code) in [(CA_RINGING, 0), (CA_CANCELED, 5), (CA_QUEUED, 0)] {
        let a = f.get(&format!("{list_2008}/{sid}")).await;
        assert!(
            a.text.contains(&format!("<Status>{code}</Status>")),
            "{sid}: {}",
            a.text
        );
    }
    for (query, want) in [
        ("Status=0", vec![CA_RINGING, CA_QUEUED]),
        ("Status=5", vec![CA_CANCELED]),
        ("Status=1", vec![]),
    ] {
        let a = f.get(&format!("{list_2008}?{query}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let found: Vec<&str> = [CA_RINGING, CA_CANCELED, CA_QUEUED]
            .into_iter()
            .filter(|sid| a.text.contains(&format!("<Sid>{sid}</Sid>")))
            .collect();
        assert_eq!(found, want, "{query}: {}", a.text);
    }

    // Nothing answered runs TwiML yet: a redirect is Twilio's 21220.
    for sid in [CA_RINGING, CA_QUEUED, CA_CANCELED] {
        for body in [
            "Url=http%3A%2F%2Fexample.com%2Fnext",
            "Twiml=%3CResponse%2F%3E",
        ] {
            let v = f.post(&instance(sid), body).await.assert_error(400, 21220);
            assert_eq!(v["message"], "Call is not in-progress. Cannot redirect.");
        }
    }
    // `canceled` and `completed` both end a call that rings; a canceled
    // call is over, so neither does anything to it.
    for body in ["Status=canceled", "Status=completed"] {
        for sid in [CA_RINGING, CA_CANCELED] {
            let a = f.post(&instance(sid), body).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        }
    }
    assert_eq!(
        f.control.log(),
        [
            format!("hangup {CA_RINGING} canceled=true"),
            format!("hangup {CA_RINGING} canceled=false"),
        ]
    );
}

#[tokio::test]
async fn authentication_methods_and_hostile_input() {
    let f = fixture().await;
    let uri = format!("{}/Conferences.json", base());
    for credentials in [
        None,
        Some(auth(AC, "wrong")),
        Some(auth(OTHER_AC, OTHER_TOKEN)),
    ] {
        let a = f.send(Method::GET, &uri, "", credentials.as_deref()).await;
        a.assert_error(401, 20003);
        assert_eq!(
            a.headers[header::WWW_AUTHENTICATE],
            r#"Basic realm="confab""#
        );
    }
    for (method, path, allow) in [
        (Method::POST, "/Conferences.json".to_owned(), "GET"),
        (
            Method::DELETE,
            format!("/Conferences/{CF}.json"),
            "GET, POST",
        ),
        (Method::PUT, format!("/Calls/{CA1}.json"), "GET, POST"),
        (Method::DELETE, "/Calls.json".to_owned(), "GET, POST"),
        (
            Method::PATCH,
            format!("/Conferences/{CF}/Participants/{CA1}.json"),
            "GET, POST, DELETE",
        ),
    ] {
        let a = f
            .req(method.clone(), &format!("{}{path}", base()), "")
            .await;
        a.assert_error(405, 20004);
        assert_eq!(a.headers[header::ALLOW], allow, "{method} {path}");
    }
    for path in [
        format!("{}/Recordings.json", base()),
        format!("{}/Conferences/{CA1}.json", base()),
        "/2010-04-01/Accounts.json".to_owned(),
        "/2010-04-01".to_owned(),
    ] {
        let a = f.get(&path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        if path.ends_with(".json") {
            a.assert_error(404, 20404);
        }
    }
    // HEAD: the GET's status and headers, no body.
    let a = f.req(Method::HEAD, &uri, "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.text.is_empty());
    for (method, path, body) in [
        (Method::GET, format!("{uri}?%FF=1"), ""),
        (Method::POST, format!("{}/Calls.json", base()), "To=%FF"),
        (
            Method::POST,
            format!("{}/Calls.json", base()),
            "To=x&From=y&Url=http%3A%2F%2F%5B%3A%3A1",
        ),
        (
            Method::POST,
            format!("{}/Conferences/{CF}/Participants/%2e%2e.json", base()),
            "Muted=true",
        ),
        (Method::GET, format!("{uri}?Page=99999999999999999999"), ""),
        (
            Method::GET,
            format!("{uri}?Page=18446744073709551615&PageSize=1000"),
            "",
        ),
    ] {
        let a = f.req(method.clone(), &path, body).await;
        assert!(
            a.status.is_client_error() || a.status.is_success(),
            "{method} {path}: {}",
            a.text
        );
    }
    // The 2008 API is untouched beside it.
    let a = f
        .get(&format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}"))
        .await;
    assert!(a.text.contains("<Status>0</Status>"), "{}", a.text);
    let _ = &f.store;
}

/// The 2008-08-01 Calls resource (read only, XML) shows the same records.
#[tokio::test]
async fn calls_2008_list_and_instance_in_xml() {
    let f = fixture().await;
    let list = format!("/2008-08-01/Accounts/{AC}/Calls");
    let a = f.get(&list).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(
        a.text.contains(&format!(
            r#"<Calls page="0" numpages="1" pagesize="50" total="3" start="0" end="2" uri="{list}?page=0&amp;num=50""#
        )),
        "{}",
        a.text
    );
    // Newest update first.
    let order: Vec<usize> = [CA3, CA2, CA1]
        .iter()
        .map(|sid| a.text.find(&format!("<Sid>{sid}</Sid>")).unwrap())
        .collect();
    assert!(order.is_sorted(), "{}", a.text);
    let one = f.get(&format!("{list}/{CA1}.xml")).await;
    assert_eq!(
        one.text,
        format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><TwilioResponse><Call>"#,
                "<Sid>{}</Sid><DateCreated>Mon, 06 Jul 2009 00:01:40 +0000</DateCreated>",
                "<DateUpdated>Mon, 06 Jul 2009 00:01:40 +0000</DateUpdated><CallSegmentSid/>",
                "<AccountSid>{}</AccountSid><Called>room</Called><Caller>alice</Caller>",
                "<PhoneNumberSid/><Status>2</Status>",
                "<StartTime>Mon, 06 Jul 2009 00:01:40 +0000</StartTime>",
                "<EndTime>Mon, 06 Jul 2009 00:02:40 +0000</EndTime><Duration>60</Duration>",
                "<Price/><Flags>1</Flags></Call></TwilioResponse>"
            ),
            CA1, AC
        )
    );
    for (query, want) in [
        ("Status=1", vec![CA3, CA2]),
        ("Status=2", vec![CA1]),
        ("Caller=bob", vec![CA3]),
        ("Called=room&StartTime%3E=2009-07-07", vec![CA3]),
        ("StartTime%3C=2009-07-06", vec![CA2, CA1]),
        ("num=1&page=2", vec![CA1]),
    ] {
        let a = f.get(&format!("{list}?{query}")).await;
        let found: Vec<&str> = [CA3, CA2, CA1]
            .into_iter()
            .filter(|sid| a.text.contains(&format!("<Sid>{sid}</Sid>")))
            .collect();
        assert_eq!(found, want, "{query}: {}", a.text);
    }
    let a = f.get(&format!("{list}?Status=in-progress")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.text.contains("<Code>20001</Code>"), "{}", a.text);
    let a = f.get(&format!("{list}/{CA_OTHER}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = f.post(&list, "Called=x").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.headers[header::ALLOW], "GET");
}
