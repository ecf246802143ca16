//! Opt-in per-invocation log buffering.

mod common;

use common::*;
use streamer_obs::config::{Config, EnvVars, LogBufferConfig, LogLevel};
use streamer_obs::invocation::ColdStartTracker;
use tracing::dispatcher::with_default;

fn buffered_config(max_bytes: usize) -> Config {
    Config::builder()
        .log_level(LogLevel::Debug)
        .log_buffer(LogBufferConfig::new(LogLevel::Debug).max_bytes(max_bytes))
        .build_from(&EnvVars::empty())
}

#[test]
fn buffered_records_are_dropped_when_the_invocation_succeeds() {
    let c = buffered_config(20 * 1024);
    let (dispatch, writer, _) = capture(&c);
    let inv = invocation(&c, "ok", &ColdStartTracker::new(&Default::default()));
    with_default(&dispatch, || {
        tracing::debug!("init debug is never buffered");
        inv.clone().sync_scope(|| {
            tracing::debug!("held");
            tracing::info!("written");
        });
    });
    inv.discard_log_buffer();
    assert_eq!(inv.flush_log_buffer(), 0);
    let messages: Vec<_> = writer.json_lines().iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect();
    assert_eq!(messages, ["init debug is never buffered", "written"]);
}

#[test]
fn an_error_line_writes_the_buffer_first_with_original_timestamps() {
    let c = buffered_config(20 * 1024);
    let (dispatch, writer, clock) = capture(&c);
    let inv = invocation(&c, "fails", &ColdStartTracker::new(&Default::default()));
    with_default(&dispatch, || {
        inv.clone().sync_scope(|| {
            tracing::debug!("step 1");
            clock.advance_millis(5);
            tracing::debug!("step 2");
            clock.advance_millis(5);
            tracing::error!("boom");
        });
    });
    let lines = writer.json_lines();
    let messages: Vec<_> = lines.iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["step 1", "step 2", "boom"]);
    assert_eq!(lines[0]["timestamp"], "2026-11-26T22:09:48.123Z");
    assert_eq!(lines[1]["timestamp"], "2026-11-26T22:09:48.128Z");
    assert_eq!(lines[2]["timestamp"], "2026-11-26T22:09:48.133Z");
    assert!(lines.iter().all(|l| l["function_request_id"] == "fails"));
}

#[test]
fn a_failed_invocation_flushes_explicitly() {
    let c = buffered_config(20 * 1024);
    let (dispatch, writer, _) = capture(&c);
    let inv = invocation(&c, "failed", &ColdStartTracker::new(&Default::default()));
    with_default(&dispatch, || inv.clone().sync_scope(|| tracing::debug!("context before the failure")));
    assert!(writer.lines().is_empty());
    assert_eq!(inv.flush_log_buffer(), 1);
    assert_eq!(writer.json_lines()[0]["message"], "context before the failure");
}

#[test]
fn oldest_records_are_evicted_with_a_single_warning() {
    let c = buffered_config(700);
    let (dispatch, writer, _) = capture(&c);
    let inv = invocation(&c, "evict", &ColdStartTracker::new(&Default::default()));
    with_default(&dispatch, || {
        inv.clone().sync_scope(|| {
            for i in 0..20 {
                tracing::debug!(i, "record");
            }
        })
    });
    let warnings = writer.json_lines();
    assert_eq!(warnings.len(), 1, "exactly one eviction warning");
    assert_eq!(warnings[0]["level"], "WARN");
    writer.clear();
    let flushed = inv.flush_log_buffer();
    assert!(flushed > 0 && flushed < 20);
    let kept: Vec<u64> = writer.json_lines().iter().map(|l| l["i"].as_u64().unwrap()).collect();
    assert_eq!(*kept.last().unwrap(), 19, "newest kept");
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1), "contiguous, oldest dropped: {kept:?}");
    assert!(writer.contents().len() <= 700);
}
