//! The X-Ray `http` response half recorded by `#[instrumented]` on `lambda_http`
//! handlers (README "`lambda_http` handlers"; `streamer_obs::http::ResponseView`,
//! `ResponseHead`; aws-rules X-16: 5xx fault, 429 throttle and error, other 4xx error;
//! `response.status` and `response.content_length` integers).
#![cfg(feature = "http")]

mod common;

use std::any::Any;
use std::sync::Mutex;

use common::*;
use lambda_http::http::StatusCode;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::{Adapter, Body, IntoResponse, Request, Response, service_fn};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

type H = Captured;

fn h() -> H {
    captured(config(&[]))
}

fn http_api_event() -> LambdaRequest {
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/r",
        "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.eu-west-1.amazonaws.com", "x-forwarded-proto": "https"},
        "requestContext": http_api_request_context("GET", "/v1/r"),
        "isBase64Encoded": false
    });
    serde_json::from_value(event).expect("an HTTP API event")
}

// ---- the value a handler returns next (set by the test) ----

static NEXT: Mutex<Option<Box<dyn Any + Send>>> = Mutex::new(None);

fn give<T: Any + Send>(value: Result<T, String>) {
    *NEXT.lock().unwrap() = Some(Box::new(value));
}

fn take<T: Any + Send>() -> Result<T, lambda_http::Error> {
    let boxed = NEXT.lock().unwrap().take().expect("a value to return");
    let r = *boxed.downcast::<Result<T, String>>().expect("the handler's type");
    r.map_err(Into::into)
}

macro_rules! handler {
    ($f:ident, $name:tt, $($ty:tt)*) => {
        #[instrumented(name = $name, ctx = streamer_obs::http::lambda_context(&request))]
        async fn $f(request: Request) -> Result<$($ty)*, lambda_http::Error> {
            let _ = request;
            take::<$($ty)*>()
        }
    };
}

handler!(h_string, "String", String);
handler!(h_str, "Str", &'static str);
handler!(h_vec, "Vec", Vec<u8>);
handler!(h_slice, "Slice", &'static [u8]);
handler!(h_json, "Json", Value);
handler!(h_sc_string, "ScString", (StatusCode, String));
handler!(h_sc_str, "ScStr", (StatusCode, &'static str));
handler!(h_sc_vec, "ScVec", (StatusCode, Vec<u8>));
handler!(h_sc_slice, "ScSlice", (StatusCode, &'static [u8]));
handler!(h_sc_json, "ScJson", (StatusCode, Value));
handler!(h_resp_body, "RespBody", Response<Body>);
handler!(h_resp_string, "RespString", Response<String>);
handler!(h_resp_vec, "RespVec", Response<Vec<u8>>);
handler!(h_resp_str, "RespStr", Response<&'static str>);
handler!(h_resp_slice, "RespSlice", Response<&'static [u8]>);
handler!(h_resp_unit, "RespUnit", Response<()>);

/// A body type of the handler's own.
#[derive(Debug)]
struct Chunks(#[allow(dead_code)] Vec<&'static str>);
handler!(h_resp_chunks, "RespChunks", Response<Chunks>);

// `impl IntoResponse` over each type.
macro_rules! impl_handler {
    ($f:ident, $name:tt, $($ty:tt)*) => {
        #[instrumented(name = $name, ctx = streamer_obs::http::lambda_context(&request))]
        async fn $f(request: Request) -> Result<impl IntoResponse, lambda_http::Error> {
            let _ = request;
            take::<$($ty)*>()
        }
    };
}
impl_handler!(i_string, "ImplString", String);
impl_handler!(i_str, "ImplStr", &'static str);
impl_handler!(i_vec, "ImplVec", Vec<u8>);
impl_handler!(i_slice, "ImplSlice", &'static [u8]);
impl_handler!(i_json, "ImplJson", Value);
impl_handler!(i_sc_string, "ImplScString", (StatusCode, String));
impl_handler!(i_sc_str, "ImplScStr", (StatusCode, &'static str));
impl_handler!(i_sc_vec, "ImplScVec", (StatusCode, Vec<u8>));
impl_handler!(i_sc_slice, "ImplScSlice", (StatusCode, &'static [u8]));
impl_handler!(i_sc_json, "ImplScJson", (StatusCode, Value));
impl_handler!(i_resp_body, "ImplRespBody", Response<Body>);
impl_handler!(i_resp_string, "ImplRespString", Response<String>);

/// Runs `handler` through `Adapter` (as `lambda_http::run` does), the handler returning
/// `value`; returns the response API Gateway receives (or the error) and the subsegment.
fn via_adapter<F, Fut, R, T>(name: &str, handler: F, value: Result<T, String>) -> (Result<Value, String>, Value)
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R, lambda_http::Error>> + Send + 'static,
    R: IntoResponse + 'static,
    T: Any + Send,
{
    let h = h();
    give(value);
    let telemetry = h.telemetry.clone();
    let handler = std::sync::Arc::new(handler);
    let service = service_fn(move |request: Request| {
        let (telemetry, handler) = (telemetry.clone(), std::sync::Arc::clone(&handler));
        async move { telemetry.scope(handler(request)).await }
    });
    let event =
        LambdaEvent::new(http_api_event(), ContextBuilder::new().request_id("req-r").trace_header(HEADER).build());
    let mut adapter: Adapter<'static, R, _> = Adapter::from(service);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let response = rt.block_on(
        async move {
            let response = adapter.ready().await.map_err(|e| e.to_string())?.call(event).await;
            response.map(|r| serde_json::to_value(r).unwrap()).map_err(|e| e.to_string())
        }
        .with_subscriber(h.dispatch.clone()),
    );
    let sub = h.subsegment(name);
    (response, sub)
}

/// Runs `handler` directly (types `lambda_http` does not take as a handler's output).
fn direct<F, Fut, R, T>(name: &str, handler: F, value: Result<T, String>) -> Value
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Result<R, lambda_http::Error>>,
    T: Any + Send,
{
    use lambda_http::RequestExt as _;
    let h = h();
    give(value);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let ctx = ContextBuilder::new().request_id("req-d").trace_header(HEADER).build();
    let mut request = Request::new(Body::Empty).with_lambda_context(ctx);
    *request.uri_mut() = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/r".parse().unwrap();
    let telemetry = h.telemetry.clone();
    let _ =
        rt.block_on(async move { telemetry.scope(handler(request)).await.is_ok() }.with_subscriber(h.dispatch.clone()));
    h.subsegment(name)
}

/// The body's length as API Gateway receives it (base64 decoded).
fn received_length(response: &Value) -> u64 {
    let body = response["body"].as_str().unwrap_or_default();
    if response["isBase64Encoded"] == true {
        (body.len() / 4 * 3 - body.bytes().rev().take_while(|&b| b == b'=').count()) as u64
    } else {
        body.len() as u64
    }
}

fn flags(sub: &Value) -> [bool; 3] {
    let flag = |k: &str| sub.get(k).and_then(Value::as_bool).unwrap_or(false);
    [flag("error"), flag("throttle"), flag("fault")]
}

/// X-16: [error, throttle, fault].
fn expected_flags(status: u16) -> [bool; 3] {
    match status {
        500.. => [false, false, true],
        429 => [true, true, false],
        400..=499 => [true, false, false],
        _ => [false; 3],
    }
}

/// Checks one Adapter run: status, content length as received, flags, integer length.
fn check_received(problems: &mut Vec<String>, case: &str, (response, sub): (Result<Value, String>, Value)) {
    let response = match response {
        Ok(r) => r,
        Err(e) => return problems.push(format!("{case}: the handler failed: {e}")),
    };
    let status = response["statusCode"].as_u64().unwrap();
    let http = &sub["http"]["response"];
    if http["status"] != status {
        problems.push(format!("{case}: status {} recorded, {status} sent: {}", http["status"], sub["http"]));
    }
    let len = received_length(&response);
    if http["content_length"] != len {
        problems.push(format!(
            "{case}: content_length {} recorded, {len} bytes sent (body {}): {}",
            http["content_length"], response["body"], sub["http"]
        ));
    }
    if !http["content_length"].is_u64() {
        problems.push(format!("{case}: content_length not an integer: {}", sub["http"]));
    }
    if flags(&sub) != expected_flags(status as u16) {
        problems.push(format!("{case}: flags {:?} for {status}: {sub}", flags(&sub)));
    }
}

fn finish(problems: Vec<String>) {
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

const NON_UTF8: &[u8] = &[0xff, 0xfe, b'a'];

/// Every `IntoResponse` type, plain and behind `impl IntoResponse`, with ASCII, multi-byte
/// and empty bodies: the recorded status and length are what API Gateway receives.
#[test]
fn every_into_response_type_records_what_is_sent() {
    let mut p = Vec::new();
    let tea = StatusCode::from_u16(418).unwrap();
    for body in ["hello", "héllo wörld ✓", ""] {
        check_received(&mut p, &format!("String {body:?}"), via_adapter("String", h_string, Ok(body.to_owned())));
        check_received(
            &mut p,
            &format!("impl String {body:?}"),
            via_adapter("ImplString", i_string, Ok(body.to_owned())),
        );
        let s: &'static str = Box::leak(body.to_owned().into_boxed_str());
        check_received(&mut p, &format!("&str {body:?}"), via_adapter("Str", h_str, Ok(s)));
        check_received(&mut p, &format!("impl &str {body:?}"), via_adapter("ImplStr", i_str, Ok(s)));
        check_received(
            &mut p,
            &format!("(418, String) {body:?}"),
            via_adapter("ScString", h_sc_string, Ok((tea, body.to_owned()))),
        );
        check_received(
            &mut p,
            &format!("impl (418, String) {body:?}"),
            via_adapter("ImplScString", i_sc_string, Ok((tea, body.to_owned()))),
        );
        check_received(&mut p, &format!("(418, &str) {body:?}"), via_adapter("ScStr", h_sc_str, Ok((tea, s))));
        check_received(&mut p, &format!("impl (418, &str) {body:?}"), via_adapter("ImplScStr", i_sc_str, Ok((tea, s))));
    }
    for bytes in [b"bytes".as_slice(), NON_UTF8, b""] {
        check_received(&mut p, &format!("Vec {bytes:?}"), via_adapter("Vec", h_vec, Ok(bytes.to_vec())));
        check_received(&mut p, &format!("impl Vec {bytes:?}"), via_adapter("ImplVec", i_vec, Ok(bytes.to_vec())));
        check_received(&mut p, &format!("&[u8] {bytes:?}"), via_adapter("Slice", h_slice, Ok(bytes)));
        check_received(&mut p, &format!("impl &[u8] {bytes:?}"), via_adapter("ImplSlice", i_slice, Ok(bytes)));
        check_received(
            &mut p,
            &format!("(500, Vec) {bytes:?}"),
            via_adapter("ScVec", h_sc_vec, Ok((StatusCode::INTERNAL_SERVER_ERROR, bytes.to_vec()))),
        );
        check_received(
            &mut p,
            &format!("impl (500, Vec) {bytes:?}"),
            via_adapter("ImplScVec", i_sc_vec, Ok((StatusCode::INTERNAL_SERVER_ERROR, bytes.to_vec()))),
        );
        check_received(
            &mut p,
            &format!("(429, &[u8]) {bytes:?}"),
            via_adapter("ScSlice", h_sc_slice, Ok((StatusCode::TOO_MANY_REQUESTS, bytes))),
        );
        check_received(
            &mut p,
            &format!("impl (429, &[u8]) {bytes:?}"),
            via_adapter("ImplScSlice", i_sc_slice, Ok((StatusCode::TOO_MANY_REQUESTS, bytes))),
        );
    }
    for v in [
        json!({"a": "é", "b": [1, 2.5, null], "c": "\u{1F600}\"\\\n"}),
        json!(null),
        json!("x"),
        json!(1e300),
        json!([]),
    ] {
        check_received(&mut p, &format!("Value {v}"), via_adapter("Json", h_json, Ok(v.clone())));
        check_received(&mut p, &format!("impl Value {v}"), via_adapter("ImplJson", i_json, Ok(v.clone())));
        check_received(
            &mut p,
            &format!("(404, Value) {v}"),
            via_adapter("ScJson", h_sc_json, Ok((StatusCode::NOT_FOUND, v.clone()))),
        );
        check_received(
            &mut p,
            &format!("impl (404, Value) {v}"),
            via_adapter("ImplScJson", i_sc_json, Ok((StatusCode::NOT_FOUND, v.clone()))),
        );
    }
    for body in [Body::Empty, Body::from("text ✓"), Body::from(b"bin".to_vec())] {
        let r = || Response::builder().status(201).body(body.clone()).unwrap();
        check_received(&mut p, &format!("Response<Body> {body:?}"), via_adapter("RespBody", h_resp_body, Ok(r())));
        check_received(
            &mut p,
            &format!("impl Response<Body> {body:?}"),
            via_adapter("ImplRespBody", i_resp_body, Ok(r())),
        );
    }
    let r = || Response::builder().status(599).body("string body ✓".to_owned()).unwrap();
    check_received(&mut p, "Response<String>", via_adapter("RespString", h_resp_string, Ok(r())));
    check_received(&mut p, "impl Response<String>", via_adapter("ImplRespString", i_resp_string, Ok(r())));
    finish(p);
}

/// Statuses at the edges of each class (X-16), through a `(StatusCode, &str)` and a
/// `Response<Body>`.
#[test]
fn statuses_at_the_class_edges_set_the_x16_flags() {
    let mut p = Vec::new();
    for code in [100u16, 199, 200, 299, 399, 400, 428, 429, 430, 499, 500, 599, 600, 999] {
        let status = StatusCode::from_u16(code).unwrap();
        let sub = direct("ScStr", h_sc_str, Ok((status, "x")));
        if sub["http"]["response"] != json!({"status": code, "content_length": 1})
            || flags(&sub) != expected_flags(code)
        {
            p.push(format!("(StatusCode({code}), \"x\"): {sub}"));
        }
        let sub = direct("RespBody", h_resp_body, Ok(Response::builder().status(code).body(Body::Empty).unwrap()));
        if sub["http"]["response"] != json!({"status": code, "content_length": 0})
            || flags(&sub) != expected_flags(code)
        {
            p.push(format!("Response<Body>({code}): {sub}"));
        }
        let sub =
            direct("RespChunks", h_resp_chunks, Ok(Response::builder().status(code).body(Chunks(vec!["a"])).unwrap()));
        if sub["http"]["response"] != json!({"status": code}) || flags(&sub) != expected_flags(code) {
            p.push(format!("Response<Chunks>({code}): {sub}"));
        }
    }
    finish(p);
}

/// `Response<B>` for each body type `ResponseView` lists (`Vec<u8>`, `&str`, `&[u8]`, `()`
/// are not handler outputs `lambda_http` takes: run directly): the `Content-Length` header
/// first, else the body's length; a body type of its own: the header only.
#[test]
fn response_bodies_and_content_length_headers() {
    let mut p = Vec::new();
    let mut expect = |case: String, sub: Value, want: Value| {
        if sub["http"]["response"] != want {
            p.push(format!("{case}: recorded {}, expected {want}", sub["http"]["response"]));
        }
    };
    // No header: the body's length.
    expect(
        "Response<Vec<u8>>".into(),
        direct("RespVec", h_resp_vec, Ok(Response::new(vec![1u8; 7]))),
        json!({"status": 200, "content_length": 7}),
    );
    expect(
        "Response<&str>".into(),
        direct("RespStr", h_resp_str, Ok(Response::new("añb"))),
        json!({"status": 200, "content_length": 4}),
    );
    expect(
        "Response<&[u8]>".into(),
        direct("RespSlice", h_resp_slice, Ok(Response::new(&b"abc"[..]))),
        json!({"status": 200, "content_length": 3}),
    );
    expect(
        "Response<()>".into(),
        direct("RespUnit", h_resp_unit, Ok(Response::new(()))),
        json!({"status": 200, "content_length": 0}),
    );
    expect(
        "Response<String>".into(),
        direct("RespString", h_resp_string, Ok(Response::new("xyz".to_owned()))),
        json!({"status": 200, "content_length": 3}),
    );
    expect(
        "Response<Chunks>".into(),
        direct("RespChunks", h_resp_chunks, Ok(Response::new(Chunks(vec!["a"])))),
        json!({"status": 200}),
    );
    // A valid header wins (documented: "the Content-Length header first").
    let with = |v: &'static str| Response::builder().header("content-length", v);
    expect(
        "Response<Body> CL 5 body 3".into(),
        direct("RespBody", h_resp_body, Ok(with("5").body(Body::from("abc")).unwrap())),
        json!({"status": 200, "content_length": 5}),
    );
    expect(
        "Response<()> CL 10".into(),
        direct("RespUnit", h_resp_unit, Ok(with("10").body(()).unwrap())),
        json!({"status": 200, "content_length": 10}),
    );
    expect(
        "Response<Chunks> CL 9".into(),
        direct("RespChunks", h_resp_chunks, Ok(with("9").body(Chunks(vec![])).unwrap())),
        json!({"status": 200, "content_length": 9}),
    );
    // Invalid headers: the body's length (a body of its own: none).
    for bad in ["abc", "-1", "", "1.5", "5, 5", "0x10", "99999999999999999999", "١٢"] {
        let Ok(value) = lambda_http::http::HeaderValue::from_str(bad) else { continue };
        let mut r = Response::new(Body::from("abc"));
        r.headers_mut().insert("content-length", value.clone());
        expect(
            format!("Response<Body> CL {bad:?} body 3"),
            direct("RespBody", h_resp_body, Ok(r)),
            json!({"status": 200, "content_length": 3}),
        );
        let mut r = Response::new(Chunks(vec![]));
        r.headers_mut().insert("content-length", value);
        expect(
            format!("Response<Chunks> CL {bad:?}"),
            direct("RespChunks", h_resp_chunks, Ok(r)),
            json!({"status": 200}),
        );
    }
    // Non-UTF-8/obs-text header value.
    let mut r = Response::new(Body::from("abc"));
    r.headers_mut().insert("content-length", lambda_http::http::HeaderValue::from_bytes(b"\xff5").unwrap());
    expect(
        "Response<Body> CL b\"\\xff5\"".into(),
        direct("RespBody", h_resp_body, Ok(r)),
        json!({"status": 200, "content_length": 3}),
    );
    // Duplicated header: RFC 9110 allows identical repeats; the first is taken.
    let r = Response::builder()
        .header("content-length", "3")
        .header("content-length", "3")
        .body(Body::from("abc"))
        .unwrap();
    expect(
        "Response<Body> CL 3 twice".into(),
        direct("RespBody", h_resp_body, Ok(r)),
        json!({"status": 200, "content_length": 3}),
    );
    finish(p);
}

/// Header values `u64::from_str` accepts but Content-Length's grammar (1*DIGIT) does not,
/// or beyond what an X-Ray integer holds.
#[test]
fn content_length_edge_values() {
    let mut out = Vec::new();
    for v in ["+5", " 7 ", "007", "18446744073709551615", "9223372036854775808"] {
        let r = Response::builder().header("content-length", v).body(Body::from("abc")).unwrap();
        let sub = direct("RespBody", h_resp_body, Ok(r));
        out.push(format!("Response<Body> CL {v:?} body 3 -> {}", sub["http"]["response"]));
        let r = Response::builder().header("content-length", v).body(Chunks(vec![])).unwrap();
        let sub = direct("RespChunks", h_resp_chunks, Ok(r));
        out.push(format!("Response<Chunks> CL {v:?} -> {}", sub["http"]["response"]));
        let raw_has_int = sub["http"]["response"].get("content_length").is_none_or(Value::is_u64);
        assert!(raw_has_int, "content_length not an integer: {sub}");
    }
    println!("{}", out.join("\n"));
}

/// An `Err` from the handler: no response half; a fault with its cause (as the layer does).
#[test]
fn an_err_records_no_response_half() {
    let mut p = Vec::new();
    let mut check = |case: &str, sub: Value| {
        if sub["http"].get("response").is_some() || sub["fault"] != true || sub.get("cause").is_none() {
            p.push(format!("{case}: {sub}"));
        }
    };
    check("String", via_adapter("String", h_string, Err::<String, _>("db down".into())).1);
    check(
        "impl (StatusCode, Value)",
        via_adapter("ImplScJson", i_sc_json, Err::<(StatusCode, Value), _>("db down".into())).1,
    );
    check("Response<Body>", via_adapter("RespBody", h_resp_body, Err::<Response<Body>, _>("db down".into())).1);
    check("Response<Chunks>", direct("RespChunks", h_resp_chunks, Err::<Response<Chunks>, _>("db down".into())));
    check("Response<()>", direct("RespUnit", h_resp_unit, Err::<Response<()>, _>("db down".into())));
    finish(p);
}
