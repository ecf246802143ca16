//! A handler future polled inside another handler's body (both `panic_aborts`),
//! the inner one panics. When panics abort, both invocations must be recorded before the
//! abort (the outer handler's subsegment never ends otherwise).
mod abort_harness;
mod common;

use abort_harness::*;
use common::*;
use streamer_obs::handler::ErrorView;

#[test]
fn a_panic_in_a_nested_handler_records_both_before_the_abort() {
    let snaps = snapshot_hook();
    let h = captured(config(&[]));
    snaps.watch(&h);
    let inner = scope(&h, "HandleInner", "r-inner", true);
    let out = run_handler(
        &h,
        "HandleOuter",
        true,
        async move {
            inner
                .run(
                    async {
                        if true {
                            panic!("inner panicked");
                        }
                        Ok::<u8, std::io::Error>(1)
                    },
                    ErrorView::from_error,
                    |_| None,
                )
                .await
        },
        ErrorView::from_error,
        |_| None,
    );
    assert!(out.is_err());
    // With unwinding both are recorded in the end (the inner by the hook, the outer by its
    // lifecycle).
    let mut names: Vec<String> = h.xray.documents().iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    assert_eq!(names, ["HandleInner", "HandleOuter"]);
    assert_valid_docs(&h);
    // When it runs the hook chained to is the last code before an abort.
    let taken = snaps.taken();
    assert_eq!(taken.len(), 1, "{taken:?}");
    let mut at_abort = taken[0].names.clone();
    at_abort.sort();
    assert_eq!(
        at_abort,
        ["HandleInner fault", "HandleOuter fault"],
        "the outer handler is lost when panics abort: {taken:?}"
    );
}
