//! [`SpanStore`]: the log layer's span fields, kept by the layer itself and found by span
//! id, instead of in the registry's per-span extensions.
//!
//! An extension is a boxed value in a per-span hash map: every span with fields cost an
//! allocation, a hash-map insert, and at close a free and a clear of that map. Here a span's
//! fields are moved into a vector of their shard (chosen by the id) and taken out when the
//! span closes; the vectors keep their capacity, so a warm process stores span fields
//! without allocating. The registry's span ids identify a span until it closes (an id is
//! reused only after its span is closed and removed from here).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::lock::SpinLock;

const SHARDS: usize = 16;

/// A stored value that may be counted apart (the log layer counts the spans with fields
/// other than the runtime's, see [`SpanStore::tagged`]).
pub(crate) trait Tagged {
    /// Whether this value is counted by [`SpanStore::tagged`].
    fn tagged(&self) -> bool;
}

/// How one value weighs in [`SpanStore`]'s counts: one stored value in the low half, one
/// tagged value in the high half (both counts in one word: one atomic add per insert or
/// remove, not two).
fn weight(tagged: bool) -> u64 {
    1 + (u64::from(tagged) << 32)
}

/// Values by span id, in shards locked apart.
pub(crate) struct SpanStore<T> {
    shards: [SpinLock<Vec<(u64, T)>>; SHARDS],
    /// How many values are stored (low 32 bits) and how many of them are tagged (high 32
    /// bits): fewer than 2^32 spans are ever open at once.
    counts: AtomicU64,
}

impl<T: Tagged> SpanStore<T> {
    pub(crate) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| SpinLock::new(Vec::new())), counts: AtomicU64::new(0) }
    }

    /// The shard of `id`, locked (short sections, no caller code under it but the layer's
    /// own merge and write of rendered fields: see `crate::lock`). A panic while a shard
    /// was held cannot leave an entry half-written (entries are pushed, replaced or removed
    /// whole): the data is still good.
    fn shard(&self, id: u64) -> crate::lock::Guard<'_, Vec<(u64, T)>> {
        self.shards[id as usize % SHARDS].lock()
    }

    /// How many stored values are tagged.
    #[inline]
    pub(crate) fn tagged(&self) -> u64 {
        self.counts.load(Ordering::Relaxed) >> 32
    }

    /// Adjusts the counts for `old` replaced by `new` (nothing when both weigh the same).
    fn recount(&self, old: u64, new: u64) {
        if old != new {
            self.counts.fetch_add(new.wrapping_sub(old), Ordering::Relaxed);
        }
    }

    /// Stores `value` for `id`, replacing any value there.
    #[inline]
    pub(crate) fn insert(&self, id: u64, value: T) {
        let new = weight(value.tagged());
        let mut shard = self.shard(id);
        match shard.iter_mut().find(|(k, _)| *k == id) {
            Some((_, old)) => {
                let old_weight = weight(old.tagged());
                *old = value;
                drop(shard);
                self.recount(old_weight, new);
            }
            None => {
                shard.push((id, value));
                drop(shard);
                self.counts.fetch_add(new, Ordering::Relaxed);
            }
        }
    }

    /// Merges `value` into the value of `id` with `merge`, or stores it after `fill` when
    /// there is none. Returns whether it was stored (there was none).
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
                let old_weight = weight(old.tagged());
                merge(old, value);
                let new = weight(old.tagged());
                drop(shard);
                self.recount(old_weight, new);
                false
            }
            None => {
                fill(&mut value);
                let new = weight(value.tagged());
                shard.push((id, value));
                drop(shard);
                self.counts.fetch_add(new, Ordering::Relaxed);
                true
            }
        }
    }

    /// Calls `f` with the value of `id`, if any.
    pub(crate) fn with<R>(&self, id: u64, f: impl FnOnce(Option<&mut T>) -> R) -> R {
        let mut shard = self.shard(id);
        f(shard.iter_mut().find(|(k, _)| *k == id).map(|(_, v)| v))
    }

    /// Removes the value of `id`, handing it to `f` first. Without a lock while nothing is
    /// stored.
    pub(crate) fn remove<R>(&self, id: u64, f: impl FnOnce(&T) -> R) -> Option<R> {
        if self.counts.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut shard = self.shard(id);
        let at = shard.iter().position(|(k, _)| *k == id)?;
        let r = f(&shard[at].1);
        let (_, removed) = shard.swap_remove(at);
        drop(shard);
        self.counts.fetch_sub(weight(removed.tagged()), Ordering::Relaxed);
        Some(r)
    }
}

impl<T> std::fmt::Debug for SpanStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts = self.counts.load(Ordering::Relaxed);
        f.debug_struct("SpanStore")
            .field("len", &(counts & u64::from(u32::MAX)))
            .field("tagged", &(counts >> 32))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In these tests odd values are tagged.
    impl Tagged for u64 {
        fn tagged(&self) -> bool {
            self % 2 == 1
        }
    }

    fn counts(store: &SpanStore<u64>) -> (u64, u64) {
        let c = store.counts.load(Ordering::Relaxed);
        (c & u64::from(u32::MAX), store.tagged())
    }

    fn model_counts(model: &std::collections::HashMap<u64, u64>) -> (u64, u64) {
        (model.len() as u64, model.values().filter(|v| v.tagged()).count() as u64)
    }

    #[test]
    fn values_are_found_replaced_merged_and_removed_by_id_across_shards_and_counted() {
        let store = SpanStore::new();
        let mut model = std::collections::HashMap::new();
        let mut rng = fastrand::Rng::with_seed(11);
        for step in 0..5_000u64 {
            let id = rng.u64(1..100);
            match rng.u8(0..4) {
                0 => {
                    store.insert(id, step);
                    model.insert(id, step);
                }
                1 => assert_eq!(store.remove(id, |v| *v), model.remove(&id), "remove {id}"),
                2 => {
                    // Merging adds (a tagged value may become untagged and back); a new
                    // one is filled with one more.
                    let stored = store.merge_or_insert(id, step, |old, new| *old += new, |v| *v += 1);
                    assert_eq!(stored, !model.contains_key(&id));
                    *model.entry(id).or_insert(1) += step;
                }
                _ => assert_eq!(store.with(id, |v| v.copied()), model.get(&id).copied(), "get {id}"),
            }
            assert_eq!(counts(&store), model_counts(&model), "step {step}");
        }
        for id in 1..100 {
            store.remove(id, |_| ());
        }
        assert_eq!(counts(&store), (0, 0));
    }
}
