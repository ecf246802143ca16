//! Hand-written compact JSON for subsegment documents: the same bytes `serde_json`'s
//! compact serializer writes (same string escaping, `itoa` integers, `serde_json`'s own
//! float form), without the serde machinery. Tests compare both byte for byte.

use crate::write_block::write_block;

/// Per byte: 0 = copied as is, otherwise the escape letter (`u` = `\u00XX`), exactly as
/// `serde_json` escapes (control characters, `"` and `\`; DEL and non-ASCII are copied).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` as a JSON string, quotes included.
#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_str_bytes(out, s.as_bytes());
}

/// [`write_str`] for the bytes of a `str`.
#[inline]
pub(crate) fn write_str_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if is_plain(bytes) {
        out.extend_from_slice(bytes);
    } else {
        escape_slow(out, bytes);
    }
    out.push(b'"');
}

/// Whether no byte of `bytes` needs escaping (8 bytes at a time; the last word overlaps
/// the one before when the length is not a multiple of 8).
#[inline]
pub(crate) fn is_plain(bytes: &[u8]) -> bool {
    use crate::ascii_words::{all_words, bytes_below, bytes_equal};
    if bytes.len() < 8 {
        return bytes.iter().all(|&b| ESCAPE[b as usize] == 0);
    }
    // No byte below 0x20, no `"`, no `\\`.
    all_words(bytes, |x| bytes_below(x, 0x20) | bytes_equal(x, b'"') | bytes_equal(x, b'\\') == 0)
}

#[cold]
fn escape_slow(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if e == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(e);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends an integer.
#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends an unsigned integer.
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a float as `serde_json` does (its shortest round-trip form, `null` when not
/// finite): written by `serde_json` itself, which cannot fail writing to a `Vec`.
#[inline]
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    let _ = serde_json::to_writer(&mut *out, &v);
}

/// Appends a boolean.
#[inline]
pub(crate) fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// Seconds since the epoch of a microsecond timestamp, as an `f64` (what is written).
pub(crate) fn seconds(micros: u64) -> f64 {
    (micros / 1_000_000) as f64 + (micros % 1_000_000) as f64 / 1_000_000.0
}

/// Whole seconds for which [`write_seconds`] formats by hand: in these two binades
/// (2004 to 2106) a double has at least 4 steps per microsecond, and the hand form was
/// checked to equal `serde_json`'s for every microsecond (see the tests).
const FAST_SECONDS: std::ops::Range<u64> = (1 << 30)..(1 << 32);

/// Appends a microsecond timestamp as seconds, byte for byte what `serde_json` writes for
/// [`seconds`]`(micros)` (`1700000000.0`, `1700000000.0015`, ...).
#[inline]
pub(crate) fn write_seconds(out: &mut Vec<u8>, micros: u64) {
    let secs = micros / 1_000_000;
    if !FAST_SECONDS.contains(&secs) {
        write_f64(out, seconds(micros));
        return;
    }
    // Written in place (see `write_block`). In range, so below 2^32: the cast is lossless.
    write_block::<17>(out, |buf| {
        fill_whole(buf, secs as u32);
        fill_fraction(buf, (micros % 1_000_000) as u32)
    });
}

/// Appends `start` and then `,"end_time":` and `end` as [`write_seconds`] does, the whole
/// seconds formatted once when both fall in the same second.
pub(crate) fn write_start_end(out: &mut Vec<u8>, start: u64, end: u64) {
    let secs = start / 1_000_000;
    if !FAST_SECONDS.contains(&secs) || end / 1_000_000 != secs {
        write_seconds(out, start);
        out.extend_from_slice(b",\"end_time\":");
        write_seconds(out, end);
        return;
    }
    // Both written in place, in one block (see `write_block`): the whole seconds are
    // formatted for each (reading the first copy back would wait on its narrow stores).
    write_block::<{ 17 + 12 + 17 }>(out, |block| {
        let Some(first) = block.first_chunk_mut::<17>() else { return 0 };
        fill_whole(first, secs as u32);
        let len = fill_fraction(first, (start % 1_000_000) as u32);
        // `len` ≤ 17: the block holds both at their longest.
        let tail = &mut block[len..];
        tail[..12].copy_from_slice(b",\"end_time\":");
        let Some(second) = tail[12..].first_chunk_mut::<17>() else { return 0 };
        fill_whole(second, secs as u32);
        len + 12 + fill_fraction(second, (end % 1_000_000) as u32)
    });
}

/// Ten digits of whole seconds and the point.
#[inline]
fn fill_whole(buf: &mut [u8; 17], mut v: u32) {
    for i in (0..5).rev() {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        buf[i * 2..i * 2 + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    buf[10] = b'.';
}

/// Six digits of microseconds after the point; returns the length with trailing zeros
/// dropped (one digit at least).
#[inline]
fn fill_fraction(buf: &mut [u8; 17], mut frac: u32) -> usize {
    for i in (0..3).rev() {
        let pair = (frac % 100) as usize * 2;
        frac /= 100;
        buf[11 + i * 2..13 + i * 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    let mut len = 17;
    while len > 12 && buf[len - 1] == b'0' {
        len -= 1;
    }
    len
}

/// `00` to `99`.
static PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[i * 2] = b'0' + (i / 10) as u8;
        t[i * 2 + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Appends a JSON value as `serde_json` serializes it (maps in their own order). An array
/// or object nested deeper than [`MAX_METADATA_DEPTH`] is written as [`TOO_DEEP`]
/// (recursion never goes deeper; values recorded through the SDK are already limited).
pub(crate) fn write_value(out: &mut Vec<u8>, v: &serde_json::Value) {
    write_value_at(out, v, 0);
}

fn write_value_at(out: &mut Vec<u8>, v: &serde_json::Value, depth: usize) {
    use serde_json::Value;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => write_bool(out, *b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_u64(out, u);
            } else if let Some(i) = n.as_i64() {
                write_i64(out, i);
            } else {
                write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(_) | Value::Object(_) if depth >= MAX_METADATA_DEPTH => write_str(out, TOO_DEEP),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value_at(out, item, depth + 1);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value_at(out, item, depth + 1);
            }
            out.push(b'}');
        }
    }
}

pub(crate) use crate::xray::annotation::{MAX_METADATA_DEPTH, TOO_DEEP};

/// Rust nesting levels (arrays and objects, plus `Some` and newtype wrappers, which add
/// no JSON level) a metadata value is followed through: bounds the recursion of
/// [`to_metadata_value`] even for a chain of wrappers.
const MAX_NESTING: usize = 2 * MAX_METADATA_DEPTH;

/// The JSON string written for a float that is not finite (the log layer's policy).
fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// `value` as metadata JSON: what `serde_json::to_value` gives, except that NaN and
/// infinities become the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (instead of
/// `null`), and an array or object nested deeper than [`MAX_METADATA_DEPTH`] becomes
/// [`TOO_DEEP`] without being visited (the recursion is bounded for any input).
pub(crate) fn to_metadata_value<T: serde::Serialize + ?Sized>(
    value: &T,
) -> Result<serde_json::Value, serde_json::Error> {
    value.serialize(Limit { inner: serde_json::value::Serializer, level: Level { depth: 0, nest: 0 } })
}

/// Limits a JSON value given as it is to [`MAX_METADATA_DEPTH`] in place: deeper arrays
/// and objects become [`TOO_DEEP`] (taken apart without recursion). Recursion is bounded
/// by the limit.
pub(crate) fn limit_depth(v: &mut serde_json::Value) {
    limit_depth_at(v, 0);
}

fn limit_depth_at(v: &mut serde_json::Value, depth: usize) {
    use serde_json::Value;
    match v {
        Value::Array(_) | Value::Object(_) if depth >= MAX_METADATA_DEPTH => {
            let deep = std::mem::replace(v, Value::String(TOO_DEEP.to_owned()));
            drop_flat(deep);
        }
        Value::Array(items) => items.iter_mut().for_each(|item| limit_depth_at(item, depth + 1)),
        Value::Object(map) => map.values_mut().for_each(|item| limit_depth_at(item, depth + 1)),
        _ => {}
    }
}

/// Drops a value of any depth without recursion (each container is emptied before it is
/// dropped).
pub(crate) fn drop_flat(v: serde_json::Value) {
    use serde_json::Value;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Nesting of the value being serialized: JSON levels (`depth`) and Rust levels (`nest`).
#[derive(Debug, Clone, Copy)]
struct Level {
    depth: usize,
    nest: usize,
}

impl Level {
    /// The level of a value inside an array or object of this level.
    fn inside(self) -> Level {
        Level { depth: self.depth + 1, nest: self.nest + 1 }
    }
    /// The level of a value inside a wrapper (`Some`, newtype) of this level, if allowed.
    fn wrapped(self) -> Option<Level> {
        (self.nest < MAX_NESTING).then_some(Level { depth: self.depth, nest: self.nest + 1 })
    }
    /// Whether an array or object may start at this level.
    fn allows_container(self) -> bool {
        self.depth < MAX_METADATA_DEPTH && self.nest < MAX_NESTING
    }
}

/// A value serialized through [`Limit`] at a level.
struct Limited<'a, T: ?Sized> {
    value: &'a T,
    level: Level,
}

impl<T: serde::Serialize + ?Sized> serde::Serialize for Limited<'_, T> {
    #[inline]
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Limit { inner: s, level: self.level })
    }
}

/// A serializer that forwards to `inner`, writing non-finite floats as strings and
/// replacing containers nested too deep by [`TOO_DEEP`].
struct Limit<S> {
    inner: S,
    level: Level,
}

/// An array or object being serialized: forwarded, or (too deep) skipped and written as
/// [`TOO_DEEP`] at the end.
enum Compound<C, S> {
    Forward(C, Level),
    Skip(S),
}

macro_rules! forward {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
            self.inner.$method(v)
        }
    )*};
}

impl<S: serde::Serializer> Limit<S> {
    /// Starts an array or object with `open`, or skips it when too deep.
    #[inline]
    fn open<C>(self, open: impl FnOnce(S) -> Result<C, S::Error>) -> Result<Compound<C, S>, S::Error> {
        if self.level.allows_container() {
            let level = self.level.inside();
            Ok(Compound::Forward(open(self.inner)?, level))
        } else {
            Ok(Compound::Skip(self.inner))
        }
    }
}

impl<S: serde::Serializer> serde::Serializer for Limit<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq, S>;
    type SerializeTuple = Compound<S::SerializeTuple, S>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct, S>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant, S>;
    type SerializeMap = Compound<S::SerializeMap, S>;
    type SerializeStruct = Compound<S::SerializeStruct, S>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant, S>;

    forward! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_i128(i128); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
        serialize_u128(u128); serialize_char(char); serialize_str(&str); serialize_bytes(&[u8]);
        serialize_unit_struct(&'static str);
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() { self.inner.serialize_f32(v) } else { self.inner.serialize_str(non_finite(f64::from(v))) }
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() { self.inner.serialize_f64(v) } else { self.inner.serialize_str(non_finite(v)) }
    }
    #[inline]
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }
    #[inline]
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        match self.level.wrapped() {
            Some(level) => self.inner.serialize_some(&Limited { value, level }),
            None => self.inner.serialize_str(TOO_DEEP),
        }
    }
    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        match self.level.wrapped() {
            Some(level) => self.inner.serialize_newtype_struct(name, &Limited { value, level }),
            None => self.inner.serialize_str(TOO_DEEP),
        }
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        // `{"variant":value}`: an object.
        if self.level.allows_container() {
            let level = self.level.inside();
            self.inner.serialize_newtype_variant(name, index, variant, &Limited { value, level })
        } else {
            self.inner.serialize_str(TOO_DEEP)
        }
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.open(|s: S| s.serialize_seq(len))
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.open(|s: S| s.serialize_tuple(len))
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.open(|s: S| s.serialize_tuple_struct(name, len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.open(|s: S| s.serialize_tuple_variant(name, index, variant, len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.open(|s: S| s.serialize_map(len))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        self.open(|s: S| s.serialize_struct(name, len))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.open(|s: S| s.serialize_struct_variant(name, index, variant, len))
    }
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl<S: serde::Serializer> serde::ser::$trait for Compound<S::$trait, S> {
            type Ok = S::Ok;
            type Error = S::Error;
            #[inline]
            fn $method<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
                match self {
                    Compound::Forward(c, level) => c.$method(&Limited { value, level: *level }),
                    Compound::Skip(_) => Ok(()),
                }
            }
            fn end(self) -> Result<S::Ok, S::Error> {
                self.finish(|c| c.end())
            }
        }
    };
    ($trait:ident, $method:ident, keyed) => {
        impl<S: serde::Serializer> serde::ser::$trait for Compound<S::$trait, S> {
            type Ok = S::Ok;
            type Error = S::Error;
            #[inline]
            fn $method<T: serde::Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), S::Error> {
                match self {
                    Compound::Forward(c, level) => c.$method(key, &Limited { value, level: *level }),
                    Compound::Skip(_) => Ok(()),
                }
            }
            fn end(self) -> Result<S::Ok, S::Error> {
                self.finish(|c| c.end())
            }
        }
    };
}

impl<C, S: serde::Serializer> Compound<C, S> {
    /// Ends the container with `end`, or writes [`TOO_DEEP`] in its place.
    #[inline]
    fn finish(self, end: impl FnOnce(C) -> Result<S::Ok, S::Error>) -> Result<S::Ok, S::Error> {
        match self {
            Compound::Forward(c, _) => end(c),
            Compound::Skip(s) => s.serialize_str(TOO_DEEP),
        }
    }
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, keyed);
compound!(SerializeStructVariant, serialize_field, keyed);

impl<S: serde::Serializer> serde::ser::SerializeMap for Compound<S::SerializeMap, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    #[inline]
    fn serialize_key<T: serde::Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        match self {
            // Keys are written as strings: no nesting, floats as the strings above.
            Compound::Forward(c, level) => c.serialize_key(&Limited { value: key, level: *level }),
            Compound::Skip(_) => Ok(()),
        }
    }
    #[inline]
    fn serialize_value<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        match self {
            Compound::Forward(c, level) => c.serialize_value(&Limited { value, level: *level }),
            Compound::Skip(_) => Ok(()),
        }
    }
    #[inline]
    fn serialize_entry<K: serde::Serialize + ?Sized, V: serde::Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), S::Error> {
        match self {
            Compound::Forward(c, level) => {
                c.serialize_entry(&Limited { value: key, level: *level }, &Limited { value, level: *level })
            }
            Compound::Skip(_) => Ok(()),
        }
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.finish(|c| c.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(v: &impl serde::Serialize) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn strings_escape_as_serde_json() {
        let mut all = String::new();
        for c in (0u8..=0x7f).map(char::from) {
            all.push(c);
        }
        all.push_str("é東\u{2028}\u{fffd}");
        let mut cases = vec![String::new(), "plain".into(), "a\"b\\c".into(), "\u{7f}".into(), all.clone()];
        // Every special byte at every position of a word, among plain and non-ASCII bytes.
        for special in ['\u{0}', '\u{1f}', '"', '\\', '\n'] {
            for pos in 0..17 {
                let mut chars: Vec<char> = "ab\u{e9}cdefghijklmn".chars().collect();
                chars.insert(pos.min(chars.len()), special);
                cases.push(chars.into_iter().collect());
            }
        }
        for s in [" !#[]~\u{7f}\u{80}", "\u{ff}\u{fe}", "0123456789abcdef\u{20}"] {
            cases.push(s.into());
        }
        for s in &cases {
            let s = s.as_str();
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde(&s), "{s:?}");
        }
    }

    #[test]
    fn values_write_as_serde_json() {
        let v = serde_json::json!({
            "z": [1, -2, 3.5, 1e300, -0.0, u64::MAX, i64::MIN, null, true, false],
            "a": {"nested": "x\ny", "empty": {}, "list": []},
            "f": 0.1, "big": 12345678901234567890u64,
        });
        let mut out = Vec::new();
        write_value(&mut out, &v);
        assert_eq!(out, serde(&v));
        for f in [0.0, 1.0, -1.5, 1e-7, 123456.789, f64::MAX, f64::MIN_POSITIVE] {
            let mut out = Vec::new();
            write_f64(&mut out, f);
            assert_eq!(out, serde(&f), "{f}");
        }
        let mut out = Vec::new();
        write_f64(&mut out, f64::NAN);
        assert_eq!(out, serde(&f64::NAN));
    }

    fn check_seconds(micros: u64) {
        let mut hand = Vec::new();
        write_seconds(&mut hand, micros);
        let reference = serde(&seconds(micros));
        assert_eq!(hand, reference, "{micros}");
    }

    #[test]
    fn start_and_end_write_as_two_serde_numbers() {
        let cases = [
            (1_700_000_000_000_000, 1_700_000_000_000_000),
            (1_700_000_000_123_456, 1_700_000_000_999_999),
            (1_700_000_000_100_000, 1_700_000_001_000_001),
            (5, 7),
            (1_700_000_000_000_001, u64::MAX),
            ((1 << 32) * 1_000_000 - 1, (1 << 32) * 1_000_000),
        ];
        // In one second, every length of each fraction (trailing zeros are dropped).
        let fractions = [0, 100_000, 120_000, 123_000, 123_400, 123_450, 123_456, 999_999, 1];
        let same_second = fractions.iter().flat_map(|&a| {
            fractions.iter().map(move |&b| (1_700_000_000_000_000 + a.min(b), 1_700_000_000_000_000 + a.max(b)))
        });
        for (start, end) in cases.into_iter().chain(same_second) {
            // After other bytes, as in a document.
            let mut hand = b"x".to_vec();
            write_start_end(&mut hand, start, end);
            let mut expected = b"x".to_vec();
            expected.extend_from_slice(&serde(&seconds(start)));
            expected.extend_from_slice(b",\"end_time\":");
            expected.extend_from_slice(&serde(&seconds(end)));
            assert_eq!(String::from_utf8(hand).unwrap(), String::from_utf8(expected).unwrap());
        }
    }

    #[test]
    fn hand_formatted_seconds_equal_serde_json_for_every_microsecond_of_both_binades() {
        // Within a binade the spacing of doubles is fixed and whole seconds are exact, so
        // the pattern of the fractional part is the same for every second: checking every
        // microsecond of one second per binade covers the whole fast range.
        for secs in [FAST_SECONDS.start, 1_700_000_000, (1 << 31) - 1, 1 << 31, FAST_SECONDS.end - 1] {
            let step = if secs == 1_700_000_000 || secs == 1 << 31 { 1 } else { 997 };
            let mut frac = 0;
            while frac < 1_000_000 {
                check_seconds(secs * 1_000_000 + frac);
                frac += step;
            }
            check_seconds(secs * 1_000_000 + 999_999);
        }
        for micros in [0, 1, 5, 1_000_000, 1_100_000, 2_000_000, 123_456_789, u64::MAX, (1 << 32) * 1_000_000 + 1] {
            check_seconds(micros);
        }
    }

    #[test]
    fn metadata_values_limit_depth_and_write_non_finite_floats_as_strings() {
        #[derive(serde::Serialize)]
        struct Wrap(Option<Box<Wrap>>);
        let run = || {
            let v = serde_json::json!({"a": [1.5, {"b": null}], "s": "x"});
            assert_eq!(to_metadata_value(&v).unwrap(), v);
            let floats = to_metadata_value(&(f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f32::NAN, 2.5)).unwrap();
            assert_eq!(floats, serde_json::json!(["NaN", "Infinity", "-Infinity", "NaN", 2.5]));
            // A chain of wrappers adds no JSON level but is not followed past the limit.
            let mut chain = Wrap(None);
            for _ in 0..10_000 {
                chain = Wrap(Some(Box::new(chain)));
            }
            assert_eq!(to_metadata_value(&chain).unwrap(), TOO_DEEP);
            while let Some(next) = chain.0.take() {
                chain = *next;
            }
            // Exactly at the limit: kept, and written as serde_json writes it.
            let mut deep = serde_json::json!(1);
            for _ in 0..MAX_METADATA_DEPTH {
                deep = serde_json::Value::Array(vec![deep]);
            }
            assert_eq!(to_metadata_value(&deep).unwrap(), deep);
            let mut out = Vec::new();
            write_value(&mut out, &deep);
            assert_eq!(out, serde(&deep));
            let mut limited = deep.clone();
            limit_depth(&mut limited);
            assert_eq!(limited, deep);
            // One level more: the innermost array is replaced.
            let deeper = serde_json::Value::Array(vec![deep]);
            let mut expected = serde_json::json!(TOO_DEEP);
            for _ in 0..MAX_METADATA_DEPTH {
                expected = serde_json::Value::Array(vec![expected]);
            }
            assert_eq!(to_metadata_value(&deeper).unwrap(), expected);
            let mut out = Vec::new();
            write_value(&mut out, &deeper);
            assert_eq!(out, serde(&expected));
        };
        std::thread::Builder::new().stack_size(2 << 20).spawn(run).unwrap().join().unwrap();
    }
}
