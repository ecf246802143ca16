//! The process-wide part of the SDK: configuration, clock, cold-start tracker, the
//! metrics publisher and the X-Ray emitter. Only transports and configuration live here;
//! everything per invocation lives in [`crate::invocation`].
//!
//! [`Telemetry::current`] is what the handler lifecycle uses: a task-local override set
//! by [`Telemetry::scope`] (tests, or several configurations in one process), else the
//! global one installed by [`crate::init`] (or read lazily from the environment).
//!
//! ```
//! use streamer_obs::config::Config;
//! use streamer_obs::telemetry::Telemetry;
//! use streamer_obs::testing::FixedClock;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let telemetry = Telemetry::builder(Config::default()).clock(FixedClock::at_millis(5)).build();
//! telemetry
//!     .scope(async {
//!         assert_eq!(Telemetry::current().clock().now_millis(), 5);
//!     })
//!     .await;
//! # });
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::invocation::{ColdStartTracker, Invocation};
use crate::metrics::{EmfPublisher, MetricsPublisher};
use crate::xray::emitter::SegmentEmitter;

tokio::task_local! {
    static OVERRIDE: Telemetry;
}

static GLOBAL: OnceLock<Telemetry> = OnceLock::new();

struct Inner {
    config: Config,
    clock: Arc<dyn Clock>,
    cold_start: Arc<ColdStartTracker>,
    publisher: Arc<dyn MetricsPublisher>,
    emitter: Arc<dyn SegmentEmitter>,
    past_deadline_warned: AtomicBool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("emitter", &self.emitter)
            .finish_non_exhaustive()
    }
}

/// Shared handle to the process-wide SDK state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

impl Telemetry {
    /// Telemetry for the process environment: configuration from the environment, the
    /// system clock, the process cold-start tracker.
    pub fn from_env() -> Self {
        Self::builder(Config::from_env()).cold_start_tracker(ColdStartTracker::global_arc()).build()
    }

    /// A builder (its own cold-start tracker and the system clock unless set).
    pub fn builder(config: Config) -> TelemetryBuilder {
        TelemetryBuilder { config, clock: None, cold_start: None, publisher: None, emitter: None }
    }

    /// The global telemetry: the one installed by [`Telemetry::install_global`] (done by
    /// [`crate::init`]), else read from the environment on first use.
    pub fn global() -> &'static Telemetry {
        GLOBAL.get_or_init(Telemetry::from_env)
    }

    /// The global telemetry if there is one yet (installed, or read from the environment
    /// by [`Telemetry::global`]), without creating it.
    ///
    /// ```
    /// use streamer_obs::telemetry::Telemetry;
    /// let global = Telemetry::global();
    /// assert!(std::ptr::eq(Telemetry::installed().unwrap(), global));
    /// ```
    pub fn installed() -> Option<&'static Telemetry> {
        GLOBAL.get()
    }

    /// Installs `self` as the global telemetry. Returns it back when one was already
    /// installed (or already read lazily).
    ///
    /// # Errors
    ///
    /// The telemetry that could not be installed.
    pub fn install_global(self) -> Result<(), Telemetry> {
        GLOBAL.set(self)
    }

    /// The telemetry of the current task: a [`Telemetry::scope`] override, else the global.
    pub fn current() -> Telemetry {
        OVERRIDE.try_with(Clone::clone).unwrap_or_else(|_| Telemetry::global().clone())
    }

    /// [`Telemetry::current`] without a reference count when it is the global: what the
    /// handler lifecycle holds (the global lives as long as the process).
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use streamer_obs::telemetry::Telemetry;
    /// // Outside any `Telemetry::scope`, the global, borrowed.
    /// assert!(matches!(Telemetry::current_ref(), Cow::Borrowed(_)));
    /// ```
    pub fn current_ref() -> Cow<'static, Telemetry> {
        OVERRIDE.try_with(|t| Cow::Owned(t.clone())).unwrap_or_else(|_| Cow::Borrowed(Telemetry::global()))
    }

    /// Runs `fut` with `self` as [`Telemetry::current`].
    pub fn scope<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> + use<F> {
        OVERRIDE.scope(self.clone(), fut)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The invocation of `ctx` (what the handler lifecycle runs): built as
    /// [`Invocation::from_telemetry`] builds it, in the allocation of a finished one when
    /// this thread has one.
    pub(crate) fn invocation(&self, ctx: &lambda_runtime::Context) -> Arc<Invocation> {
        crate::invocation::pooled(ctx, self)
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The cold-start tracker.
    pub fn cold_start(&self) -> &ColdStartTracker {
        &self.inner.cold_start
    }

    /// The metrics publisher (EMF on stdout unless configured).
    pub fn publisher(&self) -> &Arc<dyn MetricsPublisher> {
        &self.inner.publisher
    }

    /// The X-Ray emitter (the UDP daemon emitter of `AWS_XRAY_DAEMON_ADDRESS` unless
    /// configured).
    pub fn emitter(&self) -> &Arc<dyn SegmentEmitter> {
        &self.inner.emitter
    }

    /// True the first time it is called (used to warn once per process).
    pub(crate) fn first_past_deadline_warning(&self) -> bool {
        !self.inner.past_deadline_warned.swap(true, Ordering::Relaxed)
    }
}

/// Builder for [`Telemetry`].
pub struct TelemetryBuilder {
    config: Config,
    clock: Option<Arc<dyn Clock>>,
    cold_start: Option<Arc<ColdStartTracker>>,
    publisher: Option<Arc<dyn MetricsPublisher>>,
    emitter: Option<Arc<dyn SegmentEmitter>>,
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    /// The metrics publisher (default: EMF lines on stdout; `CloudWatchPublisher` with
    /// the `cloudwatch` feature; any `io::Write` through `EmfPublisher::new` in tests).
    pub fn metrics_publisher(mut self, publisher: Arc<dyn MetricsPublisher>) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// The X-Ray emitter (default: the process's UDP daemon emitter, see
    /// [`crate::xray::emitter::default_emitter`]).
    pub fn emitter(mut self, emitter: Arc<dyn SegmentEmitter>) -> Self {
        self.emitter = Some(emitter);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// A shared cold-start tracker (default: a new one for the configured initialisation type).
    pub fn cold_start_tracker(mut self, tracker: Arc<ColdStartTracker>) -> Self {
        self.cold_start = Some(tracker);
        self
    }

    /// Builds the telemetry.
    pub fn build(self) -> Telemetry {
        let cold_start =
            self.cold_start.unwrap_or_else(|| Arc::new(ColdStartTracker::new(self.config.initialization_type())));
        let publisher = self.publisher.unwrap_or_else(|| Arc::new(EmfPublisher::stdout()));
        let emitter = self.emitter.unwrap_or_else(|| crate::xray::emitter::default_emitter(&self.config));
        Telemetry {
            inner: Arc::new(Inner {
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                cold_start,
                publisher,
                emitter,
                config: self.config,
                past_deadline_warned: AtomicBool::new(false),
            }),
        }
    }
}
