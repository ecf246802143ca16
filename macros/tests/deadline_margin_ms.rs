//! `deadline_margin_ms = N`: the deadline guard fires N ms before `Context::deadline`
//! (default 50 ms) with a WARN line, and the handler still completes.

mod common;

use std::time::Duration;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::testing::ContextBuilder;

#[instrumented(deadline_margin_ms = 950)]
async fn wide_margin(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(event.payload)
}

#[instrumented]
async fn default_margin(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(event.payload)
}

/// The fixed clock says T0; the deadline is one second later.
fn event_with_deadline() -> LambdaEvent<Value> {
    LambdaEvent::new(
        json!(1),
        ContextBuilder::new().request_id("req-d").trace_header(HEADER).deadline_ms(T0 + 1_000).build(),
    )
}

#[test]
fn the_guard_fires_at_the_margin() {
    let (out, cap) = run(wide_margin(event_with_deadline()));
    assert_eq!(out.unwrap(), 1);
    let line = cap.line("invocation is about to time out: flushing what was recorded so far");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["margin_ms"], 950);
    assert_eq!(line["handler"], "wide_margin");
    // The guard sent the open handler subsegment as in progress, then the complete one
    // followed, marked TimedOut; the latency metric came with the final flush.
    assert_eq!(cap.segments.len(), 2, "{:#?}", cap.segments);
    assert_eq!(cap.segments[0]["in_progress"], true);
    assert_eq!(cap.segments[1]["id"], cap.segments[0]["id"]);
    assert!(cap.segments[1].get("in_progress").is_none());
    assert_eq!(cap.segments[1]["annotations"]["TimedOut"], true);
    assert!(cap.emf.iter().any(|d| d.get("ProcessingLatency").is_some()));
}

#[test]
fn the_default_margin_leaves_a_fast_handler_alone() {
    let (out, cap) = run(default_margin(event_with_deadline()));
    assert_eq!(out.unwrap(), 1);
    assert!(cap.lines.is_empty(), "{:#?}", cap.lines);
}
