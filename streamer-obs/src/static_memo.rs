//! [`StaticStrMemo`]: yes/no answers about `&'static str` keys (field names, metric names
//! written as literals) remembered by the key's address and length, so a hot path asks the
//! full question once per key instead of once per call.
//!
//! Only `'static` keys go in: their address is never reused for other text, so an address
//! and a length identify the text for the life of the process. A memo is a cache of a pure
//! function of the key, never per-invocation state.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots of a memo: 64 pairs.
const SLOTS: usize = 128;

/// Remembered answers, in pairs of slots chosen by a hash of address and length (two keys
/// that hash alike do not evict each other). Each slot packs the address (48 bits), the
/// length (15 bits) and the answer (1 bit) in one atomic word: a reader on any thread sees
/// a whole entry or none.
pub(crate) struct StaticStrMemo([AtomicU64; SLOTS]);

impl StaticStrMemo {
    /// An empty memo (usable in a `static`).
    pub(crate) const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; SLOTS])
    }

    /// The answer for `key`: remembered, or `answer(key)` (then remembered).
    #[inline]
    pub(crate) fn get_or(&self, key: &'static str, answer: impl FnOnce(&str) -> bool) -> bool {
        let (addr, len) = (key.as_ptr() as usize as u64, key.len() as u64);
        if addr >> 48 != 0 || len >> 15 != 0 {
            return answer(key);
        }
        let tag = addr << 16 | len << 1;
        // Fibonacci hashing of the tag: the top 6 bits pick the pair.
        let pair = (tag.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize * 2;
        let (first, second) = (&self.0[pair], &self.0[pair + 1]);
        for slot in [first, second] {
            let entry = slot.load(Ordering::Relaxed);
            if entry & !1 == tag {
                return entry & 1 == 1;
            }
        }
        let yes = answer(key);
        // The free slot of the pair if there is one, else the second.
        let slot = if first.load(Ordering::Relaxed) == 0 { first } else { second };
        slot.store(tag | u64::from(yes), Ordering::Relaxed);
        yes
    }
}

impl Default for StaticStrMemo {
    fn default() -> Self {
        Self::new()
    }
}

/// A clone starts empty (it is only a cache).
impl Clone for StaticStrMemo {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl fmt::Debug for StaticStrMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticStrMemo")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_remembered_per_key_and_survive_more_keys_than_slots() {
        let memo = StaticStrMemo::new();
        let keys: Vec<&'static str> = (0..300).map(|i| &*Box::leak(format!("key{i}").into_boxed_str())).collect();
        let calls = std::cell::Cell::new(0);
        let truth = |k: &str| k.len().is_multiple_of(2);
        for _ in 0..3 {
            for &k in &keys {
                let got = memo.get_or(k, |k| {
                    calls.set(calls.get() + 1);
                    truth(k)
                });
                assert_eq!(got, truth(k), "{k}");
            }
        }
        // Evictions make some keys ask again, never answer wrongly; a key asked twice in a
        // row is answered from the memo.
        assert!(calls.get() >= keys.len());
        let before = calls.get();
        assert!(memo.get_or("key_even", |_| true));
        assert!(memo.get_or("key_even", |_| unreachable!("remembered")));
        assert_eq!(calls.get(), before);
    }
}
