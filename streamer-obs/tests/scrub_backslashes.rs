//! Secret header values holding backslashes (`C:\Users\nina`, `CORP\rachel`) are redacted
//! whole in log lines, logged events, JSON bodies, `lambda_http` request logs and X-Ray
//! exception messages (a review found the value cut at the `\n`/`\r`, its rest written as
//! it was); and the JSON-text fast path of the redaction keeps only text with nothing to
//! redact.

mod common;

use common::*;
use serde_json::json;
use streamer_obs::log::Redactor;

/// A `Cookie:` header whose first cookie holds a Windows path (`C:\Users\nina\...`): the
/// `\n` of `\nina` is a backslash and a letter, not a line break: the whole header value,
/// the session cookie included, is redacted.
const COOKIE_WITH_PATH: &str = r"Cookie: profile=C:\Users\nina\prefs; sid=s3ss10n-77aa-SECRET";
const SESSION: &str = "s3ss10n-77aa-SECRET";

#[test]
fn a_header_value_with_a_backslash_n_is_redacted_whole_in_a_log_line() {
    let config = config(&[]);
    let (dispatch, writer, _clock) = capture(&config);
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!("upstream answered 401 to {COOKIE_WITH_PATH}");
    });
    let lines = writer.lines().join("\n");
    assert!(lines.contains("Cookie: [REDACTED]"), "the header is found: {lines}");
    assert!(!lines.contains(SESSION), "the rest of the Cookie header leaks: {lines}");
}

#[test]
fn a_header_value_with_a_backslash_r_is_redacted_whole_in_a_logged_event() {
    // `\r` of `\rachel` (a Windows domain user) in a credential that follows it.
    let r = Redactor::new(streamer_obs::config::DEFAULT_REDACT_KEYS);
    let mut event = json!({ "note": r"X-Api-Key: CORP\rachel:Zk9-live-key-0xDEADBEEF" });
    r.redact_value(&mut event);
    let text = event["note"].as_str().unwrap();
    assert!(text.starts_with("X-Api-Key: [REDACTED]"), "{text}");
    assert!(!text.contains("Zk9-live-key-0xDEADBEEF"), "the rest of the api key leaks: {text}");
}

#[test]
fn a_cookie_header_with_a_backslash_n_is_redacted_whole_in_a_logged_event() {
    let r = Redactor::new(streamer_obs::config::DEFAULT_REDACT_KEYS);
    let mut event = json!({ "upstream": COOKIE_WITH_PATH });
    r.redact_value(&mut event);
    let text = event["upstream"].as_str().unwrap();
    assert!(!text.contains(SESSION), "the rest of the Cookie header leaks: {text}");
}

/// The same header inside JSON text in a string (a logged event's body): the body is
/// parsed (it has escapes) and its string scrubbed the same way.
#[test]
fn a_cookie_header_with_a_backslash_n_inside_a_json_body_is_redacted_whole() {
    let r = Redactor::new(streamer_obs::config::DEFAULT_REDACT_KEYS);
    let body = serde_json::to_string(&json!({ "raw": COOKIE_WITH_PATH })).unwrap();
    let mut event = json!({ "body": body });
    r.redact_value(&mut event);
    let text = event["body"].as_str().unwrap();
    assert!(!text.contains(SESSION), "the rest of the Cookie header leaks: {text}");
}

/// Pinned (verified): JSON text without escapes is kept as written only when it holds
/// nothing to redact; a planted credential in any of its strings still sends it through
/// the parser.
#[test]
fn json_text_fast_path_keeps_only_clean_text() {
    let r = Redactor::new(["ssn"]);
    for (body, secret) in [
        (r#"{"a": "x", "b": ["Bearer Zm9vYmFyYmF6cXV4MTIz"]}"#, "Zm9vYmFyYmF6cXV4MTIz"),
        (r#"{"a": "see https://u:hunter2pw@db.example.com/x"}"#, "hunter2pw"),
        (r#"[{"q": "a=1&pwd=hunter3pw"}]"#, "hunter3pw"),
        (r#"{"n": {"SSN": 123456789}}"#, "123456789"),
        (r#"{"n": "q=1&ssn=987654321"}"#, "987654321"),
    ] {
        let mut v = json!({ "body": body });
        r.redact_value(&mut v);
        let out = v["body"].as_str().unwrap();
        assert!(!out.contains(secret), "{body} -> {out}");
    }
    let clean = r#"{ "z": 1, "a": [true, null, "x y"] }"#;
    let mut v = json!({ "body": clean });
    r.redact_value(&mut v);
    assert_eq!(v["body"], clean);
}

#[cfg(feature = "http")]
mod http {
    use lambda_http::request::LambdaRequest;
    use lambda_http::tower::{Layer, Service, ServiceExt};
    use lambda_http::{Adapter, Body, Request, Response, service_fn};
    use lambda_runtime::LambdaEvent;
    use serde_json::Value;
    use streamer_obs::handler::HandlerOptions;
    use streamer_obs::layer::ObsLayer;
    use streamer_obs::testing::ContextBuilder;
    use tracing::instrument::WithSubscriber;

    use super::*;

    fn http_api_event(method: &str, path: &str, headers: Value, body: &str) -> LambdaRequest {
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": http_api_request_context(method, path),
            "body": body,
            "isBase64Encoded": false
        });
        serde_json::from_value(event).expect("an HTTP API event")
    }

    fn run<S>(h: &Captured, service: S, event: LambdaRequest) -> Value
    where
        S: Service<Request, Response = streamer_obs::http::HttpResponse, Error = lambda_http::Error> + Send + 'static,
        S::Future: Send + 'static,
    {
        let ctx = ContextBuilder::new().request_id("req-r8").trace_header(HEADER).build();
        let mut adapter: Adapter<'static, streamer_obs::http::HttpResponse, S> = Adapter::from(service);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(
            async move {
                let r = adapter.ready().await.unwrap().call(LambdaEvent::new(event, ctx)).await.unwrap();
                serde_json::to_value(r).unwrap()
            }
            .with_subscriber(h.dispatch.clone()),
        )
    }

    /// A request body holding a `Cookie:` line with a Windows path (a support ticket
    /// quoting a failing request): `log_event` writes the session cookie after the path.
    #[test]
    fn logged_request_body_keeps_no_part_of_a_cookie_header_with_a_backslash_n() {
        let h = captured(config(&[]));
        let options = HandlerOptions::new("Ticket").log_event(true).capture_response(true);
        let service = ObsLayer::new(options).telemetry(h.telemetry.clone()).layer(service_fn(|_r: Request| async {
            Ok::<_, lambda_http::Error>(Response::builder().status(202).body(Body::Empty).unwrap())
        }));
        let body = format!("steps to reproduce:\n{COOKIE_WITH_PATH}\n");
        let headers = json!({"content-type": "text/plain", "host": "abc123.execute-api.eu-west-1.amazonaws.com"});
        let response = run(&h, service, http_api_event("POST", "/v1/tickets", headers, &body));
        assert_eq!(response["statusCode"], 202, "{response}");
        let lines = h.log.lines().join("\n");
        assert!(lines.contains("Incoming event"), "the request is logged: {lines}");
        assert!(!lines.contains(SESSION), "the rest of the Cookie header leaks: {lines}");
    }

    /// The same header in a handler's error: the X-Ray `cause` message and the ERROR line
    /// keep the session cookie after the path.
    #[test]
    fn an_error_message_keeps_no_part_of_a_cookie_header_with_a_backslash_n() {
        let h = captured(config(&[]));
        let service = ObsLayer::new(HandlerOptions::new("Proxy")).telemetry(h.telemetry.clone()).layer(service_fn(
            |_r: Request| async {
                Err::<Response<Body>, lambda_http::Error>(format!("upstream refused {COOKIE_WITH_PATH}").into())
            },
        ));
        let headers = json!({"host": "abc123.execute-api.eu-west-1.amazonaws.com"});
        let event = http_api_event("GET", "/v1/proxy", headers, "");
        let ctx = ContextBuilder::new().request_id("req-r8e").trace_header(HEADER).build();
        let mut adapter: Adapter<'static, streamer_obs::http::HttpResponse, _> = Adapter::from(service);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let result = rt.block_on(
            async move { adapter.ready().await.unwrap().call(LambdaEvent::new(event, ctx)).await.map(|_| ()) }
                .with_subscriber(h.dispatch.clone()),
        );
        assert!(result.is_err());
        let docs = h.xray.raw().join("\n");
        assert!(docs.contains("Cookie: [REDACTED]"), "the cause is recorded: {docs}");
        assert!(!docs.contains(SESSION), "the rest of the Cookie header leaks into X-Ray: {docs}");
        let lines = h.log.lines().join("\n");
        assert!(!lines.contains(SESSION), "the rest of the Cookie header leaks into the ERROR line: {lines}");
    }
}
