//! A list of secret values inside a `Debug` wrapper reaches the log line.
//!
//! The README ("Log line format" > Redaction) promises that the value after a secret header
//! or parameter name is replaced, "possibly in a wrapper (`api_token: Some("…")`)", and that
//! "a list of quoted values after a secret header or parameter name" is replaced whole
//! (`"Authorization": ["…", "…"]`). The two together are not: a list inside a wrapper,
//! which is exactly how `serde_json::Value` writes an array (`Array [String("…")]`) and how
//! `Debug` writes an `Option<Vec<String>>` (`Some(["…"])`). The scrubber then replaces only
//! the wrapper's text up to the first quote (`"Cookie": [REDACTED]"sid=…")]`), and the
//! secret stays on the line.
//!
//! This is what a handler taking `LambdaEvent<serde_json::Value>` (the most common payload
//! type) writes when it logs its payload with `?`, and what `#[instrumented]` itself
//! records for a `Value` parameter (every parameter is a `Debug` span field, flattened into
//! every line inside the function): the API Gateway `multiValueHeaders` and
//! `multiValueQueryStringParameters` are arrays of strings.
//!
//! Promise: "Secrets (JWTs, Authorization headers) never reach a log line". The values
//! below are opaque (no JWT shape, no `Bearer`), so only the name marker can catch them.

mod common;

use common::*;
use streamer_obs::instrumented;

const SECRET: &str = "opaque-S3cr3tV4lue-Zm9vYmFy";

fn rest_event() -> serde_json::Value {
    serde_json::json!({
        "resource": "/me",
        "httpMethod": "GET",
        "multiValueHeaders": {
            "Cookie": [format!("sid={SECRET}")],
            "X-Api-Key": [SECRET],
            "Authorization": [SECRET],
            "Sec-WebSocket-Protocol": [format!("chat, {SECRET}")]
        },
        "multiValueQueryStringParameters": { "access_token": [SECRET] }
    })
}

#[test]
fn debug_of_a_serde_json_value_with_secret_lists_is_scrubbed() {
    let event = rest_event();
    for pretty in [false, true] {
        let (raw, _) = one_line(|| {
            if pretty {
                tracing::info!(payload = format!("{event:#?}"), "incoming");
            } else {
                tracing::info!(payload = ?event, "incoming");
            }
        });
        assert!(!raw.contains(SECRET), "secret reached the line (pretty: {pretty}):\n{raw}");
    }
}

#[instrumented]
fn authorize(payload: &serde_json::Value) -> bool {
    tracing::info!("authorizing");
    payload.get("resource").is_some()
}

#[test]
fn an_instrumented_value_parameter_does_not_put_secrets_on_every_line() {
    // No log statement of the user names the payload: the attribute records it.
    let event = rest_event();
    let (raw, line) = one_line(|| {
        assert!(authorize(&event));
    });
    assert!(line.get("payload").is_some(), "the parameter is recorded: {raw}");
    assert!(!raw.contains(SECRET), "secret reached the line through the parameter field:\n{raw}");
}

#[derive(Debug)]
#[allow(dead_code)]
struct Upstream {
    url: &'static str,
    api_token: Option<Vec<String>>,
}

#[test]
fn an_option_wrapped_list_after_a_secret_name_is_scrubbed() {
    let upstream = Upstream { url: "https://api.example.com", api_token: Some(vec![SECRET.to_owned()]) };
    let (raw, _) = one_line(|| tracing::info!(upstream = ?upstream, "calling"));
    assert!(!raw.contains(SECRET), "secret reached the line:\n{raw}");
}

#[test]
fn debug_of_an_http_api_v2_event_does_not_leak_its_session_cookies() {
    // API Gateway HTTP API (payload 2.0) puts the request's cookies in `cookies`, an
    // `Option<Vec<String>>`: `cookies: Some(["sid=…"])`. As JSON (`log_event`) the key
    // `cookies` is redacted (it contains `cookie`); through `Debug` it is not.
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
    let mut request = ApiGatewayV2httpRequest::default();
    request.raw_path = Some("/me".to_owned());
    request.cookies = Some(vec![format!("sid={SECRET}"), "theme=dark".to_owned()]);
    let (raw, _) = one_line(|| tracing::info!(request = ?request, "incoming"));
    assert!(!raw.contains(SECRET), "session cookie reached the line:\n{raw}");
}
