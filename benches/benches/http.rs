//! A `lambda_http` handler per invocation: an API Gateway HTTP API event through
//! `lambda_http`'s `Adapter` (what `lambda_http::run` wraps the service in), with
//! `ObsLayer` around the service (JSON log line, EMF document, handler subsegment with the
//! `http` block sent over UDP to a loopback socket) against the bare service.

use std::net::UdpSocket;
use std::sync::{Arc, LazyLock};

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Layer, Service};
use lambda_http::{Adapter, Body, Request, Response, service_fn};
use lambda_runtime::LambdaEvent;
use serde_json::json;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::handler::HandlerOptions;
use streamer_obs::layer::ObsLayer;
use streamer_obs::metrics::{self, EmfPublisher, Unit};
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::ContextBuilder;
use streamer_obs::xray::emitter::UdpEmitter;

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

static CONTEXT: LazyLock<lambda_runtime::Context> = LazyLock::new(|| {
    ContextBuilder::new().request_id("8f8ea7ae-5b4d-4b2c-9e5f-1c2d3e4f5a6b").trace_header(HEADER).build()
});

/// The event as Lambda delivers it (deserialized per invocation, as the runtime does).
static EVENT: LazyLock<serde_json::Value> = LazyLock::new(|| {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/messages",
        "rawQueryString": "room=lobby",
        "headers": {
            "content-type": "application/json",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "streamer-client/1.4",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-proto": "https"
        },
        "queryStringParameters": {"room": "lobby"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": "POST", "path": "/v1/messages", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "streamer-client/1.4"},
            "requestId": "r-1", "routeKey": "$default", "stage": "$default",
            "time": "26/Nov/2026:22:09:48 +0000", "timeEpoch": 1_795_730_988_123u64
        },
        "body": "{\"text\":\"hi\"}",
        "isBase64Encoded": false
    })
});

fn event() -> LambdaEvent<LambdaRequest> {
    LambdaEvent::new(serde_json::from_value(EVENT.clone()).unwrap(), CONTEXT.clone())
}

async fn handler(request: Request) -> Result<Response<Body>, lambda_http::Error> {
    tracing::info!(path = request.uri().path(), "storing the message");
    metrics::add("MessageStored", Unit::Count, 1.0);
    Ok(Response::builder().status(201).body(Body::from("{\"id\":7}"))?)
}

async fn bare_handler(request: Request) -> Result<Response<Body>, lambda_http::Error> {
    tracing::info!(path = request.uri().path(), "storing the message");
    Ok(Response::builder().status(201).body(Body::from("{\"id\":7}"))?)
}

fn bench(c: &mut Criterion) {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let config = Config::builder().service("streamer-api").build_from(&EnvVars::empty());
    tracing::dispatcher::set_global_default(tracing::Dispatch::new(streamer_obs::log::subscriber(
        &config,
        std::io::sink,
        streamer_obs::clock::SystemClock,
    )))
    .expect("the bench's global subscriber");
    Telemetry::builder(config)
        .emitter(Arc::new(UdpEmitter::new(daemon.local_addr().unwrap()).expect("udp")))
        .metrics_publisher(Arc::new(EmfPublisher::new(std::io::sink())))
        .build()
        .install_global()
        .expect("the bench's global telemetry");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();

    let mut group = c.benchmark_group("http_invocation");
    let mut instrumented = Adapter::from(ObsLayer::new(HandlerOptions::new("PostMessage")).layer(service_fn(handler)));
    group.bench_function("obs_layer", |b| b.iter(|| rt.block_on(instrumented.call(event())).unwrap()));
    // The same without the response captured as subsegment metadata (on by default).
    let mut no_capture = Adapter::from(
        ObsLayer::new(HandlerOptions::new("PostMessage").capture_response(false)).layer(service_fn(handler)),
    );
    group.bench_function("obs_layer_no_capture", |b| b.iter(|| rt.block_on(no_capture.call(event())).unwrap()));
    let mut bare = Adapter::from(service_fn(bare_handler));
    group.bench_function("bare", |b| b.iter(|| rt.block_on(bare.call(event())).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
