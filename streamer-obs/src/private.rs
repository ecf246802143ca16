//! Items that `#[instrumented]` expansions refer to. Not a public API: names and
//! signatures change without notice. Everything that runs at invocation time is a
//! normal, tested function of this crate; the expansion only wires it up.

use std::error::Error;
use std::fmt;
use std::future::Future;

use serde::Serialize;

pub use crate::function::FunctionScope;
pub use crate::handler::{ClassifyError, ErrorClass, ErrorView, HandlerOptions, HandlerScope};
pub use tracing;

/// Pins a future's output type to the function's declared return type, so `?` and
/// `return` inside the moved body infer exactly as they did in the original function.
#[inline]
pub fn pin_output<R, F: Future<Output = R>>(fut: F) -> F {
    fut
}

/// The output of a function declared `-> !`, as the generated code names it (`!` is not a
/// type argument on stable Rust): the body's diverging tail coerces to it, and the empty
/// `match` on it is the function's `!`.
///
/// ```
/// fn stop(code: i32) -> ! {
///     let never: streamer_obs::__private::Never = std::process::exit(code);
///     match never {}
/// }
/// # let _ = stop as fn(i32) -> !;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Never {}

/// The sync counterpart of [`pin_output`]: pins a closure's return type to the function's
/// declared return type, so the moved body's `?`, `return` and tail coercions (for
/// example to `Box<dyn Error>`) infer exactly as they did in the original function.
#[inline]
pub fn pin_fn<R, F: FnOnce() -> R>(f: F) -> F {
    f
}

/// A parameter recorded as a span field with `Debug`. The bound is checked here, once: a
/// parameter that is not `Debug` is one error on the parameter (tracing's `DebugValue`
/// used directly is checked at each of its uses in the span macro).
#[inline]
pub fn debug_field<T: fmt::Debug + ?Sized>(value: &T) -> impl tracing::Value + '_ {
    tracing::field::debug(value)
}

/// A value given to `annotations(key = value)`: string, number or bool (X-Ray's rule).
/// A borrowed string stays borrowed until the subsegment stores it: it is copied once,
/// into its place there.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationArg<'a> {
    /// A borrowed string.
    Str(&'a str),
    /// An owned string (moved into the subsegment).
    String(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl AnnotationArg<'_> {
    /// The text of a string value.
    #[inline]
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            AnnotationArg::Str(s) => Some(s),
            AnnotationArg::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the value is stored as it is: a string of at most 1000 bytes (so at most
    /// 1000 characters: nothing to cut), a finite float, any integer or boolean.
    #[inline]
    pub(crate) fn is_stored_as_is(&self) -> bool {
        match self {
            AnnotationArg::Str(s) => s.len() <= crate::xray::annotation::MAX_STRING_VALUE_CHARS,
            AnnotationArg::String(s) => s.len() <= crate::xray::annotation::MAX_STRING_VALUE_CHARS,
            AnnotationArg::Float(f) => f.is_finite(),
            AnnotationArg::Int(_) | AnnotationArg::Bool(_) => true,
        }
    }
}

/// A value for `annotations(key = value)`, converted where the user wrote it (so a type
/// that cannot be an annotation is reported on the user's expression).
///
/// ```
/// use streamer_obs::__private::{AnnotationArg, annotation_arg};
/// assert_eq!(annotation_arg(3u8), AnnotationArg::Int(3));
/// assert_eq!(annotation_arg("acme"), AnnotationArg::Str("acme"));
/// ```
#[inline]
pub fn annotation_arg<'a>(value: impl Into<AnnotationArg<'a>>) -> AnnotationArg<'a> {
    value.into()
}

impl<'a> From<&'a str> for AnnotationArg<'a> {
    #[inline]
    fn from(s: &'a str) -> Self {
        AnnotationArg::Str(s)
    }
}

impl<'a> From<&'a String> for AnnotationArg<'a> {
    #[inline]
    fn from(s: &'a String) -> Self {
        AnnotationArg::Str(s)
    }
}

impl From<String> for AnnotationArg<'_> {
    #[inline]
    fn from(s: String) -> Self {
        AnnotationArg::String(s)
    }
}

impl<'a> From<std::borrow::Cow<'a, str>> for AnnotationArg<'a> {
    #[inline]
    fn from(s: std::borrow::Cow<'a, str>) -> Self {
        match s {
            std::borrow::Cow::Borrowed(s) => AnnotationArg::Str(s),
            std::borrow::Cow::Owned(s) => AnnotationArg::String(s),
        }
    }
}

macro_rules! annotation_from {
    ($variant:ident: $($t:ty => $conv:expr),* $(,)?) => {
        $(impl From<$t> for AnnotationArg<'_> {
            #[inline]
            fn from(v: $t) -> Self {
                AnnotationArg::$variant($conv(v))
            }
        })*
    };
}
annotation_from!(Int: i8 => i64::from, i16 => i64::from, i32 => i64::from, i64 => std::convert::identity,
    u8 => i64::from, u16 => i64::from, u32 => i64::from);
annotation_from!(Float: f32 => f64::from, f64 => std::convert::identity);
annotation_from!(Bool: bool => std::convert::identity);

impl From<u64> for AnnotationArg<'_> {
    fn from(v: u64) -> Self {
        i64::try_from(v).map(AnnotationArg::Int).unwrap_or(AnnotationArg::Float(v as f64))
    }
}

impl From<usize> for AnnotationArg<'_> {
    fn from(v: usize) -> Self {
        AnnotationArg::from(v as u64)
    }
}

impl From<isize> for AnnotationArg<'_> {
    fn from(v: isize) -> Self {
        AnnotationArg::Int(v as i64)
    }
}

/// An integer beyond `i64` is a JSON number all the same: written as the nearest `f64`,
/// as a `u64` beyond `i64::MAX` is.
impl From<i128> for AnnotationArg<'_> {
    fn from(v: i128) -> Self {
        i64::try_from(v).map(AnnotationArg::Int).unwrap_or(AnnotationArg::Float(v as f64))
    }
}

impl From<u128> for AnnotationArg<'_> {
    fn from(v: u128) -> Self {
        i64::try_from(v).map(AnnotationArg::Int).unwrap_or(AnnotationArg::Float(v as f64))
    }
}

impl<'a, T: Into<AnnotationArg<'a>> + Clone> From<&T> for AnnotationArg<'a>
where
    T: NotStr,
{
    fn from(v: &T) -> Self {
        v.clone().into()
    }
}

/// Marker for types whose reference converts through `Clone` (everything but `str`/`String`).
pub trait NotStr {}
macro_rules! not_str { ($($t:ty),*) => { $(impl NotStr for $t {})* }; }
not_str!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool);

/// Autoref-specialisation wrapper: `(&&Wrap(x)).__obs_*()` picks the most specific
/// implementation available for the concrete type of `x` at the expansion site.
#[derive(Debug)]
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Level 1: a concrete `std::error::Error` (full type name and `source()` chain).
pub trait ViaError {
    /// The error view.
    fn __obs_error_view(&self) -> ErrorView;
}
// No `'static` bound: an error that borrows (`ParseErr<'a>`, `nom::Err<…<&str>>`, a
// generic `E: Error`) takes this level too, and trait selection ignores lifetimes, so a
// bound here would only turn into a borrow error in the user's function.
impl<E: Error + ?Sized> ViaError for &Wrap<'_, E> {
    fn __obs_error_view(&self) -> ErrorView {
        ErrorView::from_error(self.0)
    }
}

/// Level 2: `lambda_runtime::Error` (`Box<dyn Error + Send + Sync>`) and the other boxed
/// errors a handler may return (`Box<dyn Error>`, `+ Send`, `+ Sync`: `lambda_runtime`
/// turns `Box<dyn Error>` into its `Diagnostic` too): the message and `source()` chain of
/// the boxed error, not its `Debug` text.
pub trait ViaBoxError {
    /// The error view.
    fn __obs_error_view(&self) -> ErrorView;
}
macro_rules! via_box_error {
    ($($t:ty),*) => {$(
        // Any object lifetime (`Box<dyn Error + 'a>`): see `ViaError`.
        impl<'o> ViaBoxError for &&Wrap<'_, Box<$t>> {
            fn __obs_error_view(&self) -> ErrorView {
                ErrorView::from_dyn(&**self.0)
            }
        }
    )*};
}
via_box_error!(dyn Error + Send + Sync + 'o, dyn Error + 'o, dyn Error + Send + 'o, dyn Error + Sync + 'o);

/// Level 3: anything `Debug`.
pub trait ViaDebug {
    /// The error view.
    fn __obs_error_view(&self) -> ErrorView;
}
impl<T: fmt::Debug + ?Sized> ViaDebug for Wrap<'_, T> {
    fn __obs_error_view(&self) -> ErrorView {
        ErrorView::from_debug(self.0)
    }
}

/// Error classification, level 1: types implementing [`ClassifyError`].
pub trait ViaKind {
    /// The error kind the type declares.
    fn __obs_error_kind(&self) -> Option<ErrorClass>;
}
impl<E: ClassifyError + ?Sized> ViaKind for &Wrap<'_, E> {
    fn __obs_error_kind(&self) -> Option<ErrorClass> {
        Some(self.0.error_class())
    }
}

/// Error classification, level 2: no declared kind (the handler's mapping applies).
pub trait ViaNoKind {
    /// Always `None`.
    fn __obs_error_kind(&self) -> Option<ErrorClass>;
}
impl<T: ?Sized> ViaNoKind for Wrap<'_, T> {
    fn __obs_error_kind(&self) -> Option<ErrorClass> {
        None
    }
}

/// Response/event capture, level 1: `Serialize` values become JSON.
pub trait ViaSerialize {
    /// The JSON value, if the type can be captured.
    fn __obs_to_json(&self) -> Option<serde_json::Value>;
}
impl<T: Serialize + ?Sized> ViaSerialize for &Wrap<'_, T> {
    fn __obs_to_json(&self) -> Option<serde_json::Value> {
        // Non-finite floats as strings and a bounded depth, as all metadata.
        crate::xray::json::to_metadata_value(self.0).ok()
    }
}

/// Response/event capture, level 2: anything else is not captured.
pub trait ViaNoSerialize {
    /// Always `None`.
    fn __obs_to_json(&self) -> Option<serde_json::Value>;
}
impl<T: ?Sized> ViaNoSerialize for Wrap<'_, T> {
    fn __obs_to_json(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Response capture, ahead of `Serialize` (checked at `&&Wrap`): a `lambda_http` response
/// (feature `http`) as its status, headers and body ([`crate::http::response_event`]).
pub trait ViaHttpJson {
    /// The JSON value of the response.
    fn __obs_to_json(&self) -> Option<serde_json::Value>;
}
#[cfg(feature = "http")]
impl ViaHttpJson for &&Wrap<'_, lambda_http::Response<lambda_http::Body>> {
    fn __obs_to_json(&self) -> Option<serde_json::Value> {
        Some(crate::http::response_event(self.0))
    }
}

/// What a `lambda_http` handler's request left for its response (feature `http`): the
/// handler subsegment, for the response half of its `http` block.
#[derive(Debug, Default)]
pub struct HttpHook {
    #[cfg(feature = "http")]
    segment: Option<crate::xray::recorder::SubsegmentRef>,
}

/// The request of a handler whose `ctx` reads a parameter, level 1: a `lambda_http`
/// request (feature `http`) sets the request half of the handler subsegment's `http`
/// block and is what `log_event` logs.
pub trait ViaHttpRequest {
    /// Records the request; the hook for the response.
    fn __obs_http_request(&self, scope: &crate::handler::HandlerScope) -> HttpHook;
}
#[cfg(feature = "http")]
impl ViaHttpRequest for &Wrap<'_, lambda_http::Request> {
    fn __obs_http_request(&self, scope: &crate::handler::HandlerScope) -> HttpHook {
        HttpHook { segment: crate::http::record_request(scope, self.0) }
    }
}

/// The request, level 2: anything else records nothing.
pub trait ViaNoHttpRequest {
    /// An empty hook.
    fn __obs_http_request(&self, scope: &crate::handler::HandlerScope) -> HttpHook;
}
impl<T: ?Sized> ViaNoHttpRequest for Wrap<'_, T> {
    fn __obs_http_request(&self, _scope: &crate::handler::HandlerScope) -> HttpHook {
        HttpHook::default()
    }
}

/// The handler's result, level 1: an `Ok` value `lambda_http` turns into a response
/// ([`crate::http::ResponseView`], feature `http`) sets the response half of the `http`
/// block (status, length) and the flags of its status.
pub trait ViaHttpResponse {
    /// Records the response, if any.
    fn __obs_http_response(&self, hook: &HttpHook);
}
#[cfg(feature = "http")]
impl<T: crate::http::ResponseView, E> ViaHttpResponse for &&Wrap<'_, Result<T, E>> {
    fn __obs_http_response(&self, hook: &HttpHook) {
        if let Ok(response) = self.0 {
            crate::http::record_response(hook.segment.as_ref(), response);
        }
    }
}

/// The handler's result, level 2: any other `Ok` `Response<B>` (a streaming body, a body
/// type of its own): the status and its flags, the length only from `Content-Length`.
pub trait ViaHttpResponseHead {
    /// Records the response's head, if any.
    fn __obs_http_response(&self, hook: &HttpHook);
}
#[cfg(feature = "http")]
impl<B, E> ViaHttpResponseHead for &Wrap<'_, Result<lambda_http::Response<B>, E>> {
    fn __obs_http_response(&self, hook: &HttpHook) {
        if let Ok(response) = self.0 {
            crate::http::record_response(hook.segment.as_ref(), &crate::http::ResponseHead(response));
        }
    }
}

/// The handler's result, level 3: anything else records nothing.
pub trait ViaNoHttpResponse {
    /// Nothing.
    fn __obs_http_response(&self, hook: &HttpHook);
}
impl<T: ?Sized> ViaNoHttpResponse for Wrap<'_, T> {
    fn __obs_http_response(&self, _hook: &HttpHook) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NotError;

    #[test]
    #[allow(clippy::needless_borrow)]
    fn autoref_picks_the_most_specific_view() {
        let io = std::io::Error::other("x");
        assert_eq!((&&Wrap(&io)).__obs_error_view().type_name(), "std::io::error::Error");
        let boxed: Box<dyn Error + Send + Sync> = Box::new(std::io::Error::other("inner"));
        let v = (&&Wrap(&boxed)).__obs_error_view();
        assert_eq!(v.message(), "inner");
        assert_eq!((&&Wrap(&NotError)).__obs_error_view().type_name(), "NotError");
        assert_eq!((&&Wrap(&5u8)).__obs_to_json(), Some(serde_json::json!(5)));
        assert_eq!((&&Wrap(&NotError)).__obs_to_json(), None);
    }

    #[test]
    fn pins_infer_the_declared_type() {
        let f = pin_fn::<Result<u8, Box<dyn Error + Send + Sync>>, _>(|| {
            let n: u8 = "7".parse()?;
            Ok(n)
        });
        assert_eq!(f().unwrap(), 7);
        let fut = pin_output::<Result<u8, Box<dyn Error>>, _>(async { Err(std::io::Error::other("x"))? });
        drop(fut);
    }
}
