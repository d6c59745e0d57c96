//! The one read-cache pattern: a bounded, thread-safe map of values that
//! never change once cached.
//!
//! confab caches only what is final: an account that authenticated (accounts
//! are immutable today), a completed conference record; or a value that
//! carries what it was made from, checked on every read (a live record and
//! its row's version, a record's rendering and the record). So a
//! cache never needs invalidating, only bounding: when it is full it starts
//! over, which costs a few reads again and never returns anything stale. Misses are never cached, so a value
//! that appears later is found.
//!
//! Every entry is a whole value inserted in one step, so a lock poisoned by a
//! panicking thread still guards a consistent map and is used as is.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use foldhash::fast::RandomState;

/// A map of at most `capacity` final values; see the module docs.
pub struct ReadCache<K, V> {
    map: RwLock<HashMap<K, V, RandomState>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> ReadCache<K, V> {
    /// A cache that holds up to `capacity` entries before it starts over
    /// (`usize::MAX`: never).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::default()),
            capacity: capacity.max(1),
        }
    }

    /// The cached value of `key` (or of a key that borrows as it, such as
    /// a sid's `&str`).
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read().get(key).cloned()
    }

    /// [`ReadCache::get`] of each key, in order, under one lock.
    pub fn get_many(&self, keys: &[K]) -> Vec<Option<V>> {
        let map = self.read();
        keys.iter().map(|key| map.get(key).cloned()).collect()
    }

    /// Caches `value` for `key`, emptying the cache first if it is full.
    /// The caller only inserts values that are final or checked when read.
    pub fn insert(&self, key: K, value: V) {
        let mut map = self.write();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, value);
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<K, V, RandomState>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<K, V, RandomState>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K, V> fmt::Debug for ReadCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadCache")
            .field(
                "len",
                &self
                    .map
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len(),
            )
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn hits_misses_and_many() {
        let cache: ReadCache<u32, String> = ReadCache::new(4);
        assert!(cache.is_empty());
        assert_eq!(cache.get(&1), None);
        cache.insert(1, "one".into());
        cache.insert(2, "two".into());
        assert_eq!(cache.get(&1).as_deref(), Some("one"));
        assert_eq!(
            cache.get_many(&[2, 3, 1]),
            [Some("two".to_owned()), None, Some("one".to_owned())]
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache: ReadCache<u32, u32> = ReadCache::new(3);
        for k in 0..3 {
            cache.insert(k, k * 10);
        }
        assert_eq!(cache.len(), 3);
        // Replacing a present key is not growth.
        cache.insert(1, 10);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&0), Some(0));
        // A fourth key empties it first.
        cache.insert(3, 30);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&0), None);
        assert_eq!(cache.get(&3), Some(30));
    }

    #[test]
    fn unbounded_never_starts_over() {
        let cache: ReadCache<u32, u32> = ReadCache::new(usize::MAX);
        for k in 0..10_000 {
            cache.insert(k, k);
        }
        assert_eq!(cache.len(), 10_000);
        assert_eq!(cache.get(&0), Some(0));
    }

    #[test]
    fn a_poisoned_lock_still_serves() {
        let cache = std::sync::Arc::new(ReadCache::<u32, u32>::new(8));
        cache.insert(1, 1);
        let c = cache.clone();
        let _ = std::thread::spawn(move || {
            let _guard = c.map.write().unwrap();
            panic!("poison");
        })
        .join();
        assert!(cache.map.is_poisoned());
        assert_eq!(cache.get(&1), Some(1));
        cache.insert(2, 2);
        assert_eq!(cache.get_many(&[1, 2]), [Some(1), Some(2)]);
    }

    #[test]
    fn shared_between_threads() {
        let cache = std::sync::Arc::new(ReadCache::<u32, u32>::new(1024));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for k in 0..100 {
                        cache.insert(t * 100 + k, k);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cache.len(), 400);
    }
}
