//! `lambda_http` handlers (feature `http`): API Gateway REST and HTTP APIs, ALB, function
//! URLs, VPC Lattice.
//!
//! Two ways in, as for `lambda_runtime` handlers:
//! - [`ObsLayer`](crate::layer::ObsLayer) around a `Service<lambda_http::Request>` (a
//!   `service_fn` of an `async fn(Request)`), run by `lambda_http::run`: the whole
//!   lifecycle, plus the HTTP view of the invocation. The handler subsegment gets the
//!   X-Ray `http` block (request method, URL without its query string, user agent, client
//!   IP; response status and content length) and the flags of the status (X-16: 5xx
//!   `fault`, 429 `throttle` and `error`, other 4xx `error`); `log_event` logs the request
//!   ([`request_event`]) and `capture_response` captures the response
//!   ([`response_event`]), both redacted like any logged value. For a service whose
//!   response streams (`lambda_http::run_with_streaming_response`),
//!   [`ObsLayer::streaming`](crate::layer::ObsLayer::streaming) gives the same with the
//!   response returned unchanged and the invocation ended at its head.
//! - `#[instrumented(ctx = streamer_obs::http::lambda_context(&request))]` on the
//!   `async fn(request: Request)` itself: the same lifecycle and HTTP view. The attribute
//!   takes the parameter that `ctx` reads (by value, its type named `Request`) for the
//!   request, and the `Ok` value for the response half: any type `lambda_http` turns into
//!   a response ([`ResponseView`]), also behind `impl IntoResponse`, and the head of any
//!   other `Response<B>` ([`ResponseHead`]: a streaming body).
//!
//! ```no_run
//! use lambda_http::{service_fn, tower::Layer, Body, Error, Request, Response};
//! use streamer_obs::handler::HandlerOptions;
//! use streamer_obs::layer::ObsLayer;
//!
//! async fn hello(_request: Request) -> Result<Response<Body>, Error> {
//!     tracing::info!("saying hello");
//!     Ok(Response::new(Body::from("hello")))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     streamer_obs::init()?;
//!     lambda_http::run(ObsLayer::new(HandlerOptions::new("Hello")).layer(service_fn(hello))).await
//! }
//! ```
//!
//! The layer converts the handler's `IntoResponse` value inside the invocation (so the
//! conversion is timed and its status known) and hands it on as an [`HttpResponse`],
//! whose own conversion returns it unchanged: `lambda_http::run` sends exactly what it
//! would have sent without the layer (a body in another charset is decoded once).

use std::sync::LazyLock;

use lambda_http::{Body, Request, RequestExt as _, Response};
use lambda_runtime::Context;
use serde_json::{Map, Value};

use crate::handler::HandlerScope;
use crate::xray::document::{Flags, Http};
use crate::xray::recorder::SubsegmentRef;

/// A response the layer has already converted (see the module documentation): its
/// `IntoResponse` returns it as it is, where converting a `Response<Body>` again would
/// decode a text body declared in another charset a second time.
///
/// ```
/// use lambda_http::{Body, IntoResponse as _, Response};
/// use streamer_obs::http::HttpResponse;
/// let response = HttpResponse::from(Response::builder().status(202).body(Body::from("ok")).unwrap());
/// assert_eq!(response.status(), 202);
/// let sent = block_on(response.into_response());
/// assert_eq!(sent.body(), &Body::from("ok"));
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct HttpResponse(Response<Body>);

impl HttpResponse {
    /// The response.
    ///
    /// ```
    /// use lambda_http::{Body, Response};
    /// let response = streamer_obs::http::HttpResponse::from(Response::new(Body::Empty));
    /// assert_eq!(response.into_inner().status(), 200);
    /// ```
    pub fn into_inner(self) -> Response<Body> {
        self.0
    }
}

impl From<Response<Body>> for HttpResponse {
    fn from(response: Response<Body>) -> Self {
        Self(response)
    }
}

impl From<HttpResponse> for Response<Body> {
    fn from(response: HttpResponse) -> Self {
        response.0
    }
}

impl std::ops::Deref for HttpResponse {
    type Target = Response<Body>;

    fn deref(&self) -> &Response<Body> {
        &self.0
    }
}

impl std::ops::DerefMut for HttpResponse {
    fn deref_mut(&mut self) -> &mut Response<Body> {
        &mut self.0
    }
}

impl lambda_http::IntoResponse for HttpResponse {
    fn into_response(self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

/// The context of a request that did not come through `lambda_http` (built by hand in a
/// test): empty, as `Context::default()`.
static NO_CONTEXT: LazyLock<Context> = LazyLock::new(Context::default);

/// The Lambda `Context` of a request, as `lambda_http` stores it in the request's
/// extensions; an empty one (no request id, no trace header, no deadline) for a request
/// built without it. The `ctx = ...` of `#[instrumented]` on a `lambda_http` handler.
///
/// ```
/// use lambda_http::{Body, Request, RequestExt as _};
/// use streamer_obs::testing::ContextBuilder;
/// let ctx = ContextBuilder::new().request_id("req-1").build();
/// let request = Request::new(Body::Empty).with_lambda_context(ctx);
/// assert_eq!(streamer_obs::http::lambda_context(&request).request_id, "req-1");
/// assert_eq!(streamer_obs::http::lambda_context(&Request::new(Body::Empty)).request_id, "");
/// ```
pub fn lambda_context(request: &Request) -> &Context {
    request.lambda_context_ref().unwrap_or(&NO_CONTEXT)
}

/// The request as `log_event` logs it: `method`, `path`, `query` (the parameters
/// `lambda_http` parsed from the event: each one's value, or its values when repeated),
/// `headers` (lowercase names; repeated ones joined with `", "`) and `body` (text; a binary
/// body that is not UTF-8 as its length, `body_bytes`). Redaction happens where it is logged: values under secret keys
/// (`authorization`, `cookie`, a `token` parameter...) and credentials inside strings.
///
/// ```
/// use lambda_http::{http, Body};
/// let request = http::Request::builder()
///     .method("POST")
///     .uri("https://api.example.com/v1/messages?limit=5")
///     .header("content-type", "application/json")
///     .body(Body::from(r#"{"text":"hi"}"#))
///     .unwrap();
/// let event = streamer_obs::http::request_event(&request);
/// assert_eq!(event["method"], "POST");
/// assert_eq!(event["path"], "/v1/messages");
/// assert_eq!(event["headers"]["content-type"], "application/json");
/// assert_eq!(event["body"], r#"{"text":"hi"}"#);
/// ```
pub fn request_event(request: &Request) -> Value {
    let mut event = Map::new();
    event.insert("method".to_owned(), Value::String(request.method().as_str().to_owned()));
    event.insert("path".to_owned(), Value::String(request.uri().path().to_owned()));
    let query = query_object(request);
    if !query.is_empty() {
        event.insert("query".to_owned(), Value::Object(query));
    }
    event.insert("headers".to_owned(), Value::Object(headers_object(request.headers())));
    insert_body(&mut event, request.body());
    Value::Object(event)
}

/// The response as `capture_response` captures it: `status_code`, `headers` and `body`,
/// as [`request_event`] renders them.
///
/// ```
/// use lambda_http::{Body, Response};
/// let response = Response::builder().status(201).header("location", "/v1/messages/7").body(Body::Empty).unwrap();
/// let event = streamer_obs::http::response_event(&response);
/// assert_eq!(event["status_code"], 201);
/// assert_eq!(event["headers"]["location"], "/v1/messages/7");
/// assert!(event.get("body").is_none());
/// ```
pub fn response_event(response: &Response<Body>) -> Value {
    let mut event = response_head_event(response);
    if let Value::Object(map) = &mut event {
        insert_body(map, response.body());
    }
    event
}

/// The head of a response as `capture_response` captures a streaming one
/// ([`ObsStreamingLayer`](crate::layer::ObsStreamingLayer)): `status_code` and `headers`,
/// rendered as [`response_event`] renders them; the body is not read.
///
/// ```
/// use lambda_http::Response;
/// struct Stream;
/// let response = Response::builder().status(200).header("content-type", "text/event-stream").body(Stream).unwrap();
/// let event = streamer_obs::http::response_head_event(&response);
/// assert_eq!(event["status_code"], 200);
/// assert_eq!(event["headers"]["content-type"], "text/event-stream");
/// ```
pub fn response_head_event<B>(response: &Response<B>) -> Value {
    let mut event = Map::new();
    event.insert("status_code".to_owned(), Value::from(response.status().as_u16()));
    event.insert("headers".to_owned(), Value::Object(headers_object(response.headers())));
    Value::Object(event)
}

/// The request half of the X-Ray `http` block: method, URL (scheme, host and path; the
/// query string is left out, as it may carry credentials), `User-Agent`, and the client
/// IP (the first address of `X-Forwarded-For`, which API Gateway and ALB set), as the
/// request has them: setting the block on a subsegment (`SubsegmentGuard::set_http`, the
/// layer) removes credentials (a URL's password, JWTs, `Bearer …`) and cuts every string
/// to 250 characters.
///
/// ```
/// use lambda_http::{http, Body};
/// let request = http::Request::builder()
///     .method("GET")
///     .uri("https://api.example.com/v1/rooms?token=abc")
///     .header("user-agent", "curl/8.5")
///     .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
///     .body(Body::Empty)
///     .unwrap();
/// let http = streamer_obs::http::request_http(&request);
/// assert_eq!(http.request_method.as_deref(), Some("GET"));
/// assert_eq!(http.request_url.as_deref(), Some("https://api.example.com/v1/rooms"));
/// assert_eq!(http.request_user_agent.as_deref(), Some("curl/8.5"));
/// assert_eq!(http.request_client_ip.as_deref(), Some("203.0.113.7"));
/// ```
pub fn request_http(request: &Request) -> Http {
    let uri = request.uri();
    let url = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{}", uri.path()),
        _ => match request.headers().get(lambda_http::http::header::HOST).and_then(|h| h.to_str().ok()) {
            // The scheme the load balancer says the request came over (`X-Forwarded-Proto`,
            // as `lambda_http` reads it when it builds a full URI), else `https`.
            Some(host) => {
                let scheme = match header_text(request.headers(), "x-forwarded-proto").as_deref().map(str::trim) {
                    Some(p) if p.eq_ignore_ascii_case("http") => "http",
                    _ => "https",
                };
                format!("{scheme}://{host}{}", uri.path())
            }
            None => uri.path().to_owned(),
        },
    };
    let forwarded = header_text(request.headers(), "x-forwarded-for");
    // The first address the list names: a proxy that found no header before it writes
    // `, 10.0.0.1`, whose first entry is empty.
    let client_ip = forwarded.as_deref().and_then(|list| list.split(',').map(str::trim).find(|ip| !ip.is_empty()));
    // As they are: the subsegment's `set_http` redacts and cuts (once).
    Http {
        request_method: Some(request.method().as_str().to_owned()),
        request_url: Some(url),
        request_user_agent: header_text(request.headers(), "user-agent").map(std::borrow::Cow::into_owned),
        request_client_ip: client_ip.map(str::to_owned),
        ..Http::default()
    }
}

/// Adds the response half to `http`: the status and the content length (the
/// `Content-Length` header, else the body's length), and returns the flags of the status
/// (X-16).
///
/// ```
/// use lambda_http::{Body, Response};
/// use streamer_obs::xray::document::Http;
/// let response = Response::builder().status(503).body(Body::from("busy")).unwrap();
/// let (http, flags) = streamer_obs::http::with_response(Http::default(), &response);
/// assert_eq!((http.response_status, http.response_content_length), (Some(503), Some(4)));
/// assert!(flags.fault && !flags.error);
/// ```
pub fn with_response(http: Http, response: &Response<Body>) -> (Http, Flags) {
    let (status, length) = status_and_length(response);
    (http.status(status).content_length(length), Flags::from_http_status(status))
}

/// The HTTP view of an invocation's request, for the layer and `#[instrumented]` alike: the
/// request half of the handler subsegment's `http` block, and the request logged when
/// `log_event` is on. Returns the handler subsegment, for [`record_response`].
pub(crate) fn record_request(scope: &HandlerScope, request: &Request) -> Option<SubsegmentRef> {
    let segment = scope.segment_ref();
    if let Some(segment) = &segment {
        segment.set_http(request_http(request));
    }
    scope.log_event(|| Some(request_event(request)));
    segment
}

/// The response half of the `http` block (status, length) and the flags of the status,
/// on the subsegment [`record_request`] returned.
pub(crate) fn record_response(segment: Option<&SubsegmentRef>, response: &(impl ResponseView + ?Sized)) {
    if let Some(segment) = segment {
        let (status, length) = response.status_and_length();
        segment.set_http_response(status, length, Flags::from_http_status(status));
    }
}

/// What the `http` block records of a handler's response: the status and, when known, the
/// content length. Implemented for every type `lambda_http` turns into a response
/// (`IntoResponse`): `Response<B>` for the bodies whose length is known here (`Body`,
/// `String`, `&str`, `Vec<u8>`, `&[u8]`, `()`; the `Content-Length` header first), `String`,
/// `&str`, `Vec<u8>`, `&[u8]` and `serde_json::Value` (status 200), and those bodies and
/// `serde_json::Value` paired with a `StatusCode`. `#[instrumented]` records the response
/// half of a `lambda_http` handler whose `Ok` value is one of them, including behind an
/// `impl IntoResponse` return type.
///
/// ```
/// use lambda_http::http::StatusCode;
/// use streamer_obs::http::ResponseView;
/// assert_eq!((StatusCode::CREATED, "made").status_and_length(), (201, Some(4)));
/// assert_eq!(serde_json::json!({"ok": true}).status_and_length(), (200, Some(11)));
/// ```
pub trait ResponseView {
    /// The status code and the content length (`None` when unknown).
    fn status_and_length(&self) -> (u16, Option<u64>);
}

/// The head of a response whose body type [`ResponseView`] does not know (a streaming
/// body): its status, and its length when a `Content-Length` header gives it.
///
/// ```
/// use lambda_http::Response;
/// use streamer_obs::http::{ResponseHead, ResponseView};
/// struct Stream;
/// let response = Response::builder().status(206).header("content-length", "42").body(Stream).unwrap();
/// assert_eq!(ResponseHead(&response).status_and_length(), (206, Some(42)));
/// ```
#[derive(Debug)]
pub struct ResponseHead<'a, B>(pub &'a Response<B>);

impl<B> ResponseView for ResponseHead<'_, B> {
    fn status_and_length(&self) -> (u16, Option<u64>) {
        (self.0.status().as_u16(), content_length(self.0.headers()))
    }
}

/// The length of a body type, when it is known without converting it.
trait BodyLength {
    fn body_length(&self) -> u64;
}

impl BodyLength for Body {
    fn body_length(&self) -> u64 {
        body_len(self)
    }
}

impl BodyLength for () {
    fn body_length(&self) -> u64 {
        0
    }
}

macro_rules! bytes_view {
    ($($ty:ty),*) => {$(
        impl BodyLength for $ty {
            fn body_length(&self) -> u64 {
                <[u8]>::len(self.as_ref()) as u64
            }
        }
        impl ResponseView for $ty {
            fn status_and_length(&self) -> (u16, Option<u64>) {
                (200, Some(self.body_length()))
            }
        }
        impl ResponseView for (lambda_http::http::StatusCode, $ty) {
            fn status_and_length(&self) -> (u16, Option<u64>) {
                (self.0.as_u16(), Some(self.1.body_length()))
            }
        }
    )*};
}
bytes_view!(String, &str, Vec<u8>, &[u8]);

impl<B: BodyLength> ResponseView for Response<B> {
    fn status_and_length(&self) -> (u16, Option<u64>) {
        let length = content_length(self.headers()).unwrap_or_else(|| self.body().body_length());
        (self.status().as_u16(), Some(length))
    }
}

impl ResponseView for Value {
    fn status_and_length(&self) -> (u16, Option<u64>) {
        (200, json_length(self))
    }
}

impl ResponseView for (lambda_http::http::StatusCode, Value) {
    fn status_and_length(&self) -> (u16, Option<u64>) {
        (self.0.as_u16(), json_length(&self.1))
    }
}

/// The length of the body `lambda_http` writes for a JSON value (compact `to_string`),
/// counted without building it.
fn json_length(value: &Value) -> Option<u64> {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).ok().map(|()| count.0)
}

/// The status and the content length of `response` (see [`with_response`]).
fn status_and_length(response: &Response<Body>) -> (u16, u64) {
    let (status, length) = response.status_and_length();
    (status, length.unwrap_or(0))
}

/// The `Content-Length` header's value: digits only (RFC 9110 `1*DIGIT`, blanks around
/// it allowed), `None` for anything else (`+5`, `-1`, `5, 5`), a value past `u64`, or more
/// than one `Content-Length` line (RFC 9110 §5.3 reads them as one list, `999, 3`, which
/// is refused as the single line is).
fn content_length(headers: &lambda_http::http::HeaderMap) -> Option<u64> {
    let mut lines = headers.get_all("content-length").iter();
    let (Some(line), None) = (lines.next(), lines.next()) else { return None };
    let text = String::from_utf8_lossy(line.as_bytes());
    let value = text.trim_matches(|c| c == ' ' || c == '\t');
    (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())).then(|| value.parse().ok()).flatten()
}

/// A header's value as text: UTF-8 as API Gateway and ALB deliver it (`HeaderValue::to_str`
/// refuses every byte above 0x7F, and a `User-Agent` naming `Zürich` would be left out),
/// bytes that are not UTF-8 as U+FFFD.
fn header_text<'h>(headers: &'h lambda_http::http::HeaderMap, name: &str) -> Option<std::borrow::Cow<'h, str>> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()))
}

fn body_len(body: &Body) -> u64 {
    match body {
        Body::Empty => 0,
        Body::Text(t) => t.len() as u64,
        Body::Binary(b) => b.len() as u64,
        // `Body` is non-exhaustive.
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

fn insert_body(event: &mut Map<String, Value>, body: &Body) {
    match body {
        Body::Empty => {}
        Body::Text(t) => {
            event.insert("body".to_owned(), Value::String(t.clone()));
        }
        Body::Binary(b) => match std::str::from_utf8(b) {
            Ok(t) => {
                event.insert("body".to_owned(), Value::String(t.to_owned()));
            }
            Err(_) => {
                event.insert("body_bytes".to_owned(), Value::from(b.len()));
            }
        },
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

fn headers_object(headers: &lambda_http::http::HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let mut joined = String::new();
        for value in headers.get_all(name) {
            if !joined.is_empty() {
                joined.push_str(", ");
            }
            joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        out.insert(name.as_str().to_owned(), Value::String(joined));
    }
    out
}

fn query_object(request: &Request) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(query) = request.query_string_parameters_ref() else { return out };
    for (key, value) in query.iter() {
        match out.get_mut(key) {
            None => {
                out.insert(key.to_owned(), Value::String(value.to_owned()));
            }
            Some(Value::Array(values)) => values.push(Value::String(value.to_owned())),
            Some(first) => {
                let first = first.take();
                out.insert(key.to_owned(), Value::Array(vec![first, Value::String(value.to_owned())]));
            }
        }
    }
    out
}
