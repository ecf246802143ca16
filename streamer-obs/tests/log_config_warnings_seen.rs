//! The configuration warnings are written where they are seen (a review found the
//! EMF-loss warning was never written when it matters most, and later written as ERROR
//! where Lambda keeps only FATAL lines).
//!
//! aws-rules.md E-29 / L-10 / L-12: with `AWS_LAMBDA_LOG_FORMAT=JSON` and an application
//! level stricter than INFO, Lambda drops every JSON line without `level` (treated as
//! INFO), EMF metric lines included; "at init the SDK should detect this combination and
//! warn". README "Levels, sampling, buffering": "With `AWS_LAMBDA_LOG_FORMAT=JSON` and an
//! `AWS_LAMBDA_LOG_LEVEL` stricter than INFO, init writes one WARN line".
//!
//! With `AWS_LAMBDA_LOG_LEVEL=ERROR` (stricter than INFO, so `lambda_drops_emf()` is
//! true) the warning is a `tracing::warn!` that the SDK's own level filter (ERROR, from
//! `AWS_LAMBDA_LOG_LEVEL`) discards: no line at all is written, and every metric is lost
//! silently (project policy: never silently lost data). Even a WARN line written past
//! the SDK's filter would be dropped by Lambda at ERROR: to be seen, the warning has to
//! pass the very level Lambda filters with.
//!
//! Existing coverage (log_levels.rs `json_format_with_strict_lambda_level_warns_about_emf`)
//! only tries `AWS_LAMBDA_LOG_LEVEL=WARN`.

mod common;

use common::*;
use tracing::dispatcher::with_default;

/// Lambda's filter (L-12): a JSON line passes when its `level` is at least `min`.
fn passes_lambda(level: &str, min: &str) -> bool {
    let rank =
        |l: &str| ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].iter().position(|x| x.eq_ignore_ascii_case(l));
    matches!((rank(level), rank(min)), (Some(a), Some(b)) if a >= b)
}

#[test]
fn emf_loss_warning_reaches_cloudwatch_at_lambda_level_error() {
    for level in ["ERROR", "FATAL"] {
        emf_warning_passes(level);
    }
}

fn emf_warning_passes(lambda_level: &str) {
    let c = config(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", lambda_level)]);
    assert!(c.log().lambda_drops_emf(), "the SDK itself knows EMF lines will be dropped");
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    let warning = lines.iter().find(|l| l["message"].as_str().is_some_and(|m| m.contains("EMF")));
    let Some(warning) = warning else {
        panic!(
            "no EMF-loss warning written at AWS_LAMBDA_LOG_LEVEL=ERROR (lines: {lines:?}); metrics are lost silently"
        );
    };
    let level = warning["level"].as_str().unwrap_or_default();
    // At FATAL Lambda keeps only `"level":"FATAL"` lines: an ERROR line is dropped too.
    assert!(passes_lambda(level, lambda_level), "the warning's level {level} is dropped by Lambda at {lambda_level}");
    assert_eq!(warning["value"], lambda_level, "the variable as set");
    assert!(warning.get(streamer_obs::log::FATAL_FIELD).is_none(), "{warning}");
    assert_eq!(lines.len(), 1, "{lines:?}");
}

/// An invalid setting's warning at `AWS_LAMBDA_LOG_LEVEL=FATAL` (JSON): a FATAL line.
#[test]
fn an_invalid_setting_warning_passes_lambdas_filter_at_fatal() {
    let c = config(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
        ("POWERTOOLS_METRICS_NAMESPACE", "bad namespace!"),
    ]);
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    let warning = lines.iter().find(|l| l["variable"] == "POWERTOOLS_METRICS_NAMESPACE").expect("the warning");
    let level = warning["level"].as_str().unwrap_or_default();
    assert!(passes_lambda(level, "FATAL"), "written at {level}, dropped by Lambda at FATAL: {warning}");
}

/// An invalid setting's warning at `POWERTOOLS_LOG_LEVEL=ERROR` (Lambda's text format: no
/// filtering by Lambda, the SDK's own filter is ERROR): written as ERROR, not dropped.
#[test]
fn invalid_setting_warning_is_written_at_the_sdk_level_error() {
    let c = config(&[("POWERTOOLS_LOG_LEVEL", "ERROR"), ("POWERTOOLS_METRICS_NAMESPACE", "bad namespace!")]);
    assert!(!c.warnings().is_empty());
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    assert_eq!(lines.len(), c.warnings().len(), "{lines:?}");
    assert!(lines.iter().all(|l| l["level"] == "ERROR"), "{lines:?}");
    assert!(lines.iter().any(|l| l["variable"] == "POWERTOOLS_METRICS_NAMESPACE"), "{lines:?}");
}

/// At any level that lets WARN through (the SDK's and Lambda's), they stay WARN lines.
#[test]
fn warnings_stay_warn_when_warn_is_seen() {
    let c = config(&[("POWERTOOLS_LOG_LEVEL", "WARN"), ("POWERTOOLS_METRICS_NAMESPACE", "bad namespace!")]);
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["level"] == "WARN"), "{lines:?}");
}
