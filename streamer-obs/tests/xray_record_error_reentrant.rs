//! `xray::record_error` runs the error's `Display` and `Debug` (user code) before the
//! invocation's X-Ray spin lock is taken (a review found them run while it was held:
//! `Recorder::error_node` -> `with_node` -> `RecordedErrors::cause_for`, which calls
//! `e.to_string()` and the `Debug` of every error in the chain under `Self::lock`).
//!
//! Broken promise (`src/lock.rs`): "No caller code runs under them but what a caller runs
//! on its own state (`InvocationMetrics::with_set`)". An error whose `Display` asks the SDK
//! for the invocation's trace header (to print it for support, a common pattern) or
//! annotates the current subsegment takes the same non-reentrant spin lock on the same
//! thread and spins forever: the invocation hangs (and with it every other invocation
//! polled on that worker thread).
//!
//! The body runs on its own thread; the test waits for it with a generous watchdog (the
//! hang is not a matter of timing: the lock is never released). Observed: the watchdog
//! fires. Expected: `record_error` returns (true) and the cause is recorded.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use streamer_obs::invocation::Invocation;
use streamer_obs::testing::ContextBuilder;
use streamer_obs::xray::cause::ErrorKind;

/// An error whose message carries the invocation's trace header (what support asks for).
#[derive(Debug)]
struct UpstreamFailed;

impl std::fmt::Display for UpstreamFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trace = streamer_obs::xray::downstream_header().map(|h| h.to_string()).unwrap_or_default();
        write!(f, "upstream failed (trace {trace})")
    }
}

impl std::error::Error for UpstreamFailed {}

/// Runs `f` on its own thread; its result when it returned within the watchdog.
fn returns(f: impl FnOnce() -> bool + Send + 'static) -> Option<bool> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

#[test]
fn an_error_whose_display_reads_the_trace_header_can_be_recorded() {
    let c = captured(config(&[]));
    let ctx = ContextBuilder::new().request_id("req-1").trace_header(HEADER).build();
    let inv = Arc::new(Invocation::from_telemetry(&ctx, &c.telemetry));
    assert!(inv.xray().is_recording());
    let outcome = returns(move || {
        inv.sync_scope(|| {
            let guard = streamer_obs::xray::subsegment("CallUpstream");
            let recorded = streamer_obs::xray::record_error(&UpstreamFailed, ErrorKind::Fault);
            drop(guard);
            recorded
        })
    });
    assert_eq!(
        outcome,
        Some(true),
        "xray::record_error never returned: the error's Display ran under the recorder's spin lock and took it again"
    );
}
