//! `ctx = <expr>`: a handler whose `Context` is not in a `LambdaEvent` first parameter.

mod common;

use common::*;
use lambda_runtime::{Context, Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::testing::ContextBuilder;

#[instrumented(ctx = ctx)]
async fn by_reference(ctx: &Context, payload: Value) -> Result<Value, Error> {
    tracing::info!("inside");
    Ok(payload)
}

#[instrumented(ctx = context)]
async fn by_value(payload: u8, context: Context) -> Result<u8, Error> {
    tracing::info!(request = %context.request_id, "inside");
    Ok(payload)
}

struct Request {
    context: Context,
    body: String,
}

#[instrumented(ctx = request.context, skip(request))]
async fn from_a_field(request: Request) -> Result<String, Error> {
    tracing::info!("inside");
    Ok(request.body)
}

#[instrumented(ctx = event.context, name = "Explicit")]
async fn explicit_on_an_event(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn ctx(id: &str) -> Context {
    ContextBuilder::new().request_id(id).build()
}

#[test]
fn the_context_comes_from_the_expression() {
    let context = ctx("req-ref");
    let (out, cap) = run(by_reference(&context, json!(1)));
    assert_eq!(out.unwrap(), 1);
    let line = cap.line("inside");
    assert_eq!(line["function_request_id"], "req-ref");
    assert_eq!(line["payload"], "Number(1)");
    assert!(line.get("ctx").is_none(), "the ctx parameter is not a field: {line}");
    assert_eq!(cap.spans.names(), ["by_reference"]);
}

#[test]
fn a_context_taken_by_value_is_still_usable_in_the_body() {
    let (out, cap) = run(by_value(4, ctx("req-val")));
    assert_eq!(out.unwrap(), 4);
    let line = cap.line("inside");
    assert_eq!(line["function_request_id"], "req-val");
    assert_eq!(line["request"], "req-val");
    assert_eq!(line["payload"], 4);
    assert!(line.get("context").is_none(), "{line}");
}

#[test]
fn any_place_expression() {
    let (out, cap) = run(from_a_field(Request { context: ctx("req-field"), body: "b".into() }));
    assert_eq!(out.unwrap(), "b");
    assert_eq!(cap.line("inside")["function_request_id"], "req-field");
    let (out, cap) = run(explicit_on_an_event(event(json!(2))));
    assert_eq!(out.unwrap(), 2);
    assert_eq!(cap.spans.names(), ["Explicit"]);
}
