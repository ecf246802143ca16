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

#[instrumented]
async fn defaults(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn all_on_emits_cold_start_latency_and_raises_on_empty() {
    let (_, cap) = run(all_on(event(json!("on"))));
    let cold: Vec<_> = cap.emf.iter().filter(|d| d.get("ColdStart").is_some()).collect();
    assert_eq!(cold.len(), 1);
    assert_eq!(cold[0]["ColdStart"], 1);
    assert_eq!(cold[0]["service"], "service_undefined");
    assert!(cap.emf.iter().any(|d| d.get("ConnectLatency").is_some()));
    assert!(!cap.emf.iter().any(|d| d.get("ProcessingLatency").is_some()));
    let e = cap.line("no metrics were recorded in this invocation");
    assert_eq!(e["level"], "ERROR");
}

#[test]
fn all_off_emits_nothing() {
    let (_, cap) = run(all_off(event(json!("off"))));
    assert!(cap.emf.is_empty(), "{:#?}", cap.emf);
    assert!(cap.lines.iter().all(|l| l["level"] != "ERROR"));
}

#[test]
fn defaults_emit_processing_latency_only() {
    let (_, cap) = run(defaults(event(json!(1))));
    assert_eq!(cap.emf.len(), 1, "{:#?}", cap.emf);
    let d = &cap.emf[0];
    assert!(d["ProcessingLatency"].is_number());
    assert_eq!(d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"], "Milliseconds");
    assert_eq!(d["Service"], "service_undefined");
    assert_eq!(d["Environment"], "unknown");
}
