//! Calls in flight, each with its deadline, in one type so that an entry
//! and its deadline are always added and removed together.

use std::time::Duration;

use crate::vec_map::VecMap;

/// Entries by id, each with an optional deadline, expiring in order.
#[derive(Debug)]
pub(super) struct Timed<V> {
    entries: VecMap<u64, (Option<Duration>, V)>,
    deadlines: VecMap<(Duration, u64), ()>,
}

impl<V> Default for Timed<V> {
    fn default() -> Self {
        Timed {
            entries: VecMap::new(),
            deadlines: VecMap::new(),
        }
    }
}

impl<V> Timed<V> {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn contains(&self, id: u64) -> bool {
        self.entries.contains_key(&id)
    }

    /// Adds `id`; returns false (and changes nothing) if it is present.
    pub(super) fn insert(&mut self, id: u64, deadline: Option<Duration>, value: V) -> bool {
        if self.entries.contains_key(&id) {
            return false;
        }
        if let Some(d) = deadline {
            self.deadlines.insert((d, id), ());
        }
        self.entries.insert(id, (deadline, value));
        true
    }

    pub(super) fn remove(&mut self, id: u64) -> Option<V> {
        let (deadline, value) = self.entries.remove(&id)?;
        if let Some(d) = deadline {
            self.deadlines.remove(&(d, id));
        }
        Some(value)
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Duration> {
        self.deadlines.first().map(|((d, _), ())| *d)
    }

    /// Removes and returns one entry whose deadline is at or before `now`.
    pub(super) fn pop_expired(&mut self, now: Duration) -> Option<(u64, V)> {
        let (&(deadline, id), ()) = self.deadlines.first()?;
        if deadline > now {
            return None;
        }
        self.remove(id).map(|v| (id, v))
    }

    /// Removes every entry, in id order.
    pub(super) fn drain(&mut self) -> Vec<(u64, V)> {
        self.deadlines.take_all();
        self.entries
            .take_all()
            .into_iter()
            .map(|(id, (_, v))| (id, v))
            .collect()
    }
}

/// Our calls waiting for a reply; the value is the call's timeout, for the error.
pub(super) type Pending = Timed<Duration>;

/// The peer's calls being served; the deadline is the caller's, when it sent one.
pub(super) type Serving = Timed<()>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_removes_entry_and_deadline_together() {
        let mut t: Timed<&str> = Timed::default();
        let s = Duration::from_secs;
        assert!(t.insert(1, Some(s(5)), "a"));
        assert!(t.insert(2, None, "b"));
        assert!(t.insert(3, Some(s(2)), "c"));
        assert!(!t.insert(3, Some(s(1)), "dup"));
        assert_eq!(t.next_deadline(), Some(s(2)));
        assert_eq!(t.pop_expired(s(1)), None);
        assert_eq!(t.pop_expired(s(9)), Some((3, "c")));
        assert_eq!(t.remove(1), Some("a"));
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.pop_expired(s(99)), None);
        assert_eq!(t.drain(), vec![(2, "b")]);
        assert_eq!(t.len(), 0);
    }
}
