//! `capture_response = bool`: the response is captured (when `Serialize`) for the
//! handler subsegment, never changed. The subsegment itself is tested with the X-Ray
//! layer; here: any response type compiles and comes back unchanged.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[derive(Debug, PartialEq, Serialize)]
struct Response {
    status: u16,
}

/// Not `Serialize`: not captured, still returned.
#[derive(Debug, PartialEq)]
struct Opaque(u8);

#[instrumented(capture_response = true)]
async fn captured(event: LambdaEvent<Value>) -> Result<Response, Error> {
    let _ = event;
    Ok(Response { status: 200 })
}

#[instrumented(capture_response = false)]
async fn not_captured(event: LambdaEvent<Value>) -> Result<Response, Error> {
    let _ = event;
    Ok(Response { status: 204 })
}

#[instrumented]
async fn opaque(event: LambdaEvent<Value>) -> Result<Opaque, Error> {
    let _ = event;
    Ok(Opaque(1))
}

#[test]
fn responses_come_back_unchanged() {
    let (out, cap) = run(captured(event(json!({}))));
    assert_eq!(out.unwrap(), Response { status: 200 });
    assert!(cap.lines.is_empty(), "{:#?}", cap.lines);
    let (out, _) = run(not_captured(event(json!({}))));
    assert_eq!(out.unwrap(), Response { status: 204 });
    let (out, _) = run(opaque(event(json!({}))));
    assert_eq!(out.unwrap(), Opaque(1));
}

#[test]
fn a_captured_response_is_subsegment_metadata() {
    let (_, cap) = run(captured(event(json!({}))));
    assert_eq!(cap.segments[0]["metadata"]["service_undefined"]["captured response"], json!({"status": 200}));
    let (_, cap) = run(not_captured(event(json!({}))));
    assert!(cap.segments[0].get("metadata").is_none(), "{}", cap.segments[0]);
    let (_, cap) = run(opaque(event(json!({}))));
    assert!(cap.segments[0].get("metadata").is_none(), "{}", cap.segments[0]);
}
