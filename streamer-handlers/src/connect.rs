//! The WebSocket `$connect` handler.
//!
//! For each invocation ([`ConnectHandler::handle`], `#[instrumented(name = "HandleConnect")]`):
//!
//! 1. correlation fields `connection_id` and `route_key` on every log line, INFO
//!    `Connection attempt`;
//! 2. `ValidateJWT` subsegment: the token (query parameter `Authorization`, else the
//!    `Authorization` header in any letter case) verified and the tenant checked. A
//!    refusal answers 401 (`missing_token`, `invalid_jwt`) or 403 (`tenant_not_allowed`)
//!    with a fixed `{"code","message"}` body, logs WARN `Connection refused` with the
//!    precise `reason`, records the failure as an X-Ray **error** (not a fault) on
//!    `ValidateJWT` and `HandleConnect`, and emits `AuthenticationFailed` = 1;
//! 3. `user_id` and `tenant_id` as correlation fields and annotations;
//! 4. `SaveConnection` subsegment (with the DynamoDB call's `aws` subsegment under it):
//!    a conditional save of the connection record. A failure answers 500
//!    `INTERNAL_ERROR`, logs ERROR `Failed to save connection` and emits
//!    `ConnectionFailed` = 1 with `ErrorType=internal_error`;
//! 5. 200 `{"message":"Connected successfully"}`, INFO `Connection established`,
//!    `ConnectionEstablished` = 1 by `TenantID`.
//!
//! Every path records `ProcessingLatency` with `Action=connect`. Connection id, user id
//! and request id are EMF properties, never dimensions. A handler built from a settings
//! error answers every invocation 500 with an ERROR line naming the setting.
//!
//! ```
//! use std::sync::Arc;
//! use lambda_runtime::LambdaEvent;
//! use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
//! use streamer_handlers::connect::ConnectHandler;
//! use streamer_handlers::settings::Settings;
//! use streamer_handlers::store::InMemoryConnectionStore;
//! use streamer_obs::config::EnvVars;
//!
//! let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem"))]);
//! let handler = ConnectHandler::from_settings(Settings::from_env(&env), Arc::new(InMemoryConnectionStore::new()));
//! let mut event = ApiGatewayWebsocketProxyRequest::default();
//! event.request_context.connection_id = Some("L0SM9cOFvHcCIhw=".into());
//! let ctx = streamer_obs::testing::ContextBuilder::new().build();
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let response = handler.handle(LambdaEvent::new(event, ctx)).await.unwrap();
//! assert_eq!(response.status_code, 401); // no token
//! # });
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{Error, LambdaEvent};
use streamer_obs::clock::{Clock, SystemClock};
use streamer_obs::handler::{ClassifyError, ErrorClass};
use streamer_obs::instrumented;
use streamer_obs::invocation;
use streamer_obs::metrics::standard::{self, Action, ErrorType};
use streamer_obs::metrics::{self, ConnectionId, Dimensions, RequestId, StorageResolution, TenantId, Unit, UserId};
use streamer_obs::xray;

use crate::auth::{AuthFailure, Authenticator, Claims};
use crate::response::{self, header, query_authorization, record_metrics};
use crate::settings::{Settings, SettingsError};
use crate::store::{ConnectionRecord, ConnectionStore, StoreError};

/// `ConnectionFailed` (Count): a `$connect` that authenticated but could not be completed
/// (store failure, misconfiguration, malformed event), by `[Environment]` and
/// `[Environment, ErrorType]` with `ErrorType=internal_error`.
///
/// ```
/// assert_eq!(streamer_handlers::connect::CONNECTION_FAILED, "ConnectionFailed");
/// ```
pub const CONNECTION_FAILED: &str = streamer_obs::metrics::standard::CONNECTION_FAILED;

impl ClassifyError for AuthFailure {
    /// A refused client is an expected outcome: an X-Ray `error` (4xx), never a `fault`.
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Error
    }
}

impl ClassifyError for StoreError {
    /// A store failure is the service's own: a `fault` (5xx).
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Fault
    }
}

/// `ErrorType` dimension of an authentication failure.
///
/// ```
/// use streamer_handlers::auth::AuthFailure;
/// use streamer_obs::metrics::standard::ErrorType;
/// assert_eq!(streamer_handlers::connect::error_type(&AuthFailure::MissingToken), ErrorType::MissingToken);
/// ```
pub fn error_type(failure: &AuthFailure) -> ErrorType {
    match failure {
        AuthFailure::MissingToken => ErrorType::MissingToken,
        AuthFailure::InvalidJwt(_) => ErrorType::InvalidJwt,
        AuthFailure::TenantNotAllowed { .. } => ErrorType::TenantNotAllowed,
    }
}

/// What `$connect` needs, built once at init.
struct Ready {
    authenticator: Authenticator,
    store: Arc<dyn ConnectionStore>,
    connection_ttl: Duration,
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("authenticator", &self.authenticator)
            .field("connection_ttl", &self.connection_ttl)
            .finish_non_exhaustive()
    }
}

/// The `$connect` handler and its state (authenticator, store, clock), built once at init
/// and shared by every invocation.
///
/// ```
/// use std::sync::Arc;
/// use streamer_handlers::connect::ConnectHandler;
/// use streamer_handlers::settings::{Settings, SettingsError};
/// use streamer_handlers::store::InMemoryConnectionStore;
/// use streamer_obs::config::EnvVars;
/// // A missing JWT_PUBLIC_KEY does not fail init: every invocation answers 500.
/// let handler = ConnectHandler::from_settings(Settings::from_env(&EnvVars::empty()), Arc::new(InMemoryConnectionStore::new()));
/// assert_eq!(handler.settings_error().map(SettingsError::setting), Some("JWT_PUBLIC_KEY"));
/// ```
#[derive(Debug)]
pub struct ConnectHandler {
    state: Result<Ready, SettingsError>,
    clock: Arc<dyn Clock>,
}

impl ConnectHandler {
    /// A handler verifying with `authenticator`, saving into `store` records that live
    /// `connection_ttl`.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use streamer_handlers::{auth::Authenticator, connect::ConnectHandler, settings::Settings, store::InMemoryConnectionStore};
    /// use streamer_obs::config::EnvVars;
    /// let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem"))]);
    /// let auth = Authenticator::from_settings(&Settings::from_env(&env)?);
    /// let handler = ConnectHandler::new(auth, Arc::new(InMemoryConnectionStore::new()), Duration::from_secs(3600));
    /// assert!(handler.settings_error().is_none());
    /// # Ok::<(), streamer_handlers::settings::SettingsError>(())
    /// ```
    pub fn new(authenticator: Authenticator, store: Arc<dyn ConnectionStore>, connection_ttl: Duration) -> Self {
        Self { state: Ok(Ready { authenticator, store, connection_ttl }), clock: Arc::new(SystemClock) }
    }

    /// A handler for the settings read at init: on `Err`, every invocation answers 500
    /// with an ERROR line naming the setting.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use streamer_handlers::{connect::ConnectHandler, settings::Settings, store::InMemoryConnectionStore};
    /// use streamer_obs::config::EnvVars;
    /// let env = EnvVars::from_pairs([("JWT_PUBLIC_KEY", include_str!("../../examples/keys/rsa-public.pem"))]);
    /// let handler = ConnectHandler::from_settings(Settings::from_env(&env), Arc::new(InMemoryConnectionStore::new()));
    /// assert!(handler.settings_error().is_none());
    /// ```
    pub fn from_settings(settings: Result<Settings, SettingsError>, store: Arc<dyn ConnectionStore>) -> Self {
        match settings {
            Ok(s) => Self::new(Authenticator::from_settings(&s), store, s.store().connection_ttl()),
            Err(e) => Self::misconfigured(e),
        }
    }

    /// A handler that answers every invocation 500 because of `error`.
    ///
    /// ```
    /// use streamer_handlers::{connect::ConnectHandler, settings::{SettingsError, CONNECTIONS_TABLE}};
    /// let h = ConnectHandler::misconfigured(SettingsError::Missing { setting: CONNECTIONS_TABLE });
    /// assert!(h.settings_error().is_some());
    /// ```
    pub fn misconfigured(error: SettingsError) -> Self {
        Self { state: Err(error), clock: Arc::new(SystemClock) }
    }

    /// Uses `clock` for `connectedAt` (the authenticator keeps its own clock).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use streamer_handlers::{connect::ConnectHandler, settings::{SettingsError, JWT_PUBLIC_KEY}};
    /// let h = ConnectHandler::misconfigured(SettingsError::Missing { setting: JWT_PUBLIC_KEY })
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
    /// use streamer_handlers::{connect::ConnectHandler, settings::{SettingsError, JWT_PUBLIC_KEY}};
    /// let h = ConnectHandler::misconfigured(SettingsError::Missing { setting: JWT_PUBLIC_KEY });
    /// assert_eq!(h.settings_error().unwrap().setting(), "JWT_PUBLIC_KEY");
    /// ```
    pub fn settings_error(&self) -> Option<&SettingsError> {
        self.state.as_ref().err()
    }

    /// Handles one `$connect` invocation. Always `Ok`: refusals and failures are
    /// answered with their status code (see the [module](self) documentation).
    ///
    /// # Errors
    ///
    /// None in practice; the `Result` is what `lambda_runtime` expects.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use lambda_runtime::LambdaEvent;
    /// # use streamer_handlers::{connect::ConnectHandler, settings::{SettingsError, JWT_PUBLIC_KEY}};
    /// let handler = ConnectHandler::misconfigured(SettingsError::Missing { setting: JWT_PUBLIC_KEY });
    /// let event = LambdaEvent::new(Default::default(), streamer_obs::testing::ContextBuilder::new().build());
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// assert_eq!(handler.handle(event).await.unwrap().status_code, 500);
    /// # });
    /// ```
    #[instrumented(
        name = "HandleConnect",
        skip(self),
        latency_metric = false,
        capture_response = false,
        annotations(
            connection_id = event.payload.request_context.connection_id.as_deref().unwrap_or_default(),
            action = "connect",
        )
    )]
    pub async fn handle(
        &self,
        event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
    ) -> Result<ApiGatewayProxyResponse, Error> {
        let started = Instant::now();
        let response = self.connect(&event).await;
        record_metrics(|set| standard::processing_latency(set, Action::Connect, started.elapsed()));
        Ok(response)
    }

    async fn connect(&self, event: &LambdaEvent<ApiGatewayWebsocketProxyRequest>) -> ApiGatewayProxyResponse {
        let request = &event.payload;
        let connection_id = request.request_context.connection_id.as_deref().unwrap_or_default();
        let route_key = request.request_context.route_key.as_deref().unwrap_or("$connect");
        invocation::append_field(invocation::CONNECTION_ID, connection_id);
        invocation::append_field(invocation::ROUTE_KEY, route_key);
        metrics::set_property("connection_id", ConnectionId::new(connection_id));
        metrics::set_property("request_id", RequestId::new(event.context.request_id.as_str()));
        tracing::info!("Connection attempt");

        let ready = match &self.state {
            Ok(ready) => ready,
            Err(e) => {
                tracing::error!(setting = e.setting(), error = %e, "Handler misconfigured: {} is missing or invalid", e.setting());
                xray::record_error(e, ErrorClass::Fault);
                connection_failed();
                return response::internal_error();
            }
        };
        if connection_id.is_empty() {
            tracing::error!("Event has no requestContext.connectionId");
            // A 500 answer is a fault (X-16), as on the other 500 paths.
            xray::record_error(&MissingConnectionId, ErrorClass::Fault);
            connection_failed();
            return response::internal_error();
        }

        let claims = match validate_jwt(&ready.authenticator, request) {
            Ok(claims) => claims,
            Err(failure) => return refuse(&failure),
        };
        invocation::append_field(invocation::USER_ID, claims.user_id.as_str());
        invocation::append_field(invocation::TENANT_ID, claims.tenant_id.as_str());
        metrics::set_property("user_id", UserId::new(claims.user_id.as_str()));
        let _ = xray::annotate("user_id", claims.user_id.as_str());
        let _ = xray::annotate("tenant_id", claims.tenant_id.as_str());

        let record = self.record_for(ready, request, connection_id, &claims);
        if let Err(e) = save_connection(ready.store.as_ref(), &record).await {
            tracing::error!(error_kind = e.kind(), error = %e, "Failed to save connection");
            xray::record_error(&e, ErrorClass::Fault);
            connection_failed();
            return response::internal_error();
        }

        match TenantId::new(claims.tenant_id.as_str()) {
            Ok(tenant) => record_metrics(|set| standard::connection_established(set, &tenant)),
            Err(e) => tracing::warn!(error = %e, "tenant id is not a valid dimension value"),
        }
        // As a correlation field the list is written as a JSON array (a `tracing` field
        // would be its Debug text).
        invocation::append_field("permissions", &claims.permissions);
        tracing::info!(endpoint = %record.endpoint, "Connection established");
        let mut accepted = response::connected();
        response::select_subprotocol(request, &mut accepted);
        accepted
    }

    fn record_for(
        &self,
        ready: &Ready,
        request: &ApiGatewayWebsocketProxyRequest,
        connection_id: &str,
        claims: &Claims,
    ) -> ConnectionRecord {
        let ctx = &request.request_context;
        let endpoint = ConnectionRecord::endpoint_for(
            ctx.domain_name.as_deref().unwrap_or_default(),
            ctx.stage.as_deref().unwrap_or_default(),
        );
        let mut record = ConnectionRecord::new(
            connection_id,
            claims.user_id.as_str(),
            claims.tenant_id.as_str(),
            endpoint,
            self.clock.now_millis(),
            ready.connection_ttl,
        )
        .with_permissions(claims.permissions.clone());
        if let Some(ua) = header(request, "User-Agent").or(ctx.identity.user_agent.as_deref()) {
            // A client that put its token in its User-Agent does not get it stored.
            if streamer_obs::log::contains_jwt(ua) {
                record = record.with_user_agent(streamer_obs::log::scrub_jwts(ua));
            } else {
                record = record.with_user_agent(ua);
            }
        }
        if let Some(ip) = ctx.identity.source_ip.as_deref().filter(|ip| !ip.is_empty()) {
            record = record.with_source_ip(ip);
        }
        record
    }
}

/// Logs, traces and counts a refusal; the client gets the fixed body only.
fn refuse(failure: &AuthFailure) -> ApiGatewayProxyResponse {
    let client = failure.response();
    tracing::warn!(
        error_type = failure.error_type(),
        reason = failure.reason(),
        status_code = client.status_code,
        "Connection refused"
    );
    let _ = xray::annotate("error_type", failure.error_type());
    let _ = xray::annotate("reason", failure.reason());
    xray::record_error(failure, ErrorClass::Error);
    let tenant = match failure {
        AuthFailure::TenantNotAllowed { tenant } => TenantId::new(tenant.as_str()).ok(),
        _ => None,
    };
    record_metrics(|set| standard::authentication_failed(set, error_type(failure), tenant.as_ref()));
    response::refused(failure)
}

/// `ConnectionFailed` = 1 with `ErrorType=internal_error`.
fn connection_failed() {
    let dims = Dimensions::new()
        .with(standard::ERROR_TYPE, &ErrorType::InternalError)
        .set([standard::ENVIRONMENT])
        .set([standard::ENVIRONMENT, standard::ERROR_TYPE]);
    record_metrics(|set| set.add_with(CONNECTION_FAILED, Unit::Count, 1.0, StorageResolution::Standard, &dims));
}

/// Extracts and verifies the token and checks the tenant (subsegment `ValidateJWT`).
#[instrumented(name = "ValidateJWT", skip_all)]
fn validate_jwt(
    authenticator: &Authenticator,
    request: &ApiGatewayWebsocketProxyRequest,
) -> Result<Claims, AuthFailure> {
    let headers = request.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()));
    authenticator.authenticate(query_authorization(request), headers)
}

/// The conditional save (subsegment `SaveConnection`).
#[instrumented(name = "SaveConnection", skip_all)]
async fn save_connection(store: &dyn ConnectionStore, record: &ConnectionRecord) -> Result<(), StoreError> {
    store.save(record).await
}

/// A `$connect` event without `requestContext.connectionId` (API Gateway always sends one):
/// the cause recorded on the fault.
#[derive(Debug, thiserror::Error)]
#[error("the event has no requestContext.connectionId")]
struct MissingConnectionId;
