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
pub const CONNECTION_ESTABLISHED: &str = "ConnectionEstablished";
/// `ConnectionClosed` (Count): a WebSocket connection was closed.
pub const CONNECTION_CLOSED: &str = "ConnectionClosed";
/// `AuthenticationFailed` (Count): a `$connect` was refused.
pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
/// `ConnectionDuration` (Seconds): how long a closed connection lived.
pub const CONNECTION_DURATION: &str = "ConnectionDuration";
/// `ProcessingLatency` (Milliseconds): handler processing time.
pub const PROCESSING_LATENCY: &str = "ProcessingLatency";
/// `MessageSent` (Count): a message was pushed to a connection.
pub const MESSAGE_SENT: &str = "MessageSent";
/// `MessageFailed` (Count): a push to a connection failed.
pub const MESSAGE_FAILED: &str = "MessageFailed";
/// `MessageSize` (Bytes): the size of a pushed message.
pub const MESSAGE_SIZE: &str = "MessageSize";
/// `ColdStart` (Count): the first invocation of an execution environment.
pub const COLD_START: &str = "ColdStart";

/// Every standard metric name of the reference system.
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
pub const ENVIRONMENT: DimensionName = crate::dimension_name!("Environment");
/// `Service`: the service name (a default dimension).
pub const SERVICE: DimensionName = crate::dimension_name!("Service");
/// `FunctionName`: the Lambda function name (as in `AWS/Lambda`).
pub const FUNCTION_NAME: DimensionName = crate::dimension_name!("FunctionName");
/// `TenantID`: the tenant (bounded: the allow-list).
pub const TENANT_ID: DimensionName = crate::dimension_name!("TenantID");
/// `Action`: the handler action ([`Action`]).
pub const ACTION: DimensionName = crate::dimension_name!("Action");
/// `ErrorType`: the failure class ([`ErrorType`]).
pub const ERROR_TYPE: DimensionName = crate::dimension_name!("ErrorType");
/// `function_name`: the cold-start metric's dimension (the Powertools name).
pub const FUNCTION_NAME_LOWER: DimensionName = crate::dimension_name!("function_name");
/// `service`: the cold-start metric's dimension (the Powertools name).
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
pub fn processing_latency(set: &mut MetricSet, action: Action, latency: Duration) -> Result<(), MetricsError> {
    set.add_with(
        PROCESSING_LATENCY,
        Unit::Milliseconds,
        latency.as_secs_f64() * 1000.0,
        StorageResolution::Standard,
        &by_env_and(ACTION, &action),
    )
}

/// `$disconnect`: `ConnectionClosed = 1` always (tenant [`UNKNOWN`](super::UNKNOWN) when
/// the connection row was not found), and `ConnectionDuration` in seconds when known,
/// both by `[Environment]` and `[Environment, TenantID]`.
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
pub fn message_sent(set: &mut MetricSet, action: Action, size_bytes: usize) -> Result<(), MetricsError> {
    let dims = by_env_and(ACTION, &action);
    set.add_with(MESSAGE_SENT, Unit::Count, 1.0, StorageResolution::Standard, &dims)?;
    set.add_with(MESSAGE_SIZE, Unit::Bytes, size_bytes as f64, StorageResolution::Standard, &dims)
}

/// A push failed: `MessageFailed = 1` by `[Environment]` and `[Environment, ErrorType]`.
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
