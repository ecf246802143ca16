use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

struct Opaque;

// A `metadata(...)` value must be `Serialize`: the error points at the value.
#[instrumented(metadata(shape = Opaque))]
async fn handler(event: LambdaEvent<Value>) -> Result<(), Error> {
    let _ = event;
    Ok(())
}

fn main() {}
