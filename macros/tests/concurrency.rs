//! Many invocations of one instrumented handler at once (what `run_concurrent` does):
//! no span field, invocation field, error line, metric or subsegment crosses between them.

mod common;

use std::time::Duration;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::metrics::EmfPublisher;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingEmitter, CapturingWriter, ContextBuilder, FixedClock};
use tracing::instrument::WithSubscriber as _;

#[instrumented(
    fields(connection_id = %event.payload["connection_id"].as_str().unwrap_or_default()),
    annotations(connection_id = event.payload["connection_id"].as_str().unwrap_or_default().to_owned())
)]
async fn handler(event: LambdaEvent<Value>, index: u64) -> Result<u64, Error> {
    tracing::info!("start");
    streamer_obs::metrics::add("Work", streamer_obs::metrics::Unit::Count, index as f64);
    streamer_obs::metrics::set_property("index", index);
    tokio::time::sleep(Duration::from_millis(index % 7)).await;
    let n = nested(index).await;
    tokio::task::yield_now().await;
    tracing::info!("end");
    if index.is_multiple_of(10) {
        return Err(format!("failed {index}").into());
    }
    Ok(n)
}

#[instrumented]
async fn nested(index: u64) -> u64 {
    tokio::task::yield_now().await;
    tracing::info!("nested");
    index
}

#[test]
fn two_hundred_concurrent_invocations_do_not_mix() {
    const N: u64 = 200;
    let writer = CapturingWriter::new();
    let clock = FixedClock::at_millis(T0);
    let config = config(&[]);
    let dispatch = tracing::Dispatch::new(streamer_obs::log::subscriber(&config, writer.clone(), clock.clone()));
    let emitter = CapturingEmitter::new();
    let emf = CapturingWriter::new();
    let telemetry = Telemetry::builder(config)
        .clock(clock)
        .emitter(std::sync::Arc::new(emitter.clone()))
        .metrics_publisher(std::sync::Arc::new(EmfPublisher::new(emf.clone())))
        .build();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_time().build().unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let header = format!("Root=1-5759e988-{i:024x};Parent=53995c3f42cd8ad8;Sampled=1");
                let ctx = ContextBuilder::new().request_id(format!("req-{i}")).trace_header(header).build();
                let event = LambdaEvent::new(json!({"connection_id": format!("conn-{i}")}), ctx);
                // `Telemetry::scope` borrows the telemetry: each task owns a clone.
                let telemetry = telemetry.clone();
                let fut = async move { telemetry.scope(handler(event, i)).await };
                tokio::spawn(fut.with_subscriber(dispatch.clone()))
            })
            .collect();
        for (i, task) in (0..N).zip(tasks) {
            let out = task.await.unwrap();
            if i.is_multiple_of(10) {
                assert_eq!(out.unwrap_err().to_string(), format!("failed {i}"));
            } else {
                assert_eq!(out.unwrap(), i);
            }
        }
    });
    let lines = writer.json_lines();
    assert_eq!(lines.len() as u64, N * 3 + N / 10, "start, nested, end per invocation, one ERROR per tenth");
    for line in &lines {
        let request = line["function_request_id"].as_str().unwrap();
        let i: u64 = request.trim_start_matches("req-").parse().unwrap();
        assert_eq!(line["connection_id"], format!("conn-{i}"), "{line}");
        assert_eq!(line["index"], i, "{line}");
        if line["level"] == "ERROR" {
            assert_eq!(line["error.message"], format!("failed {i}"), "{line}");
        }
    }

    // One X-Ray document per invocation (the whole tree fits in one datagram), its own
    // trace id, its own annotation, its own nested child.
    let segments = emitter.documents();
    assert_eq!(segments.len() as u64, N);
    let mut seen = std::collections::BTreeSet::new();
    for doc in &segments {
        let trace = doc["trace_id"].as_str().unwrap();
        let i = u64::from_str_radix(&trace[11..], 16).unwrap();
        assert!(seen.insert(i), "one document per invocation");
        assert_eq!(doc["name"], "handler");
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(doc["annotations"]["connection_id"], format!("conn-{i}"), "{doc}");
        assert_eq!(doc["subsegments"][0]["name"], "nested");
        assert_eq!(doc["fault"].as_bool().unwrap_or(false), i.is_multiple_of(10), "{doc}");
    }
    // One EMF document per invocation, with its own value and property.
    let docs = emf.json_lines();
    let work: Vec<_> = docs.iter().filter(|d| d.get("Work").is_some()).collect();
    assert_eq!(work.len() as u64, N);
    for d in work {
        assert_eq!(d["Work"], d["index"], "{d}");
        assert!(d.get("ProcessingLatency").is_some());
    }
}
