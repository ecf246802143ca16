//! Adversarial tests of the invocation lifecycle through the tower layer (`ObsLayer`) and
//! `HandlerScope`, under `lambda_runtime`'s own types.
//!
//! The first run found five defects, fixed since: a panic in the handler's `Drop` while it
//! was cancelled skipped the whole flush; a panicking `Serialize` of a logged event or of a
//! `metadata(...)` value (and a panicking `annotations(...)` expression) ran outside the
//! lifecycle; the deadline guard's timer panicked on a runtime without timers; a line
//! could exceed 256 KiB when the SDK's own values (a hostile request id) did; an
//! instrumented function's `Err` whose `Display` panics became a panic.
mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use common::*;
use lambda_runtime::tower::util::ServiceFn;
use lambda_runtime::tower::{Layer, Service, ServiceExt};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use streamer_obs::config::{Config, EnvVars, LogBufferConfig, LogLevel};
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::layer::{ObsLayer, ObsService};
use streamer_obs::metrics::{self, Unit};
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingWriter, ContextBuilder};
use tracing::instrument::WithSubscriber;

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk";

type H = Captured;

fn h_with(cfg: Config) -> H {
    captured(cfg)
}

fn h() -> H {
    h_with(config(&[]))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

fn header(i: u32) -> String {
    format!("Root=1-5759e988-{i:024x};Parent=53995c3f42cd8ad8;Sampled=1")
}

fn ev<T>(payload: T, request_id: &str) -> LambdaEvent<T> {
    LambdaEvent::new(payload, ContextBuilder::new().request_id(request_id).trace_header(HEADER).build())
}

impl H {
    fn lines(&self) -> Vec<Value> {
        self.log.json_lines()
    }
    fn level(&self, level: &str) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l["level"] == level).collect()
    }
    fn with_message(&self, needle: &str) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l["message"].as_str().is_some_and(|m| m.contains(needle))).collect()
    }
    fn emf_docs(&self) -> Vec<Value> {
        self.emf.json_lines()
    }
    /// The EMF documents carrying metric `name`.
    fn metric_docs(&self, name: &str) -> Vec<Value> {
        self.emf_docs().into_iter().filter(|d| d.get(name).is_some()).collect()
    }
    /// Every subsegment of every document, flattened: (name, id, in_progress, value).
    fn segments(&self) -> Vec<(String, String, bool, Value)> {
        let mut out = Vec::new();
        for raw in self.xray.raw() {
            assert!(raw.len() <= 64 * 1024, "X-Ray document over 64 KB: {} bytes", raw.len());
            let d: Value = serde_json::from_str(&raw).expect("valid X-Ray JSON");
            walk(&d, &mut out);
        }
        out
    }
    fn handler_docs(&self, name: &str) -> Vec<Value> {
        self.segments().into_iter().filter(|(n, _, ip, _)| n == name && !ip).map(|s| s.3).collect()
    }
}

fn walk(v: &Value, out: &mut Vec<(String, String, bool, Value)>) {
    let mut own = v.clone();
    if let Some(o) = own.as_object_mut() {
        o.remove("subsegments");
    }
    out.push((
        v["name"].as_str().unwrap_or_default().into(),
        v["id"].as_str().unwrap_or_default().into(),
        v.get("in_progress").is_some_and(|b| b == true),
        own,
    ));
    for c in v.get("subsegments").and_then(|s| s.as_array()).into_iter().flatten() {
        walk(c, out);
    }
}

/// Subsegment ids and how often each was sent complete, checking no `in_progress` copy
/// follows a complete one.
fn completes(docs: &[String]) -> HashMap<String, (String, usize)> {
    let mut completed: HashMap<String, (String, usize)> = HashMap::new();
    for raw in docs.iter().filter(|s| !s.starts_with("metrics")) {
        let d: Value = serde_json::from_str(raw).unwrap();
        let mut segs = Vec::new();
        walk(&d, &mut segs);
        for (name, id, ip, _) in segs {
            if ip {
                assert!(!completed.contains_key(&id), "{name} in_progress after complete: {docs:?}");
            } else {
                completed.entry(id).or_insert((name, 0)).1 += 1;
            }
        }
    }
    completed
}

/// [`completes`] as sorted (name, times sent complete) pairs.
fn completed_names(docs: &[String]) -> Vec<(String, usize)> {
    let mut names: Vec<_> = completes(docs).into_values().collect();
    names.sort();
    names
}

fn no_secret(text: &str) {
    assert!(!text.contains(JWT), "JWT leaked: {}", &text[..text.len().min(2000)]);
    assert!(!text.contains("s3cr3t-bearer"), "bearer leaked: {}", &text[..text.len().min(2000)]);
}

/// Runs `event` once through an `ObsLayer` over `handler`.
fn via_layer<T, R, E, F, Fut>(
    h: &H,
    name: &'static str,
    view: fn(&E) -> ErrorView,
    handler: F,
    event: LambdaEvent<T>,
) -> Result<R, E>
where
    T: serde::Serialize + Send + 'static,
    R: serde::Serialize + Send + 'static,
    E: std::fmt::Debug + Send + 'static,
    F: FnMut(LambdaEvent<T>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    let svc = ObsLayer::<E>::new(HandlerOptions::new(name))
        .error_view(view)
        .telemetry(h.telemetry.clone())
        .layer(service_fn(handler));
    call_once(&h.dispatch, svc, event)
}

/// [`via_layer`] with what most tests use: handler "H", a `std::io::Error` described by
/// `ErrorView::from_error`, an empty event with `request_id`.
fn via_h<R, F, Fut>(h: &H, handler: F, request_id: &str) -> Result<R, std::io::Error>
where
    R: serde::Serialize + Send + 'static,
    F: FnMut(LambdaEvent<Value>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, std::io::Error>> + Send + 'static,
{
    via_layer(h, "H", ErrorView::from_error::<std::io::Error>, handler, ev(json!({}), request_id))
}

/// [`via_h`] for a handler failing with a boxed `lambda_runtime::Error` (described by
/// `default_error_view`).
fn via_boxed<F, Fut>(h: &H, handler: F, request_id: &str) -> Result<Value, lambda_runtime::Error>
where
    F: FnMut(LambdaEvent<Value>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, lambda_runtime::Error>> + Send + 'static,
{
    via_layer(
        h,
        "H",
        streamer_obs::layer::default_error_view::<lambda_runtime::Error>,
        handler,
        ev(json!({}), request_id),
    )
}

/// A layer with `options` over `telemetry`, describing a `std::io::Error` with
/// `ErrorView::from_error`.
fn io_layer(telemetry: Telemetry, options: HandlerOptions) -> ObsLayer<std::io::Error> {
    ObsLayer::<std::io::Error>::new(options).error_view(ErrorView::from_error).telemetry(telemetry)
}

fn layer_with(h: &H, options: HandlerOptions) -> ObsLayer<std::io::Error> {
    io_layer(h.telemetry.clone(), options)
}

/// The service most tests drive: `handler` as "H" behind [`layer_with`].
fn h_service<F>(h: &H, handler: F) -> ObsService<ServiceFn<F>, std::io::Error> {
    layer_with(h, HandlerOptions::new("H")).layer(service_fn(handler))
}

/// Runs `fut` to completion on a fresh current-thread runtime under `dispatch`.
fn block_on_with<F: Future>(dispatch: &tracing::Dispatch, fut: F) -> F::Output {
    rt().block_on(fut.with_subscriber(dispatch.clone()))
}

/// Calls `svc` once with `event` under `dispatch`.
fn call_once<S, T>(dispatch: &tracing::Dispatch, mut svc: S, event: LambdaEvent<T>) -> Result<S::Response, S::Error>
where
    S: Service<LambdaEvent<T>>,
    S::Error: std::fmt::Debug,
{
    block_on_with(dispatch, async move { svc.ready().await.unwrap().call(event).await })
}

/// A context with a trace header and a deadline.
fn dl_ctx(request_id: &str, deadline_ms: u64) -> lambda_runtime::Context {
    ContextBuilder::new().request_id(request_id).trace_header(HEADER).deadline_ms(deadline_ms).build()
}

/// An empty event with [`dl_ctx`].
fn dl_ev(request_id: &str, deadline_ms: u64) -> LambdaEvent<Value> {
    LambdaEvent::new(json!({}), dl_ctx(request_id, deadline_ms))
}

fn assert_latency_once(h: &H) {
    assert_eq!(h.metric_docs("ProcessingLatency").len(), 1, "latency metric once: {:?}", h.emf.lines());
    for d in h.emf_docs() {
        emf_valid(&d);
    }
}

/// The EMF rules the lifecycle relies on: an `_aws` block with a millisecond timestamp and
/// directives, each metric named there present as a number (or array) at the root, each
/// dimension present as a string.
fn emf_valid(d: &Value) {
    let aws = &d["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some(), "{d}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert!(!directives.is_empty(), "{d}");
    for dir in directives {
        assert!(dir["Namespace"].as_str().is_some_and(|n| !n.is_empty()), "{d}");
        let metrics = dir["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100, "{d}");
        for m in metrics {
            let name = m["Name"].as_str().unwrap();
            let v = &d[name];
            assert!(
                v.is_number() || v.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_number)),
                "{name} in {d}"
            );
            if name == "ProcessingLatency" {
                assert_eq!(m["Unit"], "Milliseconds", "{d}");
            }
        }
        for set in dir["Dimensions"].as_array().unwrap() {
            for k in set.as_array().unwrap() {
                assert!(d[k.as_str().unwrap()].is_string(), "dimension {k} in {d}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Outcomes: Ok responses
// ---------------------------------------------------------------------------------------

struct FailingSerialize;
impl serde::Serialize for FailingSerialize {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("cannot serialise"))
    }
}

struct PanickingSerialize(u32);
impl serde::Serialize for PanickingSerialize {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("serialize panicked")
    }
}

#[test]
fn ok_response_whose_serialize_fails_is_returned_and_flushed() {
    let h = h();
    let out = via_h(&h, |_| async { Ok(FailingSerialize) }, "ser-fail");
    assert!(out.is_ok());
    assert!(h.level("ERROR").is_empty());
    assert_latency_once(&h);
    let docs = h.handler_docs("H");
    assert_eq!(docs.len(), 1);
    assert!(docs[0].get("fault").is_none() && docs[0].get("error").is_none(), "{:?}", docs[0]);
}

#[test]
fn ok_response_whose_serialize_panics_is_returned_with_one_warning() {
    let h = h();
    let out = via_h(&h, |_| async { Ok(PanickingSerialize(7)) }, "ser-panic");
    assert_eq!(out.unwrap().0, 7);
    assert!(h.level("ERROR").is_empty(), "{:?}", h.log.lines());
    assert_eq!(h.with_message("response not captured").len(), 1, "{:?}", h.log.lines());
    assert_latency_once(&h);
    assert_eq!(h.handler_docs("H").len(), 1);
}

#[test]
fn huge_response_is_size_guarded() {
    let h = h();
    let big = "x".repeat(300 * 1024);
    let out = via_h(
        &h,
        move |_| {
            let big = big.clone();
            async move { Ok(json!({"body": big})) }
        },
        "huge",
    );
    assert_eq!(out.unwrap()["body"].as_str().unwrap().len(), 300 * 1024);
    assert_latency_once(&h);
    assert_eq!(h.handler_docs("H").len(), 1);
}

#[test]
fn deep_response_is_captured_without_overflow() {
    let h = h();
    let out = via_h(
        &h,
        |_| async {
            let mut v = json!(1);
            for _ in 0..1000 {
                v = json!([v]);
            }
            Ok(v)
        },
        "deep",
    );
    let mut v = out.unwrap();
    let mut depth = 0;
    while let Value::Array(mut a) = v {
        v = a.pop().unwrap();
        depth += 1;
    }
    assert_eq!(depth, 1000);
    assert_latency_once(&h);
    let docs = h.handler_docs("H");
    assert_eq!(docs.len(), 1);
    assert!(docs[0].to_string().contains("[too deep]"));
}

/// A response carrying a bearer token and a JWT.
async fn respond_with_secrets(_e: LambdaEvent<Value>) -> Result<Value, std::io::Error> {
    Ok(json!({"headers": {"Authorization": "Bearer s3cr3t-bearer"}, "body": format!("token {JWT}")}))
}

/// Secrets in a captured response. The README does not promise redaction of X-Ray
/// metadata explicitly; the logs must stay clean.
#[test]
fn response_with_secrets_never_reaches_the_log() {
    let h = h();
    let out = via_h(&h, respond_with_secrets, "secret-resp");
    assert!(out.is_ok());
    no_secret(&h.log.contents());
    no_secret(&h.emf.contents());
}

/// The captured response in X-Ray metadata: redacted as a logged event is (README).
#[test]
fn response_with_secrets_in_xray_metadata() {
    let h = h();
    let _ = via_h(&h, respond_with_secrets, "secret-resp-x");
    no_secret(&h.xray.raw().join("\n"));
}

// ---------------------------------------------------------------------------------------
// Outcomes: Err
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct PanickingDisplay(u32);
impl std::fmt::Display for PanickingDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("display panicked")
    }
}
impl std::error::Error for PanickingDisplay {}

struct PanickingDebug(u32);
impl std::fmt::Debug for PanickingDebug {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("debug panicked")
    }
}
impl std::fmt::Display for PanickingDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("debug panics")
    }
}
impl std::error::Error for PanickingDebug {}

#[derive(Debug)]
struct PanickingSource(u32);
impl std::fmt::Display for PanickingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("source panics")
    }
}
impl std::error::Error for PanickingSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        panic!("source panicked")
    }
}

#[derive(Debug)]
struct Cyclic;
impl std::fmt::Display for Cyclic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cyclic")
    }
}
impl std::error::Error for Cyclic {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self)
    }
}

/// An error carrying a bearer token and a JWT.
async fn fail_with_secrets(_e: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    Err(format!("rejected {JWT} with Authorization: Bearer s3cr3t-bearer").into())
}

fn check_one_error_fault(h: &H, name: &str) -> Value {
    let errors = h.level("ERROR");
    assert_eq!(errors.len(), 1, "exactly one ERROR line: {:?}", h.log.lines());
    assert_latency_once(h);
    let docs = h.handler_docs(name);
    assert_eq!(docs.len(), 1, "one handler subsegment");
    assert_eq!(docs[0]["fault"], true, "{}", docs[0]);
    assert!(docs[0]["cause"]["exceptions"].as_array().is_some_and(|e| !e.is_empty()), "cause: {}", docs[0]);
    errors[0].clone()
}

#[test]
fn err_whose_display_panics_via_layer() {
    let h = h();
    let out = via_layer(
        &h,
        "H",
        ErrorView::from_error::<PanickingDisplay>,
        |_e: LambdaEvent<Value>| async { Err::<Value, _>(PanickingDisplay(41)) },
        ev(json!({}), "disp"),
    );
    assert_eq!(out.unwrap_err().0, 41);
    let e = check_one_error_fault(&h, "H");
    assert_eq!(e["function_request_id"], "disp");
}

#[test]
fn err_whose_debug_panics_via_default_view() {
    let h = h();
    // default_error_view on a non-boxed type goes through Debug.
    let out = via_layer(
        &h,
        "H",
        streamer_obs::layer::default_error_view::<PanickingDebug>,
        |_e: LambdaEvent<Value>| async { Err::<Value, _>(PanickingDebug(42)) },
        ev(json!({}), "dbg"),
    );
    assert_eq!(out.unwrap_err().0, 42);
    check_one_error_fault(&h, "H");
}

#[test]
fn err_whose_source_panics_boxed_lambda_error() {
    let h = h();
    let out = via_boxed(&h, |_| async { Err::<Value, lambda_runtime::Error>(Box::new(PanickingSource(43))) }, "src");
    assert_eq!(out.unwrap_err().downcast_ref::<PanickingSource>().unwrap().0, 43);
    check_one_error_fault(&h, "H");
}

#[test]
fn err_with_cyclic_source_chain_is_bounded() {
    let h = h();
    let out = via_layer(
        &h,
        "H",
        ErrorView::from_error::<Cyclic>,
        |_e: LambdaEvent<Value>| async { Err::<Value, _>(Cyclic) },
        ev(json!({}), "cyc"),
    );
    assert!(out.is_err());
    let e = check_one_error_fault(&h, "H");
    let sources = e["error.sources"].as_array().expect("error.sources");
    assert!(sources.len() <= 33, "{}", sources.len());
}

#[test]
fn huge_err_is_cut_in_log_and_xray() {
    let h = h();
    let msg = "e".repeat(1024 * 1024);
    let out = via_boxed(
        &h,
        move |_| {
            let msg = msg.clone();
            async move { Err::<Value, lambda_runtime::Error>(msg.into()) }
        },
        "huge-err",
    );
    assert_eq!(out.unwrap_err().to_string().len(), 1024 * 1024);
    for l in h.log.lines() {
        assert!(l.len() <= 256 * 1024, "line of {} bytes", l.len());
    }
    check_one_error_fault(&h, "H");
}

#[test]
fn err_with_secrets_never_reaches_the_log() {
    let h = h();
    let out = via_boxed(&h, fail_with_secrets, "secret-err");
    assert!(out.is_err());
    check_one_error_fault(&h, "H");
    no_secret(&h.log.contents());
}

/// The same error's `cause` in X-Ray: exception messages scrubbed as log text is (README).
#[test]
fn err_with_secrets_in_xray_cause() {
    let h = h();
    let _ = via_boxed(&h, fail_with_secrets, "secret-err-x");
    no_secret(&h.xray.raw().join("\n"));
}

/// `ClassifyError`-style mapping through the layer's options: `error`, not `fault`.
#[test]
fn error_class_mapping_via_layer() {
    let h = h();
    let svc = ObsLayer::<lambda_runtime::Error>::new(
        HandlerOptions::new("H").error_class(|_| streamer_obs::handler::ErrorClass::Error),
    )
    .telemetry(h.telemetry.clone())
    .layer(service_fn(|_e: LambdaEvent<Value>| async { Err::<Value, lambda_runtime::Error>("bad input".into()) }));
    let out = call_once(&h.dispatch, svc, ev(json!({}), "cls"));
    assert!(out.is_err());
    let docs = h.handler_docs("H");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["error"], true);
    assert!(docs[0].get("fault").is_none(), "{}", docs[0]);
    assert_eq!(h.level("ERROR").len(), 1);
}

// ---------------------------------------------------------------------------------------
// Outcomes: panics
// ---------------------------------------------------------------------------------------

fn catch<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
}

#[test]
fn panic_with_non_string_payload_is_resumed_unchanged() {
    let h = h();
    let r = catch(|| via_h(&h, |_| async { std::panic::panic_any(1234u32) as Result<Value, std::io::Error> }, "p-any"));
    assert_eq!(r.unwrap_err().downcast_ref::<u32>(), Some(&1234));
    let e = check_one_error_fault(&h, "H");
    assert_eq!(e["function_request_id"], "p-any");
}

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop panicked");
        }
    }
}

/// A value the handler owns panics in its `Drop` as the handler returns `Ok`: that is a
/// panic of the handler (the lifecycle's panic path), resumed.
#[test]
fn panic_in_drop_of_a_handler_value_is_the_panic_path() {
    let h = h();
    let r = catch(|| {
        via_h(
            &h,
            |_| async {
                let _g = PanicOnDrop;
                tokio::task::yield_now().await;
                Ok::<Value, std::io::Error>(json!(1))
            },
            "p-drop",
        )
    });
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"drop panicked"));
    check_one_error_fault(&h, "H");
}

/// A value dropped by the layer after the handler future resolved (the `Ok` response
/// itself is not dropped by the lifecycle: it is returned).
#[test]
fn panic_in_drop_of_the_response_happens_at_the_caller() {
    let h = h();
    #[derive(serde::Serialize)]
    struct Resp(
        #[serde(skip)]
        #[allow(dead_code)]
        Option<PanicOnDrop>,
        u8,
    );
    let r = catch(|| {
        let out = via_h(&h, |_| async { Ok::<_, std::io::Error>(Resp(Some(PanicOnDrop), 9)) }, "p-resp");
        let resp = out.ok().unwrap();
        assert_eq!(resp.1, 9);
        drop(resp);
    });
    assert!(r.is_err());
    assert!(h.level("ERROR").is_empty(), "{:?}", h.log.lines());
    assert_latency_once(&h);
}

// ---------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> impl Future<Output = Poll<F::Output>> + '_ {
    let mut fut = Some(fut);
    std::future::poll_fn(move |cx| Poll::Ready(fut.take().unwrap().poll(cx)))
}

/// Polls `fut` (each poll pending, 1 ms apart, at most 200 times) until the deadline
/// guard's WARN line is in `log`; whether it was seen there.
async fn poll_until_guard<F: Future + ?Sized>(mut fut: Pin<&mut F>, log: &CapturingWriter) -> bool {
    for _ in 0..200 {
        assert!(poll_once(fut.as_mut()).await.is_pending());
        if log.contents().contains("about to time out") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

/// Calls "H" (behind [`h_service`]) with an empty event, polls the run future `polls`
/// times, each poll pending, then drops it: a cancellation.
fn poll_then_drop<F, Fut>(h: &H, request_id: &str, polls: usize, handler: F)
where
    F: FnMut(LambdaEvent<Value>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, std::io::Error>> + Send + 'static,
{
    let mut svc = h_service(h, handler);
    let event = ev(json!({}), request_id);
    block_on_with(&h.dispatch, async move {
        let mut fut = svc.ready().await.unwrap().call(event);
        for _ in 0..polls {
            assert!(poll_once(fut.as_mut()).await.is_pending());
        }
        drop(fut);
    });
}

/// Polls the run future `k` times (each await point a `yield_now`), then drops it.
fn cancel_after(k: usize) -> H {
    let h = h();
    poll_then_drop(&h, &format!("cancel-{k}"), k, |_| async {
        metrics::add("Step0", Unit::Count, 1.0);
        tokio::task::yield_now().await;
        metrics::add("Step1", Unit::Count, 1.0);
        let _inner = streamer_obs::xray::subsegment("Inner");
        tokio::task::yield_now().await;
        metrics::add("Step2", Unit::Count, 1.0);
        tokio::task::yield_now().await;
        metrics::add("Step3", Unit::Count, 1.0);
        std::future::pending::<()>().await;
        Ok(json!(1))
    });
    h
}

#[test]
fn cancellation_at_each_await_point() {
    for k in 0..=5 {
        let h = cancel_after(k);
        if k == 0 {
            // Never polled: the handler never ran. Whatever is sent, no panic, no duplicate.
            let docs = h.handler_docs("H");
            assert!(docs.len() <= 1, "k=0: {docs:?}");
            continue;
        }
        let warns = h.with_message("handler cancelled");
        assert_eq!(warns.len(), 1, "k={k}: {:?}", h.log.lines());
        assert_eq!(warns[0]["level"], "WARN");
        assert_eq!(warns[0]["function_request_id"], format!("cancel-{k}"));
        let docs = h.handler_docs("H");
        assert_eq!(docs.len(), 1, "k={k}: handler subsegment once");
        assert_eq!(docs[0]["fault"], true);
        assert!(docs[0]["cause"].to_string().contains("Cancelled"), "k={k}: {}", docs[0]);
        assert_latency_once(&h);
        for step in 0..k.min(4) {
            assert_eq!(h.metric_docs(&format!("Step{step}")).len(), 1, "k={k} Step{step}: {:?}", h.emf.lines());
        }
        assert!(h.level("ERROR").is_empty(), "k={k}");
    }
}

/// Cancelled while a value the handler owns panics in its `Drop`: the contract still says
/// the cancellation is recorded and everything recorded flushed.
#[test]
fn cancellation_with_a_panicking_drop_still_flushes() {
    let h = h();
    let mut svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        let _g = PanicOnDrop;
        metrics::add("Before", Unit::Count, 1.0);
        std::future::pending::<()>().await;
        Ok::<Value, std::io::Error>(json!(1))
    });
    let dropped = block_on_with(&h.dispatch, async move {
        let mut fut = svc.ready().await.unwrap().call(ev(json!({}), "cancel-drop"));
        assert!(poll_once(fut.as_mut()).await.is_pending());
        catch(move || drop(fut))
    });
    eprintln!(
        "drop panicked: {}\nLOG {:?}\nEMF {:?}\nXRAY {:?}",
        dropped.is_err(),
        h.log.lines(),
        h.emf.lines(),
        h.xray.raw()
    );
    assert_eq!(h.with_message("handler cancelled").len(), 1, "{:?}", h.log.lines());
    assert_eq!(h.metric_docs("Before").len(), 1, "{:?}", h.emf.lines());
    assert_latency_once(&h);
    assert_eq!(h.handler_docs("H").len(), 1, "{:?}", h.xray.raw());
}

// ---------------------------------------------------------------------------------------
// Deadline guard
// ---------------------------------------------------------------------------------------

/// Runs a handler that waits `wait_ms` (real time) with `deadline` and `margin_ms`.
fn run_with_deadline(deadline: u64, margin_ms: u64, wait_ms: u64) -> (H, Result<u8, std::io::Error>) {
    let h = h();
    let svc = layer_with(&h, HandlerOptions::new("H").deadline_margin(Duration::from_millis(margin_ms))).layer(
        service_fn(move |_e: LambdaEvent<Value>| async move {
            metrics::add("Early", Unit::Count, 1.0);
            drop(streamer_obs::xray::subsegment("Early"));
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            metrics::add("Late", Unit::Count, 1.0);
            Ok::<u8, std::io::Error>(5)
        }),
    );
    let out = call_once(&h.dispatch, svc, dl_ev("dl", deadline));
    (h, out)
}

fn check_complete_once(h: &H) {
    assert_eq!(h.handler_docs("H").len(), 1, "handler complete once: {:?}", h.xray.raw());
    assert_eq!(h.handler_docs("Early").len(), 1, "Early once: {:?}", h.xray.raw());
    assert_eq!(h.metric_docs("Early").len(), 1, "{:?}", h.emf.lines());
    assert_eq!(h.metric_docs("Late").len(), 1, "{:?}", h.emf.lines());
    assert_latency_once(h);
}

#[test]
fn deadline_in_the_past_is_unknown_with_one_warning() {
    let (h, out) = run_with_deadline(T0 - 1_000, 50, 5);
    assert_eq!(out.unwrap(), 5);
    assert!(h.with_message("about to time out").is_empty());
    assert_eq!(h.with_message("already in the past").len(), 1, "{:?}", h.log.lines());
    check_complete_once(&h);
}

#[test]
fn deadline_exactly_now_fires_the_guard_once() {
    let (h, out) = run_with_deadline(T0, 50, 20);
    assert_eq!(out.unwrap(), 5);
    let w = h.with_message("about to time out");
    assert_eq!(w.len(), 1, "{:?}", h.log.lines());
    assert_eq!(w[0]["level"], "WARN");
    assert!(h.with_message("already in the past").is_empty());
    check_complete_once(&h);
    assert_eq!(h.handler_docs("H")[0]["annotations"]["TimedOut"], true);
}

#[test]
fn deadline_one_ms_ahead_with_a_larger_margin_fires_once() {
    let (h, out) = run_with_deadline(T0 + 1, 500, 20);
    assert_eq!(out.unwrap(), 5);
    assert_eq!(h.with_message("about to time out").len(), 1, "{:?}", h.log.lines());
    check_complete_once(&h);
}

#[test]
fn deadline_u64_max_never_fires_and_never_panics() {
    let (h, out) = run_with_deadline(u64::MAX, 50, 5);
    assert_eq!(out.unwrap(), 5);
    assert!(h.with_message("about to time out").is_empty());
    check_complete_once(&h);
}

#[test]
fn deadline_zero_is_unknown_silently() {
    let (h, out) = run_with_deadline(0, 50, 5);
    assert_eq!(out.unwrap(), 5);
    assert!(h.with_message("about to time out").is_empty());
    assert!(h.with_message("already in the past").is_empty());
    check_complete_once(&h);
}

#[test]
fn margin_u64_ms_larger_than_any_deadline() {
    let (h, out) = run_with_deadline(T0 + 60_000, u64::MAX / 2, 5);
    assert_eq!(out.unwrap(), 5);
    assert_eq!(h.with_message("about to time out").len(), 1, "{:?}", h.log.lines());
    check_complete_once(&h);
}

#[test]
fn handler_finishing_well_before_the_guard() {
    let (h, out) = run_with_deadline(T0 + 10_000, 50, 1);
    assert_eq!(out.unwrap(), 5);
    assert!(h.with_message("about to time out").is_empty());
    check_complete_once(&h);
}

/// The guard fires, then the run future is dropped before the deadline flush ran: every
/// subsegment is sent complete once, no `in_progress` document after its complete one,
/// each metric once.
#[test]
fn guard_fires_then_cancelled_before_the_deadline_flush() {
    let h = h();
    let log = h.log.clone();
    let mut svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        metrics::add("Early", Unit::Count, 1.0);
        let _open = streamer_obs::xray::subsegment("Open");
        std::future::pending::<()>().await;
        Ok::<u8, std::io::Error>(5)
    });
    block_on_with(&h.dispatch, async move {
        let mut fut = svc.ready().await.unwrap().call(dl_ev("dl-cancel", T0));
        poll_until_guard(fut.as_mut(), &log).await;
        assert!(log.contents().contains("about to time out"));
        drop(fut);
        // Let any spawned flush run.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(h.with_message("about to time out").len(), 1);
    assert_eq!(h.with_message("handler cancelled").len(), 1, "{:?}", h.log.lines());
    assert_eq!(h.metric_docs("Early").len(), 1, "{:?}", h.emf.lines());
    assert_latency_once(&h);
    // Order of documents: no in_progress document for an id after its complete one.
    let raw = h.xray.raw();
    assert!(completes(&raw).values().all(|(_, n)| *n == 1), "{raw:?}");
    assert_eq!(h.handler_docs("H").len(), 1);
    assert_eq!(h.handler_docs("Open").len(), 1);
}

/// Guard fires, then the handler returns an `Err`: one WARN, one ERROR, fault, all once.
#[test]
fn guard_fires_then_handler_errs() {
    let h = h();
    let svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        metrics::add("Early", Unit::Count, 1.0);
        tokio::time::sleep(Duration::from_millis(30)).await;
        Err::<u8, _>(std::io::Error::other("late failure"))
    });
    let out = call_once(&h.dispatch, svc, dl_ev("dl-err", T0 + 10));
    assert_eq!(out.unwrap_err().to_string(), "late failure");
    assert_eq!(h.with_message("about to time out").len(), 1);
    let e = check_one_error_fault(&h, "H");
    assert_eq!(e["function_request_id"], "dl-err");
    assert_eq!(h.metric_docs("Early").len(), 1, "{:?}", h.emf.lines());
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

/// Runs `n` invocations at once on a four-worker runtime: `invoke(i, svc)`, given a clone
/// of `svc`, spawned for each `i` under `h`'s subscriber. Their outputs, in order.
fn concurrently<S, Fut>(h: &H, n: u32, svc: S, invoke: impl Fn(u32, S) -> Fut) -> Vec<Fut::Output>
where
    S: Clone,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_time().build().unwrap();
    runtime.block_on(async {
        let mut handles = Vec::new();
        for i in 0..n {
            handles.push(tokio::spawn(invoke(i, svc.clone()).with_subscriber(h.dispatch.clone())));
        }
        let mut out = Vec::new();
        for hd in handles {
            out.push(hd.await.unwrap());
        }
        out
    })
}

#[test]
fn concurrent_invocations_through_the_layer_do_not_cross() {
    const N: u32 = 64;
    let h = h();
    let svc = h_service(&h, |e: LambdaEvent<Value>| async move {
        let i = e.payload["i"].as_u64().unwrap();
        streamer_obs::invocation::append_field("user_id", format!("u{i}"));
        metrics::set_property("inv", i);
        metrics::add("Work", Unit::Count, i as f64);
        let _ = streamer_obs::xray::annotate("inv", i as i64);
        let sub = streamer_obs::xray::subsegment(&format!("Sub{i}"));
        for k in 0..5 {
            tokio::task::yield_now().await;
            tracing::info!(k, "work");
        }
        // A task spawned inside the invocation's scope, and one without.
        let inv = Invocation::current().unwrap();
        let scoped = tokio::spawn(
            inv.scope(async move {
                tokio::task::yield_now().await;
                tracing::info!("scoped task");
                metrics::add("Spawned", Unit::Count, i as f64);
            })
            .with_current_subscriber(),
        );
        let unscoped = tokio::spawn(
            async move {
                tracing::info!(unscoped_for = i, "unscoped task");
                Invocation::current().map(|c| c.request_id().to_owned())
            }
            .with_current_subscriber(),
        );
        scoped.await.unwrap();
        let seen = unscoped.await.unwrap();
        drop(sub);
        Ok::<_, std::io::Error>(json!({"i": i, "unscoped_saw": seen}))
    });
    let results: Vec<Value> = concurrently(&h, N, svc, |i, mut svc| {
        let ctx = ContextBuilder::new().request_id(format!("req-{i}")).trace_header(header(i)).build();
        async move { svc.ready().await.unwrap().call(LambdaEvent::new(json!({"i": i}), ctx)).await.unwrap() }
    });
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["i"], i as u64);
        assert_eq!(r["unscoped_saw"], Value::Null, "an unscoped task saw an invocation");
    }
    for l in h.lines() {
        if l["message"] == "work" || l["message"] == "scoped task" {
            let rid = l["function_request_id"].as_str().unwrap();
            let i = rid.strip_prefix("req-").unwrap();
            assert_eq!(l["user_id"], format!("u{i}"), "{l}");
            assert_eq!(l["xray_trace_id"], format!("1-5759e988-{:024x}", i.parse::<u32>().unwrap()), "{l}");
        }
        if l["message"] == "unscoped task" {
            assert!(l.get("function_request_id").is_none(), "{l}");
        }
    }
    let emf = h.emf_docs();
    let mut per_inv: HashMap<u64, usize> = HashMap::new();
    for d in &emf {
        if let Some(w) = d.get("Work") {
            let inv = d["inv"].as_u64().unwrap();
            assert_eq!(w.as_f64().unwrap() as u64, inv, "{d}");
            if let Some(s) = d.get("Spawned") {
                assert_eq!(s.as_f64().unwrap() as u64, inv, "{d}");
            }
            *per_inv.entry(inv).or_default() += 1;
        }
    }
    assert_eq!(per_inv.len(), N as usize);
    assert!(per_inv.values().all(|&n| n == 1));
    assert_eq!(
        emf.iter().filter(|d| d.get("Spawned").is_some()).count(),
        N as usize,
        "Spawned metrics in their own invocation"
    );
    let mut seen_h = 0;
    for raw in h.xray.raw() {
        let d: Value = serde_json::from_str(&raw).unwrap();
        let trace = d["trace_id"].as_str().unwrap().to_owned();
        let i = u32::from_str_radix(&trace[trace.len() - 24..], 16).unwrap();
        let mut segs = Vec::new();
        walk(&d, &mut segs);
        for (name, _, _, v) in segs {
            if name == "H" {
                seen_h += 1;
                assert_eq!(v["annotations"]["inv"], i as i64, "{v}");
            } else {
                assert_eq!(name, format!("Sub{i}"));
            }
        }
    }
    assert_eq!(seen_h, N);
}

/// A task spawned in the invocation's scope that records after the handler returned:
/// the metric is refused (`AfterInvocation`) with the usual WARN line, a new subsegment
/// is not recorded (one WARN line); nothing lost silently.
#[test]
fn recording_after_the_handler_returned_warns() {
    let h = h();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<(bool, bool)>();
    let rx = Arc::new(std::sync::Mutex::new(Some((rx, done_tx))));
    let mut svc = h_service(&h, move |_e: LambdaEvent<Value>| {
        let rx = rx.clone();
        async move {
            let (rx, done) = rx.lock().unwrap().take().unwrap();
            let inv = Invocation::current().unwrap();
            tokio::spawn(
                inv.scope(async move {
                    rx.await.unwrap();
                    let refused = matches!(
                        metrics::try_add("Late", Unit::Count, 1.0),
                        Err(streamer_obs::metrics::MetricsError::AfterInvocation { .. })
                    );
                    let added = metrics::add("Late2", Unit::Count, 1.0);
                    drop(streamer_obs::xray::subsegment("LateSub"));
                    drop(streamer_obs::xray::subsegment("LateSub2"));
                    let _ = done.send((refused, added));
                })
                .with_current_subscriber(),
            );
            Ok::<_, std::io::Error>(json!(1))
        }
    });
    block_on_with(&h.dispatch, async move {
        svc.ready().await.unwrap().call(ev(json!({}), "late")).await.unwrap();
        tx.send(()).unwrap();
        let (refused, added) = done_rx.await.unwrap();
        assert!(refused, "try_add after the handler returned is refused");
        assert!(!added);
    });
    let warns = h.level("WARN");
    assert!(warns.len() >= 2, "a WARN for the metric and one for the subsegment: {:?}", h.log.lines());
    assert!(h.handler_docs("LateSub").is_empty());
    assert_eq!(h.emf_docs().iter().filter(|d| d.get("Late").is_some() || d.get("Late2").is_some()).count(), 0);
    let sub_warns = warns.iter().filter(|w| w.to_string().contains("subsegment")).count();
    assert_eq!(sub_warns, 1, "one WARN per invocation for late subsegments: {warns:?}");
}

// ---------------------------------------------------------------------------------------
// Re-entrancy
// ---------------------------------------------------------------------------------------

#[test]
fn nested_lifecycles_keep_their_own_invocation() {
    let h = h();
    let inner_tel = h.telemetry.clone();
    let svc = layer_with(&h, HandlerOptions::new("Outer")).layer(service_fn(move |_e: LambdaEvent<Value>| {
        let inner_tel = inner_tel.clone();
        async move {
            streamer_obs::invocation::append_field("user_id", "outer-user");
            metrics::add("OuterBefore", Unit::Count, 1.0);
            let ctx = ContextBuilder::new().request_id("inner").trace_header(header(2)).build();
            let scope = HandlerScope::with_telemetry(
                inner_tel,
                HandlerOptions::new("Inner"),
                &ctx,
                tracing::info_span!("inner"),
            );
            let inner = scope
                .run(
                    async {
                        streamer_obs::invocation::append_field("user_id", "inner-user");
                        metrics::add("InnerM", Unit::Count, 1.0);
                        tracing::info!("in inner");
                        tokio::task::yield_now().await;
                        Err::<u8, _>(std::io::Error::other("inner failed"))
                    },
                    ErrorView::from_error,
                    |_| None,
                )
                .await;
            tracing::info!("after inner");
            metrics::add("OuterAfter", Unit::Count, 1.0);
            Ok::<_, std::io::Error>(json!({"inner_err": inner.is_err()}))
        }
    }));
    let out = call_once(&h.dispatch, svc, ev(json!({}), "outer"));
    assert_eq!(out.unwrap()["inner_err"], true);
    let inner_line = &h.with_message("in inner")[0];
    assert_eq!(inner_line["function_request_id"], "inner");
    assert_eq!(inner_line["user_id"], "inner-user");
    let after = &h.with_message("after inner")[0];
    assert_eq!(after["function_request_id"], "outer");
    assert_eq!(after["user_id"], "outer-user");
    let errors = h.level("ERROR");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["function_request_id"], "inner");
    // Metrics: one document per invocation, nothing crossing.
    let outer_docs: Vec<_> =
        h.emf_docs().into_iter().filter(|d| d.get("OuterBefore").is_some() || d.get("OuterAfter").is_some()).collect();
    assert_eq!(outer_docs.len(), 1, "{:?}", h.emf.lines());
    assert!(outer_docs[0].get("OuterAfter").is_some() && outer_docs[0].get("InnerM").is_none());
    assert_eq!(h.metric_docs("ProcessingLatency").len(), 2);
    assert_eq!(h.handler_docs("Outer").len(), 1);
    let inner = h.handler_docs("Inner");
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0]["fault"], true);
    assert!(h.handler_docs("Outer")[0].get("fault").is_none());
}

#[test]
fn the_same_context_reused_for_two_invocations() {
    let h = h();
    let ctx = ContextBuilder::new().request_id("same").trace_header(HEADER).build();
    let mut svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        metrics::add("Once", Unit::Count, 1.0);
        tracing::info!("body");
        Ok::<_, std::io::Error>(json!(1))
    });
    block_on_with(&h.dispatch, async move {
        svc.ready().await.unwrap().call(LambdaEvent::new(json!({}), ctx.clone())).await.unwrap();
        svc.ready().await.unwrap().call(LambdaEvent::new(json!({}), ctx)).await.unwrap();
    });
    let bodies = h.with_message("body");
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["cold_start"], true);
    assert_eq!(bodies[1]["cold_start"], false);
    assert_eq!(h.metric_docs("Once").len(), 2);
    assert!(h.metric_docs("Once").iter().all(|d| d["Once"] == 1.0), "{:?}", h.emf.lines());
    let docs = h.handler_docs("H");
    assert_eq!(docs.len(), 2);
    assert_ne!(docs[0]["id"], docs[1]["id"]);
}

// ---------------------------------------------------------------------------------------
// Configuration extremes
// ---------------------------------------------------------------------------------------

fn run_err_and_ok(h: &H) {
    let mut svc = h_service(h, |e: LambdaEvent<Value>| async move {
        tracing::debug!(which = e.payload["fail"].as_bool(), "buffered debug");
        metrics::add("M", Unit::Count, 1.0);
        if e.payload["fail"] == true { Err(std::io::Error::other("boom")) } else { Ok(json!(1)) }
    });
    block_on_with(&h.dispatch, async move {
        let ok = svc.ready().await.unwrap().call(ev(json!({"fail": false}), "cfg-ok")).await;
        let err = svc.ready().await.unwrap().call(ev(json!({"fail": true}), "cfg-err")).await;
        assert!(ok.is_ok() && err.is_err());
    });
}

/// [`run_err_and_ok`] with the configuration from `pairs`.
fn err_and_ok_with(pairs: &[(&str, &str)]) -> H {
    let h = h_with(config(pairs));
    run_err_and_ok(&h);
    h
}

#[test]
fn tracing_disabled_sends_nothing_and_still_logs_and_meters() {
    let h = err_and_ok_with(&[("POWERTOOLS_TRACE_DISABLED", "true")]);
    assert!(h.xray.raw().is_empty(), "{:?}", h.xray.raw());
    assert_eq!(h.level("ERROR").len(), 1);
    assert_eq!(h.metric_docs("ProcessingLatency").len(), 2);
}

#[test]
fn metrics_disabled_writes_no_emf() {
    let h = err_and_ok_with(&[("POWERTOOLS_METRICS_DISABLED", "true")]);
    assert!(h.emf.lines().is_empty(), "{:?}", h.emf.lines());
    assert_eq!(h.level("ERROR").len(), 1);
    assert_eq!(h.handler_docs("H").len(), 2);
}

#[test]
fn log_level_error_only_keeps_the_error_line() {
    let h = err_and_ok_with(&[("POWERTOOLS_LOG_LEVEL", "ERROR")]);
    assert!(h.lines().iter().all(|l| l["level"] == "ERROR"), "{:?}", h.log.lines());
    assert_eq!(h.level("ERROR").len(), 1);
    assert_eq!(h.metric_docs("ProcessingLatency").len(), 2);
}

#[test]
fn log_level_trace_is_accepted() {
    let h = err_and_ok_with(&[("POWERTOOLS_LOG_LEVEL", "TRACE")]);
    assert_eq!(h.with_message("buffered debug").len(), 2);
    assert_eq!(h.level("ERROR").len(), 1);
}

#[test]
fn log_level_off_is_handled_without_panic() {
    let h = err_and_ok_with(&[("POWERTOOLS_LOG_LEVEL", "OFF")]);
    // Either honoured (no lines at all) or refused with the documented WARN naming it.
    let lines = h.log.lines();
    eprintln!("{lines:?}");
    assert_eq!(h.metric_docs("ProcessingLatency").len(), 2);
}

#[test]
fn sampling_rate_one_samples_every_invocation() {
    let h = err_and_ok_with(&[("POWERTOOLS_LOGGER_SAMPLE_RATE", "1.0")]);
    let dbg = h.with_message("buffered debug");
    assert_eq!(dbg.len(), 2, "{:?}", h.log.lines());
    for l in h.lines() {
        if l.get("function_request_id").is_some() {
            assert_eq!(l["sampling_rate"], 1.0, "{l}");
        }
    }
}

#[test]
fn log_buffer_written_on_err_dropped_on_ok() {
    let cfg = Config::builder()
        .log_level(LogLevel::Debug)
        .log_buffer(LogBufferConfig::new(LogLevel::Debug))
        .build_from(&EnvVars::from_pairs([("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")]));
    let h = h_with(cfg);
    run_err_and_ok(&h);
    let dbg = h.with_message("buffered debug");
    assert_eq!(dbg.len(), 1, "{:?}", h.log.lines());
    assert_eq!(dbg[0]["function_request_id"], "cfg-err");
    // Written before the ERROR line.
    let lines = h.lines();
    let di = lines.iter().position(|l| l["message"] == "buffered debug").unwrap();
    let ei = lines.iter().position(|l| l["level"] == "ERROR").unwrap();
    assert!(di < ei);
}

#[test]
fn log_event_env_with_secrets_in_the_event() {
    let h = h_with(config(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]));
    let mut svc = h_service(&h, |_e: LambdaEvent<Value>| async { Ok::<_, std::io::Error>(json!(1)) });
    block_on_with(&h.dispatch, async move {
        let payload = json!({
            "headers": {"Authorization": "Bearer s3cr3t-bearer", "X-Custom": JWT},
            "queryStringParameters": {"token": JWT},
            "body": format!("{{\"password\":\"hunter2\",\"note\":\"{JWT}\"}}"),
            "rawQueryString": format!("a=1&access_token={JWT}"),
            "multiValueHeaders": {"authorization": ["Bearer s3cr3t-bearer"]},
        });
        svc.ready().await.unwrap().call(ev(payload, "log-event")).await.unwrap();
    });
    let logged = h.with_message("Incoming event");
    assert_eq!(logged.len(), 1, "{:?}", h.log.lines());
    no_secret(&h.log.contents());
    assert!(!h.log.contents().contains("hunter2"));
}

// ---------------------------------------------------------------------------------------
// Batch 2
// ---------------------------------------------------------------------------------------

/// An event whose `Serialize` panics, with event logging on (the layer serialises the
/// event for `log_event` inside `call`, before the handler runs).
#[derive(Clone)]
struct PanickingEvent;
impl serde::Serialize for PanickingEvent {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("event serialize panicked")
    }
}

#[test]
fn log_event_with_a_panicking_event_serialize_keeps_the_lifecycle() {
    let h = h_with(config(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]));
    let r = catch(|| {
        let svc = h_service(&h, |_e: LambdaEvent<PanickingEvent>| async { Ok::<_, std::io::Error>(json!(1)) });
        let ctx = ContextBuilder::new().request_id("ev-panic").trace_header(HEADER).build();
        call_once(&h.dispatch, svc, LambdaEvent::new(PanickingEvent, ctx))
    });
    eprintln!(
        "outcome: {:?}\nLOG {:?}\nEMF {:?}\nXRAY {:?}",
        r.as_ref().map(|o| o.is_ok()).map_err(|_| "panicked"),
        h.log.lines(),
        h.emf.lines(),
        h.xray.raw()
    );
    // Either the handler ran (the event not logged, a WARN) or the panic took the
    // lifecycle's panic path (ERROR line, fault, flush) before it resumed.
    match r {
        Ok(out) => assert!(out.is_ok()),
        Err(_) => {
            check_one_error_fault(&h, "H");
        }
    }
    assert_latency_once(&h);
    assert_eq!(h.handler_docs("H").len(), 1);
}

/// Invocations built one after another on one thread reuse one allocation: every field
/// fresh (tenant, trace header, correlation fields, deadline, cold start).
#[test]
fn a_reused_invocation_allocation_starts_fresh() {
    let h = h();
    let mut svc = h_service(&h, |e: LambdaEvent<Value>| async move {
        if e.payload["first"] == true {
            streamer_obs::invocation::append_field("user_id", "first-user");
            metrics::set_property("first_prop", 1);
            metrics::add("FirstOnly", Unit::Count, 1.0);
            let _ = streamer_obs::xray::annotate("first_ann", true);
        }
        tracing::info!("body");
        let inv = Invocation::current().unwrap();
        Ok::<_, std::io::Error>(json!({
            "tenant": inv.tenant_id(),
            "deadline": inv.deadline_ms(),
            "trace": inv.trace_header().is_some(),
            "user": inv.field("user_id"),
        }))
    });
    let out = block_on_with(&h.dispatch, async move {
        let first = ContextBuilder::new()
            .request_id("first")
            .trace_header(HEADER)
            .tenant_id("tenant-a")
            .deadline_ms(T0 + 600_000)
            .build();
        let a = svc.ready().await.unwrap().call(LambdaEvent::new(json!({"first": true}), first)).await.unwrap();
        let second = ContextBuilder::new().request_id("second").build();
        let b = svc.ready().await.unwrap().call(LambdaEvent::new(json!({}), second)).await.unwrap();
        (a, b)
    });
    assert_eq!(out.0["tenant"], "tenant-a");
    assert_eq!(out.1, json!({"tenant": null, "deadline": 0, "trace": false, "user": null}));
    let bodies = h.with_message("body");
    assert_eq!(bodies[1]["function_request_id"], "second");
    for k in ["user_id", "tenant_id", "xray_trace_id"] {
        assert!(bodies[1].get(k).is_none(), "{k} leaked into the second invocation: {}", bodies[1]);
    }
    assert_eq!(bodies[1]["cold_start"], false);
    let second_docs: Vec<_> = h.emf_docs().into_iter().filter(|d| d.get("FirstOnly").is_none()).collect();
    assert_eq!(second_docs.len(), 1, "{:?}", h.emf.lines());
    assert!(second_docs[0].get("first_prop").is_none(), "{}", second_docs[0]);
    // The second invocation has no trace header: nothing sent for it.
    assert_eq!(h.handler_docs("H").len(), 1);
}

/// A nested lifecycle built from the same `Context` as the outer one.
#[test]
fn nested_lifecycle_with_the_same_context() {
    let h = h();
    let inner_tel = h.telemetry.clone();
    let svc = layer_with(&h, HandlerOptions::new("Outer")).layer(service_fn(move |e: LambdaEvent<Value>| {
        let inner_tel = inner_tel.clone();
        async move {
            let scope = HandlerScope::with_telemetry(
                inner_tel,
                HandlerOptions::new("Inner"),
                &e.context,
                tracing::info_span!("inner"),
            );
            scope
                .run(
                    async { Ok::<_, std::io::Error>(metrics::add("InnerM", Unit::Count, 1.0)) },
                    ErrorView::from_error,
                    |_| None,
                )
                .await?;
            let recorded = metrics::try_add("OuterAfter", Unit::Count, 1.0);
            tracing::info!(ok = recorded.is_ok(), "after inner");
            Ok::<_, std::io::Error>(json!(recorded.is_ok()))
        }
    }));
    let out = call_once(&h.dispatch, svc, ev(json!({}), "same-nested"));
    assert_eq!(out.unwrap(), true, "the outer invocation still records after the inner finished: {:?}", h.log.lines());
    assert_eq!(h.metric_docs("OuterAfter").len(), 1);
    assert_eq!(h.metric_docs("InnerM").len(), 1);
    assert_eq!(h.handler_docs("Outer").len(), 1);
    assert_eq!(h.handler_docs("Inner").len(), 1);
}

/// A subsegment moved into a spawned task, still open when the handler returns: one WARN
/// line at the last flush, and it is sent when it closes.
#[test]
fn an_open_subsegment_moved_into_a_task_is_sent_when_it_closes() {
    let h = h();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = Arc::new(std::sync::Mutex::new(Some(rx)));
    let mut svc = h_service(&h, move |_e: LambdaEvent<Value>| {
        let rx = rx.clone();
        async move {
            let rx = rx.lock().unwrap().take().unwrap();
            let sub = streamer_obs::xray::subsegment("Background");
            let inv = Invocation::current().unwrap();
            tokio::spawn(
                inv.scope(async move {
                    rx.await.unwrap();
                    drop(sub);
                })
                .with_current_subscriber(),
            );
            Ok::<_, std::io::Error>(json!(1))
        }
    });
    block_on_with(&h.dispatch, async move {
        svc.ready().await.unwrap().call(ev(json!({}), "bg")).await.unwrap();
        tx.send(()).unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    });
    let warns = h.level("WARN");
    assert_eq!(warns.len(), 1, "{:?}", h.log.lines());
    assert_eq!(h.handler_docs("H").len(), 1);
    assert_eq!(h.handler_docs("Background").len(), 1, "{:?}", h.xray.raw());
}

#[test]
fn panic_with_secrets_and_huge_payload() {
    let h = h();
    let r = catch(|| {
        via_h(
            &h,
            |_| async {
                let msg = format!("bad token {JWT} Authorization: Bearer s3cr3t-bearer {}", "p".repeat(1024 * 1024));
                std::panic::panic_any(msg) as Result<Value, std::io::Error>
            },
            "p-big",
        )
    });
    assert!(r.unwrap_err().downcast_ref::<String>().unwrap().len() > 1024 * 1024);
    for l in h.log.lines() {
        assert!(l.len() <= 256 * 1024);
    }
    check_one_error_fault(&h, "H");
    no_secret(&h.log.contents());
}

#[test]
fn guard_fires_then_handler_panics() {
    let h = h();
    let r = catch(|| {
        let svc = h_service(&h, |_e: LambdaEvent<Value>| async {
            metrics::add("Early", Unit::Count, 1.0);
            tokio::time::sleep(Duration::from_millis(30)).await;
            panic!("late panic");
            #[allow(unreachable_code)]
            Ok::<u8, std::io::Error>(1)
        });
        call_once(&h.dispatch, svc, dl_ev("dl-panic", T0 + 10))
    });
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"late panic"));
    assert_eq!(h.with_message("about to time out").len(), 1);
    check_one_error_fault(&h, "H");
    assert_eq!(h.metric_docs("Early").len(), 1);
}

/// The run future dropped after the runtime is gone (sync EMF and a capturing emitter):
/// the cancellation flushes in place.
#[test]
#[allow(clippy::async_yields_async)] // the run future is returned to be dropped outside the runtime
fn cancellation_outside_the_runtime_flushes_in_place() {
    let h = h();
    let runtime = rt();
    let mut svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        metrics::add("Before", Unit::Count, 1.0);
        std::future::pending::<()>().await;
        Ok::<Value, std::io::Error>(json!(1))
    });
    let fut = runtime.block_on(
        async move {
            let mut fut = svc.ready().await.unwrap().call(dl_ev("outside", T0 + 600_000));
            assert!(poll_once(fut.as_mut()).await.is_pending());
            fut
        }
        .with_subscriber(h.dispatch.clone()),
    );
    drop(runtime);
    let r = catch(|| tracing::dispatcher::with_default(&h.dispatch, || drop(fut)));
    assert!(r.is_ok(), "no panic on a drop outside the runtime");
    assert_eq!(h.with_message("handler cancelled").len(), 1, "{:?}", h.log.lines());
    assert_eq!(h.metric_docs("Before").len(), 1);
    assert_latency_once(&h);
    assert_eq!(h.handler_docs("H").len(), 1);
}

fn buffered() -> H {
    h_with(
        Config::builder()
            .log_level(LogLevel::Debug)
            .log_buffer(LogBufferConfig::new(LogLevel::Debug))
            .build_from(&EnvVars::from_pairs([("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")])),
    )
}

#[test]
fn log_buffer_written_on_panic_and_on_cancellation() {
    let h = buffered();
    let r = catch(|| {
        via_h(
            &h,
            |_| async {
                tracing::debug!("buffered before panic");
                panic!("boom") as Result<Value, std::io::Error>
            },
            "buf-panic",
        )
    });
    assert!(r.is_err());
    let lines = h.lines();
    let di = lines.iter().position(|l| l["message"] == "buffered before panic").expect("buffer written on panic");
    let ei = lines.iter().position(|l| l["level"] == "ERROR").unwrap();
    assert!(di < ei);

    let h = buffered();
    poll_then_drop(&h, "buf-cancel", 1, |_| async {
        tracing::debug!("buffered before cancel");
        std::future::pending::<()>().await;
        Ok(json!(1))
    });
    assert_eq!(h.with_message("buffered before cancel").len(), 1, "{:?}", h.log.lines());
    assert_eq!(h.with_message("handler cancelled").len(), 1);
}

/// An emitter that only sends at `flush`, and a publisher that publishes asynchronously.
#[derive(Debug, Default, Clone)]
struct Queueing {
    queued: Arc<std::sync::Mutex<Vec<String>>>,
    sent: Arc<std::sync::Mutex<Vec<String>>>,
}

impl streamer_obs::xray::emitter::SegmentEmitter for Queueing {
    fn emit(
        &self,
        doc: &streamer_obs::xray::document::SegmentDocument<'_>,
    ) -> Result<(), streamer_obs::xray::emitter::EmitError> {
        self.queued.lock().unwrap().push(doc.to_json());
        Ok(())
    }
    fn flush(&self) -> streamer_obs::xray::emitter::FlushFuture<'_> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            let q = std::mem::take(&mut *self.queued.lock().unwrap());
            self.sent.lock().unwrap().extend(q);
        })
    }
}

#[async_trait::async_trait]
impl streamer_obs::metrics::MetricsPublisher for Queueing {
    async fn publish(
        &self,
        set: &streamer_obs::metrics::MetricSet,
        _now_ms: u64,
    ) -> streamer_obs::metrics::PublishReport {
        tokio::task::yield_now().await;
        self.sent.lock().unwrap().push(format!("metrics {}", set.len()));
        streamer_obs::metrics::PublishReport { sent: set.len(), lost: 0 }
    }
}

/// Telemetry publishing to and emitting through one [`Queueing`].
fn queueing_telemetry() -> (Telemetry, Queueing, tracing::Dispatch, CapturingWriter) {
    let q = Queueing::default();
    let cfg = config(&[]);
    let (dispatch, log, clock) = capture(&cfg);
    let telemetry = Telemetry::builder(cfg)
        .clock(clock)
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .metrics_publisher(Arc::new(q.clone()))
        .emitter(Arc::new(q.clone()))
        .build();
    (telemetry, q, dispatch, log)
}

/// The datums the [`Queueing`] publisher was sent, over all its `metrics N` entries.
fn datums(sent: &[String]) -> usize {
    sent.iter().filter(|s| s.starts_with("metrics")).map(|s| s["metrics ".len()..].parse::<usize>().unwrap()).sum()
}

/// With an asynchronous publisher and a queueing emitter, the Err and the panic reach the
/// caller only after both flushed.
#[test]
fn async_flush_precedes_err_and_panic() {
    for panic in [false, true] {
        let (telemetry, q, dispatch, _log) = queueing_telemetry();
        let sent = q.sent.clone();
        let mut svc =
            io_layer(telemetry, HandlerOptions::new("H")).layer(service_fn(move |_e: LambdaEvent<Value>| async move {
                metrics::add("M", Unit::Count, 1.0);
                if panic {
                    panic!("p");
                }
                Err::<Value, _>(std::io::Error::other("e"))
            }));
        let seen = block_on_with(&dispatch, async move {
            let fut = svc.ready().await.unwrap().call(ev(json!({}), "async-flush"));
            let r = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
            assert!(r.is_err() == panic);
            sent.lock().unwrap().clone()
        });
        assert_eq!(seen.len(), 2, "panic={panic}: {seen:?}");
        assert!(seen[0].starts_with("metrics"), "{seen:?}");
        assert!(seen[1].contains("\"fault\":true"), "{seen:?}");
    }
}

#[test]
fn concurrent_first_invocations_have_exactly_one_cold_start() {
    const N: u32 = 32;
    let h = h();
    let svc = h_service(&h, |_e: LambdaEvent<Value>| async move {
        tokio::task::yield_now().await;
        tracing::info!("cold?");
        Ok::<_, std::io::Error>(json!(Invocation::current().unwrap().cold_start()))
    });
    let barrier = Arc::new(tokio::sync::Barrier::new(N as usize));
    let colds: Vec<bool> = concurrently(&h, N, svc, |i, mut svc| {
        let b = barrier.clone();
        async move {
            b.wait().await;
            let ctx = ContextBuilder::new().request_id(format!("c{i}")).trace_header(header(i)).build();
            svc.ready().await.unwrap().call(LambdaEvent::new(json!({}), ctx)).await.unwrap().as_bool().unwrap()
        }
    });
    assert_eq!(colds.iter().filter(|c| **c).count(), 1);
    let docs = h.handler_docs("H");
    assert_eq!(docs.len(), N as usize);
    assert_eq!(docs.iter().filter(|d| d["annotations"]["ColdStart"] == true).count(), 1);
}

// ---------------------------------------------------------------------------------------
// Batch 3
// ---------------------------------------------------------------------------------------

/// aws-rules X-16: a throttle is recorded with `throttle` and `error`.
#[test]
fn throttle_mapping_sets_throttle_and_error() {
    let h = h();
    let svc = layer_with(&h, HandlerOptions::new("H").error_class(|_| streamer_obs::handler::ErrorClass::Throttle))
        .layer(service_fn(|_e: LambdaEvent<Value>| async { Err::<Value, _>(std::io::Error::other("slow down")) }));
    let out = call_once(&h.dispatch, svc, ev(json!({}), "thr"));
    assert!(out.is_err());
    let d = &h.handler_docs("H")[0];
    assert_eq!(d["throttle"], true, "{d}");
    assert_eq!(d["error"], true, "{d}");
    assert!(d.get("fault").is_none(), "{d}");
    assert_eq!(h.level("ERROR").len(), 1);
}

/// A panicking error classifier: the error is still recorded (as a fault), returned
/// unchanged, and everything flushed.
#[test]
fn a_panicking_error_classifier_is_a_fault() {
    let h = h();
    let svc = layer_with(&h, HandlerOptions::new("H").error_class(|_| panic!("classifier panicked")))
        .layer(service_fn(|_e: LambdaEvent<Value>| async { Err::<Value, _>(std::io::Error::other("e1")) }));
    let out = call_once(&h.dispatch, svc, ev(json!({}), "cls-panic"));
    assert_eq!(out.unwrap_err().to_string(), "e1");
    check_one_error_fault(&h, "H");
}

/// The guard fires (its flush publishes the `ColdStart` metric), then the handler
/// finishes: the `ColdStart` metric is written once (README: own document, never 0).
#[test]
fn cold_start_metric_once_across_the_guard_and_the_final_flush() {
    let h = h();
    let svc = layer_with(&h, HandlerOptions::new("H").cold_start_metric(true)).layer(service_fn(
        |_e: LambdaEvent<Value>| async {
            metrics::add("Early", Unit::Count, 1.0);
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok::<_, std::io::Error>(json!(1))
        },
    ));
    let out = call_once(&h.dispatch, svc, dl_ev("dl-cold", T0 + 10));
    assert!(out.is_ok());
    assert_eq!(h.with_message("about to time out").len(), 1);
    let cold = h.metric_docs("ColdStart");
    assert_eq!(cold.len(), 1, "ColdStart written {} times: {:?}", cold.len(), h.emf.lines());
}

/// Same, with the run future dropped after the guard fired.
#[test]
fn cold_start_metric_once_across_the_guard_and_a_cancellation() {
    let h = h();
    let log = h.log.clone();
    let mut svc = layer_with(&h, HandlerOptions::new("H").cold_start_metric(true)).layer(service_fn(
        |_e: LambdaEvent<Value>| async {
            std::future::pending::<()>().await;
            Ok::<_, std::io::Error>(json!(1))
        },
    ));
    block_on_with(&h.dispatch, async move {
        let mut fut = svc.ready().await.unwrap().call(dl_ev("dl-cold-c", T0));
        if poll_until_guard(fut.as_mut(), &log).await {
            // Let the deadline flush run, then cancel.
            assert!(poll_once(fut.as_mut()).await.is_pending());
        }
        drop(fut);
    });
    assert_eq!(h.with_message("handler cancelled").len(), 1);
    let cold = h.metric_docs("ColdStart");
    assert_eq!(cold.len(), 1, "ColdStart written {} times: {:?}", cold.len(), h.emf.lines());
}

/// The same metric recorded before and after the guard: every value written once.
#[test]
fn a_metric_recorded_around_the_guard_is_written_once_per_value() {
    let h = h();
    let svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        metrics::add("M", Unit::Count, 1.0);
        tokio::time::sleep(Duration::from_millis(30)).await;
        metrics::add("M", Unit::Count, 2.0);
        Ok::<_, std::io::Error>(json!(1))
    });
    let out = call_once(&h.dispatch, svc, dl_ev("dl-vals", T0 + 10));
    assert!(out.is_ok());
    let mut values = Vec::new();
    for d in h.metric_docs("M") {
        match &d["M"] {
            Value::Array(a) => values.extend(a.iter().map(|v| v.as_f64().unwrap())),
            v => values.push(v.as_f64().unwrap()),
        }
    }
    values.sort_by(f64::total_cmp);
    assert_eq!(values, [1.0, 2.0], "{:?}", h.emf.lines());
}

/// The guard fires, its asynchronous flush is still running (a publisher and an emitter
/// that await), and the run future is dropped: each subsegment complete once, never an
/// `in_progress` document after its complete one, each metric value once.
#[test]
fn guard_then_cancel_during_an_async_deadline_flush() {
    let (telemetry, q, dispatch, log) = queueing_telemetry();
    let mut svc = io_layer(telemetry, HandlerOptions::new("H")).layer(service_fn(|_e: LambdaEvent<Value>| async {
        metrics::add("Early", Unit::Count, 1.0);
        drop(streamer_obs::xray::subsegment("Closed"));
        let _open = streamer_obs::xray::subsegment("Open");
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(json!(1))
    }));
    let log2 = log.clone();
    block_on_with(&dispatch, async move {
        let mut fut = svc.ready().await.unwrap().call(dl_ev("dl-async", T0));
        if poll_until_guard(fut.as_mut(), &log2).await {
            // One more poll: the deadline flush starts and waits.
            assert!(poll_once(fut.as_mut()).await.is_pending());
        }
        drop(fut);
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    });
    let sent = q.sent.lock().unwrap().clone();
    eprintln!("{sent:#?}\n{:?}", log.lines());
    // Early once and the latency once: two datums in all, however batched.
    assert_eq!(datums(&sent), 2, "{sent:?}");
    let completed = completes(&sent);
    assert_eq!(completed.len(), 3, "H, Closed, Open complete: {sent:?}");
    assert!(completed.values().all(|(_, n)| *n == 1), "{sent:?}");
}

/// The TimedOut annotation and the deadline WARN carry the invocation's keys; the log
/// buffer is written at the guard.
#[test]
fn guard_writes_the_log_buffer_and_warns_with_the_invocation_keys() {
    let h = buffered();
    let svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        tracing::debug!("held before the guard");
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok::<_, std::io::Error>(json!(1))
    });
    let out = call_once(&h.dispatch, svc, dl_ev("dl-buf", T0 + 10));
    assert!(out.is_ok());
    let w = h.with_message("about to time out");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0]["function_request_id"], "dl-buf");
    assert_eq!(h.with_message("held before the guard").len(), 1, "{:?}", h.log.lines());
}

// ---------------------------------------------------------------------------------------
// Batch 4
// ---------------------------------------------------------------------------------------

/// Every X-Ray document well-formed (X-Ray schema basics the lifecycle relies on).
fn xray_valid(h: &H) {
    for raw in h.xray.raw() {
        assert!(raw.len() <= 64 * 1024);
        let d: Value = serde_json::from_str(&raw).unwrap();
        let mut segs = Vec::new();
        walk(&d, &mut segs);
        for (_, id, ip, v) in segs {
            assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "{v}");
            assert!(v["start_time"].as_f64().is_some(), "{v}");
            if !ip {
                assert!(v["end_time"].as_f64().unwrap() >= v["start_time"].as_f64().unwrap(), "{v}");
            }
            if let Some(c) = v.get("cause") {
                assert!(
                    c.is_string()
                        || c["exceptions"]
                            .as_array()
                            .is_some_and(|e| e.iter().all(|x| x["id"].as_str().is_some_and(|i| i.len() == 16))),
                    "{v}"
                );
            }
        }
        assert!(
            d["trace_id"].as_str().is_some() && d["type"] == "subsegment" && d["parent_id"].as_str().is_some(),
            "{d}"
        );
    }
}

#[test]
fn documents_of_every_outcome_are_valid() {
    let h = h();
    let _ = via_layer(
        &h,
        "H",
        ErrorView::from_error::<Cyclic>,
        |_e: LambdaEvent<Value>| async { Err::<Value, _>(Cyclic) },
        ev(json!({}), "v1"),
    );
    let _ = catch(|| via_h(&h, |_| async { std::panic::panic_any(()) as Result<Value, std::io::Error> }, "v2"));
    let _ = via_h(&h, |_| async { Ok(json!({"n": f64::NAN.to_string()})) }, "v3");
    xray_valid(&h);
    for d in h.emf_docs() {
        emf_valid(&d);
    }
    assert_eq!(h.metric_docs("ProcessingLatency").len(), 3);
    assert_eq!(h.handler_docs("H").len(), 3);
}

/// Event logging with extreme events: a JWT as an object key, 300 KB, 1,000 levels deep.
#[test]
fn log_event_with_extreme_events() {
    let h = h_with(config(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]));
    let mut deep = json!(1);
    for _ in 0..1000 {
        deep = json!({"d": deep});
    }
    let events = vec![
        json!({ JWT: "value", "nested": {"Cookie": "session=abc", "x-api-key": "k-123"} }),
        json!({"body": "b".repeat(300 * 1024)}),
        deep,
    ];
    let mut svc = h_service(&h, |_e: LambdaEvent<Value>| async { Ok::<_, std::io::Error>(json!(1)) });
    block_on_with(&h.dispatch, async move {
        for (i, e) in events.into_iter().enumerate() {
            svc.ready().await.unwrap().call(ev(e, &format!("ev{i}"))).await.unwrap();
        }
    });
    let logged = h.with_message("Incoming event");
    assert_eq!(logged.len(), 3, "{:?}", h.log.lines());
    no_secret(&h.log.contents());
    assert!(!h.log.contents().contains("session=abc"));
    assert!(!h.log.contents().contains("k-123"));
    for l in h.log.lines() {
        assert!(l.len() <= 256 * 1024);
    }
    assert!(logged[2].to_string().contains("[too deep]"));
}

/// Log buffering under concurrent invocations: only the failing invocation's buffered
/// records are written, each with its own request id.
#[test]
fn concurrent_log_buffers_stay_per_invocation() {
    const N: u32 = 24;
    let h = buffered();
    let svc = h_service(&h, |e: LambdaEvent<Value>| async move {
        let i = e.payload["i"].as_u64().unwrap();
        for k in 0..3 {
            tracing::debug!(i, k, "held");
            tokio::task::yield_now().await;
        }
        if i.is_multiple_of(5) { Err(std::io::Error::other(format!("fail {i}"))) } else { Ok(json!(i)) }
    });
    concurrently(&h, N, svc, |i, mut svc| async move {
        let ctx = ContextBuilder::new().request_id(format!("b{i}")).trace_header(header(i)).build();
        let _ = svc.ready().await.unwrap().call(LambdaEvent::new(json!({"i": i}), ctx)).await;
    });
    let held = h.with_message("held");
    let failing = (0..N).filter(|i| i.is_multiple_of(5)).count();
    assert_eq!(held.len(), failing * 3, "{:?}", h.log.lines());
    for l in held {
        let i = l["i"].as_u64().unwrap();
        assert!(i.is_multiple_of(5));
        assert_eq!(l["function_request_id"], format!("b{i}"));
    }
    assert_eq!(h.level("ERROR").len(), failing);
}

/// A task in the invocation's scope logs after the handler returned, with log buffering
/// on: "its log lines are written as usual" — an ERROR line is written, and a DEBUG line is
/// not held in a buffer nobody will flush.
#[test]
fn late_log_lines_with_buffering_are_not_lost() {
    for fail in [false, true] {
        let h = buffered();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let slot = Arc::new(std::sync::Mutex::new(Some((rx, done_tx))));
        let mut svc = h_service(&h, move |_e: LambdaEvent<Value>| {
            let slot = slot.clone();
            async move {
                let (rx, done) = slot.lock().unwrap().take().unwrap();
                let inv = Invocation::current().unwrap();
                tokio::spawn(
                    inv.scope(async move {
                        rx.await.unwrap();
                        tracing::debug!("late debug");
                        tracing::error!("late error");
                        let _ = done.send(());
                    })
                    .with_current_subscriber(),
                );
                if fail { Err(std::io::Error::other("f")) } else { Ok(json!(1)) }
            }
        });
        block_on_with(&h.dispatch, async move {
            let _ = svc.ready().await.unwrap().call(ev(json!({}), "late-log")).await;
            tx.send(()).unwrap();
            done_rx.await.unwrap();
        });
        eprintln!("fail={fail}: {:?}", h.log.lines());
        let late_error = h.with_message("late error");
        assert_eq!(late_error.len(), 1, "fail={fail}");
        assert_eq!(late_error[0]["function_request_id"], "late-log");
        assert_eq!(
            h.with_message("late debug").len(),
            1,
            "fail={fail}: the late DEBUG line is held in a buffer nobody flushes"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Batch 5: asynchronous flushes and user flushes
// ---------------------------------------------------------------------------------------

/// The run future dropped while its asynchronous final flush is still running: the flush
/// finishes on the runtime, once.
#[test]
fn dropped_during_the_async_final_flush() {
    let (telemetry, q, dispatch, log) = queueing_telemetry();
    let mut svc = io_layer(telemetry, HandlerOptions::new("H")).layer(service_fn(|_e: LambdaEvent<Value>| async {
        metrics::add("M", Unit::Count, 1.0);
        drop(streamer_obs::xray::subsegment("Child"));
        Ok::<_, std::io::Error>(json!(1))
    }));
    block_on_with(&dispatch, async move {
        let mut fut = svc.ready().await.unwrap().call(ev(json!({}), "drop-flush"));
        // First poll: the handler finishes, the flush starts and waits.
        assert!(poll_once(fut.as_mut()).await.is_pending());
        drop(fut);
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    });
    let sent = q.sent.lock().unwrap().clone();
    assert_eq!(datums(&sent), 2, "M and the latency: {sent:?}");
    let c = completes(&sent);
    assert_eq!(c.len(), 2, "{sent:?}");
    assert!(c.values().all(|(_, n)| *n == 1));
    assert!(log.lines().iter().all(|l| !l.contains("\"ERROR\"")), "{:?}", log.lines());
}

/// The guard fires with an asynchronous publisher and a queueing emitter, then the handler
/// finishes: in_progress documents first, every subsegment complete once, each datum once.
#[test]
fn guard_then_finish_with_async_flushes() {
    let (telemetry, q, dispatch, log) = queueing_telemetry();
    let svc = io_layer(telemetry, HandlerOptions::new("H").cold_start_metric(true)).layer(service_fn(
        |_e: LambdaEvent<Value>| async {
            metrics::add("Early", Unit::Count, 1.0);
            let open = streamer_obs::xray::subsegment("Open");
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(streamer_obs::xray::subsegment("After"));
            drop(open);
            metrics::add("Late", Unit::Count, 1.0);
            Ok::<_, std::io::Error>(json!(1))
        },
    ));
    let out = call_once(&dispatch, svc, dl_ev("dl-async-ok", T0 + 10));
    assert!(out.is_ok());
    let sent = q.sent.lock().unwrap().clone();
    eprintln!("{sent:#?}");
    assert_eq!(log.lines().iter().filter(|l| l.contains("about to time out")).count(), 1);
    assert_eq!(datums(&sent), 4, "ColdStart, Early, Late, latency: {sent:?}");
    assert_eq!(
        completed_names(&sent),
        [("After".to_owned(), 1), ("H".to_owned(), 1), ("Open".to_owned(), 1)],
        "{sent:?}"
    );
    // The in_progress copies were sent (by the guard).
    assert!(sent.iter().any(|s| s.contains("\"in_progress\":true")), "{sent:?}");
}

/// The handler flushes X-Ray itself mid-invocation (public `xray::flush` /
/// `xray::flush_in_progress`), then finishes: every subsegment complete exactly once.
#[test]
fn user_flushes_inside_the_handler_do_not_duplicate() {
    let h = h();
    let _ = via_h(
        &h,
        |_| async {
            drop(streamer_obs::xray::subsegment("A"));
            streamer_obs::xray::flush().await;
            let open = streamer_obs::xray::subsegment("Open");
            streamer_obs::xray::flush_in_progress().await;
            drop(streamer_obs::xray::subsegment("B"));
            streamer_obs::xray::flush().await;
            drop(open);
            Ok::<_, std::io::Error>(json!(1))
        },
        "user-flush",
    );
    let raw = h.xray.raw();
    assert_eq!(
        completed_names(&raw),
        [("A".to_owned(), 1), ("B".to_owned(), 1), ("H".to_owned(), 1), ("Open".to_owned(), 1)],
        "{raw:#?}"
    );
    xray_valid(&h);
}

// ---------------------------------------------------------------------------------------
// Batch 6
// ---------------------------------------------------------------------------------------

/// `AWS_XRAY_CONTEXT_MISSING=RUNTIME_ERROR`, invocations without a trace header, run
/// concurrently: one context-missing ERROR line per invocation, with its own keys; a
/// failing invocation adds its one handler ERROR line.
#[test]
fn context_missing_runtime_error_once_per_invocation() {
    const N: u32 = 16;
    let h = h_with(config(&[("AWS_XRAY_CONTEXT_MISSING", "RUNTIME_ERROR")]));
    let svc = h_service(&h, |e: LambdaEvent<Value>| async move {
        let i = e.payload["i"].as_u64().unwrap();
        drop(streamer_obs::xray::subsegment("NoTrace"));
        tokio::task::yield_now().await;
        if i.is_multiple_of(4) { Err(std::io::Error::other("f")) } else { Ok(json!(i)) }
    });
    concurrently(&h, N, svc, |i, mut svc| async move {
        let ctx = ContextBuilder::new().request_id(format!("m{i}")).build();
        let _ = svc.ready().await.unwrap().call(LambdaEvent::new(json!({"i": i}), ctx)).await;
    });
    let mut per: HashMap<String, usize> = HashMap::new();
    for l in h.level("ERROR") {
        let rid = l["function_request_id"].as_str().expect("ERROR lines carry the invocation's keys").to_owned();
        *per.entry(rid).or_default() += 1;
    }
    for i in 0..N {
        let want = if i.is_multiple_of(4) { 2 } else { 1 };
        assert_eq!(per.get(&format!("m{i}")), Some(&want), "m{i}: {:?}", h.log.lines());
    }
    assert!(h.xray.raw().is_empty());
    assert_eq!(h.metric_docs("ProcessingLatency").len(), N as usize);
}

/// What the handler's values record while they are dropped by a cancellation (a metric,
/// a subsegment, a line) belongs to the invocation and is flushed with it.
#[test]
fn what_drop_records_during_cancellation_is_flushed() {
    struct RecordsOnDrop;
    impl Drop for RecordsOnDrop {
        fn drop(&mut self) {
            metrics::add("FromDrop", Unit::Count, 1.0);
            drop(streamer_obs::xray::subsegment("DropSub"));
            tracing::info!("dropping");
        }
    }
    let h = h();
    poll_then_drop(&h, "drop-rec", 1, |_| async {
        let _r = RecordsOnDrop;
        std::future::pending::<()>().await;
        Ok(json!(1))
    });
    assert_eq!(h.metric_docs("FromDrop").len(), 1, "{:?}", h.emf.lines());
    assert_eq!(h.handler_docs("DropSub").len(), 1);
    assert_eq!(h.with_message("dropping")[0]["function_request_id"], "drop-rec");
    assert!(
        h.level("WARN").iter().all(|w| w["message"].as_str().unwrap().contains("cancelled")),
        "{:?}",
        h.log.lines()
    );
}

/// Sampling at 1.0: the decision is each invocation's first DEBUG line.
#[test]
fn sampled_invocations_log_the_decision_first() {
    let h = err_and_ok_with(&[("POWERTOOLS_LOGGER_SAMPLE_RATE", "1")]);
    for rid in ["cfg-ok", "cfg-err"] {
        let first_debug = h
            .lines()
            .into_iter()
            .find(|l| l["level"] == "DEBUG" && l["function_request_id"] == rid)
            .expect("a DEBUG line");
        assert_ne!(first_debug["message"], "buffered debug", "the sampling decision comes first: {first_debug}");
    }
}

// ---------------------------------------------------------------------------------------
// Batch 7: executors
// ---------------------------------------------------------------------------------------

/// A handler with a known deadline that waits, driven by an executor without Tokio's
/// timer (a runtime built without `enable_time`, or `futures::executor`): the deadline
/// guard's timer cannot be armed. Whatever the lifecycle does about that, the handler's
/// result must come back and what it recorded must be flushed (never lost to a panic
/// of the lifecycle's own timer).
#[test]
fn deadline_guard_on_a_runtime_without_timers() {
    let h = h();
    let mut svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        metrics::add("Waited", Unit::Count, 1.0);
        tokio::task::yield_now().await;
        Ok::<_, std::io::Error>(json!(1))
    });
    let no_timers = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let r = catch(|| {
        no_timers.block_on(
            async move { svc.ready().await.unwrap().call(dl_ev("no-timer", T0 + 60_000)).await }
                .with_subscriber(h.dispatch.clone()),
        )
    });
    eprintln!("panicked={}\nLOG {:?}\nEMF {:?}\nXRAY {:?}", r.is_err(), h.log.lines(), h.emf.lines(), h.xray.raw());
    assert_eq!(r.expect("the lifecycle does not panic").unwrap(), json!(1));
    assert_eq!(h.metric_docs("Waited").len(), 1);
    assert_eq!(h.handler_docs("H").len(), 1);
}

// ---------------------------------------------------------------------------------------
// Batch 8
// ---------------------------------------------------------------------------------------

/// A deadline already due, but the handler finishes within its first poll: no guard.
#[test]
fn a_due_deadline_with_a_handler_that_never_waits_needs_no_guard() {
    let h = h();
    let svc = h_service(&h, |_e: LambdaEvent<Value>| async { Ok::<_, std::io::Error>(json!(1)) });
    let out = call_once(&h.dispatch, svc, dl_ev("no-wait", T0));
    assert!(out.is_ok());
    assert!(h.level("WARN").is_empty(), "{:?}", h.log.lines());
    assert_eq!(h.handler_docs("H").len(), 1);
    assert!(h.handler_docs("H")[0]["annotations"].get("TimedOut").is_none());
}

/// An invocation still referenced after it finished (a clone kept by the caller) is never
/// reused: it keeps its request id and fields while the next invocation runs.
#[test]
fn a_referenced_invocation_is_not_reused() {
    let h = h();
    let kept: Arc<std::sync::Mutex<Option<Arc<Invocation>>>> = Arc::default();
    let k2 = kept.clone();
    let mut svc = h_service(&h, move |e: LambdaEvent<Value>| {
        let k2 = k2.clone();
        async move {
            if e.payload["keep"] == true {
                streamer_obs::invocation::append_field("user_id", "kept-user");
                *k2.lock().unwrap() = Invocation::current();
            } else {
                streamer_obs::invocation::append_field("user_id", "other-user");
            }
            Ok::<_, std::io::Error>(json!(1))
        }
    });
    block_on_with(&h.dispatch, async move {
        svc.ready().await.unwrap().call(ev(json!({"keep": true}), "kept")).await.unwrap();
        svc.ready().await.unwrap().call(ev(json!({}), "next-1")).await.unwrap();
        svc.ready().await.unwrap().call(ev(json!({}), "next-2")).await.unwrap();
    });
    let inv = kept.lock().unwrap().clone().unwrap();
    assert_eq!(inv.request_id(), "kept");
    assert!(inv.field("user_id").unwrap().contains("kept-user"));
    assert_eq!(h.handler_docs("H").len(), 3);
}

/// The same `Context` used by two invocations running at once in one task.
#[test]
fn the_same_context_for_two_overlapping_invocations() {
    let h = h();
    let ctx = ContextBuilder::new().request_id("twin").trace_header(HEADER).build();
    let svc = h_service(&h, |e: LambdaEvent<Value>| async move {
        let n = e.payload["n"].as_u64().unwrap();
        streamer_obs::invocation::append_field("twin_n", n);
        metrics::set_property("n", n);
        metrics::add("Twin", Unit::Count, n as f64);
        for _ in 0..3 {
            tokio::task::yield_now().await;
            tracing::info!("twin work");
        }
        Ok::<_, std::io::Error>(json!(n))
    });
    let (a, b) = block_on_with(&h.dispatch, async move {
        let (mut s1, mut s2) = (svc.clone(), svc);
        let f1 = s1.call(LambdaEvent::new(json!({"n": 1}), ctx.clone()));
        let f2 = s2.call(LambdaEvent::new(json!({"n": 2}), ctx));
        futures_util::future::join(f1, f2).await
    });
    assert_eq!((a.unwrap(), b.unwrap()), (json!(1), json!(2)));
    for d in h.metric_docs("Twin") {
        assert_eq!(d["Twin"], d["n"], "{d}");
    }
    assert_eq!(h.metric_docs("Twin").len(), 2);
    let lines = h.with_message("twin work");
    assert_eq!(lines.len(), 6);
    assert_eq!(lines.iter().filter(|l| l["twin_n"] == 1).count(), 3, "{lines:?}");
    let docs = h.handler_docs("H");
    assert_eq!(docs.len(), 2);
    assert_ne!(docs[0]["id"], docs[1]["id"]);
}

/// A tree far over 64 KB, split across documents, with the guard firing in the middle
/// (open subsegments sent in progress, then completed): every document within the limit,
/// every subsegment complete exactly once, its parent linked.
#[test]
fn a_split_tree_across_the_guard_is_sent_complete_once() {
    let h = h();
    let svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        let blob = "m".repeat(1024);
        let outer = streamer_obs::xray::subsegment("Outer");
        for i in 0..80 {
            let s = streamer_obs::xray::subsegment(&format!("Before{i}"));
            let _ = s.metadata("blob", &blob);
        }
        let open = streamer_obs::xray::subsegment("OpenAcross");
        let _ = open.metadata("blob", &blob);
        tokio::time::sleep(Duration::from_millis(30)).await;
        for i in 0..80 {
            let s = streamer_obs::xray::subsegment(&format!("After{i}"));
            let _ = s.metadata("blob", &blob);
        }
        drop(open);
        drop(outer);
        Ok::<_, std::io::Error>(json!(1))
    });
    let out = call_once(&h.dispatch, svc, dl_ev("split", T0 + 10));
    assert!(out.is_ok());
    assert_eq!(h.with_message("about to time out").len(), 1);
    let raw = h.xray.raw();
    assert!(raw.len() > 2, "split into several documents: {}", raw.len());
    let c = completes(&raw);
    assert_eq!(c.len(), 1 + 1 + 80 + 1 + 80, "{:?}", c.values().map(|v| &v.0).collect::<Vec<_>>());
    assert!(c.values().all(|(_, n)| *n == 1), "{:?}", c.values().filter(|v| v.1 != 1).collect::<Vec<_>>());
    xray_valid(&h);
    // Every independent document's parent is a sent subsegment or the function segment.
    let ids: std::collections::HashSet<String> = c.keys().cloned().collect();
    for r in &raw {
        let d: Value = serde_json::from_str(r).unwrap();
        let p = d["parent_id"].as_str().unwrap();
        assert!(p == "53995c3f42cd8ad8" || ids.contains(p), "dangling parent {p}");
    }
}

/// A hostile `Context` (what a local emulator or a fuzzer could send): a huge request id
/// with a newline, quotes and a JWT, control characters in the ARN, negative memory, an
/// empty function name, a JWT as tenant id, a 10 KB garbage trace header. The lifecycle
/// neither panics nor writes invalid or secret-bearing lines.
#[test]
fn a_hostile_context_is_survived() {
    let h = h();
    let rid = format!("r\n\"{JWT}\"{}", "x".repeat(300 * 1024));
    let ctx = ContextBuilder::new()
        .request_id(rid.clone())
        .invoked_function_arn("arn:\u{0}\u{7}\u{1b}[31m")
        .memory_mb(-1)
        .function_name("")
        .tenant_id(JWT)
        .trace_header(format!("Root={};Parent=zz;Sampled=1", "g".repeat(10 * 1024)))
        .build();
    let svc = h_service(&h, |_e: LambdaEvent<Value>| async {
        tracing::info!("hostile");
        Err::<Value, _>(std::io::Error::other("nope"))
    });
    let out = call_once(&h.dispatch, svc, LambdaEvent::new(json!({}), ctx));
    assert_eq!(out.unwrap_err().to_string(), "nope");
    let lines = h.lines(); // every line valid JSON
    assert_eq!(h.level("ERROR").len(), 1, "{}", lines.len());
    assert!(!h.log.contents().contains(JWT), "JWT (request id / tenant) leaked into a log line");
    assert_latency_once(&h);
    // README "Log line format": "A line is at most 256 KiB" (the SDK's keys keep their
    // values, so a huge request id cannot be cut: the rules conflict for this input).
    for l in h.log.lines() {
        assert!(l.len() <= 256 * 1024, "line of {} bytes", l.len());
    }
}
