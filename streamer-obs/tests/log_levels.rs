//! Level filtering with the documented precedence, and the init-time warnings.

mod common;

use common::*;
use streamer_obs::config::{Config, EnvVars, LogLevel};
use tracing::dispatcher::with_default;

fn emitted_levels(config: &Config) -> Vec<String> {
    let (dispatch, writer, _) = capture(config);
    with_default(&dispatch, || {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
        tracing::debug!(target: "noisy_dependency", "nd");
        tracing::info!(target: "noisy_dependency", "ni");
    });
    writer.json_lines().iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn default_is_info() {
    assert_eq!(emitted_levels(&config(&[])), ["i", "w", "e", "ni"]);
}

#[test]
fn lambda_log_level_wins_over_code_and_powertools() {
    let env = EnvVars::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "ERROR"), ("POWERTOOLS_LOG_LEVEL", "DEBUG")]);
    let c = Config::builder().log_level(LogLevel::Trace).build_from(&env);
    assert_eq!(emitted_levels(&c), ["e"]);
}

#[test]
fn code_wins_over_powertools_log_level() {
    let env = EnvVars::from_pairs([("POWERTOOLS_LOG_LEVEL", "ERROR")]);
    let c = Config::builder().log_level(LogLevel::Warn).build_from(&env);
    assert_eq!(emitted_levels(&c), ["w", "e"]);
}

#[test]
fn powertools_then_legacy_then_rust_log() {
    assert_eq!(
        emitted_levels(&config(&[("POWERTOOLS_LOG_LEVEL", "debug"), ("LOG_LEVEL", "ERROR")])),
        ["d", "i", "w", "e", "nd", "ni"]
    );
    assert_eq!(emitted_levels(&config(&[("LOG_LEVEL", "WARN"), ("RUST_LOG", "trace")])), ["w", "e"]);
    assert_eq!(emitted_levels(&config(&[("RUST_LOG", "warn,noisy_dependency=debug")])), ["w", "e", "nd", "ni"]);
}

#[test]
fn invalid_values_warn_once_naming_variable_and_value() {
    let c =
        config(&[("POWERTOOLS_LOG_LEVEL", "LOUD"), ("POWERTOOLS_LOGGER_SAMPLE_RATE", "abc"), ("ENVIRONMENT", "  ")]);
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let find =
        |var: &str| lines.iter().find(|l| l["variable"] == var).unwrap_or_else(|| panic!("no warning for {var}"));
    let w = find("POWERTOOLS_LOG_LEVEL");
    assert_eq!(w["level"], "WARN");
    assert_eq!(w["value"], "LOUD");
    assert!(w["message"].as_str().unwrap().contains("POWERTOOLS_LOG_LEVEL"));
    assert!(w["message"].as_str().unwrap().contains("LOUD"));
    assert_eq!(find("POWERTOOLS_LOGGER_SAMPLE_RATE")["value"], "abc");
    assert_eq!(find("ENVIRONMENT")["environment"], "unknown");
}

#[test]
fn json_format_with_strict_lambda_level_warns_about_emf() {
    let c = config(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    let lines = writer.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["level"], "WARN");
    assert!(lines[0]["message"].as_str().unwrap().contains("EMF"));
    // INFO with JSON: no warning.
    let c = config(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", "INFO")]);
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || streamer_obs::log::report_config(&c));
    assert!(writer.lines().is_empty());
}

#[test]
fn span_fields_reach_lines_at_strict_levels() {
    let c = config(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
    let (dispatch, writer, _) = capture(&c);
    with_default(&dispatch, || {
        let span = tracing::info_span!("HandleConnect", connection_id = "c-1");
        let _e = span.enter();
        tracing::info!("dropped");
        tracing::warn!("kept");
    });
    let lines = writer.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "kept");
    assert_eq!(lines[0]["connection_id"], "c-1");
}

/// `log::FATAL_FIELD` makes an ERROR event a `"level":"FATAL"` line, however the value is
/// given, and is never written.
#[test]
fn the_field_given_with_display_or_debug_sigils_still_makes_a_fatal_line_and_is_not_written() {
    let mut bad = Vec::new();
    for (case, v) in [
        ("str", one_line(|| tracing::error!(streamer_obs_level = "FATAL", "cannot start")).1),
        ("display %", one_line(|| tracing::error!(streamer_obs_level = %"FATAL", "cannot start")).1),
        ("debug ?", one_line(|| tracing::error!(streamer_obs_level = ?"FATAL", "cannot start")).1),
        ("String", one_line(|| tracing::error!(streamer_obs_level = String::from("FATAL").as_str(), "cannot start")).1),
    ] {
        if v["level"] != "FATAL" || v.get(streamer_obs::log::FATAL_FIELD).is_some() {
            bad.push(format!("{case}: {v}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_field_is_not_written_on_an_event_below_error() {
    let v = one_line(|| tracing::warn!(streamer_obs_level = "FATAL", "w")).1;
    assert_eq!(v["level"], "WARN");
    assert!(v.get(streamer_obs::log::FATAL_FIELD).is_none(), "{v}");
}
