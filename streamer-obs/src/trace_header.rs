//! The X-Ray trace header (`X-Amzn-Trace-Id`, `Lambda-Runtime-Trace-Id`) and its ids.
//!
//! This is the only source of `Root`, `Parent` and `Sampled` in the SDK: it is parsed
//! once per invocation from `lambda_runtime::Context::xray_trace_id`, never by
//! re-reading `_X_AMZN_TRACE_ID` (several invocations may share one process).
//!
//! Parsing follows the reference SDKs (rules H-1 to H-3): `;`-separated `key=value`
//! pairs, spaces trimmed, keys in any order and any letter case, `Lineage` and unknown
//! keys kept and written back unchanged, `Self` dropped. A `Root` that is not
//! `1-<8 hex>-<24 hex>` or a `Parent` that is not 16 hex digits is rejected with a
//! [`TraceHeaderError`]; nothing here panics.
//!
//! ```
//! use streamer_obs::trace_header::{Sampled, TraceHeader};
//!
//! let header: TraceHeader =
//!     " Sampled=1; Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Lineage=a87bd80c:1|68fd508a:5"
//!         .parse()
//!         .unwrap();
//! assert_eq!(header.root().as_str(), "1-5759e988-bd862e3fe1be46a994272793");
//! assert_eq!(header.parent().unwrap().as_str(), "53995c3f42cd8ad8");
//! assert_eq!(header.sampled(), Some(Sampled::Sampled));
//! assert_eq!(
//!     header.to_string(),
//!     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5"
//! );
//! assert!("Root=1-5759e988-XYZ;Sampled=1".parse::<TraceHeader>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// A trace id: `1-` + 8 hex digits (epoch seconds) + `-` + 24 hex digits (rule X-5).
///
/// ```
/// use streamer_obs::trace_header::TraceId;
/// let id: TraceId = "1-58406520-a006649127e371903a2de979".parse().unwrap();
/// assert_eq!(id.epoch_seconds(), 0x58406520);
/// assert!("2-58406520-a006649127e371903a2de979".parse::<TraceId>().is_err());
/// assert!(TraceId::generate(1_700_000_000).to_string().starts_with("1-6553f100-"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 35]);

impl TraceId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // The bytes were checked to be ASCII when the id was built.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id as ASCII bytes (no UTF-8 check: for writers).
    ///
    /// ```
    /// # use streamer_obs::trace_header::TraceId;
    /// let id: TraceId = "1-5759e988-bd862e3fe1be46a994272793".parse().unwrap();
    /// assert_eq!(id.as_bytes(), id.as_str().as_bytes());
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The 35 characters as a fixed-size array (for writers).
    pub(crate) fn as_array(&self) -> &[u8; 35] {
        &self.0
    }

    /// The epoch seconds encoded in the id.
    pub fn epoch_seconds(&self) -> u32 {
        u32::from_str_radix(&self.as_str()[2..10], 16).unwrap_or(0)
    }

    /// A new id for `epoch_seconds` with 96 random bits from the operating system's secure
    /// generator (`getrandom`), as rule X-5 ("Trace ID Security") asks: a trace id must not
    /// be guessable from earlier ones. Should the operating system refuse (it does not on
    /// Linux once booted), the bits come from a fast generator seeded from the clock and the
    /// thread, so an id is still produced. Inside Lambda always use the header's `Root`
    /// instead; this is for tests and for code outside Lambda.
    pub fn generate(epoch_seconds: u32) -> Self {
        let mut random = [0u8; 12];
        if getrandom::fill(&mut random).is_err() {
            let mut rng = fastrand::Rng::new();
            rng.fill(&mut random);
        }
        Self::from_parts(epoch_seconds, random)
    }

    /// The id of `epoch_seconds` and 96 given bits (deterministic ids for tests).
    ///
    /// ```
    /// # use streamer_obs::trace_header::TraceId;
    /// let id = TraceId::from_parts(0x58406520, [0xa0, 0x06, 0x64, 0x91, 0x27, 0xe3, 0x71, 0x90, 0x3a, 0x2d, 0xe9, 0x79]);
    /// assert_eq!(id.as_str(), "1-58406520-a006649127e371903a2de979");
    /// ```
    pub fn from_parts(epoch_seconds: u32, random: [u8; 12]) -> Self {
        let mut out = [0u8; 35];
        out[0] = b'1';
        out[1] = b'-';
        write_hex(&mut out[2..10], u64::from(epoch_seconds), 8);
        out[10] = b'-';
        let hi = u64::from_be_bytes([
            random[0], random[1], random[2], random[3], random[4], random[5], random[6], random[7],
        ]);
        let lo = u32::from_be_bytes([random[8], random[9], random[10], random[11]]);
        write_hex(&mut out[11..27], hi, 16);
        write_hex(&mut out[27..35], u64::from(lo), 8);
        TraceId(out)
    }
}

impl FromStr for TraceId {
    type Err = TraceHeaderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let ok =
            b.len() == 35 && b[0] == b'1' && b[1] == b'-' && b[10] == b'-' && all_hex(&b[2..10]) && all_hex(&b[11..]);
        if !ok {
            return Err(TraceHeaderError::InvalidRoot(truncate_for_error(s)));
        }
        let mut out = [0u8; 35];
        out.copy_from_slice(b);
        Ok(TraceId(out))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.as_str())
    }
}

/// A segment or subsegment id: 16 hex digits, never all zeros (rule X-4).
///
/// ```
/// use streamer_obs::trace_header::SegmentId;
/// let id = SegmentId::generate();
/// assert_eq!(id.as_str().len(), 16);
/// assert_ne!(id.as_str(), "0000000000000000");
/// assert!("53995c3f42cd8ad8".parse::<SegmentId>().is_ok());
/// assert!("0000000000000000".parse::<SegmentId>().is_err());
/// assert!("53995c3f42cd8ad".parse::<SegmentId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentId([u8; 16]);

impl SegmentId {
    /// A new random id from a fast (non-cryptographic) generator; never zero.
    pub fn generate() -> Self {
        let mut v = fastrand::u64(..);
        while v == 0 {
            v = fastrand::u64(..);
        }
        Self::from_u64(v).unwrap_or(SegmentId(*b"0000000000000001"))
    }

    /// The id of a non-zero 64-bit value.
    pub fn from_u64(v: u64) -> Option<Self> {
        if v == 0 {
            return None;
        }
        Some(SegmentId(hex16(v)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id as ASCII bytes (no UTF-8 check: for writers).
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// let id: SegmentId = "53995c3f42cd8ad8".parse().unwrap();
    /// assert_eq!(id.as_bytes(), b"53995c3f42cd8ad8");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The 16 digits as a fixed-size array (for writers).
    pub(crate) fn as_array(&self) -> &[u8; 16] {
        &self.0
    }
}

impl FromStr for SegmentId {
    type Err = TraceHeaderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 16 || !all_hex(b) || b.iter().all(|&c| c == b'0') {
            return Err(TraceHeaderError::InvalidParent(truncate_for_error(s)));
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(b);
        Ok(SegmentId(out))
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentId({})", self.as_str())
    }
}

/// The sampling decision of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampled {
    /// `Sampled=1`: record and send.
    Sampled,
    /// `Sampled=0` (or any value other than `1` and `?`): send nothing.
    NotSampled,
    /// `Sampled=?`: the decision is left to the receiver (inside Lambda: not sampled).
    Requested,
}

impl Sampled {
    fn as_str(self) -> &'static str {
        match self {
            Sampled::Sampled => "1",
            Sampled::NotSampled => "0",
            Sampled::Requested => "?",
        }
    }
}

/// Why a trace header was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceHeaderError {
    /// The header is empty or has no `Root`.
    #[error("trace header has no Root")]
    MissingRoot,
    /// `Root` is not `1-<8 hex>-<24 hex>`.
    #[error("trace header Root {0:?} is not 1-<8 hex>-<24 hex>")]
    InvalidRoot(String),
    /// `Parent` is not 16 hex digits (or is all zeros).
    #[error("trace header Parent {0:?} is not 16 hex digits")]
    InvalidParent(String),
    /// A part has no `=`. No longer returned: such a part is skipped, as the reference
    /// SDKs skip it (kept so that matching code still compiles).
    #[error("trace header part {0:?} is not key=value")]
    InvalidPart(String),
}

/// A parsed trace header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    root: TraceId,
    parent: Option<SegmentId>,
    sampled: Option<Sampled>,
    lineage: Option<String>,
    extra: Vec<(String, String)>,
}

impl TraceHeader {
    /// A header with the given parts and no extra keys.
    pub fn new(root: TraceId, parent: Option<SegmentId>, sampled: Option<Sampled>) -> Self {
        Self { root, parent, sampled, lineage: None, extra: Vec::new() }
    }

    /// The trace id (`Root`).
    pub fn root(&self) -> &TraceId {
        &self.root
    }

    /// The parent segment id (`Parent`), if present.
    pub fn parent(&self) -> Option<&SegmentId> {
        self.parent.as_ref()
    }

    /// The sampling decision (`Sampled`), if present.
    pub fn sampled(&self) -> Option<Sampled> {
        self.sampled
    }

    /// True only for `Sampled=1` (the Go SDK's rule; anything else sends nothing).
    pub fn is_sampled(&self) -> bool {
        self.sampled == Some(Sampled::Sampled)
    }

    /// The opaque `Lineage` value, passed through unchanged.
    pub fn lineage(&self) -> Option<&str> {
        self.lineage.as_deref()
    }

    /// Unknown keys, in their original order.
    pub fn extra(&self) -> &[(String, String)] {
        &self.extra
    }

    /// The header to propagate to a downstream call recorded by subsegment `parent`:
    /// same `Root`, `Sampled`, `Lineage` and unknown keys, new `Parent` (rule H-4).
    ///
    /// ```
    /// use streamer_obs::trace_header::{SegmentId, TraceHeader};
    /// let h: TraceHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// let child = h.with_parent("0123456789abcdef".parse().unwrap());
    /// assert_eq!(child.to_string(), "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0123456789abcdef;Sampled=1");
    /// ```
    pub fn with_parent(&self, parent: SegmentId) -> Self {
        Self { parent: Some(parent), ..self.clone() }
    }
}

impl FromStr for TraceHeader {
    type Err = TraceHeaderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_canonical(s) {
            Some(header) => Ok(header),
            None => parse_general(s),
        }
    }
}

/// How many bytes of unknown `key=value` parts a header keeps for propagation (as the Node
/// reference SDK keeps at most 256 bytes of such data); parts beyond it are dropped.
/// `Lineage` has a budget of its own of the same size: it is always passed on (H-3) when
/// it fits.
pub const MAX_EXTRA_BYTES: usize = 256;

/// Whether `s` can be passed on in an HTTP header value as part of a trace header: visible
/// ASCII only (no control character, space, `;`), so a forwarded header stays one valid
/// header and cannot carry another.
fn propagatable(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b';')
}

/// Whether an unknown `key=value` part carries a credential: a JWT-shaped key or value, or
/// a key named like a secret parameter (`token`, `authorization`, `password`, ...: the
/// names the log scrubber redacts). Such a part is not propagated: a header goes to every
/// downstream service.
fn secret_part(key: &str, value: &str) -> bool {
    crate::log::contains_jwt(key) || crate::log::contains_jwt(value) || crate::log::json::is_secret_param_name(key)
}

/// Any header: `;`-separated `key=value` pairs in any order and letter case, spaces trimmed.
///
/// Lenient where the reference SDKs are (rule H-2): a part without `=` is skipped; an
/// unusable `Parent` only rejects a header that asks for sampling (`Sampled=1`), otherwise
/// it is left out; `Lineage` and unknown parts are kept for propagation only when they are
/// visible ASCII, each within [`MAX_EXTRA_BYTES`] (unknown parts together, and at most 16
/// of them); an unknown part that carries a credential (a JWT-shaped key or value, a key
/// named like `token`, `authorization`, `password`, ...) is not kept.
fn parse_general(s: &str) -> Result<TraceHeader, TraceHeaderError> {
    let mut root = None;
    let mut parent = None;
    let mut parent_error = None;
    let mut sampled = None;
    let mut lineage = None;
    let mut extra = Vec::new();
    let mut extra_bytes = 0;
    for part in s.split(';') {
        let part = trim(part);
        if part.is_empty() {
            continue;
        }
        // Not `key=value`: skipped, as the reference SDKs do.
        let Some((key, value)) = part.split_once('=') else { continue };
        let (key, value) = (trim(key), trim(value));
        if key.eq_ignore_ascii_case("Root") {
            root = Some(value.parse::<TraceId>()?);
        } else if key.eq_ignore_ascii_case("Parent") {
            match value.parse::<SegmentId>() {
                Ok(id) => (parent, parent_error) = (Some(id), None),
                Err(e) => (parent, parent_error) = (None, Some(e)),
            }
        } else if key.eq_ignore_ascii_case("Sampled") {
            sampled = Some(match value {
                "1" => Sampled::Sampled,
                "?" => Sampled::Requested,
                _ => Sampled::NotSampled,
            });
        } else if key.eq_ignore_ascii_case("Self") {
            // Set by load balancers for their own segment; not propagated (rule H-2).
        } else if key.eq_ignore_ascii_case("Lineage") {
            // Passed through unchanged (H-3), ahead of unknown parts: it has its own budget.
            if propagatable(value) && value.len() <= MAX_EXTRA_BYTES {
                lineage = Some(value.to_owned());
            }
        } else if !key.is_empty() && propagatable(key) && propagatable(value) && !secret_part(key, value) {
            let bytes = key.len() + value.len() + 2;
            if extra_bytes + bytes <= MAX_EXTRA_BYTES && extra.len() < 16 {
                extra_bytes += bytes;
                extra.push((key.to_owned(), value.to_owned()));
            }
        }
    }
    let root = root.ok_or(TraceHeaderError::MissingRoot)?;
    if let Some(e) = parent_error
        && sampled == Some(Sampled::Sampled)
    {
        return Err(e);
    }
    Ok(TraceHeader { root, parent, sampled, lineage, extra })
}

impl fmt::Display for TraceHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root={}", self.root)?;
        if let Some(p) = &self.parent {
            write!(f, ";Parent={p}")?;
        }
        if let Some(s) = self.sampled {
            write!(f, ";Sampled={}", s.as_str())?;
        }
        if let Some(l) = &self.lineage {
            write!(f, ";Lineage={l}")?;
        }
        for (k, v) in &self.extra {
            write!(f, ";{k}={v}")?;
        }
        Ok(())
    }
}

/// The header exactly as Lambda writes it, `Root=<id>;Parent=<id>;Sampled=<0|1|?>` with
/// nothing after it, read at fixed offsets; any other form goes through the general parser
/// (same result, just slower).
fn parse_canonical(s: &str) -> Option<TraceHeader> {
    const ROOT: usize = "Root=".len();
    const PARENT: usize = ROOT + 35 + ";Parent=".len();
    const SAMPLED: usize = PARENT + 16 + ";Sampled=".len();
    let b = s.as_bytes();
    if b.len() != SAMPLED + 1
        || !b.starts_with(b"Root=")
        || &b[ROOT + 35..PARENT] != b";Parent="
        || &b[PARENT + 16..SAMPLED] != b";Sampled="
    {
        return None;
    }
    let root = s.get(ROOT..ROOT + 35)?.parse::<TraceId>().ok()?;
    let parent = s.get(PARENT..PARENT + 16)?.parse::<SegmentId>().ok()?;
    let sampled = match b[SAMPLED] {
        b'1' => Sampled::Sampled,
        b'?' => Sampled::Requested,
        b' ' | b'\t' => return None,
        _ => Sampled::NotSampled,
    };
    Some(TraceHeader { root, parent: Some(parent), sampled: Some(sampled), lineage: None, extra: Vec::new() })
}

/// `str::trim`, with the ASCII case (every real header) done without decoding characters.
fn trim(s: &str) -> &str {
    let t = s.trim_ascii();
    match (t.as_bytes().first(), t.as_bytes().last()) {
        // `trim_ascii` leaves the vertical tab (0x0B) and non-ASCII whitespace.
        (Some(a), Some(b)) if *a >= 0x80 || *b >= 0x80 || *a == 0x0b || *b == 0x0b => t.trim(),
        _ => t,
    }
}

/// Whether every byte is an ASCII hex digit (either case), 8 bytes at a time.
fn all_hex(b: &[u8]) -> bool {
    use crate::ascii_words::{HIGH, all_words, bytes_in, letters_in};
    if b.len() < 8 {
        return b.iter().all(u8::is_ascii_hexdigit);
    }
    all_words(b, |x| x & HIGH == 0 && bytes_in(x, b'0', b'9') | letters_in(x, b'a', b'f') == HIGH)
}

/// The 16 lowercase hex digits of `v`, a word at a time (no per-digit loop).
fn hex16(v: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hex8((v >> 32) as u32));
    out[8..].copy_from_slice(&hex8(v as u32));
    out
}

/// The 8 lowercase hex digits of `v`.
fn hex8(v: u32) -> [u8; 8] {
    // One nibble per byte, the most significant nibble in the most significant byte.
    let x = u64::from(v);
    let x = ((x & 0xffff_0000) << 16) | (x & 0xffff);
    let x = ((x & 0x0000_ff00_0000_ff00) << 8) | (x & 0x0000_00ff_0000_00ff);
    let x = ((x & 0x00f0_00f0_00f0_00f0) << 4) | (x & 0x000f_000f_000f_000f);
    // 1 in each byte whose nibble is 10 or more: those go to `a`..`f`.
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (x + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
}

fn write_hex(out: &mut [u8], mut v: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out[i] = HEX[(v & 0xf) as usize];
        v >>= 4;
    }
}

fn truncate_for_error(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_check_matches_the_byte_test_for_every_byte_at_every_position() {
        crate::cross_checks::every_byte_at_every_position(
            b"0123456789abcdefABCDEF0123456789",
            &[0, 1, 7, 8, 9, 16, 24],
            all_hex,
            |c| c.is_ascii_hexdigit(),
        );
    }

    #[test]
    fn segment_ids_are_16_lowercase_hex_digits() {
        let mut values =
            vec![1, 9, 10, 15, 16, 0xabcdef, u64::MAX, 1 << 63, 0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..10_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            values.push(x | 1);
        }
        for v in values {
            assert_eq!(SegmentId::from_u64(v).unwrap().as_str(), format!("{v:016x}"));
        }
    }

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    #[test]
    fn the_canonical_fast_path_agrees_with_the_general_parser() {
        let root = "1-5759e988-bd862e3fe1be46a994272793";
        for sampled in ["0", "1", "?", "x", " "] {
            let s = format!("Root={root};Parent=53995c3f42cd8ad8;Sampled={sampled}");
            assert_eq!(s.parse::<TraceHeader>(), parse_general(&s), "{s}");
            assert_eq!(parse_canonical(&s).is_some(), sampled != " ");
        }
        for s in [
            format!("Root={root};Parent=0000000000000000;Sampled=1"),
            format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1"),
            format!("root={root};Parent=53995c3f42cd8ad8;Sampled=1"),
            format!("Root={root};Parent=53995c3f42cd8adZ;Sampled=1"),
            "Root=1-5759e988+bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
        ] {
            assert!(parse_canonical(&s).is_none(), "{s}");
            assert_eq!(s.parse::<TraceHeader>(), parse_general(&s), "{s}");
        }
    }

    #[test]
    fn trims_tabs_and_unicode_whitespace_like_str_trim() {
        let h: TraceHeader =
            "\tSampled = 1 ;\u{a0}Root=1-5759e988-bd862e3fe1be46a994272793\u{2003}; Parent=53995c3f42cd8ad8\t"
                .parse()
                .unwrap();
        assert_eq!(h.root().as_str(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(h.parent().map(|p| p.as_str()), Some("53995c3f42cd8ad8"));
        assert_eq!(h.sampled(), Some(Sampled::Sampled));
        let vt: TraceHeader =
            "Root=1-5759e988-bd862e3fe1be46a994272793\u{b};Parent=53995c3f42cd8ad8;Sampled=1\u{b}".parse().unwrap();
        assert_eq!(vt.sampled(), Some(Sampled::Sampled));
        for ws in [' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{a0}', '\u{2003}', '\u{3000}'] {
            let s = format!("{ws}Root=1-5759e988-bd862e3fe1be46a994272793{ws};{ws}Sampled={ws}1{ws}");
            let h: TraceHeader = s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(h.sampled(), Some(Sampled::Sampled), "{s:?}");
            assert_eq!(trim(&s), s.trim());
        }
    }

    #[test]
    fn parses_reordered_keys_with_spaces() {
        let h: TraceHeader = format!("Parent=53995c3f42cd8ad8 ; Sampled=0 ;Root={ROOT}").parse().unwrap();
        assert_eq!(h.root().as_str(), ROOT);
        assert_eq!(h.sampled(), Some(Sampled::NotSampled));
        assert!(!h.is_sampled());
    }

    #[test]
    fn keeps_unknown_keys_and_lineage_drops_self() {
        let h: TraceHeader =
            format!("Root={ROOT};Self=1-67891234-12456789abcdef012345678;Foo=bar;Lineage=10:1234abcd:3;Sampled=?")
                .parse()
                .unwrap();
        assert_eq!(h.extra(), &[("Foo".to_owned(), "bar".to_owned())]);
        assert_eq!(h.lineage(), Some("10:1234abcd:3"));
        assert_eq!(h.sampled(), Some(Sampled::Requested));
        assert_eq!(h.to_string(), format!("Root={ROOT};Sampled=?;Lineage=10:1234abcd:3;Foo=bar"));
    }

    #[test]
    fn lowercase_keys_are_accepted() {
        let h: TraceHeader = format!("root={ROOT};parent=53995c3f42cd8ad8;sampled=1").parse().unwrap();
        assert!(h.is_sampled());
        assert!(h.parent().is_some());
    }

    #[test]
    fn rejects_malformed_values() {
        let cases = [
            "",
            ";;",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a99427279;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a99427279z;Sampled=1",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1_5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000;Sampled=1",
            "Root=1-5759é88-bd862e3fe1be46a994272793",
        ];
        for c in cases {
            assert!(c.parse::<TraceHeader>().is_err(), "{c:?} should be rejected");
        }
    }

    /// Rule H-2: parts without `=` are skipped, as the reference SDKs skip them; an
    /// unusable `Parent` matters only when the header asks for sampling.
    #[test]
    fn parses_leniently_where_the_reference_sdks_do() {
        let h: TraceHeader = format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;garbage").parse().unwrap();
        assert!(h.is_sampled());
        assert_eq!(h.to_string(), format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"));
        for header in [format!("Root={ROOT};Parent=xyz;Sampled=0"), format!("Root={ROOT};Parent=xyz")] {
            let h: TraceHeader = header.parse().unwrap();
            assert!(h.parent().is_none() && !h.is_sampled(), "{header}");
        }
        // A later valid `Parent` replaces an earlier bad one, and the reverse.
        assert!(format!("Root={ROOT};Parent=xyz;Parent=53995c3f42cd8ad8;Sampled=1").parse::<TraceHeader>().is_ok());
        assert!(format!("Root={ROOT};Parent=53995c3f42cd8ad8;Parent=xyz;Sampled=1").parse::<TraceHeader>().is_err());
    }

    /// Lineage and unknown parts are propagated downstream: only visible ASCII is kept (a
    /// CR/LF would break or inject a header), within 256 bytes.
    #[test]
    fn extra_parts_are_kept_only_when_they_can_be_propagated() {
        let h: TraceHeader =
            format!("Root={ROOT};Sampled=1;Lineage=a87bd80c:1|68fd508a:5;Foo=a\r\nX-Evil: 1;Bar=b c;Ok=1")
                .parse()
                .unwrap();
        assert_eq!(h.to_string(), format!("Root={ROOT};Sampled=1;Lineage=a87bd80c:1|68fd508a:5;Ok=1"));
        let h: TraceHeader = format!("Root={ROOT};Lineage=x\u{7f}").parse().unwrap();
        assert_eq!(h.to_string(), format!("Root={ROOT}"));
        let long = (0..40).map(|i| format!(";K{i:02}=vvvvvvvvvv")).collect::<String>();
        let h: TraceHeader = format!("Root={ROOT}{long}").parse().unwrap();
        let kept = h.to_string().len() - format!("Root={ROOT}").len();
        assert!(kept <= MAX_EXTRA_BYTES, "{kept}");
        assert!(kept > MAX_EXTRA_BYTES - 20, "{kept}");
    }

    #[test]
    fn other_sampled_values_mean_not_sampled() {
        let h: TraceHeader = format!("Root={ROOT};Sampled=yes").parse().unwrap();
        assert_eq!(h.sampled(), Some(Sampled::NotSampled));
        let h: TraceHeader = format!("Root={ROOT}").parse().unwrap();
        assert_eq!(h.sampled(), None);
        assert!(!h.is_sampled());
    }

    #[test]
    fn trace_ids_do_not_follow_the_fast_generator() {
        // X-5: the random part comes from a secure generator. Reseeding the process's
        // fast generator alike must not give the same id twice.
        fastrand::seed(7);
        let a = TraceId::generate(1);
        fastrand::seed(7);
        let b = TraceId::generate(1);
        assert_ne!(a, b);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(TraceId::generate(1).as_str()[11..].to_owned()));
        }
    }

    #[test]
    fn generated_ids_parse_back() {
        for _ in 0..1000 {
            let s = SegmentId::generate();
            assert_eq!(s.as_str().parse::<SegmentId>().unwrap(), s);
            let t = TraceId::generate(0x5759e988);
            assert_eq!(t.as_str().parse::<TraceId>().unwrap(), t);
            assert_eq!(t.epoch_seconds(), 0x5759e988);
        }
        assert!(SegmentId::from_u64(0).is_none());
        assert_eq!(SegmentId::from_u64(0xab).unwrap().as_str(), "00000000000000ab");
    }
}
