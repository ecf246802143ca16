// The common one-parameter alias `type Result<T> = std::result::Result<T, MyError>`.
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use streamer_obs::instrumented;

#[derive(Debug, thiserror::Error)]
#[error("mine")]
struct MyError;

type Result<T> = std::result::Result<T, MyError>;

#[instrumented]
fn function(n: u8) -> Result<u8> {
    if n == 0 { Err(MyError) } else { Ok(n) }
}

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value> {
    Ok(event.payload)
}

fn main() {
    assert!(function(0).is_err());
    let _ = lambda_runtime::service_fn(handler);
}
