//! A `WHERE` clause built from the filters a list request has: fixed
//! condition text from the store's own modules, the values bound to its
//! placeholders (never caller text in the SQL), and a status's codes
//! written in; and a page's `LIMIT`.
//! Shared by the lists (`reads`, `call_lists`, `cached`) and the per-day
//! counts they seek through (`day_counts`).

use model::DateRange;
use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// A value bound to a `WHERE` placeholder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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
/// with one value bound in order (the Nth such condition's placeholder is
/// `$(base + N)`, `base` being how many placeholders come before it in the
/// statement), or with its codes written in, or fixed.
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
    /// Checked row by row in the page query, never used to seek an index
    /// there (see the module doc).
    unindexed_in_page: bool,
    /// The values written into the text after `op` (`1`, `(0, 6)`), for
    /// a condition without placeholders.
    codes: Option<String>,
}

impl Where {
    /// Adds `column op $N` with `value` as `$N`.
    pub(crate) fn push(&mut self, column: &'static str, op: &'static str, value: Value) {
        self.values.push(value);
        self.conditions.push(Condition {
            column,
            op,
            unindexed_in_page: false,
            codes: None,
        });
    }

    /// Adds `column IN (…)` (`column = …` for one; for none, a condition
    /// no row meets) with `codes` written into the statement, not bound:
    /// for a column of a few values, some rare and some most rows (a
    /// status). PostgreSQL plans each statement once for any values bound
    /// (`connect::postgres_pool`); only a value in the text lets that plan
    /// seek the rare one's index instead of walking every row for it.
    pub(crate) fn push_codes(&mut self, column: &'static str, codes: impl Iterator<Item = i64>) {
        let codes: Vec<String> = codes.map(|c| c.to_string()).collect();
        let (op, codes) = match codes.as_slice() {
            [] => return self.push_condition("1 = 0"),
            [one] => ("=", one.clone()),
            many => ("IN", format!("({})", many.join(", "))),
        };
        self.conditions.push(Condition {
            column,
            op,
            unindexed_in_page: false,
            codes: Some(codes),
        });
    }

    /// Adds a fixed condition without a value (`hold IS NULL`).
    pub(crate) fn push_condition(&mut self, condition: &'static str) {
        self.conditions.push(Condition {
            column: condition,
            op: "",
            unindexed_in_page: false,
            codes: None,
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
                if let Some(codes) = &c.codes {
                    return format!("{plus}{} {} {codes}", c.column, c.op);
                }
                placeholder += 1;
                format!("{plus}{} {} ${placeholder}", c.column, c.op)
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
