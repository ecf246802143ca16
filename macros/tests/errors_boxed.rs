//! A handler returning any boxed error `lambda_runtime` accepts (`Box<dyn Error>`, `+ Send`,
//! `+ Sync`, `+ Send + Sync`) gets its ERROR line with the boxed error's message and
//! `source()` chain, as a concrete error type does; `Box<dyn Error>` used to fall back to
//! its `Debug` text with no sources.

mod common;

use common::*;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("saving the connection failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn outer() -> Outer {
    Outer(std::io::Error::other("disk full"))
}

#[instrumented]
async fn boxed_plain(_event: LambdaEvent<Value>) -> Result<u8, Box<dyn std::error::Error>> {
    Err(Box::new(outer()))
}

#[instrumented]
async fn boxed_send(_event: LambdaEvent<Value>) -> Result<u8, Box<dyn std::error::Error + Send>> {
    Err(Box::new(outer()))
}

#[instrumented]
async fn boxed_sync(_event: LambdaEvent<Value>) -> Result<u8, Box<dyn std::error::Error + Sync>> {
    Err(Box::new(outer()))
}

#[instrumented]
async fn boxed_send_sync(_event: LambdaEvent<Value>) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(outer()))
}

fn check(message: String, cap: &Captured) {
    assert_eq!(message, "saving the connection failed");
    let line = cap.line("handler returned an error");
    assert_eq!(line["error.message"], "saving the connection failed", "{line}");
    assert_eq!(line["error.sources"], json!(["disk full"]), "{line}");
}

#[test]
fn every_boxed_error_keeps_its_message_and_sources() {
    let (out, cap) = run(boxed_plain(event(json!({}))));
    check(out.unwrap_err().to_string(), &cap);
    let (out, cap) = run(boxed_send(event(json!({}))));
    check(out.unwrap_err().to_string(), &cap);
    let (out, cap) = run(boxed_sync(event(json!({}))));
    check(out.unwrap_err().to_string(), &cap);
    let (out, cap) = run(boxed_send_sync(event(json!({}))));
    check(out.unwrap_err().to_string(), &cap);
}
