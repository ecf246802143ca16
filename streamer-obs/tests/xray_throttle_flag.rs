//! No subsegment is sent with `throttle: true` but without `error: true` (a review found
//! it could be).
//!
//! Rule X-16 (aws-rules.md §2.3): `error` marks a 4xx client error, `throttle` a 429 (a
//! 4xx). The reference mapping (Python `apply_status_code`, and this SDK's own
//! `Flags::from_http_status` / `ErrorKind::Throttle`) sets `throttle` **and** `error`:
//! throttle implies error. `Flags` has public fields and `SubsegmentGuard::add_flags` /
//! `Subsegment::add_flags` write them as given, so `Flags { throttle: true, .. }` (the
//! natural way to say "this was throttled") produces a document with `throttle: true`
//! and no `error`, which X-Ray then counts as throttled but not as a client error, unlike
//! every reference SDK's output. The same document survives the size guard's stub (which
//! copies the flags).
//!
//! Policy: every document with `throttle: true` also has `error: true` (the SDK sets
//! `error` with `throttle`, as it does for `ErrorKind::Throttle`).

mod common;

use serde_json::Value;
use streamer_obs::trace_header::{SegmentId, TraceId};
use streamer_obs::xray::document::{Flags, SegmentDocument, Subsegment};

fn assert_throttle_implies_error(doc: &Value) {
    if doc.get("throttle") == Some(&Value::Bool(true)) {
        assert_eq!(doc.get("error"), Some(&Value::Bool(true)), "X-16: throttle without error in {doc}");
    }
    for c in doc["subsegments"].as_array().into_iter().flatten() {
        assert_throttle_implies_error(c);
    }
}

#[test]
fn throttle_flag_set_through_the_guard_also_sets_error() {
    let (rec, cap) = common::recorder();
    {
        let call = rec.subsegment("RateLimitedCall");
        call.add_flags(Flags { throttle: true, ..Flags::default() });
    }
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(rec.flush());
    let docs = cap.documents();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["throttle"], true);
    assert_throttle_implies_error(&docs[0]);
}

#[test]
fn throttle_flag_on_an_owned_subsegment_also_sets_error() {
    let trace: TraceId = "1-5759e988-bd862e3fe1be46a994272793".parse().unwrap();
    let parent: SegmentId = "53995c3f42cd8ad8".parse().unwrap();
    let mut sub = Subsegment::new(SegmentId::generate(), "RateLimitedCall", 1_700_000_000_000_000);
    sub.add_flags(Flags { throttle: true, ..Flags::default() });
    sub.set_end_micros(1_700_000_000_000_500);
    let doc: Value = serde_json::from_str(&SegmentDocument::new(&trace, &parent, &sub).to_json()).unwrap();
    assert_eq!(doc["throttle"], true);
    assert_throttle_implies_error(&doc);
}
