//! The scrubber's plural names, single quotes, blanks before `:` and lists/maps in
//! wrappers against the README's redaction list: what must be redacted is (compact forms
//! included), and what must stay does (counts named in the plural, prose).

mod common;

use common::*;

fn message(text: &str) -> String {
    let text = text.to_owned();
    let (_raw, v) = one_line(move || tracing::info!("{}", text));
    v["message"].as_str().unwrap().to_owned()
}

/// README: plural names (`tokens`, `cookies`, ...) count for "a list of quoted values or a
/// map after a secret header or parameter name"; for a quoted name only "the quoted value"
/// after it is replaced. (`max_tokens=1024` is redacted by the documented `name=value`
/// rule of the redactor's keys, `token` being one: not tested here.) An LLM usage record (`max_tokens`, `input_tokens`, `output_tokens`) holds
/// no secret and no list: it must stay as it is.
#[test]
fn token_counts_named_in_plural_are_not_redacted() {
    let mut bad = Vec::new();
    for text in [
        r#"usage {"input_tokens": 12, "output_tokens": 34, "model": "m1"}"#,
        r#"request {"max_tokens" : 1024, "temperature": 0.2}"#,
        "{'model': 'm1', 'completion_tokens': 40, 'region': 'eu'}",
    ] {
        let got = message(text);
        if got != text {
            bad.push(format!("{text}\n   -> {got}"));
        }
    }
    assert!(bad.is_empty(), "no secret here, yet changed:\n{}", bad.join("\n"));
}

/// README: "a bracket inside a value does not end it" and single-quoted values "are read
/// as the double-quoted forms are". A `]` inside a single-quoted element of a secret
/// list (Python's `repr`) closes the redaction early: the rest of the list is written.
#[test]
fn a_bracket_inside_a_single_quoted_list_element_does_not_leak_the_rest() {
    let mut bad = Vec::new();
    for text in [
        "{'passwords': ['p]w', 'hunter2-S3cr3t'], 'user': 'bob'}",
        "{'Cookie': ['a]b', 'sid=S3cr3t-opaque']}",
        "{\"tokens\": ['x]', 'S3cr3t-opaque']}",
    ] {
        let got = message(text);
        if got.contains("S3cr3t") {
            bad.push(format!("{text}\n   -> {got}"));
        }
    }
    assert!(bad.is_empty(), "leaked:\n{}", bad.join("\n"));
}

/// The same with double quotes works (baseline: the double-quoted form is handled).
#[test]
fn baseline_double_quoted_bracket_inside_list_element() {
    let got = message("{\"passwords\": [\"p]w\", \"hunter2-S3cr3t\"], \"user\": \"bob\"}");
    assert!(!got.contains("S3cr3t"), "{got}");
    assert!(got.contains("\"user\": \"bob\""), "{got}");
}

/// A `{` inside a single-quoted element counts as nesting: the redaction then runs past
/// the list's `]` over the following non-secret members (README: a bracket inside a value
/// does not end it, nor should it open one).
#[test]
fn a_brace_inside_a_single_quoted_element_does_not_swallow_the_rest() {
    let got = message("{'cookies': ['a{b'], 'user': 'bob', 'route': '/v1'}");
    assert!(got.contains("'user': 'bob'"), "{got}");
}

/// Ordinary words ending in `s` before a `:` and a list (README: only secret names).
#[test]
fn ordinary_lists_and_python_dicts_stay() {
    for text in [
        "status: [\"ok\"]",
        "items: [\"a\", \"b\"]",
        "{'status' : 'ok', 'items': ['a', 'b']}",
        "{\"status\" : \"ok\", \"names\" : [\"x\"]}",
        "checks: Some([\"a\"]) results: Array [String(\"b\")]",
    ] {
        assert_eq!(message(text), text);
    }
}

/// README: single-quoted values "are read as the double-quoted forms are"; a double-quoted
/// value runs past its backslash escapes (`"p\"ss"`). Python's `repr` of a string holding
/// both quote characters single-quotes it and escapes the `'` (`'p\'ss"w0rd'`): the
/// value must run to the unescaped closing quote, not stop at the escaped one.
#[test]
fn an_escaped_single_quote_does_not_end_a_single_quoted_value() {
    let mut bad = Vec::new();
    for text in [r#"{'password': 'p\'ss"S3cr3t-w0rd', 'user': 'bob'}"#, r#"{'Cookie': 'sid=a\'b"S3cr3t-opaque'}"#] {
        let got = message(text);
        if got.contains("S3cr3t") {
            bad.push(format!("{text}\n   -> {got}"));
        }
    }
    // Baseline, double quotes: the escaped quote does not end the value.
    let got = message(r#"{"password": "p\"ss'S3cr3t-w0rd", "user": "bob"}"#);
    assert!(!got.contains("S3cr3t"), "baseline: {got}");
    assert!(bad.is_empty(), "leaked:\n{}", bad.join("\n"));
}

/// The new readings (a blank before `:`, README: "`"password" : "…"`, pretty-printed
/// JSON"; single-quoted names, README: "`{'Cookie': '…'}`, Python's `repr`") also apply
/// to ordinary prose: a validation message quoting a field name, or French typography's
/// blank before a colon, loses the rest of its line, though no value is quoted and the
/// README names neither form. (Before 3ef4616 both lines were written as given.)
#[test]
fn prose_with_a_quoted_field_name_or_a_blank_before_a_colon_stays() {
    let mut bad = Vec::new();
    for text in [
        "Invalid field 'password': must be at least 12 characters",
        "validation failed for 'api_token': required, user=bob",
        "Erreur de cookie : session expirée, user=bob",
    ] {
        let got = message(text);
        if got != text {
            bad.push(format!("{text}\n   -> {got}"));
        }
    }
    assert!(bad.is_empty(), "changed:\n{}", bad.join("\n"));
}

/// The same secrets without blanks (compact text, 8 bytes or more): the word-at-a-time
/// fast path (`fast_class_eq` / `colon_pairs`, json.rs) sends text with a `:` but no space
/// or `=` to the search only when the `:` follows `n`, `e`, `l`, `y` or a `/`; "a `:` after
/// a quote only appears in text that has to be escaped" holds for `"` but not for the new
/// single quotes, nor does the list of letters hold the new `s` of the plurals. So the
/// text is copied unsearched, though the README reads single-quoted names and plural
/// names before a list as the double-quoted/singular forms (which are caught compact).
#[test]
fn compact_single_quoted_and_plural_forms_are_scrubbed_too() {
    let mut bad = Vec::new();
    for text in [
        "{'password':'S3cr3t-hunter2'}",
        "{'Authorization':'S3cr3t-opaque'}",
        "{'tokens':['S3cr3t-opaque']}",
        "tokens:['S3cr3t-opaque']",
        "cookies:['S3cr3t-opaque']",
    ] {
        let got = message(text);
        if got.contains("S3cr3t") {
            bad.push(format!("{text}\n   -> {got}"));
        }
    }
    // Baselines: the double-quoted compact form, and the spaced single-quoted form.
    for ok in ["{\"password\":\"S3cr3t-hunter2\"}", "{'password': 'S3cr3t-hunter2'}"] {
        let got = message(ok);
        assert!(!got.contains("S3cr3t"), "baseline {ok} -> {got}");
    }
    assert!(bad.is_empty(), "leaked:\n{}", bad.join("\n"));
}
