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

/// X-22 (50 indexed annotations per trace): the documented policy is "all kept; one WARN
/// line per invocation over 50". The WARN is emitted while the recorder's spin lock is
/// held (src/lock.rs promises "No caller code runs under them"), so a subscriber that
/// reads the trace header for that WARN line spins on the same lock: the 51st
/// `xray::annotate` never returns.
#[test]
fn the_annotation_limit_warning_does_not_hang_a_subscriber_that_reads_the_trace_header() {
    use tracing_subscriber::layer::SubscriberExt;
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = Arc::clone(&seen);
    let c = common::captured(common::config(&[]));
    let ctx = streamer_obs::testing::ContextBuilder::new().request_id("req-1").trace_header(common::HEADER).build();
    let inv = Arc::new(streamer_obs::invocation::Invocation::from_telemetry(&ctx, &c.telemetry));
    assert!(inv.xray().is_recording());
    let outcome = returns(move || {
        let subscriber = tracing_subscriber::registry().with(StampsTraceHeader(seen2));
        tracing::subscriber::with_default(subscriber, || {
            inv.sync_scope(|| {
                let _g = streamer_obs::xray::subsegment("Work");
                (0..51).map(|i| streamer_obs::xray::annotate(&format!("k{i}"), i)).filter(Result::is_ok).count()
            })
        })
    });
    assert_eq!(
        outcome,
        Some(51),
        "the 51st xray::annotate never returned: the over-50 WARN ran the subscriber under the recorder's lock \
         (events seen: {})",
        seen.load(std::sync::atomic::Ordering::SeqCst)
    );
}

/// T-4 (oversize documents: shrink, then as a last resort drop it and log the drop): the
/// size guard's "sent as a stub" WARN is written from inside the flush, with the
/// recorder's spin lock held, so the same subscriber hangs the invocation's flush
/// (`xray::flush`, which the lifecycle runs before the response). 4,000 precursor ids
/// (76 KB, nothing the guard trims) make the stub.
#[test]
fn the_oversize_stub_warning_does_not_hang_the_flush() {
    use tracing_subscriber::layer::SubscriberExt;
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = Arc::clone(&seen);
    let c = common::captured(common::config(&[]));
    let capture = c.xray.clone();
    let ctx = streamer_obs::testing::ContextBuilder::new().request_id("req-1").trace_header(common::HEADER).build();
    let inv = Arc::new(streamer_obs::invocation::Invocation::from_telemetry(&ctx, &c.telemetry));
    assert!(inv.xray().is_recording());
    let outcome = returns(move || {
        let subscriber = tracing_subscriber::registry().with(StampsTraceHeader(seen2));
        tracing::subscriber::with_default(subscriber, || {
            let inv2 = Arc::clone(&inv);
            inv.sync_scope(move || {
                let g = streamer_obs::xray::subsegment("Fanout");
                for i in 1..=4_000u64 {
                    g.add_precursor(streamer_obs::trace_header::SegmentId::from_u64(i).unwrap());
                }
                drop(g);
                inv2.xray().flush_now().map(|r| r.trees)
            })
        })
    });
    assert_eq!(
        outcome,
        Some(Some(1)),
        "the flush never returned: the stub WARN ran the subscriber under the recorder's lock (events seen: {}, documents: {})",
        seen.load(std::sync::atomic::Ordering::SeqCst),
        capture.raw().len()
    );
}
