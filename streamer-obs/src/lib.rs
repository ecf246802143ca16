//! # streamer-obs
//!
//! Observability for Rust AWS Lambda functions: structured JSON logs (Lambda's
//! advanced-logging-controls shape, queryable in CloudWatch Logs Insights), built on
//! `tracing` and `lambda_runtime`.
//!
//! ```no_run
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde_json::Value;
//! use std::sync::Arc;
//! use streamer_obs::config::Config;
//! use streamer_obs::invocation::{ColdStartTracker, Invocation};
//!
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     let config = Config::from_env();
//!     let inv = Arc::new(Invocation::from_context(&event.context, &config, ColdStartTracker::global()));
//!     inv.scope(async move {
//!         streamer_obs::invocation::append_field("connection_id", "abc=");
//!         tracing::info!(route = "$connect", "Connection attempt");
//!         Ok(event.payload)
//!     })
//!     .await
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     streamer_obs::init()?;
//!     lambda_runtime::run(service_fn(handler)).await
//! }
//! ```
//!
//! ## Modules
//!
//! - [`instrumented`]: the attribute for handlers and the functions they call (one span,
//!   subsegment and lifecycle per invocation; see its argument reference).
//! - [`config`]: the environment read once into a [`config::Config`], with a builder.
//! - [`invocation`]: one invocation's context in a task-local; cold start; correlation fields.
//! - [`trace_header`]: the X-Ray trace header and its ids.
//! - [`log`]: the JSON log layer, sampling, buffering, redaction.
//! - [`metrics`]: CloudWatch metrics (EMF on stdout, `PutMetricData`), standard alarms.
//! - [`clock`]: injected time.
//! - [`xray`]: X-Ray subsegments, the UDP daemon emitter, `PutTraceSegments` (feature
//!   `xray-api`) and an AWS SDK interceptor (feature `aws-sdk`).
//! - `testing` (feature `testing`): capturing writer, fixed clock, `Context` builder.
//!
//! ## Feature flags
//!
//! - `testing`: the [`testing`](crate#modules) module.
//! - `xray-api`: the X-Ray `PutTraceSegments` emitter.
//! - `aws-sdk`: X-Ray subsegments around AWS SDK for Rust calls.
//! - `testing`: the [`testing`](crate#modules) module and `metrics::MockMetricsPublisher`.
//! - `cloudwatch`: the `PutMetricData` publisher and `PutMetricAlarm` for the standard alarms.

#[cfg(feature = "aws")]
pub mod aws;
pub mod clock;
pub mod config;
pub mod function;
pub mod handler;
pub mod invocation;
pub mod layer;
pub mod log;
pub mod metrics;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trace_header;
pub mod xray;

pub use log::InitError;
pub use streamer_obs_macros::instrumented;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// Reads the configuration from the environment, installs the JSON logger on stdout and
/// the global [`telemetry::Telemetry`]. Call it once at the start of `main`.
///
/// # Errors
///
/// [`InitError::AlreadyInitialized`] when a global `tracing` subscriber already exists.
///
/// ```no_run
/// streamer_obs::init().expect("initialised once");
/// ```
pub fn init() -> Result<(), InitError> {
    let telemetry = telemetry::Telemetry::from_env();
    log::init_with_config(telemetry.config(), std::io::stdout, clock::SystemClock)?;
    // A handler that ran before init already read the environment lazily: same result.
    let _ = telemetry.install_global();
    Ok(())
}

/// The README's Rust examples, compiled and run as doc tests so the quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
