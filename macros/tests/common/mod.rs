//! Shared helpers for the behaviour tests: a telemetry with a fixed clock, a JSON log
//! capture, a span recorder, and a runner that puts them around a future.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::{Arc, Mutex};

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::metrics::EmfPublisher;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingEmitter, CapturingWriter, ContextBuilder, FixedClock};
use tracing::instrument::WithSubscriber as _;
use tracing::span;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// 2026-11-26T22:09:48.123Z
pub const T0: u64 = 1_795_730_988_123;

pub fn config(pairs: &[(&str, &str)]) -> Config {
    // The once-per-process "X-Ray context missing" line (invocations without a trace
    // header) would land in whichever test of the binary runs first: off unless asked for.
    let quiet = ("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR");
    let asked = pairs.iter().any(|(k, _)| *k == quiet.0);
    Config::builder().build_from(&EnvVars::from_pairs(pairs.iter().copied().chain((!asked).then_some(quiet))))
}

/// The trace header of the test events (sampled, with a Parent).
pub const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// A Lambda event with a test context (request id `req-1`, a sampled trace header).
pub fn event<T>(payload: T) -> LambdaEvent<T> {
    LambdaEvent::new(payload, ContextBuilder::new().request_id("req-1").trace_header(HEADER).build())
}

/// A span seen by the recorder: its name and its parent's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    pub name: String,
    pub parent: Option<String>,
}

/// Records every new span with its parent (the JSON lines carry span fields, not names).
#[derive(Clone, Default)]
pub struct SpanRecorder(Arc<Mutex<Vec<SpanRecord>>>);

impl SpanRecorder {
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.0.lock().unwrap().clone()
    }

    pub fn names(&self) -> Vec<String> {
        self.spans().into_iter().map(|s| s.name).collect()
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for SpanRecorder {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, _id: &span::Id, ctx: Context<'_, S>) {
        let parent = if let Some(id) = attrs.parent() {
            ctx.span(id).map(|s| s.name().to_owned())
        } else if attrs.is_contextual() {
            ctx.lookup_current().map(|s| s.name().to_owned())
        } else {
            None
        };
        self.0.lock().unwrap().push(SpanRecord { name: attrs.metadata().name().to_owned(), parent });
    }
}

/// What a run captured.
pub struct Captured {
    pub lines: Vec<Value>,
    pub spans: SpanRecorder,
    /// X-Ray documents sent (one per datagram).
    pub segments: Vec<Value>,
    /// EMF documents written.
    pub emf: Vec<Value>,
}

impl Captured {
    /// The lines whose `message` is `message`.
    pub fn with_message(&self, message: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["message"] == message).collect()
    }

    /// The one line whose `message` is `message`.
    pub fn line(&self, message: &str) -> &Value {
        let found = self.with_message(message);
        assert_eq!(found.len(), 1, "expected one {message:?} line in {:#?}", self.lines);
        found[0]
    }
}

/// Runs `fut` with a telemetry (fixed clock), a JSON log capture built from `config` and
/// a span recorder, on a current-thread runtime.
pub fn run_with<F: Future>(config: Config, fut: F) -> (F::Output, Captured) {
    let writer = CapturingWriter::new();
    let clock = FixedClock::at_millis(T0);
    let spans = SpanRecorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(streamer_obs::log::layer(&config, writer.clone(), clock.clone()))
        .with(spans.clone());
    let emitter = CapturingEmitter::new();
    let emf = CapturingWriter::new();
    let telemetry = Telemetry::builder(config)
        .clock(clock)
        .emitter(Arc::new(emitter.clone()))
        .metrics_publisher(Arc::new(EmfPublisher::new(emf.clone())))
        .build();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let out = rt.block_on(telemetry.scope(fut).with_subscriber(subscriber));
    (out, Captured { lines: writer.json_lines(), spans, segments: emitter.documents(), emf: emf.json_lines() })
}

/// [`run_with`] and the default configuration.
pub fn run<F: Future>(fut: F) -> (F::Output, Captured) {
    run_with(config(&[]), fut)
}

/// [`run_with`] for sync code: `f` runs inside the runtime (in a telemetry scope).
pub fn run_sync<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    run(async move { f() })
}

/// Catches a panic of a future (what `lambda_runtime` does around a handler).
pub async fn catch<F: Future>(fut: F) -> Result<F::Output, Box<dyn std::any::Any + Send>> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    })
    .await
}
