//! The JSON log line: every key, flattening, key rules, errors, redaction.

mod common;

use std::error::Error;
use std::fmt;

use common::*;
use serde_json::{Value, json};
use streamer_obs::invocation::{self, ColdStartTracker};
use streamer_obs::log::Secret;
use streamer_obs::testing::CapturingWriter;
use tracing::dispatcher::with_default;

/// Runs `f` inside an invocation (request id `r`) with the JSON layer as the default
/// subscriber; returns what the layer wrote.
fn in_invocation(f: impl FnOnce()) -> CapturingWriter {
    let config = config(&[]);
    let (dispatch, writer, _) = capture(&config);
    let inv = invocation(&config, "r", &ColdStartTracker::new(&Default::default()));
    with_default(&dispatch, || inv.sync_scope(f));
    writer
}

fn keys(line: &Value) -> Vec<String> {
    line.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn invocation_line_has_every_key() {
    let config = config(&[("POWERTOOLS_SERVICE_NAME", "streamer-connect"), ("ENVIRONMENT", "prod")]);
    let (dispatch, writer, _) = capture(&config);
    let tracker = ColdStartTracker::new(&Default::default());
    let inv = invocation(&config, "req-1", &tracker);
    with_default(&dispatch, || {
        inv.sync_scope(|| {
            invocation::append_field("connection_id", "L0SM9cOFvHcCIhw=");
            invocation::append_field("tenant_id", "tenant-a");
            invocation::append_field("user_id", "user-1");
            invocation::append_field("route_key", "$connect");
            tracing::info!(source_ip = "10.0.0.1", attempt = 2u64, "Connection attempt");
        })
    });
    let lines = writer.json_lines();
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(
        *l,
        json!({
            "timestamp": "2026-11-26T22:09:48.123Z",
            "level": "INFO",
            "message": "Connection attempt",
            "service": "streamer-connect",
            "cold_start": true,
            "function_name": "connect",
            "function_request_id": "req-1",
            "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:connect",
            "function_memory_size": 512,
            "xray_trace_id": "1-5759e988-bd862e3fe1be46a994272793",
            "environment": "prod",
            "connection_id": "L0SM9cOFvHcCIhw=",
            "tenant_id": "tenant-a",
            "user_id": "user-1",
            "route_key": "$connect",
            "source_ip": "10.0.0.1",
            "attempt": 2
        })
    );
    // Key order on the wire: the fixed keys first, in the documented order.
    let raw = &writer.lines()[0];
    let order = [
        "\"timestamp\"",
        "\"level\"",
        "\"message\"",
        "\"service\"",
        "\"cold_start\"",
        "\"environment\"",
        "\"connection_id\"",
        "\"source_ip\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| raw.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{raw}");
    assert!(!raw.contains('\n') && raw.starts_with('{') && raw.ends_with('}'));
}

#[test]
fn second_invocation_is_warm_and_without_header_has_no_trace_id() {
    let config = config(&[]);
    let (dispatch, writer, _) = capture(&config);
    let tracker = ColdStartTracker::new(&Default::default());
    let _first = invocation(&config, "a", &tracker);
    let ctx = streamer_obs::testing::ContextBuilder::new().request_id("b").build();
    let inv = std::sync::Arc::new(streamer_obs::invocation::Invocation::from_context(&ctx, &config, &tracker));
    with_default(&dispatch, || inv.sync_scope(|| tracing::warn!("warm")));
    let l = &writer.json_lines()[0];
    assert_eq!(l["cold_start"], false);
    assert_eq!(l["level"], "WARN");
    assert!(l.get("xray_trace_id").is_none());
    assert_eq!(l["environment"], "unknown");
    assert_eq!(l["service"], "service_undefined");
}

#[test]
fn outside_an_invocation_only_static_keys() {
    let config = config(&[("AWS_LAMBDA_FUNCTION_NAME", "disconnect")]);
    let (dispatch, writer, _) = capture(&config);
    with_default(&dispatch, || tracing::error!(table = "connections", "init failed"));
    let l = &writer.json_lines()[0];
    let mut expected = ["timestamp", "level", "message", "service", "function_name", "environment", "table"];
    expected.sort();
    assert_eq!(keys(l), expected);
    assert_eq!(l["service"], "disconnect");
    assert_eq!(l["level"], "ERROR");
}

#[test]
fn span_fields_are_flattened_innermost_and_event_win() {
    let config = config(&[]);
    let (dispatch, writer, _) = capture(&config);
    with_default(&dispatch, || {
        let outer = tracing::info_span!("outer", action = "connect", shared = "outer", user_id = tracing::field::Empty);
        let _o = outer.enter();
        outer.record("user_id", "u-9");
        let inner = tracing::info_span!("inner", shared = "inner", depth = 2);
        let _i = inner.enter();
        tracing::info!(depth = 3, "nested");
    });
    let l = &writer.json_lines()[0];
    assert_eq!(l["action"], "connect");
    assert_eq!(l["shared"], "inner");
    assert_eq!(l["depth"], 3);
    assert_eq!(l["user_id"], "u-9");
    assert!(l.get("fields").is_none() && l.get("span").is_none() && l.get("spans").is_none());
    // no duplicate keys on the wire
    let raw = &writer.lines()[0];
    assert_eq!(raw.matches("\"shared\"").count(), 1);
    assert_eq!(raw.matches("\"depth\"").count(), 1);
}

/// Inside an invocation the layer skips the walk up the scope while no span (but the
/// runtime's) holds fields: every way a span gets fields must still put them on the line.
#[test]
fn span_fields_inside_an_invocation_whatever_their_origin() {
    let writer = in_invocation(|| {
        let handler = tracing::info_span!("handler", late_handler_field = tracing::field::Empty);
        let _h = handler.enter();
        tracing::info!("no span fields");
        // A nested span with a field, closed before the next line (the W1 shape).
        {
            let nested = tracing::info_span!("nested", n = 1_u64);
            let _n = nested.enter();
            tracing::info!("in nested");
        }
        tracing::info!("after nested");
        // Fields recorded after creation.
        let late = tracing::info_span!("late", step = tracing::field::Empty);
        let _l = late.enter();
        tracing::info!("before record");
        late.record("step", "two");
        tracing::info!("after record");
        // A span created on another thread (counted there, with this thread's
        // subscriber), entered here.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let remote = std::thread::scope(|s| {
            s.spawn(|| with_default(&dispatch, || tracing::info_span!("remote", origin = "thread"))).join()
        })
        .expect("thread");
        let _r = remote.enter();
        tracing::info!("in remote");
        // Fields on the handler span itself, recorded while nothing else holds any.
        drop(_r);
        drop(remote);
        drop(_l);
        drop(late);
        handler.record("late_handler_field", 7);
        tracing::info!("handler field");
    });
    let lines = writer.json_lines();
    let at = |i: usize, k: &str| lines[i].get(k).cloned();
    assert_eq!(lines.len(), 7);
    assert_eq!(at(0, "n"), None);
    assert_eq!(at(1, "n"), Some(json!(1)));
    assert_eq!(at(2, "n"), None);
    assert_eq!(at(3, "step"), None);
    assert_eq!(at(4, "step"), Some(json!("two")));
    // The remote span has no parent (none was current on its thread): its scope is itself.
    assert_eq!((at(5, "step"), at(5, "origin")), (None, Some(json!("thread"))));
    assert_eq!((at(6, "step"), at(6, "origin"), at(6, "late_handler_field")), (None, None, Some(json!(7))));
}

#[test]
fn event_fields_win_over_correlation_fields_without_duplicates() {
    let writer = in_invocation(|| {
        invocation::append_field("tenant_id", "from-invocation");
        let span = tracing::info_span!("s", tenant_id = "from-span");
        let _e = span.enter();
        tracing::info!("a");
        tracing::info!(tenant_id = "from-event", "b");
    });
    let lines = writer.lines();
    assert_eq!(lines[0].matches("\"tenant_id\"").count(), 1);
    assert_eq!(lines[1].matches("\"tenant_id\"").count(), 1);
    let json = writer.json_lines();
    assert_eq!(json[0]["tenant_id"], "from-invocation");
    assert_eq!(json[1]["tenant_id"], "from-event");
}

#[test]
fn reserved_and_at_keys_are_renamed() {
    let config = config(&[]);
    let (dispatch, writer, _) = capture(&config);
    with_default(&dispatch, || {
        tracing::info!(level = "custom", service = "other", "@timestamp" = 5, "x");
    });
    let l = &writer.json_lines()[0];
    assert_eq!(l["level"], "INFO");
    assert_eq!(l["field.level"], "custom");
    assert_eq!(l["field.service"], "other");
    assert_eq!(l["at_timestamp"], 5);
    assert!(keys(l).iter().all(|k| !k.starts_with('@')));
    assert_eq!(writer.lines()[0].matches("\"level\"").count(), 1);
}

#[derive(Debug)]
struct StoreError {
    source: std::io::Error,
}
impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed to save connection")
    }
}
impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

#[test]
fn errors_render_type_message_and_sources() {
    let config = config(&[]);
    let (dispatch, writer, _) = capture(&config);
    let err = StoreError { source: std::io::Error::new(std::io::ErrorKind::TimedOut, "dynamodb timed out") };
    with_default(&dispatch, || tracing::error!(error = &err as &dyn Error, "Failed to save connection"));
    let l = &writer.json_lines()[0];
    assert_eq!(l["error.type"], "StoreError");
    assert_eq!(l["error.message"], "failed to save connection");
    assert_eq!(l["error.sources"], json!(["dynamodb timed out"]));
    assert!(l.get("error").is_none());
}

#[test]
fn secrets_never_reach_a_line() {
    let jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJ0ZW5hbnRfaWQiOiJ0LTEifQ.c2lnbmF0dXJl";
    let secret = Secret::new(jwt.to_owned());
    let writer = in_invocation(|| {
        invocation::append_field("auth_token", jwt);
        invocation::append_field("query", json!({"Authorization": jwt, "page": 1}));
        let span = tracing::info_span!("handshake", Authorization = jwt);
        let _e = span.enter();
        tracing::info!(password = "hunter2", Cookie = "session=abc", header = %format!("Bearer {jwt}"), wrapped = ?secret, "token was {}", jwt);
        let err = std::io::Error::other(format!("invalid token {jwt}"));
        tracing::error!(error = &err as &dyn Error, "JWT validation failed");
    });
    let out = writer.contents();
    assert!(!out.contains(jwt), "{out}");
    assert!(!out.contains("hunter2") && !out.contains("session=abc"));
    assert!(!out.contains("c2lnbmF0dXJl"));
    let lines = writer.json_lines();
    let l = &lines[0];
    assert_eq!(l["password"], "[REDACTED]");
    assert_eq!(l["Cookie"], "[REDACTED]");
    assert_eq!(l["Authorization"], "[REDACTED]");
    assert_eq!(l["auth_token"], "[REDACTED]");
    assert_eq!(l["query"], json!({"Authorization": "[REDACTED]", "page": 1}));
    assert_eq!(l["header"], "Bearer [REDACTED]");
    assert_eq!(l["wrapped"], "[REDACTED]");
    assert_eq!(l["message"], "token was [REDACTED]");
    assert_eq!(lines[1]["error.message"], "invalid token [REDACTED]");
}

#[test]
fn configured_redaction_keys() {
    let config = streamer_obs::config::Config::builder()
        .redact_keys(["ssn"])
        .build_from(&streamer_obs::config::EnvVars::empty());
    let (dispatch, writer, _) = capture(&config);
    with_default(&dispatch, || {
        tracing::info!(user_ssn = "123-45-6789", token = "kept: not in the configured list", "x")
    });
    let l = &writer.json_lines()[0];
    assert_eq!(l["user_ssn"], "[REDACTED]");
    assert_eq!(l["token"], "kept: not in the configured list");
}

#[test]
fn control_characters_and_unicode_stay_valid_json() {
    let config = config(&[]);
    let (dispatch, writer, _) = capture(&config);
    let nasty = "line1\nline2\t\"quoted\" \\ \u{1} é 😀";
    with_default(&dispatch, || tracing::info!(value = nasty, "{}", nasty));
    let lines = writer.lines();
    assert_eq!(lines.len(), 1);
    let l: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(l["value"], nasty);
    assert_eq!(l["message"], nasty);
}

#[test]
fn numbers_bools_and_non_finite_floats() {
    let config = config(&[]);
    let (dispatch, writer, _) = capture(&config);
    with_default(&dispatch, || tracing::info!(a = -5i64, b = u64::MAX, c = 1.25, d = f64::NAN, e = true, "n"));
    let l = &writer.json_lines()[0];
    assert_eq!(l["a"], -5);
    assert_eq!(l["b"], u64::MAX);
    assert_eq!(l["c"], 1.25);
    assert_eq!(l["d"], "NaN");
    assert_eq!(l["e"], true);
}

#[test]
fn dev_mode_is_indented_but_still_json() {
    let config = config(&[("POWERTOOLS_DEV", "true")]);
    let (dispatch, writer, _) = capture(&config);
    with_default(&dispatch, || {
        tracing::info!(k = "v", "one");
        tracing::info!("two");
    });
    let text = writer.contents();
    assert!(text.lines().count() > 4);
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&text).into_iter().map(Result::unwrap).collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["k"], "v");
    assert_eq!(docs[1]["message"], "two");
}

#[test]
fn runtime_span_fields_are_not_repeated_inside_an_invocation() {
    let config = config(&[]);
    let (dispatch, writer, _) = capture(&config);
    let inv = invocation(&config, "req-7", &ColdStartTracker::new(&Default::default()));
    with_default(&dispatch, || {
        let runtime = tracing::info_span!("Lambda runtime invoke", requestId = "req-7", xrayTraceId = HEADER);
        let _e = runtime.enter();
        tracing::info!("before the scope");
        inv.sync_scope(|| tracing::info!("inside"));
    });
    let lines = writer.json_lines();
    assert_eq!(lines[0]["requestId"], "req-7");
    assert!(lines[1].get("requestId").is_none() && lines[1].get("xrayTraceId").is_none());
    assert_eq!(lines[1]["function_request_id"], "req-7");
}
