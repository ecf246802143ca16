//! `capture_error = bool`: an `Err` of an instrumented function is recorded (a DEBUG
//! line here; the subsegment's error with the X-Ray layer) unless `capture_error = false`;
//! the error is returned unchanged either way. On a handler it turns off the subsegment
//! `cause` (X-Ray layer); the ERROR line stays.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented]
fn parse(text: &str) -> Result<u8, std::num::ParseIntError> {
    text.parse()
}

#[instrumented(capture_error = false)]
fn parse_quietly(text: &str) -> Result<u8, std::num::ParseIntError> {
    text.parse()
}

#[instrumented(capture_error = false)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Err(format!("refused {}", event.payload).into())
}

#[test]
fn function_errors_are_recorded_unless_capture_error_is_false() {
    let debug = config(&[("POWERTOOLS_LOG_LEVEL", "DEBUG")]);
    let (out, cap) = run_with(debug.clone(), async { parse("x") });
    assert!(out.is_err());
    let line = cap.line("instrumented function returned an error");
    assert_eq!(line["function"], "parse");
    assert_eq!(line["text"], "x");
    assert_eq!(line["error.message"], "invalid digit found in string");

    let (out, cap) = run_with(debug, async { parse_quietly("x") });
    assert_eq!(out.unwrap_err().to_string(), "invalid digit found in string");
    assert!(cap.with_message("instrumented function returned an error").is_empty());
}

#[test]
fn handlers_still_log_and_return_the_error() {
    let (out, cap) = run(handler(event(json!(1))));
    assert_eq!(out.unwrap_err().to_string(), "refused 1");
    assert_eq!(cap.line("handler returned an error")["error.message"], "refused 1");
}
