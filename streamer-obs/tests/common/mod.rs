//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use streamer_obs::config::{Config, EnvVars};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::metrics::EmfPublisher;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingEmitter, CapturingWriter, ContextBuilder, FixedClock};
use tracing::Dispatch;

/// 2026-11-26T22:09:48.123Z
pub const T0: u64 = 1_795_730_988_123;
pub const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

pub fn config(pairs: &[(&str, &str)]) -> Config {
    // The once-per-process "X-Ray context missing" line (invocations without a trace
    // header) would land in whichever test of the binary runs first: off unless asked for.
    let quiet = ("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR");
    let asked = pairs.iter().any(|(k, _)| *k == quiet.0);
    Config::builder().build_from(&EnvVars::from_pairs(pairs.iter().copied().chain((!asked).then_some(quiet))))
}

/// A dispatcher writing JSON lines into a capture, with a fixed clock.
pub fn capture(config: &Config) -> (Dispatch, CapturingWriter, FixedClock) {
    let writer = CapturingWriter::new();
    let clock = FixedClock::at_millis(T0);
    let dispatch = Dispatch::new(streamer_obs::log::subscriber(config, writer.clone(), clock.clone()));
    (dispatch, writer, clock)
}

/// The one line `f` logs under the default configuration, raw and parsed (panics unless
/// exactly one line, one JSON object).
pub fn one_line(f: impl FnOnce()) -> (String, serde_json::Value) {
    let (dispatch, writer, _clock) = capture(&config(&[]));
    tracing::dispatcher::with_default(&dispatch, f);
    let lines = writer.lines();
    assert_eq!(lines.len(), 1, "expected one line, got {lines:?}");
    let raw = lines.into_iter().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not a JSON line ({e}): {raw}"));
    assert!(v.is_object(), "not an object: {raw}");
    (raw, v)
}

pub fn invocation(config: &Config, request_id: &str, tracker: &ColdStartTracker) -> Arc<Invocation> {
    let ctx = ContextBuilder::new()
        .request_id(request_id)
        .trace_header(HEADER)
        .function_name("connect")
        .invoked_function_arn("arn:aws:lambda:eu-west-1:123456789012:function:connect")
        .memory_mb(512)
        .build();
    Arc::new(Invocation::from_context(&ctx, config, tracker))
}

/// A telemetry whose every output is captured: the JSON log lines (written through
/// `dispatch`, with the fixed clock at [`T0`]), the EMF documents and the X-Ray documents;
/// a cold-start tracker of its own.
pub struct Captured {
    pub telemetry: Telemetry,
    pub dispatch: Dispatch,
    pub log: CapturingWriter,
    pub emf: CapturingWriter,
    pub xray: CapturingEmitter,
}

pub fn captured(config: Config) -> Captured {
    let (dispatch, log, clock) = capture(&config);
    let (emf, xray) = (CapturingWriter::new(), CapturingEmitter::new());
    let telemetry = Telemetry::builder(config)
        .clock(clock)
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .metrics_publisher(Arc::new(EmfPublisher::new(emf.clone())))
        .emitter(Arc::new(xray.clone()))
        .build();
    Captured { telemetry, dispatch, log, emf, xray }
}

/// The `requestContext` of an API Gateway HTTP API (payload 2.0) event for `method` `path`
/// (`abc123.execute-api.eu-west-1.amazonaws.com`, stage `$default`).
pub fn http_api_request_context(method: &str, path: &str) -> serde_json::Value {
    serde_json::json!({
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        "domainPrefix": "abc123",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "streamer-client/1.4"},
        "requestId": "apigw-request-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "26/Nov/2026:22:09:48 +0000",
        "timeEpoch": 1_795_730_988_123u64
    })
}

/// Every ended subsegment named `name` in `doc` and below it.
pub fn collect_ended(doc: &serde_json::Value, name: &str, out: &mut Vec<serde_json::Value>) {
    if doc["name"] == name && doc.get("in_progress").is_none() {
        out.push(doc.clone());
    }
    for child in doc.get("subsegments").and_then(serde_json::Value::as_array).into_iter().flatten() {
        collect_ended(child, name, out);
    }
}

/// The X-Ray segment document schema of `tests/fixtures`.
pub fn xray_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xray-segment.schema.json"))
        .expect("schema fixture");
    jsonschema::validator_for(&serde_json::from_str(&text).expect("schema JSON")).expect("valid schema")
}

impl Captured {
    /// The ended subsegment named `name` (exactly one) in the documents sent; every
    /// document must be one JSON document valid against [`xray_schema`].
    pub fn subsegment(&self, name: &str) -> serde_json::Value {
        let validator = xray_schema();
        let mut found = Vec::new();
        for raw in self.xray.raw() {
            let doc: serde_json::Value =
                serde_json::from_str(&raw).unwrap_or_else(|e| panic!("invalid X-Ray JSON ({e}): {raw}"));
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "schema errors {errors:?} in {raw}");
            collect_ended(&doc, name, &mut found);
        }
        assert_eq!(found.len(), 1, "one {name} subsegment: {:?}", self.xray.raw());
        found.remove(0)
    }
}

/// A recorder for [`HEADER`] on a capturing emitter, its clock fixed at [`T0`].
pub fn recorder() -> (Arc<streamer_obs::xray::recorder::Recorder>, CapturingEmitter) {
    let header: streamer_obs::trace_header::TraceHeader = HEADER.parse().expect("a valid header");
    let cap = CapturingEmitter::new();
    let rec = Arc::new(streamer_obs::xray::recorder::Recorder::with_clock(
        &header,
        Arc::new(cap.clone()),
        Arc::new(FixedClock::at_millis(T0)),
    ));
    (rec, cap)
}

/// A telemetry with a fresh cold-start tracker, EMF into a capturing writer, and `emitter`.
pub fn telemetry_with_emitter(emitter: Arc<dyn streamer_obs::xray::emitter::SegmentEmitter>) -> Telemetry {
    Telemetry::builder(config(&[]))
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .metrics_publisher(Arc::new(EmfPublisher::new(CapturingWriter::new())))
        .emitter(emitter)
        .build()
}

/// A writer that refuses every write (stdout closed, say).
pub struct BrokenWriter;

impl std::io::Write for BrokenWriter {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("closed"))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs one event through `lambda_http`'s `Adapter` (as `lambda_http::run` does) over
/// `service` under `dispatch`; returns the response as API Gateway receives it.
#[cfg(feature = "http")]
pub fn run_adapter<S, R>(
    dispatch: Dispatch,
    service: S,
    event: lambda_runtime::LambdaEvent<lambda_http::request::LambdaRequest>,
) -> Result<serde_json::Value, String>
where
    S: lambda_http::tower::Service<lambda_http::Request, Response = R, Error = lambda_http::Error> + Send + 'static,
    S::Future: Send + 'static,
    R: lambda_http::IntoResponse + 'static,
{
    use lambda_http::tower::{Service as _, ServiceExt as _};
    use tracing::instrument::WithSubscriber as _;
    let mut adapter: lambda_http::Adapter<'static, R, S> = lambda_http::Adapter::from(service);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(
        async move {
            let response = adapter.ready().await.map_err(|e| e.to_string())?.call(event).await;
            response
                .map_err(|e| e.to_string())
                .and_then(|r| serde_json::to_value(r).map_err(|e| format!("serialize: {e}")))
        }
        .with_subscriber(dispatch),
    )
}
