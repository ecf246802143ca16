//! `$connect` authentication: token extraction, every JWT case (RFC 8725), the tenant
//! allow-list, and that no token or parser text reaches the client body or a failure's
//! `Debug` / `Display`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use streamer_handlers::auth::{
    AuthFailure, Authenticator, Claim, Claims, InvalidJwtReason, MAX_TOKEN_BYTES, Token, extract_token,
};
use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
use streamer_obs::testing::FixedClock;

const RSA_PUB: &str = include_str!("../../examples/keys/rsa-public.pem");
const RSA_PRIV: &[u8] = include_bytes!("../../examples/keys/rsa-private.pem");
const OTHER_RSA_PRIV: &[u8] = include_bytes!("../../examples/keys/untrusted-rsa-private.pem");
const EC256_PUB: &str = include_str!("../../examples/keys/ec-p256-public.pem");
const EC256_PRIV: &[u8] = include_bytes!("../../examples/keys/ec-p256-private.pem");

/// The fixed "now" of every test: 2025-06-15T15:06:40Z.
const NOW: u64 = 1_750_000_000;

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::at_millis(NOW * 1000))
}

fn rsa_settings() -> JwtSettings {
    JwtSettings::new(PublicKey::from_pem(RSA_PUB).unwrap(), vec![Algorithm::RS256]).unwrap()
}

fn auth_with(jwt: &JwtSettings, tenants: &str) -> Authenticator {
    Authenticator::with_clock(jwt, AllowedTenants::parse(tenants), clock())
}

fn auth() -> Authenticator {
    auth_with(&rsa_settings(), "")
}

fn claims() -> Value {
    json!({"sub": "user-1", "tenant_id": "acme", "exp": NOW + 300, "iat": NOW - 10, "permissions": ["read", "write"]})
}

fn sign_with(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    encode(&Header::new(alg), claims, key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign_with(Algorithm::RS256, &EncodingKey::from_rsa_pem(RSA_PRIV).unwrap(), claims)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Verifies `token` and checks every leak rule on the failure; returns the failure.
fn refuse(auth: &Authenticator, token: &str) -> AuthFailure {
    let failure = auth.authenticate_token(&Token::new(token)).expect_err("token must be refused");
    assert_no_leak(&failure, token);
    failure
}

fn assert_invalid(auth: &Authenticator, token: &str, reason: InvalidJwtReason) {
    let failure = refuse(auth, token);
    assert_eq!(failure, AuthFailure::InvalidJwt(reason));
    assert_eq!(failure.error_type(), "invalid_jwt");
    assert_eq!(failure.reason(), reason.as_str());
    let response = failure.response();
    assert_eq!(response.status_code, 401);
    assert_eq!(response.body_json(), r#"{"code":"UNAUTHORIZED","message":"Invalid authentication token"}"#);
}

/// Neither the token (nor any of its parts) nor `jsonwebtoken`'s own error text appears
/// in the client body or in the failure's `Debug` / `Display`.
fn assert_no_leak(failure: &AuthFailure, token: &str) {
    let shown =
        [failure.response().body_json(), format!("{failure}"), format!("{failure:?}"), failure.reason().to_owned()];
    let mut secrets: Vec<String> = token.split('.').filter(|p| p.len() >= 4).map(str::to_owned).collect();
    if token.len() >= 4 {
        secrets.push(token.to_owned());
    }
    // What the parser would have said about this token.
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    if let Err(e) = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_rsa_pem(RSA_PUB.as_bytes()).unwrap(),
        &validation,
    ) {
        let text = e.to_string();
        if text.len() > 12 {
            secrets.push(text);
        }
    }
    for text in &shown {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{text:?} leaks {secret:?}");
        }
        for parser_word in ["Base64", "base64", "JSON", "json", "line ", "column", "InvalidSignature", "Error("] {
            assert!(!text.contains(parser_word), "{text:?} contains parser text {parser_word:?}");
        }
    }
}

// ---------------------------------------------------------------- token extraction

fn headers(pairs: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static [u8])> {
    pairs.iter().map(|(k, v)| (*k, v.as_bytes())).collect()
}

#[test]
fn extract_from_query_string() {
    assert_eq!(extract_token(Some("a.b.c"), headers(&[])).unwrap().expose(), "a.b.c");
}

#[test]
fn extract_query_wins_over_header() {
    let token =
        extract_token(Some("from.query.string"), headers(&[("Authorization", "Bearer from.header.value")])).unwrap();
    assert_eq!(token.expose(), "from.query.string");
}

#[test]
fn extract_from_header_in_any_letter_case() {
    for name in ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"] {
        let token = extract_token(None, vec![(name, "x.y.z".as_bytes())]).unwrap();
        assert_eq!(token.expose(), "x.y.z", "{name}");
    }
}

#[test]
fn extract_strips_bearer_prefix_case_insensitively() {
    for value in ["Bearer x.y.z", "bearer x.y.z", "BEARER   x.y.z  ", "  Bearer\tx.y.z"] {
        assert_eq!(
            extract_token(None, vec![("authorization", value.as_bytes())]).unwrap().expose(),
            "x.y.z",
            "{value:?}"
        );
    }
    // Only a whole `Bearer` word is a prefix.
    assert_eq!(extract_token(None, headers(&[("authorization", "Bearerx.y.z")])).unwrap().expose(), "Bearerx.y.z");
    assert_eq!(extract_token(Some("Bearer q.q.q"), headers(&[])).unwrap().expose(), "q.q.q");
}

#[test]
fn extract_blank_values_are_missing() {
    for value in ["", "   ", "Bearer", "Bearer    ", "bearer\t"] {
        assert_eq!(
            extract_token(Some(value), vec![("Authorization", value.as_bytes())]),
            Err(AuthFailure::MissingToken)
        );
    }
}

#[test]
fn extract_falls_back_to_header_when_query_is_blank() {
    assert_eq!(extract_token(Some(" "), headers(&[("authorization", "h.h.h")])).unwrap().expose(), "h.h.h");
}

#[test]
fn extract_ignores_other_headers() {
    let hs = headers(&[("X-Authorization", "a.b.c"), ("Proxy-Authorization", "a.b.c"), ("Host", "example")]);
    assert_eq!(extract_token(None, hs), Err(AuthFailure::MissingToken));
}

#[test]
fn extract_refuses_oversized_values() {
    let big = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(
        extract_token(None, vec![("authorization", big.as_bytes())]),
        Err(AuthFailure::InvalidJwt(InvalidJwtReason::Oversized))
    );
    let exact = "a".repeat(MAX_TOKEN_BYTES);
    assert!(extract_token(Some(&exact), headers(&[])).is_ok());
}

#[test]
fn extract_refuses_non_ascii_and_inner_whitespace() {
    assert_eq!(
        extract_token(None, vec![("authorization", "a.b.c\u{e9}".as_bytes())]),
        Err(AuthFailure::InvalidJwt(InvalidJwtReason::Malformed))
    );
    assert_eq!(extract_token(Some("a.b c.d"), headers(&[])), Err(AuthFailure::InvalidJwt(InvalidJwtReason::Malformed)));
}

#[test]
fn token_debug_is_redacted() {
    let token = extract_token(Some("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"), headers(&[])).unwrap();
    assert!(!format!("{token:?}").contains("eyJ"));
}

// ---------------------------------------------------------------- JWT cases

#[test]
fn valid_token_is_accepted() {
    let claims = auth().authenticate_token(&Token::new(rs256(&claims()))).unwrap();
    assert_eq!(
        claims,
        Claims { user_id: "user-1".into(), tenant_id: "acme".into(), permissions: vec!["read".into(), "write".into()] }
    );
}

#[test]
fn valid_token_through_authenticate_from_header() {
    let token = format!("Bearer {}", rs256(&claims()));
    let claims = auth().authenticate(None, vec![("Authorization", token.as_bytes())]).unwrap();
    assert_eq!(claims.user_id, "user-1");
}

#[test]
fn permissions_are_optional() {
    let c = json!({"sub": "u", "tenant_id": "t", "exp": NOW + 60});
    assert!(auth().authenticate_token(&Token::new(rs256(&c))).unwrap().permissions.is_empty());
}

#[test]
fn missing_token() {
    let failure = auth().authenticate(None, headers(&[("Host", "example")])).unwrap_err();
    assert_eq!(failure, AuthFailure::MissingToken);
    assert_eq!(failure.error_type(), "missing_token");
    assert_eq!(failure.reason(), "missing_token");
    assert_eq!(failure.response().status_code, 401);
    assert_eq!(failure.response().body_json(), r#"{"code":"UNAUTHORIZED","message":"Missing authentication token"}"#);
}

#[test]
fn malformed_tokens() {
    let header = b64(&json!({"alg": "RS256", "typ": "JWT"}));
    let payload = b64(&claims());
    for token in [
        "not-a-jwt".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{header}.{payload}.sig.extra"),
        format!("{header}.{payload}.sig+/="), // not base64url
        format!("{header}=.{payload}.c2ln"),  // padding is not base64url JWS
        format!(".{payload}.c2ln"),           // empty header
        format!("{header}..c2ln"),            // empty payload
        format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode(b"not json")),
        format!("{}.{payload}.c2ln", b64(&json!(["RS256"]))),
        format!("{}.{payload}.c2ln", b64(&json!({"typ": "JWT"}))), // no alg
        format!("{}.{payload}.c2ln", b64(&json!({"alg": 256}))),
    ] {
        assert_invalid(&auth(), &token, InvalidJwtReason::Malformed);
    }
}

#[test]
fn payload_that_is_not_json_is_malformed_even_when_signed() {
    // A correctly signed token whose payload is not a JSON object.
    let key = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    let header = b64(&json!({"alg": "RS256", "typ": "JWT"}));
    let payload = URL_SAFE_NO_PAD.encode(b"[1,2,3]");
    let message = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::RS256).unwrap();
    assert_invalid(&auth(), &format!("{message}.{signature}"), InvalidJwtReason::Malformed);
}

#[test]
fn alg_none_is_rejected() {
    let payload = b64(&claims());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&json!({"alg": alg, "typ": "JWT"}));
        assert_invalid(&auth(), &format!("{header}.{payload}."), InvalidJwtReason::AlgorithmNotAllowed);
        // With a (meaningless) signature part too.
        assert_invalid(&auth(), &format!("{header}.{payload}.c2lnbmF0dXJl"), InvalidJwtReason::AlgorithmNotAllowed);
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    // The classic key-confusion attack: HMAC keyed with the verifier's public key bytes.
    for secret in [RSA_PUB.as_bytes(), RSA_PUB.trim().as_bytes()] {
        let token = sign_with(Algorithm::HS256, &EncodingKey::from_secret(secret), &claims());
        assert_invalid(&auth(), &token, InvalidJwtReason::AlgorithmNotAllowed);
    }
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign_with(alg, &EncodingKey::from_secret(RSA_PUB.as_bytes()), &claims());
        assert_invalid(&auth(), &token, InvalidJwtReason::AlgorithmNotAllowed);
    }
}

#[test]
fn bad_signature_tampered_payload() {
    let token = rs256(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = b64(&json!({"sub": "admin", "tenant_id": "acme", "exp": NOW + 300}));
    parts[1] = &forged;
    assert_invalid(&auth(), &parts.join("."), InvalidJwtReason::BadSignature);
}

#[test]
fn bad_signature_other_key() {
    let token = sign_with(Algorithm::RS256, &EncodingKey::from_rsa_pem(OTHER_RSA_PRIV).unwrap(), &claims());
    assert_invalid(&auth(), &token, InvalidJwtReason::BadSignature);
}

#[test]
fn bad_signature_garbage_or_empty_signature() {
    let token = rs256(&claims());
    let (message, _) = token.rsplit_once('.').unwrap();
    assert_invalid(&auth(), &format!("{message}.AAAA"), InvalidJwtReason::BadSignature);
    assert_invalid(&auth(), &format!("{message}."), InvalidJwtReason::BadSignature);
}

#[test]
fn expired() {
    let mut c = claims();
    c["exp"] = json!(NOW - 31);
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::Expired);
    c["exp"] = json!(NOW - 30); // exactly at the leeway edge
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::Expired);
}

#[test]
fn expired_within_leeway_is_accepted() {
    let mut c = claims();
    c["exp"] = json!(NOW - 29);
    assert!(auth().authenticate_token(&Token::new(rs256(&c))).is_ok());
}

#[test]
fn exp_missing() {
    let c = json!({"sub": "u", "tenant_id": "acme"});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::MissingClaim(Claim::Exp));
}

#[test]
fn exp_not_a_number() {
    let mut c = claims();
    c["exp"] = json!("tomorrow");
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::InvalidClaim(Claim::Exp));
}

#[test]
fn not_yet_valid() {
    let mut c = claims();
    c["nbf"] = json!(NOW + 31);
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::NotYetValid);
    c["nbf"] = json!(NOW + 30); // within the leeway
    assert!(auth().authenticate_token(&Token::new(rs256(&c))).is_ok());
}

#[test]
fn iat_far_in_the_future() {
    let mut c = claims();
    c["iat"] = json!(NOW + 3600);
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::IssuedInFuture);
    c["iat"] = json!(NOW + 20); // within the leeway
    assert!(auth().authenticate_token(&Token::new(rs256(&c))).is_ok());
}

#[test]
fn leeway_is_configurable() {
    let strict = auth_with(&rsa_settings().with_leeway(Duration::ZERO), "");
    let mut c = claims();
    c["exp"] = json!(NOW);
    assert_invalid(&strict, &rs256(&c), InvalidJwtReason::Expired);
    c["exp"] = json!(NOW + 1);
    assert!(strict.authenticate_token(&Token::new(rs256(&c))).is_ok());
}

#[test]
fn wrong_issuer() {
    let a = auth_with(&rsa_settings().with_issuer("https://auth.example"), "");
    let mut c = claims();
    c["iss"] = json!("https://evil.example");
    assert_invalid(&a, &rs256(&c), InvalidJwtReason::WrongIssuer);
    c["iss"] = json!(["https://auth.example"]); // iss is a single StringOrURI
    assert_invalid(&a, &rs256(&c), InvalidJwtReason::WrongIssuer);
    c["iss"] = json!("https://auth.example");
    assert!(a.authenticate_token(&Token::new(rs256(&c))).is_ok());
}

#[test]
fn issuer_required_when_configured() {
    let a = auth_with(&rsa_settings().with_issuer("https://auth.example"), "");
    assert_invalid(&a, &rs256(&claims()), InvalidJwtReason::MissingClaim(Claim::Iss));
}

#[test]
fn a_token_naming_an_issuer_is_refused_when_none_is_configured() {
    // RFC 8725 §3.8: nothing ties the key to the issuer the token names.
    let mut c = claims();
    assert!(auth().authenticate_token(&Token::new(rs256(&c))).is_ok(), "no iss, no issuer configured");
    c["iss"] = json!("https://anyone.example");
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::WrongIssuer);
}

#[test]
fn wrong_audience() {
    let a = auth_with(&rsa_settings().with_audience("streamer"), "");
    let mut c = claims();
    for aud in [json!("billing"), json!(["billing", "reports"]), json!([])] {
        c["aud"] = aud;
        assert_invalid(&a, &rs256(&c), InvalidJwtReason::WrongAudience);
    }
    // Not a string or an array of strings (RFC 7519 §4.1.3).
    for aud in [json!(42), json!(["streamer", 5]), json!(["streamer", null]), json!(null)] {
        c["aud"] = aud;
        assert_invalid(&a, &rs256(&c), InvalidJwtReason::InvalidClaim(Claim::Aud));
    }
}

/// RFC 7519 §4.1.3: a token addressed to an audience is refused by a recipient that has
/// none configured (it cannot find itself in `aud`): a token for another service is not
/// replayed here.
#[test]
fn an_audience_is_refused_when_none_is_configured() {
    let a = auth_with(&rsa_settings(), "");
    let mut c = claims();
    for aud in [json!("billing"), json!(["streamer"]), json!([])] {
        c["aud"] = aud;
        assert_invalid(&a, &rs256(&c), InvalidJwtReason::WrongAudience);
    }
}

#[test]
fn audience_string_or_array_member_is_accepted() {
    let a = auth_with(&rsa_settings().with_audience("streamer"), "");
    let mut c = claims();
    for aud in [json!("streamer"), json!(["billing", "streamer"])] {
        c["aud"] = aud;
        assert!(a.authenticate_token(&Token::new(rs256(&c))).is_ok());
    }
}

#[test]
fn audience_required_when_configured() {
    let a = auth_with(&rsa_settings().with_audience("streamer"), "");
    assert_invalid(&a, &rs256(&claims()), InvalidJwtReason::MissingClaim(Claim::Aud));
}

#[test]
fn oversized_token() {
    let mut c = claims();
    c["padding"] = json!("x".repeat(MAX_TOKEN_BYTES));
    let token = rs256(&c);
    assert!(token.len() > MAX_TOKEN_BYTES);
    assert_invalid(&auth(), &token, InvalidJwtReason::Oversized);
    // Also refused at extraction, before being copied.
    let header = format!("Bearer {token}");
    assert_eq!(
        auth().authenticate(None, vec![("authorization", header.as_bytes())]),
        Err(AuthFailure::InvalidJwt(InvalidJwtReason::Oversized))
    );
}

#[test]
fn tenant_not_allowed() {
    let a = auth_with(&rsa_settings(), "globex, initech");
    let token = rs256(&claims());
    let failure = refuse(&a, &token);
    assert_eq!(failure, AuthFailure::TenantNotAllowed { tenant: "acme".into() });
    assert_eq!(failure.error_type(), "tenant_not_allowed");
    assert_eq!(failure.reason(), "tenant_not_allowed");
    assert_eq!(failure.response().status_code, 403);
    assert_eq!(failure.response().body_json(), r#"{"code":"FORBIDDEN","message":"Tenant not allowed"}"#);
}

#[test]
fn tenant_allowed_exact_match_only() {
    let a = auth_with(&rsa_settings(), "acme");
    assert!(a.authenticate_token(&Token::new(rs256(&claims()))).is_ok());
    let mut c = claims();
    for tenant in ["ACME", "acm", "acme2"] {
        c["tenant_id"] = json!(tenant);
        assert!(matches!(refuse(&a, &rs256(&c)), AuthFailure::TenantNotAllowed { .. }), "{tenant:?}");
    }
}

#[test]
fn invalid_token_is_not_a_tenant_failure() {
    // Tenant checks only run on verified tokens.
    let a = auth_with(&rsa_settings(), "globex");
    let token = sign_with(Algorithm::RS256, &EncodingKey::from_rsa_pem(OTHER_RSA_PRIV).unwrap(), &claims());
    assert_invalid(&a, &token, InvalidJwtReason::BadSignature);
}

#[test]
fn no_tenant_id_claim() {
    let c = json!({"sub": "u", "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::MissingClaim(Claim::TenantId));
    let c = json!({"sub": "u", "tenant_id": "  ", "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::MissingClaim(Claim::TenantId));
    let c = json!({"sub": "u", "tenant_id": 7, "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::InvalidClaim(Claim::TenantId));
}

#[test]
fn no_sub_claim() {
    let c = json!({"tenant_id": "acme", "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::MissingClaim(Claim::Sub));
    let c = json!({"sub": "", "tenant_id": "acme", "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::MissingClaim(Claim::Sub));
    let c = json!({"sub": 7, "tenant_id": "acme", "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::InvalidClaim(Claim::Sub));
    // `jsonwebtoken` itself refuses a structured `sub` before our claim checks run.
    let c = json!({"sub": {"id": 1}, "tenant_id": "acme", "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::Malformed);
}

#[test]
fn ids_with_control_characters_or_too_long_are_invalid() {
    let c = json!({"sub": "u\nINFO fake log line", "tenant_id": "acme", "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::InvalidClaim(Claim::Sub));
    let c = json!({"sub": "u", "tenant_id": "t".repeat(257), "exp": NOW + 60});
    assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::InvalidClaim(Claim::TenantId));
}

#[test]
fn permissions_must_be_a_list_of_strings() {
    let mut c = claims();
    for bad in [json!("admin"), json!(["read", 1]), json!({"read": true})] {
        c["permissions"] = bad;
        assert_invalid(&auth(), &rs256(&c), InvalidJwtReason::InvalidClaim(Claim::Permissions));
    }
}

#[test]
fn algorithm_not_in_the_list() {
    // RS512 with the right key, but only RS256 is configured.
    let token = sign_with(Algorithm::RS512, &EncodingKey::from_rsa_pem(RSA_PRIV).unwrap(), &claims());
    assert_invalid(&auth(), &token, InvalidJwtReason::AlgorithmNotAllowed);
    let token = sign_with(Algorithm::PS256, &EncodingKey::from_rsa_pem(RSA_PRIV).unwrap(), &claims());
    assert_invalid(&auth(), &token, InvalidJwtReason::AlgorithmNotAllowed);
    // An EC token against an RSA configuration.
    let token = sign_with(Algorithm::ES256, &EncodingKey::from_ec_pem(EC256_PRIV).unwrap(), &claims());
    assert_invalid(&auth(), &token, InvalidJwtReason::AlgorithmNotAllowed);
    // Unknown algorithm names.
    let header = b64(&json!({"alg": "RS1024"}));
    assert_invalid(&auth(), &format!("{header}.{}.c2ln", b64(&claims())), InvalidJwtReason::AlgorithmNotAllowed);
}

#[test]
fn one_key_one_algorithm() {
    // RFC 8725 §3.1: "each key MUST be used with exactly one algorithm".
    let key = || PublicKey::from_pem(RSA_PUB).unwrap();
    assert!(JwtSettings::new(key(), vec![Algorithm::RS256, Algorithm::PS256]).is_err());
    let jwt = JwtSettings::new(key(), vec![Algorithm::PS256]).unwrap();
    let a = auth_with(&jwt, "");
    let private = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    assert!(a.authenticate_token(&Token::new(sign_with(Algorithm::PS256, &private, &claims()))).is_ok());
    for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::PS384] {
        assert_invalid(&a, &sign_with(alg, &private, &claims()), InvalidJwtReason::AlgorithmNotAllowed);
    }
}

#[test]
fn ec_key_with_es256() {
    let jwt = JwtSettings::new(PublicKey::from_pem(EC256_PUB).unwrap(), vec![Algorithm::ES256]).unwrap();
    let a = auth_with(&jwt, "acme");
    let key = EncodingKey::from_ec_pem(EC256_PRIV).unwrap();
    let verified = a.authenticate_token(&Token::new(sign_with(Algorithm::ES256, &key, &claims()))).unwrap();
    assert_eq!(verified.tenant_id, "acme");
    // RS256 and HMAC-with-the-EC-public-key are refused.
    assert_invalid(&a, &rs256(&claims()), InvalidJwtReason::AlgorithmNotAllowed);
    let confused = sign_with(Algorithm::HS256, &EncodingKey::from_secret(EC256_PUB.as_bytes()), &claims());
    assert_invalid(&a, &confused, InvalidJwtReason::AlgorithmNotAllowed);
    // A tampered ES256 token.
    let token = sign_with(Algorithm::ES256, &key, &claims());
    let (message, _) = token.rsplit_once('.').unwrap();
    assert_invalid(&a, &format!("{message}.{}", URL_SAFE_NO_PAD.encode([7u8; 64])), InvalidJwtReason::BadSignature);
}

#[test]
fn es256_psychic_signature_is_rejected() {
    // CVE-2022-21449: r = s = 0 must never verify.
    let jwt = JwtSettings::new(PublicKey::from_pem(EC256_PUB).unwrap(), vec![Algorithm::ES256]).unwrap();
    let a = auth_with(&jwt, "");
    let header = b64(&json!({"alg": "ES256", "typ": "JWT"}));
    let token = format!("{header}.{}.{}", b64(&claims()), URL_SAFE_NO_PAD.encode([0u8; 64]));
    assert_invalid(&a, &token, InvalidJwtReason::BadSignature);
}

#[test]
fn algorithm_names_are_case_sensitive() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    let valid = encode(&Header::new(Algorithm::RS256), &claims(), &key).unwrap();
    let (_, rest) = valid.split_once('.').unwrap();
    for alg in ["rs256", "Rs256", "RS256 ", " RS256"] {
        let token = format!("{}.{rest}", b64(&json!({"alg": alg, "typ": "JWT"})));
        assert_invalid(&auth(), &token, InvalidJwtReason::AlgorithmNotAllowed);
    }
}

#[test]
fn duplicate_alg_in_header_is_refused() {
    let payload = b64(&claims());
    for header in [r#"{"alg":"none","alg":"RS256"}"#, r#"{"alg":"RS256","alg":"none"}"#] {
        let token = format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode(header));
        let failure = refuse(&auth(), &token);
        assert_eq!(failure.error_type(), "invalid_jwt", "{header}");
    }
}

#[test]
fn crit_header_is_rejected() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.crit = Some(vec!["exp".into()]);
    let token = encode(&header, &claims(), &key).unwrap();
    assert_invalid(&auth(), &token, InvalidJwtReason::UnsupportedHeader);
}

#[test]
fn jwe_parameters_in_the_header_are_rejected() {
    for extra in [json!({"zip": "DEF"}), json!({"enc": "A256GCM"})] {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        header.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let token = format!("{}.{}.c2ln", b64(&header), b64(&claims()));
        assert_invalid(&auth(), &token, InvalidJwtReason::UnsupportedHeader);
    }
}

#[test]
fn typ_must_name_a_jwt_when_present() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    for ok in [None, Some("JWT"), Some("jwt"), Some("at+jwt"), Some("application/at+JWT"), Some("JOSE")] {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = ok.map(str::to_owned);
        let token = encode(&header, &claims(), &key).unwrap();
        assert!(auth().authenticate_token(&Token::new(token)).is_ok(), "{ok:?}");
    }
    for bad in ["secevent+jwt", "JWE", "logout+jwt", ""] {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(bad.to_owned());
        let token = encode(&header, &claims(), &key).unwrap();
        assert_invalid(&auth(), &token, InvalidJwtReason::UnsupportedHeader);
    }
}

#[test]
fn ec_key_with_es384() {
    const EC384_PUB: &str = include_str!("../../examples/keys/ec-p384-public.pem");
    const EC384_PRIV: &[u8] = include_bytes!("../../examples/keys/ec-p384-private.pem");
    let jwt = JwtSettings::new(PublicKey::from_pem(EC384_PUB).unwrap(), vec![Algorithm::ES384]).unwrap();
    let a = auth_with(&jwt, "");
    let token = sign_with(Algorithm::ES384, &EncodingKey::from_ec_pem(EC384_PRIV).unwrap(), &claims());
    assert!(a.authenticate_token(&Token::new(token)).is_ok());
    let es256 = sign_with(Algorithm::ES256, &EncodingKey::from_ec_pem(EC256_PRIV).unwrap(), &claims());
    assert_invalid(&a, &es256, InvalidJwtReason::AlgorithmNotAllowed);
}

#[test]
fn embedded_jwk_header_is_ignored() {
    // A token signed by the attacker carrying the attacker's key in `jwk`/`jku`: the
    // header's key is never used, so the signature fails against the configured key.
    let key = EncodingKey::from_rsa_pem(OTHER_RSA_PRIV).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.jku = Some("https://evil.example/jwks.json".into());
    header.kid = Some("../../etc/passwd".into());
    let token = encode(&header, &claims(), &key).unwrap();
    assert_invalid(&auth(), &token, InvalidJwtReason::BadSignature);
}

#[test]
fn failures_never_leak_token_or_parser_text() {
    let valid = rs256(&claims());
    let (message, _) = valid.rsplit_once('.').unwrap();
    let mut expired = claims();
    expired["exp"] = json!(NOW - 3600);
    let tokens = [
        "garbage".to_owned(),
        format!("{message}.AAAA"),
        format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims())),
        rs256(&expired),
        sign_with(Algorithm::HS256, &EncodingKey::from_secret(RSA_PUB.as_bytes()), &claims()),
        format!("{}.{}.c2ln", URL_SAFE_NO_PAD.encode(b"{\"alg\":"), b64(&claims())),
    ];
    for token in &tokens {
        let failure = refuse(&auth(), token);
        // The only bodies a client can ever see.
        assert!(
            [
                r#"{"code":"UNAUTHORIZED","message":"Invalid authentication token"}"#,
                r#"{"code":"UNAUTHORIZED","message":"Missing authentication token"}"#,
                r#"{"code":"FORBIDDEN","message":"Tenant not allowed"}"#,
            ]
            .contains(&failure.response().body_json().as_str())
        );
    }
    // And through extraction from a header as well.
    let header = format!("Bearer {}", tokens[1]);
    let failure = auth().authenticate(None, vec![("Authorization", header.as_bytes())]).unwrap_err();
    assert_no_leak(&failure, &tokens[1]);
}

#[test]
fn verifier_debug_shows_no_key_material() {
    let a = auth();
    let text = format!("{a:?}");
    for line in RSA_PUB.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line), "{text}");
    }
}

/// Signs `header_json.payload_json` (raw JSON texts, duplicates and spacing kept as given)
/// with the test RSA key.
fn signed_raw(header_json: &str, payload_json: &str) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(payload_json));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{message}.{signature}")
}

/// Every token that verifies has the shape the log scrubber recognises: a header JSON that
/// does not start with `{"` (so a token not starting with `eyJ`) is refused, even correctly
/// signed, so that a valid token can never reach a log line unredacted.
#[test]
fn a_header_not_starting_with_eyj_is_malformed_even_when_signed() {
    let payload = format!(r#"{{"sub":"u1","tenant_id":"acme","exp":{}}}"#, NOW + 300);
    let fine = signed_raw(r#"{"alg":"RS256"}"#, &payload);
    assert!(auth().authenticate_token(&Token::new(&fine)).is_ok());
    assert!(streamer_obs::log::contains_jwt(&fine));
    for header in [r#" {"alg":"RS256"}"#, r#"{ "alg":"RS256"}"#, "{\n\"alg\":\"RS256\"}"] {
        let token = signed_raw(header, &payload);
        assert!(!token.starts_with("eyJ"), "{header}");
        assert_invalid(&auth(), &token, InvalidJwtReason::Malformed);
    }
}

/// RFC 7519 §4: duplicate member names may be rejected; they are, in the header and in the
/// claims set alike, whichever member repeats (the last `tenant_id` must not win silently).
#[test]
fn duplicate_members_are_malformed() {
    let exp = NOW + 300;
    for (header, payload) in [
        (
            r#"{"alg":"RS256"}"#.to_owned(),
            format!(r#"{{"sub":"u1","tenant_id":"acme","tenant_id":"evil","exp":{exp}}}"#),
        ),
        (r#"{"alg":"RS256"}"#.to_owned(), format!(r#"{{"sub":"u1","sub":"u2","tenant_id":"acme","exp":{exp}}}"#)),
        (r#"{"alg":"RS256","alg":"RS256"}"#.to_owned(), format!(r#"{{"sub":"u1","tenant_id":"acme","exp":{exp}}}"#)),
    ] {
        assert_invalid(&auth(), &signed_raw(&header, &payload), InvalidJwtReason::Malformed);
    }
}

/// A `tenant_id` names the tenant's metrics (a CloudWatch dimension value: printable
/// ASCII); identifiers carry no surrounding whitespace and no invisible characters.
#[test]
fn identifiers_the_metrics_and_logs_cannot_carry_faithfully_are_invalid_claims() {
    for tenant in ["café", " acme ", "acme\u{200b}", "tenant-eyJa.eyJb.c"] {
        let token = rs256(&json!({"sub": "user-1", "tenant_id": tenant, "exp": NOW + 300}));
        assert_invalid(&auth(), &token, InvalidJwtReason::InvalidClaim(Claim::TenantId));
    }
    for sub in ["user\u{202e}1", " user-1", "user\u{2028}1"] {
        let token = rs256(&json!({"sub": sub, "tenant_id": "acme", "exp": NOW + 300}));
        assert_invalid(&auth(), &token, InvalidJwtReason::InvalidClaim(Claim::Sub));
    }
    // Unicode user ids are fine.
    let token = rs256(&json!({"sub": "usuário-1", "tenant_id": "acme", "exp": NOW + 300}));
    assert!(auth().authenticate_token(&Token::new(&token)).is_ok());
}
