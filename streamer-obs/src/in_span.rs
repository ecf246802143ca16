//! [`InSpan`]: a future polled inside a borrowed `tracing` span.
//!
//! `tracing::Instrument` takes the span by value, so a scope that keeps its span for later
//! log lines has to clone it (a registry reference count up and down, and a second close).
//! The scopes own their span for the whole call, so the future can borrow it instead.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// Polls `fut` with `span` entered (like `tracing::Instrumented`, without owning the span).
    pub(crate) struct InSpan<'a, F> {
        span: &'a tracing::Span,
        #[pin]
        fut: F,
    }
}

impl<'a, F> InSpan<'a, F> {
    pub(crate) fn new(span: &'a tracing::Span, fut: F) -> Self {
        Self { span, fut }
    }
}

impl<F: Future> Future for InSpan<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        this.fut.poll(cx)
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
}
