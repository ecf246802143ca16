//! Child scopes for functions called inside a handler (`#[instrumented]` on a function
//! that is not a handler): a `tracing` span and, with X-Ray, a child subsegment named
//! after the function, with error capture on `Err`.
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

use tracing::Instrument as _;

use crate::handler::ErrorView;

/// The scope of one call of an instrumented non-handler function.
#[derive(Debug)]
pub struct FunctionScope {
    name: Cow<'static, str>,
    span: tracing::Span,
    annotations: Vec<(Cow<'static, str>, crate::__private::AnnotationArg)>,
    metadata: Vec<(Cow<'static, str>, serde_json::Value)>,
}

impl FunctionScope {
    /// A scope named `name` running in `span`.
    pub fn new(name: impl Into<Cow<'static, str>>, span: tracing::Span) -> Self {
        Self { name: name.into(), span, annotations: Vec::new(), metadata: Vec::new() }
    }

    /// Adds an annotation to the function's subsegment.
    pub fn annotate(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<crate::__private::AnnotationArg>) {
        self.annotations.push((key.into(), value.into()));
    }

    /// Adds metadata (namespace `default`) to the function's subsegment.
    pub fn metadata(&mut self, key: impl Into<Cow<'static, str>>, value: &impl serde::Serialize) {
        let value =
            serde_json::to_value(value).unwrap_or_else(|e| serde_json::Value::String(format!("<unserialisable: {e}>")));
        self.metadata.push((key.into(), value));
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs an async body returning `Result`.
    pub async fn run<F, T, E>(self, fut: F, view_error: impl FnOnce(&E) -> ErrorView) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let result = fut.instrument(self.span.clone()).await;
        if let Err(e) = &result {
            self.record_error(&view_error(e));
        }
        result
    }

    /// Runs an async body that does not return `Result`.
    pub async fn run_plain<F: Future>(self, fut: F) -> F::Output {
        fut.instrument(self.span.clone()).await
    }

    /// Runs a sync body returning `Result`.
    pub fn run_sync<T, E>(
        self,
        body: impl FnOnce() -> Result<T, E>,
        view_error: impl FnOnce(&E) -> ErrorView,
    ) -> Result<T, E> {
        let result = self.span.in_scope(body);
        if let Err(e) = &result {
            self.record_error(&view_error(e));
        }
        result
    }

    /// Runs a sync body that does not return `Result`.
    pub fn run_sync_plain<R>(self, body: impl FnOnce() -> R) -> R {
        self.span.in_scope(body)
    }

    fn record_error(&self, view: &ErrorView) {
        self.span.in_scope(|| {
            tracing::debug!(target: "streamer_obs", function = %self.name, error = view as &dyn std::error::Error, "instrumented function returned an error")
        });
    }
}
