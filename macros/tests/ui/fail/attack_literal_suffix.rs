// String literals with a suffix are accepted by the argument parser and re-emitted.
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented(name = "Name"suffix)]
fn f() -> u8 {
    1
}

#[instrumented(latency_metric = "Latency"ms)]
async fn h(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {}
