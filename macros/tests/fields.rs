//! `fields(...)` and the recorded parameters: span fields, flattened into every line
//! logged inside the function.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[derive(Debug)]
struct Route {
    key: &'static str,
}

#[instrumented(fields(route = "$connect", http.method = %method, debugged = ?Route { key: "k" }))]
async fn handler(event: LambdaEvent<Value>, method: &str, attempt: u32) -> Result<(), Error> {
    let _ = event;
    tracing::info!("inside");
    Ok(())
}

#[instrumented]
fn params(count: u64, ratio: f64, flag: bool, label: String, text: &str, route: Route) -> usize {
    tracing::info!("inside");
    label.len() + text.len() + route.key.len() + count as usize + usize::from(flag) + ratio as usize
}

#[instrumented(fields(count = count * 10))]
fn overridden(count: u64) -> u64 {
    tracing::info!("inside");
    count
}

#[instrumented(fields(level_one = 1))]
async fn outer(n: u8) -> u8 {
    inner(n).await
}

#[instrumented(fields(level_two = 2))]
async fn inner(n: u8) -> u8 {
    tracing::info!("innermost");
    n
}

#[test]
fn custom_fields_and_params_are_on_every_line() {
    let (out, cap) = run(handler(event(json!({"x": 1})), "GET", 3));
    out.unwrap();
    let line = cap.line("inside");
    assert_eq!(line["route"], "$connect");
    assert_eq!(line["http.method"], "GET");
    assert_eq!(line["debugged"], "Route { key: \"k\" }");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["attempt"], 3);
    assert!(line.get("event").is_none(), "the LambdaEvent is never a field: {line}");
    assert!(line.get("payload").is_none(), "{line}");
}

#[test]
fn primitives_and_strings_are_values_the_rest_debug() {
    let (n, cap) = run_sync(|| params(2, 1.5, true, "ab".to_owned(), "cd", Route { key: "k" }));
    assert_eq!(n, 9);
    let line = cap.line("inside");
    assert_eq!(line["count"], 2);
    assert_eq!(line["ratio"], 1.5);
    assert_eq!(line["flag"], true);
    assert_eq!(line["label"], "ab");
    assert_eq!(line["text"], "cd");
    assert_eq!(line["route"], "Route { key: \"k\" }");
}

#[test]
fn a_custom_field_replaces_the_parameter_of_the_same_name() {
    let (n, cap) = run_sync(|| overridden(4));
    assert_eq!(n, 4);
    assert_eq!(cap.line("inside")["count"], 40);
}

#[test]
fn nested_functions_flatten_outer_fields() {
    let (n, cap) = run(outer(7));
    assert_eq!(n, 7);
    let line = cap.line("innermost");
    assert_eq!((line["level_one"].clone(), line["level_two"].clone()), (json!(1), json!(2)));
    assert_eq!(line["n"], 7);
    assert_eq!(cap.spans.spans()[1], SpanRecord { name: "inner".into(), parent: Some("outer".into()) });
}
