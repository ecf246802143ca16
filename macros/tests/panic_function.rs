//! A panic unwinding through an instrumented function marks that function's subsegment.
//!
//! recording an exception sets `fault`; the handler's panic path marks its own
//! subsegment `fault` with the panic as `cause` (issue step 4). The panic started in the
//! nested instrumented function, whose subsegment carried no flag and no cause (X-Ray
//! showed the function that panicked as healthy and its caller as the fault). The same
//! function returning `Err` is marked `fault` (function.rs).

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented]
fn inner_panics(n: u8) -> u8 {
    assert!(n < 10, "inner boom");
    n
}

#[instrumented]
async fn inner_panics_async(n: u8) -> u8 {
    assert!(n < 10, "inner async boom");
    n
}

#[instrumented(name = "Outer")]
async fn outer(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let n = event.payload.as_u64().unwrap_or(0) as u8;
    if event.payload == json!(50) {
        return Ok(json!(inner_panics_async(n).await));
    }
    Ok(json!(inner_panics(n)))
}

fn check(payload: u64, function: &str) {
    let (out, cap) = run(catch(outer(event(json!(payload)))));
    assert!(out.is_err(), "the panic resumes");
    let handler = cap.segments.iter().find(|s| s["name"] == "Outer").expect("handler subsegment");
    assert_eq!(handler["fault"], true, "{handler:#}");
    let inner = handler["subsegments"]
        .as_array()
        .and_then(|subs| subs.iter().find(|s| s["name"] == function))
        .unwrap_or_else(|| panic!("no {function} subsegment: {handler:#}"));
    assert_eq!(inner["fault"], true, "the subsegment the panic unwound through is not marked: {inner:#}");
    assert!(inner.get("cause").is_some(), "no cause on {function}: {inner:#}");
}

#[test]
fn a_panic_through_an_instrumented_sync_function_marks_its_subsegment() {
    check(11, "inner_panics");
}

#[test]
fn a_panic_through_an_instrumented_async_function_marks_its_subsegment() {
    check(50, "inner_panics_async");
}
