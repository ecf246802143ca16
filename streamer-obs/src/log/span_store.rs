//! [`SpanStore`]: the log layer's span fields, kept by the layer itself and found by span
//! id, instead of in the registry's per-span extensions.
//!
//! An extension is a boxed value in a per-span hash map: every span with fields cost an
//! allocation, a hash-map insert, and at close a free and a clear of that map. Here a span's
//! fields are moved into a vector of their shard (chosen by the id) and taken out when the
//! span closes; the vectors keep their capacity, so a warm process stores span fields
//! without allocating. The registry's span ids identify a span until it closes (an id is
//! reused only after its span is closed and removed from here).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Shards: spans created or closed on different threads rarely share a lock.
const SHARDS: usize = 16;

/// Values of type `T` by span id (`tracing::span::Id::into_u64`).
pub(crate) struct SpanStore<T> {
    shards: [Mutex<Vec<(u64, T)>>; SHARDS],
    /// Entries in all shards: a close with none stored takes no lock.
    len: AtomicUsize,
}

impl<T> SpanStore<T> {
    /// An empty store.
    pub(crate) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| Mutex::new(Vec::new())), len: AtomicUsize::new(0) }
    }

    fn shard(&self, id: u64) -> MutexGuard<'_, Vec<(u64, T)>> {
        // A panic while a shard was held cannot leave an entry half-written (entries are
        // pushed, replaced or removed whole): the data is still good.
        self.shards[id as usize % SHARDS].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `value` for `id`, replacing the one stored before if any.
    #[inline]
    pub(crate) fn insert(&self, id: u64, value: T) {
        let mut shard = self.shard(id);
        match shard.iter_mut().find(|(k, _)| *k == id) {
            Some((_, old)) => *old = value,
            None => {
                shard.push((id, value));
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Merges `value` into the value of `id` with `merge`, or stores it after `fill` when
    /// there is none, in one hold of the lock (two threads recording a span's first fields
    /// at once both land). Returns true when it stored a new value.
    pub(crate) fn merge_or_insert(
        &self,
        id: u64,
        mut value: T,
        merge: impl FnOnce(&mut T, T),
        fill: impl FnOnce(&mut T),
    ) -> bool {
        let mut shard = self.shard(id);
        match shard.iter_mut().find(|(k, _)| *k == id) {
            Some((_, old)) => {
                merge(old, value);
                false
            }
            None => {
                fill(&mut value);
                shard.push((id, value));
                self.len.fetch_add(1, Ordering::Relaxed);
                true
            }
        }
    }

    /// Calls `f` with the value of `id` (`None` when there is none), under its shard's lock.
    pub(crate) fn with<R>(&self, id: u64, f: impl FnOnce(Option<&mut T>) -> R) -> R {
        let mut shard = self.shard(id);
        f(shard.iter_mut().find(|(k, _)| *k == id).map(|(_, v)| v))
    }

    /// Removes the value of `id`, if any, and returns what `f` makes of it.
    pub(crate) fn remove<R>(&self, id: u64, f: impl FnOnce(&T) -> R) -> Option<R> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut shard = self.shard(id);
        let at = shard.iter().position(|(k, _)| *k == id)?;
        let r = f(&shard[at].1);
        shard.swap_remove(at);
        self.len.fetch_sub(1, Ordering::Relaxed);
        Some(r)
    }
}

impl<T> std::fmt::Debug for SpanStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanStore").field("len", &self.len.load(Ordering::Relaxed)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_replaced_and_removed_by_id_across_shards() {
        let store = SpanStore::new();
        let mut model = std::collections::HashMap::new();
        let mut rng = fastrand::Rng::with_seed(11);
        for step in 0..5_000u64 {
            let id = rng.u64(1..100);
            match rng.u8(0..3) {
                0 => {
                    store.insert(id, step);
                    model.insert(id, step);
                }
                1 => assert_eq!(store.remove(id, |v| *v), model.remove(&id), "remove {id}"),
                _ => assert_eq!(store.with(id, |v| v.copied()), model.get(&id).copied(), "get {id}"),
            }
            assert_eq!(store.len.load(Ordering::Relaxed), model.len());
        }
        let had = model.contains_key(&7);
        assert_eq!(store.merge_or_insert(7, 1, |old, new| *old = new, |v| *v += 1), !had);
        assert!(!store.merge_or_insert(7, 10, |old, new| *old += new, |_| unreachable!()));
        assert_eq!(store.with(7, |v| v.copied()), Some(if had { 11 } else { 12 }));
    }
}
