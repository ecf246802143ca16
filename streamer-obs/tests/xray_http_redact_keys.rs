//! A session id in the request URL (or `User-Agent`) does not reach the X-Ray `http`
//! block: X-Ray text is redacted with the log lines' key list, as the same request's
//! logged event is (a review found it verbatim in `http.request.url`).
//!
//! Promises:
//! - project policy: secrets (cookies; a session id is the cookie's value) never reach an
//!   X-Ray document;
//! - README "Tracing (X-Ray)", limits table, row "secrets": "this SDK (as for log lines) |
//!   with the key list of log lines (`authorization`, `token`, `password`, `api_key`, ...)"
//!   — `session_id`, `sessionid`, `session-id` are in that list
//!   (`config::DEFAULT_REDACT_KEYS`), and the logged event of the very same request redacts
//!   `jsessionid=…`; the `http` block's strings are scrubbed with the fixed `SECRET_PARAMS`
//!   list of `log/json.rs` instead, which has no session id, so X-Ray keeps it;
//! - README "`lambda_http` handlers": the `http` block's URL leaves the query string out
//!   because "it may carry credentials" — servlet-style URL rewriting puts the session in
//!   the path (`;jsessionid=…`), which the layer keeps as it is.
#![cfg(feature = "http")]
#![allow(dead_code, unused_imports)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use common::*;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Layer, Service, ServiceExt};
use lambda_http::{Adapter, Body, IntoResponse, Request, Response, service_fn};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use streamer_obs::handler::HandlerOptions;
use streamer_obs::layer::ObsLayer;
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

const HOST: &str = "abc123.execute-api.eu-west-1.amazonaws.com";
/// A JWT whose signature is a canary.
const JWT: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYW5hcnktdXNlciIsImFkbSI6dHJ1ZX0.Qk9CanaryJwtSig_4f7Qx2Lm";
const JWT_SIG: &str = "Qk9CanaryJwtSig_4f7Qx2Lm";
/// Another JWT (a refresh or id token), canary signature too.
const JWT2: &str = "eyJraWQiOiJrMSIsImFsZyI6IlJTMjU2In0.eyJpc3MiOiJodHRwczovL2lkcCJ9.Zm9RefreshCanarySig-77aa";
const JWT2_SIG: &str = "Zm9RefreshCanarySig-77aa";
const MAX_DOC_BYTES: usize = 64 * 1024;
const MAX_LINE_BYTES: usize = 256 * 1024;

type H = Captured;

fn h() -> H {
    captured(config(&[]))
}

/// Walks a document: X-3 names ≤ 200 characters, X-8/X-13 `http` strings ≤ 250,
/// X-21 annotation strings ≤ 1000.
fn check_strings(doc: &Value) {
    if let Some(name) = doc.get("name").and_then(Value::as_str) {
        assert!((1..=200).contains(&name.chars().count()), "X-3 name of {} characters", name.chars().count());
    }
    for half in ["request", "response"] {
        if let Some(obj) = doc.get("http").and_then(|h| h.get(half)).and_then(Value::as_object) {
            for (k, v) in obj {
                if let Some(s) = v.as_str() {
                    assert!(s.chars().count() <= 250, "http.{half}.{k} of {} characters", s.chars().count());
                }
            }
        }
    }
    for (k, v) in doc.get("annotations").and_then(Value::as_object).into_iter().flatten() {
        if let Some(s) = v.as_str() {
            assert!(s.chars().count() <= 1000, "annotation {k} of {} characters", s.chars().count());
        }
    }
    for child in doc.get("subsegments").and_then(Value::as_array).into_iter().flatten() {
        check_strings(child);
    }
}

impl H {
    /// Every X-Ray document: ≤ 64 KB, one valid JSON document, schema-valid, strings
    /// within their limits.
    fn docs(&self) -> Vec<Value> {
        let validator = xray_schema();
        let mut docs = Vec::new();
        for raw in self.xray.raw() {
            assert!(raw.len() <= MAX_DOC_BYTES, "X-1: a document of {} bytes", raw.len());
            assert!(!raw.contains('\n'), "a document must be one line");
            let doc: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"));
            let errors: Vec<String> =
                validator.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "schema errors {errors:?} in {}", shorten(&raw));
            check_strings(&doc);
            docs.push(doc);
        }
        docs
    }

    /// Every log line: one JSON object, ≤ 256 KiB.
    fn lines(&self) -> Vec<Value> {
        self.log
            .lines()
            .iter()
            .map(|l| {
                assert!(l.len() <= MAX_LINE_BYTES, "a log line of {} bytes", l.len());
                let v: Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {}", shorten(l)));
                assert!(v.is_object(), "not an object: {}", shorten(l));
                v
            })
            .collect()
    }

    /// Both outputs sound, and none of `secrets` anywhere in them.
    fn assert_clean(&self, secrets: &[&str]) {
        self.docs();
        self.lines();
        let log = self.log.lines().join("\n");
        let xray = self.xray.raw().join("\n");
        for secret in secrets {
            if let Some(at) = log.find(secret) {
                panic!("{secret} in the log: …{}…", excerpt(&log, at, secret.len()));
            }
            if let Some(at) = xray.find(secret) {
                panic!("{secret} in X-Ray: …{}…", excerpt(&xray, at, secret.len()));
            }
        }
    }

    /// The logged request (`log_event`), parsed.
    fn logged_event(&self) -> Value {
        let lines = self.lines();
        let line = lines.iter().find(|l| l["message"] == "Incoming event").expect("the event is logged");
        serde_json::from_str(line["event"].as_str().expect("event as text")).unwrap_or_else(|_| line["event"].clone())
    }
}

fn excerpt(s: &str, at: usize, len: usize) -> String {
    let mut from = at.saturating_sub(80);
    while !s.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (at + len + 80).min(s.len());
    while !s.is_char_boundary(to) {
        to += 1;
    }
    s[from..to].to_owned()
}

fn shorten(s: &str) -> String {
    if s.len() <= 2000 { s.to_owned() } else { format!("{}…({} bytes)", excerpt(s, 0, 1000), s.len()) }
}

fn find_key(v: &Value, key: &str) -> Option<Value> {
    match v {
        Value::Object(map) => map.get(key).cloned().or_else(|| map.values().find_map(|c| find_key(c, key))),
        Value::Array(items) => items.iter().find_map(|c| find_key(c, key)),
        _ => None,
    }
}

/// An API Gateway HTTP API (payload 2.0) event, no credentials; tests add theirs.
fn v2(method: &str, path: &str, query: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "content-type": "application/json",
            "host": HOST,
            "user-agent": "streamer-client/1.4",
            "x-forwarded-for": "203.0.113.7, 10.0.0.1",
            "x-forwarded-proto": "https"
        },
        "requestContext": http_api_request_context(method, path),
        "isBase64Encoded": false
    })
}

/// An API Gateway REST API (payload 1.0) event.
fn v1(method: &str, path: &str) -> Value {
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {
            "Host": "wt6mne2s9k.execute-api.us-west-2.amazonaws.com",
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "X-Forwarded-For": "192.0.2.10, 192.168.1.1",
            "X-Forwarded-Proto": "https"
        },
        "multiValueHeaders": {},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "us4z18",
            "stage": "test",
            "requestId": "41b45ea3-70b5-11e6-b7bd-69b5aaebc7d9",
            "requestTimeEpoch": 1_583_798_639_428u64,
            "identity": {"sourceIp": "192.0.2.10", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"},
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "wt6mne2s9k",
            "path": format!("/test{path}")
        },
        "body": null,
        "isBase64Encoded": false
    })
}

/// An ALB target group event.
fn alb(method: &str, path: &str) -> Value {
    json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/6d0ecf831eec9f09"}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": {},
        "headers": {
            "accept": "application/json",
            "host": "lambda-846800462-eu-west-1.elb.amazonaws.com",
            "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6)",
            "x-forwarded-for": "198.51.100.23",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "isBase64Encoded": false,
        "body": ""
    })
}

fn ev(payload: Value, request_id: &str) -> LambdaEvent<LambdaRequest> {
    let payload: LambdaRequest = serde_json::from_value(payload).expect("a lambda_http event");
    LambdaEvent::new(payload, ContextBuilder::new().request_id(request_id).trace_header(HEADER).build())
}

type Outcome = Result<Value, String>;

/// Runs one event through `Adapter` (as `lambda_http::run` does) over `service`; returns
/// the response as API Gateway receives it.
fn run_with<S, R>(dispatch: tracing::Dispatch, service: S, event: LambdaEvent<LambdaRequest>) -> Outcome
where
    S: Service<Request, Response = R, Error = lambda_http::Error> + Send + 'static,
    S::Future: Send + 'static,
    R: IntoResponse + 'static,
{
    let mut adapter: Adapter<'static, R, S> = Adapter::from(service);
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

fn run<S, R>(h: &H, service: S, event: LambdaEvent<LambdaRequest>) -> Outcome
where
    S: Service<Request, Response = R, Error = lambda_http::Error> + Send + 'static,
    S::Future: Send + 'static,
    R: IntoResponse + 'static,
{
    run_with(h.dispatch.clone(), service, event)
}

/// Runs `event` through `service`, which panics: the panic resumes out of the run.
fn assert_panics<S, R>(h: &H, service: S, event: LambdaEvent<LambdaRequest>)
where
    S: Service<Request, Response = R, Error = lambda_http::Error> + Send + 'static,
    S::Future: Send + 'static,
    R: IntoResponse + 'static,
{
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(h, service, event)));
    assert!(caught.is_err(), "the panic resumes");
}

fn layer(h: &H, options: HandlerOptions) -> ObsLayer {
    ObsLayer::new(options).telemetry(h.telemetry.clone())
}

fn all_on(name: &'static str) -> HandlerOptions {
    HandlerOptions::new(name).log_event(true).capture_response(true)
}

type BoxFut<R> = Pin<Box<dyn Future<Output = Result<R, lambda_http::Error>> + Send>>;

/// A handler answering `make()` to every request.
fn answering<R, F>(
    make: F,
) -> impl Service<Request, Response = R, Error = lambda_http::Error, Future = BoxFut<R>> + Send + 'static
where
    F: Fn() -> R + Send + Sync + Clone + 'static,
    R: Send + 'static,
{
    service_fn(move |_request: Request| -> BoxFut<R> {
        let make = make.clone();
        Box::pin(async move { Ok(make()) })
    })
}

/// Runs `payload` through the layer (all options on) and through the bare handler, and
/// asserts both responses are the same; returns the harness.
fn layered_equals_bare<R, F>(name: &str, options: HandlerOptions, make: F, payload: Value) -> (H, Outcome)
where
    F: Fn() -> R + Send + Sync + Clone + 'static,
    R: IntoResponse + Send + 'static,
{
    let bare = run_with(h().dispatch, answering(make.clone()), ev(payload.clone(), "req-bare"));
    let h = h();
    let service = layer(&h, options).layer(answering(make));
    let layered = run(&h, service, ev(payload, "req-layered"));
    assert_eq!(layered, bare, "{name}: the response through the layer differs from the handler's own");
    (h, layered)
}

fn ok_json(body: &str) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A session id as servlet containers rewrite it into the URL (`;jsessionid=…`), and a
/// path segment `session_id=…`: the logged path has both redacted, the X-Ray URL must too.
#[test]
fn a_session_id_in_the_path_is_not_in_the_xray_url() {
    for path in ["/v1/cart;jsessionid=CanaryJsess1/items", "/v1/cart/session_id=CanaryJsess1"] {
        let h = h();
        let service = layer(&h, all_on("Cart")).layer(answering(|| ok_json("{}")));
        let response = run(&h, service, ev(v2("GET", path, ""), "req-jsess")).unwrap();
        assert_eq!(response["statusCode"], 200);
        // The log side redacts it (the key list's `sessionid` / `session_id`) ...
        let logged = h.logged_event();
        assert!(!logged.to_string().contains("CanaryJsess1"), "{path}: the log keeps it: {logged}");
        // ... X-Ray must not keep what the log line of the same request redacts.
        let url = h.subsegment("Cart")["http"]["request"]["url"].as_str().unwrap_or_default().to_owned();
        assert!(!url.contains("CanaryJsess1"), "{path}: the session id is in X-Ray http.request.url: {url}");
        h.assert_clean(&["CanaryJsess1"]);
    }
}

/// The same for a session id in the `User-Agent` (an SDK that writes its session there).
#[test]
fn a_session_id_in_the_user_agent_is_not_in_the_xray_document() {
    let mut event = v2("GET", "/v1/me", "");
    event["headers"]["user-agent"] = json!("shop-app/3.2 (iOS 17; sessionid=CanaryUaSess2)");
    let h = h();
    let service = layer(&h, all_on("Me")).layer(answering(|| ok_json("{}")));
    run(&h, service, ev(event, "req-ua-sess")).unwrap();
    let logged = h.logged_event();
    assert!(!logged.to_string().contains("CanaryUaSess2"), "the log keeps it: {logged}");
    let ua = h.subsegment("Me")["http"]["request"]["user_agent"].as_str().unwrap_or_default().to_owned();
    assert!(!ua.contains("CanaryUaSess2"), "the session id is in X-Ray http.request.user_agent: {ua}");
}
