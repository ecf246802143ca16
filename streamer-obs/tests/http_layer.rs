//! `lambda_http` handlers (feature `http`): `ObsLayer` around a `Service<Request>`, and
//! `#[instrumented(ctx = streamer_obs::http::lambda_context(&request))]`, both run the way
//! `lambda_http::run` runs them: API Gateway events deserialized into `lambda_http`'s
//! request type and handed to its `Adapter` (what `run` wraps the service in).
#![cfg(feature = "http")]

mod common;

use common::*;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Layer, Service, ServiceExt};
use lambda_http::{Body, Request, Response, service_fn};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use streamer_obs::handler::HandlerOptions;
use streamer_obs::instrumented;
use streamer_obs::layer::ObsLayer;
use streamer_obs::metrics::{self, Unit};
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk";

type H = Captured;

fn h() -> H {
    captured(config(&[]))
}

/// An API Gateway HTTP API (payload 2.0) event, as Lambda delivers it.
fn http_api_event(method: &str, path: &str, query: &str, body: &str) -> LambdaRequest {
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {JWT}"),
            "content-type": "application/json",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "streamer-client/1.4",
            "x-forwarded-for": "203.0.113.7, 10.0.0.1",
            "x-forwarded-proto": "https"
        },
        "queryStringParameters": query.split('&').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect::<serde_json::Map<_, _>>(),
        "requestContext": http_api_request_context(method, path),
        "body": body,
        "isBase64Encoded": false
    });
    serde_json::from_value(event).expect("an HTTP API event")
}

fn lambda_event(payload: LambdaRequest, request_id: &str) -> LambdaEvent<LambdaRequest> {
    LambdaEvent::new(payload, ContextBuilder::new().request_id(request_id).trace_header(HEADER).build())
}

/// Runs one event through `Adapter` (as `lambda_http::run` does) over `service`; returns
/// the response as API Gateway receives it.
fn run<S, R>(h: &H, service: S, event: LambdaEvent<LambdaRequest>) -> Result<Value, String>
where
    S: Service<Request, Response = R, Error = lambda_http::Error> + Send + 'static,
    S::Future: Send + 'static,
    R: lambda_http::IntoResponse + 'static,
{
    run_adapter(h.dispatch.clone(), service, event)
}

fn layer(h: &H, options: HandlerOptions) -> ObsLayer {
    ObsLayer::new(options).telemetry(h.telemetry.clone())
}

async fn created(request: Request) -> Result<Response<Body>, lambda_http::Error> {
    tracing::info!(path = request.uri().path(), "storing the message");
    metrics::add("MessageStored", Unit::Count, 1.0);
    Ok(Response::builder().status(201).header("location", "/v1/messages/7").body(Body::from("{\"id\":7}"))?)
}

#[test]
fn layer_records_the_http_block_and_the_whole_lifecycle() {
    let h = h();
    let service = layer(&h, HandlerOptions::new("PostMessage")).layer(service_fn(created));
    let event = http_api_event("POST", "/v1/messages", "room=lobby", "{\"text\":\"hi\"}");
    let response = run(&h, service, lambda_event(event, "req-http-1")).unwrap();
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(response["body"], "{\"id\":7}");

    let sub = h.subsegment("PostMessage");
    let http = &sub["http"];
    assert_eq!(http["request"]["method"], "POST", "{sub}");
    // The query string is left out of the URL.
    assert_eq!(http["request"]["url"], "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/messages", "{sub}");
    assert_eq!(http["request"]["user_agent"], "streamer-client/1.4");
    assert_eq!(http["request"]["client_ip"], "203.0.113.7");
    assert_eq!(http["response"]["status"], 201);
    assert_eq!(http["response"]["content_length"], 8);
    for flag in ["error", "fault", "throttle"] {
        assert!(sub.get(flag).is_none(), "no {flag} on a 201: {sub}");
    }
    assert_eq!(sub["annotations"]["ColdStart"], true);

    // The handler's line carries the invocation's keys; the metric is flushed.
    let lines = h.log.json_lines();
    let line = lines.iter().find(|l| l["message"] == "storing the message").expect("the handler's line");
    assert_eq!(line["function_request_id"], "req-http-1");
    assert_eq!(line["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    let emf = h.emf.json_lines();
    assert_eq!(emf.iter().filter(|d| d["MessageStored"] == 1.0).count(), 1, "{emf:?}");
    assert!(emf.iter().any(|d| d.get("ProcessingLatency").is_some()), "{emf:?}");
}

#[test]
fn the_status_sets_the_flags() {
    for (status, flags) in [
        (200, [false, false, false]),
        (302, [false, false, false]),
        (400, [true, false, false]),
        (404, [true, false, false]),
        (429, [true, false, true]),
        (500, [false, true, false]),
        (503, [false, true, false]),
    ] {
        let h = h();
        let service = layer(&h, HandlerOptions::new("Status")).layer(service_fn(move |_request: Request| async move {
            Ok::<_, lambda_http::Error>(Response::builder().status(status).body(Body::Empty).unwrap())
        }));
        let response = run(&h, service, lambda_event(http_api_event("GET", "/s", "", ""), "req-s")).unwrap();
        assert_eq!(response["statusCode"], status);
        let sub = h.subsegment("Status");
        assert_eq!(sub["http"]["response"]["status"], status, "{sub}");
        let got = ["error", "fault", "throttle"].map(|f| sub.get(f) == Some(&json!(true)));
        assert_eq!(got, flags, "{status}: {sub}");
        // A status is not an exception: no cause, no ERROR line.
        assert!(sub.get("cause").is_none(), "{sub}");
        assert!(h.log.json_lines().iter().all(|l| l["level"] != "ERROR"), "{:?}", h.log.lines());
    }
}

#[test]
fn an_error_keeps_the_request_half_and_is_a_fault_with_its_cause() {
    let h = h();
    let service = layer(&h, HandlerOptions::new("Failing")).layer(service_fn(|_request: Request| async {
        Err::<Response<Body>, lambda_http::Error>("the store is down".into())
    }));
    let err = run(&h, service, lambda_event(http_api_event("DELETE", "/v1/rooms/9", "", ""), "req-err")).unwrap_err();
    assert!(err.contains("the store is down"), "{err}");
    let sub = h.subsegment("Failing");
    assert_eq!(sub["fault"], true, "{sub}");
    assert_eq!(sub["http"]["request"]["method"], "DELETE");
    assert!(sub["http"].get("response").is_none(), "no status without a response: {sub}");
    assert_eq!(sub["cause"]["exceptions"][0]["message"], "the store is down");
    let errors: Vec<Value> = h.log.json_lines().into_iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn a_panic_is_a_fault_flushed_then_resumed() {
    let h = h();
    let service = layer(&h, HandlerOptions::new("Panicking")).layer(service_fn(|_request: Request| async {
        if true {
            panic!("handler bug");
        }
        Ok::<Response<Body>, lambda_http::Error>(Response::new(Body::Empty))
    }));
    let event = lambda_event(http_api_event("GET", "/p", "", ""), "req-panic");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&h, service, event)));
    assert!(caught.is_err(), "the panic resumes");
    let sub = h.subsegment("Panicking");
    assert_eq!(sub["fault"], true, "{sub}");
    assert_eq!(sub["http"]["request"]["url"], "https://abc123.execute-api.eu-west-1.amazonaws.com/p");
}

#[test]
fn log_event_and_capture_response_are_redacted() {
    let h = h();
    let options = HandlerOptions::new("Secrets").log_event(true).capture_response(true);
    let service = layer(&h, options).layer(service_fn(|_request: Request| async {
        Ok::<_, lambda_http::Error>(
            Response::builder()
                .status(200)
                .header("set-cookie", "session=s3cr3t-cookie; HttpOnly")
                .header("content-type", "application/json")
                .body(Body::from(format!("{{\"token\":\"{JWT}\",\"room\":\"lobby\"}}")))
                .unwrap(),
        )
    }));
    let body = format!("{{\"password\":\"hunter2-pw\",\"jwt\":\"{JWT}\",\"text\":\"hello\"}}");
    let event = http_api_event("POST", "/v1/login", "token=qs-s3cr3t&room=lobby", &body);
    run(&h, service, lambda_event(event, "req-secrets")).unwrap();

    let log = h.log.lines().join("\n");
    let xray = h.xray.raw().join("\n");
    for secret in [JWT, "qs-s3cr3t", "s3cr3t-cookie", "hunter2-pw"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
        assert!(!xray.contains(secret), "{secret} in X-Ray: {xray}");
    }
    let lines = h.log.json_lines();
    let logged = lines.iter().find(|l| l["message"] == "Incoming event").expect("the event is logged");
    let event: Value = serde_json::from_str(logged["event"].as_str().unwrap()).unwrap();
    assert_eq!(event["method"], "POST", "{event}");
    assert_eq!(event["path"], "/v1/login");
    assert_eq!(event["query"]["room"], "lobby", "{event}");
    assert_eq!(event["query"]["token"], "[REDACTED]", "{event}");
    assert_eq!(event["headers"]["authorization"], "[REDACTED]", "{event}");
    assert_eq!(event["headers"]["user-agent"], "streamer-client/1.4");
    assert!(event["body"].as_str().unwrap().contains("hello"), "{event}");

    let sub = h.subsegment("Secrets");
    let captured = sub["metadata"].to_string();
    assert!(captured.contains("status_code"), "the response is captured: {sub}");
    assert!(captured.contains("lobby"), "{sub}");
    assert!(captured.contains("\"set-cookie\":\"[REDACTED]\""), "{sub}");
}

#[test]
fn a_string_response_is_converted_and_recorded_as_200() {
    let h = h();
    let service = layer(&h, HandlerOptions::new("Text"))
        .layer(service_fn(|_request: Request| async { Ok::<_, lambda_http::Error>("plain text".to_owned()) }));
    let response = run(&h, service, lambda_event(http_api_event("GET", "/t", "", ""), "req-t")).unwrap();
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["body"], "plain text");
    let sub = h.subsegment("Text");
    assert_eq!(sub["http"]["response"]["status"], 200, "{sub}");
    assert_eq!(sub["http"]["response"]["content_length"], 10, "{sub}");
}

#[instrumented(name = "GetRoom", ctx = streamer_obs::http::lambda_context(&request), annotations(route = "rooms"))]
async fn get_room(request: Request) -> Result<Response<Body>, lambda_http::Error> {
    tracing::info!(path = request.uri().path(), "reading the room");
    Ok(Response::new(Body::from("room")))
}

#[test]
fn the_attribute_takes_the_context_from_the_request() {
    let h = h();
    let event = lambda_event(http_api_event("GET", "/v1/rooms/1", "", ""), "req-attr");
    let telemetry = h.telemetry.clone();
    let service = service_fn(move |request: Request| {
        let telemetry = telemetry.clone();
        async move { telemetry.scope(get_room(request)).await }
    });
    let response = run(&h, service, event).unwrap();
    assert_eq!(response["statusCode"], 200);
    let sub = h.subsegment("GetRoom");
    assert_eq!(sub["annotations"]["route"], "rooms", "{sub}");
    let lines = h.log.json_lines();
    let line = lines.iter().find(|l| l["message"] == "reading the room").expect("the handler's line");
    assert!(line.get("request").is_none(), "the request `ctx` reads is not a field: {line}");
    assert_eq!(line["function_request_id"], "req-attr");
    // The HTTP view, as the layer gives it.
    assert_eq!(sub["http"]["request"]["method"], "GET", "{sub}");
    assert_eq!(sub["http"]["request"]["url"], "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/rooms/1");
    assert_eq!(sub["http"]["response"]["status"], 200, "{sub}");
    assert_eq!(sub["http"]["response"]["content_length"], 4, "{sub}");
    // The response is captured as the layer captures it.
    assert_eq!(sub["metadata"]["service_undefined"]["GetRoom response"]["status_code"], 200, "{sub}");
}

#[instrumented(name = "Throttled", ctx = streamer_obs::http::lambda_context(&request), log_event = true)]
async fn throttled(request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let _ = request;
    Ok(Response::builder().status(429).header("set-cookie", "sid=s3cr3t-attr").body(Body::Empty)?)
}

#[instrumented(name = "Failing", ctx = streamer_obs::http::lambda_context(&request))]
async fn failing(request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let _ = request;
    Err("the room is gone".into())
}

#[test]
fn the_attribute_gives_the_status_flags_and_logs_the_request_redacted() {
    let h = h();
    let telemetry = h.telemetry.clone();
    let service = service_fn(move |request: Request| {
        let telemetry = telemetry.clone();
        async move { telemetry.scope(throttled(request)).await }
    });
    let event = lambda_event(http_api_event("POST", "/v1/rooms", "token=qs-attr-secret", "{}"), "req-429");
    assert_eq!(run(&h, service, event).unwrap()["statusCode"], 429);
    let sub = h.subsegment("Throttled");
    assert_eq!((sub["throttle"].clone(), sub["error"].clone()), (json!(true), json!(true)), "{sub}");
    assert_eq!(sub["http"]["response"]["status"], 429, "{sub}");
    let lines = h.log.json_lines();
    let logged = lines.iter().find(|l| l["message"] == "Incoming event").expect("log_event logs the request");
    let request: Value = serde_json::from_str(logged["event"].as_str().unwrap()).unwrap();
    assert_eq!(request["headers"]["authorization"], "[REDACTED]", "{request}");
    assert_eq!(request["query"]["token"], "[REDACTED]", "{request}");
    let all = format!("{}\n{}", h.log.lines().join("\n"), h.xray.raw().join("\n"));
    for secret in [JWT, "qs-attr-secret", "s3cr3t-attr"] {
        assert!(!all.contains(secret), "{secret}: {all}");
    }

    // An `Err`: a fault with its cause, the request half kept.
    let h = self::h();
    let telemetry = h.telemetry.clone();
    let service = service_fn(move |request: Request| {
        let telemetry = telemetry.clone();
        async move { telemetry.scope(failing(request)).await }
    });
    let event = lambda_event(http_api_event("DELETE", "/v1/rooms/9", "", ""), "req-err");
    assert!(run(&h, service, event).is_err());
    let sub = h.subsegment("Failing");
    assert_eq!(sub["fault"], true, "{sub}");
    assert_eq!(sub["http"]["request"]["method"], "DELETE", "{sub}");
    assert!(sub["http"].get("response").is_none(), "{sub}");
}

#[test]
fn a_request_without_a_lambda_context_runs_with_an_empty_one() {
    let request = Request::new(Body::Empty);
    let ctx = streamer_obs::http::lambda_context(&request);
    assert_eq!(ctx.request_id, "");
    assert_eq!(ctx.deadline, 0);
    assert!(ctx.xray_trace_id.is_none());
}

// ---- `#[instrumented]` handlers returning the other `IntoResponse` types ----

#[instrumented(name = "Text", ctx = streamer_obs::http::lambda_context(&request))]
async fn text(request: Request) -> Result<String, lambda_http::Error> {
    let _ = request;
    Ok("hello".to_owned())
}

#[instrumented(name = "Static", ctx = streamer_obs::http::lambda_context(&request))]
async fn static_text(request: Request) -> Result<&'static str, lambda_http::Error> {
    let _ = request;
    Ok("hi")
}

#[instrumented(name = "Json", ctx = streamer_obs::http::lambda_context(&request))]
async fn json_value(request: Request) -> Result<Value, lambda_http::Error> {
    let _ = request;
    Ok(json!({"room": 1, "name": "é"}))
}

#[instrumented(name = "Gone", ctx = streamer_obs::http::lambda_context(&request))]
async fn gone(request: Request) -> Result<(lambda_http::http::StatusCode, Vec<u8>), lambda_http::Error> {
    let _ = request;
    Ok((lambda_http::http::StatusCode::GONE, b"gone!".to_vec()))
}

#[instrumented(name = "Busy", ctx = streamer_obs::http::lambda_context(&request))]
async fn busy(request: Request) -> Result<impl lambda_http::IntoResponse, lambda_http::Error> {
    let _ = request;
    Ok(Response::builder().status(503).body("try later".to_owned())?)
}

#[instrumented(name = "Rejected", ctx = streamer_obs::http::lambda_context(&request))]
async fn rejected(request: Request) -> Result<impl lambda_http::IntoResponse, lambda_http::Error> {
    let _ = request;
    Ok((lambda_http::http::StatusCode::TOO_MANY_REQUESTS, json!({"retry": true})))
}

/// Runs `handler` (an `#[instrumented]` `lambda_http` handler) through `Adapter`; returns
/// the response and the handler's subsegment.
fn run_attr<F, Fut, R>(name: &str, handler: F) -> (Value, Value)
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R, lambda_http::Error>> + Send + 'static,
    R: lambda_http::IntoResponse + 'static,
{
    let h = h();
    let telemetry = h.telemetry.clone();
    let handler = std::sync::Arc::new(handler);
    let service = service_fn(move |request: Request| {
        let (telemetry, handler) = (telemetry.clone(), std::sync::Arc::clone(&handler));
        async move { telemetry.scope(handler(request)).await }
    });
    let event = lambda_event(http_api_event("GET", "/v1/rooms/1", "", ""), "req-types");
    let response = run(&h, service, event).unwrap();
    (response, h.subsegment(name))
}

/// The response half (status, content length as API Gateway receives the body) and the
/// flags, for every `IntoResponse` type of `lambda_http`, `impl IntoResponse` included.
#[test]
fn the_attribute_records_the_response_of_every_into_response_type() {
    let check = |name: &str, (response, sub): (Value, Value), status: u64, flags: [bool; 3]| {
        assert_eq!(response["statusCode"], status, "{name}: {response}");
        assert_eq!(sub["http"]["response"]["status"], status, "{name}: {sub}");
        // A binary body reaches API Gateway in base64: the length of the decoded bytes.
        let body = response["body"].as_str().unwrap_or_default();
        let body_len = if response["isBase64Encoded"] == true {
            (body.len() / 4 * 3 - body.bytes().rev().take_while(|&b| b == b'=').count()) as u64
        } else {
            body.len() as u64
        };
        assert_eq!(sub["http"]["response"]["content_length"], body_len, "{name}: the body's length: {sub}");
        let flag = |k: &str| sub.get(k).and_then(Value::as_bool).unwrap_or(false);
        assert_eq!([flag("error"), flag("throttle"), flag("fault")], flags, "{name}: {sub}");
        assert_eq!(sub["http"]["request"]["method"], "GET", "{name}: {sub}");
    };
    check("Text", run_attr("Text", text), 200, [false; 3]);
    check("Static", run_attr("Static", static_text), 200, [false; 3]);
    check("Json", run_attr("Json", json_value), 200, [false; 3]);
    check("Gone", run_attr("Gone", gone), 410, [true, false, false]);
    check("Busy", run_attr("Busy", busy), 503, [false, false, true]);
    check("Rejected", run_attr("Rejected", rejected), 429, [true, true, false]);
}

/// A body type of the handler's own (a streaming body, say): not one `ResponseView` knows.
#[derive(Debug)]
struct Chunks(Vec<&'static str>);

#[instrumented(name = "Streamed", ctx = streamer_obs::http::lambda_context(&request))]
async fn streamed(request: Request) -> Result<Response<Chunks>, lambda_http::Error> {
    let _ = request;
    Ok(Response::builder().status(503).header("content-length", "9").body(Chunks(vec!["try", " later"]))?)
}

#[instrumented(name = "StreamedNoLength", ctx = streamer_obs::http::lambda_context(&request))]
async fn streamed_no_length(request: Request) -> Result<Response<Chunks>, lambda_http::Error> {
    let _ = request;
    Ok(Response::builder().status(206).body(Chunks(vec!["a"]))?)
}

/// A `Response` with a body type of its own (what `run_with_streaming_response` takes):
/// the status and its flags are recorded, the length only from `Content-Length`.
#[test]
fn a_response_with_a_body_of_its_own_records_its_head() {
    let h = h();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let request = |id: &str| {
        use lambda_http::RequestExt as _;
        let ctx = ContextBuilder::new().request_id(id).trace_header(HEADER).build();
        let mut request = Request::new(Body::Empty).with_lambda_context(ctx);
        *request.uri_mut() = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/stream".parse().unwrap();
        request
    };
    let telemetry = h.telemetry.clone();
    let (a, b) = rt.block_on(
        async move {
            let a = telemetry.scope(streamed(request("req-s1"))).await.unwrap();
            let b = telemetry.scope(streamed_no_length(request("req-s2"))).await.unwrap();
            (a, b)
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert_eq!((a.body().0.concat(), b.status().as_u16()), ("try later".to_owned(), 206), "returned unchanged");
    let sub = h.subsegment("Streamed");
    assert_eq!(sub["http"]["response"], json!({"status": 503, "content_length": 9}), "{sub}");
    assert_eq!(sub["fault"], true, "{sub}");
    let sub = h.subsegment("StreamedNoLength");
    assert_eq!(sub["http"]["response"], json!({"status": 206}), "{sub}");
    assert!(sub.get("fault").is_none() && sub.get("error").is_none(), "{sub}");
}

/// `ObsLayer::streaming()` around a service whose response streams: the same lifecycle,
/// the response returned unchanged, the head recorded, the head captured.
#[test]
fn the_streaming_layer_records_the_head_and_returns_the_response_unchanged() {
    let h = h();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let request = |id: &str, path: &str| {
        use lambda_http::RequestExt as _;
        let ctx = ContextBuilder::new().request_id(id).trace_header(HEADER).build();
        let mut request = Request::new(Body::Empty).with_lambda_context(ctx);
        *request.uri_mut() = format!("https://abc123.execute-api.eu-west-1.amazonaws.com{path}").parse().unwrap();
        request
    };
    let inner = service_fn(|request: Request| async move {
        tracing::info!("streaming");
        if request.uri().path() == "/fail" {
            return Err::<Response<Chunks>, lambda_http::Error>("the stream broke".into());
        }
        Ok(Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .header("authorization", "Bearer s3cr3t-stream")
            .body(Chunks(vec!["data: 1\n\n", "data: 2\n\n"]))?)
    });
    let mut service = layer(&h, HandlerOptions::new("Stream")).streaming().layer(inner);
    let (ok, err) = rt.block_on(
        async {
            let ok = service.ready().await.unwrap().call(request("req-st1", "/events")).await;
            let err = service.ready().await.unwrap().call(request("req-st2", "/fail")).await;
            (ok, err)
        }
        .with_subscriber(h.dispatch.clone()),
    );
    let response = ok.expect("the response");
    assert_eq!(response.body().0, ["data: 1\n\n", "data: 2\n\n"], "the body is not read or changed");
    assert_eq!(err.expect_err("the error is returned").to_string(), "the stream broke");

    let docs: Vec<Value> = h.xray.raw().iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    let mut subs = Vec::new();
    for d in &docs {
        collect_ended(d, "Stream", &mut subs);
    }
    assert_eq!(subs.len(), 2, "{docs:?}");
    let ok_sub = subs.iter().find(|s| s.get("fault").is_none()).expect("the streamed invocation");
    assert_eq!(ok_sub["http"]["request"]["url"], "https://abc123.execute-api.eu-west-1.amazonaws.com/events");
    assert_eq!(ok_sub["http"]["response"], json!({"status": 200}), "{ok_sub}");
    let captured = &ok_sub["metadata"]["service_undefined"]["Stream response"];
    assert_eq!(captured["status_code"], 200, "{ok_sub}");
    assert_eq!(captured["headers"]["content-type"], "text/event-stream", "{ok_sub}");
    assert_eq!(captured["headers"]["authorization"], "[REDACTED]", "{ok_sub}");
    assert!(captured.get("body").is_none(), "{ok_sub}");
    let err_sub = subs.iter().find(|s| s.get("fault").is_some()).expect("the failed invocation");
    assert!(err_sub["http"].get("response").is_none(), "{err_sub}");
    assert_eq!(err_sub["http"]["request"]["url"], "https://abc123.execute-api.eu-west-1.amazonaws.com/fail");
    let lines = h.log.json_lines();
    let ids: Vec<&str> = lines
        .iter()
        .filter(|l| l["message"] == "streaming")
        .filter_map(|l| l["function_request_id"].as_str())
        .collect();
    assert_eq!(ids, ["req-st1", "req-st2"], "the handler runs inside each invocation");
    let all = format!("{}\n{}", h.log.lines().join("\n"), h.xray.raw().join("\n"));
    assert!(!all.contains("s3cr3t-stream"), "{all}");
}
