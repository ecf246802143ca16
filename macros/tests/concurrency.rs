//! Many invocations of one instrumented handler at once (what `run_concurrent` does):
//! no span field, invocation field or error line crosses between them.

mod common;

use std::time::Duration;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingWriter, ContextBuilder, FixedClock};
use tracing::instrument::WithSubscriber as _;

#[instrumented(fields(connection_id = %event.payload["connection_id"].as_str().unwrap_or_default()))]
async fn handler(event: LambdaEvent<Value>, index: u64) -> Result<u64, Error> {
    tracing::info!("start");
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
    let telemetry = Telemetry::builder(config).clock(clock).build();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_time().build().unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let ctx = ContextBuilder::new().request_id(format!("req-{i}")).build();
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
}
