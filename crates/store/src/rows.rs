//! Stored rows back into model types.
//!
//! The database is outside the program: a row someone edited by hand, or
//! wrote with another version, must not panic the server. Every value is
//! read with a check, and a value that is not what its column promises
//! becomes [`StoreError::Corrupt`] naming the table and column (never the
//! value, which may be personal data). The column lists here and the
//! decoders below them belong together: change one, change the other.

use model::{
    Account, AccountSid, AuthToken, CallDirection, CallRecord, CallSid, CallStatus,
    ConferenceEndReason, ConferenceRecord, ConferenceSid, ConferenceStatus, HttpMethod,
    ParticipantRecord, PhoneNumber, PhoneNumberSid, SidError, Timestamp,
};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::{Store, StoreError};

pub(crate) const ACCOUNT_COLUMNS: &str =
    "sid, friendly_name, auth_token, date_created, date_updated";

pub(crate) const PHONE_NUMBER_COLUMNS: &str =
    "sid, account_sid, phone_number, voice_url, voice_method, date_created, date_updated";

pub(crate) const CONFERENCE_COLUMNS: &str = "sid, account_sid, friendly_name, status, \
     date_created, date_updated, reason_ended, call_sid_ending";

pub(crate) const PARTICIPANT_COLUMNS: &str = "call_sid, conference_sid, account_sid, muted, hold, \
     label, call_sid_to_coach, start_conference_on_enter, end_conference_on_exit, date_created, \
     date_updated";

pub(crate) const CALL_COLUMNS: &str = "sid, account_sid, phone_number_sid, caller, called, \
     direction, status, start_time, end_time, duration, failure, date_created, date_updated";

impl Store {
    /// The one row `query` finds, if any, decoded with `decode`: every
    /// lookup by key reads its row this way.
    pub(crate) async fn fetch_decoded<T>(
        &self,
        query: Query<'_, Any, AnyArguments>,
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        query
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }
}

/// The UTC day of the timestamp column `column`, in SQL:
/// [`Timestamp::utc_day`], the floor of its microseconds over
/// [`Timestamp::MICROS_PER_DAY`], written from that constant. Both backends'
/// integer division truncates toward zero, so a negative timestamp (before
/// 1970) takes the second branch. Migration 0005 wrote the same expression
/// out by hand (a migration never changes once shipped); a test below pins
/// the two together and checks the SQL against `utc_day` on real values.
pub(crate) fn utc_day_sql(column: &str) -> String {
    floor_sql(column, Timestamp::MICROS_PER_DAY)
}

/// [`Timestamp::utc_hour`] in SQL, as [`utc_day_sql`] is the day (migration
/// 0024 wrote it out by hand).
pub(crate) fn utc_hour_sql(column: &str) -> String {
    floor_sql(column, Timestamp::MICROS_PER_HOUR)
}

/// The floor of `column` over `per`, which is positive.
fn floor_sql(column: &str, per: i64) -> String {
    format!(
        "CASE WHEN {column} >= 0 THEN {column} / {per} \
         ELSE -((-{column} - 1) / {per}) - 1 END"
    )
}

pub(crate) fn call(row: &AnyRow) -> Result<CallRecord, StoreError> {
    const T: &str = "calls";
    let phone_number_sid = optional_sid(row, T, "phone_number_sid", PhoneNumberSid::parse)?;
    Ok(CallRecord {
        sid: sid(row, T, "sid", CallSid::parse)?,
        account_sid: sid(row, T, "account_sid", AccountSid::parse)?,
        phone_number_sid,
        caller: text(row, T, "caller")?,
        called: text(row, T, "called")?,
        direction: CallDirection::parse(&text(row, T, "direction")?)
            .ok_or_else(|| corrupt(T, "direction", "not a call direction"))?,
        status: CallStatus::from_code(int(row, T, "status")?)
            .ok_or_else(|| corrupt(T, "status", "not 0 to 5"))?,
        start_time: get::<Option<i64>>(row, T, "start_time")?.map(Timestamp::from_micros),
        end_time: get::<Option<i64>>(row, T, "end_time")?.map(Timestamp::from_micros),
        duration: get(row, T, "duration")?,
        failure: get(row, T, "failure")?,
        date_created: timestamp(row, T, "date_created")?,
        date_updated: timestamp(row, T, "date_updated")?,
    })
}

pub(crate) fn account(row: &AnyRow) -> Result<Account, StoreError> {
    const T: &str = "accounts";
    Ok(Account {
        sid: sid(row, T, "sid", AccountSid::parse)?,
        friendly_name: text(row, T, "friendly_name")?,
        auth_token: AuthToken::from_stored(text(row, T, "auth_token")?),
        date_created: timestamp(row, T, "date_created")?,
        date_updated: timestamp(row, T, "date_updated")?,
    })
}

pub(crate) fn phone_number(row: &AnyRow) -> Result<PhoneNumber, StoreError> {
    const T: &str = "phone_numbers";
    let method = text(row, T, "voice_method")?;
    Ok(PhoneNumber {
        sid: sid(row, T, "sid", PhoneNumberSid::parse)?,
        account_sid: sid(row, T, "account_sid", AccountSid::parse)?,
        phone_number: text(row, T, "phone_number")?,
        voice_url: text(row, T, "voice_url")?,
        voice_method: HttpMethod::parse(&method)
            .ok_or_else(|| corrupt(T, "voice_method", "not GET or POST"))?,
        date_created: timestamp(row, T, "date_created")?,
        date_updated: timestamp(row, T, "date_updated")?,
    })
}

pub(crate) fn conference(row: &AnyRow) -> Result<ConferenceRecord, StoreError> {
    const T: &str = "conferences";
    Ok(ConferenceRecord {
        sid: sid(row, T, "sid", ConferenceSid::parse)?,
        account_sid: sid(row, T, "account_sid", AccountSid::parse)?,
        friendly_name: text(row, T, "friendly_name")?,
        status: ConferenceStatus::from_code(int(row, T, "status")?)
            .ok_or_else(|| corrupt(T, "status", "not 0, 1 or 2"))?,
        date_created: timestamp(row, T, "date_created")?,
        date_updated: timestamp(row, T, "date_updated")?,
        reason_ended: get::<Option<String>>(row, T, "reason_ended")?
            .map(|r| {
                ConferenceEndReason::parse(&r)
                    .ok_or_else(|| corrupt(T, "reason_ended", "not an end reason"))
            })
            .transpose()?,
        call_sid_ending: optional_sid(row, T, "call_sid_ending", CallSid::parse)?,
    })
}

/// A list's page as its sids, joined by commas in the column `sids`
/// (`NULL` for none), of `table`'s rows; each live row's sid followed by
/// `:` and its row version (`cached`).
pub(crate) fn sids<S>(
    row: &AnyRow,
    table: &str,
    parse: fn(&str) -> Result<S, SidError>,
) -> Result<Vec<(S, Option<i64>)>, StoreError> {
    let Some(joined) = get::<Option<String>>(row, table, "sids")? else {
        return Ok(Vec::new());
    };
    joined
        .split(',')
        .map(|listed| {
            let (sid, version) = match listed.split_once(':') {
                Some((sid, version)) => {
                    let version = version
                        .parse()
                        .map_err(|_| corrupt(table, "version", "not an integer"))?;
                    (sid, Some(version))
                }
                None => (listed, None),
            };
            let sid = parse(sid).map_err(|e| corrupt(table, "sid", &e.to_string()))?;
            Ok((sid, version))
        })
        .collect()
}

/// A row's version (`cached`): the column `version`.
pub(crate) fn version(row: &AnyRow, table: &str) -> Result<i64, StoreError> {
    int(row, table, "version")
}

pub(crate) fn participant(row: &AnyRow) -> Result<ParticipantRecord, StoreError> {
    const T: &str = "participants";
    Ok(ParticipantRecord {
        call_sid: sid(row, T, "call_sid", CallSid::parse)?,
        conference_sid: sid(row, T, "conference_sid", ConferenceSid::parse)?,
        account_sid: sid(row, T, "account_sid", AccountSid::parse)?,
        muted: boolean(row, T, "muted")?,
        hold: boolean(row, T, "hold")?,
        label: get(row, T, "label")?,
        call_sid_to_coach: optional_sid(row, T, "call_sid_to_coach", CallSid::parse)?,
        start_conference_on_enter: boolean(row, T, "start_conference_on_enter")?,
        end_conference_on_exit: boolean(row, T, "end_conference_on_exit")?,
        date_created: timestamp(row, T, "date_created")?,
        date_updated: timestamp(row, T, "date_updated")?,
    })
}

/// The `account_sid, status, date_created, date_updated` of a row of
/// `table`: what places it in its per-day counts (`day_counts`).
pub(crate) fn counted_as(
    row: &AnyRow,
    table: &str,
) -> Result<(AccountSid, i64, Timestamp, Timestamp), StoreError> {
    Ok((
        sid(row, table, "account_sid", AccountSid::parse)?,
        int(row, table, "status")?,
        timestamp(row, table, "date_created")?,
        timestamp(row, table, "date_updated")?,
    ))
}

/// A `COUNT(*) AS n` (BIGINT on both backends) as the `u64` the API pages with.
pub(crate) fn count(row: &AnyRow) -> Result<u64, StoreError> {
    non_negative(row, "n")
}

/// A batch of a seek's day sums (see `day_counts`): the column `days`,
/// `day:sum` pairs joined by commas (`NULL` for none).
pub(crate) fn day_sums(row: &AnyRow) -> Result<Vec<(i64, i64)>, StoreError> {
    const T: &str = "day counts";
    let Some(joined) = get::<Option<String>>(row, T, "days")? else {
        return Ok(Vec::new());
    };
    joined
        .split(',')
        .map(|pair| {
            let (day, sum) = pair
                .split_once(':')
                .ok_or_else(|| corrupt(T, "days", "not day:sum"))?;
            let number = |s: &str| {
                s.parse::<i64>()
                    .map_err(|_| corrupt(T, "days", "not a whole number"))
            };
            Ok((number(day)?, number(sum)?))
        })
        .collect()
}

/// The `total` column a list's page rows carry (see `reads`).
pub(crate) fn total(row: &AnyRow) -> Result<u64, StoreError> {
    non_negative(row, "total")
}

/// The version of an account's day counts (migration 0022): the column
/// `version`, `NULL` when they have none.
pub(crate) fn count_version(row: &AnyRow) -> Result<Option<i64>, StoreError> {
    get(row, "count_versions", "version")
}

/// Whether a one-statement deep page found its guide's counts unchanged:
/// the column `same`, 1 or 0 (see `cached`).
pub(crate) fn same_counts(row: &AnyRow) -> Result<bool, StoreError> {
    Ok(int(row, "count_versions", "same")? == 1)
}

/// A one-statement deep page's count of the list's rows beyond its walk's
/// first day (see `cached`): the column `beyond`.
pub(crate) fn beyond(row: &AnyRow) -> Result<u64, StoreError> {
    non_negative(row, "beyond")
}

fn non_negative(row: &AnyRow, column: &str) -> Result<u64, StoreError> {
    let n = int(row, "count", column)?;
    u64::try_from(n).map_err(|_| corrupt("count", column, "negative"))
}

/// Booleans are stored as BIGINT 0/1 (one type on both backends).
pub(crate) fn bool_to_db(b: bool) -> i64 {
    i64::from(b)
}

fn int(row: &AnyRow, table: &str, column: &str) -> Result<i64, StoreError> {
    get(row, table, column)
}

fn text(row: &AnyRow, table: &str, column: &str) -> Result<String, StoreError> {
    get(row, table, column)
}

fn timestamp(row: &AnyRow, table: &str, column: &str) -> Result<Timestamp, StoreError> {
    int(row, table, column).map(Timestamp::from_micros)
}

fn boolean(row: &AnyRow, table: &str, column: &str) -> Result<bool, StoreError> {
    match int(row, table, column)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(corrupt(table, column, "not 0 or 1")),
    }
}

fn sid<S>(
    row: &AnyRow,
    table: &str,
    column: &str,
    parse: fn(&str) -> Result<S, SidError>,
) -> Result<S, StoreError> {
    let s = text(row, table, column)?;
    parse(&s).map_err(|e| corrupt(table, column, &e.to_string()))
}

/// A nullable sid column: `None` for NULL, else a sid of the right kind.
fn optional_sid<S>(
    row: &AnyRow,
    table: &str,
    column: &str,
    parse: fn(&str) -> Result<S, SidError>,
) -> Result<Option<S>, StoreError> {
    get::<Option<String>>(row, table, column)?
        .map(|s| parse(&s).map_err(|e| corrupt(table, column, &e.to_string())))
        .transpose()
}

/// Reads a column by name; a value of the wrong type (SQLite stores what it
/// is given) or a NULL is `Corrupt`.
fn get<T>(row: &AnyRow, table: &str, column: &str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(column).map_err(|e| match e {
        sqlx::Error::ColumnDecode { source, .. } => corrupt(table, column, &source.to_string()),
        other => StoreError::Database(other),
    })
}

fn corrupt(table: &str, column: &str, why: &str) -> StoreError {
    StoreError::Corrupt(format!("{table}.{column}: {why}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Store;

    /// The words of `s`, one space apart.
    fn words(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_migration_computes_the_same_day() {
        for (name, migration, column) in [
            (
                "0005",
                include_str!("../migrations/0005_conference_day_counts.sql"),
                "date_created",
            ),
            (
                "0011",
                include_str!("../migrations/0011_day_counts_by_updated_day.sql"),
                "date_updated",
            ),
        ] {
            assert!(
                words(migration).contains(&words(&utc_day_sql(column))),
                "migration {name} and utc_day_sql no longer agree"
            );
        }
        let migration = include_str!("../migrations/0024_hour_counts_filled.sql");
        for column in ["date_created", "date_updated"] {
            assert!(
                words(migration).contains(&words(&utc_hour_sql(column))),
                "migration 0024 and utc_hour_sql no longer agree"
            );
        }
    }

    #[tokio::test]
    async fn the_sql_day_and_hour_are_utc_day_and_hour() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let day = Timestamp::MICROS_PER_DAY;
        for micros in [
            0,
            1,
            day - 1,
            day,
            day + 1,
            -1,
            -day + 1,
            -day,
            -day - 1,
            1_252_046_273_000_000,
            -3_600_000_000,
            i64::MAX,
            i64::MIN + 1,
        ] {
            let sql = format!(
                "SELECT {} AS day, {} AS hour",
                utc_day_sql("$1"),
                utc_hour_sql("$1")
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(micros)
                .fetch_one(&store.pool)
                .await
                .unwrap();
            let got: i64 = row.try_get("day").unwrap();
            let at = Timestamp::from_micros(micros);
            assert_eq!(got, at.utc_day(), "{micros}");
            let hour: i64 = row.try_get("hour").unwrap();
            assert_eq!(hour, at.utc_hour(), "{micros}");
            assert_eq!(
                hour.div_euclid(24),
                at.utc_day(),
                "{micros}: the hour's day"
            );
        }
    }
}
