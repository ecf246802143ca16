//! Hostile but realistic input for `ObsLayer` around a `lambda_http` service, run the way
//! `lambda_http::run` runs it (events deserialized into `LambdaRequest`, handed to
//! `lambda_http::Adapter`). Secrets are distinctive canaries that must appear in no log
//! line and no X-Ray document; every line must be one JSON object (≤ 256 KiB), every
//! document valid JSON within the X-Ray rules (≤ 64 KB, schema, strings within limits);
//! the response must reach API Gateway exactly as it would without the layer.
#![cfg(feature = "http")]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use common::*;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Layer, Service};
use lambda_http::{Body, IntoResponse, Request, Response, service_fn};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use streamer_obs::handler::HandlerOptions;
use streamer_obs::layer::ObsLayer;
use streamer_obs::testing::ContextBuilder;

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
    run_adapter(dispatch, service, event)
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

// ---------------------------------------------------------------------------------------
// Secrets in the request

#[test]
fn a_jwt_in_the_url_path_is_in_neither_output() {
    for log_event in [true, false] {
        let h = h();
        let options = HandlerOptions::new("Reset").log_event(log_event).capture_response(true);
        let service = layer(&h, options).layer(answering(|| ok_json("{\"ok\":true}")));
        let path = format!("/v1/password/reset/{JWT}/confirm");
        let response = run(&h, service, ev(v2("GET", &path, ""), "req-path")).unwrap();
        assert_eq!(response["statusCode"], 200);
        h.assert_clean(&[JWT, JWT_SIG]);
        let sub = h.subsegment("Reset");
        let url = sub["http"]["request"]["url"].as_str().expect("the url is recorded").to_owned();
        assert!(url.starts_with(&format!("https://{HOST}/v1/password/reset/")), "{url}");
        if log_event {
            assert!(h.logged_event()["path"].as_str().unwrap().starts_with("/v1/password/reset/"));
        }
    }
}

#[test]
fn credentials_inside_the_path_are_in_neither_output() {
    // A proxy route carrying a URL with user information, and matrix parameters.
    let path = "/v1/proxy/https://admin:CanaryUrlPw9x@internal.example/export;access_token=CanaryMatrixTok7;X-Amz-Signature=CanaryPathSig55";
    let h = h();
    let service = layer(&h, all_on("Proxy")).layer(answering(|| ok_json("{}")));
    let response = run(&h, service, ev(v2("GET", path, ""), "req-matrix")).unwrap();
    assert_eq!(response["statusCode"], 200);
    h.assert_clean(&["CanaryUrlPw9x", "CanaryMatrixTok7", "CanaryPathSig55"]);
    let sub = h.subsegment("Proxy");
    assert!(sub["http"]["request"]["url"].as_str().unwrap().contains("/v1/proxy/"), "{sub}");
}

#[test]
fn secret_query_parameters_are_in_neither_output() {
    let query = format!(
        "room=lobby&access_token=CanaryAccessTok1&api_key=CanaryApiKey2&X-Amz-Signature=CanaryAmzSig3\
         &X-Amz-Security-Token=CanaryAmzSts4&X-Amz-Credential=AKIACANARYCRED5%2F20261126&password=CanaryPw6\
         &client_secret=CanaryClientSecret7&id_token={JWT2}&token=CanaryRepeatA&token=CanaryRepeatB&state={JWT}\
         &apikey=CanaryApiKey8&session_id=CanarySession9"
    );
    for log_event in [true, false] {
        let h = h();
        let options = HandlerOptions::new("Query").log_event(log_event).capture_response(true);
        let service = layer(&h, options).layer(answering(|| ok_json("{}")));
        run(&h, service, ev(v2("GET", "/v1/rooms", &query), "req-query")).unwrap();
        h.assert_clean(&[
            "CanaryAccessTok1",
            "CanaryApiKey2",
            "CanaryAmzSig3",
            "CanaryAmzSts4",
            "AKIACANARYCRED5",
            "CanaryPw6",
            "CanaryClientSecret7",
            JWT2_SIG,
            "CanaryRepeatA",
            "CanaryRepeatB",
            JWT_SIG,
            "CanaryApiKey8",
            "CanarySession9",
        ]);
        let sub = h.subsegment("Query");
        assert_eq!(sub["http"]["request"]["url"], format!("https://{HOST}/v1/rooms"), "{sub}");
        if log_event {
            let event = h.logged_event();
            assert_eq!(event["query"]["room"], "lobby", "{event}");
        }
    }
}

#[test]
fn credentials_in_the_user_agent_and_x_forwarded_for_are_in_neither_output() {
    let mut event = v2("GET", "/v1/me", "");
    event["headers"]["user-agent"] =
        json!("okhttp/4.12.0 (debug; token=CanaryUaTok1; Authorization: Bearer CanaryUaBearer2)");
    // A spoofed X-Forwarded-For: the client's own value comes first, API Gateway appends.
    event["headers"]["x-forwarded-for"] = json!(format!("{JWT}, 203.0.113.7"));
    for log_event in [true, false] {
        let h = h();
        let options = HandlerOptions::new("Me").log_event(log_event).capture_response(true);
        let service = layer(&h, options).layer(answering(|| ok_json("{}")));
        run(&h, service, ev(event.clone(), "req-ua")).unwrap();
        h.assert_clean(&["CanaryUaTok1", "CanaryUaBearer2", JWT, JWT_SIG]);
        let sub = h.subsegment("Me");
        assert!(sub["http"]["request"]["user_agent"].as_str().unwrap().starts_with("okhttp/4.12.0"), "{sub}");
    }
}

#[test]
fn an_empty_first_x_forwarded_for_entry_is_skipped() {
    // A proxy that found no header before it writes `, <its peer>`: the client is the first
    // address the list names, not "none".
    for (xff, ip) in [(", 10.0.0.1", "10.0.0.1"), (" , ,203.0.113.7, 10.0.0.1", "203.0.113.7")] {
        let mut event = v2("GET", "/v1/me", "");
        event["headers"]["x-forwarded-for"] = json!(xff);
        let h = h();
        let service = layer(&h, all_on("XffEmpty")).layer(answering(|| ok_json("{}")));
        run(&h, service, ev(event, "req-xff-empty")).unwrap();
        let sub = h.subsegment("XffEmpty");
        assert_eq!(sub["http"]["request"]["client_ip"], ip, "{sub}");
    }
}

#[test]
fn a_10_kb_spoofed_x_forwarded_for_stays_within_the_limits() {
    // No comma at all: the "first address" is the whole 10 KB, with a bearer token and a
    // JWT just around the 250-character cut.
    let xff = format!("{} Bearer CanaryXffBearer1 {JWT} {}", "9".repeat(230), "1".repeat(10_000));
    let mut event = v2("GET", "/v1/me", "");
    event["headers"]["x-forwarded-for"] = json!(xff);
    let h = h();
    let service = layer(&h, all_on("Xff")).layer(answering(|| ok_json("{}")));
    run(&h, service, ev(event, "req-xff")).unwrap();
    h.assert_clean(&["CanaryXffBearer1", JWT_SIG, "CanaryXffBea", "Qk9CanaryJw"]);
    let sub = h.subsegment("Xff");
    let ip = sub["http"]["request"]["client_ip"].as_str().unwrap_or_default();
    assert!(ip.chars().count() <= 250, "{}", ip.len());
}

#[test]
fn secret_request_headers_and_cookies_are_in_neither_output() {
    let mut event = v2("POST", "/v1/orders", "");
    let headers = event["headers"].as_object_mut().unwrap();
    for (name, value) in [
        ("authorization", "Basic YWRtaW46Q2FuYXJ5QmFzaWNQdzE="),
        ("x-api-key", "CanaryXApiKey2"),
        ("proxy-authorization", "Bearer CanaryProxyAuth3"),
        ("x-amz-security-token", "CanaryAmzSecTok4"),
        ("x-auth-token", "CanaryAuthTok5"),
        ("x-csrf-token", "CanaryCsrf6"),
        ("x-goog-api-key", "CanaryGoogKey7"),
        ("x-client-secret", "CanaryClientSecret8"),
        ("x-forwarded-authorization", "Bearer CanaryFwdAuth9"),
        ("x-original-jwt", JWT2),
    ] {
        headers.insert(name.to_owned(), json!(value));
    }
    // HTTP API (2.0) delivers cookies as an array; lambda_http joins them into `cookie`.
    event["cookies"] = json!(["session=CanaryCookieA1", "refresh=CanaryCookieB2", format!("id={JWT}")]);
    event["body"] = json!("{\"item\":\"book\"}");
    for log_event in [true, false] {
        let h = h();
        let options = HandlerOptions::new("Orders").log_event(log_event).capture_response(true);
        let service = layer(&h, options).layer(answering(|| ok_json("{\"id\":1}")));
        run(&h, service, ev(event.clone(), "req-headers")).unwrap();
        h.assert_clean(&[
            "YWRtaW46Q2FuYXJ5QmFzaWNQdzE",
            "CanaryXApiKey2",
            "CanaryProxyAuth3",
            "CanaryAmzSecTok4",
            "CanaryAuthTok5",
            "CanaryCsrf6",
            "CanaryGoogKey7",
            "CanaryClientSecret8",
            "CanaryFwdAuth9",
            JWT2_SIG,
            "CanaryCookieA1",
            "CanaryCookieB2",
            JWT_SIG,
        ]);
        if log_event {
            let event = h.logged_event();
            assert_eq!(event["headers"]["cookie"], "[REDACTED]", "{event}");
            assert_eq!(event["body"], "{\"item\":\"book\"}", "{event}");
        }
    }
}

#[test]
fn secrets_in_json_form_and_base64_request_bodies_are_not_logged() {
    let json_body = format!(
        "{{\"user\":{{\"email\":\"a@example.com\",\"password\":\"CanaryJsonPw1\",\"mfa\":{{\"otp_secret\":\"CanaryOtp2\"}}}},\
         \"grant\":{{\"refresh_token\":\"CanaryRefresh3\",\"assertion\":\"{JWT}\"}},\"note\":\"Authorization: Bearer CanaryNote4\"}}"
    );
    let form_body = "username=alice&password=CanaryFormPw5%21%26x&client_secret=CanaryFormSecret6&grant_type=password&code_verifier=plain";
    let cases: Vec<(&str, String, bool, &str, Vec<&str>)> = vec![
        (
            "json",
            json_body.clone(),
            false,
            "application/json",
            vec!["CanaryJsonPw1", "CanaryOtp2", "CanaryRefresh3", JWT_SIG, "CanaryNote4"],
        ),
        (
            "form",
            form_body.to_owned(),
            false,
            "application/x-www-form-urlencoded",
            vec!["CanaryFormPw5", "CanaryFormSecret6"],
        ),
        (
            "base64 json",
            base64(json_body.as_bytes()),
            true,
            "application/json",
            vec!["CanaryJsonPw1", "CanaryOtp2", "CanaryRefresh3", JWT_SIG, "CanaryNote4"],
        ),
        (
            "base64 form",
            base64(form_body.as_bytes()),
            true,
            "application/x-www-form-urlencoded",
            vec!["CanaryFormPw5", "CanaryFormSecret6"],
        ),
    ];
    for (label, body, encoded, content_type, secrets) in cases {
        let mut event = v2("POST", "/v1/login", "");
        event["headers"]["content-type"] = json!(content_type);
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(encoded);
        let h = h();
        let service = layer(&h, all_on("Login")).layer(answering(|| ok_json("{\"ok\":true}")));
        run(&h, service, ev(event, "req-body")).unwrap();
        h.assert_clean(&secrets);
        let log = h.log.lines().join("\n");
        assert!(log.contains("alice") || log.contains("a@example.com"), "{label}: the body is logged: {log}");
    }
}

#[test]
fn the_logged_event_stays_json_when_the_body_quotes_credentials() {
    // Realistic bodies quoting a credential: a support ticket with a curl line, a webhook
    // that forwards the headers it received, a raw HTTP exchange.
    let mut broken = Vec::new();
    for body in [
        "{\"ticket\":\"curl fails\",\"note\":\"Authorization: Bearer CanaryNote1\"}".to_owned(),
        "{\"forwarded\":{\"headers\":{\"Authorization\":\"Bearer CanaryFwd2\",\"Accept\":\"*/*\"}},\"id\":7}"
            .to_owned(),
        "{\"log\":\"GET /x HTTP/1.1\\r\\nCookie: sid=CanaryCookie3\\r\\nAccept: */*\"}".to_owned(),
    ] {
        let mut event = v2("POST", "/v1/tickets", "");
        event["body"] = json!(body.clone());
        let h = h();
        let echoed = body.clone();
        let service = layer(&h, all_on("Tickets")).layer(answering(move || ok_json(&echoed)));
        run(&h, service, ev(event, "req-ticket")).unwrap();
        // The captured response (X-Ray metadata) keeps the echoed body as JSON too.
        let metadata = h.subsegment("Tickets")["metadata"].to_string();
        let captured_body = find_key(&serde_json::from_str(&metadata).unwrap(), "body");
        match captured_body.as_ref().and_then(Value::as_str) {
            Some(b) if serde_json::from_str::<Value>(b).is_ok() => {}
            other => broken.push(format!("the captured response body is not JSON: {other:?}")),
        }
        h.assert_clean(&["CanaryNote1", "CanaryFwd2", "CanaryCookie3"]);
        let lines = h.lines();
        let line = lines.iter().find(|l| l["message"] == "Incoming event").expect("the event is logged");
        let text = line["event"].as_str().expect("the event as JSON text");
        match serde_json::from_str::<Value>(text) {
            Err(e) => broken.push(format!("the logged event is no longer JSON ({e}): {text}")),
            Ok(parsed) => {
                let logged_body = parsed["body"].as_str().unwrap_or_default();
                if serde_json::from_str::<Value>(logged_body).is_err() {
                    broken.push(format!("the logged JSON body is no longer JSON: {logged_body}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{} problems over 3 bodies:\n{}", broken.len(), broken.join("\n"));
}

#[test]
fn without_log_event_the_request_is_not_logged_at_all() {
    let mut event = v2("POST", "/v1/notes", "room=CanaryRoomName");
    event["body"] = json!("{\"text\":\"CanaryNoteText\"}");
    let h = h();
    let service = layer(&h, HandlerOptions::new("Notes").log_event(false).capture_response(false))
        .layer(answering(|| ok_json("{\"CanaryResponseText\":1}")));
    run(&h, service, ev(event, "req-quiet")).unwrap();
    h.assert_clean(&["CanaryNoteText", "CanaryRoomName", "CanaryResponseText"]);
    assert!(h.lines().iter().all(|l| l["message"] != "Incoming event"), "{:?}", h.log.lines());
}

// ---------------------------------------------------------------------------------------
// Secrets in the response

#[test]
fn secrets_in_the_response_are_not_captured_and_the_response_is_unchanged() {
    let make = || {
        Response::builder()
            .status(302)
            .header("set-cookie", "session=CanarySetCookie1; HttpOnly; Secure")
            .header("set-cookie", "refresh=CanarySetCookie2; Path=/auth")
            .header("authorization", "Bearer CanaryRespAuth3")
            .header("location", "https://app.example.com/callback#access_token=CanaryFragTok4&token_type=bearer&expires_in=3600")
            .header("x-amz-security-token", "CanaryRespSts5")
            .header("x-debug-jwt", JWT2)
            .header("content-type", "application/json")
            .body(Body::from(format!(
                "{{\"access_token\":\"CanaryBodyTok6\",\"id_token\":\"{JWT}\",\"profile\":{{\"name\":\"Ann\",\"api_key\":\"CanaryBodyKey7\"}},\"hint\":\"password=CanaryBodyPw8\"}}"
            )))
            .unwrap()
    };
    let (h, response) =
        layered_equals_bare("response secrets", all_on("Callback"), make, v2("GET", "/v1/callback", ""));
    let response = response.unwrap();
    assert_eq!(response["statusCode"], 302);
    // The client gets its cookies: the SDK only keeps them out of its own outputs.
    assert!(response.to_string().contains("CanarySetCookie1"), "{response}");
    h.assert_clean(&[
        "CanarySetCookie1",
        "CanarySetCookie2",
        "CanaryRespAuth3",
        "CanaryFragTok4",
        "CanaryRespSts5",
        JWT2_SIG,
        "CanaryBodyTok6",
        JWT_SIG,
        "CanaryBodyKey7",
        "CanaryBodyPw8",
    ]);
    let sub = h.subsegment("Callback");
    assert!(sub["metadata"].to_string().contains("Ann"), "the response is captured: {sub}");
}

#[test]
fn a_status_code_and_string_response_is_captured_redacted_and_returned_unchanged() {
    let make = || {
        (
            StatusCode::UNAUTHORIZED,
            format!("{{\"error\":\"expired\",\"access_token\":\"CanaryTupleTok1\",\"was\":\"{JWT}\"}}"),
        )
    };
    let (h, response) = layered_equals_bare("(StatusCode, String)", all_on("Tuple"), make, v2("GET", "/v1/me", ""));
    assert_eq!(response.unwrap()["statusCode"], 401);
    h.assert_clean(&["CanaryTupleTok1", JWT_SIG]);
    let sub = h.subsegment("Tuple");
    assert_eq!(sub["http"]["response"]["status"], 401, "{sub}");
    assert_eq!(sub["error"], true, "{sub}");
    assert!(sub.get("fault").is_none(), "{sub}");
}

#[test]
fn a_text_response_in_a_declared_charset_is_returned_unchanged() {
    // "café" in ISO-8859-1, declared as such: lambda_http decodes it to UTF-8 text once.
    let make = || {
        Response::builder()
            .status(200)
            .header("content-type", "text/plain; charset=iso-8859-1")
            .body(Body::from(vec![b'c', b'a', b'f', 0xE9]))
            .unwrap()
    };
    let (_h, response) = layered_equals_bare("latin-1 text", all_on("Latin1"), make, v2("GET", "/v1/menu", ""));
    assert_eq!(response.unwrap()["body"], "café");
}

#[test]
fn a_utf8_text_response_declared_windows_1252_is_returned_unchanged() {
    let make = || {
        Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=windows-1252")
            .body(Body::from("naïve €5".to_owned()))
            .unwrap()
    };
    layered_equals_bare("windows-1252 text", all_on("Cp1252"), make, v2("GET", "/v1/page", "")).1.unwrap();
}

// ---------------------------------------------------------------------------------------
// Sizes and shapes

#[test]
fn a_300_kb_request_and_response_stay_within_the_limits() {
    // JWTs all along the body, so a cut anywhere meets one; a password at the very end.
    let mut text = String::new();
    while text.len() < 300 * 1024 {
        text.push_str(&format!("{JWT} lorem ipsum dolor sit amet {} ", "x".repeat(600)));
    }
    let body = json!({"text": text, "password": "CanaryBigPw1"}).to_string();
    let mut event = v2("POST", "/v1/upload", "");
    event["body"] = json!(body);
    let response_body = json!({"echo": text, "secret": "CanaryBigSecret2"}).to_string();
    let expected_len = response_body.len();
    let make = move || ok_json(&response_body);
    let (h, response) = layered_equals_bare("300 KB", all_on("Upload"), make, event);
    assert_eq!(response.unwrap()["body"].as_str().unwrap().len(), expected_len);
    h.assert_clean(&[JWT_SIG, "CanaryBigPw1", "CanaryBigSecret2", "Qk9CanaryJw"]);
    let sub = h.subsegment("Upload");
    assert_eq!(sub["http"]["response"]["content_length"], expected_len, "{}", shorten(&sub.to_string()));
    assert!(h.lines().iter().any(|l| l["message"] == "Incoming event"), "the event line is still written");
}

#[test]
fn five_hundred_headers_stay_within_the_limits() {
    let mut event = v2("GET", "/v1/many", "");
    let headers = event["headers"].as_object_mut().unwrap();
    for i in 0..500 {
        let name = if i % 50 == 0 { format!("x-tenant-{i}-token") } else { format!("x-h-{i}") };
        let value = if i % 50 == 0 { format!("CanaryManyTok{i:03}") } else { format!("{i}-{}", "v".repeat(300)) };
        headers.insert(name, json!(value));
    }
    headers.insert("authorization".to_owned(), json!(format!("Bearer {JWT}")));
    let make = || {
        let mut b = Response::builder().status(200);
        for i in 0..500 {
            b = b.header(format!("x-r-{i}"), format!("{i}-{}", "w".repeat(300)));
        }
        b.header("set-cookie", "sid=CanaryManyCookie").body(Body::from("ok")).unwrap()
    };
    let (h, _) = layered_equals_bare("500 headers", all_on("Many"), make, event);
    let mut secrets: Vec<String> = (0..500).step_by(50).map(|i| format!("CanaryManyTok{i:03}")).collect();
    secrets.push("CanaryManyCookie".to_owned());
    secrets.push(JWT_SIG.to_owned());
    h.assert_clean(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(h.subsegment("Many")["http"]["response"]["status"], 200);
}

#[test]
fn a_5000_character_path_is_cut_after_redaction() {
    // A JWT across the 250-character cut of the URL, another deep in the path.
    let prefix = format!("https://{HOST}");
    let lead = "a".repeat(240 - prefix.len());
    let path = format!("/{lead}/{JWT}/{}/{JWT2}/end", "b".repeat(4_700));
    assert!(path.len() > 5_000);
    let h = h();
    let service = layer(&h, all_on("LongPath")).layer(answering(|| ok_json("{}")));
    run(&h, service, ev(v2("GET", &path, ""), "req-long")).unwrap();
    h.assert_clean(&[
        JWT_SIG,
        JWT2_SIG,
        "eyJzdWIiOiJjYW5hcnktdXNlciIsImFkbSI6dHJ1ZX0",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6Ik",
    ]);
    let sub = h.subsegment("LongPath");
    let url = sub["http"]["request"]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{prefix}/aaa")), "{url}");
    let logged = h.logged_event();
    let logged_path = logged["path"].as_str().unwrap_or_default();
    // (The JWT redaction also swallows the rest of the path after it: over-redaction, no
    // rule broken.)
    assert!(logged_path.starts_with("/aaa"), "the path is logged: {logged_path}");
}

#[test]
fn non_utf8_binary_bodies_are_logged_as_lengths() {
    let mut bytes = vec![0xFF, 0xFE, 0x00, 0x9C];
    bytes.extend_from_slice(b"password=CanaryBinPw1&token=");
    bytes.extend_from_slice(JWT.as_bytes());
    bytes.extend_from_slice(&[0xC3, 0x28]);
    let mut event = v2("PUT", "/v1/blob", "");
    event["headers"]["content-type"] = json!("application/octet-stream");
    event["body"] = json!(base64(&bytes));
    event["isBase64Encoded"] = json!(true);
    let response_bytes = bytes.clone();
    let make = move || {
        Response::builder()
            .status(200)
            .header("content-type", "application/octet-stream")
            .body(Body::from(response_bytes.clone()))
            .unwrap()
    };
    let (h, response) = layered_equals_bare("binary", all_on("Blob"), make, event);
    let response = response.unwrap();
    assert_eq!(response["isBase64Encoded"], true, "{response}");
    assert_eq!(response["body"], base64(&bytes));
    h.assert_clean(&["CanaryBinPw1", JWT_SIG]);
    assert_eq!(h.logged_event()["body_bytes"], bytes.len(), "{}", h.logged_event());
    let sub = h.subsegment("Blob");
    assert_eq!(sub["http"]["response"]["content_length"], bytes.len(), "{sub}");
}

#[test]
fn response_header_values_that_are_not_utf8() {
    let make = || {
        let mut r = Response::builder().status(200).body(Body::from("ok")).unwrap();
        let mut raw = b"\xFF\xFE legacy; Authorization: Bearer CanaryLatinBearer1".to_vec();
        raw.push(0xE9);
        r.headers_mut().insert("x-legacy", HeaderValue::from_bytes(&raw).unwrap());
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_bytes(b"Bearer realm=\"\xE9\", error=\"invalid_token\"").unwrap(),
        );
        r.headers_mut().insert("x-session-id", HeaderValue::from_bytes(b"\xFFCanarySessHdr2").unwrap());
        r
    };
    let (h, _) = layered_equals_bare("non-UTF-8 header", all_on("Latin"), make, v2("GET", "/v1/legacy", ""));
    h.assert_clean(&["CanaryLatinBearer1", "CanarySessHdr2"]);
    assert_eq!(h.subsegment("Latin")["http"]["response"]["status"], 200);
}

#[test]
fn unusual_methods_and_an_empty_path() {
    for (method, path) in
        [("HEAD", "/v1/rooms"), ("OPTIONS", "/v1/rooms"), ("PURGE", "/v1/cache"), ("GET", ""), ("DELETE", "/")]
    {
        let make = || Response::builder().status(204).header("allow", "GET, HEAD, OPTIONS").body(Body::Empty).unwrap();
        let (h, response) = layered_equals_bare(method, all_on("Methods"), make, v2(method, path, ""));
        assert_eq!(response.unwrap()["statusCode"], 204);
        h.assert_clean(&[]);
        let sub = h.subsegment("Methods");
        assert_eq!(sub["http"]["request"]["method"], method, "{sub}");
        assert_eq!(h.logged_event()["method"], method);
    }
}

#[test]
fn a_jwt_shaped_method_is_in_neither_output() {
    // ALB passes the request line's method through; a JWT is a valid HTTP token.
    let h = h();
    let service = layer(&h, all_on("AlbMethod")).layer(answering(|| ok_json("{}")));
    let response = run(&h, service, ev(alb(JWT, "/v1/x"), "req-alb-method")).unwrap();
    assert_eq!(response["statusCode"], 200);
    h.assert_clean(&[JWT_SIG]);
    assert!(h.subsegment("AlbMethod")["http"]["request"].get("method").is_some());
}

#[test]
fn every_status_code_sets_the_x16_flags_and_is_returned_unchanged() {
    for status in [100u16, 199, 204, 304, 418, 429, 499, 500, 599] {
        let make = move || Response::builder().status(status).body(Body::Empty).unwrap();
        let (h, response) = layered_equals_bare(&status.to_string(), all_on("Status"), make, v2("GET", "/s", ""));
        assert_eq!(response.unwrap()["statusCode"], status);
        h.assert_clean(&[]);
        let sub = h.subsegment("Status");
        assert_eq!(sub["http"]["response"]["status"], status, "{sub}");
        let flag = |f: &str| sub.get(f) == Some(&json!(true));
        let expected = match status {
            429 => [true, false, true],
            400..=499 => [true, false, false],
            500..=599 => [false, true, false],
            _ => [false, false, false],
        };
        assert_eq!([flag("error"), flag("fault"), flag("throttle")], expected, "{status}: {sub}");
        assert!(sub.get("cause").is_none(), "{status}: a status is not an exception: {sub}");
    }
}

#[test]
fn wrong_content_length_headers() {
    for (declared, body) in [
        ("1234", ""),
        ("0", "four"),
        ("-1", "four"),
        ("abc", "four"),
        ("99999999999999999999999", "four"),
        ("18446744073709551615", "four"),
        ("4, 4", "four"),
    ] {
        let make = move || {
            Response::builder()
                .status(200)
                .header("content-type", "text/plain")
                .header("content-length", declared)
                .body(Body::from(body))
                .unwrap()
        };
        let (h, response) = layered_equals_bare(declared, all_on("Length"), make, v2("HEAD", "/len", ""));
        assert_eq!(response.unwrap()["body"].as_str().unwrap_or_default(), body);
        h.assert_clean(&[]);
        let sub = h.subsegment("Length");
        assert!(sub["http"]["response"]["content_length"].is_u64(), "{declared}: {sub}");
    }
}

/// Two `Content-Length` lines that disagree are one list (RFC 9110 §5.3), refused as
/// `4, 4` on one line is: the body's own length is recorded, not the first line's.
#[test]
fn two_content_length_lines_fall_back_to_the_body() {
    let make = || {
        let mut response =
            Response::builder().status(200).header("content-type", "text/plain").body(Body::from("abc")).unwrap();
        response.headers_mut().append("content-length", HeaderValue::from_static("999"));
        response.headers_mut().append("content-length", HeaderValue::from_static("3"));
        response
    };
    let (h, response) = layered_equals_bare("two lines", all_on("Length"), make, v2("GET", "/len", ""));
    assert_eq!(response.unwrap()["body"], "abc");
    let sub = h.subsegment("Length");
    assert_eq!(sub["http"]["response"]["content_length"], 3, "{sub}");
}

#[test]
fn rest_api_payload_1_0_secrets() {
    let mut event = v1("POST", "/users/login");
    event["headers"]["Authorization"] = json!(format!("Bearer {JWT}"));
    event["multiValueHeaders"] = json!({
        "Cookie": ["sid=CanaryRestCookie1", "theme=dark"],
        "X-Api-Key": ["CanaryRestKey2"],
        "User-Agent": ["Mozilla/5.0 (X11; Linux x86_64)"]
    });
    event["queryStringParameters"] = json!({"access_token": "CanaryRestTok3", "page": "2"});
    event["multiValueQueryStringParameters"] =
        json!({"access_token": ["CanaryRestTok3"], "page": ["2"], "api_key": ["CanaryRestKey4a", "CanaryRestKey4b"]});
    event["body"] = json!(base64(b"{\"username\":\"bob\",\"password\":\"CanaryRestPw5\"}"));
    event["isBase64Encoded"] = json!(true);
    let (h, response) = layered_equals_bare("REST", all_on("RestLogin"), || ok_json("{\"ok\":true}"), event);
    assert_eq!(response.unwrap()["statusCode"], 200);
    h.assert_clean(&[
        JWT_SIG,
        "CanaryRestCookie1",
        "CanaryRestKey2",
        "CanaryRestTok3",
        "CanaryRestKey4a",
        "CanaryRestKey4b",
        "CanaryRestPw5",
    ]);
    let sub = h.subsegment("RestLogin");
    assert_eq!(
        sub["http"]["request"]["url"], "https://wt6mne2s9k.execute-api.us-west-2.amazonaws.com/test/users/login",
        "{sub}"
    );
    assert_eq!(sub["http"]["request"]["client_ip"], "192.0.2.10", "{sub}");
    assert_eq!(h.logged_event()["query"]["page"], "2");
}

#[test]
fn alb_secrets_and_a_host_with_user_information() {
    let mut event = alb("GET", "/admin/export");
    // ALB passes the client's Host header through.
    event["headers"]["host"] = json!("svc-admin:CanaryAlbHostPw1@lambda-846800462-eu-west-1.elb.amazonaws.com");
    event["headers"]["cookie"] = json!("AWSALB=abc; session=CanaryAlbCookie2");
    event["headers"]["x-amzn-oidc-accesstoken"] = json!("CanaryOidcAccess3");
    event["headers"]["x-amzn-oidc-data"] = json!(JWT);
    // ALB leaves the query string encoded; lambda_http decodes it.
    event["queryStringParameters"] = json!({"X-Amz-Signature": "CanaryAlbSig4%3D%3D", "format": "csv"});
    let (h, response) = layered_equals_bare("ALB", all_on("AlbExport"), || ok_json("{}"), event);
    assert_eq!(response.unwrap()["statusCode"], 200);
    h.assert_clean(&["CanaryAlbCookie2", "CanaryOidcAccess3", JWT_SIG, "CanaryAlbSig4"]);
    // The X-Ray URL loses the password of its user information (documented).
    let xray = h.xray.raw().join("\n");
    assert!(!xray.contains("CanaryAlbHostPw1"), "the URL's password in X-Ray: {xray}");
    let sub = h.subsegment("AlbExport");
    assert!(sub["http"]["request"]["url"].as_str().unwrap().ends_with("/admin/export"), "{sub}");
}

// ---------------------------------------------------------------------------------------
// Errors and panics

#[test]
fn an_error_with_a_jwt_is_redacted_and_returned_unchanged() {
    let message = format!("token rejected: {JWT} (Authorization: Bearer CanaryErrBearer1)");
    let m = message.clone();
    let h = h();
    let service = layer(&h, all_on("Failing")).layer(service_fn(move |_request: Request| {
        let m = m.clone();
        async move { Err::<Response<Body>, lambda_http::Error>(m.into()) }
    }));
    let mut event = v2("GET", "/v1/me", "");
    event["headers"]["authorization"] = json!(format!("Bearer {JWT}"));
    let err = run(&h, service, ev(event, "req-err")).unwrap_err();
    assert_eq!(err, message, "the error is handed on unchanged");
    h.assert_clean(&[JWT_SIG, "CanaryErrBearer1"]);
    let sub = h.subsegment("Failing");
    assert_eq!(sub["fault"], true, "{sub}");
    assert!(sub["cause"]["exceptions"][0]["message"].as_str().unwrap().starts_with("token rejected"), "{sub}");
    assert_eq!(h.lines().iter().filter(|l| l["level"] == "ERROR").count(), 1, "{:?}", h.log.lines());
}

#[test]
fn a_panic_with_a_jwt_in_the_handler_future_is_redacted() {
    let h = h();
    let service = layer(&h, all_on("PanicAsync")).layer(service_fn(|_request: Request| async {
        if true {
            panic!("refresh failed for {JWT} with Authorization: Bearer CanaryPanicBearer1");
        }
        Ok::<Response<Body>, lambda_http::Error>(Response::new(Body::Empty))
    }));
    let event = ev(v2("GET", "/v1/refresh", ""), "req-panic-async");
    assert_panics(&h, service, event);
    h.assert_clean(&[JWT_SIG, "CanaryPanicBearer1"]);
    let sub = h.subsegment("PanicAsync");
    assert_eq!(sub["fault"], true, "{sub}");
    assert!(sub.get("cause").is_some(), "{sub}");
}

#[test]
fn a_panic_with_a_jwt_in_the_synchronous_call_is_redacted() {
    let h = h();
    let service = layer(&h, all_on("PanicSync")).layer(service_fn(|_request: Request| {
        if true {
            panic!("bad session {JWT2}; password=CanaryPanicPw2");
        }
        std::future::ready(Ok::<Response<Body>, lambda_http::Error>(Response::new(Body::Empty)))
    }));
    let event = ev(v2("GET", "/v1/refresh", ""), "req-panic-sync");
    assert_panics(&h, service, event);
    h.assert_clean(&[JWT2_SIG, "CanaryPanicPw2"]);
    assert_eq!(h.subsegment("PanicSync")["fault"], true);
}

/// An `IntoResponse` whose conversion panics with a secret in the message.
struct Exploding;

impl IntoResponse for Exploding {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(async { panic!("cannot render the session of {JWT}: api_key=CanaryRenderKey1") })
    }
}

#[test]
fn a_panicking_into_response_conversion_is_a_redacted_fault() {
    let h = h();
    let service = layer(&h, all_on("Render")).layer(answering(|| Exploding));
    let event = ev(v2("GET", "/v1/render", ""), "req-render");
    assert_panics(&h, service, event);
    h.assert_clean(&[JWT_SIG, "CanaryRenderKey1"]);
    let sub = h.subsegment("Render");
    assert_eq!(sub["fault"], true, "{sub}");
    assert_eq!(sub["http"]["request"]["url"], format!("https://{HOST}/v1/render"), "the request half is kept: {sub}");
}

/// An `IntoResponse` of the user's own, converted to a `(StatusCode, String)`.
struct ApiError {
    detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        (
            StatusCode::TOO_MANY_REQUESTS,
            format!("{{\"detail\":\"{}\",\"retry_token\":\"CanaryRetryTok1\"}}", self.detail),
        )
            .into_response()
    }
}

#[test]
fn a_custom_into_response_type_is_recorded_and_returned_unchanged() {
    let make = || ApiError { detail: format!("slow down, bearer of {JWT}") };
    let (h, response) = layered_equals_bare("custom IntoResponse", all_on("Custom"), make, v2("POST", "/v1/send", ""));
    assert_eq!(response.unwrap()["statusCode"], 429);
    h.assert_clean(&[JWT_SIG, "CanaryRetryTok1"]);
    let sub = h.subsegment("Custom");
    assert_eq!([sub["error"].clone(), sub["throttle"].clone()], [json!(true), json!(true)], "{sub}");
    assert!(sub.get("fault").is_none(), "{sub}");
}

#[derive(Debug, thiserror::Error)]
#[error("login failed for {user}")]
struct LoginError {
    user: String,
    #[source]
    source: std::io::Error,
}

#[test]
fn an_error_chain_and_a_100_kb_message_with_jwts_are_redacted_and_bounded() {
    // A source whose message holds a JWT; then a huge message made of JWTs end to end, so
    // that any cut lands inside one.
    let huge = std::iter::repeat_n(JWT, 100_000 / JWT.len()).collect::<Vec<_>>().join(" ");
    for (label, make) in [
        (
            "chain",
            Box::new(|| -> lambda_http::Error {
                LoginError {
                    user: "ann".to_owned(),
                    source: std::io::Error::other(format!("idp said: invalid id_token={JWT2}")),
                }
                .into()
            }) as Box<dyn Fn() -> lambda_http::Error + Send + Sync>,
        ),
        ("huge", Box::new(move || -> lambda_http::Error { huge.clone().into() })),
    ] {
        let make = Arc::new(make);
        let h = h();
        let service = layer(&h, all_on("Chain")).layer(service_fn(move |_request: Request| {
            let make = make.clone();
            async move { Err::<Response<Body>, lambda_http::Error>(make()) }
        }));
        let err = run(&h, service, ev(v2("POST", "/v1/login", ""), "req-chain")).unwrap_err();
        assert!(!err.is_empty(), "{label}");
        h.assert_clean(&[JWT_SIG, JWT2_SIG, "Qk9CanaryJw", "Zm9RefreshCan"]);
        assert_eq!(h.subsegment("Chain")["fault"], true, "{label}");
    }
}

#[test]
fn deeply_nested_json_bodies_stay_valid_and_redacted() {
    let depth = 300;
    let deep =
        format!("{}{{\"password\":\"CanaryDeepPw1\",\"id_token\":\"{JWT}\"}}{}", "[".repeat(depth), "]".repeat(depth));
    let mut event = v2("POST", "/v1/deep", "");
    event["body"] = json!(deep.clone());
    let make = move || ok_json(&deep.replace("CanaryDeepPw1", "CanaryDeepPw2"));
    let (h, response) = layered_equals_bare("deep JSON", all_on("Deep"), make, event);
    assert!(response.unwrap()["body"].as_str().unwrap().contains("CanaryDeepPw2"), "the client gets its body");
    h.assert_clean(&["CanaryDeepPw1", "CanaryDeepPw2", JWT_SIG]);
    assert_eq!(h.subsegment("Deep")["http"]["response"]["status"], 200);
}

#[test]
fn a_jwt_with_percent_encoded_dots_in_the_path_is_in_neither_output() {
    let encoded = JWT.replace('.', "%2E");
    let path = format!("/v1/verify/{encoded}");
    let h = h();
    let service = layer(&h, all_on("Verify")).layer(answering(|| ok_json("{}")));
    run(&h, service, ev(v2("GET", &path, ""), "req-2e")).unwrap();
    h.assert_clean(&[JWT_SIG, "eyJzdWIiOiJjYW5hcnktdXNlciIsImFkbSI6dHJ1ZX0"]);
    assert!(h.subsegment("Verify")["http"]["request"]["url"].as_str().unwrap().contains("/v1/verify/"));
}

// ---------------------------------------------------------------------------------------
// Found by a review (2026-11-28): the X-Ray `http` block's strings are redacted with the
// log lines' key list (a session id in the URL or `User-Agent` reached it verbatim), and a
// UTF-8 `User-Agent` is kept (`HeaderValue::to_str` refused every non-ASCII byte and the
// field was left out, while the logged event kept it).

#[test]
fn a_utf8_user_agent_is_recorded_in_the_http_block() {
    for ua in ["MyApp/2.1 (Android 14; Pixel 8; Zürich)", "Café-Kasse/1.0", "日本アプリ/3.0 CFNetwork/1490"] {
        let mut event = v2("GET", "/v1/me", "");
        event["headers"]["user-agent"] = json!(ua);
        let h = h();
        let service = layer(&h, all_on("Ua")).layer(answering(|| ok_json("{}")));
        let response = run(&h, service, ev(event, "req-ua")).unwrap();
        assert_eq!(response["statusCode"], 200);
        // The log side has it.
        assert_eq!(h.logged_event()["headers"]["user-agent"], ua);
        // X-Ray must have it too (as it is, or at least some rendering of it).
        let sub = h.subsegment("Ua");
        let recorded = sub["http"]["request"].get("user_agent").and_then(Value::as_str);
        assert!(
            recorded.is_some_and(|r| r.starts_with(ua.split('/').next().unwrap()) || r.contains("/")),
            "{ua:?}: no user_agent in the http block: {}",
            sub["http"]
        );
    }
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
