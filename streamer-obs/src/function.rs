//! Child scopes for functions called inside a handler (`#[instrumented]` on a function
//! that is not a handler): a `tracing` span and an X-Ray child subsegment named after the
//! function (under the innermost open subsegment of the current invocation), with error
//! capture on `Err` (recorded with its cause chain as a `fault`, or as the kind the error
//! type declares through [`ClassifyError`](crate::handler::ClassifyError); the handler's
//! own record of the same error then refers to it by id instead of repeating it).
//!
//! Outside an invocation, or when the invocation is not traced, only the span exists.
//!
//! ```
//! use streamer_obs::function::FunctionScope;
//! use streamer_obs::handler::ErrorView;
//!
//! let scope = FunctionScope::new("ValidateJWT", tracing::info_span!("ValidateJWT"));
//! let r: Result<u8, std::io::Error> = scope.run_sync(|| Ok(7), |e| ErrorView::from_error(e));
//! assert_eq!(r.unwrap(), 7);
//! ```

use std::borrow::Cow;
use std::future::Future;

use crate::__private::AnnotationArg;
use crate::handler::ErrorView;
use crate::in_span::InSpan;
use crate::xray::annotation::AnnotationValue;
use crate::xray::cause::{ErrorDetails, ErrorKind};
use crate::xray::recorder::SubsegmentGuard;

/// The scope of one call of an instrumented non-handler function.
#[derive(Debug)]
pub struct FunctionScope {
    name: Cow<'static, str>,
    span: tracing::Span,
    segment: SubsegmentGuard,
}

impl FunctionScope {
    /// A scope named `name` running in `span`; opens the child subsegment now.
    pub fn new(name: impl Into<Cow<'static, str>>, span: tracing::Span) -> Self {
        let name = name.into();
        let segment = crate::xray::subsegment(&name);
        Self { name, span, segment }
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds an annotation to the function's subsegment (dropped with a WARN line when the
    /// X-Ray rules refuse it).
    pub fn annotate<'a>(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<AnnotationArg<'a>>) {
        let key = key.into();
        if let Err(e) = self.segment.annotate(&key, AnnotationValue::from(value.into())) {
            tracing::warn!(target: "streamer_obs", key = %key, error = %e, "annotation dropped");
        }
    }

    /// Adds several annotations to the function's subsegment at once (one lock), each
    /// dropped with a WARN line when the X-Ray rules refuse it.
    ///
    /// ```
    /// use streamer_obs::__private::annotation_arg;
    /// use streamer_obs::function::FunctionScope;
    /// let mut scope = FunctionScope::new("ValidateJWT", tracing::Span::none());
    /// scope.annotate_all([("tenant_id", annotation_arg("acme")), ("valid", annotation_arg(true))]);
    /// ```
    pub fn annotate_all<const N: usize>(&mut self, entries: [(&'static str, AnnotationArg<'_>); N]) {
        self.segment.annotate_all(
            entries,
            |key, e| tracing::warn!(target: "streamer_obs", key, error = %e, "annotation dropped"),
        );
    }

    /// Adds metadata (namespace `default`) to the function's subsegment.
    pub fn metadata(&mut self, key: impl Into<Cow<'static, str>>, value: &impl serde::Serialize) {
        let key = key.into();
        if let Err(e) = self.segment.metadata(&key, value) {
            tracing::warn!(target: "streamer_obs", key = %key, error = %e, "metadata dropped");
        }
    }

    /// Runs an async body returning `Result`. A panic while the body is polled marks the
    /// function's subsegment as a fault (the panic's message as its cause) and ends it
    /// before the panic resumes (as a returned `Err` would be recorded).
    pub async fn run<F, T, E>(mut self, fut: F, view_error: impl FnOnce(&E) -> ErrorView) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let result = CatchPanic { segment: &mut self.segment, fut: InSpan::new(&self.span, fut) }.await;
        if let Err(e) = &result {
            self.record_error(&guarded_view(view_error, e));
        }
        self.segment.end();
        result
    }

    /// Runs an async body that does not return `Result` (a panic: as in [`Self::run`]).
    pub async fn run_plain<F: Future>(mut self, fut: F) -> F::Output {
        let out = CatchPanic { segment: &mut self.segment, fut: InSpan::new(&self.span, fut) }.await;
        self.segment.end();
        out
    }

    /// Runs a sync body returning `Result` (a panic: as in [`Self::run`]).
    pub fn run_sync<T, E>(
        mut self,
        body: impl FnOnce() -> Result<T, E>,
        view_error: impl FnOnce(&E) -> ErrorView,
    ) -> Result<T, E> {
        let result = self.catching(body);
        if let Err(e) = &result {
            self.record_error(&guarded_view(view_error, e));
        }
        self.segment.end();
        result
    }

    /// Runs a sync body that does not return `Result` (a panic: as in [`Self::run`]).
    pub fn run_sync_plain<R>(mut self, body: impl FnOnce() -> R) -> R {
        let out = self.catching(body);
        self.segment.end();
        out
    }

    /// `body` in the span; a panic there is recorded ([`record_panic`]) and resumed.
    fn catching<R>(&mut self, body: impl FnOnce() -> R) -> R {
        let _known_to_the_hook = crate::handler::FunctionMark::new(&self.segment);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.span.in_scope(body))) {
            Ok(out) => out,
            Err(payload) => {
                record_panic(&mut self.segment, &*payload);
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Enters the span for a sync body run in place (a `#[track_caller]` function, whose
    /// body cannot move into a closure): the span is exited and the subsegment ended when
    /// the guard drops, on return or while unwinding. No error is captured this way.
    ///
    /// ```
    /// use streamer_obs::function::FunctionScope;
    ///
    /// #[track_caller]
    /// fn checked(n: u8) -> u8 {
    ///     let _guard = FunctionScope::new("checked", tracing::info_span!("checked")).enter();
    ///     n.checked_add(1).expect("overflow, reported at the caller's line")
    /// }
    /// assert_eq!(checked(1), 2);
    /// ```
    pub fn enter(self) -> FunctionGuard {
        FunctionGuard {
            panicking_before: std::thread::panicking(),
            _known_to_the_hook: crate::handler::FunctionMark::new(&self.segment),
            _entered: self.span.entered(),
            segment: self.segment,
        }
    }

    fn record_error(&self, view: &ErrorView) {
        let kind = view.kind().unwrap_or(ErrorKind::Fault);
        self.segment.record_error_with(view, &ErrorDetails::new(kind).type_name(view.type_name()));
        self.span.in_scope(|| {
            tracing::debug!(target: "streamer_obs", function = %self.name, error = view as &dyn std::error::Error, "instrumented function returned an error")
        });
    }
}

/// A [`FunctionScope`] entered in place ([`FunctionScope::enter`]): the span stays entered
/// and the subsegment open until it drops.
///
/// ```
/// use streamer_obs::function::FunctionScope;
/// let guard = FunctionScope::new("Work", tracing::Span::none()).enter();
/// drop(guard); // span exited, subsegment ended
/// ```
#[derive(Debug)]
#[must_use = "the span is exited and the subsegment ended when the guard drops"]
pub struct FunctionGuard {
    /// A panic was unwinding when the function started (it runs in a destructor): a
    /// panic seen at the drop is then not the function's own.
    panicking_before: bool,
    /// Known to the lifecycle's panic hook while it lives (when panics abort).
    _known_to_the_hook: crate::handler::FunctionMark,
    // Dropped in this order: the span is exited, then the subsegment ends (as
    // `FunctionScope::run_sync_plain` does).
    _entered: tracing::span::EnteredSpan,
    segment: SubsegmentGuard,
}

impl Drop for FunctionGuard {
    /// Dropped while the function's own panic unwinds: its subsegment is marked a fault,
    /// as the closure path marks it (the panic's message is not reachable from here).
    fn drop(&mut self) {
        if std::thread::panicking() && !self.panicking_before {
            let view = ErrorView::new("panic", "the function panicked");
            self.segment.record_error_with(&view, &ErrorDetails::new(ErrorKind::Fault).type_name(view.type_name()));
        }
    }
}

/// The function's subsegment marked as a fault with the panic as its cause, and ended
/// (before the panic resumes).
#[cold]
fn record_panic(segment: &mut SubsegmentGuard, payload: &(dyn std::any::Any + Send)) {
    record_panic_message(segment, &crate::handler::panic_message(payload));
}

/// [`record_panic`] of a panic's message (also the lifecycle's panic hook, when panics
/// abort and nothing unwinds).
#[cold]
pub(crate) fn record_panic_message(segment: &mut SubsegmentGuard, message: &str) {
    let view = ErrorView::new("panic", message);
    segment.record_error_with(&view, &ErrorDetails::new(ErrorKind::Fault).type_name(view.type_name()));
    segment.end_in_place();
}

pin_project_lite::pin_project! {
    /// Polls `fut` (in the function's span) under `catch_unwind` at each poll: a panic is
    /// recorded on the function's subsegment ([`record_panic`]) and resumed.
    struct CatchPanic<'a, F> {
        segment: &'a mut SubsegmentGuard,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for CatchPanic<'_, F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        let fut = this.fut;
        let _known_to_the_hook = crate::handler::FunctionMark::new(this.segment);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                record_panic(this.segment, &*payload);
                std::panic::resume_unwind(payload)
            }
        }
    }
}

/// `view_error(e)` under `catch_unwind`: the error's `Display`/`Debug` is the user's code,
/// and a panic there must not turn the `Err` the function returns into a panic.
fn guarded_view<E>(view_error: impl FnOnce(&E) -> ErrorView, e: &E) -> ErrorView {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| view_error(e)))
        .unwrap_or_else(|_| ErrorView::new(std::any::type_name::<E>(), crate::handler::PANICKED_VIEW))
}
