//! AWS credentials and private keys in log text: the value after a `SecretAccessKey`
//! (STS's JSON, `"secretAccessKey"`, `secret_access_key:` in `Debug` output) or a
//! `private_key` name is redacted as after `password` (a probe found them left in the
//! line: the names end in `key`, not in one of the secret parameter names).

mod common;

use common::*;

const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

fn message_of(text: &str) -> String {
    let (raw, line) = one_line(|| tracing::info!("{text}"));
    assert!(!raw.contains(SECRET), "the secret reached the line for {text:?}:\n{raw}");
    line["message"].as_str().unwrap().to_owned()
}

#[test]
fn sts_credentials_json_is_redacted() {
    let text = format!(
        "{{\"Credentials\":{{\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"{SECRET}\",\"SessionToken\":\"{SECRET}\"}}}}"
    );
    let m = message_of(&text);
    assert!(m.contains("\"SecretAccessKey\":\"[REDACTED]\""), "{m}");
    assert!(m.contains("\"AccessKeyId\":\"ASIAEXAMPLE\""), "the key id is not a secret: {m}");
}

#[test]
fn credential_and_private_key_names_in_any_case_are_redacted() {
    for text in [
        format!("{{\"secretAccessKey\": \"{SECRET}\"}}"),
        format!("Credentials {{ access_key_id: \"AKIA\", secret_access_key: \"{SECRET}\" }}"),
        format!("aws-secret-access-key: \"{SECRET}\""),
        format!("{{\"type\": \"service_account\", \"private_key\": \"{SECRET}\"}}"),
        format!("Signer {{ private_key: Some(\"{SECRET}\") }}"),
        format!("{{\"privateKey\":\"{SECRET}\"}}"),
    ] {
        let m = message_of(&text);
        assert!(m.contains("[REDACTED]"), "{m}");
    }
}

#[test]
fn prose_about_keys_is_left_alone() {
    let (_, line) = one_line(|| tracing::info!("rotated the private key: done, secret access key: rotated"));
    assert_eq!(line["message"], "rotated the private key: done, secret access key: rotated");
}
