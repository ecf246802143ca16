//! Configuration: one place that reads the environment into a [`Config`].
//!
//! [`Config::from_env`] reads the process environment; [`Config::builder`] lets code
//! (and tests) configure explicitly. Explicit code wins over the environment, except
//! `AWS_LAMBDA_LOG_LEVEL`, which wins over everything (Lambda's advanced logging
//! controls). An invalid value never panics: it produces one [`ConfigWarning`] naming
//! the variable and the value, and the documented default applies. The warnings are
//! written as WARN log lines by [`crate::init`].
//!
//! ```
//! use streamer_obs::config::{Config, EnvVars, LogLevel};
//!
//! let env = EnvVars::from_pairs([
//!     ("POWERTOOLS_SERVICE_NAME", "connect"),
//!     ("POWERTOOLS_LOGGER_SAMPLE_RATE", "abc"),
//! ]);
//! let config = Config::builder().environment("prod").build_from(&env);
//! assert_eq!(config.service(), "connect");
//! assert_eq!(config.environment(), "prod");
//! assert_eq!(config.log().sample_rate(), 0.0);
//! assert_eq!(config.log().level(), LogLevel::Info);
//! assert_eq!(config.warnings()[0].variable(), "POWERTOOLS_LOGGER_SAMPLE_RATE");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use tracing_subscriber::filter::Targets;

/// `POWERTOOLS_SERVICE_NAME`: the `service` key of log lines and the `Service` dimension.
pub const POWERTOOLS_SERVICE_NAME: &str = "POWERTOOLS_SERVICE_NAME";
/// `AWS_LAMBDA_FUNCTION_NAME`: set by Lambda; fallback for the service name.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// `AWS_LAMBDA_FUNCTION_VERSION`: set by Lambda.
pub const AWS_LAMBDA_FUNCTION_VERSION: &str = "AWS_LAMBDA_FUNCTION_VERSION";
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`: set by Lambda (MB).
pub const AWS_LAMBDA_FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
/// `POWERTOOLS_METRICS_NAMESPACE`: the CloudWatch namespace of our metrics.
pub const POWERTOOLS_METRICS_NAMESPACE: &str = "POWERTOOLS_METRICS_NAMESPACE";
/// `METRICS_NAMESPACE`: the seed system's name for the namespace (fallback).
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
/// `ENVIRONMENT`: deployment environment (`dev`, `staging`, `prod`, free text).
pub const ENVIRONMENT: &str = "ENVIRONMENT";
/// `AWS_LAMBDA_LOG_LEVEL`: Lambda's application log level; wins over everything.
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// `AWS_LAMBDA_LOG_FORMAT`: `TEXT` or `JSON`.
pub const AWS_LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
/// `POWERTOOLS_LOG_LEVEL`: log level (below code and `AWS_LAMBDA_LOG_LEVEL`).
pub const POWERTOOLS_LOG_LEVEL: &str = "POWERTOOLS_LOG_LEVEL";
/// `LOG_LEVEL`: legacy name of `POWERTOOLS_LOG_LEVEL`.
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// `RUST_LOG`: `tracing` directives (`info`, `my_crate=debug,warn`), lowest precedence.
pub const RUST_LOG: &str = "RUST_LOG";
/// `POWERTOOLS_LOGGER_SAMPLE_RATE`: probability (0..=1) that an invocation logs at DEBUG.
pub const POWERTOOLS_LOGGER_SAMPLE_RATE: &str = "POWERTOOLS_LOGGER_SAMPLE_RATE";
/// `POWERTOOLS_LOGGER_LOG_EVENT`: log the incoming event (redacted).
pub const POWERTOOLS_LOGGER_LOG_EVENT: &str = "POWERTOOLS_LOGGER_LOG_EVENT";
/// `POWERTOOLS_DEV`: human-readable (indented) log output for local work.
pub const POWERTOOLS_DEV: &str = "POWERTOOLS_DEV";
/// `POWERTOOLS_METRICS_DISABLED`: record nothing, write no EMF.
pub const POWERTOOLS_METRICS_DISABLED: &str = "POWERTOOLS_METRICS_DISABLED";
/// `POWERTOOLS_TRACE_DISABLED`: send no X-Ray subsegments.
pub const POWERTOOLS_TRACE_DISABLED: &str = "POWERTOOLS_TRACE_DISABLED";
/// `AWS_XRAY_SDK_ENABLED`: `false` disables X-Ray as `POWERTOOLS_TRACE_DISABLED=true` does
/// (the X-Ray SDKs' variable, rule T-7).
pub const AWS_XRAY_SDK_ENABLED: &str = "AWS_XRAY_SDK_ENABLED";
/// `AWS_XRAY_DAEMON_ADDRESS`: `host:port` or `tcp:host:port udp:host:port`.
pub const AWS_XRAY_DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// `AWS_XRAY_CONTEXT_MISSING`: `LOG_ERROR` (default), `IGNORE_ERROR` or `RUNTIME_ERROR`.
pub const AWS_XRAY_CONTEXT_MISSING: &str = "AWS_XRAY_CONTEXT_MISSING";
/// `AWS_LAMBDA_INITIALIZATION_TYPE`: `on-demand`, `provisioned-concurrency`, `snap-start`, ...
pub const AWS_LAMBDA_INITIALIZATION_TYPE: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";
/// `STREAMER_LOG_REDACT_KEYS`: extra comma-separated key fragments to redact in log lines, EMF
/// properties and X-Ray annotations and metadata.
pub const STREAMER_LOG_REDACT_KEYS: &str = "STREAMER_LOG_REDACT_KEYS";

/// Default service name when neither `POWERTOOLS_SERVICE_NAME` nor
/// `AWS_LAMBDA_FUNCTION_NAME` is set (the Powertools convention).
pub const DEFAULT_SERVICE: &str = "service_undefined";
/// Default metrics namespace (the seed system's).
pub const DEFAULT_NAMESPACE: &str = "Streamer";
/// Environment written when `ENVIRONMENT` is unset or blank: never an empty string.
pub const DEFAULT_ENVIRONMENT: &str = "unknown";
/// Key fragments redacted by default (case-insensitive substring match on the key).
pub const DEFAULT_REDACT_KEYS: &[&str] = &[
    "authorization",
    "token",
    "jwt",
    "password",
    "passwd",
    "secret",
    "cookie",
    "api_key",
    "api-key",
    "apikey",
    "sec-websocket-protocol",
    "signature",
    "credential",
    "private_key",
    "private-key",
    "session_id",
    "sessionid",
    "session-id",
];

/// A snapshot of environment variables, so configuration is read from one injected
/// source (the process environment in production, a fixed map in tests).
///
/// ```
/// use streamer_obs::config::EnvVars;
/// let env = EnvVars::from_pairs([("ENVIRONMENT", "prod")]);
/// assert_eq!(env.get("ENVIRONMENT"), Some("prod"));
/// assert_eq!(env.get("MISSING"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    vars: BTreeMap<String, String>,
}

impl EnvVars {
    /// The current process environment. A value that is not valid Unicode is kept with
    /// its invalid bytes replaced by U+FFFD, never dropped: a variable that is set is never
    /// read as unset (an allow-list or an issuer set to such bytes must keep restricting,
    /// not fall back to its "unset" default). A variable whose *name* is not valid Unicode
    /// names no setting and is skipped.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| {
                    let v = v.into_string().unwrap_or_else(|v| v.to_string_lossy().into_owned());
                    Some((k.into_string().ok()?, v))
                })
                .collect(),
        }
    }

    /// An empty environment: only explicit configuration applies.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A fixed set of variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// Log levels, in the names Lambda's log filtering understands.
///
/// ```
/// use streamer_obs::config::LogLevel;
/// assert_eq!("warning".parse::<LogLevel>(), Ok(LogLevel::Warn));
/// assert_eq!(LogLevel::Debug.as_str(), "DEBUG");
/// assert!("LOUD".parse::<LogLevel>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `TRACE`: the most verbose.
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO` (the default).
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR` (`FATAL` and `CRITICAL` map here: `tracing` has nothing stricter).
    Error,
}

impl LogLevel {
    /// The uppercase name written in the `level` key.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }

    /// The matching `tracing` level.
    pub const fn to_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }

    /// The level of a `tracing` level.
    pub fn from_tracing(level: tracing::Level) -> Self {
        match level {
            tracing::Level::TRACE => LogLevel::Trace,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::WARN => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`LogLevel`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level `{0}` (expected TRACE, DEBUG, INFO, WARN, ERROR or FATAL)")]
pub struct ParseLevelError(String);

impl FromStr for LogLevel {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Ok(LogLevel::Trace),
            "DEBUG" => Ok(LogLevel::Debug),
            "INFO" => Ok(LogLevel::Info),
            "WARN" | "WARNING" => Ok(LogLevel::Warn),
            "ERROR" | "FATAL" | "CRITICAL" => Ok(LogLevel::Error),
            _ => Err(ParseLevelError(s.to_owned())),
        }
    }
}

/// Where the effective log level came from (highest precedence first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelSource {
    /// `AWS_LAMBDA_LOG_LEVEL` (wins over everything).
    LambdaLogLevel,
    /// Explicit code ([`ConfigBuilder::log_level`]).
    Code,
    /// `POWERTOOLS_LOG_LEVEL`.
    PowertoolsLogLevel,
    /// `LOG_LEVEL` (legacy).
    LegacyLogLevel,
    /// `RUST_LOG` directives.
    RustLog,
    /// Nothing set: INFO.
    Default,
}

/// Lambda's log format (`AWS_LAMBDA_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LambdaLogFormat {
    /// `TEXT` (Lambda's default): Lambda does not filter application lines by level.
    #[default]
    Text,
    /// `JSON`: Lambda filters application lines by their `level` key.
    Json,
}

/// What to do when an invocation has no usable trace header (`AWS_XRAY_CONTEXT_MISSING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMissing {
    /// `LOG_ERROR` (Lambda's setting and the default): log once, send nothing.
    #[default]
    LogError,
    /// `IGNORE_ERROR`: send nothing, log nothing.
    IgnoreError,
    /// `RUNTIME_ERROR`: log an ERROR line for every such invocation (never a panic).
    RuntimeError,
}

/// How the execution environment was initialised (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InitializationType {
    /// `on-demand` (or unset): the first invocation is a cold start.
    #[default]
    OnDemand,
    /// `provisioned-concurrency`: init ran ahead of time; no invocation is reported cold
    /// (Powertools' 2025 policy).
    ProvisionedConcurrency,
    /// `snap-start`: restored from a snapshot; the first invocation is reported cold.
    SnapStart,
    /// Any other value (Lambda adds values over time; they are accepted as they are).
    Other(String),
}

/// Opt-in per-invocation log buffering: records at [`LogBufferConfig::buffer_at`] or more
/// verbose are held in a bounded per-invocation buffer and written only if the
/// invocation logs an ERROR or fails.
///
/// ```
/// use streamer_obs::config::{Config, EnvVars, LogBufferConfig, LogLevel};
/// let config = Config::builder()
///     .log_level(LogLevel::Debug)
///     .log_buffer(LogBufferConfig::new(LogLevel::Debug).max_bytes(8 * 1024))
///     .build_from(&EnvVars::empty());
/// assert_eq!(config.log().buffer().unwrap().max_bytes_value(), 8192);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBufferConfig {
    buffer_at: LogLevel,
    max_bytes: usize,
    flush_on_error_log: bool,
}

impl LogBufferConfig {
    /// Buffer records at `buffer_at` or more verbose; 20 KiB cap, flush on an ERROR line.
    /// ERROR lines are never buffered (they are what the buffer is written for): a
    /// `buffer_at` of [`LogLevel::Error`] buffers up to WARN.
    ///
    /// ```
    /// use streamer_obs::config::{LogBufferConfig, LogLevel};
    /// assert_eq!(LogBufferConfig::new(LogLevel::Error).buffer_at(), LogLevel::Warn);
    /// ```
    pub fn new(buffer_at: LogLevel) -> Self {
        Self { buffer_at: buffer_at.min(LogLevel::Warn), max_bytes: 20 * 1024, flush_on_error_log: true }
    }

    /// The byte cap (the oldest records are evicted past it, with one warning).
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Whether an ERROR line in the invocation writes the buffer out (default true).
    pub fn flush_on_error_log(mut self, flush: bool) -> Self {
        self.flush_on_error_log = flush;
        self
    }

    /// The most severe level that is buffered.
    pub fn buffer_at(&self) -> LogLevel {
        self.buffer_at
    }

    /// The byte cap.
    pub fn max_bytes_value(&self) -> usize {
        self.max_bytes
    }

    /// Whether an ERROR line flushes the buffer.
    pub fn flushes_on_error_log(&self) -> bool {
        self.flush_on_error_log
    }
}

/// One configuration problem: the variable, the value and what was used instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    variable: &'static str,
    value: String,
    message: String,
}

impl ConfigWarning {
    fn new(variable: &'static str, value: &str, message: impl Into<String>) -> Self {
        Self { variable, value: value.to_owned(), message: message.into() }
    }

    /// The environment variable (or builder setting) at fault.
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// The rejected value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What is wrong and what applies instead.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.variable, self.value, self.message)
    }
}

/// Logging configuration (part of [`Config`]).
#[derive(Debug, Clone)]
pub struct LogConfig {
    level: LogLevel,
    level_source: LevelSource,
    filter: Targets,
    format: LambdaLogFormat,
    lambda_level: Option<LogLevel>,
    /// `AWS_LAMBDA_LOG_LEVEL` is `FATAL` (or `CRITICAL`): `lambda_level` says `Error`.
    lambda_fatal: bool,
    sample_rate: f64,
    log_event: bool,
    dev: bool,
    redact_keys: Vec<String>,
    /// The redactor of `redact_keys`, built once when first needed (its lookup tables).
    redactor: std::sync::OnceLock<crate::log::Redactor>,
    buffer: Option<LogBufferConfig>,
}

impl LogConfig {
    /// The effective default level.
    pub fn level(&self) -> LogLevel {
        self.level
    }

    /// Where the effective level came from.
    pub fn level_source(&self) -> LevelSource {
        self.level_source
    }

    /// The per-target filter (from `RUST_LOG`, or one default level).
    pub fn filter(&self) -> &Targets {
        &self.filter
    }

    /// `AWS_LAMBDA_LOG_FORMAT`.
    pub fn lambda_format(&self) -> LambdaLogFormat {
        self.format
    }

    /// The valid `AWS_LAMBDA_LOG_LEVEL`, if set (`FATAL` reads as [`LogLevel::Error`]:
    /// see [`Self::lambda_level_is_fatal`]).
    pub fn lambda_level(&self) -> Option<LogLevel> {
        self.lambda_level
    }

    /// Whether `AWS_LAMBDA_LOG_LEVEL` is `FATAL` (or `CRITICAL`): Lambda then keeps only
    /// JSON lines whose `level` is `FATAL`.
    ///
    /// ```
    /// use streamer_obs::config::{Config, EnvVars};
    /// let c = Config::builder().build_from(&EnvVars::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "fatal")]));
    /// assert!(c.log().lambda_level_is_fatal());
    /// assert_eq!(c.log().lambda_level_name(), Some("FATAL"));
    /// ```
    pub fn lambda_level_is_fatal(&self) -> bool {
        self.lambda_fatal
    }

    /// `AWS_LAMBDA_LOG_LEVEL` as Lambda reads it (`FATAL` kept), if set and valid.
    ///
    /// ```
    /// use streamer_obs::config::{Config, EnvVars};
    /// let c = Config::builder().build_from(&EnvVars::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "warn")]));
    /// assert_eq!(c.log().lambda_level_name(), Some("WARN"));
    /// ```
    pub fn lambda_level_name(&self) -> Option<&'static str> {
        if self.lambda_fatal { Some("FATAL") } else { self.lambda_level.map(LogLevel::as_str) }
    }

    /// Probability that an invocation is raised to DEBUG.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Whether handlers log their incoming event (redacted).
    pub fn log_event(&self) -> bool {
        self.log_event
    }

    /// Whether output is the human-readable development form.
    pub fn dev(&self) -> bool {
        self.dev
    }

    /// Lowercase key fragments whose values are written as `"[REDACTED]"`.
    pub fn redact_keys(&self) -> &[String] {
        &self.redact_keys
    }

    /// The redactor of [`Self::redact_keys`], built once per configuration.
    pub(crate) fn redactor(&self) -> &crate::log::Redactor {
        self.redactor.get_or_init(|| crate::log::Redactor::new(&self.redact_keys))
    }

    /// Log buffering, when enabled.
    pub fn buffer(&self) -> Option<&LogBufferConfig> {
        self.buffer.as_ref()
    }

    /// True when Lambda filters JSON lines by level more strictly than INFO, so EMF
    /// lines (which carry no `level`) would be dropped.
    pub fn lambda_drops_emf(&self) -> bool {
        self.format == LambdaLogFormat::Json && self.lambda_level.is_some_and(|l| l > LogLevel::Info)
    }
}

/// The whole SDK configuration, read once at init.
#[derive(Debug, Clone)]
pub struct Config {
    service: String,
    namespace: String,
    environment: String,
    function_name: Option<String>,
    function_version: Option<String>,
    function_memory_mb: Option<u32>,
    log: LogConfig,
    metrics_disabled: bool,
    trace_disabled: bool,
    xray_daemon_address: Option<String>,
    context_missing: ContextMissing,
    initialization_type: InitializationType,
    warnings: Vec<ConfigWarning>,
    /// The metric namespace and default dimensions derived from this configuration, built
    /// on first use and shared by every invocation's metric set.
    metrics_base: std::sync::OnceLock<std::sync::Arc<crate::metrics::set::Prepared>>,
}

impl Default for Config {
    /// The configuration of an empty environment.
    fn default() -> Self {
        ConfigBuilder::default().build_from(&EnvVars::empty())
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::builder().build()
    }

    /// A builder; explicit settings win over the environment (except `AWS_LAMBDA_LOG_LEVEL`).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The service name (`service` key, `Service` dimension).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The CloudWatch metrics namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The deployment environment; never empty.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// `AWS_LAMBDA_FUNCTION_NAME`, if set.
    pub fn function_name(&self) -> Option<&str> {
        self.function_name.as_deref()
    }

    /// `AWS_LAMBDA_FUNCTION_VERSION`, if set.
    pub fn function_version(&self) -> Option<&str> {
        self.function_version.as_deref()
    }

    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, if set and valid.
    pub fn function_memory_mb(&self) -> Option<u32> {
        self.function_memory_mb
    }

    /// The metrics values derived from this configuration (built once, then shared).
    pub(crate) fn metrics_base(&self) -> &std::sync::Arc<crate::metrics::set::Prepared> {
        self.metrics_base.get_or_init(|| std::sync::Arc::new(crate::metrics::set::Prepared::derive(self)))
    }

    /// Logging configuration.
    pub fn log(&self) -> &LogConfig {
        &self.log
    }

    /// Whether metrics are disabled.
    pub fn metrics_disabled(&self) -> bool {
        self.metrics_disabled
    }

    /// Whether X-Ray tracing is disabled.
    pub fn trace_disabled(&self) -> bool {
        self.trace_disabled
    }

    /// The raw `AWS_XRAY_DAEMON_ADDRESS`, if set (parsed by the X-Ray emitter).
    pub fn xray_daemon_address(&self) -> Option<&str> {
        self.xray_daemon_address.as_deref()
    }

    /// `AWS_XRAY_CONTEXT_MISSING`.
    pub fn context_missing(&self) -> ContextMissing {
        self.context_missing
    }

    /// `AWS_LAMBDA_INITIALIZATION_TYPE`.
    pub fn initialization_type(&self) -> &InitializationType {
        &self.initialization_type
    }

    /// Problems found while reading the configuration (each logged once at init).
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }
}

/// Builder for [`Config`]: every setting is optional; unset ones come from the environment.
///
/// ```
/// use streamer_obs::config::{Config, EnvVars, LogLevel};
/// // Code wins over POWERTOOLS_LOG_LEVEL, AWS_LAMBDA_LOG_LEVEL wins over code.
/// let env = EnvVars::from_pairs([("POWERTOOLS_LOG_LEVEL", "ERROR")]);
/// assert_eq!(Config::builder().log_level(LogLevel::Debug).build_from(&env).log().level(), LogLevel::Debug);
/// let env = EnvVars::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
/// assert_eq!(Config::builder().log_level(LogLevel::Debug).build_from(&env).log().level(), LogLevel::Warn);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    service: Option<String>,
    namespace: Option<String>,
    environment: Option<String>,
    log_level: Option<LogLevel>,
    sample_rate: Option<f64>,
    log_event: Option<bool>,
    dev: Option<bool>,
    redact_keys: Option<Vec<String>>,
    log_buffer: Option<LogBufferConfig>,
    metrics_disabled: Option<bool>,
    trace_disabled: Option<bool>,
    xray_daemon_address: Option<String>,
    context_missing: Option<ContextMissing>,
    initialization_type: Option<InitializationType>,
    function_name: Option<String>,
}

impl ConfigBuilder {
    /// The service name.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The metrics namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The deployment environment.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// The function name (normally `AWS_LAMBDA_FUNCTION_NAME`).
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = Some(name.into());
        self
    }

    /// The log level (loses only to `AWS_LAMBDA_LOG_LEVEL`).
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = Some(level);
        self
    }

    /// The debug sampling rate, 0..=1.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = Some(rate);
        self
    }

    /// Whether to log incoming events.
    pub fn log_event(mut self, on: bool) -> Self {
        self.log_event = Some(on);
        self
    }

    /// Human-readable development output.
    pub fn dev(mut self, on: bool) -> Self {
        self.dev = Some(on);
        self
    }

    /// Replaces the redacted key fragments (matched case-insensitively as substrings).
    pub fn redact_keys<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.redact_keys = Some(keys.into_iter().map(|k| k.into().to_ascii_lowercase()).collect());
        self
    }

    /// Enables per-invocation log buffering.
    pub fn log_buffer(mut self, buffer: LogBufferConfig) -> Self {
        self.log_buffer = Some(buffer);
        self
    }

    /// Disables metrics.
    pub fn metrics_disabled(mut self, disabled: bool) -> Self {
        self.metrics_disabled = Some(disabled);
        self
    }

    /// Disables tracing.
    pub fn trace_disabled(mut self, disabled: bool) -> Self {
        self.trace_disabled = Some(disabled);
        self
    }

    /// The X-Ray daemon address (same forms as `AWS_XRAY_DAEMON_ADDRESS`).
    pub fn xray_daemon_address(mut self, address: impl Into<String>) -> Self {
        self.xray_daemon_address = Some(address.into());
        self
    }

    /// The missing-context policy.
    pub fn context_missing(mut self, policy: ContextMissing) -> Self {
        self.context_missing = Some(policy);
        self
    }

    /// The initialisation type.
    pub fn initialization_type(mut self, kind: InitializationType) -> Self {
        self.initialization_type = Some(kind);
        self
    }

    /// Builds from the process environment.
    pub fn build(self) -> Config {
        self.build_from(&EnvVars::from_process())
    }

    /// Builds from the given environment snapshot.
    pub fn build_from(self, env: &EnvVars) -> Config {
        let mut warnings = Vec::new();
        let get = |name: &str| env.get(name).map(str::trim).filter(|v| !v.is_empty());

        let function_name = self.function_name.clone().or_else(|| get(AWS_LAMBDA_FUNCTION_NAME).map(str::to_owned));
        let service = match self.service.clone() {
            Some(s) => checked_dimension_value(s, "service (code)", DEFAULT_SERVICE, &mut warnings),
            None => match get(POWERTOOLS_SERVICE_NAME) {
                Some(s) => {
                    checked_dimension_value(s.to_owned(), POWERTOOLS_SERVICE_NAME, DEFAULT_SERVICE, &mut warnings)
                }
                None => function_name
                    .clone()
                    .map(|f| checked_dimension_value(f, AWS_LAMBDA_FUNCTION_NAME, DEFAULT_SERVICE, &mut warnings))
                    .unwrap_or_else(|| DEFAULT_SERVICE.to_owned()),
            },
        };

        let namespace = match self.namespace.clone() {
            Some(ns) => checked_namespace(ns, "namespace (code)", &mut warnings),
            None => match get(POWERTOOLS_METRICS_NAMESPACE) {
                Some(ns) => checked_namespace(ns.to_owned(), POWERTOOLS_METRICS_NAMESPACE, &mut warnings),
                None => match get(METRICS_NAMESPACE) {
                    Some(ns) => checked_namespace(ns.to_owned(), METRICS_NAMESPACE, &mut warnings),
                    None => DEFAULT_NAMESPACE.to_owned(),
                },
            },
        };

        let environment = match self.environment.clone() {
            Some(e) => checked_dimension_value(e, "environment (code)", DEFAULT_ENVIRONMENT, &mut warnings),
            None => match env.get(ENVIRONMENT) {
                Some(raw) if raw.trim().is_empty() => {
                    warnings.push(ConfigWarning::new(
                        ENVIRONMENT,
                        raw,
                        format!("blank; using {DEFAULT_ENVIRONMENT:?}"),
                    ));
                    DEFAULT_ENVIRONMENT.to_owned()
                }
                Some(raw) => {
                    checked_dimension_value(raw.trim().to_owned(), ENVIRONMENT, DEFAULT_ENVIRONMENT, &mut warnings)
                }
                None => DEFAULT_ENVIRONMENT.to_owned(),
            },
        };

        let log = self.build_log(env, &mut warnings);

        let metrics_disabled = self
            .metrics_disabled
            .unwrap_or_else(|| parse_bool_var(env, POWERTOOLS_METRICS_DISABLED, false, &mut warnings));
        // Either variable turns tracing off: `POWERTOOLS_TRACE_DISABLED=true` or the X-Ray
        // SDKs' `AWS_XRAY_SDK_ENABLED=false` (T-7).
        let trace_disabled = self.trace_disabled.unwrap_or_else(|| {
            let powertools = parse_bool_var(env, POWERTOOLS_TRACE_DISABLED, false, &mut warnings);
            let sdk_enabled = parse_bool_var(env, AWS_XRAY_SDK_ENABLED, true, &mut warnings);
            powertools || !sdk_enabled
        });
        let xray_daemon_address = self.xray_daemon_address.or_else(|| get(AWS_XRAY_DAEMON_ADDRESS).map(str::to_owned));
        // Reported with the other warnings when the logger is installed: the emitter that
        // finds it invalid may be built before any subscriber exists (its ERROR lost).
        if let Some(raw) = &xray_daemon_address
            && !trace_disabled
            && raw.parse::<crate::xray::daemon::DaemonAddress>().is_err()
        {
            warnings.push(ConfigWarning::new(
                AWS_XRAY_DAEMON_ADDRESS,
                raw,
                "expected host:port or tcp:host:port udp:host:port; X-Ray tracing is disabled",
            ));
        }
        let context_missing = self.context_missing.unwrap_or_else(|| match get(AWS_XRAY_CONTEXT_MISSING) {
            None => ContextMissing::default(),
            Some(v) => match v.to_ascii_uppercase().as_str() {
                "LOG_ERROR" => ContextMissing::LogError,
                "IGNORE_ERROR" => ContextMissing::IgnoreError,
                "RUNTIME_ERROR" => ContextMissing::RuntimeError,
                _ => {
                    warnings.push(ConfigWarning::new(
                        AWS_XRAY_CONTEXT_MISSING,
                        v,
                        "expected LOG_ERROR, IGNORE_ERROR or RUNTIME_ERROR; using LOG_ERROR",
                    ));
                    ContextMissing::LogError
                }
            },
        });
        let initialization_type =
            self.initialization_type.unwrap_or_else(|| match get(AWS_LAMBDA_INITIALIZATION_TYPE) {
                None | Some("on-demand") => InitializationType::OnDemand,
                Some("provisioned-concurrency") => InitializationType::ProvisionedConcurrency,
                Some("snap-start") => InitializationType::SnapStart,
                Some(other) => InitializationType::Other(other.to_owned()),
            });
        let function_version = get(AWS_LAMBDA_FUNCTION_VERSION).map(str::to_owned);
        let function_memory_mb = get(AWS_LAMBDA_FUNCTION_MEMORY_SIZE).and_then(|v| match v.parse::<u32>() {
            Ok(mb) => Some(mb),
            Err(_) => {
                warnings.push(ConfigWarning::new(
                    AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
                    v,
                    "expected a whole number of MB; ignored",
                ));
                None
            }
        });

        Config {
            service,
            namespace,
            environment,
            function_name,
            function_version,
            function_memory_mb,
            log,
            metrics_disabled,
            trace_disabled,
            xray_daemon_address,
            context_missing,
            initialization_type,
            warnings,
            metrics_base: std::sync::OnceLock::new(),
        }
    }

    fn build_log(&self, env: &EnvVars, warnings: &mut Vec<ConfigWarning>) -> LogConfig {
        let get = |name: &str| env.get(name).map(str::trim).filter(|v| !v.is_empty());
        let mut level_var = |name: &'static str| -> Option<LogLevel> {
            let raw = get(name)?;
            match raw.parse::<LogLevel>() {
                Ok(level) => Some(level),
                Err(_) => {
                    warnings.push(ConfigWarning::new(
                        name,
                        raw,
                        "expected TRACE, DEBUG, INFO, WARN, ERROR or FATAL; ignored (the next source in precedence applies, INFO by default)",
                    ));
                    None
                }
            }
        };
        let lambda_level = level_var(AWS_LAMBDA_LOG_LEVEL);
        let lambda_fatal = lambda_level.is_some()
            && get(AWS_LAMBDA_LOG_LEVEL)
                .is_some_and(|raw| matches!(raw.trim().to_ascii_uppercase().as_str(), "FATAL" | "CRITICAL"));
        let powertools_level = level_var(POWERTOOLS_LOG_LEVEL);
        let legacy_level = level_var(LOG_LEVEL);

        let (level, level_source, filter) = if let Some(l) = lambda_level {
            (l, LevelSource::LambdaLogLevel, Targets::new().with_default(l.to_tracing()))
        } else if let Some(l) = self.log_level {
            (l, LevelSource::Code, Targets::new().with_default(l.to_tracing()))
        } else if let Some(l) = powertools_level {
            (l, LevelSource::PowertoolsLogLevel, Targets::new().with_default(l.to_tracing()))
        } else if let Some(l) = legacy_level {
            (l, LevelSource::LegacyLogLevel, Targets::new().with_default(l.to_tracing()))
        } else if let Some(raw) = get(RUST_LOG) {
            match raw.parse::<Targets>() {
                Ok(mut targets) => {
                    // A directive list without a bare level keeps INFO as the default.
                    let default = targets.default_level().and_then(|l| l.into_level()).map(LogLevel::from_tracing);
                    if targets.default_level().is_none() {
                        targets = targets.with_default(tracing::Level::INFO);
                    }
                    (default.unwrap_or(LogLevel::Info), LevelSource::RustLog, targets)
                }
                Err(_) => {
                    warnings.push(ConfigWarning::new(
                        RUST_LOG,
                        raw,
                        "not a list of `target=level` directives; using INFO",
                    ));
                    (LogLevel::Info, LevelSource::Default, Targets::new().with_default(tracing::Level::INFO))
                }
            }
        } else {
            (LogLevel::Info, LevelSource::Default, Targets::new().with_default(tracing::Level::INFO))
        };

        if let (Some(lambda), Some(code)) = (lambda_level, self.log_level.or(powertools_level).or(legacy_level))
            && code < lambda
        {
            warnings.push(ConfigWarning::new(
                AWS_LAMBDA_LOG_LEVEL,
                lambda.as_str(),
                format!("overrides the requested level {code}: Lambda would drop the more verbose lines anyway"),
            ));
        }

        let format = match get(AWS_LAMBDA_LOG_FORMAT) {
            None => LambdaLogFormat::Text,
            Some(v) if v.eq_ignore_ascii_case("json") => LambdaLogFormat::Json,
            Some(v) if v.eq_ignore_ascii_case("text") => LambdaLogFormat::Text,
            Some(v) => {
                warnings.push(ConfigWarning::new(AWS_LAMBDA_LOG_FORMAT, v, "expected TEXT or JSON; using TEXT"));
                LambdaLogFormat::Text
            }
        };

        let sample_rate = match self.sample_rate {
            Some(r) if (0.0..=1.0).contains(&r) => r,
            Some(r) => {
                warnings.push(ConfigWarning::new(
                    "sample_rate (code)",
                    &r.to_string(),
                    "expected a number between 0 and 1; using the default 0",
                ));
                0.0
            }
            None => match get(POWERTOOLS_LOGGER_SAMPLE_RATE) {
                None => 0.0,
                Some(raw) => match raw.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => r,
                    _ => {
                        warnings.push(ConfigWarning::new(
                            POWERTOOLS_LOGGER_SAMPLE_RATE,
                            raw,
                            "expected a number between 0 and 1; using the default 0",
                        ));
                        0.0
                    }
                },
            },
        };

        let log_event =
            self.log_event.unwrap_or_else(|| parse_bool_var(env, POWERTOOLS_LOGGER_LOG_EVENT, false, warnings));
        let dev = self.dev.unwrap_or_else(|| parse_bool_var(env, POWERTOOLS_DEV, false, warnings));
        let mut redact_keys =
            self.redact_keys.clone().unwrap_or_else(|| DEFAULT_REDACT_KEYS.iter().map(|k| (*k).to_owned()).collect());
        if let Some(extra) = get(STREAMER_LOG_REDACT_KEYS) {
            redact_keys.extend(extra.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_ascii_lowercase));
        }

        LogConfig {
            level,
            level_source,
            filter,
            format,
            lambda_level,
            lambda_fatal,
            sample_rate,
            log_event,
            dev,
            redact_keys,
            redactor: std::sync::OnceLock::new(),
            buffer: self.log_buffer,
        }
    }
}

fn parse_bool_var(env: &EnvVars, name: &'static str, default: bool, warnings: &mut Vec<ConfigWarning>) -> bool {
    let Some(raw) = env.get(name).map(str::trim).filter(|v| !v.is_empty()) else {
        return default;
    };
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => true,
        "false" | "0" | "no" | "off" => false,
        _ => {
            warnings.push(ConfigWarning::new(
                name,
                raw,
                format!("expected true or false; using the default {default}"),
            ));
            default
        }
    }
}

/// A dimension value must be ASCII, free of control characters, not blank and at most
/// 1024 characters (CloudWatch rule E-17); service and environment are dimension values.
fn checked_dimension_value(
    value: String,
    variable: &'static str,
    default: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> String {
    let trimmed = value.trim();
    let ok =
        !trimmed.is_empty() && trimmed.len() <= 1024 && trimmed.bytes().all(|b| b.is_ascii() && !b.is_ascii_control());
    if ok {
        trimmed.to_owned()
    } else {
        warnings.push(ConfigWarning::new(
            variable,
            &value,
            format!("must be 1 to 1024 printable ASCII characters (it is a metric dimension value); using {default:?}"),
        ));
        default.to_owned()
    }
}

/// Namespace rule E-15: `[A-Za-z0-9._#:/ -]{1,255}`, not starting with `:` or `AWS/`, not blank.
pub(crate) fn namespace_is_valid(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 255
        && !ns.trim().is_empty()
        && !ns.starts_with(':')
        && !ns.starts_with("AWS/")
        && ns.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_/#: ".contains(&b))
        // EMF lines are log lines, where a JWT or a credential is redacted.
        && crate::metrics::name::secret_error(ns).is_none()
}

fn checked_namespace(ns: String, variable: &'static str, warnings: &mut Vec<ConfigWarning>) -> String {
    if namespace_is_valid(&ns) {
        ns
    } else {
        warnings.push(ConfigWarning::new(
            variable,
            &ns,
            format!(
                "a namespace is 1 to 255 of A-Z a-z 0-9 . - _ / # : and space, not starting with ':' or 'AWS/'; using {DEFAULT_NAMESPACE:?}"
            ),
        ));
        DEFAULT_NAMESPACE.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::builder().build_from(&EnvVars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_of_an_empty_environment() {
        let c = cfg(&[]);
        assert_eq!(c.service(), DEFAULT_SERVICE);
        assert_eq!(c.namespace(), "Streamer");
        assert_eq!(c.environment(), DEFAULT_ENVIRONMENT);
        assert_eq!(c.log().level(), LogLevel::Info);
        assert_eq!(c.log().level_source(), LevelSource::Default);
        assert_eq!(c.log().sample_rate(), 0.0);
        assert!(!c.log().dev());
        assert!(!c.metrics_disabled());
        assert!(!c.trace_disabled());
        assert_eq!(c.context_missing(), ContextMissing::LogError);
        assert_eq!(c.initialization_type(), &InitializationType::OnDemand);
        assert!(c.warnings().is_empty());
    }

    #[test]
    fn service_falls_back_to_function_name() {
        assert_eq!(cfg(&[("AWS_LAMBDA_FUNCTION_NAME", "fn-a")]).service(), "fn-a");
        assert_eq!(cfg(&[("AWS_LAMBDA_FUNCTION_NAME", "fn-a"), ("POWERTOOLS_SERVICE_NAME", "svc")]).service(), "svc");
        let explicit =
            Config::builder().service("code").build_from(&EnvVars::from_pairs([("POWERTOOLS_SERVICE_NAME", "svc")]));
        assert_eq!(explicit.service(), "code");
    }

    #[test]
    fn namespace_precedence_and_validation() {
        assert_eq!(cfg(&[("METRICS_NAMESPACE", "Legacy")]).namespace(), "Legacy");
        assert_eq!(cfg(&[("METRICS_NAMESPACE", "Legacy"), ("POWERTOOLS_METRICS_NAMESPACE", "New")]).namespace(), "New");
        let bad = cfg(&[("POWERTOOLS_METRICS_NAMESPACE", "AWS/Lambda")]);
        assert_eq!(bad.namespace(), "Streamer");
        assert_eq!(bad.warnings().len(), 1);
        assert_eq!(bad.warnings()[0].variable(), POWERTOOLS_METRICS_NAMESPACE);
        assert_eq!(cfg(&[("POWERTOOLS_METRICS_NAMESPACE", "bad$ns")]).namespace(), "Streamer");
    }

    #[test]
    fn environment_is_never_empty() {
        let blank = cfg(&[("ENVIRONMENT", "   ")]);
        assert_eq!(blank.environment(), DEFAULT_ENVIRONMENT);
        assert_eq!(blank.warnings().len(), 1);
        assert_eq!(cfg(&[("ENVIRONMENT", "prod")]).environment(), "prod");
        assert_eq!(cfg(&[("ENVIRONMENT", "pré-prod")]).environment(), DEFAULT_ENVIRONMENT);
        assert_eq!(cfg(&[("ENVIRONMENT", "blue green")]).environment(), "blue green");
    }

    #[test]
    fn level_precedence() {
        use LevelSource::*;
        let all = [
            ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
            ("POWERTOOLS_LOG_LEVEL", "WARN"),
            ("LOG_LEVEL", "DEBUG"),
            ("RUST_LOG", "trace"),
        ];
        let c = cfg(&all);
        assert_eq!((c.log().level(), c.log().level_source()), (LogLevel::Error, LambdaLogLevel));
        let c = cfg(&all[1..]);
        assert_eq!((c.log().level(), c.log().level_source()), (LogLevel::Warn, PowertoolsLogLevel));
        let c = Config::builder().log_level(LogLevel::Trace).build_from(&EnvVars::from_pairs(all[1..].iter().copied()));
        assert_eq!((c.log().level(), c.log().level_source()), (LogLevel::Trace, Code));
        let c = cfg(&all[2..]);
        assert_eq!((c.log().level(), c.log().level_source()), (LogLevel::Debug, LegacyLogLevel));
        let c = cfg(&all[3..]);
        assert_eq!((c.log().level(), c.log().level_source()), (LogLevel::Trace, RustLog));
    }

    #[test]
    fn rust_log_directives_keep_per_target_levels() {
        let c = cfg(&[("RUST_LOG", "warn,my_crate=debug")]);
        assert!(c.log().filter().would_enable("my_crate::x", &tracing::Level::DEBUG));
        assert!(!c.log().filter().would_enable("other", &tracing::Level::INFO));
        let c = cfg(&[("RUST_LOG", "my_crate=debug")]);
        assert!(c.log().filter().would_enable("other", &tracing::Level::INFO));
        assert!(!c.log().filter().would_enable("other", &tracing::Level::DEBUG));
    }

    #[test]
    fn invalid_level_warns_and_falls_through() {
        let c = cfg(&[("AWS_LAMBDA_LOG_LEVEL", "LOUD"), ("POWERTOOLS_LOG_LEVEL", "debug")]);
        assert_eq!(c.log().level(), LogLevel::Debug);
        assert_eq!(c.warnings().len(), 1);
        let w = &c.warnings()[0];
        assert_eq!((w.variable(), w.value()), (AWS_LAMBDA_LOG_LEVEL, "LOUD"));
        assert!(w.to_string().contains("LOUD") && w.to_string().contains(AWS_LAMBDA_LOG_LEVEL));
        let c = cfg(&[("RUST_LOG", "=[{")]);
        assert_eq!(c.log().level(), LogLevel::Info);
        assert_eq!(c.warnings()[0].variable(), RUST_LOG);
    }

    #[test]
    fn lambda_level_stricter_than_code_is_reported() {
        let c = Config::builder()
            .log_level(LogLevel::Debug)
            .build_from(&EnvVars::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "WARN")]));
        assert_eq!(c.log().level(), LogLevel::Warn);
        assert_eq!(c.warnings().len(), 1);
    }

    #[test]
    fn sample_rate_validation() {
        for bad in ["abc", "-0.1", "1.5", "NaN"] {
            let c = cfg(&[("POWERTOOLS_LOGGER_SAMPLE_RATE", bad)]);
            assert_eq!(c.log().sample_rate(), 0.0, "{bad}");
            assert_eq!(c.warnings().len(), 1, "{bad}");
            assert_eq!(c.warnings()[0].value(), bad);
        }
        assert_eq!(cfg(&[("POWERTOOLS_LOGGER_SAMPLE_RATE", "0.25")]).log().sample_rate(), 0.25);
        assert_eq!(Config::builder().sample_rate(7.0).build_from(&EnvVars::empty()).log().sample_rate(), 0.0);
    }

    #[test]
    fn booleans() {
        let c = cfg(&[
            ("POWERTOOLS_DEV", "TRUE"),
            ("POWERTOOLS_METRICS_DISABLED", "1"),
            ("POWERTOOLS_TRACE_DISABLED", "nope"),
            ("POWERTOOLS_LOGGER_LOG_EVENT", "yes"),
        ]);
        assert!(c.log().dev());
        assert!(c.metrics_disabled());
        assert!(!c.trace_disabled());
        assert!(c.log().log_event());
        assert_eq!(c.warnings().len(), 1);
        assert_eq!(c.warnings()[0].variable(), POWERTOOLS_TRACE_DISABLED);
    }

    #[test]
    fn lambda_json_format_and_emf_warning() {
        let c = cfg(&[("AWS_LAMBDA_LOG_FORMAT", "json"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
        assert_eq!(c.log().lambda_format(), LambdaLogFormat::Json);
        assert!(c.log().lambda_drops_emf());
        assert!(!cfg(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", "INFO")]).log().lambda_drops_emf());
        assert!(!cfg(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")]).log().lambda_drops_emf());
        let bad = cfg(&[("AWS_LAMBDA_LOG_FORMAT", "xml")]);
        assert_eq!(bad.log().lambda_format(), LambdaLogFormat::Text);
        assert_eq!(bad.warnings().len(), 1);
    }

    #[test]
    fn xray_and_init_type() {
        let c = cfg(&[
            ("AWS_XRAY_CONTEXT_MISSING", "ignore_error"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency"),
            ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
        ]);
        assert_eq!(c.context_missing(), ContextMissing::IgnoreError);
        assert_eq!(c.initialization_type(), &InitializationType::ProvisionedConcurrency);
        assert_eq!(c.xray_daemon_address(), Some("169.254.79.129:2000"));
        let c = cfg(&[
            ("AWS_XRAY_CONTEXT_MISSING", "PANIC"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"),
        ]);
        assert_eq!(c.context_missing(), ContextMissing::LogError);
        assert_eq!(c.initialization_type(), &InitializationType::Other("lambda-managed-instances".into()));
        assert_eq!(c.warnings().len(), 1);
    }

    /// An invalid daemon address is a configuration warning (written when the logger is
    /// installed), besides the emitter's own ERROR (which may come before any subscriber).
    #[test]
    fn an_invalid_daemon_address_is_a_warning_unless_tracing_is_off() {
        for bad in ["udp:127.0.0.1:2000", "tcp:127.0.0.1:2000", "nohost", "1.2.3.4:port"] {
            let c = cfg(&[("AWS_XRAY_DAEMON_ADDRESS", bad)]);
            assert!(c.warnings().iter().any(|w| w.variable() == AWS_XRAY_DAEMON_ADDRESS), "{bad}");
        }
        for (name, value, disabled) in [
            (AWS_XRAY_SDK_ENABLED, "false", true),
            (AWS_XRAY_SDK_ENABLED, "FALSE", true),
            (AWS_XRAY_SDK_ENABLED, "true", false),
            (AWS_XRAY_SDK_ENABLED, "", false),
            (POWERTOOLS_TRACE_DISABLED, "true", true),
        ] {
            assert_eq!(cfg(&[(name, value)]).trace_disabled(), disabled, "{name}={value}");
        }
        let sdk = cfg(&[(AWS_XRAY_SDK_ENABLED, "maybe")]);
        assert!(!sdk.trace_disabled());
        assert_eq!(sdk.warnings()[0].variable(), AWS_XRAY_SDK_ENABLED);
        let off = cfg(&[("AWS_XRAY_DAEMON_ADDRESS", "nohost"), ("POWERTOOLS_TRACE_DISABLED", "true")]);
        assert!(off.warnings().is_empty());
        assert!(cfg(&[("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000")]).warnings().is_empty());
    }

    #[test]
    fn redact_keys_extend_from_env() {
        let c = cfg(&[("STREAMER_LOG_REDACT_KEYS", "SSN, card_number")]);
        assert!(c.log().redact_keys().iter().any(|k| k == "ssn"));
        assert!(c.log().redact_keys().iter().any(|k| k == "authorization"));
    }
}
