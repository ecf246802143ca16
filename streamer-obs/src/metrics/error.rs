//! The typed errors of the metrics API.

/// Why a metric, a name or a value was refused.
///
/// The `try_*` and constructor APIs return it at the call site; the infallible
/// task-local recording functions ([`crate::metrics::add`], ...) drop the datum and
/// write exactly one WARN log line with this error and the metric name instead.
///
/// ```
/// use streamer_obs::metrics::{MetricName, MetricsError};
/// assert!(matches!(MetricName::new(""), Err(MetricsError::InvalidMetricName { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A namespace breaks rule E-15 (`[A-Za-z0-9._#:/ -]{1,255}`, not `:`/`AWS/` first, not blank).
    #[error("invalid namespace {name:?}: {reason}")]
    InvalidNamespace {
        /// The refused namespace.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A metric name breaks rule E-18 (1 to 255 characters, not blank, no control characters).
    #[error("invalid metric name {name:?}: {reason}")]
    InvalidMetricName {
        /// The refused name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A dimension name breaks rule E-16 (ASCII, 1 to 250, not blank, not `:` first).
    #[error("invalid dimension name {name:?}: {reason}")]
    InvalidDimensionName {
        /// The refused name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A dimension value breaks rule E-17 (ASCII, 1 to 1024, not blank, no control characters).
    #[error("invalid dimension value {value:?}: {reason}")]
    InvalidDimensionValue {
        /// The refused value.
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A value is NaN, infinite or outside ±2^360 (rule E-19).
    #[error("metric {metric}: value {value} is not finite or outside ±2^360")]
    InvalidValue {
        /// The metric.
        metric: String,
        /// The refused value.
        value: f64,
    },
    /// A timestamp more than 14 days in the past or 2 hours in the future (rule E-20).
    #[error("timestamp {timestamp_ms} ms is outside -14 days / +2 hours of now ({now_ms} ms)")]
    InvalidTimestamp {
        /// The refused timestamp (Unix milliseconds).
        timestamp_ms: i128,
        /// The clock's now (Unix milliseconds).
        now_ms: u64,
    },
    /// A metric was recorded again with another unit or storage resolution (rule E-21).
    #[error("metric {metric}: already recorded with another unit or storage resolution")]
    Conflict {
        /// The metric.
        metric: String,
    },
    /// A dimension set names a key that has no value, or a key is given twice.
    #[error("metric {metric}: dimension {dimension} {reason}")]
    Dimension {
        /// The metric.
        metric: String,
        /// The dimension key.
        dimension: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than 30 dimensions in one dimension set, or more than 30 dimension sets.
    #[error("metric {metric}: more than 30 dimensions in a set, or more than 30 sets")]
    TooManyDimensions {
        /// The metric.
        metric: String,
    },
    /// A property key is reserved (`_aws`, empty, starting with `@`) or is already a
    /// dimension or metric name.
    #[error("property {key:?} is reserved or already a dimension")]
    ReservedProperty {
        /// The refused key.
        key: String,
    },
    /// A property key looks like a JWT (see [`crate::log::contains_jwt`]) or holds a
    /// credential (`Bearer …`, `token=…`): the EMF line would carry it redacted, no longer
    /// the key that was set.
    #[error("property {key:?} looks like a JWT or holds a credential: refused (keys are not redacted)")]
    SecretPropertyKey {
        /// The refused key.
        key: String,
    },
    /// A metric name is also a dimension key or a property of the same metric (all are
    /// root members).
    #[error("metric {metric}: the name is also a dimension key or a property")]
    NameCollision {
        /// The metric.
        metric: String,
    },
    /// A metric recorded after its invocation returned (from a task the handler spawned):
    /// the invocation's metrics were already published, and it would be lost.
    #[error("metric {metric}: recorded after its invocation returned (its metrics were already published)")]
    AfterInvocation {
        /// The metric.
        metric: String,
    },
    /// A metric recorded into a metric set by code this thread runs under that very set's
    /// lock (a [`MetricsPublisher`](crate::metrics::MetricsPublisher)'s `publish_now`, a
    /// `with_set` closure): refused, since waiting for the lock would wait for itself.
    /// Another invocation's set is waited for as usual.
    #[error(
        "metric {metric}: recorded while the invocation's metric set is locked (by a publisher or with_set): refused"
    )]
    Reentrant {
        /// The metric.
        metric: String,
    },
    /// A recording function was called outside an invocation.
    #[error("metric {metric}: no current invocation (record through an explicit MetricSet)")]
    NoInvocation {
        /// The metric.
        metric: String,
    },
}
