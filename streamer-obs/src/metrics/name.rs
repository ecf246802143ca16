//! Validated names: [`Namespace`], [`MetricName`], [`DimensionName`] (rules E-15 to
//! E-18, using the values marked **USE** in the rules).
//!
//! Every constructor returns a typed [`MetricsError`]; the `dimension_name!` macro checks
//! a literal at compile time.

use std::borrow::Cow;
use std::fmt;

use super::error::MetricsError;

/// Equality of two names: the same text. Names from the same constant share their
/// `&'static str`, so equal pointers answer first without comparing bytes.
#[inline]
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a.as_bytes() == b.as_bytes())
}

/// `PartialEq` by [`same_text`] and the matching `Hash` (that of the text, as derived).
macro_rules! same_text_eq {
    ($ty:ty) => {
        impl PartialEq for $ty {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                $crate::metrics::name::same_text(&self.0, &other.0)
            }
        }

        impl std::hash::Hash for $ty {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }
    };
}
pub(crate) use same_text_eq;

/// Maximum namespace length (E-15, API limit).
///
/// ```
/// assert_eq!(streamer_obs::metrics::name::MAX_NAMESPACE_LEN, 255);
/// ```
pub const MAX_NAMESPACE_LEN: usize = 255;
/// Maximum metric name length (E-18, API limit).
///
/// ```
/// assert_eq!(streamer_obs::metrics::name::MAX_METRIC_NAME_LEN, 255);
/// ```
pub const MAX_METRIC_NAME_LEN: usize = 255;
/// Maximum dimension name length (E-16: the EMF schema's 250).
///
/// ```
/// assert_eq!(streamer_obs::metrics::name::MAX_DIMENSION_NAME_LEN, 250);
/// ```
pub const MAX_DIMENSION_NAME_LEN: usize = 250;
/// Maximum dimension value length (E-17).
///
/// ```
/// assert_eq!(streamer_obs::metrics::name::MAX_DIMENSION_VALUE_LEN, 1024);
/// ```
pub const MAX_DIMENSION_VALUE_LEN: usize = 1024;

/// A CloudWatch namespace (E-15): 1 to 255 of `A-Z a-z 0-9 . - _ / # :` and space, not
/// starting with `:` or `AWS/` (reserved), not blank.
///
/// ```
/// use streamer_obs::metrics::Namespace;
/// assert_eq!(Namespace::new("Streamer").unwrap().as_str(), "Streamer");
/// assert!(Namespace::new("AWS/Lambda").is_err());
/// assert!(Namespace::new("café").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(Cow<'static, str>);

impl Namespace {
    /// Validates `name`.
    ///
    /// ```
    /// assert!(streamer_obs::metrics::Namespace::new(":x").is_err());
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self, MetricsError> {
        let name = name.into();
        if crate::config::namespace_is_valid(&name) {
            Ok(Self(name))
        } else {
            let reason = if name.starts_with("AWS/") {
                "the AWS/ prefix is reserved"
            } else {
                secret_error(&name).unwrap_or(
                    "expected 1 to 255 of A-Z a-z 0-9 . - _ / # : and space, not blank, not starting with ':'",
                )
            };
            Err(MetricsError::InvalidNamespace { name: name.into_owned(), reason })
        }
    }

    /// The namespace.
    ///
    /// ```
    /// # use streamer_obs::metrics::Namespace;
    /// assert_eq!(Namespace::new("A.b").unwrap().as_str(), "A.b");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The default namespace, `Streamer`.
    ///
    /// ```
    /// # use streamer_obs::metrics::Namespace;
    /// assert_eq!(Namespace::streamer().as_str(), "Streamer");
    /// ```
    pub fn streamer() -> Self {
        Self(Cow::Borrowed(crate::config::DEFAULT_NAMESPACE))
    }

    /// The namespace of AWS's own Lambda metrics (`AWS/Lambda`): only for alarms, a
    /// metric can never be recorded into it.
    pub(crate) fn aws_lambda() -> Self {
        Self(Cow::Borrowed("AWS/Lambda"))
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` holds a control character (C0, DEL, or C1 encoded as `0xC2 0x80..=0x9F`),
/// checked on bytes: the same answer as `chars().any(char::is_control)`, faster.
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter()
        .enumerate()
        .any(|(i, &c)| c < 0x20 || c == 0x7f || (c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n))))
}

/// `_aws`: the root member holding the EMF metadata; a metric or dimension of that name
/// would write it twice (rule E-2).
const fn is_aws_member(b: &[u8]) -> bool {
    b.len() == 4 && b[0] == b'_' && b[1] == b'a' && b[2] == b'w' && b[3] == b's'
}

/// Whether a byte of `x` lies outside `0x21..=0x7e` (not printable ASCII, or a space):
/// an exact yes/no answer, no carry crossing bytes.
#[inline(always)]
fn word_not_printable(x: u64) -> bool {
    use crate::ascii_words::{HIGH, ONES};
    let lo = x & !HIGH;
    // A byte's high bit: set when it is >= 0x80 (in `x`), when its low 7 bits are below
    // 0x21, when they are 0x7f.
    (x | !(lo | HIGH).wrapping_sub(ONES * 0x21) | lo.wrapping_add(ONES)) & HIGH != 0
}

/// Whether `b` (1 to 255 bytes) is all printable ASCII other than space, a word at a time
/// (the last word overlapping the previous one, a short name padded with `a`).
#[inline]
fn all_printable(b: &[u8]) -> bool {
    if b.len() < 8 {
        let mut w = [b'a'; 8];
        w[..b.len()].copy_from_slice(b);
        return !word_not_printable(u64::from_ne_bytes(w));
    }
    crate::ascii_words::all_words(b, |x| !word_not_printable(x))
}

#[inline]
fn metric_name_error(name: &str) -> Option<&'static str> {
    // The common case in one pass: 1 to 255 printable ASCII characters other than space
    // (so not blank, no control character, not too long).
    let b = name.as_bytes();
    if is_aws_member(b) {
        return Some("`_aws` is the EMF metadata member (rule E-2)");
    }
    if let [b'@', ..] = b {
        return Some(STARTS_WITH_AT);
    }
    if let Some(reason) = secret_error(name) {
        return Some(reason);
    }
    if !b.is_empty() && b.len() <= MAX_METRIC_NAME_LEN && all_printable(b) {
        return None;
    }
    if name.is_empty() || name.trim().is_empty() {
        Some("must hold a non-whitespace character")
    } else if name.len() > MAX_METRIC_NAME_LEN && name.chars().count() > MAX_METRIC_NAME_LEN {
        Some("longer than 255 characters")
    } else if has_control(name) {
        Some("contains a control character")
    } else {
        None
    }
}

/// A metric name (E-18): 1 to 255 characters, not blank, no control characters, not
/// starting with `@` (a member of the EMF line: Logs Insights would show it as `@@…`, Q-3).
/// A `&'static str` is kept borrowed (no allocation).
///
/// ```
/// use streamer_obs::metrics::MetricName;
/// assert_eq!(MetricName::new("ProcessingLatency").unwrap().as_str(), "ProcessingLatency");
/// assert!(MetricName::new("   ").is_err());
/// assert!(MetricName::new("x".repeat(256)).is_err());
/// assert!(MetricName::new("_aws").is_err());
/// assert!(MetricName::new("@Latency").is_err());
/// ```
#[derive(Debug, Clone, Eq, PartialOrd, Ord)]
pub struct MetricName(Cow<'static, str>);

same_text_eq!(MetricName);

impl MetricName {
    /// Validates `name`.
    ///
    /// ```
    /// assert!(streamer_obs::metrics::MetricName::new(String::from("Latency")).is_ok());
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self, MetricsError> {
        let name = name.into();
        match metric_name_error(&name) {
            None => Ok(Self(name)),
            Some(reason) => Err(MetricsError::InvalidMetricName { name: name.into_owned(), reason }),
        }
    }

    /// A crate constant known to be valid (the standard names are tested).
    pub(crate) const fn from_static(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// The name.
    ///
    /// ```
    /// # use streamer_obs::metrics::MetricName;
    /// assert_eq!(MetricName::new("A").unwrap().as_str(), "A");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Anything a recording function accepts as a metric name: a `&'static str` (kept
/// borrowed), a `String`, or an already validated [`MetricName`].
///
/// ```
/// use streamer_obs::metrics::{IntoMetricName, MetricName};
/// assert_eq!("A".into_metric_name().unwrap(), MetricName::new("A").unwrap());
/// assert!(String::new().into_metric_name().is_err());
/// ```
pub trait IntoMetricName {
    /// Validates into a [`MetricName`].
    ///
    /// ```
    /// use streamer_obs::metrics::IntoMetricName;
    /// assert_eq!("X".into_metric_name().unwrap().as_str(), "X");
    /// ```
    fn into_metric_name(self) -> Result<MetricName, MetricsError>;
}

/// A `&'static str` found valid once is not checked again: its address and length are
/// memoised in a small table of atomic slots (valid names only).
impl IntoMetricName for &'static str {
    #[inline]
    fn into_metric_name(self) -> Result<MetricName, MetricsError> {
        if static_name_is_valid(self) { Ok(MetricName(Cow::Borrowed(self))) } else { MetricName::new(self) }
    }
}

/// Validity of metric names written as `&'static str`, remembered by address.
static STATIC_NAMES: crate::static_memo::StaticStrMemo = crate::static_memo::StaticStrMemo::new();

/// Whether a `&'static str` metric name is valid (asked once per name).
#[inline]
fn static_name_is_valid(name: &'static str) -> bool {
    STATIC_NAMES.get_or(name, |name| metric_name_error(name).is_none())
}

impl IntoMetricName for String {
    fn into_metric_name(self) -> Result<MetricName, MetricsError> {
        MetricName::new(self)
    }
}

/// A borrowed `Cow` stays borrowed (no allocation).
///
/// ```
/// use std::borrow::Cow;
/// use streamer_obs::metrics::IntoMetricName;
/// assert_eq!(Cow::Borrowed("Latency").into_metric_name().unwrap().as_str(), "Latency");
/// ```
impl IntoMetricName for Cow<'static, str> {
    #[inline]
    fn into_metric_name(self) -> Result<MetricName, MetricsError> {
        match self {
            Cow::Borrowed(name) => name.into_metric_name(),
            owned => MetricName::new(owned),
        }
    }
}

impl IntoMetricName for MetricName {
    fn into_metric_name(self) -> Result<MetricName, MetricsError> {
        Ok(self)
    }
}

impl IntoMetricName for &MetricName {
    fn into_metric_name(self) -> Result<MetricName, MetricsError> {
        Ok(self.clone())
    }
}

/// Why a name or a value that looks like a JWT is refused: EMF lines are log lines, where
/// a JWT-shaped text is replaced by `[REDACTED]` (secrets never reach a log line), so the
/// namespace, metric or dimension would not be the one recorded (and two could merge).
const LOOKS_LIKE_A_JWT: &str = "looks like a JWT (it would be redacted in the EMF line)";

/// Why a name or a value holding a credential the log scrubber redacts (`Bearer …`,
/// `token=…`, `Authorization: …`, see `log::json::find_credential`) is refused, for the
/// same reason as [`LOOKS_LIKE_A_JWT`].
const LOOKS_LIKE_A_CREDENTIAL: &str = "holds a credential (it would be redacted in the EMF line)";

/// A JWT or a credential in `s` (the checks of names and values made at run time; the
/// `const` checks of literals look for JWTs only).
pub(crate) fn secret_error(s: &str) -> Option<&'static str> {
    if crate::log::contains_jwt(s) { Some(LOOKS_LIKE_A_JWT) } else { credential_error(s) }
}

/// A credential in `s`: what [`secret_error`] adds to the `const` checks, which look for
/// JWTs already.
pub(crate) fn credential_error(s: &str) -> Option<&'static str> {
    crate::log::json::find_credential(s.as_bytes(), 0).is_some().then_some(LOOKS_LIKE_A_CREDENTIAL)
}

/// Why a metric or dimension name starting with `@` is refused: it is a member of the EMF
/// line (a log event), and Logs Insights shows such a field as `@@…` (rule Q-3).
const STARTS_WITH_AT: &str = "must not start with '@' (Logs Insights would show it as `@@…`, rule Q-3)";

/// The rule E-16 check, usable in `const` context.
#[doc(hidden)]
pub const fn dimension_name_error(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Some("empty");
    }
    if is_aws_member(b) {
        return Some("`_aws` is the EMF metadata member (rule E-2)");
    }
    if b.len() > MAX_DIMENSION_NAME_LEN {
        return Some("longer than 250 characters");
    }
    if b[0] == b':' {
        return Some("must not start with ':'");
    }
    if b[0] == b'@' {
        return Some(STARTS_WITH_AT);
    }
    if crate::log::contains_jwt(name) {
        return Some(LOOKS_LIKE_A_JWT);
    }
    ascii_text_error(b)
}

/// What dimension names and values share (E-16, E-17): ASCII without control characters,
/// and not only whitespace.
const fn ascii_text_error(b: &[u8]) -> Option<&'static str> {
    let mut i = 0;
    let mut non_space = false;
    while i < b.len() {
        let c = b[i];
        if !c.is_ascii() || c.is_ascii_control() {
            return Some("must be ASCII without control characters");
        }
        if !c.is_ascii_whitespace() {
            non_space = true;
        }
        i += 1;
    }
    if !non_space {
        return Some("must hold a non-whitespace character");
    }
    None
}

/// The rule E-17 check, usable in `const` context.
#[doc(hidden)]
pub const fn dimension_value_error(value: &str) -> Option<&'static str> {
    let b = value.as_bytes();
    if b.is_empty() {
        return Some("empty");
    }
    if b.len() > MAX_DIMENSION_VALUE_LEN {
        return Some("longer than 1024 characters");
    }
    if crate::log::contains_jwt(value) {
        return Some(LOOKS_LIKE_A_JWT);
    }
    ascii_text_error(b)
}

/// A dimension name (E-16): ASCII, no control characters, 1 to 250 characters, not
/// blank, not starting with `:` or `@` (Q-3).
///
/// ```
/// use streamer_obs::metrics::DimensionName;
/// assert_eq!(DimensionName::new("TenantID").unwrap().as_str(), "TenantID");
/// assert!(DimensionName::new(":x").is_err());
/// assert!(DimensionName::new("@Route").is_err());
/// const ROUTE: DimensionName = streamer_obs::dimension_name!("Route");
/// assert_eq!(ROUTE.as_str(), "Route");
/// ```
#[derive(Debug, Clone, Eq, PartialOrd, Ord)]
pub struct DimensionName(Cow<'static, str>);

same_text_eq!(DimensionName);

impl DimensionName {
    /// Validates `name`.
    ///
    /// ```
    /// assert!(streamer_obs::metrics::DimensionName::new("TenantID").is_ok());
    /// assert!(streamer_obs::metrics::DimensionName::new("_aws").is_err());
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self, MetricsError> {
        let name = name.into();
        match dimension_name_error(&name).or_else(|| credential_error(&name)) {
            None => Ok(Self(name)),
            Some(reason) => Err(MetricsError::InvalidDimensionName { name: name.into_owned(), reason }),
        }
    }

    /// Used by [`dimension_name!`](crate::dimension_name), which evaluates it at compile
    /// time: an invalid literal fails the build.
    #[doc(hidden)]
    pub const fn __from_static_checked(name: &'static str) -> Self {
        if dimension_name_error(name).is_some() {
            panic!("invalid dimension name (rule E-16)");
        }
        Self(Cow::Borrowed(name))
    }

    /// The name.
    ///
    /// ```
    /// # use streamer_obs::metrics::DimensionName;
    /// assert_eq!(DimensionName::new("A").unwrap().as_str(), "A");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DimensionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A [`DimensionName`] from a string literal, checked at compile time.
///
/// ```
/// const ACTION: streamer_obs::metrics::DimensionName = streamer_obs::dimension_name!("Action");
/// assert_eq!(ACTION.as_str(), "Action");
/// ```
///
/// An invalid literal does not compile:
///
/// ```compile_fail
/// let bad = streamer_obs::dimension_name!(":Action");
/// ```
#[macro_export]
macro_rules! dimension_name {
    ($name:literal) => {
        const { $crate::metrics::DimensionName::__from_static_checked($name) }
    };
}

/// A [`DimensionValue`](crate::metrics::DimensionValue) from a string literal, checked
/// at compile time (a literal is a bounded, declared source).
///
/// ```
/// const CONNECT: streamer_obs::metrics::DimensionValue = streamer_obs::dimension_value!("connect");
/// assert_eq!(CONNECT.as_str(), "connect");
/// ```
///
/// An empty or non-ASCII literal does not compile:
///
/// ```compile_fail
/// let bad = streamer_obs::dimension_value!("");
/// ```
#[macro_export]
macro_rules! dimension_value {
    ($value:literal) => {
        const { $crate::metrics::DimensionValue::__from_static_checked($value) }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names and values become member names or string members of an EMF line, a log line
    /// where JWT-shaped text is redacted: refused, so that the line never carries
    /// `[REDACTED]` where a name was declared (two such metrics would merge into one key).
    #[test]
    fn jwt_shaped_names_and_values_are_refused() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig";
        for text in [jwt.to_owned(), "eyJa.b.c".to_owned(), format!("tenant-{jwt}")] {
            assert!(
                matches!(Namespace::new(text.clone()), Err(MetricsError::InvalidNamespace { reason, .. }) if reason == LOOKS_LIKE_A_JWT),
                "{text}"
            );
            assert!(matches!(MetricName::new(text.clone()), Err(MetricsError::InvalidMetricName { .. })), "{text}");
            assert!(
                matches!(DimensionName::new(text.clone()), Err(MetricsError::InvalidDimensionName { .. })),
                "{text}"
            );
            assert_eq!(dimension_value_error(&text), Some(LOOKS_LIKE_A_JWT), "{text}");
        }
        // The `&'static str` fast path checks it too.
        assert!("eyJx.y.z".into_metric_name().is_err());
        // Credentials the log scrubber redacts are refused the same way.
        for text in ["Bearer abc123XYZ", "x token=aaa", "api_token=abc1", "Authorization: x"] {
            assert!(MetricName::new(text.to_owned()).is_err(), "{text}");
            assert!(DimensionName::new(text.to_owned()).is_err(), "{text}");
            assert!(Namespace::new(text.to_owned()).is_err(), "{text}");
            assert_eq!(secret_error(text), Some(LOOKS_LIKE_A_CREDENTIAL), "{text}");
        }
        assert!(crate::metrics::TenantId::new("Bearer abc123XYZ").is_err());
        // Text that only starts like one is fine.
        assert!(MetricName::new("eyJ").is_ok());
        assert!(DimensionName::new("eyJa.b").is_ok());
        assert!(Namespace::new("eyJa.b").is_ok());
    }

    #[test]
    fn namespace_rules() {
        for ok in ["Streamer", "a.b-c_d/e#f:g h", &"n".repeat(255)] {
            assert!(Namespace::new(ok.to_owned()).is_ok(), "{ok}");
        }
        for bad in ["", "   ", ":x", "AWS/Lambda", "tab\t", "é", &"n".repeat(256)] {
            assert!(Namespace::new(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn control_check_matches_char_is_control() {
        for s in ["abc", "a\u{0}", "a\u{1f}", "\u{7f}", "\u{80}", "\u{9f}x", "\u{a0}", "é", "\u{85}", "日本", "Ā"] {
            assert_eq!(has_control(s), s.chars().any(char::is_control), "{s:?}");
        }
    }

    #[test]
    fn the_fast_metric_name_check_agrees_with_the_rules() {
        let slow = |name: &str| {
            !(name.is_empty()
                || name.trim().is_empty()
                || name.chars().count() > MAX_METRIC_NAME_LEN
                || name.chars().any(char::is_control)
                || name.starts_with('@'))
        };
        let mut samples: Vec<String> = vec!["x".repeat(255), "x".repeat(256), "é".repeat(200), String::new()];
        for b in 0u8..=0x7f {
            samples.push(char::from(b).to_string());
            samples.push(format!("Ab{}cd", char::from(b)));
        }
        for c in ['é', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}'] {
            samples.push(c.to_string());
            samples.push(format!("Ab{c}"));
        }
        // The word-at-a-time check: every byte class at every position of names of 1 to 40
        // bytes (whole words, the overlapping last word, the padded short word).
        for len in 1..=40 {
            for at in 0..len {
                for c in [0u8, 0x1f, b' ', b'!', b'~', 0x7f, b'"', b'\\', b'J', b'a', b'Z'] {
                    let mut b = vec![b'M'; len];
                    b[at] = c;
                    samples.push(String::from_utf8(b).unwrap());
                }
                let mut s = "M".repeat(len);
                s.insert(at, 'é');
                samples.push(s);
            }
        }
        for s in samples {
            assert_eq!(metric_name_error(&s).is_none(), slow(&s), "{s:?}");
        }
    }

    /// The memo of static names answers what the check answers, every time: valid names
    /// from the memo, invalid ones refused again (never memoised), with the same error.
    #[test]
    fn static_names_answer_like_the_check() {
        const NAMES: [&str; 9] = ["Latency", "ConnectionEstablished", "", "   ", "_aws", "a\u{1}", "é", "日本", "x y"];
        for _ in 0..3 {
            for name in NAMES {
                assert_eq!(name.into_metric_name(), MetricName::new(name.to_owned()), "{name:?}");
                assert_eq!(Cow::Borrowed(name).into_metric_name(), MetricName::new(name), "{name:?}");
                assert_eq!(static_name_is_valid(name), metric_name_error(name).is_none(), "{name:?}");
            }
        }
        // Slots shared by several names (128 slots): every name still gets its own answer.
        let many: Vec<&'static str> = (0..200).map(|i| &*Box::leak(format!("M{i}").into_boxed_str())).collect();
        let bad: Vec<&'static str> = (0..200).map(|i| &*Box::leak(format!("\u{1}{i}").into_boxed_str())).collect();
        for _ in 0..2 {
            for (good, bad) in many.iter().zip(&bad) {
                assert_eq!(good.into_metric_name().unwrap().as_str(), *good);
                assert!(matches!(bad.into_metric_name(), Err(MetricsError::InvalidMetricName { .. })));
            }
        }
    }

    #[test]
    fn metric_name_rules() {
        assert!(MetricName::new("x".repeat(255)).is_ok());
        assert!(MetricName::new("x".repeat(256)).is_err());
        assert!(MetricName::new("a\nb").is_err());
        assert!(MetricName::new(" \t").is_err());
    }

    #[test]
    fn dimension_rules() {
        assert!(DimensionName::new("x".repeat(250)).is_ok());
        assert!(DimensionName::new("x".repeat(251)).is_err());
        assert!(DimensionName::new("é").is_err());
        assert!(DimensionName::new(" ").is_err());
        assert_eq!(dimension_value_error(&"v".repeat(1024)), None);
        assert!(dimension_value_error(&"v".repeat(1025)).is_some());
        assert!(dimension_value_error("").is_some());
        assert!(dimension_value_error("a\u{7f}").is_some());
        assert!(dimension_value_error(":ok").is_none());
    }
}
