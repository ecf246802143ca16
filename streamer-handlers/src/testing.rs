//! Test support (feature `testing`): the committed **development** key pairs and a token
//! minter for tests and the local demo. The keys under `examples/keys/` are public:
//! TEST ONLY, never configure them in a deployed function.
//!
//! ```
//! use std::time::Duration;
//! use streamer_handlers::auth::{Authenticator, Token};
//! use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey};
//! use streamer_handlers::testing::{TokenMinter, DEV_RSA_PUBLIC_KEY_PEM};
//!
//! let key = PublicKey::from_pem(DEV_RSA_PUBLIC_KEY_PEM)?;
//! let auth = Authenticator::new(&JwtSettings::new(key, vec![jsonwebtoken::Algorithm::RS256])?, AllowedTenants::parse("acme"));
//! let minter = TokenMinter::dev_rsa()?;
//!
//! let ok = minter.mint("user-1", "acme", Duration::from_secs(300))?;
//! assert_eq!(auth.authenticate_token(&Token::new(ok))?.user_id, "user-1");
//! assert_eq!(auth.authenticate_token(&Token::new(minter.expired("user-1", "acme")?)).unwrap_err().reason(), "expired");
//! assert_eq!(auth.authenticate_token(&Token::new(minter.bad_signature("user-1", "acme")?)).unwrap_err().reason(), "bad_signature");
//! assert_eq!(auth.authenticate_token(&Token::new(minter.mint("u", "globex", Duration::from_secs(60))?)).unwrap_err().reason(), "tenant_not_allowed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use streamer_obs::clock::{Clock, SystemClock};

/// Development RSA 2048 public key (SPKI PEM). TEST ONLY.
pub const DEV_RSA_PUBLIC_KEY_PEM: &str = include_str!("../../examples/keys/rsa-public.pem");
/// Development RSA 2048 private key (PKCS#8 PEM). TEST ONLY: it is public.
pub const DEV_RSA_PRIVATE_KEY_PEM: &str = include_str!("../../examples/keys/rsa-private.pem");
/// Development EC P-256 public key (SPKI PEM). TEST ONLY.
pub const DEV_EC_P256_PUBLIC_KEY_PEM: &str = include_str!("../../examples/keys/ec-p256-public.pem");
/// Development EC P-256 private key (PKCS#8 PEM). TEST ONLY: it is public.
pub const DEV_EC_P256_PRIVATE_KEY_PEM: &str = include_str!("../../examples/keys/ec-p256-private.pem");
/// A second RSA private key that no configuration trusts: tokens it signs have a bad
/// signature. TEST ONLY.
pub const UNTRUSTED_RSA_PRIVATE_KEY_PEM: &str = include_str!("../../examples/keys/untrusted-rsa-private.pem");

/// Mints signed JWTs with `sub`, `tenant_id`, `iat`, `exp` (and optional `iss`, `aud`,
/// `permissions`). `Debug` never shows the keys.
///
/// ```
/// use std::time::Duration;
/// use streamer_handlers::testing::TokenMinter;
/// let minter = TokenMinter::dev_rsa()?.with_issuer("https://auth.example").with_permissions(["read"]);
/// let token = minter.mint("user-1", "acme", Duration::from_secs(60))?;
/// assert_eq!(token.split('.').count(), 3);
/// # Ok::<(), jsonwebtoken::errors::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenMinter {
    key: EncodingKey,
    untrusted: EncodingKey,
    algorithm: Algorithm,
    issuer: Option<String>,
    audience: Option<String>,
    permissions: Vec<String>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMinter")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenMinter {
    /// `RS256` with the development RSA key.
    ///
    /// # Errors
    ///
    /// Only if the committed key files were replaced by something unparsable.
    ///
    /// ```
    /// let _minter = streamer_handlers::testing::TokenMinter::dev_rsa()?;
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn dev_rsa() -> Result<Self, jsonwebtoken::errors::Error> {
        Self::new(EncodingKey::from_rsa_pem(DEV_RSA_PRIVATE_KEY_PEM.as_bytes())?, Algorithm::RS256)
    }

    /// `ES256` with the development EC P-256 key.
    ///
    /// # Errors
    ///
    /// Only if the committed key files were replaced by something unparsable.
    ///
    /// ```
    /// let _minter = streamer_handlers::testing::TokenMinter::dev_ec_p256()?;
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn dev_ec_p256() -> Result<Self, jsonwebtoken::errors::Error> {
        Self::new(EncodingKey::from_ec_pem(DEV_EC_P256_PRIVATE_KEY_PEM.as_bytes())?, Algorithm::ES256)
    }

    /// A minter for any key and algorithm.
    ///
    /// # Errors
    ///
    /// Only if the committed untrusted key (used by [`TokenMinter::bad_signature`]) is unparsable.
    ///
    /// ```
    /// use jsonwebtoken::{Algorithm, EncodingKey};
    /// use streamer_handlers::testing::{TokenMinter, DEV_RSA_PRIVATE_KEY_PEM};
    /// let key = EncodingKey::from_rsa_pem(DEV_RSA_PRIVATE_KEY_PEM.as_bytes())?;
    /// let _ps256 = TokenMinter::new(key, Algorithm::PS256)?;
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn new(key: EncodingKey, algorithm: Algorithm) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            key,
            untrusted: EncodingKey::from_rsa_pem(UNTRUSTED_RSA_PRIVATE_KEY_PEM.as_bytes())?,
            algorithm,
            issuer: None,
            audience: None,
            permissions: Vec::new(),
            clock: Arc::new(SystemClock),
        })
    }

    /// Adds `iss` to every token.
    ///
    /// ```
    /// let m = streamer_handlers::testing::TokenMinter::dev_rsa()?.with_issuer("https://auth.example");
    /// assert_eq!(m.claims("u", "t", std::time::Duration::ZERO)["iss"], "https://auth.example");
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Adds `aud` to every token.
    ///
    /// ```
    /// let m = streamer_handlers::testing::TokenMinter::dev_rsa()?.with_audience("streamer");
    /// # let _ = m;
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Adds `permissions` to every token.
    ///
    /// ```
    /// let m = streamer_handlers::testing::TokenMinter::dev_rsa()?.with_permissions(["read", "write"]);
    /// assert_eq!(m.claims("u", "t", std::time::Duration::ZERO)["permissions"][1], "write");
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn with_permissions<S: Into<String>>(mut self, permissions: impl IntoIterator<Item = S>) -> Self {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// Takes `iat`/`exp` from `clock`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = streamer_handlers::testing::TokenMinter::dev_rsa()?.with_clock(Arc::new(streamer_obs::clock::SystemClock));
    /// # let _ = m;
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The claims [`TokenMinter::mint`] would sign, valid for `lifetime` from now.
    ///
    /// ```
    /// use std::time::Duration;
    /// let claims = streamer_handlers::testing::TokenMinter::dev_rsa()?.claims("u", "t", Duration::from_secs(60));
    /// assert_eq!(claims["tenant_id"], "t");
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn claims(&self, sub: &str, tenant_id: &str, lifetime: Duration) -> Value {
        let now = self.clock.now_millis() / 1000;
        let mut claims = json!({
            "sub": sub,
            "tenant_id": tenant_id,
            "iat": now,
            "exp": now.saturating_add(lifetime.as_secs()),
        });
        if let Some(map) = claims.as_object_mut() {
            if let Some(iss) = &self.issuer {
                map.insert("iss".into(), json!(iss));
            }
            if let Some(aud) = &self.audience {
                map.insert("aud".into(), json!(aud));
            }
            if !self.permissions.is_empty() {
                map.insert("permissions".into(), json!(self.permissions));
            }
        }
        claims
    }

    /// A valid token for `sub` / `tenant_id`, expiring after `lifetime`.
    ///
    /// # Errors
    ///
    /// Signing errors from `jsonwebtoken` (none with the development keys).
    ///
    /// ```
    /// let token = streamer_handlers::testing::TokenMinter::dev_ec_p256()?.mint("u", "t", std::time::Duration::from_secs(60))?;
    /// assert!(token.starts_with("eyJ"));
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn mint(&self, sub: &str, tenant_id: &str, lifetime: Duration) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(&self.claims(sub, tenant_id, lifetime))
    }

    /// Signs arbitrary claims with the minter's key and algorithm.
    ///
    /// # Errors
    ///
    /// Signing errors from `jsonwebtoken`.
    ///
    /// ```
    /// let m = streamer_handlers::testing::TokenMinter::dev_rsa()?;
    /// let no_tenant = m.sign(&serde_json::json!({"sub": "u", "exp": 4_000_000_000u64}))?;
    /// # let _ = no_tenant;
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn sign(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, &self.key)
    }

    /// A token that expired an hour ago (beyond any leeway).
    ///
    /// # Errors
    ///
    /// Signing errors from `jsonwebtoken`.
    ///
    /// ```
    /// let token = streamer_handlers::testing::TokenMinter::dev_rsa()?.expired("u", "t")?;
    /// # let _ = token;
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn expired(&self, sub: &str, tenant_id: &str) -> Result<String, jsonwebtoken::errors::Error> {
        let mut claims = self.claims(sub, tenant_id, Duration::ZERO);
        let now = self.clock.now_millis() / 1000;
        claims["iat"] = json!(now.saturating_sub(7200));
        claims["exp"] = json!(now.saturating_sub(3600));
        self.sign(&claims)
    }

    /// A well-formed `RS256` token signed by a key nobody trusts: a bad signature for an
    /// `RS256` configuration.
    ///
    /// # Errors
    ///
    /// Signing errors from `jsonwebtoken`.
    ///
    /// ```
    /// let token = streamer_handlers::testing::TokenMinter::dev_rsa()?.bad_signature("u", "t")?;
    /// # let _ = token;
    /// # Ok::<(), jsonwebtoken::errors::Error>(())
    /// ```
    pub fn bad_signature(&self, sub: &str, tenant_id: &str) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = self.claims(sub, tenant_id, Duration::from_secs(300));
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.untrusted)
    }
}
