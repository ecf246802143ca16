//! A panic inside a nested `#[instrumented]` (non-handler) function: the hook's
//! record (`panic_aborts(true)`) and the unwinding lifecycle's record of the nested
//! subsegment and the handler agree.
mod abort_harness;
mod common;

use abort_harness::*;
use common::*;
use streamer_obs::handler::ErrorView;
use streamer_obs::instrumented;

#[instrumented(name = "ValidateJWT")]
async fn validate(token: &str) {
    if token.is_empty() {
        panic!("no token to validate");
    }
}

fn run(panic_aborts: bool) -> serde_json::Value {
    let h = captured(config(&[]));
    let out = run_handler(
        &h,
        "HandleConnect",
        panic_aborts,
        async {
            validate("").await;
            Ok::<u8, std::io::Error>(1)
        },
        ErrorView::from_error,
        |_| None,
    );
    assert!(out.is_err());
    assert_valid_docs(&h);
    let docs = h.xray.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(errors(&h.log), 1, "{:?}", h.log.lines());
    assert_eq!(h.emf.lines().len(), 1);
    docs[0].clone()
}

fn strip(mut v: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        if let Some(o) = v.as_object_mut() {
            for k in ["id", "start_time", "end_time"] {
                o.remove(k);
            }
            if let Some(c) = o.get_mut("cause").and_then(|c| c.get_mut("exceptions")).and_then(|e| e.as_array_mut()) {
                for e in c {
                    e.as_object_mut().unwrap().remove("id");
                }
            }
            if let Some(subs) = o.get_mut("subsegments").and_then(|s| s.as_array_mut()) {
                subs.iter_mut().for_each(walk);
            }
        }
    }
    walk(&mut v);
    v
}

#[test]
fn a_panic_in_a_nested_instrumented_function_is_recorded_alike_by_both_paths() {
    let _snaps = snapshot_hook();
    let unwinding = strip(run(false));
    let hook = strip(run(true));
    assert_eq!(unwinding["subsegments"][0]["name"], "ValidateJWT", "{unwinding}");
    assert_eq!(hook, unwinding, "hook:\n{hook}\nlifecycle:\n{unwinding}");
}
