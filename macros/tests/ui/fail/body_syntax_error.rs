use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let x = ;
    Ok(event.payload)
}

fn main() {}
