//! What a request asks for, parsed: a routed resource, the method and the
//! raw parameters become one typed [`Action`], or the 405 or 400 that says
//! why not. Pure: no store, no clock, so every method and parameter rule is
//! tested here without a database.
//!
//! The method is checked before the parameters (decisions.md's order), so
//! `POST .../Conferences?Status=7` is a 405, not a 400. The query string
//! and the body are parsed before the method check only because `_method`
//! may be in either; a parameter that is not UTF-8 fails after it.

use axum::http::Method;
use model::{CallFilter, CallSid, ConferenceFilter, ConferenceSid, PageRequest, ParticipantFilter};

use crate::error::ApiError;
use crate::filters::{call_filter_2008, conference_filter, parse_bool, participant_filter};
use crate::form::{FormError, FormPairs};
use crate::method::EffectiveMethod;
use crate::paging::page_request;
use crate::route::Resource;

/// One thing the API can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `GET /Conferences`; `query` is kept for the page URIs.
    ListConferences {
        filter: ConferenceFilter,
        page: PageRequest,
        query: FormPairs,
    },
    /// `GET /Conferences/{CF}`
    GetConference(ConferenceSid),
    /// `GET /Conferences/{CF}/Participants`; `query` is kept for the page URIs.
    ListParticipants {
        conference: ConferenceSid,
        filter: ParticipantFilter,
        page: PageRequest,
        query: FormPairs,
    },
    /// `GET /Conferences/{CF}/Participants/{CA}`
    GetParticipant {
        conference: ConferenceSid,
        call: CallSid,
    },
    /// `POST /Conferences/{CF}/Participants/{CA}`. Without `Muted` nothing
    /// changes and the participant is returned as it is.
    SetMuted {
        conference: ConferenceSid,
        call: CallSid,
        muted: Option<bool>,
    },
    /// `DELETE /Conferences/{CF}/Participants/{CA}` (or a POST with
    /// `_method=DELETE`).
    Kick {
        conference: ConferenceSid,
        call: CallSid,
    },
    /// `GET /Calls`; `query` is kept for the page URIs.
    ListCalls {
        filter: CallFilter,
        page: PageRequest,
        query: FormPairs,
    },
    /// `GET /Calls/{CA}`
    GetCall(CallSid),
}

impl Action {
    /// `query` is the raw query string, `body` the raw body (empty for
    /// methods whose body is not read).
    pub fn parse(
        resource: Resource,
        method: &Method,
        query: &[u8],
        body: &[u8],
    ) -> Result<Self, ApiError> {
        let query = FormPairs::parse(query);
        let body = FormPairs::parse(body);
        let verb = EffectiveMethod::resolve(method, query.as_ref().ok(), body.as_ref().ok());
        if !resource.supports(verb) {
            return Err(ApiError::MethodNotAllowed {
                allow: resource.allow(),
            });
        }
        let query = query?;
        let body = body?;
        Ok(match (resource, verb) {
            (Resource::ConferenceList, _) => Self::ListConferences {
                filter: conference_filter(&query)?,
                page: page_request(&query)?,
                query,
            },
            (Resource::Conference(sid), _) => Self::GetConference(sid),
            (Resource::ParticipantList(conference), _) => Self::ListParticipants {
                conference,
                filter: participant_filter(&query),
                page: page_request(&query)?,
                query,
            },
            (Resource::Participant(conference, call), EffectiveMethod::Post) => {
                let muted = body
                    .get("Muted")
                    .or_else(|| query.get("Muted"))
                    .map(parse_bool);
                Self::SetMuted {
                    conference,
                    call,
                    muted,
                }
            }
            (Resource::Participant(conference, call), EffectiveMethod::Delete) => {
                Self::Kick { conference, call }
            }
            (Resource::Participant(conference, call), _) => {
                Self::GetParticipant { conference, call }
            }
            (Resource::CallList, _) => Self::ListCalls {
                filter: call_filter_2008(&query)?,
                page: page_request(&query)?,
                query,
            },
            (Resource::Call(call), _) => Self::GetCall(call),
        })
    }
}

impl From<FormError> for ApiError {
    fn from(e: FormError) -> Self {
        Self::InvalidParameter(match e {
            FormError::Key => "A parameter name is not valid UTF-8".to_owned(),
            FormError::Value(key) => {
                format!("Invalid value for parameter {key}: not valid UTF-8")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use model::ConferenceStatus;

    use super::*;

    const CF: &str = "CF9f2ead1ae43cdabeab102fa30d938378";
    const CA: &str = "CA9ae8e040497c0598481c2031a154919e";

    fn cf() -> ConferenceSid {
        ConferenceSid::parse(CF).unwrap()
    }

    fn ca() -> CallSid {
        CallSid::parse(CA).unwrap()
    }

    fn participant() -> Resource {
        Resource::Participant(cf(), ca())
    }

    fn parse(
        resource: Resource,
        method: Method,
        query: &str,
        body: &str,
    ) -> Result<Action, ApiError> {
        Action::parse(resource, &method, query.as_bytes(), body.as_bytes())
    }

    fn status(r: Result<Action, ApiError>) -> u16 {
        match r {
            Ok(a) => panic!("expected an error, got {a:?}"),
            Err(e) => e.exception().status.as_u16(),
        }
    }

    #[test]
    fn lists_parse_filters_and_paging() {
        let a = parse(
            Resource::ConferenceList,
            Method::GET,
            "Status=1&num=5&page=2",
            "",
        )
        .unwrap();
        let Action::ListConferences {
            filter,
            page,
            query,
        } = a
        else {
            panic!("{a:?}")
        };
        assert_eq!(filter.status, Some(ConferenceStatus::InProgress));
        assert_eq!(page, PageRequest { page: 2, size: 5 });
        assert_eq!(query.get("Status"), Some("1"));

        let a = parse(
            Resource::ParticipantList(cf()),
            Method::HEAD,
            "Muted=TRUE",
            "",
        )
        .unwrap();
        let Action::ListParticipants {
            conference,
            filter,
            page,
            ..
        } = a
        else {
            panic!("{a:?}")
        };
        assert_eq!(
            (conference, filter.muted, page),
            (cf(), Some(true), PageRequest::default())
        );
    }

    #[test]
    fn instances() {
        assert_eq!(
            parse(Resource::Conference(cf()), Method::GET, "", "").unwrap(),
            Action::GetConference(cf())
        );
        assert_eq!(
            parse(participant(), Method::GET, "Muted=true", "").unwrap(),
            Action::GetParticipant {
                conference: cf(),
                call: ca()
            }
        );
    }

    #[test]
    fn posting_muted() {
        let set = |muted| Action::SetMuted {
            conference: cf(),
            call: ca(),
            muted,
        };
        // (query, body, what it sets). The body wins over the query; the
        // query is used when the body has none.
        let cases = [
            ("", "Muted=true", Some(true)),
            ("", "Muted=True", Some(true)),
            ("", "Muted=1", Some(true)),
            ("", "Muted=yes", Some(false)),
            ("", "Muted=", Some(false)),
            ("", "Muted=false", Some(false)),
            ("Muted=false", "Muted=true", Some(true)),
            ("Muted=true", "", Some(true)),
            ("", "muted=true", None),
            ("", "", None),
        ];
        for (query, body, muted) in cases {
            assert_eq!(
                parse(participant(), Method::POST, query, body).unwrap(),
                set(muted),
                "{query:?} {body:?}"
            );
        }
    }

    #[test]
    fn deleting_and_overriding() {
        let kick = Action::Kick {
            conference: cf(),
            call: ca(),
        };
        assert_eq!(parse(participant(), Method::DELETE, "", "").unwrap(), kick);
        // py201 sends a form body with DELETE.
        assert_eq!(
            parse(participant(), Method::DELETE, "", "Muted=true").unwrap(),
            kick
        );
        assert_eq!(
            parse(participant(), Method::POST, "_method=DELETE", "").unwrap(),
            kick
        );
        assert_eq!(
            parse(participant(), Method::POST, "", "_method=delete").unwrap(),
            kick
        );
        assert_eq!(
            parse(participant(), Method::POST, "_method=Delete", "Muted=true").unwrap(),
            kick
        );
    }

    #[test]
    fn unsupported_methods_are_405_with_allow() {
        for (resource, allow) in [
            (Resource::ConferenceList, "GET"),
            (Resource::Conference(cf()), "GET"),
            (Resource::ParticipantList(cf()), "GET"),
        ] {
            for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
                let r = parse(resource.clone(), method.clone(), "", "");
                match r {
                    Err(ApiError::MethodNotAllowed { allow: a }) => assert_eq!(a, allow),
                    other => panic!("{resource:?} {method}: {other:?}"),
                }
            }
        }
        assert_eq!(
            status(parse(participant(), Method::PUT, "", "Muted=true")),
            405
        );
        assert_eq!(
            status(parse(participant(), Method::POST, "_method=PUT", "")),
            405
        );
        assert_eq!(status(parse(participant(), Method::OPTIONS, "", "")), 405);
        let r = parse(participant(), Method::PATCH, "", "");
        assert!(matches!(
            r,
            Err(ApiError::MethodNotAllowed {
                allow: "GET, POST, DELETE"
            })
        ));
    }

    #[test]
    fn the_method_is_checked_before_the_parameters() {
        assert_eq!(
            status(parse(
                Resource::ConferenceList,
                Method::POST,
                "Status=7",
                ""
            )),
            405
        );
        assert_eq!(
            status(parse(
                Resource::ConferenceList,
                Method::POST,
                "num=0",
                "%FF=1"
            )),
            405
        );
        assert_eq!(
            status(parse(participant(), Method::PUT, "%FF", "a=%FF")),
            405
        );
        // An invalid query cannot hide a `_method` in the body.
        assert_eq!(
            status(parse(participant(), Method::POST, "x=%FF", "_method=PUT")),
            405
        );
        // But where the method is fine, the bad parameter is a 400.
        assert_eq!(
            status(parse(
                participant(),
                Method::POST,
                "x=%FF",
                "_method=DELETE"
            )),
            400
        );
    }

    #[test]
    fn bad_parameters_are_400() {
        for (resource, method, query, body) in [
            (Resource::ConferenceList, Method::GET, "Status=7", ""),
            (
                Resource::ConferenceList,
                Method::GET,
                "DateCreated=july",
                "",
            ),
            (Resource::ConferenceList, Method::GET, "num=0", ""),
            (Resource::ConferenceList, Method::GET, "num=1001", ""),
            (
                Resource::ConferenceList,
                Method::GET,
                "FriendlyName=%FF",
                "",
            ),
            (Resource::ParticipantList(cf()), Method::GET, "page=-1", ""),
            (Resource::Conference(cf()), Method::GET, "%C3=1", ""),
            (participant(), Method::POST, "", "Muted=%FF"),
            (participant(), Method::DELETE, "", "a=%FE"),
            (participant(), Method::GET, "x=%80", ""),
        ] {
            assert_eq!(
                status(parse(resource.clone(), method, query, body)),
                400,
                "{resource:?} {query} {body}"
            );
        }
        let Err(ApiError::InvalidParameter(m)) = parse(
            Resource::ConferenceList,
            Method::GET,
            "FriendlyName=%FF",
            "",
        ) else {
            panic!()
        };
        assert!(m.contains("FriendlyName"), "{m}");
    }
}
