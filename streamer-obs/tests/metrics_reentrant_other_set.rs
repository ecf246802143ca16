//! `MetricsError::Reentrant` is meant for a metric recorded "while the invocation's metric
//! set is locked ... since waiting for the lock would wait for itself". `InvocationMetrics::with_set` only forbids recording "metrics of the same
//! invocation by other means". A metric of *another* invocation, recorded from a `with_set`
//! closure while that other invocation's set is briefly held by another thread (one of its
//! own tasks recording at that moment), waits for nothing of this thread's: it must be
//! recorded, not refused.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
use streamer_obs::invocation::ColdStartTracker;
use streamer_obs::metrics::{self, MetricsError, Unit};

#[test]
fn a_metric_of_another_invocation_is_not_refused_while_another_thread_holds_its_set() {
    let config = config(&[("POWERTOOLS_METRICS_NAMESPACE", "Review")]);
    let tracker = ColdStartTracker::new(&Default::default());
    let a = invocation(&config, "req-a", &tracker);
    let b = invocation(&config, "req-b", &tracker);

    // Another thread holds B's set for a moment (as B's own task recording would).
    let (held_tx, held_rx) = mpsc::channel();
    let b2 = b.clone();
    let holder = std::thread::spawn(move || {
        b2.metrics().with_set(|_| {
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
    });
    held_rx.recv().unwrap();

    // This thread, in A's `with_set` closure, records a metric of B.
    let result =
        a.metrics().with_set(|_| b.clone().sync_scope(|| metrics::try_add("OtherInvocation", Unit::Count, 1.0)));
    holder.join().unwrap();
    let result = result.expect("metrics enabled");
    assert!(
        !matches!(result, Err(MetricsError::Reentrant { .. })),
        "refused as reentrant, though this thread holds no lock of B: {result:?}"
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(b.metrics().with_set(|s| s.len()), Some(1));
}

/// Baseline: without the other thread, the same record succeeds.
#[test]
fn baseline_uncontended_metric_of_another_invocation_is_recorded() {
    let config = config(&[("POWERTOOLS_METRICS_NAMESPACE", "Review")]);
    let tracker = ColdStartTracker::new(&Default::default());
    let a = invocation(&config, "req-a", &tracker);
    let b = invocation(&config, "req-b", &tracker);
    let result =
        a.metrics().with_set(|_| b.clone().sync_scope(|| metrics::try_add("OtherInvocation", Unit::Count, 1.0)));
    assert!(result.unwrap().is_ok());
}
