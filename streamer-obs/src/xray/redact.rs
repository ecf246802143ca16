//! Secrets never reach an X-Ray document: what is removed as values are stored.
//!
//! A document is redacted as a log line is, with the default key list
//! ([`DEFAULT_REDACT_KEYS`](crate::config::DEFAULT_REDACT_KEYS): `authorization`, `token`,
//! `jwt`, `password`, `secret`, `cookie`, `api_key`, ...):
//! - an annotation under a secret-looking key (`auth_token`, `password`) is stored as the
//!   string `"[REDACTED]"`, whatever its type (a PIN may be a number), as a log line writes
//!   it; JWT-shaped runs and free-text credentials (`Bearer …`, `token=…`) in any other
//!   string annotation are replaced by `[REDACTED]`;
//! - a metadata entry under such a key is `"[REDACTED]"`; any other value is redacted as a
//!   logged event is (secret keys at any depth, JWTs and credentials in strings, JSON held
//!   in a string); a JWT-shaped run in a metadata key is replaced;
//! - the `http` block's `url`: a password in the URL's user information is removed
//!   (`https://user@host/`), and secret query parameters (`token=`, `X-Amz-Signature=`) and
//!   JWTs are replaced by `[REDACTED]`;
//! - the `sql` block's `url` and `connection_string` are recorded "without passwords"
//!   (X-15): the URL's password is removed and so is every `password=…` / `pwd=…` pair of
//!   a connection string (`Server=db;User Id=app;Password=…;` →
//!   `Server=db;User Id=app;`; a value in quotes or ODBC braces may hold a `;`).
//!
//! The SDK's own notes (namespace `streamer_obs`) and a captured response, which the
//! handler lifecycle redacts with the process's configured list, are stored as they are.
//!
//! ```
//! use streamer_obs::trace_header::SegmentId;
//! use streamer_obs::xray::annotation::AnnotationValue;
//! use streamer_obs::xray::document::{Http, Sql, Subsegment};
//! let mut s = Subsegment::new(SegmentId::generate(), "Query", 0);
//! s.annotate("auth_token", "abc123").unwrap();
//! s.annotate("note", "sent Bearer 9f8e7d6c5b4a").unwrap();
//! s.add_metadata("default", "request", serde_json::json!({"password": "p", "user": "u"})).unwrap();
//! s.set_sql(Sql { url: Some("postgres://app:hunter2@db:5432/main".into()), ..Default::default() });
//! s.set_http(Http::default().url("https://h/x?X-Amz-Signature=abcdef&a=1"));
//! assert_eq!(s.annotations().get("auth_token"), Some(&AnnotationValue::from("[REDACTED]")));
//! assert_eq!(s.annotations().get("note"), Some(&AnnotationValue::from("sent Bearer [REDACTED]")));
//! assert_eq!(s.metadata().get("default", "request").unwrap()["password"], "[REDACTED]");
//! assert_eq!(s.sql().unwrap().url.as_deref(), Some("postgres://app@db:5432/main"));
//! assert_eq!(s.http().unwrap().request_url.as_deref(), Some("https://h/x?X-Amz-Signature=[REDACTED]&a=1"));
//! ```

use crate::log::REDACTED;
use crate::log::redact::default_redactor;
use crate::xray::annotation::AnnotationValue;

/// Whether an annotation under `key` is stored as `"[REDACTED]"`.
#[inline]
pub(crate) fn is_secret_key(key: &str) -> bool {
    default_redactor().is_redacted(key)
}

/// [`is_secret_key`] of a key that lives for the whole program (a key written in the
/// code, as `annotations(...)` keys are): the answer is remembered by the key's address.
#[inline]
pub(crate) fn is_secret_static_key(key: &'static str) -> bool {
    default_redactor().is_redacted_static(key)
}

/// What replaces an annotation under a secret-looking key.
pub(crate) fn redacted_annotation() -> AnnotationValue {
    AnnotationValue::from(REDACTED)
}

/// A string annotation value (not under a secret key) with JWTs and credentials replaced;
/// `None` when it is stored unchanged.
#[inline]
pub(crate) fn scrubbed(value: &str) -> Option<String> {
    if crate::log::json::needs_scrub(value) { crate::log::json::scrub_text(value) } else { None }
}

/// A metadata value as it is stored: `"[REDACTED]"` under a secret-looking key, else
/// redacted as a logged event is.
pub(crate) fn redact_metadata(key: &str, value: &mut serde_json::Value) {
    let redactor = default_redactor();
    if redactor.is_redacted(key) {
        *value = serde_json::Value::String(REDACTED.to_owned());
    } else if !matches!(value, serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_)) {
        redactor.redact_value(value);
    }
}

/// An `http` block's URL without its password, secret query parameters or JWTs.
pub(crate) fn redact_url(url: &mut String) {
    remove_url_password(url);
    if crate::log::json::needs_scrub(url)
        && let Some(scrubbed) = crate::log::json::scrub_text(url)
    {
        *url = scrubbed;
    }
}

/// A `sql` block's URL or connection string without passwords (X-15): the URL's password,
/// `password=…` and `pwd=…` pairs (any case, up to the next `;`), then what
/// [`redact_url`] removes.
pub(crate) fn redact_sql(s: &mut String) {
    remove_password_pairs(s);
    redact_url(s);
}

/// Removes `:password` from the user information of `scheme://user:password@host`.
fn remove_url_password(url: &mut String) {
    let Some(scheme_end) = url.find("://") else { return };
    let authority_start = scheme_end + 3;
    let authority_len = url[authority_start..].find(['/', '?', '#']).unwrap_or(url.len() - authority_start);
    let authority = &url[authority_start..authority_start + authority_len];
    // The user information ends at the authority's last `@` (a password may hold an `@`
    // only percent-encoded, but a careless one is removed whole too).
    let Some(at) = authority.rfind('@') else { return };
    let Some(colon) = authority[..at].find(':') else { return };
    url.replace_range(authority_start + colon..authority_start + at, "");
}

/// Removes every `password=…` and `pwd=…` pair (the name in any case, spaces around it
/// allowed) of a `;`-separated connection string, its `;` included. A value in quotes
/// (`"…"`, `'…'`, a doubled quote inside) or braces (ODBC `{…}`, `}}` inside) may hold a
/// `;`; an unterminated one runs to the end.
fn remove_password_pairs(s: &mut String) {
    let b = s.as_bytes();
    let mut kept = String::new();
    let (mut copied, mut at, mut removed) = (0, 0, false);
    while at < b.len() {
        let end = pair_end(b, at);
        let pair = &s[at..end];
        let name = pair.split(['=', ';']).next().unwrap_or("").trim();
        let secret = pair.contains('=') && (name.eq_ignore_ascii_case("password") || name.eq_ignore_ascii_case("pwd"));
        if secret {
            kept.push_str(&s[copied..at]);
            copied = end;
            removed = true;
        }
        at = end;
    }
    if removed {
        kept.push_str(&s[copied..]);
        *s = kept;
    }
}

/// The end of the pair starting at `at`: after its `;`, or the end of the text.
fn pair_end(b: &[u8], at: usize) -> usize {
    let mut i = at;
    // The name, up to `=` (or a `;`: a pair without a value).
    while i < b.len() && b[i] != b'=' && b[i] != b';' {
        i += 1;
    }
    if i < b.len() && b[i] == b'=' {
        i += 1;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if let Some(&open) = b.get(i)
            && matches!(open, b'"' | b'\'' | b'{')
        {
            let close = if open == b'{' { b'}' } else { open };
            i += 1;
            loop {
                match b.get(i) {
                    None => return b.len(),
                    // A doubled closing character stands for itself.
                    Some(&c) if c == close && b.get(i + 1) == Some(&close) => i += 2,
                    Some(&c) if c == close => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
        }
        while i < b.len() && b[i] != b';' {
            i += 1;
        }
    }
    (i + 1).min(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> String {
        applied(redact_url, s)
    }

    fn sql(s: &str) -> String {
        applied(redact_sql, s)
    }

    fn applied(redact: fn(&mut String), s: &str) -> String {
        let mut s = s.to_owned();
        redact(&mut s);
        s
    }

    #[test]
    fn url_passwords_are_removed() {
        for (given, stored) in [
            ("postgres://app:hunter2@db:5432/main", "postgres://app@db:5432/main"),
            ("https://u:p@ss@h/x", "https://u@h/x"),
            ("https://user@h/x", "https://user@h/x"),
            ("https://h/x?next=a:b@c", "https://h/x?next=a:b@c"),
            ("mysql://:pw@h", "mysql://@h"),
            ("no scheme:pw@h", "no scheme:pw@h"),
            ("https://h:443/x", "https://h:443/x"),
        ] {
            assert_eq!(url(given), stored);
        }
    }

    #[test]
    fn secret_query_parameters_are_replaced() {
        let u = url("https://b.s3.amazonaws.com/k?X-Amz-Security-Token=tok&X-Amz-Signature=abc&x=1");
        assert!(!u.contains("tok&") && !u.contains("abc"), "{u}");
        assert!(u.ends_with("&x=1"), "{u}");
        assert_eq!(url("https://h/x?page=2"), "https://h/x?page=2");
    }

    #[test]
    fn connection_string_passwords_are_removed() {
        for (given, stored) in [
            ("Server=db;User Id=app;Password=s3cr3t;Database=x", "Server=db;User Id=app;Database=x"),
            ("Server=db;Password=\"s3;cr\"\"et\";Database=x", "Server=db;Database=x"),
            ("Server=db;Password='s3;cr''et';Database=x", "Server=db;Database=x"),
            ("Driver={SQL};PWD={s3;cr}}et};Uid=u", "Driver={SQL};Uid=u"),
            ("Server=db;Password=\"unterminated;Database=x", "Server=db;"),
            ("Password=first;Server=db", "Server=db"),
            (";;Server=db;;", ";;Server=db;;"),
            ("Server=db; PWD = x ;Database=y", "Server=db;Database=y"),
            ("Server=db;Database=y", "Server=db;Database=y"),
            ("host=db password", "host=db password"),
        ] {
            assert_eq!(sql(given), stored);
        }
    }

    #[test]
    fn annotation_keys_and_strings() {
        assert!(is_secret_key("api_key") && is_secret_key("API_KEY") && is_secret_key("session_token"));
        assert!(!is_secret_key("tenant_id") && !is_secret_key("ColdStart") && !is_secret_key("Service"));
        assert_eq!(scrubbed("acme"), None);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(scrubbed(&format!("t {jwt}")).as_deref(), Some("t [REDACTED]"));
        assert_eq!(scrubbed("Bearer 9f8e7d6c5b4a").as_deref(), Some("Bearer [REDACTED]"));
    }

    #[test]
    fn metadata_values() {
        let mut v = serde_json::json!({"nested": {"Authorization": "x"}, "n": 1});
        redact_metadata("request", &mut v);
        assert_eq!(v, serde_json::json!({"nested": {"Authorization": REDACTED}, "n": 1}));
        let mut v = serde_json::json!(5);
        redact_metadata("session_token", &mut v);
        assert_eq!(v, serde_json::json!(REDACTED));
        let mut v = serde_json::json!(5);
        redact_metadata("count", &mut v);
        assert_eq!(v, serde_json::json!(5));
    }
}
