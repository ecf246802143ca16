use lambda_runtime::LambdaEvent;
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Value {
    event.payload
}

fn main() {}
