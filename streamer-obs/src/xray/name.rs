//! Subsegment names (rule X-3): Unicode letters, numbers and space separators plus
//! `_ . : / % & # = + - @`, 1 to 200 characters.
//!
//! [`clean_name`] removes every other character (as the Python SDK strips
//! `? ; * ( ) ! $ ~ ^ < >`), turns tabs and line breaks into spaces, cuts the result to
//! 200 characters and falls back to `unnamed` when nothing is left.
//!
//! ```
//! use streamer_obs::xray::name::clean_name;
//! assert_eq!(clean_name("ValidateJWT"), "ValidateJWT");
//! assert_eq!(clean_name("GET /users/{id}?x=1"), "GET /users/idx=1");
//! assert_eq!(clean_name("(!)"), "unnamed");
//! assert_eq!(clean_name(&"a".repeat(300)).chars().count(), 200);
//! ```

use std::borrow::Cow;

use unicode_general_category::{GeneralCategory as G, get_general_category};

/// The longest name X-Ray accepts, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The name used when nothing of the given name is allowed.
pub const FALLBACK_NAME: &str = "unnamed";

/// Per byte: whether it is an ASCII character allowed in a name (non-ASCII bytes: false).
static ASCII_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(c, b' ' | b'_' | b'.' | b':' | b'/' | b'%' | b'&' | b'#' | b'=' | b'+' | b'-' | b'@');
        i += 1;
    }
    t
};

/// Whether `bytes` are all ASCII letters and digits, 8 bytes at a time (the last word
/// overlapping). Shorter input is checked as one word padded with `a`; empty input
/// answers false (the caller checks it byte by byte).
#[inline]
fn all_alphanumeric(bytes: &[u8]) -> bool {
    use crate::ascii_words::{HIGH, all_words, bytes_in, letters_in};
    let alphanumeric = |x: u64| x & HIGH == 0 && bytes_in(x, b'0', b'9') | letters_in(x, b'a', b'z') == HIGH;
    match bytes.len() {
        0 => false,
        1..8 => {
            let mut padded = [b'a'; 8];
            // Fixed-size moves, no `memcpy` call: two overlapping 4-byte copies cover 4 to
            // 7 bytes, first, middle and last byte cover 1 to 3.
            let len = bytes.len();
            if len >= 4 {
                padded[..4].copy_from_slice(&bytes[..4]);
                padded[len - 4..len].copy_from_slice(&bytes[len - 4..]);
            } else {
                padded[0] = bytes[0];
                padded[len / 2] = bytes[len / 2];
                padded[len - 1] = bytes[len - 1];
            }
            alphanumeric(u64::from_ne_bytes(padded))
        }
        _ => all_words(bytes, alphanumeric),
    }
}

/// Whether `c` may appear in a segment or subsegment name.
///
/// ```
/// use streamer_obs::xray::name::is_name_char;
/// assert!(is_name_char('é') && is_name_char('@') && is_name_char(' '));
/// assert!(!is_name_char('\\') && !is_name_char('?') && !is_name_char('\t'));
/// ```
pub fn is_name_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric()
            || matches!(c, ' ' | '_' | '.' | ':' | '/' | '%' | '&' | '#' | '=' | '+' | '-' | '@');
    }
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
            | G::DecimalNumber
            | G::LetterNumber
            | G::OtherNumber
            | G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
    )
}

/// The name cleaned to the allowed character set and length (borrowed when unchanged).
/// A name that holds a JWT or a credential (`GET /x?token=…`, a URL's password) is
/// scrubbed first, as log text is ([`crate::xray::redact`]); the `[REDACTED]` left in
/// its place loses its brackets to the cleaning.
///
/// ```
/// # use streamer_obs::xray::name::clean_name;
/// assert_eq!(clean_name("Save<Connection>"), "SaveConnection");
/// assert_eq!(clean_name("GET /x?access_token=abc123"), "GET /xaccess_token=REDACTED");
/// ```
pub fn clean_name(name: &str) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    // Fast path: letters and digits only (a word at a time), which no credential is
    // recognised in.
    if !bytes.is_empty() && bytes.len() <= MAX_NAME_CHARS && all_alphanumeric(bytes) {
        return Cow::Borrowed(name);
    }
    // One pass for the other usual names (`save_connection`, `GET /items`): allowed ASCII
    // characters, none a credential follows (space, `:`, `=`) and no `J` (of an `eyJ`).
    if !bytes.is_empty()
        && bytes.len() <= MAX_NAME_CHARS
        && bytes.iter().all(|&b| ASCII_NAME[usize::from(b)] && !matches!(b, b' ' | b':' | b'=' | b'J'))
    {
        return Cow::Borrowed(name);
    }
    // Scrubbed before and after the characters a name may not hold are taken out: taking
    // them out can join what the scrubber saw apart (`ey\u{200B}J…`, `Bearer\u{200B} …`,
    // `"eyJ…"."eyJ…"."…"`, `password<>=…`); then cleaned again (the `[REDACTED]` brackets).
    match crate::xray::redact::scrub(name) {
        Some(scrubbed) => Cow::Owned(clean_scrubbed(&scrubbed).into_owned()),
        None => clean_scrubbed(name),
    }
}

/// [`clean_chars`] of `name`, scrubbed again when the cleaning changed it.
fn clean_scrubbed(name: &str) -> Cow<'_, str> {
    let cleaned = clean_chars(name);
    if let Cow::Owned(changed) = &cleaned
        && let Some(scrubbed) = crate::xray::redact::scrub(changed)
    {
        return Cow::Owned(clean_chars(&scrubbed).into_owned());
    }
    cleaned
}

/// [`clean_name`] without the scrubbing.
fn clean_chars(name: &str) -> Cow<'_, str> {
    // A short ASCII name of allowed characters only (one table load per byte).
    let bytes = name.as_bytes();
    if !bytes.is_empty() && bytes.len() <= MAX_NAME_CHARS && bytes.iter().all(|&b| ASCII_NAME[usize::from(b)]) {
        return Cow::Borrowed(name);
    }
    let mut count = 0usize;
    let mut clean = true;
    for c in name.chars() {
        count += 1;
        if count > MAX_NAME_CHARS || !is_name_char(c) {
            clean = false;
            break;
        }
    }
    if clean && count > 0 {
        return Cow::Borrowed(name);
    }
    let out: String = name
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if is_name_char(c) => Some(c),
            _ => None,
        })
        .take(MAX_NAME_CHARS)
        .collect();
    if out.is_empty() { Cow::Borrowed(FALLBACK_NAME) } else { Cow::Owned(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_check_matches_the_byte_test_for_every_byte_at_every_position() {
        // Names of 8 bytes and more (whole words), and shorter ones (one padded word).
        crate::cross_checks::every_byte_at_every_position(
            b"HandleConnect0123456789Zz",
            &[8, 9, 13, 16, 23],
            all_alphanumeric,
            |c| c.is_ascii_alphanumeric(),
        );
        crate::cross_checks::every_byte_at_every_position(b"Nested7", &[1, 2, 3, 4, 5, 6, 7], all_alphanumeric, |c| {
            c.is_ascii_alphanumeric()
        });
        assert!(!all_alphanumeric(b""));
        assert!(matches!(clean_name("nested"), Cow::Borrowed("nested")));
        assert_eq!(clean_name("HandleConnect"), "HandleConnect");
        assert!(matches!(clean_name("HandleConnect"), Cow::Borrowed(_)));
    }

    #[test]
    fn keeps_allowed_names_borrowed() {
        for n in ["HandleConnect", "DynamoDB", "a_b.c:d/e%f&g#h=i+j-k@l m", "Zürich 東京 ٣"] {
            assert!(matches!(clean_name(n), Cow::Borrowed(_)), "{n}");
        }
    }

    #[test]
    fn ascii_table_agrees_with_is_name_char() {
        for b in 0u8..128 {
            assert_eq!(ASCII_NAME[usize::from(b)], is_name_char(char::from(b)), "{b}");
        }
        assert!(ASCII_NAME[128..].iter().all(|ok| !ok));
    }

    #[test]
    fn strips_disallowed_characters() {
        assert_eq!(clean_name("a?b;c*d(e)f!g$h~i^j<k>l\\m"), "abcdefghijklm");
        assert_eq!(clean_name("line\nbreak\ttab"), "line break tab");
        assert_eq!(clean_name(""), FALLBACK_NAME);
        assert_eq!(clean_name("\u{0301}"), FALLBACK_NAME);
    }

    #[test]
    fn cuts_to_200_characters_on_char_boundaries() {
        let long = "é".repeat(250);
        let c = clean_name(&long);
        assert_eq!(c.chars().count(), MAX_NAME_CHARS);
        let exact = "x".repeat(200);
        assert!(matches!(clean_name(&exact), Cow::Borrowed(_)));
    }
}
