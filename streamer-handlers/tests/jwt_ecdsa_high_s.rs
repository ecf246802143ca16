//! ECDSA signatures (ES256, ES384) are malleable by construction: when `(r, s)` verifies,
//! so does `(r, n − s)`, n being the curve order. Unlike the RSA case (`s + n`, refused:
//! RFC 8017 §5.2.2 puts every valid signature below the modulus, so no issuer ever writes
//! one), both ECDSA forms are valid under RFC 7518 §3.4 and FIPS 186-4, and the signers
//! issuers use (OpenSSL, Go's `crypto/ecdsa`, Java, Node) write either, about half of
//! their tokens "high-S". Refusing high-S would refuse those legitimate tokens.
//!
//! Policy (docs/handlers.md): both forms verify, to the same claims; nothing in the
//! handlers is keyed on the token string, and a deny-list or replay cache must be keyed
//! on the claims (`jti`, or `sub` with `iat`), never on the token text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use streamer_handlers::auth::{InvalidJwtReason, JwtVerifier, Token};
use streamer_handlers::settings::{JwtSettings, PublicKey};

const P256_ORDER: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
const P384_ORDER: &str =
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// `a − b`, big-endian, same length (`a > b`).
fn sub(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut v = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = 0;
        if v < 0 {
            v += 256;
            borrow = 1;
        }
        out[i] = v as u8;
    }
    out
}

fn claims() -> serde_json::Value {
    serde_json::json!({"sub": "user-1", "tenant_id": "acme", "exp": jsonwebtoken::get_current_timestamp() + 300})
}

fn check(alg: Algorithm, public: &str, private: &[u8], order: &str) {
    let verifier = JwtVerifier::new(&JwtSettings::new(PublicKey::from_pem(public).unwrap(), vec![alg]).unwrap());
    let key = EncodingKey::from_ec_pem(private).unwrap();
    let token = jsonwebtoken::encode(&Header::new(alg), &claims(), &key).unwrap();
    assert!(verifier.verify(&Token::new(token.clone())).is_ok(), "{alg:?}: the original verifies");

    let (message, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let half = sig.len() / 2;
    let (r, s) = sig.split_at(half);
    let mut twin = r.to_vec();
    twin.extend(sub(&hex(order), s));
    let twin = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&twin));
    assert_ne!(twin, token);
    let original = verifier.verify(&Token::new(token.clone())).unwrap();
    let other = verifier.verify(&Token::new(twin)).expect("the other S form is a valid signature (RFC 7518 §3.4)");
    assert_eq!(other, original, "{alg:?}: both forms carry the same claims");

    // Any other change to `s` is still a bad signature.
    let mut broken = sig.clone();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let broken = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&broken));
    assert_eq!(verifier.verify(&Token::new(broken)), Err(InvalidJwtReason::BadSignature), "{alg:?}");
}

#[test]
fn es256_both_s_forms_verify_to_the_same_claims() {
    check(
        Algorithm::ES256,
        include_str!("../../examples/keys/ec-p256-public.pem"),
        include_bytes!("../../examples/keys/ec-p256-private.pem"),
        P256_ORDER,
    );
}

#[test]
fn es384_both_s_forms_verify_to_the_same_claims() {
    check(
        Algorithm::ES384,
        include_str!("../../examples/keys/ec-p384-public.pem"),
        include_bytes!("../../examples/keys/ec-p384-private.pem"),
        P384_ORDER,
    );
}
