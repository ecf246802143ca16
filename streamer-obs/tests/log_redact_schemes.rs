//! A pair whose value is an authorization scheme and its credential
//! (`authorization=Bearer TOKEN`, `auth = Basic …`), and the headers that carry a token
//! under a name ending in `-Token` (`X-Amz-Security-Token: …`, `X-Auth-Token: …`): the
//! credential is redacted with the scheme, in the message and in string fields, whichever
//! pass (the configured keys' pairs or the credential scan) finds the pair first. Text that
//! only looks alike keeps its words. Every line parses as one JSON object.

mod common;

use serde_json::Value;

const TOKEN: &str = "abcdef1234567890XYZ";

/// One INFO event with `text` as the message and as a string field; the parsed line.
fn logged(text: &str) -> Value {
    common::one_line(|| tracing::info!(detail = text, "{}", text)).1
}

#[test]
fn a_scheme_as_a_pair_value_takes_its_credential_along() {
    let cases = [
        (format!("authorization=Bearer {TOKEN}"), "authorization=[REDACTED]".to_owned()),
        (format!("authorization = Bearer {TOKEN}"), "authorization = [REDACTED]".to_owned()),
        (format!("Authorization=basic\t{TOKEN} next"), "Authorization=[REDACTED] next".to_owned()),
        (format!("password=token {TOKEN}"), "password=[REDACTED]".to_owned()),
        (format!("q?authorization=Bearer+{TOKEN}&x=1"), "q?authorization=[REDACTED]&x=1".to_owned()),
        (format!("authorization=Basic%20{TOKEN}&x=1"), "authorization=[REDACTED]&x=1".to_owned()),
        (format!("auth = Bearer {TOKEN}"), "auth = Bearer [REDACTED]".to_owned()),
    ];
    for (text, expected) in cases {
        let line = logged(&text);
        assert_eq!(line["message"], expected.as_str(), "{text}");
        assert_eq!(line["detail"], expected.as_str(), "{text}");
        assert!(!line.to_string().contains(TOKEN), "{line}");
    }
}

#[test]
fn token_headers_are_redacted_as_headers() {
    for name in ["X-Amz-Security-Token", "x-amz-security-token", "X-Auth-Token", "aws_session_token", "X-Access-Token"]
    {
        let text = format!("{name}: {TOKEN}");
        let line = logged(&text);
        let expected = format!("{name}: [REDACTED]");
        assert_eq!(line["message"], expected.as_str(), "{text}");
        assert_eq!(line["detail"], expected.as_str(), "{text}");
        assert!(!line.to_string().contains(TOKEN), "{line}");
    }
}

#[test]
fn text_that_only_looks_alike_is_kept() {
    for text in ["my token: is fine", "auth=bearer", "the Bearer scheme", "token=", "refresh token: expired soon"] {
        let line = logged(text);
        assert_eq!(line["message"], text);
        assert_eq!(line["detail"], text);
    }
}
