//! `lock::after_unlock` holds the crate's own WARN/ERROR lines written under one of its
//! locks until the last is released; its contract: "`f` is dropped unrun only if the thread
//! is exiting". With `panic_aborts(true)` (README: what
//! `cargo lambda build --release` sets) a panic in a `with_set` closure reaches the
//! lifecycle hook with the metrics lock held; the hook writes its ERROR line and the
//! process aborts: a line deferred *before* the panic (here the "metric dropped" WARN of
//! the metric refused as `MetricsError::Reentrant`) must be written by then (it was not:
//! the log showed no trace of the dropped metric). What the hook sees is all that reaches
//! CloudWatch.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::metrics::{self, Unit};
use streamer_obs::testing::{CapturingWriter, ContextBuilder};
use tracing::instrument::WithSubscriber;

#[test]
fn a_line_deferred_before_an_aborting_panic_is_written_before_the_abort() {
    // Installed before the lifecycle's hook (which chains to it): the log at abort time.
    let watched: Arc<Mutex<Option<CapturingWriter>>> = Arc::default();
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let (w, s) = (Arc::clone(&watched), Arc::clone(&seen));
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        if let Some(log) = w.lock().unwrap().as_ref() {
            s.lock().unwrap().push(log.lines());
        }
    }));

    let h = captured(config(&[]));
    *watched.lock().unwrap() = Some(h.log.clone());
    let ctx = ContextBuilder::new().request_id("r-h").trace_header(HEADER).build();
    let scope = HandlerScope::with_telemetry(
        h.telemetry.clone(),
        HandlerOptions::new("HandleWithSet").panic_aborts(true),
        &ctx,
        tracing::info_span!("handler"),
    );
    let dispatch = h.dispatch.clone();
    let out = std::thread::spawn(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(
                async move {
                    scope
                        .run(
                            async {
                                streamer_obs::invocation::Invocation::with_current(|inv| {
                                    inv.metrics().with_set(|_| {
                                        // Refused (Reentrant): its WARN is deferred.
                                        metrics::add("Inner", Unit::Count, 1.0);
                                        panic!("a bug in the closure")
                                    })
                                });
                                Ok::<u8, std::io::Error>(1)
                            },
                            ErrorView::from_error,
                            |_| None,
                        )
                        .await
                }
                .with_subscriber(dispatch),
            )
        }))
    })
    .join()
    .unwrap();
    assert!(out.is_err(), "the closure panicked");
    let snaps = seen.lock().unwrap().clone();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let at_abort = &snaps[0];
    assert!(
        at_abort.iter().any(|l| l.contains("metric dropped")),
        "at the abort the log holds no 'metric dropped' line for the refused metric: {at_abort:#?}\n(after unwinding, which an abort never does: {:#?})",
        h.log.lines()
    );
}
