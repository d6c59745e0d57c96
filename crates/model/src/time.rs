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

    /// The length of an hour: a UTC day is 24 of them, the first of day
    /// `d` being hour `24 * d` ([`Timestamp::utc_hour`]).
    pub const MICROS_PER_HOUR: i64 = 3_600 * 1_000_000;

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

    /// The hour this falls in, as hours since 1970-01-01 00:00 UTC
    /// (negative before).
    pub const fn utc_hour(self) -> i64 {
        self.0.div_euclid(Self::MICROS_PER_HOUR)
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
        match self.rfc2822_ascii() {
            Some(text) => text.as_str().to_owned(),
            None => self.to_string(),
        }
    }

    fn to_chrono(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl fmt::Display for Timestamp {
    /// `Thu, 03 Sep 2009 23:37:53 +0000`: see [`Timestamp::rfc2822`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rfc2822_ascii() {
            Some(text) => f.write_str(text.as_str()),
            None => self.fmt_any_year(f),
        }
    }
}

/// The 31 ASCII bytes of a timestamp in RFC 2822 with a four-digit year.
struct Rfc2822([u8; 31]);

impl Rfc2822 {
    fn as_str(&self) -> &str {
        // Only ASCII is ever written into it (`Timestamp::rfc2822_ascii`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Timestamp {
    /// The RFC 2822 text, written byte by byte from chrono's calendar
    /// fields, without the formatting machinery (`write!` with six padded
    /// numbers was 14 % of confab's CPU serving a Calls page, four dates a
    /// row). `None` for a year
    /// outside 0..=9999, which [`Timestamp::fmt_any_year`] writes.
    fn rfc2822_ascii(self) -> Option<Rfc2822> {
        use chrono::{Datelike, Timelike};
        const DAYS: [&[u8; 3]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        fn digits<const N: usize>(into: &mut [u8], mut value: u32) {
            for slot in into[..N].iter_mut().rev() {
                // A digit: `value % 10` is below 10.
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        let t = self.to_chrono();
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut out = *b"Mon, 00 Jan 0000 00:00:00 +0000";
        out[..3].copy_from_slice(DAYS[t.weekday().num_days_from_monday() as usize % 7]);
        digits::<2>(&mut out[5..], t.day());
        out[8..11].copy_from_slice(MONTHS[t.month0() as usize % 12]);
        digits::<4>(&mut out[12..], year);
        digits::<2>(&mut out[17..], t.hour());
        digits::<2>(&mut out[20..], t.minute());
        digits::<2>(&mut out[23..], t.second());
        Some(Rfc2822(out))
    }

    /// The same text through chrono's formatter, for any year it has
    /// (a sign and at least four digits outside 0..=9999).
    fn fmt_any_year(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            self.to_chrono().format("%a, %d %b %Y %H:%M:%S +0000")
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
    fn every_year_chrono_has_renders_as_chrono_does() {
        // Four-digit years byte by byte, the others through `write!`: the
        // edges of both, the first and last instants of a year, and the
        // ends of what a timestamp holds.
        let year_start = |y: i32| {
            NaiveDate::from_ymd_opt(y, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_micros())
                .expect("a representable year")
        };
        let mut micros = vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX];
        for y in [
            -262_000, -1, 0, 1, 999, 1000, 1969, 1970, 2026, 9999, 10_000, 262_000,
        ] {
            micros.extend([year_start(y), year_start(y) - 1, year_start(y) + 1]);
        }
        for m in micros {
            let t = Timestamp::from_micros(m);
            let expected = t
                .to_chrono()
                .format("%a, %d %b %Y %H:%M:%S +0000")
                .to_string();
            assert_eq!(t.rfc2822(), expected, "{m}");
            assert_eq!(t.to_string(), expected, "{m}");
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
        assert_eq!(Timestamp::from_micros(-1).utc_hour(), -1);
        assert_eq!(
            Timestamp::from_micros(Timestamp::MICROS_PER_DAY - 1).utc_hour(),
            23
        );
        assert_eq!(
            Timestamp::from_micros(Timestamp::MICROS_PER_DAY).utc_hour(),
            24
        );
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
