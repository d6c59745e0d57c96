use super::*;

const AC: &str = "AC5ea872f6da5a21de157d80997a64bd33";
const CF: &str = "CF9f2ead1ae43cdabeab102fa30d938378";
const CA: &str = "CA9ae8e040497c0598481c2031a154919e";

fn account() -> AccountSid {
    AccountSid::parse(AC).unwrap()
}

fn participant() -> Resource {
    Resource::Participant(
        ConferenceSid::parse(CF).unwrap(),
        ParticipantPath::Call(CallSid::parse(CA).unwrap()),
    )
}

fn parse(resource: Resource, method: Method, query: &str, body: &str) -> Result<Action, ApiError> {
    Action::parse(
        &account(),
        resource,
        &method,
        query.as_bytes(),
        body.as_bytes(),
    )
}

fn update(body: &str) -> Result<ParticipantUpdate, ApiError> {
    match parse(participant(), Method::POST, "", body)? {
        Action::UpdateParticipant { update, .. } => Ok(update),
        other => panic!("{other:?}"),
    }
}

fn code(r: Result<impl std::fmt::Debug, ApiError>) -> (u16, Option<u32>) {
    let e = r.expect_err("an error");
    let x = e.exception();
    (x.status.as_u16(), x.code)
}

#[test]
fn the_method_is_checked_first() {
    // A bad parameter on a method the resource lacks is a 405.
    let r = parse(Resource::ConferenceList, Method::POST, "Status=7", "%FF");
    assert!(matches!(
        r,
        Err(ApiError::MethodNotAllowed { allow: "GET" })
    ));
    let r = parse(participant(), Method::PUT, "", "");
    assert!(matches!(
        r,
        Err(ApiError::MethodNotAllowed {
            allow: "GET, POST, DELETE"
        })
    ));
    // No `_method` override in 2010: a POST is a POST.
    assert!(matches!(
        parse(participant(), Method::POST, "_method=DELETE", ""),
        Ok(Action::UpdateParticipant { .. })
    ));
}

#[test]
fn participant_updates() {
    let u = update("Hold=true&HoldUrl=http%3A%2F%2Fexample.com%2Fm.wav").unwrap();
    let music = Fetchable {
        url: "http://example.com/m.wav".to_owned(),
        method: HttpMethod::Post,
    };
    assert_eq!(u.hold, Some((true, Some(music))));
    assert_eq!(update("").unwrap(), ParticipantUpdate::default());
    // The query counts when the body lacks a parameter.
    let u = match parse(participant(), Method::POST, "Muted=true", "Muted=false").unwrap() {
        Action::UpdateParticipant { update, .. } => update,
        other => panic!("{other:?}"),
    };
    assert_eq!(u.muted, Some(false));
    // A HoldUrl without Hold is still checked, then unused.
    assert_eq!(update("HoldUrl=http%3A%2F%2Fx.example").unwrap().hold, None);
    assert_eq!(code(update("HoldUrl=x")), (400, Some(21205)));
    assert_eq!(code(update("Hold=1")), (400, Some(20001)));
    assert_eq!(code(update("CallSidToCoach=x")), (400, Some(20001)));
}

#[test]
fn status_callback_events_come_repeated_or_separated() {
    let body = "To=sip%3Ax%40y&From=z&Url=http%3A%2F%2Fe.com&StatusCallback=http%3A%2F%2Fe.com%2Fs\
                &StatusCallbackEvent=initiated&StatusCallbackEvent=ringing%2Canswered";
    let Action::CreateCall(d) = parse(Resource::CallList, Method::POST, "", body).unwrap() else {
        panic!()
    };
    let cb = d.status_callback.unwrap();
    assert_eq!(cb.events, ["initiated", "ringing", "answered"]);
    assert_eq!(cb.method, HttpMethod::Post);
}

#[test]
fn call_updates() {
    let call = CallSid::parse(CA).unwrap();
    let up = |body: &str| parse(Resource::Call(call.clone()), Method::POST, "", body);
    let Action::UpdateCall { update, .. } = up("Status=completed&Url=http%3A%2F%2Fe.com").unwrap()
    else {
        panic!()
    };
    assert_eq!(update, Some(CallUpdate::End { canceled: false }));
    let Action::UpdateCall { update, .. } = up("").unwrap() else {
        panic!()
    };
    assert_eq!(update, None);
    let Action::UpdateCall { update, .. } = up("Twiml=%3CResponse%2F%3E").unwrap() else {
        panic!()
    };
    assert_eq!(
        update,
        Some(CallUpdate::Redirect(CallScript::Twiml(
            "<Response/>".into()
        )))
    );
    assert_eq!(code(up("Status=in-progress")), (400, Some(20001)));
    assert_eq!(
        code(up("Url=http%3A%2F%2Fe.com&Method=PATCH")),
        (400, Some(21209))
    );
}

#[test]
fn a_named_conference_cannot_be_listed() {
    let r = parse(
        Resource::ParticipantList(ConferencePath::Name("room".into())),
        Method::GET,
        "",
        "",
    );
    assert!(matches!(r, Err(ApiError::NotFound)));
}
