//! Shared AWS SDK plumbing (feature `aws`, enabled by the API exporters): one
//! configuration loader with a single explicit HTTP client (rustls with the `ring`
//! provider), so the SDK crates build without their default TLS stacks.
//!
//! The endpoint can be overridden by the standard `AWS_ENDPOINT_URL` (and
//! `AWS_ENDPOINT_URL_<SERVICE>`) variables, which is how the tests point the real SDK
//! clients at an emulator on loopback.
//!
//! ```no_run
//! # async fn f() {
//! let config = streamer_obs::aws::load_config().await;
//! assert!(config.http_client().is_some());
//! # }
//! ```

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

/// The one HTTP client used by every SDK client the SDK builds (rustls + ring).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// Loads the SDK configuration from the environment (region, credentials, endpoint
/// overrides) with [`http_client`].
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client()).load().await
}

/// A configuration for an emulator on `endpoint` (fixed region, static dummy credentials).
///
/// ```no_run
/// # async fn f() {
/// let config = streamer_obs::aws::emulator_config("http://127.0.0.1:5000", "us-east-1").await;
/// assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
/// # }
/// ```
pub async fn emulator_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_credential_types::Credentials::from_keys("testing", "testing", None))
        .load()
        .await
}
