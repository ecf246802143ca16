//! Adversarial tests of the lifecycle through `#[instrumented]` (the defects the first run
//! found, fixed since, are listed in `streamer-obs/tests/lifecycle_attacks.rs`).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::testing::ContextBuilder;

#[instrumented(name = "Inner")]
async fn inner(event: LambdaEvent<Value>) -> Result<Value, Error> {
    streamer_obs::invocation::append_field("user_id", "inner-user");
    streamer_obs::metrics::add("InnerM", streamer_obs::metrics::Unit::Count, 1.0);
    tracing::info!("in inner");
    tokio::task::yield_now().await;
    Err(format!("inner failed {}", event.payload).into())
}

#[instrumented(name = "Outer")]
async fn outer(event: LambdaEvent<Value>) -> Result<Value, Error> {
    streamer_obs::invocation::append_field("user_id", "outer-user");
    let ctx = ContextBuilder::new()
        .request_id("inner-req")
        .trace_header("Root=1-5759e988-000000000000000000000002;Parent=53995c3f42cd8ad8;Sampled=1")
        .build();
    let r = inner(LambdaEvent::new(json!(1), ctx)).await;
    tracing::info!("after inner");
    let recorded = streamer_obs::metrics::try_add("OuterAfter", streamer_obs::metrics::Unit::Count, 1.0).is_ok();
    Ok(json!({"inner_err": r.is_err(), "recorded": recorded, "payload": event.payload}))
}

#[test]
fn nested_instrumented_handlers_keep_their_own_invocation() {
    let (out, cap) = run(outer(event(json!("x"))));
    let out = out.unwrap();
    assert_eq!(out["inner_err"], true);
    assert_eq!(out["recorded"], true);
    let inner_line = cap.line("in inner");
    assert_eq!(inner_line["function_request_id"], "inner-req");
    assert_eq!(inner_line["user_id"], "inner-user");
    let after = cap.line("after inner");
    assert_eq!(after["function_request_id"], "req-1");
    assert_eq!(after["user_id"], "outer-user");
    let errors: Vec<_> = cap.lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["function_request_id"], "inner-req");
    assert_eq!(errors[0]["handler"], "Inner");
    let outer_docs: Vec<_> = cap.emf.iter().filter(|d| d.get("OuterAfter").is_some()).collect();
    assert_eq!(outer_docs.len(), 1);
    assert!(outer_docs[0].get("InnerM").is_none());
    assert_eq!(cap.emf.iter().filter(|d| d.get("ProcessingLatency").is_some()).count(), 2);
    let names: Vec<_> = cap.segments.iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect();
    assert!(names.contains(&"Outer".to_owned()) && names.contains(&"Inner".to_owned()), "{names:?}");
}

#[instrumented]
fn helper(n: u8) -> Result<u8, std::io::Error> {
    tracing::info!("helper ran");
    if n > 5 { Err(std::io::Error::other("too big")) } else { Ok(n) }
}

#[instrumented]
async fn async_helper(n: u8) -> Result<u8, std::io::Error> {
    tokio::task::yield_now().await;
    tracing::info!("async helper ran");
    helper(n)
}

/// An instrumented function called outside any invocation: it runs, its line has no
/// invocation keys, nothing is sent, nothing panics.
#[test]
fn instrumented_functions_outside_an_invocation() {
    let (out, cap) = run(async { (async_helper(3).await, async_helper(9).await) });
    assert_eq!(out.0.unwrap(), 3);
    assert_eq!(out.1.unwrap_err().to_string(), "too big");
    for l in &cap.lines {
        assert!(l.get("function_request_id").is_none(), "{l}");
    }
    assert_eq!(cap.with_message("helper ran").len(), 2);
    assert!(cap.segments.is_empty(), "{:?}", cap.segments);
    assert!(cap.emf.is_empty(), "{:?}", cap.emf);
    // And with no runtime, no subscriber, no telemetry at all.
    assert_eq!(helper(1).unwrap(), 1);
}

#[derive(serde::Deserialize)]
struct PanickingEvent;
impl serde::Serialize for PanickingEvent {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("event serialize panicked")
    }
}

#[instrumented(name = "LogsEvent", log_event = true)]
async fn logs_event(event: LambdaEvent<PanickingEvent>) -> Result<Value, Error> {
    let _ = event;
    streamer_obs::metrics::add("Ran", streamer_obs::metrics::Unit::Count, 1.0);
    Ok(json!(1))
}

async fn catch_future<F: Future>(fut: F) -> Result<F::Output, Box<dyn std::any::Any + Send>> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(p)),
        }
    })
    .await
}

/// `log_event = true` with an event whose `Serialize` panics: the panic must take the
/// lifecycle's panic path (or the event go unlogged), never lose the invocation.
#[test]
fn log_event_with_a_panicking_serialize() {
    let (out, cap) = run(catch_future(logs_event(LambdaEvent::new(
        PanickingEvent,
        ContextBuilder::new().request_id("req-ev").trace_header(HEADER).build(),
    ))));
    eprintln!("outcome ok={}\nlines {:?}\nemf {:?}\nsegments {:?}", out.is_ok(), cap.lines, cap.emf, cap.segments);
    match out {
        Ok(r) => assert!(r.is_ok()),
        Err(_) => {
            let errors: Vec<_> = cap.lines.iter().filter(|l| l["level"] == "ERROR").collect();
            assert_eq!(errors.len(), 1, "one ERROR line for the panic: {:?}", cap.lines);
        }
    }
    assert_eq!(cap.emf.iter().filter(|d| d.get("ProcessingLatency").is_some()).count(), 1, "{:?}", cap.emf);
    assert_eq!(cap.segments.iter().filter(|d| d["name"] == "LogsEvent").count(), 1, "{:?}", cap.segments);
}

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop panicked");
        }
    }
}

#[instrumented(name = "Forever")]
async fn forever(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _g = PanicOnDrop;
    streamer_obs::metrics::add("Before", streamer_obs::metrics::Unit::Count, 1.0);
    std::future::pending::<()>().await;
    Ok(event.payload)
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> impl Future<Output = Poll<F::Output>> + '_ {
    let mut fut = Some(fut);
    std::future::poll_fn(move |cx| Poll::Ready(fut.take().unwrap().poll(cx)))
}

/// Cancelled (dropped) while a value the handler owns panics in its `Drop`.
#[test]
fn cancellation_with_a_panicking_drop_via_the_attribute() {
    let (dropped, cap) = run(async {
        let mut fut = Box::pin(forever(event(json!(1))));
        assert!(poll_once(fut.as_mut()).await.is_pending());
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(fut))).is_err()
    });
    eprintln!("drop panicked={dropped}\nlines {:?}\nemf {:?}\nsegments {:?}", cap.lines, cap.emf, cap.segments);
    assert_eq!(
        cap.with_message("handler cancelled (its future was dropped before it finished): what it recorded is flushed")
            .len(),
        1
    );
    assert_eq!(cap.emf.iter().filter(|d| d.get("Before").is_some()).count(), 1);
    assert_eq!(cap.segments.iter().filter(|d| d["name"] == "Forever").count(), 1);
}

#[instrumented(name = "Wide", deadline_margin_ms = 60000)]
async fn wide(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    Ok(event.payload)
}

/// A margin larger than the time left: the guard fires at the first wait, once.
#[test]
fn a_margin_larger_than_the_remaining_time_fires_once() {
    let (out, cap) = run(wide(LambdaEvent::new(
        json!(1),
        ContextBuilder::new().request_id("req-w").trace_header(HEADER).deadline_ms(T0 + 1_000).build(),
    )));
    assert_eq!(out.unwrap(), json!(1));
    assert_eq!(cap.with_message("invocation is about to time out: flushing what was recorded so far").len(), 1);
    assert_eq!(cap.segments.iter().filter(|d| d["name"] == "Wide" && d.get("in_progress").is_none()).count(), 1);
    assert_eq!(cap.emf.iter().filter(|d| d.get("ProcessingLatency").is_some()).count(), 1);
}

#[derive(Debug)]
struct PanickingDisplay(u8);
impl std::fmt::Display for PanickingDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("display panicked")
    }
}
impl std::error::Error for PanickingDisplay {}

#[instrumented]
async fn fails_async(n: u8) -> Result<u8, PanickingDisplay> {
    tokio::task::yield_now().await;
    Err(PanickingDisplay(n))
}

#[instrumented]
fn fails_sync(n: u8) -> Result<u8, PanickingDisplay> {
    Err(PanickingDisplay(n))
}

#[instrumented(name = "CallsFailing")]
async fn calls_failing(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let a = catch_future(fails_async(1)).await;
    let b = std::panic::catch_unwind(|| fails_sync(2));
    let a = a.map(|r| r.unwrap_err().0);
    let b = b.map(|r| r.unwrap_err().0);
    Ok(json!({"async": a.ok(), "sync": b.ok(), "payload": event.payload}))
}

/// Instrumented functions (not handlers) returning an `Err` whose `Display` panics, inside
/// an invocation: README "capture_error ... the error is returned unchanged either way";
/// the log rules write such a value as "<panicked while formatting>".
#[test]
fn instrumented_function_err_with_panicking_display_is_returned() {
    let (out, cap) = run_with(config(&[("POWERTOOLS_LOG_LEVEL", "DEBUG")]), calls_failing(event(json!(0))));
    let out = out.unwrap();
    eprintln!("{out}\n{:?}", cap.lines);
    assert_eq!(out["async"], 1, "the async function's Err came back: {out}");
    assert_eq!(out["sync"], 2, "the sync function's Err came back: {out}");
    assert!(cap.lines.iter().all(|l| l["level"] != "ERROR"), "{:?}", cap.lines);
}

struct PanickingMeta;
impl serde::Serialize for PanickingMeta {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("metadata serialize panicked")
    }
}

#[instrumented(name = "PanickyMeta", metadata(m = PanickingMeta))]
async fn panicky_metadata(event: LambdaEvent<Value>) -> Result<Value, Error> {
    streamer_obs::metrics::add("Ran", streamer_obs::metrics::Unit::Count, 1.0);
    Ok(event.payload)
}

fn panicky_annotation() -> &'static str {
    panic!("annotation expression panicked")
}

#[instrumented(name = "PanickyAnn", annotations(k = panicky_annotation()))]
async fn panicky_annotation_handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// User code the attribute evaluates before the body (a `metadata(...)` value's
/// `Serialize`, an `annotations(...)` expression) panics: as with F2, the panic should take
/// the lifecycle's panic path (or the value be dropped with a WARN), not lose the
/// invocation's telemetry.
#[test]
fn attribute_arguments_that_panic() {
    let (out, cap) = run(catch_future(panicky_metadata(event(json!(1)))));
    eprintln!("metadata: ok={} lines {:?} emf {:?} segs {:?}", out.is_ok(), cap.lines, cap.emf, cap.segments);
    let meta_ok = out.is_ok() || cap.lines.iter().any(|l| l["level"] == "ERROR");
    let meta_flushed = cap.segments.iter().any(|d| d["name"] == "PanickyMeta");
    let (out2, cap2) = run(catch_future(panicky_annotation_handler(event(json!(1)))));
    eprintln!("annotation: ok={} lines {:?} emf {:?} segs {:?}", out2.is_ok(), cap2.lines, cap2.emf, cap2.segments);
    let ann_flushed = cap2.segments.iter().any(|d| d["name"] == "PanickyAnn");
    assert!(meta_ok && meta_flushed, "metadata(...) Serialize panic lost the invocation");
    assert!(ann_flushed, "annotations(...) panic lost the invocation");
}
