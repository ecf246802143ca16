//! Annotation and metadata rules (X-20 to X-23).
//!
//! **Key policy: reject.** A key must match `^[A-Za-z0-9_]{1,500}$`. A key such as
//! `user-id` is refused with [`AnnotationError::InvalidKey`] at the call site and nothing
//! is written: a rewritten key would silently break the filter expressions that use the
//! original spelling, and an invalid key would make X-Ray reject the whole document.
//!
//! Values are strings, numbers or booleans. A string longer than 1000 characters is cut
//! to its first 1000 characters (documented truncation, not an error). A number that is
//! not finite is refused (JSON has no NaN or infinity).
//!
//! Metadata lives under namespaces; the default one is `default`. A namespace starting
//! with `AWS.` (any letter case) is reserved and refused, as is an empty one. Metadata
//! values are any JSON: a NaN or infinite float is written as the string `"NaN"`,
//! `"Infinity"` or `"-Infinity"` (the log layer's policy), and an array or object nested
//! deeper than [`MAX_METADATA_DEPTH`] levels is replaced by the string [`TOO_DEEP`].
//!
//! Secrets are redacted from annotations and metadata as they are stored: see
//! [`crate::xray::redact`].
//!
//! ```
//! use streamer_obs::xray::annotation::{AnnotationError, AnnotationValue, check_key};
//! assert!(check_key("connection_id").is_ok());
//! assert_eq!(check_key("user-id"), Err(AnnotationError::InvalidKey("user-id".into())));
//! let v = AnnotationValue::from("x".repeat(1200));
//! assert_eq!(v, AnnotationValue::String("x".repeat(1000).into()));
//! assert!(AnnotationValue::number(f64::NAN).is_err());
//! ```

use std::fmt;

use serde::{Serialize, Serializer};

/// The longest annotation key, in characters.
pub const MAX_KEY_CHARS: usize = 500;
/// The longest annotation string value, in characters; longer values are cut.
pub const MAX_STRING_VALUE_CHARS: usize = 1000;
/// How many annotations X-Ray indexes per trace; more are stored but not indexed.
pub const INDEXED_ANNOTATIONS_PER_TRACE: usize = 50;
/// The metadata namespace used when none is given.
pub const DEFAULT_METADATA_NAMESPACE: &str = "default";
/// How many levels of arrays and objects a metadata value may have: an array or object
/// nested deeper is replaced by [`TOO_DEEP`]. `Option` and newtype wrappers add no JSON
/// level but count towards a limit of twice this many Rust levels, so recording a value
/// never recurses deeper than that, whatever the input.
///
/// ```
/// use streamer_obs::xray::annotation::{MAX_METADATA_DEPTH, TOO_DEEP};
/// assert_eq!((MAX_METADATA_DEPTH, TOO_DEEP), (64, "[too deep]"));
/// ```
pub const MAX_METADATA_DEPTH: usize = 64;
/// What an array or object nested deeper than [`MAX_METADATA_DEPTH`] is replaced by.
pub const TOO_DEEP: &str = "[too deep]";

/// Why an annotation or metadata entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotationError {
    /// The key does not match `^[A-Za-z0-9_]{1,500}$`.
    #[error("annotation key {0:?} is not 1 to 500 of A-Z a-z 0-9 _")]
    InvalidKey(String),
    /// The number is NaN or infinite.
    #[error("annotation value is not a finite number")]
    NonFiniteNumber,
    /// The metadata namespace is empty, starts with the reserved `AWS.` prefix, or is the
    /// SDK's own `streamer_obs` (where it notes what the size guard trimmed).
    #[error("metadata namespace {0:?} is empty or reserved (AWS., streamer_obs)")]
    ReservedNamespace(String),
    /// The metadata value could not be serialised to JSON.
    #[error("metadata value is not serialisable: {0}")]
    Unserializable(String),
    /// There is no subsegment to write to (no invocation, or tracing is off for it).
    #[error("no open subsegment")]
    NoSubsegment,
}

/// Checks an annotation key.
///
/// ```
/// use streamer_obs::xray::annotation::check_key;
/// assert!(check_key("tenant_id").is_ok());
/// assert!(check_key("").is_err() && check_key("a b").is_err() && check_key(&"k".repeat(501)).is_err());
/// ```
pub fn check_key(key: &str) -> Result<(), AnnotationError> {
    if is_valid_key(key.as_bytes()) { Ok(()) } else { Err(invalid_key(key)) }
}

#[cold]
fn invalid_key(key: &str) -> AnnotationError {
    AnnotationError::InvalidKey(key.chars().take(64).collect())
}

/// Per byte: whether it may appear in an annotation key (`A-Z a-z 0-9 _`).
static KEY_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric() || c == b'_';
        i += 1;
    }
    t
};

/// Whether `key` matches `^[A-Za-z0-9_]{1,500}$` (one table load per byte). A valid key
/// has nothing to escape in JSON.
#[inline]
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    if key.is_empty() || key.len() > MAX_KEY_CHARS {
        return false;
    }
    if key.len() < 8 {
        return key.iter().all(|&b| KEY_BYTE[usize::from(b)]);
    }
    crate::ascii_words::all_words(key, word_is_key)
}

/// [`is_valid_key`] for a `&'static str` key (a key written in the code, as in
/// `annotations(...)`): the answer is remembered by the key's address and length, so
/// each key is checked once per process, not once per call.
#[inline]
pub(crate) fn is_valid_static_key(key: &'static str) -> bool {
    static STATIC_KEYS: crate::static_memo::StaticStrMemo = crate::static_memo::StaticStrMemo::new();
    STATIC_KEYS.get_or(key, |k| is_valid_key(k.as_bytes()))
}

/// Whether the 8 bytes of `x` are all `A-Z a-z 0-9 _`.
#[inline(always)]
fn word_is_key(x: u64) -> bool {
    use crate::ascii_words::{HIGH, bytes_in, letters_in};
    x & HIGH == 0 && bytes_in(x, b'0', b'9') | letters_in(x, b'a', b'z') | bytes_in(x, b'_', b'_') == HIGH
}

/// Checks a metadata namespace: not empty, not `AWS.…` (reserved by X-Ray), not
/// `streamer_obs` (the SDK's notes of what its size guard trimmed: a caller's entries
/// there would be overwritten, or could forge a note).
///
/// ```
/// use streamer_obs::xray::annotation::check_namespace;
/// assert!(check_namespace("default").is_ok());
/// assert!(check_namespace("AWS.Lambda").is_err() && check_namespace("aws.x").is_err());
/// assert!(check_namespace("streamer_obs").is_err() && check_namespace("streamer_obs_app").is_ok());
/// ```
pub fn check_namespace(namespace: &str) -> Result<(), AnnotationError> {
    let reserved = (namespace.len() >= 4 && namespace.as_bytes()[..4].eq_ignore_ascii_case(b"aws."))
        || namespace == crate::xray::encode::TRUNCATION_NAMESPACE;
    if namespace.is_empty() || reserved {
        Err(AnnotationError::ReservedNamespace(namespace.chars().take(64).collect()))
    } else {
        Ok(())
    }
}

/// An annotation value: string (at most 1000 characters), number or boolean.
///
/// ```
/// use streamer_obs::xray::annotation::AnnotationValue;
/// assert_eq!(AnnotationValue::from(true), AnnotationValue::Bool(true));
/// assert_eq!(AnnotationValue::from(3_u32), AnnotationValue::Int(3));
/// assert_eq!(AnnotationValue::number(1.5).unwrap(), AnnotationValue::Float(1.5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationValue {
    /// A string of at most 1000 characters.
    String(AnnotationString),
    /// An integer.
    Int(i64),
    /// A finite floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

/// The text of a string annotation: kept inline up to 22 bytes (ids, tenant and service
/// names), so recording one does not allocate.
///
/// ```
/// use streamer_obs::xray::annotation::{AnnotationString, AnnotationValue};
/// let v = AnnotationValue::from("acme");
/// assert_eq!(v, AnnotationValue::String(AnnotationString::from("acme")));
/// assert_eq!(AnnotationString::from("acme").as_str(), "acme");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnnotationString(super::small_str::SmallStr);

impl AnnotationString {
    /// The length in bytes (no UTF-8 check).
    ///
    /// ```
    /// # use streamer_obs::xray::annotation::AnnotationString;
    /// assert_eq!(AnnotationString::from("é").len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.0.as_bytes().len()
    }

    /// Whether the text is empty.
    ///
    /// ```
    /// # use streamer_obs::xray::annotation::AnnotationString;
    /// assert!(AnnotationString::from("").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.as_bytes().is_empty()
    }

    /// The text.
    ///
    /// ```
    /// # use streamer_obs::xray::annotation::AnnotationString;
    /// assert_eq!(AnnotationString::from(String::from("t-1")).as_str(), "t-1");
    /// ```
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for AnnotationString {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for AnnotationString {
    fn from(s: &str) -> Self {
        AnnotationString(super::small_str::SmallStr::new(s))
    }
}

impl From<String> for AnnotationString {
    fn from(s: String) -> Self {
        AnnotationString(super::small_str::SmallStr::from(s))
    }
}

impl fmt::Debug for AnnotationString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for AnnotationString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for AnnotationString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for AnnotationString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl AnnotationValue {
    /// A floating-point value; refused when not finite.
    ///
    /// ```
    /// # use streamer_obs::xray::annotation::AnnotationValue;
    /// assert!(AnnotationValue::number(0.5).is_ok());
    /// assert!(AnnotationValue::number(f64::INFINITY).is_err());
    /// ```
    pub fn number(v: f64) -> Result<Self, AnnotationError> {
        if v.is_finite() { Ok(AnnotationValue::Float(v)) } else { Err(AnnotationError::NonFiniteNumber) }
    }

    fn string(s: String) -> Self {
        AnnotationValue::String(AnnotationString::from(cut_value(s)))
    }

    /// A short string without an intermediate `String` (at most 1000 bytes is at most 1000
    /// characters: nothing to cut).
    fn str(s: &str) -> Self {
        if s.len() <= MAX_STRING_VALUE_CHARS {
            AnnotationValue::String(AnnotationString::from(s))
        } else {
            AnnotationValue::string(s.to_owned())
        }
    }

    /// The value as it is stored: a string longer than 1000 characters cut to its first
    /// 1000 (documented truncation); a NaN or infinite number refused.
    #[inline]
    pub(crate) fn checked(self) -> Result<Self, AnnotationError> {
        match self {
            AnnotationValue::Float(f) if !f.is_finite() => Err(AnnotationError::NonFiniteNumber),
            AnnotationValue::String(s) if s.len() > MAX_STRING_VALUE_CHARS => Ok(Self::cut_long(s)),
            v => Ok(v),
        }
    }

    #[cold]
    fn cut_long(s: AnnotationString) -> Self {
        if s.as_str().chars().count() <= MAX_STRING_VALUE_CHARS {
            return AnnotationValue::String(s);
        }
        AnnotationValue::string(s.as_str().to_owned())
    }
}

/// A string value cut to [`MAX_STRING_VALUE_CHARS`] characters. A longer one is scrubbed
/// of JWTs and credentials first ([`crate::xray::redact`]): a cut through a token would
/// leave a piece that is no longer recognised as one.
pub(crate) fn cut_value(mut s: String) -> String {
    if s.len() <= MAX_STRING_VALUE_CHARS || s.chars().count() <= MAX_STRING_VALUE_CHARS {
        return s;
    }
    if let Some(scrubbed) = crate::xray::redact::scrub(&s) {
        s = scrubbed;
    }
    if let Some((idx, _)) = s.char_indices().nth(MAX_STRING_VALUE_CHARS) {
        s.truncate(idx);
    }
    s
}

impl From<crate::__private::AnnotationArg<'_>> for AnnotationValue {
    fn from(arg: crate::__private::AnnotationArg<'_>) -> Self {
        use crate::__private::AnnotationArg;
        match arg {
            AnnotationArg::Str(s) => AnnotationValue::str(s),
            AnnotationArg::String(s) => AnnotationValue::string(s),
            AnnotationArg::Int(i) => AnnotationValue::from(i),
            AnnotationArg::Bool(b) => AnnotationValue::from(b),
            AnnotationArg::Float(f) => AnnotationValue::from(f),
        }
    }
}

impl AnnotationValue {
    /// The text of a string value.
    #[inline]
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            AnnotationValue::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Makes this value `arg`, one that [`crate::__private::AnnotationArg::is_stored_as_is`]:
    /// a borrowed string is copied straight into place (see `SmallStr::assign`).
    #[inline]
    pub(crate) fn assign_arg(&mut self, arg: crate::__private::AnnotationArg<'_>) {
        use crate::__private::AnnotationArg;
        match arg {
            AnnotationArg::Str(s) => match self {
                AnnotationValue::String(AnnotationString(slot)) => slot.assign(s),
                _ => {
                    *self = AnnotationValue::String(AnnotationString(super::small_str::SmallStr::EMPTY));
                    if let AnnotationValue::String(AnnotationString(slot)) = self {
                        slot.assign(s);
                    }
                }
            },
            AnnotationArg::String(s) => *self = AnnotationValue::String(AnnotationString::from(s)),
            AnnotationArg::Int(i) => *self = AnnotationValue::Int(i),
            AnnotationArg::Float(f) => *self = AnnotationValue::Float(f),
            AnnotationArg::Bool(b) => *self = AnnotationValue::Bool(b),
        }
    }
}

impl From<&str> for AnnotationValue {
    fn from(v: &str) -> Self {
        AnnotationValue::str(v)
    }
}
impl From<String> for AnnotationValue {
    fn from(v: String) -> Self {
        AnnotationValue::string(v)
    }
}
impl From<&String> for AnnotationValue {
    fn from(v: &String) -> Self {
        AnnotationValue::str(v)
    }
}
impl From<bool> for AnnotationValue {
    fn from(v: bool) -> Self {
        AnnotationValue::Bool(v)
    }
}
macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for AnnotationValue {
            fn from(v: $t) -> Self {
                AnnotationValue::Int(i64::from(v))
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for AnnotationValue {
    fn from(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(i) => AnnotationValue::Int(i),
            Err(_) => AnnotationValue::Float(v as f64),
        }
    }
}
/// A float; a NaN or infinite value is refused when the annotation is set.
impl From<f64> for AnnotationValue {
    fn from(v: f64) -> Self {
        AnnotationValue::Float(v)
    }
}
impl From<f32> for AnnotationValue {
    fn from(v: f32) -> Self {
        AnnotationValue::Float(f64::from(v))
    }
}

impl From<usize> for AnnotationValue {
    fn from(v: usize) -> Self {
        AnnotationValue::from(v as u64)
    }
}

impl AnnotationValue {
    /// For a boolean, or a short string with nothing to escape: writes the JSON form at
    /// the start of `block` and returns its length; `None` otherwise (nothing written).
    #[inline]
    pub(crate) fn json_into(&self, block: &mut [u8; super::small_str::INLINE + 2]) -> Option<usize> {
        match self {
            AnnotationValue::String(v) => v.0.quoted_into(block),
            AnnotationValue::Bool(true) => {
                block[..4].copy_from_slice(b"true");
                Some(4)
            }
            AnnotationValue::Bool(false) => {
                block[..5].copy_from_slice(b"false");
                Some(5)
            }
            _ => None,
        }
    }

    /// Appends the JSON form (as [`Serialize`] writes it with `serde_json`).
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        use crate::xray::json;
        match self {
            AnnotationValue::String(v) => v.0.write_json(out),
            AnnotationValue::Int(v) => json::write_i64(out, *v),
            AnnotationValue::Float(v) if v.is_finite() => json::write_f64(out, *v),
            AnnotationValue::Float(_) => out.push(b'0'),
            AnnotationValue::Bool(v) => json::write_bool(out, *v),
        }
    }
}

impl Serialize for AnnotationValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnnotationValue::String(v) => s.serialize_str(v),
            AnnotationValue::Int(v) => s.serialize_i64(*v),
            AnnotationValue::Float(v) if v.is_finite() => s.serialize_f64(*v),
            // Unreachable through the public constructors; written as 0 so JSON stays valid.
            AnnotationValue::Float(_) => s.serialize_i64(0),
            AnnotationValue::Bool(v) => s.serialize_bool(*v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_schema_pattern() {
        for ok in ["a", "A_9", "connection_id", &"k".repeat(500)] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "user-id", "a.b", "a b", "é", "a\n", &"k".repeat(501)] {
            assert!(matches!(check_key(bad), Err(AnnotationError::InvalidKey(_))), "{bad}");
        }
    }

    #[test]
    fn word_key_check_matches_the_byte_rule_for_every_byte_at_every_position() {
        crate::cross_checks::every_byte_at_every_position(
            b"connection_ID_0123456789z",
            &[1, 7, 8, 9, 13, 16, 23],
            is_valid_key,
            |c| c.is_ascii_alphanumeric() || c == b'_',
        );
    }

    #[test]
    fn static_keys_are_answered_as_the_check_does_every_time() {
        let keys: Vec<&'static str> = ["connection_id", "tenant_id", "user-id", "", "a b", "é", "k"]
            .into_iter()
            .chain(
                (0..200).map(|i| &*Box::leak(format!("key{i}{}", if i % 3 == 0 { "-" } else { "_" }).into_boxed_str())),
            )
            .chain([&*Box::leak("k".repeat(501).into_boxed_str())])
            .collect();
        for _ in 0..3 {
            for &k in &keys {
                assert_eq!(is_valid_static_key(k), is_valid_key(k.as_bytes()), "{k}");
            }
        }
    }

    #[test]
    fn long_strings_are_cut_at_1000_characters() {
        let v = AnnotationValue::from("é".repeat(1001));
        match &v {
            AnnotationValue::String(s) => assert_eq!(s.chars().count(), 1000),
            other => panic!("{other:?}"),
        }
        assert_eq!(v.clone().checked(), Ok(v.clone()));
        assert_eq!(AnnotationValue::from("short"), AnnotationValue::String("short".into()));
        assert_eq!(AnnotationValue::from("x".repeat(1000)), AnnotationValue::from(&"x".repeat(1000)));
    }

    #[test]
    fn numbers_and_bools() {
        assert!(AnnotationValue::number(f64::INFINITY).is_err());
        assert_eq!(serde_json::to_string(&AnnotationValue::from(u64::MAX)).unwrap(), "1.8446744073709552e+19");
        assert_eq!(serde_json::to_string(&AnnotationValue::from(-3_i32)).unwrap(), "-3");
        assert_eq!(serde_json::to_string(&AnnotationValue::from(false)).unwrap(), "false");
    }

    #[test]
    fn namespaces() {
        assert!(check_namespace("default").is_ok());
        assert!(check_namespace("streamer").is_ok());
        assert!(check_namespace("").is_err());
        assert!(check_namespace("AWS.").is_err());
        assert!(check_namespace("Aws.Foo").is_err());
        assert!(check_namespace("AWSX").is_ok());
    }
}
