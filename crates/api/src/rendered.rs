//! Renderings kept beside the records they show: the 2008 `<Conference>`,
//! `<Participant>` and `<Call>` elements and the 2010 JSON conferences,
//! participants and calls.
//!
//! A list page renders up to fifty records at every request, and the
//! rendering (dates, URIs, escaping) cost more than reading the page
//! (docs/benchmarks.md, tenth pass). A kept rendering is written again only
//! for a record equal to the one it was rendered from, so any change to a
//! record shows at once and nothing stale is ever written; a completed
//! room or an ended call, which no longer change, is rendered once. Each
//! kind is a bounded [`ReadCache`]: when full it starts over.

use std::hash::Hash;
use std::io;
use std::sync::Arc;

use model::{CallRecord, CallSid, ConferenceRecord, ConferenceSid, ParticipantRecord, ReadCache};
use serde_json::value::RawValue;

/// Every rendering the API keeps, one cache per representation.
#[derive(Debug, Default)]
pub struct Rendered {
    /// 2008 `<Conference>` elements (list pages and the instance GET).
    pub conferences_xml: Renderings<ConferenceSid, ConferenceRecord, Box<[u8]>>,
    /// 2008 `<Participant>` elements, by call (list pages).
    pub participants_xml: Renderings<CallSid, ParticipantRecord, Box<[u8]>>,
    /// 2008 `<Call>` elements (list pages).
    pub calls_xml: Renderings<CallSid, CallRecord, Box<[u8]>>,
    /// 2010 conferences in JSON (list pages).
    pub conferences_json: JsonRenderings<ConferenceSid, ConferenceRecord>,
    /// 2010 participants in JSON, by call (list pages).
    pub participants_json: JsonRenderings<CallSid, ParticipantRecord>,
    /// 2010 calls in JSON (list pages).
    pub calls_json: JsonRenderings<CallSid, CallRecord>,
}

/// Records `R` rendered in JSON, written into a page as they are.
pub type JsonRenderings<K, R> = Renderings<K, R, Box<RawValue>>;

/// One record's kept JSON.
pub type KeptJson<R> = Arc<Kept<R, Box<RawValue>>>;

/// The renderings `O` of records `R`, by key `K` (the record's sid), each
/// kept with the record it was rendered from.
#[derive(Debug)]
pub struct Renderings<K, R, O> {
    pub(crate) cache: ReadCache<K, Arc<Kept<R, O>>>,
}

/// One rendering and the record it shows.
#[derive(Debug)]
pub struct Kept<R, O> {
    pub(crate) from: R,
    output: O,
}

impl<R, O> Kept<R, O> {
    /// The rendering.
    pub fn output(&self) -> &O {
        &self.output
    }
}

impl<K: Eq + Hash + Clone, R: PartialEq + Clone, O> Default for Renderings<K, R, O> {
    fn default() -> Self {
        Self::new(Self::CAPACITY)
    }
}

impl<K: Eq + Hash + Clone, R: PartialEq + Clone, O> Renderings<K, R, O> {
    /// Renderings kept of one kind before the cache starts over: 163
    /// pages of 50. Each is the rendering and a copy of its record: the
    /// largest, a 2010 call's JSON, is about 1.2 kB (a page of 50 is 60,170
    /// bytes), so that cache holds about 12 MB when full, and all six
    /// together under 50 MB (estimated from the pages' sizes, not measured
    /// as RSS).
    pub const CAPACITY: usize = 8_192;

    pub fn new(capacity: usize) -> Self {
        Self {
            cache: ReadCache::new(capacity),
        }
    }

    /// `record`'s rendering: the kept one when it was rendered from a
    /// record equal to `record`, else `render(record)`, kept under `key`
    /// (replacing what was kept of an earlier record of the same key).
    pub fn get_or_render(
        &self,
        key: &K,
        record: &R,
        render: impl FnOnce(&R) -> io::Result<O>,
    ) -> io::Result<Arc<Kept<R, O>>> {
        if let Some(kept) = self.cache.get(key)
            && kept.from == *record
        {
            return Ok(kept);
        }
        let kept = Arc::new(Kept {
            from: record.clone(),
            output: render(record)?,
        });
        self.cache.insert(key.clone(), Arc::clone(&kept));
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_rendering_is_reused_only_for_an_equal_record() {
        let kept: Renderings<u32, String, String> = Renderings::new(8);
        let mut renders = 0;
        let mut render = |key: u32, record: &str| {
            kept.get_or_render(&key, &record.to_owned(), |r| {
                renders += 1;
                Ok(r.to_uppercase())
            })
            .unwrap()
            .output()
            .clone()
        };
        assert_eq!(render(1, "a"), "A");
        assert_eq!(render(1, "a"), "A");
        assert_eq!(render(2, "a"), "A");
        // The same key, another record: rendered again, and kept instead.
        assert_eq!(render(1, "b"), "B");
        assert_eq!(render(1, "b"), "B");
        assert_eq!(renders, 3);
        assert_eq!(kept.cache.len(), 2);
    }

    #[test]
    fn a_failed_rendering_is_not_kept() {
        let kept: Renderings<u32, u32, u32> = Renderings::new(8);
        let failed = kept.get_or_render(&1, &1, |_| Err(io::Error::other("no")));
        assert!(failed.is_err());
        assert!(kept.cache.is_empty());
        assert_eq!(
            *kept.get_or_render(&1, &1, |r| Ok(r + 1)).unwrap().output(),
            2
        );
    }
}
