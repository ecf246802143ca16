//! # streamer-obs
//!
//! Observability for Rust AWS Lambda functions: one attribute, [`instrumented`], gives a
//! handler structured JSON logs (Lambda's advanced-logging-controls shape, queryable in
//! CloudWatch Logs Insights), CloudWatch metrics (Embedded Metric Format on stdout, or
//! `PutMetricData`) and X-Ray subsegments, per invocation and safe under
//! `lambda_runtime::run_concurrent`.
//!
//! ```no_run
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde_json::Value;
//! use streamer_obs::instrumented;
//! use streamer_obs::metrics::{self, Unit};
//!
//! #[instrumented(name = "HandleEcho", annotations(route = "$default"))]
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     streamer_obs::invocation::append_field("connection_id", "abc=");
//!     tracing::info!("echoing");
//!     metrics::add("MessageSent", Unit::Count, 1.0);
//!     Ok(event.payload)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     streamer_obs::init()?;
//!     lambda_runtime::run(service_fn(handler)).await
//! }
//! ```
//!
//! The lifecycle behind the attribute is [`handler::HandlerScope`]; [`layer::ObsLayer`] applies
//! the same lifecycle as a tower layer.
//!
//! ## Modules
//!
//! - [`instrumented`]: the attribute for handlers and the functions they call (one span,
//!   subsegment and lifecycle per invocation; see its argument reference).
//! - [`handler`], [`function`], [`layer`], [`telemetry`]: the invocation lifecycle, child
//!   scopes, the tower layer and the process-wide publisher/emitter.
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
//! - `testing`: the [`testing`](crate#modules) module and `metrics::MockMetricsPublisher`.
//! - `xray-api`: the X-Ray `PutTraceSegments` emitter.
//! - `aws-sdk`: X-Ray subsegments around AWS SDK for Rust calls.
//! - `cloudwatch`: the `PutMetricData` publisher and `PutMetricAlarm` for the standard alarms.
//! - `http`: `lambda_http` handlers: [`layer::ObsLayer`] around a `Service<lambda_http::Request>`
//!   (the X-Ray `http` block and status flags) and `http::lambda_context` for `ctx = ...`.

mod ascii_words;
#[cfg(feature = "aws")]
pub mod aws;
pub mod clock;
pub mod config;
mod error_type;
pub mod function;
pub mod handler;
#[cfg(feature = "http")]
pub mod http;
mod in_span;
pub mod invocation;
pub mod layer;
mod lock;
pub mod log;
pub mod metrics;
mod static_memo;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trace_header;
mod write_block;
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
    // The logger first: what building the telemetry reports (an X-Ray socket that cannot
    // be opened) is then written.
    let config = config::Config::from_env();
    log::init_with_config(&config, std::io::stdout, clock::SystemClock)?;
    let telemetry =
        telemetry::Telemetry::builder(config).cold_start_tracker(invocation::ColdStartTracker::global_arc()).build();
    // A handler that ran before init already read the environment lazily: same result.
    let _ = telemetry.install_global();
    Ok(())
}

/// Like [`init`] with an explicit [`telemetry::Telemetry`] (for example one whose metrics
/// go through `PutMetricData` or whose subsegments go through `PutTraceSegments`).
///
/// # Errors
///
/// [`InitError::AlreadyInitialized`] when a global `tracing` subscriber already exists.
///
/// ```no_run
/// use std::sync::Arc;
/// use streamer_obs::config::Config;
/// use streamer_obs::telemetry::Telemetry;
/// let telemetry = Telemetry::builder(Config::from_env())
///     .metrics_publisher(Arc::new(streamer_obs::metrics::EmfPublisher::stdout()))
///     .build();
/// streamer_obs::init_telemetry(telemetry).expect("initialised once");
/// ```
pub fn init_telemetry(telemetry: telemetry::Telemetry) -> Result<(), InitError> {
    log::init_with_config(telemetry.config(), std::io::stdout, clock::SystemClock)?;
    if telemetry.install_global().is_err() {
        // A handler (or `Telemetry::global`) ran before init and read the environment: its
        // telemetry stays the global one, and this one is not used. Said, not silent.
        tracing::warn!(
            target: "streamer_obs",
            "init_telemetry: the global telemetry was already created from the environment (a handler ran before init); the telemetry given to init_telemetry is not used"
        );
    }
    Ok(())
}

/// The README's Rust examples, compiled and run as doc tests so the quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod cross_checks;
