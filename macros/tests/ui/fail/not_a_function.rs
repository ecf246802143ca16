use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
struct Handler {
    event: LambdaEvent<Value>,
}

#[allow(dead_code)]
fn uses(h: Handler) -> Result<Value, Error> {
    Ok(h.event.payload)
}

fn main() {}
