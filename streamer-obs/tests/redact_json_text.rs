//! The redaction of JSON text held in a string (an API Gateway `body`, a captured
//! response): it is parsed and written back only when its text may hold something to
//! redact, and left as it was otherwise. Differential check on random JSON texts: whenever
//! the text comes back unchanged, redacting the parsed value finds nothing either, and no
//! planted secret survives in any case.

// Only the generator and the findings of the shared module are used here.
#[allow(dead_code)]
#[path = "common/random.rs"]
mod random;

use random::{Findings, G};
use serde_json::{Map, Value, json};
use streamer_obs::log::Redactor;

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyYW5kb20ifQ.c2VjcmV0LXNpZ25hdHVyZS0xMjM";
const CANARY: &str = "Zq7canaryXk";

impl G {
    /// A key: plain, or one naming a secret (any case, `-`/`_`, inside a longer name).
    fn key(&mut self) -> (String, bool) {
        let secret = self.pct(30);
        let base = if secret {
            self.pick(&[
                "password",
                "Authorization",
                "api_key",
                "API-KEY",
                "x_token_y",
                "clientSecret",
                "Cookie",
                "ssn",
            ])
        } else {
            self.pick(&["room", "text", "id", "user", "tenant_id", "note", "author", "pass", "tok"])
        };
        (base.to_string(), secret && *base != "ssn")
    }

    /// A value, possibly carrying a secret by its shape (JWT, `Bearer …`, `token=…`).
    fn leaf(&mut self, depth: usize) -> Value {
        match self.0.u32(0..10) {
            0 => Value::String(JWT.to_owned()),
            1 => Value::String(format!("Bearer {CANARY}")),
            2 => Value::String(format!("a=1&access_token={CANARY}&b=2")),
            3 => Value::String(format!("Authorization: Basic {CANARY}")),
            4 if depth < 3 => Value::String(self.text(depth + 1).0),
            5 => json!(self.0.i64(-1000..1000)),
            6 => json!(self.pct(50)),
            7 => Value::Null,
            _ => Value::String(
                self.pick(&["hello", "token rotation", "a \"quoted\" word", "tab\there", "é ü ☃"]).to_string(),
            ),
        }
    }

    /// A JSON object's text and whether a secret was planted under a secret key.
    fn text(&mut self, depth: usize) -> (String, bool) {
        let mut map = Map::new();
        let mut planted = false;
        for _ in 0..self.0.usize(1..5) {
            let (key, secret) = self.key();
            let value = if secret {
                planted = true;
                Value::String(CANARY.to_owned())
            } else if depth < 3 && self.pct(20) {
                let (inner, p) = self.text(depth + 1);
                planted |= p;
                serde_json::from_str(&inner).unwrap_or(Value::Null)
            } else {
                self.leaf(depth)
            };
            map.insert(key, value);
        }
        let mut text = if self.pct(50) {
            serde_json::to_string_pretty(&Value::Object(map)).unwrap()
        } else {
            serde_json::to_string(&Value::Object(map)).unwrap()
        };
        // Sometimes a key's first letter spelled as a `\u` escape.
        if self.pct(15)
            && let Some(at) = text.find("\"p")
        {
            text.replace_range(at + 1..at + 2, "\\u0070");
        }
        (text, planted)
    }
}

#[test]
fn json_text_left_unchanged_holds_nothing_to_redact() {
    let mut g = G::new(0x7E57_1A50);
    let redactor = Redactor::new(["authorization", "token", "password", "api_key", "api-key", "secret", "cookie"]);
    let mut f = Findings::default();
    let mut unchanged = 0;
    for case in 0..3000 {
        let (text, _) = g.text(0);
        let mut event = json!({ "body": text });
        redactor.redact_value(&mut event);
        let out = event["body"].as_str().unwrap_or_default().to_owned();
        for secret in [JWT, CANARY] {
            if out.contains(secret) {
                f.add("no planted secret survives", format!("case {case}: {text} -> {out}"));
            }
        }
        if out == text {
            unchanged += 1;
            // The fast path said "nothing to redact": the parsed value agrees.
            let parsed: Value = serde_json::from_str(&text).unwrap();
            let mut redacted = parsed.clone();
            redactor.redact_value(&mut redacted);
            if redacted != parsed {
                f.add("left unchanged only when nothing in it is redacted", format!("case {case}: {text}"));
            }
        }
    }
    f.assert_none("JSON text in a string");
    assert!(unchanged > 200, "the fast path is exercised: {unchanged} of 3000 unchanged");
}
