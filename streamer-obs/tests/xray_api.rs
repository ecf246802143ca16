//! The `PutTraceSegments` emitter against the AWS API emulator (moto server): put the
//! documents of a recorded tree, read them back with `BatchGetTraces`, compare.
//!
//! Needs `STREAMER_TEST_MOTO_ENDPOINT` (set by `scripts/test.sh`). Without it the test
//! fails when `STREAMER_REQUIRE_EMULATORS=1` or `CI` is set, and is skipped otherwise.
#![cfg(feature = "xray-api")]

use std::sync::Arc;

use serde_json::Value;
use streamer_obs::trace_header::{SegmentId, TraceHeader, TraceId};
use streamer_obs::xray::api::XrayApiEmitter;
use streamer_obs::xray::cause::ErrorKind;
use streamer_obs::xray::recorder::Recorder;

fn moto_endpoint() -> Option<String> {
    streamer_obs::testing::emulator_endpoint("STREAMER_TEST_MOTO_ENDPOINT")
}

#[tokio::test]
async fn put_trace_segments_then_batch_get_traces() {
    let Some(endpoint) = moto_endpoint() else { return };
    let config = streamer_obs::aws::emulator_config(&endpoint, "us-east-1").await;
    let client = aws_sdk_xray::Client::new(&config);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32;
    let root = TraceId::generate(now);
    let parent = SegmentId::generate();
    let header = TraceHeader::new(root, Some(parent), Some(streamer_obs::trace_header::Sampled::Sampled));

    let emitter = Arc::new(XrayApiEmitter::new(client.clone()));
    let rec = Arc::new(Recorder::new(&header, emitter.clone()));
    {
        let h = rec.subsegment("HandleConnect");
        h.annotate("connection_id", "abc").unwrap();
        let jwt = h.child("ValidateJWT");
        jwt.record_error(&std::fmt::Error, ErrorKind::Error);
    }
    {
        // A second top-level tree: two documents in one call.
        let _d = rec.subsegment("HandleDisconnect");
    }
    assert_eq!(rec.flush().await.trees, 2);
    let stats = emitter.stats();
    assert_eq!((stats.sent, stats.failed, stats.calls), (2, 0, 1), "{stats:?}");
    assert_eq!(emitter.pending(), 0);

    let out = client.batch_get_traces().trace_ids(root.as_str()).send().await.expect("BatchGetTraces");
    let trace = out.traces().iter().find(|t| t.id() == Some(root.as_str())).expect("trace stored");
    let mut stored: Vec<Value> =
        trace.segments().iter().map(|s| serde_json::from_str(s.document().unwrap_or("null")).unwrap()).collect();
    stored.sort_by_key(|d| d["name"].as_str().unwrap_or_default().to_owned());
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["name"], "HandleConnect");
    assert_eq!(stored[0]["parent_id"], parent.as_str());
    assert_eq!(stored[0]["trace_id"], root.as_str());
    assert_eq!(stored[0]["annotations"]["connection_id"], "abc");
    assert_eq!(stored[0]["subsegments"][0]["name"], "ValidateJWT");
    assert_eq!(stored[0]["subsegments"][0]["error"], true);
    assert_eq!(stored[1]["name"], "HandleDisconnect");
}
