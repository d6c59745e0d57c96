//! The list filters and the `Muted` boolean, read from decoded form pairs.
//!
//! Filter names are case-sensitive (the seed: "parameters are
//! case-sensitive"); unknown parameters are ignored. A filter that is
//! present with a value that does not parse is a 400 naming it, never an
//! ignored filter: a client asking for `Status=7` must not get every
//! conference back.

use model::{ConferenceFilter, ConferenceStatus, DateRange, ParticipantFilter, Timestamp};

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
        date_created: date_range(params, "DateCreated")?,
        date_updated: date_range(params, "DateUpdated")?,
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
fn date_range(params: &FormPairs, field: &str) -> Result<DateRange, ApiError> {
    let mut range = DateRange::default();
    for (suffix, bound) in DATE_KEYS {
        let key = format!("{field}{suffix}");
        let Some(value) = params.get(&key) else {
            continue;
        };
        let (start, next) = Timestamp::day_bounds(value).map_err(|_| {
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
