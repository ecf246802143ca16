//! Low-level JSON writing for log lines: string escaping with JWT scrubbing,
//! RFC 3339 timestamps, numbers, and the development re-indenter.

/// The text that replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Per byte: bit 0 = must be escaped, bit 1 = `J` (a JWT's `eyJ` may be around it),
/// bit 2 = whitespace (space, tab, CR, LF: only text with some is searched for a
/// credential, see [`find_credential`]), bit 3 = `b`/`B` (`bearer`, `basic`), bit 4 =
/// `=` (a `name=value` pair: searched too), bit 5 = `:` or `\\` (a header without a space
/// after it; an escaped tab or newline in `Debug` output, `bearer\\tTOKEN`: searched too),
/// or `%` or `+` (a separator percent- or form-encoded: `Bearer%20TOKEN`,
/// `Authorization%3A…`, `password%3D…`, `Bearer+TOKEN`: searched too).
const ESCAPE: u8 = 1;
const JAY: u8 = 2;
const WHITESPACE: u8 = 4;
const BEE: u8 = 8;
const EQUALS: u8 = 16;
const COLON_OR_BACKSLASH: u8 = 32;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1 | 32;
    t[0x7f] = 1;
    t[b'J' as usize] = 2;
    t[b' ' as usize] = 4;
    t[b'\t' as usize] |= 4;
    t[b'\n' as usize] |= 4;
    t[b'\r' as usize] |= 4;
    t[b'b' as usize] = 8;
    t[b'B' as usize] = 8;
    t[b'=' as usize] = 16;
    t[b':' as usize] = 32;
    t[b'%' as usize] = 32;
    t[b'+' as usize] = 32;
    t
};

/// Whether `s` may hold a JWT (an `eyJ`) or holds a free-text credential, which
/// [`scrub_text`] replaces. One table pass settles ids and names without a search.
#[inline]
pub(crate) fn needs_scrub(s: &str) -> bool {
    needs_scrub_and_equals(s).0
}

/// [`needs_scrub`], and whether `s` holds a `=` at all, in one pass.
#[inline]
pub(crate) fn needs_scrub_and_equals(s: &str) -> (bool, bool) {
    let bytes = s.as_bytes();
    let acc = bytes.iter().fold(0, |acc, &b| acc | CLASS[usize::from(b)]);
    (needs_scrub_of(bytes, acc), acc & EQUALS != 0)
}

/// [`needs_scrub`] of `bytes`, whose [`CLASS`] bits OR to `acc`.
#[inline]
fn needs_scrub_of(bytes: &[u8], acc: u8) -> bool {
    if acc & (JAY | WHITESPACE | EQUALS | COLON_OR_BACKSLASH | ESCAPE) == 0 {
        // No `eyJ`, and nothing a credential can follow (a scheme's space, a header's
        // colon, a parameter's `=`, a tuple's quotes): ids and names.
        return false;
    }
    if acc & (JAY | WHITESPACE | COLON_OR_BACKSLASH | ESCAPE) == 0
        && !bytes.windows(2).any(|w| w[1] == b'=' && matches!(w[0] | 0x20, b'n' | b't' | b'd' | b'e' | b'y'))
    {
        // Only `=` signs, none after a letter that ends a secret parameter's name
        // ([`param_value_at`]): base64 padding (`L0SM9cOFvHcCIhw=`).
        return false;
    }
    holds_secret(bytes, acc)
}

/// Whether `bytes`, whose [`CLASS`] bits OR to `acc`, holds a JWT-shaped run (`eyJ`) or a
/// credential [`find_credential`] finds. A credential follows whitespace, a `=`, a `:`
/// or a backslash, or is the second string of a tuple written without a space
/// (`("authorization","…")`).
#[inline]
fn holds_secret(bytes: &[u8], acc: u8) -> bool {
    let jwt = acc & JAY != 0 && bytes.windows(3).any(|w| w == b"eyJ");
    let trigger = acc & (WHITESPACE | EQUALS | COLON_OR_BACKSLASH) != 0
        || (acc & ESCAPE != 0 && bytes.windows(3).any(|w| w == b"\",\""));
    jwt || (trigger && find_credential(bytes, 0).is_some())
}

/// What a string needs before it can be written: nothing, escaping, or JWT scrubbing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    Escaping,
    Scrubbing,
}

/// One branch-free pass over the bytes (a table load and an OR per byte); the rare
/// strings holding a `J` are then searched for `eyJ`, those holding whitespace for a
/// credential ([`find_credential`]).
#[inline]
fn classify(bytes: &[u8]) -> Needs {
    let mut acc = 0u8;
    for &b in bytes {
        acc |= CLASS[b as usize];
    }
    if holds_secret(bytes, acc) {
        Needs::Scrubbing
    } else if acc & ESCAPE != 0 {
        Needs::Escaping
    } else {
        Needs::Nothing
    }
}

/// What the word-at-a-time check of [`write_str`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fast {
    /// Nothing to escape, no `J`, no credential trigger: copied whole.
    Plain,
    /// Plain, but with a space and a `:` or `b[ae]` (`bearer`, `basic`): searched for
    /// a credential.
    Search,
    /// Something to escape or a `J`: the full path.
    Other,
}

/// [`is_plain`], also telling whether a plain string must be searched for a credential
/// (a space and, somewhere, a `:` or a `b`/`B` followed by `a`/`e` in either case). One
/// pass of a few word operations per 8 bytes.
#[inline]
fn fast_class(bytes: &[u8]) -> Fast {
    fast_class_eq(bytes).0
}

/// [`fast_class`], and whether the bytes may hold a `=` (`false` only when they hold
/// none; [`Fast::Other`] may end the pass early and then says `true`).
#[inline(always)]
fn fast_class_eq(bytes: &[u8]) -> (Fast, bool) {
    use crate::ascii_words::{HIGH, bytes_below, bytes_equal};
    if bytes.len() < 8 {
        let acc = bytes.iter().fold(0, |acc, b| acc | CLASS[usize::from(*b)]);
        let class = if acc & (ESCAPE | JAY) != 0 {
            Fast::Other
        } else if (acc & WHITESPACE != 0 && acc & BEE != 0) || acc & (EQUALS | COLON_OR_BACKSLASH) != 0 {
            Fast::Search
        } else {
            Fast::Plain
        };
        return (class, acc & EQUALS != 0);
    }
    // Little-endian words: a byte's successor is the next higher byte of the word.
    let load = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    // First pass, every string: anything to escape or a `J`, and whether there is a space
    // or a `=`.
    let (mut space, mut equals, mut colon, mut encoded) = (0u64, 0u64, 0u64, 0u64);
    let mut plain = |x: u64| -> bool {
        let refused = bytes_below(x, 0x20)
            | bytes_equal(x, b'"')
            | bytes_equal(x, b'\\')
            | bytes_equal(x, 0x7f)
            | bytes_equal(x, b'J');
        space |= bytes_equal(x, b' ');
        equals |= bytes_equal(x, b'=');
        colon |= bytes_equal(x, b':');
        encoded |= bytes_equal(x, b'%') | bytes_equal(x, b'+');
        refused == 0
    };
    let mut at = 0;
    while at + 8 <= bytes.len() {
        if !plain(load(at)) {
            return (Fast::Other, true);
        }
        at += 8;
    }
    if at != bytes.len() && !plain(load(bytes.len() - 8)) {
        return (Fast::Other, true);
    }
    let (has_space, has_equals, has_colon, has_encoded) =
        (space & HIGH != 0, equals & HIGH != 0, colon & HIGH != 0, encoded & HIGH != 0);
    if !has_space && !has_equals && !has_colon && !has_encoded {
        // No space, no `=` (ids, names, ARNs): no credential can follow a scheme, a header
        // name or a parameter name.
        return (Fast::Plain, false);
    }
    // Second pass, only for such text.
    let class = if (has_space && pair_trigger(bytes, space_pairs))
        || (has_equals && pair_trigger(bytes, equals_pairs))
        || (has_colon && !has_space && !has_equals && pair_trigger(bytes, colon_pairs))
        || (has_encoded && encoded_trigger(bytes))
    {
        Fast::Search
    } else {
        Fast::Plain
    };
    (class, has_equals)
}

/// For text with a space: a `:`, or a `b`/`B` followed by `a`/`e` (`bearer`, `basic`).
/// `carry` holds a `b` that ended the previous word, at bit 7; returns the word's triggers
/// (high bits) and its own carry.
#[inline(always)]
fn space_pairs(x: u64, carry: u64) -> (u64, u64) {
    use crate::ascii_words::{ONES, bytes_equal_exact};
    let folded = x | (ONES * 0x20);
    let b = bytes_equal_exact(folded, b'b');
    let ae = bytes_equal_exact(folded, b'a') | bytes_equal_exact(folded, b'e');
    (bytes_equal_exact(x, b':') | (b & (ae >> 8)) | (carry & ae & 0x80), (b >> 56) & 0x80)
}

/// For text with a `=`: one that follows a last letter of a secret parameter name (`n`,
/// `t`, `d`, `e`, `y`: base64 padding after other bytes is not searched), or any `:` (a
/// header without a space after it: `cookie:sid=1`).
#[inline(always)]
fn equals_pairs(x: u64, carry: u64) -> (u64, u64) {
    use crate::ascii_words::{ONES, bytes_equal_exact};
    let folded = x | (ONES * 0x20);
    let last = bytes_equal_exact(folded, b'n')
        | bytes_equal_exact(folded, b't')
        | bytes_equal_exact(folded, b'd')
        | bytes_equal_exact(folded, b'e')
        | bytes_equal_exact(folded, b'y');
    let eq = bytes_equal_exact(x, b'=');
    ((last & (eq >> 8)) | (carry & eq & 0x80) | bytes_equal_exact(x, b':'), (last >> 56) & 0x80)
}

/// For text without a space or `=` but with a `:`: one that follows a last letter of a
/// secret header name (`n`, `e`, `l`, `y`: [`SECRET_HEADERS`]; `s` of a plural before a
/// list, `cookies:[…]`), as in `x-Authorization:TOKEN` or `x-api-key:KEY`, or a single
/// quote (`{'password':'…'}`), or one followed by a `/` (a URL's `scheme://`). (A `:`
/// after a double quote only appears in text that has to be escaped, which is always
/// searched.)
#[inline(always)]
fn colon_pairs(x: u64, carry: u64) -> (u64, u64) {
    use crate::ascii_words::{ONES, bytes_equal_exact};
    let folded = x | (ONES * 0x20);
    let last = bytes_equal_exact(folded, b'n')
        | bytes_equal_exact(folded, b'e')
        | bytes_equal_exact(folded, b'l')
        | bytes_equal_exact(folded, b'y')
        | bytes_equal_exact(folded, b's')
        | bytes_equal_exact(x, b'\'');
    let colon = bytes_equal_exact(x, b':');
    // And a `:` followed by a `/` (`scheme://`, whose user information may hold a
    // password): carried across words in bit 6.
    let slash = bytes_equal_exact(x, b'/');
    let scheme = (colon & (slash >> 8)) | (((carry & 0x40) << 1) & slash & 0x80);
    ((last & (colon >> 8)) | (carry & colon & 0x80) | scheme, ((last >> 56) & 0x80) | ((colon >> 57) & 0x40))
}

/// For text with a `%` or a `+`: an encoded separator a credential may follow (`%20`,
/// `%3A`, `%3D` in either case, or a `+`), searched byte by byte (such text is rare).
fn encoded_trigger(bytes: &[u8]) -> bool {
    (0..bytes.len()).any(|i| encoded_sep_at(bytes, i).is_some())
}

/// The encoded separator at `i`, with its length: `%20` or `+` (a space), `%3A` (a
/// `:`), `%3D` (a `=`), hex digits in either case.
#[inline]
fn encoded_sep_at(b: &[u8], i: usize) -> Option<(u8, usize)> {
    match b.get(i)? {
        b'+' => Some((b' ', 1)),
        b'%' => match (b.get(i + 1)?, b.get(i + 2)? | 0x20) {
            (b'2', b'0') => Some((b' ', 3)),
            (b'3', b'a') => Some((b':', 3)),
            (b'3', b'd') => Some((b'=', 3)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `pairs` finds a trigger in `bytes` (at least 8 long), word by word. Exact per
/// byte: the pairs are matched byte to byte, and a spurious bit would send ordinary text
/// (`established`) to the search.
#[inline(always)]
fn pair_trigger(bytes: &[u8], pairs: impl Fn(u64, u64) -> (u64, u64)) -> bool {
    use crate::ascii_words::HIGH;
    let load = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let (mut trigger, mut carry) = (0u64, 0u64);
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let (t, c) = pairs(load(at), carry);
        trigger |= t;
        carry = c;
        at += 8;
    }
    // The last, overlapping word: the pairs across its start were in the word before (no
    // carry into it), and its own pairs cover the ones across that word's end.
    if at != bytes.len() {
        trigger |= pairs(load(bytes.len() - 8), 0).0;
    }
    trigger & HIGH != 0
}

/// No byte below 0x20, no `"`, `\\`, DEL or `J` (conservative: any answer `false` is
/// handled by the full escaper).
#[cfg(test)]
#[inline]
pub(crate) fn is_plain(bytes: &[u8]) -> bool {
    use crate::ascii_words::{all_words, bytes_below, bytes_equal};
    if bytes.len() < 8 {
        return bytes.iter().fold(0, |acc, b| acc | CLASS[usize::from(*b)]) & (ESCAPE | JAY) == 0;
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
/// (see [`scrub_jwts`]) and any credential in free text (see [`find_credential`]) is
/// replaced by `[REDACTED]`, so a token that slips into a message or an error text
/// never reaches a log line.
///
/// Names, ids and values are short plain ASCII almost always: a word-at-a-time check finds
/// those (no byte to escape, no `J`, so no `eyJ` either; no space, or no `:` nor
/// `bearer`/`basic`-like pair, so no credential) and copies them whole.
#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    match fast_class(bytes) {
        Fast::Plain => write_plain(out, bytes),
        Fast::Search if find_credential(bytes, 0).is_none() => write_plain(out, bytes),
        _ => write_str_checked(out, s),
    }
}

/// [`write_str`], after the value of every `key=value` pair whose key `redactor` redacts
/// (its configured keys, not only the fixed secret parameters of the scrubber) is replaced
/// by `[REDACTED]`. Whether the text holds a `=` comes from [`write_str`]'s own pass.
#[inline]
pub(crate) fn write_text(out: &mut Vec<u8>, s: &str, redactor: &super::Redactor) {
    let bytes = s.as_bytes();
    match fast_class_eq(bytes) {
        (Fast::Plain, false) => write_plain(out, bytes),
        (class, has_equals) => write_text_slow(out, s, class, has_equals, redactor),
    }
}

/// [`write_text`] of text that holds a `=` or needs more than copying.
fn write_text_slow(out: &mut Vec<u8>, s: &str, class: Fast, has_equals: bool, redactor: &super::Redactor) {
    if has_equals && let Some(redacted) = redactor.redact_pairs(s) {
        return write_str(out, &redacted);
    }
    match class {
        Fast::Plain => write_plain(out, s.as_bytes()),
        Fast::Search if find_credential(s.as_bytes(), 0).is_none() => write_plain(out, s.as_bytes()),
        _ => write_str_checked(out, s),
    }
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
            let scrubbed = scrub_text(s).unwrap_or_else(|| s.to_owned());
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

/// The end of the base64 run (either alphabet: base64url plus `+` and `/`) from `i`.
const fn b64_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (is_b64url(b[i]) || b[i] == b'+' || b[i] == b'/') {
        i += 1;
    }
    i
}

/// The length of the part separator at `i`: 1 for `.`, 3 for `%2E`/`%2e` (a
/// URL-encoded dot), 0 for none.
const fn separator_at(b: &[u8], i: usize) -> usize {
    if i < b.len() && b[i] == b'.' {
        1
    } else if i + 3 <= b.len() && b[i] == b'%' && b[i + 1] == b'2' && (b[i + 2] == b'E' || b[i + 2] == b'e') {
        3
    } else {
        0
    }
}

/// The shortest part of a two-part token: 10 bytes, the base64url of `{"a":1}` (the
/// shortest JSON object with a key; shorter `eyJ….eyJ…` runs are not tokens).
const MIN_TWO_PART: usize = 10;

/// At `i`, where `eyJ` starts: `Ok(end)` when a JWT-shaped run spans `i..end`;
/// `Err(next)`, where the search goes on, when none does. JWT-shaped: parts separated by
/// `.` or `%2E`/`%2e`, either
/// - `eyJ<b64url>` `.` `<b64url>` `.` `<sig>`, the signature possibly empty (`alg: none`
///   tokens) and in either base64 alphabet, followed by any more `.<b64>` parts (JWE
///   tokens have five), or
/// - `eyJ<b64url>` `.` `eyJ<b64url>` (two parts, the second a JSON payload too: an
///   unsigned token cut before its last dot), each part at least [`MIN_TWO_PART`] long, or
/// - `eyJ<b64url>` `..` `<b64url>` `.` `<b64url>`...: a JWE whose encrypted key is empty
///   (`alg: dir`, `ECDH-ES`), with at least two non-empty parts after it.
///
/// The one definition of "looks like a JWT", shared by [`scrub_jwts`] and
/// [`contains_jwt`].
const fn jwt_at(b: &[u8], i: usize) -> Result<usize, usize> {
    let j = b64url_end(b, i);
    let s1 = separator_at(b, j);
    if s1 > 0 {
        let p = j + s1;
        let k = b64url_end(b, p);
        if k > p || jwe_without_key(b, k) {
            let s2 = separator_at(b, k);
            if s2 > 0 {
                let mut end = b64_end(b, k + s2);
                loop {
                    let s = separator_at(b, end);
                    if s == 0 {
                        break;
                    }
                    let next = b64_end(b, end + s);
                    if next == end + s {
                        break;
                    }
                    end = next;
                }
                return Ok(end);
            }
            if j - i >= MIN_TWO_PART && k - p >= MIN_TWO_PART && eyj_at(b, p) {
                return Ok(k);
            }
        }
    }
    Err(if j > i + 1 { j } else { i + 1 })
}

/// At `k`, just after a JWE header's separator: whether an empty encrypted key follows,
/// then two non-empty parts (`.<iv>.<ciphertext>`).
const fn jwe_without_key(b: &[u8], k: usize) -> bool {
    let s2 = separator_at(b, k);
    if s2 == 0 {
        return false;
    }
    let iv = k + s2;
    let iv_end = b64url_end(b, iv);
    let s3 = separator_at(b, iv_end);
    iv_end > iv && s3 > 0 && b64_end(b, iv_end + s3) > iv_end + s3
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
/// assert!(contains_jwt("tenant eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0"));
/// assert!(contains_jwt("eyJhbGciOiJub25lIn0%2EeyJzdWIiOiJ4In0%2Ec2ln"));
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

/// Replaces every JWT-shaped run with `[REDACTED]`: `eyJ<b64url>.<b64url>.<sig>` (the
/// signature may be empty, as in `alg: none` tokens, or standard base64; more `.` parts
/// may follow, as in JWE tokens), or two parts `eyJ<b64url>.eyJ<b64url>`; the dots may
/// be URL-encoded (`%2E`).
///
/// ```
/// use streamer_obs::log::scrub_jwts;
/// let s = "bad token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln here";
/// assert_eq!(scrub_jwts(s), "bad token [REDACTED] here");
/// assert_eq!(scrub_jwts("t=eyJhbGciOiJSUzI1NiJ9%2EeyJzdWIiOiJ1In0%2Ec2ln&x=1"), "t=[REDACTED]&x=1");
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

/// The header names whose value [`find_credential`] redacts in free text (compared
/// case-insensitively with `-` and `_` alike, as the end of the name: `Proxy-Authorization`,
/// `Set-Cookie` and `X-Api-Key` are included).
const SECRET_HEADERS: [&[u8]; 11] = [
    b"authorization",
    b"cookie",
    b"sec-websocket-protocol",
    b"api-key",
    b"apikey",
    // Headers that carry a token (`X-Amz-Security-Token`, `X-Auth-Token`, ...): a plain
    // `name: value`, where a parameter named `…token` needs quotes to count.
    b"security-token",
    b"session-token",
    b"auth-token",
    b"access-token",
    b"refresh-token",
    b"id-token",
];

/// Whether `b` ends with `suffix` (ASCII case-insensitive).
fn ends_with_ignore_case(b: &[u8], suffix: &[u8]) -> bool {
    b.len() >= suffix.len() && b[b.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// Whether `name` ends with `suffix` (ASCII case-insensitive, `-` and `_` alike).
fn ends_with_name(name: &[u8], suffix: &[u8]) -> bool {
    name.len() >= suffix.len()
        && name[name.len() - suffix.len()..].iter().zip(suffix).all(|(&a, &b)| {
            let a = if a == b'_' { b'-' } else { a.to_ascii_lowercase() };
            a == b
        })
}

/// Whether `token` reads as an ordinary word rather than a credential: letters only,
/// none upper case after the first, shorter than 20 (`a basic check`, `Bearer token`).
fn is_prose_word(token: &[u8]) -> bool {
    token.len() < 20
        && token.iter().all(u8::is_ascii_alphabetic)
        && token.iter().skip(1).all(|b| !b.is_ascii_uppercase())
}

/// Where a credential token after `bearer`/`basic` ends.
fn is_token_stop(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'"'
            | b'\''
            | b'`'
            | b','
            | b';'
            | b'<'
            | b'>'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'\\'
    )
}

/// The first credential in free text at or after `from`, as the byte range to replace:
/// - the value after a header name ending in `Authorization`, `Cookie`,
///   `Sec-WebSocket-Protocol` or `Api-Key` (any case, `-` or `_`, possibly in quotes as in
///   JSON text) and `:` (not `::`, a path), or after a secret parameter name that is
///   quoted (`"password":`) or followed by a quoted value (`password: "…"`): the quoted
///   string that follows, possibly in up to three wrappers and on the next line
///   (`cookie: "sid=1"`, `"cookie": String("sid=1")`, `token: Some(Token("…"))`, as
///   `Debug` writes fields and JSON values), or else the rest of the line (up to `\r`,
///   `\n` or `"`); also the second string of a `("authorization", "…")` tuple, its
///   elements possibly on separate lines ([`header_value_at`]);
/// - the value of a `name=value` pair whose name ends like a secret parameter
///   ([`SECRET_PARAMS`], [`pair_value_at`]);
/// - the token after the word `Bearer` or `Basic` (any case, also right after an escape
///   such as `\t` in `Debug` output) and whitespace, up to whitespace, a quote or one of
///   `,;<>()[]{}\`, unless it reads as a plain word ([`is_prose_word`]: `a basic check`
///   is kept);
/// - the password of a URL's user information, `scheme://user:password@host`
///   ([`url_password_at`]).
pub(crate) fn find_credential(b: &[u8], from: usize) -> Option<(usize, usize)> {
    // A plain loop: the strings searched are short text (a message, a `Debug` output),
    // where a vectorised search costs more to set up than it saves.
    for at in from..b.len() {
        let found = match b[at] {
            b':' if b.get(at + 1) == Some(&b'/') && b.get(at + 2) == Some(&b'/') => url_password_at(b, at),
            b':' | b',' => header_value_at(b, at),
            b'=' => param_value_at(b, at),
            b' ' | b'\t' | b'\n' | b'\r' | b'\\' if space_at(b, at) > 0 => scheme_token_at(b, at),
            b'%' | b'+' => match encoded_sep_at(b, at) {
                Some((b' ', _)) => scheme_token_at(b, at),
                Some((b':', _)) => encoded_header_value_at(b, at),
                Some((b'=', _)) => encoded_param_value_at(b, at),
                _ => None,
            },
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// At the `:` of a `scheme://`: the byte range of the password of
/// `scheme://user:password@host`, or `None` when the URL has none. One parser for log
/// text and for the X-Ray `http`/`sql` URLs ([`crate::xray::redact`]):
/// - the URL runs to whitespace, a quote, `<`, `>` or `\` (where text around it starts);
/// - the user name runs to the first `:` and never holds `/`, `?`, `#`, `@` or `[`
///   (`ssh://git@host:22`, `https://h/x?a=b:c@d`, `http://[::1]:80` have no password);
/// - digits after that `:` followed by anything but `@` are a port (`host:8443/x@y`,
///   `host:1433;user=a@b`, `host:8443?email=a@b`), as is a `/` right after it;
/// - the password runs to the last `@` followed by a host (letters, digits, `.`, `-`,
///   `_`, `%`, `~`, or `[…]`) and an optional `:port`. A password holding an unencoded `@`, `?`, `#` or `/` (base64 text) is
///   covered whole; when the query of a URL with a password also holds such an `@`
///   (`https://u:p@h?email=a@b`), everything up to it is taken: too much rather than a
///   leak.
pub(crate) fn url_password_range(b: &[u8], scheme_colon: usize) -> Option<(usize, usize)> {
    let start = scheme_colon + 3;
    let end = b[start.min(b.len())..]
        .iter()
        .position(|&c| c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>' | b'\\'))
        .map_or(b.len(), |n| start + n);
    let url = b.get(start..end)?;
    let colon = url.iter().position(|&c| matches!(c, b':' | b'/' | b'?' | b'#' | b'@' | b'['))?;
    if url[colon] != b':' {
        return None;
    }
    let after = &url[colon + 1..];
    let digits = after.iter().take_while(|c| c.is_ascii_digit()).count();
    if after.first() == Some(&b'/') || (digits > 0 && after.get(digits) != Some(&b'@')) {
        return None;
    }
    let at = (colon + 1..url.len()).rev().find(|&i| url[i] == b'@' && host_then_end(&url[i + 1..]))?;
    let range = (start + colon + 1, start + at);
    (range.1 > range.0 && &b[range.0..range.1] != REDACTED.as_bytes()).then_some(range)
}

/// Whether `rest` starts with a URL host (a name of letters, digits, `.`, `-`, `_`, `%`,
/// `~`, or an IPv6 `[…]`) and an optional `:port`, not followed by another `@`.
fn host_then_end(rest: &[u8]) -> bool {
    let host = if rest.first() == Some(&b'[') {
        match rest.iter().position(|&c| c == b']') {
            Some(close) => close + 1,
            None => return false,
        }
    } else {
        rest.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'%' | b'~')).count()
    };
    if host == 0 {
        return false;
    }
    let mut i = host;
    if rest.get(i) == Some(&b':') {
        i += 1 + rest[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    // Then anything but another `@` (`/`, `?`, `;`, the end, or the punctuation of the
    // text around the URL: `(see postgres://app:…@db.)`).
    rest.get(i) != Some(&b'@')
}

/// [`url_password_range`] as a credential of free text.
fn url_password_at(b: &[u8], scheme_colon: usize) -> Option<(usize, usize)> {
    url_password_range(b, scheme_colon)
}

/// At a `:` (not one of `::`) or at the `,` of a `("name", "value")` pair (the quoted
/// name right after the `(`, as `Debug` writes tuples): the value of a secret header
/// named just before it, or of a secret parameter whose name is quoted (`"password": "…"`
/// in JSON text) or followed by a quoted value (`password: "…"`, a `Debug` struct field).
/// The name may be quoted, and the quote escaped (`\"cookie\":` in `Debug` output of
/// JSON text). The value: after spaces and up to three `Debug` wrappers such as
/// `String(` or `Some(` ([`quoted_value_at`]; a tuple's second element and a wrapper's
/// string may be on the next line), a quoted string (its quotes possibly escaped), or
/// else, after a `:` only, the rest of the line (up to `\r`, `\n` or a `"` that does not
/// open a quoted auth parameter such as `username="…"`; the backslashes escaping that
/// quote stay).
fn header_value_at(b: &[u8], sep: usize) -> Option<(usize, usize)> {
    // `::` is a path (`cookie::parse::Error`, `headers::authorization::Bearer`), not a
    // header's colon.
    if b[sep] == b':' && (b.get(sep + 1) == Some(&b':') || (sep > 0 && b[sep - 1] == b':')) {
        return None;
    }
    let mut end = sep;
    // Blanks before a `:` (`"password" : "…"`, as Jackson's and Gson's pretty printers
    // write JSON): read after a quoted name only (`Erreur de cookie : …` is prose).
    if b[sep] == b':' {
        while end > 0 && matches!(b[end - 1], b' ' | b'\t') {
            end -= 1;
        }
    }
    // The name in double quotes (JSON, `Debug`) or single ones (Python's `repr` of a dict:
    // read only when a quoted value or a list follows, `Invalid field 'password': …` is
    // prose).
    let single = end > 0 && b[end - 1] == b'\'';
    let quoted = end > 0 && matches!(b[end - 1], b'"' | b'\'');
    if end < sep && !quoted {
        return None;
    }
    if quoted {
        end -= 1;
        if end > 0 && b[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let tuple = b[sep] == b',';
    // A tuple is `("name", "value")`: the quoted name right after a `(` (a list of header
    // names, `["authorization", "accept"]`, is not a pair).
    if tuple && !(quoted && opens_tuple(b, end)) {
        return None;
    }
    // Every secret header name ends in `n` (`…Authorization`), `e` (`…Cookie`), `l`
    // (`Sec-WebSocket-Protocol`), `y` (`X-Api-Key`) or `s` (`cookies`), every parameter
    // name in one of `n`, `t`, `d`, `e`, `y`, `s`: anything else is rejected without
    // reading the name.
    if end == 0 || !matches!(b[end - 1] | 0x20, b'n' | b'e' | b'l' | b'y' | b't' | b'd' | b's') {
        return None;
    }
    // The name is the suffix compared: the bytes before it do not matter. A secret
    // parameter's name counts when quoted (`"password": …`, JSON text) or when a quoted
    // value follows (`password: "…"`, a `Debug` struct field).
    let name = &b[..end];
    let param = || SECRET_PARAMS.iter().any(|n| ends_with_name(name, n));
    let list = list_value_at(b, sep + 1);
    let value_quoted = !tuple && quoted_value_at(b, sep + 1).is_some();
    if single && !value_quoted && list.is_none() {
        return None;
    }
    // A plural name (`cookies`, `tokens`) counts before a list or map only: `"input_tokens":
    // 12` is a count.
    let plural = || list.is_some() && SECRET_PLURALS.iter().any(|n| ends_with_name(name, n));
    let secret = SECRET_HEADERS.iter().any(|n| ends_with_name(name, n))
        || (quoted && param())
        || (!tuple && (value_quoted || list.is_some()) && param())
        || (!tuple && plural());
    if !secret {
        return None;
    }
    // A list of values (`"Authorization": ["…"]`: `Debug` of a `QueryMap`, JSON text of
    // `multiValueHeaders`): everything between the brackets.
    if let Some(open) = list {
        let close = list_close(b, open);
        return (close > open + 1 && &b[open + 1..close] != REDACTED.as_bytes()).then_some((open + 1, close));
    }
    // A tuple's next element may be on the next line (`{:#?}`, its line break possibly
    // escaped in `Debug` of such text); so may a wrapper's string (`Some(\n "…"`).
    let v = quoted_value_at(b, sep + 1).unwrap_or_else(|| skip_layout(b, sep + 1, tuple));
    let (start, end) = if v < b.len() && b[v] == b'\'' {
        // A single-quoted value (`'Cookie': 'sid=…'`): to the next `'` on the line, past
        // backslash escapes (`'p\'ss'`, as Python's `repr` writes a quote).
        let mut e = v + 1;
        while e < b.len() && !matches!(b[e], b'\'' | b'\r' | b'\n') {
            e += if b[e] == b'\\' { 2 } else { 1 };
        }
        (v + 1, e.min(b.len()))
    } else if v < b.len() && b[v] == b'"' {
        let mut e = v + 1;
        while e < b.len() && b[e] != b'"' {
            e += if b[e] == b'\\' { 2 } else { 1 };
        }
        (v + 1, e.min(b.len()))
    } else if v + 1 < b.len() && b[v] == b'\\' && b[v + 1] == b'"' {
        // An escaped quote: the value runs to the next escaped quote.
        let mut e = v + 2;
        while e < b.len() && !(b[e] == b'\\' && b.get(e + 1) == Some(&b'"')) {
            e += 1;
        }
        (v + 2, e)
    } else if tuple {
        return None;
    } else {
        let mut e = v;
        loop {
            while e < b.len() && !matches!(b[e], b'\r' | b'\n' | b'"') {
                e += 1;
            }
            if e >= b.len() || b[e] != b'"' {
                break;
            }
            // The backslashes escaping this quote (`\"`: JSON text inside a string, in
            // `Debug` output or in a logged event).
            let run = b[v..e].iter().rev().take_while(|&&c| c == b'\\').count();
            // `name="…"`: a quoted auth parameter (`Digest username="…", response="…"`) is
            // part of the value, up to its closing quote (escaped as its opening one).
            let param = e - run > v && b[e - run - 1] == b'=';
            match param.then(|| closing_quote(b, e + 1, run)).flatten() {
                Some(close) => e = close + 1,
                None => {
                    // The quote ends the value and keeps its backslashes: the text around
                    // stays what it was. Only those: a backslash elsewhere (`C:\Users\nina`,
                    // `CORP\rachel`, an escaped line break) is part of the value.
                    e -= run;
                    break;
                }
            }
        }
        (v, e)
    };
    (end > start && &b[start..end] != REDACTED.as_bytes()).then_some((start, end))
}

/// The first `"` at or after `from` escaped by exactly `run` backslashes (the closing quote
/// of a quoted string whose opening quote had `run`), on the same line; `None` if none.
fn closing_quote(b: &[u8], from: usize, run: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() && !matches!(b[i], b'\r' | b'\n') {
        if b[i] == b'"' && b[from..i].iter().rev().take_while(|&&c| c == b'\\').count() == run {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Past spaces and tabs from `i`, and with `newlines` also past line breaks, real or
/// escaped (`\n`, `\r`, `\t` as `Debug` writes them inside a string).
fn skip_layout(b: &[u8], mut i: usize, newlines: bool) -> usize {
    loop {
        match b.get(i) {
            Some(b' ' | b'\t') => i += 1,
            Some(b'\n' | b'\r') if newlines => i += 1,
            Some(b'\\') if newlines && matches!(b.get(i + 1), Some(b'n' | b'r' | b't')) => i += 2,
            _ => return i,
        }
    }
}

/// Where a quoted string starts (its quote possibly escaped) after spaces at `v`, either
/// right there or inside up to three `Debug` wrappers (`Some("…")`, `Some(Token("…"))`,
/// `String(` then a line break and the string, as `{:#?}` writes it); `None` when no
/// quoted string follows.
fn quoted_value_at(b: &[u8], v: usize) -> Option<usize> {
    let mut q = skip_layout(b, v, false);
    // Up to three nested wrappers (`Some(Token("…"))`).
    for _ in 0..3 {
        let w = q + b[q.min(b.len())..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
        if w == q {
            break;
        }
        // A wrapper needs its `(`: a bare word before a quote (`"user.password:changed"`)
        // is not a value.
        if b.get(w) != Some(&b'(') {
            return None;
        }
        q = skip_layout(b, w + 1, true);
    }
    let quote = matches!(b.get(q), Some(b'"' | b'\'')) || (b.get(q) == Some(&b'\\') && b.get(q + 1) == Some(&b'"'));
    quote.then_some(q)
}

/// Where a list of quoted strings or a map with quoted keys opens (its `[` or `{`) after
/// spaces at `v`, possibly in up to three wrappers (`Some([…])`, serde_json's `Array […]`
/// and `Object {…}`): `["…", …]`, `[String("…")]`, `{"k": …}`, the strings' quotes possibly
/// escaped, the first one possibly on the next line (`{:#?}`) or in wrappers of its own;
/// `None` otherwise.
fn list_value_at(b: &[u8], v: usize) -> Option<usize> {
    let mut open = skip_layout(b, v, false);
    // Up to three wrappers around the list: `Some([…])`, serde_json's `Array […]`.
    for _ in 0..3 {
        if matches!(b.get(open), Some(b'[' | b'{')) {
            break;
        }
        let w = open + b[open.min(b.len())..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
        if w == open {
            return None;
        }
        open = match b.get(w) {
            Some(b'(') => skip_layout(b, w + 1, true),
            Some(b' ') => skip_layout(b, w, false),
            _ => return None,
        };
    }
    if !matches!(b.get(open), Some(b'[' | b'{')) {
        return None;
    }
    // The first element (or key) a quoted string, possibly in wrappers (`String("…")`) or
    // in nested lists (`[["…"]]`).
    let mut first = skip_layout(b, open + 1, true);
    for _ in 0..8 {
        if !matches!(b.get(first), Some(b'[' | b'{')) {
            break;
        }
        first = skip_layout(b, first + 1, true);
    }
    quoted_value_at(b, first).map(|_| open)
}

/// The `]` or `}` closing the list or map whose `[` or `{` is at `open`, past the quoted
/// strings in it (a bracket inside one does not count; their quotes possibly escaped) and
/// the brackets nested in it; the end of `b` when it is not closed.
fn list_close(b: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    // Brackets nested inside (`[["a"], ["b"]]`, `{"k": Array [..]}`).
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            b']' | b'}' => return i,
            b'\'' => {
                // A single-quoted string (Python's `repr`): to its closing quote, past
                // escaped characters.
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'"' => {
                // A string: to its closing quote, past escaped characters.
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'\\' if b.get(i + 1) == Some(&b'"') => {
                // A string whose quotes are escaped (`Debug` of such text): to the next
                // escaped quote.
                i += 2;
                while i < b.len() && !(b[i] == b'\\' && b.get(i + 1) == Some(&b'"')) {
                    i += 1;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Whether the quoted name whose closing quote (or the backslash escaping it) is at
/// `close` is the first element of a tuple: right after a `(`, line breaks and
/// indentation between.
fn opens_tuple(b: &[u8], close: usize) -> bool {
    let Some(open) = b[..close].iter().rposition(|&c| c == b'"') else { return false };
    let mut i = if open > 0 && b[open - 1] == b'\\' { open - 1 } else { open };
    while i > 0 {
        match b[i - 1] {
            b' ' | b'\t' | b'\n' | b'\r' => i -= 1,
            b'n' | b'r' | b't' if i >= 2 && b[i - 2] == b'\\' => i -= 2,
            b'(' => return true,
            _ => return false,
        }
    }
    false
}

/// Plural names of secrets: their value is a secret when it is a list or a map (`cookies:
/// Some(["sid=…"])`, the HTTP API's event), not otherwise (`"input_tokens": 12`).
const SECRET_PLURALS: [&[u8]; 4] = [b"tokens", b"cookies", b"passwords", b"secrets"];

/// Names of `name=value` pairs whose value is a secret (URL query strings, form bodies,
/// `key=value` logs), matched at the end of the name, in any case, `-` and `_` alike:
/// `access_token`, `X-Amz-Security-Token`, `client_secret`, `X-Amz-Signature`, ...
const SECRET_PARAMS: [&[u8]; 14] = [
    b"token",
    b"authorization",
    b"jwt",
    b"password",
    b"pwd",
    b"secret",
    b"cookie",
    b"api-key",
    b"apikey",
    b"signature",
    // AWS credentials as STS and the SDKs write them (`"SecretAccessKey":`,
    // `secret_access_key:`, `"secretAccessKey":`), and private keys (`"private_key":`, a
    // service-account JSON).
    b"secret-access-key",
    b"secretaccesskey",
    b"private-key",
    b"privatekey",
];

/// Whether a parameter named `name` holds a secret: it ends like one of [`SECRET_PARAMS`]
/// (any case, `-` and `_` alike).
pub(crate) fn is_secret_param_name(name: &str) -> bool {
    SECRET_PARAMS.iter().any(|n| ends_with_name(name.as_bytes(), n))
}

/// At a `=`: the value of a pair whose name ends like one of [`SECRET_PARAMS`] (see
/// [`pair_value_at`]).
fn param_value_at(b: &[u8], eq: usize) -> Option<(usize, usize)> {
    // Every name of the list ends in `n`, `t`, `d`, `e` or `y`: others are rejected
    // without reading the name (so is most base64 padding).
    if eq == 0 || !matches!(b[eq - 1] | 0x20, b'n' | b't' | b'd' | b'e' | b'y') {
        return None;
    }
    pair_value_at(b, 0, eq, |name| SECRET_PARAMS.iter().any(|n| ends_with_name(name, n)))
}

/// What ends the name of a `name=value` pair, read back from its `=`: a query or form
/// separator (`?`, `&`, `;`, `#`), another `=`, or a [token stop](is_token_stop).
fn is_pair_name_stop(b: u8) -> bool {
    matches!(b, b'?' | b'&' | b'#' | b'=') || is_token_stop(b)
}

/// At the `=` at `eq`: the byte range of the value of the `name=value` pair around it,
/// when `name_matches` its name. The name runs back from the `=` to a
/// [name stop](is_pair_name_stop) or to `from`; the value runs up to `&` or a
/// [token stop](is_token_stop), or, when it opens with a quote (`"`, `'`, `` ` ``, or the
/// `\"` of `Debug` output) or a bracket (`[`, `(`, `{`, `<`), up to the matching close
/// (the end of the line when there is none): `password="…"`, `ssn=[…]`. Blanks around
/// the `=` are skipped (`ssn = …`), a quoted name is read inside its quotes (`"ssn"=…`),
/// and a `Debug` escape such as `\u{7f}` is part of a value. `None` when the
/// name does not match, or the value is empty or already `[REDACTED]`. Both ends are next
/// to ASCII bytes (or at the ends of `b`), so they are `str` boundaries of a `str`'s
/// bytes.
///
/// The one pair scanner of the crate: the log text's fixed list of secret parameters
/// ([`SECRET_PARAMS`]) and the redactor's configured keys (`Redactor::redact_value` on
/// logged events) differ only in `name_matches`.
pub(crate) fn pair_value_at(
    b: &[u8],
    from: usize,
    eq: usize,
    name_matches: impl FnOnce(&[u8]) -> bool,
) -> Option<(usize, usize)> {
    pair_value_after(b, from, eq, eq + 1, name_matches)
}

/// [`pair_value_at`] with the separator at `eq` ending before `value_at` (a `=`, or a
/// percent-encoded `%3D` and the encoded blanks after it).
fn pair_value_after(
    b: &[u8],
    from: usize,
    eq: usize,
    value_at: usize,
    name_matches: impl FnOnce(&[u8]) -> bool,
) -> Option<(usize, usize)> {
    // The name: back from the `=` over blanks (`ssn = …`), then to a name stop; a quoted
    // name (`"ssn"=…`) is the text inside its quotes.
    let mut name_end = eq;
    while name_end > from && matches!(b[name_end - 1], b' ' | b'\t') {
        name_end -= 1;
    }
    let (start, end) = match b[from..name_end].last() {
        Some(&q @ (b'"' | b'\'')) => {
            let close = name_end - 1;
            let open = b[from..close].iter().rposition(|&c| c == q)?;
            (from + open + 1, close)
        }
        _ => {
            let mut start = name_end;
            while start > from && !is_pair_name_stop(b[start - 1]) {
                start -= 1;
            }
            (start, name_end)
        }
    };
    if !name_matches(&b[start..end]) {
        return None;
    }
    let mut v = value_at;
    while v < b.len() && matches!(b[v], b' ' | b'\t') {
        v += 1;
    }
    if b[v.min(b.len())..].starts_with(REDACTED.as_bytes()) {
        // Already redacted, unless more of a value follows the marker
        // (`ssn=[REDACTED]123`): then the whole run is replaced.
        let after = v + REDACTED.len();
        let end = after + b[after..].iter().take_while(|&&c| c != b'&' && !is_token_stop(c)).count();
        return (end > after).then_some((v, end));
    }
    // Up to the close, or to the end of the line when it is not closed there.
    let enclosed = |open: usize, close: &[u8]| {
        let start = open;
        let line_end = b[start..].iter().position(|&c| matches!(c, b'\n' | b'\r')).map_or(b.len(), |n| start + n);
        let end = b[start..line_end].windows(close.len()).position(|w| w == close).map_or(line_end, |n| start + n);
        (end > start && !b[start..end].starts_with(REDACTED.as_bytes())).then_some((start, end))
    };
    match b.get(v) {
        Some(&q @ (b'"' | b'\'' | b'`')) => return enclosed(v + 1, &[q]),
        Some(b'\\') if b.get(v + 1) == Some(&b'"') => return enclosed(v + 2, b"\\\""),
        Some(b'[') => return enclosed(v + 1, b"]"),
        Some(b'(') => return enclosed(v + 1, b")"),
        Some(b'{') => return enclosed(v + 1, b"}"),
        Some(b'<') => return enclosed(v + 1, b">"),
        _ => {}
    }
    let mut e = v;
    while e < b.len() && b[e] != b'&' {
        if b[e] == b'\\' {
            // A `Debug` escape inside the value (`\u{7f}`, `\0`, `\\`, `\'`) is part of it;
            // `\"`, `\t`, `\n`, `\r` end it.
            match b.get(e + 1) {
                Some(b'u') if b.get(e + 2) == Some(&b'{') => {
                    e = b[e..].iter().position(|&c| c == b'}').map_or(b.len(), |n| e + n + 1);
                    continue;
                }
                Some(b'0' | b'\\' | b'\'') => {
                    e += 2;
                    continue;
                }
                _ => break,
            }
        }
        if is_token_stop(b[e]) {
            break;
        }
        e += 1;
    }
    // An authorization scheme as the value (`authorization=Bearer TOKEN`,
    // `auth = Basic …`): the credential after it is part of the value, or a pass that
    // redacts the pair would leave it after the marker, where the scheme no longer shows.
    let e = scheme_credential_end(b, v, e).unwrap_or(e);
    (e > v && &b[v..e] != REDACTED.as_bytes()).then_some((v, e))
}

/// When `b[v..e]` is an authorization scheme word (`Bearer`, `Basic`, `Token`, any case)
/// followed by blanks and a credential: where that credential ends (as
/// [`scheme_token_at`] reads it).
fn scheme_credential_end(b: &[u8], v: usize, e: usize) -> Option<usize> {
    let word = &b[v..e];
    if !(word.eq_ignore_ascii_case(b"bearer")
        || word.eq_ignore_ascii_case(b"basic")
        || word.eq_ignore_ascii_case(b"token"))
    {
        return None;
    }
    let (t, end) = token_after_blanks(b, e, true);
    (t > e && end > t).then_some(end)
}

/// The token after the blanks at `from` (encoded ones included): its start and end, the
/// end at a [token stop](is_token_stop), or also at `&` with `amp_ends` (a query string or
/// form body).
fn token_after_blanks(b: &[u8], from: usize, amp_ends: bool) -> (usize, usize) {
    let mut t = from;
    while let n @ 1.. = space_at(b, t) {
        t += n;
    }
    let t = t.min(b.len());
    let end = t + b[t..].iter().take_while(|&&c| !(is_token_stop(c) || (amp_ends && c == b'&'))).count();
    (t, end)
}

/// The length of the whitespace at `i`: a space, a tab or a line break (`Bearer\r\nTOKEN`
/// in a raw header dump), or the two-byte escapes `\\t`, `\\n`, `\\r` of `Debug` output
/// (`"bearer\\tTOKEN"`); 0 when there is none.
fn space_at(b: &[u8], i: usize) -> usize {
    match (b.get(i), b.get(i + 1)) {
        (Some(b' ' | b'\t' | b'\n' | b'\r'), _) => 1,
        (Some(b'\\'), Some(b't' | b'n' | b'r')) => 2,
        (Some(b'%' | b'+'), _) => match encoded_sep_at(b, i) {
            Some((b' ', n)) => n,
            _ => 0,
        },
        _ => 0,
    }
}

/// At a percent-encoded `:` (`%3A`): the value of a secret header written URL-encoded
/// (`Authorization%3A%20Bearer%20TOKEN` in a logged URL or form body), read as a pair's
/// value ([`pair_value_at`]: up to `&` or a [token stop](is_token_stop)).
fn encoded_header_value_at(b: &[u8], pct: usize) -> Option<(usize, usize)> {
    pair_value_after(b, 0, pct, after_encoded_blanks(b, pct + 3), |name| {
        SECRET_HEADERS.iter().any(|n| ends_with_name(name, n))
    })
}

/// At a percent-encoded `=` (`%3D`): the value of a secret parameter written
/// URL-encoded (`password%3Dhunter2`), as [`param_value_at`] reads a plain one.
fn encoded_param_value_at(b: &[u8], pct: usize) -> Option<(usize, usize)> {
    pair_value_after(b, 0, pct, after_encoded_blanks(b, pct + 3), |name| {
        SECRET_PARAMS.iter().any(|n| ends_with_name(name, n))
    })
}

/// `v` moved past the blanks there, encoded ones (`%20`, `+`) included.
fn after_encoded_blanks(b: &[u8], mut v: usize) -> usize {
    while let n @ 1.. = space_at(b, v) {
        v += n;
    }
    v.min(b.len())
}

/// At whitespace (or an encoded space: `%20`, `+`): the token after a `bearer`/`basic`
/// word ending just before it.
fn scheme_token_at(b: &[u8], ws: usize) -> Option<(usize, usize)> {
    // `bearer` ends in `r`, `basic` in `c`: any other word is rejected at once.
    if ws < 5 || !matches!(b[ws - 1] | 0x20, b'r' | b'c') {
        return None;
    }
    let before = &b[..ws];
    let start = if ends_with_ignore_case(before, b"bearer") {
        ws - 6
    } else if ends_with_ignore_case(before, b"basic") {
        ws - 5
    } else {
        return None;
    };
    // A word of its own: nothing alphanumeric glued before it, unless that is the letter
    // of an escape (`\tBearer` in `Debug` output).
    if start > 0 && b[start - 1].is_ascii_alphanumeric() && !(start >= 2 && b[start - 2] == b'\\') {
        return None;
    }
    // After an encoded space (a query string or form body) a `&` ends the token too.
    let encoded = matches!(b[ws], b'%' | b'+');
    let (t, e) = token_after_blanks(b, ws, encoded);
    let token = &b[t..e];
    (!token.is_empty() && !is_prose_word(token) && token != REDACTED.as_bytes()).then_some((t, e))
}

/// `s` with every credential [`find_credential`] finds replaced by `[REDACTED]`; `None`
/// when there is none.
fn scrub_credentials(s: &str) -> Option<String> {
    replace_ranges(s, find_credential)
}

/// `s` with every byte range `next` finds replaced by `[REDACTED]`: `next(bytes, from)`
/// returns the first range at or after `from` (each range must start and end next to an
/// ASCII byte or at the end, as every scanner here does). `None` when there is none.
pub(crate) fn replace_ranges(s: &str, mut next: impl FnMut(&[u8], usize) -> Option<(usize, usize)>) -> Option<String> {
    let b = s.as_bytes();
    let (mut out, mut copied) = (None::<String>, 0);
    while let Some((start, end)) = next(b, copied) {
        let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
        o.push_str(&s[copied..start]);
        o.push_str(REDACTED);
        copied = end;
    }
    let mut out = out?;
    out.push_str(&s[copied..]);
    Some(out)
}

/// `s` with JWT-shaped runs ([`scrub_jwts`]) and free-text credentials
/// ([`find_credential`]) replaced by `[REDACTED]`; `None` when nothing was.
pub(crate) fn scrub_text(s: &str) -> Option<String> {
    let jwt_free = if contains_jwt(s) { Some(scrub_jwts(s)) } else { None };
    let text = jwt_free.as_deref().unwrap_or(s);
    match scrub_credentials(text) {
        Some(scrubbed) => Some(scrubbed),
        None => jwt_free,
    }
}

/// What ends a string value that [`cap_line`] trimmed.
pub(crate) const TRUNCATED_MARK: &str = "…[truncated]";
/// What an object or array value that [`cap_line`] trimmed becomes.
const TRUNCATED_VALUE: &[u8] = b"\"[truncated]\"";

/// The end of the JSON string starting (with its quote) at `i`.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The end of the JSON value starting at `i`.
fn skip_value(b: &[u8], mut i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = skip_string(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        _ => {
            while i < b.len() && !matches!(b[i], b',' | b'}') {
                i += 1;
            }
            i
        }
    }
}

/// The members of a compact JSON object line: for each, where its key starts (its
/// quote) and where its value starts and ends. `None` when `b` is not such a line.
fn members(b: &[u8]) -> Option<Vec<(usize, usize, usize)>> {
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match b.get(i)? {
            b'}' => return Some(out),
            b'"' => {}
            _ => return None,
        }
        let key = i;
        i = skip_string(b, i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let value = i + 1;
        i = skip_value(b, value);
        out.push((key, value, i));
        match b.get(i)? {
            b',' => i += 1,
            b'}' => return Some(out),
            _ => return None,
        }
    }
}

/// The longest prefix of the escaped string body `body`, at most `max` bytes, that ends
/// neither inside an escape sequence nor inside a UTF-8 character.
fn safe_cut(body: &[u8], max: usize) -> usize {
    let mut i = 0;
    while i < body.len() {
        let step = match body[i] {
            b'\\' if body.get(i + 1) == Some(&b'u') => 6,
            b'\\' => 2,
            c if c < 0x80 => 1,
            c if c >= 0xf0 => 4,
            c if c >= 0xe0 => 3,
            _ => 2,
        };
        if i + step > max {
            break;
        }
        i += step;
    }
    i
}

/// The JSON string `value` (with its quotes) made about `excess` bytes shorter: cut at a
/// character boundary, never inside an escape, and ended with [`TRUNCATED_MARK`].
fn cut_string_value(value: &[u8], excess: usize) -> Vec<u8> {
    let body = &value[1..value.len() - 1];
    let cut = safe_cut(body, body.len().saturating_sub(excess + TRUNCATED_MARK.len()));
    let mut v = Vec::with_capacity(cut + TRUNCATED_MARK.len() + 2);
    v.push(b'"');
    v.extend_from_slice(&body[..cut]);
    v.extend_from_slice(TRUNCATED_MARK.as_bytes());
    v.push(b'"');
    v
}

/// The members of a line that [`cap_line`] never drops and cuts only when they alone are
/// over the cap (a hostile context): the keys the SDK writes (short values; a user key of
/// the same name is written as `field.<name>`). The message may be cut, never dropped.
const KEPT_KEYS: [&[u8]; 11] = [
    b"\"timestamp\":",
    b"\"level\":",
    b"\"service\":",
    b"\"cold_start\":",
    b"\"function_name\":",
    b"\"function_request_id\":",
    b"\"function_arn\":",
    b"\"function_memory_size\":",
    b"\"xray_trace_id\":",
    b"\"environment\":",
    b"\"sampling_rate\":",
];

/// Trims the compact JSON object line `line` (with its newline) to at most `max` bytes
/// (see [`crate::log::MAX_LINE_BYTES`]). The SDK's keys ([`KEPT_KEYS`]) keep their values.
/// When cutting every other value could not make the line fit (huge keys), the largest
/// members other than those and the message go first, whole; then the largest values
/// are cut: strings at a character boundary, never inside an escape, ended with
/// [`TRUNCATED_MARK`]; objects and arrays replaced by `"[truncated]"`. The line stays one
/// valid JSON object.
pub(crate) fn cap_line(line: &mut Vec<u8>, max: usize) {
    let newline = line.last() == Some(&b'\n');
    let body_len = line.len() - usize::from(newline);
    let Some(members) = members(&line[..body_len]) else { return };
    let mut excess = line.len().saturating_sub(max);
    if excess == 0 {
        return;
    }
    let kept = |m: usize| KEPT_KEYS.contains(&&line[members[m].0..members[m].1]);
    let message = |m: usize| &line[members[m].0..members[m].1] == b"\"message\":";
    // What cutting a member's value saves at most, and a whole member's size (its comma).
    let cut_saving = |m: usize| {
        let value = &line[members[m].1..members[m].2];
        match value.first() {
            _ if kept(m) => 0,
            Some(b'"') => value.len().saturating_sub(TRUNCATED_MARK.len() + 2),
            Some(b'{' | b'[') => value.len().saturating_sub(TRUNCATED_VALUE.len()),
            _ => 0,
        }
    };
    let size = |m: usize| members[m].2 - members[m].0 + 1;
    let mut dropped = vec![false; members.len()];
    let mut by_size: Vec<usize> = (0..members.len()).filter(|&m| !kept(m) && !message(m)).collect();
    by_size.sort_by_key(|&m| std::cmp::Reverse(size(m)));
    // Keys too large for any cut of the values: the largest members go first.
    let mut savable: usize = (0..members.len()).map(cut_saving).sum();
    for &m in &by_size {
        if excess <= savable {
            break;
        }
        dropped[m] = true;
        excess = excess.saturating_sub(size(m));
        savable -= cut_saving(m);
    }
    let mut order: Vec<usize> = (0..members.len()).filter(|&m| !dropped[m] && cut_saving(m) > 0).collect();
    order.sort_by_key(|&m| std::cmp::Reverse(members[m].2 - members[m].1));
    let mut replaced: Vec<Option<Vec<u8>>> = vec![None; members.len()];
    for &m in &order {
        if excess == 0 {
            break;
        }
        let value = &line[members[m].1..members[m].2];
        let new = if value[0] == b'"' { cut_string_value(value, excess) } else { TRUNCATED_VALUE.to_vec() };
        if new.len() < value.len() {
            excess = excess.saturating_sub(value.len() - new.len());
            replaced[m] = Some(new);
        }
    }
    // A cut that stopped short of a character boundary: the next largest members go.
    for &m in &by_size {
        if excess == 0 {
            break;
        }
        if !dropped[m] {
            let value = replaced[m].as_ref().map_or(members[m].2 - members[m].1, Vec::len);
            excess = excess.saturating_sub(members[m].1 - members[m].0 + value + 1);
            dropped[m] = true;
        }
    }
    // Still too long: the SDK's own values are too large themselves (a hostile context,
    // a 300 KB request id). The cap holds over them too: the largest are cut, never
    // `timestamp` and `level` (Lambda reads both).
    if excess > 0 {
        let mut kept_by_size: Vec<usize> = (0..members.len())
            .filter(|&m| kept(m) && !matches!(&line[members[m].0..members[m].1], b"\"timestamp\":" | b"\"level\":"))
            .collect();
        kept_by_size.sort_by_key(|&m| std::cmp::Reverse(members[m].2 - members[m].1));
        for m in kept_by_size {
            let value = &line[members[m].1..members[m].2];
            if excess == 0 || value.first() != Some(&b'"') || value.len() < 2 {
                continue;
            }
            let v = cut_string_value(value, excess);
            if v.len() < value.len() {
                excess = excess.saturating_sub(value.len() - v.len());
                replaced[m] = Some(v);
            }
        }
    }
    let mut out = Vec::with_capacity(max);
    out.push(b'{');
    for (m, &(key, value, end)) in members.iter().enumerate() {
        if dropped[m] {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(&line[key..value]);
        match &replaced[m] {
            Some(v) => out.extend_from_slice(v),
            None => out.extend_from_slice(&line[value..end]),
        }
    }
    out.push(b'}');
    if newline {
        out.push(b'\n');
    }
    *line = out;
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
    fn wrapped_lists_maps_spaced_colons_and_single_quotes_are_scrubbed() {
        let secret = "opaqueS3cr3t";
        for text in [
            "Object {\"Cookie\": Array [String(\"sid=opaqueS3cr3t\")]}",
            "Upstream { api_token: Some([\"opaqueS3cr3t\"]) }",
            "cookies: Some([\"sid=opaqueS3cr3t\", \"theme=dark\"])",
            "\"Authorization\": Object {\"scheme\": String(\"x\"), \"v\": String(\"opaqueS3cr3t\")}",
            "\"tokens\": [[\"a\"], [\"opaqueS3cr3t\"]]",
            "{\"password\" : \"opaqueS3cr3t\"}",
            "{\"password\"\t:\t\"opaqueS3cr3t\"}",
            "{'Cookie': 'sid=opaqueS3cr3t', 'Accept': '*/*'}",
            "{'password': 'opaqueS3cr3t'}",
        ] {
            let out = scrub_text(text).unwrap_or_else(|| text.to_owned());
            assert!(!out.contains(secret), "{text} -> {out}");
        }
        // What follows the secret's brackets stays.
        let out = scrub_text("{'Cookie': 'sid=x', 'Accept': '*/*'}").unwrap();
        assert!(out.contains("'Accept': '*/*'"), "{out}");
        let out = scrub_text("k: Some([\"s\"]), route: \"/v1\"").unwrap_or_default();
        assert_eq!(out, "", "no secret name: unchanged");
        let out = scrub_text("tokens: Some([\"s\"]), route: \"/v1\"").unwrap();
        assert!(out.ends_with("]), route: \"/v1\""), "{out}");
        // Ordinary words ending in `s` are not names of secrets; a plural before a count is
        // not a secret.
        assert_eq!(scrub_text("items: [\"a\"] status=ok"), None);
        assert_eq!(scrub_text("{\"input_tokens\": 12, \"output_tokens\": 34}"), None);
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
    fn jwt_shapes_two_parts_url_encoded_dots_and_more_parts() {
        let (h, p, s) = ("eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiIxMjM0In0", "c2lnbmF0dXJl");
        for (text, scrubbed) in [
            (format!("a {h}.{p} b"), "a [REDACTED] b"),
            (format!("a {h}.{p}. b"), "a [REDACTED] b"),
            (format!("a {h}%2E{p}%2E{s} b"), "a [REDACTED] b"),
            (format!("a {h}%2e{p}%2e{s}&x=1"), "a [REDACTED]&x=1"),
            (format!("a {h}%2E{p} b"), "a [REDACTED] b"),
            (format!("a {h}.{p}.ab+cd/ef== b"), "a [REDACTED] b"),
            (format!("a {h}.{p}.{s}.aXY.dGFn b"), "a [REDACTED] b"),
            (format!("end {h}.{p}.{s}."), "end [REDACTED]."),
        ] {
            assert_eq!(scrub_jwts(&text), scrubbed, "{text}");
            assert!(contains_jwt(&text), "{text}");
            let mut v = Vec::new();
            write_str(&mut v, &text);
            assert_eq!(serde_json::from_slice::<String>(&v).unwrap(), scrubbed);
        }
        // Not tokens: a lone part, a short second part, a second part that is no JSON.
        for text in [h.to_string(), "eyJa.eyJb".to_owned(), format!("{h}.abc"), format!("{h}%2F{p}")] {
            assert_eq!(scrub_jwts(&text), text);
            assert!(!contains_jwt(&text), "{text}");
        }
    }

    #[test]
    fn credentials_in_free_text_are_scrubbed() {
        let cases = [
            ("Authorization: Bearer abc123", "Authorization: [REDACTED]"),
            ("x-authorization:Basic Zm9v\nnext", "x-authorization:[REDACTED]\nnext"),
            ("line1\nCookie: a=1; b=2\nline3", "line1\nCookie: [REDACTED]\nline3"),
            // JSON text inside a string of JSON text (a logged event's body): the escaped
            // quote and escaped line breaks end the value, their backslashes kept.
            (
                r#"{"body":"{\"note\":\"Authorization: Bearer abc\",\"t\":1}"}"#,
                r#"{"body":"{\"note\":\"Authorization: [REDACTED]\",\"t\":1}"}"#,
            ),
            // An escaped line break is part of the value (a backslash may be in the secret:
            // `C:\Users\nina`): the rest of the escaped line goes with it.
            (
                r#"{"body":"{\"log\":\"GET /x\\r\\nCookie: sid=1\\r\\nAccept: */*\"}"}"#,
                r#"{"body":"{\"log\":\"GET /x\\r\\nCookie: [REDACTED]\"}"}"#,
            ),
            ("Cookie: sid=1\\\\\"", "Cookie: [REDACTED]\\\\\""),
            ("Cookie: a\\b=1", "Cookie: [REDACTED]"),
            ("Cookie: p=C:\\Users\\nina; sid=x", "Cookie: [REDACTED]"),
            ("X-Api-Key: CORP\\rachel:key", "X-Api-Key: [REDACTED]"),
            // Quoted auth parameters belong to the value, escaped or not.
            (
                r#"sent Authorization: Digest username="bob", nonce="n1", response="6629fae4" to x"#,
                "sent Authorization: [REDACTED]",
            ),
            (
                r#"{"m":"Authorization: Digest username=\"bob\", response=\"6629fae4\"","n":1}"#,
                r#"{"m":"Authorization: [REDACTED]","n":1}"#,
            ),
            (r#"say "Cookie: a=1" twice"#, r#"say "Cookie: [REDACTED]" twice"#),
            (
                "{\"Proxy-Authorization\":\"Basic Zm9vOmJhcg==\",\"h\":1}",
                "{\"Proxy-Authorization\":\"[REDACTED]\",\"h\":1}",
            ),
            ("S { sec_websocket_protocol: \"graphql-ws, tok\" }", "S { sec_websocket_protocol: \"[REDACTED]\" }"),
            ("use BEARER  x.y.z-1 then", "use BEARER  [REDACTED] then"),
            ("basic\tdXNlcjpwYXNzd29yZA==", "basic\t[REDACTED]"),
            ("(Bearer opaque_token)", "(Bearer [REDACTED])"),
            ("Bearer Token", "Bearer Token"),
            ("a basic example", "a basic example"),
            ("nobearer abc123", "nobearer abc123"),
            ("Basic", "Basic"),
            ("cookie:", "cookie:"),
            ("Cookie: [REDACTED]", "Cookie: [REDACTED]"),
            // `name=value` pairs whose name ends like a secret, with or without spaces around.
            ("wss://h/?access_token=opaque123&x=1", "wss://h/?access_token=[REDACTED]&x=1"),
            (
                "X-Amz-Security-Token=abc%2Fdef&X-Amz-Signature=0123abcd",
                "X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED]",
            ),
            ("login with password=hunter2, then", "login with password=[REDACTED], then"),
            ("client_secret=s3cr3t", "client_secret=[REDACTED]"),
            ("cookie:sid=1", "cookie:[REDACTED]"),
            ("L0SM9cOFvHcCIhw=", "L0SM9cOFvHcCIhw="),
            ("tokenizer=bpe&n=2", "tokenizer=bpe&n=2"),
            ("a==b", "a==b"),
            ("token=", "token="),
            // No space anywhere: a JSON body, a header, `Debug` output with an escaped tab.
            (r#"{"authorization":"SEKRET1"}"#, r#"{"authorization":"[REDACTED]"}"#),
            ("x-Authorization:SEKRET5", "x-Authorization:[REDACTED]"),
            ("x-api-key:SEKRET11", "x-api-key:[REDACTED]"),
            ("sec_websocket_protocol:SEKRET10", "sec_websocket_protocol:[REDACTED]"),
            (r#""bearer\tSEKRET9abc""#, r#""bearer\t[REDACTED]""#),
            // `Debug` struct fields named like a secret parameter, with a quoted value.
            ("Creds { user: \"u\", password: \"SEKRET13\" }", "Creds { user: \"u\", password: \"[REDACTED]\" }"),
            ("Req { api_token: Some(\"SEKRET14\") }", "Req { api_token: Some(\"[REDACTED]\") }"),
            ("the password: unchanged", "the password: unchanged"),
            ("Req { token: Some(Token(\"SEKRET15\")) }", "Req { token: Some(Token(\"[REDACTED]\")) }"),
            ("(\"authorization\",\"SEKRET16\")", "(\"authorization\",\"[REDACTED]\")"),
            ("Server=db;Pwd=SEKRET17;x=1", "Server=db;Pwd=[REDACTED];x=1"),
            ("error in cookie::parse::ParseError: bad", "error in cookie::parse::ParseError: bad"),
            ("headers::authorization::Bearer", "headers::authorization::Bearer"),
            (
                "jdbc:sqlserver://srv.example.net:1433;user=bob@corp.com",
                "jdbc:sqlserver://srv.example.net:1433;user=bob@corp.com",
            ),
            ("postgres://app:ab+c/d==@db/main", "postgres://app:[REDACTED]@db/main"),
            // A URL's password, with or without text around it; `{:#?}` tuples.
            ("postgres://app:s3cr3t@db:5432/main", "postgres://app:[REDACTED]@db:5432/main"),
            ("connecting to mysql://root:p@ss#1@db/x now", "connecting to mysql://root:[REDACTED]@db/x now"),
            ("https://example.com:8443/x@y", "https://example.com:8443/x@y"),
            ("https://h?next=a:b@c", "https://h?next=a:b@c"),
            (
                "[\n    (\n        \"authorization\",\n        \"SEKRET12\",\n    ),\n]",
                "[\n    (\n        \"authorization\",\n        \"[REDACTED]\",\n    ),\n]",
            ),
        ];
        for (text, scrubbed) in cases {
            let mut v = Vec::new();
            write_str(&mut v, text);
            assert_eq!(serde_json::from_slice::<String>(&v).unwrap(), scrubbed, "{text:?}");
            let mut full = Vec::new();
            write_str_checked(&mut full, text);
            assert_eq!(v, full, "{text:?}");
        }
    }

    #[test]
    fn the_fast_path_searches_every_string_that_holds_a_credential() {
        // Any string with a credential is searched: the word check never lets one by.
        let mut rng = fastrand::Rng::with_seed(3);
        const PIECES: [&str; 16] =
            ["a", " ", "bearer", "Basic", "b", "e", "xy", "Cookie", ":", "Zm9v1", "-", "BA", "=", "token", "&", "_"];
        for _ in 0..20_000 {
            let n = rng.usize(1..12);
            let s: String = (0..n).map(|_| PIECES[rng.usize(..PIECES.len())]).collect();
            let mut fast = Vec::new();
            write_str(&mut fast, &s);
            let mut full = Vec::new();
            write_str_checked(&mut full, &s);
            assert_eq!(fast, full, "{s:?}");
            if (s.contains(' ') || s.contains('=')) && find_credential(s.as_bytes(), 0).is_some() {
                assert_ne!(fast_class(s.as_bytes()), Fast::Plain, "{s:?}");
            }
        }
    }

    /// Ordinary messages are not searched for credentials (the word check finds no
    /// `:` and no `b` followed by `a`/`e`); ids and names without a space never are.
    #[test]
    fn ordinary_text_stays_on_the_fast_path() {
        for s in [
            "Connection established",
            "Processing disconnect",
            "Disconnect completed",
            "abcdefgh ablished",
            "L0SM9cOFvHcCIhw=",
            "1-5759e988-bd862e3fe1be46a994272793",
        ] {
            assert_eq!(fast_class(s.as_bytes()), Fast::Plain, "{s:?}");
        }
        // A URL is searched: its user information may hold a password.
        for s in ["https://example.com/path", "postgres://app:s3cr3t@db:5432/main"] {
            assert_eq!(fast_class(s.as_bytes()), Fast::Search, "{s:?}");
        }
        for s in [
            "Authorization: x",
            "a Bearer token",
            "token: basic",
            "?access_token=abcdefgh",
            "cookie:sid=1",
            "x-Authorization:SEKRET5",
            "x-api-key:SEKRET11",
        ] {
            assert_eq!(fast_class(s.as_bytes()), Fast::Search, "{s:?}");
        }
    }

    #[test]
    fn capped_lines_stay_valid_and_fit() {
        let mut rng = fastrand::Rng::with_seed(11);
        const CHARS: [&str; 8] = ["a", "é", "日", "😀", "\"", "\\", "\n", "\u{1}"];
        for _ in 0..300 {
            let mut value = serde_json::Map::new();
            value.insert("timestamp".into(), "1970-01-01T00:00:00.000Z".into());
            value.insert("level".into(), "INFO".into());
            for k in 0..rng.usize(0..5) {
                let len = rng.usize(0..400);
                let s: String = (0..len).map(|_| CHARS[rng.usize(..CHARS.len())]).collect();
                if rng.bool() {
                    value.insert(format!("k{k}"), s.into());
                } else {
                    value.insert(format!("k{k}"), serde_json::json!({"inner": s, "n": [1, 2]}));
                }
            }
            let mut line = serde_json::to_vec(&value).unwrap();
            line.push(b'\n');
            let max = rng.usize(120..line.len().max(121) + 10);
            let before: Vec<String> = value.keys().cloned().collect();
            cap_line(&mut line, max);
            assert!(line.len() <= max || line.len() < 200, "{} > {max}", line.len());
            assert_eq!(line.last(), Some(&b'\n'));
            let back: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&line)));
            if max >= 400 {
                assert_eq!(back.keys().cloned().collect::<Vec<_>>(), before, "every key kept");
            }
        }
    }

    #[test]
    fn a_huge_key_goes_whole_and_the_sdk_keys_keep_their_values() {
        let huge = "k".repeat(3_000);
        let line = format!(
            "{{\"timestamp\":\"2026-11-27T12:00:00.000Z\",\"level\":\"INFO\",\"message\":\"{}\",\"service\":\"svc\",\
             \"function_arn\":\"arn:aws:lambda:eu-west-1:123456789012:function:f\",\"xray_trace_id\":\"1-5759e988-bd862e3fe1be46a994272793\",\
             \"note\":\"{}\",\"{huge}\":1}}\n",
            "m".repeat(500),
            "n".repeat(400),
        );
        let mut capped = line.clone().into_bytes();
        cap_line(&mut capped, 1_300);
        assert!(capped.len() <= 1_300, "{}", capped.len());
        let back: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&capped).unwrap();
        assert_eq!(back["timestamp"], "2026-11-27T12:00:00.000Z");
        assert_eq!(back["service"], "svc");
        assert_eq!(back["function_arn"], "arn:aws:lambda:eu-west-1:123456789012:function:f");
        assert_eq!(back["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert!(!back.contains_key(&huge), "the member with the huge key goes");
        // The other values fitted once it went: kept whole.
        assert_eq!(back["message"].as_str().unwrap().len(), 500);
        assert_eq!(back["note"].as_str().unwrap().len(), 400);
        // Too small for the values too: the message is cut, never dropped.
        let mut tight = line.into_bytes();
        cap_line(&mut tight, 400);
        let back: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&tight).unwrap();
        assert!(tight.len() <= 400, "{}", tight.len());
        assert!(back["message"].as_str().unwrap().ends_with(TRUNCATED_MARK));
        assert_eq!(back["service"], "svc");
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
