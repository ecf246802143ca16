//! The invocation: what one Lambda invocation knows about itself, carried in a
//! task-local while its handler runs.
//!
//! An [`Invocation`] is built from `lambda_runtime::Context` (request id, trace header,
//! deadline, invoked ARN, function name/version/memory, tenant id), decides its cold
//! start through a [`ColdStartTracker`] and its debug sampling from the
//! [`Config`]. It is never stored in a process global and the trace header is never
//! re-read from `_X_AMZN_TRACE_ID`: `lambda_runtime::run_concurrent` runs several
//! invocations in one process, and each sees only its own through [`Invocation::scope`].
//!
//! Correlation fields ([`append_field`]) attached during an invocation appear on every
//! log line written inside it.
//!
//! ```
//! use std::sync::Arc;
//! use streamer_obs::config::Config;
//! use streamer_obs::invocation::{self, ColdStartTracker, Invocation};
//! use streamer_obs::testing::ContextBuilder;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let tracker = ColdStartTracker::new(&Default::default());
//! let ctx = ContextBuilder::new().request_id("req-1").build();
//! let inv = Arc::new(Invocation::from_context(&ctx, &Config::default(), &tracker));
//! assert!(inv.cold_start());
//! inv.scope(async {
//!     invocation::append_field("connection_id", "abc=");
//!     let id = Invocation::with_current(|i| i.request_id().to_owned());
//!     assert_eq!(id.as_deref(), Some("req-1"));
//! })
//! .await;
//! assert!(Invocation::current().is_none());
//! assert!(!Invocation::from_context(&ctx, &Config::default(), &tracker).cold_start());
//! # });
//! ```

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::{Config, InitializationType};
use crate::log::buffer::LogBuffer;
use crate::trace_header::{TraceHeader, TraceHeaderError};

/// Standard correlation key: the API Gateway WebSocket connection id.
pub const CONNECTION_ID: &str = "connection_id";
/// Standard correlation key: the tenant id.
pub const TENANT_ID: &str = "tenant_id";
/// Standard correlation key: the user id (JWT `sub`).
pub const USER_ID: &str = "user_id";
/// Standard correlation key: the API Gateway route key (`$connect`, ...).
pub const ROUTE_KEY: &str = "route_key";

tokio::task_local! {
    static CURRENT: Arc<Invocation>;
}

/// Decides cold starts: true for the first invocation of the execution environment
/// only. With `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency` no invocation is
/// reported cold (Powertools' 2025 policy: the init ran ahead of time, the first
/// request paid no init latency).
///
/// The tracker is process-wide state of the execution environment, not of an
/// invocation; [`ColdStartTracker::global`] is the one the runtime uses and tests make
/// their own.
///
/// ```
/// use streamer_obs::config::InitializationType;
/// use streamer_obs::invocation::ColdStartTracker;
/// let t = ColdStartTracker::new(&InitializationType::OnDemand);
/// assert!(t.take());
/// assert!(!t.take());
/// let pc = ColdStartTracker::new(&InitializationType::ProvisionedConcurrency);
/// assert!(!pc.take());
/// ```
#[derive(Debug)]
pub struct ColdStartTracker {
    taken: AtomicBool,
}

impl ColdStartTracker {
    /// A tracker for an environment initialised as `init_type`.
    pub fn new(init_type: &InitializationType) -> Self {
        let provisioned = matches!(init_type, InitializationType::ProvisionedConcurrency);
        Self { taken: AtomicBool::new(provisioned) }
    }

    /// The tracker of this process (initialisation type read from the environment once).
    pub fn global() -> &'static ColdStartTracker {
        static GLOBAL: std::sync::OnceLock<Arc<ColdStartTracker>> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Self::global_arc)
    }

    /// The process tracker as a shared handle.
    pub fn global_arc() -> Arc<ColdStartTracker> {
        static GLOBAL: std::sync::OnceLock<Arc<ColdStartTracker>> = std::sync::OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(|| {
            let init_type = match std::env::var(crate::config::AWS_LAMBDA_INITIALIZATION_TYPE).as_deref() {
                Ok("provisioned-concurrency") => InitializationType::ProvisionedConcurrency,
                _ => InitializationType::OnDemand,
            };
            Arc::new(ColdStartTracker::new(&init_type))
        }))
    }

    /// True exactly once (for the first caller), false afterwards; even when several
    /// invocations start at the same time.
    pub fn take(&self) -> bool {
        // Once taken (every warm invocation), a read settles it without a write.
        !self.taken.load(Ordering::Acquire) && !self.taken.swap(true, Ordering::AcqRel)
    }
}

/// One Lambda invocation's own context.
#[derive(Debug)]
pub struct Invocation {
    /// Request id, function ARN and tenant id copied from the `Context` into one buffer
    /// (kept, with its capacity, when the invocation is reused: [`pooled`]).
    ids: String,
    request_id_end: usize,
    arn_end: usize,
    has_tenant: bool,
    trace_header: Option<TraceHeader>,
    trace_header_error: Option<TraceHeaderError>,
    deadline_ms: u64,
    /// The runtime's function settings (shared, not copied).
    env: Arc<lambda_runtime::Config>,
    /// The configured name/version when the runtime's are empty (tests, local runs).
    fallback_name: Option<Box<str>>,
    fallback_version: Option<Box<str>>,
    memory_mb: Option<u32>,
    cold_start: bool,
    debug_sampled: bool,
    /// Why the invocation is not traced although its header or configuration asked for it
    /// (`AWS_XRAY_CONTEXT_MISSING`): reported with the invocation current, so the line has
    /// its keys.
    context_missing: Option<crate::xray::recorder::ContextMissingReport>,
    /// Whether the lines written at the first entry (debug sampling, missing context) were.
    first_lines_logged: AtomicBool,
    fields: RwLock<Vec<(Cow<'static, str>, Box<str>)>>,
    /// Set by the first [`Self::append_field`]: until then, readers skip the lock.
    has_fields: AtomicBool,
    /// Redacts correlation fields when they are attached (a shared handle: cloning it is a
    /// reference-count increment).
    redactor: crate::log::Redactor,
    pub(crate) log_buffer: Option<Mutex<LogBuffer>>,
    pub(crate) xray: Arc<crate::xray::recorder::Recorder>,
    pub(crate) metrics: crate::metrics::InvocationMetrics,
}

/// What an invocation derives from its `Context` and configuration (shared by a fresh
/// build and the rebuild of a reused invocation).
struct Parts {
    request_id_end: usize,
    arn_end: usize,
    has_tenant: bool,
    trace_header: Option<TraceHeader>,
    trace_header_error: Option<TraceHeaderError>,
    fallback_name: Option<Box<str>>,
    fallback_version: Option<Box<str>>,
    memory_mb: Option<u32>,
    debug_sampled: bool,
}

impl Parts {
    /// The parts of `ctx` under `config`; the request id, the ARN and the tenant id are
    /// copied into `ids` (emptied first, its capacity kept).
    fn of(ctx: &lambda_runtime::Context, config: &Config, ids: &mut String) -> Self {
        let (trace_header, trace_header_error) = match ctx.xray_trace_id.as_deref() {
            None => (None, None),
            Some(raw) => match raw.parse::<TraceHeader>() {
                Ok(h) => (Some(h), None),
                Err(e) => (None, Some(e)),
            },
        };
        let fallback_name =
            if ctx.env_config.function_name.is_empty() { config.function_name().map(Box::from) } else { None };
        let fallback_version =
            if ctx.env_config.version.is_empty() { config.function_version().map(Box::from) } else { None };
        let tenant = ctx.tenant_id.as_deref().unwrap_or_default();
        ids.clear();
        ids.reserve(ctx.request_id.len() + ctx.invoked_function_arn.len() + tenant.len());
        ids.push_str(&ctx.request_id);
        let request_id_end = ids.len();
        ids.push_str(&ctx.invoked_function_arn);
        let arn_end = ids.len();
        ids.push_str(tenant);
        let memory_mb = u32::try_from(ctx.env_config.memory).ok().filter(|m| *m > 0).or(config.function_memory_mb());
        let rate = config.log().sample_rate();
        let debug_sampled = rate > 0.0 && fastrand::f64() < rate;
        Self {
            request_id_end,
            arn_end,
            has_tenant: !tenant.is_empty(),
            trace_header,
            trace_header_error,
            fallback_name,
            fallback_version,
            memory_mb,
            debug_sampled,
        }
    }
}

impl Invocation {
    /// Builds the invocation of `ctx`: parses the trace header, takes the cold start
    /// from `cold_start` and draws the debug-sampling decision from the configured rate.
    pub fn from_context(ctx: &lambda_runtime::Context, config: &Config, cold_start: &ColdStartTracker) -> Self {
        Self::build(ctx, config, cold_start, String::new(), |header, error| {
            Arc::new(crate::xray::recorder::Recorder::for_invocation(header, error, config))
        })
    }

    /// Builds the invocation of `ctx` with the configuration, cold-start tracker, clock
    /// and X-Ray emitter of `telemetry` (what the handler lifecycle uses).
    ///
    /// ```
    /// use streamer_obs::config::Config;
    /// use streamer_obs::invocation::Invocation;
    /// use streamer_obs::telemetry::Telemetry;
    /// use streamer_obs::testing::{CapturingEmitter, ContextBuilder};
    /// let telemetry = Telemetry::builder(Config::default()).emitter(std::sync::Arc::new(CapturingEmitter::new())).build();
    /// let ctx = ContextBuilder::new()
    ///     .trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    ///     .build();
    /// assert!(Invocation::from_telemetry(&ctx, &telemetry).xray().is_recording());
    /// ```
    pub fn from_telemetry(ctx: &lambda_runtime::Context, telemetry: &crate::telemetry::Telemetry) -> Self {
        Self::build(ctx, telemetry.config(), telemetry.cold_start(), String::new(), |header, error| {
            Arc::new(Self::recorder_of(telemetry, header, error))
        })
    }

    /// Makes this (finished, unshared) invocation the invocation of `ctx`, as
    /// [`Self::from_telemetry`] would build it: every field gets its fresh value, in place.
    /// Allocations are kept (the ids buffer, the X-Ray recorder, the metric set's storage),
    /// and so are the shared handles that are already the right ones (the runtime's
    /// settings, the metrics configuration): no reference-count traffic for them.
    fn rebuild(&mut self, ctx: &lambda_runtime::Context, telemetry: &crate::telemetry::Telemetry) {
        let config = telemetry.config();
        let parts = Parts::of(ctx, config, &mut self.ids);
        // Every field by name (no `..`): a field added later must be given its fresh value
        // here, or this does not compile.
        let Invocation {
            ids: _,
            request_id_end,
            arn_end,
            has_tenant,
            trace_header,
            trace_header_error,
            deadline_ms,
            env,
            fallback_name,
            fallback_version,
            memory_mb,
            cold_start,
            debug_sampled,
            context_missing,
            first_lines_logged,
            fields,
            has_fields,
            redactor,
            log_buffer,
            xray,
            metrics,
        } = self;
        let (header, header_error) = (parts.trace_header.as_ref(), parts.trace_header_error.as_ref());
        *context_missing = crate::xray::recorder::context_missing(header, header_error, config);
        match Arc::get_mut(xray) {
            Some(slot) => {
                slot.reinit_for_invocation(header, header_error, config, telemetry.emitter(), telemetry.clock())
            }
            None => *xray = Arc::new(Self::recorder_of(telemetry, header, header_error)),
        }
        *request_id_end = parts.request_id_end;
        *arn_end = parts.arn_end;
        *has_tenant = parts.has_tenant;
        *trace_header = parts.trace_header;
        *trace_header_error = parts.trace_header_error;
        *deadline_ms = ctx.deadline;
        if !Arc::ptr_eq(env, &ctx.env_config) {
            *env = Arc::clone(&ctx.env_config);
        }
        *fallback_name = parts.fallback_name;
        *fallback_version = parts.fallback_version;
        *memory_mb = parts.memory_mb;
        *cold_start = telemetry.cold_start().take();
        *debug_sampled = parts.debug_sampled;
        *first_lines_logged.get_mut() = false;
        fields.clear_poison();
        fields.get_mut().unwrap_or_else(|p| p.into_inner()).clear();
        *has_fields.get_mut() = false;
        if !redactor.same_as(config.log().redactor()) {
            *redactor = config.log().redactor().clone();
        }
        *log_buffer = config.log().buffer().map(|b| Mutex::new(LogBuffer::new(*b)));
        metrics.reset_for(config);
    }

    fn recorder_of(
        telemetry: &crate::telemetry::Telemetry,
        header: Option<&TraceHeader>,
        error: Option<&TraceHeaderError>,
    ) -> crate::xray::recorder::Recorder {
        crate::xray::recorder::Recorder::for_invocation_with(
            header,
            error,
            telemetry.config(),
            || Arc::clone(telemetry.emitter()),
            Arc::clone(telemetry.clock()),
        )
    }

    fn build(
        ctx: &lambda_runtime::Context,
        config: &Config,
        cold_start: &ColdStartTracker,
        mut ids: String,
        recorder: impl FnOnce(Option<&TraceHeader>, Option<&TraceHeaderError>) -> Arc<crate::xray::recorder::Recorder>,
    ) -> Self {
        let parts = Parts::of(ctx, config, &mut ids);
        let xray = recorder(parts.trace_header.as_ref(), parts.trace_header_error.as_ref());
        let context_missing = crate::xray::recorder::context_missing(
            parts.trace_header.as_ref(),
            parts.trace_header_error.as_ref(),
            config,
        );
        Self {
            ids,
            request_id_end: parts.request_id_end,
            arn_end: parts.arn_end,
            has_tenant: parts.has_tenant,
            trace_header: parts.trace_header,
            trace_header_error: parts.trace_header_error,
            deadline_ms: ctx.deadline,
            env: Arc::clone(&ctx.env_config),
            fallback_name: parts.fallback_name,
            fallback_version: parts.fallback_version,
            memory_mb: parts.memory_mb,
            cold_start: cold_start.take(),
            debug_sampled: parts.debug_sampled,
            context_missing,
            first_lines_logged: AtomicBool::new(false),
            fields: RwLock::new(Vec::new()),
            has_fields: AtomicBool::new(false),
            redactor: config.log().redactor().clone(),
            log_buffer: config.log().buffer().map(|b| Mutex::new(LogBuffer::new(*b))),
            xray,
            metrics: crate::metrics::InvocationMetrics::from_config(config),
        }
    }

    /// Runs `fut` with this invocation as the current one (a task-local). Tasks spawned
    /// inside the handler that should log with the invocation's fields wrap their future
    /// in `scope` as well.
    pub fn scope<F: Future>(self: Arc<Self>, fut: F) -> impl Future<Output = F::Output> {
        let inv = Arc::clone(&self);
        CURRENT.scope(self, async move {
            inv.log_first_lines();
            fut.await
        })
    }

    /// Whether lines are written at the invocation's first entry.
    #[inline]
    fn has_first_lines(&self) -> bool {
        (self.debug_sampled || self.context_missing.is_some()) && !self.first_lines_logged.load(Ordering::Relaxed)
    }

    /// The lines written once, with the invocation current: the DEBUG line saying debug
    /// sampling raised this invocation's level, and the report of a missing X-Ray context
    /// (per `AWS_XRAY_CONTEXT_MISSING`).
    fn log_first_lines(&self) {
        if !self.has_first_lines() || self.first_lines_logged.swap(true, Ordering::Relaxed) {
            return;
        }
        if self.debug_sampled {
            tracing::debug!(
                target: "streamer_obs",
                sampled = true,
                "debug sampling: log level raised to DEBUG for this invocation"
            );
        }
        if let Some(report) = &self.context_missing {
            report.log();
        }
    }

    /// [`Self::log_first_lines`] inside `span` with this invocation current (the handler
    /// lifecycle, which sets the task-local itself).
    pub(crate) fn log_first_lines_in(self: &Arc<Self>, span: &tracing::Span) {
        if self.has_first_lines() {
            CURRENT.sync_scope(Arc::clone(self), || span.in_scope(|| self.log_first_lines()));
        }
    }

    /// Runs `f` synchronously with this invocation as the current one. As with
    /// [`Self::scope`], the invocation's first lines (debug sampling, a missing X-Ray
    /// context) are written first, once.
    pub fn sync_scope<R>(self: Arc<Self>, f: impl FnOnce() -> R) -> R {
        if self.has_first_lines() {
            let inv = Arc::clone(&self);
            return CURRENT.sync_scope(self, || {
                inv.log_first_lines();
                f()
            });
        }
        CURRENT.sync_scope(self, f)
    }

    /// The current invocation, if any.
    pub fn current() -> Option<Arc<Invocation>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Calls `f` with the current invocation, without cloning it.
    #[inline]
    pub fn with_current<R>(f: impl FnOnce(&Invocation) -> R) -> Option<R> {
        CURRENT.try_with(|inv| f(inv)).ok()
    }

    /// The Lambda request id.
    pub fn request_id(&self) -> &str {
        &self.ids[..self.request_id_end]
    }

    /// The parsed trace header, if present and valid.
    pub fn trace_header(&self) -> Option<&TraceHeader> {
        self.trace_header.as_ref()
    }

    /// Why the trace header was rejected, if it was present but malformed.
    pub fn trace_header_error(&self) -> Option<&TraceHeaderError> {
        self.trace_header_error.as_ref()
    }

    /// This invocation's X-Ray subsegment recorder (a no-op when not traced).
    pub fn xray(&self) -> &Arc<crate::xray::recorder::Recorder> {
        &self.xray
    }

    /// The deadline as Unix milliseconds (0 when unknown).
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// The deadline as a time, if it is set.
    pub fn deadline(&self) -> Option<SystemTime> {
        (self.deadline_ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(self.deadline_ms))
    }

    /// The invoked function ARN.
    pub fn invoked_function_arn(&self) -> &str {
        &self.ids[self.request_id_end..self.arn_end]
    }

    /// The function name.
    pub fn function_name(&self) -> &str {
        match &self.fallback_name {
            Some(name) => name,
            None => &self.env.function_name,
        }
    }

    /// The function version, if known.
    pub fn function_version(&self) -> Option<&str> {
        if self.env.version.is_empty() { self.fallback_version.as_deref() } else { Some(&self.env.version) }
    }

    /// The function memory size in MB, if known.
    pub fn memory_mb(&self) -> Option<u32> {
        self.memory_mb
    }

    /// The tenant id of tenant-isolation mode, if present.
    pub fn tenant_id(&self) -> Option<&str> {
        self.has_tenant.then(|| &self.ids[self.arn_end..])
    }

    /// Whether this is the first invocation of the execution environment.
    pub fn cold_start(&self) -> bool {
        self.cold_start
    }

    /// This invocation's own metric state (flushed by `metrics::flush_invocation`).
    pub fn metrics(&self) -> &crate::metrics::InvocationMetrics {
        &self.metrics
    }

    /// Whether debug sampling raised this invocation to DEBUG.
    pub fn debug_sampled(&self) -> bool {
        self.debug_sampled
    }

    /// Attaches a correlation field (any serialisable value) to every later log line
    /// of this invocation. A key that is already present is replaced.
    ///
    /// The value is redacted once, here, and kept rendered: under a secret-looking key
    /// (see `ConfigBuilder::redact_keys`) it is `"[REDACTED]"`; otherwise values under
    /// secret-looking keys at any depth are `"[REDACTED]"` and strings are scrubbed as
    /// [`crate::log::Redactor::redact_value`] does (JWTs, credentials, query-string
    /// secrets). NaN and infinities are written as `"NaN"`, `"Infinity"`, `"-Infinity"`,
    /// and arrays or objects nested deeper than 64 levels as `"[too deep]"`.
    ///
    /// Returns false, and attaches nothing, when the key itself looks like a JWT (a key
    /// cannot be redacted without losing it).
    ///
    /// ```
    /// use streamer_obs::config::Config;
    /// use streamer_obs::invocation::{ColdStartTracker, Invocation};
    /// use streamer_obs::testing::ContextBuilder;
    /// let ctx = ContextBuilder::new().request_id("r").build();
    /// let inv = Invocation::from_context(&ctx, &Config::default(), &ColdStartTracker::new(&Default::default()));
    /// assert!(inv.append_field("request", serde_json::json!({"headers": {"Cookie": "sid=1"}, "n": 1})));
    /// assert_eq!(inv.field("request").as_deref(), Some(r#"{"headers":{"Cookie":"[REDACTED]"},"n":1}"#));
    /// assert!(inv.append_field("ratio", f64::NAN));
    /// assert_eq!(inv.field("ratio").as_deref(), Some(r#""NaN""#));
    /// assert!(!inv.append_field("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", 1));
    /// ```
    pub fn append_field(&self, key: impl Into<Cow<'static, str>>, value: impl Serialize) -> bool {
        let key = key.into();
        if crate::log::contains_jwt(&key) {
            return false;
        }
        let rendered = self.render_field(&key, &value);
        let mut fields = self.fields.write().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = fields.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = rendered;
        } else {
            fields.push((key, rendered));
        }
        self.has_fields.store(true, Ordering::Release);
        true
    }

    /// The redacted JSON rendering of a correlation field's value.
    fn render_field(&self, key: &str, value: &impl Serialize) -> Box<str> {
        if self.redactor.is_redacted(key) {
            return format!("\"{}\"", crate::log::REDACTED).into();
        }
        let mut value = match crate::xray::json::to_metadata_value(value) {
            Ok(v) => v,
            Err(e) => serde_json::Value::String(format!("<unserialisable: {e}>")),
        };
        self.redactor.redact_value(&mut value);
        let rendered = serde_json::to_string(&value).unwrap_or_else(|_| String::from("null"));
        crate::xray::json::drop_flat(value);
        rendered.into()
    }

    /// Removes a correlation field.
    pub fn remove_field(&self, key: &str) {
        self.fields.write().unwrap_or_else(|p| p.into_inner()).retain(|(k, _)| k != key);
    }

    /// Calls `f` with each correlation field (key and rendered JSON value), in order.
    pub fn for_each_field(&self, mut f: impl FnMut(&str, &str)) {
        if !self.has_fields.load(Ordering::Acquire) {
            return;
        }
        let fields = self.fields.read().unwrap_or_else(|p| p.into_inner());
        for (k, v) in fields.iter() {
            f(k, v);
        }
    }

    /// Whether the correlation field `key` is set.
    pub fn has_field(&self, key: &str) -> bool {
        self.has_fields.load(Ordering::Acquire)
            && self.fields.read().unwrap_or_else(|p| p.into_inner()).iter().any(|(k, _)| k == key)
    }

    /// The correlation field `key` as rendered JSON, if set.
    pub fn field(&self, key: &str) -> Option<String> {
        let fields = self.fields.read().unwrap_or_else(|p| p.into_inner());
        fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.to_string())
    }

    /// Writes out the buffered log records (used when the invocation fails).
    /// Returns how many records were written.
    pub fn flush_log_buffer(&self) -> usize {
        match &self.log_buffer {
            // Written without the lock: a writer that logs comes back to the buffer.
            Some(b) => {
                let held = b.lock().unwrap_or_else(|p| p.into_inner()).take();
                held.write()
            }
            None => 0,
        }
    }

    /// Drops the buffered log records (used when the invocation succeeds).
    pub fn discard_log_buffer(&self) {
        if let Some(b) = &self.log_buffer {
            b.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }
}

thread_local! {
    /// The invocation this thread built last, kept so that the next one is built in its
    /// allocation once it has finished ([`pooled`]).
    static LAST: Cell<Option<Arc<Invocation>>> = const { Cell::new(None) };
}

/// The invocation of `ctx` for `telemetry`, as [`Invocation::from_telemetry`] builds it,
/// in the allocation of the invocation this thread built last when that one has finished:
/// its block, its ids buffer and its X-Ray recorder are reused, so that building an
/// invocation does not allocate.
///
/// The thread keeps a handle to the last invocation it built. When nothing else holds it
/// any more (its handler returned, and nothing kept it, e.g. through
/// [`Invocation::current`]) it is rebuilt in place, every field fresh; one still held
/// elsewhere is never touched (the thread lets go of it and allocates). No lock: the handle
/// is per thread, and a finished invocation holds nothing another invocation could see.
pub(crate) fn pooled(ctx: &lambda_runtime::Context, telemetry: &crate::telemetry::Telemetry) -> Arc<Invocation> {
    let last = LAST.try_with(Cell::take).ok().flatten();
    let reused = last.and_then(|mut last| {
        let finished = Arc::get_mut(&mut last)?;
        finished.rebuild(ctx, telemetry);
        Some(last)
    });
    let invocation = reused.unwrap_or_else(|| Arc::new(Invocation::from_telemetry(ctx, telemetry)));
    let _ = LAST.try_with(|last| last.set(Some(Arc::clone(&invocation))));
    invocation
}

/// Attaches a correlation field to the current invocation (redacted, see
/// [`Invocation::append_field`]). Returns false (and does nothing) outside an invocation
/// or when the key looks like a JWT.
///
/// ```
/// // Outside an invocation nothing happens.
/// assert!(!streamer_obs::invocation::append_field("tenant_id", "t-1"));
/// ```
pub fn append_field(key: impl Into<Cow<'static, str>>, value: impl Serialize) -> bool {
    Invocation::with_current(|inv| inv.append_field(key, value)) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ContextBuilder;

    /// Every invocation allocates one `Arc<Invocation>`: glibc serves blocks of up to 1,032
    /// bytes from its per-thread cache, larger ones take the slower general path (about
    /// 450 more instructions per invocation, measured with callgrind). Not a timing: a
    /// size a change to the struct must keep in mind.
    #[test]
    fn the_invocation_allocation_stays_within_the_malloc_thread_cache() {
        let arc_block = std::mem::size_of::<Invocation>() + 2 * std::mem::size_of::<usize>();
        assert!(arc_block <= 1_024, "Arc<Invocation> is {arc_block} bytes");
    }

    #[test]
    fn builds_from_context() {
        let ctx = ContextBuilder::new()
            .request_id("r-1")
            .trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
            .deadline_ms(1_700_000_000_000)
            .function_name("connect")
            .tenant_id("tenant-a")
            .build();
        let tracker = ColdStartTracker::new(&InitializationType::OnDemand);
        let inv = Invocation::from_context(&ctx, &Config::default(), &tracker);
        assert_eq!(inv.request_id(), "r-1");
        assert_eq!(inv.trace_header().unwrap().root().as_str(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(inv.function_name(), "connect");
        assert_eq!(inv.tenant_id(), Some("tenant-a"));
        assert_eq!(inv.deadline(), Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)));
        assert!(inv.cold_start());
        assert!(!Invocation::from_context(&ctx, &Config::default(), &tracker).cold_start());
    }

    #[test]
    fn malformed_header_is_kept_as_an_error() {
        let ctx = ContextBuilder::new().trace_header("Root=nope;Sampled=1").build();
        let inv = Invocation::from_context(&ctx, &Config::default(), &ColdStartTracker::new(&Default::default()));
        assert!(inv.trace_header().is_none());
        assert!(matches!(inv.trace_header_error(), Some(TraceHeaderError::InvalidRoot(_))));
    }

    #[test]
    fn concurrent_cold_start_is_taken_once() {
        let tracker = Arc::new(ColdStartTracker::new(&InitializationType::SnapStart));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let t = Arc::clone(&tracker);
                std::thread::spawn(move || t.take())
            })
            .collect();
        let colds = handles.into_iter().map(|h| h.join().unwrap()).filter(|c| *c).count();
        assert_eq!(colds, 1);
    }

    #[test]
    fn fields_replace_and_remove() {
        let inv = Invocation::from_context(
            &ContextBuilder::new().build(),
            &Config::default(),
            &ColdStartTracker::new(&Default::default()),
        );
        inv.append_field(CONNECTION_ID, "a");
        inv.append_field(CONNECTION_ID, "b");
        inv.append_field("count", 3);
        assert_eq!(inv.field(CONNECTION_ID).as_deref(), Some("\"b\""));
        assert_eq!(inv.field("count").as_deref(), Some("3"));
        inv.remove_field("count");
        assert!(inv.field("count").is_none());
    }

    fn pooled_telemetry() -> crate::telemetry::Telemetry {
        crate::telemetry::Telemetry::builder(Config::default())
            .emitter(Arc::new(crate::testing::CapturingEmitter::new()))
            .build()
    }

    const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn a_finished_invocation_is_rebuilt_fresh_in_its_own_allocation() {
        let telemetry = pooled_telemetry();
        let first_ctx = ContextBuilder::new()
            .request_id("r-1")
            .trace_header(HEADER)
            .tenant_id("tenant-a")
            .deadline_ms(1_700_000_000_000)
            .build();
        let first = telemetry.invocation(&first_ctx);
        assert!(first.cold_start());
        first.append_field(CONNECTION_ID, "abc=");
        let recorded = first.metrics().with_set(|set| set.add("Pushes", crate::metrics::Unit::Count, 1.0));
        assert!(matches!(recorded, Some(Ok(()))));
        let segment = first.xray().subsegment("HandleConnect");
        segment.end();
        let (block, recorder) = (Arc::as_ptr(&first), Arc::as_ptr(first.xray()));
        drop(first);

        let second = telemetry.invocation(&ContextBuilder::new().request_id("r-2").build());
        assert_eq!(Arc::as_ptr(&second), block, "the finished invocation's allocation is reused");
        assert_eq!(Arc::as_ptr(second.xray()), recorder, "and its recorder's");
        // Every field is the new invocation's: nothing of the first one is left.
        let fresh = Invocation::from_context(
            &ContextBuilder::new().request_id("r-2").build(),
            &Config::default(),
            &ColdStartTracker::new(&InitializationType::ProvisionedConcurrency),
        );
        assert_eq!(second.request_id(), "r-2");
        assert_eq!(second.tenant_id(), None);
        assert_eq!(second.invoked_function_arn(), fresh.invoked_function_arn());
        assert_eq!(second.deadline(), fresh.deadline());
        assert!(second.trace_header().is_none());
        assert!(!second.cold_start());
        assert!(!second.has_field(CONNECTION_ID));
        assert_eq!(second.metrics().with_set(|set| set.is_empty()), Some(true));
        assert!(!second.xray().is_recording(), "no trace header: the recorder is the fresh no-op one");
    }

    /// What the invocation's metrics publish after recording `Pushes` once more, as an EMF line.
    fn published_metrics(inv: &Invocation) -> String {
        let recorded = inv.metrics().with_set(|set| set.add("Pushes", crate::metrics::Unit::Count, 2.0));
        assert!(matches!(recorded, Some(Ok(()))));
        let out = crate::testing::CapturingWriter::new();
        let publisher = crate::metrics::EmfPublisher::new(out.clone());
        let warm = crate::metrics::FlushOptions { cold_start_metric: false, raise_on_empty: false };
        crate::metrics::flush_invocation_now(inv, &publisher, &crate::testing::FixedClock::at_millis(7), &warm);
        out.lines().join("\n")
    }

    #[test]
    fn nothing_recorded_in_a_finished_invocation_reaches_the_next_one() {
        let config =
            Config::builder().service("connect").environment("prod").build_from(&crate::config::EnvVars::empty());
        let telemetry = crate::telemetry::Telemetry::builder(config.clone())
            .emitter(Arc::new(crate::testing::CapturingEmitter::new()))
            .build();
        let first = telemetry.invocation(&ContextBuilder::new().request_id("r-1").trace_header(HEADER).build());
        first.append_field(TENANT_ID, "acme");
        let tenant = crate::metrics::TenantId::new("acme").unwrap();
        first.metrics().with_set(|set| {
            set.add_dimension(crate::metrics::standard::TENANT_ID, &tenant).unwrap();
            set.set_property("connection_id", "abc=").unwrap();
            set.add("Pushes", crate::metrics::Unit::Count, 1.0).unwrap();
        });
        first.xray().subsegment("Leftover").annotate("tenant_id", "acme").unwrap();
        let block = Arc::as_ptr(&first);
        drop(first);

        let ctx = ContextBuilder::new().request_id("r-2").trace_header(HEADER).build();
        let reused = telemetry.invocation(&ctx);
        assert_eq!(Arc::as_ptr(&reused), block);
        let fresh = Invocation::from_telemetry(&ctx, &telemetry);
        assert!(!reused.has_field(TENANT_ID));
        assert_eq!(reused.request_id(), fresh.request_id());
        assert_eq!(reused.cold_start(), fresh.cold_start());
        assert_eq!(reused.trace_header().map(|h| h.to_string()), fresh.trace_header().map(|h| h.to_string()));
        // The metric document is the fresh invocation's, byte for byte: no tenant
        // dimension, no property, no earlier value.
        let (reused_emf, fresh_emf) = (published_metrics(&reused), published_metrics(&fresh));
        assert_eq!(reused_emf, fresh_emf);
        assert!(!reused_emf.contains("acme") && !reused_emf.contains("connection_id"), "{reused_emf}");
        // The X-Ray recorder starts empty: the next flush sends only what this one records.
        reused.xray().subsegment("Work").end();
        assert_eq!(reused.xray().flush_now().map(|r| r.trees), Some(1));
    }

    #[test]
    fn a_reused_invocation_takes_the_new_telemetry_whole() {
        let (first_capture, second_capture) =
            (crate::testing::CapturingEmitter::new(), crate::testing::CapturingEmitter::new());
        let first_telemetry =
            crate::telemetry::Telemetry::builder(Config::default()).emitter(Arc::new(first_capture.clone())).build();
        let first = first_telemetry.invocation(&ContextBuilder::new().trace_header(HEADER).build());
        let block = Arc::as_ptr(&first);
        drop(first);
        let config = Config::builder().service("other-service").build_from(&crate::config::EnvVars::empty());
        let second_telemetry =
            crate::telemetry::Telemetry::builder(config).emitter(Arc::new(second_capture.clone())).build();
        let second = second_telemetry.invocation(&ContextBuilder::new().trace_header(HEADER).build());
        assert_eq!(Arc::as_ptr(&second), block);
        assert!(second.cold_start(), "the second telemetry's own cold-start tracker");
        second.xray().subsegment("Work").end();
        assert_eq!(second.xray().flush_now().map(|r| r.trees), Some(1));
        assert_eq!(second_capture.documents().len(), 1, "sent through the second telemetry's emitter");
        assert!(first_capture.documents().is_empty());
    }

    #[test]
    fn an_invocation_still_held_elsewhere_is_never_reused() {
        let telemetry = pooled_telemetry();
        let kept = telemetry.invocation(&ContextBuilder::new().request_id("r-1").build());
        kept.append_field(USER_ID, "u-1");
        let next = telemetry.invocation(&ContextBuilder::new().request_id("r-2").build());
        assert!(!Arc::ptr_eq(&kept, &next));
        assert_eq!(kept.request_id(), "r-1");
        assert_eq!(kept.field(USER_ID).as_deref(), Some("\"u-1\""));
        assert_eq!(next.request_id(), "r-2");
        assert!(!next.has_field(USER_ID));
    }

    #[test]
    fn invocations_running_at_once_are_each_their_own() {
        let telemetry = pooled_telemetry();
        let running: Vec<_> = (0..12)
            .map(|i| telemetry.invocation(&ContextBuilder::new().request_id(format!("r-{i}")).build()))
            .collect();
        for (i, inv) in running.iter().enumerate() {
            assert_eq!(inv.request_id(), format!("r-{i}"));
            assert!(running[..i].iter().all(|other| !Arc::ptr_eq(other, inv)));
        }
        drop(running);
        let later = telemetry.invocation(&ContextBuilder::new().request_id("r-later").build());
        assert_eq!(later.request_id(), "r-later");
    }
}
