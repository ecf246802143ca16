//! A panic in the user's closure passed to `SubsegmentGuard::update_http` (or
//! `update_aws`), which ran under the recorder's spin lock. With `panic_aborts(true)` the
//! hook runs before anything unwinds, and `record_abort` (`end_open_inside`, `end_at`)
//! takes that lock: the thread spun forever (the function hung until the Lambda timeout
//! instead of aborting, nothing recorded). The closure now runs outside the lock; the one
//! given to `InvocationMetrics::with_set` still runs under the metrics lock, and the hook
//! then writes one ERROR line instead of waiting for it.
//!
//! The handler runs on its own thread; the test waits for it with a generous bound (a hang
//! detector, not a timing assertion).
mod abort_harness;
mod common;

use std::sync::mpsc;
use std::time::Duration;

use abort_harness::*;
use common::*;
use streamer_obs::handler::ErrorView;

#[test]
fn a_panic_under_the_recorders_lock_does_not_hang_the_hook() {
    let snaps = snapshot_hook();
    // Without the hook (the panic unwinds, the guard of the lock is dropped): recorded.
    let control = captured(config(&[]));
    assert!(run_locked(&control, false).0);
    assert_eq!(control.xray.documents().len(), 1);
    assert_eq!(control.xray.documents()[0]["fault"], true);

    let h = captured(config(&[]));
    snaps.watch(&h);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run_locked(&h, true));
    });
    let Ok((panicked, docs)) = rx.recv_timeout(Duration::from_secs(20)) else {
        // The spinning thread would keep the process alive: fail now.
        eprintln!(
            "FAILED: the handler thread hangs: the panic hook spins on the recorder lock the panicking closure holds"
        );
        std::process::exit(101);
    };
    assert!(panicked);
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["fault"], true);
    let taken = snaps.taken();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].xray_docs, 1, "{taken:?}");

    // Under the metrics lock (`with_set`): no hang either; the hook says it cannot flush.
    let h = captured(config(&[]));
    snaps.watch(&h);
    let (tx, rx) = mpsc::channel();
    let log = h.log.clone();
    std::thread::spawn(move || {
        let out = run_handler(
            &h,
            "HandleWithSet",
            true,
            async {
                streamer_obs::invocation::Invocation::with_current(|inv| {
                    inv.metrics().with_set(|_| panic!("a bug in the closure"))
                });
                Ok::<u8, std::io::Error>(1)
            },
            ErrorView::from_error,
            |_| None,
        );
        let _ = tx.send(out.is_err());
    });
    let Ok(panicked) = rx.recv_timeout(Duration::from_secs(20)) else {
        eprintln!(
            "FAILED: the handler thread hangs: the panic hook spins on the metrics lock the panicking closure holds"
        );
        std::process::exit(101);
    };
    assert!(panicked);
    let errors: Vec<String> = log.lines().into_iter().filter(|l| l.contains("\"level\":\"ERROR\"")).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("metrics lock") && errors[0].contains("a bug in the closure"), "{}", errors[0]);
}

fn run_locked(h: &Captured, panic_aborts: bool) -> (bool, Vec<serde_json::Value>) {
    let out = run_handler(
        h,
        "HandleLocked",
        panic_aborts,
        async {
            let sub = streamer_obs::xray::subsegment("Call");
            sub.update_http(|_| panic!("a bug in the closure"));
            Ok::<u8, std::io::Error>(1)
        },
        ErrorView::from_error,
        |_| None,
    );
    (out.is_err(), h.xray.documents())
}
