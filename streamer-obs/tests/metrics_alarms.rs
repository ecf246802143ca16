//! The standard alarms select metrics the handlers really emit: for every alarm on our
//! namespace, the metric name, the namespace and the exact dimension set (with values)
//! appear in the EMF the reference handlers' catalogue produces. (The Go system's alarms
//! selected `[Environment]` while the metrics carried 2 or 3 dimensions, so they never
//! fired; the negative control below shows the check catches that.)

use std::time::Duration;

use serde_json::Value;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::metrics::alarm::{AlarmConfig, AlarmSpec, FunctionAlarms, standard_alarms};
use streamer_obs::metrics::standard::{self, Action, ErrorType};
use streamer_obs::metrics::{Dimensions, MetricSet, StorageResolution, TenantId, Unit, emf};

/// Everything the reference handlers emit (the seed catalogue of seed-system.md §1.3,
/// plus the message metrics of the connection manager).
fn catalogue(environment: &str) -> Vec<Value> {
    let config = Config::builder().service("streamer").environment(environment).build_from(&EnvVars::empty());
    let tenant = TenantId::new("acme").unwrap();
    let mut lines = Vec::new();
    // One set per invocation, as the handlers flush them.
    let mut connect_ok = MetricSet::from_config(&config);
    standard::connection_established(&mut connect_ok, &tenant).unwrap();
    standard::processing_latency(&mut connect_ok, Action::Connect, Duration::from_millis(40)).unwrap();
    let mut connect_refused = MetricSet::from_config(&config);
    standard::authentication_failed(&mut connect_refused, ErrorType::TenantNotAllowed, Some(&tenant)).unwrap();
    let mut connect_missing = MetricSet::from_config(&config);
    standard::authentication_failed(&mut connect_missing, ErrorType::MissingToken, None).unwrap();
    let mut disconnect = MetricSet::from_config(&config);
    standard::connection_closed(&mut disconnect, None, None).unwrap();
    standard::processing_latency(&mut disconnect, Action::Disconnect, Duration::from_millis(9)).unwrap();
    let mut failed = MetricSet::from_config(&config);
    let internal = Dimensions::new()
        .with(standard::ERROR_TYPE, &ErrorType::InternalError)
        .set([standard::ENVIRONMENT])
        .set([standard::ENVIRONMENT, standard::ERROR_TYPE]);
    failed.add_with(standard::CONNECTION_FAILED, Unit::Count, 1.0, StorageResolution::Standard, &internal).unwrap();
    let mut manager = MetricSet::from_config(&config);
    standard::message_sent(&mut manager, Action::Send, 128).unwrap();
    standard::message_failed(&mut manager, ErrorType::ConnectionGone).unwrap();
    for set in [connect_ok, connect_refused, connect_missing, failed, disconnect, manager] {
        lines.extend(emf::encode_lines(&set, 1_700_000_000_000));
    }
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Whether some document emits `alarm`'s metric in its namespace under exactly its
/// dimension set with its values.
fn emitted(alarm: &AlarmSpec, docs: &[Value]) -> bool {
    let mut want: Vec<&str> = alarm.dimensions.iter().map(|(k, _)| k.as_str()).collect();
    want.sort_unstable();
    docs.iter().any(|doc| {
        let values_match = alarm.dimensions.iter().all(|(k, v)| doc[k] == Value::String(v.clone()));
        values_match
            && doc["_aws"]["CloudWatchMetrics"].as_array().unwrap().iter().any(|d| {
                d["Namespace"] == alarm.namespace.as_str()
                    && d["Metrics"].as_array().unwrap().iter().any(|m| m["Name"] == alarm.metric_name.as_str())
                    && d["Dimensions"].as_array().unwrap().iter().any(|set| {
                        let mut keys: Vec<&str> = set.as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
                        keys.sort_unstable();
                        keys == want
                    })
            })
    })
}

#[test]
fn every_standard_alarm_sees_emitted_data() {
    for env in ["dev", "prod"] {
        let docs = catalogue(env);
        let config = AlarmConfig { message_alarms: true, ..AlarmConfig::new(env) }
            .function(FunctionAlarms::new("streamer-connect", Duration::from_secs(10)));
        let alarms = standard_alarms(&config);
        for alarm in &alarms {
            alarm.validate().unwrap();
            if alarm.namespace == "AWS/Lambda" {
                // Emitted by Lambda itself, by FunctionName.
                assert_eq!(alarm.dimensions, vec![("FunctionName".to_owned(), "streamer-connect".to_owned())]);
                continue;
            }
            assert!(emitted(alarm, &docs), "alarm {} selects no emitted metric", alarm.name);
        }
        assert_eq!(alarms.iter().filter(|a| a.namespace == "Streamer").count(), 4);
    }
}

#[test]
fn the_check_catches_the_seed_defect() {
    // The seed emitted AuthenticationFailed only as [Environment, ErrorType]; its alarm selected
    // [Environment]: never any data.
    let config = Config::builder().environment("prod").build_from(&EnvVars::empty());
    let mut set = MetricSet::from_config(&config);
    let dims = Dimensions::new()
        .with(standard::ERROR_TYPE, &ErrorType::InvalidJwt)
        .set([standard::ENVIRONMENT, standard::ERROR_TYPE]);
    set.add_with(standard::AUTHENTICATION_FAILED, Unit::Count, 1.0, StorageResolution::Standard, &dims).unwrap();
    let docs: Vec<Value> = emf::encode_lines(&set, 0).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let alarm = &standard_alarms(&AlarmConfig::new("prod"))[0];
    assert!(!emitted(alarm, &docs));
    // And an alarm in another environment does not match our values.
    let other = &standard_alarms(&AlarmConfig::new("staging"))[0];
    assert!(!emitted(other, &catalogue("prod")));
}
