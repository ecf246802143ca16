use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[tracing::instrument(skip(event))]
#[instrumented]
async fn tracing_outside(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[instrumented]
#[tracing::instrument(skip(event), err)]
async fn tracing_inside(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[instrumented(skip_all)]
#[tracing::instrument(ret)]
fn sync_both(n: u8) -> u8 {
    n
}

fn main() {
    assert_eq!(sync_both(2), 2);
}
