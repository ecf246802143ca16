use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event;
    Ok("not a value")
}

#[instrumented]
fn helper(n: u8) -> String {
    n
}

fn main() {}
