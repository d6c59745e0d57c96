//! A `WHERE` clause built from the filters a list request has: fixed
//! condition text from the store's own modules, and the values bound to its
//! placeholders (never caller text in the SQL); and a page's `LIMIT`.
//! Shared by the lists (`reads`, `call_lists`, `cached`) and the per-day
//! counts they seek through (`day_counts`).

use model::DateRange;
use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// A value bound to a `WHERE` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(i64),
    Text(String),
}

impl Value {
    /// `query` with this value bound to its next placeholder.
    pub(crate) fn bind<'q>(
        &self,
        query: Query<'q, Any, AnyArguments>,
    ) -> Query<'q, Any, AnyArguments> {
        match self {
            Value::Int(i) => query.bind(*i),
            Value::Text(s) => query.bind(s.clone()),
        }
    }
}

/// A `WHERE` clause under construction: conditions joined by `AND`, each
/// with one value, bound in order; the Nth condition's placeholder is
/// `$(base + N)`, `base` being how many placeholders come before it in the
/// statement.
#[derive(Debug, Default, Clone)]
pub(crate) struct Where {
    conditions: Vec<Condition>,
    values: Vec<Value>,
}

#[derive(Debug, Clone)]
struct Condition {
    column: &'static str,
    /// Empty for a condition that is all in `column` (no placeholder).
    op: &'static str,
    /// How many placeholders it takes: 1, or more for `IN (…)`.
    values: usize,
    /// Checked row by row in the page query, never used to seek an index
    /// there (see the module doc).
    unindexed_in_page: bool,
}

impl Where {
    /// Adds `column op $N` with `value` as `$N`.
    pub(crate) fn push(&mut self, column: &'static str, op: &'static str, value: Value) {
        self.values.push(value);
        self.conditions.push(Condition {
            column,
            op,
            values: 1,
            unindexed_in_page: false,
        });
    }

    /// Adds `column IN ($N, …)` with `values` (`column = $N` for one; for
    /// none, a condition no row meets).
    pub(crate) fn push_in(&mut self, column: &'static str, values: impl Iterator<Item = Value>) {
        let before = self.values.len();
        self.values.extend(values);
        let n = self.values.len() - before;
        if n == 0 {
            self.push_condition("1 = 0");
            return;
        }
        self.conditions.push(Condition {
            column,
            op: if n == 1 { "=" } else { "IN" },
            values: n,
            unindexed_in_page: false,
        });
    }

    /// Adds a fixed condition without a value (`hold IS NULL`).
    pub(crate) fn push_condition(&mut self, condition: &'static str) {
        self.conditions.push(Condition {
            column: condition,
            op: "",
            values: 0,
            unindexed_in_page: false,
        });
    }

    /// The columns its conditions test (a fixed condition's whole text).
    pub(crate) fn columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.conditions.iter().map(|c| c.column)
    }

    /// How many placeholders (values) it has.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// `[from, until)` on a microseconds column; open ends add nothing.
    pub(crate) fn push_range(
        &mut self,
        column: &'static str,
        range: &DateRange,
        unindexed_in_page: bool,
    ) {
        if let Some(from) = range.from {
            self.push(column, ">=", Value::Int(from.as_micros()));
        }
        if let Some(until) = range.until {
            self.push(column, "<", Value::Int(until.as_micros()));
        }
        if unindexed_in_page {
            let pushed = usize::from(range.from.is_some()) + usize::from(range.until.is_some());
            let n = self.conditions.len();
            for c in &mut self.conditions[n - pushed..] {
                c.unindexed_in_page = true;
            }
        }
    }

    /// `WHERE …` with placeholders from `$(base + 1)`; `page` writes the
    /// conditions a page query must not seek an index with as `+column`.
    pub(crate) fn clause(&self, page: bool, base: usize) -> String {
        // Callers always scope by account, so there is at least one condition.
        let mut placeholder = base;
        let conditions: Vec<String> = self
            .conditions
            .iter()
            .map(|c| {
                if c.op.is_empty() {
                    return c.column.to_owned();
                }
                let plus = if page && c.unindexed_in_page { "+" } else { "" };
                if c.values == 1 {
                    placeholder += 1;
                    return format!("{plus}{} {} ${placeholder}", c.column, c.op);
                }
                let list: Vec<String> = (0..c.values)
                    .map(|_| {
                        placeholder += 1;
                        format!("${placeholder}")
                    })
                    .collect();
                format!("{plus}{} {} ({})", c.column, c.op, list.join(", "))
            })
            .collect();
        format!("WHERE {}", conditions.join(" AND "))
    }

    pub(crate) fn bind_all<'q>(
        &self,
        mut query: Query<'q, Any, AnyArguments>,
    ) -> Query<'q, Any, AnyArguments> {
        for value in &self.values {
            query = value.bind(query);
        }
        query
    }
}

/// `LIMIT … OFFSET …` as literal numbers. SQLite reads a bound `LIMIT` to
/// plan with, and so marks the statement to be prepared again whenever that
/// parameter is bound anew: every execution (it was 18 % of a list's CPU).
/// Written out, the numbers (ours, never a caller's text) keep one prepared
/// statement per page shape.
pub(crate) fn limit_offset(limit: i64, offset: i64) -> String {
    format!("LIMIT {limit} OFFSET {offset}")
}
