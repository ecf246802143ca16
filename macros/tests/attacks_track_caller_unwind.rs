//! What the subsegment of an in-place (`#[track_caller]`) function records when its
//! body panics, against the same function without `#[track_caller]` (closure path); and
//! where a by-value parameter is dropped.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented]
#[track_caller]
fn panics_in_place(n: u8) -> u8 {
    assert!(n > 100, "in place {n}");
    n
}

#[instrumented]
fn panics_in_closure(n: u8) -> u8 {
    assert!(n > 100, "in closure {n}");
    n
}

#[derive(Debug)]
struct LogOnDrop(u8);
impl Drop for LogOnDrop {
    fn drop(&mut self) {
        tracing::info!(which = self.0, "param dropped");
    }
}

#[instrumented(skip(p))]
#[track_caller]
fn param_in_place(tag: u8, p: LogOnDrop) -> u8 {
    tag + p.0
}

#[instrumented(skip(p))]
fn param_in_closure(tag: u8, p: LogOnDrop) -> u8 {
    tag + p.0
}

#[instrumented]
async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let a = std::panic::catch_unwind(|| panics_in_place(1)).is_err();
    let b = std::panic::catch_unwind(|| panics_in_closure(1)).is_err();
    let _ = param_in_place(1, LogOnDrop(1));
    let _ = param_in_closure(2, LogOnDrop(2));
    Ok(json!([a, b]))
}

#[test]
fn unwinding_subsegment_matches_the_closure_path() {
    let (out, cap) = run(handler(event(json!(1))));
    assert_eq!(out.unwrap(), json!([true, true]));
    let subs = cap.segments[0]["subsegments"].as_array().cloned().unwrap_or_default();
    let get = |name: &str| subs.iter().find(|s| s["name"] == name).cloned().unwrap_or_default();
    let (inp, clo) = (get("panics_in_place"), get("panics_in_closure"));
    eprintln!("in place:   {inp}\nin closure: {clo}");
    // Both a fault with the panic as cause (the message is reachable on the closure path
    // only: an in-place body unwinds through a guard's drop).
    let strip = |mut v: Value| {
        for k in ["id", "name", "start_time", "end_time", "cause"] {
            v.as_object_mut().map(|o| o.remove(k));
        }
        v
    };
    for s in [&inp, &clo] {
        assert_eq!(s["fault"], true, "{s}");
        assert_eq!(s["cause"]["exceptions"][0]["type"], "panic", "{s}");
    }
    assert_eq!(strip(inp), strip(clo), "the panic is recorded the same way in place and in a closure");
}

/// Documented difference (docs of the attribute, "Limitations"): a `#[track_caller]`
/// body runs in place, so a parameter taken by value is dropped after the span is exited,
/// as with `#[tracing::instrument]`; the closure path drops it inside.
#[test]
fn by_value_parameter_drops_after_the_span_in_place_and_inside_it_in_a_closure() {
    let (_out, cap) = run(handler(event(json!(1))));
    let lines = cap.with_message("param dropped");
    for l in &lines {
        eprintln!("{l}");
    }
    let inp = lines.iter().find(|l| l["which"] == 1).expect("in place drop line");
    let clo = lines.iter().find(|l| l["which"] == 2).expect("closure drop line");
    assert_eq!(clo["tag"], 2, "closure path: the parameter drops inside the span");
    assert!(inp.get("tag").is_none(), "in place: the parameter drops after the span: {inp}");
}
