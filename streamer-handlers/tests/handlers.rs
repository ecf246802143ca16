//! The `$connect` and `$disconnect` handlers in process: in-memory store, `mockall` store
//! failures, captured log lines, EMF documents and X-Ray subsegment trees.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use streamer_handlers::auth::Authenticator;
use streamer_handlers::connect::ConnectHandler;
use streamer_handlers::disconnect::DisconnectHandler;
use streamer_handlers::response::body_text;
use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey, SettingsError};
use streamer_handlers::store::{
    ConnectionRecord, ConnectionStore, InMemoryConnectionStore, MockConnectionStore, StoreError,
};
use streamer_handlers::testing::{DEV_RSA_PUBLIC_KEY_PEM, TokenMinter};
use streamer_obs::testing::FixedClock;

fn authenticator(tenants: &str) -> Authenticator {
    let key = PublicKey::from_pem(DEV_RSA_PUBLIC_KEY_PEM).unwrap();
    let jwt = JwtSettings::new(key, vec![jsonwebtoken::Algorithm::RS256]).unwrap();
    Authenticator::new(&jwt, AllowedTenants::parse(tenants))
}

fn connect_handler(store: Arc<dyn ConnectionStore>) -> ConnectHandler {
    ConnectHandler::new(authenticator("acme,globex"), store, Duration::from_secs(24 * 3600))
        .with_clock(Arc::new(FixedClock::at_millis(T0)))
}

fn minter() -> TokenMinter {
    TokenMinter::dev_rsa().unwrap()
}

fn token() -> String {
    minter().mint("user-1", "acme", Duration::from_secs(300)).unwrap()
}

/// Runs one `$connect` with `request` on `handler`.
fn connect(
    handler: &ConnectHandler,
    request: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
) -> (aws_lambda_events::apigw::ApiGatewayProxyResponse, Captured) {
    let (out, cap) = run(handler.handle(event(request)));
    (out.expect("handlers answer Ok"), cap)
}

fn assert_no_token(cap: &Captured, token: &str) {
    let text = cap.all_text();
    assert!(!text.contains(token), "token leaked");
    // Not even its signature or payload part.
    for part in token.split('.') {
        assert!(part.len() < 8 || !text.contains(part), "token part leaked: {part}");
    }
}

fn assert_annotations(seg: &Value, expected: &[(&str, &str)]) {
    for (k, v) in expected {
        assert_eq!(seg["annotations"][*k], *v, "annotation {k} in {seg:#}");
    }
}

#[test]
fn connect_accepts_a_valid_token_saves_the_record_and_answers_200() {
    let store = Arc::new(memory_store());
    let handler = connect_handler(store.clone());
    let t = token();
    let (response, cap) = connect(&handler, connect_with_query_token(&t));

    assert_eq!(response.status_code, 200);
    assert_eq!(body_text(&response), r#"{"message":"Connected successfully"}"#);
    assert_eq!(response.headers["content-type"], "application/json");

    let saved = store.snapshot();
    assert_eq!(saved.len(), 1);
    let r = &saved[0];
    assert_eq!((r.connection_id.as_str(), r.user_id.as_str(), r.tenant_id.as_str()), (CONNECTION_ID, "user-1", "acme"));
    assert_eq!(r.endpoint, "*.execute-api.eu-central-1.amazonaws.com/testStage");
    assert_eq!(r.connected_at, T0);
    assert_eq!(r.ttl, T0 / 1000 + 24 * 3600);
    assert_eq!(r.user_agent.as_deref(), Some("PostmanRuntime/2.4.5"));
    assert_eq!(r.source_ip.as_deref(), Some("192.168.196.186"));

    // Log lines: correlation fields on the lines after they are known.
    let attempt = cap.line("Connection attempt");
    assert_eq!(attempt["level"], "INFO");
    assert_eq!(attempt["connection_id"], CONNECTION_ID);
    assert_eq!(attempt["route_key"], "$connect");
    let done = cap.line("Connection established");
    for (k, v) in
        [("connection_id", CONNECTION_ID), ("user_id", "user-1"), ("tenant_id", "acme"), ("route_key", "$connect")]
    {
        assert_eq!(done[k], v, "{k} in {done}");
    }
    assert!(done["xray_trace_id"].as_str().unwrap().contains("1-5759e988-bd862e3fe1be46a994272793"), "{done}");
    assert!(done["permissions"].is_array(), "permissions is a JSON array: {done}");

    // EMF: the metrics, their exact dimension sets, ids only as properties.
    assert_eq!(cap.dimension_sets("ConnectionEstablished"), json!([["Environment"], ["Environment", "TenantID"]]));
    assert_eq!(cap.dimension_sets("ProcessingLatency"), json!([["Environment"], ["Environment", "Action"]]));
    let doc = cap.emf_with("ConnectionEstablished");
    assert_eq!(doc["ConnectionEstablished"], 1.0);
    assert_eq!(doc["TenantID"], "acme");
    assert_eq!(doc["Environment"], "test");
    let latency = cap.emf_with("ProcessingLatency");
    assert_eq!(latency["Action"], "connect");
    assert!(latency["ProcessingLatency"].as_f64().unwrap() >= 0.0);
    for d in &cap.emf {
        assert_eq!(d["connection_id"], CONNECTION_ID, "{d}");
        assert_eq!(d["user_id"], "user-1", "{d}");
        assert_eq!(d["request_id"], "req-1", "{d}");
        let all_dims = d["_aws"]["CloudWatchMetrics"].to_string();
        for id in ["connection_id", "user_id", "request_id"] {
            assert!(!all_dims.contains(id), "{id} must not be a dimension: {all_dims}");
        }
    }
    assert!(cap.emf.iter().all(|d| d.get("AuthenticationFailed").is_none()));

    // Trace: HandleConnect > ValidateJWT, SaveConnection with the annotations.
    let seg = cap.segment("HandleConnect");
    assert_annotations(
        seg,
        &[("connection_id", CONNECTION_ID), ("user_id", "user-1"), ("tenant_id", "acme"), ("action", "connect")],
    );
    let names: Vec<_> = seg["subsegments"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ValidateJWT", "SaveConnection"]);
    assert!(seg.get("error").is_none() && seg.get("fault").is_none(), "{seg:#}");
    assert_no_token(&cap, &t);
}

#[test]
fn connect_takes_the_token_from_the_authorization_header_in_any_case() {
    let store = Arc::new(memory_store());
    let handler = connect_handler(store.clone());
    for name in ["Authorization", "authorization", "AUTHORIZATION"] {
        let mut request = connect_request();
        request.request_context.connection_id = Some(format!("conn-{name}"));
        request.headers.insert(
            aws_lambda_events::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            format!("Bearer {}", token()).parse().unwrap(),
        );
        let (response, _) = connect(&handler, request);
        assert_eq!(response.status_code, 200, "{name}");
    }
    assert_eq!(store.stored_len(), 3);
}

/// Runs a refused `$connect` and checks everything a refusal must show.
fn assert_refused(request_token: Option<&str>, status: i64, error_type: &str, reason: &str) -> Captured {
    let store = Arc::new(memory_store());
    let handler = connect_handler(store.clone());
    let request = match request_token {
        Some(t) => connect_with_query_token(t),
        None => connect_request(),
    };
    let (response, cap) = connect(&handler, request);
    assert_eq!(response.status_code, status, "{reason}");
    let body: Value = serde_json::from_str(body_text(&response)).unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2, "only code and message: {body}");
    assert!(body["code"] == "UNAUTHORIZED" || body["code"] == "FORBIDDEN");
    assert!(!body_text(&response).contains(reason) || reason == error_type, "the reason is not sent: {body}");
    assert_eq!(store.stored_len(), 0);

    let line = cap.line("Connection refused");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["error_type"], error_type);
    assert_eq!(line["reason"], reason);
    assert_eq!(line["connection_id"], CONNECTION_ID);

    let doc = cap.emf_with("AuthenticationFailed");
    assert_eq!(doc["AuthenticationFailed"], 1.0);
    assert_eq!(doc["ErrorType"], error_type);
    assert_eq!(doc["Environment"], "test");
    let sets = cap.dimension_sets("AuthenticationFailed");
    assert!(sets.as_array().unwrap().contains(&json!(["Environment"])), "{sets}");
    assert!(sets.as_array().unwrap().contains(&json!(["Environment", "ErrorType"])), "{sets}");
    assert_eq!(cap.emf_with("ProcessingLatency")["Action"], "connect");
    assert!(cap.emf.iter().all(|d| d.get("ConnectionEstablished").is_none()));

    let seg = cap.segment("HandleConnect");
    assert_eq!(seg["error"], true, "{seg:#}");
    assert!(seg.get("fault").is_none(), "an auth failure is not a fault: {seg:#}");
    assert_eq!(seg["annotations"]["reason"], reason);
    let jwt = child(seg, "ValidateJWT");
    assert_eq!(jwt["error"], true, "{jwt:#}");
    assert!(jwt.get("fault").is_none(), "{jwt:#}");
    assert!(seg["subsegments"].as_array().unwrap().iter().all(|s| s["name"] != "SaveConnection"));
    if let Some(t) = request_token {
        assert_no_token(&cap, t);
    }
    cap
}

#[test]
fn connect_without_a_token_is_401_missing_token() {
    let cap = assert_refused(None, 401, "missing_token", "missing_token");
    assert_eq!(cap.dimension_sets("AuthenticationFailed"), json!([["Environment"], ["Environment", "ErrorType"]]));
}

#[test]
fn connect_with_an_expired_token_is_401_invalid_jwt_expired() {
    assert_refused(Some(&minter().expired("user-1", "acme").unwrap()), 401, "invalid_jwt", "expired");
}

#[test]
fn connect_with_a_bad_signature_is_401_invalid_jwt_bad_signature() {
    assert_refused(Some(&minter().bad_signature("user-1", "acme").unwrap()), 401, "invalid_jwt", "bad_signature");
}

#[test]
fn connect_with_a_malformed_token_is_401_invalid_jwt_malformed() {
    assert_refused(Some("not.a.jwt-at-all"), 401, "invalid_jwt", "malformed");
}

#[test]
fn connect_for_a_tenant_not_allowed_is_403_with_the_tenant_dimension() {
    let t = minter().mint("user-9", "initech", Duration::from_secs(300)).unwrap();
    let cap = assert_refused(Some(&t), 403, "tenant_not_allowed", "tenant_not_allowed");
    assert_eq!(
        cap.dimension_sets("AuthenticationFailed"),
        json!([["Environment"], ["Environment", "ErrorType"], ["Environment", "ErrorType", "TenantID"]])
    );
    assert_eq!(cap.emf_with("AuthenticationFailed")["TenantID"], "initech");
}

#[test]
fn connect_store_failure_is_500_with_an_error_line_a_metric_and_a_fault() {
    let mut store = MockConnectionStore::new();
    store
        .expect_save()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable { operation: "save", source: "connection reset by peer".into() }));
    let handler = connect_handler(Arc::new(store));
    let t = token();
    let (response, cap) = connect(&handler, connect_with_query_token(&t));
    assert_eq!(response.status_code, 500);
    assert_eq!(body_text(&response), r#"{"code":"INTERNAL_ERROR","message":"Failed to establish connection"}"#);
    let line = cap.line("Failed to save connection");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["error_kind"], "unavailable");
    assert_eq!(line["tenant_id"], "acme");
    let doc = cap.emf_with("ConnectionFailed");
    assert_eq!(doc["ErrorType"], "internal_error");
    assert_eq!(cap.dimension_sets("ConnectionFailed"), json!([["Environment"], ["Environment", "ErrorType"]]));
    assert!(cap.emf.iter().all(|d| d.get("ConnectionEstablished").is_none()));
    let seg = cap.segment("HandleConnect");
    assert_eq!(seg["fault"], true, "{seg:#}");
    assert_eq!(child(seg, "SaveConnection")["fault"], true);
    assert!(child(seg, "ValidateJWT").get("error").is_none());
    assert_no_token(&cap, &t);
}

#[test]
fn connect_duplicate_connection_id_is_500_not_an_overwrite() {
    let store = Arc::new(memory_store());
    let handler = connect_handler(store.clone());
    let (first, _) = connect(&handler, connect_with_query_token(&token()));
    assert_eq!(first.status_code, 200);
    let other = minter().mint("user-2", "globex", Duration::from_secs(300)).unwrap();
    let (second, cap) = connect(&handler, connect_with_query_token(&other));
    assert_eq!(second.status_code, 500);
    assert_eq!(cap.line("Failed to save connection")["error_kind"], "already_exists");
    assert_eq!(store.snapshot()[0].user_id, "user-1");
}

#[test]
fn connect_misconfigured_answers_500_naming_the_setting_on_every_invocation() {
    let handler = ConnectHandler::misconfigured(SettingsError::Missing { setting: "JWT_PUBLIC_KEY" });
    for _ in 0..2 {
        let (response, cap) = connect(&handler, connect_with_query_token(&token()));
        assert_eq!(response.status_code, 500);
        let line = cap.lines.iter().find(|l| l["level"] == "ERROR").expect("an ERROR line");
        assert_eq!(line["setting"], "JWT_PUBLIC_KEY");
        assert!(line["message"].as_str().unwrap().contains("JWT_PUBLIC_KEY"), "{line}");
        assert_eq!(cap.emf_with("ConnectionFailed")["ErrorType"], "internal_error");
        assert_eq!(cap.segment("HandleConnect")["fault"], true);
    }
}

fn record(connected_at: u64) -> ConnectionRecord {
    ConnectionRecord::new(CONNECTION_ID, "user-1", "acme", "d/prod", connected_at, Duration::from_secs(3600))
}

fn disconnect_handler(store: Arc<dyn ConnectionStore>) -> DisconnectHandler {
    DisconnectHandler::new(store).with_clock(Arc::new(FixedClock::at_millis(T0)))
}

fn disconnect(handler: &DisconnectHandler) -> (aws_lambda_events::apigw::ApiGatewayProxyResponse, Captured) {
    let (out, cap) = run(handler.handle(event(disconnect_request())));
    (out.expect("Ok"), cap)
}

#[test]
fn disconnect_deletes_the_record_and_reports_a_fractional_duration() {
    let store = Arc::new(InMemoryConnectionStore::new().with_clock(Arc::new(FixedClock::at_millis(T0))));
    store.insert_raw(record(T0 - 750));
    let handler = disconnect_handler(store.clone());
    let (response, cap) = disconnect(&handler);
    assert_eq!(response.status_code, 200);
    assert_eq!(body_text(&response), r#"{"message":"Disconnected successfully"}"#);
    assert_eq!(store.stored_len(), 0);

    let line = cap.line("Disconnect completed");
    assert_eq!(line["disconnect_status_code"], 1005);
    assert_eq!(line["disconnect_reason"], "Client-side close frame status not set");
    assert_eq!(line["connection_found"], true);
    assert_eq!(line["duration_seconds"], 0.75);
    for (k, v) in
        [("connection_id", CONNECTION_ID), ("user_id", "user-1"), ("tenant_id", "acme"), ("route_key", "$disconnect")]
    {
        assert_eq!(line[k], v, "{k}");
    }
    assert_eq!(cap.line("Processing disconnect")["connection_id"], CONNECTION_ID);

    let closed = cap.emf_with("ConnectionClosed");
    assert_eq!(closed["ConnectionClosed"], 1.0);
    assert_eq!(closed["TenantID"], "acme");
    assert_eq!(cap.emf_with("ConnectionDuration")["ConnectionDuration"], 0.75);
    assert_eq!(cap.dimension_sets("ConnectionClosed"), json!([["Environment"], ["Environment", "TenantID"]]));
    assert_eq!(cap.dimension_sets("ConnectionDuration"), json!([["Environment"], ["Environment", "TenantID"]]));
    assert_eq!(cap.emf_with("ProcessingLatency")["Action"], "disconnect");
    let unit = cap.emf_with("ConnectionDuration")["_aws"]["CloudWatchMetrics"].to_string();
    assert!(unit.contains("Seconds"), "{unit}");

    let seg = cap.segment("HandleDisconnect");
    assert_annotations(
        seg,
        &[("connection_id", CONNECTION_ID), ("action", "disconnect"), ("tenant_id", "acme"), ("user_id", "user-1")],
    );
    assert_eq!(seg["annotations"]["disconnect_status_code"], 1005);
    assert_eq!(seg["annotations"]["disconnect_reason"], "Client-side close frame status not set");
    let names: Vec<_> = seg["subsegments"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["LoadConnection", "DeleteConnection"]);
    assert!(seg.get("error").is_none() && seg.get("fault").is_none());
}

#[test]
fn disconnect_of_a_gone_record_is_200_with_the_unknown_tenant_and_no_duration() {
    let store = Arc::new(memory_store());
    let handler = disconnect_handler(store);
    for _ in 0..2 {
        let (response, cap) = disconnect(&handler);
        assert_eq!(response.status_code, 200);
        assert_eq!(cap.emf_with("ConnectionClosed")["TenantID"], "unknown");
        assert!(cap.emf.iter().all(|d| d.get("ConnectionDuration").is_none()));
        assert_eq!(cap.line("Disconnect completed")["connection_found"], false);
        assert!(cap.lines.iter().all(|l| l["level"] != "ERROR"), "{:#?}", cap.lines);
    }
}

/// Two `$disconnect`s of one connection that overlap both read the record; only the one
/// whose delete removed it counts it (tenant, duration). Here the other one's delete
/// finds it gone, as a repeated `$disconnect` would.
#[test]
fn an_overlapping_disconnect_whose_delete_finds_nothing_counts_the_connection_as_gone() {
    let mut store = MockConnectionStore::new();
    store.expect_get().returning(|_| Ok(Some(record(T0 - 750))));
    store.expect_delete().times(1).returning(|_| Ok(None));
    let handler = disconnect_handler(Arc::new(store));
    let (response, cap) = disconnect(&handler);
    assert_eq!(response.status_code, 200);
    assert_eq!(cap.line("Disconnect completed")["connection_found"], false);
    assert_eq!(cap.emf_with("ConnectionClosed")["TenantID"], "unknown");
    assert!(cap.emf.iter().all(|d| d.get("ConnectionDuration").is_none()));

    // The delete that removed it counts it, with the record it removed.
    let mut store = MockConnectionStore::new();
    store.expect_get().returning(|_| Ok(Some(record(T0 - 750))));
    store.expect_delete().times(1).returning(|_| Ok(Some(record(T0 - 500))));
    let (_, cap) = disconnect(&disconnect_handler(Arc::new(store)));
    assert_eq!(cap.line("Disconnect completed")["connection_found"], true);
    assert_eq!(cap.emf_with("ConnectionDuration")["ConnectionDuration"], 0.5);
}

#[test]
fn disconnect_store_failures_still_answer_200_with_an_error_line() {
    let mut store = MockConnectionStore::new();
    store.expect_get().returning(|_| Err(StoreError::Unavailable { operation: "get", source: "timeout".into() }));
    store.expect_delete().times(1).returning(|_| {
        Err(StoreError::Backend { operation: "delete", code: Some("AccessDenied".into()), source: "denied".into() })
    });
    let handler = disconnect_handler(Arc::new(store));
    let (response, cap) = disconnect(&handler);
    assert_eq!(response.status_code, 200);
    assert_eq!(cap.line("Failed to load connection")["level"], "WARN");
    let line = cap.line("Failed to delete connection");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["error_kind"], "backend");
    assert_eq!(cap.emf_with("ConnectionClosed")["TenantID"], "unknown");
    let seg = cap.segment("HandleDisconnect");
    assert_eq!(child(seg, "DeleteConnection")["fault"], true);
    assert_eq!(child(seg, "LoadConnection")["fault"], true);
}

#[test]
fn disconnect_misconfigured_answers_500_naming_the_setting() {
    let handler = DisconnectHandler::misconfigured(SettingsError::Missing { setting: "CONNECTIONS_TABLE" });
    let (response, cap) = disconnect(&handler);
    assert_eq!(response.status_code, 500);
    assert_eq!(body_text(&response), r#"{"code":"INTERNAL_ERROR","message":"Failed to process disconnect"}"#);
    assert_eq!(cap.segment("HandleDisconnect")["fault"], true);
    let line = cap.lines.iter().find(|l| l["level"] == "ERROR").expect("an ERROR line");
    assert_eq!(line["setting"], "CONNECTIONS_TABLE");
}

#[test]
fn connect_then_disconnect_round_trip_on_one_store() {
    let store = Arc::new(memory_store());
    let connect_h = connect_handler(store.clone());
    let (r, _) = connect(&connect_h, connect_with_query_token(&token()));
    assert_eq!(r.status_code, 200);
    let disconnect_h = DisconnectHandler::new(store.clone()).with_clock(Arc::new(FixedClock::at_millis(T0 + 2_500)));
    let (r, cap) = disconnect(&disconnect_h);
    assert_eq!(r.status_code, 200);
    assert_eq!(cap.emf_with("ConnectionDuration")["ConnectionDuration"], 2.5);
    assert_eq!(store.stored_len(), 0);
}

/// Every standard alarm on our namespace selects exactly a (metric, dimension set with its
/// values) the real handlers emit, over the paths that feed them: an accepted and a refused
/// `$connect`, a store failure, a `$disconnect`. (The seed's alarms selected metrics or
/// dimension sets nothing published, so they never fired.)
#[test]
fn every_standard_alarm_selects_what_the_handlers_emit() {
    use streamer_obs::metrics::alarm::{AlarmConfig, standard_alarms};
    let mut docs = Vec::new();
    let store = Arc::new(InMemoryConnectionStore::new().with_clock(Arc::new(FixedClock::at_millis(T0))));
    docs.extend(connect(&connect_handler(store.clone()), connect_with_query_token(&token())).1.emf);
    let refused = minter().mint("user-9", "initech", Duration::from_secs(300)).unwrap();
    docs.extend(connect(&connect_handler(store.clone()), connect_with_query_token(&refused)).1.emf);
    let mut failing = MockConnectionStore::new();
    failing.expect_save().returning(|_| Err(StoreError::Unavailable { operation: "save", source: "reset".into() }));
    docs.extend(connect(&connect_handler(Arc::new(failing)), connect_with_query_token(&token())).1.emf);
    docs.extend(disconnect(&disconnect_handler(store)).1.emf);

    let alarms = standard_alarms(&AlarmConfig::new("test"));
    assert!(alarms.iter().any(|a| a.metric_name == "ConnectionFailed"), "store failures are alarmed");
    for alarm in alarms.iter().filter(|a| a.namespace == "Streamer") {
        let mut want: Vec<&str> = alarm.dimensions.iter().map(|(k, _)| k.as_str()).collect();
        want.sort_unstable();
        let seen = docs.iter().any(|doc| {
            alarm.dimensions.iter().all(|(k, v)| doc[k] == Value::String(v.clone()))
                && doc["_aws"]["CloudWatchMetrics"].as_array().unwrap().iter().any(|d| {
                    d["Namespace"] == "Streamer"
                        && d["Metrics"].as_array().unwrap().iter().any(|m| m["Name"] == alarm.metric_name.as_str())
                        && d["Dimensions"].as_array().unwrap().iter().any(|set| {
                            let mut keys: Vec<&str> =
                                set.as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
                            keys.sort_unstable();
                            keys == want
                        })
                })
        });
        assert!(seen, "alarm {} selects nothing the handlers emit", alarm.name);
    }
}
