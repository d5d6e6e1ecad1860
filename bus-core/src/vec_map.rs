//! [`VecMap`]: a map kept as one sorted `Vec`.
//!
//! The bus keeps a handful of small maps (calls in flight, handlers by
//! method, subscriptions by topic). A `BTreeMap` costs about 4 KB of wasm for
//! each key and value type it is used with; this costs a few hundred bytes,
//! and is as fast for the sizes the bus's limits allow (ids are handed out
//! in order, so inserts append).

use std::borrow::Borrow;
use std::fmt;

/// A map kept as one `Vec` sorted by key.
///
/// ```
/// use bus_core::vec_map::VecMap;
/// let mut m = VecMap::new();
/// m.insert("b", 2);
/// m.insert("a", 1);
/// assert_eq!(m.get("a"), Some(&1));
/// assert_eq!(m.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["a", "b"]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The entry with the smallest key.
    pub fn first(&self) -> Option<(&K, &V)> {
        self.entries.first().map(|(k, v)| (k, v))
    }

    /// Removes and returns every entry, in key order.
    pub fn take_all(&mut self) -> Vec<(K, V)> {
        std::mem::take(&mut self.entries)
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        // Appends are the common case: check the end first.
        match self.entries.last() {
            Some((last, _)) if last.borrow() < key => Err(self.entries.len()),
            _ => self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key)),
        }
    }

    /// The value for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let i = self.find(key).ok()?;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// The value for `key`, mutably.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let i = self.find(key).ok()?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => self
                .entries
                .get_mut(i)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// The value for `key`, inserting `make()` first if it is absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key, make()));
                i
            }
        };
        #[allow(clippy::indexing_slicing)] // `i` was just found or filled
        &mut self.entries[i].1
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let i = self.find(key).ok()?;
        Some(self.entries.remove(i).1)
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;

    #[test]
    fn behaves_like_a_btree_map() {
        let mut ours = VecMap::new();
        let mut std = std::collections::BTreeMap::new();
        // A fixed pseudo-random walk over inserts, removes and lookups.
        let mut x: u32 = 7;
        for _ in 0..5000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 8) % 64;
            match x % 4 {
                0 | 1 => assert_eq!(ours.insert(key, x), std.insert(key, x)),
                2 => assert_eq!(ours.remove(&key), std.remove(&key)),
                _ => assert_eq!(ours.get(&key), std.get(&key)),
            }
            assert_eq!(ours.len(), std.len());
        }
        assert!(ours.iter().eq(std.iter()));
        assert_eq!(ours.first(), std.first_key_value());
        *ours.get_or_insert_with(1000, || 0) += 5;
        *ours.get_or_insert_with(1000, || 0) += 5;
        assert_eq!(ours.get(&1000), Some(&10));
        let all = ours.take_all();
        assert!(ours.is_empty());
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
