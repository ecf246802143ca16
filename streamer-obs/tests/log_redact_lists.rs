//! A secret whose value is a JSON / `Debug` list is redacted whole (a review found it left
//! in the line).
//!
//! Policy (brief, README "Log line format" > Redaction): secrets (tokens in query strings,
//! Authorization values) never reach a log line. The README promises that the value after
//! `…Authorization:` / `…Cookie:` is replaced, and that the quoted value after a quoted
//! secret parameter name (`"password":"…"`, JSON text, `Debug` of a struct or map) is too.
//!
//! When that value is a list, `"Authorization": ["…"]`, the scrubber recognises the pair
//! but replaced the wrong range: only the opening `[` (up to the first quote, which it
//! takes for the closing one) becomes `[REDACTED]`, and the secret stays, e.g.
//! `QueryMap({"Authorization": [REDACTED]"opaque-secret"]})`.
//!
//! This is exactly the `Debug` of `aws_lambda_events`' `QueryMap` (`query_string_parameters`,
//! `multi_value_query_string_parameters` of every API Gateway event: the `$connect`
//! `?Authorization=…` of the reference handlers) and the JSON text of an API Gateway
//! event's `multiValueQueryStringParameters` / `multiValueHeaders`. A JWT there is still
//! caught by the JWT-shape rule; an opaque token (or a password, a cookie) is not.

mod common;

use common::*;

const SECRET: &str = "opaque-S3cr3tV4lue-Zm9vYmFy";

fn assert_scrubbed(text: &str) {
    for mode in 0..3 {
        let (raw, _) = one_line(|| match mode {
            0 => tracing::info!("{text}"),
            1 => tracing::info!(detail = text, "m"),
            _ => tracing::info!(detail = ?text, "m"),
        });
        assert!(!raw.contains(SECRET), "secret reached the line (mode {mode}) for {text:?}:\n{raw}");
    }
}

#[test]
fn debug_of_a_query_map_with_an_authorization_list_is_scrubbed() {
    assert_scrubbed(&format!("QueryMap({{\"Authorization\": [\"{SECRET}\"]}})"));
}

#[test]
fn debug_of_a_query_map_with_a_token_list_is_scrubbed() {
    assert_scrubbed(&format!("QueryMap({{\"access_token\": [\"{SECRET}\"]}})"));
}

#[test]
fn json_text_with_a_secret_list_value_is_scrubbed() {
    // API Gateway's multiValueQueryStringParameters / multiValueHeaders, as JSON text.
    assert_scrubbed(&format!("{{\"multiValueQueryStringParameters\":{{\"Authorization\":[\"{SECRET}\"]}}}}"));
    assert_scrubbed(&format!("{{\"password\": [\"{SECRET}\", \"x\"]}}"));
}

#[test]
fn debug_of_a_connect_event_with_an_opaque_query_token_is_scrubbed() {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
    let mut v: serde_json::Value = serde_json::from_str(include_str!(
        "../../streamer-handlers/tests/fixtures/example-apigw-websocket-request.json"
    ))
    .unwrap();
    v["queryStringParameters"] = serde_json::json!({"Authorization": SECRET});
    v["multiValueQueryStringParameters"] = serde_json::json!({"Authorization": [SECRET]});
    let event: ApiGatewayWebsocketProxyRequest = serde_json::from_value(v).unwrap();
    let (raw, _) = one_line(|| tracing::info!(event = ?event, "received"));
    assert!(!raw.contains(SECRET), "the query-string token reached the line:\n{raw}");
}

#[test]
fn only_the_list_is_replaced_and_a_bracket_inside_a_value_does_not_end_it() {
    let text = format!("QueryMap({{\"Authorization\": [\"ab]{SECRET}\", \"x\"], \"accept\": [\"text/html\"]}})");
    let (_, line) = one_line(|| tracing::info!("{text}"));
    let message = line["message"].as_str().unwrap();
    assert_eq!(message, "QueryMap({\"Authorization\": [[REDACTED]], \"accept\": [\"text/html\"]})");
}

#[test]
fn a_pretty_debug_list_is_redacted_across_lines() {
    let mut map = std::collections::BTreeMap::new();
    map.insert("access_token", vec![SECRET.to_owned(), "second".to_owned()]);
    map.insert("room", vec!["lobby".to_owned()]);
    let (raw, line) = one_line(|| tracing::info!("{map:#?}"));
    assert!(!raw.contains(SECRET) && !raw.contains("second"), "{raw}");
    assert!(line["message"].as_str().unwrap().contains("lobby"), "{raw}");
}

#[test]
fn a_list_of_non_secret_names_is_left_alone() {
    let (_, line) = one_line(|| tracing::info!("headers: [\"authorization\", \"accept\"]"));
    assert_eq!(line["message"], "headers: [\"authorization\", \"accept\"]");
}
