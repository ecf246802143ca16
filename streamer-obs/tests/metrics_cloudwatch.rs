//! The `PutMetricData` publisher and the standard alarms against a real endpoint: moto
//! server behind the CloudWatch CBOR bridge (`scripts/emulators/cloudwatch_cbor_bridge.py`),
//! started by `scripts/test.sh`, which exports `STREAMER_TEST_CLOUDWATCH_ENDPOINT`.
//! Without it the tests fail when `STREAMER_REQUIRE_EMULATORS=1` or `CI` is set, and are
//! skipped with a notice otherwise.
#![cfg(feature = "cloudwatch")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Statistic};
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::metrics::alarm::{AlarmConfig, AlarmSpec, FunctionAlarms, apply_alarms, standard_alarms};
use streamer_obs::metrics::cloudwatch::CloudWatchPublisher;
use streamer_obs::metrics::standard::{self, Action, ErrorType};
use streamer_obs::metrics::{MetricSet, MetricsPublisher, Namespace, TenantId, Unit};
use streamer_obs::testing::CapturingWriter;
use tracing::instrument::WithSubscriber;

const VAR: &str = "STREAMER_TEST_CLOUDWATCH_ENDPOINT";

fn endpoint() -> Option<String> {
    streamer_obs::testing::emulator_endpoint(VAR)
}

async fn client(endpoint: &str) -> (Client, CloudWatchPublisher) {
    let sdk = streamer_obs::aws::emulator_config(endpoint, "us-east-1").await;
    (Client::new(&sdk), CloudWatchPublisher::new(&sdk))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A namespace of its own per test, so tests sharing the emulator do not see each other.
fn namespace(test: &str) -> Namespace {
    Namespace::new(format!("StreamerTest/{test}/{}", fastrand::u64(..))).unwrap()
}

fn dim(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

#[tokio::test]
async fn put_metric_data_round_trips_values_and_dimension_sets() {
    let Some(ep) = endpoint() else { return };
    let (client, publisher) = client(&ep).await;
    let ns = namespace("put");
    let config = Config::builder().environment("prod").namespace(ns.as_str()).build_from(&EnvVars::empty());
    let mut set = MetricSet::from_config(&config);
    for ms in [10u64, 20, 20, 50] {
        standard::processing_latency(&mut set, Action::Connect, Duration::from_millis(ms)).unwrap();
    }
    standard::connection_closed(&mut set, None, None).unwrap();
    let now = now_ms();
    let report = publisher.publish(&set, now).await;
    assert_eq!((report.sent, report.lost), (4, 0), "2 metrics x 2 dimension sets");

    let listed = client.list_metrics().namespace(ns.as_str()).send().await.unwrap();
    let mut seen: Vec<(String, Vec<String>)> = listed
        .metrics()
        .iter()
        .map(|m| {
            let mut keys: Vec<String> =
                m.dimensions().iter().map(|d| d.name().unwrap_or_default().to_owned()).collect();
            keys.sort();
            (m.metric_name().unwrap_or_default().to_owned(), keys)
        })
        .collect();
    // moto lists a metric once per stored value; CloudWatch once per metric.
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        vec![
            ("ConnectionClosed".to_owned(), vec!["Environment".to_owned()]),
            ("ConnectionClosed".to_owned(), vec!["Environment".to_owned(), "TenantID".to_owned()]),
            ("ProcessingLatency".to_owned(), vec!["Action".to_owned(), "Environment".to_owned()]),
            ("ProcessingLatency".to_owned(), vec!["Environment".to_owned()]),
        ]
    );
    // The empty tenant became the placeholder.
    let closed = client
        .list_metrics()
        .namespace(ns.as_str())
        .metric_name("ConnectionClosed")
        .dimensions(DimensionFilter::builder().name("TenantID").value("unknown").build())
        .send()
        .await
        .unwrap();
    assert_eq!(closed.metrics().len(), 1);

    let stats = client
        .get_metric_statistics()
        .namespace(ns.as_str())
        .metric_name("ProcessingLatency")
        // moto matches datapoints whose dimensions include the filter (CloudWatch matches the
        // exact set): filter on the full set so only the [Environment, Action] datum counts.
        .dimensions(dim("Environment", "prod"))
        .dimensions(dim("Action", "connect"))
        .start_time(DateTime::from_millis(now as i64 - 600_000))
        .end_time(DateTime::from_millis(now as i64 + 600_000))
        .period(60)
        .statistics(Statistic::Sum)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap();
    let points = stats.datapoints();
    let sum: f64 = points.iter().filter_map(|p| p.sum()).sum();
    let count: f64 = points.iter().filter_map(|p| p.sample_count()).sum();
    let max = points.iter().filter_map(|p| p.maximum()).fold(f64::MIN, f64::max);
    assert_eq!((sum, count, max), (100.0, 4.0, 50.0), "{points:?}");
}

#[tokio::test]
async fn more_than_1000_datums_are_batched_and_all_arrive() {
    let Some(ep) = endpoint() else { return };
    let (client, publisher) = client(&ep).await;
    let ns = namespace("batch");
    let mut set = MetricSet::new(ns.clone());
    for i in 0..1203 {
        set.add(format!("M{i:04}"), Unit::Count, 1.0).unwrap();
    }
    let report = publisher.publish(&set, now_ms()).await;
    assert_eq!((report.sent, report.lost), (1203, 0));
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client.list_metrics().namespace(ns.as_str()).set_next_token(token.clone()).send().await.unwrap();
        names.extend(page.metrics().iter().filter_map(|m| m.metric_name().map(str::to_owned)));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 1203);
}

#[tokio::test]
async fn an_unreachable_endpoint_loses_counts_and_logs_once() {
    let Some(ep) = endpoint() else { return };
    let (_, publisher) = client(&ep).await;
    // MetricSet cannot build a datum the service refuses, so the failure is a transport
    // one: an endpoint nobody listens on (the SDK retries, then gives up).
    let (_, unreachable) = client("http://127.0.0.1:9").await;
    let mut set = MetricSet::new(namespace("lost"));
    set.add("A", Unit::Count, 1.0).unwrap();
    set.add("B", Unit::Count, 2.0).unwrap();
    let w = CapturingWriter::new();
    let layer =
        streamer_obs::log::layer(&Config::default(), w.clone(), streamer_obs::testing::FixedClock::at_millis(0));
    let sub = tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    let report = unreachable.publish(&set, now_ms()).with_subscriber(sub).await;
    assert_eq!((report.sent, report.lost), (0, 2));
    assert_eq!(unreachable.lost_datums(), 2);
    let errors: Vec<_> = w.json_lines().into_iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["lost_datums"], 2);
    assert_eq!(publisher.lost_datums(), 0);
}

#[tokio::test]
async fn service_errors_come_back_as_typed_sdk_errors() {
    let Some(ep) = endpoint() else { return };
    let (client, _) = client(&ep).await;
    // Value and Values together: InvalidParameterValue (C-5), through the bridge's rpcv2 error.
    let datum = aws_sdk_cloudwatch::types::MetricDatum::builder().metric_name("X").value(1.0).values(2.0).build();
    let err = client.put_metric_data().namespace("StreamerTest/err").metric_data(datum).send().await.unwrap_err();
    let service = err.into_service_error();
    assert_eq!(aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&service), Some("InvalidParameterValue"));
}

fn find<'a>(alarms: &'a [AlarmSpec], suffix: &str) -> &'a AlarmSpec {
    alarms.iter().find(|a| a.name.ends_with(suffix)).unwrap()
}

#[tokio::test]
async fn standard_alarms_are_applied_and_read_back() {
    let Some(ep) = endpoint() else { return };
    let (client, _) = client(&ep).await;
    let env = format!("test{}", fastrand::u32(..));
    let mut config =
        AlarmConfig::new(env.clone()).function(FunctionAlarms::new("streamer-connect", Duration::from_secs(10)));
    config.connection_failures_threshold = 7.0;
    config.actions = vec!["arn:aws:sns:us-east-1:123456789012:streamer-alarms".to_owned()];
    let alarms = standard_alarms(&config);
    assert_eq!(apply_alarms(&client, &alarms).await.unwrap(), 6);

    let described = client.describe_alarms().alarm_name_prefix(format!("streamer-{env}-")).send().await.unwrap();
    let got = described.metric_alarms();
    assert_eq!(got.len(), 6);
    for spec in &alarms {
        let a = got.iter().find(|a| a.alarm_name() == Some(spec.name.as_str())).unwrap();
        assert_eq!(a.namespace(), Some(spec.namespace.as_str()));
        assert_eq!(a.metric_name(), Some(spec.metric_name.as_str()));
        let dims: Vec<(String, String)> = a
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap_or_default().to_owned(), d.value().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(dims, spec.dimensions);
        assert_eq!(a.threshold(), Some(spec.threshold));
        assert_eq!(a.period(), Some(spec.period_secs as i32));
        assert_eq!(a.evaluation_periods(), Some(spec.evaluation_periods as i32));
        assert_eq!(a.alarm_actions(), spec.alarm_actions.as_slice());
        assert!(a.unit().is_none());
    }
    let failures = got.iter().find(|a| a.alarm_name() == Some(find(&alarms, "high-connection-failures").name.as_str()));
    let failures = failures.unwrap();
    assert_eq!(failures.statistic().map(|s| s.as_str()), Some("Sum"));
    assert_eq!(failures.threshold(), Some(7.0));
    assert_eq!(failures.dimensions()[0].value(), Some(env.as_str()));
    let p99 = got.iter().find(|a| a.alarm_name() == Some(find(&alarms, "duration-p99").name.as_str())).unwrap();
    assert_eq!(p99.extended_statistic(), Some("p99"));
    assert_eq!(p99.threshold(), Some(9000.0));
}

#[tokio::test]
async fn an_invalid_alarm_sends_nothing() {
    let Some(ep) = endpoint() else { return };
    let (client, _) = client(&ep).await;
    let env = format!("bad{}", fastrand::u32(..));
    let mut alarms = standard_alarms(&AlarmConfig::new(env.clone()));
    alarms[2].period_secs = 45;
    assert!(apply_alarms(&client, &alarms).await.is_err());
    let described = client.describe_alarms().alarm_name_prefix(format!("streamer-{env}-")).send().await.unwrap();
    assert!(described.metric_alarms().is_empty(), "validation happens before any call");
}

#[tokio::test]
async fn the_auth_failure_metric_the_alarm_selects_has_data() {
    let Some(ep) = endpoint() else { return };
    let (client, publisher) = client(&ep).await;
    let ns = namespace("alarmdata");
    let env = "prod";
    let config = Config::builder().environment(env).namespace(ns.as_str()).build_from(&EnvVars::empty());
    let mut set = MetricSet::from_config(&config);
    standard::authentication_failed(&mut set, ErrorType::TenantNotAllowed, Some(&TenantId::new("acme").unwrap()))
        .unwrap();
    let now = now_ms();
    assert_eq!(publisher.publish(&set, now).await.lost, 0);
    let mut alarm_config = AlarmConfig::new(env);
    alarm_config.namespace = ns.clone();
    let alarm = find(&standard_alarms(&alarm_config), "high-connection-failures").clone();
    // The alarm's metric exists in its namespace with exactly its dimension set and values.
    let listed =
        client.list_metrics().namespace(&alarm.namespace).metric_name(&alarm.metric_name).send().await.unwrap();
    let exact = listed.metrics().iter().any(|m| {
        let dims: Vec<(String, String)> = m
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap_or_default().to_owned(), d.value().unwrap_or_default().to_owned()))
            .collect();
        dims == alarm.dimensions
    });
    assert!(exact, "{listed:?}");
    // moto matches datapoints whose dimensions include the filter, so the [Environment]
    // query sums the three emitted sets; the full set isolates one datum.
    let stats = client
        .get_metric_statistics()
        .namespace(&alarm.namespace)
        .metric_name(&alarm.metric_name)
        .dimensions(dim("Environment", env))
        .dimensions(dim("ErrorType", "tenant_not_allowed"))
        .dimensions(dim("TenantID", "acme"))
        .start_time(DateTime::from_millis(now as i64 - 600_000))
        .end_time(DateTime::from_millis(now as i64 + 600_000))
        .period(alarm.period_secs as i32)
        .statistics(Statistic::Sum)
        .send()
        .await
        .unwrap();
    let sum: f64 = stats.datapoints().iter().filter_map(|p| p.sum()).sum();
    assert_eq!(sum, 1.0);
}
