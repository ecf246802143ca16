//! Interleaved invocations in one process never see each other's fields.

mod common;

use std::time::Duration;

use common::*;
use streamer_obs::invocation::{self, ColdStartTracker};
use tracing::instrument::WithSubscriber;

#[test]
fn interleaved_invocations_on_a_multi_thread_runtime() {
    let c = config(&[("POWERTOOLS_SERVICE_NAME", "connect")]);
    let (dispatch, writer, _) = capture(&c);
    let tracker = ColdStartTracker::new(&Default::default());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_time().build().unwrap();
    rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..50 {
            let inv = invocation(&c, &format!("req-{i}"), &tracker);
            let fut = inv.scope(async move {
                invocation::append_field("connection_id", format!("conn-{i}"));
                for step in 0..5 {
                    tracing::info!(step, "working");
                    tokio::time::sleep(Duration::from_millis((i * 7 + step) % 3)).await;
                    tokio::task::yield_now().await;
                }
            });
            handles.push(tokio::spawn(fut.with_subscriber(dispatch.clone())));
        }
        for h in handles {
            h.await.unwrap();
        }
    });
    let lines = writer.json_lines();
    assert_eq!(lines.len(), 250);
    for l in &lines {
        let req = l["function_request_id"].as_str().unwrap();
        let n = req.strip_prefix("req-").unwrap();
        assert_eq!(l["connection_id"], format!("conn-{n}"), "{l}");
    }
    let colds = lines
        .iter()
        .filter(|l| l["cold_start"] == true)
        .map(|l| l["function_request_id"].as_str().unwrap().to_owned())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(colds.len(), 1, "exactly one cold invocation");
}
