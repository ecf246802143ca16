//! The API Gateway responses of the handlers and the helpers both handlers share
//! (metric recording into the current invocation, event accessors).
//!
//! ```
//! use streamer_handlers::response::{connected, internal_error};
//! assert_eq!(connected().status_code, 200);
//! assert_eq!(internal_error().body.unwrap().as_ref(), br#"{"code":"INTERNAL_ERROR","message":"Failed to establish connection"}"#);
//! ```

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderValue;
use aws_lambda_events::http::header::CONTENT_TYPE;
use streamer_obs::invocation::Invocation;
use streamer_obs::metrics::{MetricSet, MetricsError};

use crate::auth::AuthFailure;

/// The body of a successful `$connect`.
///
/// ```
/// let body: serde_json::Value = serde_json::from_str(streamer_handlers::response::CONNECTED_BODY).unwrap();
/// assert!(body.is_object());
/// ```
pub const CONNECTED_BODY: &str = r#"{"message":"Connected successfully"}"#;
/// The body of a handled `$disconnect` (found, gone or store failure alike).
///
/// ```
/// let body: serde_json::Value = serde_json::from_str(streamer_handlers::response::DISCONNECTED_BODY).unwrap();
/// assert!(body.is_object());
/// ```
pub const DISCONNECTED_BODY: &str = r#"{"message":"Disconnected successfully"}"#;
/// The body of a `$disconnect` 500 (misconfiguration).
///
/// ```
/// let body: serde_json::Value = serde_json::from_str(streamer_handlers::response::DISCONNECT_ERROR_BODY).unwrap();
/// assert!(body.is_object());
/// ```
pub const DISCONNECT_ERROR_BODY: &str = r#"{"code":"INTERNAL_ERROR","message":"Failed to process disconnect"}"#;
/// The body of a `$connect` 500 (store failure, misconfiguration, malformed event).
///
/// ```
/// let body: serde_json::Value = serde_json::from_str(streamer_handlers::response::INTERNAL_ERROR_BODY).unwrap();
/// assert!(body.is_object());
/// ```
pub const INTERNAL_ERROR_BODY: &str = r#"{"code":"INTERNAL_ERROR","message":"Failed to establish connection"}"#;

/// A JSON response with `status` and `body` (`Content-Type: application/json`).
///
/// ```
/// let r = streamer_handlers::response::json(418, r#"{"a":1}"#);
/// assert_eq!(r.status_code, 418);
/// assert_eq!(r.headers["content-type"], "application/json");
/// ```
pub fn json(status: u16, body: impl Into<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(body.into()));
    response.is_base64_encoded = false;
    response
}

/// 200 `{"message":"Connected successfully"}`.
///
/// ```
/// assert_eq!(streamer_handlers::response::connected().status_code, 200);
/// ```
pub fn connected() -> ApiGatewayProxyResponse {
    json(200, CONNECTED_BODY)
}

/// Names in `response` the subprotocol chosen among those the client offered
/// (`Sec-WebSocket-Protocol: graphql-ws, json`): API Gateway passes the `$connect`
/// response's `Sec-WebSocket-Protocol` header to the client, and a client that offered
/// subprotocols (every browser) fails the handshake when none is chosen. The first
/// offered one that is an RFC 7230 token and not JWT-shaped is chosen (a token sent as a
/// subprotocol is never echoed); nothing is added when the client offered none.
///
/// ```
/// use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
/// let mut event = ApiGatewayWebsocketProxyRequest::default();
/// event.headers.insert("sec-websocket-protocol", "graphql-ws, json".parse().unwrap());
/// let mut r = streamer_handlers::response::connected();
/// streamer_handlers::response::select_subprotocol(&event, &mut r);
/// assert_eq!(r.headers["sec-websocket-protocol"], "graphql-ws");
/// ```
pub fn select_subprotocol(event: &ApiGatewayWebsocketProxyRequest, response: &mut ApiGatewayProxyResponse) {
    let Some(offered) = header(event, "Sec-WebSocket-Protocol") else { return };
    let is_token_char = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    let chosen = offered
        .split(',')
        .map(str::trim)
        .find(|p| !p.is_empty() && p.len() <= 128 && p.bytes().all(is_token_char) && !p.contains("eyJ"));
    if let Some(value) = chosen.and_then(|p| HeaderValue::from_str(p).ok()) {
        response.headers.insert("sec-websocket-protocol", value);
    }
}

/// 200 `{"message":"Disconnected successfully"}`.
///
/// ```
/// assert_eq!(streamer_handlers::response::disconnected().status_code, 200);
/// ```
pub fn disconnected() -> ApiGatewayProxyResponse {
    json(200, DISCONNECTED_BODY)
}

/// 500 `{"code":"INTERNAL_ERROR","message":"Failed to establish connection"}`.
///
/// ```
/// assert_eq!(streamer_handlers::response::internal_error().status_code, 500);
/// ```
pub fn internal_error() -> ApiGatewayProxyResponse {
    json(500, INTERNAL_ERROR_BODY)
}

/// 401/403 with the fixed `{"code","message"}` body of `failure` (never the token, never
/// the parser's text, never the precise reason).
///
/// ```
/// use streamer_handlers::auth::AuthFailure;
/// let r = streamer_handlers::response::refused(&AuthFailure::MissingToken);
/// assert_eq!(r.status_code, 401);
/// ```
pub fn refused(failure: &AuthFailure) -> ApiGatewayProxyResponse {
    let client = failure.response();
    json(client.status_code, client.body_json())
}

/// The body of `response` as text (empty when there is none).
///
/// ```
/// let r = streamer_handlers::response::connected();
/// assert_eq!(streamer_handlers::response::body_text(&r), r#"{"message":"Connected successfully"}"#);
/// ```
pub fn body_text(response: &ApiGatewayProxyResponse) -> &str {
    match &response.body {
        Some(Body::Text(t)) => t,
        Some(Body::Binary(b)) => std::str::from_utf8(b).unwrap_or_default(),
        _ => "",
    }
}

/// Records into the current invocation's metric set with one of the
/// `streamer_obs::metrics::standard` helpers; a refused datum is dropped with one WARN
/// line. Does nothing outside an invocation or when metrics are disabled.
///
/// ```
/// use streamer_obs::metrics::standard::{self, ErrorType};
/// // Outside an invocation: nothing recorded, no panic.
/// streamer_handlers::response::record_metrics(|set| standard::message_failed(set, ErrorType::InternalError));
/// ```
pub fn record_metrics(f: impl FnOnce(&mut MetricSet) -> Result<(), MetricsError>) {
    if let Some(Some(Err(e))) = Invocation::with_current(|inv| inv.metrics().with_set(f)) {
        tracing::warn!(error = %e, "metric dropped");
    }
}

/// The `Authorization` query-string parameter of `event`.
///
/// ```
/// let event = aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest::default();
/// assert_eq!(streamer_handlers::response::query_authorization(&event), None);
/// ```
pub fn query_authorization(event: &ApiGatewayWebsocketProxyRequest) -> Option<&str> {
    event.query_string_parameters.first(crate::auth::AUTHORIZATION)
}

/// The header `name` of `event` (any letter case) as text.
///
/// ```
/// let mut event = aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest::default();
/// event.headers.insert("user-agent", "wscat/5".parse().unwrap());
/// assert_eq!(streamer_handlers::response::header(&event, "User-Agent"), Some("wscat/5"));
/// ```
pub fn header<'a>(event: &'a ApiGatewayWebsocketProxyRequest, name: &str) -> Option<&'a str> {
    event
        .headers
        .iter()
        .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
}
