//! Standard alarms as data: [`AlarmSpec`], checked against the `PutMetricAlarm` rules
//! (C-7 to C-10) by [`AlarmSpec::validate`] before any call, and applied with
//! `PutMetricAlarm` by `apply_alarms` (feature `cloudwatch`).
//!
//! [`standard_alarms`] builds the reference system's alarms, fixing the Go system's
//! defects: the custom-metric alarms select `[Environment]`, a dimension set the handlers
//! really emit (see [`super::standard`]); the environment is in every name;
//! thresholds are configurable; actions can be attached.
//!
//! ```
//! use std::time::Duration;
//! use streamer_obs::metrics::alarm::{AlarmConfig, FunctionAlarms, standard_alarms};
//! let config = AlarmConfig::new("prod").function(FunctionAlarms::new("streamer-connect", Duration::from_secs(10)));
//! let alarms = standard_alarms(&config);
//! assert_eq!(alarms[0].name, "streamer-prod-high-connection-failures");
//! assert_eq!(alarms.len(), 6);
//! assert!(alarms.iter().all(|a| a.validate().is_ok()));
//! ```

use std::time::Duration;

use super::name::{Namespace, dimension_name_error, dimension_value_error};
use super::standard;
use super::unit::StorageResolution;

/// A simple statistic (`Statistic`).
///
/// ```
/// use streamer_obs::metrics::alarm::Statistic;
/// assert_eq!(Statistic::Average.as_str(), "Average");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// `SampleCount`.
    SampleCount,
    /// `Average`.
    Average,
    /// `Sum`.
    Sum,
    /// `Minimum`.
    Minimum,
    /// `Maximum`.
    Maximum,
}

impl Statistic {
    /// The API name.
    ///
    /// ```
    /// assert_eq!(streamer_obs::metrics::alarm::Statistic::Sum.as_str(), "Sum");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Statistic::SampleCount => "SampleCount",
            Statistic::Average => "Average",
            Statistic::Sum => "Sum",
            Statistic::Minimum => "Minimum",
            Statistic::Maximum => "Maximum",
        }
    }
}

/// Exactly one of `Statistic` or `ExtendedStatistic` (C-8), by construction.
///
/// ```
/// use streamer_obs::metrics::alarm::{AlarmStatistic, Statistic};
/// let p99 = AlarmStatistic::Extended("p99".to_owned());
/// assert_ne!(p99, AlarmStatistic::Simple(Statistic::Maximum));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmStatistic {
    /// A simple statistic.
    Simple(Statistic),
    /// A percentile or trimmed statistic (`p99`, `tm90`, `IQM`, `TM(10%:90%)`, ...).
    Extended(String),
}

/// The static-threshold comparisons (the anomaly-band ones do not apply, C-8).
///
/// ```
/// use streamer_obs::metrics::alarm::Comparison;
/// assert_eq!(Comparison::LessThan.as_str(), "LessThanThreshold");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `GreaterThanOrEqualToThreshold`.
    GreaterThanOrEqual,
    /// `GreaterThanThreshold`.
    GreaterThan,
    /// `LessThanThreshold`.
    LessThan,
    /// `LessThanOrEqualToThreshold`.
    LessThanOrEqual,
}

impl Comparison {
    /// The API name.
    ///
    /// ```
    /// use streamer_obs::metrics::alarm::Comparison;
    /// assert_eq!(Comparison::GreaterThan.as_str(), "GreaterThanThreshold");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqual => "GreaterThanOrEqualToThreshold",
            Comparison::GreaterThan => "GreaterThanThreshold",
            Comparison::LessThan => "LessThanThreshold",
            Comparison::LessThanOrEqual => "LessThanOrEqualToThreshold",
        }
    }
}

/// `TreatMissingData` (C-10).
///
/// ```
/// use streamer_obs::metrics::alarm::TreatMissingData;
/// assert_eq!(TreatMissingData::default().as_str(), "notBreaching");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreatMissingData {
    /// `breaching`.
    Breaching,
    /// `notBreaching` (our default: no traffic is not an incident).
    #[default]
    NotBreaching,
    /// `ignore`.
    Ignore,
    /// `missing`.
    Missing,
}

impl TreatMissingData {
    /// The API name.
    ///
    /// ```
    /// use streamer_obs::metrics::alarm::TreatMissingData;
    /// assert_eq!(TreatMissingData::NotBreaching.as_str(), "notBreaching");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            TreatMissingData::Breaching => "breaching",
            TreatMissingData::NotBreaching => "notBreaching",
            TreatMissingData::Ignore => "ignore",
            TreatMissingData::Missing => "missing",
        }
    }
}

/// One static-threshold metric alarm (the `MetricName` form of `PutMetricAlarm`; `Unit`
/// is deliberately never sent, C-10).
///
/// ```
/// use streamer_obs::metrics::alarm::{AlarmConfig, standard_alarms};
/// let spec = &standard_alarms(&AlarmConfig::new("prod"))[1];
/// assert_eq!(spec.metric_name, "ConnectionFailed");
/// assert_eq!(spec.dimensions, vec![("Environment".to_owned(), "prod".to_owned())]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    /// `AlarmName`: 1 to 255 characters, no ASCII control characters.
    pub name: String,
    /// `AlarmDescription`: at most 1024 characters.
    pub description: String,
    /// `Namespace` (ours, or `AWS/Lambda`).
    pub namespace: String,
    /// `MetricName`.
    pub metric_name: String,
    /// `Dimensions`: the exact set the alarm selects (at most 30).
    pub dimensions: Vec<(String, String)>,
    /// `Statistic` or `ExtendedStatistic`.
    pub statistic: AlarmStatistic,
    /// `Period` in seconds: 10, 20, 30 or a multiple of 60; 10, 20 and 30 only for a
    /// metric published with [`StorageResolution::High`] (C-8).
    pub period_secs: u32,
    /// The `StorageResolution` the watched metric is published with. Not sent to
    /// `PutMetricAlarm`; [`AlarmSpec::validate`] refuses a 10/20/30 s period unless it is
    /// [`StorageResolution::High`] (C-8: such a period on a metric stored per minute
    /// watches periods that never hold a datapoint, and the alarm never fires). Every
    /// `AWS/` metric and every standard alarm's metric is [`StorageResolution::Standard`].
    pub resolution: StorageResolution,
    /// `EvaluationPeriods` (N).
    pub evaluation_periods: u32,
    /// `DatapointsToAlarm` (M of N).
    pub datapoints_to_alarm: u32,
    /// `Threshold`.
    pub threshold: f64,
    /// `ComparisonOperator`.
    pub comparison: Comparison,
    /// `TreatMissingData`.
    pub treat_missing_data: TreatMissingData,
    /// `AlarmActions` (at most 5 ARNs).
    pub alarm_actions: Vec<String>,
    /// `OKActions` (at most 5 ARNs).
    pub ok_actions: Vec<String>,
}

/// Why an [`AlarmSpec`] breaks the `PutMetricAlarm` rules.
///
/// ```
/// use streamer_obs::metrics::alarm::{AlarmConfig, standard_alarms};
/// let mut spec = standard_alarms(&AlarmConfig::new("prod"))[0].clone();
/// spec.evaluation_periods = 0;
/// let err = spec.validate().unwrap_err();
/// assert_eq!(err.alarm, "streamer-prod-high-connection-failures");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alarm {alarm:?}: {reason}")]
pub struct AlarmError {
    /// The alarm name.
    pub alarm: String,
    /// The broken rule.
    pub reason: String,
}

fn extended_statistic_is_valid(s: &str) -> bool {
    /// `\d+(\.\d+)?` within `lo..=hi`.
    fn number(n: &str, lo: f64, hi: f64) -> Option<f64> {
        let (whole, fraction) = n.split_once('.').unwrap_or((n, "0"));
        let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !digits(fraction) {
            return None;
        }
        n.parse::<f64>().ok().filter(|v| *v >= lo && *v <= hi)
    }
    if s == "IQM" {
        return true;
    }
    for prefix in ["PR", "TC", "TM", "TS", "WM"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
                return false;
            };
            let Some((a, b)) = inner.split_once(':') else {
                return false;
            };
            if a.is_empty() && b.is_empty() {
                return false;
            }
            // `PR(n:m)` bounds are metric values; the others take percentages 10 to 90
            // (`TM(10%:90%)`) or values, lower below upper when both are given.
            let bound = |x: &str| -> Option<Option<(f64, bool)>> {
                if x.is_empty() {
                    return Some(None);
                }
                match x.strip_suffix('%') {
                    Some(_) if prefix == "PR" => None,
                    Some(p) => number(p, 10.0, 90.0).map(|v| Some((v, true))),
                    None => number(x, 0.0, f64::MAX).map(|v| Some((v, false))),
                }
            };
            return match (bound(a), bound(b)) {
                (Some(Some((lo, pa))), Some(Some((hi, pb)))) => pa == pb && lo < hi,
                (Some(_), Some(_)) => true,
                _ => false,
            };
        }
    }
    if let Some(n) = s.strip_prefix('p') {
        return number(n, 0.0, 100.0).is_some();
    }
    for prefix in ["tm", "tc", "ts", "wm"] {
        if let Some(n) = s.strip_prefix(prefix) {
            return number(n, 0.0, 100.0).is_some();
        }
    }
    false
}

impl AlarmSpec {
    /// Checks the spec against C-7 to C-10: the name, exactly one statistic (and a valid
    /// extended one), the period (10/20/30 or a multiple of 60), N ≥ 1, 1 ≤ M ≤ N,
    /// period × N ≤ 7 days (≤ 1 day when the period is under an hour), a finite
    /// threshold, at most 30 valid dimensions, at most 5 actions of each kind.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_obs::metrics::alarm::{AlarmConfig, standard_alarms};
    /// let mut alarm = standard_alarms(&AlarmConfig::new("dev"))[0].clone();
    /// alarm.period_secs = 45;
    /// assert!(alarm.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), AlarmError> {
        let fail = |reason: String| Err(AlarmError { alarm: self.name.clone(), reason });
        if self.name.is_empty() || self.name.chars().count() > 255 || self.name.chars().any(|c| c.is_ascii_control()) {
            return fail("AlarmName must be 1 to 255 characters without control characters".into());
        }
        if self.description.chars().count() > 1024 {
            return fail("AlarmDescription is longer than 1024 characters".into());
        }
        if self.metric_name.trim().is_empty() || self.metric_name.chars().count() > 255 {
            return fail("MetricName must be 1 to 255 characters".into());
        }
        // An alarm may watch any AWS namespace (`AWS/Lambda`, `AWS/ApiGateway`, ...): the
        // `AWS/` ban is for publishing (E-15).
        let ns_ok = match self.namespace.strip_prefix("AWS/") {
            Some(service) => {
                !service.is_empty() && Namespace::new(service.to_owned()).is_ok() && self.namespace.len() <= 255
            }
            None => Namespace::new(self.namespace.clone()).is_ok(),
        };
        if !ns_ok {
            return fail(format!("invalid Namespace {:?}", self.namespace));
        }
        if let AlarmStatistic::Extended(s) = &self.statistic
            && !extended_statistic_is_valid(s)
        {
            return fail(format!("invalid ExtendedStatistic {s:?}"));
        }
        let p = self.period_secs;
        if !(p == 10 || p == 20 || p == 30 || (p > 0 && p.is_multiple_of(60))) {
            return fail(format!("Period {p} must be 10, 20, 30 or a multiple of 60"));
        }
        if p < 60 && self.resolution != StorageResolution::High {
            return fail(format!(
                "Period {p} needs a metric published with StorageResolution 1 (this one is stored per minute)"
            ));
        }
        if self.evaluation_periods == 0 {
            return fail("EvaluationPeriods must be at least 1".into());
        }
        if self.datapoints_to_alarm == 0 || self.datapoints_to_alarm > self.evaluation_periods {
            return fail("DatapointsToAlarm must be between 1 and EvaluationPeriods".into());
        }
        let total = u64::from(p) * u64::from(self.evaluation_periods);
        if total > 604_800 {
            return fail(format!("Period x EvaluationPeriods = {total} s exceeds 7 days"));
        }
        if p < 3600 && total > 86_400 {
            return fail(format!("Period x EvaluationPeriods = {total} s exceeds 1 day for a period under 1 hour"));
        }
        if !self.threshold.is_finite() {
            return fail("Threshold must be finite".into());
        }
        if self.dimensions.len() > 30 {
            return fail("more than 30 dimensions".into());
        }
        for (k, v) in &self.dimensions {
            if dimension_name_error(k).is_some() || dimension_value_error(v).is_some() {
                return fail(format!("invalid dimension {k:?}={v:?}"));
            }
        }
        for actions in [&self.alarm_actions, &self.ok_actions] {
            if actions.len() > 5 || actions.iter().any(|a| a.is_empty() || a.len() > 1024) {
                return fail("at most 5 actions of each kind, each 1 to 1024 characters".into());
            }
        }
        Ok(())
    }
}

/// The per-function Lambda alarms of one function.
///
/// ```
/// use std::time::Duration;
/// use streamer_obs::metrics::alarm::FunctionAlarms;
/// let f = FunctionAlarms::new("streamer-connect", Duration::from_secs(10));
/// assert_eq!(f.errors_threshold, 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionAlarms {
    /// The function name (the `FunctionName` dimension of `AWS/Lambda`).
    pub function_name: String,
    /// The function timeout: the Duration p99 alarm fires at 90 % of it.
    pub timeout: Duration,
    /// Errors (Sum over 5 minutes) above this fire (default 0: any error).
    pub errors_threshold: f64,
    /// Throttles (Sum over 5 minutes) above this fire (default 0: any throttle).
    pub throttles_threshold: f64,
}

impl FunctionAlarms {
    /// Defaults for `function_name` with `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let f = streamer_obs::metrics::alarm::FunctionAlarms::new("f", Duration::from_secs(3));
    /// assert_eq!(f.function_name, "f");
    /// ```
    pub fn new(function_name: impl Into<String>, timeout: Duration) -> Self {
        Self { function_name: function_name.into(), timeout, errors_threshold: 0.0, throttles_threshold: 0.0 }
    }
}

/// Inputs of [`standard_alarms`]: environment, namespace, thresholds, actions, functions.
///
/// ```
/// use streamer_obs::metrics::alarm::AlarmConfig;
/// let mut c = AlarmConfig::new("prod");
/// c.processing_latency_ms = 500.0;
/// assert_eq!(c.connection_failures_threshold, 10.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    /// The environment (in every alarm name and the `Environment` dimension).
    pub environment: String,
    /// The namespace of our metrics.
    pub namespace: Namespace,
    /// `AuthenticationFailed` Sum over 5 minutes above this fires (default 10).
    pub connection_failures_threshold: f64,
    /// `ConnectionFailed` Sum over 5 minutes above this fires (default 0: any connect the
    /// server could not complete; they answer 500, which Lambda's `Errors` never counts).
    pub connection_errors_threshold: f64,
    /// Whether to include the `MessageFailed` alarm (default false): only a component that
    /// pushes messages (a connection manager) publishes `MessageFailed`; the alarm on a
    /// metric nothing publishes would never fire.
    pub message_alarms: bool,
    /// `MessageFailed` Sum over 5 minutes above this fires (default 50).
    pub message_failures_threshold: f64,
    /// `ProcessingLatency` Average (ms) above this fires (default 1000).
    pub processing_latency_ms: f64,
    /// Alarm actions (SNS topic ARNs) attached to every alarm.
    pub actions: Vec<String>,
    /// Functions that get the Lambda alarms.
    pub functions: Vec<FunctionAlarms>,
}

impl AlarmConfig {
    /// The seed's thresholds for `environment`, namespace `Streamer`, no actions.
    ///
    /// ```
    /// let c = streamer_obs::metrics::alarm::AlarmConfig::new("dev");
    /// assert_eq!(c.namespace.as_str(), "Streamer");
    /// ```
    pub fn new(environment: impl Into<String>) -> Self {
        let environment: String = environment.into();
        Self {
            // As the metrics' `Environment` dimension has it (`Config` trims it too).
            environment: environment.trim().to_owned(),
            namespace: Namespace::streamer(),
            connection_failures_threshold: 10.0,
            connection_errors_threshold: 0.0,
            message_alarms: false,
            message_failures_threshold: 50.0,
            processing_latency_ms: 1000.0,
            actions: Vec::new(),
            functions: Vec::new(),
        }
    }

    /// The thresholds the Go system deployed per environment (its Pulumi alarms):
    /// `dev` 5 / 20 / 2000 ms, `staging` 10 / 50 / 1000 ms, `prod` or `production`
    /// 20 / 100 / 500 ms (connection failures / message failures / processing latency);
    /// any other environment gets the defaults of [`AlarmConfig::new`].
    ///
    /// ```
    /// use streamer_obs::metrics::alarm::AlarmConfig;
    /// let prod = AlarmConfig::with_seed_thresholds("production");
    /// assert_eq!((prod.connection_failures_threshold, prod.processing_latency_ms), (20.0, 500.0));
    /// assert_eq!(AlarmConfig::with_seed_thresholds("qa"), AlarmConfig::new("qa"));
    /// ```
    pub fn with_seed_thresholds(environment: impl Into<String>) -> Self {
        let mut c = Self::new(environment);
        let (conn, msg, latency) = match c.environment.as_str() {
            "dev" => (5.0, 20.0, 2000.0),
            "staging" => (10.0, 50.0, 1000.0),
            "prod" | "production" => (20.0, 100.0, 500.0),
            _ => (c.connection_failures_threshold, c.message_failures_threshold, c.processing_latency_ms),
        };
        c.connection_failures_threshold = conn;
        c.message_failures_threshold = msg;
        c.processing_latency_ms = latency;
        c
    }

    /// The alarms of what a function with `config` publishes: its environment (as the
    /// `Environment` dimension carries it) and its namespace, with the seed's thresholds
    /// for that environment.
    ///
    /// ```
    /// use streamer_obs::config::{Config, EnvVars};
    /// use streamer_obs::metrics::alarm::AlarmConfig;
    /// let config = Config::builder().environment("prod").namespace("Chat").build_from(&EnvVars::empty());
    /// let c = AlarmConfig::from_config(&config);
    /// assert_eq!((c.environment.as_str(), c.namespace.as_str()), ("prod", "Chat"));
    /// // A value the metrics cannot carry (a credential) is `unknown` in both.
    /// let config = Config::builder().environment("token=abc123").build_from(&EnvVars::empty());
    /// assert_eq!(AlarmConfig::from_config(&config).environment, "unknown");
    /// ```
    pub fn from_config(config: &crate::config::Config) -> Self {
        // The `Environment` value the metrics carry: a configured value no dimension can
        // hold (a credential, too long) is `unknown` there, so it is here too.
        let environment = crate::metrics::dimension::DimensionValue::from_config(config.environment());
        let mut c = Self::with_seed_thresholds(environment.as_str());
        if let Ok(namespace) = Namespace::new(config.namespace().to_owned()) {
            c.namespace = namespace;
        }
        c
    }

    /// Adds a function's Lambda alarms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_obs::metrics::alarm::{AlarmConfig, FunctionAlarms};
    /// let c = AlarmConfig::new("dev").function(FunctionAlarms::new("f", Duration::from_secs(3)));
    /// assert_eq!(c.functions.len(), 1);
    /// ```
    pub fn function(mut self, f: FunctionAlarms) -> Self {
        self.functions.push(f);
        self
    }
}

fn custom(
    c: &AlarmConfig,
    suffix: &str,
    metric: &str,
    statistic: Statistic,
    threshold: f64,
    evaluation_periods: u32,
    description: &str,
) -> AlarmSpec {
    AlarmSpec {
        name: format!("streamer-{}-{suffix}", c.environment),
        description: description.to_owned(),
        namespace: c.namespace.as_str().to_owned(),
        metric_name: metric.to_owned(),
        dimensions: vec![(standard::ENVIRONMENT.as_str().to_owned(), c.environment.clone())],
        statistic: AlarmStatistic::Simple(statistic),
        period_secs: 300,
        resolution: StorageResolution::Standard,
        evaluation_periods,
        datapoints_to_alarm: 1,
        threshold,
        comparison: Comparison::GreaterThan,
        treat_missing_data: TreatMissingData::NotBreaching,
        alarm_actions: c.actions.clone(),
        ok_actions: c.actions.clone(),
    }
}

/// The standard alarms: `streamer-<env>-high-connection-failures` (AuthenticationFailed
/// Sum > threshold in 5 minutes), `streamer-<env>-connection-errors` (ConnectionFailed
/// Sum > threshold, default 0, in 5 minutes), with [`AlarmConfig::message_alarms`]
/// `streamer-<env>-high-message-failures` (MessageFailed Sum > threshold in 5 minutes),
/// `streamer-<env>-high-processing-latency` (ProcessingLatency Average > threshold ms),
/// all by `[Environment]`; and per function
/// `streamer-<env>-<function>-errors`, `-throttles`, `-duration-p99` (p99 > 90 % of the
/// timeout) in `AWS/Lambda` by `[FunctionName]`.
///
/// ```
/// use streamer_obs::metrics::alarm::{AlarmConfig, standard_alarms};
/// let alarms = standard_alarms(&AlarmConfig::new("prod"));
/// assert_eq!(alarms.len(), 3);
/// assert_eq!(alarms[2].name, "streamer-prod-high-processing-latency");
/// ```
pub fn standard_alarms(c: &AlarmConfig) -> Vec<AlarmSpec> {
    let mut out = vec![
        custom(
            c,
            "high-connection-failures",
            standard::AUTHENTICATION_FAILED,
            Statistic::Sum,
            c.connection_failures_threshold,
            2,
            "Too many refused WebSocket connections",
        ),
        custom(
            c,
            "connection-errors",
            standard::CONNECTION_FAILED,
            Statistic::Sum,
            c.connection_errors_threshold,
            1,
            "WebSocket connections the server could not complete (answered 500)",
        ),
        custom(
            c,
            "high-processing-latency",
            standard::PROCESSING_LATENCY,
            Statistic::Average,
            c.processing_latency_ms,
            3,
            "Handler processing latency too high (ms)",
        ),
    ];
    if c.message_alarms {
        out.insert(
            2,
            custom(
                c,
                "high-message-failures",
                standard::MESSAGE_FAILED,
                Statistic::Sum,
                c.message_failures_threshold,
                2,
                "Too many failed message pushes",
            ),
        );
    }
    for f in &c.functions {
        let lambda =
            |suffix: &str, metric: &str, statistic: AlarmStatistic, threshold: f64, n: u32, m: u32| AlarmSpec {
                name: format!("streamer-{}-{}-{suffix}", c.environment, f.function_name),
                description: format!("{metric} of Lambda function {}", f.function_name),
                namespace: Namespace::aws_lambda().as_str().to_owned(),
                metric_name: metric.to_owned(),
                dimensions: vec![(standard::FUNCTION_NAME.as_str().to_owned(), f.function_name.clone())],
                statistic,
                period_secs: 300,
                resolution: StorageResolution::Standard,
                evaluation_periods: n,
                datapoints_to_alarm: m,
                threshold,
                comparison: Comparison::GreaterThan,
                treat_missing_data: TreatMissingData::NotBreaching,
                alarm_actions: c.actions.clone(),
                ok_actions: c.actions.clone(),
            };
        out.push(lambda("errors", "Errors", AlarmStatistic::Simple(Statistic::Sum), f.errors_threshold, 1, 1));
        out.push(lambda("throttles", "Throttles", AlarmStatistic::Simple(Statistic::Sum), f.throttles_threshold, 1, 1));
        out.push(lambda(
            "duration-p99",
            "Duration",
            AlarmStatistic::Extended("p99".to_owned()),
            f.timeout.as_secs_f64() * 1000.0 * 0.9,
            3,
            2,
        ));
    }
    out
}

/// Why [`apply_alarms`] stopped.
///
/// ```
/// use streamer_obs::metrics::alarm::{AlarmConfig, ApplyError, standard_alarms};
/// let mut spec = standard_alarms(&AlarmConfig::new("prod"))[0].clone();
/// spec.period_secs = 7;
/// let err: ApplyError = spec.validate().unwrap_err().into();
/// assert!(matches!(err, ApplyError::Invalid(_)));
/// ```
#[cfg(feature = "cloudwatch")]
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A spec breaks the API rules: nothing was sent.
    #[error(transparent)]
    Invalid(#[from] AlarmError),
    /// `PutMetricAlarm` failed for `alarm` (the alarms before it were applied).
    #[error("PutMetricAlarm {alarm}: {message}")]
    Api {
        /// The alarm name.
        alarm: String,
        /// The SDK error with its context.
        message: String,
    },
}

#[cfg(feature = "cloudwatch")]
impl AlarmSpec {
    /// The `PutMetricAlarm` call for this spec (`Unit` never set, C-10).
    ///
    /// ```
    /// # async fn f() {
    /// use streamer_obs::metrics::alarm::{AlarmConfig, standard_alarms};
    /// let sdk = streamer_obs::aws::emulator_config("http://127.0.0.1:1", "us-east-1").await;
    /// let client = aws_sdk_cloudwatch::Client::new(&sdk);
    /// let request = standard_alarms(&AlarmConfig::new("prod"))[0].to_request(&client);
    /// assert_eq!(request.get_alarm_name().as_deref(), Some("streamer-prod-high-connection-failures"));
    /// # }
    /// ```
    pub fn to_request(
        &self,
        client: &aws_sdk_cloudwatch::Client,
    ) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic as SdkStatistic};
        let mut req = client
            .put_metric_alarm()
            .alarm_name(&self.name)
            .alarm_description(&self.description)
            .namespace(&self.namespace)
            .metric_name(&self.metric_name)
            .set_dimensions(Some(
                self.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect(),
            ))
            .period(self.period_secs as i32)
            .evaluation_periods(self.evaluation_periods as i32)
            .datapoints_to_alarm(self.datapoints_to_alarm as i32)
            .threshold(self.threshold)
            .comparison_operator(ComparisonOperator::from(self.comparison.as_str()))
            .treat_missing_data(self.treat_missing_data.as_str())
            .actions_enabled(true)
            .set_alarm_actions(Some(self.alarm_actions.clone()))
            .set_ok_actions(Some(self.ok_actions.clone()));
        req = match &self.statistic {
            AlarmStatistic::Simple(s) => req.statistic(SdkStatistic::from(s.as_str())),
            AlarmStatistic::Extended(s) => req.extended_statistic(s),
        };
        req
    }
}

/// Validates every spec first (nothing is sent when one is invalid), then applies them
/// in order with `PutMetricAlarm` (which replaces an existing alarm's configuration).
/// Returns how many were applied.
///
/// ```no_run
/// use std::time::Duration;
/// use streamer_obs::metrics::alarm::{AlarmConfig, FunctionAlarms, apply_alarms, standard_alarms};
/// # async fn f() {
/// let sdk = streamer_obs::aws::load_config().await;
/// let client = aws_sdk_cloudwatch::Client::new(&sdk);
/// let config = AlarmConfig::new("prod").function(FunctionAlarms::new("streamer-connect", Duration::from_secs(10)));
/// let applied = apply_alarms(&client, &standard_alarms(&config)).await.unwrap();
/// assert_eq!(applied, 6);
/// # }
/// ```
#[cfg(feature = "cloudwatch")]
pub async fn apply_alarms(client: &aws_sdk_cloudwatch::Client, alarms: &[AlarmSpec]) -> Result<usize, ApplyError> {
    for (i, a) in alarms.iter().enumerate() {
        a.validate()?;
        // Names are unique in a Region and each call replaces the whole alarm: a repeated
        // name would silently replace the earlier spec.
        if alarms[..i].iter().any(|b| b.name == a.name) {
            return Err(AlarmError { alarm: a.name.clone(), reason: "AlarmName appears twice".into() }.into());
        }
    }
    for a in alarms {
        a.to_request(client).send().await.map_err(|e| ApplyError::Api {
            alarm: a.name.clone(),
            message: aws_sdk_cloudwatch::error::DisplayErrorContext(&e).to_string(),
        })?;
    }
    Ok(alarms.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> AlarmSpec {
        standard_alarms(&AlarmConfig::new("prod"))[0].clone()
    }

    #[test]
    fn periods_follow_c8() {
        for (p, ok) in
            [(10, true), (20, true), (30, true), (60, true), (300, true), (0, false), (45, false), (90, false)]
        {
            let mut a = base();
            a.period_secs = p;
            a.evaluation_periods = 1;
            a.resolution = StorageResolution::High;
            assert_eq!(a.validate().is_ok(), ok, "{p}");
        }
    }

    #[test]
    fn sub_minute_periods_need_high_resolution_c8() {
        for p in [10, 20, 30] {
            let mut a = base();
            a.period_secs = p;
            a.evaluation_periods = 1;
            let err = a.validate().unwrap_err();
            assert!(err.reason.contains("StorageResolution 1"), "{err}");
            a.resolution = StorageResolution::High;
            assert!(a.validate().is_ok(), "{p}");
        }
        // A minute or more suits both resolutions.
        let mut a = base();
        a.period_secs = 60;
        assert!(a.validate().is_ok());
        a.resolution = StorageResolution::High;
        assert!(a.validate().is_ok());
    }

    #[test]
    fn period_times_evaluations_caps_c9() {
        let mut a = base();
        a.period_secs = 60;
        a.evaluation_periods = 1440;
        assert!(a.validate().is_ok());
        a.evaluation_periods = 1441;
        assert!(a.validate().is_err());
        a.period_secs = 3600;
        a.evaluation_periods = 168;
        assert!(a.validate().is_ok());
        a.evaluation_periods = 169;
        assert!(a.validate().is_err());
    }

    #[test]
    fn m_of_n_and_names() {
        let mut a = base();
        a.datapoints_to_alarm = 3;
        assert!(a.validate().is_err());
        let mut a = base();
        a.name = "bad\u{7}".into();
        assert!(a.validate().is_err());
        let mut a = base();
        a.threshold = f64::NAN;
        assert!(a.validate().is_err());
        let mut a = base();
        a.alarm_actions = vec!["arn".into(); 6];
        assert!(a.validate().is_err());
    }

    #[test]
    fn extended_statistics() {
        for ok in ["p99", "p99.9", "tm90", "IQM", "TM(10%:90%)", "PR(:300)", "wm50", "TC(0.5:2)", "TS(20%:)"] {
            assert!(extended_statistic_is_valid(ok), "{ok}");
        }
        for bad in [
            "p101",
            "q50",
            "TM(10%90%)",
            "p",
            "TM()",
            "P99",
            "TM(5%:95%)",
            "TM(0%:100%)",
            "TM(150%:200%)",
            "TM(90%:10%)",
            "WM(1%:99%)",
            "PR(10%:90%)",
            "p.5",
            "p1.",
            "TM(10%:300)",
        ] {
            assert!(!extended_statistic_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn standard_alarms_are_valid_and_named_by_environment() {
        let c = AlarmConfig::new("staging").function(FunctionAlarms::new("connect", Duration::from_secs(30)));
        let alarms = standard_alarms(&c);
        let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "streamer-staging-high-connection-failures",
                "streamer-staging-connection-errors",
                "streamer-staging-high-processing-latency",
                "streamer-staging-connect-errors",
                "streamer-staging-connect-throttles",
                "streamer-staging-connect-duration-p99",
            ]
        );
        for a in &alarms {
            a.validate().unwrap();
        }
        assert_eq!(alarms[5].threshold, 27_000.0);
        // The message alarm only for a component that pushes messages.
        let with_messages = AlarmConfig { message_alarms: true, ..AlarmConfig::new("staging") };
        let names: Vec<String> = standard_alarms(&with_messages).into_iter().map(|a| a.name).collect();
        assert_eq!(names[2], "streamer-staging-high-message-failures");
    }

    #[test]
    fn any_aws_namespace_may_be_watched_and_the_environment_is_trimmed() {
        let mut a = base();
        a.namespace = "AWS/ApiGateway".into();
        assert!(a.validate().is_ok());
        a.namespace = "AWS/".into();
        assert!(a.validate().is_err());
        assert_eq!(AlarmConfig::new(" prod ").environment, "prod");
    }
}
