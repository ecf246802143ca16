//! The lifecycle's panic hook for builds where panics abort (`HandlerOptions::panic_aborts`),
//! run in this (unwinding) test process: with `panic_aborts(true)` the hook records the
//! panic and flushes before anything unwinds, and the lifecycle then does not record it
//! again. `tests/panic_abort.rs` runs the same in a process that really aborts.
//!
//! The hook is process-global and installed once: one test, in steps.
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::metrics::{self, Unit};
use streamer_obs::testing::{CapturingWriter, ContextBuilder};
use tracing::instrument::WithSubscriber;

/// Runs a handler that records, opens a subsegment it still holds, and panics.
fn run_panicking(h: &Captured, panic_aborts: bool) -> std::thread::Result<Result<u8, std::io::Error>> {
    let ctx = ContextBuilder::new().request_id("r-abort").trace_header(HEADER).build();
    let telemetry = h.telemetry.clone();
    let dispatch = h.dispatch.clone();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(
            async move {
                let scope = HandlerScope::with_telemetry(
                    telemetry,
                    HandlerOptions::new("HandleConnect").panic_aborts(panic_aborts),
                    &ctx,
                    tracing::info_span!("HandleConnect"),
                );
                scope
                    .run(
                        async {
                            tracing::info!("before the panic");
                            metrics::add("Before", Unit::Count, 1.0);
                            drop(streamer_obs::xray::subsegment("Closed"));
                            let _held = streamer_obs::xray::subsegment("ValidateJWT");
                            let _deeper = streamer_obs::xray::subsegment("FetchKeys");
                            if true {
                                panic!("no token to validate");
                            }
                            Ok::<u8, std::io::Error>(1)
                        },
                        ErrorView::from_error,
                        |_| None,
                    )
                    .await
            }
            .with_subscriber(dispatch),
        )
    }))
}

/// What both paths must produce: one document, the handler a fault with the panic as its
/// cause, the subsegments it held nested and complete; one ERROR line; one EMF document
/// with the metric recorded before the panic and the latency.
fn assert_recorded_once(h: &Captured) {
    let docs = h.xray.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    let d = &docs[0];
    assert_eq!(d["name"], "HandleConnect");
    assert_eq!(d["fault"], true);
    assert!(d.get("in_progress").is_none());
    let exceptions = d["cause"]["exceptions"].as_array().expect("a cause");
    assert_eq!(exceptions[0]["message"], "no token to validate");
    let names: Vec<&str> = d["subsegments"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Closed", "ValidateJWT"]);
    let held = &d["subsegments"][1];
    assert!(held["end_time"].as_f64().is_some() && held.get("in_progress").is_none());
    assert_eq!(held["subsegments"][0]["name"], "FetchKeys");
    assert!(held["subsegments"][0]["end_time"].as_f64().is_some());
    for raw in h.xray.raw() {
        let doc: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert!(xray_schema().is_valid(&doc), "{raw}");
    }

    let lines = h.log.lines();
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains("\"level\":\"ERROR\"")).collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert!(errors[0].contains("handler panicked") && errors[0].contains("no token to validate"), "{}", errors[0]);
    let emf = h.emf.lines();
    assert_eq!(emf.len(), 1, "{emf:?}");
    assert!(emf[0].contains("\"Before\":1") && emf[0].contains("\"ProcessingLatency\":"), "{}", emf[0]);
}

/// The log the counting hook reads.
type Watched = Arc<Mutex<Option<CapturingWriter>>>;

/// The hook installed before the lifecycle's (instead of the default one's stderr): it
/// notes how many ERROR lines the log held when it ran.
fn counting_hook() -> (Watched, Arc<Mutex<Vec<usize>>>) {
    let watched: Watched = Arc::default();
    let errors_seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (w, e) = (Arc::clone(&watched), Arc::clone(&errors_seen));
    std::panic::set_hook(Box::new(move |_| {
        let errors = w.lock().unwrap().as_ref().map_or(0, |log: &CapturingWriter| {
            log.lines().iter().filter(|l| l.contains("\"level\":\"ERROR\"")).count()
        });
        e.lock().unwrap().push(errors);
    }));
    (watched, errors_seen)
}

#[test]
fn the_hook_records_and_flushes_once_before_the_previous_hook_and_only_for_an_armed_handler() {
    let (watched, errors_seen) = counting_hook();

    // `panic_aborts`: the lifecycle's hook records the panic before the previous hook runs
    // (the ERROR line is already written then), and nothing is recorded twice.
    let h = captured(config(&[]));
    *watched.lock().unwrap() = Some(h.log.clone());
    let out = run_panicking(&h, true);
    assert!(out.is_err(), "the panic resumes");
    assert_recorded_once(&h);
    assert_eq!(*errors_seen.lock().unwrap(), [1], "recorded by the hook, then the previous hook ran");

    // Without it, the installed hook leaves the panic to the lifecycle (recorded after the
    // hooks ran, as the panic unwinds into it): the same record, once.
    let h = captured(config(&[]));
    *watched.lock().unwrap() = Some(h.log.clone());
    let out = run_panicking(&h, false);
    assert!(out.is_err());
    assert_recorded_once(&h);
    assert_eq!(*errors_seen.lock().unwrap(), [1, 0], "recorded by the lifecycle, after the hooks");

    // After a handler that returned, nothing is left armed on the thread: a panic outside
    // any handler body reaches the previous hook only.
    let h = captured(config(&[]));
    *watched.lock().unwrap() = Some(h.log.clone());
    // A successful handler in abort mode installs the hook; nothing is left armed after it.
    let ctx = ContextBuilder::new().request_id("r-ok").trace_header(HEADER).build();
    let telemetry = h.telemetry.clone();
    let ok = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(
        async move {
            HandlerScope::with_telemetry(
                telemetry,
                HandlerOptions::new("HandleOk").panic_aborts(true),
                &ctx,
                tracing::info_span!("HandleOk"),
            )
            .run(async { Ok::<u8, std::io::Error>(7) }, ErrorView::from_error, |_| None)
            .await
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert_eq!(ok.unwrap(), 7);
    assert_eq!(h.xray.documents().len(), 1);

    // The lifecycle's hook is installed now; a panic outside any handler body (nothing
    // armed on this thread) records nothing.
    let panicked = std::panic::catch_unwind(|| panic!("outside any handler"));
    assert!(panicked.is_err());
    assert_eq!(h.xray.documents().len(), 1, "nothing more recorded");
    assert_eq!(h.emf.lines().len(), 1);
    assert!(h.log.lines().iter().all(|l| !l.contains("\"level\":\"ERROR\"")));
    assert_eq!(*errors_seen.lock().unwrap(), [1, 0, 0]);
}
