//! The recorder's warnings (over 50 annotations, X-22; an oversize document sent as a
//! stub, T-4) are written after its lock is released: a subscriber that reads the trace
//! header for such a line (a log or OpenTelemetry bridge) must not hang the invocation.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

/// A `tracing` layer that stamps the invocation's X-Ray trace header on every event it
/// sees (what a log or OpenTelemetry bridge does to correlate lines with traces).
struct StampsTraceHeader(Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StampsTraceHeader {
    fn on_event(&self, _event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let _header = streamer_obs::xray::downstream_header();
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs `f` on its own thread; its result when it returned within the watchdog.
fn returns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20)).ok()
}

/// Runs `body` inside a fresh sampled invocation, with a subscriber that stamps the trace
/// header on every event, on its own thread: its result (`None` when it did not return
/// within the watchdog), how many events the subscriber saw, and the capture.
fn stamped<T: Send + 'static>(
    body: impl FnOnce(&Arc<streamer_obs::invocation::Invocation>) -> T + Send + 'static,
) -> (Option<T>, usize, common::Captured) {
    use tracing_subscriber::layer::SubscriberExt;
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = Arc::clone(&seen);
    let c = common::captured(common::config(&[]));
    let ctx = streamer_obs::testing::ContextBuilder::new().request_id("req-1").trace_header(common::HEADER).build();
    let inv = Arc::new(streamer_obs::invocation::Invocation::from_telemetry(&ctx, &c.telemetry));
    assert!(inv.xray().is_recording());
    let outcome = returns(move || {
        let subscriber = tracing_subscriber::registry().with(StampsTraceHeader(seen2));
        tracing::subscriber::with_default(subscriber, || body(&inv))
    });
    (outcome, seen.load(std::sync::atomic::Ordering::SeqCst), c)
}

/// X-22 (50 indexed annotations per trace): "all kept; one WARN line per invocation over
/// 50". The WARN was written while the recorder's spin lock was held, so a subscriber that
/// reads the trace header for it spun on the same lock: the 51st `xray::annotate` never
/// returned.
#[test]
fn the_annotation_limit_warning_does_not_hang_a_subscriber_that_reads_the_trace_header() {
    let (outcome, seen, _) = stamped(|inv| {
        Arc::clone(inv).sync_scope(|| {
            let _g = streamer_obs::xray::subsegment("Work");
            (0..51).map(|i| streamer_obs::xray::annotate(&format!("k{i}"), i)).filter(Result::is_ok).count()
        })
    });
    assert_eq!(outcome, Some(51), "the 51st xray::annotate never returned (events seen: {seen})");
    assert!(seen >= 1, "the WARN line was written");
}

/// T-4 (oversize documents: shrink, then as a last resort a stub, with one WARN line): the
/// stub's WARN was written inside the flush, with the recorder's lock held, so the same
/// subscriber hung the invocation's flush. 4,000 precursor ids (76 KB, nothing the guard
/// trims) make the stub.
#[test]
fn the_oversize_stub_warning_does_not_hang_the_flush() {
    let (outcome, seen, c) = stamped(|inv| {
        let inv2 = Arc::clone(inv);
        Arc::clone(inv).sync_scope(move || {
            let g = streamer_obs::xray::subsegment("Fanout");
            for i in 1..=4_000u64 {
                g.add_precursor(streamer_obs::trace_header::SegmentId::from_u64(i).unwrap());
            }
            drop(g);
            inv2.xray().flush_now().map(|r| r.trees)
        })
    });
    assert_eq!(
        outcome,
        Some(Some(1)),
        "the flush never returned (events seen: {seen}, documents: {})",
        c.xray.raw().len()
    );
    assert!(seen >= 1, "the WARN line was written");
}
