//! 1. `dimension_name!` / `dimension_value!` literals holding text the EMF line's string
//!    writer would redact (`token=…`, `Bearer …`) are refused with a typed error when first
//!    recorded (README: "refused with a typed error … (the EMF line is a log line, where it
//!    would be redacted into another name)"); they were accepted, and two such names became
//!    one root member twice, one DimensionSet naming the same key twice (E-1, E-7, E-8).
//! 2. The flush does not hang when caller code runs while the invocation's metric set is
//!    locked: `EmfPublisher`'s ERROR/WARN lines are written after the lock is released (a
//!    tracing layer that counts metric errors as a metric), and a custom publisher that
//!    records a metric from `publish_now` gets `MetricsError::Reentrant` (it spun forever on
//!    the lock).
mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::metrics::{
    self, Dimensions, EmfPublisher, FlushOptions, MetricSet, MetricsPublisher, Namespace, PublishReport,
    StorageResolution, Unit, emf,
};
use streamer_obs::testing::{ContextBuilder, FixedClock};
use tracing_subscriber::layer::SubscriberExt;

const NOW: u64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------
// 1. Credentials in dimension names and values made by the macros
// ---------------------------------------------------------------------------------------

/// Two dimension names from `dimension_name!` holding `token=…` (the macro's const check
/// only looks for JWTs) would be written as the same member name `"token=[REDACTED]"`
/// twice; a `dimension_value!("Bearer …")` as `"Bearer [REDACTED]"`. README, Metrics limits
/// table: "a credential the log scrubber redacts (`Bearer …`, `token=…`) … refused with a
/// typed error in a … dimension name or value".
#[test]
fn macro_dimension_names_and_values_holding_credentials_are_refused() {
    let a = streamer_obs::dimension_name!("token=aaaa1");
    let b = streamer_obs::dimension_name!("token=bbbb2");
    let bearer = streamer_obs::dimension_value!("Bearer abc123XYZ");
    let plain = streamer_obs::dimension_value!("x");
    let ok = streamer_obs::dimension_name!("Route");
    for dims in [
        Dimensions::new().with(a.clone(), &bearer).with(b.clone(), &plain),
        Dimensions::new().with(a.clone(), &plain),
        Dimensions::new().with(ok.clone(), &bearer),
    ] {
        let mut set = MetricSet::new(Namespace::streamer());
        let refused = set.add_with("Hits", Unit::Count, 1.0, StorageResolution::Standard, &dims);
        assert!(matches!(refused, Err(metrics::MetricsError::Dimension { .. })), "{refused:?}");
        assert!(emf::encode_lines(&set, NOW).is_empty(), "nothing recorded");
    }
    let mut set = MetricSet::new(Namespace::streamer());
    assert!(set.add_dimension(a, &plain).is_err());
    assert!(set.add_dimension(ok.clone(), &bearer).is_err());
    set.add_with("Hits", Unit::Count, 1.0, StorageResolution::Standard, &Dimensions::new().with(ok, &plain)).unwrap();
    let line: Value = serde_json::from_str(&emf::encode_lines(&set, NOW)[0]).unwrap();
    assert_eq!(line["Route"], "x");
}

/// Control: the runtime constructors refuse the same text with a typed error.
#[test]
fn control_runtime_constructors_refuse_credentials() {
    assert!(metrics::DimensionName::new("token=aaaa1").is_err());
    assert!(metrics::TenantId::new("Bearer abc123XYZ").is_err());
}

// ---------------------------------------------------------------------------------------
// 2. Caller code under the metric set's spin lock during the flush
// ---------------------------------------------------------------------------------------

/// A tracing layer that counts the SDK's metric errors as a metric of the current
/// invocation (an ordinary "count error lines" layer).
struct CountMetricErrors;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountMetricErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR && event.metadata().target() == "streamer_obs::metrics" {
            metrics::add("MetricsErrors", Unit::Count, 1.0);
        }
    }
}

fn config() -> Config {
    Config::builder()
        .service("svc")
        .environment("prod")
        .context_missing(streamer_obs::config::ContextMissing::IgnoreError)
        .build_from(&EnvVars::empty())
}

fn warm_invocation(config: &Config) -> Arc<Invocation> {
    let tracker = ColdStartTracker::new(&Default::default());
    tracker.take();
    Arc::new(Invocation::from_context(&ContextBuilder::new().function_name("f").build(), config, &tracker))
}

/// Runs `f` on its own thread; `None` when it did not finish within 10 s (a hang guard,
/// not a timing: the flush takes microseconds).
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10)).ok()
}

/// The lifecycle flushes inside the invocation's scope (`handler.rs` `flush_after`:
/// `sync_scope(|| flush_invocation_now(..))`); the EMF writer fails, `EmfPublisher` logs
/// its ERROR line while `set_now` holds the set's lock, the layer records a metric, which
/// takes the same lock on the same thread: the flush never returns.
///
/// Expected: the flush returns (the failure reported as lost); the layer's metric is
/// refused or recorded, never a hang. Observed: hang (the thread spins on the lock).
#[test]
fn a_layer_that_counts_metric_errors_does_not_hang_the_flush() {
    let got = within_10s(|| {
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(CountMetricErrors));
        let config = config();
        let inv = warm_invocation(&config);
        let publisher = EmfPublisher::new(common::BrokenWriter);
        Arc::clone(&inv).sync_scope(|| {
            assert!(metrics::add("Hits", Unit::Count, 1.0));
            metrics::flush_invocation_now(&inv, &publisher, &FixedClock::at_millis(NOW), &FlushOptions::default())
        })
    });
    let report = got.expect("the flush hung: caller code (a tracing layer) re-entered the metric set's spin lock");
    let report = report.expect("EMF is flushed in place");
    assert_eq!((report.sent, report.lost), (0, 1));
}

/// A publisher of the user's own (`MetricsPublisher` is a public trait) that records a
/// metric while publishing (say, a count of documents it sent): `publish_now` runs under
/// the set's lock, the same hang.
#[derive(Default)]
struct CountingPublisher;

#[async_trait::async_trait]
impl MetricsPublisher for CountingPublisher {
    async fn publish(&self, set: &MetricSet, _now_ms: u64) -> PublishReport {
        PublishReport { sent: set.len(), lost: 0 }
    }
    fn publish_now(&self, set: &MetricSet, _now_ms: u64) -> Option<PublishReport> {
        metrics::add("DocumentsPublished", Unit::Count, 1.0);
        Some(PublishReport { sent: set.len(), lost: 0 })
    }
}

#[test]
fn a_publisher_that_records_a_metric_does_not_hang_the_flush() {
    let got = within_10s(|| {
        let config = config();
        let inv = warm_invocation(&config);
        Arc::clone(&inv).sync_scope(|| {
            assert!(metrics::add("Hits", Unit::Count, 1.0));
            metrics::flush_invocation_now(
                &inv,
                &CountingPublisher,
                &FixedClock::at_millis(NOW),
                &FlushOptions::default(),
            )
        })
    });
    assert!(got.is_some(), "the flush hung: the publisher's code re-entered the metric set's spin lock");
}

/// Control: the same layer and failing writer, the flush called outside the invocation's
/// scope (the layer's `metrics::add` finds no current invocation and returns): no hang.
/// So the hang above is the re-entry into the set's lock.
#[test]
fn control_the_same_flush_outside_the_scope_returns() {
    let got = within_10s(|| {
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(CountMetricErrors));
        let config = config();
        let inv = warm_invocation(&config);
        Arc::clone(&inv).sync_scope(|| assert!(metrics::add("Hits", Unit::Count, 1.0)));
        metrics::flush_invocation_now(
            &inv,
            &EmfPublisher::new(common::BrokenWriter),
            &FixedClock::at_millis(NOW),
            &FlushOptions::default(),
        )
    });
    let report = got.expect("no hang").expect("in place");
    assert_eq!((report.sent, report.lost), (0, 1));
}
