//! What a list's total is counted from: its rows, or the counts the writes
//! keep (`day_counts`, `name_counts`).

use crate::day_counts::DayCounts;
use crate::name_counts;
use crate::sql_where::Where;

/// What a list's total is counted from.
#[derive(Debug)]
pub(crate) enum Count {
    /// `COUNT(*)` of the rows the list's own `WHERE` matches.
    Rows,
    /// The sum of the per-day counts matching this `WHERE` (`day_counts`).
    DaySums(DayCounts, Where),
    /// The sum of the per-name counts matching this `WHERE` (`name_counts`).
    NameSums(Where),
}

impl Count {
    /// The statement that counts `table`'s rows matching `w`, as `n`, with
    /// its placeholders numbered from `$base + 1`; and the `WHERE` whose
    /// values it binds.
    pub(crate) fn sql<'w>(&'w self, table: &str, w: &'w Where, base: usize) -> (String, &'w Where) {
        match self {
            Count::Rows => (
                format!(
                    "SELECT COUNT(*) AS n FROM {table} {}",
                    w.clause(false, base)
                ),
                w,
            ),
            Count::DaySums(counts, days) => (counts.sum_sql(days, base), days),
            Count::NameSums(names) => (name_counts::sum_sql(names, base), names),
        }
    }
}
