//! When panics abort, the user's code the lifecycle runs after the body (the
//! error's `Display`/`Debug` in `view_error`, the response's capture, the error
//! classifier) runs outside the hook's reach: a panic there aborts the process with
//! nothing recorded, although the lifecycle's own comment says "a panic there must not
//! lose the invocation's telemetry".
//!
//! Run here with unwinding: the hook installed before the lifecycle's (chained to) notes
//! what was recorded when it ran: with `panic = "abort"` nothing runs after it.
mod abort_harness;
mod common;

use abort_harness::*;
use common::*;
use streamer_obs::handler::ErrorView;

#[test]
fn a_panic_in_view_error_or_capture_is_recorded_before_the_abort() {
    let snaps = snapshot_hook();

    // The error's view panics (what `ErrorView::from_error` does with a panicking `Display`).
    let h = captured(config(&[]));
    snaps.watch(&h);
    let out = run_handler(
        &h,
        "HandleErrView",
        true,
        async { Err::<u8, std::io::Error>(std::io::Error::other("denied")) },
        |_: &std::io::Error| -> ErrorView { panic!("Display panicked") },
        |_| None,
    );
    // With unwinding the lifecycle catches it: the error comes back, recorded.
    assert!(out.expect("caught by the lifecycle").is_err());
    assert_eq!(h.xray.documents().len(), 1);
    let view_error_taken = snaps.taken();

    // The response's capture panics.
    let h = captured(config(&[]));
    snaps.watch(&h);
    let out = run_handler(
        &h,
        "HandleCapture",
        true,
        async { Ok::<u8, std::io::Error>(7) },
        ErrorView::from_error,
        |_: &u8| -> Option<serde_json::Value> { panic!("serialize panicked") },
    );
    assert_eq!(out.expect("caught by the lifecycle").unwrap(), 7);
    let capture_taken = snaps.taken();

    // When it runs the hook chained to is the last code before an abort.
    assert_eq!(view_error_taken.len(), 1, "{view_error_taken:?}");
    assert_eq!(capture_taken.len(), 1, "{capture_taken:?}");
    assert_eq!(
        (view_error_taken[0].xray_docs, capture_taken[0].xray_docs),
        (1, 1),
        "a panic in view_error / the capture: when panics abort nothing of the invocation is recorded before the abort: {view_error_taken:?} {capture_taken:?}"
    );
}
