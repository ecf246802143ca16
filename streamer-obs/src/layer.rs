//! The tower alternative to `#[instrumented]`: [`ObsLayer`] wraps a `lambda_runtime`
//! service (`service_fn(handler)`) with the same lifecycle ([`HandlerScope`]) and the
//! same options ([`HandlerOptions`]), for users who prefer `service_fn` composition.
//!
//! ```no_run
//! use lambda_runtime::{service_fn, tower::Layer, Error, LambdaEvent};
//! use serde_json::Value;
//! use streamer_obs::handler::HandlerOptions;
//! use streamer_obs::layer::ObsLayer;
//!
//! async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     Ok(event.payload)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     streamer_obs::init()?;
//!     let service = ObsLayer::new(HandlerOptions::new("Echo")).layer(service_fn(echo));
//!     lambda_runtime::run(service).await
//! }
//! ```
//!
//! With the `http` feature the layer also wraps a `Service<lambda_http::Request>`, adding
//! the HTTP view of the invocation (see `streamer_obs::http`).
//!
//! The span of each invocation is named `lambda_handler` (span names are static in
//! `tracing`) with a `handler` field holding the configured name; the subsegment carries
//! the configured name itself.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::LambdaEvent;
use lambda_runtime::tower::{Layer, Service};
use serde::Serialize;

use crate::handler::{ErrorView, HandlerOptions, HandlerScope};
use crate::telemetry::Telemetry;

/// Describes a service error for the lifecycle.
pub type ErrorViewFn<E> = fn(&E) -> ErrorView;

/// A tower layer applying the invocation lifecycle to a Lambda service.
pub struct ObsLayer<E = lambda_runtime::Error> {
    options: HandlerOptions,
    telemetry: Option<Telemetry>,
    view_error: ErrorViewFn<E>,
}

impl<E> fmt::Debug for ObsLayer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObsLayer").field("options", &self.options).finish_non_exhaustive()
    }
}

impl<E> Clone for ObsLayer<E> {
    fn clone(&self) -> Self {
        Self { options: self.options.clone(), telemetry: self.telemetry.clone(), view_error: self.view_error }
    }
}

impl<E: fmt::Debug + 'static> ObsLayer<E> {
    /// A layer with `options`. Errors are described by [`default_error_view`]:
    /// `lambda_runtime::Error` (a boxed `dyn Error`) with its `source()` chain, anything
    /// else through `Debug`; use [`ObsLayer::error_view`] for a typed error.
    pub fn new(options: HandlerOptions) -> Self {
        Self { options, telemetry: None, view_error: default_error_view::<E> }
    }
}

impl<E: std::error::Error + crate::handler::ClassifyError + 'static> ObsLayer<E> {
    /// A layer with `options` for an error type that declares its kind through
    /// [`ClassifyError`](crate::handler::ClassifyError): recorded as `#[instrumented]`
    /// records it (`error` or `fault` as declared, the `source()` chain). [`ObsLayer::new`]
    /// cannot see that trait (stable Rust has no specialisation) and records a `fault`.
    ///
    /// ```
    /// use streamer_obs::handler::{ClassifyError, ErrorClass, HandlerOptions};
    /// use streamer_obs::layer::ObsLayer;
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("token expired")]
    /// struct Expired;
    /// impl ClassifyError for Expired {
    ///     fn error_class(&self) -> ErrorClass {
    ///         ErrorClass::Error
    ///     }
    /// }
    /// let layer = ObsLayer::<Expired>::classified(HandlerOptions::new("Validate"));
    /// # let _ = layer;
    /// ```
    pub fn classified(options: HandlerOptions) -> Self {
        Self { options, telemetry: None, view_error: crate::handler::ErrorView::from_classified::<E> }
    }
}

impl<E> ObsLayer<E> {
    /// Uses `view` to describe errors (e.g. `ErrorView::from_error` for a type that
    /// implements `std::error::Error`).
    pub fn error_view(mut self, view: ErrorViewFn<E>) -> Self {
        self.view_error = view;
        self
    }

    /// Uses explicit telemetry instead of [`Telemetry::current`].
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }
}

/// Describes `e`: a boxed `dyn Error` (`lambda_runtime::Error`) with its chain, anything
/// else through `Debug`.
///
/// ```
/// let e: lambda_runtime::Error = std::io::Error::other("outer").into();
/// let v = streamer_obs::layer::default_error_view(&e);
/// assert_eq!(v.message(), "outer");
/// assert_eq!(streamer_obs::layer::default_error_view(&"text").message(), "\"text\"");
/// ```
pub fn default_error_view<E: fmt::Debug + 'static>(e: &E) -> ErrorView {
    let any: &dyn Any = e;
    if let Some(b) = any.downcast_ref::<lambda_runtime::Error>() {
        ErrorView::from_dyn(b.as_ref())
    } else if let Some(b) = any.downcast_ref::<Box<dyn std::error::Error>>() {
        ErrorView::from_dyn(b.as_ref())
    } else {
        ErrorView::from_debug(e)
    }
}

impl<S, E> Layer<S> for ObsLayer<E> {
    type Service = ObsService<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        ObsService { inner, layer: self.clone() }
    }
}

/// The service produced by [`ObsLayer`].
pub struct ObsService<S, E = lambda_runtime::Error> {
    inner: S,
    layer: ObsLayer<E>,
}

impl<S: Clone, E> Clone for ObsService<S, E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), layer: self.layer.clone() }
    }
}

impl<S, E> fmt::Debug for ObsService<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObsService").field("layer", &self.layer).finish_non_exhaustive()
    }
}

impl<S, T, R, E> Service<LambdaEvent<T>> for ObsService<S, E>
where
    S: Service<LambdaEvent<T>, Response = R, Error = E>,
    S::Future: Send + 'static,
    T: Serialize,
    R: Serialize + Send + 'static,
    E: Send + 'static,
{
    type Response = R;
    type Error = E;
    type Future = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let scope = self.scope(&event.context);
        scope.log_event(|| crate::xray::json::to_metadata_value(&event.payload).ok());
        let called = call_in_scope(&scope, &mut self.inner, event);
        run_boxed(scope, called, self.layer.view_error, |r: &R| crate::xray::json::to_metadata_value(r).ok())
    }
}

/// [`ObsLayer`] for a `lambda_http` service whose response body streams, as
/// `lambda_http::run_with_streaming_response` takes it (feature `http`): the same
/// lifecycle and options, the response returned unchanged. The invocation ends when the
/// response head is returned: the handler subsegment gets the request half of its `http`
/// block, then the status, its flags and a `Content-Length` header's length; the latency
/// metric and the subsegment's end time measure the time to that head; `capture_response`
/// captures `status_code` and `headers`. Whatever the body does after that (streamed by
/// the runtime) is outside the invocation's records.
///
/// ```no_run
/// use lambda_http::{service_fn, tower::Layer, Body, Error, Request, Response};
/// use streamer_obs::{handler::HandlerOptions, layer::ObsLayer};
///
/// async fn stream(_request: Request) -> Result<Response<Body>, Error> {
///     Ok(Response::builder().header("content-type", "text/plain").body(Body::from("chunk"))?)
/// }
///
/// # async fn run() -> Result<(), Error> {
/// streamer_obs::init()?;
/// let layer = ObsLayer::new(HandlerOptions::new("Stream")).streaming();
/// lambda_http::run_with_streaming_response(layer.layer(service_fn(stream))).await
/// # }
/// ```
#[cfg(feature = "http")]
pub struct ObsStreamingLayer<E = lambda_runtime::Error>(ObsLayer<E>);

#[cfg(feature = "http")]
impl<E> fmt::Debug for ObsStreamingLayer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ObsStreamingLayer").field(&self.0).finish()
    }
}

#[cfg(feature = "http")]
impl<E> Clone for ObsStreamingLayer<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

#[cfg(feature = "http")]
impl<E> ObsLayer<E> {
    /// This layer for a service whose response streams ([`ObsStreamingLayer`]).
    ///
    /// ```
    /// use streamer_obs::{handler::HandlerOptions, layer::ObsLayer};
    /// let layer: streamer_obs::layer::ObsStreamingLayer = ObsLayer::new(HandlerOptions::new("Stream")).streaming();
    /// # let _ = layer;
    /// ```
    pub fn streaming(self) -> ObsStreamingLayer<E> {
        ObsStreamingLayer(self)
    }
}

#[cfg(feature = "http")]
impl<S, E> Layer<S> for ObsStreamingLayer<E> {
    type Service = ObsStreamingService<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        ObsStreamingService(ObsService { inner, layer: self.0.clone() })
    }
}

/// The service [`ObsStreamingLayer`] wraps around a streaming `lambda_http` service.
///
/// ```
/// use lambda_http::{service_fn, tower::Layer, Body, Error, Request, Response};
/// use streamer_obs::{handler::HandlerOptions, layer::ObsLayer};
/// let service = ObsLayer::<Error>::new(HandlerOptions::new("Stream"))
///     .streaming()
///     .layer(service_fn(|_r: Request| async { Ok::<_, Error>(Response::new(Body::Empty)) }));
/// # let _ = service;
/// ```
#[cfg(feature = "http")]
pub struct ObsStreamingService<S, E = lambda_runtime::Error>(ObsService<S, E>);

#[cfg(feature = "http")]
impl<S: Clone, E> Clone for ObsStreamingService<S, E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

#[cfg(feature = "http")]
impl<S, E> fmt::Debug for ObsStreamingService<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ObsStreamingService").field(&self.0).finish()
    }
}

#[cfg(feature = "http")]
impl<S, B, E> Service<lambda_http::Request> for ObsStreamingService<S, E>
where
    S: Service<lambda_http::Request, Response = lambda_http::Response<B>, Error = E>,
    S::Future: Send + 'static,
    B: Send + 'static,
    E: Send + 'static,
{
    type Response = lambda_http::Response<B>;
    type Error = E;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, E>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.inner.poll_ready(cx)
    }

    fn call(&mut self, request: lambda_http::Request) -> Self::Future {
        let scope = self.0.scope(crate::http::lambda_context(&request));
        let segment = crate::http::record_request(&scope, &request);
        let called = call_in_scope(&scope, &mut self.0.inner, request).map(|fut| async move {
            let response = fut.await?;
            crate::http::record_response(segment.as_ref(), &crate::http::ResponseHead(&response));
            Ok(response)
        });
        run_boxed(scope, called, self.0.layer.view_error, |r: &Self::Response| {
            Some(crate::http::response_head_event(r))
        })
    }
}

impl<S, E> ObsService<S, E> {
    /// The lifecycle of one invocation of `ctx`, its handler subsegment open.
    fn scope(&self, ctx: &lambda_runtime::Context) -> HandlerScope {
        let telemetry = match &self.layer.telemetry {
            Some(telemetry) => Cow::Owned(telemetry.clone()),
            None => Telemetry::current_ref(),
        };
        let span = tracing::info_span!("lambda_handler", handler = self.layer.options.name());
        HandlerScope::prepare_with(telemetry, self.layer.options.clone(), ctx, span).open([])
    }
}

/// The inner service's `call` (a `service_fn`'s synchronous prelude) run inside the
/// invocation like its future: its lines carry the invocation's keys, its metrics are
/// recorded, and a panic there is caught, to take the lifecycle's panic path.
fn call_in_scope<S: Service<Req>, Req>(
    scope: &HandlerScope,
    inner: &mut S,
    request: Req,
) -> std::thread::Result<S::Future> {
    scope.in_scope(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.call(request))))
}

/// The called future run through the lifecycle, boxed; a panic of the `call` itself takes
/// the lifecycle's panic path (fault, everything flushed) before it resumes.
fn run_boxed<F, T, E, C>(
    scope: HandlerScope,
    called: std::thread::Result<F>,
    view: ErrorViewFn<E>,
    capture: C,
) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send>>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    C: FnOnce(&T) -> Option<serde_json::Value> + Send + 'static,
{
    match called {
        Ok(fut) => Box::pin(scope.run(fut, view, capture)),
        Err(panic) => Box::pin(scope.run(
            futures_util::future::lazy(move |_| -> Result<T, E> { std::panic::resume_unwind(panic) }),
            view,
            capture,
        )),
    }
}

/// A `lambda_http` service (feature `http`): the same lifecycle, with the HTTP view of the
/// invocation (see `streamer_obs::http`). The handler's response is converted inside the
/// invocation and handed on as an `http::HttpResponse`, which `lambda_http` sends as it is.
#[cfg(feature = "http")]
impl<S, R, E> Service<lambda_http::Request> for ObsService<S, E>
where
    S: Service<lambda_http::Request, Response = R, Error = E>,
    S::Future: Send + 'static,
    R: lambda_http::IntoResponse + Send + 'static,
    E: Send + 'static,
{
    type Response = crate::http::HttpResponse;
    type Error = E;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, E>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: lambda_http::Request) -> Self::Future {
        let scope = self.scope(crate::http::lambda_context(&request));
        // The request half of the `http` block now (an `Err` or a panic keeps it), the
        // response half with the status when the response is ready.
        let segment = crate::http::record_request(&scope, &request);
        let called = call_in_scope(&scope, &mut self.inner, request).map(|fut| async move {
            let response = fut.await?.into_response().await;
            crate::http::record_response(segment.as_ref(), &response);
            Ok(crate::http::HttpResponse::from(response))
        });
        run_boxed(scope, called, self.layer.view_error, |r: &Self::Response| Some(crate::http::response_event(r)))
    }
}
