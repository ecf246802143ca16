//! `key=value` pairs in log text (message, string and `Debug` fields, error messages and
//! sources, span fields) whose key the configured redaction list names
//! (`STREAMER_LOG_REDACT_KEYS`, the default list too) have their value written as
//! `[REDACTED]`, as in EMF properties and logged events; other pairs are kept. The second
//! half is an adversarial review of the same rule (README, "Log line format", the
//! "Redaction:" bullet): quoted, bracketed and escaped values, every position and length,
//! large texts; every line must parse as one JSON object.

mod common;

use serde_json::Value;
use streamer_obs::testing::CapturingWriter;
use tracing::dispatcher::with_default;

const KEYS: &[(&str, &str)] = &[("STREAMER_LOG_REDACT_KEYS", "ssn,pin_code")];
const SSN: &str = "123-45-6789";

/// The raw lines and the parsed lines (each raw line must be exactly one JSON object).
fn lines(pairs: &[(&str, &str)], f: impl FnOnce()) -> (Vec<String>, Vec<Value>) {
    let config = common::config(pairs);
    let (dispatch, writer, _clock): (_, CapturingWriter, _) = common::capture(&config);
    with_default(&dispatch, f);
    let raw = writer.lines();
    let parsed: Vec<Value> = raw
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect();
    (raw, parsed)
}

/// One INFO event with `text` as the message, a string field, a `Debug` field and a span
/// field; returns the single line (raw and parsed).
fn everywhere(pairs: &[(&str, &str)], text: &str) -> (String, Value) {
    let (raw, parsed) = lines(pairs, || {
        let span = tracing::info_span!("s", spanf = text);
        let _e = span.enter();
        tracing::info!(strf = text, dbgf = ?text, "{}", text);
    });
    assert_eq!(parsed.len(), 1, "{raw:?}");
    (raw[0].clone(), parsed[0].clone())
}

/// Where `secret` reached the line written for `text` (message, string, `Debug` and span
/// field): the fields that hold it.
fn leaked_in(pairs: &[(&str, &str)], text: &str, secret: &str) -> Option<String> {
    let (raw, line) = everywhere(pairs, text);
    let fields: Vec<String> = ["message", "strf", "dbgf", "spanf"]
        .into_iter()
        .filter(|k| line[*k].as_str().is_some_and(|v| v.contains(secret)))
        .map(|k| format!("{k}={}", line[k]))
        .collect();
    (!fields.is_empty() || raw.contains(secret)).then(|| format!("input {text:?} -> {}", fields.join(" ")))
}

fn expect_hidden(pairs: &[(&str, &str)], cases: &[(&str, &str)]) {
    let problems: Vec<String> = cases.iter().filter_map(|(text, secret)| leaked_in(pairs, text, secret)).collect();
    assert!(problems.is_empty(), "{} leak(s):\n{}", problems.len(), problems.join("\n"));
}

// ---- false negatives: the value of a `name=value` pair whose name contains a key ----

/// A quoted value (`ssn="…"`, `ssn='…'`): the value is the quoted text. Also the default
/// key `session_id`, and the fixed secret parameters `password`/`client_secret` (README:
/// "the quoted value after a secret parameter name that is ... followed by a quoted value").
#[test]
fn a_quoted_value_is_redacted() {
    expect_hidden(
        KEYS,
        &[
            ("ssn=\"123-45-6789\"", SSN),
            ("lookup ssn='123-45-6789' done", SSN),
            ("session_id=\"sess-abcdef\"", "sess-abcdef"),
            ("login password=\"hunter2hunter2\" ok", "hunter2hunter2"),
            ("client_secret='s3cr3t-v4lue'", "s3cr3t-v4lue"),
        ],
    );
}

/// A value in brackets, braces, angle brackets or backticks.
#[test]
fn a_bracketed_value_is_redacted() {
    expect_hidden(
        KEYS,
        &[
            ("ssn=[123-45-6789]", SSN),
            ("ssn=(123-45-6789)", SSN),
            ("ssn={123-45-6789}", SSN),
            ("ssn=<123-45-6789>", SSN),
            ("ssn=`123-45-6789`", SSN),
        ],
    );
}

/// Spaces around the `=` (`ssn = …`): not listed under "Not recognised".
#[test]
fn a_pair_with_spaces_around_the_equals_sign_is_redacted() {
    expect_hidden(KEYS, &[("ssn = 123-45-6789", SSN), ("ssn =123-45-6789", SSN), ("ssn= 123-45-6789", SSN)]);
}

/// A quoted name (`"ssn"=…`, `"ssn"="…"`).
#[test]
fn a_pair_with_a_quoted_name_is_redacted() {
    expect_hidden(KEYS, &[("\"ssn\"=123-45-6789", SSN), ("\"ssn\"=\"123-45-6789\"", SSN)]);
}

/// A `Debug` field whose value starts with a character `Debug` escapes (NUL, DEL; not a
/// tab, which is whitespace and ends the value as documented):
/// the message and the string field are redacted, the `Debug` field is not.
#[test]
fn a_debug_escape_at_the_start_of_the_value_does_not_hide_it() {
    expect_hidden(KEYS, &[("ssn=\u{7f}123-45-6789", SSN), ("ssn=\u{0}123-45-6789", SSN)]);
}

// ---- as documented ----

#[test]
fn documented_cases_behave_as_documented() {
    let cases = [
        ("ssn=123-45-6789", "ssn=[REDACTED]"),
        ("ssn=1&ssn=123-45-6789&ssn=2", "ssn=[REDACTED]&ssn=[REDACTED]&ssn=[REDACTED]"),
        ("ssn=123-45-6789 ssn=123-45-6789", "ssn=[REDACTED] ssn=[REDACTED]"),
        ("a=1 ssn=123-45-6789", "a=1 ssn=[REDACTED]"),
        ("é ssn=123-45-6789 é", "é ssn=[REDACTED] é"),
        ("日本ssn=123-45-6789 語", "日本ssn=[REDACTED] 語"),
        ("ssn=123-45-6789\n", "ssn=[REDACTED]\n"),
        ("x\tssn=123-45-6789\t", "x\tssn=[REDACTED]\t"),
        ("{\"q\":\"ssn=123-45-6789\"}", "{\"q\":\"ssn=[REDACTED]\"}"),
        ("ssn=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "ssn=[REDACTED]"),
        ("ssn:=123-45-6789", "ssn:=[REDACTED]"),
        ("ssn==123-45-6789", "ssn=[REDACTED]"),
        ("ssn=123%2D45%2D6789", "ssn=[REDACTED]"),
        ("x-ssn=123-45-6789", "x-ssn=[REDACTED]"),
        ("SSN_NUMBER=123-45-6789", "SSN_NUMBER=[REDACTED]"),
        ("PIN_CODE=4321;", "PIN_CODE=[REDACTED];"),
        ("Session-ID=abc sessionid=def", "Session-ID=[REDACTED] sessionid=[REDACTED]"),
        ("private-key=k1 api-key=k2 credentials=c", "private-key=[REDACTED] api-key=[REDACTED] credentials=[REDACTED]"),
        // Kept (README): other pairs, base64 padding, empty values.
        ("connection_id=L0SM9cOFvHcCIhw= status=200", "connection_id=L0SM9cOFvHcCIhw= status=200"),
        ("ssn=", "ssn="),
        ("=", "="),
        ("s", "s"),
        // Percent-encoded `=`: "Not recognised" (percent-encoding).
        ("ssn%3D123-45-6789", "ssn%3D123-45-6789"),
    ];
    let mut problems = Vec::new();
    for (text, want) in cases {
        let (raw, line) = everywhere(KEYS, text);
        for k in ["message", "strf", "spanf"] {
            if line[k] != want {
                problems.push(format!("{text:?}: {k}={} (want {want:?})", line[k]));
            }
        }
        let dbg = format!("{want:?}");
        if line["dbgf"] != dbg.as_str() {
            problems.push(format!("{text:?}: dbgf={} (want {dbg:?}) {raw}", line["dbgf"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[derive(Debug)]
struct Failed(String);
impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Failed {}

#[derive(Debug)]
struct Outer(String, Failed);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.1)
    }
}

#[derive(Debug)]
#[allow(dead_code)]
struct Req {
    query: String,
    note: &'static str,
}

struct Shown(String);
impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Span fields recorded later, `Display` fields, `Debug` of a struct (also `{:#?}`), error
/// messages and sources (under `error` and another name).
#[test]
fn every_text_of_a_line_is_redacted() {
    let (raw, _) = lines(KEYS, || {
        let span = tracing::info_span!("s", later = tracing::field::Empty, disp = %Shown("ssn=123-45-6789".into()));
        span.record("later", "pin_code=4321 ssn=123-45-6789");
        let _e = span.enter();
        let err = Outer("outer ssn=123-45-6789".into(), Failed("inner session_id=sess-abcdef".into()));
        tracing::warn!(
            disp = %Shown("x ssn=123-45-6789 y".into()),
            req = ?Req { query: "a=1&ssn=123-45-6789".into(), note: "n" },
            pretty = format!("{:#?}", Req { query: "ssn=123-45-6789".into(), note: "n" }),
            cause = &err as &dyn std::error::Error,
            error = &err as &dyn std::error::Error,
            "msg"
        );
        tracing::error!(error = &err as &dyn std::error::Error);
    });
    assert_eq!(raw.len(), 2, "{raw:?}");
    for l in &raw {
        assert!(!l.contains(SSN) && !l.contains("sess-abcdef") && !l.contains("4321"), "leak: {l}");
        assert!(l.contains("\"later\":\"pin_code=[REDACTED] ssn=[REDACTED]\""), "{l}");
        assert!(l.contains("\"error.sources\":[\"inner session_id=[REDACTED]\"]"), "{l}");
    }
}

/// `POWERTOOLS_DEV=true` (indented output) redacts alike.
#[test]
fn dev_output_is_redacted_alike() {
    let config = common::config(&[("STREAMER_LOG_REDACT_KEYS", "ssn"), ("POWERTOOLS_DEV", "true")]);
    let (dispatch, writer, _clock): (_, CapturingWriter, _) = common::capture(&config);
    with_default(&dispatch, || tracing::info!(f = "ssn=123-45-6789", "x ssn=123-45-6789"));
    let c = writer.contents();
    let v: Value = serde_json::from_str(&c).expect("one JSON object");
    assert_eq!(v["f"], "ssn=[REDACTED]", "{c}");
    assert_eq!(v["message"], "x ssn=[REDACTED]", "{c}");
}

/// The pair at every offset of short (< 8 bytes) and long text, after ASCII, multi-byte
/// UTF-8, spaces and `&`, with and without text after it; and keys split over the
/// word-at-a-time boundaries.
#[test]
fn every_position_and_length() {
    let mut leaks = Vec::new();
    for pre in 0..20 {
        for post in 0..12 {
            for (p, q) in [("a", "b"), ("é", "ü"), (" ", " "), ("&", "&"), ("x ", " y"), ("日本", "語")] {
                let tail = if post == 0 { String::new() } else { format!(" {}", q.repeat(post)) };
                let text = format!("{}ssn=123-45-6789{tail}", p.repeat(pre));
                if let Some(l) = leaked_in(KEYS, &text, SSN) {
                    leaks.push(l);
                }
            }
        }
    }
    for n in 1..20 {
        let text = format!("{}ssn=1", "z".repeat(n));
        let (raw, line) = everywhere(KEYS, &text);
        assert_eq!(line["message"], format!("{}ssn=[REDACTED]", "z".repeat(n)), "{raw}");
        let secret = format!("Q{}", "7".repeat(n));
        if let Some(l) = leaked_in(KEYS, &format!("ssn={secret}"), &secret) {
            leaks.push(l);
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// Large texts: capped lines stay one JSON object, no secret, no quadratic time.
#[test]
fn large_texts() {
    let cases = [
        format!("{}ssn=123-45-6789 {}", "a=b ".repeat(100_000), "c".repeat(10)),
        format!("{}ssn=123-45-6789", "=".repeat(500_000)),
        format!("{}=123-45-6789", "ssn".repeat(300_000)),
        "ssn=123-45-6789 ".repeat(200_000),
        format!("ssn=123-45-6789 {}", "é".repeat(200_000)),
    ];
    for big in cases {
        let (raw, _) = lines(KEYS, || tracing::info!(f = big.as_str(), "{}", big));
        assert!(!raw[0].contains(SSN), "leak in a large text: {}…", &raw[0][..200]);
    }
}

// ---- exact outputs ----

#[test]
fn configured_keys_redact_pair_values_in_every_text_of_a_line() {
    const SSN: &str = "123-45-6789";
    const PIN: &str = "4321";
    let (_, out) = lines(&[("STREAMER_LOG_REDACT_KEYS", "ssn,pin_code")], || {
        let span = tracing::info_span!("lookup", query = "user_ssn=123-45-6789&page=2");
        let _entered = span.enter();
        let err = Outer("lookup failed".into(), Failed(format!("bad input pin_code={PIN}")));
        tracing::warn!(
            detail = "ssn=123-45-6789 tenant=acme",
            request = ?("GET", "/users?SSN=123-45-6789&sort=asc"),
            error = &err as &dyn std::error::Error,
            "check failed for ssn={SSN}, PIN_CODE={PIN}; status=400"
        );
    });
    assert_eq!(out.len(), 1, "{out:#?}");
    let line = &out[0];
    let text = line.to_string();
    assert!(!text.contains(SSN) && !text.contains(PIN), "a configured secret leaked: {text}");
    assert_eq!(line["message"], "check failed for ssn=[REDACTED], PIN_CODE=[REDACTED]; status=400");
    assert_eq!(line["detail"], "ssn=[REDACTED] tenant=acme");
    assert_eq!(line["request"], r#"("GET", "/users?SSN=[REDACTED]&sort=asc")"#);
    assert_eq!(line["error.message"], "lookup failed");
    assert_eq!(line["error.sources"], serde_json::json!(["bad input pin_code=[REDACTED]"]));
    assert_eq!(line["query"], "user_ssn=[REDACTED]&page=2");
}

/// Keys of any last letter (the scrubber's own pair check looks at the letters that end
/// its fixed names), in short (under 8 bytes) and long text.
#[test]
fn configured_keys_of_any_spelling_in_short_and_long_text() {
    let (_, out) = lines(&[("STREAMER_LOG_REDACT_KEYS", "cvv,x-pin")], || {
        tracing::info!(short = "cvv=123", long = "card cvv=987 X-PIN=5511 exp=12/29", "cvv=4")
    });
    let line = &out[0];
    assert_eq!(line["short"], "cvv=[REDACTED]");
    assert_eq!(line["long"], "card cvv=[REDACTED] X-PIN=[REDACTED] exp=12/29");
    assert_eq!(line["message"], "cvv=[REDACTED]");
}

#[test]
fn default_keys_redact_pairs_and_other_pairs_are_kept() {
    let (_, out) = lines(&[], || {
        tracing::info!(
            detail = "session_id=s-8f2c private_key=pk-77 connection_id=L0SM9c= route=$connect",
            "client_credential=cc-1 status=200 n=3"
        );
    });
    let line = &out[0];
    assert_eq!(line["detail"], "session_id=[REDACTED] private_key=[REDACTED] connection_id=L0SM9c= route=$connect");
    assert_eq!(line["message"], "client_credential=[REDACTED] status=200 n=3");
}

#[test]
fn text_without_a_configured_pair_is_written_as_it_was() {
    let (_, out) = lines(&[("STREAMER_LOG_REDACT_KEYS", "ssn")], || {
        tracing::info!(detail = "a=b, c = d, ssn: none, =x, ssn=", "plain text = fine");
    });
    let line = &out[0];
    assert_eq!(line["detail"], "a=b, c = d, ssn: none, =x, ssn=");
    assert_eq!(line["message"], "plain text = fine");
}

/// A value that starts with the marker and goes on is replaced whole; the marker alone is
/// left as it is (a second pass changes nothing).
#[test]
fn a_value_starting_with_the_marker_is_redacted_whole() {
    let (_, out) = lines(KEYS, || {
        tracing::info!(a = "ssn=[REDACTED]123-45-6789 x", b = "ssn=[REDACTED] x", "ssn=[REDACTED]99&n=1")
    });
    let line = &out[0];
    assert_eq!(line["a"], "ssn=[REDACTED] x");
    assert_eq!(line["b"], "ssn=[REDACTED] x");
    assert_eq!(line["message"], "ssn=[REDACTED]&n=1");
}
