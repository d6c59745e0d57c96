//! Timestamps: microseconds since the Unix epoch, UTC.
//!
//! Stored as a plain integer so SQLite and PostgreSQL sort and compare them
//! the same way, with enough precision that "DateUpdated never decreases"
//! can hold strictly between two changes in the same second. The wire shows
//! them in RFC 2822 with a `+0000` offset (decisions.md), to the second.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

/// A point in time, microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// A date parameter that is not `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a date as YYYY-MM-DD")]
pub struct DateError;

impl Timestamp {
    /// The length of a UTC day. confab's one day formula is built on it: the
    /// day of a timestamp is the floor of its microseconds over this
    /// ([`Timestamp::utc_day`]), and a day's bounds are consecutive
    /// multiples of it ([`Timestamp::day_bounds`]). Where SQL has to compute
    /// the day, the store writes the expression from this constant too.
    pub const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// From whole seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    /// The later of two timestamps: how a state machine keeps its clock
    /// from going backwards when the wall clock does.
    pub fn max(self, other: Self) -> Self {
        Ord::max(self, other)
    }

    /// The UTC day this falls on, as days since 1970-01-01 (negative before).
    pub const fn utc_day(self) -> i64 {
        self.0.div_euclid(Self::MICROS_PER_DAY)
    }

    /// Whether this is exactly a UTC midnight.
    pub const fn is_utc_midnight(self) -> bool {
        self.0.rem_euclid(Self::MICROS_PER_DAY) == 0
    }

    /// Midnight UTC at the start of `YYYY-MM-DD`, and the next midnight.
    /// Strict: exactly four, two and two digits.
    pub fn day_bounds(date: &str) -> Result<(Self, Self), DateError> {
        let b = date.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape_ok {
            return Err(DateError);
        }
        let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| DateError)?;
        let start = day
            .and_hms_opt(0, 0, 0)
            .ok_or(DateError)?
            .and_utc()
            .timestamp_micros();
        Ok((Self(start), Self(start + Self::MICROS_PER_DAY)))
    }

    /// RFC 2822 in UTC, zero-padded day, English names:
    /// `Thu, 03 Sep 2009 23:37:53 +0000`.
    pub fn rfc2822(self) -> String {
        self.to_string()
    }

    fn to_chrono(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl fmt::Display for Timestamp {
    /// `Thu, 03 Sep 2009 23:37:53 +0000`. Written from chrono's calendar
    /// fields rather than through `format("%a, …")`, which re-parses its
    /// pattern on every call: every list row renders two of these.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::{Datelike, Timelike};
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let t = self.to_chrono();
        let day = DAYS[t.weekday().num_days_from_monday() as usize % 7];
        let month = MONTHS[t.month0() as usize % 12];
        write!(
            f,
            "{day}, {:02} {month} {:04} {:02}:{:02}:{:02} +0000",
            t.day(),
            t.year(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl From<std::time::SystemTime> for Timestamp {
    fn from(t: std::time::SystemTime) -> Self {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Self(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => Self(-i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc2822_like_twilio_but_in_utc() {
        // 2009-09-04T06:37:53Z is the seed's "Thu, 03 Sep 2009 23:37:53 -0700".
        let t = Timestamp::from_secs(1_252_046_273);
        assert_eq!(t.rfc2822(), "Fri, 04 Sep 2009 06:37:53 +0000");
        let padded = Timestamp::from_secs(1_251_939_600); // 2009-09-03T01:00:00Z
        assert_eq!(padded.rfc2822(), "Thu, 03 Sep 2009 01:00:00 +0000");
    }

    #[test]
    fn matches_chronos_own_rfc2822_formatting() {
        for secs in (-2_000_000_000i64..4_000_000_000).step_by(7_654_321) {
            let t = Timestamp::from_secs(secs);
            let expected = t
                .to_chrono()
                .format("%a, %d %b %Y %H:%M:%S +0000")
                .to_string();
            assert_eq!(t.rfc2822(), expected, "{secs}");
        }
    }

    #[test]
    fn day_bounds_are_utc_midnights() {
        let (a, b) = Timestamp::day_bounds("2009-07-06").expect("valid date");
        assert_eq!(a, Timestamp::from_secs(1_246_838_400));
        assert_eq!(b.as_micros() - a.as_micros(), Timestamp::MICROS_PER_DAY);
    }

    #[test]
    fn utc_days() {
        assert_eq!(Timestamp::from_micros(0).utc_day(), 0);
        assert_eq!(
            Timestamp::from_micros(Timestamp::MICROS_PER_DAY - 1).utc_day(),
            0
        );
        assert_eq!(Timestamp::from_micros(-1).utc_day(), -1);
        assert_eq!(
            Timestamp::from_micros(-Timestamp::MICROS_PER_DAY).utc_day(),
            -1
        );
        let (a, _) = Timestamp::day_bounds("2009-07-06").expect("valid date");
        assert!(
            a.is_utc_midnight() && !Timestamp::from_micros(a.as_micros() + 1).is_utc_midnight()
        );
        assert_eq!(a.utc_day(), 14_431);
    }

    #[test]
    fn day_bounds_reject_anything_else() {
        for bad in [
            "july",
            "2009-7-6",
            "2009-13-01",
            "2009-02-30",
            "",
            "2009-07-06x",
            "２００９-07-06",
        ] {
            assert_eq!(Timestamp::day_bounds(bad), Err(DateError), "{bad}");
        }
    }
}
