use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
async fn handler(_: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(Value::Null)
}

fn main() {}
