use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = describe(&event);
    let n = outer(event.payload.as_u64().unwrap_or(0)).await?;
    Ok(Value::from(n))
}

#[instrumented]
async fn outer(n: u64) -> Result<u64, std::io::Error> {
    Ok(inner(n)? + middle(n).await)
}

#[instrumented]
async fn middle(n: u64) -> u64 {
    // An instrumented function defined inside an instrumented body.
    #[instrumented]
    fn local(n: u64) -> u64 {
        n
    }
    local(n)
}

#[instrumented]
fn inner(n: u64) -> Result<u64, std::io::Error> {
    Ok(n)
}

// A helper taking the event by reference is a plain function, sync or not.
#[instrumented(skip(event))]
fn describe(event: &LambdaEvent<Value>) -> String {
    event.context.request_id.clone()
}

fn main() {}
