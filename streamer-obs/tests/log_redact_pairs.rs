//! `key=value` pairs in log text (message, string and `Debug` fields, error messages and
//! sources, span fields) whose key the configured redaction list names
//! (`STREAMER_LOG_REDACT_KEYS`, the default list too) have their value written as
//! `[REDACTED]`, as in EMF properties and logged events; other pairs are kept.

mod common;

use serde_json::Value;
use streamer_obs::testing::CapturingWriter;
use tracing::dispatcher::with_default;

fn lines(pairs: &[(&str, &str)], f: impl FnOnce()) -> Vec<Value> {
    let config = common::config(pairs);
    let (dispatch, writer, _clock): (_, CapturingWriter, _) = common::capture(&config);
    with_default(&dispatch, f);
    writer.json_lines()
}

#[derive(Debug)]
struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

#[derive(Debug)]
struct Outer(Failed);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lookup failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn configured_keys_redact_pair_values_in_every_text_of_a_line() {
    const SSN: &str = "123-45-6789";
    const PIN: &str = "4321";
    let out = lines(&[("STREAMER_LOG_REDACT_KEYS", "ssn,pin_code")], || {
        let span = tracing::info_span!("lookup", query = "user_ssn=123-45-6789&page=2");
        let _entered = span.enter();
        let err = Outer(Failed(format!("bad input pin_code={PIN}")));
        tracing::warn!(
            detail = "ssn=123-45-6789 tenant=acme",
            request = ?("GET", "/users?SSN=123-45-6789&sort=asc"),
            error = &err as &dyn std::error::Error,
            "check failed for ssn={SSN}, PIN_CODE={PIN}; status=400"
        );
    });
    assert_eq!(out.len(), 1, "{out:#?}");
    let line = &out[0];
    let text = line.to_string();
    assert!(!text.contains(SSN) && !text.contains(PIN), "a configured secret leaked: {text}");
    assert_eq!(line["message"], "check failed for ssn=[REDACTED], PIN_CODE=[REDACTED]; status=400");
    assert_eq!(line["detail"], "ssn=[REDACTED] tenant=acme");
    assert_eq!(line["request"], r#"("GET", "/users?SSN=[REDACTED]&sort=asc")"#);
    assert_eq!(line["error.message"], "lookup failed");
    assert_eq!(line["error.sources"], serde_json::json!(["bad input pin_code=[REDACTED]"]));
    assert_eq!(line["query"], "user_ssn=[REDACTED]&page=2");
}

/// Keys of any last letter (the scrubber's own pair check looks at the letters that end
/// its fixed names), in short (under 8 bytes) and long text.
#[test]
fn configured_keys_of_any_spelling_in_short_and_long_text() {
    let out = lines(&[("STREAMER_LOG_REDACT_KEYS", "cvv,x-pin")], || {
        tracing::info!(short = "cvv=123", long = "card cvv=987 X-PIN=5511 exp=12/29", "cvv=4")
    });
    let line = &out[0];
    assert_eq!(line["short"], "cvv=[REDACTED]");
    assert_eq!(line["long"], "card cvv=[REDACTED] X-PIN=[REDACTED] exp=12/29");
    assert_eq!(line["message"], "cvv=[REDACTED]");
}

#[test]
fn default_keys_redact_pairs_and_other_pairs_are_kept() {
    let out = lines(&[], || {
        tracing::info!(
            detail = "session_id=s-8f2c private_key=pk-77 connection_id=L0SM9c= route=$connect",
            "client_credential=cc-1 status=200 n=3"
        );
    });
    let line = &out[0];
    assert_eq!(line["detail"], "session_id=[REDACTED] private_key=[REDACTED] connection_id=L0SM9c= route=$connect");
    assert_eq!(line["message"], "client_credential=[REDACTED] status=200 n=3");
}

#[test]
fn text_without_a_configured_pair_is_written_as_it_was() {
    let out = lines(&[("STREAMER_LOG_REDACT_KEYS", "ssn")], || {
        tracing::info!(detail = "a=b, c = d, ssn: none, =x, ssn=", "plain text = fine");
    });
    let line = &out[0];
    assert_eq!(line["detail"], "a=b, c = d, ssn: none, =x, ssn=");
    assert_eq!(line["message"], "plain text = fine");
}
