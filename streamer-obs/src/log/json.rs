//! Low-level JSON writing for log lines: string escaping with JWT scrubbing,
//! RFC 3339 timestamps, numbers, and the development re-indenter.

/// The text that replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Per byte: bit 0 = must be escaped, bit 1 = `J` (a JWT's `eyJ` may be around it).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    t[0x7f] = 1;
    t[b'J' as usize] = 2;
    t
};

/// What a string needs before it can be written: nothing, escaping, or JWT scrubbing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    Escaping,
    Scrubbing,
}

/// One branch-free pass over the bytes (a table load and an OR per byte); the rare
/// strings holding a `J` are then searched for `eyJ`.
#[inline]
fn classify(bytes: &[u8]) -> Needs {
    let mut acc = 0u8;
    for &b in bytes {
        acc |= CLASS[b as usize];
    }
    if acc == 0 {
        Needs::Nothing
    } else if acc & 2 != 0 && bytes.windows(3).any(|w| w == b"eyJ") {
        Needs::Scrubbing
    } else if acc & 1 != 0 {
        Needs::Escaping
    } else {
        Needs::Nothing
    }
}

/// No byte below 0x20, no `"`, `\\`, DEL or `J` (conservative: any answer `false` is
/// handled by the full escaper).
#[inline]
pub(crate) fn is_plain(bytes: &[u8]) -> bool {
    use crate::ascii_words::{all_words, bytes_below, bytes_equal};
    if bytes.len() < 8 {
        return bytes.iter().fold(0, |acc, b| acc | CLASS[usize::from(*b)]) == 0;
    }
    all_words(bytes, |x| {
        let refused = bytes_below(x, 0x20)
            | bytes_equal(x, b'"')
            | bytes_equal(x, b'\\')
            | bytes_equal(x, 0x7f)
            | bytes_equal(x, b'J');
        refused == 0
    })
}

/// Appends `s` as a JSON string (quotes included). Anything that looks like a JWT
/// (`eyJ...` `.` `...` `.` `...`) inside the text is replaced by `[REDACTED]`, so a
/// token that slips into a message or an error text never reaches a log line.
///
/// Names, ids and values are short plain ASCII almost always: a word-at-a-time check finds
/// those (no byte to escape, no `J`, so no `eyJ` either) and copies them whole.
#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if is_plain(bytes) {
        write_plain(out, bytes);
        return;
    }
    write_str_checked(out, s);
}

/// Appends `bytes`, known [`is_plain`], in quotes.
#[inline]
pub(crate) fn write_plain(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.push(b'"');
}

/// [`write_str`] without the plain fast path: classify, then escape and scrub as needed.
fn write_str_checked(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    match classify(bytes) {
        Needs::Nothing => {
            out.reserve(bytes.len() + 2);
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
        }
        Needs::Escaping => {
            out.push(b'"');
            escape_slow(out, bytes);
            out.push(b'"');
        }
        Needs::Scrubbing => {
            out.push(b'"');
            let scrubbed = scrub_jwts(s);
            escape_slow(out, scrubbed.as_bytes());
            out.push(b'"');
        }
    }
}

/// Whether `s` is written as the body of a JSON string unchanged (nothing to escape; a
/// `J` is fine: no scrubbing here).
#[inline]
pub(crate) fn escape_free(s: &str) -> bool {
    s.as_bytes().iter().fold(0, |acc, &b| acc | CLASS[b as usize]) & 1 == 0
}

/// Appends the escaped body of a JSON string (no quotes, no scrubbing).
#[inline]
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    if escape_free(s) {
        out.extend_from_slice(s.as_bytes());
    } else {
        escape_slow(out, s.as_bytes());
    }
}

fn escape_slow(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() + 8);
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if CLASS[b as usize] & 1 == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

const fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'='
}

/// The end of the base64url run of `b` from `i`.
const fn b64url_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_b64url(b[i]) {
        i += 1;
    }
    i
}

/// At `i`, where `eyJ` starts: `Ok(end)` when the JWT-shaped run
/// `eyJ<b64url>.<b64url>.<b64url>` (signature part possibly empty, as in `alg: none`
/// tokens) spans `i..end`; `Err(next)`, where the search goes on, when it does not.
/// The one definition of "looks like a JWT", shared by [`scrub_jwts`] and
/// [`contains_jwt`].
const fn jwt_at(b: &[u8], i: usize) -> Result<usize, usize> {
    let j = b64url_end(b, i);
    if j < b.len() && b[j] == b'.' {
        let k = b64url_end(b, j + 1);
        if k > j + 1 && k < b.len() && b[k] == b'.' {
            return Ok(b64url_end(b, k + 1));
        }
    }
    Err(if j > i + 1 { j } else { i + 1 })
}

const fn eyj_at(b: &[u8], i: usize) -> bool {
    b[i] == b'e' && b[i + 1] == b'y' && b[i + 2] == b'J'
}

/// Whether `s` holds anything [`scrub_jwts`] would replace (a JWT-shaped run). Names
/// that become members of a log line (EMF namespaces, metric names, dimension names and
/// values, property keys) are refused when they do: a redacted key or name would no
/// longer be the one declared.
///
/// ```
/// use streamer_obs::log::contains_jwt;
/// assert!(contains_jwt("tenant eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."));
/// assert!(!contains_jwt("eyJ alone"));
/// assert!(!contains_jwt("Streamer"));
/// ```
pub const fn contains_jwt(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 3 <= b.len() {
        if eyj_at(b, i) {
            match jwt_at(b, i) {
                Ok(_) => return true,
                Err(next) => {
                    i = next;
                    continue;
                }
            }
        }
        i += 1;
    }
    false
}

/// Replaces every JWT-shaped run (`eyJ<b64url>.<b64url>.<b64url>`, signature part may
/// be empty as in `alg: none` tokens) with `[REDACTED]`.
///
/// ```
/// use streamer_obs::log::scrub_jwts;
/// let s = "bad token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln here";
/// assert_eq!(scrub_jwts(s), "bad token [REDACTED] here");
/// assert_eq!(scrub_jwts("eyJ alone"), "eyJ alone");
/// ```
pub fn scrub_jwts(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 3 <= b.len() {
        if eyj_at(b, i) {
            match jwt_at(b, i) {
                Ok(end) => {
                    out.push_str(&s[copied..i]);
                    out.push_str(REDACTED);
                    copied = end;
                    i = end;
                }
                Err(next) => i = next,
            }
            continue;
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// Appends an RFC 3339 UTC timestamp with milliseconds and `Z`, quoted, of `epoch_millis`
/// milliseconds since the Unix epoch.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, epoch_millis: u64) {
    let (secs, millis) = ((epoch_millis / 1_000) as i64, (epoch_millis % 1_000) as u32);
    // The date and time of day change once a second: rendered once per second per thread.
    thread_local! {
        static LAST: std::cell::Cell<(i64, [u8; 26])> = const { std::cell::Cell::new((i64::MIN, [0; 26])) };
    }
    let mut buf = LAST.with(|last| {
        let (at, buf) = last.get();
        if at == secs {
            return buf;
        }
        let buf = render_second(secs);
        last.set((secs, buf));
        buf
    });
    put_digits(&mut buf[21..24], millis);
    out.extend_from_slice(&buf);
}

/// `"YYYY-MM-DDTHH:MM:SS.000Z"` (quoted) for `secs` since the epoch.
fn render_second(secs: i64) -> [u8; 26] {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let mut buf = *b"\"0000-00-00T00:00:00.000Z\"";
    put_digits(&mut buf[1..5], y as u32);
    put_digits(&mut buf[6..8], m);
    put_digits(&mut buf[9..11], d);
    put_digits(&mut buf[12..14], hh as u32);
    put_digits(&mut buf[15..17], mm as u32);
    put_digits(&mut buf[18..20], ss as u32);
    buf
}

/// Writes `v` as decimal digits right-aligned into `slot` (zero-padded; higher digits
/// beyond the slot are dropped).
#[inline(always)]
fn put_digits(slot: &mut [u8], mut v: u32) {
    for b in slot.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Finite floats as numbers; NaN and infinities as strings (JSON has no literal for them).
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

/// Re-indents one compact JSON line for human reading (`POWERTOOLS_DEV=true`).
pub(crate) fn pretty(compact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let indent = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 2));
    };
    for &b in compact {
        if in_str {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                out.push(b);
            }
            b'{' | b'[' => {
                depth += 1;
                out.push(b);
                indent(&mut out, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                indent(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                indent(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'\n' => {}
            _ => out.push(b),
        }
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: u64) -> String {
        let mut v = Vec::new();
        write_timestamp(&mut v, ms);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339_millis_utc() {
        assert_eq!(ts(0), "\"1970-01-01T00:00:00.000Z\"");
        assert_eq!(ts(1_764_194_988_123), "\"2025-11-26T22:09:48.123Z\"");
        assert_eq!(ts(951_782_400_000), "\"2000-02-29T00:00:00.000Z\"");
        assert_eq!(ts(4_107_542_399_999), "\"2100-02-28T23:59:59.999Z\"");
    }

    #[test]
    fn the_per_second_cache_renders_each_millisecond_and_second_change() {
        // Same second (cached), the next second, back to an earlier one.
        assert_eq!(ts(1_764_194_988_001), "\"2025-11-26T22:09:48.001Z\"");
        assert_eq!(ts(1_764_194_988_999), "\"2025-11-26T22:09:48.999Z\"");
        assert_eq!(ts(1_764_194_989_000), "\"2025-11-26T22:09:49.000Z\"");
        assert_eq!(ts(1_764_194_988_500), "\"2025-11-26T22:09:48.500Z\"");
        assert_eq!(ts(0), "\"1970-01-01T00:00:00.000Z\"");
    }

    #[test]
    fn escaping_produces_valid_json() {
        let nasty = "quote\" backslash\\ nl\n tab\t nul\u{0} del\u{7f} é 😀";
        let mut v = Vec::new();
        write_str(&mut v, nasty);
        let back: String = serde_json::from_slice(&v).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn every_character_round_trips_through_both_paths() {
        for c in (0u32..0x250).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("plain {c} text"), format!("{c}eyJ")] {
                let mut v = Vec::new();
                write_str(&mut v, &text);
                let back: String = serde_json::from_slice(&v).unwrap_or_else(|e| panic!("{text:?}: {e}"));
                assert_eq!(back, text);
                let mut body = b"\"".to_vec();
                escape_into(&mut body, &text);
                body.push(b'"');
                assert_eq!(serde_json::from_slice::<String>(&body).unwrap(), text);
            }
        }
    }

    #[test]
    fn the_plain_check_agrees_with_the_escaper() {
        let mut samples: Vec<String> = [
            "",
            "a",
            "ConnectionEstablished",
            "a\"b",
            "x\\",
            "é",
            "\u{7f}",
            "J",
            "eyJ",
            "a eyJ.b",
            "tab\t",
            "0123456789abcdef",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for b in 0u8..=0x7f {
            for at in 0..17 {
                let mut s = "x".repeat(17);
                s.replace_range(at..=at, char::from(b).encode_utf8(&mut [0; 4]));
                samples.push(s[..at + 1].to_owned());
                samples.push(s);
            }
        }
        for c in ['é', '日', '\u{85}', '\u{ff}'] {
            for at in 0..17 {
                let s: String = (0..17).map(|i| if i == at { c } else { 'y' }).collect();
                samples.push(s.chars().take(at + 1).collect());
                samples.push(s);
            }
        }
        for s in samples {
            let (mut fast, mut full) = (Vec::new(), Vec::new());
            write_str(&mut fast, &s);
            write_str_checked(&mut full, &s);
            assert_eq!(fast, full, "{s:?}");
            let needs_work = s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f || b == b'J');
            assert_eq!(is_plain(s.as_bytes()), !needs_work, "{s:?}");
        }
    }

    #[test]
    fn jwts_are_scrubbed_from_text() {
        let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
        assert_eq!(scrub_jwts(&format!("Bearer {jwt}")), "Bearer [REDACTED]");
        assert_eq!(scrub_jwts(&format!("token={jwt}")), "token=[REDACTED]");
        let mut v = Vec::new();
        write_str(&mut v, &format!("{jwt},{jwt}"));
        assert_eq!(String::from_utf8(v).unwrap(), "\"[REDACTED],[REDACTED]\"");
        assert_eq!(scrub_jwts("eyJhbGciOiJ9"), "eyJhbGciOiJ9");
    }

    #[test]
    fn floats() {
        let mut v = Vec::new();
        write_f64(&mut v, 1.5);
        v.push(b',');
        write_f64(&mut v, f64::NAN);
        assert_eq!(v, b"1.5,\"NaN\"");
    }

    #[test]
    fn pretty_keeps_the_same_json() {
        let compact = br#"{"a":"x,{y}","b":[1,2],"c":{"d":"\"q\""}}"#;
        let p = pretty(compact);
        let a: serde_json::Value = serde_json::from_slice(compact).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(a, b);
        assert!(p.iter().filter(|&&c| c == b'\n').count() > 3);
    }
}
