//! Per-invocation recording through the task-local invocation, and the flush.
//!
//! Inside [`Invocation::scope`], the free functions ([`add`], [`add_with`],
//! [`add_dimension`], [`set_property`]) record into the current invocation's own
//! [`MetricSet`]. They are infallible for ergonomics: an invalid name or value, or a call
//! outside an invocation, drops the datum and writes exactly **one WARN line** naming the
//! metric, and they return `false`. [`try_add`] and [`try_add_with`] are the same with
//! typed errors. Outside an invocation (init code, background tasks) record into a
//! [`MetricSet`] you own and publish it with [`publish_set`].
//!
//! ```
//! use std::sync::Arc;
//! use streamer_obs::config::Config;
//! use streamer_obs::invocation::{ColdStartTracker, Invocation};
//! use streamer_obs::metrics::{self, EmfPublisher, FlushOptions, Unit};
//! use streamer_obs::testing::{CapturingWriter, ContextBuilder, FixedClock};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let config = Config::builder().environment("prod").service("connect").build_from(&Default::default());
//! let inv = Arc::new(Invocation::from_context(&ContextBuilder::new().build(), &config, &ColdStartTracker::new(&Default::default())));
//! Arc::clone(&inv).scope(async {
//!     assert!(metrics::add("ConnectionEstablished", Unit::Count, 1.0));
//!     assert!(!metrics::add("Bad", Unit::Count, f64::NAN)); // dropped, one WARN line
//! }).await;
//! let out = CapturingWriter::new();
//! let report = metrics::flush_invocation(&inv, &EmfPublisher::new(out.clone()), &FixedClock::at_millis(1_000), &FlushOptions::default()).await;
//! assert_eq!(report.metrics, 1);
//! let lines = out.json_lines();
//! assert_eq!(lines.len(), 2); // the cold-start document and the invocation's document
//! assert_eq!(lines[1]["ConnectionEstablished"], 1);
//! assert_eq!(lines[1]["Environment"], "prod");
//! # });
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::dimension::{DimensionValueSource, Dimensions};
use super::error::MetricsError;
use super::name::{DimensionName, IntoMetricName, MetricName};
use super::publish::{MetricsPublisher, PublishReport};
use super::set::{MetricSet, Prepared, Refused};
use super::unit::{StorageResolution, Unit};
use crate::clock::Clock;
use crate::config::Config;
use crate::invocation::Invocation;

/// The metric state of one invocation (a field of [`Invocation`]).
///
/// ```
/// use streamer_obs::config::Config;
/// use streamer_obs::invocation::{ColdStartTracker, Invocation};
/// use streamer_obs::metrics::Unit;
/// let inv = Invocation::from_context(&streamer_obs::testing::ContextBuilder::new().build(), &Config::default(), &ColdStartTracker::new(&Default::default()));
/// inv.metrics().with_set(|s| s.add("A", Unit::Count, 1.0)).unwrap().unwrap();
/// assert_eq!(inv.metrics().with_set(|s| s.len()), Some(1));
/// ```
#[derive(Debug)]
pub struct InvocationMetrics {
    set: crate::lock::SpinLock<MetricSet>,
    disabled: bool,
    prepared: Arc<Prepared>,
    cold_start_published: AtomicBool,
    /// Set by the lifecycle before its final flush: a metric recorded later (by a task
    /// the handler spawned) would never be published, so it is refused with the usual
    /// WARN line instead of being lost silently. Read under the set's lock, which the
    /// flush takes after setting it: no record slips between the two.
    finished: AtomicBool,
    /// Whether a flush of this invocation published (or took to publish) a set that held
    /// metrics: an invocation whose metrics went out early (the deadline guard, the
    /// handler's own `flush_invocation`) did record some, though its set is empty now.
    flushed_some: AtomicBool,
}

impl InvocationMetrics {
    /// The state for an invocation under `config` (namespace, `Service` and
    /// `Environment` default dimensions; nothing recorded when metrics are disabled).
    ///
    /// ```
    /// use streamer_obs::metrics::InvocationMetrics;
    /// let m = InvocationMetrics::from_config(&Default::default());
    /// assert_eq!(m.with_set(|s| s.len()), Some(0));
    /// ```
    pub fn from_config(config: &Config) -> Self {
        let prepared = Prepared::of(config);
        Self {
            set: crate::lock::SpinLock::new(prepared.set()),
            disabled: config.metrics_disabled(),
            prepared,
            cold_start_published: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            flushed_some: AtomicBool::new(false),
        }
    }

    /// Makes this state what [`Self::from_config`] builds for `config`, in place: the set
    /// is emptied keeping its storage, and the configuration's shared parts are kept when
    /// `config` is the one it was built for (no reference-count traffic). For the reuse of
    /// a finished invocation.
    pub(crate) fn reset_for(&mut self, config: &Config) {
        let prepared = Prepared::of_ref(config);
        if !Arc::ptr_eq(&self.prepared, prepared) {
            *self = Self::from_config(config);
            return;
        }
        prepared.reset(self.set.get_mut());
        self.disabled = config.metrics_disabled();
        *self.cold_start_published.get_mut() = false;
        *self.finished.get_mut() = false;
        *self.flushed_some.get_mut() = false;
    }

    /// Whether the invocation recorded no metric at all: its set is empty and no flush
    /// published one earlier. `false` when metrics are disabled (nothing to raise).
    pub(crate) fn recorded_nothing(&self) -> bool {
        !self.disabled && !self.flushed_some.load(Ordering::Relaxed) && self.set.lock().is_empty()
    }

    /// Calls `f` with the set; `None` when metrics are disabled.
    ///
    /// The set is locked while `f` runs: `f` works on the set it is given, and must not
    /// record metrics of the same invocation by other means (`metrics::add` and the like
    /// would wait for the lock `f` holds), nor block.
    ///
    /// ```
    /// use streamer_obs::config::{Config, EnvVars};
    /// let off = Config::builder().metrics_disabled(true).build_from(&EnvVars::empty());
    /// let m = streamer_obs::metrics::InvocationMetrics::from_config(&off);
    /// assert_eq!(m.with_set(|s| s.len()), None);
    /// ```
    pub fn with_set<R>(&self, f: impl FnOnce(&mut MetricSet) -> R) -> Option<R> {
        if self.disabled {
            return None;
        }
        let mut set = self.set.lock();
        let _caller = SetInCallerCode::enter(&self.set);
        Some(f(&mut set))
    }

    /// The set, locked; `None` when this thread runs caller code under this very set's
    /// lock (a publisher's `publish_now`, a `with_set` closure): waiting would wait for
    /// itself forever. Another set (another invocation's) is waited for as usual.
    #[inline]
    fn lock_unless_reentered(&self) -> Option<crate::lock::Guard<'_, MetricSet>> {
        if crate::lock::caller_code_under_lock() && SetInCallerCode::held_here(&self.set) {
            return None;
        }
        Some(self.set.lock())
    }

    /// [`Self::with_set`] while the metrics are not final: `Err(AfterInvocation)` after
    /// [`Self::finish`] (checked under the lock), `Err(Reentrant)` from caller code run
    /// under the set's lock; `f` not called then.
    fn with_open_set<R>(&self, metric: &str, f: impl FnOnce(&mut MetricSet) -> R) -> Option<Result<R, MetricsError>> {
        if self.disabled {
            return None;
        }
        let Some(mut set) = self.lock_unless_reentered() else {
            return Some(Err(MetricsError::Reentrant { metric: metric.to_owned() }));
        };
        if self.finished.load(Ordering::Relaxed) {
            return Some(Err(MetricsError::AfterInvocation { metric: metric.to_owned() }));
        }
        let _caller = SetInCallerCode::enter(&self.set);
        Some(Ok(f(&mut set)))
    }

    /// Records a validated metric (what [`MetricSet::add_with`] does) under the set's
    /// lock; nothing when metrics are disabled. The recording path.
    #[inline]
    pub(crate) fn record(
        &self,
        name: MetricName,
        unit: Unit,
        value: f64,
        resolution: StorageResolution,
        dims: &Dimensions,
    ) -> Result<(), Refused> {
        if self.disabled {
            return Ok(());
        }
        let mut set = match self.lock_unless_reentered() {
            Some(set) => set,
            None => return Err(Box::new(MetricsError::Reentrant { metric: name.as_str().to_owned() })),
        };
        if self.finished.load(Ordering::Relaxed) {
            drop(set);
            return Err(Box::new(MetricsError::AfterInvocation { metric: name.as_str().to_owned() }));
        }
        set.record_with(name, unit, value, resolution, dims)
    }

    /// Marks the metrics as final (the lifecycle's last flush follows): later records are
    /// refused with [`MetricsError::AfterInvocation`].
    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    /// Whether metrics are disabled (`POWERTOOLS_METRICS_DISABLED`).
    ///
    /// ```
    /// let m = streamer_obs::metrics::InvocationMetrics::from_config(&Default::default());
    /// assert!(!m.disabled());
    /// ```
    pub fn disabled(&self) -> bool {
        self.disabled
    }
}

thread_local! {
    /// The metric sets whose lock this thread holds while it runs caller code under it.
    static SETS_IN_CALLER_CODE: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Caller code running under a metric set's lock (a `with_set` closure, a publisher's
/// `publish_now`), for as long as it lives: marks the thread (`crate::lock`) and names the
/// set, so that a metric recorded into that set from there is refused rather than waited
/// for (the wait would never end), while another set is waited for as usual.
struct SetInCallerCode {
    _caller: crate::lock::CallerCodeUnderLock,
}

impl SetInCallerCode {
    fn enter(set: &crate::lock::SpinLock<MetricSet>) -> Self {
        let _ = SETS_IN_CALLER_CODE.try_with(|s| s.borrow_mut().push(std::ptr::from_ref(set) as usize));
        Self { _caller: crate::lock::CallerCodeUnderLock::enter() }
    }

    /// Whether this thread runs caller code under `set`'s lock.
    fn held_here(set: &crate::lock::SpinLock<MetricSet>) -> bool {
        let at = std::ptr::from_ref(set) as usize;
        SETS_IN_CALLER_CODE.try_with(|s| s.borrow().contains(&at)).unwrap_or(false)
    }
}

impl Drop for SetInCallerCode {
    fn drop(&mut self) {
        let _ = SETS_IN_CALLER_CODE.try_with(|s| s.borrow_mut().pop());
    }
}

#[cold]
#[inline(never)]
fn warn_dropped(e: &MetricsError) {
    let metric = match e {
        MetricsError::InvalidMetricName { name, .. } => name.as_str(),
        MetricsError::InvalidValue { metric, .. }
        | MetricsError::Conflict { metric }
        | MetricsError::Dimension { metric, .. }
        | MetricsError::TooManyDimensions { metric }
        | MetricsError::NameCollision { metric }
        | MetricsError::AfterInvocation { metric }
        | MetricsError::Reentrant { metric }
        | MetricsError::NoInvocation { metric } => metric.as_str(),
        MetricsError::ReservedProperty { key } | MetricsError::SecretPropertyKey { key } => key.as_str(),
        MetricsError::InvalidDimensionName { name, .. } | MetricsError::InvalidNamespace { name, .. } => name.as_str(),
        MetricsError::InvalidDimensionValue { value, .. } => value.as_str(),
        MetricsError::InvalidTimestamp { .. } => "",
    };
    // Refused under a lock (from a publisher's code, say): written once it is released.
    let (metric, e) = (metric.to_owned(), e.to_string());
    crate::lock::after_unlock(move || {
        tracing::warn!(target: "streamer_obs::metrics", metric, error = %e, "metric dropped");
    });
}

/// Runs `f` on the current invocation's set: refused after the invocation's last flush
/// (what `set_property` / `add_dimension` would add then is never published).
fn with_current(metric: &str, f: impl FnOnce(&mut MetricSet) -> Result<(), MetricsError>) -> Result<(), MetricsError> {
    match Invocation::with_current(|inv| inv.metrics.with_open_set(metric, f)) {
        None => Err(MetricsError::NoInvocation { metric: metric.to_owned() }),
        Some(None) => Ok(()), // disabled: recorded nowhere, by configuration
        Some(Some(r)) => r.and_then(|r| r),
    }
}

/// Records a validated metric into the current invocation's set (nothing when metrics
/// are disabled, by configuration); the name is only copied into an error when there is
/// no invocation.
#[inline]
fn record_current(
    name: MetricName,
    unit: Unit,
    value: f64,
    resolution: StorageResolution,
    dims: &Dimensions,
) -> Result<(), Refused> {
    let mut slot = Some(name);
    let recorded = Invocation::with_current(|inv| match slot.take() {
        Some(name) => inv.metrics.record(name, unit, value, resolution, dims),
        None => Ok(()),
    });
    match recorded {
        Some(r) => r,
        None => Err(no_invocation(slot)),
    }
}

#[cold]
#[inline(never)]
fn no_invocation(name: Option<MetricName>) -> Refused {
    Box::new(MetricsError::NoInvocation { metric: name.map(|n| n.as_str().to_owned()).unwrap_or_default() })
}

/// Validates `name` and records it in the current invocation: `false` (after one WARN
/// line) when dropped.
#[inline]
fn add_current(
    name: impl IntoMetricName,
    unit: Unit,
    value: f64,
    resolution: StorageResolution,
    dims: &Dimensions,
) -> bool {
    let refused = match name.into_metric_name() {
        Ok(name) => match record_current(name, unit, value, resolution, dims) {
            Ok(()) => return true,
            Err(e) => e,
        },
        Err(e) => Box::new(e),
    };
    warn_dropped(&refused);
    false
}

/// Records `value` of `name` (default dimensions, standard resolution) in the current
/// invocation; typed errors.
///
/// ```
/// use streamer_obs::metrics::{self, MetricsError, Unit};
/// // Outside an invocation:
/// assert!(matches!(metrics::try_add("A", Unit::Count, 1.0), Err(MetricsError::NoInvocation { .. })));
/// ```
pub fn try_add(name: impl IntoMetricName, unit: Unit, value: f64) -> Result<(), MetricsError> {
    record_current(name.into_metric_name()?, unit, value, StorageResolution::Standard, &Dimensions::EMPTY)
        .map_err(|e| *e)
}

/// Records with own dimensions and resolution in the current invocation; typed errors.
///
/// ```
/// use streamer_obs::metrics::{self, Dimensions, MetricsError, StorageResolution, Unit};
/// let r = metrics::try_add_with("A", Unit::Count, 1.0, StorageResolution::High, &Dimensions::new());
/// assert!(matches!(r, Err(MetricsError::NoInvocation { .. })));
/// ```
pub fn try_add_with(
    name: impl IntoMetricName,
    unit: Unit,
    value: f64,
    resolution: StorageResolution,
    dims: &Dimensions,
) -> Result<(), MetricsError> {
    record_current(name.into_metric_name()?, unit, value, resolution, dims).map_err(|e| *e)
}

/// Records `value` of `name` in the current invocation. Returns `false` (after one WARN
/// line naming the metric) when it was dropped.
///
/// ```
/// use streamer_obs::metrics::{self, Unit};
/// assert!(!metrics::add("A", Unit::Count, 1.0)); // no invocation: dropped with a warning
/// ```
pub fn add(name: impl IntoMetricName, unit: Unit, value: f64) -> bool {
    add_current(name, unit, value, StorageResolution::Standard, &Dimensions::EMPTY)
}

/// Records with own dimensions and resolution in the current invocation; `false` (after
/// one WARN line) when dropped.
///
/// ```
/// use streamer_obs::metrics::{self, Dimensions, StorageResolution, Unit, standard::{self, Action}};
/// let dims = Dimensions::new().with(standard::ACTION, &Action::Send);
/// assert!(!metrics::add_with("Pushes", Unit::Count, 1.0, StorageResolution::High, &dims));
/// ```
pub fn add_with(
    name: impl IntoMetricName,
    unit: Unit,
    value: f64,
    resolution: StorageResolution,
    dims: &Dimensions,
) -> bool {
    add_current(name, unit, value, resolution, dims)
}

/// Adds a dimension to every metric of the current invocation; `false` (after one WARN
/// line) when refused or outside an invocation.
///
/// ```
/// use streamer_obs::metrics::{self, TenantId, standard};
/// assert!(!metrics::add_dimension(standard::TENANT_ID, &TenantId::new("acme").unwrap()));
/// ```
pub fn add_dimension(name: DimensionName, value: &(impl DimensionValueSource + ?Sized)) -> bool {
    let label = name.as_str().to_owned();
    // The value is the user's code (`dimension_value`), which may record metrics itself:
    // computed before the invocation's metric set is locked.
    let value = value.dimension_value();
    with_current(&label, |set| set.add_dimension(name, &value)).map_err(|e| warn_dropped(&e)).is_ok()
}

/// Sets an EMF root property of the current invocation (high-cardinality context:
/// connection id, user id, request id, trace id); `false` (after one WARN line) when
/// refused or outside an invocation.
///
/// ```
/// use streamer_obs::metrics::{self, ConnectionId};
/// assert!(!metrics::set_property("connection_id", &ConnectionId::new("abc=")));
/// ```
pub fn set_property(key: &str, value: impl Serialize) -> bool {
    // Serialised before the invocation's metric set is locked: `Serialize` is the user's
    // code, which may record metrics itself.
    let value = super::set::property_value(&value);
    with_current(key, |set| set.set_property_value(key, value)).map_err(|e| warn_dropped(&e)).is_ok()
}

/// Options of [`flush_invocation`].
///
/// ```
/// let o = streamer_obs::metrics::FlushOptions::default();
/// assert!(o.cold_start_metric && !o.raise_on_empty);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushOptions {
    /// Publish the `ColdStart` metric on the cold start (default true).
    pub cold_start_metric: bool,
    /// Log an ERROR when the invocation recorded no metric (default false). No empty
    /// document is ever written either way.
    pub raise_on_empty: bool,
}

impl Default for FlushOptions {
    fn default() -> Self {
        Self { cold_start_metric: true, raise_on_empty: false }
    }
}

/// What a flush did.
///
/// ```
/// let r = streamer_obs::metrics::FlushReport::default();
/// assert!(!r.cold_start && r.metrics == 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Metrics (name and dimension combinations) flushed, the cold start excluded.
    pub metrics: usize,
    /// Whether the `ColdStart` metric was published.
    pub cold_start: bool,
    /// Units published, as the publisher reports them.
    pub sent: usize,
    /// Units lost, as the publisher reports them.
    pub lost: usize,
}

impl FlushReport {
    /// Counts a published document.
    fn add(&mut self, r: PublishReport) {
        self.sent += r.sent;
        self.lost += r.lost;
    }

    /// Counts the published `ColdStart` document.
    fn add_cold_start(&mut self, r: PublishReport) {
        self.cold_start = true;
        self.add(r);
    }
}

/// Flushes the invocation's metrics once, at the end of the invocation (the lifecycle
/// calls it before returning the response): the cold-start document first when this is
/// the cold start, then the recorded metrics. The set is emptied and the cold start is
/// published once, so a second flush (a deadline guard, then the normal end) publishes
/// only what was recorded in between. Never fails: losses are logged by the publisher and counted in
/// the report.
///
/// ```
/// use std::sync::Arc;
/// use streamer_obs::config::Config;
/// use streamer_obs::invocation::{ColdStartTracker, Invocation};
/// use streamer_obs::metrics::{self, FlushOptions, MockMetricsPublisher, PublishReport, Unit};
/// use streamer_obs::testing::{ContextBuilder, FixedClock};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let warm = ColdStartTracker::new(&Default::default());
/// warm.take();
/// let inv = Arc::new(Invocation::from_context(&ContextBuilder::new().build(), &Config::default(), &warm));
/// Arc::clone(&inv).scope(async { metrics::add("A", Unit::Count, 1.0) }).await;
/// let mut publisher = MockMetricsPublisher::new();
/// publisher.expect_publish().times(1).returning(|set, _| PublishReport { sent: set.len(), lost: 0 });
/// let report = metrics::flush_invocation(&inv, &publisher, &FixedClock::at_millis(0), &FlushOptions::default()).await;
/// assert_eq!((report.metrics, report.sent, report.cold_start), (1, 1, false));
/// # });
/// ```
pub async fn flush_invocation(
    inv: &Invocation,
    publisher: &dyn MetricsPublisher,
    clock: &dyn Clock,
    options: &FlushOptions,
) -> FlushReport {
    let mut report = FlushReport::default();
    if inv.metrics.disabled() {
        return report;
    }
    let now_ms = clock.now_millis();
    // Each document is published synchronously when the publisher can, else awaited.
    match cold_start_now(inv, publisher, now_ms, options) {
        Step::Nothing => {}
        Step::Published(r) => report.add_cold_start(r),
        Step::Left(cold) => report.add_cold_start(publisher.publish(&cold, now_ms).await),
    }
    match set_now(inv, publisher, now_ms, &mut report) {
        Step::Nothing => raise_if_empty(inv, options),
        Step::Published(r) => report.add(r),
        Step::Left(()) => {
            // Taken out of the lock to be awaited (empty if a concurrent flush took it).
            let set = inv.metrics.set.lock().take();
            if !set.is_empty() {
                inv.metrics.flushed_some.store(true, Ordering::Relaxed);
                report.add(publisher.publish(&set, now_ms).await);
            }
        }
    }
    report
}

/// [`flush_invocation`] without a future, for a publisher that publishes synchronously
/// ([`MetricsPublisher::publish_now`]: EMF lines): the set is published in place, under
/// its lock, and emptied keeping its storage. `None` when the publisher cannot publish a
/// document synchronously: what it did not publish is left, and [`flush_invocation`],
/// awaited then, publishes only that (a publisher that can publish nothing synchronously,
/// such as `PutMetricData`, has published nothing). The lifecycle calls this first, and
/// needs no future at all for an EMF publisher.
///
/// ```
/// use std::sync::Arc;
/// use streamer_obs::config::Config;
/// use streamer_obs::invocation::{ColdStartTracker, Invocation};
/// use streamer_obs::metrics::{self, EmfPublisher, FlushOptions, MockMetricsPublisher, Unit};
/// use streamer_obs::testing::{ContextBuilder, FixedClock};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let warm = ColdStartTracker::new(&Default::default());
/// warm.take();
/// let inv = Arc::new(Invocation::from_context(&ContextBuilder::new().build(), &Config::default(), &warm));
/// Arc::clone(&inv).scope(async { metrics::add("A", Unit::Count, 1.0) }).await;
/// let clock = FixedClock::at_millis(0);
/// // An API publisher cannot: nothing is published, the set is kept for the awaited flush.
/// assert!(metrics::flush_invocation_now(&inv, &MockMetricsPublisher::new(), &clock, &FlushOptions::default()).is_none());
/// let emf = EmfPublisher::new(Vec::<u8>::new());
/// let report = metrics::flush_invocation_now(&inv, &emf, &clock, &FlushOptions::default()).unwrap();
/// assert_eq!((report.metrics, report.sent), (1, 1));
/// # });
/// ```
pub fn flush_invocation_now(
    inv: &Invocation,
    publisher: &dyn MetricsPublisher,
    clock: &dyn Clock,
    options: &FlushOptions,
) -> Option<FlushReport> {
    let mut report = FlushReport::default();
    if inv.metrics.disabled() {
        return Some(report);
    }
    let now_ms = clock.now_millis();
    match cold_start_now(inv, publisher, now_ms, options) {
        Step::Nothing => {}
        Step::Published(r) => report.add_cold_start(r),
        Step::Left(_) => {
            // Not published: left to the awaited flush.
            inv.metrics.cold_start_published.store(false, Ordering::Release);
            return None;
        }
    }
    match set_now(inv, publisher, now_ms, &mut report) {
        Step::Nothing => raise_if_empty(inv, options),
        Step::Published(r) => report.add(r),
        Step::Left(()) => return None,
    }
    Some(report)
}

/// What one step of a flush did with its document.
enum Step<T> {
    /// There was none to publish.
    Nothing,
    /// Published synchronously.
    Published(PublishReport),
    /// The publisher cannot publish it synchronously: left to be awaited.
    Left(T),
}

/// The `ColdStart` document, when this flush is the one to publish it: published
/// synchronously if the publisher can, else handed back (marked published either way).
fn cold_start_now(
    inv: &Invocation,
    publisher: &dyn MetricsPublisher,
    now_ms: u64,
    options: &FlushOptions,
) -> Step<MetricSet> {
    let due = options.cold_start_metric && inv.cold_start();
    if !due || inv.metrics.cold_start_published.swap(true, Ordering::AcqRel) {
        return Step::Nothing;
    }
    let cold = cold_start_set(inv);
    match publisher.publish_now(&cold, now_ms) {
        Some(r) => Step::Published(r),
        None => Step::Left(cold),
    }
}

/// The recorded set, published in place under its lock when the publisher can (then
/// emptied, keeping its storage); left in place otherwise.
fn set_now(inv: &Invocation, publisher: &dyn MetricsPublisher, now_ms: u64, report: &mut FlushReport) -> Step<()> {
    let mut set = inv.metrics.set.lock();
    report.metrics = set.len();
    if set.is_empty() {
        return Step::Nothing;
    }
    // The publisher's code runs under the set's lock: a metric it records is refused
    // (`MetricsError::Reentrant`), not waited for.
    let published = {
        let _caller = SetInCallerCode::enter(&inv.metrics.set);
        publisher.publish_now(&set, now_ms)
    };
    match published {
        Some(r) => {
            set.clear();
            inv.metrics.flushed_some.store(true, Ordering::Relaxed);
            Step::Published(r)
        }
        None => Step::Left(()),
    }
}

/// The invocation's `ColdStart` document.
fn cold_start_set(inv: &Invocation) -> MetricSet {
    let prepared = &inv.metrics.prepared;
    MetricSet::cold_start(prepared.namespace().clone(), inv.function_name(), prepared.service())
}

/// The ERROR line of `raise_on_empty`, when set and no earlier flush of the invocation
/// published a metric.
fn raise_if_empty(inv: &Invocation, options: &FlushOptions) {
    if options.raise_on_empty && !inv.metrics.flushed_some.load(Ordering::Relaxed) {
        tracing::error!(target: "streamer_obs::metrics", "no metrics were recorded in this invocation");
    }
}

/// Publishes an explicitly owned set (outside an invocation) and empties it.
///
/// ```
/// use streamer_obs::metrics::{self, EmfPublisher, MetricSet, Namespace, Unit};
/// use streamer_obs::testing::FixedClock;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add("InitDone", Unit::Count, 1.0).unwrap();
/// let p = EmfPublisher::new(Vec::<u8>::new());
/// let r = metrics::publish_set(&mut set, &p, &FixedClock::at_millis(0)).await;
/// assert_eq!(r.sent, 1);
/// assert!(set.is_empty());
/// # });
/// ```
pub async fn publish_set(
    set: &mut MetricSet,
    publisher: &dyn MetricsPublisher,
    clock: &dyn Clock,
) -> super::publish::PublishReport {
    let taken = set.take();
    if taken.is_empty() {
        return Default::default();
    }
    publisher.publish(&taken, clock.now_millis()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::ColdStartTracker;
    use crate::metrics::{EmfPublisher, MetricsPublisher, PublishReport};
    use crate::testing::{CapturingWriter, ContextBuilder, FixedClock};

    /// A publisher that only publishes asynchronously (the default `publish_now`).
    struct AsyncOnly(EmfPublisher<CapturingWriter>);

    #[async_trait::async_trait]
    impl MetricsPublisher for AsyncOnly {
        async fn publish(&self, set: &MetricSet, now_ms: u64) -> PublishReport {
            self.0.write_set(set, now_ms)
        }
    }

    /// The in-place flush (synchronous publisher) and the taken-out one (asynchronous)
    /// write the same lines, and both leave an empty set that records again.
    #[test]
    fn in_place_and_taken_flushes_write_the_same() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let config = Config::builder().service("svc").environment("prod").build_from(&Default::default());
        let run = |publisher: &dyn MetricsPublisher| {
            let warm = ColdStartTracker::new(&Default::default());
            let inv = Arc::new(Invocation::from_context(&ContextBuilder::new().build(), &config, &warm));
            let clock = FixedClock::at_millis(1_700_000_000_000);
            let dims =
                Dimensions::new().with(crate::metrics::standard::ACTION, &crate::metrics::standard::Action::Connect);
            rt.block_on(async {
                Arc::clone(&inv)
                    .scope(async {
                        assert!(add_with("A", Unit::Count, 1.0, StorageResolution::Standard, &dims));
                        assert!(add("B", Unit::Milliseconds, 2.5));
                        assert!(set_property("p", "v"));
                    })
                    .await;
                let first = flush_invocation(&inv, publisher, &clock, &FlushOptions::default()).await;
                assert_eq!((first.metrics, first.sent, first.cold_start), (2, 2, true));
                assert_eq!(inv.metrics().with_set(|s| (s.len(), s.properties().len())), Some((0, 0)));
                let empty = flush_invocation(&inv, publisher, &clock, &FlushOptions::default()).await;
                assert_eq!((empty.metrics, empty.sent), (0, 0));
                Arc::clone(&inv).scope(async { assert!(add("C", Unit::Count, 3.0)) }).await;
                let second = flush_invocation(&inv, publisher, &clock, &FlushOptions::default()).await;
                assert_eq!((second.metrics, second.sent, second.cold_start), (1, 1, false));
            });
        };
        let (a, b) = (CapturingWriter::new(), CapturingWriter::new());
        let in_place = EmfPublisher::new(a.clone());
        assert!(in_place.publish_now(&MetricSet::new(crate::metrics::Namespace::streamer()), 0).is_some());
        run(&in_place);
        run(&AsyncOnly(EmfPublisher::new(b.clone())));
        assert_eq!(a.json_lines(), b.json_lines());
        // The cold-start document, the first document, the second.
        assert_eq!(a.json_lines().len(), 3, "{:?}", a.json_lines());
    }
}
