//! Per-invocation recording through the task-local, the drop-with-one-warning policy,
//! and the flush (cold start, raise-on-empty, disabled metrics), against a mockall
//! publisher and the EMF publisher.

mod common;

use std::sync::Arc;

use mockall::Sequence;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::metrics::standard::{self, ErrorType};
use streamer_obs::metrics::{
    self, ConnectionId, Dimensions, EmfPublisher, FlushOptions, MetricsError, MockMetricsPublisher, PublishReport,
    StorageResolution, TenantId, Unit,
};
use streamer_obs::testing::{CapturingWriter, ContextBuilder, FixedClock};
use tracing::instrument::WithSubscriber;

fn config() -> Config {
    // No trace header in these invocations: the once-per-process "X-Ray context missing"
    // line would be one more line in whichever test runs first in the process.
    Config::builder()
        .service("connect")
        .environment("prod")
        .context_missing(streamer_obs::config::ContextMissing::IgnoreError)
        .build_from(&EnvVars::empty())
}

fn invocation(config: &Config, cold: bool) -> Arc<Invocation> {
    let tracker = ColdStartTracker::new(&Default::default());
    if !cold {
        tracker.take();
    }
    Arc::new(Invocation::from_context(
        &ContextBuilder::new().function_name("streamer-connect").build(),
        config,
        &tracker,
    ))
}

fn logs() -> (CapturingWriter, impl tracing::Subscriber + Send + Sync) {
    let w = CapturingWriter::new();
    let layer = streamer_obs::log::layer(&config(), w.clone(), FixedClock::at_millis(0));
    let sub = tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    (w, sub)
}

#[tokio::test]
async fn an_invalid_datum_is_dropped_with_exactly_one_warning_naming_it() {
    let (w, sub) = logs();
    let inv = invocation(&config(), false);
    Arc::clone(&inv)
        .scope(async {
            assert!(!metrics::add("BadValue", Unit::Count, f64::NAN));
            assert!(!metrics::add(String::new(), Unit::Count, 1.0));
            assert!(metrics::add("Good", Unit::Count, 1.0));
        })
        .with_subscriber(sub)
        .await;
    let lines = w.json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["metric"], "BadValue");
    assert_eq!(lines[1]["metric"], "");
    assert_eq!(inv.metrics().with_set(|s| s.values_of("Good")), Some(vec![1.0]));
    assert_eq!(inv.metrics().with_set(|s| s.len()), Some(1));
}

#[tokio::test]
async fn outside_an_invocation_recording_warns_once_and_try_add_is_typed() {
    let (w, sub) = logs();
    async {
        assert!(!metrics::add("Orphan", Unit::Count, 1.0));
    }
    .with_subscriber(sub)
    .await;
    let lines = w.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["metric"], "Orphan");
    assert!(matches!(metrics::try_add("Orphan", Unit::Count, 1.0), Err(MetricsError::NoInvocation { .. })));
}

#[tokio::test]
async fn typed_errors_inside_an_invocation() {
    let inv = invocation(&config(), false);
    Arc::clone(&inv)
        .scope(async {
            assert!(matches!(
                metrics::try_add("X", Unit::Count, f64::INFINITY),
                Err(MetricsError::InvalidValue { .. })
            ));
            assert!(metrics::try_add("X", Unit::Count, 1.0).is_ok());
            assert!(matches!(metrics::try_add("X", Unit::Seconds, 1.0), Err(MetricsError::Conflict { .. })));
            let dims = Dimensions::new().set([standard::TENANT_ID]);
            assert!(metrics::try_add_with("Y", Unit::Count, 1.0, StorageResolution::Standard, &dims).is_err());
        })
        .await;
}

#[tokio::test]
async fn cold_start_is_published_first_as_its_own_set_then_the_invocation() {
    let inv = invocation(&config(), true);
    Arc::clone(&inv)
        .scope(async {
            metrics::add("ConnectionEstablished", Unit::Count, 1.0);
        })
        .await;
    let mut mock = MockMetricsPublisher::new();
    let mut seq = Sequence::new();
    mock.expect_publish()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|set, now| {
            *now == 5_000 && set.values_of("ColdStart") == vec![1.0] && set.len() == 1 && {
                let m = set.metrics().next().unwrap();
                m.sets == vec![vec![&standard::FUNCTION_NAME_LOWER, &standard::SERVICE_LOWER]]
                    && m.dimensions[0].1.as_str() == "streamer-connect"
                    && m.dimensions[1].1.as_str() == "connect"
            }
        })
        .returning(|_, _| PublishReport { sent: 1, lost: 0 });
    mock.expect_publish()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|set, _| set.values_of("ConnectionEstablished") == vec![1.0] && set.values_of("ColdStart").is_empty())
        .returning(|_, _| PublishReport { sent: 1, lost: 0 });
    let report = metrics::flush_invocation(&inv, &mock, &FixedClock::at_millis(5_000), &FlushOptions::default()).await;
    assert!(report.cold_start);
    assert_eq!((report.metrics, report.sent, report.lost), (1, 2, 0));
    // A second flush (deadline guard, then the end) publishes nothing: the set was taken
    // and the cold start is published once.
    let mut quiet = MockMetricsPublisher::new();
    quiet.expect_publish().never();
    let again = metrics::flush_invocation(&inv, &quiet, &FixedClock::at_millis(5_000), &FlushOptions::default()).await;
    assert_eq!(again, metrics::FlushReport::default());
}

#[tokio::test]
async fn a_warm_invocation_has_no_cold_start_metric_and_it_is_never_zero() {
    let inv = invocation(&config(), false);
    Arc::clone(&inv).scope(async { metrics::add("A", Unit::Count, 1.0) }).await;
    let out = CapturingWriter::new();
    metrics::flush_invocation(
        &inv,
        &EmfPublisher::new(out.clone()),
        &FixedClock::at_millis(1),
        &FlushOptions::default(),
    )
    .await;
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].get("ColdStart").is_none());
}

#[tokio::test]
async fn raise_on_empty_logs_an_error_and_writes_no_document() {
    let (w, sub) = logs();
    let inv = invocation(&config(), false);
    let out = CapturingWriter::new();
    let publisher = EmfPublisher::new(out.clone());
    let options = FlushOptions { cold_start_metric: true, raise_on_empty: true };
    let report =
        metrics::flush_invocation(&inv, &publisher, &FixedClock::at_millis(1), &options).with_subscriber(sub).await;
    assert_eq!(report, metrics::FlushReport::default());
    assert!(out.contents().is_empty(), "never an empty document");
    let lines = w.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["level"], "ERROR");
    // Default: no error line either.
    let (w2, sub2) = logs();
    metrics::flush_invocation(&inv, &publisher, &FixedClock::at_millis(1), &FlushOptions::default())
        .with_subscriber(sub2)
        .await;
    assert!(w2.lines().is_empty());
    assert!(out.contents().is_empty());
}

#[tokio::test]
async fn disabled_metrics_record_and_publish_nothing() {
    let config = Config::builder().metrics_disabled(true).build_from(&EnvVars::empty());
    let inv = invocation(&config, true);
    Arc::clone(&inv).scope(async { assert!(metrics::add("A", Unit::Count, 1.0)) }).await;
    let mut mock = MockMetricsPublisher::new();
    mock.expect_publish().never();
    let report = metrics::flush_invocation(&inv, &mock, &FixedClock::at_millis(1), &FlushOptions::default()).await;
    assert_eq!(report, metrics::FlushReport::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_keep_their_own_metrics() {
    let config = config();
    let mut handles = Vec::new();
    for i in 0..8 {
        let inv = invocation(&config, false);
        let task_inv = Arc::clone(&inv);
        handles.push(tokio::spawn(async move {
            task_inv
                .scope(async move {
                    for _ in 0..50 {
                        metrics::add("PerInvocation", Unit::Count, f64::from(i));
                        tokio::task::yield_now().await;
                    }
                })
                .await;
            inv
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let inv = h.await.unwrap();
        let values = inv.metrics().with_set(|s| s.values_of("PerInvocation")).unwrap();
        assert_eq!(values, vec![i as f64; 50]);
    }
}

#[tokio::test]
async fn per_invocation_dimensions_and_properties_reach_the_document() {
    let inv = invocation(&config(), false);
    Arc::clone(&inv)
        .scope(async {
            assert!(metrics::add_dimension(standard::TENANT_ID, &TenantId::new("acme").unwrap()));
            assert!(metrics::set_property("connection_id", ConnectionId::new("abc=")));
            assert!(!metrics::set_property("_aws", 1));
            let dims = Dimensions::new().with(standard::ERROR_TYPE, &ErrorType::InvalidJwt);
            assert!(metrics::add_with("AuthenticationFailed", Unit::Count, 1.0, StorageResolution::High, &dims));
        })
        .await;
    let out = CapturingWriter::new();
    metrics::flush_invocation(
        &inv,
        &EmfPublisher::new(out.clone()),
        &FixedClock::at_millis(1),
        &FlushOptions::default(),
    )
    .await;
    let doc = &out.json_lines()[0];
    assert_eq!(doc["TenantID"], "acme");
    assert_eq!(doc["connection_id"], "abc=");
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Service", "Environment", "TenantID", "ErrorType"]])
    );
    assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"], 1);
}

#[tokio::test]
async fn a_failing_writer_loses_documents_without_failing() {
    let (w, sub) = logs();
    let inv = invocation(&config(), false);
    Arc::clone(&inv).scope(async { metrics::add("A", Unit::Count, 1.0) }).await;
    let report = metrics::flush_invocation(
        &inv,
        &EmfPublisher::new(common::BrokenWriter),
        &FixedClock::at_millis(1),
        &FlushOptions::default(),
    )
    .with_subscriber(sub)
    .await;
    assert_eq!((report.sent, report.lost), (0, 1));
    let lines = w.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["lost_documents"], 1);
}

/// A publisher that publishes the `ColdStart` document synchronously and everything else
/// only when awaited (`publish_now` answers per document).
#[derive(Debug, Default)]
struct ColdNowRestLater {
    now: std::sync::Mutex<Vec<String>>,
    later: std::sync::Mutex<Vec<String>>,
}

fn names(set: &metrics::MetricSet) -> String {
    set.metrics().map(|m| m.name.as_str().to_owned()).collect::<Vec<_>>().join(",")
}

#[async_trait::async_trait]
impl metrics::MetricsPublisher for ColdNowRestLater {
    async fn publish(&self, set: &metrics::MetricSet, _now_ms: u64) -> PublishReport {
        self.later.lock().unwrap().push(names(set));
        PublishReport { sent: set.len(), lost: 0 }
    }

    fn publish_now(&self, set: &metrics::MetricSet, _now_ms: u64) -> Option<PublishReport> {
        let is_cold = names(set) == "ColdStart";
        is_cold.then(|| {
            self.now.lock().unwrap().push(names(set));
            PublishReport { sent: set.len(), lost: 0 }
        })
    }
}

/// The in-place flush publishes what the publisher can publish synchronously and leaves
/// the rest; the awaited flush then publishes only the rest: every document once, and the
/// awaited flush's own report is complete when it is called alone.
#[tokio::test]
async fn a_publisher_synchronous_for_some_documents_publishes_each_once() {
    let config = config();
    let options = FlushOptions { cold_start_metric: true, raise_on_empty: false };
    let clock = FixedClock::at_millis(0);

    let inv = invocation(&config, true);
    Arc::clone(&inv).scope(async { metrics::add("Pushes", Unit::Count, 1.0) }).await;
    let publisher = ColdNowRestLater::default();
    assert!(metrics::flush_invocation_now(&inv, &publisher, &clock, &options).is_none());
    metrics::flush_invocation(&inv, &publisher, &clock, &options).await;
    assert_eq!(*publisher.now.lock().unwrap(), ["ColdStart"]);
    assert_eq!(*publisher.later.lock().unwrap(), ["Pushes"]);

    let inv = invocation(&config, true);
    Arc::clone(&inv).scope(async { metrics::add("Pushes", Unit::Count, 1.0) }).await;
    let publisher = ColdNowRestLater::default();
    let report = metrics::flush_invocation(&inv, &publisher, &clock, &options).await;
    assert_eq!((report.cold_start, report.metrics, report.sent), (true, 1, 2));
    assert_eq!(*publisher.now.lock().unwrap(), ["ColdStart"]);
    assert_eq!(*publisher.later.lock().unwrap(), ["Pushes"]);
}
