// One type error in an async function body and one in a handler body: one error each.
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
async fn f(n: u8) -> Result<u8, std::io::Error> {
    let s: String = n;
    Ok(s.len() as u8)
}

#[instrumented]
async fn h(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let v: u8 = event.payload;
    Ok(Value::from(v))
}

fn main() {}
