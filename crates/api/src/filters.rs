//! The list filters and the `Muted` boolean, read from decoded form pairs.
//!
//! Filter names are case-sensitive (the seed: "parameters are
//! case-sensitive"); unknown parameters are ignored. A filter that is
//! present with a value that does not parse is a 400 naming it, never an
//! ignored filter: a client asking for `Status=7` must not get every
//! conference back.

use model::{
    CallFilter, CallSid, CallStatus, ConferenceFilter, ConferenceStatus, DateRange,
    ParticipantFilter, Timestamp,
};

use crate::error::ApiError;
use crate::form::FormPairs;

/// The Conferences list filters: `Status`, `FriendlyName`, and the date
/// filters of `DateCreated` and `DateUpdated`.
pub fn conference_filter(params: &FormPairs) -> Result<ConferenceFilter, ApiError> {
    let status = match params.get("Status") {
        None => None,
        Some(s) => Some(ConferenceStatus::parse_filter(s).ok_or_else(|| {
            ApiError::InvalidParameter(
                "Invalid value for parameter Status: expected 0, 1, 2, init, in-progress or \
                 completed"
                    .to_owned(),
            )
        })?),
    };
    Ok(ConferenceFilter {
        status,
        friendly_name: params.get("FriendlyName").map(str::to_owned),
        date_created: date_range(params, "DateCreated", Dates::Days)?,
        date_updated: date_range(params, "DateUpdated", Dates::Days)?,
    })
}

/// The Participants list filter: `Muted`, read like the POST's `Muted`.
pub fn participant_filter(params: &FormPairs) -> ParticipantFilter {
    ParticipantFilter {
        muted: params.get("Muted").map(parse_bool),
        ..ParticipantFilter::default()
    }
}

/// A boolean from a client: `true` or `1` in any case is true, anything
/// else false (the seed, on `Muted`: "Anything besides true or false (or 1
/// or 0) will be interpreted as false").
/// The 2010-04-01 Participants filters: `Muted`, `Hold`, `Coaching`, each
/// `true` or `false` ([`strict_bool`]).
pub fn participant_filter_2010(params: &FormPairs) -> Result<ParticipantFilter, ApiError> {
    Ok(ParticipantFilter {
        muted: strict_bool(params, "Muted")?,
        hold: strict_bool(params, "Hold")?,
        coaching: strict_bool(params, "Coaching")?,
    })
}

/// The 2010-04-01 Calls filters: `Status` (Twilio's words), `To`, `From`,
/// `ParentCallSid`, and `StartTime`/`EndTime` with their `<`/`>` forms, each
/// a day (`YYYY-MM-DD`, or a date-time of which the day counts, as
/// twilio-python sends a `datetime`).
pub fn call_filter_2010(params: &FormPairs) -> Result<CallFilter, ApiError> {
    let status = match params.get("Status") {
        None => None,
        Some(s) => Some(vec![CallStatus::parse_2010(s).ok_or_else(|| {
            ApiError::InvalidParameter(
                "Invalid value for parameter Status: expected queued, ringing, in-progress, \
                 canceled, completed, failed, busy or no-answer"
                    .to_owned(),
            )
        })?]),
    };
    let parent_call_sid = match params.get("ParentCallSid") {
        None => None,
        Some(s) => Some(CallSid::parse(s).map_err(|_| {
            ApiError::InvalidParameter(
                "Invalid value for parameter ParentCallSid: expected a call sid".to_owned(),
            )
        })?),
    };
    Ok(CallFilter {
        status,
        called: params.get("To").map(str::to_owned),
        caller: params.get("From").map(str::to_owned),
        start_time: date_range(params, "StartTime", Dates::DaysOrDateTimes)?,
        end_time: date_range(params, "EndTime", Dates::DaysOrDateTimes)?,
        parent_call_sid,
    })
}

/// The 2008-08-01 Calls filters (twilio-2008.md §11): `Status` 0 to 5
/// (0 matches ringing calls too, 5 canceled ones: `CallStatus::code_2008`),
/// `Called`, `Caller`, `StartTime` and `EndTime` with their `<=`/`>=` forms.
pub fn call_filter_2008(params: &FormPairs) -> Result<CallFilter, ApiError> {
    let status = match params.get("Status") {
        None => None,
        Some(s) => Some(
            s.parse()
                .ok()
                .filter(|_| s.len() == 1)
                .and_then(CallStatus::from_code_2008)
                .ok_or_else(|| {
                    ApiError::InvalidParameter(
                        "Invalid value for parameter Status: expected 0 to 5".to_owned(),
                    )
                })?,
        ),
    };
    Ok(CallFilter {
        status,
        called: params.get("Called").map(str::to_owned),
        caller: params.get("Caller").map(str::to_owned),
        start_time: date_range(params, "StartTime", Dates::Days)?,
        end_time: date_range(params, "EndTime", Dates::Days)?,
        parent_call_sid: None,
    })
}

/// A 2010-04-01 boolean parameter: `true` or `false` in any case; anything
/// else is a 400 naming it (unlike 2008's `Muted`, where it was `false`).
pub fn strict_bool(params: &FormPairs, key: &str) -> Result<Option<bool>, ApiError> {
    match params.get(key) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::InvalidParameter(format!(
            "Invalid value for parameter {key}: expected true or false"
        ))),
    }
}

pub fn parse_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true") || s == "1"
}

/// How a date key bounds the range: `Field=D` is that UTC day, `Field<` and
/// `Field<=` on or before it, `Field>` and `Field>=` on or after it, all
/// inclusive of day `D`. `Field<`/`Field>` are what form-decoding the
/// documented `Field<=D`/`Field>=D` yields; the literal `<=`/`>=` keys come
/// from a client that percent-encoded the `=` too.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Day,
    OnOrBefore,
    OnOrAfter,
}

const DATE_KEYS: [(&str, Bound); 5] = [
    ("", Bound::Day),
    ("<", Bound::OnOrBefore),
    ("<=", Bound::OnOrBefore),
    (">", Bound::OnOrAfter),
    (">=", Bound::OnOrAfter),
];

/// Every date filter of `field` present in `params`, narrowed together.
/// What a date filter's value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dates {
    /// `YYYY-MM-DD`.
    Days,
    /// Also `YYYY-MM-DDTHH:MM:SSZ` (any text after the `T`), of which the
    /// day counts.
    DaysOrDateTimes,
}

fn date_range(params: &FormPairs, field: &str, dates: Dates) -> Result<DateRange, ApiError> {
    let mut range = DateRange::default();
    for (suffix, bound) in DATE_KEYS {
        let key = format!("{field}{suffix}");
        let Some(value) = params.get(&key) else {
            continue;
        };
        let day = match (dates, value.split_once('T')) {
            (Dates::DaysOrDateTimes, Some((day, _))) => day,
            _ => value,
        };
        let (start, next) = Timestamp::day_bounds(day).map_err(|_| {
            ApiError::InvalidParameter(format!(
                "Invalid value for parameter {key}: expected a date as YYYY-MM-DD"
            ))
        })?;
        match bound {
            Bound::Day => range.narrow(Some(start), Some(next)),
            Bound::OnOrBefore => range.narrow(None, Some(next)),
            Bound::OnOrAfter => range.narrow(Some(start), None),
        }
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> FormPairs {
        FormPairs::parse(s.as_bytes()).unwrap()
    }

    fn filter(s: &str) -> Result<ConferenceFilter, ApiError> {
        conference_filter(&form(s))
    }

    fn day(d: &str) -> (Timestamp, Timestamp) {
        Timestamp::day_bounds(d).unwrap()
    }

    fn message(e: ApiError) -> String {
        match e {
            ApiError::InvalidParameter(m) => m,
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

    #[test]
    fn no_parameters_no_filter() {
        assert_eq!(filter("").unwrap(), ConferenceFilter::default());
        assert_eq!(
            filter("status=7&friendlyname=x&Unknown=1").unwrap(),
            ConferenceFilter::default()
        );
    }

    #[test]
    fn status_values() {
        for (value, want) in [
            ("0", ConferenceStatus::Init),
            ("1", ConferenceStatus::InProgress),
            ("2", ConferenceStatus::Completed),
            ("init", ConferenceStatus::Init),
            ("in-progress", ConferenceStatus::InProgress),
            ("completed", ConferenceStatus::Completed),
        ] {
            assert_eq!(
                filter(&format!("Status={value}")).unwrap().status,
                Some(want),
                "{value}"
            );
        }
        for bad in [
            "3",
            "7",
            "-1",
            "01",
            "",
            "Completed",
            "in+progress",
            "1.0",
            "%201",
        ] {
            let err = filter(&format!("Status={bad}")).unwrap_err();
            assert!(message(err).contains("Status"), "{bad}");
        }
    }

    #[test]
    fn friendly_name_is_exact_and_may_hold_anything() {
        assert_eq!(
            filter("FriendlyName=My+Room")
                .unwrap()
                .friendly_name
                .as_deref(),
            Some("My Room")
        );
        assert_eq!(
            filter("FriendlyName=%27%20OR%201%3D1%3B--%20%3C%2FName%3E%26amp%3B")
                .unwrap()
                .friendly_name,
            Some("' OR 1=1;-- </Name>&amp;".to_owned())
        );
        assert_eq!(
            filter("FriendlyName=").unwrap().friendly_name,
            Some(String::new())
        );
    }

    #[test]
    fn date_created_forms() {
        let (start, next) = day("2009-07-06");
        let exact = DateRange {
            from: Some(start),
            until: Some(next),
        };
        let before = DateRange {
            from: None,
            until: Some(next),
        };
        let after = DateRange {
            from: Some(start),
            until: None,
        };
        for (query, want) in [
            ("DateCreated=2009-07-06", exact),
            // Raw `<=`: the key is `DateCreated<`.
            ("DateCreated<=2009-07-06", before),
            ("DateCreated%3C=2009-07-06", before),
            ("DateCreated%3C%3D=2009-07-06", before),
            ("DateCreated>=2009-07-06", after),
            ("DateCreated%3E=2009-07-06", after),
            ("DateCreated%3E%3D=2009-07-06", after),
        ] {
            assert_eq!(filter(query).unwrap().date_created, want, "{query}");
            let updated = query.replace("DateCreated", "DateUpdated");
            let f = filter(&updated).unwrap();
            assert_eq!(f.date_updated, want, "{updated}");
            assert_eq!(f.date_created, DateRange::default(), "{updated}");
        }
    }

    #[test]
    fn date_filters_combine() {
        let (from, _) = day("2009-07-01");
        let (_, until) = day("2009-07-31");
        let f = filter("DateCreated>=2009-07-01&DateCreated<=2009-07-31&Status=2").unwrap();
        assert_eq!(
            f.date_created,
            DateRange {
                from: Some(from),
                until: Some(until)
            }
        );
        assert_eq!(f.status, Some(ConferenceStatus::Completed));
        // Disjoint bounds make an empty range, not an error.
        let f = filter("DateUpdated=2009-07-06&DateUpdated>=2009-08-01").unwrap();
        assert!(f.date_updated.from >= f.date_updated.until);
    }

    #[test]
    fn bad_dates_name_the_parameter() {
        for (query, key) in [
            ("DateCreated=july", "DateCreated"),
            ("DateCreated=2009-7-6", "DateCreated"),
            ("DateCreated<=2009-02-30", "DateCreated<"),
            ("DateCreated%3E%3D=", "DateCreated>="),
            ("DateUpdated>=2009-07-06T00:00", "DateUpdated>"),
        ] {
            let m = message(filter(query).unwrap_err());
            assert!(m.contains(&format!("parameter {key}:")), "{query}: {m}");
        }
    }

    #[test]
    fn call_filters_2010() {
        let f = call_filter_2010(&form(
            "Status=in-progress&To=%2B15551234567&From=alice&StartTime%3E=2024-01-02T10:00:00Z&EndTime<=2024-01-03",
        ))
        .unwrap();
        assert_eq!(f.status, Some(vec![CallStatus::InProgress]));
        assert_eq!(f.called.as_deref(), Some("+15551234567"));
        assert_eq!(f.caller.as_deref(), Some("alice"));
        assert_eq!(f.start_time.from, Some(day("2024-01-02").0));
        assert_eq!(f.end_time.until, Some(day("2024-01-03").1));
        for (word, status) in [
            ("ringing", CallStatus::Ringing),
            ("canceled", CallStatus::Canceled),
            ("queued", CallStatus::NotYetDialed),
        ] {
            let f = call_filter_2010(&form(&format!("Status={word}"))).unwrap();
            assert_eq!(f.status, Some(vec![status]), "{word}");
        }
        for bad in [
            "Status=2",
            "Status=Completed",
            "StartTime=yesterday",
            "EndTime%3E=2024-13-01",
            "ParentCallSid=CF9f2ead1ae43cdabeab102fa30d938378",
        ] {
            let m = message(call_filter_2010(&form(bad)).unwrap_err());
            let key = bad.split('=').next().unwrap().replace("%3E", ">");
            assert!(m.contains(&format!("parameter {key}")), "{bad}: {m}");
        }
    }

    #[test]
    fn call_filters_2008() {
        let f =
            call_filter_2008(&form("Status=5&Called=4155551212&StartTime>=2009-07-06")).unwrap();
        assert_eq!(
            f.status,
            Some(vec![CallStatus::FailedNoAnswer, CallStatus::Canceled])
        );
        assert_eq!(f.called.as_deref(), Some("4155551212"));
        assert_eq!(f.start_time.from, Some(day("2009-07-06").0));
        let f = call_filter_2008(&form("Status=0")).unwrap();
        assert_eq!(
            f.status,
            Some(vec![CallStatus::NotYetDialed, CallStatus::Ringing])
        );
        for bad in [
            "Status=6",
            "Status=-1",
            "Status=01",
            "Status=completed",
            "StartTime=2009-07-06T00:00:00Z",
        ] {
            assert!(call_filter_2008(&form(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn strict_booleans_and_participant_filters_2010() {
        let f = participant_filter_2010(&form("Muted=TRUE&Hold=false&Coaching=True")).unwrap();
        assert_eq!(
            (f.muted, f.hold, f.coaching),
            (Some(true), Some(false), Some(true))
        );
        assert_eq!(
            participant_filter_2010(&form("")).unwrap(),
            ParticipantFilter::default()
        );
        for bad in ["Muted=1", "Hold=yes", "Coaching="] {
            assert!(participant_filter_2010(&form(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn muted_parsing() {
        for yes in ["true", "1", "True", "TRUE", "tRuE"] {
            assert!(parse_bool(yes), "{yes}");
        }
        for no in ["yes", "0", "false", "", " true", "1.0", "on", "t"] {
            assert!(!parse_bool(no), "{no}");
        }
        assert_eq!(participant_filter(&form("")).muted, None);
        assert_eq!(participant_filter(&form("Muted=True")).muted, Some(true));
        assert_eq!(participant_filter(&form("Muted=yes")).muted, Some(false));
        assert_eq!(participant_filter(&form("muted=true")).muted, None);
    }
}
