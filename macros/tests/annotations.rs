//! `annotations(...)` and `metadata(...)`: evaluated from the arguments, once, before
//! the body runs (and before it moves the arguments). Their effect on the handler
//! subsegment is tested with the X-Ray layer; here: evaluation and every value type.

mod common;

use std::cell::RefCell;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::{Value, json};
use streamer_obs::instrumented;

thread_local! {
    static ORDER: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn note<T>(what: &str, value: T) -> T {
    ORDER.with(|o| o.borrow_mut().push(what.to_owned()));
    value
}

fn order() -> Vec<String> {
    ORDER.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

#[derive(Debug, Serialize)]
struct Payload {
    connection_id: String,
    size: u64,
}

#[instrumented(
    annotations(connection_id = note("annotation", event.payload.connection_id.as_str())),
    metadata(payload = note("metadata", &event.payload))
)]
async fn handler(event: LambdaEvent<Payload>) -> Result<u64, Error> {
    note("body", ());
    // The body still owns the event: the annotations only borrowed it.
    let LambdaEvent { payload, .. } = event;
    Ok(payload.size)
}

#[instrumented(annotations(n = note("annotation", n)), metadata(label = note("metadata", label.clone())))]
fn function(n: u8, label: String) -> String {
    note("body", ());
    format!("{label}{n}")
}

#[instrumented(
    annotations(
        s = "literal",
        owned = name.clone(),
        borrowed = &name,
        small = 1u8,
        signed = -5i64,
        big = u64::MAX,
        index = 3usize,
        ratio = 0.5f64,
        flag = true,
    ),
    metadata(nested = json!({"a": [1, 2]}), "with space" = name, number = 1)
)]
async fn every_value_type(name: String) -> Value {
    json!(name)
}

#[test]
fn handler_values_are_evaluated_once_before_the_body() {
    order();
    let (out, _) = run(handler(event(Payload { connection_id: "c-1".into(), size: 7 })));
    assert_eq!(out.unwrap(), 7);
    assert_eq!(order(), ["annotation", "metadata", "body"]);
}

#[test]
fn function_values_are_evaluated_once_before_the_body() {
    order();
    let (out, _) = run_sync(|| function(2, "x".into()));
    assert_eq!(out, "x2");
    assert_eq!(order(), ["annotation", "metadata", "body"]);
}

#[test]
fn every_annotation_value_type_converts() {
    let (out, _) = run(every_value_type("n".into()));
    assert_eq!(out, json!("n"));
}
