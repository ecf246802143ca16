//! Random short texts from the scrubber's marker vocabulary (quotes, single
//! quotes, brackets, wrappers, secret names, blanks before `:`, multi-byte UTF-8 next to
//! the markers): the log line is written (no panic) and is one JSON object.

mod common;

use common::*;

const VOCAB: &[&str] = &[
    "'",
    "\"",
    "\\\"",
    "\\",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    ":",
    "::",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    ",",
    "=",
    "Array ",
    "Object ",
    "Some(",
    "String(",
    "cookies",
    "Cookie",
    "password",
    "passwords",
    "Authorization",
    "tokens",
    "token",
    "secrets",
    "api_token",
    "Bearer ",
    "Basic ",
    "é",
    "日本",
    "🦀",
    "%3A",
    "%3D",
    "%20",
    "+",
    "\\n",
    "\\t",
    "x",
    "ab",
    "://",
    "@",
    "/",
    "[REDACTED]",
    "sid=",
    "?",
    "&",
    "eyJ",
    ".",
    "jdbc:oracle:thin:",
    "u\\u{7f}",
];

fn text(rng: &mut fastrand::Rng) -> String {
    let n = rng.usize(1..14);
    (0..n).map(|_| VOCAB[rng.usize(0..VOCAB.len())]).collect()
}

#[test]
fn random_marker_texts_never_panic_and_lines_stay_json() {
    let (dispatch, writer, _clock) = capture(&config(&[]));
    let mut rng = fastrand::Rng::with_seed(0x5eed_0048);
    let mut failures = Vec::new();
    for i in 0..60_000 {
        let t = text(&mut rng);
        writer.clear();
        let t2 = t.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::info!(field = %t2, dbg = ?t2, "{}", t2);
            });
        }));
        if r.is_err() {
            failures.push(format!("#{i} panic: {t:?}"));
        } else {
            let lines = writer.lines();
            if lines.len() != 1
                || serde_json::from_str::<serde_json::Value>(&lines[0]).map(|v| !v.is_object()).unwrap_or(true)
            {
                failures.push(format!("#{i} bad line for {t:?}: {lines:?}"));
            }
        }
        if failures.len() >= 8 {
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
