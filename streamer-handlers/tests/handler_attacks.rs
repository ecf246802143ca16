//! Adversarial suite for the `$connect` / `$disconnect` handlers as API Gateway and the
//! observability backends see them (docs/handlers.md, README "The reference handlers",
//! the published EMF and X-Ray rules E-*, X-*):
//!
//! - the response to API Gateway for every outcome (status, fixed body, shape valid for a
//!   WebSocket `$connect` / `$disconnect` integration, nothing echoed);
//! - no secret in any log line, EMF document or X-Ray document, whatever carries the token
//!   (header in any case, `Sec-WebSocket-Protocol`, `token` / `access_token` query
//!   parameters, multi-value headers and parameters) and however validation fails;
//! - hostile claim, record and event values give valid, bounded log lines, EMF documents
//!   and X-Ray documents;
//! - no panic on any input.
//!
//! Everything runs in process with the in-memory or `mockall` store and a fixed clock.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::http::{HeaderName, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use streamer_handlers::auth::Authenticator;
use streamer_handlers::connect::ConnectHandler;
use streamer_handlers::disconnect::DisconnectHandler;
use streamer_handlers::response::body_text;
use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey, SettingsError};
use streamer_handlers::store::{
    ConnectionRecord, ConnectionStore, InMemoryConnectionStore, MockConnectionStore, StoreError,
};
use streamer_handlers::testing::{DEV_RSA_PRIVATE_KEY_PEM, DEV_RSA_PUBLIC_KEY_PEM, TokenMinter};
use streamer_obs::testing::FixedClock;

const NOW_S: u64 = T0 / 1000;

const BODY_CONNECTED: &str = r#"{"message":"Connected successfully"}"#;
const BODY_MISSING: &str = r#"{"code":"UNAUTHORIZED","message":"Missing authentication token"}"#;
const BODY_INVALID: &str = r#"{"code":"UNAUTHORIZED","message":"Invalid authentication token"}"#;
const BODY_FORBIDDEN: &str = r#"{"code":"FORBIDDEN","message":"Tenant not allowed"}"#;
const BODY_CONNECT_500: &str = r#"{"code":"INTERNAL_ERROR","message":"Failed to establish connection"}"#;
const BODY_DISCONNECTED: &str = r#"{"message":"Disconnected successfully"}"#;
const BODY_DISCONNECT_500: &str = r#"{"code":"INTERNAL_ERROR","message":"Failed to process disconnect"}"#;

/// Internal error text a store failure carries: never in a response body.
const INTERNAL_TEXT: &str = "arn:aws:dynamodb:eu-central-1:123456789012:table/streamer-connections-internal";

const PARSER_TEXT: &[&str] = &[
    "at line",
    "InvalidSignature",
    "InvalidToken",
    "ErrorKind",
    "Json(",
    "Utf8Error",
    "expected value",
    "invalid type",
    "trailing characters",
    "InvalidByte",
    "InvalidLastSymbol",
];

// ------------------------------------------------------------------------ fixtures

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::at_millis(T0))
}

fn authenticator(tenants: &str) -> Authenticator {
    let key = PublicKey::from_pem(DEV_RSA_PUBLIC_KEY_PEM).unwrap();
    let jwt = JwtSettings::new(key, vec![Algorithm::RS256]).unwrap();
    Authenticator::with_clock(&jwt, AllowedTenants::parse(tenants), clock())
}

fn connect_handler_with(tenants: &str, store: Arc<dyn ConnectionStore>) -> ConnectHandler {
    ConnectHandler::new(authenticator(tenants), store, Duration::from_secs(24 * 3600)).with_clock(clock())
}

fn minter() -> TokenMinter {
    TokenMinter::dev_rsa().unwrap().with_clock(clock())
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(DEV_RSA_PRIVATE_KEY_PEM.as_bytes()).unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims(sub: &str, tenant: &str) -> Value {
    json!({"sub": sub, "tenant_id": tenant, "iat": NOW_S, "exp": NOW_S + 300})
}

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &rsa_key()).unwrap()
}

fn valid_token() -> String {
    sign(&claims("user-1", "acme"))
}

/// The token kinds a client may send, valid or not (label, token text).
fn secrets() -> Vec<(&'static str, String)> {
    let m = minter();
    let alg_none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(claims("user-1", "acme").to_string()));
    let oversized = sign(&json!({
        "sub": "user-1", "tenant_id": "acme", "iat": NOW_S, "exp": NOW_S + 300,
        "pad": "p".repeat(9 * 1024),
    }));
    let malformed = format!("eyJhbGciOiJSUzI1NiJ9.{}.c2lnbmF0dXJlLWdhcmJhZ2UtYWJj", b64("{not json at all"));
    vec![
        ("valid", valid_token()),
        ("expired", m.expired("user-1", "acme").unwrap()),
        ("bad signature", m.bad_signature("user-1", "acme").unwrap()),
        ("tenant not allowed", m.mint("user-1", "initech", Duration::from_secs(300)).unwrap()),
        ("alg none", alg_none),
        ("oversized", oversized),
        ("malformed jwt", malformed),
        ("opaque", "opaque-secret-Zm9vYmFyYmF6cXV4LXNlY3JldA".to_owned()),
        ("garbage", "g@rbage~secret!value#Zm9vYmFyYmF6".to_owned()),
    ]
}

// ------------------------------------------------------------------------ running

struct Outcome {
    response: ApiGatewayProxyResponse,
    cap: Captured,
}

impl Outcome {
    fn status(&self) -> i64 {
        self.response.status_code
    }
    fn body(&self) -> &str {
        body_text(&self.response)
    }
}

fn run_connect(handler: &ConnectHandler, request: ApiGatewayWebsocketProxyRequest, cfg: &[(&str, &str)]) -> Outcome {
    let (out, cap) = run_with(config(cfg), handler.handle(event(request)));
    Outcome { response: out.expect("the $connect handler answers Ok"), cap }
}

fn run_disconnect(
    handler: &DisconnectHandler,
    request: ApiGatewayWebsocketProxyRequest,
    cfg: &[(&str, &str)],
) -> Outcome {
    let (out, cap) = run_with(config(cfg), handler.handle(event(request)));
    Outcome { response: out.expect("the $disconnect handler answers Ok"), cap }
}

const PLAIN: &[(&str, &str)] = &[("ENVIRONMENT", "test"), ("POWERTOOLS_SERVICE_NAME", "streamer")];
const VERBOSE: &[(&str, &str)] = &[
    ("ENVIRONMENT", "test"),
    ("POWERTOOLS_SERVICE_NAME", "streamer"),
    ("POWERTOOLS_LOGGER_LOG_EVENT", "true"),
    ("POWERTOOLS_LOG_LEVEL", "DEBUG"),
];

fn request_from(v: Value) -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_value(v).expect("the event deserialises")
}

fn connect_json() -> Value {
    serde_json::to_value(connect_request()).unwrap()
}

// ------------------------------------------------------------------------ validators

/// The response is what API Gateway's WebSocket integration accepts: `statusCode` a number,
/// `body` a string, headers a string map, not base64, and its JSON body an object.
#[track_caller]
fn assert_valid_response(r: &ApiGatewayProxyResponse, status: i64, body: &str, label: &str) {
    let v = serde_json::to_value(r).expect("the response serialises");
    assert_eq!(v["statusCode"], json!(status), "[{label}] statusCode in {v}");
    assert!(v["body"].is_string(), "[{label}] body is a string: {v}");
    assert_eq!(v["body"], body, "[{label}] body");
    assert_ne!(v["isBase64Encoded"], json!(true), "[{label}] {v}");
    let headers = v["headers"].as_object().expect("headers object");
    for (k, val) in headers {
        let s = val.as_str().unwrap_or_else(|| panic!("[{label}] header {k} is a string: {v}"));
        assert!(!s.contains(['\r', '\n']), "[{label}] header {k}");
    }
    let ct: Vec<_> = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).collect();
    assert_eq!(ct.len(), 1, "[{label}] one content-type: {v}");
    assert!(ct[0].1.as_str().unwrap().starts_with("application/json"), "[{label}] {v}");
    if let Some(mv) = v.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, vals) in mv {
            let single = headers.get(k).and_then(Value::as_str);
            for x in vals.as_array().expect("array") {
                assert!(single.is_none() || x.as_str() == single, "[{label}] conflicting {k} in {v}");
            }
        }
    }
    let parsed: Value = serde_json::from_str(body).expect("body is JSON");
    assert!(parsed.is_object(), "[{label}]");
    assert!((100..=599).contains(&r.status_code), "[{label}]");
}

fn is_dimension_value(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 1024 && s.bytes().all(|b| (0x20..0x7f).contains(&b)) && !s.trim().is_empty()
}

/// E-1..E-19 on one EMF document.
#[track_caller]
fn check_emf(doc: &Value, label: &str) {
    let root = doc.as_object().unwrap_or_else(|| panic!("[{label}] EMF root is an object"));
    let aws = root["_aws"].as_object().unwrap_or_else(|| panic!("[{label}] _aws object"));
    assert!(aws["Timestamp"].is_u64(), "[{label}] integer Timestamp: {doc}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert!(!directives.is_empty(), "[{label}]");
    for d in directives {
        let ns = d["Namespace"].as_str().expect("Namespace");
        assert!(!ns.is_empty() && ns.len() <= 255, "[{label}] {ns}");
        let sets = d["Dimensions"].as_array().expect("Dimensions");
        assert!(!sets.is_empty(), "[{label}]");
        for set in sets {
            let set = set.as_array().expect("dimension set");
            assert!(set.len() <= 30, "[{label}]");
            for key in set {
                let key = key.as_str().expect("dimension key");
                let value = root.get(key).unwrap_or_else(|| panic!("[{label}] dimension {key} at the root: {doc}"));
                let value = value.as_str().unwrap_or_else(|| panic!("[{label}] dimension {key} is a string"));
                assert!(is_dimension_value(value), "[{label}] dimension {key}={value:.80?} is not a valid value");
            }
        }
        let metrics = d["Metrics"].as_array().expect("Metrics");
        assert!(metrics.len() <= 100, "[{label}]");
        for m in metrics {
            let name = m["Name"].as_str().expect("Name");
            if let Some(u) = m.get("Unit") {
                // E-10: one of CloudWatch's 27 units (`streamer-obs`'s own E-10 suites check
                // that list against the documentation).
                let unit = u.as_str().unwrap_or_default();
                assert!(streamer_obs::metrics::Unit::ALL.iter().any(|k| k.as_str() == unit), "[{label}] unit {u}");
            }
            let v = &root[name];
            assert!(
                v.as_f64().is_some_and(f64::is_finite)
                    || v.as_array().is_some_and(|a| a.iter().all(|x| x.as_f64().is_some_and(f64::is_finite))),
                "[{label}] metric {name} value {v}"
            );
        }
    }
}

fn check_annotations(doc: &Value, label: &str) {
    if let Some(a) = doc.get("annotations") {
        let a = a.as_object().unwrap_or_else(|| panic!("[{label}] annotations is an object"));
        for (k, v) in a {
            assert!(
                !k.is_empty() && k.len() <= 500 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "[{label}] annotation key {k:?}"
            );
            match v {
                Value::String(s) => assert!(s.chars().count() <= 1000, "[{label}] annotation {k} of {} chars", s.len()),
                Value::Number(_) | Value::Bool(_) => {}
                other => panic!("[{label}] annotation {k} has a bad value {other}"),
            }
        }
    }
    if let Some(children) = doc.get("subsegments").and_then(Value::as_array) {
        for c in children {
            check_annotations(c, label);
        }
    }
}

/// Every stdout line a JSON object ≤ 256 KB (E-1, E-14), every EMF document valid, every
/// X-Ray document ≤ 64 KB with valid annotations (X-1, X-20, X-21).
#[track_caller]
fn check_outputs(cap: &Captured, label: &str) {
    for line in &cap.raw {
        assert!(line.len() <= 256 * 1024, "[{label}] a stdout line of {} bytes", line.len());
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("[{label}] not JSON ({e}): {line:.200}"));
        assert!(v.is_object(), "[{label}]");
        if v.get("_aws").is_some() {
            check_emf(&v, label);
        }
    }
    for doc in &cap.segments {
        let size = doc.to_string().len();
        assert!(size <= 64 * 1024, "[{label}] an X-Ray document of {size} bytes");
        check_annotations(doc, label);
    }
}

/// Neither the secret nor any part of it (nor slices of long parts) in any output or the body.
#[track_caller]
fn assert_no_leak(o: &Outcome, secret: &str, label: &str) {
    let text = format!("{}\n{}", o.cap.all_text(), o.body());
    let secret = secret.trim();
    if secret.len() >= 8 {
        assert!(!text.contains(secret), "[{label}] the token leaked");
    }
    for part in secret.split(|c: char| c == '.' || c == ',' || c.is_ascii_whitespace()) {
        if part.len() >= 12 {
            assert!(!text.contains(part), "[{label}] token part leaked: {part:.40}");
        }
        if part.len() >= 24 {
            let (head, tail) = (&part[..16], &part[part.len() - 16..]);
            assert!(!text.contains(head), "[{label}] head of a token part leaked: {head}");
            assert!(!text.contains(tail), "[{label}] tail of a token part leaked: {tail}");
        }
    }
    let text = text.replace("isBase64Encoded", "");
    for word in PARSER_TEXT {
        assert!(!text.contains(word), "[{label}] parser text {word:?} in the output");
    }
}

fn documented_body(status: i64) -> &'static [&'static str] {
    match status {
        200 => &[BODY_CONNECTED],
        401 => &[BODY_MISSING, BODY_INVALID],
        403 => &[BODY_FORBIDDEN],
        500 => &[BODY_CONNECT_500],
        _ => &[],
    }
}

// ======================================================================== responses

/// Every `$connect` outcome answers its documented status and fixed body, in a response
/// API Gateway accepts, and the body holds no token, claim value or internal error text.
#[test]
fn every_connect_outcome_answers_the_documented_status_and_a_valid_response() {
    let m = minter();
    let t_ok = valid_token();
    let t_forbidden = m.mint("user-secret-sub", "initech", Duration::from_secs(300)).unwrap();
    let cases: Vec<(&str, Option<String>, i64, &str)> = vec![
        ("accepted", Some(t_ok.clone()), 200, BODY_CONNECTED),
        ("missing", None, 401, BODY_MISSING),
        ("expired", Some(m.expired("user-secret-sub", "acme").unwrap()), 401, BODY_INVALID),
        ("bad signature", Some(m.bad_signature("user-secret-sub", "acme").unwrap()), 401, BODY_INVALID),
        ("malformed", Some("eyJhbGciOiJSUzI1NiJ9.e30.AAAA".to_owned()), 401, BODY_INVALID),
        ("tenant not allowed", Some(t_forbidden.clone()), 403, BODY_FORBIDDEN),
    ];
    for (label, token, status, body) in cases {
        let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock()));
        let h = connect_handler_with("acme,globex", store.clone());
        let request = match &token {
            Some(t) => connect_with_query_token(t),
            None => connect_request(),
        };
        let o = run_connect(&h, request, PLAIN);
        assert_valid_response(&o.response, status, body, label);
        for claim in ["user-secret-sub", "initech", "user-1", "acme"] {
            assert!(!o.body().contains(claim), "[{label}] the body echoes the claim {claim}");
        }
        if let Some(t) = &token {
            assert_no_leak(&o, t, label);
        }
        check_outputs(&o.cap, label);
        assert_eq!(store.stored_len(), usize::from(status == 200), "[{label}]");
    }

    // Every store failure: 500 with the fixed body, never the store's text.
    type Failure = (&'static str, fn() -> StoreError);
    let failures: Vec<Failure> = vec![
        ("already_exists", || StoreError::AlreadyExists { connection_id: CONNECTION_ID.into() }),
        ("not_found", || StoreError::NotFound { connection_id: CONNECTION_ID.into() }),
        ("invalid_record", || StoreError::InvalidRecord { attribute: "userId" }),
        ("corrupt", || StoreError::Corrupt { attribute: "tenantId" }),
        ("unavailable", || StoreError::Unavailable { operation: "save", source: INTERNAL_TEXT.into() }),
        ("backend", || StoreError::Backend {
            operation: "save",
            code: Some(format!("AccessDeniedException {INTERNAL_TEXT}")),
            source: INTERNAL_TEXT.into(),
        }),
    ];
    for (label, make) in failures {
        let mut store = MockConnectionStore::new();
        store.expect_save().times(1).returning(move |_| Err(make()));
        let h = connect_handler_with("acme", Arc::new(store));
        let o = run_connect(&h, connect_with_query_token(&t_ok), PLAIN);
        assert_valid_response(&o.response, 500, BODY_CONNECT_500, label);
        assert!(!o.body().contains(INTERNAL_TEXT) && !o.body().contains(CONNECTION_ID), "[{label}]");
        assert!(o.cap.emf.iter().any(|d| d["ErrorType"] == "internal_error"), "[{label}] ConnectionFailed");
        assert_no_leak(&o, &t_ok, label);
        check_outputs(&o.cap, label);
    }

    // Misconfigured, and an event without a connection id: 500.
    let h = ConnectHandler::misconfigured(SettingsError::Missing { setting: "JWT_PUBLIC_KEY" });
    let o = run_connect(&h, connect_with_query_token(&t_ok), PLAIN);
    assert_valid_response(&o.response, 500, BODY_CONNECT_500, "misconfigured");
    assert_no_leak(&o, &t_ok, "misconfigured");
    let h = connect_handler_with("acme", Arc::new(memory_store()));
    let mut r = connect_with_query_token(&t_ok);
    r.request_context.connection_id = None;
    let o = run_connect(&h, r, PLAIN);
    assert_valid_response(&o.response, 500, BODY_CONNECT_500, "no connection id");
    assert_no_leak(&o, &t_ok, "no connection id");
}

/// The record `$disconnect` finds (or deletes) for `CONNECTION_ID`.
fn stored_record() -> ConnectionRecord {
    ConnectionRecord::new(CONNECTION_ID, "user-1", "acme", "d/prod", T0 - 1500, Duration::from_secs(3600))
}

/// `$disconnect` answers 200 with the fixed body whatever the store did (docs step 4), and
/// 500 only when misconfigured; a store's error text never reaches the body.
#[test]
fn every_disconnect_outcome_answers_200_unless_misconfigured() {
    type Get = fn() -> Result<Option<ConnectionRecord>, StoreError>;
    let gets: Vec<(&str, Get)> = vec![
        ("found", || Ok(Some(stored_record()))),
        ("gone", || Ok(None)),
        ("get unavailable", || Err(StoreError::Unavailable { operation: "get", source: INTERNAL_TEXT.into() })),
        ("get corrupt", || Err(StoreError::Corrupt { attribute: "connectedAt" })),
    ];
    let dels: Vec<(&str, Get)> = vec![
        ("deleted", || Ok(Some(stored_record()))),
        ("absent", || Ok(None)),
        ("delete unavailable", || Err(StoreError::Unavailable { operation: "delete", source: INTERNAL_TEXT.into() })),
        ("delete backend", || {
            Err(StoreError::Backend {
                operation: "delete",
                code: Some(INTERNAL_TEXT.into()),
                source: INTERNAL_TEXT.into(),
            })
        }),
        ("delete not found", || Err(StoreError::NotFound { connection_id: CONNECTION_ID.into() })),
    ];
    for (g, get) in &gets {
        for (d, del) in &dels {
            let label = format!("{g} / {d}");
            let (get, del) = (*get, *del);
            let mut store = MockConnectionStore::new();
            store.expect_get().returning(move |_| get());
            store.expect_delete().times(1).returning(move |_| del());
            let h = DisconnectHandler::new(Arc::new(store)).with_clock(clock());
            let o = run_disconnect(&h, disconnect_request(), PLAIN);
            assert_valid_response(&o.response, 200, BODY_DISCONNECTED, &label);
            assert!(!o.body().contains(INTERNAL_TEXT), "[{label}]");
            check_outputs(&o.cap, &label);
            let closed: Vec<_> = o.cap.emf.iter().filter(|x| x.get("ConnectionClosed").is_some()).collect();
            assert_eq!(closed.len(), 1, "[{label}] ConnectionClosed = 1 on every $disconnect");
            assert_eq!(o.cap.line("Disconnect completed")["level"], "INFO", "[{label}]");
        }
    }
    let h = DisconnectHandler::misconfigured(SettingsError::Missing { setting: "CONNECTIONS_TABLE" });
    let o = run_disconnect(&h, disconnect_request(), PLAIN);
    assert_valid_response(&o.response, 500, BODY_DISCONNECT_500, "misconfigured");
    check_outputs(&o.cap, "misconfigured");
}

// ======================================================================== secrets

/// Every way a client passes its token, for every token kind, with event logging and DEBUG
/// on: no log line, EMF document or X-Ray document holds it or a part of it; the answer is
/// one of the documented ones.
#[test]
fn secrets_never_reach_any_output_whatever_carries_them_and_however_they_fail() {
    type Carrier = fn(&str) -> ApiGatewayWebsocketProxyRequest;
    let carriers: Vec<(&str, Carrier)> = vec![
        ("query Authorization", |t| connect_with_query_token(t)),
        ("query Authorization Bearer", |t| connect_with_query_token(&format!("Bearer {t}"))),
        ("query token", |t| {
            let mut v = connect_json();
            v["queryStringParameters"] = json!({"token": t});
            v["multiValueQueryStringParameters"] = json!({"token": [t]});
            request_from(v)
        }),
        ("query access_token", |t| {
            let mut v = connect_json();
            v["queryStringParameters"] = json!({"access_token": t, "x": "1"});
            v["multiValueQueryStringParameters"] = json!({"access_token": [t], "x": ["1"]});
            request_from(v)
        }),
        ("multi-value query only", |t| {
            let mut v = connect_json();
            v["multiValueQueryStringParameters"] = json!({"Authorization": ["first", t], "token": [t, t]});
            request_from(v)
        }),
        ("header Authorization", |t| {
            let mut v = connect_json();
            v["headers"]["Authorization"] = json!(format!("Bearer {t}"));
            v["multiValueHeaders"]["Authorization"] = json!([format!("Bearer {t}")]);
            request_from(v)
        }),
        ("header authorization raw", |t| {
            let mut v = connect_json();
            v["headers"]["authorization"] = json!(t);
            request_from(v)
        }),
        ("header AUTHORIZATION", |t| {
            let mut v = connect_json();
            v["headers"]["AUTHORIZATION"] = json!(format!("bearer {t}"));
            request_from(v)
        }),
        ("multi-value header only", |t| {
            let mut v = connect_json();
            v["multiValueHeaders"]["Authorization"] = json!(["Bearer x", format!("Bearer {t}")]);
            request_from(v)
        }),
        ("subprotocol alone", |t| {
            let mut v = connect_json();
            v["headers"]["Sec-WebSocket-Protocol"] = json!(t);
            v["multiValueHeaders"]["Sec-WebSocket-Protocol"] = json!([t]);
            request_from(v)
        }),
        ("subprotocol access_token, t", |t| {
            let mut v = connect_json();
            v["headers"]["sec-websocket-protocol"] = json!(format!("access_token, {t}"));
            request_from(v)
        }),
        ("subprotocol t, graphql-ws", |t| {
            let mut v = connect_json();
            v["headers"]["Sec-WebSocket-Protocol"] = json!(format!("{t}, graphql-ws"));
            request_from(v)
        }),
        ("cookie", |t| {
            let mut v = connect_json();
            v["headers"]["Cookie"] = json!(format!("session=abc; token={t}"));
            request_from(v)
        }),
        ("x-api-key", |t| {
            let mut v = connect_json();
            v["headers"]["x-api-key"] = json!(t);
            request_from(v)
        }),
    ];
    let mut failures = Failures::default();
    for (skind, secret) in secrets() {
        for (cname, carrier) in &carriers {
            for (cfg_name, cfg) in [("plain", PLAIN), ("log event + DEBUG", VERBOSE)] {
                let label = format!("{skind} in {cname} ({cfg_name})");
                let h =
                    connect_handler_with("acme,globex", Arc::new(InMemoryConnectionStore::new().with_clock(clock())));
                let o = run_connect(&h, carrier(&secret), cfg);
                failures.check(|| {
                    assert!(documented_body(o.status()).contains(&o.body()), "[{label}] {} {}", o.status(), o.body());
                    check_outputs(&o.cap, &label);
                    assert_no_leak(&o, &secret, &label);
                });
            }
        }
    }
    failures.finish();
}

/// The failed checks of a table test, collected so one run lists every failing case.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    /// Runs the assertions of one case, keeping its panic message if one fails.
    fn check(&mut self, case: impl FnOnce()) {
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case)) {
            let text = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            self.0.push(text);
        }
    }

    /// Fails with every collected message.
    fn finish(self) {
        assert!(self.0.is_empty(), "{} failures:\n{}", self.0.len(), self.0.join("\n"));
    }
}

/// Header values that are not UTF-8 (obs-text) or hold control characters around a token:
/// refused with a documented body, no leak, no panic, with and without event logging.
#[test]
fn non_utf8_and_control_character_header_values_never_leak() {
    let t = valid_token();
    let values: Vec<Vec<u8>> = vec![
        [b"Bearer ".as_slice(), t.as_bytes(), b"\xff".as_slice()].concat(),
        [b"\xfe\xff".as_slice(), t.as_bytes()].concat(),
        [b"Bearer ".as_slice(), t.as_bytes(), b"\x7f".as_slice()].concat(),
        [b"Bearer\t".as_slice(), t.as_bytes(), b"\t\x01".as_slice()].concat(),
        [t.as_bytes(), b"\x80\x81secret-tail-Zm9vYmFy".as_slice()].concat(),
    ];
    for (i, value) in values.iter().enumerate() {
        for name in ["Authorization", "Sec-WebSocket-Protocol", "X-Forwarded-Token"] {
            let Ok(hv) = HeaderValue::from_bytes(value) else { continue };
            for cfg in [PLAIN, VERBOSE] {
                let label = format!("value #{i} in {name} ({})", cfg.len());
                let mut r = connect_request();
                r.headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), hv.clone());
                r.multi_value_headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), hv.clone());
                let h = connect_handler_with("acme", Arc::new(memory_store()));
                let o = run_connect(&h, r, cfg);
                assert!(documented_body(o.status()).contains(&o.body()), "[{label}] {} {}", o.status(), o.body());
                check_outputs(&o.cap, &label);
                assert_no_leak(&o, &t, &label);
            }
        }
    }
}

/// `$disconnect` events carry headers too (API Gateway forwards some on `$disconnect`), and
/// the close reason is client text: a token there never reaches an output, even with event
/// logging on.
#[test]
fn disconnect_events_holding_a_token_never_leak_it() {
    let t = valid_token();
    let opaque = "opaque-secret-Zm9vYmFyYmF6cXV4LXNlY3JldA";
    let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock()));
    let h = DisconnectHandler::new(store.clone()).with_clock(clock());
    for (label, secret, edit) in [
        ("authorization header", t.as_str(), 0),
        ("query token", opaque, 1),
        ("subprotocol", t.as_str(), 2),
        ("close reason with a jwt", t.as_str(), 3),
        ("close reason Bearer jwt", t.as_str(), 4),
    ] {
        for cfg in [PLAIN, VERBOSE] {
            store.insert_raw(ConnectionRecord::new(
                CONNECTION_ID,
                "user-1",
                "acme",
                "d/prod",
                T0 - 10,
                Duration::from_secs(3600),
            ));
            let mut v = serde_json::to_value(disconnect_request()).unwrap();
            match edit {
                0 => v["headers"]["Authorization"] = json!(format!("Bearer {secret}")),
                1 => v["queryStringParameters"] = json!({"token": secret, "access_token": secret}),
                2 => v["headers"]["Sec-WebSocket-Protocol"] = json!(format!("access_token, {secret}")),
                3 => v["requestContext"]["disconnectReason"] = json!(format!("token={secret}")),
                _ => v["requestContext"]["disconnectReason"] = json!(format!("Bearer {secret}")),
            }
            let o = run_disconnect(&h, request_from(v), cfg);
            let label = format!("{label} ({} settings)", cfg.len());
            assert_valid_response(&o.response, 200, BODY_DISCONNECTED, &label);
            check_outputs(&o.cap, &label);
            assert_no_leak(&o, secret, &label);
        }
    }
}

// ======================================================================== hostile values

/// Hostile `sub` / `tenant_id` / `permissions` values in correctly signed tokens: each is
/// either accepted (200, the tenant as the exact `TenantID` dimension) or refused with a
/// documented answer, and every output stays valid and bounded. Under an allow-list the
/// allowed ones become 403 with the tenant as a dimension, which must still be valid.
#[test]
fn hostile_claim_values_give_valid_bounded_outputs() {
    let jwt_text = valid_token();
    let jwt_short: String = format!("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.{}", "s".repeat(40));
    let hostile: Vec<String> = vec![
        "plain".into(),
        "quote\"d".into(),
        "back\\slash".into(),
        "both\\\"\\".into(),
        "{\"json\":true}".into(),
        "Bearer acme".into(),
        "bearer".into(),
        "a\u{0}b".into(),
        "tab\there".into(),
        "new\nline".into(),
        "cr\rhere".into(),
        "esc\u{1b}[31m".into(),
        "del\u{7f}".into(),
        "zw\u{200b}sp".into(),
        "rtl\u{202e}evil".into(),
        "租户".into(),
        "émoji🦀".into(),
        " padded ".into(),
        "x".repeat(256),
        "x".repeat(257),
        "y".repeat(1000),
        "y".repeat(1025),
        "z".repeat(7000),
        jwt_short.clone(),
        format!("Bearer {jwt_short}"),
        jwt_text.chars().take(200).collect(),
        "AKIAIOSFODNN7EXAMPLE".into(),
        "unknown".into(),
        ":colon".into(),
        "%s%n{}".into(),
    ];
    let mut failures = Failures::default();
    for tenants in ["", "acme"] {
        for value in &hostile {
            for (which, claims) in [
                ("tenant_id", json!({"sub": "user-1", "tenant_id": value, "iat": NOW_S, "exp": NOW_S + 300})),
                ("sub", json!({"sub": value, "tenant_id": "acme", "iat": NOW_S, "exp": NOW_S + 300})),
                (
                    "permissions",
                    json!({"sub": "user-1", "tenant_id": "acme", "iat": NOW_S, "exp": NOW_S + 300,
                           "permissions": [value, "read", value]}),
                ),
            ] {
                let label = format!("{which}={value:.40?} allow-list {tenants:?}");
                let token = sign(&claims);
                let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock()));
                let h = connect_handler_with(tenants, store.clone());
                let o = run_connect(&h, connect_with_query_token(&token), PLAIN);
                failures.check(|| {
                    assert!(documented_body(o.status()).contains(&o.body()), "[{label}] {} {}", o.status(), o.body());
                    assert_ne!(o.status(), 500, "[{label}] a claim value is a client problem, not a 500");
                    check_outputs(&o.cap, &label);
                    assert_no_leak(&o, &token, &label);
                    if o.status() == 200 {
                        let tenant = claims["tenant_id"].as_str().unwrap();
                        let est: Vec<_> =
                            o.cap.emf.iter().filter(|d| d.get("ConnectionEstablished").is_some()).collect();
                        assert_eq!(est.len(), 1, "[{label}] an accepted connection is counted");
                        assert_eq!(est[0]["TenantID"], tenant, "[{label}] the exact tenant is the dimension");
                        assert!(
                            o.cap.lines.iter().all(|l| l["level"] != "WARN" && l["level"] != "ERROR"),
                            "[{label}] an accepted connection logs no WARN/ERROR: {:#?}",
                            o.cap.lines
                        );
                        let seg = o.cap.segment("HandleConnect");
                        assert_eq!(seg["annotations"]["tenant_id"], tenant, "[{label}] tenant annotation");
                    }
                    if o.status() == 403 {
                        let doc = o.cap.emf_with("AuthenticationFailed");
                        let tenant = claims["tenant_id"].as_str().unwrap();
                        assert_eq!(doc["TenantID"], tenant, "[{label}] tenant_not_allowed carries the tenant");
                    }
                    if which == "tenant_id" && value.starts_with("eyJ") {
                        assert_eq!(o.status(), 401, "[{label}] a JWT-shaped tenant is invalid_claim_tenant_id");
                    }
                });
            }
        }
    }
    failures.finish();
}

/// Records in the table are not validated by `$connect` alone (older writers, manual edits,
/// the Go system): hostile `tenantId` / `userId` values read back by `$disconnect` give
/// valid EMF (`TenantID` the tenant or `unknown`), valid annotations and bounded lines.
#[test]
fn hostile_records_read_by_disconnect_give_valid_bounded_outputs() {
    let jwt = valid_token();
    let hostile: Vec<String> = vec![
        String::new(),
        "   ".into(),
        "quote\"back\\slash".into(),
        "ctl\u{0}\u{1}\u{1f}".into(),
        "new\nline".into(),
        "租户".into(),
        "rtl\u{202e}".into(),
        "x".repeat(1001),
        "x".repeat(1025),
        "x".repeat(10 * 1024),
        "y".repeat(300 * 1024),
        jwt.clone(),
        format!("Bearer {jwt}"),
        "unknown".into(),
    ];
    let mut failures = Failures::default();
    for value in &hostile {
        for which in ["tenant", "user"] {
            let label = format!("{which}={value:.40?} ({} bytes)", value.len());
            let (user, tenant) = if which == "tenant" { ("user-1", value.as_str()) } else { (value.as_str(), "acme") };
            let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock()));
            store.insert_raw(ConnectionRecord::new(
                CONNECTION_ID,
                user,
                tenant,
                "d/prod",
                T0 - 2000,
                Duration::from_secs(3600),
            ));
            let h = DisconnectHandler::new(store.clone()).with_clock(clock());
            let o = run_disconnect(&h, disconnect_request(), PLAIN);
            failures.check(|| {
                assert_valid_response(&o.response, 200, BODY_DISCONNECTED, &label);
                check_outputs(&o.cap, &label);
                let closed = o.cap.emf_with("ConnectionClosed");
                let t = closed["TenantID"].as_str().unwrap();
                assert!(t == tenant || t == "unknown", "[{label}] TenantID {t:.40}");
                if value.contains("eyJ") {
                    assert_no_leak(&o, &jwt, &label);
                }
                assert_eq!(store.stored_len(), 0, "[{label}] deleted");
            });
        }
    }
    failures.finish();
}

/// The event's own `disconnectStatusCode` / `disconnectReason` are client-controlled: odd
/// values become valid, bounded annotations and log fields.
#[test]
fn hostile_disconnect_status_and_reason_give_valid_bounded_outputs() {
    let reasons: Vec<String> = vec![
        String::new(),
        "quote\"back\\slash".into(),
        "ctl\u{0}\u{1b}[2J\u{7f}".into(),
        "line1\nline2\r\n".into(),
        "r".repeat(1001),
        "é".repeat(1500),
        "r".repeat(200 * 1024),
        "🦀".repeat(600),
    ];
    let codes = [None, Some(0), Some(-1), Some(1000), Some(4999), Some(i64::MAX), Some(i64::MIN)];
    let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock()));
    let h = DisconnectHandler::new(store).with_clock(clock());
    for reason in &reasons {
        for code in codes {
            let label = format!("code {code:?} reason {reason:.20?} ({} bytes)", reason.len());
            let mut r = disconnect_request();
            r.request_context.disconnect_status_code = code;
            r.request_context.disconnect_reason = Some(reason.clone());
            let o = run_disconnect(&h, r, PLAIN);
            assert_valid_response(&o.response, 200, BODY_DISCONNECTED, &label);
            check_outputs(&o.cap, &label);
            let seg = o.cap.segment("HandleDisconnect");
            if let Some(c) = code {
                assert_eq!(seg["annotations"]["disconnect_status_code"], json!(c), "[{label}]");
            }
        }
    }
}

/// Odd event shapes: everything in `requestContext` missing, empty strings, unicode, very
/// long or hostile ids, route keys, domain names, stages, user agents and source IPs. No
/// panic, a documented answer, valid bounded outputs, the token nowhere.
#[test]
fn odd_event_shapes_never_panic_and_keep_outputs_valid() {
    let t = valid_token();
    type Edit = Box<dyn Fn(&mut ApiGatewayWebsocketProxyRequest)>;
    let s = |x: &str| Some(x.to_owned());
    let edits: Vec<(&str, Edit)> = vec![
        ("default context", Box::new(|r| r.request_context = Default::default())),
        ("empty route key", Box::new(move |r| r.request_context.route_key = s(""))),
        ("hostile route key", Box::new(move |r| r.request_context.route_key = s("$connect\"\n\u{0}{}"))),
        ("huge route key", Box::new(|r| r.request_context.route_key = Some("k".repeat(300 * 1024)))),
        ("unicode connection id", Box::new(move |r| r.request_context.connection_id = s("连接-🦀-\u{202e}"))),
        ("ctl connection id", Box::new(move |r| r.request_context.connection_id = s("c\u{0}\n\"\\"))),
        ("long connection id", Box::new(|r| r.request_context.connection_id = Some("c".repeat(10 * 1024)))),
        ("huge connection id", Box::new(|r| r.request_context.connection_id = Some("c".repeat(300 * 1024)))),
        ("whitespace connection id", Box::new(move |r| r.request_context.connection_id = s("   "))),
        (
            "no domain or stage",
            Box::new(|r| {
                r.request_context.domain_name = None;
                r.request_context.stage = None;
            }),
        ),
        (
            "hostile domain and stage",
            Box::new(move |r| {
                r.request_context.domain_name = s("evil\"\n\u{0}.example");
                r.request_context.stage = s(&"s".repeat(300 * 1024));
            }),
        ),
        ("empty identity", Box::new(|r| r.request_context.identity = Default::default())),
        ("hostile source ip", Box::new(move |r| r.request_context.identity.source_ip = s("1.2.3.4\"\n\u{0}"))),
        (
            "user agent with the token",
            Box::new(|r| {
                let t = valid_token();
                r.headers.insert("user-agent", HeaderValue::from_str(&format!("app/1 token={t}")).unwrap());
            }),
        ),
        (
            "identity user agent with the token",
            Box::new(|r| {
                r.request_context.identity.user_agent = Some(format!("Bearer {}", valid_token()));
                r.headers.remove("user-agent");
            }),
        ),
        (
            "empty headers",
            Box::new(|r| {
                r.headers.clear();
                r.multi_value_headers.clear();
            }),
        ),
        ("null-ish query", Box::new(|r| r.query_string_parameters = HashMap::<String, String>::new().into())),
    ];
    let disconnect =
        DisconnectHandler::new(Arc::new(InMemoryConnectionStore::new().with_clock(clock()))).with_clock(clock());
    for (label, edit) in &edits {
        for cfg in [PLAIN, VERBOSE] {
            let mut r = connect_with_query_token(&t);
            edit(&mut r);
            let h = connect_handler_with("acme", Arc::new(InMemoryConnectionStore::new().with_clock(clock())));
            let o = run_connect(&h, r.clone(), cfg);
            let l = format!("connect {label} ({} settings)", cfg.len());
            assert!(documented_body(o.status()).contains(&o.body()), "[{l}] {} {}", o.status(), o.body());
            check_outputs(&o.cap, &l);
            assert_no_leak(&o, &t, &l);

            let o = run_disconnect(&disconnect, r, cfg);
            let l = format!("disconnect {label} ({} settings)", cfg.len());
            assert_valid_response(&o.response, 200, BODY_DISCONNECTED, &l);
            check_outputs(&o.cap, &l);
            assert_no_leak(&o, &t, &l);
        }
    }
}

/// A JWT-shaped connection id or route key is not a secret a client sent as such, but the
/// scrubber must not break the outputs: the documents stay valid and the request is still
/// answered.
#[test]
fn jwt_shaped_request_context_values_keep_outputs_valid() {
    let t = valid_token();
    let mut r = connect_with_query_token(&valid_token());
    r.request_context.connection_id = Some(t.clone());
    let h = connect_handler_with("acme", Arc::new(InMemoryConnectionStore::new().with_clock(clock())));
    let o = run_connect(&h, r.clone(), PLAIN);
    assert!(documented_body(o.status()).contains(&o.body()), "{} {}", o.status(), o.body());
    check_outputs(&o.cap, "jwt connection id");
    let d = DisconnectHandler::new(Arc::new(memory_store())).with_clock(clock());
    let o = run_disconnect(&d, r, PLAIN);
    assert_valid_response(&o.response, 200, BODY_DISCONNECTED, "jwt connection id");
    check_outputs(&o.cap, "jwt connection id");
}

/// The token's `Bearer` scheme keyword and the token in a header named in an unusual case
/// through `multiValueHeaders` only (as some proxies forward), with a store failure after
/// acceptance: 500 body fixed, no token or internal text anywhere but the log/cause.
#[test]
fn a_store_failure_after_acceptance_never_echoes_the_token_or_store_text_to_the_client() {
    let t = valid_token();
    let mut store = MockConnectionStore::new();
    store.expect_save().returning(|_| {
        Err(StoreError::Backend {
            operation: "save",
            code: Some("ConditionalCheckFailedException".into()),
            source: format!("item {{\"token\":\"{}\"}} {INTERNAL_TEXT}", valid_token()).into(),
        })
    });
    let h = connect_handler_with("acme", Arc::new(store));
    for cfg in [PLAIN, VERBOSE] {
        let mut v = connect_json();
        v["headers"]["Authorization"] = json!(format!("Bearer {t}"));
        let o = run_connect(&h, request_from(v), cfg);
        assert_valid_response(&o.response, 500, BODY_CONNECT_500, "store failure");
        check_outputs(&o.cap, "store failure");
        assert_no_leak(&o, &t, "store failure with the token in the store's error text");
    }
}

// ======================================================================== invocation isolation

/// A store that yields to the runtime before each call, so that concurrent invocations
/// interleave (as under `run_concurrent` on Lambda Managed Instances).
struct YieldingStore(InMemoryConnectionStore);

#[async_trait::async_trait]
impl ConnectionStore for YieldingStore {
    async fn save(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.0.save(record).await
    }
    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        for _ in 0..2 {
            tokio::task::yield_now().await;
        }
        self.0.get(connection_id).await
    }
    async fn delete(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        tokio::task::yield_now().await;
        self.0.delete(connection_id).await
    }
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.0.list_by_user(user_id).await
    }
    async fn list_by_tenant(&self, tenant_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.0.list_by_tenant(tenant_id).await
    }
    async fn touch(&self, connection_id: &str) -> Result<(), StoreError> {
        self.0.touch(connection_id).await
    }
}

fn event_for(
    payload: ApiGatewayWebsocketProxyRequest,
    request_id: &str,
) -> lambda_runtime::LambdaEvent<ApiGatewayWebsocketProxyRequest> {
    lambda_runtime::LambdaEvent::new(
        payload,
        streamer_obs::testing::ContextBuilder::new().request_id(request_id).trace_header(HEADER).build(),
    )
}

fn connect_as(conn: &str, token: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut r = connect_with_query_token(token);
    r.request_context.connection_id = Some(conn.to_owned());
    r
}

fn disconnect_of(conn: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut r = disconnect_request();
    r.request_context.connection_id = Some(conn.to_owned());
    r
}

/// What each invocation (by connection id) may show: user, tenant (None: must show none).
type Expect = HashMap<String, (Option<&'static str>, Option<&'static str>)>;

#[track_caller]
fn assert_isolated(cap: &Captured, expect: &Expect, label: &str) {
    for line in &cap.lines {
        let Some(conn) = line["connection_id"].as_str() else { continue };
        let (user, tenant) = expect.get(conn).unwrap_or_else(|| panic!("[{label}] unknown connection in {line}"));
        match user {
            Some(u) => assert!(line.get("user_id").is_none() || line["user_id"] == *u, "[{label}] {line}"),
            None => assert!(line.get("user_id").is_none(), "[{label}] user_id of another invocation: {line}"),
        }
        match tenant {
            Some(t) => assert!(line.get("tenant_id").is_none() || line["tenant_id"] == *t, "[{label}] {line}"),
            None => assert!(line.get("tenant_id").is_none(), "[{label}] tenant_id of another invocation: {line}"),
        }
        if user.is_none() {
            assert!(line.get("permissions").is_none(), "[{label}] permissions of another invocation: {line}");
        }
    }
    for doc in &cap.emf {
        let conn = doc["connection_id"].as_str().unwrap_or_else(|| panic!("[{label}] connection_id property: {doc}"));
        let (user, tenant) = expect.get(conn).unwrap_or_else(|| panic!("[{label}] unknown connection in {doc}"));
        match user {
            Some(u) => assert!(doc.get("user_id").is_none() || doc["user_id"] == *u, "[{label}] {doc}"),
            None => assert!(doc.get("user_id").is_none(), "[{label}] user_id of another invocation: {doc}"),
        }
        if let Some(t) = doc.get("TenantID").and_then(Value::as_str) {
            assert!(Some(t) == *tenant || t == "unknown", "[{label}] TenantID {t} for {conn}: {doc}");
        }
    }
    for seg in &cap.segments {
        let Some(conn) = seg["annotations"]["connection_id"].as_str() else { continue };
        let (user, tenant) = expect.get(conn).unwrap_or_else(|| panic!("[{label}] unknown connection in {seg}"));
        assert_eq!(seg["annotations"].get("user_id").and_then(Value::as_str), *user, "[{label}] {seg:#}");
        assert_eq!(seg["annotations"].get("tenant_id").and_then(Value::as_str), *tenant, "[{label}] {seg:#}");
    }
}

/// One process handles invocations one after the other (the pooled invocation is rebuilt
/// in place): no correlation field, EMF property or annotation of one invocation appears
/// in the next (a refused `$connect` after an accepted one shows no user or tenant).
#[test]
fn sequential_invocations_never_carry_the_previous_ones_fields() {
    let m = minter().with_permissions(["admin"]);
    let ok_a = m.mint("user-a", "acme", Duration::from_secs(300)).unwrap();
    let ok_b = m.mint("user-b", "globex", Duration::from_secs(300)).unwrap();
    let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock()));
    let connect = connect_handler_with("acme,globex", store.clone());
    let disconnect = DisconnectHandler::new(store.clone()).with_clock(clock());
    let (_, cap) = run(async {
        assert_eq!(connect.handle(event_for(connect_as("conn-a", &ok_a), "r-1")).await.unwrap().status_code, 200);
        assert_eq!(connect.handle(event_for(connect_as("conn-m", "x"), "r-2")).await.unwrap().status_code, 401);
        assert_eq!(
            connect.handle(event_for(connect_request_without_token("conn-n"), "r-3")).await.unwrap().status_code,
            401
        );
        assert_eq!(disconnect.handle(event_for(disconnect_of("conn-gone"), "r-4")).await.unwrap().status_code, 200);
        assert_eq!(disconnect.handle(event_for(disconnect_of("conn-a"), "r-5")).await.unwrap().status_code, 200);
        assert_eq!(disconnect.handle(event_for(disconnect_of("conn-a2"), "r-6")).await.unwrap().status_code, 200);
        assert_eq!(connect.handle(event_for(connect_as("conn-b", &ok_b), "r-7")).await.unwrap().status_code, 200);
        assert_eq!(
            connect
                .handle(event_for(connect_as("conn-x", "eyJhbGciOiJub25lIn0.e30."), "r-8"))
                .await
                .unwrap()
                .status_code,
            401
        );
    });
    let expect: Expect = [
        ("conn-a", (Some("user-a"), Some("acme"))),
        ("conn-m", (None, None)),
        ("conn-n", (None, None)),
        ("conn-gone", (None, None)),
        ("conn-a2", (None, None)),
        ("conn-b", (Some("user-b"), Some("globex"))),
        ("conn-x", (None, None)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // conn-a is disconnected with its record: it shows user-a/acme again.
    assert_isolated(&cap, &expect, "sequential");
    check_outputs(&cap, "sequential");
    let refused: Vec<_> = cap.lines.iter().filter(|l| l["message"] == "Connection refused").collect();
    assert_eq!(refused.len(), 3);
}

fn connect_request_without_token(conn: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut r = connect_request();
    r.request_context.connection_id = Some(conn.to_owned());
    r
}

/// The same across separate telemetry scopes on one thread (the pool is per thread).
#[test]
fn invocations_in_successive_scopes_on_one_thread_stay_isolated() {
    let m = minter().with_permissions(["admin"]);
    let ok = m.mint("user-a", "acme", Duration::from_secs(300)).unwrap();
    let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock()));
    let connect = connect_handler_with("acme", store.clone());
    let (_, first) = run(connect.handle(event_for(connect_as("conn-a", &ok), "r-1")));
    assert!(first.has_message("Connection established"));
    let (_, cap) = run(connect.handle(event_for(connect_request_without_token("conn-m"), "r-2")));
    let expect: Expect = [("conn-m".to_owned(), (None, None))].into_iter().collect();
    assert_isolated(&cap, &expect, "successive scopes");
    let (_, cap) =
        run(DisconnectHandler::new(store).with_clock(clock()).handle(event_for(disconnect_of("conn-z"), "r-3")));
    let expect: Expect = [("conn-z".to_owned(), (None, None))].into_iter().collect();
    assert_isolated(&cap, &expect, "successive scopes, disconnect");
}

/// Concurrent invocations (interleaved at every store call) keep their own correlation
/// fields, EMF properties, dimensions and annotations.
#[test]
fn concurrent_invocations_keep_their_own_fields() {
    let m = minter().with_permissions(["p"]);
    let users: Vec<(String, &'static str, &'static str, String)> = (0..6)
        .map(|i| {
            let (user, tenant): (&'static str, &'static str) = match i % 3 {
                0 => ("user-0", "acme"),
                1 => ("user-1", "globex"),
                _ => ("user-2", "initech"),
            };
            (format!("conn-{i}"), user, tenant, m.mint(user, tenant, Duration::from_secs(300)).unwrap())
        })
        .collect();
    let store = Arc::new(YieldingStore(InMemoryConnectionStore::new().with_clock(clock())));
    let connect = connect_handler_with("acme,globex", store.clone());
    let disconnect = DisconnectHandler::new(store.clone()).with_clock(clock());
    let (statuses, cap) = run(async {
        let futs = users.iter().map(|(conn, _, _, tok)| {
            let c = &connect;
            async move { c.handle(event_for(connect_as(conn, tok), &format!("req-{conn}"))).await.unwrap().status_code }
        });
        let mut statuses = futures_join_all(futs.collect()).await;
        let futs = users.iter().map(|(conn, _, _, _)| {
            let d = &disconnect;
            async move { d.handle(event_for(disconnect_of(conn), &format!("dreq-{conn}"))).await.unwrap().status_code }
        });
        statuses.extend(futures_join_all(futs.collect()).await);
        statuses
    });
    assert_eq!(statuses, [200, 200, 403, 200, 200, 403, 200, 200, 200, 200, 200, 200]);
    let expect: Expect = users
        .iter()
        .map(|(conn, user, tenant, _)| {
            if *tenant == "initech" {
                (conn.clone(), (None, None))
            } else {
                (conn.clone(), (Some(*user), Some(*tenant)))
            }
        })
        .collect();
    // A refused tenant is a TenantID dimension of its own AuthenticationFailed datum.
    for doc in &cap.emf {
        if doc.get("AuthenticationFailed").is_some() {
            assert_eq!(doc["TenantID"], "initech", "{doc}");
        }
    }
    let expect_no_refused: Expect = expect.into_iter().collect();
    let mut filtered =
        Captured { raw: cap.raw.clone(), lines: cap.lines.clone(), segments: cap.segments.clone(), emf: Vec::new() };
    filtered.emf = cap.emf.iter().filter(|d| d.get("AuthenticationFailed").is_none()).cloned().collect();
    assert_isolated(&filtered, &expect_no_refused, "concurrent");
    check_outputs(&cap, "concurrent");
}

/// A minimal `join_all` on the current-thread runtime (polls every future in turn).
async fn futures_join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    use std::pin::Pin;
    use std::task::Poll;
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..futs.len()).map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => out[i] = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(out.iter_mut().map(|o| o.take().unwrap()).collect()) }
    })
    .await
}

// ======================================================================== platform and defaults

/// API Gateway WebSocket: when the client offers subprotocols (`Sec-WebSocket-Protocol`),
/// the `$connect` integration response must name the one chosen in a
/// `Sec-WebSocket-Protocol` header, or the client (every browser) fails the handshake
/// (AWS API Gateway developer guide, "WebSocket subprotocols"; docs/handlers.md).
#[test]
fn an_accepted_connect_offering_subprotocols_selects_one() {
    let t = valid_token();
    let mut v = connect_json();
    v["headers"]["Sec-WebSocket-Protocol"] = json!("graphql-ws, json");
    v["multiValueHeaders"]["Sec-WebSocket-Protocol"] = json!(["graphql-ws, json"]);
    v["queryStringParameters"] = json!({"Authorization": t});
    let h = connect_handler_with("acme", Arc::new(InMemoryConnectionStore::new().with_clock(clock())));
    let o = run_connect(&h, request_from(v), PLAIN);
    assert_eq!(o.status(), 200, "{}", o.body());
    let chosen = o.response.headers.get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
    assert!(
        matches!(chosen, Some("graphql-ws") | Some("json")),
        "the response selects none of the offered subprotocols (headers {:?})",
        o.response.headers
    );
}

/// With `POWERTOOLS_LOGGER_LOG_EVENT=true`, opaque (not JWT-shaped) credentials under
/// other common parameter and header names. The docs promise the event is logged "secrets
/// redacted"; the default key list decides what a secret is.
#[test]
fn opaque_credentials_under_other_common_names_with_event_logging() {
    let secret = "opaque-cred-Zm9vYmFyYmF6cXV4LXNlY3JldA";
    let mut leaks = Vec::new();
    // Names that are not secrets by default (`auth`, `bearer`, `X-Auth`: a deployment adds
    // them with `STREAMER_LOG_REDACT_KEYS`) are left out.
    for name in [
        "signature",
        "X-Amz-Signature",
        "X-Amz-Credential",
        "credentials",
        "sessionid",
        "id_token",
        "refresh_token",
        "X-Amz-Security-Token",
        "Proxy-Authorization",
        "private_key",
        "passwd",
    ] {
        for place in ["query", "header"] {
            let mut v = connect_json();
            if place == "query" {
                v["queryStringParameters"] = json!({name: secret});
                v["multiValueQueryStringParameters"] = json!({name: [secret]});
            } else {
                v["headers"][name] = json!(secret);
                v["multiValueHeaders"][name] = json!([secret]);
            }
            let h = connect_handler_with("acme", Arc::new(memory_store()));
            let o = run_connect(&h, request_from(v), VERBOSE);
            assert!(o.cap.has_message("Incoming event"));
            check_outputs(&o.cap, name);
            if o.cap.all_text().contains(secret) {
                leaks.push(format!("{place} {name}"));
            }
        }
    }
    // An opaque token behind the `Bearer` scheme keyword, in a header no key rule names.
    for name in ["X-Forwarded-Auth", "X-Upstream"] {
        let mut v = connect_json();
        v["headers"][name] = json!(format!("Bearer {secret}"));
        let h = connect_handler_with("acme", Arc::new(memory_store()));
        let o = run_connect(&h, request_from(v), VERBOSE);
        check_outputs(&o.cap, name);
        if o.cap.all_text().contains(secret) {
            leaks.push(format!("header {name}: Bearer <opaque>"));
        }
    }
    assert!(leaks.is_empty(), "opaque credentials logged verbatim under: {leaks:?}");
}

/// The connection record keeps the client's `User-Agent`; a client that put its token
/// there (some SDKs do) has it stored in the table.
#[test]
fn a_token_in_the_user_agent_is_not_stored_in_the_record() {
    let t = valid_token();
    let mut r = connect_with_query_token(&t);
    r.headers.insert("user-agent", HeaderValue::from_str(&format!("app/1 Bearer {t}")).unwrap());
    let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock()));
    let h = connect_handler_with("acme", store.clone());
    let o = run_connect(&h, r, PLAIN);
    assert_eq!(o.status(), 200);
    let ua = store.snapshot()[0].user_agent.clone().unwrap_or_default();
    assert!(!ua.contains(&t), "the token is stored in the record's userAgent: {ua:.60}");
}
