//! What a 2010-04-01 request asks for, parsed: route, method and
//! parameters become one typed [`Action`], or the 405 or 400 that says why
//! not. Pure, like the 2008 `action`: every rule is tested without a store.
//!
//! Writes are validated whole before anything is applied: a participant
//! update with a good `Muted` and a bad `HoldUrl` changes nothing. `POST`
//! parameters are read from the form body, then the query string. Unknown
//! parameters are ignored, as Twilio's optional ones confab does not act on
//! (`Record`, `EarlyMedia`, `MachineDetection`, …; docs/api.md lists them);
//! the ones it cannot honour on a live participant (`Coaching`,
//! `CallSidToCoach`, `WaitUrl`) are refused, never silently dropped.

use axum::http::Method;
use model::{
    AccountSid, CallFilter, CallSid, ConferenceFilter, ConferenceSid, HttpMethod, PageRequest,
    ParticipantFilter, StatusCallback,
};

use crate::error::ApiError;
use crate::filters::{call_filter_2010, conference_filter, participant_filter_2010, strict_bool};
use crate::form::{FormPairs, all_values};
use crate::paging::page_request;
use crate::v2010::route::{ConferencePath, ParticipantPath, Resource};
use crate::{CallScript, CallUpdate, ConferenceRef, DialRequest, Fetchable};

/// One thing the 2010 API can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    ListConferences {
        filter: ConferenceFilter,
        page: PageRequest,
        query: FormPairs,
    },
    GetConference(ConferenceSid),
    /// `POST Conferences/{CF}`: announce first, then end.
    UpdateConference {
        conference: ConferenceSid,
        announce: Option<Fetchable>,
        end: bool,
    },
    ListParticipants {
        conference: ConferenceSid,
        filter: ParticipantFilter,
        page: PageRequest,
        query: FormPairs,
    },
    GetParticipant {
        conference: ConferenceSid,
        participant: ParticipantPath,
    },
    UpdateParticipant {
        conference: ConferenceSid,
        participant: ParticipantPath,
        update: ParticipantUpdate,
    },
    Kick {
        conference: ConferenceSid,
        participant: ParticipantPath,
    },
    /// `POST Conferences/{CF or name}/Participants`: dial out.
    AddParticipant(DialRequest),
    ListCalls {
        filter: CallFilter,
        page: PageRequest,
        query: FormPairs,
    },
    GetCall(CallSid),
    CreateCall(DialRequest),
    /// `POST Calls/{CA}`; `None` changes nothing (the call is returned).
    UpdateCall {
        call: CallSid,
        update: Option<CallUpdate>,
    },
}

/// A participant update, applied in this order: `EndConferenceOnExit`,
/// `Muted`, `Hold` (with its music), `AnnounceUrl`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParticipantUpdate {
    pub end_conference_on_exit: Option<bool>,
    pub muted: Option<bool>,
    /// `Hold`, and `HoldUrl`/`HoldMethod` when it is `true`.
    pub hold: Option<(bool, Option<Fetchable>)>,
    pub announce: Option<Fetchable>,
}

/// The default `Timeout` of a dial-out (Twilio's), and its bounds.
const TIMEOUT_DEFAULT: u32 = 60;
const TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 5..=600;

/// The request's parameters: body first, then query.
struct Params<'a> {
    body: &'a FormPairs,
    query: &'a FormPairs,
    raw_body: &'a [u8],
    raw_query: &'a [u8],
}

impl<'a> Params<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.body.get(key).or_else(|| self.query.get(key))
    }

    /// Every value of a list parameter (repeated keys, each split on
    /// spaces and commas), from the body or else the query.
    fn list(&self, key: &str) -> Vec<String> {
        let mut values = all_values(self.raw_body, key);
        if values.is_empty() {
            values = all_values(self.raw_query, key);
        }
        values
            .iter()
            .flat_map(|v| v.split([' ', ',']))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        if self.body.get(key).is_some() {
            strict_bool(self.body, key)
        } else {
            strict_bool(self.query, key)
        }
    }

    /// A required parameter, or the 400 Twilio answers without it.
    fn required(&self, key: &str, code: u32) -> Result<&'a str, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::Invalid {
                code,
                message: format!("Required parameter {key} missing."),
            })
    }

    /// `GET` or `POST` (any case), POST by default.
    fn method(&self, key: &str) -> Result<HttpMethod, ApiError> {
        match self.get(key) {
            None => Ok(HttpMethod::Post),
            Some(m) => HttpMethod::parse(m).ok_or_else(|| ApiError::Invalid {
                code: 21209,
                message: format!("Invalid value for parameter {key}: expected GET or POST"),
            }),
        }
    }

    /// An absolute `http`/`https` URL, or 21205.
    fn url(&self, key: &str) -> Result<Option<String>, ApiError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let valid = url::Url::parse(value)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if valid {
            Ok(Some(value.to_owned()))
        } else {
            Err(ApiError::Invalid {
                code: 21205,
                message: format!("{key} is not a valid URL: {value}"),
            })
        }
    }

    /// `{url_key}` with `{method_key}`.
    fn fetchable(&self, url_key: &str, method_key: &str) -> Result<Option<Fetchable>, ApiError> {
        let Some(url) = self.url(url_key)? else {
            return Ok(None);
        };
        Ok(Some(Fetchable {
            url,
            method: self.method(method_key)?,
        }))
    }

    /// `{prefix}`, `{prefix}Event` (checked against `known`, `default`
    /// when absent) and `{prefix}Method`.
    fn status_callback(
        &self,
        prefix: &str,
        known: &[&str],
        default: &[&str],
    ) -> Result<Option<StatusCallback>, ApiError> {
        let Some(url) = self.url(prefix)? else {
            return Ok(None);
        };
        let event_key = format!("{prefix}Event");
        let mut events = self.list(&event_key);
        if let Some(bad) = events.iter().find(|e| !known.contains(&e.as_str())) {
            return Err(ApiError::InvalidParameter(format!(
                "Invalid value for parameter {event_key}: {bad} is not one of {}",
                known.join(", ")
            )));
        }
        if events.is_empty() {
            events = default.iter().map(|&e| e.to_owned()).collect();
        }
        Ok(Some(StatusCallback {
            url,
            method: self.method(&format!("{prefix}Method"))?,
            events,
        }))
    }

    /// `Timeout` in seconds, clamped to Twilio's 5 to 600.
    fn timeout(&self) -> Result<u32, ApiError> {
        match self.get("Timeout") {
            None => Ok(TIMEOUT_DEFAULT),
            Some(t) => t
                .parse::<u64>()
                .map(|t| u32::try_from(t).unwrap_or(u32::MAX))
                .map(|t| t.clamp(*TIMEOUT_RANGE.start(), *TIMEOUT_RANGE.end()))
                .map_err(|_| ApiError::Invalid {
                    code: 21208,
                    message: "Invalid value for parameter Timeout: expected whole seconds"
                        .to_owned(),
                }),
        }
    }

    /// Refuses a parameter confab cannot honour here.
    fn refuse(&self, key: &str, why: &str) -> Result<(), ApiError> {
        match self.get(key) {
            None => Ok(()),
            Some(_) => Err(ApiError::InvalidParameter(format!(
                "Parameter {key} is not supported by confab {why}"
            ))),
        }
    }
}

impl Action {
    /// `query` and `body` are the raw query string and body (empty for a
    /// method whose body is not read).
    pub fn parse(
        account: &AccountSid,
        resource: Resource,
        method: &Method,
        query: &[u8],
        body: &[u8],
    ) -> Result<Self, ApiError> {
        let verb = Verb::of(method, &resource).ok_or(ApiError::MethodNotAllowed {
            allow: resource.allow(),
        })?;
        let query_pairs = FormPairs::parse(query)?;
        let body_pairs = FormPairs::parse(body)?;
        let p = Params {
            body: &body_pairs,
            query: &query_pairs,
            raw_body: body,
            raw_query: query,
        };
        Ok(match (resource, verb) {
            (Resource::ConferenceList, _) => Self::ListConferences {
                filter: conference_filter(&query_pairs)?,
                page: page_request(&query_pairs)?,
                query: query_pairs,
            },
            (Resource::Conference(sid), Verb::Get) => Self::GetConference(sid),
            (Resource::Conference(conference), _) => {
                let end = match p.get("Status") {
                    None => false,
                    Some("completed") => true,
                    Some(_) => {
                        return Err(ApiError::InvalidParameter(
                            "Invalid value for parameter Status: expected completed".to_owned(),
                        ));
                    }
                };
                Self::UpdateConference {
                    conference,
                    announce: p.fetchable("AnnounceUrl", "AnnounceMethod")?,
                    end,
                }
            }
            (Resource::ParticipantList(ConferencePath::Sid(conference)), Verb::Get) => {
                Self::ListParticipants {
                    conference,
                    filter: participant_filter_2010(&query_pairs)?,
                    page: page_request(&query_pairs)?,
                    query: query_pairs,
                }
            }
            // Only a dial-out may name a conference that is not live yet.
            (Resource::ParticipantList(ConferencePath::Name(_)), Verb::Get) => {
                return Err(ApiError::NotFound);
            }
            (Resource::ParticipantList(conference), _) => {
                Self::AddParticipant(add_participant(account, conference, &p)?)
            }
            (Resource::Participant(conference, participant), Verb::Get) => Self::GetParticipant {
                conference,
                participant,
            },
            (Resource::Participant(conference, participant), Verb::Delete) => Self::Kick {
                conference,
                participant,
            },
            (Resource::Participant(conference, participant), Verb::Post) => {
                Self::UpdateParticipant {
                    conference,
                    participant,
                    update: participant_update(&p)?,
                }
            }
            (Resource::CallList, Verb::Get) => Self::ListCalls {
                filter: call_filter_2010(&query_pairs)?,
                page: page_request(&query_pairs)?,
                query: query_pairs,
            },
            (Resource::CallList, _) => Self::CreateCall(create_call(account, &p)?),
            (Resource::Call(call), Verb::Get) => Self::GetCall(call),
            (Resource::Call(call), _) => Self::UpdateCall {
                call,
                update: call_update(&p)?,
            },
        })
    }
}

/// The methods the 2010 API knows; HEAD is a GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    /// The verb, if `resource` supports `method`.
    fn of(method: &Method, resource: &Resource) -> Option<Self> {
        let verb = match *method {
            Method::GET | Method::HEAD => Self::Get,
            Method::POST => Self::Post,
            Method::DELETE => Self::Delete,
            _ => return None,
        };
        let name = match verb {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        };
        resource
            .allow()
            .split(", ")
            .any(|m| m == name)
            .then_some(verb)
    }
}

fn participant_update(p: &Params<'_>) -> Result<ParticipantUpdate, ApiError> {
    p.refuse("Coaching", "on a participant update")?;
    p.refuse("CallSidToCoach", "on a participant update")?;
    p.refuse("WaitUrl", "on a participant update")?;
    // Accepted and checked; confab beeps on leaving as the join said.
    p.bool("BeepOnExit")?;
    let hold = match p.bool("Hold")? {
        None => {
            p.fetchable("HoldUrl", "HoldMethod")?;
            None
        }
        Some(false) => Some((false, None)),
        Some(true) => Some((true, p.fetchable("HoldUrl", "HoldMethod")?)),
    };
    Ok(ParticipantUpdate {
        end_conference_on_exit: p.bool("EndConferenceOnExit")?,
        muted: p.bool("Muted")?,
        hold,
        announce: p.fetchable("AnnounceUrl", "AnnounceMethod")?,
    })
}

/// `To` and `From`, required, with Twilio's codes.
fn to_and_from(p: &Params<'_>) -> Result<(String, String), ApiError> {
    let to = p.required("To", 21201)?;
    let from = p.required("From", 21213)?;
    Ok((to.to_owned(), from.to_owned()))
}

fn add_participant(
    account: &AccountSid,
    conference: ConferencePath,
    p: &Params<'_>,
) -> Result<DialRequest, ApiError> {
    let (to, from) = to_and_from(p)?;
    let mut options = conference::ParticipantOptions::default();
    if let Some(muted) = p.bool("Muted")? {
        options.muted = muted;
    }
    if let Some(beep) = p.get("Beep") {
        // `onEnter` and `onExit` beep (confab beeps on both or neither).
        options.beep = match beep {
            b if b.eq_ignore_ascii_case("true") || b == "onEnter" || b == "onExit" => true,
            b if b.eq_ignore_ascii_case("false") => false,
            _ => {
                return Err(ApiError::InvalidParameter(
                    "Invalid value for parameter Beep: expected true, false, onEnter or onExit"
                        .to_owned(),
                ));
            }
        };
    }
    if let Some(start) = p.bool("StartConferenceOnEnter")? {
        options.start_conference_on_enter = start;
    }
    if let Some(end) = p.bool("EndConferenceOnExit")? {
        options.end_conference_on_exit = end;
    }
    if let Some(max) = p.get("MaxParticipants") {
        options.max_participants = Some(
            max.parse()
                .ok()
                .filter(|m| (2..=250).contains(m))
                .ok_or_else(|| {
                    ApiError::InvalidParameter(
                        "Invalid value for parameter MaxParticipants: expected 2 to 250".to_owned(),
                    )
                })?,
        );
    }
    let coach = match p.get("CallSidToCoach") {
        None => None,
        Some(s) => Some(CallSid::parse(s).map_err(|_| {
            ApiError::InvalidParameter(
                "Invalid value for parameter CallSidToCoach: expected a call sid".to_owned(),
            )
        })?),
    };
    let coaching = p.bool("Coaching")?;
    if coaching == Some(true) && coach.is_none() {
        return Err(ApiError::InvalidParameter(
            "Coaching is true but CallSidToCoach is missing".to_owned(),
        ));
    }
    let coach = coach.filter(|_| coaching != Some(false));
    // `WaitUrl=""` is silence, like `<Conference waitUrl="">`.
    let wait = match p.get("WaitUrl") {
        Some("") => Some(Fetchable {
            url: String::new(),
            method: p.method("WaitMethod")?,
        }),
        _ => p.fetchable("WaitUrl", "WaitMethod")?,
    };
    let label = p.get("Label").map(str::to_owned);
    if label
        .as_deref()
        .is_some_and(|l| l.is_empty() || CallSid::parse(l).is_ok())
    {
        return Err(ApiError::InvalidParameter(
            "Invalid value for parameter Label: empty, or a call sid".to_owned(),
        ));
    }
    Ok(DialRequest {
        account: account.clone(),
        from,
        to,
        timeout_secs: p.timeout()?,
        script: CallScript::Conference {
            conference: match conference {
                ConferencePath::Sid(sid) => ConferenceRef::Sid(sid),
                ConferencePath::Name(name) => ConferenceRef::Name(name),
            },
            options,
            label,
            coach,
            wait,
            status_callback: p.status_callback(
                "ConferenceStatusCallback",
                &model::CONFERENCE_CALLBACK_EVENTS,
                &["start", "end"],
            )?,
        },
        status_callback: p.status_callback(
            "StatusCallback",
            &model::CALL_CALLBACK_EVENTS,
            &["completed"],
        )?,
    })
}

/// `Url` (with `Method`) wins over `Twiml`, as Twilio says; `None` when
/// neither is given.
fn script(p: &Params<'_>) -> Result<Option<CallScript>, ApiError> {
    if let Some(fetch) = p.fetchable("Url", "Method")? {
        return Ok(Some(CallScript::Url(fetch)));
    }
    Ok(p.get("Twiml").map(|t| CallScript::Twiml(t.to_owned())))
}

fn create_call(account: &AccountSid, p: &Params<'_>) -> Result<DialRequest, ApiError> {
    let (to, from) = to_and_from(p)?;
    if p.get("ApplicationSid").is_some() {
        return Err(ApiError::Invalid {
            code: 21218,
            message: "Invalid ApplicationSid: confab has no Applications; use Url or Twiml"
                .to_owned(),
        });
    }
    let script = script(p)?.ok_or(ApiError::Invalid {
        code: 21205,
        message: "Url or Twiml is required".to_owned(),
    })?;
    Ok(DialRequest {
        account: account.clone(),
        from,
        to,
        timeout_secs: p.timeout()?,
        script,
        status_callback: p.status_callback(
            "StatusCallback",
            &model::CALL_CALLBACK_EVENTS,
            &["completed"],
        )?,
    })
}

fn call_update(p: &Params<'_>) -> Result<Option<CallUpdate>, ApiError> {
    let end = match p.get("Status") {
        None => None,
        Some("completed") => Some(CallUpdate::End { canceled: false }),
        Some("canceled") => Some(CallUpdate::End { canceled: true }),
        Some(_) => {
            return Err(ApiError::InvalidParameter(
                "Invalid value for parameter Status: expected completed or canceled".to_owned(),
            ));
        }
    };
    let redirect = script(p)?.map(CallUpdate::Redirect);
    // Hanging up wins: a redirect of a call that ends is moot.
    Ok(end.or(redirect))
}

#[cfg(test)]
mod tests;
