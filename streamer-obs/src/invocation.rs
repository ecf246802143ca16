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
        !self.taken.swap(true, Ordering::AcqRel)
    }
}

/// One Lambda invocation's own context.
#[derive(Debug)]
pub struct Invocation {
    /// Request id, function ARN and tenant id copied from the `Context` into one buffer
    /// (kept, with its capacity, when the invocation is reused: [`InvocationPool`]).
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
    sampling_logged: AtomicBool,
    fields: RwLock<Vec<(Cow<'static, str>, Box<str>)>>,
    pub(crate) log_buffer: Option<Mutex<LogBuffer>>,
    pub(crate) xray: Arc<crate::xray::recorder::Recorder>,
    pub(crate) metrics: crate::metrics::InvocationMetrics,
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
    /// [`Self::from_telemetry`] would build it: every field gets a fresh value; only the
    /// allocations of the ids buffer and of the X-Ray recorder are kept.
    fn rebuild(&mut self, ctx: &lambda_runtime::Context, telemetry: &crate::telemetry::Telemetry) {
        let ids = std::mem::take(&mut self.ids);
        let xray = &mut self.xray;
        let fresh = Self::build(ctx, telemetry.config(), telemetry.cold_start(), ids, |header, error| {
            match Arc::get_mut(xray) {
                Some(slot) => slot.reinit_for_invocation(
                    header,
                    error,
                    telemetry.config(),
                    telemetry.emitter(),
                    telemetry.clock(),
                ),
                None => *xray = Arc::new(Self::recorder_of(telemetry, header, error)),
            }
            Arc::clone(xray)
        });
        *self = fresh;
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
        let xray = recorder(trace_header.as_ref(), trace_header_error.as_ref());
        let rate = config.log().sample_rate();
        let debug_sampled = rate > 0.0 && fastrand::f64() < rate;
        Self {
            ids,
            request_id_end,
            arn_end,
            has_tenant: !tenant.is_empty(),
            trace_header,
            trace_header_error,
            deadline_ms: ctx.deadline,
            env: Arc::clone(&ctx.env_config),
            fallback_name,
            fallback_version,
            memory_mb,
            cold_start: cold_start.take(),
            debug_sampled,
            sampling_logged: AtomicBool::new(false),
            fields: RwLock::new(Vec::new()),
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
            inv.log_debug_sampling();
            fut.await
        })
    }

    /// The one DEBUG line saying debug sampling raised this invocation's level, written
    /// (once) with the invocation current.
    fn log_debug_sampling(&self) {
        if self.debug_sampled && !self.sampling_logged.swap(true, Ordering::Relaxed) {
            tracing::debug!(
                target: "streamer_obs",
                sampled = true,
                "debug sampling: log level raised to DEBUG for this invocation"
            );
        }
    }

    /// [`Self::log_debug_sampling`] inside `span` with this invocation current (the
    /// handler lifecycle, which sets the task-local itself).
    pub(crate) fn note_debug_sampling(self: &Arc<Self>, span: &tracing::Span) {
        if self.debug_sampled && !self.sampling_logged.load(Ordering::Relaxed) {
            Arc::clone(self).sync_scope(|| span.in_scope(|| self.log_debug_sampling()));
        }
    }

    /// Runs `f` synchronously with this invocation as the current one.
    pub fn sync_scope<R>(self: Arc<Self>, f: impl FnOnce() -> R) -> R {
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
    pub fn append_field(&self, key: impl Into<Cow<'static, str>>, value: impl Serialize) {
        let key = key.into();
        let rendered: Box<str> = match serde_json::to_string(&value) {
            Ok(s) => s.into(),
            Err(e) => serde_json::to_string(&format!("<unserialisable: {e}>")).unwrap_or_default().into(),
        };
        let mut fields = self.fields.write().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = fields.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = rendered;
        } else {
            fields.push((key, rendered));
        }
    }

    /// Removes a correlation field.
    pub fn remove_field(&self, key: &str) {
        self.fields.write().unwrap_or_else(|p| p.into_inner()).retain(|(k, _)| k != key);
    }

    /// Calls `f` with each correlation field (key and rendered JSON value), in order.
    pub fn for_each_field(&self, mut f: impl FnMut(&str, &str)) {
        let fields = self.fields.read().unwrap_or_else(|p| p.into_inner());
        for (k, v) in fields.iter() {
            f(k, v);
        }
    }

    /// Whether the correlation field `key` is set.
    pub fn has_field(&self, key: &str) -> bool {
        self.fields.read().unwrap_or_else(|p| p.into_inner()).iter().any(|(k, _)| k == key)
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
            Some(b) => b.lock().unwrap_or_else(|p| p.into_inner()).flush(),
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

/// How many invocations an [`InvocationPool`] keeps: enough for the invocations one
/// process runs at once in practice (`run_concurrent` included); beyond it, invocations
/// are allocated and freed as without a pool.
const POOL_SLOTS: usize = 4;

/// Invocations kept for reuse, so that building one does not allocate: its block,
/// its ids buffer and its X-Ray recorder are reused from a finished invocation.
///
/// The pool keeps a handle to each invocation it hands out; one whose only holder is
/// the pool (its handler returned and nothing else kept it, e.g. through
/// [`Invocation::current`]) is finished and is rebuilt in place for the next one, every
/// field fresh as [`Invocation::from_telemetry`] makes them. An invocation still held
/// elsewhere is never touched. Owned by the process-wide `Telemetry`; it holds no state of
/// a running invocation that another could see.
#[derive(Debug, Default)]
pub(crate) struct InvocationPool {
    slots: Mutex<[Option<Arc<Invocation>>; POOL_SLOTS]>,
}

impl InvocationPool {
    /// The invocation of `ctx`: a finished pooled one rebuilt, else a new one (pooled when
    /// a slot is free).
    pub(crate) fn invocation(
        &self,
        ctx: &lambda_runtime::Context,
        telemetry: &crate::telemetry::Telemetry,
    ) -> Arc<Invocation> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut free = None;
        for (i, slot) in slots.iter_mut().enumerate() {
            match slot {
                Some(held) => {
                    if let Some(finished) = Arc::get_mut(held) {
                        finished.rebuild(ctx, telemetry);
                        return Arc::clone(held);
                    }
                }
                None => free = free.or(Some(i)),
            }
        }
        let fresh = Arc::new(Invocation::from_telemetry(ctx, telemetry));
        if let Some(i) = free {
            slots[i] = Some(Arc::clone(&fresh));
        }
        fresh
    }
}

/// Attaches a correlation field to the current invocation. Returns false (and does
/// nothing) outside an invocation.
///
/// ```
/// // Outside an invocation nothing happens.
/// assert!(!streamer_obs::invocation::append_field("tenant_id", "t-1"));
/// ```
pub fn append_field(key: impl Into<Cow<'static, str>>, value: impl Serialize) -> bool {
    Invocation::with_current(|inv| inv.append_field(key, value)).is_some()
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
    fn more_invocations_at_once_than_pool_slots_are_each_their_own() {
        let telemetry = pooled_telemetry();
        let running: Vec<_> = (0..3 * POOL_SLOTS)
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
