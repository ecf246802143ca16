//! Items that `#[instrumented]` expansions refer to. Not a public API: names and
//! signatures change without notice. Everything that runs at invocation time is a
//! normal, tested function of this crate; the expansion only wires it up.

use std::error::Error;
use std::fmt;
use std::future::Future;

use serde::Serialize;

pub use crate::function::FunctionScope;
pub use crate::handler::{ErrorView, HandlerOptions, HandlerScope};
pub use tracing;

/// Pins a future's output type to the function's declared return type, so `?` and
/// `return` inside the moved body infer exactly as they did in the original function.
#[inline]
pub fn pin_output<R, F: Future<Output = R>>(fut: F) -> F {
    fut
}

/// Autoref-specialisation wrapper: `(&&Wrap(x)).__obs_*()` picks the most specific
/// implementation available for the concrete type of `x` at the expansion site.
#[derive(Debug)]
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Level 1: a concrete `std::error::Error` (full type name and `source()` chain).
pub trait ViaError {
    /// The error view.
    fn __obs_error_view(&self) -> ErrorView;
}
impl<E: Error + 'static> ViaError for &Wrap<'_, E> {
    fn __obs_error_view(&self) -> ErrorView {
        ErrorView::from_error(self.0)
    }
}

/// Level 2: `lambda_runtime::Error` (`Box<dyn Error + Send + Sync>`).
pub trait ViaBoxError {
    /// The error view.
    fn __obs_error_view(&self) -> ErrorView;
}
impl ViaBoxError for &&Wrap<'_, Box<dyn Error + Send + Sync>> {
    fn __obs_error_view(&self) -> ErrorView {
        ErrorView::from_dyn(self.0.as_ref())
    }
}

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

/// Response/event capture, level 1: `Serialize` values become JSON.
pub trait ViaSerialize {
    /// The JSON value, if the type can be captured.
    fn __obs_to_json(&self) -> Option<serde_json::Value>;
}
impl<T: Serialize + ?Sized> ViaSerialize for &Wrap<'_, T> {
    fn __obs_to_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self.0).ok()
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
}
