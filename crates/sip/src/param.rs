//! `name[=value]` parameters, shared by URIs and header values (Via,
//! From/To tags, Contact, Content-Type). Its own module so that `uri` and
//! `message` both depend on it and not on each other.

use std::fmt;

/// A `name[=value]` parameter. The value is kept as written, quotes
/// included for a quoted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

impl Param {
    pub fn new(name: &str, value: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        }
    }

    /// `Some(value)` if a parameter of this name (case-insensitive) exists.
    pub fn find<'a>(params: &'a [Param], name: &str) -> Option<Option<&'a str>> {
        params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// Replaces the first parameter of this name, or appends one.
    pub fn set(params: &mut Vec<Param>, name: &str, value: Option<&str>) {
        match params
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(param) => param.value = value.map(str::to_owned),
            None => params.push(Param::new(name, value)),
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(value) = &self.value {
            write!(f, "={value}")?;
        }
        Ok(())
    }
}
