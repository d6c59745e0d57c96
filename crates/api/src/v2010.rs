//! The 2010-04-01 REST API: Conferences, Participants and Calls, in JSON
//! (`.json`) or XML (no suffix, or `.xml`), beside the 2008-08-01 API
//! (whose modules are untouched by it).
//!
//! A request goes through the same steps as a 2008 one, reusing its
//! pieces: `route` (404) → `auth` (401/429, the same accounts and
//! throttle) → body (413) → `action` (405, 400) → the store and the
//! [`CallControl`](crate::CallControl) owner (404, 503) → `render`. Errors
//! are Twilio's of today: `{"code","message","more_info","status"}` in
//! JSON, `<TwilioResponse><RestException>` in XML, rendered in one place
//! ([`error_response`]) from the one [`ApiError`] mapping.
//!
//! Writes go through the contract's commands, one at a time, and the
//! answer is read back from the store afterwards, as in the 2008 API: when
//! a participant update answers `"muted": true`, the store says so.

mod action;
pub(crate) mod render;
pub mod route;

use std::net::IpAddr;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{
    AccountSid, CallRecord, CallSid, CallStatus, ConferenceFilter, ConferenceRecord, ConferenceSid,
    ConferenceStatus, PageRequest, PageWindow, ParticipantRecord, Timestamp,
};
use serde::Serialize;
use store::CallOrder;

use crate::body::{read_body, without_body};
use crate::error::ApiError;
use crate::form::FormPairs;
use crate::types::PageUris;
use crate::{
    AppState, CallScript, CallUpdate, ConferenceCommand, ConferenceRef, DialError, DialRequest,
    ParticipantCommand, ParticipantKey, auth,
};
use action::{Action, ParticipantUpdate};
use render::ListNames;
use route::{Format, ParticipantPath, Resource, Route};

/// Whether `path` is a 2010-04-01 path (every one is answered here, a 404
/// included, in the format it asks for).
pub fn claims(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    path == route::API_VERSION
        || path
            .strip_prefix(route::API_VERSION)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Serves a 2010-04-01 request.
pub async fn dispatch(state: &AppState, client: Option<IpAddr>, request: Request) -> Response {
    let head = request.method() == Method::HEAD;
    let path = request.uri().path().to_owned();
    let response = match handle(state, client, request).await {
        Ok(response) => response,
        Err(e) => error_response(e, &path),
    };
    if head {
        without_body(response)
    } else {
        response
    }
}

/// The one place a 2010 request's error becomes its response.
fn error_response(e: ApiError, path: &str) -> Response {
    e.log();
    let exception = e.exception();
    let message = match e {
        ApiError::NotFound => format!("The requested resource {path} was not found"),
        _ => exception.message.to_owned(),
    };
    let body = render::exception(&exception, &message);
    let mut response = render::instance(
        exception.status,
        "RestException",
        &body,
        Format::of_path(path),
    )
    .unwrap_or_else(|io| {
        tracing::error!(error = %io, "could not render a RestException");
        exception.status.into_response()
    });
    e.add_headers(&mut response);
    response
}

async fn handle(
    state: &AppState,
    client: Option<IpAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let route = Route::parse(parts.uri.path()).ok_or(ApiError::NotFound)?;
    let authorization = parts.headers.get(header::AUTHORIZATION);
    let account = auth::authenticate(state, authorization, route.account_segment(), client).await?;
    let body = match parts.method {
        Method::POST | Method::DELETE => read_body(body).await?,
        _ => Bytes::new(),
    };
    let query = parts.uri.query().unwrap_or_default().as_bytes();
    let action = Action::parse(
        &account,
        route.resource.clone(),
        &parts.method,
        query,
        &body,
    )?;
    Run {
        state,
        account: &account,
        resource: &route.resource,
        format: route.format,
    }
    .execute(action)
    .await
}

/// One request's context while its action runs.
struct Run<'a> {
    state: &'a AppState,
    account: &'a AccountSid,
    resource: &'a Resource,
    format: Format,
}

impl Run<'_> {
    /// Runs `action`. Reading one record runs here; the rest runs boxed:
    /// their arms hold kilobytes across awaits, which would make every
    /// request's future that large, and axum moves each request's future
    /// whole into a box of its own.
    async fn execute(&self, action: Action) -> Result<Response, ApiError> {
        match action {
            Action::GetConference(sid) => self.get_conference(&sid).await,
            Action::GetParticipant {
                conference,
                participant,
            } => self.get_participant(&conference, &participant).await,
            Action::GetCall(sid) => self.get_call(&sid).await,
            action => Box::pin(self.execute_boxed(action)).await,
        }
    }

    async fn get_conference(&self, sid: &ConferenceSid) -> Result<Response, ApiError> {
        self.conference(&self.live_or_not(sid).await?)
    }

    async fn get_participant(
        &self,
        conference: &ConferenceSid,
        participant: &ParticipantPath,
    ) -> Result<Response, ApiError> {
        self.participant(&self.find_participant(conference, participant).await?)
    }

    async fn get_call(&self, sid: &CallSid) -> Result<Response, ApiError> {
        self.call(StatusCode::OK, &self.find_call(sid).await?)
    }

    async fn execute_boxed(&self, action: Action) -> Result<Response, ApiError> {
        let store = &self.state.store;
        let account = self.account;
        let format = self.format;
        match action {
            Action::ListConferences {
                filter,
                page,
                query,
            } => {
                let (items, total) = store.conferences(account, &filter, page).await?;
                if format == Format::Json {
                    return self.kept_list(&items, page, total, &query);
                }
                let items: Vec<_> = items
                    .iter()
                    .map(|c| render::conference(c, format))
                    .collect();
                self.list(render::CONFERENCES, &items, page, total, &query)
            }
            Action::GetConference(sid) => self.get_conference(&sid).await,
            Action::UpdateConference {
                conference,
                announce,
                end,
            } => {
                let found = self.live_or_not(&conference).await?;
                if let Some(audio) = announce {
                    let command = ConferenceCommand::Announce {
                        account: account.clone(),
                        conference: conference.clone(),
                        audio,
                    };
                    self.state.control.conference(command).await?;
                }
                // Ending a completed conference changes nothing.
                if end && found.status != ConferenceStatus::Completed {
                    let command = ConferenceCommand::End {
                        account: account.clone(),
                        conference: conference.clone(),
                    };
                    self.state.control.conference(command).await?;
                }
                self.conference(&self.live_or_not(&conference).await?)
            }
            Action::ListParticipants {
                conference,
                filter,
                page,
                query,
            } => {
                // An unknown conference is a 404, not an empty list.
                self.live_or_not(&conference).await?;
                let (items, total) = store
                    .participants(account, &conference, &filter, page)
                    .await?;
                if format == Format::Json {
                    return self.kept_list(&items, page, total, &query);
                }
                let items: Vec<_> = items
                    .iter()
                    .map(|p| render::participant(p, format))
                    .collect();
                self.list(render::PARTICIPANTS, &items, page, total, &query)
            }
            Action::GetParticipant {
                conference,
                participant,
            } => self.get_participant(&conference, &participant).await,
            Action::UpdateParticipant {
                conference,
                participant,
                update,
            } => {
                let found = self.find_participant(&conference, &participant).await?;
                let key = ParticipantKey {
                    account: account.clone(),
                    conference: conference.clone(),
                    call: found.call_sid.clone(),
                };
                for command in participant_commands(&key, update) {
                    self.state.control.apply(command).await?;
                }
                // Read back what was stored; the participant may have left since.
                let after = store.participant(account, &conference, &key.call).await?;
                self.participant(&after.ok_or(ApiError::NotFound)?)
            }
            Action::Kick {
                conference,
                participant,
            } => {
                let found = self.find_participant(&conference, &participant).await?;
                let participant = ParticipantKey {
                    account: account.clone(),
                    conference,
                    call: found.call_sid,
                };
                self.state
                    .control
                    .apply(ParticipantCommand::Kick { participant })
                    .await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            Action::AddParticipant(request) => self.add_participant(request).await,
            Action::ListCalls {
                filter,
                page,
                query,
            } => {
                let (items, total) = store
                    .calls(account, &filter, CallOrder::Created, page)
                    .await?;
                if format == Format::Json {
                    return self.kept_list(&items, page, total, &query);
                }
                let items: Vec<_> = items.iter().map(|c| render::call(c, format)).collect();
                self.list(render::CALLS, &items, page, total, &query)
            }
            Action::GetCall(sid) => self.get_call(&sid).await,
            Action::CreateCall(request) => {
                let queued = queued_call(&request);
                let sid = self.state.control.dial(request).await.map_err(dial_error)?;
                let record = store.call_of(account, &sid).await?;
                // Recorded before `dial` answers, by the contract; if not
                // (yet), the call as it was asked for, queued.
                let record = record.unwrap_or(CallRecord { sid, ..queued });
                self.call(StatusCode::CREATED, &record)
            }
            Action::UpdateCall { call, update } => {
                let found = self.find_call(&call).await?;
                if let Some(update) = update.filter(|u| needs_applying(u, found.status)) {
                    let redirect = matches!(update, CallUpdate::Redirect(_));
                    if redirect && found.status != CallStatus::InProgress {
                        return Err(ApiError::Invalid {
                            code: 21220,
                            message: "Call is not in-progress. Cannot redirect.".to_owned(),
                        });
                    }
                    self.state
                        .control
                        .update_call(account.clone(), call.clone(), update)
                        .await?;
                }
                self.call(StatusCode::OK, &self.find_call(&call).await?)
            }
        }
    }

    /// `POST Conferences/{CF or name}/Participants`: dials out, and answers
    /// 201 with the participant as the store has it, or `queued` while its
    /// call has not joined yet (Twilio answers with the participant right
    /// away too).
    async fn add_participant(&self, request: DialRequest) -> Result<Response, ApiError> {
        let CallScript::Conference {
            conference,
            options,
            label,
            coach,
            ..
        } = &request.script
        else {
            return Err(ApiError::NotFound);
        };
        let live = match conference {
            ConferenceRef::Sid(sid) => Some(self.live_or_not(sid).await?),
            ConferenceRef::Name(name) => self.live_by_name(name).await?,
        };
        if live
            .as_ref()
            .is_some_and(|c| c.status == ConferenceStatus::Completed)
        {
            return Err(ApiError::NotFound);
        }
        let (options, label, coach) = (*options, label.clone(), coach.clone());
        let call = self.state.control.dial(request).await.map_err(dial_error)?;
        let conference = live.map(|c| c.sid);
        if let Some(cf) = &conference
            && let Some(joined) = self
                .state
                .store
                .participant(self.account, cf, &call)
                .await?
        {
            return self.respond(
                StatusCode::CREATED,
                "Participant",
                &render::participant(&joined, self.format),
            );
        }
        let queued = render::Queued {
            account: self.account,
            call: &call,
            conference: conference.as_ref(),
            label: label.as_deref(),
            coach: coach.as_ref(),
            options: &options,
            now: Timestamp::from(SystemTime::now()),
        };
        self.respond(
            StatusCode::CREATED,
            "Participant",
            &render::queued_participant(&queued, self.format),
        )
    }

    /// The account's conference `sid`, whatever its status, or 404.
    async fn live_or_not(&self, sid: &ConferenceSid) -> Result<ConferenceRecord, ApiError> {
        self.state
            .store
            .conference(self.account, sid)
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// The account's newest conference named `name`, if any: the live one
    /// when there is one (it was updated after every completed namesake).
    async fn live_by_name(&self, name: &str) -> Result<Option<ConferenceRecord>, ApiError> {
        let filter = ConferenceFilter {
            friendly_name: Some(name.to_owned()),
            ..ConferenceFilter::default()
        };
        let page = PageRequest { page: 0, size: 1 };
        let (found, _) = self
            .state
            .store
            .conferences(self.account, &filter, page)
            .await?;
        Ok(found.into_iter().next())
    }

    async fn find_participant(
        &self,
        conference: &ConferenceSid,
        participant: &ParticipantPath,
    ) -> Result<ParticipantRecord, ApiError> {
        let store = &self.state.store;
        let found = match participant {
            ParticipantPath::Call(call) => {
                store.participant(self.account, conference, call).await?
            }
            ParticipantPath::Label(label) => {
                store
                    .participant_by_label(self.account, conference, label)
                    .await?
            }
        };
        found.ok_or(ApiError::NotFound)
    }

    async fn find_call(&self, sid: &CallSid) -> Result<CallRecord, ApiError> {
        self.state
            .store
            .call_of(self.account, sid)
            .await?
            .ok_or(ApiError::NotFound)
    }

    fn conference(&self, c: &ConferenceRecord) -> Result<Response, ApiError> {
        self.respond(
            StatusCode::OK,
            "Conference",
            &render::conference(c, self.format),
        )
    }

    fn participant(&self, p: &ParticipantRecord) -> Result<Response, ApiError> {
        self.respond(
            StatusCode::OK,
            "Participant",
            &render::participant(p, self.format),
        )
    }

    fn call(&self, status: StatusCode, c: &CallRecord) -> Result<Response, ApiError> {
        self.respond(status, "Call", &render::call(c, self.format))
    }

    fn respond<T: Serialize>(
        &self,
        status: StatusCode,
        element: &str,
        value: &T,
    ) -> Result<Response, ApiError> {
        Ok(render::instance(status, element, value, self.format)?)
    }

    /// A JSON list page of `items`, written from their kept renderings.
    fn kept_list<R: render::KeptItem>(
        &self,
        items: &[R],
        page: PageRequest,
        total: u64,
        query: &FormPairs,
    ) -> Result<Response, ApiError> {
        let kept = render::kept_json(items, &self.state.rendered)?;
        self.list(R::NAMES, &render::raw(&kept), page, total, query)
    }

    /// A list page, its URIs on the list's own path in the request's format.
    fn list<T: Serialize>(
        &self,
        names: ListNames,
        items: &[T],
        page: PageRequest,
        total: u64,
        query: &FormPairs,
    ) -> Result<Response, ApiError> {
        let count = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let window = PageWindow::new(page, total, count);
        let path = self
            .resource
            .list_path(self.account.as_str())
            .ok_or(ApiError::NotFound)?;
        let path = match self.format {
            Format::Json => route::json(&path),
            Format::Xml => path,
        };
        let uris = PageUris::new_2010(&path, query, &window);
        Ok(render::list(names, items, &window, &uris, self.format)?)
    }
}

/// The commands of a participant update, in the order they are applied.
fn participant_commands(
    key: &ParticipantKey,
    update: ParticipantUpdate,
) -> Vec<ParticipantCommand> {
    let participant = || key.clone();
    let mut commands = Vec::new();
    if let Some(end_conference_on_exit) = update.end_conference_on_exit {
        commands.push(ParticipantCommand::SetEndConferenceOnExit {
            participant: participant(),
            end_conference_on_exit,
        });
    }
    if let Some(muted) = update.muted {
        commands.push(ParticipantCommand::SetMuted {
            participant: participant(),
            muted,
        });
    }
    if let Some((hold, music)) = update.hold {
        commands.push(ParticipantCommand::SetHold {
            participant: participant(),
            hold,
            music,
        });
    }
    if let Some(audio) = update.announce {
        commands.push(ParticipantCommand::Announce {
            participant: participant(),
            audio,
        });
    }
    commands
}

/// Whether `update` does anything to a call in `status`, as Twilio says:
/// ending an ended call changes nothing, and `canceled` only cancels a call
/// that has not been answered. A redirect always applies (or is refused).
fn needs_applying(update: &CallUpdate, status: CallStatus) -> bool {
    match update {
        CallUpdate::End { canceled } => {
            let unanswered = matches!(status, CallStatus::NotYetDialed | CallStatus::Ringing);
            !status.is_final() && (unanswered || !*canceled)
        }
        CallUpdate::Redirect(_) => true,
    }
}

/// The call `request` places, as it is before it rings.
fn queued_call(request: &DialRequest) -> CallRecord {
    let now = Timestamp::from(SystemTime::now());
    CallRecord {
        // Replaced by the sid `dial` answers with.
        sid: CallSid::from_random([0; 16]),
        account_sid: request.account.clone(),
        phone_number_sid: None,
        caller: request.from.clone(),
        called: request.to.clone(),
        direction: model::CallDirection::OutboundApi,
        status: CallStatus::NotYetDialed,
        start_time: None,
        end_time: None,
        duration: None,
        failure: None,
        date_created: now,
        date_updated: now,
    }
}

/// Why a dial-out failed, as Twilio's errors say it.
fn dial_error(e: DialError) -> ApiError {
    match e {
        DialError::NoTrunk(to) => ApiError::Invalid {
            code: 21215,
            message: format!("Account not authorized to call {to}: it has no outbound SIP trunk"),
        },
        DialError::BadTo => ApiError::Invalid {
            code: 21211,
            message: "Invalid 'To' Phone Number: neither a sip: URI nor a phone number".to_owned(),
        },
        DialError::NoConference => ApiError::NotFound,
        DialError::Control(e) => e.into(),
    }
}
