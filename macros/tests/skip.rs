//! `skip(...)` and `skip_all`: parameters not recorded as span fields.

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[derive(Debug)]
struct Secretive {
    password: String,
}

#[instrumented(skip(credentials))]
async fn handler(event: LambdaEvent<Value>, tenant: &str, credentials: Secretive) -> Result<(), Error> {
    let _ = (event, credentials.password);
    tracing::info!("inside");
    Ok(())
}

#[instrumented(skip_all, fields(kept = "yes"))]
fn everything(a: u8, b: &str) -> usize {
    tracing::info!("inside");
    usize::from(a) + b.len()
}

struct NotDebug;

impl NotDebug {
    // `self` is recorded with `Debug` unless skipped: `NotDebug` has none.
    #[instrumented(skip(self))]
    fn get(&self, id: u64) -> u64 {
        tracing::info!("inside");
        id
    }
}

#[instrumented(skip(event))]
async fn skipping_the_event_is_allowed(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn skipped_parameters_are_not_fields() {
    let secret = Secretive { password: "hunter2".into() };
    let (out, cap) = run(handler(event(json!({})), "tenant-a", secret));
    out.unwrap();
    let line = cap.line("inside");
    assert_eq!(line["tenant"], "tenant-a");
    assert!(line.get("credentials").is_none(), "{line}");
    assert!(!line.to_string().contains("hunter2"));
}

#[test]
fn skip_all_records_no_parameter() {
    let (n, cap) = run_sync(|| everything(1, "ab"));
    assert_eq!(n, 3);
    let line = cap.line("inside");
    assert_eq!(line["kept"], "yes");
    assert!(line.get("a").is_none() && line.get("b").is_none(), "{line}");
}

#[test]
fn skip_self() {
    let (n, cap) = run_sync(|| NotDebug.get(9));
    assert_eq!(n, 9);
    assert_eq!(cap.line("inside")["id"], 9);
    let (out, _) = run(skipping_the_event_is_allowed(event(json!(5))));
    assert_eq!(out.unwrap(), 5);
}
