//! `annotations(...)` and `metadata(...)`: evaluated from the arguments, once, before
//! the body runs (and before it moves the arguments). Their effect on the handler
//! subsegment is tested with the X-Ray layer; here: evaluation and every value type.

mod common;

use std::cell::RefCell;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::{Value, json};
use streamer_obs::instrumented;

thread_local! {
    static ORDER: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn note<T>(what: &str, value: T) -> T {
    ORDER.with(|o| o.borrow_mut().push(what.to_owned()));
    value
}

fn order() -> Vec<String> {
    ORDER.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

#[derive(Debug, Serialize)]
struct Payload {
    connection_id: String,
    size: u64,
}

#[instrumented(
    annotations(connection_id = note("annotation", event.payload.connection_id.as_str())),
    metadata(payload = note("metadata", &event.payload))
)]
async fn handler(event: LambdaEvent<Payload>) -> Result<u64, Error> {
    note("body", ());
    // The body still owns the event: the annotations only borrowed it.
    let LambdaEvent { payload, .. } = event;
    Ok(payload.size)
}

#[instrumented(annotations(n = note("annotation", n)), metadata(label = note("metadata", label.clone())))]
fn function(n: u8, label: String) -> String {
    note("body", ());
    format!("{label}{n}")
}

#[instrumented(
    annotations(
        s = "literal",
        owned = name.clone(),
        borrowed = &name,
        small = 1u8,
        signed = -5i64,
        big = u64::MAX,
        index = 3usize,
        ratio = 0.5f64,
        flag = true,
    ),
    metadata(nested = json!({"a": [1, 2]}), "with space" = name, number = 1)
)]
async fn every_value_type(name: String) -> Value {
    json!(name)
}

#[test]
fn handler_values_are_evaluated_once_before_the_body() {
    order();
    let (out, _) = run(handler(event(Payload { connection_id: "c-1".into(), size: 7 })));
    assert_eq!(out.unwrap(), 7);
    assert_eq!(order(), ["annotation", "metadata", "body"]);
}

#[test]
fn function_values_are_evaluated_once_before_the_body() {
    order();
    let (out, _) = run_sync(|| function(2, "x".into()));
    assert_eq!(out, "x2");
    assert_eq!(order(), ["annotation", "metadata", "body"]);
}

#[test]
fn every_annotation_value_type_converts() {
    let (out, _) = run(every_value_type("n".into()));
    assert_eq!(out, json!("n"));
}

#[instrumented]
async fn outer(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event;
    Ok(every_value_type("n".into()).await)
}

#[test]
fn annotations_and_metadata_reach_the_handler_subsegment() {
    let (out, cap) = run(handler(event(Payload { connection_id: "c-1".into(), size: 7 })));
    assert_eq!(out.unwrap(), 7);
    assert_eq!(cap.segments.len(), 1);
    let doc = &cap.segments[0];
    assert_eq!(doc["name"], "handler");
    assert_eq!(doc["type"], "subsegment");
    assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
    assert_eq!(doc["annotations"]["connection_id"], "c-1");
    assert_eq!(doc["annotations"]["ColdStart"], true);
    assert_eq!(doc["annotations"]["Service"], "service_undefined");
    assert_eq!(doc["metadata"]["default"]["payload"], json!({"connection_id": "c-1", "size": 7}));
}

#[test]
fn function_annotations_reach_the_child_subsegment() {
    let (out, cap) = run(outer(event(json!({}))));
    assert_eq!(out.unwrap(), json!("n"));
    let child = &cap.segments[0]["subsegments"][0];
    assert_eq!(child["name"], "every_value_type");
    let a = &child["annotations"];
    assert_eq!(a["s"], "literal");
    assert_eq!(a["owned"], "n");
    assert_eq!(a["borrowed"], "n");
    assert_eq!(a["small"], 1);
    assert_eq!(a["signed"], -5);
    assert_eq!(a["index"], 3);
    assert_eq!(a["ratio"], 0.5);
    assert_eq!(a["flag"], true);
    assert!(a["big"].is_number());
    assert_eq!(child["metadata"]["default"]["with space"], "n");
    assert_eq!(child["metadata"]["default"]["nested"], json!({"a": [1, 2]}));
}

#[instrumented(annotations(ratio = f64::NAN, tenant_id = "acme"))]
async fn refused_value(event: LambdaEvent<Value>) -> Result<u8, Error> {
    let _ = event;
    Ok(refused_in_function(1).await)
}

#[instrumented(annotations(infinite = f64::INFINITY, n = n))]
async fn refused_in_function(n: u8) -> u8 {
    n
}

#[test]
fn a_refused_annotation_value_is_dropped_with_one_warning_and_the_others_kept() {
    let (out, cap) = run(refused_value(event(json!({}))));
    assert_eq!(out.unwrap(), 1);
    let handler = &cap.segments[0];
    assert_eq!(handler["annotations"]["tenant_id"], "acme");
    assert!(handler["annotations"].get("ratio").is_none(), "{handler}");
    let child = &handler["subsegments"][0];
    assert_eq!(child["annotations"]["n"], 1);
    assert!(child["annotations"].get("infinite").is_none(), "{child}");
    let warnings = cap.with_message("annotation dropped");
    assert_eq!(warnings.len(), 2, "{:#?}", cap.lines);
    assert_eq!(warnings[0]["key"], "ratio");
    assert_eq!(warnings[1]["key"], "infinite");
    assert!(warnings.iter().all(|w| w["level"] == "WARN"));
}

/// An annotation of the same key as a known one (`Service`) replaces it, also when the
/// service name is over 1000 bytes (cut: the known ones then go in through the checked
/// path, still before the attribute's).
#[instrumented(annotations(Service = "override", tenant_id = "acme"))]
async fn overrides_service(event: LambdaEvent<Value>) -> Result<u8, Error> {
    let _ = event;
    Ok(1)
}

#[instrumented(annotations(tenant_id = "acme"))]
async fn keeps_service(event: LambdaEvent<Value>) -> Result<u8, Error> {
    let _ = event;
    Ok(1)
}

#[test]
fn an_annotation_replaces_the_known_one_of_its_key_whatever_the_service_name() {
    // A service name of 1001 bytes is a valid dimension value (up to 1024) but is cut as an
    // annotation: the known annotations take the checked path.
    let long = "s".repeat(1001);
    let (_, cap) = run_with(config(&[("POWERTOOLS_SERVICE_NAME", &long)]), keeps_service(event(json!({}))));
    assert_eq!(cap.segments[0]["annotations"]["Service"], "s".repeat(1000));
    assert_eq!(cap.segments[0]["annotations"]["tenant_id"], "acme");
    for service in ["connect".to_owned(), "s".repeat(1001)] {
        let (out, cap) =
            run_with(config(&[("POWERTOOLS_SERVICE_NAME", &service)]), overrides_service(event(json!({}))));
        assert_eq!(out.unwrap(), 1);
        let annotations = &cap.segments[0]["annotations"];
        assert_eq!(annotations["Service"], "override", "service of {} bytes", service.len());
        assert_eq!(annotations["tenant_id"], "acme");
        assert_eq!(annotations["ColdStart"], true);
    }
}

/// An annotation may move a field out of the `Context` given with `ctx = ...`: the
/// context is no longer borrowed when the annotations are evaluated.
#[instrumented(ctx = ctx, annotations(request_id = ctx.request_id))]
async fn moves_out_of_the_context(payload: u8, ctx: lambda_runtime::Context) -> Result<u8, Error> {
    Ok(payload)
}

#[test]
fn an_annotation_can_move_a_field_out_of_the_context() {
    let ctx = streamer_obs::testing::ContextBuilder::new().request_id("req-moved").trace_header(HEADER).build();
    let (out, cap) = run(moves_out_of_the_context(3, ctx));
    assert_eq!(out.unwrap(), 3);
    assert_eq!(cap.segments[0]["annotations"]["request_id"], "req-moved");
}

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz";

/// Secrets given to `annotations(...)` and `metadata(...)` never reach the X-Ray document
/// (`xray::redact`): a value under a secret-looking key is `"[REDACTED]"`, JWTs and
/// credentials in other strings are replaced, metadata is redacted at any depth.
#[instrumented(
    annotations(
        auth_token = event.payload["token"].as_str().unwrap_or_default(),
        pin_password = 1234u32,
        note = event.payload["note"].as_str().unwrap_or_default(),
        connection_id = event.payload["connection_id"].as_str().unwrap_or_default(),
    ),
    metadata(headers = event.payload["headers"], api_key = "k-123")
)]
async fn with_secrets(event: LambdaEvent<Value>) -> Result<u8, Error> {
    let _ = event;
    Ok(1)
}

#[test]
fn secrets_in_annotations_and_metadata_are_redacted() {
    let payload = json!({
        "token": JWT,
        "note": format!("forwarded Bearer {JWT} and Authorization: Basic dXNlcjpwYXNz"),
        "connection_id": "L0SM9cOFvHcCIhw=",
        "headers": {"Authorization": "Bearer s3cr3t-b3arer", "Cookie": "sid=abc", "x-trace": format!("t {JWT}"), "n": 2},
    });
    let (out, cap) = run(with_secrets(event(payload)));
    assert_eq!(out.unwrap(), 1);
    let doc = &cap.segments[0];
    let text = doc.to_string();
    for secret in [JWT, "s3cr3t-b3arer", "dXNlcjpwYXNz", "sid=abc", "k-123", "1234"] {
        assert!(!text.contains(secret), "{secret} in {doc:#}");
    }
    let annotations = &doc["annotations"];
    assert_eq!(annotations["auth_token"], "[REDACTED]");
    assert_eq!(annotations["pin_password"], "[REDACTED]");
    assert_eq!(annotations["note"], "forwarded Bearer [REDACTED] and Authorization: [REDACTED]");
    // Ids are kept as they are (a base64 `=` is not a parameter).
    assert_eq!(annotations["connection_id"], "L0SM9cOFvHcCIhw=");
    let metadata = &doc["metadata"]["default"];
    assert_eq!(metadata["api_key"], "[REDACTED]");
    assert_eq!(metadata["headers"]["Authorization"], "[REDACTED]");
    assert_eq!(metadata["headers"]["Cookie"], "[REDACTED]");
    assert_eq!(metadata["headers"]["x-trace"], "t [REDACTED]");
    assert_eq!(metadata["headers"]["n"], 2);
}
