//! A second, different error recorded on the same subsegment is kept when its `Display`
//! text equals an error recorded there before (a review found it dropped).
//!
//! `RecordedErrors::cause_for` recognises "the same error again" by a fingerprint; it
//! was made of the messages of the `source()` chain only (now also each error's type and
//! `remote`). Two unrelated failures with the same text ("timed out" from the database and from
//! an HTTP call; "not found" for two different resources) recorded on one subsegment give
//! one exception: the second error's exception (its `type`, its `remote` flag) never
//! reaches the document, with no note and no log line, while its flags are still merged
//! (the document says `error` and `fault` but shows only the `fault`'s exception).
//!
//! Rules: X-17/X-18 (aws-rules.md §2.3: the `cause` holds the recorded exceptions, each
//! with its `type` and `remote`) and the project's policy "never silently lost data".
//! docs/tracing.md promises only that recording *the same error* again adds nothing.
//!
//! Expected: two exceptions, one per distinct error (types `DbTimeout` and `HttpTimeout`;
//! a remote and a local one). Observed: one.

mod common;

use std::sync::Arc;

use serde_json::Value;
use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
use streamer_obs::xray::recorder::Recorder;

#[derive(Debug)]
struct DbTimeout;
impl std::fmt::Display for DbTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}
impl std::error::Error for DbTimeout {}

#[derive(Debug)]
struct HttpTimeout;
impl std::fmt::Display for HttpTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}
impl std::error::Error for HttpTimeout {}

fn recorded(body: impl FnOnce(&Arc<Recorder>)) -> Value {
    let (rec, cap) = common::recorder();
    body(&rec);
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(rec.flush());
    let docs = cap.documents();
    assert_eq!(docs.len(), 1);
    docs[0].clone()
}

#[test]
fn two_different_errors_with_the_same_message_are_both_recorded() {
    let doc = recorded(|rec| {
        let handler = rec.subsegment("Handler");
        handler.record_error(&DbTimeout, ErrorKind::Fault);
        handler.record_error(&HttpTimeout, ErrorKind::Error);
    });
    assert_eq!((doc["fault"].clone(), doc["error"].clone()), (Value::Bool(true), Value::Bool(true)));
    let types: Vec<&str> =
        doc["cause"]["exceptions"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 2, "the HttpTimeout exception was dropped silently: {types:?} in {doc}");
    assert!(types.iter().any(|t| t.ends_with("HttpTimeout")), "{types:?}");
}

#[test]
fn a_remote_error_after_a_local_one_with_the_same_text_is_recorded() {
    let doc = recorded(|rec| {
        let handler = rec.subsegment("Handler");
        handler.record_error_with(&DbTimeout, &ErrorDetails::new(ErrorKind::Fault).type_name("LocalTimeout"));
        handler.record_error_with(
            &HttpTimeout,
            &ErrorDetails::new(ErrorKind::Fault).remote(true).type_name("DownstreamTimeout"),
        );
    });
    let exceptions = doc["cause"]["exceptions"].as_array().unwrap();
    assert!(
        exceptions.iter().any(|e| e["remote"] == true && e["type"] == "DownstreamTimeout"),
        "the remote DownstreamTimeout exception was dropped silently: {doc}"
    );
}
