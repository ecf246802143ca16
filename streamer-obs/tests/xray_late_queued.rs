//! A subsegment that closes after its invocation returned reaches an emitter that queues
//! documents (`queues_documents() == true`, as `xray::api::XrayApiEmitter` does); a review
//! found it was never handed to the emitter at all.
//!
//! Policy of the project: never silently lost data. The last flush even logs "X-Ray
//! subsegments still open when the invocation returned: each is sent when it closes",
//! and `Recorder::close_with` sends such a late tree at once, but only for an emitter that
//! does not queue. With a queueing emitter the closed tree stays in the recorder's `ready`
//! list of a finished invocation, which no later flush ever reads (the pool builds a new
//! recorder while the late guard still holds this one), so the subsegment is dropped
//! without a word. Rules: X-25/X-26 (every closed subsegment is sent as an independent
//! subsegment; Lambda SDKs stream each one as soon as it closes so nothing is lost when
//! work ends after the response) and the project's "never silently lost data" policy.
//!
//! Policy: the late subsegment reaches the emitter's `emit` (queued), and the emitter's
//! flush is started on the running Tokio runtime; without one, the emitter's next flush
//! (the next invocation's) sends it.

mod common;

use std::sync::{Arc, Mutex};

use serde_json::Value;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::testing::ContextBuilder;
use streamer_obs::xray::document::SegmentDocument;
use streamer_obs::xray::emitter::{EmitError, FlushFuture, SegmentEmitter};
use streamer_obs::xray::recorder::SubsegmentGuard;

/// A queueing emitter, as `XrayApiEmitter`: `emit` queues, `flush` would send.
#[derive(Debug, Clone, Default)]
struct Queueing {
    queued: Arc<Mutex<Vec<String>>>,
    flushes: Arc<std::sync::atomic::AtomicUsize>,
}

impl SegmentEmitter for Queueing {
    fn emit(&self, doc: &SegmentDocument<'_>) -> Result<(), EmitError> {
        self.queued.lock().unwrap().push(doc.to_json());
        Ok(())
    }
    fn flush(&self) -> FlushFuture<'_> {
        self.flushes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async {})
    }
    // `queues_documents` left at its default: true.
}

#[test]
fn a_subsegment_closed_after_the_invocation_returned_reaches_a_queueing_emitter() {
    let emitter = Queueing::default();
    let telemetry = common::telemetry_with_emitter(Arc::new(emitter.clone()));
    let ctx = ContextBuilder::new().request_id("req-1").trace_header(common::HEADER).build();
    let late: Arc<Mutex<Option<SubsegmentGuard>>> = Arc::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let scope = HandlerScope::with_telemetry(telemetry, HandlerOptions::new("Handle"), &ctx, tracing::Span::none());
        let slot = Arc::clone(&late);
        let _ = scope
            .run(
                async move {
                    // Work handed to a background task that outlives the invocation.
                    *slot.lock().unwrap() = Some(streamer_obs::xray::subsegment("LateWork"));
                    Ok::<Value, ErrorView>(Value::Null)
                },
                |e: &ErrorView| e.clone(),
                |_v: &Value| None,
            )
            .await;
    });
    // The background work ends after the invocation returned.
    drop(late.lock().unwrap().take());
    let queued = emitter.queued.lock().unwrap().clone();
    let names: Vec<String> = queued
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap()["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == "Handle"), "handler subsegment: {names:?}");
    assert!(
        names.iter().any(|n| n == "LateWork"),
        "the late subsegment never reached the (queueing) emitter: lost silently; emitted {names:?}"
    );
}

/// Closed by a task still running on the runtime after the invocation returned: queued,
/// and the emitter's flush started on that runtime.
#[test]
fn a_late_subsegment_closed_on_the_runtime_starts_the_emitters_flush() {
    use std::sync::atomic::Ordering;
    let emitter = Queueing::default();
    let telemetry = common::telemetry_with_emitter(Arc::new(emitter.clone()));
    let ctx = ContextBuilder::new().request_id("req-2").trace_header(common::HEADER).build();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let scope = HandlerScope::with_telemetry(telemetry, HandlerOptions::new("Handle"), &ctx, tracing::Span::none());
        let _ = scope
            .run(
                async move {
                    let guard = streamer_obs::xray::subsegment("Background");
                    tokio::spawn(async move {
                        let _ = rx.await;
                        drop(guard);
                    });
                    Ok::<Value, ErrorView>(Value::Null)
                },
                |e: &ErrorView| e.clone(),
                |_v: &Value| None,
            )
            .await;
        let after_invocation = emitter.flushes.load(Ordering::SeqCst);
        tx.send(()).unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let names: Vec<String> = emitter
            .queued
            .lock()
            .unwrap()
            .iter()
            .map(|d| serde_json::from_str::<Value>(d).unwrap()["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(names.iter().any(|n| n == "Background"), "{names:?}");
        assert_eq!(emitter.flushes.load(Ordering::SeqCst), after_invocation + 1, "the late tree's flush was started");
    });
}
