//! The deadline guard fired (TimedOut annotated, in-progress subsegments sent)
//! before the handler panics with `panic_aborts(true)`: one complete document at the end,
//! valid, a fault with the panic as cause, the held subsegment ended inside it.
mod abort_harness;
mod common;

use std::time::Duration;

use abort_harness::*;
use common::*;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

#[test]
fn a_panic_after_the_deadline_guard_fired_is_recorded_once() {
    let snaps = snapshot_hook();
    let h = captured(config(&[]));
    snaps.watch(&h);
    let ctx = ContextBuilder::new().request_id("r-deadline").trace_header(HEADER).deadline_ms(T0 + 51).build();
    let s = HandlerScope::with_telemetry(
        h.telemetry.clone(),
        HandlerOptions::new("HandleSlow").panic_aborts(true).deadline_margin(Duration::from_millis(50)),
        &ctx,
        tracing::info_span!("HandleSlow"),
    );
    let xray = h.xray.clone();
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(
            async move {
                s.run(
                    async move {
                        let _held = streamer_obs::xray::subsegment("Held");
                        // Until the guard has flushed what is in progress.
                        while xray.documents().is_empty() {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        let _deeper = streamer_obs::xray::subsegment("Deeper");
                        if true {
                            panic!("after the deadline guard");
                        }
                        Ok::<u8, std::io::Error>(1)
                    },
                    ErrorView::from_error,
                    |_| None,
                )
                .await
            }
            .with_subscriber(h.dispatch.clone()),
        )
    }));
    assert!(out.is_err());
    assert!(h.log.contents().contains("about to time out"), "{}", h.log.contents());
    assert_valid_docs(&h);
    let docs = h.xray.documents();
    let complete: Vec<_> =
        docs.iter().filter(|d| d["name"] == "HandleSlow" && d.get("in_progress").is_none()).collect();
    assert_eq!(complete.len(), 1, "{docs:?}");
    let d = complete[0];
    assert_eq!(d["fault"], true, "{d}");
    assert_eq!(d["annotations"]["TimedOut"], true, "{d}");
    assert_eq!(d["cause"]["exceptions"][0]["message"], "after the deadline guard");
    let held = &d["subsegments"][0];
    assert_eq!(held["name"], "Held", "{d}");
    assert!(held["end_time"].as_f64().is_some() && held.get("in_progress").is_none(), "{d}");
    assert_eq!(held["subsegments"][0]["name"], "Deeper", "{d}");
    assert_eq!(errors(&h.log), 1, "{:?}", h.log.lines());
    let taken = snaps.taken();
    assert_eq!(taken.len(), 1);
    assert!(taken[0].names.iter().any(|n| n == "HandleSlow fault"), "{taken:?}");
}
