//! At `AWS_LAMBDA_LOG_LEVEL=FATAL` the configuration warnings are `"level":"FATAL"` lines:
//! an ERROR line (as they were) is dropped by Lambda.
//!
//! aws-rules.md L-10 / L-12: the application level is one of `TRACE|DEBUG|INFO|WARN|ERROR|
//! FATAL`; in JSON format Lambda keeps a line only when its `level` is at least that level.
//! At FATAL only `"level":"FATAL"` lines pass. README ("Levels, sampling, buffering"): the
//! EMF-loss warning "and the invalid-value ones are ERROR lines instead when a WARN line
//! would not be seen (the SDK's level is ERROR, or Lambda filters JSON lines at ERROR or
//! FATAL)": the point is that the warning is seen. At FATAL an ERROR line is not: the
//! warning that every EMF metric line will be dropped would itself be dropped, and the
//! metrics lost without a word (the case the warning exists for).

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
fn emf_loss_warning_passes_lambdas_filter_at_fatal() {
    let c = config(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", "FATAL")]);
    assert!(c.log().lambda_drops_emf());
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    let warning = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains("EMF")))
        .unwrap_or_else(|| panic!("no EMF-loss warning: {lines:?}"));
    let level = warning["level"].as_str().unwrap_or_default();
    assert!(
        passes_lambda(level, "FATAL"),
        "the EMF-loss warning is written at {level}, which Lambda drops at AWS_LAMBDA_LOG_LEVEL=FATAL: {warning}"
    );
}

#[test]
fn an_invalid_setting_warning_passes_lambdas_filter_at_fatal() {
    let c = config(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
        ("POWERTOOLS_METRICS_NAMESPACE", "bad namespace!"),
    ]);
    assert!(!c.warnings().is_empty());
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    let warning = lines
        .iter()
        .find(|l| l["variable"] == "POWERTOOLS_METRICS_NAMESPACE")
        .unwrap_or_else(|| panic!("no warning for the invalid namespace: {lines:?}"));
    let level = warning["level"].as_str().unwrap_or_default();
    assert!(passes_lambda(level, "FATAL"), "written at {level}, dropped by Lambda at FATAL: {warning}");
}

#[test]
fn the_reported_value_is_the_variable_as_set() {
    let c = config(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", "FATAL")]);
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    let warning = lines.iter().find(|l| l["variable"] == "AWS_LAMBDA_LOG_LEVEL").expect("the EMF-loss warning");
    assert_eq!(warning["value"], "FATAL");
    assert!(warning.get(streamer_obs::log::FATAL_FIELD).is_none(), "{warning}");
}
