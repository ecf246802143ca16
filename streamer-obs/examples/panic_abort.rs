//! A handler that panics in a process built with `panic = "abort"` (what `cargo lambda
//! build --release` builds by default): the lifecycle's panic hook records the panic and
//! flushes the invocation before the process aborts.
//!
//! Run by `tests/panic_abort.rs`, which builds it with `-C panic=abort`:
//!
//! ```text
//! cargo rustc -p streamer-obs --example panic_abort --features testing -- -C panic=abort
//! AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000 target/debug/examples/panic_abort
//! ```
//!
//! Configuration comes from the environment (`streamer_obs::init`): logs and the EMF
//! document on stdout, the X-Ray datagram to `AWS_XRAY_DAEMON_ADDRESS`. `SCENARIO` picks
//! where the panic happens (`tests/panic_abort.rs`):
//!
//! - unset: in an `#[instrumented]` function the handler awaits;
//! - `secret`: in the handler, with a JWT and a bearer token in the message;
//! - `view_error`: in the `Display` of the error the handler returns;
//! - `annotation`: in an `annotations(...)` expression (after a first invocation);
//! - `locked`: in the closure given to `update_http`;
//! - `display`: in the `Display` of a value the handler logs;
//! - `nested`: in a handler awaited inside the handler.

use std::fmt;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::metrics::{self, Unit};
use streamer_obs::testing::ContextBuilder;

const JWT: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

/// An error whose `Display` panics.
#[derive(Debug)]
struct BadDisplay;

impl fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display panicked")
    }
}

impl std::error::Error for BadDisplay {}

#[instrumented(name = "HandleConnect", annotations(tenant_id = "acme"))]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tracing::info!(attempt = 1, "Connection attempt");
    metrics::add("ConnectionAttempted", Unit::Count, 1.0);
    match event.payload["scenario"].as_str().unwrap_or_default() {
        "secret" => panic!("bad token {JWT} from header Authorization: Bearer sk_live_0123456789abcdef"),
        "view_error" => return Err(Box::new(BadDisplay)),
        "display" => tracing::info!(value = %BadDisplay, "logging a value"),
        "locked" => streamer_obs::xray::subsegment("Call").update_http(|_| panic!("a bug in the closure")),
        "nested" => {
            inner(LambdaEvent::new(json!({}), event.context.clone())).await?;
        }
        "ok" => {}
        _ => validate(event.payload["token"].as_str().unwrap_or_default()).await,
    }
    Ok(json!({ "statusCode": 200 }))
}

/// Its annotation's expression panics.
#[instrumented(name = "HandleAnnotated", annotations(tenant_id = tenant()))]
async fn annotated(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({}))
}

fn tenant() -> &'static str {
    panic!("annotation expression panicked")
}

/// A handler awaited inside another: panics.
#[instrumented(name = "HandleInner")]
async fn inner(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    panic!("inner panicked")
}

/// Panics: the bug the hook reports.
#[instrumented(name = "ValidateJWT")]
async fn validate(token: &str) {
    if token.is_empty() {
        panic!("no token to validate");
    }
}

fn main() {
    streamer_obs::init().expect("logging initialised once");
    let ctx = ContextBuilder::new()
        .request_id("8f8ea7ae-5b4d-4b2c-9e5f-1c2d3e4f5a6b")
        .trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        .function_name("streamer-connect")
        .build();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    let scenario = std::env::var("SCENARIO").unwrap_or_default();
    let event = LambdaEvent::new(json!({ "token": "", "scenario": scenario }), ctx);
    let response = if scenario == "annotation" {
        // A first invocation (it returns), then the one whose annotation panics.
        let _ = rt.block_on(handler(LambdaEvent::new(json!({ "scenario": "ok" }), event.context.clone())));
        rt.block_on(annotated(event))
    } else {
        rt.block_on(handler(event))
    };
    // Not reached when panics abort.
    println!("returned: {response:?}");
}
