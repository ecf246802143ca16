//! The WebSocket `$disconnect` handler.
//!
//! For each invocation ([`DisconnectHandler::handle`], `#[instrumented(name = "HandleDisconnect")]`):
//!
//! 1. correlation fields `connection_id` and `route_key`, INFO `Processing disconnect`;
//! 2. `LoadConnection` subsegment: the record (absent, expired or unreadable means the
//!    tenant is `unknown`; a read failure is logged at WARN and the delete still runs);
//! 3. `DeleteConnection` subsegment: idempotent delete (a missing record is not an
//!    error; a failure is logged at ERROR). The record the delete removed decides what
//!    is counted: of two overlapping `$disconnect`s of one connection only the one whose
//!    delete removed it counts it as found (tenant and duration), as with a repeated
//!    `$disconnect`; when the delete fails, the record read in step 2 is used;
//! 4. 200 `{"message":"Disconnected successfully"}` whatever the store said; INFO `Disconnect completed`
//!    with the event's own `disconnect_status_code` and `disconnect_reason` (also
//!    annotations of `HandleDisconnect`), `ConnectionClosed` = 1 by `TenantID`
//!    (`unknown` when the record is gone), `ConnectionDuration` in fractional seconds
//!    from `connectedAt` (also under a second), `ProcessingLatency` with
//!    `Action=disconnect`.
//!
//! A handler built from a settings error answers every invocation 500
//! `{"code":"INTERNAL_ERROR","message":"Failed to process disconnect"}` with an ERROR line
//! naming the setting.
//!
//! ```
//! use std::sync::Arc;
//! use lambda_runtime::LambdaEvent;
//! use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
//! use streamer_handlers::disconnect::DisconnectHandler;
//! use streamer_handlers::store::InMemoryConnectionStore;
//!
//! let handler = DisconnectHandler::new(Arc::new(InMemoryConnectionStore::new()));
//! let mut event = ApiGatewayWebsocketProxyRequest::default();
//! event.request_context.connection_id = Some("L0SM9cOFvHcCIhw=".into());
//! let ctx = streamer_obs::testing::ContextBuilder::new().build();
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let response = handler.handle(LambdaEvent::new(event, ctx)).await.unwrap();
//! assert_eq!(response.status_code, 200); // idempotent: nothing stored, still 200
//! # });
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{Error, LambdaEvent};
use streamer_obs::clock::{Clock, SystemClock};
use streamer_obs::handler::ErrorClass;
use streamer_obs::instrumented;
use streamer_obs::invocation;
use streamer_obs::metrics::standard::{self, Action};
use streamer_obs::metrics::{self, ConnectionId, RequestId, TenantId, UserId};
use streamer_obs::xray;

use crate::response::{self, record_metrics};
use crate::settings::{SettingsError, StoreSettings};
use crate::store::{ConnectionRecord, ConnectionStore, StoreError};

/// The `$disconnect` handler and its state (store, clock), built once at init.
///
/// ```
/// use std::sync::Arc;
/// use streamer_handlers::disconnect::DisconnectHandler;
/// use streamer_handlers::settings::StoreSettings;
/// use streamer_handlers::store::InMemoryConnectionStore;
/// use streamer_obs::config::EnvVars;
/// let settings = StoreSettings::from_env(&EnvVars::from_pairs([("CONNECTIONS_TABLE", "connections")]));
/// let handler = DisconnectHandler::from_settings(settings, Arc::new(InMemoryConnectionStore::new()));
/// assert!(handler.settings_error().is_none());
/// ```
pub struct DisconnectHandler {
    store: Result<Arc<dyn ConnectionStore>, SettingsError>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DisconnectHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisconnectHandler")
            .field("settings_error", &self.settings_error())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl DisconnectHandler {
    /// A handler on `store` and the system clock.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let h = streamer_handlers::disconnect::DisconnectHandler::new(Arc::new(streamer_handlers::store::InMemoryConnectionStore::new()));
    /// assert!(h.settings_error().is_none());
    /// ```
    pub fn new(store: Arc<dyn ConnectionStore>) -> Self {
        Self { store: Ok(store), clock: Arc::new(SystemClock) }
    }

    /// A handler for the store settings read at init: on `Err`, every invocation answers
    /// 500 with an ERROR line naming the setting.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use streamer_handlers::{disconnect::DisconnectHandler, settings::StoreSettings, store::InMemoryConnectionStore};
    /// use streamer_obs::config::EnvVars;
    /// let settings = StoreSettings::from_env(&EnvVars::from_pairs([("CONNECTION_TTL_HOURS", "many")]));
    /// let h = DisconnectHandler::from_settings(settings, Arc::new(InMemoryConnectionStore::new()));
    /// assert_eq!(h.settings_error().unwrap().setting(), "CONNECTION_TTL_HOURS");
    /// ```
    pub fn from_settings(settings: Result<StoreSettings, SettingsError>, store: Arc<dyn ConnectionStore>) -> Self {
        match settings {
            Ok(_) => Self::new(store),
            Err(e) => Self::misconfigured(e),
        }
    }

    /// A handler that cannot reach its store because of `error`.
    ///
    /// ```
    /// use streamer_handlers::{disconnect::DisconnectHandler, settings::{SettingsError, CONNECTIONS_TABLE}};
    /// let h = DisconnectHandler::misconfigured(SettingsError::Missing { setting: CONNECTIONS_TABLE });
    /// assert!(h.settings_error().is_some());
    /// ```
    pub fn misconfigured(error: SettingsError) -> Self {
        Self { store: Err(error), clock: Arc::new(SystemClock) }
    }

    /// Uses `clock` to compute the connection duration.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let h = streamer_handlers::disconnect::DisconnectHandler::new(Arc::new(streamer_handlers::store::InMemoryConnectionStore::new()))
    ///     .with_clock(Arc::new(streamer_obs::testing::FixedClock::at_millis(1)));
    /// # let _ = h;
    /// ```
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The settings error this handler was built with, if any.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let h = streamer_handlers::disconnect::DisconnectHandler::new(Arc::new(streamer_handlers::store::InMemoryConnectionStore::new()));
    /// assert!(h.settings_error().is_none());
    /// ```
    pub fn settings_error(&self) -> Option<&SettingsError> {
        self.store.as_ref().err()
    }

    /// Handles one `$disconnect` invocation: 200 whatever the store said, 500 only when
    /// the handler is misconfigured (see the [module](self) documentation).
    ///
    /// # Errors
    ///
    /// None in practice; the `Result` is what `lambda_runtime` expects.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use lambda_runtime::LambdaEvent;
    /// # use streamer_handlers::{disconnect::DisconnectHandler, settings::{SettingsError, CONNECTIONS_TABLE}};
    /// let handler = DisconnectHandler::misconfigured(SettingsError::Missing { setting: CONNECTIONS_TABLE });
    /// let event = LambdaEvent::new(Default::default(), streamer_obs::testing::ContextBuilder::new().build());
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// assert_eq!(handler.handle(event).await.unwrap().status_code, 500);
    /// # });
    /// ```
    #[instrumented(
        name = "HandleDisconnect",
        skip(self),
        latency_metric = false,
        capture_response = false,
        annotations(
            connection_id = event.payload.request_context.connection_id.as_deref().unwrap_or_default(),
            action = "disconnect",
        )
    )]
    pub async fn handle(
        &self,
        event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
    ) -> Result<ApiGatewayProxyResponse, Error> {
        let started = Instant::now();
        let response = self.disconnect(&event).await;
        record_metrics(|set| standard::processing_latency(set, Action::Disconnect, started.elapsed()));
        Ok(response)
    }

    async fn disconnect(&self, event: &LambdaEvent<ApiGatewayWebsocketProxyRequest>) -> ApiGatewayProxyResponse {
        let ctx = &event.payload.request_context;
        let connection_id = ctx.connection_id.as_deref().unwrap_or_default();
        let route_key = ctx.route_key.as_deref().unwrap_or("$disconnect");
        invocation::append_field(invocation::CONNECTION_ID, connection_id);
        invocation::append_field(invocation::ROUTE_KEY, route_key);
        metrics::set_property("connection_id", ConnectionId::new(connection_id));
        metrics::set_property("request_id", RequestId::new(event.context.request_id.as_str()));
        let status_code = ctx.disconnect_status_code;
        let reason = ctx.disconnect_reason.as_deref().unwrap_or_default();
        if let Some(code) = status_code {
            let _ = xray::annotate("disconnect_status_code", code);
        }
        let _ = xray::annotate("disconnect_reason", reason);
        tracing::info!("Processing disconnect");

        let store = match &self.store {
            Ok(store) => store.as_ref(),
            Err(e) => {
                tracing::error!(setting = e.setting(), error = %e, "Handler misconfigured: {} is missing or invalid", e.setting());
                xray::record_error(e, ErrorClass::Fault);
                return response::json(500, response::DISCONNECT_ERROR_BODY);
            }
        };

        let record = if connection_id.is_empty() {
            tracing::warn!("Event has no requestContext.connectionId");
            None
        } else {
            match load_connection(store, connection_id).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error_kind = e.kind(), error = %e, "Failed to load connection");
                    None
                }
            }
        };
        if let Some(r) = &record {
            invocation::append_field(invocation::USER_ID, r.user_id.as_str());
            invocation::append_field(invocation::TENANT_ID, r.tenant_id.as_str());
            metrics::set_property("user_id", UserId::new(r.user_id.as_str()));
            let _ = xray::annotate("user_id", r.user_id.as_str());
            let _ = xray::annotate("tenant_id", r.tenant_id.as_str());
        }
        // The delete returns the record it removed: only the invocation that removed it
        // counts the connection (and its duration) as found. Two `$disconnect`s that overlap
        // both read the record, but only one removes it; the other counts it as gone, as a
        // repeated `$disconnect` does. When the delete fails, what was read stands.
        let record = if connection_id.is_empty() {
            record
        } else {
            match delete_connection(store, connection_id).await {
                Ok(removed) => removed,
                Err(e) => {
                    tracing::error!(error_kind = e.kind(), error = %e, "Failed to delete connection");
                    xray::record_error(&e, ErrorClass::Fault);
                    record
                }
            }
        };

        let now = self.clock.now_millis();
        let duration = record.as_ref().map(|r| Duration::from_millis(now.saturating_sub(r.connected_at)));
        let tenant = TenantId::or_unknown(record.as_ref().map(|r| r.tenant_id.as_str()));
        record_metrics(|set| standard::connection_closed(set, Some(&tenant), duration));
        tracing::info!(
            disconnect_status_code = status_code,
            disconnect_reason = reason,
            connection_found = record.is_some(),
            duration_seconds = duration.map(|d| d.as_secs_f64()),
            "Disconnect completed"
        );
        response::disconnected()
    }
}

/// Reads the record (subsegment `LoadConnection`).
#[instrumented(name = "LoadConnection", skip_all)]
async fn load_connection(
    store: &dyn ConnectionStore,
    connection_id: &str,
) -> Result<Option<ConnectionRecord>, StoreError> {
    store.get(connection_id).await
}

/// Deletes the record, idempotently (subsegment `DeleteConnection`).
#[instrumented(name = "DeleteConnection", skip_all)]
async fn delete_connection(
    store: &dyn ConnectionStore,
    connection_id: &str,
) -> Result<Option<ConnectionRecord>, StoreError> {
    store.delete(connection_id).await
}
