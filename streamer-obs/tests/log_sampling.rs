//! Per-invocation debug sampling (POWERTOOLS_LOGGER_SAMPLE_RATE).

mod common;

use common::*;
use streamer_obs::invocation::ColdStartTracker;
use tracing::dispatcher::with_default;

fn run(rate: &str, invocations: usize) -> (Vec<serde_json::Value>, usize) {
    let c = config(&[("POWERTOOLS_LOGGER_SAMPLE_RATE", rate)]);
    let (dispatch, writer, _) = capture(&c);
    let tracker = ColdStartTracker::new(&Default::default());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut sampled = 0;
    with_default(&dispatch, || {
        for i in 0..invocations {
            let inv = invocation(&c, &format!("req-{i}"), &tracker);
            sampled += usize::from(inv.debug_sampled());
            rt.block_on(inv.scope(async {
                tracing::debug!("detail");
                tracing::info!("summary");
            }));
        }
        // outside an invocation, DEBUG stays off
        tracing::debug!("init detail");
    });
    (writer.json_lines(), sampled)
}

#[test]
fn rate_one_raises_every_invocation_and_logs_the_decision() {
    let (lines, sampled) = run("1", 3);
    assert_eq!(sampled, 3);
    let debug: Vec<_> = lines.iter().filter(|l| l["level"] == "DEBUG").collect();
    // per invocation: the decision line and the handler's debug line
    assert_eq!(debug.len(), 6);
    assert_eq!(lines.iter().filter(|l| l["message"].as_str().unwrap().starts_with("debug sampling")).count(), 3);
    assert!(lines.iter().all(|l| l["sampling_rate"] == 1.0));
    assert!(!lines.iter().any(|l| l["message"] == "init detail"));
}

#[test]
fn rate_zero_never_raises() {
    let (lines, sampled) = run("0", 20);
    assert_eq!(sampled, 0);
    assert!(lines.iter().all(|l| l["level"] == "INFO"));
    assert_eq!(lines.len(), 20);
}

#[test]
fn decision_is_per_invocation_not_per_cold_start() {
    let (lines, sampled) = run("0.5", 200);
    // With p = 0.5 over 200 invocations, all-or-nothing has probability 2^-199.
    assert!(sampled > 0 && sampled < 200, "sampled {sampled}");
    let detail = lines.iter().filter(|l| l["message"] == "detail").count();
    assert_eq!(detail, sampled);
    // every sampled invocation's debug line carries its own request id
    for l in lines.iter().filter(|l| l["message"] == "detail") {
        let id = l["function_request_id"].as_str().unwrap();
        assert!(lines.iter().any(|o| o["function_request_id"] == id && o["message"].as_str().unwrap().starts_with("debug sampling")));
    }
}
