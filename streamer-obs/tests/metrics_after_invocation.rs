//! What a task spawned in the invocation's scope records after the handler returned. The
//! lifecycle documents (handler.rs `flush_after`): "what a spawned task records from now on
//! is refused with a WARN line (it would never be published), not lost silently": `add`,
//! `try_add`, and also `set_property` and `add_dimension` (which returned `true` and lost
//! the data).
mod common;

use std::sync::Arc;

use common::*;
use lambda_runtime::tower::{Layer, Service, ServiceExt};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use streamer_obs::handler::{ErrorView, HandlerOptions};
use streamer_obs::invocation::Invocation;
use streamer_obs::layer::ObsLayer;
use streamer_obs::metrics::{self, Unit, standard};
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

/// Runs one invocation whose handler records "M", then spawns (in the invocation's scope)
/// a task that waits for the handler to return and then calls `late`; returns what `late`
/// returned and the capture.
fn late_call(late: fn() -> (bool, bool)) -> ((bool, bool), Captured) {
    let h = captured(config(&[]));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<(bool, bool)>();
    let slot = Arc::new(std::sync::Mutex::new(Some((rx, done_tx))));
    let svc = ObsLayer::<std::io::Error>::new(HandlerOptions::new("H"))
        .error_view(ErrorView::from_error)
        .telemetry(h.telemetry.clone())
        .layer(service_fn(move |_e: LambdaEvent<Value>| {
            let slot = slot.clone();
            async move {
                let (rx, done) = slot.lock().unwrap().take().unwrap();
                assert!(metrics::add("M", Unit::Count, 1.0));
                let inv = Invocation::current().unwrap();
                tokio::spawn(
                    inv.scope(async move {
                        rx.await.unwrap();
                        let _ = done.send(late());
                    })
                    .with_current_subscriber(),
                );
                Ok::<_, std::io::Error>(json!(1))
            }
        }));
    let got = rt().block_on(
        async move {
            let mut svc = svc;
            let ctx = ContextBuilder::new().request_id("late").trace_header(HEADER).build();
            svc.ready().await.unwrap().call(LambdaEvent::new(json!({}), ctx)).await.unwrap();
            tx.send(()).unwrap();
            done_rx.await.unwrap()
        }
        .with_subscriber(h.dispatch.clone()),
    );
    (got, h)
}

fn warns(h: &Captured) -> Vec<Value> {
    h.log.json_lines().into_iter().filter(|l| l["level"] == "WARN").collect()
}

/// `set_property` after the handler returned reports success (`true`), writes no WARN
/// line, and the property reaches no EMF line: silently lost. Expected (as for `add`):
/// `false` and one WARN line (`AfterInvocation`).
#[test]
fn set_property_after_the_handler_returned_is_not_silently_lost() {
    let ((accepted, _), h) = late_call(|| (metrics::set_property("late_key", "late_value"), true));
    let emf = h.emf.json_lines();
    assert!(emf.iter().any(|d| d.get("M").is_some()), "the invocation's own metric was published: {emf:?}");
    assert!(emf.iter().all(|d| d.get("late_key").is_none()), "the property cannot be published any more");
    let w = warns(&h);
    assert!(
        !accepted && !w.is_empty(),
        "set_property after the invocation's flush returned {accepted} with WARN lines {w:?}: the property is lost \
         silently (add() is refused with AfterInvocation and a WARN line)"
    );
}

/// `add_dimension` after the handler returned: the same.
#[test]
fn add_dimension_after_the_handler_returned_is_not_silently_lost() {
    let ((accepted, _), h) = late_call(|| (metrics::add_dimension(standard::ACTION, &standard::Action::Connect), true));
    let emf = h.emf.json_lines();
    assert!(emf.iter().all(|d| d.get("Action").is_none()));
    let w = warns(&h);
    assert!(
        !accepted && !w.is_empty(),
        "add_dimension after the invocation's flush returned {accepted} with WARN lines {w:?}: lost silently"
    );
}

/// Control: `add` after the handler returned is refused with a WARN line (passes).
#[test]
fn control_add_after_the_handler_returned_warns() {
    let ((accepted, _), h) = late_call(|| (metrics::add("Late", Unit::Count, 1.0), true));
    assert!(!accepted);
    assert!(!warns(&h).is_empty());
}
