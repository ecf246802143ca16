//! [`InSpan`]: a future polled inside a borrowed `tracing` span.
//!
//! `tracing::Instrument` takes the span by value, so a scope that keeps its span for later
//! log lines has to clone it (a registry reference count up and down, and a second close).
//! The scopes own their span for the whole call, so the future can borrow it instead.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// Polls `fut` with `span` entered (like `tracing::Instrumented`, without owning the
    /// span); a future dropped before it finished is dropped inside the span too.
    pub(crate) struct InSpan<'a, F> {
        span: &'a tracing::Span,
        #[pin]
        fut: Option<F>,
    }

    impl<'a, F> PinnedDrop for InSpan<'a, F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.fut.as_mut().as_pin_mut().is_some() {
                let _entered = this.span.enter();
                this.fut.set(None);
            }
        }
    }
}

impl<'a, F> InSpan<'a, F> {
    pub(crate) fn new(span: &'a tracing::Span, fut: F) -> Self {
        Self { span, fut: Some(fut) }
    }
}

impl<F: Future> Future for InSpan<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            // Polled again after it finished: the inner future is gone.
            return Poll::Pending;
        };
        let out = fut.poll(cx);
        if out.is_ready() {
            // Finished: drop it now, inside the span (nothing is left for `drop`).
            this.fut.set(None);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_future_runs_inside_the_span() {
        let subscriber = tracing_subscriber::registry();
        let _guard = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("outer");
        let id = span.id();
        let seen = InSpan::new(&span, async { tracing::Span::current().id() }).await;
        assert!(id.is_some());
        assert_eq!(seen, id);
        assert_eq!(tracing::Span::current().id(), None);
    }

    #[tokio::test]
    async fn a_cancelled_future_is_dropped_inside_the_span() {
        struct RecordsSpanOnDrop(std::sync::Arc<std::sync::Mutex<Option<tracing::Id>>>);
        impl Drop for RecordsSpanOnDrop {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = tracing::Span::current().id();
            }
        }
        let subscriber = tracing_subscriber::registry();
        let _guard = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("outer");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let guard = RecordsSpanOnDrop(seen.clone());
        let fut = InSpan::new(&span, async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        // Polled once (pending), then cancelled.
        assert!(tokio::time::timeout(std::time::Duration::from_millis(1), fut).await.is_err());
        assert_eq!(*seen.lock().unwrap(), span.id());
    }
}
