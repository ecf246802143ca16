//! `name = "..."`: the span (and subsegment) name; the function's name by default.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented(name = "HandleConnect")]
async fn connect(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tracing::info!("inside");
    if event.payload["fail"] == true {
        return Err("refused".into());
    }
    Ok(event.payload)
}

#[instrumented]
async fn disconnect(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Err(format!("gone: {}", event.payload).into())
}

#[instrumented(name = "ValidateJWT")]
fn validate(token: &str) -> bool {
    !token.is_empty()
}

#[instrumented]
async fn r#type(n: u8) -> u8 {
    n
}

#[test]
fn handler_span_is_named_by_the_argument() {
    let (out, cap) = run(connect(event(json!({"a": 1}))));
    assert_eq!(out.unwrap(), json!({"a": 1}));
    assert_eq!(cap.spans.names(), ["HandleConnect"]);
    assert_eq!(cap.line("inside")["function_request_id"], "req-1");
}

#[test]
fn the_error_line_carries_the_handler_name() {
    let (out, cap) = run(connect(event(json!({"fail": true}))));
    assert_eq!(out.unwrap_err().to_string(), "refused");
    assert_eq!(cap.line("handler returned an error")["handler"], "HandleConnect");
}

#[test]
fn default_name_is_the_function_name() {
    let (out, cap) = run(disconnect(event(json!(1))));
    assert!(out.is_err());
    assert_eq!(cap.spans.names(), ["disconnect"]);
    assert_eq!(cap.line("handler returned an error")["handler"], "disconnect");
}

#[test]
fn functions_are_named_too() {
    let (ok, cap) = run_sync(|| validate("abc"));
    assert!(ok);
    assert_eq!(cap.spans.names(), ["ValidateJWT"]);
    let (n, cap) = run(r#type(3));
    assert_eq!(n, 3);
    assert_eq!(cap.spans.names(), ["type"], "raw identifiers lose their `r#`");
}
