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
    fragments: Vec<String>,
}

impl Redactor {
    /// A redactor for the given key fragments (matched case-insensitively as substrings).
    pub fn new<S: AsRef<str>>(fragments: impl IntoIterator<Item = S>) -> Self {
        Self {
            fragments: fragments
                .into_iter()
                .map(|f| f.as_ref().to_ascii_lowercase())
                .filter(|f| !f.is_empty())
                .collect(),
        }
    }

    /// Whether values under `key` are redacted.
    pub fn is_redacted(&self, key: &str) -> bool {
        let k = key.as_bytes();
        self.fragments.iter().any(|f| {
            let f = f.as_bytes();
            f.len() <= k.len() && k.windows(f.len()).any(|w| w.eq_ignore_ascii_case(f))
        })
    }

    /// Redacts a JSON value in place: values under redacted keys, at any depth, become
    /// `"[REDACTED]"`, and JWT-shaped text in strings is scrubbed.
    ///
    /// ```
    /// use serde_json::json;
    /// use streamer_obs::log::Redactor;
    /// let mut event = json!({"headers": {"Authorization": "Bearer x", "Host": "h"}, "q": ["eyJa.eyJb.c"]});
    /// Redactor::new(["authorization"]).redact_value(&mut event);
    /// assert_eq!(event, json!({"headers": {"Authorization": "[REDACTED]", "Host": "h"}, "q": ["[REDACTED]"]}));
    /// ```
    pub fn redact_value(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if self.is_redacted(k) {
                        *v = serde_json::Value::String(REDACTED.to_owned());
                    } else {
                        self.redact_value(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            serde_json::Value::String(s) if s.contains("eyJ") => *s = super::json::scrub_jwts(s),
            _ => {}
        }
    }
}

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
