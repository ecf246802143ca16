//! Secrets never reach an X-Ray document: what is removed as values are stored.
//!
//! A document is redacted as a log line is, with the key list of the global telemetry's
//! configuration (the default [`DEFAULT_REDACT_KEYS`](crate::config::DEFAULT_REDACT_KEYS):
//! `authorization`, `token`, `jwt`, `password`, `secret`, `cookie`, `api_key`, ..., plus
//! `STREAMER_LOG_REDACT_KEYS`; the default list alone before a global telemetry exists):
//! - an annotation under a secret-looking key (`auth_token`, `password`) is stored as the
//!   string `"[REDACTED]"`, whatever its type (a PIN may be a number), as a log line writes
//!   it; JWT-shaped runs and free-text credentials (`Bearer …`, `token=…`) in any other
//!   string annotation are replaced by `[REDACTED]`;
//! - a metadata entry under such a key is `"[REDACTED]"`; any other value is redacted as a
//!   logged event is (secret keys at any depth, JWTs and credentials in strings, JSON held
//!   in a string); metadata namespaces and keys are scrubbed as text;
//! - text written as given is scrubbed of JWTs and credentials as log text is (with the
//!   value of any `name=value` pair whose name holds a redacted key, `jsessionid=…`): string
//!   annotations (before the 1000-character cut), subsegment names that are not letters
//!   and digits only, every string of the `http`, `aws` and `sql` blocks, exception
//!   messages and types;
//! - the `http` block's `url`: a password in the URL's user information is removed
//!   (`https://user@host/`);
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

/// The value stored instead of an annotation: `"[REDACTED]"` when its key `is_secret`,
/// else its string `text` scrubbed ([`scrubbed`]); `None` when it is stored as it is.
#[inline]
pub(crate) fn redacted(is_secret: bool, text: Option<&str>) -> Option<AnnotationValue> {
    if is_secret {
        return Some(AnnotationValue::from(REDACTED));
    }
    text.and_then(scrubbed).map(|s| AnnotationValue::String(s.into()))
}

/// A string annotation value (not under a secret key) with JWTs and credentials replaced,
/// cut again to [`MAX_STRING_VALUE_CHARS`](crate::xray::annotation::MAX_STRING_VALUE_CHARS)
/// characters (`[REDACTED]` may be longer than what it replaced); `None` when it is
/// stored unchanged.
#[inline]
pub(crate) fn scrubbed(value: &str) -> Option<String> {
    scrub(value).map(crate::xray::annotation::cut_value)
}

/// `text` with JWTs and credentials replaced, and the value of every `name=value` pair
/// whose name holds a redacted key (`jsessionid=…`, `session_id=…`, as in log text);
/// `None` when there is none.
#[inline]
pub(crate) fn scrub(text: &str) -> Option<String> {
    // The common case (an id, a name, a short value) settled by one pass, in place.
    let (needs, equals) = crate::log::json::needs_scrub_and_equals(text);
    let pair = equals && has_pair(text.as_bytes());
    if !pair && !needs {
        return None;
    }
    scrub_found(text, pair, needs)
}

/// Whether `b` may hold a `name=value` pair: a `=` with something other than `=` after it
/// (base64 padding, `…Ihw=`, is none).
#[inline]
fn has_pair(b: &[u8]) -> bool {
    memchr::memchr(b'=', b).is_some_and(|p| b[p..].iter().any(|&c| c != b'='))
}

/// [`scrub`] of a text that holds a pair or needs scrubbing (`needs`, as
/// [`crate::log::json::needs_scrub`] answered for `text`): the check is made again only
/// on a text the pair redaction changed.
#[inline(never)]
fn scrub_found(text: &str, pair: bool, needs: bool) -> Option<String> {
    let pairs = if pair { default_redactor().redact_pairs(text) } else { None };
    let (text, needs) = match pairs.as_deref() {
        Some(redacted) => (redacted, crate::log::json::needs_scrub(redacted)),
        None => (text, needs),
    };
    let scrubbed = if needs { crate::log::json::scrub_text(text) } else { None };
    scrubbed.or(pairs)
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
    if let Some(scrubbed) = scrub(url) {
        *url = scrubbed;
    }
}

/// A `sql` block's URL or connection string without passwords (X-15): the URL's password,
/// `password=…` and `pwd=…` pairs (any case, up to the next `;`), then what
/// [`redact_url`] removes.
pub(crate) fn redact_sql(s: &mut String) {
    remove_password_pairs(s);
    remove_oracle_password(s);
    redact_url(s);
}

/// Removes `/password` from Oracle's `user/password@host` (X-15), after
/// `jdbc:oracle:<driver>:` (the thin and OCI JDBC URLs, `jdbc:oracle:thin:app/pw@db:1521:ORCL`)
/// or at the start of the string when an Oracle address follows the `@` (EZConnect
/// `@//host…`, `@host:port…`, a TNS `@(DESCRIPTION=…)`): a path such as
/// `data/users@2024.db` is left as it is. The user may hold `#` and `$` (`c##app`) or be
/// quoted (`"App"`). A quoted password (`app/"p@ss"@db`) runs to its closing quote; an
/// unquoted one to the last `@` before any `?`: a password holding an `@` is removed whole,
/// too much rather than a leak.
fn remove_oracle_password(s: &mut String) {
    const JDBC: &str = "jdbc:oracle:";
    let (start, jdbc) = match s.get(..JDBC.len()) {
        Some(p) if p.eq_ignore_ascii_case(JDBC) => match s[JDBC.len()..].find(':') {
            Some(d) => (JDBC.len() + d + 1, true),
            None => return,
        },
        _ => (0, false),
    };
    let b = s.as_bytes();
    let user_end = if b.get(start) == Some(&b'"') {
        // A quoted user name.
        match b[start + 1..].iter().position(|&c| c == b'"') {
            Some(q) => start + 1 + q + 1,
            None => return,
        }
    } else {
        start
            + b[start..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'#' | b'$' | b'.' | b'-')))
                .unwrap_or(b.len() - start)
    };
    // A user, then `/` (not `//`, a host).
    if user_end == start || b.get(user_end) != Some(&b'/') || b.get(user_end + 1) == Some(&b'/') {
        return;
    }
    let pw = user_end + 1;
    let at = if b.get(pw) == Some(&b'"') {
        match b[pw + 1..].iter().position(|&c| c == b'"') {
            Some(q) if b.get(pw + 1 + q + 1) == Some(&b'@') => pw + 1 + q + 1,
            _ => return,
        }
    } else {
        let query = b[pw..].iter().position(|&c| c == b'?').map_or(b.len(), |q| pw + q);
        match b[pw..query].iter().rposition(|&c| c == b'@') {
            Some(a) => pw + a,
            None => return,
        }
    };
    if at == pw || !(jdbc || oracle_address(&b[at + 1..])) {
        return;
    }
    // `user_end` and `at` are at ASCII bytes (`/`, `@`).
    s.replace_range(user_end..at, "");
}

/// Whether `rest` (after the `@`) is an Oracle address: `//host…` (EZConnect), a TNS
/// descriptor `(…`, or `host:port`.
fn oracle_address(rest: &[u8]) -> bool {
    if rest.starts_with(b"//") || rest.first() == Some(&b'(') {
        return true;
    }
    let host = rest.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')).count();
    host > 0 && rest.get(host) == Some(&b':') && rest.get(host + 1).is_some_and(u8::is_ascii_digit)
}

/// Removes `:password` from the user information of `scheme://user:password@host`
/// (the password as the log writer finds it: [`crate::log::json::url_password_range`]).
pub(crate) fn remove_url_password(url: &mut String) {
    let Some(scheme_colon) = url.find("://") else { return };
    if let Some((from, to)) = crate::log::json::url_password_range(url.as_bytes(), scheme_colon) {
        // `from` is just after the `:`, which goes too; both ends are next to ASCII bytes.
        url.replace_range(from - 1..to, "");
    }
}

/// Removes every `password=…` and `pwd=…` pair (the name in any case, spaces around the
/// `=` allowed) of a connection string, with its separator: `;`-separated pairs (SQL
/// Server, ODBC, JDBC: a value runs to the `;`) or, in a string without `;`,
/// whitespace-separated ones (libpq: `host=db password=… dbname=main`). A value in quotes
/// (`"…"`, `'…'`, a doubled quote or a backslash escape inside) or ODBC braces (`{…}`,
/// `}}` inside) may hold the separator; an unterminated one runs to the end.
fn remove_password_pairs(s: &mut String) {
    let semicolons = s.contains(';');
    let b = s.as_bytes();
    let mut kept = String::new();
    let (mut copied, mut at, mut removed) = (0, 0, false);
    while at < b.len() {
        let (name, end) = if semicolons { semicolon_pair(b, at) } else { spaced_pair(b, at) };
        let name = s[name.0..name.1].trim();
        if name.eq_ignore_ascii_case("password") || name.eq_ignore_ascii_case("pwd") {
            kept.push_str(&s[copied..at]);
            copied = end;
            removed = true;
        }
        at = end.max(at + 1);
    }
    if removed {
        kept.push_str(&s[copied..]);
        *s = kept;
    }
}

/// The pair starting at `at` of a `;`-separated string: its name (empty when it has no
/// `=`) and its end, after its `;`.
fn semicolon_pair(b: &[u8], at: usize) -> ((usize, usize), usize) {
    let mut i = at;
    while i < b.len() && b[i] != b'=' && b[i] != b';' {
        i += 1;
    }
    if i >= b.len() || b[i] == b';' {
        return ((at, at), (i + 1).min(b.len()));
    }
    let name = (at, i);
    let mut i = skip_value(b, i + 1);
    while i < b.len() && b[i] != b';' {
        i += 1;
    }
    (name, (i + 1).min(b.len()))
}

/// The token starting at `at` of a whitespace-separated string: a `name = value` pair
/// (its name and its end, after the whitespace that follows), or a lone word or
/// whitespace (an empty name).
fn spaced_pair(b: &[u8], at: usize) -> ((usize, usize), usize) {
    let mut i = at;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
        i += 1;
    }
    let name = (at, i);
    let mut j = i;
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    if i == at || j >= b.len() || b[j] != b'=' {
        // Not a pair: the word (or the whitespace) alone.
        let end = if i == at { j.max(at + 1) } else { i };
        return ((at, at), end);
    }
    let mut end = skip_value(b, j + 1);
    while end < b.len() && !b[end].is_ascii_whitespace() {
        end += 1;
    }
    while end < b.len() && b[end].is_ascii_whitespace() {
        end += 1;
    }
    (name, end)
}

/// From just after a `=`: past the spaces and a quoted or braced value, if there is one
/// (an unquoted value is left to the caller, which ends it at its separator).
fn skip_value(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let Some(&open) = b.get(i) else { return i };
    if !matches!(open, b'"' | b'\'' | b'{') {
        return i;
    }
    let close = if open == b'{' { b'}' } else { open };
    i += 1;
    loop {
        match b.get(i) {
            None => return b.len(),
            // A backslash escape (libpq) or a doubled closing character stands for itself.
            Some(b'\\') if open != b'{' => i += 2,
            Some(&c) if c == close && b.get(i + 1) == Some(&close) => i += 2,
            Some(&c) if c == close => return i + 1,
            Some(_) => i += 1,
        }
    }
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
    fn oracle_passwords_are_removed() {
        for (given, stored) in [
            ("jdbc:oracle:thin:app/hunter2@db.example.com:1521:ORCL", "jdbc:oracle:thin:app@db.example.com:1521:ORCL"),
            ("jdbc:oracle:thin:app/hunter2@//db:1521/ORCL", "jdbc:oracle:thin:app@//db:1521/ORCL"),
            ("JDBC:ORACLE:OCI:app/p@ss@db", "JDBC:ORACLE:OCI:app@db"),
            ("app/hunter2@//db.example.com:1521/ORCL", "app@//db.example.com:1521/ORCL"),
            ("app/\"p@ss/w\"@db:1521/ORCL", "app@db:1521/ORCL"),
            ("jdbc:oracle:thin:@//db:1521/ORCL", "jdbc:oracle:thin:@//db:1521/ORCL"),
            ("jdbc:oracle:thin:app@db:1521:ORCL", "jdbc:oracle:thin:app@db:1521:ORCL"),
            ("/var/lib/db@x", "/var/lib/db@x"),
            ("db/main", "db/main"),
            ("app/pw@db:1521/X?mail=a@b", "app@db:1521/X?mail=a@b"),
            ("data/users@2024.db", "data/users@2024.db"),
            ("c##app/pw@//db:1521/X", "c##app@//db:1521/X"),
            ("jdbc:oracle:thin:\"App\"/pw@db:1521:X", "jdbc:oracle:thin:\"App\"@db:1521:X"),
            ("app/pw@(DESCRIPTION=(ADDRESS=(HOST=db)))", "app@(DESCRIPTION=(ADDRESS=(HOST=db)))"),
        ] {
            assert_eq!(sql(given), stored, "{given}");
        }
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
            ("https://h:443/users/@me", "https://h:443/users/@me"),
            ("https://h:/x@y", "https://h:/x@y"),
            ("postgres://app:hun/ter2@db:5432/main", "postgres://app@db:5432/main"),
            ("postgres://app:p#w?x@db/main", "postgres://app@db/main"),
            (
                "https://api.example.com:8443?email=bob@example.com",
                "https://api.example.com:8443?email=bob@example.com",
            ),
            ("https://registry.example.org/@types/node", "https://registry.example.org/@types/node"),
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
            ("host=db user=app password='s3 cr\\'et' dbname=main", "host=db user=app dbname=main"),
            ("host=db password = s3cr3t dbname=main", "host=db dbname=main"),
            ("host=db dbname=main PWD=x", "host=db dbname=main "),
            ("password", "password"),
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
