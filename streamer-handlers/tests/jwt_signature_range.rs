//! RSA signatures outside `[0, n − 1]` or not `k` octets long are refused for every RSA
//! algorithm (RFC 8017 §8.1.2 step 1, §8.2.2 step 1, RSAVP1 §5.2.2 step 1). For PS256,
//! PS384 and PS512 the `rsa` crate checks only the length: a valid token with `s + n` as
//! its signature (still `k` octets) was accepted, a second token string for the same
//! claims made without the private key (found by review; RS* were already refused).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use streamer_handlers::auth::{InvalidJwtReason, JwtVerifier, Token};
use streamer_handlers::settings::{JwtSettings, PublicKey};

const RSA_PUB: &str = include_str!("../../examples/keys/rsa-public.pem");
const RSA_PRIV: &[u8] = include_bytes!("../../examples/keys/rsa-private.pem");

fn claims() -> serde_json::Value {
    serde_json::json!({"sub": "user-1", "tenant_id": "acme", "exp": jsonwebtoken::get_current_timestamp() + 300})
}

fn verifier(alg: Algorithm) -> JwtVerifier {
    JwtVerifier::new(&JwtSettings::new(PublicKey::from_pem(RSA_PUB).unwrap(), vec![alg]).unwrap())
}

/// `a + b` big-endian over the same length; `None` when it carries out of that length.
fn add(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    let mut sum = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let v = u16::from(a[i]) + u16::from(b[i]) + carry;
        sum[i] = v as u8;
        carry = v >> 8;
    }
    (carry == 0).then_some(sum)
}

fn with_signature(token: &str, signature: &[u8]) -> Token {
    let (message, _) = token.rsplit_once('.').unwrap();
    Token::new(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[test]
fn signature_plus_modulus_is_refused_for_every_rsa_algorithm() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    let n = PublicKey::from_pem(RSA_PUB).unwrap().rsa_modulus().unwrap().to_vec();
    assert_eq!(n.len(), 256);
    let algs =
        [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];
    for alg in algs {
        let verifier = verifier(alg);
        // PSS signatures are randomised: sign until `s + n` still fits in `k` octets (about
        // 44 % of them for this key); an RS* signature is fixed, so try once.
        let mut checked = false;
        for _ in 0..100 {
            let token = jsonwebtoken::encode(&Header::new(alg), &claims(), &key).unwrap();
            assert!(verifier.verify(&Token::new(token.clone())).is_ok(), "{alg:?}");
            let (_, sig) = token.rsplit_once('.').unwrap();
            let s = URL_SAFE_NO_PAD.decode(sig).unwrap();
            let Some(mauled) = add(&s, &n) else { continue };
            assert_eq!(
                verifier.verify(&with_signature(&token, &mauled)),
                Err(InvalidJwtReason::BadSignature),
                "{alg:?}"
            );
            checked = true;
            break;
        }
        assert!(checked || matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512), "{alg:?}");
    }
}

#[test]
fn signatures_of_another_length_or_equal_to_the_modulus_are_refused() {
    let key = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    let n = PublicKey::from_pem(RSA_PUB).unwrap().rsa_modulus().unwrap().to_vec();
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let verifier = verifier(alg);
        let token = jsonwebtoken::encode(&Header::new(alg), &claims(), &key).unwrap();
        let (_, sig) = token.rsplit_once('.').unwrap();
        let s = URL_SAFE_NO_PAD.decode(sig).unwrap();
        // The same number with a leading zero octet: k + 1 octets.
        let longer = [&[0u8][..], &s].concat();
        assert_eq!(verifier.verify(&with_signature(&token, &longer)), Err(InvalidJwtReason::BadSignature), "{alg:?}");
        assert_eq!(verifier.verify(&with_signature(&token, &s[1..])), Err(InvalidJwtReason::BadSignature), "{alg:?}");
        assert_eq!(verifier.verify(&with_signature(&token, &n)), Err(InvalidJwtReason::BadSignature), "{alg:?}");
        assert_eq!(verifier.verify(&with_signature(&token, &vec![0xff; 256])), Err(InvalidJwtReason::BadSignature));
        // The untouched token still verifies.
        assert!(verifier.verify(&Token::new(token)).is_ok());
    }
}
