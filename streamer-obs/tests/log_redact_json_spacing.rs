//! JSON text with blanks before the `:` keeps its secrets.
//!
//! The README ("Log line format" > Redaction) promises that in any text of a line the value
//! after `…Authorization:` / `…Cookie:` and "the quoted value after a secret parameter name
//! that is quoted (`"password":"…"`, JSON text)" are replaced. JSON allows blanks around
//! the `:`, and common serialisers write them: Jackson's default pretty printer and
//! Gson/.NET indented output write `"password" : "…"`. The scrubber only looks at the
//! byte right before the `:` (`header_value_at`), so with a blank there the name is never
//! read and the value stays: a downstream service's error body or a client's request body
//! logged as text carries the password, cookie or token to CloudWatch.
//!
//! Promise: "Secrets (JWTs, Authorization headers) never reach a log line".

mod common;

use common::*;

const SECRET: &str = "opaque-S3cr3tV4lue-Zm9vYmFy";

fn assert_scrubbed(text: &str) {
    for mode in 0..3 {
        let (raw, _) = one_line(|| match mode {
            0 => tracing::info!("upstream said {text}"),
            1 => tracing::info!(body = text, "upstream"),
            _ => tracing::info!(body = ?text, "upstream"),
        });
        assert!(!raw.contains(SECRET), "secret reached the line (mode {mode}) for {text:?}:\n{raw}");
    }
}

#[test]
fn a_password_in_json_text_with_a_blank_before_the_colon_is_scrubbed() {
    assert_scrubbed(&format!("{{\"username\" : \"nina\", \"password\" : \"{SECRET}\"}}"));
}

#[test]
fn a_cookie_header_in_json_text_with_a_blank_before_the_colon_is_scrubbed() {
    assert_scrubbed(&format!("{{\"headers\" : {{\"Cookie\" : \"sid={SECRET}\"}}}}"));
}

#[test]
fn an_authorization_value_in_pretty_jackson_output_is_scrubbed() {
    // Jackson's DefaultPrettyPrinter layout.
    assert_scrubbed(&format!("{{\n  \"Authorization\" : \"{SECRET}\",\n  \"access_token\" : \"{SECRET}\"\n}}"));
}

#[derive(Debug, thiserror::Error)]
#[error("token endpoint returned 400: {body}")]
struct TokenEndpointError {
    body: String,
}

#[test]
fn an_error_message_echoing_such_json_is_scrubbed() {
    let err =
        TokenEndpointError { body: format!("{{ \"refresh_token\" : \"{SECRET}\", \"error\" : \"invalid_grant\" }}") };
    let (raw, _) = one_line(|| tracing::error!(error = &err as &dyn std::error::Error, "refresh failed"));
    assert!(!raw.contains(SECRET), "secret reached the line:\n{raw}");
}

/// The same scanner reads only a double quote before the `:`: a single-quoted name, as
/// Python's `repr` of a dict writes it (a downstream Python service's error text, a
/// `str(headers)` echoed back), is never read either. `'Authorization: …'`-style single
/// quotes around a value are handled; around the name they are not.
#[test]
fn a_single_quoted_secret_name_is_scrubbed() {
    assert_scrubbed(&format!("{{'Cookie': 'sid={SECRET}', 'Accept': '*/*'}}"));
    assert_scrubbed(&format!("{{'username': 'nina', 'password': '{SECRET}'}}"));
}
