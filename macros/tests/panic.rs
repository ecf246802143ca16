//! A panicking handler: the ERROR line is written, then the panic resumes (the runtime
//! reports it).

mod common;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented(name = "HandleMessage")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tracing::info!("before the panic");
    if event.payload["boom"] == true {
        panic!("the handler blew up");
    }
    Ok(event.payload)
}

#[instrumented]
fn helper(n: u8) -> u8 {
    assert!(n < 10, "n too large: {n}");
    n
}

#[test]
fn panic_is_logged_then_resumed() {
    let (out, cap) = run(async { catch(handler(event(json!({"boom": true})))).await });
    let payload = out.expect_err("the panic resumes");
    assert_eq!(payload.downcast_ref::<&str>().copied(), Some("the handler blew up"));
    let line = cap.line("handler panicked");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["handler"], "HandleMessage");
    assert_eq!(line["error.message"], "the handler blew up");
    assert_eq!(line["function_request_id"], "req-1");
    let messages: Vec<_> = cap.lines.iter().map(|l| l["message"].clone()).collect();
    assert_eq!(messages, [json!("before the panic"), json!("handler panicked")]);
}

#[test]
fn a_panicking_function_unwinds_through_its_scope() {
    let result = std::panic::catch_unwind(|| run_sync(|| helper(11)));
    assert!(result.is_err());
    let (n, _) = run_sync(|| helper(3));
    assert_eq!(n, 3);
}
