//! Handlers with `panic_aborts(true)` polled concurrently on a multi-thread Tokio
//! runtime, over several polls each; one panics on a later poll: the hook records only
//! that invocation, the others finish and are recorded unaffected. A task spawned by a
//! handler that panics on another thread: the hook does nothing there.
mod abort_harness;
mod common;

use abort_harness::*;
use common::*;
use streamer_obs::handler::ErrorView;
use streamer_obs::metrics::{self, Unit};
use tracing::instrument::WithSubscriber;

#[test]
fn only_the_panicking_invocation_is_recorded_by_the_hook() {
    let snaps = snapshot_hook();
    let h = captured(config(&[]));
    snaps.watch(&h);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_time().build().unwrap();
    const NAMES: [&str; 8] = ["H0", "H1", "H2", "H3", "H4", "H5", "H6", "H7"];
    let results = rt.block_on(async {
        let mut handles = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let s = scope(&h, name, &format!("r-{i}"), true);
            let body = async move {
                for round in 0..20 {
                    tokio::task::yield_now().await;
                    let _sub = streamer_obs::xray::subsegment("Round");
                    metrics::add("Rounds", Unit::Count, 1.0);
                    if i == 3 && round == 10 {
                        panic!("H3 panicked on a later poll");
                    }
                }
                Ok::<usize, std::io::Error>(i)
            };
            handles.push(tokio::spawn(
                async move { s.run(body, ErrorView::from_error, |_| None).await }.with_subscriber(h.dispatch.clone()),
            ));
        }
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await);
        }
        out
    });
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(Ok(v)) => assert_eq!(*v, i),
            Err(e) => assert!(i == 3 && e.is_panic(), "{i}: {e:?}"),
            Ok(Err(e)) => panic!("{i}: {e}"),
        }
    }
    let docs = h.xray.documents();
    assert_eq!(docs.len(), 8, "one document per invocation: {docs:?}");
    for d in &docs {
        let name = d["name"].as_str().unwrap();
        assert_eq!(d["fault"] == true, name == "H3", "{d}");
        let rounds = d["subsegments"].as_array().map_or(0, Vec::len);
        assert_eq!(rounds, if name == "H3" { 11 } else { 20 }, "{d}");
    }
    assert_valid_docs(&h);
    assert_eq!(errors(&h.log), 1, "{:?}", h.log.lines());
    assert_eq!(h.emf.lines().len(), 8);
    let taken = snaps.taken();
    assert_eq!(taken.len(), 1);
    assert!(taken[0].names.iter().any(|n| n == "H3 fault"), "{taken:?}");
    assert_eq!(taken[0].names.iter().filter(|n| n.ends_with(" fault")).count(), 1, "{taken:?}");

    // A task spawned by the handler panics on another worker: the handler awaits it and
    // goes on; the hook records nothing for that panic.
    let h = captured(config(&[]));
    snaps.watch(&h);
    let s = scope(&h, "HSpawn", "r-spawn", true);
    let out = rt.block_on(
        async move {
            s.run(
                async {
                    let joined = tokio::spawn(async {
                        tokio::task::yield_now().await;
                        panic!("in a spawned task")
                    })
                    .await;
                    assert!(joined.unwrap_err().is_panic());
                    Ok::<u8, std::io::Error>(5)
                },
                ErrorView::from_error,
                |_| None,
            )
            .await
        }
        .with_subscriber(h.dispatch.clone()),
    );
    assert_eq!(out.unwrap(), 5);
    let docs = h.xray.documents();
    assert_eq!(docs.len(), 1);
    assert!(docs[0].get("fault").is_none(), "{}", docs[0]);
    assert_eq!(errors(&h.log), 0);
    assert_eq!(snaps.taken().len(), 1);
    assert_eq!(snaps.taken()[0].xray_docs, 0, "nothing recorded by the hook for the spawned task's panic");
}
