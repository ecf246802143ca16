//! Byte-class checks eight bytes at a time ("SWAR"): the one mechanism behind the fast
//! paths that validate or scan short ASCII text (X-Ray annotation keys and names, trace
//! ids, metric names, JSON strings of the log, EMF and X-Ray writers).
//!
//! Every helper answers exactly for the question "does any (or every) byte of the word
//! ...": bits may be set spuriously in bytes *above* a matching one, never when no byte
//! matches, so callers only test `!= 0` / `== HIGH` on the whole mask.

/// `0x01` in every byte.
pub(crate) const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
/// `0x80` in every byte.
pub(crate) const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// The 8 bytes at the start of `bytes` (at least 8) as one word.
#[inline(always)]
pub(crate) fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[..8]);
    u64::from_ne_bytes(w)
}

/// Whether `ok` holds for every 8-byte word of `bytes` (8 bytes or more; the last word
/// overlaps the one before when the length is not a multiple of 8). Shorter input
/// answers `true` without calling `ok`: callers check it byte by byte.
#[inline(always)]
pub(crate) fn all_words(bytes: &[u8], ok: impl Fn(u64) -> bool) -> bool {
    if bytes.len() < 8 {
        return true;
    }
    let mut at = 0;
    while at + 8 <= bytes.len() {
        if !ok(word(&bytes[at..])) {
            return false;
        }
        at += 8;
    }
    at == bytes.len() || ok(word(&bytes[bytes.len() - 8..]))
}

/// The high bit of every byte of `x` that is zero (exact for "any").
#[inline(always)]
pub(crate) fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGH
}

/// The high bit of every byte of `x` equal to `b` (exact for "any").
#[inline(always)]
pub(crate) fn bytes_equal(x: u64, b: u8) -> u64 {
    zero_bytes(x ^ (ONES * u64::from(b)))
}

/// The high bit of exactly the bytes of `x` equal to `b`: no bit for any other byte (one
/// operation more than [`bytes_equal`], whose borrow can mark a byte above a match).
#[inline(always)]
pub(crate) fn bytes_equal_exact(x: u64, b: u8) -> u64 {
    let y = x ^ (ONES * u64::from(b));
    !((y & !HIGH).wrapping_add(!HIGH) | y) & HIGH
}

/// The high bit of every byte of `x` below `n` (`n` ≤ 0x80; exact for "any").
#[inline(always)]
pub(crate) fn bytes_below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH
}

/// The high bit of every byte of `x` within `lo..=hi`, for words whose bytes are all below
/// 0x80 (check `x & HIGH == 0` first): for such a byte `c`, `c + (0x80 - lo)` has its top
/// bit set exactly when `c >= lo`, and `c + (0x7f - hi)` when `c > hi`, with no carry into
/// the next byte. Exact per byte.
#[inline(always)]
pub(crate) fn bytes_in(x: u64, lo: u8, hi: u8) -> u64 {
    (x + ONES * u64::from(0x80 - lo)) & !(x + ONES * u64::from(0x7f - hi)) & HIGH
}

/// [`bytes_in`] for ASCII letters in either case: `lo..=hi` are lowercase letters and
/// `c | 0x20` folds upper case onto lower.
#[inline(always)]
pub(crate) fn letters_in(x: u64, lo: u8, hi: u8) -> u64 {
    bytes_in(x | (ONES * 0x20), lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(b: u8, at: usize, fill: u8) -> u64 {
        let mut w = [fill; 8];
        w[at] = b;
        u64::from_ne_bytes(w)
    }

    #[test]
    fn every_helper_matches_the_byte_test_for_every_byte_at_every_position() {
        for at in 0..8 {
            for b in 0..=255u8 {
                let x = spread(b, at, b'k');
                assert_eq!(bytes_equal(x, b'"') != 0, b == b'"', "{b} at {at}");
                assert_eq!(zero_bytes(x) != 0, b == 0, "{b} at {at}");
                assert_eq!(bytes_below(x, 0x20) != 0, b < 0x20, "{b} at {at}");
                if b < 0x80 {
                    let all_digits = spread(b, at, b'5');
                    assert_eq!(bytes_in(all_digits, b'0', b'9') == HIGH, b.is_ascii_digit(), "{b} at {at}");
                    let all_letters = spread(b, at, b'q');
                    assert_eq!(letters_in(all_letters, b'a', b'z') == HIGH, b.is_ascii_alphabetic(), "{b} at {at}");
                }
            }
        }
    }

    /// Exactly the bytes equal to the pattern are marked, whatever the other bytes are
    /// (the plain `bytes_equal` may also mark a byte above a match).
    #[test]
    fn bytes_equal_exact_marks_exactly_the_equal_bytes() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let x = rng.u64(..);
            let pattern = if rng.bool() { x.to_le_bytes()[rng.usize(..8)] } else { rng.u8(..) };
            let expected = x
                .to_le_bytes()
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == pattern)
                .fold(0u64, |acc, (i, _)| acc | (0x80 << (8 * i)));
            assert_eq!(bytes_equal_exact(x, pattern), expected, "{x:#018x} {pattern:#04x}");
        }
    }

    #[test]
    fn all_words_visits_every_byte_once_the_last_word_overlapping() {
        for len in 8..40 {
            for bad in 0..len {
                let mut v = vec![b'a'; len];
                v[bad] = b'!';
                assert!(!all_words(&v, |x| bytes_equal(x, b'!') == 0), "{len} {bad}");
            }
            assert!(all_words(&vec![b'a'; len], |x| bytes_equal(x, b'!') == 0));
        }
        assert!(all_words(b"short", |_| false), "shorter input is the caller's");
    }
}
