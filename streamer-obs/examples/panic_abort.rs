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
//! document on stdout, the X-Ray datagram to `AWS_XRAY_DAEMON_ADDRESS`.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::metrics::{self, Unit};
use streamer_obs::testing::ContextBuilder;

#[instrumented(name = "HandleConnect", annotations(tenant_id = "acme"))]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tracing::info!(attempt = 1, "Connection attempt");
    metrics::add("ConnectionAttempted", Unit::Count, 1.0);
    validate(event.payload["token"].as_str().unwrap_or_default()).await;
    Ok(json!({ "statusCode": 200 }))
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
    let response = rt.block_on(handler(LambdaEvent::new(json!({ "token": "" }), ctx)));
    // Not reached when panics abort.
    println!("returned: {response:?}");
}
