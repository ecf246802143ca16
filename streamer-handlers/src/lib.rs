//! # streamer-handlers
//!
//! The foundation of the WebSocket `$connect` / `$disconnect` handlers:
//!
//! - [`settings`]: configuration read and validated once from an injected environment
//!   (`JWT_PUBLIC_KEY`, `JWT_ALGORITHMS`, `JWT_ISSUER`, `JWT_AUDIENCE`,
//!   `ALLOWED_TENANTS`, `CONNECTIONS_TABLE`, `CONNECTION_TTL_HOURS`); a missing or
//!   invalid setting is a typed error naming it;
//! - [`auth`]: token extraction, JWT verification following RFC 8725 (pinned asymmetric
//!   algorithms, required `exp`, leeway, issuer/audience, size limit) and the tenant
//!   allow-list, with a failure taxonomy whose client body never leaks the token or
//!   parser text;
//! - [`connect`] and [`disconnect`]: the `#[instrumented]` WebSocket handlers
//!   ([`connect::ConnectHandler`], [`disconnect::DisconnectHandler`]) run by the
//!   `connect` and `disconnect` Lambda binaries; [`response`]: their API Gateway answers;
//! - [`store`]: the connection record, its schema (defined once), the
//!   [`store::ConnectionStore`] trait and its in-memory and DynamoDB implementations.
//!
//! ```
//! use streamer_handlers::auth::Authenticator;
//! use streamer_handlers::settings::Settings;
//! use streamer_handlers::store::InMemoryConnectionStore;
//! use streamer_obs::config::EnvVars;
//!
//! let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem"))]);
//! let settings = Settings::from_env(&env)?;
//! let _auth = Authenticator::from_settings(&settings);
//! let _store = InMemoryConnectionStore::new().with_connection_ttl(settings.store().connection_ttl());
//! # Ok::<(), streamer_handlers::settings::SettingsError>(())
//! ```
//!
//! ## Feature flags
//!
//! - `testing`: `store::MockConnectionStore` (mockall) for failure injection, and the
//!   `testing` module: the committed development key pairs (TEST ONLY) and a token
//!   minter for tests and the local demo.

pub mod auth;
pub mod connect;
pub mod disconnect;
pub mod response;
pub mod settings;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
