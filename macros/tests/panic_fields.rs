//! A handler's `fields(...)` expressions (and the `Debug` of its recorded
//! parameters) are the user's code that the attribute runs before the body, exactly like
//! `annotations(...)`. A panic in `annotations(...)` takes the lifecycle's panic path (ERROR
//! line "handler panicked", the handler subsegment marked `fault` and flushed); the same
//! panic in `fields(...)` takes it too (a review found it escaped before the lifecycle
//! existed: no ERROR line, no subsegment, nothing flushed).
#![allow(missing_docs)]

mod common;

use std::future::Future;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

fn boom(what: &str) -> &'static str {
    panic!("{what} panicked")
}

#[instrumented(name = "PanickyAnnotation", annotations(k = boom("annotation")))]
async fn panicking_annotation(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[instrumented(name = "PanickyField", fields(k = boom("field")))]
async fn panicking_field(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

struct PanickyDebug;
impl std::fmt::Debug for PanickyDebug {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("parameter Debug panicked")
    }
}

#[instrumented(name = "PanickyParam", ctx = ctx)]
async fn panicking_param(ctx: &lambda_runtime::Context, p: PanickyDebug) -> Result<(), Error> {
    let _ = p;
    Ok(())
}

async fn catch<F: Future>(fut: F) -> bool {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(_)) => std::task::Poll::Ready(false),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => std::task::Poll::Ready(true),
        }
    })
    .await
}

fn recorded(cap: &Captured, name: &str) -> (bool, bool) {
    let error_line = cap.lines.iter().any(|l| l["message"] == "handler panicked");
    let segment = cap.segments.iter().any(|d| d["name"] == name && d["fault"] == true);
    (error_line, segment)
}

#[test]
fn a_panicking_annotation_takes_the_panic_path() {
    // The reference behaviour the attribute documents.
    let (panicked, cap) = run(catch(panicking_annotation(event(json!(1)))));
    assert!(panicked);
    assert_eq!(recorded(&cap, "PanickyAnnotation"), (true, true), "{:#?} {:#?}", cap.lines, cap.segments);
}

#[test]
fn a_panicking_field_takes_the_panic_path_too() {
    let (panicked, cap) = run(catch(panicking_field(event(json!(1)))));
    assert!(panicked);
    assert_eq!(
        recorded(&cap, "PanickyField"),
        (true, true),
        "a panic in fields(...) lost the invocation: lines {:#?} segments {:#?}",
        cap.lines,
        cap.segments
    );
}

/// A recorded parameter whose `Debug` panics: the log layer's policy for a panicking
/// field applies (the panic is caught where the field is rendered), so the invocation is
/// not lost and runs as usual, its subsegment recorded.
#[test]
fn a_panicking_parameter_debug_does_not_lose_the_invocation() {
    let ctx = streamer_obs::testing::ContextBuilder::new().request_id("req-1").trace_header(HEADER).build();
    let (panicked, cap) = run(async move { catch(panicking_param(&ctx, PanickyDebug)).await });
    assert!(!panicked, "the field's panic is caught by the log layer");
    assert!(
        cap.segments.iter().any(|d| d["name"] == "PanickyParam" && d.get("fault").is_none()),
        "{:#?}",
        cap.segments
    );
}
