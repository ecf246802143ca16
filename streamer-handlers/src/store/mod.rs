//! The connection store: one record per open WebSocket connection.
//!
//! [`ConnectionStore`] is what the handlers depend on; [`InMemoryConnectionStore`] is the
//! embedded default (demo, unit tests) and [`DynamoDbConnectionStore`] the production one.
//! The schema is defined once in [`schema`].
//!
//! Semantics shared by both implementations:
//! - [`save`](ConnectionStore::save) is conditional: an existing, unexpired record with
//!   the same connection id is [`StoreError::AlreadyExists`], never overwritten;
//! - a record whose `ttl` has passed is absent for every reader (`get`, `list_*`,
//!   `touch`, the value returned by `delete`), because DynamoDB deletes expired items
//!   only eventually (within days);
//! - [`delete`](ConnectionStore::delete) is idempotent: deleting an absent record is
//!   `Ok(None)`.
//!
//! ```
//! use std::time::Duration;
//! use streamer_handlers::store::{ConnectionRecord, ConnectionStore, InMemoryConnectionStore, StoreError};
//! use streamer_obs::clock::{Clock, SystemClock};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = InMemoryConnectionStore::new();
//! let now = SystemClock.now_millis();
//! let endpoint = ConnectionRecord::endpoint_for("abc.execute-api.us-east-1.amazonaws.com", "prod");
//! let record = ConnectionRecord::new("c1", "u1", "acme", endpoint, now, Duration::from_secs(3600));
//! store.save(&record).await?;
//! assert!(matches!(store.save(&record).await, Err(StoreError::AlreadyExists { .. })));
//! assert_eq!(store.list_by_tenant("acme").await?, vec![record.clone()]);
//! assert_eq!(store.delete("c1").await?, Some(record));
//! assert_eq!(store.delete("c1").await?, None);
//! # Ok::<(), StoreError>(())
//! # }).unwrap();
//! ```

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod dynamodb;
mod memory;
pub mod schema;

pub use dynamodb::DynamoDbConnectionStore;
pub use memory::InMemoryConnectionStore;

/// A boxed error source.
///
/// ```
/// use streamer_handlers::store::{BoxError, StoreError};
/// let source: BoxError = "connection reset".into();
/// let err = StoreError::Unavailable { operation: "get", source };
/// assert!(err.is_unavailable());
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One open connection (the table's item). Field names serialize as the schema's
/// attribute names.
///
/// ```
/// use std::time::Duration;
/// use streamer_handlers::store::ConnectionRecord;
/// let r = ConnectionRecord::new("c1", "u1", "acme", "d/prod", 1_700_000_000_123, Duration::from_secs(86_400))
///     .with_user_agent("curl/8")
///     .with_source_ip("203.0.113.7")
///     .with_permissions(vec!["read".into()]);
/// assert_eq!(r.last_ping, r.connected_at);
/// assert_eq!(r.ttl, 1_700_000_000 + 86_400);
/// assert!(!r.is_expired_at(1_700_000_000_123));
/// assert!(r.is_expired_at((1_700_000_000 + 86_400) * 1000));
/// assert_eq!(serde_json::to_value(&r).unwrap()["connectionId"], "c1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRecord {
    /// API Gateway connection id (partition key).
    pub connection_id: String,
    /// The token's `sub`.
    pub user_id: String,
    /// The token's `tenant_id`.
    pub tenant_id: String,
    /// `domain/stage` of the WebSocket API.
    pub endpoint: String,
    /// Epoch milliseconds of the `$connect`.
    pub connected_at: u64,
    /// Epoch milliseconds of the last activity.
    pub last_ping: u64,
    /// Epoch seconds after which the record is expired.
    pub ttl: u64,
    /// The client's `User-Agent`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client's source IP, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The token's `permissions`.
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl ConnectionRecord {
    /// A record connected at `connected_at_ms` (also its `lastPing`) that expires
    /// `lifetime` later (`ttl` in epoch seconds, rounded down).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::ConnectionRecord;
    /// let r = ConnectionRecord::new("c1", "u1", "acme", "d/prod", 1_000_500, Duration::from_secs(60));
    /// assert_eq!((r.connected_at, r.last_ping, r.ttl), (1_000_500, 1_000_500, 1_060));
    /// ```
    pub fn new(
        connection_id: impl Into<String>,
        user_id: impl Into<String>,
        tenant_id: impl Into<String>,
        endpoint: impl Into<String>,
        connected_at_ms: u64,
        lifetime: Duration,
    ) -> Self {
        ConnectionRecord {
            connection_id: connection_id.into(),
            user_id: user_id.into(),
            tenant_id: tenant_id.into(),
            endpoint: endpoint.into(),
            connected_at: connected_at_ms,
            last_ping: connected_at_ms,
            ttl: ttl_for(connected_at_ms, lifetime),
            user_agent: None,
            source_ip: None,
            permissions: Vec::new(),
        }
    }

    /// The `endpoint` value for a request context's domain name and stage.
    ///
    /// ```
    /// use streamer_handlers::store::ConnectionRecord;
    /// assert_eq!(ConnectionRecord::endpoint_for("abc.execute-api.eu-west-1.amazonaws.com", "prod"), "abc.execute-api.eu-west-1.amazonaws.com/prod");
    /// ```
    pub fn endpoint_for(domain_name: &str, stage: &str) -> String {
        format!("{domain_name}/{stage}")
    }

    /// Sets `userAgent`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::ConnectionRecord;
    /// let r = ConnectionRecord::new("c", "u", "t", "d/s", 0, Duration::ZERO).with_user_agent("curl/8");
    /// assert_eq!(r.user_agent.as_deref(), Some("curl/8"));
    /// ```
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sets `sourceIp`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::ConnectionRecord;
    /// let r = ConnectionRecord::new("c", "u", "t", "d/s", 0, Duration::ZERO).with_source_ip("192.0.2.1");
    /// assert_eq!(r.source_ip.as_deref(), Some("192.0.2.1"));
    /// ```
    pub fn with_source_ip(mut self, source_ip: impl Into<String>) -> Self {
        self.source_ip = Some(source_ip.into());
        self
    }

    /// Sets `permissions`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::ConnectionRecord;
    /// let r = ConnectionRecord::new("c", "u", "t", "d/s", 0, Duration::ZERO).with_permissions(vec!["read".into()]);
    /// assert_eq!(r.permissions, ["read"]);
    /// ```
    pub fn with_permissions(mut self, permissions: Vec<String>) -> Self {
        self.permissions = permissions;
        self
    }

    /// Whether the `ttl` has passed at `now_ms` (epoch milliseconds): expired from the
    /// `ttl` second on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::ConnectionRecord;
    /// let r = ConnectionRecord::new("c", "u", "t", "d/s", 0, Duration::from_secs(10));
    /// assert!(!r.is_expired_at(9_999));
    /// assert!(r.is_expired_at(10_000));
    /// ```
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        self.ttl.saturating_mul(1000) <= now_ms
    }

    /// Checks the fields every record needs (non-empty ids and endpoint).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidRecord`] naming the first empty attribute.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::{ConnectionRecord, StoreError};
    /// let r = ConnectionRecord::new("c1", "", "acme", "d/prod", 0, Duration::ZERO);
    /// assert!(matches!(r.validate(), Err(StoreError::InvalidRecord { attribute: "userId" })));
    /// ```
    pub fn validate(&self) -> Result<(), StoreError> {
        for (attribute, value) in [
            (schema::CONNECTION_ID, &self.connection_id),
            (schema::USER_ID, &self.user_id),
            (schema::TENANT_ID, &self.tenant_id),
            (schema::ENDPOINT, &self.endpoint),
        ] {
            if value.trim().is_empty() {
                return Err(StoreError::InvalidRecord { attribute });
            }
        }
        Ok(())
    }
}

/// Epoch seconds `lifetime` after `now_ms`.
pub(crate) fn ttl_for(now_ms: u64, lifetime: Duration) -> u64 {
    (now_ms / 1000).saturating_add(lifetime.as_secs())
}

/// A store failure. Not-found is never detected from error text: absent records are
/// `Ok(None)` / empty lists, and [`StoreError::NotFound`] only comes from `touch`.
///
/// ```
/// use streamer_handlers::store::StoreError;
/// let e = StoreError::AlreadyExists { connection_id: "c1".into() };
/// assert_eq!(e.kind(), "already_exists");
/// assert!(!e.is_unavailable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `save` found an unexpired record with the same connection id.
    #[error("connection {connection_id} already exists")]
    AlreadyExists {
        /// The connection id.
        connection_id: String,
    },
    /// `touch` found no unexpired record.
    #[error("connection {connection_id} not found")]
    NotFound {
        /// The connection id.
        connection_id: String,
    },
    /// `save` was given a record with an empty required attribute.
    #[error("invalid connection record: `{attribute}` is empty")]
    InvalidRecord {
        /// The empty attribute.
        attribute: &'static str,
    },
    /// A stored item lacks an attribute or has the wrong type.
    #[error("corrupt connection item: attribute `{attribute}` is missing or has the wrong type")]
    Corrupt {
        /// The offending attribute.
        attribute: &'static str,
    },
    /// The backend could not be reached or is throttling / failing (retryable).
    #[error("connection store unavailable during {operation}")]
    Unavailable {
        /// The store operation (`save`, `get`, ...).
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The backend refused the request (missing table, permissions, validation, ...).
    #[error("connection store error during {operation}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Backend {
        /// The store operation (`save`, `get`, ...).
        operation: &'static str,
        /// The service's error code, when it sent one.
        code: Option<String>,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// A stable snake_case name for logs and metrics.
    ///
    /// ```
    /// use streamer_handlers::store::StoreError;
    /// assert_eq!(StoreError::NotFound { connection_id: "c".into() }.kind(), "not_found");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::NotFound { .. } => "not_found",
            StoreError::InvalidRecord { .. } => "invalid_record",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::Backend { .. } => "backend",
        }
    }

    /// Whether the failure is transient (network, throttling, 5xx).
    ///
    /// ```
    /// use streamer_handlers::store::StoreError;
    /// let err = StoreError::Unavailable { operation: "save", source: "throttled".into() };
    /// assert!(err.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// Where connection records live.
///
/// With the `testing` feature (and in this crate's tests) `mockall` generates
/// `MockConnectionStore` for failure injection:
///
/// ```
/// # #[cfg(feature = "testing")]
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use streamer_handlers::store::{ConnectionStore, MockConnectionStore, StoreError};
/// let mut store = MockConnectionStore::new();
/// store.expect_get().returning(|_| Err(StoreError::Unavailable { operation: "get", source: "connection reset".into() }));
/// assert!(store.get("c1").await.unwrap_err().is_unavailable());
/// # });
/// ```
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a new record.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] when an unexpired record with the same id exists
    /// (an expired one is replaced); [`StoreError::InvalidRecord`]; backend errors.
    async fn save(&self, record: &ConnectionRecord) -> Result<(), StoreError>;

    /// The unexpired record of `connection_id`, if any.
    ///
    /// # Errors
    ///
    /// Backend errors only; absence is `Ok(None)`.
    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError>;

    /// Deletes the record of `connection_id`; returns it when it existed and was not
    /// expired. Idempotent: absent is `Ok(None)`.
    ///
    /// # Errors
    ///
    /// Backend errors only.
    async fn delete(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError>;

    /// Unexpired connections of `user_id` (through `userId-index`), oldest first.
    ///
    /// # Errors
    ///
    /// Backend errors.
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError>;

    /// Unexpired connections of `tenant_id` (through `tenantId-index`), oldest first.
    ///
    /// # Errors
    ///
    /// Backend errors.
    async fn list_by_tenant(&self, tenant_id: &str) -> Result<Vec<ConnectionRecord>, StoreError>;

    /// Records activity: `lastPing` = now and `ttl` extended to now + the store's
    /// connection lifetime.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no unexpired record exists; backend errors.
    async fn touch(&self, connection_id: &str) -> Result<(), StoreError>;
}

/// A shared store is a store: handlers can hold `Arc<dyn ConnectionStore>` or
/// `Arc<InMemoryConnectionStore>` and pass it where a `ConnectionStore` is expected.
///
/// ```
/// use std::sync::Arc;
/// use streamer_handlers::store::{ConnectionStore, InMemoryConnectionStore};
/// fn takes_store(_store: impl ConnectionStore) {}
/// let shared: Arc<dyn ConnectionStore> = Arc::new(InMemoryConnectionStore::new());
/// takes_store(Arc::clone(&shared));
/// ```
#[async_trait]
impl<T: ConnectionStore + ?Sized> ConnectionStore for std::sync::Arc<T> {
    async fn save(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        (**self).save(record).await
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        (**self).get(connection_id).await
    }

    async fn delete(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        (**self).delete(connection_id).await
    }

    async fn list_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        (**self).list_by_user(user_id).await
    }

    async fn list_by_tenant(&self, tenant_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        (**self).list_by_tenant(tenant_id).await
    }

    async fn touch(&self, connection_id: &str) -> Result<(), StoreError> {
        (**self).touch(connection_id).await
    }
}

/// Sorts records oldest first (then by id) so both stores list in the same order.
pub(crate) fn sort_records(records: &mut [ConnectionRecord]) {
    records.sort_by(|a, b| a.connected_at.cmp(&b.connected_at).then_with(|| a.connection_id.cmp(&b.connection_id)));
}
