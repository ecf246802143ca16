//! `log_event = bool`: the incoming event logged once, secrets redacted; the default
//! follows `POWERTOOLS_LOGGER_LOG_EVENT`.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented(log_event = true)]
async fn logged(event: LambdaEvent<Value>) -> Result<(), Error> {
    let _ = event;
    Ok(())
}

#[instrumented(log_event = false)]
async fn not_logged(event: LambdaEvent<Value>) -> Result<(), Error> {
    let _ = event;
    Ok(())
}

#[instrumented]
async fn by_default(event: LambdaEvent<Value>) -> Result<(), Error> {
    let _ = event;
    Ok(())
}

/// Not `Serialize`: nothing to log, and it still compiles.
#[derive(Debug)]
struct Opaque(#[allow(dead_code)] u8);

#[instrumented(log_event = true)]
async fn opaque(event: LambdaEvent<Opaque>) -> Result<(), Error> {
    let _ = event;
    Ok(())
}

#[derive(Serialize)]
struct Typed {
    route_key: &'static str,
    access_token: &'static str,
}

#[instrumented(log_event = true)]
async fn typed(event: LambdaEvent<Typed>) -> Result<(), Error> {
    let _ = event;
    Ok(())
}

fn sample() -> Value {
    json!({"requestContext": {"routeKey": "$connect"}, "headers": {"Authorization": "Bearer abc"}, "token": "t"})
}

#[test]
fn event_is_logged_redacted() {
    let (out, cap) = run(logged(event(sample())));
    out.unwrap();
    let line = cap.line("Incoming event");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["function_request_id"], "req-1");
    let logged: Value = serde_json::from_str(line["event"].as_str().unwrap()).unwrap();
    assert_eq!(logged["requestContext"]["routeKey"], "$connect");
    assert_eq!(logged["headers"]["Authorization"], "[REDACTED]");
    assert_eq!(logged["token"], "[REDACTED]");
    assert!(!line.to_string().contains("Bearer abc"));
}

#[test]
fn typed_events_are_serialised_then_redacted() {
    let (out, cap) = run(typed(event(Typed { route_key: "$default", access_token: "secret" })));
    out.unwrap();
    let logged: Value = serde_json::from_str(cap.line("Incoming event")["event"].as_str().unwrap()).unwrap();
    assert_eq!(logged, json!({"route_key": "$default", "access_token": "[REDACTED]"}));
}

#[test]
fn false_wins_over_the_environment() {
    let env = config(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]);
    let (out, cap) = run_with(env, not_logged(event(sample())));
    out.unwrap();
    assert!(cap.with_message("Incoming event").is_empty(), "{:#?}", cap.lines);
}

#[test]
fn default_follows_the_environment() {
    let (out, cap) = run(by_default(event(sample())));
    out.unwrap();
    assert!(cap.with_message("Incoming event").is_empty());
    let env = config(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]);
    let (out, cap) = run_with(env, by_default(event(sample())));
    out.unwrap();
    assert_eq!(cap.with_message("Incoming event").len(), 1);
}

#[test]
fn events_that_are_not_serialize_are_not_logged() {
    let (out, cap) = run(opaque(event(Opaque(1))));
    out.unwrap();
    assert!(cap.with_message("Incoming event").is_empty());
}
