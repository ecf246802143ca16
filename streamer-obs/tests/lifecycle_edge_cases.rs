//! Defects a review of the lifecycle and the CloudWatch side found, each checked on the
//! output:
//! - `raise_on_empty_metrics` wrote "no metrics were recorded" after the deadline guard
//!   had flushed a recorded metric (the set was empty again by then);
//! - with log buffering at WARN, the lifecycle's own "handler cancelled" WARN went into
//!   the buffer after it had been written, and was lost;
//! - with buffering at ERROR (accepted), an `Err` left no ERROR line at all: ERROR lines
//!   are now never buffered;
//! - the lifecycle's `ProcessingLatency` went out only by `[Service, Environment]`, which
//!   the standard latency alarm (by `[Environment]`) never sees: the seed system's
//!   "alarms that never fired";
//! - `PutMetricData` had no timeout: an endpoint that never answers held the flush without
//!   bound and the loss was never reported.

mod common;

use std::future::Future;
#[cfg(feature = "cloudwatch")]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use lambda_runtime::tower::{Layer, Service, ServiceExt};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use streamer_obs::config::{Config, EnvVars, LogBufferConfig, LogLevel};
use streamer_obs::handler::{ErrorView, HandlerOptions};
use streamer_obs::layer::ObsLayer;
use streamer_obs::metrics::{self, Unit};
#[cfg(feature = "cloudwatch")]
use streamer_obs::metrics::{MetricSet, MetricsPublisher, PublishReport};
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

fn block_on_with<F: Future>(dispatch: &tracing::Dispatch, fut: F) -> F::Output {
    rt().block_on(fut.with_subscriber(dispatch.clone()))
}

fn ev(request_id: &str, deadline_ms: u64) -> LambdaEvent<Value> {
    LambdaEvent::new(
        json!({}),
        ContextBuilder::new().request_id(request_id).deadline_ms(deadline_ms).trace_header(HEADER).build(),
    )
}

fn buffered_at(level: LogLevel) -> Captured {
    let cfg = Config::builder()
        .log_level(LogLevel::Debug)
        .log_buffer(LogBufferConfig::new(level))
        .build_from(&EnvVars::from_pairs([("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")]));
    captured(cfg)
}

fn messages(h: &Captured) -> Vec<String> {
    h.log.json_lines().iter().map(|l| l["message"].as_str().unwrap_or("").to_owned()).collect()
}

#[test]
fn raise_on_empty_counts_metrics_the_deadline_guard_flushed() {
    let h = captured(config(&[]));
    let mut svc = ObsLayer::<std::io::Error>::new(HandlerOptions::new("H").raise_on_empty_metrics(true))
        .error_view(ErrorView::from_error)
        .telemetry(h.telemetry.clone())
        .layer(service_fn(|_e: LambdaEvent<Value>| async {
            metrics::add("Recorded", Unit::Count, 1.0);
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok::<_, std::io::Error>(json!(1))
        }));
    // A deadline 10 ms after the fixed clock: the 50 ms margin makes the guard due at once.
    let out = block_on_with(&h.dispatch, async move { svc.ready().await.unwrap().call(ev("r1", T0 + 10)).await });
    assert!(out.is_ok());
    assert!(h.emf.json_lines().iter().any(|d| d.get("Recorded").is_some()));
    let msgs = messages(&h);
    assert!(msgs.iter().any(|m| m.contains("about to time out")), "{msgs:?}");
    assert!(!msgs.iter().any(|m| m.contains("no metrics were recorded")), "{msgs:?}");
}

#[test]
fn raise_on_empty_still_reports_an_invocation_without_metrics() {
    let h = captured(config(&[]));
    let mut svc =
        ObsLayer::<std::io::Error>::new(HandlerOptions::new("H").raise_on_empty_metrics(true).without_latency_metric())
            .error_view(ErrorView::from_error)
            .telemetry(h.telemetry.clone())
            .layer(service_fn(|_e: LambdaEvent<Value>| async { Ok::<_, std::io::Error>(json!(1)) }));
    let out = block_on_with(&h.dispatch, async move { svc.ready().await.unwrap().call(ev("r1", 0)).await });
    assert!(out.is_ok());
    assert_eq!(messages(&h).iter().filter(|m| m.contains("no metrics were recorded")).count(), 1);
}

#[test]
fn the_cancellation_warning_is_written_with_a_warn_level_buffer() {
    let h = buffered_at(LogLevel::Warn);
    let mut svc = ObsLayer::<std::io::Error>::new(HandlerOptions::new("H"))
        .error_view(ErrorView::from_error)
        .telemetry(h.telemetry.clone())
        .layer(service_fn(|_e: LambdaEvent<Value>| async {
            tracing::warn!("before the cancellation");
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, std::io::Error>(json!(1))
        }));
    let out = block_on_with(&h.dispatch, async move {
        let fut = svc.ready().await.unwrap().call(ev("r1", 0));
        tokio::time::timeout(Duration::from_millis(20), fut).await
    });
    assert!(out.is_err());
    let msgs = messages(&h);
    let before = msgs.iter().position(|m| m == "before the cancellation").expect("buffered line written");
    let warning = msgs.iter().position(|m| m.contains("handler cancelled")).expect("cancellation WARN written");
    assert!(before < warning, "{msgs:?}");
}

#[test]
fn error_lines_are_never_buffered() {
    assert_eq!(LogBufferConfig::new(LogLevel::Error).buffer_at(), LogLevel::Warn);
    let h = buffered_at(LogLevel::Error);
    let mut svc = ObsLayer::<std::io::Error>::new(HandlerOptions::new("H"))
        .error_view(ErrorView::from_error)
        .telemetry(h.telemetry.clone())
        .layer(service_fn(|_e: LambdaEvent<Value>| async {
            tracing::warn!("buffered warning");
            Err::<Value, _>(std::io::Error::other("boom"))
        }));
    let out = block_on_with(&h.dispatch, async move { svc.ready().await.unwrap().call(ev("r1", 0)).await });
    assert!(out.is_err());
    let msgs = messages(&h);
    assert!(msgs.iter().any(|m| m == "handler returned an error"), "ERROR line lost: {msgs:?}");
    assert!(msgs.iter().any(|m| m == "buffered warning"), "{msgs:?}");
}

#[cfg(feature = "cloudwatch")]
/// A publisher that keeps every datum `PutMetricData` would send: namespace, metric name,
/// sorted dimensions.
#[derive(Default, Clone)]
struct Datums(Arc<Mutex<Vec<Sent>>>);

/// One datum as sent: namespace, metric name, sorted dimensions.
#[cfg(feature = "cloudwatch")]
type Sent = (String, String, Vec<(String, String)>);

#[cfg(feature = "cloudwatch")]
#[async_trait::async_trait]
impl MetricsPublisher for Datums {
    async fn publish(&self, set: &MetricSet, now_ms: u64) -> PublishReport {
        let planned = streamer_obs::metrics::cloudwatch::datums(set, now_ms);
        let n = planned.len();
        for p in planned {
            let mut dims: Vec<(String, String)> = p
                .datum
                .dimensions()
                .iter()
                .map(|d| (d.name().unwrap().to_owned(), d.value().unwrap().to_owned()))
                .collect();
            dims.sort();
            let name = p.datum.metric_name().unwrap().to_owned();
            self.0.lock().unwrap().push((set.namespace().as_str().to_owned(), name, dims));
        }
        PublishReport { sent: n, lost: 0 }
    }
}

#[cfg(feature = "cloudwatch")]
#[test]
fn the_default_latency_metric_feeds_the_standard_latency_alarm() {
    use streamer_obs::handler::HandlerScope;
    use streamer_obs::metrics::alarm::{AlarmConfig, standard_alarms};
    use streamer_obs::telemetry::Telemetry;
    use streamer_obs::testing::{CapturingEmitter, FixedClock};
    let config = Config::builder().service("connect").environment("prod").build_from(&EnvVars::empty());
    let datums = Datums::default();
    let telemetry = Telemetry::builder(config.clone())
        .clock(FixedClock::at_millis(1_795_730_988_123))
        .emitter(Arc::new(CapturingEmitter::new()))
        .metrics_publisher(Arc::new(datums.clone()))
        .build();
    let ctx = ContextBuilder::new().request_id("r-1").build();
    let out = rt().block_on(async move {
        let scope =
            HandlerScope::with_telemetry(telemetry, HandlerOptions::new("HandleConnect"), &ctx, tracing::Span::none());
        scope.run(async { Ok::<u8, std::io::Error>(1) }, ErrorView::from_error, |_| None).await
    });
    assert_eq!(out.unwrap(), 1);
    let sent = datums.0.lock().unwrap().clone();
    let alarm = standard_alarms(&AlarmConfig::from_config(&config))
        .into_iter()
        .find(|a| a.name.ends_with("high-processing-latency"))
        .unwrap();
    let mut want = alarm.dimensions.clone();
    want.sort();
    let latency: Vec<_> = sent.iter().filter(|(_, m, _)| *m == alarm.metric_name).collect();
    assert!(latency.iter().any(|(ns, _, d)| *ns == alarm.namespace && *d == want), "{want:?} not in {latency:?}");
    // The per-function view stays.
    let by_service = vec![("Environment".to_owned(), "prod".to_owned()), ("Service".to_owned(), "connect".to_owned())];
    assert!(latency.iter().any(|(_, _, d)| *d == by_service), "{latency:?}");
}

#[cfg(feature = "cloudwatch")]
#[test]
fn put_metric_data_to_a_silent_endpoint_ends_and_reports_the_loss() {
    use streamer_obs::metrics::cloudwatch::{CloudWatchPublisher, OPERATION_TIMEOUT};
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (report, lost) = runtime.block_on(async move {
        let sdk = streamer_obs::aws::emulator_config(&format!("http://127.0.0.1:{port}"), "us-east-1").await;
        let publisher = CloudWatchPublisher::new(&sdk);
        let mut set = MetricSet::new(streamer_obs::metrics::Namespace::streamer());
        set.add("Hits", Unit::Count, 1.0).unwrap();
        // Far longer than the publisher's own bound: only a missing bound reaches it.
        let bounded = tokio::time::timeout(OPERATION_TIMEOUT * 6, publisher.publish(&set, 1_795_730_988_123)).await;
        (bounded.expect("PutMetricData to a silent endpoint never ended"), publisher.lost_datums())
    });
    assert_eq!((report.sent, report.lost), (0, 1), "{report:?}");
    assert_eq!(lost, 1);
}
