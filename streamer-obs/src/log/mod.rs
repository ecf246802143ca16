//! Structured JSON logging: one compact JSON object per line on stdout.
//!
//! Every line carries `timestamp` (RFC 3339, UTC, milliseconds, `Z`), `level`
//! (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`), `message`, `service`, and inside an
//! invocation `cold_start`, `function_name`, `function_request_id`, `function_arn`,
//! `function_memory_size`, `xray_trace_id` (when the trace header has a `Root`), then
//! `environment`, the invocation's correlation fields, the event's own fields and the
//! fields of the enclosing spans, flattened (innermost span wins; the event wins over
//! everything; no key is ever written twice). Errors recorded as
//! `error = &err as &dyn Error` become `error.type`, `error.message`, `error.sources`
//! (the `source()` chain) and, when `RUST_BACKTRACE` enables one, `error.backtrace`.
//!
//! Key rules: a key starting with `@` is written as `at_...` (Logs Insights reserves
//! `@` names); a user field named like one of the SDK's keys (`level`, `service`, ...)
//! is written as `field.<name>`. Values under secret-looking keys are `"[REDACTED]"`,
//! and JWT-shaped text anywhere in a value is replaced by `[REDACTED]`.
//!
//! ```
//! use std::sync::Arc;
//! use streamer_obs::config::Config;
//! use streamer_obs::testing::{CapturingWriter, FixedClock};
//! use tracing::subscriber::with_default;
//!
//! let writer = CapturingWriter::new();
//! let subscriber = streamer_obs::log::subscriber(&Config::default(), writer.clone(), FixedClock::at_millis(0));
//! with_default(subscriber, || tracing::info!(connection_id = "abc", "Connection attempt"));
//! let line = &writer.json_lines()[0];
//! assert_eq!(line["timestamp"], "1970-01-01T00:00:00.000Z");
//! assert_eq!(line["level"], "INFO");
//! assert_eq!(line["message"], "Connection attempt");
//! assert_eq!(line["connection_id"], "abc");
//! ```

pub(crate) mod buffer;
pub(crate) mod json;
mod layer;
pub(crate) mod redact;
mod span_store;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

pub use json::{REDACTED, contains_jwt, scrub_jwts};
pub use layer::{FATAL_FIELD, JsonLayer};
pub use redact::{Redactor, Secret};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;

/// The most bytes one log line takes, its newline included (256 KiB, CloudWatch Logs'
/// limit for one event). A longer line is trimmed before it is written or buffered: the
/// largest values first (the message counts as one), each string cut at a character
/// boundary and ended with `…[truncated]`, an object or array replaced by the string
/// `"[truncated]"`, until the line fits; it stays one valid JSON object. The SDK's own
/// keys (`timestamp`, `level`, `service`, the invocation's keys, `environment`,
/// `sampling_rate`) keep their values. Every key is kept, unless the keys themselves are
/// too large (a huge correlation key): then the largest other members (never `message`)
/// are left out whole before any value is cut. Only when the SDK's values alone are over
/// the cap (a hostile context) are they cut too, never `timestamp` and `level`.
///
/// ```
/// use streamer_obs::config::Config;
/// use streamer_obs::log::MAX_LINE_BYTES;
/// use streamer_obs::testing::{CapturingWriter, FixedClock};
///
/// let writer = CapturingWriter::new();
/// let subscriber = streamer_obs::log::subscriber(&Config::default(), writer.clone(), FixedClock::at_millis(0));
/// let blob = "x".repeat(2 * MAX_LINE_BYTES);
/// tracing::subscriber::with_default(subscriber, || tracing::info!(blob = blob.as_str(), "big"));
/// let line = &writer.lines()[0];
/// assert!(line.len() < MAX_LINE_BYTES);
/// let json: serde_json::Value = serde_json::from_str(line).unwrap();
/// assert!(json["blob"].as_str().unwrap().ends_with("…[truncated]"));
/// assert_eq!(json["message"], "big");
/// ```
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// The JSON log layer for `config`, writing to `writer` with time from `clock`.
pub fn layer<W>(config: &Config, writer: W, clock: impl Clock) -> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    JsonLayer::new(config, writer, Arc::new(clock))
}

/// A complete subscriber (registry + JSON layer), for `tracing::subscriber::with_default`
/// or `tracing::instrument::WithSubscriber::with_subscriber` in tests.
pub fn subscriber<W>(config: &Config, writer: W, clock: impl Clock) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry().with(layer(config, writer, clock))
}

/// Why logging could not be initialised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// Another global subscriber was installed first.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInitialized(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Reads the configuration from the environment and installs the JSON logger on
/// stdout as the global subscriber. Configuration warnings are logged once, as WARN.
///
/// # Errors
///
/// [`InitError::AlreadyInitialized`] when a global subscriber already exists.
///
/// ```no_run
/// streamer_obs::log::init().expect("logging initialised once");
/// tracing::info!("ready");
/// ```
pub fn init() -> Result<(), InitError> {
    init_with_config(&Config::from_env(), std::io::stdout, SystemClock)
}

/// Like [`init`], with an injected writer and clock (configuration from the environment).
///
/// # Errors
///
/// [`InitError::AlreadyInitialized`] when a global subscriber already exists.
pub fn init_with<W>(writer: W, clock: impl Clock) -> Result<(), InitError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    init_with_config(&Config::from_env(), writer, clock)
}

/// Installs the JSON logger for an explicit configuration.
///
/// # Errors
///
/// [`InitError::AlreadyInitialized`] when a global subscriber already exists.
pub fn init_with_config<W>(config: &Config, writer: W, clock: impl Clock) -> Result<(), InitError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing::subscriber::set_global_default(subscriber(config, writer, clock))?;
    report_config(config);
    Ok(())
}

/// Logs the configuration warnings (once each) and the EMF-under-level-filtering warning.
///
/// They are WARN lines, or ERROR lines when a WARN line would not be seen: when the SDK's
/// level is ERROR, or when Lambda filters JSON lines at ERROR (`AWS_LAMBDA_LOG_FORMAT=JSON`,
/// `AWS_LAMBDA_LOG_LEVEL=ERROR`); `"level":"FATAL"` lines ([`FATAL_FIELD`]) when Lambda
/// filters JSON lines at `FATAL` (or `CRITICAL`), where it keeps nothing else. Otherwise the warning that EMF metric lines
/// are dropped would itself be dropped, and the metrics lost without a word.
///
/// ```
/// use streamer_obs::config::{Config, EnvVars};
/// let config = Config::builder().build_from(&EnvVars::from_pairs([
///     ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
///     ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
/// ]));
/// assert!(config.log().lambda_drops_emf());
/// streamer_obs::log::report_config(&config); // one ERROR line about the EMF lines
/// ```
pub fn report_config(config: &Config) {
    let log = config.log();
    let lambda_json = log.lambda_format() == crate::config::LambdaLogFormat::Json;
    // At `AWS_LAMBDA_LOG_LEVEL=FATAL` (JSON) Lambda keeps only `"level":"FATAL"` lines.
    let seen_only_at_fatal = lambda_json && log.lambda_level_is_fatal();
    let seen_only_at_error = log.level() >= crate::config::LogLevel::Error
        || (lambda_json && log.lambda_level().is_some_and(|l| l >= crate::config::LogLevel::Error));
    macro_rules! report {
        ($($arg:tt)+) => {
            if seen_only_at_fatal {
                tracing::error!(target: "streamer_obs::config", streamer_obs_level = "FATAL", $($arg)+)
            } else if seen_only_at_error {
                tracing::error!(target: "streamer_obs::config", $($arg)+)
            } else {
                tracing::warn!(target: "streamer_obs::config", $($arg)+)
            }
        };
    }
    for w in config.warnings() {
        report!(variable = w.variable(), value = w.value(), "{w}");
    }
    if log.lambda_drops_emf() {
        report!(
            variable = crate::config::AWS_LAMBDA_LOG_LEVEL,
            value = log.lambda_level_name().unwrap_or_default(),
            "AWS_LAMBDA_LOG_FORMAT=JSON with an application log level stricter than INFO: Lambda treats lines without a `level` key as INFO and drops them, so EMF metric lines will be lost; use INFO or publish metrics through PutMetricData"
        );
    }
}
