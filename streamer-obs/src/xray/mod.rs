//! X-Ray subsegments: record (no I/O) during the invocation, send at flush.
//!
//! Inside Lambda only *independent subsegments* are sent (`type: "subsegment"`,
//! `trace_id` = the header's `Root`, `parent_id` = its `Parent` or the enclosing
//! subsegment); the function's segment is Lambda's. Nothing is recorded or sent when the
//! header is missing or malformed, has no `Parent`, is not `Sampled=1`, or tracing is
//! disabled. See `docs/tracing.md` for what is sent when and the limits.
//!
//! The functions here act on the current invocation (the task-local set by
//! [`Invocation::scope`](crate::invocation::Invocation::scope)); outside an invocation
//! they do nothing.
//!
//! ```
//! use std::sync::Arc;
//! use streamer_obs::config::Config;
//! use streamer_obs::invocation::{ColdStartTracker, Invocation};
//! use streamer_obs::testing::{CapturingEmitter, ContextBuilder};
//! use streamer_obs::xray::{self, cause::ErrorKind};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let ctx = ContextBuilder::new()
//!     .trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
//!     .build();
//! let inv = Arc::new(Invocation::from_context(&ctx, &Config::default(), &ColdStartTracker::new(&Default::default())));
//! let capture = CapturingEmitter::new();
//! inv.xray().set_emitter(Arc::new(capture.clone()));
//! inv.scope(async {
//!     let handler = xray::subsegment("HandleConnect");
//!     xray::annotate("connection_id", "abc").unwrap();
//!     {
//!         let _jwt = xray::subsegment("ValidateJWT"); // child of HandleConnect
//!         xray::record_error(&std::fmt::Error, ErrorKind::Error);
//!     }
//!     drop(handler);
//!     xray::flush().await;
//! })
//! .await;
//! assert_eq!(capture.documents()[0]["subsegments"][0]["error"], true);
//! # });
//! ```

pub mod annotation;
#[cfg(feature = "xray-api")]
pub mod api;
pub mod cause;
pub mod daemon;
pub mod document;
pub mod emitter;
pub mod encode;
#[cfg(feature = "aws-sdk")]
pub mod interceptor;
pub(crate) mod json;
pub mod name;
pub mod recorder;
pub mod redact;
mod small_str;

use std::error::Error as StdError;

use serde::Serialize;

use crate::invocation::Invocation;
use crate::trace_header::TraceHeader;
use annotation::{AnnotationError, AnnotationValue};
use cause::{ErrorDetails, ErrorKind};
use recorder::{FlushReport, SubsegmentGuard};

/// Opens a subsegment in the current invocation, under the innermost open one (or the
/// header's `Parent`). Ends when the guard is dropped. Outside an invocation, or when
/// the invocation is not traced, the guard is a no-op.
///
/// ```
/// let g = streamer_obs::xray::subsegment("Outside");
/// assert!(!g.is_recording());
/// ```
pub fn subsegment(name: &str) -> SubsegmentGuard {
    Invocation::with_current(|inv| inv.xray().subsegment(name)).unwrap_or_else(SubsegmentGuard::noop)
}

/// Annotates the innermost open subsegment of the current invocation. Invalid keys are
/// refused everywhere, also outside an invocation.
///
/// ```
/// assert!(streamer_obs::xray::annotate("tenant_id", "t-1").is_ok());
/// assert!(streamer_obs::xray::annotate("tenant-id", "t-1").is_err());
/// ```
pub fn annotate(key: &str, value: impl Into<AnnotationValue>) -> Result<(), AnnotationError> {
    let value = value.into();
    match Invocation::current() {
        Some(inv) => inv.xray().annotate(key, value),
        None => {
            annotation::check_key(key)?;
            Ok(())
        }
    }
}

/// Adds metadata (namespace `default`) to the innermost open subsegment.
///
/// ```
/// assert!(streamer_obs::xray::metadata("message", serde_json::json!({"type": "auth"})).is_ok());
/// ```
pub fn metadata(key: &str, value: impl Serialize) -> Result<(), AnnotationError> {
    metadata_in(annotation::DEFAULT_METADATA_NAMESPACE, key, value)
}

/// Adds metadata under `namespace` to the innermost open subsegment.
///
/// ```
/// assert!(streamer_obs::xray::metadata_in("AWS.Lambda", "k", 1).is_err());
/// ```
pub fn metadata_in(namespace: &str, key: &str, value: impl Serialize) -> Result<(), AnnotationError> {
    annotation::check_namespace(namespace)?;
    Invocation::with_current(|inv| inv.xray().metadata_in(namespace, key, value)).unwrap_or(Ok(()))
}

/// Records `err` as `kind` on the innermost open subsegment. Returns false when nothing
/// was recorded (no invocation, not traced, or no open subsegment).
///
/// ```
/// use streamer_obs::xray::{cause::ErrorKind, record_error};
/// assert!(!record_error(&std::fmt::Error, ErrorKind::Fault));
/// ```
pub fn record_error<E: StdError + 'static>(err: &E, kind: ErrorKind) -> bool {
    let details = ErrorDetails::new(kind).type_name(std::any::type_name::<E>());
    Invocation::with_current(|inv| inv.xray().record_error_with(err, &details)).unwrap_or(false)
}

/// The header to propagate to a downstream call from the innermost open subsegment (the
/// function's segment when none is open), or, when the invocation is not sampled, its
/// own header as it came (`Sampled=0`: the callee keeps the caller's decision, H-4).
/// `None` outside an invocation or without a valid header.
///
/// ```
/// # use std::sync::Arc;
/// # use streamer_obs::config::Config;
/// # use streamer_obs::invocation::{ColdStartTracker, Invocation};
/// # use streamer_obs::testing::ContextBuilder;
/// assert!(streamer_obs::xray::downstream_header().is_none());
/// let unsampled = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
/// let ctx = ContextBuilder::new().trace_header(unsampled).build();
/// let inv = Arc::new(Invocation::from_context(&ctx, &Config::default(), &ColdStartTracker::new(&Default::default())));
/// let header = inv.sync_scope(|| streamer_obs::xray::downstream_header()).unwrap();
/// assert_eq!(header.to_string(), unsampled);
/// ```
pub fn downstream_header() -> Option<TraceHeader> {
    // Not recording (not sampled): the invocation's own header goes on as it came.
    Invocation::with_current(|inv| inv.xray().downstream_header().or_else(|| inv.trace_header().cloned())).flatten()
}

/// Sends the closed subsegments of the current invocation and flushes the emitter.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(streamer_obs::xray::flush().await.trees, 0);
/// # });
/// ```
pub async fn flush() -> FlushReport {
    match Invocation::current() {
        Some(inv) => inv.xray().flush().await,
        None => FlushReport::default(),
    }
}

/// In-progress flush of the current invocation (for the deadline guard); see
/// [`Recorder::flush_in_progress`](recorder::Recorder::flush_in_progress).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(streamer_obs::xray::flush_in_progress().await.in_progress, 0);
/// # });
/// ```
pub async fn flush_in_progress() -> FlushReport {
    match Invocation::current() {
        Some(inv) => inv.xray().flush_in_progress().await,
        None => FlushReport::default(),
    }
}
