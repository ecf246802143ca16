//! Credentials behind percent- or form-encoded separators (a logged URL, query string or
//! form body): `Bearer%20TOKEN`, `Bearer+TOKEN`, `Authorization%3A%20…`, `password%3D…`
//! are redacted as their plain forms are, in the message, string and `Debug` fields, X-Ray
//! annotations and exception messages; text that only looks alike (`50% done`, `C++`,
//! `+00:00`, a `%3A` after an ordinary name) is kept. Every line parses as one JSON object.

mod common;

use serde_json::Value;
use streamer_obs::testing::CapturingEmitter;

const TOKEN: &str = "abcdef1234567890XYZ";

/// One INFO event with `text` as the message, a string field and a `Debug` field; the
/// parsed line.
fn logged(text: &str) -> Value {
    common::one_line(|| tracing::info!(detail = text, debug = ?text, "{}", text)).1
}

#[test]
fn encoded_separators_before_a_credential_are_redacted() {
    let cases = [
        (format!("calling with Bearer%20{TOKEN}"), "calling with Bearer%20[REDACTED]"),
        (format!("calling with bearer%20{TOKEN} now"), "calling with bearer%20[REDACTED] now"),
        (format!("form body Bearer+{TOKEN}&x=1"), "form body Bearer+[REDACTED]&x=1"),
        (format!("basic%20{TOKEN}"), "basic%20[REDACTED]"),
        (format!("header Authorization%3A%20Bearer%20{TOKEN}"), "header Authorization%3A%20[REDACTED]"),
        (format!("header authorization%3a%20Bearer%20{TOKEN}&next=1"), "header authorization%3a%20[REDACTED]&next=1"),
        (format!("x-api-key%3A{TOKEN}"), "x-api-key%3A[REDACTED]"),
        (format!("q=password%3D{TOKEN}&user=bob"), "q=password%3D[REDACTED]&user=bob"),
        (format!("access_token%3d{TOKEN}"), "access_token%3d[REDACTED]"),
        (format!("auth=Bearer%20{TOKEN}"), "auth=Bearer%20[REDACTED]"),
    ];
    for (text, expected) in cases {
        let line = logged(&text);
        assert_eq!(line["message"], expected, "{text}");
        assert_eq!(line["detail"], expected, "{text}");
        let debug = line["debug"].as_str().unwrap();
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(!line.to_string().contains(TOKEN), "{line}");
    }
}

#[test]
fn text_that_only_looks_encoded_is_kept() {
    for text in [
        "50% done",
        "100%20 is not a separator here",
        "C++ rocks, 2+2=4",
        "at 2026-11-27T10:00:00+00:00",
        "time%3A12 and size%3D4",
        "the Bearer+token scheme",
        "Bearer%20token expired",
        "a%3Ab and a%3Db",
    ] {
        let line = logged(text);
        assert_eq!(line["message"], text);
        assert_eq!(line["detail"], text);
    }
}

#[test]
fn xray_annotations_and_exception_messages_are_redacted_alike() {
    use std::sync::Arc;
    use streamer_obs::xray::recorder::Recorder;
    let capture = CapturingEmitter::new();
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    {
        let g = rec.subsegment("Call");
        g.annotate("url", format!("https://api/x?h=Authorization%3A%20Bearer%20{TOKEN}").as_str()).unwrap();
        let err = std::io::Error::other(format!("refused Bearer%20{TOKEN}"));
        g.record_error(&err, streamer_obs::xray::cause::ErrorKind::Fault);
    }
    assert!(rec.flush_now().is_some());
    let raw = capture.raw().concat();
    assert!(!raw.contains(TOKEN), "{raw}");
    let doc = &capture.documents()[0];
    assert_eq!(doc["annotations"]["url"], "https://api/x?h=Authorization%3A%20[REDACTED]");
    assert_eq!(doc["cause"]["exceptions"][0]["message"], "refused Bearer%20[REDACTED]");
}
