//! Redaction: secrets never reach a log line.
//!
//! Values under keys that contain a configured fragment (`authorization`, `token`,
//! `jwt`, `password`, `secret`, `cookie`, ... case-insensitive) are written as
//! `"[REDACTED]"`, in event fields, span fields, correlation fields and nested JSON
//! (such as a logged event). Any JWT-shaped text inside other values is replaced too.
//! [`Secret`] wraps a value whose `Debug`, `Display` and `Serialize` never reveal it.

use std::fmt;

use serde::{Serialize, Serializer};

use super::json::REDACTED;

/// Decides which keys are redacted.
///
/// ```
/// use streamer_obs::log::Redactor;
/// let r = Redactor::new(["authorization", "token"]);
/// assert!(r.is_redacted("Authorization"));
/// assert!(r.is_redacted("access_token"));
/// assert!(!r.is_redacted("connection_id"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Shared: cloning a redactor (each invocation holds one, for its correlation fields)
    /// is a reference-count increment.
    inner: std::sync::Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    fragments: Vec<String>,
    /// For each lowercase byte, the fragments (bit i = `fragments[i]`, first 64) that start
    /// with it: a key is only compared where one of its bytes can start a fragment.
    first: Option<Box<[u64; 256]>>,
    /// Bit `a << 8 | b` set when some fragment starts with the lowercase bytes `a b`
    /// (`None` when a one-byte fragment exists): most keys contain no such pair and are
    /// cleared two bytes at a time without looking at a fragment.
    pairs: Option<Box<[u64; 1024]>>,
    /// The shortest fragment's length: shorter keys are never redacted.
    shortest: usize,
    /// Answers for `&'static str` keys (field names), by address.
    statics: crate::static_memo::StaticStrMemo,
}

/// The redactor of the outputs written without a configuration at hand (EMF properties,
/// X-Ray annotations and metadata): the global telemetry's (installed by `init` or
/// `Telemetry::install_global`, else read from the environment once it is used), so the
/// keys of `STREAMER_LOG_REDACT_KEYS` apply there as in log lines; before there is one,
/// [`DEFAULT_REDACT_KEYS`](crate::config::DEFAULT_REDACT_KEYS).
pub(crate) fn default_redactor() -> &'static Redactor {
    static DEFAULT: std::sync::LazyLock<Redactor> =
        std::sync::LazyLock::new(|| Redactor::new(crate::config::DEFAULT_REDACT_KEYS));
    match crate::telemetry::Telemetry::installed() {
        Some(telemetry) => telemetry.config().log().redactor(),
        None => &DEFAULT,
    }
}

impl Redactor {
    /// A redactor for the given key fragments (matched case-insensitively as substrings).
    pub fn new<S: AsRef<str>>(fragments: impl IntoIterator<Item = S>) -> Self {
        let fragments: Vec<String> =
            fragments.into_iter().map(|f| f.as_ref().to_ascii_lowercase()).filter(|f| !f.is_empty()).collect();
        let first = (fragments.len() <= 64).then(|| {
            let mut t = Box::new([0u64; 256]);
            for (i, f) in fragments.iter().enumerate() {
                t[f.as_bytes()[0] as usize] |= 1 << i;
            }
            t
        });
        let pairs = fragments.iter().all(|f| f.len() >= 2).then(|| {
            let mut t = Box::new([0u64; 1024]);
            for f in &fragments {
                let pair = usize::from(f.as_bytes()[0]) << 8 | usize::from(f.as_bytes()[1]);
                t[pair >> 6] |= 1 << (pair & 63);
            }
            t
        });
        let shortest = fragments.iter().map(String::len).min().unwrap_or(0);
        let statics = crate::static_memo::StaticStrMemo::new();
        Self { inner: std::sync::Arc::new(Inner { fragments, first, pairs, shortest, statics }) }
    }

    /// Whether `self` and `other` are clones of one redactor.
    pub(crate) fn same_as(&self, other: &Redactor) -> bool {
        std::sync::Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// [`Self::is_redacted`] for a key that lives for the whole program (a `tracing` field
    /// name): the answer is remembered by the key's address.
    ///
    /// ```
    /// use streamer_obs::log::Redactor;
    /// let r = Redactor::new(["token"]);
    /// assert!(r.is_redacted_static("access_token"));
    /// assert!(r.is_redacted_static("access_token"));
    /// assert!(!r.is_redacted_static("user_id"));
    /// ```
    pub fn is_redacted_static(&self, key: &'static str) -> bool {
        self.inner.statics.get_or(key, |key| self.is_redacted(key))
    }

    /// Whether values under `key` are redacted.
    pub fn is_redacted(&self, key: &str) -> bool {
        self.inner.is_redacted(key.as_bytes())
    }

    /// [`Self::is_redacted`] of a key's bytes.
    fn is_redacted_bytes(&self, key: &[u8]) -> bool {
        self.inner.is_redacted(key)
    }
}

impl Inner {
    fn is_redacted(&self, k: &[u8]) -> bool {
        // Fragments are never empty: an empty key (or one shorter than all) has none.
        if k.len() < self.shortest.max(1) {
            return false;
        }
        match (&self.first, &self.pairs) {
            (Some(first), Some(pairs)) => {
                // Only where a key's two bytes start some fragment is a fragment compared.
                let mut prev = k[0].to_ascii_lowercase();
                for i in 1..k.len() {
                    let b = k[i].to_ascii_lowercase();
                    let pair = usize::from(prev) << 8 | usize::from(b);
                    if pairs[pair >> 6] & (1 << (pair & 63)) != 0 && self.starts_here(first, k, i - 1) {
                        return true;
                    }
                    prev = b;
                }
                false
            }
            (Some(first), None) => (0..k.len()).any(|i| self.starts_here(first, k, i)),
            (None, _) => self.fragments.iter().any(|f| {
                let f = f.as_bytes();
                f.len() <= k.len() && k.windows(f.len()).any(|w| w.eq_ignore_ascii_case(f))
            }),
        }
    }

    /// Whether a fragment starting with `k[i]`'s byte occurs at `i`.
    fn starts_here(&self, first: &[u64; 256], k: &[u8], i: usize) -> bool {
        let mut candidates = first[usize::from(k[i].to_ascii_lowercase())];
        while candidates != 0 {
            let f = self.fragments[candidates.trailing_zeros() as usize].as_bytes();
            candidates &= candidates - 1;
            if let Some(w) = k.get(i..i + f.len())
                && w.eq_ignore_ascii_case(f)
            {
                return true;
            }
        }
        false
    }
}

impl Redactor {
    /// Redacts a JSON value in place: values under redacted keys, at any depth, become
    /// `"[REDACTED]"`; in strings, JWT-shaped text and free-text credentials
    /// (`Bearer …`, `Basic …`, `Authorization:`/`Cookie:`/`Sec-WebSocket-Protocol:`
    /// values) are replaced by `[REDACTED]`, and so is the value of every `key=value`
    /// pair (query strings, form bodies) whose key is redacted. A string holding a JSON
    /// object or array (an API Gateway `body`) is redacted the same way and written back
    /// compact (object keys sorted) when something in it may be redacted (a fragment of a
    /// redacted key anywhere in its text, an escape, a JWT or a credential); without any,
    /// it is left as it is. An object key holding a JWT-shaped run is renamed
    /// (the run becomes `[REDACTED]`). Arrays and objects nested deeper than 128 levels
    /// become `"[too deep]"`.
    ///
    /// ```
    /// use serde_json::json;
    /// use streamer_obs::log::Redactor;
    /// let mut event = json!({
    ///     "headers": {"Authorization": "Bearer x", "Host": "h"},
    ///     "q": ["eyJa.eyJb.c"],
    ///     "rawQueryString": "access_token=abc&x=1",
    ///     "body": "{\"password\": \"hunter2\", \"n\": 1}",
    ///     "seen": {"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln": true},
    /// });
    /// Redactor::new(["authorization", "token", "password"]).redact_value(&mut event);
    /// assert_eq!(event, json!({
    ///     "headers": {"Authorization": "[REDACTED]", "Host": "h"},
    ///     "q": ["[REDACTED]"],
    ///     "rawQueryString": "access_token=[REDACTED]&x=1",
    ///     "body": "{\"n\":1,\"password\":\"[REDACTED]\"}",
    ///     "seen": {"[REDACTED]": true},
    /// }));
    /// ```
    pub fn redact_value(&self, value: &mut serde_json::Value) {
        self.redact_at(value, 0);
    }

    fn redact_at(&self, value: &mut serde_json::Value, depth: usize) {
        use serde_json::Value;
        match value {
            Value::Array(_) | Value::Object(_) if depth >= MAX_REDACT_DEPTH => {
                let deep = std::mem::replace(value, Value::String(crate::xray::json::TOO_DEEP.to_owned()));
                crate::xray::json::drop_flat(deep);
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if self.is_redacted(k) {
                        *v = Value::String(REDACTED.to_owned());
                    } else {
                        self.redact_at(v, depth + 1);
                    }
                }
                rename_jwt_keys(map);
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_at(v, depth + 1)),
            Value::String(s) => {
                if let Some(redacted) = self.redact_text(s, depth) {
                    *s = redacted;
                }
            }
            _ => {}
        }
    }

    /// Whether redacting the JSON text `t` (as [`Self::redact_value`] does) may change
    /// anything: it holds a fragment of a redacted key anywhere (a key, a `key=value`
    /// pair), a JWT-shaped run or a credential, or any escape (`\u0074oken` spells a key;
    /// without escapes every string in it is a verbatim part of the text, so the text's
    /// checks are the strings' own). When false, `t` holds nothing to redact.
    pub(crate) fn may_redact_json(&self, t: &str) -> bool {
        t.contains('\\') || self.inner.is_redacted(t.as_bytes()) || super::json::needs_scrub(t)
    }

    /// A string value redacted (see [`Self::redact_value`]); `None` when unchanged.
    fn redact_text(&self, s: &str, depth: usize) -> Option<String> {
        // A byte-order mark before a JSON body (some clients send one) is not whitespace
        // to `trim`.
        let t = s.trim().trim_start_matches('\u{feff}').trim_start();
        let json_like = (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'));
        // JSON text is parsed (and written back) only when something in it may be
        // redacted; otherwise it stays as it was written.
        if json_like && !self.may_redact_json(t) {
            return None;
        }
        if json_like && let Ok(mut inner) = serde_json::from_str::<serde_json::Value>(t) {
            self.redact_at(&mut inner, depth + 1);
            let text = inner.to_string();
            crate::xray::json::drop_flat(inner);
            return Some(text);
        }
        let pairs = if s.contains('=') { self.redact_pairs(s) } else { None };
        let text = pairs.as_deref().unwrap_or(s);
        match super::json::scrub_text(text) {
            Some(scrubbed) => Some(scrubbed),
            None => pairs,
        }
    }

    /// `s` with the value of every `key=value` pair whose key is redacted replaced by
    /// `[REDACTED]` (pairs as the log text's secret parameters are found:
    /// [`pair_value_at`](super::json::pair_value_at)). `None` when there is none.
    pub(crate) fn redact_pairs(&self, s: &str) -> Option<String> {
        super::json::replace_ranges(s, |b, from| {
            (from..b.len())
                .filter(|&i| b[i] == b'=')
                .find_map(|eq| super::json::pair_value_at(b, from, eq, |key| self.is_redacted_bytes(key)))
        })
    }
}

/// Renames the keys of `map` that hold a JWT-shaped run ([`super::scrub_jwts`]): the run
/// becomes `[REDACTED]`. A renamed key that meets another one gets a `#2`, `#3`, ...
/// suffix: no value is lost.
fn rename_jwt_keys(map: &mut serde_json::Map<String, serde_json::Value>) {
    if !map.keys().any(|k| super::contains_jwt(k)) {
        return;
    }
    let jwt_keys: Vec<String> = map.keys().filter(|k| super::contains_jwt(k)).cloned().collect();
    for key in jwt_keys {
        let Some(value) = map.remove(&key) else { continue };
        let scrubbed = super::scrub_jwts(&key);
        let mut renamed = scrubbed.clone();
        let mut n = 1;
        while map.contains_key(&renamed) {
            n += 1;
            renamed = format!("{scrubbed}#{n}");
        }
        map.insert(renamed, value);
    }
}

/// How deep [`Redactor::redact_value`] goes into nested arrays and objects.
const MAX_REDACT_DEPTH: usize = 128;

/// A value that must never be shown: `Debug`, `Display` and `Serialize` all write
/// `[REDACTED]`. Read it deliberately with [`Secret::expose`].
///
/// ```
/// use streamer_obs::log::Secret;
/// let token = Secret::new(String::from("eyJhbGciOi..."));
/// assert_eq!(format!("{token:?} {token}"), "[REDACTED] [REDACTED]");
/// assert_eq!(serde_json::to_string(&token).unwrap(), "\"[REDACTED]\"");
/// assert_eq!(token.expose(), "eyJhbGciOi...");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret value; every use is a deliberate, greppable call.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(fragments: &[&str], key: &str) -> bool {
        fragments.iter().any(|f| key.to_ascii_lowercase().contains(&f.to_ascii_lowercase()))
    }

    #[test]
    fn json_text_is_rewritten_only_when_something_in_it_may_be_redacted() {
        let r = Redactor::new(crate::config::DEFAULT_REDACT_KEYS);
        let redacted = |body: &str| {
            let mut v = serde_json::json!({ "body": body });
            r.redact_value(&mut v);
            v["body"].as_str().unwrap().to_owned()
        };
        // Nothing to redact: as written (spacing and key order kept).
        assert_eq!(redacted(r#"{ "z": 1, "a": [true, null] }"#), r#"{ "z": 1, "a": [true, null] }"#);
        // A redacted key, also spelled with a `\u` escape, or a JWT: parsed and written back.
        assert_eq!(redacted(r#"{ "z": 1, "Password": "x" }"#), r#"{"Password":"[REDACTED]","z":1}"#);
        assert_eq!(redacted(r#"{"\u0074oken": "abc", "a": 1}"#), r#"{"a":1,"token":"[REDACTED]"}"#);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(redacted(&format!(r#"{{"a": "{jwt}"}}"#)), r#"{"a":"[REDACTED]"}"#);
        // A fragment in a value, not a key: parsed, nothing redacted, written back compact.
        assert_eq!(redacted(r#"{ "note": "token rotation" }"#), r#"{"note":"token rotation"}"#);
        // An escaped credential (`\t` after `Bearer`): parsed, the string scrubbed.
        assert_eq!(redacted(r#"{"h": "Bearer\tabc123"}"#), r#"{"h":"Bearer\t[REDACTED]"}"#);
    }

    #[test]
    fn agrees_with_a_plain_substring_search() {
        let fragments = crate::config::DEFAULT_REDACT_KEYS;
        let r = Redactor::new(fragments);
        let keys = [
            "Authorization",
            "x-AUTHORIZATION-x",
            "access_token",
            "TOKEN",
            "tok",
            "jwt",
            "my_jwT_thing",
            "password",
            "pass",
            "client_secret",
            "Cookie",
            "set-cookie",
            "api_key",
            "ApiKey",
            "Sec-WebSocket-Protocol",
            "sec-websocket",
            "connection_id",
            "user_id",
            "attempt",
            "",
            "a",
            "é",
            "token_é",
            "autho",
            "secre",
        ];
        for key in keys {
            assert_eq!(r.is_redacted(key), naive(fragments, key), "{key}");
        }
    }

    #[test]
    fn many_fragments_use_the_plain_search() {
        let many: Vec<String> = (0..70).map(|i| format!("frag{i}x")).collect();
        let r = Redactor::new(&many);
        assert!(r.is_redacted("the_FRAG69X_key"));
        assert!(r.is_redacted("frag0x"));
        assert!(!r.is_redacted("frag70x"));
    }

    #[test]
    fn static_answers_match_the_search_and_survive_slot_collisions() {
        let r = Redactor::new(crate::config::DEFAULT_REDACT_KEYS);
        // More keys than slots: some share a slot and replace each other's answer.
        const KEYS: [&str; 80] = [
            "a0",
            "token",
            "b2",
            "Authorization",
            "c4",
            "user_id",
            "jwt_x",
            "e7",
            "secret",
            "f9",
            "g10",
            "apikey",
            "h12",
            "i13",
            "cookie",
            "j15",
            "k16",
            "l17",
            "m18",
            "n19",
            "o20",
            "p21",
            "q22",
            "r23",
            "s24",
            "t25",
            "u26",
            "v27",
            "w28",
            "x29",
            "y30",
            "z31",
            "a32",
            "b33",
            "c34",
            "d35",
            "e36",
            "f37",
            "g38",
            "h39",
            "i40",
            "j41",
            "k42",
            "l43",
            "m44",
            "n45",
            "o46",
            "p47",
            "q48",
            "r49",
            "s50",
            "t51",
            "u52",
            "v53",
            "w54",
            "x55",
            "y56",
            "z57",
            "a58",
            "b59",
            "c60",
            "d61",
            "e62",
            "f63",
            "g64",
            "h65",
            "i66",
            "j67",
            "k68",
            "l69",
            "m70",
            "n71",
            "o72",
            "p73",
            "q74",
            "r75",
            "my_password",
            "t77",
            "sec-websocket-protocol",
            "v79",
        ];
        for _ in 0..3 {
            for key in KEYS {
                assert_eq!(r.is_redacted_static(key), r.is_redacted(key), "{key}");
            }
        }
    }

    #[test]
    fn no_fragments_redact_nothing() {
        let r = Redactor::new(Vec::<String>::new());
        assert!(!r.is_redacted(""));
        assert!(!r.is_redacted("token"));
        assert!(!Redactor::default().is_redacted(""));
        assert!(!Redactor::new(["token"]).is_redacted(""));
    }

    #[test]
    fn one_byte_and_short_fragments_skip_the_pair_filter_correctly() {
        let r = Redactor::new(["x", "TOKEN"]);
        assert!(r.is_redacted("X"));
        assert!(r.is_redacted("ax"));
        assert!(r.is_redacted("my_Token"));
        assert!(!r.is_redacted("abc"));
        let r = Redactor::new(["jwt"]);
        assert!(!r.is_redacted("jw"), "shorter than every fragment");
        assert!(r.is_redacted("JWT"));
        assert!(!r.is_redacted("j_wt"));
    }

    #[test]
    fn non_ascii_fragments_match_exactly() {
        let r = Redactor::new(["clé"]);
        assert!(r.is_redacted("ma_CLé"));
        assert!(!r.is_redacted("cle"));
    }

    #[test]
    fn configured_keys_and_the_fixed_parameter_list_find_the_same_pairs() {
        // A configured key the fixed list does not know, and one it knows: both are found
        // by the one pair scanner, with the same bounds.
        let r = Redactor::new(["session", "password"]);
        let text = "GET /x?session=abc,def&password=p#frag&page=2 \"note=password=q\"";
        let configured = r.redact_pairs(text).expect("pairs found");
        assert_eq!(configured, "GET /x?session=[REDACTED],def&password=[REDACTED]&page=2 \"note=password=[REDACTED]\"");
        // The fixed list of the log text (no `session` there) finds the password alike.
        let fixed = super::super::json::scrub_text(text).expect("a secret parameter");
        assert_eq!(fixed, "GET /x?session=abc,def&password=[REDACTED]&page=2 \"note=password=[REDACTED]\"");
        // Already redacted values and empty values are left alone.
        assert_eq!(r.redact_pairs("password=[REDACTED]&session="), None);
    }
}
