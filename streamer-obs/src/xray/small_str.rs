//! A string kept inline up to 22 bytes (names, annotation keys, metadata namespaces and
//! keys are nearly always that short), on the heap beyond: no allocation per key.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Deref;

/// The longest text kept inline, in bytes.
pub(crate) const INLINE: usize = 22;

/// What fills an inline buffer after the text: a space, which JSON copies as is, so the
/// whole buffer can be checked for bytes to escape in three fixed words, whatever the
/// length (see [`SmallStr::write_json`]).
const PAD: u8 = b' ';

/// An immutable string, inline when short.
#[derive(Clone)]
pub(crate) enum SmallStr {
    Inline(u8, [u8; INLINE]),
    Heap(Box<str>),
}

impl SmallStr {
    #[inline]
    pub(crate) fn new(s: &str) -> Self {
        let len = s.len();
        if len <= INLINE {
            let mut buf = [PAD; INLINE];
            copy_short(&mut buf, s.as_bytes());
            // `len` ≤ 22 fits in a u8.
            SmallStr::Inline(len as u8, buf)
        } else {
            SmallStr::Heap(s.into())
        }
    }

    /// An empty inline string.
    pub(crate) const EMPTY: SmallStr = SmallStr::Inline(0, [PAD; INLINE]);

    /// Makes this string `s`, writing an inline one in place. A string built with
    /// [`Self::new`] on the stack and then moved into its slot is written with narrow
    /// stores and read back at once with wide loads, which the CPU cannot forward (a stall
    /// of a dozen cycles each); written where it stays, nothing reads it back soon.
    #[inline]
    pub(crate) fn assign(&mut self, s: &str) {
        let len = s.len();
        match self {
            SmallStr::Inline(l, buf) if len <= INLINE => {
                *buf = [PAD; INLINE];
                copy_short(buf, s.as_bytes());
                // `len` ≤ 22 fits in a u8.
                *l = len as u8;
            }
            _ => *self = SmallStr::new(s),
        }
    }

    /// The bytes (no UTF-8 check: for comparisons and writing).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            SmallStr::Inline(len, buf) => &buf[..usize::from(*len)],
            SmallStr::Heap(s) => s.as_bytes(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // The bytes are a copy of a whole `str`.
            SmallStr::Inline(len, buf) => std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default(),
            SmallStr::Heap(s) => s,
        }
    }
}

/// Copies `src` (at most 22 bytes, and at most the length of `buf`) to the start of `buf`
/// with fixed-size moves (two overlapping ones) instead of a `memcpy` call of variable
/// length.
#[inline]
fn copy_short(buf: &mut [u8], src: &[u8]) {
    let len = src.len();
    if len > INLINE || len > buf.len() {
        return;
    }
    if len >= 16 {
        buf[..16].copy_from_slice(&src[..16]);
        buf[len - 16..len].copy_from_slice(&src[len - 16..]);
    } else if len >= 8 {
        buf[..8].copy_from_slice(&src[..8]);
        buf[len - 8..len].copy_from_slice(&src[len - 8..]);
    } else if len >= 4 {
        buf[..4].copy_from_slice(&src[..4]);
        buf[len - 4..len].copy_from_slice(&src[len - 4..]);
    } else {
        buf[..len].copy_from_slice(src);
    }
}

impl SmallStr {
    /// [`Self::assign`] of `a` followed by `b` (inline when short: no allocation, no
    /// UTF-8 check).
    #[inline]
    pub(crate) fn assign_concat(&mut self, a: &str, b: &str) {
        let len = a.len() + b.len();
        if len > INLINE {
            let mut s = String::with_capacity(len);
            s.push_str(a);
            s.push_str(b);
            *self = SmallStr::Heap(s.into_boxed_str());
            return;
        }
        if !matches!(self, SmallStr::Inline(..)) {
            *self = SmallStr::EMPTY;
        }
        if let SmallStr::Inline(l, buf) = self {
            *buf = [PAD; INLINE];
            copy_short(buf, a.as_bytes());
            copy_short(&mut buf[a.len()..], b.as_bytes());
            // `len` ≤ 22 fits in a u8.
            *l = len as u8;
        }
    }

    /// `a` followed by `b` (see [`Self::assign_concat`]).
    pub(crate) fn concat(a: &str, b: &str) -> Self {
        let mut s = SmallStr::EMPTY;
        s.assign_concat(a, b);
        s
    }
}

impl SmallStr {
    /// Appends the bytes as they are (inline text with one fixed-size copy, then the
    /// excess cut: no `memcpy` call of variable length).
    #[inline]
    pub(crate) fn write_raw(&self, out: &mut Vec<u8>) {
        match self {
            SmallStr::Inline(len, buf) => {
                let start = out.len();
                out.extend_from_slice(buf);
                out.truncate(start + usize::from(*len));
            }
            SmallStr::Heap(s) => out.extend_from_slice(s.as_bytes()),
        }
    }

    /// Appends the text as a JSON string, quotes included (escaped as `serde_json` does).
    #[inline]
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        // A quoted string is at least 2 bytes: 0 means not written.
        if crate::write_block::write_block::<{ INLINE + 2 }>(out, |block| self.quoted_into(block).unwrap_or(0)) == 0 {
            super::json::write_str_bytes(out, self.as_bytes());
        }
    }

    /// For inline text with nothing to escape: writes it quoted (`"text"`) at the start of
    /// `block` and returns the length written; `None` otherwise (nothing written). The
    /// check covers the whole inline buffer (the padding is plain), so it does not depend
    /// on the length.
    #[inline]
    pub(crate) fn quoted_into(&self, block: &mut [u8; INLINE + 2]) -> Option<usize> {
        match self {
            SmallStr::Inline(len, buf) if super::json::is_plain(buf) => {
                let len = usize::from(*len);
                block[0] = b'"';
                block[1..=INLINE].copy_from_slice(buf);
                // `len` ≤ 22: in bounds.
                block[(len + 1).min(INLINE + 1)] = b'"';
                Some(len + 2)
            }
            _ => None,
        }
    }
}

impl From<String> for SmallStr {
    fn from(s: String) -> Self {
        if s.len() <= INLINE { SmallStr::new(&s) } else { SmallStr::Heap(s.into_boxed_str()) }
    }
}

impl Deref for SmallStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for SmallStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SmallStr {}

impl PartialOrd for SmallStr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallStr {
    fn cmp(&self, other: &Self) -> Ordering {
        // Byte order is `str` order.
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_up_to_22_bytes_heap_beyond() {
        let every_length: Vec<String> = (0..=22).map(|n| ('a'..='z').cycle().take(n).collect()).collect();
        for s in
            every_length.iter().map(String::as_str).chain(["", "a", "HandleConnect response", "é東", &"x".repeat(22)])
        {
            let v = SmallStr::new(s);
            assert!(matches!(v, SmallStr::Inline(..)), "{s}");
            assert_eq!(&*v, s);
            assert_eq!(SmallStr::from(s.to_owned()), v);
        }
        let long = "y".repeat(23);
        assert!(matches!(SmallStr::new(&long), SmallStr::Heap(_)));
        // Assigned in place: the same string as built, from every earlier state.
        let samples = ["", "a", "abcd", "abcdefgh", "connection_id", "0123456789abcdefghijkl", long.as_str(), "é"];
        for before in samples {
            for after in samples {
                let mut s = SmallStr::new(before);
                s.assign(after);
                assert_eq!(s, SmallStr::new(after), "{before:?} then {after:?}");
                assert_eq!(s.as_str(), after);
                if let SmallStr::Inline(len, buf) = &s {
                    // The escape check reads the whole buffer: the tail must be padding.
                    assert!(buf[usize::from(*len)..].iter().all(|&b| b == PAD), "{before:?} then {after:?}");
                }
            }
        }
        assert_eq!(SmallStr::from(long.clone()).as_str(), long);
        assert!(SmallStr::new("a") < SmallStr::new("b") && SmallStr::new("b") < SmallStr::new(&long));
        assert_eq!(std::mem::size_of::<SmallStr>(), 24);
        assert_eq!(SmallStr::concat("HandleConnect", " response").as_str(), "HandleConnect response");
        assert!(matches!(SmallStr::concat("HandleConnect", " response"), SmallStr::Inline(..)));
        assert_eq!(SmallStr::concat(&long, "é").as_str(), format!("{long}é"));
        // Every split of every inline length, and just past it.
        for a in &every_length {
            for b in every_length.iter().map(|b| b.to_uppercase()) {
                let joined = SmallStr::concat(a, &b);
                assert_eq!(joined.as_str(), format!("{a}{b}"));
                assert_eq!(joined, SmallStr::new(&format!("{a}{b}")));
                // Assigned in place over a longer, a heap and an empty string: the same,
                // padding kept.
                for before in ["0123456789abcdefghijkl", long.as_str(), ""] {
                    let mut s = SmallStr::new(before);
                    s.assign_concat(a, &b);
                    assert_eq!(s, joined, "{before:?} then {a:?} + {b:?}");
                    if let SmallStr::Inline(len, buf) = &s {
                        assert!(buf[usize::from(*len)..].iter().all(|&b| b == PAD));
                    }
                }
            }
        }
        // Every special byte at every inline position: the padding never hides one.
        let mut specials = Vec::new();
        for len in 1..=22 {
            for pos in 0..len {
                for c in ['"', '\\', '\u{0}', '\u{1f}', '\n', '\u{7f}', 'é'] {
                    let mut v: Vec<char> = "x".repeat(len - 1).chars().collect();
                    v.insert(pos, c);
                    specials.push(v.into_iter().collect::<String>());
                }
            }
        }
        for s in every_length.iter().chain(&specials).map(String::as_str).chain([long.as_str(), "a\"b", "\u{1}", "é東"])
        {
            let mut out = b"x".to_vec();
            SmallStr::new(s).write_json(&mut out);
            let mut expected = b"x".to_vec();
            expected.extend_from_slice(&serde_json::to_vec(s).unwrap());
            assert_eq!(out, expected, "{s}");
        }
    }
}
