//! `$connect` authentication: token extraction, JWT verification (RFC 8725 practices)
//! and the tenant allow-list.
//!
//! - **Extraction** ([`extract_token`]): the query-string parameter `Authorization`, else
//!   the `Authorization` header in any letter case; a `Bearer ` prefix is stripped
//!   case-insensitively; a blank value counts as missing.
//! - **Verification** ([`JwtVerifier`]): tokens over [`MAX_TOKEN_BYTES`] are refused
//!   before parsing; the header's `alg` must be one of the configured asymmetric
//!   algorithms (never `none`, never HMAC, so a public key is never used as an HMAC
//!   secret); `crit`, `zip` and `enc` headers are refused, and so is a `cty` naming a JWT
//!   (a nested token); `typ`, when present, must be a string naming a JWT (`JWT`, `at+jwt`,
//!   `JOSE`); `kid`, `jku`, `jwk`, `x5u`, `x5c` are ignored (the key is never taken from
//!   the token); the signature is checked by `jsonwebtoken`, an RSA one first required
//!   to be `k` octets and below the modulus (RFC 8017 §5.2.2: the `rsa` crate's PSS check
//!   omits it, and `s + n` would be a second valid PS* signature); then, with an injected clock
//!   and a small leeway, `exp` (required), `nbf` and `iat` (not in the future; numbers,
//!   `null` refused); `iss` when configured (and then required); `aud` a string or an array
//!   of strings that must hold the configured audience, and refused when none is configured
//!   (RFC 7519 §4.1.3); `sub` and `tenant_id` (required non-empty strings) and
//!   `permissions` (optional list of strings).
//! - **Tenants** ([`Authenticator`]): a valid token whose tenant is not allowed is
//!   [`AuthFailure::TenantNotAllowed`].
//!
//! Every failure is an [`AuthFailure`]: [`AuthFailure::error_type`] is the metric's
//! `ErrorType`, [`AuthFailure::reason`] the precise internal reason for logs and
//! traces, [`AuthFailure::response`] what the client sees (401/403 with a fixed JSON
//! body). Neither the token nor any parser error text is ever part of a failure.
//!
//! ```
//! use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
//! use serde_json::json;
//! use streamer_handlers::auth::Authenticator;
//! use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
//!
//! let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
//! let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?;
//! let auth = Authenticator::new(&jwt, AllowedTenants::parse("acme"));
//!
//! let signer = EncodingKey::from_rsa_pem(include_bytes!("../../examples/keys/rsa-private.pem"))?;
//! let exp = jsonwebtoken::get_current_timestamp() + 300;
//! let token = encode(&Header::new(Algorithm::RS256), &json!({"sub": "u1", "tenant_id": "acme", "exp": exp}), &signer)?;
//!
//! let headers = [("authorization", format!("Bearer {token}"))];
//! let claims = auth.authenticate(None, headers.iter().map(|(k, v)| (*k, v.as_bytes())))?;
//! assert_eq!((claims.user_id.as_str(), claims.tenant_id.as_str()), ("u1", "acme"));
//!
//! let failure = auth.authenticate(None, std::iter::empty::<(&str, &[u8])>()).unwrap_err();
//! assert_eq!(failure.error_type(), "missing_token");
//! assert_eq!(failure.response().status_code, 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::{Map, Value};
use streamer_obs::clock::{Clock, SystemClock};
use streamer_obs::log::Secret;

use crate::settings::{AllowedTenants, JwtSettings};

/// Largest accepted token, in bytes (8 KiB); longer ones are refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Name of the query-string parameter and header that carry the token.
pub const AUTHORIZATION: &str = "Authorization";
/// Largest accepted `sub` / `tenant_id`, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// A bearer token. `Debug` and `Display` never reveal it.
///
/// ```
/// use streamer_handlers::auth::Token;
/// let t = Token::new("eyJhbGciOiJSUzI1NiJ9.e30.sig");
/// assert_eq!(format!("{t:?}"), "Token([REDACTED])");
/// assert_eq!(t.expose().len(), 28);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Secret<String>);

impl Token {
    /// Wraps a token.
    ///
    /// ```
    /// use streamer_handlers::auth::Token;
    /// let t = Token::new("a.b.c");
    /// assert_eq!(t.expose(), "a.b.c");
    /// ```
    pub fn new(token: impl Into<String>) -> Self {
        Token(Secret::new(token.into()))
    }

    /// The token text; every use is deliberate.
    ///
    /// ```
    /// use streamer_handlers::auth::Token;
    /// assert_eq!(Token::new(String::from("x.y.z")).expose(), "x.y.z");
    /// ```
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Token").field(&self.0).finish()
    }
}

/// The claims the handlers use.
///
/// ```
/// use streamer_handlers::auth::Claims;
/// let c = Claims { user_id: "u1".into(), tenant_id: "acme".into(), permissions: vec!["read".into()] };
/// assert_eq!(c.permissions, ["read"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// `sub`.
    pub user_id: String,
    /// `tenant_id`.
    pub tenant_id: String,
    /// `permissions` (empty when absent).
    pub permissions: Vec<String>,
}

/// A claim named in a failure reason.
///
/// ```
/// use streamer_handlers::auth::Claim;
/// assert_eq!(Claim::TenantId.name(), "tenant_id");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Claim {
    /// `sub`.
    Sub,
    /// `tenant_id`.
    TenantId,
    /// `exp`.
    Exp,
    /// `nbf`.
    Nbf,
    /// `iat`.
    Iat,
    /// `iss`.
    Iss,
    /// `aud`.
    Aud,
    /// `permissions`.
    Permissions,
}

impl Claim {
    /// The claim's name in the token.
    ///
    /// ```
    /// use streamer_handlers::auth::Claim;
    /// assert_eq!(Claim::Sub.name(), "sub");
    /// assert_eq!(Claim::Permissions.name(), "permissions");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Claim::Sub => "sub",
            Claim::TenantId => "tenant_id",
            Claim::Exp => "exp",
            Claim::Nbf => "nbf",
            Claim::Iat => "iat",
            Claim::Iss => "iss",
            Claim::Aud => "aud",
            Claim::Permissions => "permissions",
        }
    }
}

/// Why a token was refused (internal: for log lines and subsegments, never for the
/// client).
///
/// ```
/// use streamer_handlers::auth::{Claim, InvalidJwtReason};
/// assert_eq!(InvalidJwtReason::Expired.as_str(), "expired");
/// assert_eq!(InvalidJwtReason::MissingClaim(Claim::Sub).as_str(), "missing_claim_sub");
/// assert_eq!(InvalidJwtReason::MissingClaim(Claim::Sub).to_string(), "missing claim `sub`");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidJwtReason {
    /// Longer than [`MAX_TOKEN_BYTES`].
    Oversized,
    /// Not a compact JWS (three base64url parts, JSON header and payload).
    Malformed,
    /// The header's `alg` is not one of the configured algorithms (includes `none` and HMAC).
    AlgorithmNotAllowed,
    /// The header carries `crit` extensions, JWE parameters (`zip`, `enc`) or a `typ`
    /// that does not name a JWT.
    UnsupportedHeader,
    /// The signature does not verify with the configured key.
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` differs from `JWT_ISSUER`.
    WrongIssuer,
    /// `aud` does not contain `JWT_AUDIENCE`.
    WrongAudience,
    /// A required claim is absent.
    MissingClaim(Claim),
    /// A claim has the wrong type or an unusable value.
    InvalidClaim(Claim),
}

impl InvalidJwtReason {
    /// A stable snake_case code (`expired`, `bad_signature`, `missing_claim_sub`, ...).
    ///
    /// ```
    /// use streamer_handlers::auth::InvalidJwtReason;
    /// assert_eq!(InvalidJwtReason::BadSignature.as_str(), "bad_signature");
    /// assert_eq!(InvalidJwtReason::AlgorithmNotAllowed.as_str(), "algorithm_not_allowed");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            InvalidJwtReason::Oversized => "oversized",
            InvalidJwtReason::Malformed => "malformed",
            InvalidJwtReason::AlgorithmNotAllowed => "algorithm_not_allowed",
            InvalidJwtReason::UnsupportedHeader => "unsupported_header",
            InvalidJwtReason::BadSignature => "bad_signature",
            InvalidJwtReason::Expired => "expired",
            InvalidJwtReason::NotYetValid => "not_yet_valid",
            InvalidJwtReason::IssuedInFuture => "issued_in_future",
            InvalidJwtReason::WrongIssuer => "wrong_issuer",
            InvalidJwtReason::WrongAudience => "wrong_audience",
            InvalidJwtReason::MissingClaim(c) => match c {
                Claim::Sub => "missing_claim_sub",
                Claim::TenantId => "missing_claim_tenant_id",
                Claim::Exp => "missing_claim_exp",
                Claim::Nbf => "missing_claim_nbf",
                Claim::Iat => "missing_claim_iat",
                Claim::Iss => "missing_claim_iss",
                Claim::Aud => "missing_claim_aud",
                Claim::Permissions => "missing_claim_permissions",
            },
            InvalidJwtReason::InvalidClaim(c) => match c {
                Claim::Sub => "invalid_claim_sub",
                Claim::TenantId => "invalid_claim_tenant_id",
                Claim::Exp => "invalid_claim_exp",
                Claim::Nbf => "invalid_claim_nbf",
                Claim::Iat => "invalid_claim_iat",
                Claim::Iss => "invalid_claim_iss",
                Claim::Aud => "invalid_claim_aud",
                Claim::Permissions => "invalid_claim_permissions",
            },
        }
    }
}

impl fmt::Display for InvalidJwtReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidJwtReason::Oversized => write!(f, "token longer than {MAX_TOKEN_BYTES} bytes"),
            InvalidJwtReason::Malformed => f.write_str("malformed token"),
            InvalidJwtReason::AlgorithmNotAllowed => f.write_str("algorithm not allowed"),
            InvalidJwtReason::UnsupportedHeader => f.write_str("unsupported header parameter"),
            InvalidJwtReason::BadSignature => f.write_str("bad signature"),
            InvalidJwtReason::Expired => f.write_str("token expired"),
            InvalidJwtReason::NotYetValid => f.write_str("token not yet valid"),
            InvalidJwtReason::IssuedInFuture => f.write_str("token issued in the future"),
            InvalidJwtReason::WrongIssuer => f.write_str("wrong issuer"),
            InvalidJwtReason::WrongAudience => f.write_str("wrong audience"),
            InvalidJwtReason::MissingClaim(c) => write!(f, "missing claim `{}`", c.name()),
            InvalidJwtReason::InvalidClaim(c) => write!(f, "invalid claim `{}`", c.name()),
        }
    }
}

/// An authentication failure.
///
/// ```
/// use streamer_handlers::auth::{AuthFailure, InvalidJwtReason};
/// let f = AuthFailure::InvalidJwt(InvalidJwtReason::BadSignature);
/// assert_eq!(f.error_type(), "invalid_jwt");
/// assert_eq!(f.reason(), "bad_signature");
/// assert_eq!(f.to_string(), "invalid_jwt: bad signature");
/// assert_eq!(f.response().body_json(), r#"{"code":"UNAUTHORIZED","message":"Invalid authentication token"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No token in the query string or the headers.
    #[error("missing_token: no token in the Authorization query parameter or header")]
    MissingToken,
    /// The token was refused.
    #[error("invalid_jwt: {0}")]
    InvalidJwt(InvalidJwtReason),
    /// A valid token for a tenant outside `ALLOWED_TENANTS`.
    #[error("tenant_not_allowed: tenant `{tenant}` is not in ALLOWED_TENANTS")]
    TenantNotAllowed {
        /// The token's `tenant_id`.
        tenant: String,
    },
}

impl From<InvalidJwtReason> for AuthFailure {
    fn from(reason: InvalidJwtReason) -> Self {
        AuthFailure::InvalidJwt(reason)
    }
}

impl AuthFailure {
    /// The `ErrorType` metric dimension: exactly `missing_token`, `invalid_jwt` or
    /// `tenant_not_allowed`.
    ///
    /// ```
    /// use streamer_handlers::auth::{AuthFailure, InvalidJwtReason};
    /// assert_eq!(AuthFailure::MissingToken.error_type(), "missing_token");
    /// assert_eq!(AuthFailure::InvalidJwt(InvalidJwtReason::Expired).error_type(), "invalid_jwt");
    /// assert_eq!(AuthFailure::TenantNotAllowed { tenant: "t".into() }.error_type(), "tenant_not_allowed");
    /// ```
    pub const fn error_type(&self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "missing_token",
            AuthFailure::InvalidJwt(_) => "invalid_jwt",
            AuthFailure::TenantNotAllowed { .. } => "tenant_not_allowed",
        }
    }

    /// The precise internal reason (`missing_token`, `expired`, `bad_signature`, ...,
    /// `tenant_not_allowed`) for log lines and subsegments.
    ///
    /// ```
    /// use streamer_handlers::auth::{AuthFailure, InvalidJwtReason};
    /// assert_eq!(AuthFailure::InvalidJwt(InvalidJwtReason::Expired).reason(), "expired");
    /// assert_eq!(AuthFailure::MissingToken.reason(), "missing_token");
    /// ```
    pub const fn reason(&self) -> &'static str {
        match self {
            AuthFailure::InvalidJwt(r) => r.as_str(),
            other => other.error_type(),
        }
    }

    /// The HTTP status: 401 for a missing or invalid token, 403 for a tenant not allowed.
    ///
    /// ```
    /// use streamer_handlers::auth::{AuthFailure, InvalidJwtReason};
    /// assert_eq!(AuthFailure::InvalidJwt(InvalidJwtReason::WrongIssuer).status_code(), 401);
    /// assert_eq!(AuthFailure::TenantNotAllowed { tenant: "t".into() }.status_code(), 403);
    /// ```
    pub const fn status_code(&self) -> u16 {
        match self {
            AuthFailure::MissingToken | AuthFailure::InvalidJwt(_) => 401,
            AuthFailure::TenantNotAllowed { .. } => 403,
        }
    }

    /// What the client sees: a status and a fixed body (no token, no parser text, no reason).
    ///
    /// ```
    /// use streamer_handlers::auth::AuthFailure;
    /// let r = AuthFailure::TenantNotAllowed { tenant: "initech".into() }.response();
    /// assert_eq!(r.status_code, 403);
    /// assert_eq!(r.body_json(), r#"{"code":"FORBIDDEN","message":"Tenant not allowed"}"#);
    /// ```
    pub const fn response(&self) -> ClientResponse {
        let body = match self {
            AuthFailure::MissingToken => ErrorBody { code: "UNAUTHORIZED", message: "Missing authentication token" },
            AuthFailure::InvalidJwt(_) => ErrorBody { code: "UNAUTHORIZED", message: "Invalid authentication token" },
            AuthFailure::TenantNotAllowed { .. } => ErrorBody { code: "FORBIDDEN", message: "Tenant not allowed" },
        };
        ClientResponse { status_code: self.status_code(), body }
    }
}

/// The client-facing JSON body `{"code": ..., "message": ...}`.
///
/// ```
/// use streamer_handlers::auth::AuthFailure;
/// let body = AuthFailure::MissingToken.response().body;
/// assert_eq!(body.code, "UNAUTHORIZED");
/// assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"code":"UNAUTHORIZED","message":"Missing authentication token"}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// `UNAUTHORIZED` or `FORBIDDEN`.
    pub code: &'static str,
    /// A fixed human message.
    pub message: &'static str,
}

/// Status code and body for a refused connection.
///
/// ```
/// use streamer_handlers::auth::AuthFailure;
/// let r = AuthFailure::MissingToken.response();
/// let body: serde_json::Value = serde_json::from_str(&r.body_json()).unwrap();
/// assert_eq!(body["code"], "UNAUTHORIZED");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientResponse {
    /// 401 or 403.
    pub status_code: u16,
    /// The JSON body.
    pub body: ErrorBody,
}

impl ClientResponse {
    /// The body as a JSON string.
    ///
    /// ```
    /// use streamer_handlers::auth::AuthFailure;
    /// let json = AuthFailure::MissingToken.response().body_json();
    /// assert_eq!(json, r#"{"code":"UNAUTHORIZED","message":"Missing authentication token"}"#);
    /// ```
    pub fn body_json(&self) -> String {
        serde_json::json!({"code": self.body.code, "message": self.body.message}).to_string()
    }
}

/// Finds the token: the query-string parameter `Authorization` (pass its value), else
/// the first non-blank `Authorization` header (name matched in any letter case). A
/// `Bearer ` prefix is stripped case-insensitively and surrounding whitespace trimmed.
///
/// # Errors
///
/// [`AuthFailure::MissingToken`] when neither holds a non-blank value;
/// [`InvalidJwtReason::Oversized`] for a value over [`MAX_TOKEN_BYTES`];
/// [`InvalidJwtReason::Malformed`] for a value with characters outside visible ASCII.
///
/// ```
/// use streamer_handlers::auth::{extract_token, AuthFailure};
/// let headers = [("AUTHORIZATION", "bearer abc.def.ghi".as_bytes())];
/// assert_eq!(extract_token(None, headers)?.expose(), "abc.def.ghi");
/// assert_eq!(extract_token(Some("q.q.q"), headers)?.expose(), "q.q.q");
/// assert_eq!(extract_token(Some("  "), [("authorization", "Bearer ".as_bytes())]), Err(AuthFailure::MissingToken));
/// # Ok::<(), AuthFailure>(())
/// ```
pub fn extract_token<K, V>(
    query_authorization: Option<&str>,
    headers: impl IntoIterator<Item = (K, V)>,
) -> Result<Token, AuthFailure>
where
    K: AsRef<str>,
    V: AsRef<[u8]>,
{
    if let Some(value) = query_authorization
        && let Some(token) = normalise(value.as_bytes())?
    {
        return Ok(token);
    }
    for (name, value) in headers {
        if name.as_ref().eq_ignore_ascii_case(AUTHORIZATION)
            && let Some(token) = normalise(value.as_ref())?
        {
            return Ok(token);
        }
    }
    Err(AuthFailure::MissingToken)
}

/// Trims, strips `Bearer`, checks size and alphabet. `Ok(None)` when blank.
fn normalise(raw: &[u8]) -> Result<Option<Token>, AuthFailure> {
    let mut value = raw.trim_ascii();
    if value.len() >= 6 && value[..6].eq_ignore_ascii_case(b"bearer") {
        let rest = &value[6..];
        if rest.is_empty() || rest[0].is_ascii_whitespace() {
            value = rest.trim_ascii();
        }
    }
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > MAX_TOKEN_BYTES {
        return Err(InvalidJwtReason::Oversized.into());
    }
    if !value.iter().all(u8::is_ascii_graphic) {
        return Err(InvalidJwtReason::Malformed.into());
    }
    // Visible ASCII is valid UTF-8.
    let text = std::str::from_utf8(value).map_err(|_| InvalidJwtReason::Malformed)?;
    Ok(Some(Token::new(text)))
}

/// Verifies tokens against [`JwtSettings`]. Build it once at init and share it.
///
/// ```
/// use std::sync::Arc;
/// use jsonwebtoken::Algorithm;
/// use streamer_handlers::auth::{InvalidJwtReason, JwtVerifier, Token};
/// use streamer_handlers::settings::{JwtSettings, PublicKey};
/// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
/// let verifier = JwtVerifier::new(&JwtSettings::new(key, vec![Algorithm::RS256])?);
/// assert_eq!(verifier.verify(&Token::new("not-a-jwt")), Err(InvalidJwtReason::Malformed));
/// # Ok::<(), streamer_handlers::settings::SettingsError>(())
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    /// The RSA key's modulus (empty for an EC key): see [`rsa_signature_in_range`].
    rsa_modulus: Box<[u8]>,
    algorithms: Vec<Algorithm>,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: f64,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.algorithms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier on the system clock.
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// use streamer_handlers::auth::JwtVerifier;
    /// let verifier = JwtVerifier::new(&JwtSettings::new(key, vec![Algorithm::RS256])?);
    /// assert!(format!("{verifier:?}").contains("RS256"));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn new(settings: &JwtSettings) -> Self {
        Self::with_clock(settings, Arc::new(SystemClock))
    }

    /// A verifier reading time from `clock` (tests use a fixed clock).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::auth::JwtVerifier;
    /// use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// use streamer_obs::clock::SystemClock;
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let _v = JwtVerifier::with_clock(&JwtSettings::new(key, vec![Algorithm::RS256])?, Arc::new(SystemClock));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn with_clock(settings: &JwtSettings, clock: Arc<dyn Clock>) -> Self {
        // jsonwebtoken checks the header's algorithm against this list and the signature;
        // every claim (time, issuer, audience, ids) is checked below with our clock.
        let mut validation = Validation::new(crate::settings::DEFAULT_ALGORITHM);
        validation.algorithms = settings.algorithms().to_vec();
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        JwtVerifier {
            key: settings.public_key().decoding_key().clone(),
            rsa_modulus: settings.public_key().rsa_modulus().unwrap_or_default().into(),
            algorithms: settings.algorithms().to_vec(),
            validation,
            issuer: settings.issuer().map(str::to_owned),
            audience: settings.audience().map(str::to_owned),
            leeway_secs: settings.leeway().as_secs_f64(),
            clock,
        }
    }

    /// Verifies `token` and returns its claims.
    ///
    /// # Errors
    ///
    /// The first [`InvalidJwtReason`] found, in this order: size, shape, header
    /// (`alg`, `crit`), signature, `exp`, `nbf`, `iat`, `iss`, `aud`, `sub`,
    /// `tenant_id`, `permissions`.
    ///
    /// ```
    /// use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    /// use streamer_handlers::auth::{InvalidJwtReason, JwtVerifier, Token};
    /// use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let verifier = JwtVerifier::new(&JwtSettings::new(key, vec![Algorithm::RS256])?);
    /// let signer = EncodingKey::from_rsa_pem(include_bytes!("../../examples/keys/rsa-private.pem"))?;
    /// let expired = serde_json::json!({"sub": "u1", "tenant_id": "acme", "exp": 1});
    /// let token = encode(&Header::new(Algorithm::RS256), &expired, &signer)?;
    /// assert_eq!(verifier.verify(&Token::new(token)), Err(InvalidJwtReason::Expired));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self, token: &Token) -> Result<Claims, InvalidJwtReason> {
        let text = token.expose();
        if text.len() > MAX_TOKEN_BYTES {
            return Err(InvalidJwtReason::Oversized);
        }
        let mut parts = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidJwtReason::Malformed);
        };
        let b64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if header.is_empty() || payload.is_empty() || !b64url(header) || !b64url(payload) || !b64url(signature) {
            return Err(InvalidJwtReason::Malformed);
        }
        // The header's JSON starts with `{"` (`eyJ` in base64url), as every JWT library
        // writes it. Refusing other spellings (`{ "alg"…`) keeps every accepted token in
        // the shape the log scrubber recognises (`streamer_obs::log::contains_jwt`), so a
        // token that verifies can never reach a log line unredacted.
        if !header.starts_with("eyJ") {
            return Err(InvalidJwtReason::Malformed);
        }
        self.check_header(header)?;
        if signature.is_empty() || !rsa_signature_in_range(signature, &self.rsa_modulus) {
            return Err(InvalidJwtReason::BadSignature);
        }
        let data = jsonwebtoken::decode::<UniqueMembers>(text, &self.key, &self.validation)
            .map_err(|e| map_jwt_error(e.kind()))?;
        self.check_claims(&data.claims.0)
    }

    fn check_header(&self, header: &str) -> Result<(), InvalidJwtReason> {
        let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| InvalidJwtReason::Malformed)?;
        let UniqueMembers(fields) =
            serde_json::from_slice::<UniqueMembers>(&bytes).map_err(|_| InvalidJwtReason::Malformed)?;
        let Some(Value::String(alg)) = fields.get("alg") else {
            return Err(InvalidJwtReason::Malformed);
        };
        // `none`, HMAC and anything unknown are refused here, before any key is touched.
        match Algorithm::from_str(alg) {
            Ok(alg) if self.algorithms.contains(&alg) => {}
            _ => return Err(InvalidJwtReason::AlgorithmNotAllowed),
        }
        // `crit` names extensions we do not implement (RFC 7515 §4.1.11: must refuse);
        // `zip`/`enc` belong to JWE, not to a signed JWT.
        if fields.contains_key("crit") || fields.contains_key("zip") || fields.contains_key("enc") {
            return Err(InvalidJwtReason::UnsupportedHeader);
        }
        // `cty: JWT` announces a nested JWT (RFC 7519 §7.2 step 8): the payload would be
        // another token, not these claims (RFC 8725 §2.8); nesting is not supported.
        if let Some(cty) = fields.get("cty") {
            match cty {
                Value::String(cty) if !is_jwt_type(cty) => {}
                _ => return Err(InvalidJwtReason::UnsupportedHeader),
            }
        }
        // Explicit typing (RFC 8725 §3.11): when `typ` is present it must name a JWT (a
        // string: RFC 7515 §4.1.9; `null` is no type).
        match fields.get("typ") {
            None => Ok(()),
            Some(Value::String(typ)) if is_jwt_type(typ) => Ok(()),
            Some(_) => Err(InvalidJwtReason::UnsupportedHeader),
        }
    }

    fn check_claims(&self, claims: &Map<String, Value>) -> Result<Claims, InvalidJwtReason> {
        let now = self.clock.now_millis() as f64 / 1000.0;
        let exp = numeric_date(claims, Claim::Exp)?.ok_or(InvalidJwtReason::MissingClaim(Claim::Exp))?;
        if now >= exp + self.leeway_secs {
            return Err(InvalidJwtReason::Expired);
        }
        if let Some(nbf) = numeric_date(claims, Claim::Nbf)?
            && nbf > now + self.leeway_secs
        {
            return Err(InvalidJwtReason::NotYetValid);
        }
        if let Some(iat) = numeric_date(claims, Claim::Iat)?
            && iat > now + self.leeway_secs
        {
            return Err(InvalidJwtReason::IssuedInFuture);
        }
        // `iss` (RFC 8725 §3.8): when a token names its issuer, the key must be shown to
        // belong to that issuer, or the token is refused. The configured issuer is what
        // ties the key to one; with none configured, no issuer a token names can be
        // validated, so a token naming one is refused (as `aud` is below).
        match (&self.issuer, claims.get(Claim::Iss.name())) {
            (Some(_), None | Some(Value::Null)) => return Err(InvalidJwtReason::MissingClaim(Claim::Iss)),
            (Some(expected), Some(Value::String(iss))) if iss == expected => {}
            (Some(_), Some(_)) | (None, Some(_)) => return Err(InvalidJwtReason::WrongIssuer),
            (None, None) => {}
        }
        // `aud` (RFC 7519 §4.1.3): a string or an array of strings, and when present this
        // recipient must be one of them; with no audience configured this recipient has no
        // name to find there, so a token addressed to any audience is refused (a token for
        // another service must not be replayed here: RFC 8725 §2.7, §3.9).
        let audiences: Option<Vec<&str>> = match claims.get(Claim::Aud.name()) {
            None => None,
            Some(Value::String(aud)) => Some(vec![aud.as_str()]),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(Value::as_str)
                    .collect::<Option<Vec<_>>>()
                    .ok_or(InvalidJwtReason::InvalidClaim(Claim::Aud))?,
            ),
            Some(_) => return Err(InvalidJwtReason::InvalidClaim(Claim::Aud)),
        };
        match (&self.audience, audiences) {
            (None, None) => {}
            (Some(_), None) => return Err(InvalidJwtReason::MissingClaim(Claim::Aud)),
            (Some(expected), Some(auds)) if auds.contains(&expected.as_str()) => {}
            (_, Some(_)) => return Err(InvalidJwtReason::WrongAudience),
        }
        let user_id = identifier(claims, Claim::Sub)?;
        let tenant_id = identifier(claims, Claim::TenantId)?;
        let permissions = match claims.get(Claim::Permissions.name()) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(InvalidJwtReason::InvalidClaim(Claim::Permissions))?,
            Some(_) => return Err(InvalidJwtReason::InvalidClaim(Claim::Permissions)),
        };
        Ok(Claims { user_id, tenant_id, permissions })
    }
}

/// Whether an RSA signature (base64url) is `k` octets, `k` the length of the modulus `n`,
/// and below `n` as a big-endian number (RFC 8017 §8.1.2 step 1 and §8.2.2 step 1, and
/// RSAVP1 §5.2.2 step 1: "If the signature representative s is not between 0 and n − 1,
/// output 'signature representative out of range'"). The `rsa` crate's PSS verification
/// checks only the length: without this check a PS256/PS384/PS512 token would stay valid
/// with `s + n` as its signature, a second token string for the same claims made without
/// the private key. Always true for an EC key (`modulus` empty); a signature that is not
/// base64url is left to the signature check that follows.
fn rsa_signature_in_range(signature: &str, modulus: &[u8]) -> bool {
    if modulus.is_empty() {
        return true;
    }
    let Ok(s) = URL_SAFE_NO_PAD.decode(signature) else { return true };
    s.len() == modulus.len() && *s < *modulus
}

/// `typ` values accepted: `JWT`, `at+jwt` (RFC 9068) and `JOSE`, case-insensitive, with
/// or without the `application/` prefix.
fn is_jwt_type(typ: &str) -> bool {
    let t = typ.get(..12).filter(|p| p.eq_ignore_ascii_case("application/")).map_or(typ, |_| &typ[12..]);
    ["JWT", "at+jwt", "JOSE"].iter().any(|ok| t.eq_ignore_ascii_case(ok))
}

/// A NumericDate claim: `Ok(None)` when absent, an error when not a finite number
/// (`null` included: RFC 7519 §4.1.4 to §4.1.6).
fn numeric_date(claims: &Map<String, Value>, claim: Claim) -> Result<Option<f64>, InvalidJwtReason> {
    match claims.get(claim.name()) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_f64().filter(|v| v.is_finite()).map(Some).ok_or(InvalidJwtReason::InvalidClaim(claim))
        }
        Some(_) => Err(InvalidJwtReason::InvalidClaim(claim)),
    }
}

/// A required identifier: a non-blank string of at most [`MAX_ID_BYTES`] without control
/// or invisible formatting characters (`U+200B`, `U+202E`, ...) and without surrounding
/// whitespace (`" acme "` is not `acme`). A `tenant_id` must also be a CloudWatch
/// dimension value (printable ASCII, `TenantId::new`): it names the tenant's metrics, and
/// one the metrics could not carry would leave its connections uncounted.
fn identifier(claims: &Map<String, Value>, claim: Claim) -> Result<String, InvalidJwtReason> {
    match claims.get(claim.name()) {
        None | Some(Value::Null) => Err(InvalidJwtReason::MissingClaim(claim)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(InvalidJwtReason::MissingClaim(claim)),
        Some(Value::String(s))
            if s.len() <= MAX_ID_BYTES
                && s.trim() == s
                && !s.chars().any(|c| c.is_control() || is_format_char(c))
                && (claim != Claim::TenantId || streamer_obs::metrics::TenantId::new(s.as_str()).is_ok()) =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(InvalidJwtReason::InvalidClaim(claim)),
    }
}

/// Invisible formatting characters (Unicode category Cf: zero-width spaces and joiners,
/// bidirectional controls, the BOM...) and the line and paragraph separators.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
        || unicode_general_category::get_general_category(c) == unicode_general_category::GeneralCategory::Format
}

/// A JSON object whose members must have distinct names (RFC 7519 §4: a JWT with
/// duplicate claim names may be rejected). A claims set or header that repeats a member
/// is refused as malformed, whichever member it is: otherwise the last `tenant_id` would
/// win silently while a repeated `exp` is refused by the library.
struct UniqueMembers(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueMembers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UniqueMembers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with distinct member names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueMembers, A::Error> {
                let mut members = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if members.contains_key(&key) {
                        return Err(serde::de::Error::custom("duplicate member"));
                    }
                    members.insert(key, value);
                }
                Ok(UniqueMembers(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Maps `jsonwebtoken`'s error to a reason; its text is dropped.
fn map_jwt_error(kind: &ErrorKind) -> InvalidJwtReason {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::Provider(_) => InvalidJwtReason::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => InvalidJwtReason::AlgorithmNotAllowed,
        _ => InvalidJwtReason::Malformed,
    }
}

/// Extraction, verification and the tenant allow-list in one call.
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use streamer_handlers::auth::{AuthFailure, Authenticator};
/// use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
/// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
/// let auth = Authenticator::new(&JwtSettings::new(key, vec![Algorithm::RS256])?, AllowedTenants::all());
/// let err = auth.authenticate(Some("a.b"), std::iter::empty::<(&str, &str)>()).unwrap_err();
/// assert_eq!(err.error_type(), "invalid_jwt");
/// # Ok::<(), streamer_handlers::settings::SettingsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Authenticator {
    verifier: JwtVerifier,
    tenants: AllowedTenants,
}

impl Authenticator {
    /// An authenticator on the system clock.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::auth::Authenticator;
    /// use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let auth = Authenticator::new(&JwtSettings::new(key, vec![Algorithm::RS256])?, AllowedTenants::parse("acme"));
    /// # let _ = auth;
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn new(jwt: &JwtSettings, tenants: AllowedTenants) -> Self {
        Self { verifier: JwtVerifier::new(jwt), tenants }
    }

    /// An authenticator reading time from `clock`.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::auth::Authenticator;
    /// use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// use std::sync::Arc;
    /// use streamer_obs::clock::SystemClock;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?;
    /// let _auth = Authenticator::with_clock(&jwt, AllowedTenants::all(), Arc::new(SystemClock));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn with_clock(jwt: &JwtSettings, tenants: AllowedTenants, clock: Arc<dyn Clock>) -> Self {
        Self { verifier: JwtVerifier::with_clock(jwt, clock), tenants }
    }

    /// An authenticator for [`crate::settings::Settings`].
    ///
    /// ```
    /// use streamer_handlers::auth::Authenticator;
    /// use streamer_handlers::settings::Settings;
    /// use streamer_obs::config::EnvVars;
    /// let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem"))]);
    /// let _auth = Authenticator::from_settings(&Settings::from_env(&env)?);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        Self::new(settings.jwt(), settings.allowed_tenants().clone())
    }

    /// The verifier.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::auth::Authenticator;
    /// use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let auth = Authenticator::new(&JwtSettings::new(key, vec![Algorithm::RS256])?, AllowedTenants::all());
    /// assert!(format!("{:?}", auth.verifier()).contains("RS256"));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn verifier(&self) -> &JwtVerifier {
        &self.verifier
    }

    /// Extracts the token ([`extract_token`]), verifies it and checks the tenant.
    ///
    /// # Errors
    ///
    /// Any [`AuthFailure`].
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::auth::Authenticator;
    /// use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// use streamer_handlers::auth::AuthFailure;
    /// let auth = Authenticator::new(&JwtSettings::new(key, vec![Algorithm::RS256])?, AllowedTenants::all());
    /// let err = auth.authenticate(Some(""), [("Host", "example")]).unwrap_err();
    /// assert_eq!(err, AuthFailure::MissingToken);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn authenticate<K, V>(
        &self,
        query_authorization: Option<&str>,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Claims, AuthFailure>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let token = extract_token(query_authorization, headers)?;
        self.authenticate_token(&token)
    }

    /// Verifies `token` and checks the tenant.
    ///
    /// # Errors
    ///
    /// [`AuthFailure::InvalidJwt`] or [`AuthFailure::TenantNotAllowed`].
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::auth::Authenticator;
    /// use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// use streamer_handlers::auth::Token;
    /// let auth = Authenticator::new(&JwtSettings::new(key, vec![Algorithm::RS256])?, AllowedTenants::all());
    /// assert_eq!(auth.authenticate_token(&Token::new("x.y.z")).unwrap_err().reason(), "malformed");
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn authenticate_token(&self, token: &Token) -> Result<Claims, AuthFailure> {
        let claims = self.verifier.verify(token)?;
        self.check_tenant(&claims)?;
        Ok(claims)
    }

    /// The tenant allow-list check (exact match; an empty list allows all).
    ///
    /// # Errors
    ///
    /// [`AuthFailure::TenantNotAllowed`].
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::auth::Authenticator;
    /// use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// use streamer_handlers::auth::Claims;
    /// let auth = Authenticator::new(&JwtSettings::new(key, vec![Algorithm::RS256])?, AllowedTenants::parse("acme"));
    /// let claims = Claims { user_id: "u".into(), tenant_id: "globex".into(), permissions: vec![] };
    /// assert_eq!(auth.check_tenant(&claims).unwrap_err().error_type(), "tenant_not_allowed");
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn check_tenant(&self, claims: &Claims) -> Result<(), AuthFailure> {
        if self.tenants.is_allowed(&claims.tenant_id) {
            Ok(())
        } else {
            Err(AuthFailure::TenantNotAllowed { tenant: claims.tenant_id.clone() })
        }
    }
}
