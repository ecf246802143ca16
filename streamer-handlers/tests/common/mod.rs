//! Shared helpers for the handler tests: WebSocket events, a telemetry with a fixed
//! clock and captures of the log lines, EMF documents and X-Ray documents.
#![allow(dead_code, unreachable_pub)]

pub mod emulator;

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::metrics::EmfPublisher;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingEmitter, CapturingWriter, ContextBuilder, FixedClock};
use tracing::instrument::WithSubscriber as _;

/// 2026-11-26T22:09:48.123Z
pub const T0: u64 = 1_795_730_988_123;

/// An in-memory connection store on the tests' clock (fixed at [`T0`]), as the handlers
/// under test are: on the system clock, a record saved at `T0` expires 24 h after it, and
/// a test run later than that would find it gone.
pub fn memory_store() -> streamer_handlers::store::InMemoryConnectionStore {
    streamer_handlers::store::InMemoryConnectionStore::new().with_clock(Arc::new(FixedClock::at_millis(T0)))
}
/// A sampled trace header with a Parent.
pub const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
/// The connection id of the fixtures.
pub const CONNECTION_ID: &str = "TWegAcC4EowCHnA=";

pub fn config(pairs: &[(&str, &str)]) -> Config {
    Config::builder().build_from(&EnvVars::from_pairs(pairs.iter().copied()))
}

/// The `aws_lambda_events` `$connect` fixture (copied under `tests/fixtures/`).
pub fn connect_request() -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_str(include_str!("../fixtures/example-apigw-websocket-request.json")).expect("fixture")
}

/// The `aws_lambda_events` `$disconnect` fixture.
pub fn disconnect_request() -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_str(include_str!("../fixtures/example-apigw-websocket-request-disconnect-route.json"))
        .expect("fixture")
}

/// `$connect` with `token` in the `Authorization` query parameter.
pub fn connect_with_query_token(token: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut r = connect_request();
    let params: std::collections::HashMap<String, String> =
        [("Authorization".to_owned(), token.to_owned())].into_iter().collect();
    r.query_string_parameters = params.into();
    r
}

pub fn event(payload: ApiGatewayWebsocketProxyRequest) -> LambdaEvent<ApiGatewayWebsocketProxyRequest> {
    LambdaEvent::new(payload, ContextBuilder::new().request_id("req-1").trace_header(HEADER).build())
}

/// What a run captured.
#[derive(Debug)]
pub struct Captured {
    /// Every stdout line (log and EMF) in order, as text.
    pub raw: Vec<String>,
    pub lines: Vec<Value>,
    pub segments: Vec<Value>,
    pub emf: Vec<Value>,
}

impl Captured {
    pub fn line(&self, message: &str) -> &Value {
        let found: Vec<_> = self.lines.iter().filter(|l| l["message"] == message).collect();
        assert_eq!(found.len(), 1, "expected one {message:?} line in {:#?}", self.lines);
        found[0]
    }

    pub fn has_message(&self, message: &str) -> bool {
        self.lines.iter().any(|l| l["message"] == message)
    }

    /// The EMF document holding `metric`.
    pub fn emf_with(&self, metric: &str) -> &Value {
        self.emf
            .iter()
            .find(|d| d.get(metric).is_some())
            .unwrap_or_else(|| panic!("no EMF document with {metric} in {:#?}", self.emf))
    }

    /// The dimension sets of `metric` in its EMF document.
    pub fn dimension_sets(&self, metric: &str) -> Value {
        let doc = self.emf_with(metric);
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().expect("directives") {
            if directive["Metrics"].as_array().expect("metrics").iter().any(|m| m["Name"] == metric) {
                return directive["Dimensions"].clone();
            }
        }
        panic!("{metric} has no directive in {doc}");
    }

    /// The handler subsegment document.
    pub fn segment(&self, name: &str) -> &Value {
        self.segments.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name} in {:#?}", self.segments))
    }

    /// Everything captured, as one text (to search for leaks).
    pub fn all_text(&self) -> String {
        let mut s = self.raw.join("\n");
        for d in &self.segments {
            s.push_str(&d.to_string());
        }
        s
    }
}

/// The child subsegment `name` of `doc`.
pub fn child<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["subsegments"]
        .as_array()
        .and_then(|c| c.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no child {name} in {doc:#}"))
}

/// Runs `fut` with a telemetry (fixed clock) and one capture of stdout (log lines and
/// EMF, as Lambda would see them) on a current-thread runtime.
pub fn run_with<F: Future>(config: Config, fut: F) -> (F::Output, Captured) {
    let out = CapturingWriter::new();
    let clock = FixedClock::at_millis(T0);
    let subscriber = streamer_obs::log::subscriber(&config, out.clone(), clock.clone());
    let emitter = CapturingEmitter::new();
    let telemetry = Telemetry::builder(config)
        .clock(clock)
        .emitter(Arc::new(emitter.clone()))
        .metrics_publisher(Arc::new(EmfPublisher::new(out.clone())))
        .build();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let result = rt.block_on(telemetry.scope(fut).with_subscriber(subscriber));
    let raw = out.lines();
    let all: Vec<Value> = out.json_lines();
    let (emf, lines): (Vec<Value>, Vec<Value>) = all.into_iter().partition(|l| l.get("_aws").is_some());
    (result, Captured { raw, lines, segments: emitter.documents(), emf })
}

pub fn run<F: Future>(fut: F) -> (F::Output, Captured) {
    run_with(config(&[("ENVIRONMENT", "test"), ("POWERTOOLS_SERVICE_NAME", "streamer")]), fut)
}
