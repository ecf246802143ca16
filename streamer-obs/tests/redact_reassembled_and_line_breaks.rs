//! Secrets that reached an output (a review found each; the "control" tests show the same
//! text redacted on a neighbouring path):
//! - D1: X-Ray subsegment names, where taking out the characters a name may not hold
//!   joined a JWT, `Bearer <token>` or `password=…` back together after the scrubbing;
//! - D2: a raw line break between `Bearer`/`Basic` and the credential (log lines, EMF
//!   properties, X-Ray exception messages);
//! - D3: X-Ray exception messages, which skipped the configured key list's `name=value` pairs;
//! - D4: an EMF dimension named like a secret (its value in clear on the EMF line);
//! - D5: a logged event's JSON body starting with a byte-order mark.

mod common;

use common::*;
use streamer_obs::metrics::{DimensionName, MetricSet, Namespace, TenantId, Unit};
use streamer_obs::xray::cause::ErrorKind;

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJ0ZW5hbnQiOiJhY21lIn0.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ";
const TOKEN: &str = "abc123XYZdef456GHIjkl789";

/// Everything the capturing emitter received after `f` ran on a sampled recorder.
fn xray_raw(f: impl FnOnce(&std::sync::Arc<streamer_obs::xray::recorder::Recorder>)) -> String {
    let (rec, cap) = recorder();
    f(&rec);
    assert!(rec.flush_now().is_some());
    cap.raw().concat()
}

// ---- D1. X-Ray subsegment names: `clean_name` scrubs first, then strips the characters a
// name may not hold: the stripping reassembles what the scrubber did not see.

#[test]
fn d1_xray_name_jwt_hidden_by_zero_width_spaces_is_reassembled() {
    let hidden = JWT.replacen("eyJ", "ey\u{200B}J", 2);
    let raw = xray_raw(|rec| drop(rec.subsegment(&format!("call {hidden}"))));
    assert!(!raw.contains(JWT), "a whole JWT in the X-Ray document:\n{raw}");
}

#[test]
fn d1_xray_name_jwt_parts_in_quotes_are_joined() {
    let p: Vec<&str> = JWT.split('.').collect();
    let raw = xray_raw(|rec| drop(rec.subsegment(&format!("verify \"{}\".\"{}\".\"{}\"", p[0], p[1], p[2]))));
    assert!(!raw.contains(JWT), "a whole JWT in the X-Ray document:\n{raw}");
}

#[test]
fn d1_xray_name_bearer_zero_width_space_becomes_bearer_token() {
    let raw = xray_raw(|rec| drop(rec.subsegment(&format!("GET /x Bearer\u{200B} {TOKEN}"))));
    assert!(!raw.contains(TOKEN), "`Bearer <token>` in the X-Ray document:\n{raw}");
}

#[test]
fn d1_xray_name_bearer_line_break_becomes_bearer_space() {
    let raw = xray_raw(|rec| drop(rec.subsegment(&format!("GET /x Bearer\n{TOKEN}"))));
    assert!(!raw.contains(TOKEN), "`Bearer <token>` in the X-Ray document:\n{raw}");
}

#[test]
fn d1_xray_name_password_pair_joined_by_stripping() {
    let raw = xray_raw(|rec| drop(rec.subsegment(&format!("login password<>={TOKEN}"))));
    assert!(!raw.contains(TOKEN), "`password=<secret>` in the X-Ray document:\n{raw}");
}

// ---- D2. A raw line break between `Bearer`/`Basic` and the credential is not read as
// whitespace (only a space, a tab, or the *escaped* `\n` of `Debug` output are).

#[test]
fn d2_log_message_bearer_line_break_token() {
    let (raw, _) = one_line(|| tracing::info!("upstream said: Bearer\n{TOKEN}"));
    assert!(!raw.contains(TOKEN), "{raw}");
}

#[test]
fn d2_log_str_field_bearer_crlf_token() {
    let text = format!("Bearer\r\n{TOKEN}");
    let (raw, _) = one_line(|| tracing::info!(detail = text.as_str(), "x"));
    assert!(!raw.contains(TOKEN), "{raw}");
}

#[test]
fn d2_control_log_debug_field_same_text_is_redacted() {
    // The same text through `?`: Debug escapes the line break to `\n`, which is read.
    let text = format!("Bearer\r\n{TOKEN}");
    let (raw, _) = one_line(|| tracing::info!(detail = ?text, "x"));
    assert!(!raw.contains(TOKEN), "{raw}");
}

#[test]
fn d2_emf_property_bearer_line_break_token() {
    let mut set = MetricSet::new(Namespace::streamer());
    set.add("Hits", Unit::Count, 1.0).unwrap();
    set.set_property("note", format!("Bearer\n{TOKEN}")).unwrap();
    let all = streamer_obs::metrics::emf::encode_lines(&set, T0).concat();
    assert!(!all.contains(TOKEN), "{all}");
}

#[test]
fn d2_xray_exception_message_bearer_line_break_token() {
    let raw = xray_raw(|rec| {
        let g = rec.subsegment("Call");
        g.record_error(&std::io::Error::other(format!("rejected Basic\n{TOKEN}")), ErrorKind::Fault);
    });
    assert!(!raw.contains(TOKEN), "{raw}");
}

// ---- D3. X-Ray exception messages are scrubbed with the fixed scrubber only, not with
// the redactor's `name=value` pairs (`passwd=`, `session_id=`, STREAMER_LOG_REDACT_KEYS),
// which the README promises for exception messages and which log lines apply.

#[test]
fn d3_xray_exception_message_passwd_pair() {
    let raw = xray_raw(|rec| {
        let g = rec.subsegment("Call");
        g.record_error(&std::io::Error::other(format!("login failed: user=bob passwd={TOKEN}")), ErrorKind::Error);
    });
    assert!(!raw.contains(TOKEN), "{raw}");
}

#[test]
fn d3_xray_exception_message_session_id_pair() {
    let raw = xray_raw(|rec| {
        let g = rec.subsegment("Call");
        g.record_error(&std::io::Error::other(format!("expired session_id={TOKEN}")), ErrorKind::Error);
    });
    assert!(!raw.contains(TOKEN), "{raw}");
}

#[test]
fn d3_control_log_error_message_same_text_is_redacted() {
    let err = std::io::Error::other(format!("login failed: user=bob passwd={TOKEN}"));
    let (raw, _) = one_line(|| tracing::error!(error = &err as &dyn std::error::Error, "x"));
    assert!(!raw.contains(TOKEN), "{raw}");
}

#[test]
fn d3_control_xray_annotation_same_text_is_redacted() {
    let raw = xray_raw(|rec| {
        let g = rec.subsegment("Call");
        g.annotate("note", format!("login failed: user=bob passwd={TOKEN}").as_str()).unwrap();
    });
    assert!(!raw.contains(TOKEN), "{raw}");
}

// ---- D4. EMF: a dimension named like a redacted key is written in clear (a property
// of the same name is `[REDACTED]`).

#[test]
fn d4_emf_dimension_under_a_secret_key() {
    let mut set = MetricSet::new(Namespace::streamer());
    let added = set.add_dimension(DimensionName::new("ApiKey").unwrap(), &TenantId::new(TOKEN).unwrap());
    set.add("Hits", Unit::Count, 1.0).unwrap();
    if added.is_ok() {
        let all = streamer_obs::metrics::emf::encode_lines(&set, T0).concat();
        assert!(!all.contains(TOKEN), "the value under ApiKey in the EMF line:\n{all}");
    }
}

#[test]
fn d4_control_emf_property_under_the_same_key_is_redacted() {
    let mut set = MetricSet::new(Namespace::streamer());
    set.add("Hits", Unit::Count, 1.0).unwrap();
    set.set_property("ApiKey", TOKEN).unwrap();
    let all = streamer_obs::metrics::emf::encode_lines(&set, T0).concat();
    assert!(!all.contains(TOKEN), "{all}");
}

// ---- D5 (borderline). Logged events: a JSON body with a byte-order mark is not parsed,
// so a key that only contains a redacted word (`password_confirmation`) stays in clear.

fn redacted_event(body: &str) -> String {
    let mut event = serde_json::json!({"httpMethod": "POST", "body": body});
    streamer_obs::log::Redactor::new(streamer_obs::config::DEFAULT_REDACT_KEYS).redact_value(&mut event);
    event.to_string()
}

#[test]
fn d5_control_logged_event_json_body() {
    let out = redacted_event(&format!("{{\"email\":\"a@b.c\",\"password_confirmation\":\"{TOKEN}\"}}"));
    assert!(!out.contains(TOKEN), "{out}");
}

#[test]
fn d5_logged_event_json_body_with_bom() {
    let out = redacted_event(&format!("\u{FEFF}{{\"email\":\"a@b.c\",\"password_confirmation\":\"{TOKEN}\"}}"));
    assert!(!out.contains(TOKEN), "{out}");
}
