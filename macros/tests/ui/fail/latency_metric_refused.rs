// `latency_metric = "..."` names the SDK always refuses (`_aws`, the EMF metadata member,
// names starting with `@`, and `Service` / `Environment`, the metric's own dimensions) are
// compile errors on the literal: at run time every
// invocation would drop the latency metric (the one the `…-high-processing-latency` alarm
// reads) with a WARN line.
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented(latency_metric = "@Latency")]
async fn at_sign(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[instrumented(latency_metric = "_aws")]
async fn aws_member(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[instrumented(latency_metric = "Service")]
async fn service(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[instrumented(latency_metric = "Environment")]
async fn environment(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {}
