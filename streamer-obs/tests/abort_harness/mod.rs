//! Helpers of the tests of the `panic_aborts` hook (`tests/panic_abort_*.rs`).
//!
//! `snapshot_hook` installs, before the lifecycle's hook is installed, a hook that the
//! lifecycle's then chains to: it notes what the captures held when it ran. When panics
//! abort, that is the last thing that runs before the abort: what it sees is all that
//! reaches CloudWatch and X-Ray.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::common::*;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::testing::{CapturingEmitter, CapturingWriter, ContextBuilder};
use tracing::instrument::WithSubscriber;

/// What the captures held when the previous hook ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snap {
    pub xray_docs: usize,
    /// The names of the documents sent, with `fault` when it is set.
    pub names: Vec<String>,
    pub errors: usize,
    pub emf: usize,
}

type Watched = Arc<Mutex<Option<(CapturingWriter, CapturingWriter, CapturingEmitter)>>>;

pub struct Snapshots {
    watched: Watched,
    pub snaps: Arc<Mutex<Vec<Snap>>>,
}

impl Snapshots {
    pub fn watch(&self, h: &Captured) {
        *self.watched.lock().unwrap() = Some((h.log.clone(), h.emf.clone(), h.xray.clone()));
        self.snaps.lock().unwrap().clear();
    }
    pub fn taken(&self) -> Vec<Snap> {
        self.snaps.lock().unwrap().clone()
    }
}

pub fn errors(log: &CapturingWriter) -> usize {
    log.lines().iter().filter(|l| l.contains("\"level\":\"ERROR\"")).count()
}

/// Must run before any handler with `panic_aborts(true)` (the lifecycle's hook chains to it).
pub fn snapshot_hook() -> Snapshots {
    let watched: Watched = Arc::default();
    let snaps: Arc<Mutex<Vec<Snap>>> = Arc::default();
    let (w, s) = (Arc::clone(&watched), Arc::clone(&snaps));
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let snap = w.lock().unwrap().as_ref().map(|(log, emf, xray)| Snap {
            xray_docs: xray.documents().len(),
            names: xray
                .documents()
                .iter()
                .map(|d| {
                    format!("{}{}", d["name"].as_str().unwrap_or("?"), if d["fault"] == true { " fault" } else { "" })
                })
                .collect(),
            errors: errors(log),
            emf: emf.lines().len(),
        });
        if let Some(snap) = snap {
            s.lock().unwrap().push(snap);
        }
    }));
    Snapshots { watched, snaps }
}

pub fn scope(h: &Captured, name: &'static str, request_id: &str, panic_aborts: bool) -> HandlerScope {
    let ctx = ContextBuilder::new().request_id(request_id).trace_header(HEADER).build();
    HandlerScope::with_telemetry(
        h.telemetry.clone(),
        HandlerOptions::new(name).panic_aborts(panic_aborts),
        &ctx,
        tracing::info_span!("handler", name),
    )
}

/// Runs `body` as the handler `name` (`panic_aborts` as given) on a current-thread
/// runtime, catching the panic that comes out.
pub fn run_handler<T, E, F>(
    h: &Captured,
    name: &'static str,
    panic_aborts: bool,
    body: F,
    view: impl FnOnce(&E) -> ErrorView,
    capture: impl FnOnce(&T) -> Option<serde_json::Value>,
) -> std::thread::Result<Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
{
    let s = scope(h, name, "r-review", panic_aborts);
    let dispatch = h.dispatch.clone();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async move { s.run(body, view, capture).await }.with_subscriber(dispatch))
    }))
}

pub fn assert_valid_docs(h: &Captured) {
    for raw in h.xray.raw() {
        let doc: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert!(xray_schema().is_valid(&doc), "{raw}");
    }
}
