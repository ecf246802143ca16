//! The invocation lifecycle through `HandlerScope` and through the tower layer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use lambda_runtime::tower::{Layer, Service, ServiceExt};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use streamer_obs::config::Config;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::invocation::ColdStartTracker;
use streamer_obs::layer::ObsLayer;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingWriter, ContextBuilder, FixedClock};
use tracing::instrument::WithSubscriber;

#[derive(Debug, thiserror::Error)]
#[error("failed to save connection")]
struct SaveError(#[source] std::io::Error);

struct Harness {
    telemetry: Telemetry,
    dispatch: tracing::Dispatch,
    writer: CapturingWriter,
    clock: FixedClock,
}

fn harness(config: Config) -> Harness {
    let (dispatch, writer, clock) = capture(&config);
    let telemetry = Telemetry::builder(config)
        .clock(clock.clone())
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .build();
    Harness { telemetry, dispatch, writer, clock }
}

/// Telemetry for `service` whose subsegments are captured (returned with it) and whose EMF
/// lines go to a capture nobody reads.
fn traced_service(service: &str) -> (Telemetry, streamer_obs::testing::CapturingEmitter) {
    let emitter = streamer_obs::testing::CapturingEmitter::new();
    let telemetry = Telemetry::builder(config(&[("POWERTOOLS_SERVICE_NAME", service)]))
        .emitter(Arc::new(emitter.clone()))
        .metrics_publisher(Arc::new(streamer_obs::metrics::EmfPublisher::new(CapturingWriter::new())))
        .build();
    (telemetry, emitter)
}

/// The lifecycle of `options` for `ctx` with explicit telemetry and no span of its own.
fn scope_without_span(telemetry: Telemetry, options: HandlerOptions, ctx: &lambda_runtime::Context) -> HandlerScope {
    HandlerScope::with_telemetry(telemetry, options, ctx, tracing::Span::none())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

fn event(request_id: &str) -> LambdaEvent<Value> {
    let ctx = ContextBuilder::new().request_id(request_id).trace_header(HEADER).build();
    LambdaEvent::new(json!({"requestContext": {"connectionId": "c-1"}, "headers": {"Authorization": "Bearer x"}}), ctx)
}

async fn handle(h: &Harness, event: LambdaEvent<Value>, fail: bool) -> Result<Value, SaveError> {
    let scope = HandlerScope::with_telemetry(
        h.telemetry.clone(),
        HandlerOptions::new("HandleConnect").log_event(true),
        &event.context,
        tracing::info_span!("HandleConnect", route = "$connect"),
    );
    scope.log_event(|| serde_json::to_value(&event.payload).ok());
    scope
        .run(
            async move {
                tracing::info!("inside");
                if fail {
                    Err(SaveError(std::io::Error::other("conditional check failed")))
                } else {
                    Ok(json!({"statusCode": 200}))
                }
            },
            ErrorView::from_error,
            |r| Some(r.clone()),
        )
        .await
}

#[test]
fn ok_path_logs_with_invocation_fields_and_returns_the_value() {
    let h = harness(config(&[]));
    let out = rt().block_on(handle(&h, event("ok-1"), false).with_subscriber(h.dispatch.clone()));
    assert_eq!(out.unwrap(), json!({"statusCode": 200}));
    let lines = h.writer.json_lines();
    let inside = lines.iter().find(|l| l["message"] == "inside").unwrap();
    assert_eq!(inside["function_request_id"], "ok-1");
    assert_eq!(inside["route"], "$connect");
    assert_eq!(inside["cold_start"], true);
    assert!(lines.iter().all(|l| l["level"] != "ERROR"));
    // log_event: the event is logged once, redacted
    let ev = lines.iter().find(|l| l["message"] == "Incoming event").unwrap();
    let logged: Value = serde_json::from_str(ev["event"].as_str().unwrap()).unwrap();
    assert_eq!(logged["headers"]["Authorization"], "[REDACTED]");
    assert_eq!(logged["requestContext"]["connectionId"], "c-1");
}

#[test]
fn err_path_logs_the_chain_and_returns_the_error_unchanged() {
    let h = harness(config(&[]));
    let out = rt().block_on(handle(&h, event("err-1"), true).with_subscriber(h.dispatch.clone()));
    let err = out.unwrap_err();
    assert_eq!(err.to_string(), "failed to save connection");
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "conditional check failed");
    let lines = h.writer.json_lines();
    let errors: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1);
    let e = errors[0];
    assert_eq!(e["error.type"], "lifecycle::SaveError");
    assert_eq!(e["error.message"], "failed to save connection");
    assert_eq!(e["error.sources"], json!(["conditional check failed"]));
    assert_eq!(e["function_request_id"], "err-1");
    assert_eq!(e["handler"], "HandleConnect");
}

#[test]
fn panic_is_logged_then_resumed() {
    let h = harness(config(&[]));
    let ctx_event = event("panic-1");
    let telemetry = h.telemetry.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt().block_on(
            async move {
                let scope = HandlerScope::with_telemetry(
                    telemetry,
                    HandlerOptions::new("HandlePanic"),
                    &ctx_event.context,
                    tracing::info_span!("HandlePanic"),
                );
                scope
                    .run(
                        async {
                            if ctx_event.payload.is_object() {
                                panic!("store exploded");
                            }
                            Ok::<u8, std::io::Error>(1)
                        },
                        ErrorView::from_error,
                        |_| None,
                    )
                    .await
            }
            .with_subscriber(h.dispatch.clone()),
        )
    }));
    let payload = result.expect_err("the panic resumes");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"store exploded"));
    let lines = h.writer.json_lines();
    let e = lines.iter().find(|l| l["level"] == "ERROR").expect("ERROR line before the panic resumed");
    assert_eq!(e["message"], "handler panicked");
    assert_eq!(e["error.message"], "store exploded");
    assert_eq!(e["function_request_id"], "panic-1");
}

#[test]
fn deadline_guard_flushes_before_the_timeout() {
    let h = harness(
        Config::builder()
            .log_level(streamer_obs::config::LogLevel::Debug)
            .log_buffer(streamer_obs::config::LogBufferConfig::new(streamer_obs::config::LogLevel::Debug))
            .build_from(&streamer_obs::config::EnvVars::empty()),
    );
    let deadline = T0 + 120;
    let ctx = ContextBuilder::new().request_id("slow").deadline_ms(deadline).build();
    let telemetry = h.telemetry.clone();
    let out = rt().block_on(
        async move {
            let scope = HandlerScope::with_telemetry(
                telemetry,
                HandlerOptions::new("HandleSlow").deadline_margin(Duration::from_millis(100)),
                &ctx,
                tracing::info_span!("HandleSlow"),
            );
            scope
                .run(
                    async {
                        tracing::debug!("recorded before the timeout");
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        tracing::info!("finished late");
                        Ok::<u8, std::io::Error>(1)
                    },
                    ErrorView::from_error,
                    |_| None,
                )
                .await
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert_eq!(out.unwrap(), 1);
    let messages: Vec<String> =
        h.writer.json_lines().iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect();
    let warn = messages.iter().position(|m| m.contains("about to time out")).expect("deadline WARN");
    let flushed =
        messages.iter().position(|m| m == "recorded before the timeout").expect("buffer flushed by the guard");
    let late = messages.iter().position(|m| m == "finished late").unwrap();
    assert!(warn < late && flushed < late, "{messages:?}");
    let _ = &h.clock;
}

#[test]
fn a_deadline_in_the_past_is_unknown_with_one_warning() {
    let h = harness(config(&[]));
    let telemetry = h.telemetry.clone();
    rt().block_on(
        async move {
            for i in 0..3 {
                // cargo-lambda sends a relative 600000 ms deadline: far in the past as epoch ms.
                let ctx = ContextBuilder::new().request_id(format!("r{i}")).deadline_ms(600_000).build();
                let scope = HandlerScope::with_telemetry(
                    telemetry.clone(),
                    HandlerOptions::new("H"),
                    &ctx,
                    tracing::info_span!("H"),
                );
                scope.run(async { Ok::<u8, std::io::Error>(1) }, ErrorView::from_error, |_| None).await.unwrap();
            }
        }
        .with_subscriber(h.dispatch.clone()),
    );
    let lines = h.writer.json_lines();
    assert_eq!(lines.iter().filter(|l| l["message"].as_str().unwrap().contains("already in the past")).count(), 1);
    assert!(!lines.iter().any(|l| l["message"].as_str().unwrap().contains("about to time out")));
}

/// A deadline in the start's own millisecond (the deadline has millisecond resolution) is
/// due at once, not "in the past": the guard fires, with no emulator warning.
#[test]
fn a_deadline_in_the_current_millisecond_is_due_not_past() {
    #[derive(Debug)]
    struct MicroClock(u64);
    impl streamer_obs::clock::Clock for MicroClock {
        fn now(&self) -> std::time::SystemTime {
            streamer_obs::clock::from_micros(self.0)
        }
    }
    let cfg = config(&[]);
    let (dispatch, writer, _) = capture(&cfg);
    let telemetry = Telemetry::builder(cfg)
        .clock(Arc::new(MicroClock(1_700_000_000_000_700)))
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .build();
    rt().block_on(
        async move {
            let ctx = ContextBuilder::new().request_id("due").deadline_ms(1_700_000_000_000).build();
            let scope =
                HandlerScope::with_telemetry(telemetry, HandlerOptions::new("H"), &ctx, tracing::info_span!("H"));
            scope
                .run(
                    async {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok::<u8, std::io::Error>(1)
                    },
                    ErrorView::from_error,
                    |_| None,
                )
                .await
                .unwrap();
        }
        .with_subscriber(dispatch),
    );
    let lines = writer.json_lines();
    assert!(!lines.iter().any(|l| l["message"].as_str().unwrap().contains("already in the past")), "{lines:#?}");
    assert!(lines.iter().any(|l| l["message"].as_str().unwrap().contains("about to time out")), "{lines:#?}");
}

#[test]
fn tower_layer_runs_the_same_lifecycle() {
    let h = harness(config(&[]));
    async fn handler(event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        tracing::info!("in service");
        if event.payload["fail"] == true {
            Err(Box::new(SaveError(std::io::Error::other("throttled"))))
        } else {
            Ok(json!({"ok": true}))
        }
    }
    let mut svc =
        ObsLayer::new(HandlerOptions::new("LayerHandler")).telemetry(h.telemetry.clone()).layer(service_fn(handler));
    let ok = rt().block_on(
        async {
            let mut ok_event = event("layer-ok");
            ok_event.payload = json!({"fail": false});
            let ok = svc.ready().await.unwrap().call(ok_event).await;
            let mut bad_event = event("layer-err");
            bad_event.payload = json!({"fail": true});
            let bad = svc.ready().await.unwrap().call(bad_event).await;
            (ok, bad)
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert_eq!(ok.0.unwrap(), json!({"ok": true}));
    assert_eq!(ok.1.unwrap_err().to_string(), "failed to save connection");
    let lines = h.writer.json_lines();
    let inside = lines.iter().find(|l| l["message"] == "in service").unwrap();
    assert_eq!(inside["function_request_id"], "layer-ok");
    assert_eq!(inside["handler"], "LayerHandler");
    let e = lines.iter().find(|l| l["level"] == "ERROR").unwrap();
    assert_eq!(e["function_request_id"], "layer-err");
    assert_eq!(e["error.message"], "failed to save connection");
    assert_eq!(e["error.sources"], json!(["throttled"]));
}

/// The inner service's `call` itself (a `service_fn`'s synchronous prelude) runs inside
/// the invocation: its line carries the invocation's keys, and its panic takes the
/// lifecycle's panic path (ERROR line, fault, flush) before it resumes.
#[test]
fn tower_layer_runs_the_inner_call_inside_the_lifecycle() {
    let h = harness(config(&[]));
    let emitter = streamer_obs::testing::CapturingEmitter::new();
    let telemetry = Telemetry::builder(config(&[]))
        .clock(h.clock.clone())
        .emitter(Arc::new(emitter.clone()))
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .build();
    let mut svc = ObsLayer::new(HandlerOptions::new("LayerHandler")).telemetry(telemetry).layer(service_fn(
        |event: LambdaEvent<Value>| {
            tracing::info!("prelude");
            if event.payload["panic"] == true {
                panic!("prelude panicked");
            }
            async { Ok::<Value, lambda_runtime::Error>(json!({"ok": true})) }
        },
    ));
    let panicked = rt().block_on(
        async {
            let mut ok_event = event("layer-prelude");
            ok_event.context.xray_trace_id = Some(HEADER.to_owned());
            assert!(svc.ready().await.unwrap().call(ok_event).await.is_ok());
            let mut bad_event = event("layer-panic");
            bad_event.context.xray_trace_id = Some(HEADER.to_owned());
            bad_event.payload = json!({"panic": true});
            let fut = svc.ready().await.unwrap().call(bad_event);
            futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await
        }
        .with_subscriber(h.dispatch.clone()),
    );
    let payload = panicked.expect_err("the panic resumes");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"prelude panicked"));
    let lines = h.writer.json_lines();
    let prelude: Vec<_> = lines.iter().filter(|l| l["message"] == "prelude").collect();
    assert_eq!(prelude.len(), 2);
    assert_eq!(prelude[0]["function_request_id"], "layer-prelude");
    let error = lines.iter().find(|l| l["level"] == "ERROR").expect("an ERROR line for the panic");
    assert_eq!(error["function_request_id"], "layer-panic");
    let docs = emitter.documents();
    let faulted = docs.iter().find(|d| d["fault"] == true).expect("the panicking invocation's subsegment");
    assert_eq!(faulted["name"], "LayerHandler");
}

/// A handler future cancelled while it runs (its run future dropped) is dropped inside
/// the handler span with its invocation still current, and nothing panics.
#[test]
fn a_cancelled_handler_is_dropped_inside_its_span_and_invocation() {
    /// The current span's name and request id, as seen when dropped.
    type Seen = std::sync::Arc<std::sync::Mutex<Option<(Option<String>, Option<String>)>>>;
    struct SeesContextOnDrop(Seen);
    impl Drop for SeesContextOnDrop {
        fn drop(&mut self) {
            let span = tracing::Span::current().metadata().map(|m| m.name().to_owned());
            let request = streamer_obs::invocation::Invocation::with_current(|i| i.request_id().to_owned());
            *self.0.lock().unwrap() = Some((span, request));
        }
    }
    let h = harness(Config::default());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let guard = SeesContextOnDrop(seen.clone());
    let ctx = ContextBuilder::new().request_id("cancelled").trace_header(HEADER).build();
    let telemetry = h.telemetry.clone();
    let timed_out = rt().block_on(
        async move {
            let scope = HandlerScope::with_telemetry(
                telemetry,
                HandlerOptions::new("HandleForever"),
                &ctx,
                tracing::info_span!("HandleForever"),
            );
            let run = scope.run(
                async move {
                    let _guard = guard;
                    std::future::pending::<Result<u8, std::io::Error>>().await
                },
                ErrorView::from_error,
                |_| None,
            );
            tokio::time::timeout(Duration::from_millis(5), run).await.is_err()
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert!(timed_out);
    let seen = seen.lock().unwrap().clone().expect("the handler future was dropped");
    assert_eq!(seen, (Some("HandleForever".to_owned()), Some("cancelled".to_owned())));
}

/// A clock that moves 1 ms forward at every read.
#[derive(Debug, Default)]
struct TickingClock(std::sync::atomic::AtomicU64);

impl streamer_obs::clock::Clock for TickingClock {
    fn now(&self) -> std::time::SystemTime {
        let ms = T0 + self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::time::UNIX_EPOCH + Duration::from_millis(ms)
    }
}

/// The handler's start and end are each read once: the subsegment's start and end times,
/// the `ProcessingLatency` value and the EMF timestamp agree even when every clock read
/// returns a later time.
#[test]
fn latency_subsegment_times_and_emf_timestamp_come_from_the_same_two_readings() {
    let emitter = streamer_obs::testing::CapturingEmitter::new();
    let emf = CapturingWriter::new();
    let telemetry = Telemetry::builder(Config::default())
        .clock(Arc::new(TickingClock::default()))
        .emitter(Arc::new(emitter.clone()))
        .metrics_publisher(Arc::new(streamer_obs::metrics::EmfPublisher::new(emf.clone())))
        .build();
    let ctx = ContextBuilder::new().request_id("ticking").trace_header(HEADER).build();
    let out = rt().block_on(async move {
        let scope = scope_without_span(telemetry, HandlerOptions::new("HandleTick"), &ctx);
        scope.run(async { Ok::<u8, std::io::Error>(1) }, ErrorView::from_error, |_| None).await
    });
    assert_eq!(out.unwrap(), 1);
    let doc = &emitter.documents()[0];
    let (start, end) = (doc["start_time"].as_f64().unwrap(), doc["end_time"].as_f64().unwrap());
    let line = &emf.json_lines()[0];
    let latency = line["ProcessingLatency"].as_f64().unwrap();
    assert!(end > start);
    // Seconds near 1.8e9 carry about 0.25 µs of float error; a second reading would be 1 ms off.
    assert!(((end - start) * 1000.0 - latency).abs() < 0.1, "{start} {end} {latency}");
    assert_eq!(line["_aws"]["Timestamp"].as_u64().unwrap(), (end * 1000.0).round() as u64);
}

/// The deadline guard is measured from the handler's start and armed when the handler
/// first waits: a handler that finishes within its first poll reads the clock twice (its
/// start and its end) and never arms a timer; one that waits reads it once more, to arm it.
#[test]
fn the_deadline_guard_is_armed_at_the_first_wait() {
    for waits in [false, true] {
        let clock = Arc::new(TickingClock::default());
        let telemetry = Telemetry::builder(Config::default())
            .clock(Arc::clone(&clock) as Arc<dyn streamer_obs::clock::Clock>)
            .emitter(Arc::new(streamer_obs::testing::CapturingEmitter::new()))
            .metrics_publisher(Arc::new(streamer_obs::metrics::EmfPublisher::new(CapturingWriter::new())))
            .build();
        let ctx = ContextBuilder::new().request_id("guarded").deadline_ms(T0 + 60_000).build();
        let out = rt().block_on(async move {
            let scope = scope_without_span(telemetry, HandlerOptions::new("HandleGuarded"), &ctx);
            let body = async move {
                if waits {
                    tokio::task::yield_now().await;
                }
                Ok::<u8, std::io::Error>(1)
            };
            scope.run(body, ErrorView::from_error, |_| None).await
        });
        assert_eq!(out.unwrap(), 1);
        let reads = clock.0.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(reads, if waits { 3 } else { 2 }, "waits: {waits}");
    }
}

/// The latency metric recorded at the end of the handler: published when valid, dropped
/// with exactly one WARN naming it when the name is invalid, neither when metrics are
/// disabled.
#[test]
fn the_latency_metric_is_recorded_or_dropped_with_one_warning() {
    use streamer_obs::metrics::EmfPublisher;
    for (latency, disabled, published, warnings) in [
        ("ProcessingLatency", "false", true, 0),
        ("_aws", "false", false, 1),
        ("_aws", "true", false, 0),
        ("ProcessingLatency", "true", false, 0),
    ] {
        let config = config(&[("POWERTOOLS_METRICS_DISABLED", disabled)]);
        let (dispatch, writer, clock) = capture(&config);
        let emf = CapturingWriter::new();
        let telemetry = Telemetry::builder(config)
            .clock(clock)
            .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
            .metrics_publisher(Arc::new(EmfPublisher::new(emf.clone())))
            .build();
        let ev = event("lat-1");
        let scope = HandlerScope::with_telemetry(
            telemetry,
            HandlerOptions::new("HandleConnect").latency_metric(latency),
            &ev.context,
            tracing::info_span!("HandleConnect"),
        );
        let out = rt().block_on(
            scope
                .run(async { Ok::<_, SaveError>(json!(1)) }, ErrorView::from_error, |r| Some(r.clone()))
                .with_subscriber(dispatch),
        );
        assert_eq!(out.unwrap(), json!(1));
        let docs = emf.json_lines();
        let latency_docs = docs.iter().filter(|d| d.get(latency).is_some()).count();
        assert_eq!(latency_docs, usize::from(published), "{latency} disabled={disabled}: {docs:?}");
        let warned: Vec<_> =
            writer.json_lines().into_iter().filter(|l| l["level"] == "WARN" && l["metric"] == latency).collect();
        assert_eq!(warned.len(), warnings, "{latency} disabled={disabled}: {warned:?}");
    }
}

/// What reached the outside, in order: metric documents and X-Ray documents.
type Sent = Arc<std::sync::Mutex<Vec<String>>>;

/// An emitter that only sends at `flush` (as the X-Ray API emitter batches).
#[derive(Debug, Default)]
struct QueueingEmitter {
    queued: std::sync::Mutex<Vec<String>>,
    sent: Sent,
}

impl streamer_obs::xray::emitter::SegmentEmitter for QueueingEmitter {
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
            let queued = std::mem::take(&mut *self.queued.lock().unwrap());
            self.sent.lock().unwrap().extend(queued.into_iter().map(|doc| format!("segments {doc}")));
        })
    }
}

/// A publisher that only publishes asynchronously (as `PutMetricData`).
#[derive(Debug, Default)]
struct LaterPublisher {
    sent: Sent,
}

#[async_trait::async_trait]
impl streamer_obs::metrics::MetricsPublisher for LaterPublisher {
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

/// Runs one invocation recording one metric and one subsegment through `telemetry`.
fn run_one(telemetry: &Telemetry) -> Value {
    let event = event("r-async");
    let scope = scope_without_span(
        telemetry.clone(),
        HandlerOptions::new("HandleConnect").without_latency_metric(),
        &event.context,
    );
    let run = scope.run(
        async {
            streamer_obs::metrics::add("ConnectionEstablished", streamer_obs::metrics::Unit::Count, 1.0);
            Ok::<_, SaveError>(json!({"statusCode": 200}))
        },
        ErrorView::from_error,
        |r| Some(r.clone()),
    );
    rt().block_on(run).unwrap()
}

fn warm_telemetry(builder: streamer_obs::telemetry::TelemetryBuilder) -> Telemetry {
    let warm = ColdStartTracker::new(&Default::default());
    warm.take();
    builder.cold_start_tracker(Arc::new(warm)).build()
}

/// The flush after the handler is synchronous only when the publisher and the emitter
/// are: an asynchronous one is awaited before the response is returned, metrics first,
/// whichever of the two it is.
#[test]
fn asynchronous_publishers_and_queueing_emitters_are_awaited_before_the_response() {
    // Both asynchronous.
    let sent = Sent::default();
    let telemetry = warm_telemetry(
        Telemetry::builder(config(&[]))
            .emitter(Arc::new(QueueingEmitter { sent: Arc::clone(&sent), ..Default::default() }))
            .metrics_publisher(Arc::new(LaterPublisher { sent: Arc::clone(&sent) })),
    );
    assert_eq!(run_one(&telemetry), json!({"statusCode": 200}));
    let got = sent.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], "metrics 1");
    assert!(got[1].starts_with("segments ") && got[1].contains("\"HandleConnect\""), "{got:?}");

    // Synchronous EMF, a queueing emitter.
    let sent = Sent::default();
    let emf = CapturingWriter::new();
    let telemetry = warm_telemetry(
        Telemetry::builder(config(&[]))
            .emitter(Arc::new(QueueingEmitter { sent: Arc::clone(&sent), ..Default::default() }))
            .metrics_publisher(Arc::new(streamer_obs::metrics::EmfPublisher::new(emf.clone()))),
    );
    run_one(&telemetry);
    assert_eq!(emf.lines().len(), 1);
    assert_eq!(sent.lock().unwrap().len(), 1);

    // An asynchronous publisher, an emitter that sends within `emit`.
    let sent = Sent::default();
    let capture = streamer_obs::testing::CapturingEmitter::new();
    let telemetry = warm_telemetry(
        Telemetry::builder(config(&[]))
            .emitter(Arc::new(capture.clone()))
            .metrics_publisher(Arc::new(LaterPublisher { sent: Arc::clone(&sent) })),
    );
    run_one(&telemetry);
    assert_eq!(*sent.lock().unwrap(), ["metrics 1"]);
    assert_eq!(capture.documents().len(), 1);
}

/// The handler subsegment's `ColdStart` and `Service` annotations come first, before the
/// handler's own, however the handler adds them (all at once, with a refused one, one by
/// one, or none).
#[test]
fn the_known_annotations_come_first() {
    use streamer_obs::__private::annotation_arg;
    for case in 0..4 {
        let (telemetry, emitter) = traced_service("connect");
        let ctx = ContextBuilder::new().request_id("order").trace_header(HEADER).build();
        rt().block_on(async move {
            let scope = scope_without_span(telemetry, HandlerOptions::new("HandleOrder"), &ctx);
            match case {
                0 => scope.annotate_all([("tenant_id", annotation_arg("acme")), ("attempt", annotation_arg(2))]),
                1 => scope
                    .annotate_all([("tenant-id", annotation_arg("refused")), ("tenant_id", annotation_arg("acme"))]),
                2 => scope.annotate("tenant_id", annotation_arg("acme")),
                _ => {}
            }
            scope.run(async { Ok::<u8, std::io::Error>(1) }, ErrorView::from_error, |_| None).await
        })
        .unwrap();
        let raw = emitter.raw().remove(0);
        let at = |key: &str| raw.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} in {raw}"));
        assert!(at("ColdStart") < at("Service"), "{raw}");
        if case < 3 {
            assert!(at("Service") < at("tenant_id"), "case {case}: {raw}");
        }
        assert!(!raw.contains("refused"), "{raw}");
        assert_eq!(raw.matches("\"ColdStart\":").count(), 1, "{raw}");
    }
}

/// The response is captured as metadata `<name> response` in the service's namespace, or in
/// `default` when the service name is a reserved namespace (`AWS.`).
#[test]
fn a_response_is_captured_in_the_service_namespace_or_default() {
    for (service, namespace) in [("connect", "connect"), ("AWS.connect", "default")] {
        let (telemetry, emitter) = traced_service(service);
        let ctx = ContextBuilder::new().request_id("captured").trace_header(HEADER).build();
        let out = rt().block_on(async move {
            let scope = scope_without_span(telemetry, HandlerOptions::new("HandleCapture"), &ctx);
            scope.run(async { Ok::<u8, std::io::Error>(7) }, ErrorView::from_error, |r| Some(json!({ "got": r }))).await
        });
        assert_eq!(out.unwrap(), 7);
        let doc = &emitter.documents()[0];
        assert_eq!(doc["metadata"][namespace]["HandleCapture response"], json!({"got": 7}), "{doc}");
        assert!(doc["end_time"].as_f64().unwrap() >= doc["start_time"].as_f64().unwrap());
    }
}

/// A field whose `Debug` enters the invocation's scope while the line is written (scoped
/// work to render a value) is written like any other.
#[test]
fn a_field_that_enters_the_invocation_scope_while_logged_is_written() {
    struct Reenters(Arc<streamer_obs::invocation::Invocation>);
    impl std::fmt::Debug for Reenters {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let n = Arc::clone(&self.0).sync_scope(|| 7);
            write!(f, "reentered {n}")
        }
    }
    let config = config(&[]);
    let (dispatch, writer, _clock) = capture(&config);
    let tracker = ColdStartTracker::new(&Default::default());
    let inv = invocation(&config, "reenter", &tracker);
    tracing::dispatcher::with_default(&dispatch, || {
        let inner = Arc::clone(&inv);
        Arc::clone(&inv).sync_scope(|| tracing::info!(value = ?Reenters(inner), "line"));
    });
    let lines = writer.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["value"], "reentered 7");
    assert_eq!(lines[0]["function_request_id"], "reenter");
}

/// An annotation of one of the handler subsegment's own keys, put through the recorder
/// before `run`, is kept: the known annotations are written when the scope opens.
#[test]
fn an_annotation_put_before_run_is_kept() {
    let (telemetry, emitter) = traced_service("connect");
    let ctx = ContextBuilder::new().request_id("kept").trace_header(HEADER).build();
    rt().block_on(async move {
        let scope = scope_without_span(telemetry, HandlerOptions::new("HandleKept"), &ctx);
        scope.invocation().xray().annotate("Service", "overridden").unwrap();
        scope.run(async { Ok::<u8, std::io::Error>(1) }, ErrorView::from_error, |_| None).await
    })
    .unwrap();
    let raw = emitter.raw().remove(0);
    assert!(raw.contains("\"Service\":\"overridden\""), "{raw}");
}
