// Parameter and local names that could collide with the expansion's own.
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
fn internals(scope: u8, span: u8, event: u8, ctx: u8, telemetry: u8, result: u8, fut: u8, __streamer_obs: u8) -> u8 {
    scope + span + event + ctx + telemetry + result + fut + __streamer_obs
}

#[instrumented]
async fn internals_async(scope: u8, span: u8, body: u8, options: u8, f: u8, e: u8, r: u8) -> Result<u8, std::io::Error> {
    Ok(scope + span + body + options + f + e + r)
}

#[instrumented(annotations(a = scope), fields(span = span))]
async fn handler(event: LambdaEvent<Value>, scope: u8, span: u8) -> Result<Value, Error> {
    let _ = (scope, span);
    let result = event.payload;
    Ok(result)
}

fn main() {
    assert_eq!(internals(1, 1, 1, 1, 1, 1, 1, 1), 8);
    let _ = internals_async(1, 1, 1, 1, 1, 1, 1);
}
