use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[allow(dead_code)]
async fn main_of_a_lambda() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}

fn main() {}
