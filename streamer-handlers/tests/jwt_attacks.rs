//! Adversarial suite for `$connect` authentication and the handlers' responses, written
//! from RFC 8725 (JWT BCP), RFC 7515 (JWS), RFC 7519 (JWT) and the project's documented
//! policies (`streamer-handlers/src/auth.rs` module docs, `docs/handlers.md`, README
//! "The reference handlers").
//!
//! Every attack goes through the real `ConnectHandler` (in-memory store, fixed clock) and
//! checks what a refusal must show: the documented status and fixed body, no record
//! saved, one WARN `Connection refused` line with the precise reason, exactly one
//! `AuthenticationFailed` = 1 EMF datum with the documented `ErrorType`, the subsegments
//! marked `error` (never `fault`), and no log line, EMF document or X-Ray document holding
//! the token, any part of it, or parser error text.
//!
//! The first run found four defects, fixed since: a token with an `aud` was accepted when no
//! audience was configured (RFC 7519 §4.1.3); `cty: JWT` with a claims payload was
//! accepted (RFC 7519 §7.2); `null` `nbf`/`iat`/`typ` and non-string `aud` members were
//! accepted; an EC key on another 256-bit curve (secp256k1) passed the settings check.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::http::{HeaderName, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use streamer_handlers::auth::{Authenticator, MAX_TOKEN_BYTES};
use streamer_handlers::connect::ConnectHandler;
use streamer_handlers::disconnect::DisconnectHandler;
use streamer_handlers::response::body_text;
use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
use streamer_handlers::store::{ConnectionRecord, InMemoryConnectionStore};
use streamer_obs::testing::FixedClock;

const RSA_PUB: &str = include_str!("../../examples/keys/rsa-public.pem");
const RSA_PRIV: &[u8] = include_bytes!("../../examples/keys/rsa-private.pem");
const UNTRUSTED_RSA_PRIV: &[u8] = include_bytes!("../../examples/keys/untrusted-rsa-private.pem");
const EC256_PUB: &str = include_str!("../../examples/keys/ec-p256-public.pem");
const EC256_PRIV: &[u8] = include_bytes!("../../examples/keys/ec-p256-private.pem");
const EC384_PRIV: &[u8] = include_bytes!("../../examples/keys/ec-p384-private.pem");

/// "Now" of the authenticator, in seconds (the handlers' `T0` is in milliseconds).
const NOW_S: u64 = T0 / 1000;
/// `T0` as a JSON NumericDate with its milliseconds.
const NOW_F: f64 = T0 as f64 / 1000.0;

const BODY_MISSING: &str = r#"{"code":"UNAUTHORIZED","message":"Missing authentication token"}"#;
const BODY_INVALID: &str = r#"{"code":"UNAUTHORIZED","message":"Invalid authentication token"}"#;
const BODY_FORBIDDEN: &str = r#"{"code":"FORBIDDEN","message":"Tenant not allowed"}"#;
const BODY_CONNECTED: &str = r#"{"message":"Connected successfully"}"#;

/// Text a JSON, base64 or JWT parser would put in its errors: never in any output.
const PARSER_TEXT: &[&str] = &[
    "at line",
    "column",
    "Base64",
    "base64",
    "InvalidSignature",
    "InvalidToken",
    "ErrorKind",
    "Json(",
    "Utf8",
    "expected value",
    "invalid type",
    "trailing characters",
    "key rejected",
    "InvalidByte",
    "InvalidLastSymbol",
];

// ------------------------------------------------------------------------ keys and tokens

fn rsa_key() -> &'static EncodingKey {
    static K: OnceLock<EncodingKey> = OnceLock::new();
    K.get_or_init(|| EncodingKey::from_rsa_pem(RSA_PRIV).unwrap())
}

fn untrusted_key() -> &'static EncodingKey {
    static K: OnceLock<EncodingKey> = OnceLock::new();
    K.get_or_init(|| EncodingKey::from_rsa_pem(UNTRUSTED_RSA_PRIV).unwrap())
}

fn ec256_key() -> &'static EncodingKey {
    static K: OnceLock<EncodingKey> = OnceLock::new();
    K.get_or_init(|| EncodingKey::from_ec_pem(EC256_PRIV).unwrap())
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The DER (SPKI) of a PEM public key.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).unwrap()
}

/// Signs the raw header and payload JSON texts (duplicates, spacing, BOMs kept as given).
fn sign_raw(header_json: &[u8], payload_json: &[u8], key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header_json), b64(payload_json));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

/// RS256 with the trusted key over raw header and payload texts.
fn rs256_raw(header_json: &str, payload_json: &str) -> String {
    sign_raw(header_json.as_bytes(), payload_json.as_bytes(), rsa_key(), Algorithm::RS256)
}

/// RS256 with the trusted key, header `header`.
fn rs256_with_header(header: &Value, claims: &Value) -> String {
    rs256_raw(&header.to_string(), &claims.to_string())
}

/// A valid RS256 token for `claims`.
fn rs256(claims: &Value) -> String {
    rs256_with_header(&json!({"alg": "RS256", "typ": "JWT"}), claims)
}

fn claims() -> Value {
    json!({"sub": "user-1", "tenant_id": "acme", "iat": NOW_S - 10, "exp": NOW_S + 300})
}

/// The payload text of [`claims`] with `extra` members appended verbatim.
fn payload_with(extra: &str) -> String {
    format!(r#"{{"sub":"user-1","tenant_id":"acme","exp":{}{extra}}}"#, NOW_S + 300)
}

fn valid_token() -> String {
    rs256(&claims())
}

// ------------------------------------------------------------------------ handler fixture

fn rsa_jwt() -> JwtSettings {
    JwtSettings::new(PublicKey::from_pem(RSA_PUB).unwrap(), vec![Algorithm::RS256]).unwrap()
}

fn ec_jwt() -> JwtSettings {
    JwtSettings::new(PublicKey::from_pem(EC256_PUB).unwrap(), vec![Algorithm::ES256]).unwrap()
}

struct Fixture {
    auth: Authenticator,
}

impl Fixture {
    /// A handler on a fresh, empty store.
    fn handler(&self) -> (ConnectHandler, Arc<InMemoryConnectionStore>) {
        let clock = Arc::new(FixedClock::at_millis(T0));
        let store = Arc::new(InMemoryConnectionStore::new().with_clock(clock.clone()));
        let handler =
            ConnectHandler::new(self.auth.clone(), store.clone(), Duration::from_secs(24 * 3600)).with_clock(clock);
        (handler, store)
    }
}

fn fixture(jwt: &JwtSettings, tenants: &str) -> Fixture {
    let clock = Arc::new(FixedClock::at_millis(T0));
    Fixture { auth: Authenticator::with_clock(jwt, AllowedTenants::parse(tenants), clock) }
}

fn rsa_fixture() -> Fixture {
    fixture(&rsa_jwt(), "acme,globex")
}

struct Outcome {
    status: i64,
    body: String,
    content_type: Option<String>,
    cap: Captured,
    stored: usize,
}

fn outcome(response: ApiGatewayProxyResponse, cap: Captured, stored: usize) -> Outcome {
    Outcome {
        status: response.status_code,
        body: body_text(&response).to_owned(),
        content_type: response.headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned),
        cap,
        stored,
    }
}

/// Runs one `$connect` with `f`'s authenticator on a fresh store.
fn connect_on(f: &Fixture, request: ApiGatewayWebsocketProxyRequest) -> Outcome {
    let (handler, store) = f.handler();
    let (out, cap) = run(handler.handle(event(request)));
    let response = out.expect("the handler answers Ok");
    outcome(response, cap, store.stored_len())
}

fn connect_with_log_event(f: &Fixture, request: ApiGatewayWebsocketProxyRequest) -> Outcome {
    let (handler, store) = f.handler();
    let cfg = config(&[
        ("ENVIRONMENT", "test"),
        ("POWERTOOLS_SERVICE_NAME", "streamer"),
        ("POWERTOOLS_LOGGER_LOG_EVENT", "true"),
    ]);
    let (out, cap) = run_with(cfg, handler.handle(event(request)));
    let response = out.expect("the handler answers Ok");
    outcome(response, cap, store.stored_len())
}

/// `$connect` with `value` as the (only) `Authorization` header, under `name`.
fn with_header(name: &str, value: &[u8]) -> ApiGatewayWebsocketProxyRequest {
    let mut r = connect_request();
    r.headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_bytes(value).unwrap());
    r
}

// ------------------------------------------------------------------------ assertions

/// Neither `secret` nor any part of it (nor the first/last 16 characters of a long part)
/// appears in anything the invocation produced or in the body; no parser text either.
#[track_caller]
fn assert_no_leak(o: &Outcome, secret: &str, label: &str) {
    let text = format!("{}\n{}", o.cap.all_text(), o.body);
    if secret.trim().len() >= 8 {
        assert!(!text.contains(secret.trim()), "[{label}] the token leaked");
    }
    for part in secret.split(|c: char| c == '.' || c.is_ascii_whitespace()) {
        if part.len() >= 8 {
            assert!(!text.contains(part), "[{label}] token part leaked: {part:.40}");
        }
        if part.len() >= 24 {
            let (head, tail) = (&part[..16], &part[part.len() - 16..]);
            assert!(!text.contains(head) && !text.contains(tail), "[{label}] a slice of a token part leaked");
        }
    }
    // `isBase64Encoded` is a member of the API Gateway event itself (logged with
    // `POWERTOOLS_LOGGER_LOG_EVENT`), not parser text.
    let text = text.replace("isBase64Encoded", "");
    for word in PARSER_TEXT {
        assert!(!text.contains(word), "[{label}] parser text {word:?} in the output");
    }
}

fn expected_body(error_type: &str) -> (i64, &'static str) {
    match error_type {
        "missing_token" => (401, BODY_MISSING),
        "invalid_jwt" => (401, BODY_INVALID),
        "tenant_not_allowed" => (403, BODY_FORBIDDEN),
        other => panic!("undocumented error type {other}"),
    }
}

/// Everything a refusal must show (docs/handlers.md `$connect` step 3, `connect.rs` step 2).
#[track_caller]
fn assert_refused(o: &Outcome, secret: &str, error_type: &str, reasons: &[&str], label: &str) {
    let (status, body) = expected_body(error_type);
    assert_eq!(o.status, status, "[{label}] status (body {})", o.body);
    assert_eq!(o.body, body, "[{label}] body");
    assert_eq!(o.content_type.as_deref(), Some("application/json"), "[{label}] content type");
    assert_eq!(o.stored, 0, "[{label}] nothing saved");

    let refused: Vec<&Value> = o.cap.lines.iter().filter(|l| l["message"] == "Connection refused").collect();
    assert_eq!(refused.len(), 1, "[{label}] one `Connection refused` line: {:#?}", o.cap.lines);
    let line = refused[0];
    assert_eq!(line["level"], "WARN", "[{label}]");
    assert_eq!(line["error_type"], error_type, "[{label}] {line}");
    assert_eq!(line["status_code"], status, "[{label}] {line}");
    let reason = line["reason"].as_str().unwrap_or_default();
    assert!(reasons.contains(&reason), "[{label}] reason {reason:?} not in {reasons:?}");
    assert!(o.cap.lines.iter().all(|l| l["level"] != "ERROR"), "[{label}] no ERROR line: {:#?}", o.cap.lines);

    // AuthenticationFailed = 1, exactly once, with the documented ErrorType.
    let docs: Vec<&Value> = o.cap.emf.iter().filter(|d| d.get("AuthenticationFailed").is_some()).collect();
    assert_eq!(docs.len(), 1, "[{label}] one AuthenticationFailed document: {:#?}", o.cap.emf);
    assert_eq!(docs[0]["AuthenticationFailed"], 1.0, "[{label}]");
    assert_eq!(docs[0]["ErrorType"], error_type, "[{label}]");
    let sets = o.cap.dimension_sets("AuthenticationFailed");
    let sets = sets.as_array().unwrap();
    assert!(sets.contains(&json!(["Environment"])), "[{label}] {sets:?}");
    assert!(sets.contains(&json!(["Environment", "ErrorType"])), "[{label}] {sets:?}");
    for metric in ["ConnectionEstablished", "ConnectionFailed"] {
        assert!(o.cap.emf.iter().all(|d| d.get(metric).is_none()), "[{label}] no {metric}");
    }
    assert_eq!(o.cap.emf_with("ProcessingLatency")["Action"], "connect", "[{label}] latency on every path");

    let seg = o.cap.segment("HandleConnect");
    assert_eq!(seg["error"], true, "[{label}] {seg:#}");
    assert!(seg.get("fault").is_none(), "[{label}] a refusal is not a fault");
    assert_eq!(seg["annotations"]["error_type"], error_type, "[{label}]");
    let jwt = child(seg, "ValidateJWT");
    assert_eq!(jwt["error"], true, "[{label}]");
    assert!(seg["subsegments"].as_array().unwrap().iter().all(|s| s["name"] != "SaveConnection"), "[{label}]");
    assert_no_leak(o, secret, label);
}

const INVALID: &str = "invalid_jwt";

#[track_caller]
fn assert_accepted(o: &Outcome, secret: &str, label: &str) {
    assert_eq!(o.status, 200, "[{label}] body {} lines {:#?}", o.body, o.cap.lines);
    assert_eq!(o.body, BODY_CONNECTED, "[{label}]");
    assert_eq!(o.stored, 1, "[{label}]");
    assert!(o.cap.emf.iter().all(|d| d.get("AuthenticationFailed").is_none()), "[{label}]");
    assert_no_leak(o, secret, label);
}

/// Runs `token` in the query string and checks the refusal.
#[track_caller]
fn refused_q(f: &Fixture, token: &str, error_type: &str, reasons: &[&str], label: &str) {
    let o = connect_on(f, connect_with_query_token(token));
    assert_refused(&o, token, error_type, reasons, label);
}

#[track_caller]
fn invalid_q(f: &Fixture, token: &str, reasons: &[&str], label: &str) {
    refused_q(f, token, INVALID, reasons, label);
}

#[track_caller]
fn accepted_q(f: &Fixture, token: &str, label: &str) {
    let o = connect_on(f, connect_with_query_token(token));
    assert_accepted(&o, token, label);
}

// ======================================================================== RFC 8725 §2.1/§3.1: alg none

#[test]
fn alg_none_in_any_case_is_refused() {
    let f = rsa_fixture();
    let payload = b64(claims().to_string());
    let valid = valid_token();
    let real_sig = valid.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE", "nOnE", "none ", "NoNe"] {
        let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string());
        for sig in ["", "c2lnbmF0dXJl", real_sig] {
            let token = format!("{header}.{payload}.{sig}");
            invalid_q(&f, &token, &["algorithm_not_allowed"], &format!("alg {alg:?} sig {:.8}", sig));
        }
    }
}

// ======================================================================== RFC 8725 §2.1/§3.1: key confusion

#[test]
fn hmac_keyed_with_the_public_key_is_refused_rsa() {
    let f = rsa_fixture();
    let der = pem_der(RSA_PUB);
    // PKCS#1 RSAPublicKey inside the SPKI (after the 24-byte SPKI prefix of a 2048-bit key).
    let pkcs1 = der[24..].to_vec();
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("pem", RSA_PUB.as_bytes().to_vec()),
        ("pem trimmed", RSA_PUB.trim().as_bytes().to_vec()),
        ("pem crlf", RSA_PUB.replace('\n', "\r\n").into_bytes()),
        ("spki der", der.clone()),
        ("pkcs1 der", pkcs1),
    ];
    for (name, secret) in &secrets {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = jsonwebtoken::encode(&Header::new(alg), &claims(), &EncodingKey::from_secret(secret)).unwrap();
            invalid_q(&f, &token, &["algorithm_not_allowed"], &format!("{alg:?} keyed with {name}"));
        }
    }
}

#[test]
fn hmac_keyed_with_the_public_key_is_refused_ec() {
    let f = fixture(&ec_jwt(), "acme");
    for (name, secret) in [("pem", EC256_PUB.as_bytes().to_vec()), ("der", pem_der(EC256_PUB))] {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &EncodingKey::from_secret(&secret))
            .unwrap();
        invalid_q(&f, &token, &["algorithm_not_allowed"], &format!("HS256 keyed with EC {name}"));
    }
}

// ======================================================================== RFC 8725 §3.1: algorithm pinning

#[test]
fn algorithms_not_configured_are_refused() {
    let rsa = rsa_fixture();
    let ec = fixture(&ec_jwt(), "acme");
    let p384 = EncodingKey::from_ec_pem(EC384_PRIV).unwrap();
    let sign = |alg, key: &EncodingKey| jsonwebtoken::encode(&Header::new(alg), &claims(), key).unwrap();
    // An RSA (RS256) configuration.
    for (label, token) in [
        ("ES256 on RS256", sign(Algorithm::ES256, ec256_key())),
        ("ES384 on RS256", sign(Algorithm::ES384, &p384)),
        ("PS256 on RS256", sign(Algorithm::PS256, rsa_key())),
        ("RS384 on RS256", sign(Algorithm::RS384, rsa_key())),
        ("RS512 on RS256", sign(Algorithm::RS512, rsa_key())),
    ] {
        invalid_q(&rsa, &token, &["algorithm_not_allowed"], label);
    }
    // An EC P-256 (ES256) configuration.
    for (label, token) in [
        ("RS256 on ES256", sign(Algorithm::RS256, rsa_key())),
        ("PS256 on ES256", sign(Algorithm::PS256, rsa_key())),
        ("ES384 on ES256", sign(Algorithm::ES384, &p384)),
    ] {
        invalid_q(&ec, &token, &["algorithm_not_allowed"], label);
    }
    // EdDSA, ES512, unknown and JWE key-management names, with any signature.
    let payload = b64(claims().to_string());
    for alg in ["EdDSA", "Ed25519", "ES512", "ES256K", "RSA-OAEP", "dir", "A256KW", "PS256 ", "rs256", "RS257"] {
        let token = format!("{}.{payload}.{}", b64(json!({"alg": alg}).to_string()), b64([7u8; 64]));
        invalid_q(&rsa, &token, &["algorithm_not_allowed"], &format!("alg {alg:?} on RS256"));
        invalid_q(&ec, &token, &["algorithm_not_allowed"], &format!("alg {alg:?} on ES256"));
    }
}

#[test]
fn alg_missing_or_not_a_string_is_refused() {
    let f = rsa_fixture();
    let payload = payload_with("");
    for header in [
        r#"{"typ":"JWT"}"#,
        r#"{"alg":null}"#,
        r#"{"alg":256}"#,
        r#"{"alg":true}"#,
        r#"{"alg":["RS256"]}"#,
        r#"{"alg":{"name":"RS256"}}"#,
        r#"{"alg":""}"#,
        r#"{}"#,
    ] {
        // Correctly signed with the trusted key: only the header is wrong.
        let token = rs256_raw(header, &payload);
        invalid_q(&f, &token, &["malformed", "algorithm_not_allowed"], header);
    }
}

// ======================================================================== RFC 7515 §4.1.11: crit

#[test]
fn crit_is_refused_even_when_correctly_signed() {
    let f = rsa_fixture();
    for header in [
        json!({"alg": "RS256", "crit": ["exp"], "exp": 1}),
        json!({"alg": "RS256", "crit": []}),
        json!({"alg": "RS256", "crit": ["b64"], "b64": false}),
        json!({"alg": "RS256", "crit": "b64"}),
        json!({"alg": "RS256", "crit": null}),
    ] {
        let token = rs256_with_header(&header, &claims());
        invalid_q(&f, &token, &["unsupported_header", "malformed"], &header.to_string());
    }
}

// ======================================================================== RFC 8725 §3.10: key from the token

/// `jku`, `jwk`, `x5u`, `x5c`, `kid` never select the key: a token signed by the attacker
/// and carrying the attacker's key is refused; the trusted key with those headers is still
/// accepted (they are ignored); no URL they name is ever fetched.
#[test]
fn key_references_in_the_header_are_ignored_and_never_fetched() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let attacker_jwk =
        serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(untrusted_key(), Algorithm::RS256).unwrap())
            .unwrap();
    let trusted_jwk =
        serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(rsa_key(), Algorithm::RS256).unwrap()).unwrap();
    let cert = STANDARD.encode(pem_der(RSA_PUB));
    let headers = [
        json!({"alg": "RS256", "jku": url}),
        json!({"alg": "RS256", "x5u": url}),
        json!({"alg": "RS256", "jwk": attacker_jwk}),
        json!({"alg": "RS256", "jwk": trusted_jwk}),
        json!({"alg": "RS256", "x5c": [cert]}),
        json!({"alg": "RS256", "kid": "../../../../dev/null"}),
        json!({"alg": "RS256", "kid": "' OR '1'='1"}),
        json!({"alg": "RS256", "kid": url, "jku": url, "x5u": url, "jwk": attacker_jwk}),
    ];
    let f = rsa_fixture();
    for header in &headers {
        let forged =
            sign_raw(header.to_string().as_bytes(), claims().to_string().as_bytes(), untrusted_key(), Algorithm::RS256);
        invalid_q(&f, &forged, &["bad_signature"], &format!("attacker-signed {header}"));
        let genuine = rs256_with_header(header, &claims());
        accepted_q(&f, &genuine, &format!("trusted key with {header}"));
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a URL from the token was fetched: {other:?}"),
    }
}

// ======================================================================== RFC 8725 §3.11: typ

#[test]
fn typ_values() {
    let f = rsa_fixture();
    for typ in ["JWT", "jwt", "at+jwt", "application/at+jwt", "JOSE", "application/jwt"] {
        let token = rs256_with_header(&json!({"alg": "RS256", "typ": typ}), &claims());
        accepted_q(&f, &token, &format!("typ {typ:?}"));
    }
    for typ in [
        json!("secevent+jwt"),
        json!("logout+jwt"),
        json!("JWE"),
        json!("JOSE+JSON"),
        json!("application/secevent+jwt"),
        json!("JWT "),
        json!(""),
        json!("other"),
        json!(1),
        json!(["JWT"]),
    ] {
        let token = rs256_with_header(&json!({"alg": "RS256", "typ": typ}), &claims());
        invalid_q(&f, &token, &["unsupported_header", "malformed"], &format!("typ {typ}"));
    }
}

// ======================================================================== RFC 7519 §5.2/§7.2: nested JWTs

/// A nested JWT whose payload is the inner JWT's compact text is refused (the payload is
/// not a claims set), as is one without `cty`.
#[test]
fn nested_jwt_payloads_are_refused() {
    let f = rsa_fixture();
    let inner = valid_token();
    for header in [r#"{"alg":"RS256","cty":"JWT"}"#, r#"{"alg":"RS256"}"#, r#"{"alg":"RS256","typ":"JWT","cty":"jwt"}"#]
    {
        let outer = rs256_raw(header, &inner);
        // Refused for its `cty` (nesting is not supported) or, without one, as malformed.
        invalid_q(&f, &outer, &["malformed", "unsupported_header"], &format!("nested under {header}"));
    }
}

/// RFC 7519 §7.2 step 8: with `cty: "JWT"` the Message *is* a JWT and processing restarts
/// on it; a JSON claims set is not a JWT, so the token must be refused, not read as if its
/// payload were the claims (RFC 8725 §2.8 cross-JWT confusion).
#[test]
fn cty_jwt_with_a_json_claims_payload_is_refused() {
    let f = rsa_fixture();
    for cty in ["JWT", "jwt", "application/jwt"] {
        let token = rs256_with_header(&json!({"alg": "RS256", "typ": "JWT", "cty": cty}), &claims());
        invalid_q(&f, &token, &["unsupported_header", "malformed"], &format!("cty {cty}"));
    }
}

// ======================================================================== shape: JWE, parts, alphabet

#[test]
fn jwe_shaped_and_wrong_part_counts_are_malformed() {
    let f = rsa_fixture();
    let valid = valid_token();
    let parts: Vec<&str> = valid.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let jwe_header = b64(json!({"alg": "RSA-OAEP", "enc": "A256GCM"}).to_string());
    let dir_header = b64(json!({"alg": "dir", "enc": "A128CBC-HS256"}).to_string());
    for (label, token) in [
        (
            "jwe 5 parts",
            format!("{jwe_header}.{}.{}.{}.{}", b64([1u8; 256]), b64([2u8; 12]), b64(b"ciphertext!"), b64([3u8; 16])),
        ),
        (
            "jwe dir 5 parts, empty key",
            format!("{dir_header}..{}.{}.{}", b64([2u8; 16]), b64(b"ciphertext!"), b64([3u8; 16])),
        ),
        ("valid jws + 2 parts", format!("{valid}.{}.{}", b64(b"xx"), b64(b"yy"))),
        ("1 part", h.to_owned()),
        ("2 parts", format!("{h}.{p}")),
        ("4 parts", format!("{h}.{p}.{s}.{s}")),
        ("6 parts", format!("{h}.{p}.{s}.{h}.{p}.{s}")),
        ("empty header", format!(".{p}.{s}")),
        ("empty payload", format!("{h}..{s}")),
        ("only dots", "..".to_owned()),
        ("four dots", "....".to_owned()),
        ("trailing dot", format!("{valid}.")),
        ("leading dot", format!(".{valid}")),
        ("double dot", format!("{h}..{p}.{s}")),
    ] {
        invalid_q(&f, &token, &["malformed"], label);
    }
    // An empty signature part is a (bad) signature, not a shape error.
    invalid_q(&f, &format!("{h}.{p}."), &["bad_signature", "malformed"], "empty signature");
}

#[test]
fn non_base64url_padding_whitespace_and_trailing_garbage_are_refused() {
    let f = rsa_fixture();
    let valid = valid_token();
    let parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let (h, p, s) = (&parts[0], &parts[1], &parts[2]);
    let std_sig = STANDARD.encode(URL_SAFE_NO_PAD.decode(s).unwrap());
    // The last base64url character of the RS256 signature carries 2 unused bits: setting
    // them keeps the decoded bytes but is not the canonical encoding (RFC 4648 §3.5).
    let last = s.as_bytes()[s.len() - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.iter().position(|c| *c == last).unwrap();
    let non_canonical = format!("{}{}", &s[..s.len() - 1], alphabet[idx | 1] as char);
    assert_ne!(non_canonical, *s);
    for (label, token) in [
        ("standard alphabet signature", format!("{h}.{p}.{std_sig}")),
        ("plus in payload", format!("{h}.{}+.{s}", &p[..p.len() - 1])),
        ("slash in header", format!("{}/.{p}.{s}", &h[..h.len() - 1])),
        ("padding on header", format!("{h}=.{p}.{s}")),
        ("padding on payload", format!("{h}.{p}==.{s}")),
        ("padding on signature", format!("{h}.{p}.{s}=")),
        ("percent-encoded dot", format!("{h}%2E{p}%2E{s}")),
        ("asterisk", format!("{h}.{p}.{s}*")),
        ("inner space", format!("{h}. {p}.{s}")),
        ("inner tab", format!("{h}.{p}\t.{s}")),
        ("inner newline", format!("{h}.{p}.{s}\nX")),
        ("inner crlf", format!("{h}\r\n.{p}.{s}")),
        ("trailing garbage after space", format!("{valid} garbage")),
        ("trailing part", format!("{valid}.garbage")),
        ("nul byte", format!("{valid}\u{0}")),
        ("non-ascii", format!("{valid}é")),
        ("fullwidth dot", format!("{h}\u{ff0e}{p}.{s}")),
        ("non-canonical signature encoding", format!("{h}.{p}.{non_canonical}")),
    ] {
        invalid_q(&f, &token, &["malformed", "bad_signature"], label);
    }
    // Bytes appended to the signature: still a bad signature.
    invalid_q(&f, &format!("{h}.{p}.{s}AAAA"), &["bad_signature", "malformed"], "appended signature bytes");
    // Surrounding whitespace is trimmed (documented: `extract_token`), so the token is valid.
    for padded in [format!("  {valid}  "), format!("\t{valid}\t")] {
        let o = connect_on(&f, with_header("authorization", format!("Bearer {padded}").as_bytes()));
        assert_accepted(&o, &valid, "surrounding whitespace in the header");
        let o = connect_on(&f, connect_with_query_token(&padded));
        assert_accepted(&o, &valid, "surrounding whitespace in the query");
    }
}

// ======================================================================== JSON: duplicates, non-JSON, BOM, depth

#[test]
fn duplicate_members_in_header_or_claims_are_refused() {
    let f = rsa_fixture();
    let exp = NOW_S + 300;
    let ok_payload = payload_with("");
    let cases = [
        (r#"{"alg":"RS256","alg":"none"}"#.to_owned(), ok_payload.clone()),
        (r#"{"alg":"none","alg":"RS256"}"#.to_owned(), ok_payload.clone()),
        (r#"{"alg":"RS256","\u0061lg":"none"}"#.to_owned(), ok_payload.clone()),
        (r#"{"alg":"RS256","typ":"JWT","typ":"secevent+jwt"}"#.to_owned(), ok_payload.clone()),
        (r#"{"alg":"RS256","crit":["x"],"crit":null}"#.to_owned(), ok_payload.clone()),
        (
            r#"{"alg":"RS256"}"#.to_owned(),
            format!(r#"{{"sub":"user-1","sub":"admin","tenant_id":"acme","exp":{exp}}}"#),
        ),
        (
            r#"{"alg":"RS256"}"#.to_owned(),
            format!(r#"{{"sub":"user-1","tenant_id":"acme","tenant_id":"globex","exp":{exp}}}"#),
        ),
        (
            r#"{"alg":"RS256"}"#.to_owned(),
            format!(r#"{{"sub":"user-1","tenant_id":"initech","tenant\u005fid":"acme","exp":{exp}}}"#),
        ),
        (r#"{"alg":"RS256"}"#.to_owned(), format!(r#"{{"sub":"user-1","tenant_id":"acme","exp":1,"exp":{exp}}}"#)),
        (r#"{"alg":"RS256"}"#.to_owned(), format!(r#"{{"sub":"user-1","tenant_id":"acme","exp":{exp},"exp":1}}"#)),
        (
            r#"{"alg":"RS256"}"#.to_owned(),
            format!(r#"{{"sub":"user-1","tenant_id":"acme","exp":{exp},"nbf":1,"nbf":{}}}"#, exp + 999),
        ),
    ];
    for (header, payload) in &cases {
        let token = rs256_raw(header, payload);
        invalid_q(&f, &token, &["malformed"], &format!("{header} / {payload}"));
    }
}

#[test]
fn non_json_bom_trailing_garbage_and_deep_nesting_are_refused() {
    let f = rsa_fixture();
    let header = r#"{"alg":"RS256","typ":"JWT"}"#;
    let good = payload_with("");
    let deep = format!(
        r#"{{"sub":"user-1","tenant_id":"acme","exp":{},"x":{}{}}}"#,
        NOW_S + 300,
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let deep_obj = format!(
        r#"{{"sub":"user-1","tenant_id":"acme","exp":{},"x":{}1{}}}"#,
        NOW_S + 300,
        r#"{"a":"#.repeat(700),
        "}".repeat(700)
    );
    let payloads: Vec<(&str, Vec<u8>)> = vec![
        ("not json", b"hello world".to_vec()),
        ("json array", b"[1,2,3]".to_vec()),
        ("json string", br#""sub""#.to_vec()),
        ("json null", b"null".to_vec()),
        ("bom + json", [&b"\xEF\xBB\xBF"[..], good.as_bytes()].concat()),
        ("utf-16", good.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        ("invalid utf-8 in a string", {
            let mut b = good.clone().into_bytes();
            b[good.find("user-1").unwrap() + 4] = 0xFF;
            b
        }),
        ("trailing garbage", format!("{good}garbage").into_bytes()),
        ("two objects", format!("{good}{good}").into_bytes()),
        ("truncated", good.as_bytes()[..good.len() - 1].to_vec()),
        ("deep arrays", deep.into_bytes()),
        ("deep objects", deep_obj.into_bytes()),
        ("exp 1e400", payload_with("").replace(&format!("{}", NOW_S + 300), "1e400").into_bytes()),
    ];
    for (label, payload) in &payloads {
        let token = sign_raw(header.as_bytes(), payload, rsa_key(), Algorithm::RS256);
        assert!(token.len() <= MAX_TOKEN_BYTES, "{label} must stay under the size limit to reach the parser");
        invalid_q(&f, &token, &["malformed"], label);
    }
    // A header with a BOM, non-JSON, or deep nesting (before any signature check).
    for (label, hdr) in [
        ("header bom", [&b"\xEF\xBB\xBF"[..], header.as_bytes()].concat()),
        ("header not json", b"RS256".to_vec()),
        ("header deep", format!(r#"{{"alg":"RS256","x":{}{}}}"#, "[".repeat(2000), "]".repeat(2000)).into_bytes()),
        ("header trailing garbage", format!("{header}x").into_bytes()),
    ] {
        let token = sign_raw(&hdr, good.as_bytes(), rsa_key(), Algorithm::RS256);
        invalid_q(&f, &token, &["malformed"], label);
    }
}

// ======================================================================== size

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    let f = rsa_fixture();
    let valid = valid_token();
    let mb = 1024 * 1024;
    let huge_jwt_shaped = format!("{valid}{}", "A".repeat(mb));
    let huge_garbage = "x".repeat(mb);
    let started = std::time::Instant::now();
    for (label, token) in [("1 MB jwt-shaped", huge_jwt_shaped.as_str()), ("1 MB garbage", huge_garbage.as_str())] {
        invalid_q(&f, token, &["oversized"], &format!("{label} in the query"));
        let o = connect_on(&f, with_header("authorization", format!("Bearer {token}").as_bytes()));
        assert_refused(&o, token, INVALID, &["oversized"], &format!("{label} in the header"));
    }
    assert!(started.elapsed() < Duration::from_secs(10), "oversized tokens must be cheap to refuse");
    // A 1 MB blank value is a missing token, not a crash.
    let blank = " ".repeat(mb);
    let o = connect_on(&f, with_header("authorization", blank.as_bytes()));
    assert_refused(&o, "", "missing_token", &["missing_token"], "1 MB of spaces");
}

/// "tokens over 8 KB refused before parsing" (README): a valid token of exactly
/// `MAX_TOKEN_BYTES` is accepted, one byte more is refused.
#[test]
fn size_limit_boundary() {
    let f = rsa_fixture();
    // Find a padding length that makes the token exactly MAX_TOKEN_BYTES long.
    let mut exact = None;
    'search: for extra_header in ["", r#","kid":"k""#, r#","kid":"kk""#] {
        let h = format!(r#"{{"alg":"RS256","typ":"JWT"{extra_header}}}"#);
        for n in 5000..6200 {
            let payload = payload_with(&format!(r#","pad":"{}""#, "p".repeat(n)));
            let len = b64(&h).len() + 1 + b64(&payload).len() + 1 + 342;
            if len == MAX_TOKEN_BYTES {
                exact = Some((h, payload));
                break 'search;
            }
        }
    }
    let (h, payload) = exact.expect("a padding that hits the limit exactly");
    let token = rs256_raw(&h, &payload);
    assert_eq!(token.len(), MAX_TOKEN_BYTES);
    accepted_q(&f, &token, "exactly MAX_TOKEN_BYTES");
    let over = rs256_raw(&h, &payload.replacen("pad\":\"", "pad\":\"pp", 1));
    assert!(over.len() > MAX_TOKEN_BYTES);
    invalid_q(&f, &over, &["oversized"], "over MAX_TOKEN_BYTES");
}

// ======================================================================== NumericDate edge cases

/// `exp` (required), `nbf`, `iat` with the default 30 s leeway (docs: `JWT_LEEWAY_SECONDS`).
#[test]
fn numeric_date_edge_cases() {
    let f = rsa_fixture();
    let now = NOW_S;
    let ok: Option<&str> = None;
    let cases: Vec<(String, Option<&str>)> = vec![
        // exp
        (format!(r#""exp":{}"#, now + 300), ok),
        (format!(r#""exp":{}.5"#, now + 300), ok),
        (format!(r#""exp":{NOW_F}"#), ok), // exactly now: within the leeway
        (format!(r#""exp":{}"#, NOW_F - 29.9), ok),
        (format!(r#""exp":{}"#, NOW_F - 30.0), Some("expired")),
        (format!(r#""exp":{}"#, now - 31), Some("expired")),
        (r#""exp":0"#.to_owned(), Some("expired")),
        (r#""exp":-1"#.to_owned(), Some("expired")),
        (r#""exp":-1e300"#.to_owned(), Some("expired")),
        (r#""exp":1e300"#.to_owned(), ok),
        (format!(r#""exp":{}"#, u64::MAX), ok),
        (format!(r#""exp":{}"#, i64::MIN), Some("expired")),
        (format!(r#""exp":"{}""#, now + 300), Some("invalid_claim_exp")),
        (r#""exp":true"#.to_owned(), Some("invalid_claim_exp")),
        // `null` is not a NumericDate (RFC 7519 §4.1.4).
        (r#""exp":null"#.to_owned(), Some("invalid_claim_exp")),
        (format!(r#""exp":[{}]"#, now + 300), Some("invalid_claim_exp|malformed")),
        (r#""exp":{"t":1}"#.to_owned(), Some("invalid_claim_exp|malformed")),
        // nbf
        (format!(r#""exp":{},"nbf":{}"#, now + 300, NOW_F + 30.0), ok),
        (format!(r#""exp":{},"nbf":{}"#, now + 300, NOW_F + 30.5), Some("not_yet_valid")),
        (format!(r#""exp":{},"nbf":-1"#, now + 300), ok),
        (format!(r#""exp":{},"nbf":1e300"#, now + 300), Some("not_yet_valid")),
        (format!(r#""exp":{},"nbf":{}"#, now + 300, u64::MAX), Some("not_yet_valid")),
        (format!(r#""exp":{},"nbf":"0""#, now + 300), Some("invalid_claim_nbf")),
        (format!(r#""exp":{},"nbf":false"#, now + 300), Some("invalid_claim_nbf")),
        // iat
        (format!(r#""exp":{},"iat":{}"#, now + 300, NOW_F + 30.0), ok),
        (format!(r#""exp":{},"iat":{}"#, now + 300, now + 31), Some("issued_in_future")),
        (format!(r#""exp":{},"iat":-5"#, now + 300), ok),
        (format!(r#""exp":{},"iat":1e300"#, now + 300), Some("issued_in_future")),
        (format!(r#""exp":{},"iat":"{}""#, now + 300, now), Some("invalid_claim_iat")),
        (format!(r#""exp":{},"iat":true"#, now + 300), Some("invalid_claim_iat")),
    ];
    for (dates, expected) in &cases {
        let token =
            rs256_raw(r#"{"alg":"RS256","typ":"JWT"}"#, &format!(r#"{{"sub":"user-1","tenant_id":"acme",{dates}}}"#));
        match expected {
            None => accepted_q(&f, &token, dates),
            Some(reasons) => {
                let reasons: Vec<&str> = reasons.split('|').collect();
                invalid_q(&f, &token, &reasons, dates);
            }
        }
    }
}

/// With `JWT_LEEWAY_SECONDS=0`: `exp` exactly now is expired (RFC 7519 §4.1.4: now MUST
/// be before `exp`); `nbf` exactly now is valid (§4.1.5: now after or equal).
#[test]
fn numeric_dates_without_leeway() {
    let f = fixture(&rsa_jwt().with_leeway(Duration::ZERO), "acme");
    let exp_now = rs256_raw(r#"{"alg":"RS256"}"#, &format!(r#"{{"sub":"u","tenant_id":"acme","exp":{NOW_F}}}"#));
    invalid_q(&f, &exp_now, &["expired"], "exp == now");
    let exp_later =
        rs256_raw(r#"{"alg":"RS256"}"#, &format!(r#"{{"sub":"u","tenant_id":"acme","exp":{}}}"#, NOW_F + 0.01));
    accepted_q(&f, &exp_later, "exp == now + 10 ms");
    let nbf_now = rs256_raw(
        r#"{"alg":"RS256"}"#,
        &format!(r#"{{"sub":"u","tenant_id":"acme","exp":{},"nbf":{NOW_F}}}"#, NOW_S + 60),
    );
    accepted_q(&f, &nbf_now, "nbf == now");
    let nbf_later = rs256_raw(
        r#"{"alg":"RS256"}"#,
        &format!(r#"{{"sub":"u","tenant_id":"acme","exp":{},"nbf":{}}}"#, NOW_S + 60, NOW_F + 0.01),
    );
    invalid_q(&f, &nbf_later, &["not_yet_valid"], "nbf == now + 10 ms");
    // The documented maximum leeway is 300 s: a larger one is clamped.
    let f = fixture(&rsa_jwt().with_leeway(Duration::from_secs(100_000)), "acme");
    let old = rs256_raw(r#"{"alg":"RS256"}"#, &format!(r#"{{"sub":"u","tenant_id":"acme","exp":{}}}"#, NOW_S - 301));
    invalid_q(&f, &old, &["expired"], "leeway clamped to 300 s");
}

/// RFC 7519 §4.1.5/§4.1.6: `nbf` and `iat` MUST be NumericDates; §4.1.3: `aud` is a
/// string or an array of strings; RFC 7515 §4.1.9: `typ` is a string. The crate's own
/// contract: `numeric_date` is "an error when not a finite number", and
/// `InvalidJwtReason::InvalidClaim` is "a claim has the wrong type". `exp: null` is
/// refused, but `nbf: null`, `iat: null`, `typ: null` are accepted as if absent, and a
/// configured audience accepts an `aud` array with non-string members.
#[test]
fn null_registered_claims_and_header_parameters_are_refused() {
    let f = rsa_fixture();
    let with_aud = fixture(&rsa_jwt().with_audience("streamer"), "acme");
    let mut accepted = Vec::new();
    for (label, header, extra) in [
        ("nbf null", r#"{"alg":"RS256","typ":"JWT"}"#, r#","nbf":null"#),
        ("iat null", r#"{"alg":"RS256","typ":"JWT"}"#, r#","iat":null"#),
        ("typ null", r#"{"alg":"RS256","typ":null}"#, ""),
        ("aud with a number member", r#"{"alg":"RS256"}"#, r#","aud":["streamer",5]"#),
        ("aud with a null member", r#"{"alg":"RS256"}"#, r#","aud":["streamer",null]"#),
    ] {
        let token = rs256_raw(header, &payload_with(extra));
        let f = if extra.contains("aud") { &with_aud } else { &f };
        let o = connect_on(f, connect_with_query_token(&token));
        if o.status == 200 {
            accepted.push(label);
        } else {
            let reasons =
                ["invalid_claim_nbf", "invalid_claim_iat", "invalid_claim_aud", "unsupported_header", "malformed"];
            assert_refused(&o, &token, INVALID, &reasons, label);
        }
    }
    assert!(accepted.is_empty(), "accepted although of the wrong JSON type: {accepted:?}");
}

// ======================================================================== iss / aud

#[test]
fn issuer_and_audience_when_configured() {
    let f = fixture(&rsa_jwt().with_issuer("https://auth.example").with_audience("streamer"), "acme");
    let base = |extra: &str| rs256_raw(r#"{"alg":"RS256"}"#, &payload_with(extra));
    accepted_q(&f, &base(r#","iss":"https://auth.example","aud":"streamer""#), "iss and aud ok");
    accepted_q(&f, &base(r#","iss":"https://auth.example","aud":["billing","streamer"]"#), "aud array member");
    for (extra, reasons) in [
        (r#","aud":"streamer""#, &["missing_claim_iss"][..]),
        (r#","iss":null,"aud":"streamer""#, &["missing_claim_iss"][..]),
        (r#","iss":"https://auth.example""#, &["missing_claim_aud"][..]),
        // `null` is neither a string nor an array of strings (RFC 7519 §4.1.3).
        (r#","iss":"https://auth.example","aud":null"#, &["invalid_claim_aud"][..]),
        (r#","iss":"https://evil.example","aud":"streamer""#, &["wrong_issuer"][..]),
        (r#","iss":"https://auth.example/","aud":"streamer""#, &["wrong_issuer"][..]),
        (r#","iss":"HTTPS://AUTH.EXAMPLE","aud":"streamer""#, &["wrong_issuer"][..]),
        (r#","iss":["https://auth.example"],"aud":"streamer""#, &["wrong_issuer", "invalid_claim_iss"][..]),
        (r#","iss":"https://auth.example ","aud":"streamer""#, &["wrong_issuer"][..]),
        (r#","iss":"https://auth.example","aud":"billing""#, &["wrong_audience"][..]),
        (r#","iss":"https://auth.example","aud":"Streamer""#, &["wrong_audience"][..]),
        (r#","iss":"https://auth.example","aud":["billing"]"#, &["wrong_audience"][..]),
        (r#","iss":"https://auth.example","aud":[]"#, &["wrong_audience"][..]),
        (r#","iss":"https://auth.example","aud":[["streamer"]]"#, &["wrong_audience", "invalid_claim_aud"][..]),
        (r#","iss":"https://auth.example","aud":{"streamer":true}"#, &["wrong_audience", "invalid_claim_aud"][..]),
        (r#","iss":"https://auth.example","aud":42"#, &["wrong_audience", "invalid_claim_aud"][..]),
    ] {
        invalid_q(&f, &base(extra), reasons, extra);
    }
}

/// RFC 7519 §4.1.3: "If the principal processing the claim does not identify itself with
/// a value in the `aud` claim when this claim is present, then the JWT MUST be rejected."
/// RFC 8725 §3.9 (and §2.7 substitution): a token minted for another relying party must
/// not be accepted. With `JWT_AUDIENCE` unset (the default) the verifier identifies itself
/// with no audience, yet a token addressed to `billing-api` is accepted (`auth.rs` turns
/// `jsonwebtoken`'s own check off with `validate_aud = false`).
#[test]
fn a_token_for_another_audience_is_refused_when_no_audience_is_configured() {
    let f = rsa_fixture();
    for aud in [r#","aud":"billing-api""#, r#","aud":["billing-api","reports"]"#] {
        let token = rs256_raw(r#"{"alg":"RS256","typ":"JWT"}"#, &payload_with(aud));
        invalid_q(&f, &token, &["wrong_audience", "invalid_claim_aud"], aud);
    }
}

// ======================================================================== sub / tenant_id

#[test]
fn sub_and_tenant_id_types_and_values() {
    let f = rsa_fixture();
    let token = |sub: &Value, tenant: &Value| rs256(&json!({"sub": sub, "tenant_id": tenant, "exp": NOW_S + 300}));
    let t = json!("acme");
    let u = json!("user-1");
    let sub_bad = ["missing_claim_sub", "invalid_claim_sub", "malformed"];
    let tenant_bad = ["missing_claim_tenant_id", "invalid_claim_tenant_id", "malformed"];
    for sub in [
        json!(7),
        json!(7.5),
        json!(["user-1"]),
        json!({"id": "user-1"}),
        json!(null),
        json!(true),
        json!(""),
        json!("   "),
        json!("\u{a0}"),
        json!(" user-1"),
        json!("user-1\n"),
        json!("user\u{0}1"),
        json!("user\u{1b}[31m1"),
        json!("user\u{200b}1"),
        json!("user\u{202e}1"),
        json!("user\u{feff}1"),
        json!("u".repeat(257)),
    ] {
        invalid_q(&f, &token(&sub, &t), &sub_bad, &format!("sub {sub:.60}"));
    }
    for tenant in [
        json!(7),
        json!(["acme"]),
        json!({"id": "acme"}),
        json!(null),
        json!(false),
        json!(""),
        json!("\t"),
        json!("acme "),
        json!("acme\r\n"),
        json!("ac\u{0}me"),
        json!("\u{430}cme"),   // Cyrillic a
        json!("acme\u{200d}"), // zero-width joiner
        json!("ａｃｍｅ"),     // fullwidth
        json!("t".repeat(257)),
    ] {
        invalid_q(&f, &token(&u, &tenant), &tenant_bad, &format!("tenant {tenant:.60}"));
    }
    // Unicode user ids and 256-byte ids are fine (documented).
    let all = fixture(&rsa_jwt(), "");
    accepted_q(&all, &token(&json!("usuário-1"), &t), "unicode sub");
    accepted_q(&all, &token(&json!("u".repeat(256)), &json!("t".repeat(256))), "256-byte ids");
    // The missing claims themselves.
    invalid_q(&f, &rs256(&json!({"tenant_id": "acme", "exp": NOW_S + 300})), &["missing_claim_sub"], "no sub");
    invalid_q(&f, &rs256(&json!({"sub": "u", "exp": NOW_S + 300})), &["missing_claim_tenant_id"], "no tenant_id");
}

#[test]
fn tenants_outside_the_allow_list_are_403_and_case_sensitive() {
    let f = fixture(&rsa_jwt(), "acme, globex");
    for tenant in ["initech", "ACME", "Acme", "acme2", "acm", "globex,acme", "*"] {
        let token = rs256(&json!({"sub": "user-1", "tenant_id": tenant, "exp": NOW_S + 300}));
        let o = connect_on(&f, connect_with_query_token(&token));
        assert_refused(&o, &token, "tenant_not_allowed", &["tenant_not_allowed"], tenant);
        let doc = o.cap.emf_with("AuthenticationFailed");
        assert_eq!(doc["TenantID"], tenant, "the refused tenant is the TenantID dimension");
        let sets = o.cap.dimension_sets("AuthenticationFailed");
        assert!(sets.as_array().unwrap().contains(&json!(["Environment", "ErrorType", "TenantID"])), "{sets}");
    }
    for tenant in ["acme", "globex"] {
        accepted_q(&f, &rs256(&json!({"sub": "u", "tenant_id": tenant, "exp": NOW_S + 300})), tenant);
    }
    // An invalid token is never a tenant failure, even for an allowed tenant.
    let forged = sign_raw(br#"{"alg":"RS256"}"#, payload_with("").as_bytes(), untrusted_key(), Algorithm::RS256);
    invalid_q(&f, &forged, &["bad_signature"], "forged token for an allowed tenant");
}

// ======================================================================== extraction: Bearer, query, headers

#[test]
fn bearer_prefix_handling() {
    let f = rsa_fixture();
    let t = valid_token();
    for value in [
        format!("Bearer {t}"),
        format!("bearer {t}"),
        format!("BEARER {t}"),
        format!("bEaReR {t}"),
        format!("Bearer     {t}"),
        format!("Bearer\t{t}"),
        format!("  Bearer {t}  "),
        t.clone(),
    ] {
        let o = connect_on(&f, with_header("Authorization", value.as_bytes()));
        assert_accepted(&o, &t, &format!("{:.12}", value));
    }
    for value in ["Bearer", "bearer", "Bearer ", "BEARER\t\t", "   "] {
        let o = connect_on(&f, with_header("Authorization", value.as_bytes()));
        assert_refused(&o, value, "missing_token", &["missing_token"], &format!("{value:?}"));
    }
    for value in [
        format!("Bearer Bearer {t}"),
        format!("Bearer{t}"),
        format!("Basic {t}"),
        format!("Token {t}"),
        format!("Bearer {t} {t}"),
        format!("Bearer {t},Bearer {t}"),
        format!("Bearer\u{a0}{t}"),
        "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
    ] {
        let o = connect_on(&f, with_header("Authorization", value.as_bytes()));
        assert_refused(&o, &value, INVALID, &["malformed"], &format!("{:.20}", value));
        assert_no_leak(&o, &t, "the embedded valid token");
    }
}

#[test]
fn query_string_takes_precedence_over_the_header() {
    let f = rsa_fixture();
    let valid = valid_token();
    let forged = sign_raw(br#"{"alg":"RS256"}"#, payload_with("").as_bytes(), untrusted_key(), Algorithm::RS256);
    let both = |query: &str, header: &str| {
        let mut r = connect_with_query_token(query);
        r.headers.insert("authorization", HeaderValue::from_str(header).unwrap());
        r
    };
    // Documented: query parameter `Authorization` first, else the header.
    let o = connect_on(&f, both(&valid, &format!("Bearer {forged}")));
    assert_accepted(&o, &forged, "valid query, forged header");
    assert_no_leak(&o, &valid, "valid query, forged header");
    let o = connect_on(&f, both(&forged, &format!("Bearer {valid}")));
    assert_refused(&o, &forged, INVALID, &["bad_signature"], "forged query, valid header");
    assert_no_leak(&o, &valid, "forged query, valid header");
    // A blank query value counts as missing: the header is used.
    for blank in ["", "  ", "Bearer", "Bearer  "] {
        let o = connect_on(&f, both(blank, &format!("Bearer {valid}")));
        assert_accepted(&o, &valid, &format!("blank query {blank:?}"));
    }
    // The parameter name is `Authorization`, exactly.
    for name in ["authorization", "AUTHORIZATION", "token", "access_token"] {
        let mut r = connect_request();
        r.query_string_parameters = std::collections::HashMap::from([(name.to_owned(), valid.clone())]).into();
        let o = connect_on(&f, r);
        assert_refused(&o, &valid, "missing_token", &["missing_token"], &format!("query {name}"));
    }
}

#[test]
fn header_names_in_any_case_and_several_authorization_headers() {
    let f = rsa_fixture();
    let valid = valid_token();
    let forged = sign_raw(br#"{"alg":"RS256"}"#, payload_with("").as_bytes(), untrusted_key(), Algorithm::RS256);
    // Header names in any case, as API Gateway forwards them (from the event JSON).
    for name in ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"] {
        let mut v = serde_json::to_value(connect_request()).unwrap();
        v["headers"][name] = json!(format!("Bearer {valid}"));
        let request: ApiGatewayWebsocketProxyRequest = serde_json::from_value(v).unwrap();
        let o = connect_on(&f, request);
        assert_accepted(&o, &valid, name);
    }
    // Several values: the first non-blank one is used (documented in `extract_token`).
    let several = |values: &[&str]| {
        let mut r = connect_request();
        for value in values {
            r.headers.append("authorization", HeaderValue::from_str(value).unwrap());
        }
        r
    };
    let v = format!("Bearer {valid}");
    let x = format!("Bearer {forged}");
    let o = connect_on(&f, several(&["", "Bearer", &v]));
    assert_accepted(&o, &valid, "blank values first");
    let o = connect_on(&f, several(&[&x, &v]));
    assert_refused(&o, &forged, INVALID, &["bad_signature"], "forged first");
    assert_no_leak(&o, &valid, "forged first");
    let o = connect_on(&f, several(&[&v, &x]));
    assert_accepted(&o, &valid, "valid first");
    assert_no_leak(&o, &forged, "valid first");
    // Lookalike headers are not the token.
    for name in ["X-Authorization", "Proxy-Authorization", "Authorization2", "Sec-WebSocket-Protocol", "Cookie"] {
        let o = connect_on(&f, with_header(name, v.as_bytes()));
        assert_refused(&o, &valid, "missing_token", &["missing_token"], name);
    }
    // Header values that are not visible ASCII.
    for value in [&b"Bearer \xff\xfe"[..], &b"Bearer a.b.c\x80"[..]] {
        let o = connect_on(&f, with_header("authorization", value));
        assert_refused(&o, "", INVALID, &["malformed"], "obs-text in the header");
    }
}

// ======================================================================== leaks with event logging on

/// With `POWERTOOLS_LOGGER_LOG_EVENT=true` the event (which holds the token) is logged
/// "secrets redacted": no token, whatever its shape and wherever the client put it.
#[test]
fn event_logging_never_writes_the_token() {
    let f = rsa_fixture();
    let valid = valid_token();
    let opaque = "opaque-secret-Zm9vYmFyYmF6cXV4";
    let mut requests: Vec<(&str, ApiGatewayWebsocketProxyRequest, &str)> = vec![
        ("valid jwt in query", connect_with_query_token(&valid), &valid),
        ("opaque token in query", connect_with_query_token(opaque), opaque),
        ("bearer jwt header", with_header("Authorization", format!("Bearer {valid}").as_bytes()), &valid),
        ("opaque header", with_header("authorization", opaque.as_bytes()), opaque),
        ("jwt in subprotocol", with_header("Sec-WebSocket-Protocol", format!("jwt, {valid}").as_bytes()), &valid),
        (
            "opaque in subprotocol",
            with_header("Sec-WebSocket-Protocol", format!("bearer, {opaque}").as_bytes()),
            opaque,
        ),
    ];
    let mut multi = connect_with_query_token(&valid);
    multi.multi_value_query_string_parameters =
        std::collections::HashMap::from([("Authorization".to_owned(), vec![opaque.to_owned(), valid.clone()])]).into();
    multi.multi_value_headers.append("authorization", HeaderValue::from_str(opaque).unwrap());
    requests.push(("multi-value query and header", multi, opaque));
    for (label, request, secret) in requests {
        let o = connect_with_log_event(&f, request);
        assert!(o.cap.has_message("Incoming event"), "[{label}] the event is logged");
        assert_no_leak(&o, secret, label);
        assert_no_leak(&o, &valid, label);
    }
}

// ======================================================================== malformed events

fn try_event(v: Value) -> Option<ApiGatewayWebsocketProxyRequest> {
    std::panic::catch_unwind(|| serde_json::from_value::<ApiGatewayWebsocketProxyRequest>(v).ok())
        .expect("deserialising an event never panics")
}

/// A malformed API Gateway event is a typed deserialisation error (the runtime answers it)
/// or, when it deserialises, a documented answer: `$connect` 401/403/500 with the fixed
/// bodies, `$disconnect` 200; never a panic, never the token in any output.
#[test]
fn malformed_events_never_panic_or_leak() {
    let token = valid_token();
    let base = {
        let mut v = serde_json::to_value(connect_request()).unwrap();
        v["headers"]["Authorization"] = json!(format!("Bearer {token}"));
        v
    };
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let huge = "h".repeat(1024 * 1024);
    let events: Vec<(&str, Value)> = vec![
        ("no requestContext", edit(&|v| drop(v.as_object_mut().unwrap().remove("requestContext")))),
        ("requestContext null", edit(&|v| v["requestContext"] = Value::Null)),
        ("requestContext string", edit(&|v| v["requestContext"] = json!("x"))),
        ("no connectionId", edit(&|v| drop(v["requestContext"].as_object_mut().unwrap().remove("connectionId")))),
        ("connectionId null", edit(&|v| v["requestContext"]["connectionId"] = Value::Null)),
        ("connectionId empty", edit(&|v| v["requestContext"]["connectionId"] = json!(""))),
        ("connectionId number", edit(&|v| v["requestContext"]["connectionId"] = json!(42))),
        ("connectionId object", edit(&|v| v["requestContext"]["connectionId"] = json!({"a": 1}))),
        ("headers null", edit(&|v| v["headers"] = Value::Null)),
        ("headers array", edit(&|v| v["headers"] = json!(["Authorization"]))),
        ("header value number", edit(&|v| v["headers"]["Authorization"] = json!(42))),
        ("header value null", edit(&|v| v["headers"]["Authorization"] = Value::Null)),
        ("header value array", edit(&|v| v["headers"]["Authorization"] = json!([format!("Bearer {token}")]))),
        (
            "header value with newline",
            edit(&|v| v["headers"]["Authorization"] = json!(format!("Bearer {token}\r\nX-Evil: 1"))),
        ),
        ("header name invalid", edit(&|v| v["headers"]["Author ization"] = json!(format!("Bearer {token}")))),
        ("query null", edit(&|v| v["queryStringParameters"] = Value::Null)),
        ("query number value", edit(&|v| v["queryStringParameters"] = json!({"Authorization": 1}))),
        ("query array value", edit(&|v| v["queryStringParameters"] = json!({"Authorization": [token.clone()]}))),
        ("multiValueHeaders wrong type", edit(&|v| v["multiValueHeaders"] = json!({"Authorization": {"a": 1}}))),
        ("identity null", edit(&|v| v["requestContext"]["identity"] = Value::Null)),
        ("sourceIp number", edit(&|v| v["requestContext"]["identity"]["sourceIp"] = json!(1))),
        ("routeKey number", edit(&|v| v["requestContext"]["routeKey"] = json!(1))),
        ("disconnectStatusCode string", edit(&|v| v["requestContext"]["disconnectStatusCode"] = json!("1000"))),
        ("huge user agent", edit(&|v| v["headers"]["User-Agent"] = json!(huge.clone()))),
        ("huge unrelated header", edit(&|v| v["headers"]["X-Big"] = json!(huge.clone()))),
        (
            "many headers",
            edit(&|v| {
                let h = v["headers"].as_object_mut().unwrap();
                for i in 0..2000 {
                    h.insert(format!("x-h-{i}"), json!("v"));
                }
            }),
        ),
        ("huge connectionId", edit(&|v| v["requestContext"]["connectionId"] = json!("c".repeat(300_000)))),
        ("huge disconnectReason", edit(&|v| v["requestContext"]["disconnectReason"] = json!("r".repeat(300_000)))),
        ("body with token", edit(&|v| v["body"] = json!(format!("{{\"token\":\"{token}\"}}")))),
        ("empty object", json!({})),
        ("null", Value::Null),
        ("array", json!([1, 2])),
    ];
    let f = rsa_fixture();
    let disconnect = DisconnectHandler::new(Arc::new(memory_store()));
    let mut deserialised = 0;
    for (label, v) in events {
        let Some(request) = try_event(v) else { continue };
        deserialised += 1;
        let o = connect_on(&f, request.clone());
        match o.status {
            200 => assert_eq!(o.body, BODY_CONNECTED, "[{label}]"),
            401 => assert!(o.body == BODY_INVALID || o.body == BODY_MISSING, "[{label}] {}", o.body),
            403 => assert_eq!(o.body, BODY_FORBIDDEN, "[{label}]"),
            500 => {
                assert_eq!(
                    o.body, r#"{"code":"INTERNAL_ERROR","message":"Failed to establish connection"}"#,
                    "[{label}]"
                );
                assert!(o.cap.emf.iter().any(|d| d.get("ConnectionFailed").is_some()), "[{label}] ConnectionFailed");
            }
            other => panic!("[{label}] undocumented status {other}"),
        }
        assert_no_leak(&o, &token, &format!("connect {label}"));
        assert_limits(&o.cap, label);

        let (out, cap) = run(disconnect.handle(event(request)));
        let response = out.expect("Ok");
        assert_eq!(response.status_code, 200, "[{label}] $disconnect always answers 200");
        assert_eq!(body_text(&response), r#"{"message":"Disconnected successfully"}"#);
        let d = outcome(response, cap, 0);
        assert_no_leak(&d, &token, &format!("disconnect {label}"));
        assert_limits(&d.cap, label);
    }
    assert!(deserialised >= 10, "most malformed events still deserialise ({deserialised})");
}

/// The AWS limits on what the handlers emit: log and EMF lines ≤ 256 KB (E-14, Q-5),
/// X-Ray documents ≤ 64 KB (X-1), annotation strings ≤ 1000 characters (X-21).
#[track_caller]
fn assert_limits(cap: &Captured, label: &str) {
    for line in &cap.raw {
        assert!(line.len() <= 256 * 1024, "[{label}] a stdout line of {} bytes", line.len());
    }
    for doc in &cap.segments {
        let size = doc.to_string().len();
        assert!(size <= 64 * 1024, "[{label}] an X-Ray document of {size} bytes");
        if let Some(annotations) = doc["annotations"].as_object() {
            for (k, v) in annotations {
                if let Some(s) = v.as_str() {
                    assert!(s.chars().count() <= 1000, "[{label}] annotation {k} of {} chars", s.len());
                }
            }
        }
    }
}

#[test]
fn connect_without_a_connection_id_is_500_connection_failed_and_never_saves() {
    let f = rsa_fixture();
    let token = valid_token();
    for id in [None, Some(String::new())] {
        let mut r = connect_with_query_token(&token);
        r.request_context.connection_id = id.clone();
        let o = connect_on(&f, r);
        assert_eq!(o.status, 500, "{id:?}");
        assert_eq!(o.body, r#"{"code":"INTERNAL_ERROR","message":"Failed to establish connection"}"#);
        assert_eq!(o.stored, 0);
        assert_eq!(o.cap.emf_with("ConnectionFailed")["ErrorType"], "internal_error");
        assert!(o.cap.emf.iter().all(|d| d.get("ConnectionEstablished").is_none()));
        assert_no_leak(&o, &token, "no connection id");
    }
}

#[test]
fn disconnect_of_an_unknown_or_missing_connection_is_200() {
    let store = Arc::new(memory_store());
    store.insert_raw(ConnectionRecord::new("other", "u", "acme", "d/prod", T0 - 1000, Duration::from_secs(3600)));
    let handler = DisconnectHandler::new(store.clone()).with_clock(Arc::new(FixedClock::at_millis(T0)));
    for id in [Some("never-connected".to_owned()), Some(String::new()), None, Some("c".repeat(5000))] {
        let mut r = disconnect_request();
        r.request_context.connection_id = id.clone();
        let (out, cap) = run(handler.handle(event(r)));
        let response = out.expect("Ok");
        assert_eq!(response.status_code, 200, "{id:.20?}");
        assert_eq!(body_text(&response), r#"{"message":"Disconnected successfully"}"#);
        assert_eq!(cap.emf_with("ConnectionClosed")["TenantID"], "unknown");
        assert!(cap.emf.iter().all(|d| d.get("ConnectionDuration").is_none()));
        assert!(cap.lines.iter().all(|l| l["level"] != "ERROR"), "{:#?}", cap.lines);
        assert_limits(&cap, "disconnect");
    }
    assert_eq!(store.stored_len(), 1, "an unknown connection never deletes another one");
}

// ======================================================================== signature encoding (RFC 8017 §8.2.2)

/// An RS256 signature is exactly k = 256 octets (RFC 7518 §3.3, RFC 8017 §8.2.2 step 1:
/// "If the length of the signature S is not k octets, output invalid signature"): one
/// with its leading zero octet dropped, or with an extra leading zero, is refused.
#[test]
fn rsa_signatures_of_the_wrong_length_are_refused() {
    let f = rsa_fixture();
    // Find a token whose signature starts with a zero octet (1 in 256).
    let mut found = None;
    for i in 0..4096u64 {
        let token = rs256(&json!({"sub": "user-1", "tenant_id": "acme", "exp": NOW_S + 300, "n": i}));
        let (message, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        if sig[0] == 0 {
            found = Some((message.to_owned(), sig));
            break;
        }
    }
    let (message, sig) = found.expect("a signature with a leading zero octet");
    accepted_q(&f, &format!("{message}.{}", b64(&sig)), "the signature as made");
    invalid_q(&f, &format!("{message}.{}", b64(&sig[1..])), &["bad_signature", "malformed"], "255-octet signature");
    let longer = [&[0u8][..], &sig].concat();
    invalid_q(&f, &format!("{message}.{}", b64(&longer)), &["bad_signature", "malformed"], "257-octet signature");
    // ES256: R || S, 64 octets (RFC 7518 §3.4), not DER and not padded.
    let ec = fixture(&ec_jwt(), "acme");
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims(), ec256_key()).unwrap();
    accepted_q(&ec, &token, "ES256 as made");
    let (message, sig) = token.rsplit_once('.').unwrap();
    let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
    assert_eq!(raw.len(), 64);
    let der = {
        let int = |b: &[u8]| {
            let b: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
            let b = if b[0] & 0x80 != 0 { [&[0u8][..], &b].concat() } else { b };
            [&[0x02, b.len() as u8][..], &b].concat()
        };
        let body = [int(&raw[..32]), int(&raw[32..])].concat();
        [&[0x30, body.len() as u8][..], &body].concat()
    };
    for (label, bad) in [
        ("DER-encoded ES256", der),
        ("65 octets", [&raw[..], &[0u8][..]].concat()),
        ("63 octets", raw[1..].to_vec()),
        ("r only", raw[..32].to_vec()),
    ] {
        invalid_q(&ec, &format!("{message}.{}", b64(&bad)), &["bad_signature", "malformed"], label);
    }
}

// ======================================================================== key and algorithm settings

/// Documented (`settings.rs`, `PublicKey::from_pem`): `JWT_PUBLIC_KEY` must be an RSA key of
/// at least 2048 bits or an EC key on P-256 / P-384; "an EC key on another curve" is a
/// `SettingsError` naming `JWT_PUBLIC_KEY`. RFC 8725 §3.5 defers key sizes to NIST.
#[test]
fn weak_or_foreign_keys_and_algorithms_are_refused_at_init() {
    const RSA_1024: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCqMRBrBnmjPd6IUQaK6DWrL9LQ
jHnHcvIMYGhZpZRVZN1r1WP241s900v/b/71YMIhBihmBo8WeffzRHqxqb+bAJlo
3Y8UOT3mKQOILoQtgRi5PH7rZ1yp+Ox5ILlv7MfdL4mQEdE+gRNYd9ySp6+x03cG
BULjngIA5mvGVZJKnQIDAQAB
-----END PUBLIC KEY-----";
    const P521: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQB8UmRz8FW8ZHKu8hLkX3xkrrmeNz4
iSBnxi7yheEanqjOHs9d/9+S9kbJeagjn2wRc3LIZuzCJBBqXVYBQ3ISvuIBZyY1
J4EdlYKxgzCbhZkt5vCU/fnDIkokKJ+bIzx4s4csIkabulXdVXgFqhep7Ph8kbyN
mG9ImRUoOTObH7sduVE=
-----END PUBLIC KEY-----";
    const ED25519: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAop6k2i3K9KHJWu6mT6RFJd3fYRw7xNZvxQAOdEwlDZc=
-----END PUBLIC KEY-----";
    for (label, pem) in [
        ("RSA 1024", RSA_1024),
        ("EC P-521", P521),
        ("Ed25519", ED25519),
        ("private key", std::str::from_utf8(RSA_PRIV).unwrap()),
        ("an HMAC secret", "my-shared-hmac-secret-value"),
    ] {
        let err = PublicKey::from_pem(pem).err().unwrap_or_else(|| panic!("{label} must be refused"));
        assert_eq!(err.setting(), "JWT_PUBLIC_KEY", "{label}");
        let text = format!("{err} {err:?}");
        for line in pem.lines().filter(|l| l.len() > 16 && !l.starts_with("-----")) {
            assert!(!text.contains(line), "{label}: key material in the error");
        }
        assert!(!text.contains("my-shared-hmac-secret-value"), "{label}: secret in the error");
    }
    let env =
        |algs: &str| streamer_obs::config::EnvVars::from_pairs([("JWT_PUBLIC_KEY", RSA_PUB), ("JWT_ALGORITHMS", algs)]);
    for algs in ["none", "RS256,none", "HS256", "RS256, HS512", "ES256", "RS256,EdDSA", "RS256,ES256", ","] {
        let err = JwtSettings::from_env(&env(algs)).expect_err(algs);
        assert_eq!(err.setting(), "JWT_ALGORITHMS", "{algs}");
    }
}

/// `PublicKey::from_pem` documents that an EC key on a curve other than P-256/P-384 is a
/// `SettingsError` naming `JWT_PUBLIC_KEY`, and the README that a bad setting makes every
/// invocation answer 500 naming it. A secp256k1 (or brainpool P-256) key has a 65-octet
/// point like P-256: it is accepted as `EC P-256` (only the point length is checked, not the
/// curve OID), so the misconfiguration surfaces as 401 `bad_signature` on every `$connect`.
#[test]
fn an_ec_key_on_another_256_bit_curve_is_refused_at_init() {
    const SECP256K1: &str = "-----BEGIN PUBLIC KEY-----
MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEVqIV4Z0FSC4aPdMmsPYbguYflYwOKM3D
hym0NmCGYx/i3kBBhYBJTnthdCvyoFmOkqiZn5sSmbLoESZHba3YyA==
-----END PUBLIC KEY-----";
    let result = PublicKey::from_pem(SECP256K1);
    assert!(result.is_err(), "a secp256k1 key is accepted as {:?}", result.map(|k| k.kind()));
}

/// A misconfigured handler (here: a private key in `JWT_PUBLIC_KEY`) answers 500 and its
/// ERROR line names the setting without any key material.
#[test]
fn a_misconfigured_handler_never_logs_key_material() {
    let env = streamer_obs::config::EnvVars::from_pairs([
        ("JWT_PUBLIC_KEY", std::str::from_utf8(RSA_PRIV).unwrap()),
        ("CONNECTIONS_TABLE", "connections"),
    ]);
    let handler =
        ConnectHandler::from_settings(streamer_handlers::settings::Settings::from_env(&env), Arc::new(memory_store()));
    let token = valid_token();
    let (out, cap) = run(handler.handle(event(connect_with_query_token(&token))));
    let o = outcome(out.unwrap(), cap, 0);
    assert_eq!(o.status, 500);
    let line = o.cap.lines.iter().find(|l| l["level"] == "ERROR").expect("an ERROR line");
    assert_eq!(line["setting"], "JWT_PUBLIC_KEY");
    let text = o.cap.all_text();
    for l in std::str::from_utf8(RSA_PRIV).unwrap().lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(l), "private key material in the output");
    }
    assert_no_leak(&o, &token, "misconfigured");
}
