//! Whole lifecycles through `HandlerScope` checked end to end: the deadline guard then the
//! finish, panics and errors, with every subsegment sent complete exactly once.
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::metrics::{self, Unit};
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

type H = Captured;

fn h() -> H {
    captured(config(&[]))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

/// The scope of a traced invocation `request_id` of the handler `name`; built inside the
/// test's subscriber (its span is that subscriber's).
fn traced_scope(telemetry: Telemetry, request_id: &str, name: &'static str) -> HandlerScope {
    let ctx = ContextBuilder::new().request_id(request_id).trace_header(HEADER).build();
    HandlerScope::with_telemetry(telemetry, HandlerOptions::new(name), &ctx, tracing::info_span!("handler"))
}

fn walk(v: &serde_json::Value, out: &mut Vec<(String, String, bool)>) {
    out.push((v["name"].as_str().unwrap().into(), v["id"].as_str().unwrap().into(), v.get("in_progress").is_some()));
    for c in v.get("subsegments").and_then(|s| s.as_array()).into_iter().flatten() {
        walk(c, out);
    }
}

#[test]
fn deadline_then_finish_sends_each_subsegment_and_metric_once() {
    let h = h();
    let ctx = ContextBuilder::new().request_id("slow").trace_header(HEADER).deadline_ms(T0 + 120).build();
    let telemetry = h.telemetry.clone();
    let out = rt().block_on(
        async move {
            let scope = HandlerScope::with_telemetry(
                telemetry,
                HandlerOptions::new("HandleSlow").deadline_margin(Duration::from_millis(100)),
                &ctx,
                tracing::info_span!("HandleSlow"),
            );
            let fut = scope.run(
                async {
                    drop(streamer_obs::xray::subsegment("Before"));
                    let open = streamer_obs::xray::subsegment("Spanning");
                    metrics::add("M1", Unit::Count, 1.0);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    drop(streamer_obs::xray::subsegment("After"));
                    drop(open);
                    metrics::add("M2", Unit::Count, 2.0);
                    Ok::<u8, std::io::Error>(1)
                },
                ErrorView::from_error,
                |_| None,
            );
            fn assert_send<T: Send>(_: &T) {}
            assert_send(&fut);
            fut.await
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert_eq!(out.unwrap(), 1);
    let mut seen = Vec::new();
    for d in h.xray.documents() {
        walk(&d, &mut seen);
    }
    let mut counts: HashMap<(String, bool), usize> = HashMap::new();
    for (name, _, ip) in &seen {
        *counts.entry((name.clone(), *ip)).or_default() += 1;
    }
    eprintln!("{seen:?}");
    for n in ["HandleSlow", "Before", "Spanning", "After"] {
        assert_eq!(counts.get(&(n.to_owned(), false)), Some(&1), "{n} complete: {seen:?}");
    }
    assert_eq!(counts.get(&("HandleSlow".to_owned(), true)), Some(&1));
    assert_eq!(counts.get(&("Spanning".to_owned(), true)), Some(&1));
    let lines = h.emf.lines();
    eprintln!("{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.contains("\"M1\":")).count(), 1);
    assert_eq!(lines.iter().filter(|l| l.contains("\"M2\":")).count(), 1);
}

#[test]
fn panic_flushes_xray_and_metrics_before_resuming_and_poll_after_done_is_pending() {
    let h = h();
    let ctx = ContextBuilder::new().request_id("p").trace_header(HEADER).build();
    let telemetry = h.telemetry.clone();
    let dispatch = h.dispatch.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt().block_on(
            async move {
                let scope = HandlerScope::with_telemetry(
                    telemetry,
                    HandlerOptions::new("HandlePanic"),
                    &ctx,
                    tracing::info_span!("HandlePanic"),
                );
                scope
                    .run(
                        async {
                            metrics::add("Before", Unit::Count, 1.0);
                            if true {
                                panic!("boom");
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
    }));
    assert!(r.is_err());
    let docs = h.xray.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["fault"], true);
    assert!(h.emf.lines().iter().any(|l| l.contains("\"Before\":")));

    // Poll after completion.
    let ctx = ContextBuilder::new().request_id("q").trace_header(HEADER).build();
    let _g = tracing::dispatcher::set_default(&h.dispatch);
    let rt = rt();
    let _e = rt.enter();
    let scope =
        HandlerScope::with_telemetry(h.telemetry.clone(), HandlerOptions::new("H2"), &ctx, tracing::info_span!("H2"));
    let mut fut = std::pin::pin!(scope.run(async { Ok::<u8, std::io::Error>(7) }, ErrorView::from_error, |_| None));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut got = None;
    for _ in 0..10 {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            got = Some(v);
            break;
        }
    }
    assert_eq!(got.unwrap().unwrap(), 7);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
}

/// An error whose `Display` and `Debug` panic.
struct PanickyError;

impl std::fmt::Display for PanickyError {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Display panicked")
    }
}

impl std::fmt::Debug for PanickyError {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Debug panicked")
    }
}

impl std::error::Error for PanickyError {}

/// User code the lifecycle runs after the body (the error's `Display`, the response's
/// `Serialize`) may panic: the handler's result still comes back unchanged, and every
/// metric, line and subsegment recorded is still flushed.
#[test]
fn a_panic_in_the_error_view_or_the_response_capture_loses_nothing() {
    let h = h();
    let telemetry = h.telemetry.clone();
    let out = rt().block_on(
        async move {
            traced_scope(telemetry, "panicky", "HandlePanicky")
                .run(
                    async {
                        metrics::add("Recorded", Unit::Count, 1.0);
                        drop(streamer_obs::xray::subsegment("Child"));
                        Err::<u8, PanickyError>(PanickyError)
                    },
                    ErrorView::from_error,
                    |_| None,
                )
                .await
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert!(matches!(out, Err(PanickyError)), "the error comes back unchanged");
    let emf = h.emf.json_lines();
    assert!(emf.iter().any(|d| d.get("Recorded").is_some()), "{emf:?}");
    let docs = h.xray.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    let doc = &docs[0];
    assert_eq!(doc["name"], "HandlePanicky");
    assert_eq!(doc["fault"], true);
    assert_eq!(doc["subsegments"][0]["name"], "Child");

    // A response whose capture panics: the value comes back, nothing else is lost.
    let h = self::h();
    let telemetry = h.telemetry.clone();
    let out = rt().block_on(
        async move {
            traced_scope(telemetry, "panicky-ok", "HandleOk")
                .run(
                    async {
                        metrics::add("Recorded", Unit::Count, 1.0);
                        Ok::<u8, std::io::Error>(7)
                    },
                    ErrorView::from_error,
                    |_: &u8| -> Option<serde_json::Value> { panic!("serialize panicked") },
                )
                .await
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert_eq!(out.unwrap(), 7);
    assert!(h.emf.json_lines().iter().any(|d| d.get("Recorded").is_some()));
    let doc = &h.xray.documents()[0];
    assert_eq!(doc["name"], "HandleOk");
    assert!(doc.get("fault").is_none() && doc.get("metadata").is_none(), "{doc}");
}

/// A run future dropped while its handler runs (a timeout around it): one WARN line, the
/// handler subsegment a fault with a `Cancelled` exception, the latency until the drop, and
/// everything recorded before (metrics, a closed child) flushed.
#[test]
fn a_cancelled_handler_flushes_what_it_recorded() {
    let h = h();
    let writer = h.log.clone();
    let telemetry = h.telemetry.clone();
    let timed_out = rt().block_on(
        async move {
            let run = traced_scope(telemetry, "cancelled", "HandleCancelled").run(
                async {
                    metrics::add("BeforeCancel", Unit::Count, 1.0);
                    drop(streamer_obs::xray::subsegment("Child"));
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok::<u8, std::io::Error>(1)
                },
                ErrorView::from_error,
                |_| None,
            );
            tokio::time::timeout(Duration::from_millis(20), run).await
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert!(timed_out.is_err());
    let emf = h.emf.json_lines();
    let doc = emf.iter().find(|d| d.get("BeforeCancel").is_some()).expect("the metric recorded before the drop");
    assert!(doc["ProcessingLatency"].is_number(), "{doc}");
    let warns: Vec<_> = writer
        .json_lines()
        .into_iter()
        .filter(|l| l["level"] == "WARN" && l["message"].as_str().is_some_and(|m| m.starts_with("handler cancelled")))
        .collect();
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert_eq!(warns[0]["handler"], "HandleCancelled");
    let docs = h.xray.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    let doc = &docs[0];
    assert_eq!(doc["name"], "HandleCancelled");
    assert_eq!(doc["fault"], true);
    assert_eq!(doc["cause"]["exceptions"][0]["type"], "Cancelled");
    assert_eq!(doc["subsegments"][0]["name"], "Child");
}

/// A task the handler spawned (in its invocation's scope, as the README shows) that records
/// after the handler returned: its metric and subsegment would never be published, so they
/// are refused, each said by a WARN line, not lost silently.
#[test]
fn records_after_the_invocation_returned_are_refused_with_a_warning() {
    let H { telemetry, dispatch, emf, xray, log: writer } = h();
    let (late_recorded, before_recorded) = rt().block_on(
        async move {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let mut late = None;
            traced_scope(telemetry, "spawner", "HandleSpawn")
                .run(
                    async {
                        let inv = streamer_obs::invocation::Invocation::current().unwrap();
                        // Opened in the handler, closed by the task after the return.
                        let background = streamer_obs::xray::subsegment("Background");
                        late = Some(tokio::spawn(
                            inv.scope(async move {
                                let before = metrics::add("BeforeReturn", Unit::Count, 1.0);
                                rx.await.ok();
                                drop(background);
                                drop(streamer_obs::xray::subsegment("LateSub"));
                                (metrics::add("AfterReturn", Unit::Count, 1.0), before)
                            })
                            .with_current_subscriber(),
                        ));
                        tokio::task::yield_now().await;
                        Ok::<u8, std::io::Error>(1)
                    },
                    ErrorView::from_error,
                    |_| None,
                )
                .await
                .unwrap();
            tx.send(()).unwrap();
            late.unwrap().await.unwrap()
        }
        .with_subscriber(dispatch),
    );
    assert!(before_recorded);
    assert!(!late_recorded, "a metric recorded after the invocation returned is refused");
    assert!(emf.json_lines().iter().any(|d| d.get("BeforeReturn").is_some()));
    assert!(!emf.json_lines().iter().any(|d| d.get("AfterReturn").is_some()));
    let lines = writer.json_lines();
    let dropped = lines.iter().find(|l| l["metric"] == "AfterReturn").expect("a WARN line for the late metric");
    assert_eq!(dropped["level"], "WARN");
    assert!(lines.iter().any(|l| l["level"] == "WARN" && l["subsegment"] == "LateSub"), "{lines:#?}");
    assert!(xray.documents().iter().all(|d| d["name"] != "LateSub"));
    // Still open at the last flush: said once, and sent when it closed.
    assert!(lines.iter().any(|l| l["level"] == "WARN" && l["message"].as_str().unwrap().contains("still open")));
    assert!(xray.documents().iter().any(|d| d["name"] == "Background" && d.get("end_time").is_some()));
}
