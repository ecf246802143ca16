//! When panics abort, the user's code `#[instrumented]` runs before the body
//! (the `annotations(...)` expressions, under `PendingHandlerScope::open_guarded`) and
//! the body's `Drop` when the run future is cancelled run outside the hook's reach (the
//! scope is armed only around the body's polls): a panic there aborts the process with
//! the invocation unrecorded, although the unwinding lifecycle records both.
//!
//! Run here with unwinding: the hook installed before the lifecycle's (chained to) notes
//! what was recorded when it ran: with `panic = "abort"` nothing runs after it.
mod abort_harness;
mod common;

use abort_harness::*;
use common::*;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

struct PanicsOnDrop;
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("Drop panicked");
    }
}

#[test]
fn a_panic_in_the_annotations_or_in_a_cancelled_bodys_drop_is_recorded_before_the_abort() {
    let snaps = snapshot_hook();
    let h = captured(config(&[]));
    assert!(h.telemetry.clone().install_global().is_ok());
    snaps.watch(&h);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let ctx = || ContextBuilder::new().request_id("r-ann").trace_header(HEADER).build();

    // A first invocation installs the lifecycle's hook.
    let ok = rt.block_on(
        HandlerScope::new(HandlerOptions::new("HandleFirst").panic_aborts(true), &ctx(), tracing::info_span!("first"))
            .run(async { Ok::<u8, std::io::Error>(1) }, ErrorView::from_error, |_| None)
            .with_subscriber(h.dispatch.clone()),
    );
    assert_eq!(ok.unwrap(), 1);
    h.xray.clear();
    h.emf.clear();
    h.log.clear();

    // An annotation expression panics (what `#[instrumented(annotations(k = expr))]` runs).
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracing::dispatcher::with_default(&h.dispatch, || {
            HandlerScope::prepare(
                HandlerOptions::new("HandleAnnotated").panic_aborts(true),
                &ctx(),
                tracing::info_span!("ann"),
            )
            .open_guarded(|| -> [(&'static str, streamer_obs::__private::AnnotationArg<'static>); 0] {
                panic!("annotation expression panicked")
            })
        })
    }));
    assert!(out.is_err());
    // With unwinding the lifecycle records it.
    assert_eq!(h.xray.documents().len(), 1);
    let annotations = snaps.taken();

    // A cancelled run future whose body's `Drop` panics.
    h.xray.clear();
    h.emf.clear();
    h.log.clear();
    snaps.watch(&h);
    let s =
        HandlerScope::new(HandlerOptions::new("HandleCancelled").panic_aborts(true), &ctx(), tracing::info_span!("c"));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(
            async {
                let run = s.run(
                    async {
                        let _held = PanicsOnDrop;
                        std::future::pending::<()>().await;
                        Ok::<u8, std::io::Error>(1)
                    },
                    ErrorView::from_error,
                    |_| None,
                );
                let mut run = Box::pin(run);
                // Polled once (pending), then cancelled.
                assert!(futures_poll_once(run.as_mut()).await.is_none());
                drop(run);
            }
            .with_subscriber(h.dispatch.clone()),
        )
    }));
    assert!(out.is_err());
    assert_eq!(h.xray.documents().len(), 1, "with unwinding the cancellation is recorded");
    let cancelled = snaps.taken();

    assert_eq!(annotations.len(), 1, "{annotations:?}");
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(
        (annotations[0].xray_docs, cancelled[0].xray_docs),
        (1, 1),
        "when panics abort, nothing is recorded before the abort: annotations {annotations:?}, cancelled {cancelled:?}"
    );
}

/// Polls `f` once: `Some` when it is ready.
async fn futures_poll_once<F: std::future::Future + ?Sized>(mut f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    std::future::poll_fn(move |cx| {
        std::task::Poll::Ready(match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
