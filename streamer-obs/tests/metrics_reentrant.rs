//! `metrics::set_property` and `metrics::add_dimension` run the caller's code (`Serialize`,
//! `DimensionValueSource`) before the invocation's metric-set lock is taken; a review found
//! `set_property` ran it under the spin lock, so a value whose serialisation records a
//! metric (`metrics::add`) deadlocked the invocation.
//!
//! What is violated: project policy (bad input gets a typed error or a documented policy,
//! never a panic; never silently lost data). The thread spins forever on the set's lock:
//! no metric of the invocation is ever flushed (the EMF document is never written), and
//! the invocation hangs until Lambda's timeout kills it. The same holds for
//! `metrics::add_dimension` with a `DimensionValueSource` whose `dimension_value` records.
//! src/lock.rs acknowledges that caller code runs under the lock
//! (`CallerCodeUnderLock`), but only for the abort hook; re-entry is not detected.
//!
//! Policy: the inner `metrics::add` is recorded and the flush writes the EMF document. The
//! tests bound the wait to 10 s instead of hanging (a hang guard, not a timing).

use std::sync::Arc;
use std::time::Duration;

use streamer_obs::config::{Config, EnvVars};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::metrics::{self, EmfPublisher, FlushOptions, Unit};
use streamer_obs::testing::{CapturingWriter, ContextBuilder, FixedClock};

const NOW: u64 = 1_700_000_000_000;

/// A property value whose serialisation records a metric (say, a "serialised" counter).
struct CountsItsSerialisation;

impl serde::Serialize for CountsItsSerialisation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        metrics::add("PropertySerialised", Unit::Count, 1.0);
        s.serialize_str("value")
    }
}

/// A dimension value whose computation records a metric.
struct CountsItsLookup;

impl metrics::DimensionValueSource for CountsItsLookup {
    fn dimension_value(&self) -> metrics::DimensionValue {
        metrics::add("DimensionLookedUp", Unit::Count, 1.0);
        streamer_obs::dimension_value!("eu")
    }
}

/// Runs `body` in an invocation on its own thread, flushes, and returns the EMF lines
/// (panics after 10 s: a deadlock).
fn flushed_lines(body: fn()) -> Vec<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let config = Config::builder()
                .service("svc")
                .environment("prod")
                .context_missing(streamer_obs::config::ContextMissing::IgnoreError)
                .build_from(&EnvVars::empty());
            let tracker = ColdStartTracker::new(&Default::default());
            tracker.take();
            let inv = Arc::new(Invocation::from_context(
                &ContextBuilder::new().function_name("f").build(),
                &config,
                &tracker,
            ));
            Arc::clone(&inv).scope(async { body() }).await;
            let out = CapturingWriter::new();
            let publisher = EmfPublisher::new(out.clone());
            metrics::flush_invocation(&inv, &publisher, &FixedClock::at_millis(NOW), &FlushOptions::default()).await;
            let _ = tx.send(out.json_lines());
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("deadlocked: the user's code re-entered the metric set's lock"))
}

#[test]
fn a_property_whose_serialisation_records_a_metric_does_not_hang_the_invocation() {
    let lines = flushed_lines(|| {
        metrics::add("Hits", Unit::Count, 1.0);
        assert!(metrics::set_property("p", CountsItsSerialisation));
    });
    assert!(lines.iter().any(|doc| doc["Hits"] == 1), "the invocation's metrics were flushed: {lines:?}");
    assert!(lines.iter().any(|doc| doc["PropertySerialised"] == 1), "{lines:?}");
    assert!(lines.iter().any(|doc| doc["p"] == "value"), "{lines:?}");
}

#[test]
fn a_dimension_value_that_records_a_metric_does_not_hang_the_invocation() {
    let lines = flushed_lines(|| {
        let region = metrics::DimensionName::new("Region").unwrap();
        assert!(metrics::add_dimension(region, &CountsItsLookup));
        metrics::add("Hits", Unit::Count, 1.0);
    });
    assert!(lines.iter().any(|doc| doc["Hits"] == 1 && doc["Region"] == "eu"), "{lines:?}");
    assert!(lines.iter().any(|doc| doc["DimensionLookedUp"] == 1), "{lines:?}");
}
