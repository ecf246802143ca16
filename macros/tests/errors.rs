//! Handler errors: one ERROR line with the error chain, the error returned unchanged;
//! `?` and early `return` in the moved body infer as in the original function.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[derive(Debug, thiserror::Error, PartialEq)]
enum StoreError {
    #[error("connection store unavailable")]
    Unavailable(#[source] Timeout),
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("timed out after {0} ms")]
struct Timeout(u64);

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, StoreError> {
    if event.payload["fail"] == true {
        return Err(StoreError::Unavailable(Timeout(250)));
    }
    Ok(event.payload)
}

#[instrumented]
async fn boxed(event: LambdaEvent<Value>) -> Result<u64, Error> {
    // `?` converts into the declared `Box<dyn Error>` as in the original function.
    let n: u64 = event.payload.as_str().unwrap_or_default().parse()?;
    Ok(n)
}

#[instrumented]
async fn parse_async(text: String) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    if text.is_empty() {
        return Err("empty".into());
    }
    Ok(text.parse::<u8>()?)
}

#[test]
fn handler_error_is_logged_with_its_chain_and_returned_unchanged() {
    let (out, cap) = run(handler(event(json!({"fail": true}))));
    assert_eq!(out.unwrap_err(), StoreError::Unavailable(Timeout(250)));
    let line = cap.line("handler returned an error");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["function_request_id"], "req-1");
    assert!(line["error.type"].as_str().unwrap().ends_with("StoreError"), "{line}");
    assert_eq!(line["error.message"], "connection store unavailable");
    assert_eq!(line["error.sources"], json!(["timed out after 250 ms"]));
}

#[test]
fn success_writes_no_error_line() {
    let (out, cap) = run(handler(event(json!({"ok": 1}))));
    assert_eq!(out.unwrap(), json!({"ok": 1}));
    assert!(cap.with_message("handler returned an error").is_empty());
}

#[test]
fn question_mark_converts_into_the_declared_error() {
    let (out, cap) = run(boxed(event(json!("12"))));
    assert_eq!(out.unwrap(), 12);
    assert!(cap.lines.is_empty(), "{:#?}", cap.lines);
    let (out, cap) = run(boxed(event(json!("twelve"))));
    assert_eq!(out.unwrap_err().to_string(), "invalid digit found in string");
    assert_eq!(cap.line("handler returned an error")["error.message"], "invalid digit found in string");
}

#[test]
fn early_return_and_question_mark_in_async_functions() {
    let debug = config(&[("POWERTOOLS_LOG_LEVEL", "DEBUG")]);
    let (out, cap) = run_with(debug.clone(), parse_async(String::new()));
    assert_eq!(out.unwrap_err().to_string(), "empty");
    assert_eq!(cap.line("instrumented function returned an error")["error.message"], "empty");
    let (out, _) = run_with(debug.clone(), parse_async("300".into()));
    assert_eq!(out.unwrap_err().to_string(), "number too large to fit in target type");
    let (out, cap) = run_with(debug, parse_async("30".into()));
    assert_eq!(out.unwrap(), 30);
    assert!(cap.with_message("instrumented function returned an error").is_empty());
}
