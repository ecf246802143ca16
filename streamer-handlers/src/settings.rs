//! Settings read and validated once, at init, from an injected environment
//! ([`streamer_obs::config::EnvVars`]).
//!
//! | variable | required | default | meaning |
//! |---|---|---|---|
//! | `JWT_PUBLIC_KEY` | yes (connect) | | the token issuer's public key, PEM (RSA ≥ 2048 bits, or EC P-256 / P-384); newlines may be real, `\r\n`, literal `\n` or flattened to spaces |
//! | `JWT_ALGORITHMS` | no | `RS256` | the one accepted algorithm (a list naming two is refused: RFC 8725 §3.1): `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384`; each must match the key (RSA key: `RS*`/`PS*`; P-256: `ES256`; P-384: `ES384`). `none` and `HS*` are always refused |
//! | `JWT_ISSUER` | no | | when set, tokens must carry exactly this `iss` |
//! | `JWT_AUDIENCE` | no | | when set, tokens must carry this value in `aud` |
//! | `JWT_LEEWAY_SECONDS` | no | `30` | clock-skew allowance for `exp`, `nbf` and `iat` (0 to 300) |
//! | `ALLOWED_TENANTS` | no | (all) | comma list of tenant ids (trimmed, empties dropped); unset or blank means every tenant; only separators (`" , "`) is refused |
//! | `CONNECTIONS_TABLE` | yes (DynamoDB store) | | DynamoDB table name |
//! | `CONNECTION_TTL_HOURS` | no | `24` | lifetime of a connection record (1 to 8760) |
//!
//! A missing or invalid setting is a [`SettingsError`] naming the variable; its message
//! never contains key material.
//!
//! ```
//! use streamer_handlers::settings::{Settings, SettingsError};
//! use streamer_obs::config::EnvVars;
//!
//! let pem = include_str!("../../examples/keys/rsa-public.pem");
//! let env = EnvVars::from_pairs([
//!     ("JWT_PUBLIC_KEY", pem),
//!     ("ALLOWED_TENANTS", " acme, ,globex "),
//!     ("CONNECTIONS_TABLE", "streamer-dev-connections"),
//! ]);
//! let settings = Settings::from_env(&env)?;
//! assert_eq!(settings.jwt().algorithms(), &[jsonwebtoken::Algorithm::RS256]);
//! assert!(settings.allowed_tenants().is_allowed("acme"));
//! assert!(!settings.allowed_tenants().is_allowed("initech"));
//! assert_eq!(settings.store().connections_table()?, "streamer-dev-connections");
//! assert_eq!(settings.store().connection_ttl().as_secs(), 24 * 3600);
//!
//! let err = Settings::from_env(&EnvVars::empty()).unwrap_err();
//! assert_eq!(err.setting(), "JWT_PUBLIC_KEY");
//! # Ok::<(), SettingsError>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use streamer_obs::config::EnvVars;

/// `JWT_PUBLIC_KEY`: the issuer's public key (PEM, RSA or EC).
pub const JWT_PUBLIC_KEY: &str = "JWT_PUBLIC_KEY";
/// `JWT_ALGORITHMS`: the one accepted signature algorithm (default `RS256`; a comma list
/// naming more than one is refused, RFC 8725 §3.1).
pub const JWT_ALGORITHMS: &str = "JWT_ALGORITHMS";
/// `JWT_ISSUER`: the required `iss` claim, when set.
pub const JWT_ISSUER: &str = "JWT_ISSUER";
/// `JWT_AUDIENCE`: the required `aud` member, when set.
pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
/// `JWT_LEEWAY_SECONDS`: clock-skew allowance (default 30, at most 300).
pub const JWT_LEEWAY_SECONDS: &str = "JWT_LEEWAY_SECONDS";
/// `ALLOWED_TENANTS`: comma list of allowed tenant ids; empty means all.
pub const ALLOWED_TENANTS: &str = "ALLOWED_TENANTS";
/// `CONNECTIONS_TABLE`: the DynamoDB connections table.
pub const CONNECTIONS_TABLE: &str = "CONNECTIONS_TABLE";
/// `CONNECTION_TTL_HOURS`: lifetime of a connection record in hours (default 24).
pub const CONNECTION_TTL_HOURS: &str = "CONNECTION_TTL_HOURS";

/// Default accepted algorithm.
pub const DEFAULT_ALGORITHM: Algorithm = Algorithm::RS256;
/// Default clock-skew allowance for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Largest accepted `JWT_LEEWAY_SECONDS`.
pub const MAX_LEEWAY_SECONDS: u64 = 300;
/// Default `CONNECTION_TTL_HOURS`.
pub const DEFAULT_CONNECTION_TTL_HOURS: u64 = 24;
/// Largest accepted `CONNECTION_TTL_HOURS` (one year).
pub const MAX_CONNECTION_TTL_HOURS: u64 = 8760;
/// Smallest accepted RSA modulus (RFC 8725 §3.5 defers to NIST: 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;

/// The asymmetric algorithms this crate accepts.
pub const SUPPORTED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// A missing or invalid setting. The message names the variable and never contains
/// key material or tokens.
///
/// ```
/// use streamer_handlers::settings::SettingsError;
/// let err = SettingsError::Missing { setting: "JWT_PUBLIC_KEY" };
/// assert_eq!(err.setting(), "JWT_PUBLIC_KEY");
/// assert_eq!(err.to_string(), "JWT_PUBLIC_KEY is not set");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A required variable is unset or blank.
    #[error("{setting} is not set")]
    Missing {
        /// The variable's name.
        setting: &'static str,
    },
    /// A variable holds an unusable value.
    #[error("{setting} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        setting: &'static str,
        /// What is wrong, in words written by this crate (never the value of a key).
        reason: String,
    },
}

impl SettingsError {
    /// The name of the offending variable.
    ///
    /// ```
    /// use streamer_handlers::settings::SettingsError;
    /// let err = SettingsError::Invalid { setting: "CONNECTION_TTL_HOURS", reason: "must be positive".into() };
    /// assert_eq!(err.setting(), "CONNECTION_TTL_HOURS");
    /// ```
    pub fn setting(&self) -> &'static str {
        match self {
            SettingsError::Missing { setting } | SettingsError::Invalid { setting, .. } => setting,
        }
    }

    fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        SettingsError::Invalid { setting, reason: reason.into() }
    }
}

/// The kind of public key configured.
///
/// ```
/// use streamer_handlers::settings::KeyKind;
/// assert_eq!(KeyKind::EcP256.to_string(), "EC P-256");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// An RSA public key.
    Rsa,
    /// An EC public key on P-256 (`ES256`).
    EcP256,
    /// An EC public key on P-384 (`ES384`).
    EcP384,
}

impl KeyKind {
    /// Whether `alg` may be used with a key of this kind.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::settings::KeyKind;
    /// assert!(KeyKind::Rsa.accepts(Algorithm::PS256));
    /// assert!(!KeyKind::Rsa.accepts(Algorithm::HS256));
    /// assert!(!KeyKind::EcP256.accepts(Algorithm::ES384));
    /// ```
    pub fn accepts(self, alg: Algorithm) -> bool {
        match self {
            KeyKind::Rsa => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            KeyKind::EcP256 => alg == Algorithm::ES256,
            KeyKind::EcP384 => alg == Algorithm::ES384,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Rsa => "RSA",
            KeyKind::EcP256 => "EC P-256",
            KeyKind::EcP384 => "EC P-384",
        })
    }
}

/// A validated public key for token verification. `Debug` shows only its kind.
///
/// ```
/// use streamer_handlers::settings::{KeyKind, PublicKey};
/// let key = PublicKey::from_pem(include_str!("../../examples/keys/ec-p256-public.pem"))?;
/// assert_eq!(key.kind(), KeyKind::EcP256);
/// assert_eq!(format!("{key:?}"), "PublicKey { kind: EcP256 }");
/// # Ok::<(), streamer_handlers::settings::SettingsError>(())
/// ```
#[derive(Clone)]
pub struct PublicKey {
    key: DecodingKey,
    kind: KeyKind,
    /// An RSA key's modulus `n`, big-endian without leading zeros (the range check of a
    /// signature, see `JwtVerifier::verify`); empty for an EC key.
    rsa_modulus: Box<[u8]>,
}

impl PublicKey {
    /// Parses a PEM public key (`PUBLIC KEY` (SPKI) for RSA or EC, or `RSA PUBLIC KEY`).
    /// Newlines may be `\r\n`, literal `\n` sequences or flattened to spaces (as often
    /// happens to keys stored in environment variables): the block is rebuilt first.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] for `JWT_PUBLIC_KEY` when the text is not such a key,
    /// holds a private key, is an RSA key under 2048 bits or an EC key on another curve.
    ///
    /// ```
    /// use streamer_handlers::settings::PublicKey;
    /// let err = PublicKey::from_pem("not a key").unwrap_err();
    /// assert_eq!(err.setting(), "JWT_PUBLIC_KEY");
    /// ```
    pub fn from_pem(pem: &str) -> Result<Self, SettingsError> {
        let text = pem.trim();
        if text.is_empty() {
            return Err(SettingsError::Missing { setting: JWT_PUBLIC_KEY });
        }
        if text.contains("PRIVATE KEY") {
            return Err(SettingsError::invalid(
                JWT_PUBLIC_KEY,
                "holds a private key; configure only the issuer's public key",
            ));
        }
        let Some(text) = canonical_pem(text) else {
            return Err(SettingsError::invalid(
                JWT_PUBLIC_KEY,
                "is not a PEM public key (expected one -----BEGIN ... PUBLIC KEY----- block)",
            ));
        };
        if let Ok(key) = DecodingKey::from_rsa_pem(text.as_bytes()) {
            let modulus = key
                .try_get_as_bytes()
                .ok()
                .and_then(rsa_modulus)
                .ok_or_else(|| SettingsError::invalid(JWT_PUBLIC_KEY, "is not a well-formed RSA public key"))?;
            let bits = modulus_bits(modulus);
            if bits < MIN_RSA_BITS {
                return Err(SettingsError::invalid(
                    JWT_PUBLIC_KEY,
                    format!("is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"),
                ));
            }
            let rsa_modulus = modulus.into();
            return Ok(PublicKey { key, kind: KeyKind::Rsa, rsa_modulus });
        }
        if let Ok(key) = DecodingKey::from_ec_pem(text.as_bytes()) {
            // The curve named in the key's algorithm identifier (a point of the right
            // length can be on another curve of the same size: secp256k1, brainpool).
            let Some(kind) = pem_der(&text).as_deref().and_then(ec_curve) else {
                return Err(SettingsError::invalid(
                    JWT_PUBLIC_KEY,
                    "is an EC key on an unsupported curve (P-256 and P-384 are supported)",
                ));
            };
            return Ok(PublicKey { key, kind, rsa_modulus: Box::default() });
        }
        Err(SettingsError::invalid(JWT_PUBLIC_KEY, "is not an RSA or EC public key in PEM format"))
    }

    /// The kind of key.
    ///
    /// ```
    /// use streamer_handlers::settings::{KeyKind, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// assert_eq!(key.kind(), KeyKind::Rsa);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The key in `jsonwebtoken`'s form.
    ///
    /// ```
    /// use streamer_handlers::settings::PublicKey;
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// assert_eq!(key.decoding_key().family(), jsonwebtoken::AlgorithmFamily::Rsa);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    /// An RSA key's modulus `n` (big-endian, without leading zeros); `None` for an EC key.
    ///
    /// ```
    /// use streamer_handlers::settings::PublicKey;
    /// let rsa = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// assert_eq!(rsa.rsa_modulus().map(<[u8]>::len), Some(256));
    /// let ec = PublicKey::from_pem(include_str!("../../examples/keys/ec-p256-public.pem"))?;
    /// assert_eq!(ec.rsa_modulus(), None);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn rsa_modulus(&self) -> Option<&[u8]> {
        (!self.rsa_modulus.is_empty()).then_some(&*self.rsa_modulus)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").field("kind", &self.kind).finish()
    }
}

/// Rebuilds one PEM block in canonical form (64-column base64 lines, `\n` endings), so a
/// key whose newlines were flattened to spaces, `\r\n` or literal `\n` sequences (as
/// environment variables and consoles often do) still parses. `None` when the text is
/// not a single `-----BEGIN <label>-----` ... `-----END <label>-----` block.
fn canonical_pem(text: &str) -> Option<String> {
    let text = text.replace("\\n", "\n");
    let text = text.trim();
    let after_begin = text.strip_prefix("-----BEGIN ")?;
    let (label, rest) = after_begin.split_once("-----")?;
    let end_marker = format!("-----END {label}-----");
    let body = rest.trim_end().strip_suffix(end_marker.as_str())?;
    if label.is_empty() || label.len() > 40 || body.contains("-----") {
        return None;
    }
    let body: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
        return None;
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).ok()?);
        out.push('\n');
    }
    out.push_str(&end_marker);
    out.push('\n');
    Some(out)
}

/// The DER bytes of a canonical PEM block ([`canonical_pem`]).
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The curve of a DER `SubjectPublicKeyInfo` EC key (RFC 5480 §2.1.1:
/// `SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve }, BIT STRING }`): P-256
/// (1.2.840.10045.3.1.7) or P-384 (1.3.132.0.34); `None` for any other curve or shape.
fn ec_curve(der: &[u8]) -> Option<KeyKind> {
    const ID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    let (0x30, spki, _) = der_tlv(der)? else { return None };
    let (0x30, algorithm, _) = der_tlv(spki)? else { return None };
    let (0x06, oid, rest) = der_tlv(algorithm)? else { return None };
    let (0x06, curve, _) = der_tlv(rest)? else { return None };
    match (oid == ID_EC_PUBLIC_KEY, curve) {
        (true, P256) => Some(KeyKind::EcP256),
        (true, P384) => Some(KeyKind::EcP384),
        _ => None,
    }
}

/// The modulus of a DER `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`), big-endian
/// without leading zeros; `None` when malformed or zero.
fn rsa_modulus(der: &[u8]) -> Option<&[u8]> {
    let (tag, body, _) = der_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, modulus, _) = der_tlv(body)?;
    if tag != 0x02 {
        return None;
    }
    let first = modulus.iter().position(|b| *b != 0)?;
    Some(&modulus[first..])
}

/// Bit length of a big-endian number without leading zeros (not empty).
fn modulus_bits(significant: &[u8]) -> usize {
    let lead = significant.first().copied().unwrap_or(0);
    (significant.len().saturating_sub(1)) * 8 + (8 - lead.leading_zeros() as usize)
}

/// One DER tag-length-value: (tag, contents, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let len_byte = *input.get(1)?;
    let (len, header) = if len_byte < 0x80 {
        (usize::from(len_byte), 2)
    } else {
        let n = usize::from(len_byte & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(2..2 + n)?;
        (bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), 2 + n)
    };
    let contents = input.get(header..header.checked_add(len)?)?;
    Some((tag, contents, input.get(header + len..)?))
}

/// Parses `JWT_ALGORITHMS` (comma list, trimmed, empties dropped, duplicates removed).
///
/// # Errors
///
/// [`SettingsError::Invalid`] naming `JWT_ALGORITHMS` for `none`, any `HS*`, an
/// unsupported or unknown name, or an empty list.
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use streamer_handlers::settings::parse_algorithms;
/// assert_eq!(parse_algorithms("RS256, PS256,RS256")?, vec![Algorithm::RS256, Algorithm::PS256]);
/// assert!(parse_algorithms("none").is_err());
/// assert!(parse_algorithms("HS256").is_err());
/// # Ok::<(), streamer_handlers::settings::SettingsError>(())
/// ```
pub fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, SettingsError> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let upper = name.to_ascii_uppercase();
        let alg = match upper.as_str() {
            "NONE" => {
                return Err(SettingsError::invalid(JWT_ALGORITHMS, "`none` (unsigned tokens) is never accepted"));
            }
            "HS256" | "HS384" | "HS512" => {
                return Err(SettingsError::invalid(
                    JWT_ALGORITHMS,
                    format!("{upper} is an HMAC algorithm; only asymmetric algorithms are accepted with a public key"),
                ));
            }
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            _ => {
                let shown = if name.len() <= 16 && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    format!("`{name}`")
                } else {
                    "an entry".to_owned()
                };
                return Err(SettingsError::invalid(
                    JWT_ALGORITHMS,
                    format!(
                        "{shown} is not a supported algorithm (supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384)"
                    ),
                ));
            }
        };
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    if out.is_empty() {
        return Err(SettingsError::invalid(JWT_ALGORITHMS, "lists no algorithm"));
    }
    Ok(out)
}

/// Everything token verification needs.
///
/// ```
/// use jsonwebtoken::Algorithm;
/// use streamer_handlers::settings::{JwtSettings, PublicKey};
/// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
/// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?.with_issuer("https://auth.example");
/// assert_eq!(jwt.issuer(), Some("https://auth.example"));
/// assert!(JwtSettings::new(jwt.public_key().clone(), vec![Algorithm::ES256]).is_err());
/// # Ok::<(), streamer_handlers::settings::SettingsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct JwtSettings {
    public_key: PublicKey,
    algorithms: Vec<Algorithm>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
}

impl JwtSettings {
    /// Settings for `key` accepting `algorithms`, with no issuer or audience check and
    /// the default leeway.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] naming `JWT_ALGORITHMS` when the list is empty, names
    /// more than one algorithm (RFC 8725 §3.1: "each key MUST be used with exactly one
    /// algorithm"; a key accepted under RS256 and PS256 verifies tokens of both), holds an
    /// algorithm this crate refuses, or one that does not match the key.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/ec-p256-public.pem"))?;
    /// assert!(JwtSettings::new(key.clone(), vec![Algorithm::ES256]).is_ok());
    /// assert_eq!(JwtSettings::new(key.clone(), vec![Algorithm::RS256]).unwrap_err().setting(), "JWT_ALGORITHMS");
    /// assert!(JwtSettings::new(key, vec![Algorithm::ES256, Algorithm::ES256]).is_err());
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn new(public_key: PublicKey, algorithms: Vec<Algorithm>) -> Result<Self, SettingsError> {
        if algorithms.is_empty() {
            return Err(SettingsError::invalid(JWT_ALGORITHMS, "lists no algorithm"));
        }
        if algorithms.len() > 1 {
            return Err(SettingsError::invalid(
                JWT_ALGORITHMS,
                "names more than one algorithm: one key is used with exactly one (RFC 8725 3.1)",
            ));
        }
        for alg in &algorithms {
            if !SUPPORTED_ALGORITHMS.contains(alg) {
                return Err(SettingsError::invalid(JWT_ALGORITHMS, format!("{alg:?} is not accepted")));
            }
            if !public_key.kind().accepts(*alg) {
                return Err(SettingsError::invalid(
                    JWT_ALGORITHMS,
                    format!("{alg:?} does not match the {} key in {JWT_PUBLIC_KEY}", public_key.kind()),
                ));
            }
        }
        Ok(JwtSettings { public_key, algorithms, issuer: None, audience: None, leeway: DEFAULT_LEEWAY })
    }

    /// Reads `JWT_PUBLIC_KEY`, `JWT_ALGORITHMS`, `JWT_ISSUER`, `JWT_AUDIENCE` and
    /// `JWT_LEEWAY_SECONDS`.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the first missing or invalid variable.
    ///
    /// ```
    /// use streamer_handlers::settings::JwtSettings;
    /// use streamer_obs::config::EnvVars;
    /// let env = EnvVars::from_pairs([
    ///     ("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem")),
    ///     ("JWT_ALGORITHMS", "HS256"),
    /// ]);
    /// assert_eq!(JwtSettings::from_env(&env).unwrap_err().setting(), "JWT_ALGORITHMS");
    /// ```
    pub fn from_env(env: &EnvVars) -> Result<Self, SettingsError> {
        let pem = non_blank(env, JWT_PUBLIC_KEY).ok_or(SettingsError::Missing { setting: JWT_PUBLIC_KEY })?;
        let key = PublicKey::from_pem(pem)?;
        let algorithms = match non_blank(env, JWT_ALGORITHMS) {
            Some(list) => parse_algorithms(list)?,
            None => vec![DEFAULT_ALGORITHM],
        };
        let mut settings = JwtSettings::new(key, algorithms)?;
        settings.issuer = non_blank(env, JWT_ISSUER).map(str::to_owned);
        settings.audience = non_blank(env, JWT_AUDIENCE).map(str::to_owned);
        if let Some(text) = non_blank(env, JWT_LEEWAY_SECONDS) {
            let secs = text.parse::<u64>().ok().filter(|s| *s <= MAX_LEEWAY_SECONDS).ok_or_else(|| {
                SettingsError::invalid(
                    JWT_LEEWAY_SECONDS,
                    format!("must be a whole number of seconds from 0 to {MAX_LEEWAY_SECONDS}"),
                )
            })?;
            settings.leeway = Duration::from_secs(secs);
        }
        Ok(settings)
    }

    /// Requires this `iss`.
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?.with_issuer("https://auth.example");
    /// assert_eq!(jwt.issuer(), Some("https://auth.example"));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires this member in `aud`.
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?.with_audience("streamer");
    /// assert_eq!(jwt.audience(), Some("streamer"));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets the clock-skew allowance (clamped to [`MAX_LEEWAY_SECONDS`]).
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use std::time::Duration;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?.with_leeway(Duration::from_secs(5));
    /// assert_eq!(jwt.leeway(), Duration::from_secs(5));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(Duration::from_secs(MAX_LEEWAY_SECONDS));
        self
    }

    /// The verification key.
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// use streamer_handlers::settings::KeyKind;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?;
    /// assert_eq!(jwt.public_key().kind(), KeyKind::Rsa);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The accepted algorithm, as a list of one (one key, one algorithm: RFC 8725 §3.1),
    /// matching the key.
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::PS256])?;
    /// assert_eq!(jwt.algorithms(), &[Algorithm::PS256]);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The required issuer, if any.
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?;
    /// assert_eq!(jwt.issuer(), None);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The required audience member, if any.
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?;
    /// assert_eq!(jwt.audience(), None);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The clock-skew allowance.
    ///
    /// ```
    /// # use jsonwebtoken::Algorithm;
    /// # use streamer_handlers::settings::{JwtSettings, PublicKey};
    /// # let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let jwt = JwtSettings::new(key, vec![Algorithm::RS256])?;
    /// assert_eq!(jwt.leeway(), streamer_handlers::settings::DEFAULT_LEEWAY);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn leeway(&self) -> Duration {
        self.leeway
    }
}

/// The tenant allow-list (`ALLOWED_TENANTS`); empty allows every tenant. Matching is
/// exact (case-sensitive).
///
/// ```
/// use streamer_handlers::settings::AllowedTenants;
/// let all = AllowedTenants::parse("");
/// assert!(all.allows_all() && all.is_allowed("anyone"));
/// let some = AllowedTenants::parse("acme, globex,,");
/// assert!(some.is_allowed("acme") && !some.is_allowed("ACME"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedTenants {
    tenants: BTreeSet<String>,
}

impl AllowedTenants {
    /// Every tenant allowed.
    ///
    /// ```
    /// use streamer_handlers::settings::AllowedTenants;
    /// assert!(AllowedTenants::all().is_allowed("any-tenant"));
    /// ```
    pub fn all() -> Self {
        Self::default()
    }

    /// Parses a comma list (entries trimmed, empties dropped). Lenient: a list of only
    /// separators allows every tenant here; [`Self::from_env`] refuses it.
    ///
    /// ```
    /// use streamer_handlers::settings::AllowedTenants;
    /// let t = AllowedTenants::parse(" acme , ,globex");
    /// assert_eq!(t.tenants().collect::<Vec<_>>(), ["acme", "globex"]);
    /// ```
    pub fn parse(list: &str) -> Self {
        Self { tenants: list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect() }
    }

    /// Reads `ALLOWED_TENANTS`: unset or blank means all. A value that holds separators
    /// but no tenant (`" , "`, as a template that filled in nothing writes it) is refused
    /// rather than read as "every tenant": an allow-list that was meant to list tenants
    /// must not open the function to all of them.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] for a list of only separators.
    ///
    /// ```
    /// use streamer_handlers::settings::AllowedTenants;
    /// use streamer_obs::config::EnvVars;
    /// let t = AllowedTenants::from_env(&EnvVars::from_pairs([("ALLOWED_TENANTS", "a, b,")]))?;
    /// assert_eq!(t.tenants().collect::<Vec<_>>(), ["a", "b"]);
    /// assert!(AllowedTenants::from_env(&EnvVars::from_pairs([("ALLOWED_TENANTS", " ")]))?.allows_all());
    /// assert!(AllowedTenants::from_env(&EnvVars::from_pairs([("ALLOWED_TENANTS", " , ")])).is_err());
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn from_env(env: &EnvVars) -> Result<Self, SettingsError> {
        let Some(value) = env.get(ALLOWED_TENANTS) else { return Ok(Self::all()) };
        let tenants = Self::parse(value);
        if tenants.allows_all() && !value.trim().is_empty() {
            return Err(SettingsError::Invalid {
                setting: ALLOWED_TENANTS,
                reason: "lists no tenant, only separators (leave it unset or empty to allow every tenant)".into(),
            });
        }
        Ok(tenants)
    }

    /// Whether every tenant is allowed.
    ///
    /// ```
    /// use streamer_handlers::settings::AllowedTenants;
    /// assert!(AllowedTenants::parse(" , ").allows_all());
    /// assert!(!AllowedTenants::parse("acme").allows_all());
    /// ```
    pub fn allows_all(&self) -> bool {
        self.tenants.is_empty()
    }

    /// Whether `tenant` is allowed (exact match).
    ///
    /// ```
    /// use streamer_handlers::settings::AllowedTenants;
    /// let t = AllowedTenants::parse("acme");
    /// assert!(t.is_allowed("acme") && !t.is_allowed("Acme"));
    /// ```
    pub fn is_allowed(&self, tenant: &str) -> bool {
        self.tenants.is_empty() || self.tenants.contains(tenant)
    }

    /// The listed tenants, sorted.
    ///
    /// ```
    /// use streamer_handlers::settings::AllowedTenants;
    /// assert_eq!(AllowedTenants::parse("b,a").tenants().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.iter().map(String::as_str)
    }
}

/// Connection-store settings: `CONNECTIONS_TABLE` (needed by the DynamoDB store only)
/// and `CONNECTION_TTL_HOURS`.
///
/// ```
/// use streamer_handlers::settings::StoreSettings;
/// use streamer_obs::config::EnvVars;
/// let s = StoreSettings::from_env(&EnvVars::from_pairs([("CONNECTION_TTL_HOURS", "2")]))?;
/// assert_eq!(s.connection_ttl().as_secs(), 7200);
/// assert_eq!(s.connections_table().unwrap_err().setting(), "CONNECTIONS_TABLE");
/// # Ok::<(), streamer_handlers::settings::SettingsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    connections_table: Option<String>,
    connection_ttl: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self { connections_table: None, connection_ttl: Duration::from_secs(DEFAULT_CONNECTION_TTL_HOURS * 3600) }
    }
}

impl StoreSettings {
    /// Reads `CONNECTIONS_TABLE` (optional here; validated when present) and
    /// `CONNECTION_TTL_HOURS`.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] for a table name DynamoDB would refuse or a TTL that is
    /// not a whole number of hours from 1 to 8760.
    ///
    /// ```
    /// use streamer_handlers::settings::StoreSettings;
    /// use streamer_obs::config::EnvVars;
    /// let err = StoreSettings::from_env(&EnvVars::from_pairs([("CONNECTION_TTL_HOURS", "0")])).unwrap_err();
    /// assert_eq!(err.setting(), "CONNECTION_TTL_HOURS");
    /// ```
    pub fn from_env(env: &EnvVars) -> Result<Self, SettingsError> {
        let connections_table = match non_blank(env, CONNECTIONS_TABLE) {
            Some(name) => Some(validate_table_name(name)?),
            None => None,
        };
        let hours = match non_blank(env, CONNECTION_TTL_HOURS) {
            None => DEFAULT_CONNECTION_TTL_HOURS,
            Some(text) => {
                text.parse::<u64>().ok().filter(|h| (1..=MAX_CONNECTION_TTL_HOURS).contains(h)).ok_or_else(|| {
                    SettingsError::invalid(
                        CONNECTION_TTL_HOURS,
                        format!("must be a positive whole number of hours (1 to {MAX_CONNECTION_TTL_HOURS})"),
                    )
                })?
            }
        };
        Ok(Self { connections_table, connection_ttl: Duration::from_secs(hours * 3600) })
    }

    /// Sets the table name.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] naming `CONNECTIONS_TABLE` for a name DynamoDB refuses.
    ///
    /// ```
    /// use streamer_handlers::settings::StoreSettings;
    /// let s = StoreSettings::default().with_connections_table("connections")?;
    /// assert_eq!(s.connections_table()?, "connections");
    /// assert!(StoreSettings::default().with_connections_table("a b").is_err());
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn with_connections_table(mut self, name: &str) -> Result<Self, SettingsError> {
        self.connections_table = Some(validate_table_name(name)?);
        Ok(self)
    }

    /// Sets the record lifetime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::settings::StoreSettings;
    /// let s = StoreSettings::default().with_connection_ttl(Duration::from_secs(60));
    /// assert_eq!(s.connection_ttl(), Duration::from_secs(60));
    /// ```
    pub fn with_connection_ttl(mut self, ttl: Duration) -> Self {
        self.connection_ttl = ttl;
        self
    }

    /// The DynamoDB table name.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] naming `CONNECTIONS_TABLE` when it was not set.
    ///
    /// ```
    /// use streamer_handlers::settings::StoreSettings;
    /// use streamer_obs::config::EnvVars;
    /// let s = StoreSettings::from_env(&EnvVars::from_pairs([("CONNECTIONS_TABLE", "connections")]))?;
    /// assert_eq!(s.connections_table()?, "connections");
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn connections_table(&self) -> Result<&str, SettingsError> {
        self.connections_table.as_deref().ok_or(SettingsError::Missing { setting: CONNECTIONS_TABLE })
    }

    /// The lifetime of a connection record (its `ttl` is `connectedAt` plus this).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::settings::StoreSettings;
    /// assert_eq!(StoreSettings::default().connection_ttl(), Duration::from_secs(24 * 3600));
    /// ```
    pub fn connection_ttl(&self) -> Duration {
        self.connection_ttl
    }
}

fn validate_table_name(name: &str) -> Result<String, SettingsError> {
    let name = name.trim();
    let ok = (3..=255).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(SettingsError::invalid(
            CONNECTIONS_TABLE,
            "must be 3 to 255 characters of letters, digits, `_`, `-` and `.`",
        ))
    }
}

fn non_blank<'a>(env: &'a EnvVars, name: &str) -> Option<&'a str> {
    env.get(name).map(str::trim).filter(|v| !v.is_empty())
}

/// All settings of the `$connect` handler: JWT verification, tenant allow-list, store.
///
/// ```
/// use streamer_handlers::settings::Settings;
/// use streamer_obs::config::EnvVars;
/// let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem"))]);
/// let settings = Settings::from_env(&env)?;
/// assert!(settings.allowed_tenants().allows_all());
/// assert!(!format!("{settings:?}").contains("BEGIN"));
/// # Ok::<(), streamer_handlers::settings::SettingsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    jwt: JwtSettings,
    allowed_tenants: AllowedTenants,
    store: StoreSettings,
}

impl Settings {
    /// Assembles settings from parts.
    ///
    /// ```
    /// use streamer_handlers::settings::{AllowedTenants, JwtSettings, PublicKey, Settings, StoreSettings};
    /// let key = PublicKey::from_pem(include_str!("../../examples/keys/rsa-public.pem"))?;
    /// let jwt = JwtSettings::new(key, vec![jsonwebtoken::Algorithm::RS256])?;
    /// let settings = Settings::new(jwt, AllowedTenants::all(), StoreSettings::default());
    /// assert!(settings.allowed_tenants().allows_all());
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn new(jwt: JwtSettings, allowed_tenants: AllowedTenants, store: StoreSettings) -> Self {
        Self { jwt, allowed_tenants, store }
    }

    /// Reads every setting once.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the first missing or invalid variable.
    /// ```
    /// use streamer_handlers::settings::Settings;
    /// use streamer_obs::config::EnvVars;
    /// let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem")), ("JWT_ALGORITHMS", "none")]);
    /// assert_eq!(Settings::from_env(&env).unwrap_err().setting(), "JWT_ALGORITHMS");
    /// ```
    pub fn from_env(env: &EnvVars) -> Result<Self, SettingsError> {
        Ok(Self {
            jwt: JwtSettings::from_env(env)?,
            allowed_tenants: AllowedTenants::from_env(env)?,
            store: StoreSettings::from_env(env)?,
        })
    }

    /// JWT verification settings.
    ///
    /// ```
    /// use streamer_handlers::settings::Settings;
    /// use streamer_obs::config::EnvVars;
    /// let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem")), ("JWT_ISSUER", "https://auth.example")]);
    /// assert_eq!(Settings::from_env(&env)?.jwt().issuer(), Some("https://auth.example"));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn jwt(&self) -> &JwtSettings {
        &self.jwt
    }

    /// The tenant allow-list.
    ///
    /// ```
    /// use streamer_handlers::settings::Settings;
    /// use streamer_obs::config::EnvVars;
    /// let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem")), ("ALLOWED_TENANTS", "acme")]);
    /// assert!(!Settings::from_env(&env)?.allowed_tenants().is_allowed("globex"));
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn allowed_tenants(&self) -> &AllowedTenants {
        &self.allowed_tenants
    }

    /// Connection-store settings.
    ///
    /// ```
    /// use streamer_handlers::settings::Settings;
    /// use streamer_obs::config::EnvVars;
    /// let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem")), ("CONNECTION_TTL_HOURS", "1")]);
    /// assert_eq!(Settings::from_env(&env)?.store().connection_ttl().as_secs(), 3600);
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn store(&self) -> &StoreSettings {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_PUB: &str = include_str!("../../examples/keys/rsa-public.pem");
    const RSA_PRIV: &str = include_str!("../../examples/keys/rsa-private.pem");
    const EC256_PUB: &str = include_str!("../../examples/keys/ec-p256-public.pem");
    const EC384_PUB: &str = include_str!("../../examples/keys/ec-p384-public.pem");
    // A 1024-bit RSA public key (generated with openssl for this test only).
    const RSA_1024_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDJDQ16vWuz7bqE1pg88ayk46mb
qmFTi0VBL9F69Rpxjixg7YbjYu35qNnJutMy7K4l/MvzpLcjsjBzfo0gI+GDQKDs
Zvv33PjN4N354pnINCzHlkZTLnDTMTsib0tUFjjDfst+rtxrkn7fmkv6MdqlOyiY
Z9xlZfqBUtaKNjYESwIDAQAB
-----END PUBLIC KEY-----";

    fn env(pairs: &[(&str, &str)]) -> EnvVars {
        EnvVars::from_pairs(pairs.iter().copied())
    }

    fn invalid(err: SettingsError, setting: &str) -> String {
        match err {
            SettingsError::Invalid { setting: s, reason } => {
                assert_eq!(s, setting);
                reason
            }
            other => panic!("expected Invalid for {setting}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_with_only_the_key() {
        let s = Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB)])).unwrap();
        assert_eq!(s.jwt().algorithms(), &[Algorithm::RS256]);
        assert_eq!(s.jwt().issuer(), None);
        assert_eq!(s.jwt().audience(), None);
        assert_eq!(s.jwt().leeway(), DEFAULT_LEEWAY);
        assert!(s.allowed_tenants().allows_all());
        assert_eq!(s.store().connection_ttl(), Duration::from_secs(24 * 3600));
        assert_eq!(s.store().connections_table(), Err(SettingsError::Missing { setting: CONNECTIONS_TABLE }));
    }

    #[test]
    fn everything_set() {
        let s = Settings::from_env(&env(&[
            (JWT_PUBLIC_KEY, RSA_PUB),
            (JWT_ALGORITHMS, " PS512 , "),
            (JWT_ISSUER, "https://auth.example"),
            (JWT_AUDIENCE, "streamer"),
            (JWT_LEEWAY_SECONDS, "10"),
            (ALLOWED_TENANTS, " acme ,, globex ,"),
            (CONNECTIONS_TABLE, "streamer-dev-connections"),
            (CONNECTION_TTL_HOURS, "48"),
        ]))
        .unwrap();
        assert_eq!(s.jwt().algorithms(), &[Algorithm::PS512]);
        assert_eq!(s.jwt().issuer(), Some("https://auth.example"));
        assert_eq!(s.jwt().audience(), Some("streamer"));
        assert_eq!(s.jwt().leeway(), Duration::from_secs(10));
        assert_eq!(s.allowed_tenants().tenants().collect::<Vec<_>>(), ["acme", "globex"]);
        assert_eq!(s.store().connections_table(), Ok("streamer-dev-connections"));
        assert_eq!(s.store().connection_ttl(), Duration::from_secs(48 * 3600));
    }

    #[test]
    fn missing_public_key() {
        assert_eq!(Settings::from_env(&env(&[])).unwrap_err(), SettingsError::Missing { setting: JWT_PUBLIC_KEY });
        // An allow-list of only separators is refused, not read as "every tenant".
        for list in [",", " , ", ",,\t,"] {
            invalid(
                Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (ALLOWED_TENANTS, list)])).unwrap_err(),
                ALLOWED_TENANTS,
            );
        }
        for blank in ["", "  "] {
            let s = Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (ALLOWED_TENANTS, blank)])).unwrap();
            assert!(s.allowed_tenants().allows_all());
        }
        assert_eq!(
            Settings::from_env(&env(&[(JWT_PUBLIC_KEY, "  \n ")])).unwrap_err(),
            SettingsError::Missing { setting: JWT_PUBLIC_KEY }
        );
    }

    #[test]
    fn garbage_public_key() {
        let secret_looking = "-----BEGIN PUBLIC KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END PUBLIC KEY-----";
        let err = Settings::from_env(&env(&[(JWT_PUBLIC_KEY, secret_looking)])).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("c2VjcmV0LW1hdGVyaWFs"), "{text}");
        invalid(err, JWT_PUBLIC_KEY);
        invalid(Settings::from_env(&env(&[(JWT_PUBLIC_KEY, "hello")])).unwrap_err(), JWT_PUBLIC_KEY);
    }

    #[test]
    fn private_key_refused_without_echoing_it() {
        let err = Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PRIV)])).unwrap_err();
        let text = format!("{err} {err:?}");
        let body_line = RSA_PRIV.lines().nth(1).unwrap();
        assert!(!text.contains(body_line));
        assert!(invalid(err, JWT_PUBLIC_KEY).contains("private key"));
    }

    #[test]
    fn short_rsa_key_refused() {
        let reason = invalid(Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_1024_PUB)])).unwrap_err(), JWT_PUBLIC_KEY);
        assert!(reason.contains("1024-bit"), "{reason}");
    }

    #[test]
    fn escaped_newlines_accepted() {
        let escaped = RSA_PUB.trim().replace('\n', "\\n");
        let s = Settings::from_env(&env(&[(JWT_PUBLIC_KEY, &escaped)])).unwrap();
        assert_eq!(s.jwt().public_key().kind(), KeyKind::Rsa);
    }

    #[test]
    fn flattened_or_crlf_pem_accepted() {
        for text in [RSA_PUB.replace('\n', "\r\n"), RSA_PUB.replace('\n', " "), format!("\n  {RSA_PUB}  \n")] {
            assert_eq!(PublicKey::from_pem(&text).unwrap().kind(), KeyKind::Rsa, "{text:?}");
        }
        let flat_ec = EC256_PUB.replace('\n', " ");
        assert_eq!(PublicKey::from_pem(&flat_ec).unwrap().kind(), KeyKind::EcP256);
    }

    #[test]
    fn several_pem_blocks_or_trailing_text_refused() {
        let two = format!("{RSA_PUB}{EC256_PUB}");
        invalid(PublicKey::from_pem(&two).unwrap_err(), JWT_PUBLIC_KEY);
        invalid(PublicKey::from_pem(&format!("{RSA_PUB}trailing")).unwrap_err(), JWT_PUBLIC_KEY);
        invalid(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----").unwrap_err(),
            JWT_PUBLIC_KEY,
        );
    }

    #[test]
    fn ec_keys_detect_their_curve() {
        assert_eq!(PublicKey::from_pem(EC256_PUB).unwrap().kind(), KeyKind::EcP256);
        assert_eq!(PublicKey::from_pem(EC384_PUB).unwrap().kind(), KeyKind::EcP384);
        let s = Settings::from_env(&env(&[(JWT_PUBLIC_KEY, EC256_PUB), (JWT_ALGORITHMS, "ES256")])).unwrap();
        assert_eq!(s.jwt().algorithms(), &[Algorithm::ES256]);
    }

    #[test]
    fn none_algorithm_refused() {
        for none in ["none", "None", "NONE", "RS256,none"] {
            let reason = invalid(
                Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (JWT_ALGORITHMS, none)])).unwrap_err(),
                JWT_ALGORITHMS,
            );
            assert!(reason.contains("none"), "{reason}");
        }
    }

    #[test]
    fn hmac_algorithms_refused() {
        for hs in ["HS256", "hs384", "RS256, HS512"] {
            let reason = invalid(
                Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (JWT_ALGORITHMS, hs)])).unwrap_err(),
                JWT_ALGORITHMS,
            );
            assert!(reason.contains("HMAC"), "{reason}");
        }
    }

    #[test]
    fn unknown_and_empty_algorithm_lists_refused() {
        invalid(
            Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (JWT_ALGORITHMS, "RS1024")])).unwrap_err(),
            JWT_ALGORITHMS,
        );
        invalid(
            Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (JWT_ALGORITHMS, "EdDSA")])).unwrap_err(),
            JWT_ALGORITHMS,
        );
        invalid(
            Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (JWT_ALGORITHMS, " , ,")])).unwrap_err(),
            JWT_ALGORITHMS,
        );
        let reason = invalid(
            Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (JWT_ALGORITHMS, "-----BEGIN PRIVATE")])).unwrap_err(),
            JWT_ALGORITHMS,
        );
        assert!(!reason.contains("BEGIN"), "{reason}");
    }

    #[test]
    fn algorithm_must_match_key_family() {
        invalid(
            Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (JWT_ALGORITHMS, "ES256")])).unwrap_err(),
            JWT_ALGORITHMS,
        );
        invalid(Settings::from_env(&env(&[(JWT_PUBLIC_KEY, EC256_PUB)])).unwrap_err(), JWT_ALGORITHMS); // default RS256
        invalid(
            Settings::from_env(&env(&[(JWT_PUBLIC_KEY, EC256_PUB), (JWT_ALGORITHMS, "ES384")])).unwrap_err(),
            JWT_ALGORITHMS,
        );
        invalid(
            Settings::from_env(&env(&[(JWT_PUBLIC_KEY, EC384_PUB), (JWT_ALGORITHMS, "ES256")])).unwrap_err(),
            JWT_ALGORITHMS,
        );
    }

    #[test]
    fn invalid_leeway() {
        for bad in ["-1", "abc", "301", "1.5"] {
            invalid(
                Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB), (JWT_LEEWAY_SECONDS, bad)])).unwrap_err(),
                JWT_LEEWAY_SECONDS,
            );
        }
    }

    #[test]
    fn invalid_ttl_hours() {
        for bad in ["0", "-3", "abc", "1.5", "8761", "99999999999999999999"] {
            invalid(StoreSettings::from_env(&env(&[(CONNECTION_TTL_HOURS, bad)])).unwrap_err(), CONNECTION_TTL_HOURS);
        }
        assert_eq!(
            StoreSettings::from_env(&env(&[(CONNECTION_TTL_HOURS, " 1 ")])).unwrap().connection_ttl(),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn invalid_table_name() {
        for bad in ["ab", "has space", "semi;colon", &"x".repeat(256)] {
            invalid(StoreSettings::from_env(&env(&[(CONNECTIONS_TABLE, bad)])).unwrap_err(), CONNECTIONS_TABLE);
        }
    }

    #[test]
    fn debug_never_shows_key_material() {
        let s = Settings::from_env(&env(&[(JWT_PUBLIC_KEY, RSA_PUB)])).unwrap();
        let text = format!("{s:?}");
        for line in RSA_PUB.lines() {
            assert!(!text.contains(line), "{text}");
        }
    }
}
