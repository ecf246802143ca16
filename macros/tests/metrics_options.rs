//! `cold_start_metric`, `raise_on_empty_metrics`, `latency_metric`: handler options of
//! the metrics layer. What they emit is tested with the metrics layer; here: every form
//! is accepted and the handler behaves as without them.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented(cold_start_metric = true, raise_on_empty_metrics = true, latency_metric = "ConnectLatency")]
async fn all_on(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[instrumented(cold_start_metric = false, raise_on_empty_metrics = false, latency_metric = false)]
async fn all_off(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn handlers_run_unchanged() {
    let (out, _) = run(all_on(event(json!("on"))));
    assert_eq!(out.unwrap(), "on");
    let (out, _) = run(all_off(event(json!("off"))));
    assert_eq!(out.unwrap(), "off");
}
