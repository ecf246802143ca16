//! A `metadata(...)` *expression* of a handler that panics takes the lifecycle's panic path.
//!
//! Issue step 4: on panic "the same as fault, everything flushed, then the panic
//! resumes". The attribute evaluates `annotations(...)` under the lifecycle's guard
//! (`open_guarded`) and `fields(...)` too (`with_span_guarded`); a `metadata(...)` value's
//! `Serialize` runs under `catch_unwind` (tested in attacks_lifecycle.rs). The metadata
//! value expression itself is evaluated after the handler subsegment is open; it had no
//! guard: its panic dropped the scope while unwinding and nothing of the invocation was
//! recorded (no ERROR line, no latency metric, no subsegment sent).

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

fn panicky_value() -> u32 {
    panic!("metadata expression panicked")
}

#[instrumented(name = "PanickyMetaExpr", metadata(m = panicky_value()))]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn a_panicking_metadata_expression_takes_the_panic_path() {
    let (out, cap) = run(catch(handler(event(json!(1)))));
    let payload = out.expect_err("the panic resumes");
    assert_eq!(payload.downcast_ref::<&str>().copied(), Some("metadata expression panicked"));
    let segment = cap.segments.iter().find(|d| d["name"] == "PanickyMetaExpr");
    assert!(segment.is_some(), "the handler subsegment was never sent: {:#?}", cap.segments);
    let segment = segment.unwrap();
    assert_eq!(segment["fault"], true, "{segment:#}");
    assert_eq!(cap.with_message("handler panicked").len(), 1, "no ERROR line: {:#?}", cap.lines);
    assert!(cap.emf.iter().any(|d| d.get("ProcessingLatency").is_some()), "no latency metric: {:#?}", cap.emf);
}
