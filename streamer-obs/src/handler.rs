//! The invocation lifecycle: one type, [`HandlerScope`], that both `#[instrumented]`
//! and the tower layer call, so the two paths cannot drift apart.
//!
//! For each invocation it:
//! 1. builds the [`Invocation`] from the `Context` and decides the cold start;
//! 2. runs the handler inside a `tracing` span that is a child of `lambda_runtime`'s own
//!    invocation span (it is created where the handler is called, so it nests under
//!    whatever span is current: never a second root), with the invocation in a task-local;
//!    The handler subsegment (named after the handler) is opened with the `ColdStart` and
//!    `Service` annotations plus the user's; everything the handler records nests under it.
//! 3. on `Ok`: the response is captured as subsegment metadata (`<name> response` in the
//!    service's namespace; the X-Ray size guard trims it if needed) unless
//!    `capture_response` is off; on `Err`: one ERROR line with the error chain, the
//!    subsegment marked `fault` (or what [`HandlerOptions::error_class`] maps it to) with
//!    the `cause`, and the error returned unchanged; on panic: the same as a fault, then the
//!    panic resumes (the runtime reports it). When panics abort the process
//!    (`panic = "abort"`, what `cargo lambda build --release` builds by default), a panic
//!    hook does the same before the abort (`HandlerOptions::panic_aborts`, README);
//! 4. records the latency metric (`ProcessingLatency`, milliseconds) and flushes the
//!    metrics (EMF or `PutMetricData`) and the subsegments (UDP daemon or
//!    `PutTraceSegments`) **before** returning to the runtime, so nothing is lost when the
//!    sandbox freezes; the log buffer is written on failure and dropped on success;
//! 5. runs a deadline guard: when the handler is still running `deadline_margin`
//!    (default 50 ms) before `Context::deadline`, it annotates the handler subsegment
//!    `TimedOut = true`, flushes the metrics recorded so far, sends the subsegments (the
//!    open ones as `in_progress` documents, completed later if the handler still
//!    finishes), writes the log buffer and logs a WARN line, so a timeout loses nothing
//!    recorded before it. A deadline already in the past at start (the local runtime
//!    emulator sends a relative deadline) is treated as unknown, with one warning per
//!    process.
//!
//! ```
//! use lambda_runtime::LambdaEvent;
//! use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
//! use streamer_obs::testing::ContextBuilder;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let event = LambdaEvent::new(serde_json::json!({"x": 1}), ContextBuilder::new().build());
//! let scope = HandlerScope::new(HandlerOptions::new("HandleEcho"), &event.context, tracing::info_span!("HandleEcho"));
//! let out: Result<serde_json::Value, std::io::Error> = scope
//!     .run(async move { Ok(event.payload) }, |e: &std::io::Error| ErrorView::from_error(e), |_| None)
//!     .await;
//! assert_eq!(out.unwrap()["x"], 1);
//! # });
//! ```

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::__private::AnnotationArg;
use crate::clock::{self, Clock};
use crate::invocation::Invocation;
use crate::metrics::{self, Dimensions, FlushOptions, IntoMetricName, StorageResolution, Unit};
use crate::telemetry::Telemetry;
use crate::xray::annotation::AnnotationValue;
use crate::xray::cause::ErrorDetails;
use crate::xray::recorder::SubsegmentGuard;
use crate::xray::recorder::{put_args_into, put_known_args_into};

/// Default name of the latency metric.
pub const DEFAULT_LATENCY_METRIC: &str = "ProcessingLatency";
/// Default deadline margin.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// How a handler error is recorded on the handler subsegment (`error`, `fault` or
/// `throttle`); re-exported from the X-Ray layer.
pub use crate::xray::cause::ErrorKind as ErrorClass;

/// Declares how an error type is recorded on X-Ray subsegments when an instrumented
/// function returns it (`#[instrumented]` picks this up automatically): an expected,
/// client-caused failure is an `error`, not a `fault`.
///
/// ```
/// use streamer_obs::handler::{ClassifyError, ErrorClass};
/// #[derive(Debug)]
/// struct InvalidToken;
/// impl ClassifyError for InvalidToken {
///     fn error_class(&self) -> ErrorClass {
///         ErrorClass::Error
///     }
/// }
/// assert_eq!(InvalidToken.error_class(), ErrorClass::Error);
/// ```
pub trait ClassifyError {
    /// The kind to record.
    fn error_class(&self) -> ErrorClass;
}

/// Options of one handler (the arguments of `#[instrumented]`).
///
/// ```
/// use std::time::Duration;
/// use streamer_obs::handler::{ErrorClass, HandlerOptions};
/// let o = HandlerOptions::new("HandleConnect")
///     .capture_response(false)
///     .without_latency_metric()
///     .deadline_margin(Duration::from_millis(100))
///     .error_class(|_| ErrorClass::Error);
/// assert_eq!(o.name(), "HandleConnect");
/// ```
#[derive(Clone)]
pub struct HandlerOptions {
    name: Cow<'static, str>,
    capture_response: Option<bool>,
    capture_error: Option<bool>,
    log_event: Option<bool>,
    cold_start_metric: bool,
    raise_on_empty_metrics: bool,
    latency_metric: Option<Cow<'static, str>>,
    latency_high_resolution: bool,
    deadline_margin: Duration,
    error_class: fn(&ErrorView) -> ErrorClass,
    panic_aborts: bool,
}

impl fmt::Debug for HandlerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerOptions")
            .field("name", &self.name)
            .field("capture_response", &self.capture_response)
            .field("capture_error", &self.capture_error)
            .field("log_event", &self.log_event)
            .field("cold_start_metric", &self.cold_start_metric)
            .field("raise_on_empty_metrics", &self.raise_on_empty_metrics)
            .field("latency_metric", &self.latency_metric)
            .field("deadline_margin", &self.deadline_margin)
            .field("panic_aborts", &self.panic_aborts)
            .finish_non_exhaustive()
    }
}

impl HandlerOptions {
    /// Options for a handler named `name` (span, subsegment), with the defaults:
    /// response and error captured, event logging from `POWERTOOLS_LOGGER_LOG_EVENT`, no
    /// cold-start metric, no raise-on-empty, `ProcessingLatency` in ms, 50 ms margin,
    /// every error a fault.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            capture_response: None,
            capture_error: None,
            log_event: None,
            cold_start_metric: false,
            raise_on_empty_metrics: false,
            latency_metric: Some(Cow::Borrowed(DEFAULT_LATENCY_METRIC)),
            latency_high_resolution: false,
            deadline_margin: DEFAULT_DEADLINE_MARGIN,
            error_class: |_| ErrorClass::Fault,
            panic_aborts: cfg!(panic = "abort"),
        }
    }

    /// The handler name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Capture the response as subsegment metadata (size-guarded). Default true.
    pub fn capture_response(mut self, on: bool) -> Self {
        self.capture_response = Some(on);
        self
    }

    /// Capture the error as the subsegment `cause`. Default true.
    pub fn capture_error(mut self, on: bool) -> Self {
        self.capture_error = Some(on);
        self
    }

    /// Log the incoming event (redacted). Default: `POWERTOOLS_LOGGER_LOG_EVENT`.
    pub fn log_event(mut self, on: bool) -> Self {
        self.log_event = Some(on);
        self
    }

    /// Emit the `ColdStart` metric on cold starts. Default false.
    pub fn cold_start_metric(mut self, on: bool) -> Self {
        self.cold_start_metric = on;
        self
    }

    /// Turn an invocation that recorded no metric into an ERROR line. Default false.
    pub fn raise_on_empty_metrics(mut self, on: bool) -> Self {
        self.raise_on_empty_metrics = on;
        self
    }

    /// The latency metric name. Default `ProcessingLatency`.
    pub fn latency_metric(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.latency_metric = Some(name.into());
        self
    }

    /// Records no latency metric.
    pub fn without_latency_metric(mut self) -> Self {
        self.latency_metric = None;
        self
    }

    /// Record the latency metric at high (1 s) storage resolution.
    pub fn latency_high_resolution(mut self, on: bool) -> Self {
        self.latency_high_resolution = on;
        self
    }

    /// How long before the deadline the guard flushes. Default 50 ms.
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// How handler errors are classified (default: every error is a fault).
    pub fn error_class(mut self, classify: fn(&ErrorView) -> ErrorClass) -> Self {
        self.error_class = classify;
        self
    }

    /// Whether a panic aborts the process (`panic = "abort"`, what `cargo lambda build
    /// --release` sets unless the manifest says otherwise). Then nothing unwinds back to
    /// the lifecycle: a panic hook, installed once per process by the first such handler,
    /// does what the lifecycle does for a panic before the process aborts: the subsegments
    /// still open inside the handler's are ended, the handler subsegment is marked as a
    /// fault with the panic as its `cause`, the latency metric is recorded, the log buffer
    /// and the ERROR line are written, and the metrics (EMF) and subsegments (UDP) are
    /// flushed; then the hook that was installed before it runs (the panic message on
    /// stderr). It covers the handler's code from its `annotations(...)` to the lifecycle's
    /// last call into it (the error's `Display`, the response's `Serialize`, a cancelled
    /// body's `Drop`), and every handler running on the panicking thread (one run inside
    /// another's body: innermost first). A `PutMetricData` publisher or an X-Ray API
    /// emitter cannot finish before the abort: that is said in a WARN line. A panic inside
    /// the closure given to `InvocationMetrics::with_set`, which runs under the metrics
    /// lock, is said in an ERROR line, not flushed (the lock cannot be taken again). A hook
    /// installed after the handler's first invocation replaces this one.
    ///
    /// Defaults to how `streamer-obs` was built; `#[instrumented]` passes how the handler's
    /// crate was built. Not for builds where panics unwind: a panic caught inside the
    /// handler (by its code, or by the SDK's own guard around a `Display` that panics while
    /// a log line is written) would be recorded as the handler's, and what it records after
    /// is not flushed. Hidden from the documentation for that reason.
    ///
    /// ```
    /// use streamer_obs::handler::HandlerOptions;
    /// let o = HandlerOptions::new("HandleConnect").panic_aborts(cfg!(panic = "abort"));
    /// # let _ = o;
    /// ```
    #[doc(hidden)]
    pub fn panic_aborts(mut self, on: bool) -> Self {
        self.panic_aborts = on;
        self
    }

    pub(crate) fn latency_metric_name(&self) -> Option<&Cow<'static, str>> {
        self.latency_metric.as_ref()
    }

    pub(crate) fn wants_log_event(&self, telemetry: &Telemetry) -> bool {
        self.log_event.unwrap_or_else(|| telemetry.config().log().log_event())
    }
}

/// An owned snapshot of an error and its `source()` chain, as the lifecycle records it.
/// It implements `Error` itself (its `Debug` is the type name), so it can be logged as
/// `error = &view as &dyn Error`.
///
/// ```
/// use streamer_obs::handler::ErrorView;
/// let e = std::io::Error::other("disk on fire");
/// let v = ErrorView::from_error(&e);
/// assert_eq!(v.type_name(), "std::io::error::Error");
/// assert_eq!(v.message(), "disk on fire");
/// let boxed: lambda_runtime::Error = "plain text".into();
/// assert_eq!(ErrorView::from_dyn(boxed.as_ref()).message(), "plain text");
/// ```
#[derive(Clone)]
pub struct ErrorView {
    type_name: String,
    message: String,
    source: Option<Box<ErrorView>>,
    kind: Option<ErrorClass>,
}

impl ErrorView {
    /// The view of a concrete error type (its full type name); the error may borrow (no
    /// `'static` bound: its `source()` chain is `'static` by `Error`'s definition).
    pub fn from_error<E: Error + ?Sized>(e: &E) -> Self {
        Self {
            type_name: std::any::type_name::<E>().to_owned(),
            message: e.to_string(),
            source: e.source().map(|s| Box::new(Self::from_dyn_depth(s, 1))),
            kind: None,
        }
    }

    /// [`Self::from_error`] with the kind the error type declares through
    /// [`ClassifyError`] (what `#[instrumented]` finds by itself; for
    /// [`ObsLayer`](crate::layer::ObsLayer), see `ObsLayer::classified`).
    ///
    /// ```
    /// use streamer_obs::handler::{ClassifyError, ErrorClass, ErrorView};
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("token expired")]
    /// struct Expired;
    /// impl ClassifyError for Expired {
    ///     fn error_class(&self) -> ErrorClass {
    ///         ErrorClass::Error
    ///     }
    /// }
    /// assert_eq!(ErrorView::from_classified(&Expired).kind(), Some(ErrorClass::Error));
    /// ```
    pub fn from_classified<E: Error + ClassifyError>(e: &E) -> Self {
        Self::from_error(e).with_kind(e.error_class())
    }

    /// The view of a `dyn Error` (type from the leading identifier of its `Debug`); the
    /// error may borrow (`Box<dyn Error + 'a>`).
    pub fn from_dyn(e: &dyn Error) -> Self {
        Self {
            type_name: debug_type_name(&format!("{e:?}")),
            message: e.to_string(),
            source: e.source().map(|s| Box::new(Self::from_dyn_depth(s, 1))),
            kind: None,
        }
    }

    fn from_dyn_depth(e: &(dyn Error + 'static), depth: usize) -> Self {
        Self {
            type_name: debug_type_name(&format!("{e:?}")),
            message: e.to_string(),
            source: if depth < 32 { e.source().map(|s| Box::new(Self::from_dyn_depth(s, depth + 1))) } else { None },
            kind: None,
        }
    }

    /// The view of a value that is only `Debug` (e.g. `lambda_runtime::Diagnostic`).
    pub fn from_debug<T: fmt::Debug + ?Sized>(value: &T) -> Self {
        let text = format!("{value:?}");
        Self { type_name: debug_type_name(&text), message: text, source: None, kind: None }
    }

    /// A view from parts.
    pub fn new(type_name: impl Into<String>, message: impl Into<String>) -> Self {
        Self { type_name: type_name.into(), message: message.into(), source: None, kind: None }
    }

    /// Declares the kind to record (overrides [`HandlerOptions::error_class`]); `None`
    /// leaves it to the handler's mapping.
    ///
    /// ```
    /// use streamer_obs::handler::{ErrorClass, ErrorView};
    /// let v = ErrorView::new("Expired", "token expired").with_kind(ErrorClass::Error);
    /// assert_eq!(v.kind(), Some(ErrorClass::Error));
    /// ```
    pub fn with_kind(mut self, kind: impl Into<Option<ErrorClass>>) -> Self {
        self.kind = kind.into();
        self
    }

    /// The declared kind, if any.
    pub fn kind(&self) -> Option<ErrorClass> {
        self.kind
    }

    /// The error type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The error message (`Display`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The chain below this error, outermost first.
    pub fn sources(&self) -> impl Iterator<Item = &ErrorView> {
        std::iter::successors(self.source.as_deref(), |s| s.source.as_deref())
    }
}

fn debug_type_name(debug: &str) -> String {
    crate::error_type::from_debug(debug).to_owned()
}

impl fmt::Debug for ErrorView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.type_name)
    }
}

impl fmt::Display for ErrorView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for ErrorView {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn Error + 'static))
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The handler returned `Ok`.
    Success,
    /// The handler returned `Err`.
    Failure(ErrorClass),
    /// The handler panicked.
    Panic,
    /// The handler future was dropped before it finished (a timeout around it).
    Cancelled,
}

/// The lifecycle of one invocation. Create it before the handler body moves the event
/// (it copies what it needs from the `Context`), then [`HandlerScope::run`] the body.
#[derive(Debug)]
pub struct HandlerScope {
    /// The handler subsegment, opened with the scope (taken by [`HandlerScope::run`]).
    segment: Option<SubsegmentGuard>,
    /// Borrowed when it is the global (no reference count per invocation).
    telemetry: Cow<'static, Telemetry>,
    invocation: Arc<Invocation>,
    options: HandlerOptions,
    span: tracing::Span,
    /// Microseconds since the epoch.
    started: u64,
}

/// A [`HandlerScope`] whose handler subsegment is not open yet: see
/// [`HandlerScope::prepare`].
#[derive(Debug)]
pub struct PendingHandlerScope {
    telemetry: Cow<'static, Telemetry>,
    invocation: Arc<Invocation>,
    options: HandlerOptions,
    span: tracing::Span,
    /// Microseconds since the epoch.
    started: u64,
}

impl PendingHandlerScope {
    /// [`Self::open`] with the annotations evaluated by `annotations` (the attribute's
    /// `annotations(...)` expressions, the user's code) under `catch_unwind`: a panic there
    /// takes the lifecycle's panic path (the subsegment opened and marked as a fault, the
    /// ERROR line, the latency metric, everything flushed), then resumes.
    ///
    /// ```
    /// use streamer_obs::handler::{HandlerOptions, HandlerScope};
    /// use streamer_obs::testing::ContextBuilder;
    /// let ctx = ContextBuilder::new().build();
    /// let scope = HandlerScope::prepare(HandlerOptions::new("H"), &ctx, tracing::Span::none()).open_guarded(|| []);
    /// assert_eq!(scope.options().name(), "H");
    /// ```
    pub fn open_guarded<'a, const N: usize>(
        self,
        annotations: impl FnOnce() -> [(&'static str, AnnotationArg<'a>); N],
    ) -> HandlerScope {
        let mut armed = self.abort_guard();
        let (evaluated, _) = abort::armed(&mut armed, || std::panic::catch_unwind(AssertUnwindSafe(annotations)));
        match evaluated {
            Ok(annotations) => self.open(annotations),
            Err(panic) => self.open([]).panicked_before_body(panic),
        }
    }

    /// The handler's span built by `span` under the same guard as
    /// [`Self::open_guarded`]: the attribute's `fields(...)` expressions and the `Debug` of
    /// recorded parameters are the user's code too, and a panic there takes the
    /// lifecycle's panic path as well (then resumes).
    ///
    /// ```
    /// use streamer_obs::handler::{HandlerOptions, HandlerScope};
    /// use streamer_obs::testing::ContextBuilder;
    /// let ctx = ContextBuilder::new().build();
    /// let pending = HandlerScope::prepare(HandlerOptions::new("H"), &ctx, tracing::Span::none());
    /// let scope = pending.with_span_guarded(|| tracing::info_span!("H", attempt = 2)).open([]);
    /// assert_eq!(scope.options().name(), "H");
    /// ```
    pub fn with_span_guarded(mut self, span: impl FnOnce() -> tracing::Span) -> Self {
        let mut armed = self.abort_guard();
        let (built, _) = abort::armed(&mut armed, || std::panic::catch_unwind(AssertUnwindSafe(span)));
        match built {
            Ok(span) => {
                self.span = span;
                self
            }
            Err(panic) => self.open([]).panicked_before_body(panic),
        }
    }

    /// When panics abort, the hook's record of a panic of the user's code run before the
    /// body (it opens the handler subsegment to mark it).
    fn abort_guard(&self) -> Option<Box<abort::AbortScope>> {
        self.options.panic_aborts.then(|| {
            abort::install_hook();
            let PendingHandlerScope { telemetry, invocation, options, span, started } = self;
            abort::AbortScope::new(
                HandlerScope::copy_for_abort(telemetry.clone(), invocation, options, span, *started),
                None,
            )
        })
    }

    /// Opens the handler subsegment, at the start time read by [`HandlerScope::prepare`],
    /// with its `ColdStart` and `Service` annotations and then `annotations`, all written
    /// under the lock that opens it when they are stored as they are. The X-Ray rules
    /// apply to `annotations` as with [`HandlerScope::annotate_all`]: one they refuse is
    /// dropped with a WARN line; one of the same key as a known one replaces it.
    ///
    /// ```
    /// use streamer_obs::__private::annotation_arg;
    /// use streamer_obs::handler::{HandlerOptions, HandlerScope};
    /// use streamer_obs::testing::ContextBuilder;
    /// let ctx = ContextBuilder::new().build();
    /// let scope = HandlerScope::prepare(HandlerOptions::new("H"), &ctx, tracing::Span::none()).open([]);
    /// assert_eq!(scope.options().name(), "H");
    /// ```
    pub fn open<const N: usize>(self, mut annotations: [(&'static str, AnnotationArg<'_>); N]) -> HandlerScope {
        let PendingHandlerScope { telemetry, invocation, options, span, started } = self;
        let mut known = [
            ("ColdStart", AnnotationArg::Bool(invocation.cold_start())),
            ("Service", AnnotationArg::Str(telemetry.config().service())),
        ];
        // Values stored as they are go in under the lock that opens the subsegment, the
        // known ones first (a user annotation of the same key replaces one). Otherwise (a
        // service name over 1000 bytes to cut, an annotation the rules refuse) both go in
        // after it through the checked paths, in the same order.
        let known_as_is = known.iter().all(|(_, v)| v.is_stored_as_is());
        let user_as_is = known_as_is
            && annotations.iter().all(|(k, v)| crate::xray::annotation::is_valid_static_key(k) && v.is_stored_as_is());
        let segment = invocation.xray().subsegment_at_with(options.name(), started, |sub| {
            if !known_as_is {
                return 0;
            }
            let known = put_known_args_into(sub, &mut known);
            if user_as_is { known + put_args_into(sub, &mut annotations) } else { known }
        });
        if !known_as_is && segment.is_recording() {
            segment.annotate_known(known);
        }
        let scope = HandlerScope { segment: Some(segment), telemetry, invocation, options, span, started };
        if !user_as_is {
            scope.annotate_all(annotations);
        }
        scope
    }
}

/// The dimension sets of the lifecycle's latency metric: `[Environment]`, which the
/// standard `…-high-processing-latency` alarm selects (CloudWatch matches the exact set: a
/// metric published only by `[Service, Environment]` would leave that alarm without data,
/// the seed system's defect), and the default `[Service, Environment]` for per-function
/// views. Both values are the configuration's default dimensions.
static LATENCY_DIMENSIONS: std::sync::LazyLock<Dimensions> = std::sync::LazyLock::new(|| {
    Dimensions::new()
        .set([crate::metrics::standard::ENVIRONMENT])
        .set([crate::metrics::standard::SERVICE, crate::metrics::standard::ENVIRONMENT])
});

impl HandlerScope {
    /// A scope with [`Telemetry::current`].
    pub fn new(options: HandlerOptions, ctx: &lambda_runtime::Context, span: tracing::Span) -> Self {
        Self::prepare(options, ctx, span).open([])
    }

    /// The first half of [`Self::new`]: the invocation is built from `ctx` and the start
    /// time read; [`PendingHandlerScope::open`] then opens the handler subsegment with
    /// annotations written as it opens (under the lock that opens it). What
    /// `#[instrumented]` does with its `annotations(...)`: they are evaluated in between,
    /// once `ctx` is no longer borrowed (an annotation may move a field out of it).
    ///
    /// ```
    /// use streamer_obs::__private::annotation_arg;
    /// use streamer_obs::handler::{HandlerOptions, HandlerScope};
    /// use streamer_obs::testing::ContextBuilder;
    /// let ctx = ContextBuilder::new().build();
    /// let pending = HandlerScope::prepare(HandlerOptions::new("HandleConnect"), &ctx, tracing::Span::none());
    /// let scope = pending.open([("tenant_id", annotation_arg("acme")), ("attempt", annotation_arg(2))]);
    /// # drop(scope);
    /// ```
    pub fn prepare(options: HandlerOptions, ctx: &lambda_runtime::Context, span: tracing::Span) -> PendingHandlerScope {
        Self::prepare_with(Telemetry::current_ref(), options, ctx, span)
    }

    /// A scope with explicit telemetry.
    pub fn with_telemetry(
        telemetry: Telemetry,
        options: HandlerOptions,
        ctx: &lambda_runtime::Context,
        span: tracing::Span,
    ) -> Self {
        Self::prepare_with(Cow::Owned(telemetry), options, ctx, span).open([])
    }

    /// [`Self::prepare`] with the telemetry borrowed when it is the global.
    pub(crate) fn prepare_with(
        telemetry: Cow<'static, Telemetry>,
        options: HandlerOptions,
        ctx: &lambda_runtime::Context,
        span: tracing::Span,
    ) -> PendingHandlerScope {
        let invocation = telemetry.invocation(ctx);
        // One clock read for the latency and the handler subsegment's start.
        let started = telemetry.clock().now_micros();
        PendingHandlerScope { telemetry, invocation, options, span, started }
    }

    /// Adds an annotation to the handler subsegment (X-Ray key rules apply). An
    /// annotation the rules refuse is dropped with a WARN line.
    pub fn annotate<'a>(&self, key: impl Into<Cow<'static, str>>, value: impl Into<AnnotationArg<'a>>) {
        let Some(segment) = self.segment.as_ref().filter(|s| s.is_recording()) else { return };
        let key = key.into();
        if let Err(e) = segment.annotate(&key, AnnotationValue::from(value.into())) {
            self.in_scope(|| tracing::warn!(target: "streamer_obs", key = %key, error = %e, "annotation dropped"));
        }
    }

    /// Adds several annotations to the handler subsegment at once (one lock): what
    /// `#[instrumented]` does with its `annotations(...)`. The X-Ray rules apply to each,
    /// and one they refuse is dropped with a WARN line, as with [`Self::annotate`].
    ///
    /// ```
    /// use streamer_obs::__private::annotation_arg;
    /// use streamer_obs::handler::{HandlerOptions, HandlerScope};
    /// use streamer_obs::testing::ContextBuilder;
    /// let ctx = ContextBuilder::new().build();
    /// let scope = HandlerScope::new(HandlerOptions::new("HandleConnect"), &ctx, tracing::Span::none());
    /// scope.annotate_all([("tenant_id", annotation_arg("acme")), ("attempt", annotation_arg(2))]);
    /// ```
    pub fn annotate_all<const N: usize>(&self, entries: [(&'static str, AnnotationArg<'_>); N]) {
        let Some(segment) = self.segment.as_ref() else { return };
        segment.annotate_all(entries, |key, e| {
            self.in_scope(|| tracing::warn!(target: "streamer_obs", key, error = %e, "annotation dropped"))
        });
    }

    /// The panic hook's record of this scope and its `segment` (when panics abort), the
    /// hook installed.
    fn abort_scope(&self, segment: Option<crate::xray::recorder::SubsegmentRef>) -> Box<abort::AbortScope> {
        abort::install_hook();
        let copy = HandlerScope::copy_for_abort(
            self.telemetry.clone(),
            &self.invocation,
            &self.options,
            &self.span,
            self.started,
        );
        abort::AbortScope::new(copy, segment)
    }

    /// Runs `record` on this scope (the attribute's `metadata(...)` expressions, the user's
    /// code) under the same guard as [`PendingHandlerScope::open_guarded`]: a panic there
    /// takes the lifecycle's panic path (the subsegment a fault, everything flushed), then
    /// resumes.
    ///
    /// ```
    /// use streamer_obs::handler::{HandlerOptions, HandlerScope};
    /// use streamer_obs::testing::ContextBuilder;
    /// let ctx = ContextBuilder::new().build();
    /// let scope = HandlerScope::new(HandlerOptions::new("H"), &ctx, tracing::Span::none())
    ///     .record_guarded(|scope| scope.metadata("attempt", &2));
    /// assert_eq!(scope.options().name(), "H");
    /// ```
    pub fn record_guarded(mut self, record: impl FnOnce(&mut Self)) -> Self {
        let mut armed =
            self.options.panic_aborts.then(|| self.abort_scope(self.segment.as_ref().map(SubsegmentGuard::reference)));
        let (recorded, _) =
            abort::armed(&mut armed, || std::panic::catch_unwind(AssertUnwindSafe(|| record(&mut self))));
        match recorded {
            Ok(()) => self,
            Err(panic) => self.panicked_before_body(panic),
        }
    }

    /// Adds metadata (namespace `default`) to the handler subsegment. Metadata that
    /// cannot be recorded is dropped with a WARN line.
    pub fn metadata(&self, key: impl Into<Cow<'static, str>>, value: &impl serde::Serialize) {
        let Some(segment) = self.segment.as_ref().filter(|s| s.is_recording()) else { return };
        let key = key.into();
        // The user's `Serialize` runs under `catch_unwind`: a panic there loses this value,
        // not the invocation.
        let Ok(value) = std::panic::catch_unwind(AssertUnwindSafe(|| crate::xray::json::to_metadata_value(value)))
        else {
            self.in_scope(
                || tracing::warn!(target: "streamer_obs", key = %key, "metadata dropped: its serialisation panicked"),
            );
            return;
        };
        let value = value.unwrap_or_else(|e| serde_json::Value::String(format!("<unserialisable: {e}>")));
        if let Err(e) = segment.metadata_value_in(crate::xray::annotation::DEFAULT_METADATA_NAMESPACE, &key, value) {
            self.in_scope(|| tracing::warn!(target: "streamer_obs", key = %key, error = %e, "metadata dropped"));
        }
    }

    /// The invocation.
    pub fn invocation(&self) -> &Arc<Invocation> {
        &self.invocation
    }

    /// The handler subsegment, for what records on it from inside the body (the tower
    /// layer's HTTP status): `None` once [`Self::run`] has taken it.
    #[cfg(feature = "http")]
    pub(crate) fn segment_ref(&self) -> Option<crate::xray::recorder::SubsegmentRef> {
        self.segment.as_ref().map(SubsegmentGuard::reference)
    }

    /// The span the handler runs in.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The options.
    pub fn options(&self) -> &HandlerOptions {
        &self.options
    }

    /// Logs the incoming event (redacted) when event logging is on for this handler.
    /// `to_json` is only called when it is.
    pub fn log_event(&self, to_json: impl FnOnce() -> Option<serde_json::Value>) {
        if !self.options.wants_log_event(&self.telemetry) {
            return;
        }
        // The event's `Serialize` is the user's code: a panic there loses the line, not the
        // invocation.
        let Ok(event) = std::panic::catch_unwind(AssertUnwindSafe(to_json)) else {
            self.in_scope(
                || tracing::warn!(target: "streamer_obs", "incoming event not logged: its serialisation panicked"),
            );
            return;
        };
        let Some(mut event) = event else { return };
        self.telemetry.config().log().redactor().redact_value(&mut event);
        let rendered = event.to_string();
        self.invocation.clone().sync_scope(|| {
            self.span.in_scope(|| tracing::info!(target: "streamer_obs", event = rendered.as_str(), "Incoming event"))
        });
    }

    /// Runs the handler future through the whole lifecycle and returns its result
    /// unchanged. `view_error` describes an `Err` (see [`ErrorView`]); `capture`
    /// renders an `Ok` value for response capture (`None`: not capturable).
    ///
    /// The returned future holds the handler future once, in place (no `async` wrapper
    /// layers, each of which would keep its own copy): it polls it inside the handler span
    /// with the invocation in the task-local and panics caught, races it against the
    /// deadline guard, then records the outcome and flushes.
    pub fn run<F, T, E, V, C>(mut self, fut: F, view_error: V, capture: C) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        V: FnOnce(&E) -> ErrorView,
        C: FnOnce(&T) -> Option<serde_json::Value>,
    {
        let segment = match self.segment.take() {
            Some(segment) => segment,
            None => self.invocation.xray().subsegment(self.options.name()),
        };
        Run {
            scope: self,
            segment: Some(segment),
            view_error: Some(view_error),
            capture: Some(capture),
            body: Some(fut),
            guard_due: None,
            sleep: None,
            state: RunState::Start,
            abort: None,
            deadline_flush: None,
            flush: None,
            ended: None,
        }
    }

    /// A sleep that ends `deadline_margin` before the deadline, if the deadline is known.
    /// When the deadline guard is due (`deadline_margin` before the deadline), if the
    /// deadline is known: measured from the handler's start (no clock read of its own). A
    /// deadline already past at start is unknown, with one WARN line per process.
    fn guard_due(&self) -> Option<SystemTime> {
        let deadline_ms = self.invocation.deadline_ms();
        if deadline_ms == 0 {
            return None;
        }
        let (deadline, started) = (UNIX_EPOCH + Duration::from_millis(deadline_ms), clock::from_micros(self.started));
        // Past only when it is before the start's own millisecond: the deadline has
        // millisecond resolution, and one in the current millisecond is due at once.
        match deadline.duration_since(started) {
            Ok(remaining) => Some(started + remaining.saturating_sub(self.options.deadline_margin)),
            Err(_) if deadline_ms >= self.started / 1_000 => Some(started),
            Err(_) => {
                if self.telemetry.first_past_deadline_warning() {
                    self.in_scope(|| {
                        tracing::warn!(
                            target: "streamer_obs",
                            deadline_ms,
                            "the invocation deadline is already in the past at start (a local emulator sends a relative deadline?): treated as unknown, no deadline guard"
                        )
                    });
                }
                None
            }
        }
    }

    /// The deadline guard's timer, armed when the handler first waits: a handler that
    /// finishes within its first poll never waits, and no timer could have fired while it
    /// ran, so it needs none.
    ///
    /// `None` on a runtime without timers (Tokio panics when a timer is made there): the
    /// handler runs without the guard, said once per process by a WARN line.
    fn deadline_sleep(&self, due: SystemTime) -> Option<tokio::time::Sleep> {
        static NO_TIMERS_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let remaining = due.duration_since(self.telemetry.clock().now()).unwrap_or_default();
        match std::panic::catch_unwind(|| tokio::time::sleep(remaining)) {
            Ok(sleep) => Some(sleep),
            Err(_) => {
                if !NO_TIMERS_LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    self.in_scope(|| {
                        tracing::warn!(
                            target: "streamer_obs",
                            handler = self.options.name(),
                            "deadline guard off: the runtime has no timers (build the Tokio runtime with `enable_time`)"
                        )
                    });
                }
                None
            }
        }
    }

    /// Runs `f` inside the handler's span with the invocation current.
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.invocation.clone().sync_scope(|| self.span.in_scope(f))
    }

    /// The run future was dropped while the handler ran (cancelled, e.g. by a timeout
    /// around it): one WARN line, the handler subsegment marked as a fault (exception
    /// `Cancelled`) and ended, the log buffer written, and everything recorded flushed (in
    /// place for EMF and UDP; otherwise on the current runtime).
    fn cancelled(&self, segment: SubsegmentGuard) {
        let view = ErrorView::new("Cancelled", "the handler future was dropped before it finished");
        let ended = self.finish(segment, Outcome::Cancelled, Some(&view), None);
        if let Some(rest) = flush_after(&self.telemetry, &self.invocation, self.flush_options(), ended) {
            spawn_or_warn(rest);
        }
    }

    /// The user's code the lifecycle runs before the body panicked: recorded as the
    /// handler's panic, flushed, then resumed.
    fn panicked_before_body(mut self, panic: Box<dyn std::any::Any + Send>) -> ! {
        if let Some(segment) = self.segment.take() {
            let view = ErrorView::new("panic", panic_message(panic.as_ref()));
            let ended = self.finish(segment, Outcome::Panic, Some(&view), None);
            if let Some(rest) = flush_after(&self.telemetry, &self.invocation, self.flush_options(), ended) {
                spawn_or_warn(rest);
            }
        }
        std::panic::resume_unwind(panic)
    }

    /// The deadline guard fired: log, mark the subsegment, write the log buffer; the
    /// returned future flushes the metrics and the open subsegments.
    fn on_deadline(&self, segment: &SubsegmentGuard) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.in_scope(|| {
            tracing::warn!(
                target: "streamer_obs",
                handler = self.options.name(),
                margin_ms = self.options.deadline_margin.as_millis() as u64,
                "invocation is about to time out: flushing what was recorded so far"
            );
        });
        let _ = segment.annotate("TimedOut", true);
        self.invocation.flush_log_buffer();
        let (telemetry, invocation, options) =
            (self.telemetry.clone(), Arc::clone(&self.invocation), self.flush_options());
        Box::pin(async move {
            flush_metrics(&telemetry, &invocation, &options, &**telemetry.clock()).await;
            invocation.xray().flush_in_progress().await;
        })
    }

    /// What the panic hook needs of a scope when panics abort: a copy without its
    /// subsegment. Made once per invocation (on the first poll; before the annotations'
    /// code too when it has some), only then.
    fn copy_for_abort(
        telemetry: Cow<'static, Telemetry>,
        invocation: &Arc<Invocation>,
        options: &HandlerOptions,
        span: &tracing::Span,
        started: u64,
    ) -> HandlerScope {
        HandlerScope {
            segment: None,
            telemetry,
            invocation: Arc::clone(invocation),
            options: options.clone(),
            span: span.clone(),
            started,
        }
    }

    fn flush_options(&self) -> FlushOptions {
        FlushOptions { cold_start_metric: self.options.cold_start_metric, raise_on_empty: false }
    }

    /// Records the latency metric (standard or high resolution, by [`LATENCY_DIMENSIONS`]);
    /// an invalid name is dropped with one WARN. Disabled metrics record nothing and refuse
    /// nothing, an invalid name included. Out of line: `finish` stays small.
    #[inline(never)]
    fn record_latency(&self, elapsed: Duration) {
        let Some(name) = self.options.latency_metric_name() else { return };
        let resolution =
            if self.options.latency_high_resolution { StorageResolution::High } else { StorageResolution::Standard };
        let ms = crate::metrics::unit::millis_f64(elapsed);
        let metrics = self.invocation.metrics();
        if metrics.disabled() {
            return;
        }
        let recorded = name
            .clone()
            .into_metric_name()
            .map_err(Box::new)
            .and_then(|name| metrics.record(name, Unit::Milliseconds, ms, resolution, &LATENCY_DIMENSIONS));
        if let Err(e) = recorded {
            self.in_scope(
                || tracing::warn!(target: "streamer_obs::metrics", metric = &**name, error = %e, "metric dropped"),
            );
        }
    }

    /// Records the outcome (latency metric, error, log buffer) and ends the handler
    /// subsegment; the flush follows.
    ///
    /// Returns the end time (microseconds since the epoch), read once for the latency, the
    /// subsegment's end and the metrics document's timestamp.
    fn finish(
        &self,
        segment: SubsegmentGuard,
        outcome: Outcome,
        error: Option<&ErrorView>,
        response: Option<serde_json::Value>,
    ) -> u64 {
        let ended = self.telemetry.clock().now_micros();
        self.record_outcome(&segment, outcome, error, ended);
        // The captured response is written as the subsegment closes (one lock), redacted
        // as a logged event is (secret keys, JWTs, credentials in text).
        match response {
            Some(mut response) => {
                self.telemetry.config().log().redactor().redact_value(&mut response);
                segment.end_at_capturing(ended, self.telemetry.config().service(), self.options.name(), response)
            }
            None => segment.end_at(ended),
        }
        ended
    }

    /// What [`Self::finish`] records before the subsegment ends at `ended`: the empty
    /// metrics check, the latency metric, the error or panic (subsegment, log buffer,
    /// ERROR line).
    #[inline(always)]
    fn record_outcome(&self, segment: &SubsegmentGuard, outcome: Outcome, error: Option<&ErrorView>, ended: u64) {
        // "Recorded", not "left": metrics the deadline guard or the handler flushed
        // earlier count.
        if self.options.raise_on_empty_metrics && self.invocation.metrics().recorded_nothing() {
            self.in_scope(|| {
                tracing::error!(target: "streamer_obs::metrics", handler = self.options.name(), "no metrics were recorded in this invocation")
            });
        }
        if self.options.latency_metric_name().is_some() {
            self.record_latency(Duration::from_micros(ended.saturating_sub(self.started)));
        }
        match (outcome, error) {
            (Outcome::Success, _) => self.invocation.discard_log_buffer(),
            (Outcome::Cancelled, Some(view)) => {
                segment.record_error_with(view, &ErrorDetails::new(ErrorClass::Fault).type_name(view.type_name()));
                self.invocation.flush_log_buffer();
                self.in_scope(|| {
                    tracing::warn!(
                        target: "streamer_obs",
                        handler = self.options.name(),
                        "handler cancelled (its future was dropped before it finished): what it recorded is flushed"
                    )
                });
                // A WARN is buffered when the buffer takes WARN: written out after the rest.
                self.invocation.flush_log_buffer();
            }
            (Outcome::Failure(_) | Outcome::Panic, Some(view)) => {
                let (kind, message) = match outcome {
                    Outcome::Failure(kind) => (kind, "handler returned an error"),
                    _ => (ErrorClass::Fault, "handler panicked"),
                };
                if self.options.capture_error.unwrap_or(true) {
                    segment.record_error_with(view, &ErrorDetails::new(kind).type_name(view.type_name()));
                } else {
                    segment.add_flags(kind.flags());
                }
                self.invocation.flush_log_buffer();
                self.in_scope(|| {
                    tracing::error!(
                        target: "streamer_obs",
                        error = view as &dyn Error,
                        handler = self.options.name(),
                        "{message}"
                    )
                });
            }
            _ => {
                self.invocation.flush_log_buffer();
            }
        }
    }

    /// The panic hook's work when panics abort (see `HandlerOptions::panic_aborts`):
    /// what [`Self::conclude`] and the flush after it do for a panic, in place, before the
    /// process aborts.
    fn record_abort(&self, segment: SubsegmentGuard, message: String) {
        let ended = self.telemetry.clock().now_micros();
        // Their guards are never dropped: ended here, as unwinding would have.
        segment.end_open_inside(ended);
        let view = ErrorView::new("panic", message);
        self.record_outcome(&segment, Outcome::Panic, Some(&view), ended);
        segment.end_at(ended);
        if flush_after(&self.telemetry, &self.invocation, self.flush_options(), ended).is_some() {
            self.in_scope(|| {
                tracing::warn!(
                    target: "streamer_obs",
                    handler = self.options.name(),
                    "the process aborts on this panic: the asynchronous part of the flush (PutMetricData or the X-Ray API) is lost"
                )
            });
        }
    }

    /// Records how the handler future ended; returns what the run future yields after
    /// the flush.
    fn conclude<T, E>(
        &self,
        segment: SubsegmentGuard,
        polled: std::thread::Result<Result<T, E>>,
        view_error: impl FnOnce(&E) -> ErrorView,
        capture: impl FnOnce(&T) -> Option<serde_json::Value>,
    ) -> (Ended<T, E>, u64) {
        // The user's code the lifecycle calls after the body (the response's `Serialize`,
        // the error's `Display`/`Debug`, the error classifier) runs under `catch_unwind`: a
        // panic there must not lose the invocation's telemetry or the handler's result.
        let guarded = |f: &mut dyn FnMut()| std::panic::catch_unwind(AssertUnwindSafe(f)).is_ok();
        match polled {
            Ok(Ok(value)) => {
                let mut response = None;
                if self.options.capture_response.unwrap_or(true) && segment.is_recording() {
                    let mut capture = Some(capture);
                    if !guarded(&mut || response = capture.take().and_then(|c| c(&value))) {
                        self.in_scope(|| {
                            tracing::warn!(target: "streamer_obs", handler = self.options.name(), "response not captured: its serialisation panicked")
                        });
                    }
                }
                let ended = self.finish(segment, Outcome::Success, None, response);
                (Ended::Value(Ok(value)), ended)
            }
            Ok(Err(err)) => {
                let mut view = None;
                let mut view_error = Some(view_error);
                guarded(&mut || view = view_error.take().map(|v| v(&err)));
                let view = view.unwrap_or_else(|| ErrorView::new(std::any::type_name::<E>(), PANICKED_VIEW));
                let mut class = view.kind();
                if class.is_none() && !guarded(&mut || class = Some((self.options.error_class)(&view))) {
                    class = Some(ErrorClass::Fault);
                }
                let class = class.unwrap_or(ErrorClass::Fault);
                let ended = self.finish(segment, Outcome::Failure(class), Some(&view), None);
                (Ended::Value(Err(err)), ended)
            }
            Err(panic) => {
                let view = ErrorView::new("panic", panic_message(panic.as_ref()));
                let ended = self.finish(segment, Outcome::Panic, Some(&view), None);
                (Ended::Panic(panic), ended)
            }
        }
    }
}

/// The message of an error whose `Display` or `Debug` panicked while the lifecycle read it.
pub(crate) const PANICKED_VIEW: &str = "<panicked while formatting>";

async fn flush_metrics(telemetry: &Telemetry, invocation: &Invocation, options: &FlushOptions, clock: &dyn Clock) {
    metrics::flush_invocation(invocation, &**telemetry.publisher(), clock, options).await;
}

/// A clock stopped at the handler's end: the metrics document is stamped with the time
/// the lifecycle already read (no second read).
#[derive(Debug, Clone, Copy)]
struct StoppedAt(u64);

impl Clock for StoppedAt {
    fn now(&self) -> SystemTime {
        clock::from_micros(self.0)
    }

    fn now_micros(&self) -> u64 {
        self.0
    }
}

/// The flush after the handler: metrics (EMF or `PutMetricData`), then the subsegments.
/// Done in place when the publisher and the emitter work synchronously (EMF lines, UDP
/// datagrams), with no future at all; otherwise the returned future finishes what is left,
/// in the same order.
fn flush_after(
    telemetry: &Telemetry,
    invocation: &Arc<Invocation>,
    options: FlushOptions,
    ended: u64,
) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
    let clock = StoppedAt(ended);
    // The last flush: what a spawned task records from now on is refused with a WARN line
    // (it would never be published), not lost silently.
    invocation.metrics().finish();
    invocation.xray().finish();
    // Inside the invocation's scope: a line the flush writes (a publisher's or emitter's
    // failure, subsegments still open) carries this invocation's keys, not those of
    // whatever invocation is current around the handler's future (or none).
    let (metrics_flushed, all_flushed) = Arc::clone(invocation).sync_scope(|| {
        let metrics_flushed =
            metrics::flush_invocation_now(invocation, &**telemetry.publisher(), &clock, &options).is_some();
        (metrics_flushed, metrics_flushed && invocation.xray().flush_now().is_some())
    });
    if all_flushed {
        return None;
    }
    let (telemetry, invocation) = (telemetry.clone(), Arc::clone(invocation));
    Some(Box::pin(Arc::clone(&invocation).scope(async move {
        if !metrics_flushed {
            flush_metrics(&telemetry, &invocation, &options, &clock).await;
        }
        invocation.xray().flush().await;
    })))
}

pub(crate) use abort::FunctionMark;

/// The lifecycle's panic hook for builds where panics abort (see
/// `HandlerOptions::panic_aborts`).
mod abort {
    use std::cell::Cell;
    use std::sync::Once;

    use super::{HandlerScope, PendingHandlerScope};
    use crate::xray::recorder::SubsegmentRef;

    /// What the hook needs of a handler whose code runs on this thread: a copy of its
    /// scope, a reference to its subsegment (none while its `annotations(...)` are
    /// evaluated, before it opens), and the scope armed before it on this thread (a
    /// handler run inside another's body).
    pub(super) struct AbortScope {
        pub(super) scope: HandlerScope,
        pub(super) segment: Option<SubsegmentRef>,
        outer: Option<Box<AbortScope>>,
    }

    impl AbortScope {
        pub(super) fn new(scope: HandlerScope, segment: Option<SubsegmentRef>) -> Box<Self> {
            Box::new(Self { scope, segment, outer: None })
        }

        /// Records the panic on this handler (opening its subsegment first if it has none
        /// yet) and flushes it.
        fn record(self, message: String) {
            let AbortScope { scope, segment, .. } = self;
            match segment {
                Some(segment) => scope.record_abort(segment.guard(), message),
                None => {
                    let HandlerScope { telemetry, invocation, options, span, started, .. } = scope;
                    let mut scope = PendingHandlerScope { telemetry, invocation, options, span, started }.open([]);
                    if let Some(segment) = scope.segment.take() {
                        scope.record_abort(segment, message);
                    }
                }
            }
        }
    }

    thread_local! {
        /// The handlers whose code runs on this thread now, innermost first (linked by
        /// `outer`). Per thread: a panic hook runs on the panicking thread.
        static ARMED: Cell<Option<Box<AbortScope>>> = const { Cell::new(None) };
        /// The subsegments of the `#[instrumented]` functions whose code runs on this
        /// thread now inside an armed handler, outermost first: the hook marks them as the
        /// unwinding path does (`crate::function`), their guards never being dropped.
        static FUNCTIONS: std::cell::RefCell<Vec<crate::xray::recorder::SubsegmentRef>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    /// An instrumented function's subsegment, known to the hook while it lives (only inside
    /// an armed handler: nothing to do otherwise).
    #[derive(Debug)]
    pub(crate) struct FunctionMark(bool);

    impl FunctionMark {
        #[inline]
        pub(crate) fn new(segment: &crate::xray::recorder::SubsegmentGuard) -> Self {
            let armed = ARMED.try_with(|a| {
                let scope = a.take();
                let armed = scope.is_some();
                a.set(scope);
                armed
            });
            if armed != Ok(true) {
                return FunctionMark(false);
            }
            FunctionMark(FUNCTIONS.try_with(|f| f.borrow_mut().push(segment.reference())).is_ok())
        }
    }

    impl Drop for FunctionMark {
        #[inline]
        fn drop(&mut self) {
            if self.0 {
                let _ = FUNCTIONS.try_with(|f| f.borrow_mut().pop());
            }
        }
    }

    /// Marks the functions' subsegments a fault with the panic as cause and ends them,
    /// innermost first (as each function's `catch_unwind` does when unwinding).
    fn record_functions(message: &str) {
        let functions = FUNCTIONS.try_with(|f| std::mem::take(&mut *f.borrow_mut())).unwrap_or_default();
        for reference in functions.iter().rev() {
            crate::function::record_panic_message(&mut reference.guard(), message);
        }
    }

    /// Installs the hook, once per process. It chains to the hook installed before it.
    pub(super) fn install_hook() {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // Lines the crate deferred until its locks are released (`crate::lock`):
                // the process may abort before that, so they are written now, first.
                crate::lock::run_deferred_now();
                let mut armed = ARMED.try_with(Cell::take).ok().flatten();
                if armed.is_some() && crate::lock::caller_code_under_lock() {
                    // One of this crate's locks is held by the code that panicked: the
                    // hook cannot take it (it would wait forever). Said, not flushed.
                    tracing::error!(
                        target: "streamer_obs",
                        panic = super::panic_message(info.payload()),
                        "handler panicked inside a closure run under the SDK's metrics lock (InvocationMetrics::with_set): the process aborts without flushing this invocation"
                    );
                    armed = None;
                }
                if armed.is_some() {
                    record_functions(&super::panic_message(info.payload()));
                }
                // Innermost first: a handler's subsegment ends before the one it ran in.
                while let Some(mut scope) = armed {
                    armed = scope.outer.take();
                    scope.record(super::panic_message(info.payload()));
                }
                previous(info);
            }));
        });
    }

    /// Arms `slot`'s scope, if any, until [`disarm`]: the hook records a panic on this
    /// thread on it (and on the ones armed before it). Returns whether it armed one.
    #[inline(always)]
    pub(super) fn arm(slot: &mut Option<Box<AbortScope>>) -> bool {
        let Some(mut scope) = slot.take() else { return false };
        scope.outer = ARMED.take();
        ARMED.set(Some(scope));
        true
    }

    /// Takes back into `slot` what [`arm`] armed and re-arms the scopes armed before it.
    /// Returns whether the hook took it (it then recorded a panic).
    #[inline(always)]
    pub(super) fn disarm(slot: &mut Option<Box<AbortScope>>) -> bool {
        match ARMED.take() {
            Some(mut scope) => {
                ARMED.set(scope.outer.take());
                *slot = Some(scope);
                false
            }
            None => true,
        }
    }

    /// Runs `f` with `slot`'s scope armed (when there is one). Returns `f`'s result and
    /// whether the hook took the scope.
    #[inline(always)]
    pub(super) fn armed<R>(slot: &mut Option<Box<AbortScope>>, f: impl FnOnce() -> R) -> (R, bool) {
        if !arm(slot) {
            return (f(), false);
        }
        let out = f();
        (out, disarm(slot))
    }
}

/// How the handler future ended.
enum Ended<T, E> {
    Value(Result<T, E>),
    Panic(Box<dyn std::any::Any + Send>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    /// Not polled yet (the deadline guard is armed on the first poll).
    Start,
    /// The handler future is running.
    Body,
    /// The outcome is recorded; flushing.
    Flush,
    /// Returned.
    Done,
}

pin_project_lite::pin_project! {
    /// The future of [`HandlerScope::run`].
    struct Run<F, V, C, T, E> {
        scope: HandlerScope,
        segment: Option<SubsegmentGuard>,
        view_error: Option<V>,
        capture: Option<C>,
        #[pin]
        body: Option<F>,
        // When the deadline guard is due, until its timer is armed (at the first wait).
        guard_due: Option<SystemTime>,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        state: RunState,
        // When panics abort: what the panic hook needs, made on the first poll.
        abort: Option<Box<abort::AbortScope>>,
        deadline_flush: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
        // What is left of the flush after the handler when the publisher or the emitter
        // works asynchronously (none with EMF and UDP).
        flush: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
        ended: Option<Ended<T, E>>,
    }

    impl<F, V, C, T, E> PinnedDrop for Run<F, V, C, T, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Cancelled while running: the handler future is dropped inside its span, with
            // the invocation current (as it ran).
            let mut dropped = Ok(());
            if this.body.as_ref().as_pin_ref().is_some() {
                let mut body = this.body;
                {
                    let _entered = this.scope.span.enter();
                    // A panic in the body's `Drop` must not skip what follows: it is
                    // resumed once the invocation is flushed.
                    let invocation = Arc::clone(&this.scope.invocation);
                    (dropped, _) = abort::armed(this.abort, || {
                        std::panic::catch_unwind(AssertUnwindSafe(|| invocation.sync_scope(|| body.set(None))))
                    });
                }
                // Nothing it recorded is lost, and the loss of its result is said.
                if let Some(segment) = this.segment.take() {
                    this.scope.cancelled(segment);
                }
            }
            // Dropped while an asynchronous flush (a `PutMetricData` publisher, an API
            // emitter) was still running: it finishes on the runtime, if there is one.
            for flush in [this.deadline_flush.take(), this.flush.take()].into_iter().flatten() {
                spawn_or_warn(flush);
            }
            if let Err(panic) = dropped {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// Runs what is left of a flush on the current Tokio runtime, or says it is lost.
fn spawn_or_warn(flush: Pin<Box<dyn Future<Output = ()> + Send>>) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(flush);
        }
        Err(_) => tracing::warn!(
            target: "streamer_obs",
            "handler cancelled outside a Tokio runtime: its asynchronous flush (metrics or subsegments) is lost"
        ),
    }
}

impl<F, V, C, T, E> Future for Run<F, V, C, T, E>
where
    F: Future<Output = Result<T, E>>,
    V: FnOnce(&E) -> ErrorView,
    C: FnOnce(&T) -> Option<serde_json::Value>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let scope: &HandlerScope = this.scope;
        if *this.state == RunState::Start {
            *this.state = RunState::Body;
            *this.guard_due = scope.guard_due();
            scope.invocation.log_first_lines_in(&scope.span);
            if scope.options.panic_aborts
                && let Some(segment) = this.segment.as_ref()
            {
                *this.abort = Some(scope.abort_scope(Some(segment.reference())));
            }
        }
        if *this.state == RunState::Body {
            if let Some(flush) = this.deadline_flush.as_mut() {
                if flush.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *this.deadline_flush = None;
            }
            // When panics abort: the scope the panic hook takes, armed for this poll.
            let armed = abort::arm(this.abort);
            let polled = {
                let _entered = scope.span.enter();
                let mut body = this.body.as_mut();
                Arc::clone(&scope.invocation).sync_scope(|| {
                    let polled = std::panic::catch_unwind(AssertUnwindSafe(|| match body.as_mut().as_pin_mut() {
                        Some(fut) => fut.poll(cx),
                        None => Poll::Pending,
                    }));
                    if !matches!(polled, Ok(Poll::Pending)) {
                        // Finished (or panicked): dropped now, inside the span and the scope.
                        body.set(None);
                    }
                    polled
                })
            };
            let recorded_by_hook = armed && abort::disarm(this.abort);
            let polled = match polled {
                Ok(Poll::Ready(result)) => Ok(result),
                // The panic hook recorded it and flushed (`panic_aborts` set while panics
                // unwind): not recorded twice.
                Err(panic) if recorded_by_hook => {
                    this.sleep.set(None);
                    *this.segment = None;
                    *this.state = RunState::Done;
                    std::panic::resume_unwind(panic)
                }
                Err(panic) => Err(panic),
                Ok(Poll::Pending) => {
                    if let Some(due) = this.guard_due.take() {
                        this.sleep.set(scope.deadline_sleep(due));
                    }
                    if let Some(sleep) = this.sleep.as_mut().as_pin_mut()
                        && sleep.poll(cx).is_ready()
                    {
                        this.sleep.set(None);
                        if let Some(segment) = this.segment.as_ref() {
                            *this.deadline_flush = Some(scope.on_deadline(segment));
                        }
                        // Poll again: the deadline flush first, then the handler.
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
            };
            this.sleep.set(None);
            *this.deadline_flush = None;
            let (Some(segment), Some(view_error), Some(capture)) =
                (this.segment.take(), this.view_error.take(), this.capture.take())
            else {
                return Poll::Pending;
            };
            // The user's code `conclude` runs (the error's `Display`, the response's
            // `Serialize`, the classifier) runs armed too.
            let armed = abort::arm(this.abort);
            let (ended, at) = scope.conclude(segment, polled, view_error, capture);
            if armed {
                abort::disarm(this.abort);
            }
            *this.ended = Some(ended);
            *this.state = RunState::Flush;
            *this.flush = flush_after(&scope.telemetry, &scope.invocation, scope.flush_options(), at);
        }
        if *this.state == RunState::Flush {
            if let Some(flush) = this.flush.as_mut()
                && flush.as_mut().poll(cx).is_pending()
            {
                return Poll::Pending;
            }
            *this.flush = None;
            *this.state = RunState::Done;
            match this.ended.take() {
                Some(Ended::Value(result)) => return Poll::Ready(result),
                Some(Ended::Panic(panic)) => std::panic::resume_unwind(panic),
                None => {}
            }
        }
        // Polled after it returned.
        Poll::Pending
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
