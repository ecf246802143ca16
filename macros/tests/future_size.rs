//! The future of an `#[instrumented]` handler holds the scope and the handler's body once:
//! the expansion builds them in a block whose value it awaits, so the async fn does not
//! keep a slot for each beside the run future that holds them (moved-from locals of an
//! async fn keep their slots until its end). Every move of the future (into the runtime,
//! into a task) copies all of it.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::__private::HandlerScope;
use streamer_obs::instrumented;

async fn nested(n: u64) -> u64 {
    n + 1
}

#[instrumented(annotations(connection_id = event.payload["connection_id"].as_str().unwrap_or_default()))]
async fn instrumented_handler(event: LambdaEvent<Value>) -> Result<u64, Error> {
    let n = nested(event.payload["n"].as_u64().unwrap_or(1)).await;
    tracing::info!(attempt = n, "Connection established");
    Ok(n)
}

async fn plain_handler(event: LambdaEvent<Value>) -> Result<u64, Error> {
    let n = nested(event.payload["n"].as_u64().unwrap_or(1)).await;
    tracing::info!(attempt = n, "Connection established");
    Ok(n)
}

#[test]
fn the_handler_future_holds_the_scope_and_the_body_once() {
    let e = || event(serde_json::json!({"n": 1}));
    let instrumented = std::mem::size_of_val(&instrumented_handler(e()));
    let plain = std::mem::size_of_val(&plain_handler(e()));
    let scope = std::mem::size_of::<HandlerScope>();
    // The run future's own fields (the handler subsegment's guard, the deadline guard's
    // timer, the boxed leftovers of a flush, the outcome) take about 280 bytes (Rust 1.94).
    // A second slot for the scope (200 bytes) would exceed this bound.
    assert!(instrumented <= plain + scope + 384, "instrumented {instrumented} bytes, plain {plain}, scope {scope}");
}
