//! The lines the lifecycle's final flush writes about an invocation are written inside
//! that invocation's scope (a review found them outside it).
//!
//! `Run::poll` calls `flush_after` (metrics then X-Ray) after `conclude`, outside the
//! `sync_scope` it polls the body in. What the flush logs, e.g. the X-Ray recorder's
//! "X-Ray subsegments still open when the invocation returned" WARN (README, "Invocation
//! context": "A subsegment still open when the handler returns ... is reported by one WARN
//! line at the last flush"), therefore carries whatever invocation is current around the
//! handler's future:
//! - under `lambda_runtime` (nothing around it): none: the line has no
//!   `function_request_id`, `cold_start` or `xray_trace_id`, so with `run_concurrent` it
//!   cannot be told apart from the other invocations' lines;
//! - a handler awaited inside another handler's body (the README supports "a handler run
//!   inside another's body"): the outer invocation's, so invocation A's line carries B's
//!   request id and trace id.
//!
//! Broken promise: a log line of invocation A carries A's keys (README, "Log line format":
//! `function_request_id` "in an invocation"; "Invocation context": each invocation sees only
//! its own). The lifecycle's other lines (`handler returned an error`, `handler cancelled`,
//! the deadline WARN) are written through `HandlerScope::in_scope` and do carry them.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

const INNER: &str = "Root=1-5759e988-111111111111111111111111;Parent=1111111111111111;Sampled=1";
const OUTER: &str = "Root=1-5759e988-222222222222222222222222;Parent=2222222222222222;Sampled=1";

/// Leaves its subsegment open in a task that outlives the invocation (it never ends here).
#[instrumented]
async fn leaves_open(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let guard = streamer_obs::xray::subsegment("Background");
    tokio::spawn(async move {
        std::future::pending::<()>().await;
        drop(guard);
    });
    Ok(event.payload)
}

/// A router: runs the inner invocation's handler inside its own body.
#[instrumented]
async fn router(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let inner = LambdaEvent::new(
        json!({"inner": true}),
        ContextBuilder::new().request_id("req-inner").trace_header(INNER).build(),
    );
    leaves_open(inner).await?;
    Ok(event.payload)
}

fn still_open_lines(c: &Captured) -> Vec<Value> {
    c.log
        .json_lines()
        .into_iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.starts_with("X-Ray subsegments still open")))
        .collect()
}

#[test]
fn the_still_open_warning_carries_its_invocations_keys() {
    let c = captured(config(&[]));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let event = LambdaEvent::new(json!({}), ContextBuilder::new().request_id("req-1").trace_header(HEADER).build());
    rt.block_on(c.telemetry.scope(leaves_open(event)).with_subscriber(c.dispatch.clone())).unwrap();
    let lines = still_open_lines(&c);
    assert_eq!(lines.len(), 1, "{:?}", c.log.lines());
    assert_eq!(
        lines[0]["function_request_id"], "req-1",
        "the WARN about req-1 carries no invocation keys: {}",
        lines[0]
    );
    assert_eq!(lines[0]["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793", "{}", lines[0]);
}

#[test]
fn a_nested_handlers_still_open_warning_is_not_attributed_to_the_outer_invocation() {
    let c = captured(config(&[]));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outer = LambdaEvent::new(json!({}), ContextBuilder::new().request_id("req-outer").trace_header(OUTER).build());
    rt.block_on(c.telemetry.scope(router(outer)).with_subscriber(c.dispatch.clone())).unwrap();
    let lines = still_open_lines(&c);
    assert_eq!(lines.len(), 1, "{:?}", c.log.lines());
    // The subsegment left open is the inner invocation's (its document says so).
    let docs = c.xray.documents();
    assert!(docs.iter().any(|d| d["name"] == "leaves_open" && d["trace_id"] == "1-5759e988-111111111111111111111111"));
    assert_eq!(
        lines[0]["function_request_id"], "req-inner",
        "the inner invocation's WARN is written with the outer invocation's keys: {}",
        lines[0]
    );
    assert_eq!(lines[0]["xray_trace_id"], "1-5759e988-111111111111111111111111", "{}", lines[0]);
}
