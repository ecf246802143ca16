//! The reference system's metric and dimension names, its bounded dimension values
//! ([`ErrorType`], [`Action`]), and the exact metrics its handlers emit (the catalogue
//! of the Go system, with its defects fixed: every metric also carries the
//! `[Environment]` dimension set the alarms select, and an empty `TenantID` becomes
//! [`UNKNOWN`](super::UNKNOWN)).
//!
//! ```
//! use streamer_obs::metrics::{MetricSet, Namespace, TenantId, standard};
//! let mut set = MetricSet::new(Namespace::streamer());
//! set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).unwrap();
//! standard::connection_established(&mut set, &TenantId::new("acme").unwrap()).unwrap();
//! assert_eq!(set.values_of(standard::CONNECTION_ESTABLISHED), vec![1.0]);
//! ```

use std::time::Duration;

use super::dimension::{DimensionValue, DimensionValueSource, Dimensions, TenantId};
use super::error::MetricsError;
use super::name::DimensionName;
use super::set::MetricSet;
use super::unit::{StorageResolution, Unit};

/// `ConnectionEstablished` (Count): a WebSocket connection was accepted and saved.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::CONNECTION_ESTABLISHED, "ConnectionEstablished");
/// ```
pub const CONNECTION_ESTABLISHED: &str = "ConnectionEstablished";
/// `ConnectionClosed` (Count): a WebSocket connection was closed.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::CONNECTION_CLOSED, "ConnectionClosed");
/// ```
pub const CONNECTION_CLOSED: &str = "ConnectionClosed";
/// `AuthenticationFailed` (Count): a `$connect` was refused.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::AUTHENTICATION_FAILED, "AuthenticationFailed");
/// ```
pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
/// `ConnectionFailed` (Count): a `$connect` the server could not complete (the store
/// failed, the handler is misconfigured): answered 500, which Lambda does not count as
/// an error.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::CONNECTION_FAILED, "ConnectionFailed");
/// ```
pub const CONNECTION_FAILED: &str = "ConnectionFailed";
/// `ConnectionDuration` (Seconds): how long a closed connection lived.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::CONNECTION_DURATION, "ConnectionDuration");
/// ```
pub const CONNECTION_DURATION: &str = "ConnectionDuration";
/// `ProcessingLatency` (Milliseconds): handler processing time.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::PROCESSING_LATENCY, "ProcessingLatency");
/// ```
pub const PROCESSING_LATENCY: &str = "ProcessingLatency";
/// `MessageSent` (Count): a message was pushed to a connection.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::MESSAGE_SENT, "MessageSent");
/// ```
pub const MESSAGE_SENT: &str = "MessageSent";
/// `MessageFailed` (Count): a push to a connection failed.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::MESSAGE_FAILED, "MessageFailed");
/// ```
pub const MESSAGE_FAILED: &str = "MessageFailed";
/// `MessageSize` (Bytes): the size of a pushed message.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::MESSAGE_SIZE, "MessageSize");
/// ```
pub const MESSAGE_SIZE: &str = "MessageSize";
/// `ColdStart` (Count): the first invocation of an execution environment.
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::COLD_START, "ColdStart");
/// ```
pub const COLD_START: &str = "ColdStart";

/// Every standard metric name of the reference system.
///
/// ```
/// assert!(streamer_obs::metrics::standard::ALL_METRICS.contains(&"MessageSize"));
/// ```
pub const ALL_METRICS: [&str; 8] = [
    CONNECTION_ESTABLISHED,
    CONNECTION_CLOSED,
    AUTHENTICATION_FAILED,
    CONNECTION_DURATION,
    PROCESSING_LATENCY,
    MESSAGE_SENT,
    MESSAGE_FAILED,
    MESSAGE_SIZE,
];

/// `Environment`: the deployment environment (a default dimension).
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::ENVIRONMENT.as_str(), "Environment");
/// ```
pub const ENVIRONMENT: DimensionName = crate::dimension_name!("Environment");
/// `Service`: the service name (a default dimension).
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::SERVICE.as_str(), "Service");
/// ```
pub const SERVICE: DimensionName = crate::dimension_name!("Service");
/// `FunctionName`: the Lambda function name (as in `AWS/Lambda`).
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::FUNCTION_NAME.as_str(), "FunctionName");
/// ```
pub const FUNCTION_NAME: DimensionName = crate::dimension_name!("FunctionName");
/// `TenantID`: the tenant (bounded: the allow-list).
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::TENANT_ID.as_str(), "TenantID");
/// ```
pub const TENANT_ID: DimensionName = crate::dimension_name!("TenantID");
/// `Action`: the handler action ([`Action`]).
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::ACTION.as_str(), "Action");
/// ```
pub const ACTION: DimensionName = crate::dimension_name!("Action");
/// `ErrorType`: the failure class ([`ErrorType`]).
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::ERROR_TYPE.as_str(), "ErrorType");
/// ```
pub const ERROR_TYPE: DimensionName = crate::dimension_name!("ErrorType");
/// `function_name`: the cold-start metric's dimension (the Powertools name).
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::FUNCTION_NAME_LOWER.as_str(), "function_name");
/// ```
pub const FUNCTION_NAME_LOWER: DimensionName = crate::dimension_name!("function_name");
/// `service`: the cold-start metric's dimension (the Powertools name).
///
/// ```
/// assert_eq!(streamer_obs::metrics::standard::SERVICE_LOWER.as_str(), "service");
/// ```
pub const SERVICE_LOWER: DimensionName = crate::dimension_name!("service");

/// The handler action (the `Action` dimension).
///
/// ```
/// use streamer_obs::metrics::{DimensionValueSource, standard::Action};
/// assert_eq!(Action::Disconnect.dimension_value().as_str(), "disconnect");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `connect` (`$connect`).
    Connect,
    /// `disconnect` (`$disconnect`).
    Disconnect,
    /// `send` (one message to one connection).
    Send,
    /// `broadcast` (one message to many connections).
    Broadcast,
}

impl DimensionValueSource for Action {
    fn dimension_value(&self) -> DimensionValue {
        match self {
            Action::Connect => crate::dimension_value!("connect"),
            Action::Disconnect => crate::dimension_value!("disconnect"),
            Action::Send => crate::dimension_value!("send"),
            Action::Broadcast => crate::dimension_value!("broadcast"),
        }
    }
}

/// The failure class (the `ErrorType` dimension), the Go system's values plus the
/// message failures of the connection manager.
///
/// ```
/// use streamer_obs::metrics::{DimensionValueSource, standard::ErrorType};
/// assert_eq!(ErrorType::MissingToken.dimension_value().as_str(), "missing_token");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// `missing_token`: no token in the query string or header.
    MissingToken,
    /// `invalid_jwt`: the token did not verify.
    InvalidJwt,
    /// `tenant_not_allowed`: the tenant is not in the allow-list.
    TenantNotAllowed,
    /// `connection_gone`: the connection no longer exists (HTTP 410).
    ConnectionGone,
    /// `throttled`: the Management API throttled the push (HTTP 429).
    Throttled,
    /// `network_error`: the push failed in transport.
    NetworkError,
    /// `internal_error`: anything else.
    InternalError,
}

impl DimensionValueSource for ErrorType {
    fn dimension_value(&self) -> DimensionValue {
        match self {
            ErrorType::MissingToken => crate::dimension_value!("missing_token"),
            ErrorType::InvalidJwt => crate::dimension_value!("invalid_jwt"),
            ErrorType::TenantNotAllowed => crate::dimension_value!("tenant_not_allowed"),
            ErrorType::ConnectionGone => crate::dimension_value!("connection_gone"),
            ErrorType::Throttled => crate::dimension_value!("throttled"),
            ErrorType::NetworkError => crate::dimension_value!("network_error"),
            ErrorType::InternalError => crate::dimension_value!("internal_error"),
        }
    }
}

fn by_env_and(key: DimensionName, value: &(impl DimensionValueSource + ?Sized)) -> Dimensions {
    Dimensions::new().with(key.clone(), value).set([ENVIRONMENT]).set([ENVIRONMENT, key])
}

/// `$connect` accepted: `ConnectionEstablished = 1` by `[Environment]` and
/// `[Environment, TenantID]`.
///
/// ```
/// use std::time::Duration;
/// use streamer_obs::metrics::{MetricSet, Namespace, TenantId, standard::{self, Action, ErrorType}};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).unwrap();
/// standard::connection_established(&mut set, &TenantId::new("acme").unwrap()).unwrap();
/// assert_eq!(set.metrics().next().unwrap().sets.len(), 2);
/// ```
pub fn connection_established(set: &mut MetricSet, tenant: &TenantId) -> Result<(), MetricsError> {
    set.add_with(CONNECTION_ESTABLISHED, Unit::Count, 1.0, StorageResolution::Standard, &by_env_and(TENANT_ID, tenant))
}

/// `$connect` refused: `AuthenticationFailed = 1` by `[Environment]`,
/// `[Environment, ErrorType]`, and with a tenant also `[Environment, ErrorType, TenantID]`.
///
/// ```
/// use streamer_obs::metrics::{MetricSet, Namespace, standard::{self, ErrorType}};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("dev")).unwrap();
/// standard::authentication_failed(&mut set, ErrorType::MissingToken, None).unwrap();
/// assert_eq!(set.values_of(standard::AUTHENTICATION_FAILED), vec![1.0]);
/// ```
pub fn authentication_failed(
    set: &mut MetricSet,
    error: ErrorType,
    tenant: Option<&TenantId>,
) -> Result<(), MetricsError> {
    let mut dims = Dimensions::new().with(ERROR_TYPE, &error).set([ENVIRONMENT]).set([ENVIRONMENT, ERROR_TYPE]);
    if let Some(t) = tenant {
        dims = dims.with(TENANT_ID, t).set([ENVIRONMENT, ERROR_TYPE, TENANT_ID]);
    }
    set.add_with(AUTHENTICATION_FAILED, Unit::Count, 1.0, StorageResolution::Standard, &dims)
}

/// Handler latency: `ProcessingLatency` in milliseconds (fractional, not truncated) by
/// `[Environment]` and `[Environment, Action]`.
///
/// ```
/// use std::time::Duration;
/// use streamer_obs::metrics::{MetricSet, Namespace, TenantId, standard::{self, Action, ErrorType}};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).unwrap();
/// standard::processing_latency(&mut set, Action::Connect, Duration::from_micros(1500)).unwrap();
/// assert_eq!(set.values_of(standard::PROCESSING_LATENCY), vec![1.5]);
/// ```
pub fn processing_latency(set: &mut MetricSet, action: Action, latency: Duration) -> Result<(), MetricsError> {
    set.add_with(
        PROCESSING_LATENCY,
        Unit::Milliseconds,
        super::unit::millis_f64(latency),
        StorageResolution::Standard,
        &by_env_and(ACTION, &action),
    )
}

/// `$disconnect`: `ConnectionClosed = 1` always (tenant [`UNKNOWN`](super::UNKNOWN) when
/// the connection row was not found), and `ConnectionDuration` in seconds when known,
/// both by `[Environment]` and `[Environment, TenantID]`.
///
/// ```
/// use std::time::Duration;
/// use streamer_obs::metrics::{MetricSet, Namespace, TenantId, standard::{self, Action, ErrorType}};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).unwrap();
/// standard::connection_closed(&mut set, None, Some(Duration::from_secs(30))).unwrap();
/// assert_eq!(set.values_of(standard::CONNECTION_DURATION), vec![30.0]);
/// let m = set.metrics().next().unwrap();
/// assert_eq!(m.dimensions[1].1.as_str(), "unknown");
/// ```
pub fn connection_closed(
    set: &mut MetricSet,
    tenant: Option<&TenantId>,
    duration: Option<Duration>,
) -> Result<(), MetricsError> {
    let tenant = tenant.cloned().unwrap_or_else(|| TenantId::or_unknown(None::<&str>));
    let dims = by_env_and(TENANT_ID, &tenant);
    set.add_with(CONNECTION_CLOSED, Unit::Count, 1.0, StorageResolution::Standard, &dims)?;
    if let Some(d) = duration {
        set.add_with(CONNECTION_DURATION, Unit::Seconds, d.as_secs_f64(), StorageResolution::Standard, &dims)?;
    }
    Ok(())
}

/// A message pushed: `MessageSent = 1` and `MessageSize` in bytes by `[Environment]` and
/// `[Environment, Action]`.
///
/// ```
/// use std::time::Duration;
/// use streamer_obs::metrics::{MetricSet, Namespace, TenantId, standard::{self, Action, ErrorType}};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).unwrap();
/// standard::message_sent(&mut set, Action::Broadcast, 512).unwrap();
/// assert_eq!(set.values_of(standard::MESSAGE_SIZE), vec![512.0]);
/// ```
pub fn message_sent(set: &mut MetricSet, action: Action, size_bytes: usize) -> Result<(), MetricsError> {
    let dims = by_env_and(ACTION, &action);
    set.add_with(MESSAGE_SENT, Unit::Count, 1.0, StorageResolution::Standard, &dims)?;
    set.add_with(MESSAGE_SIZE, Unit::Bytes, size_bytes as f64, StorageResolution::Standard, &dims)
}

/// A push failed: `MessageFailed = 1` by `[Environment]` and `[Environment, ErrorType]`.
///
/// ```
/// use std::time::Duration;
/// use streamer_obs::metrics::{MetricSet, Namespace, TenantId, standard::{self, Action, ErrorType}};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).unwrap();
/// standard::message_failed(&mut set, ErrorType::ConnectionGone).unwrap();
/// assert_eq!(set.values_of(standard::MESSAGE_FAILED), vec![1.0]);
/// ```
pub fn message_failed(set: &mut MetricSet, error: ErrorType) -> Result<(), MetricsError> {
    set.add_with(MESSAGE_FAILED, Unit::Count, 1.0, StorageResolution::Standard, &by_env_and(ERROR_TYPE, &error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::name::MetricName;

    #[test]
    fn standard_names_are_valid() {
        for n in ALL_METRICS.iter().chain([COLD_START].iter()) {
            assert!(MetricName::new(*n).is_ok(), "{n}");
        }
    }
}
