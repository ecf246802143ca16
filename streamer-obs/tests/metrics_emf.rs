//! EMF encoder: every document validated against the EMF JSON schema fixture and the
//! spec rules the schema cannot express (E-8, E-11, E-13, E-14, E-21, E-23).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use streamer_obs::metrics::emf::{self, MAX_LINE_BYTES};
use streamer_obs::metrics::standard::{self, Action, ErrorType};
use streamer_obs::metrics::{
    ConnectionId, DimensionName, Dimensions, MetricSet, Namespace, RequestId, StorageResolution, TenantId, Unit, UserId,
};

const NOW: u64 = 1_700_000_000_000;

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("fixtures/emf.schema.json")).expect("schema fixture is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Validates every line against the schema and the spec rules; returns the parsed docs.
fn check(lines: &[String]) -> Vec<Value> {
    let v = validator();
    lines
        .iter()
        .map(|line| {
            assert!(line.len() < MAX_LINE_BYTES, "line over 256 KB: {}", line.len());
            assert!(!line.contains('\n'));
            let doc: Value = serde_json::from_str(line).expect("a line is one JSON object");
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "schema errors {errors:?} in {line}");
            let mut names = Vec::new();
            let mut metric_count = 0;
            for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                for set in directive["Dimensions"].as_array().unwrap() {
                    for key in set.as_array().unwrap() {
                        let value = &doc[key.as_str().unwrap()];
                        let s = value.as_str().unwrap_or_else(|| panic!("dimension {key} not a root string"));
                        assert!(!s.is_empty() && s.len() <= 1024, "dimension {key} value {s:?}");
                    }
                }
                for m in directive["Metrics"].as_array().unwrap() {
                    metric_count += 1;
                    let name = m["Name"].as_str().unwrap().to_owned();
                    assert!(!names.contains(&name), "metric {name} twice in one document");
                    match &doc[&name] {
                        Value::Number(_) => {}
                        Value::Array(a) => {
                            assert!(a.len() <= 100 && a.len() > 1);
                            assert!(a.iter().all(Value::is_number));
                        }
                        other => panic!("metric {name} target is {other}"),
                    }
                    if let Some(r) = m.get("StorageResolution") {
                        assert_eq!(r, 1, "StorageResolution is written only when 1");
                    }
                    names.push(name);
                }
            }
            assert!((1..=100).contains(&metric_count));
            assert!(doc["_aws"]["Timestamp"].is_u64());
            doc
        })
        .collect()
}

fn config_set() -> MetricSet {
    let config = streamer_obs::config::Config::builder()
        .service("connect")
        .environment("prod")
        .build_from(&streamer_obs::config::EnvVars::empty());
    MetricSet::from_config(&config)
}

fn keys_sorted(doc: &Value) -> bool {
    fn sorted(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                let keys: Vec<&String> = m.keys().collect();
                keys.windows(2).all(|w| w[0] < w[1]) && m.values().all(sorted)
            }
            Value::Array(a) => a.iter().all(sorted),
            _ => true,
        }
    }
    sorted(doc)
}

#[test]
fn simple_document_is_exact_and_schema_valid() {
    let mut set = config_set();
    set.add("ConnectionEstablished", Unit::Count, 1.0).unwrap();
    set.add_with("Latency", Unit::Milliseconds, 2.5, StorageResolution::High, &Dimensions::new()).unwrap();
    set.set_property("connection_id", ConnectionId::new("abc=")).unwrap();
    let lines = emf::encode_lines(&set, NOW);
    let docs = check(&lines);
    assert_eq!(
        docs[0],
        serde_json::json!({
            "_aws": {"Timestamp": NOW, "CloudWatchMetrics": [{
                "Namespace": "Streamer",
                "Dimensions": [["Service", "Environment"]],
                "Metrics": [
                    {"Name": "ConnectionEstablished", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds", "StorageResolution": 1}
                ]
            }]},
            "Service": "connect",
            "Environment": "prod",
            "ConnectionEstablished": 1,
            "Latency": 2.5,
            "connection_id": "abc="
        })
    );
}

#[test]
fn same_input_same_bytes_with_sorted_keys() {
    let build = || {
        let mut set = config_set();
        for i in 0..5 {
            set.add("B", Unit::Count, f64::from(i)).unwrap();
        }
        set.add("A", Unit::Bytes, 3.0).unwrap();
        set.set_property("z", 1).unwrap();
        set.set_property("a", serde_json::json!({"y": 1, "x": 2})).unwrap();
        set
    };
    let (a, b) = (emf::encode_lines(&build(), NOW), emf::encode_lines(&build(), NOW));
    assert_eq!(a, b);
    for doc in check(&a) {
        assert!(keys_sorted(&doc), "{doc}");
    }
}

#[test]
fn more_than_100_metrics_split_into_documents_without_repeats() {
    let mut set = config_set();
    let names: Vec<String> = (0..250).map(|i| format!("Metric{i:03}")).collect();
    for n in &names {
        set.add(n.clone(), Unit::Count, 1.0).unwrap();
    }
    set.set_property("request_id", RequestId::new("r-1")).unwrap();
    let docs = check(&emf::encode_lines(&set, NOW));
    assert_eq!(docs.len(), 3);
    let mut seen = BTreeMap::new();
    for doc in &docs {
        assert_eq!(doc["request_id"], "r-1", "every document carries the properties");
        assert_eq!(doc["Environment"], "prod", "every document carries the dimensions");
        for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap() {
            *seen.entry(m["Name"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 250);
    assert!(seen.values().all(|c| *c == 1));
}

#[test]
fn more_than_100_values_are_sliced_in_order() {
    let mut set = config_set();
    for i in 0..250 {
        set.add("Series", Unit::Count, f64::from(i)).unwrap();
    }
    set.add("Other", Unit::Count, 7.0).unwrap();
    let docs = check(&emf::encode_lines(&set, NOW));
    assert_eq!(docs.len(), 3);
    let mut all = Vec::new();
    for doc in &docs {
        match &doc["Series"] {
            Value::Array(a) => all.extend(a.iter().map(|v| v.as_f64().unwrap())),
            v => all.push(v.as_f64().unwrap()),
        }
    }
    assert_eq!(all, (0..250).map(f64::from).collect::<Vec<_>>());
    assert_eq!(docs[0]["Other"], 7, "the other metric is in the first document only");
    assert!(docs[1].get("Other").is_none() && docs[2].get("Other").is_none());
}

#[test]
fn oversized_documents_trim_properties_first() {
    let mut set = config_set();
    set.add("A", Unit::Count, 1.0).unwrap();
    set.set_property("big", "x".repeat(300 * 1024)).unwrap();
    set.set_property("small", "kept").unwrap();
    let mut out = Vec::new();
    let report = emf::encode(&set, NOW, &mut out);
    assert_eq!(report.trimmed_properties, vec!["big".to_owned()]);
    let lines: Vec<String> = String::from_utf8(out).unwrap().lines().map(str::to_owned).collect();
    let docs = check(&lines);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["small"], "kept");
    assert!(docs[0].get("big").is_none());
}

#[test]
fn oversized_metric_payload_is_split_further() {
    let mut set = config_set();
    // 100 metrics with 200-character names x 100 values of long decimals: over 280 KB.
    for m in 0..100 {
        for v in 0..100 {
            let name = format!("{}{m:03}", "LongMetricName".repeat(14));
            set.add(name, Unit::Count, -1.234_567_890_123_456_7e-300 * f64::from(v + 1)).unwrap();
        }
    }
    let docs = check(&emf::encode_lines(&set, NOW));
    assert!(docs.len() >= 2);
    let total: usize =
        docs.iter().map(|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().len()).sum();
    assert_eq!(total, 100);
}

#[test]
fn several_dimension_sets_in_one_directive() {
    let mut set = config_set();
    standard::connection_established(&mut set, &TenantId::new("acme").unwrap()).unwrap();
    let docs = check(&emf::encode_lines(&set, NOW));
    let d = &docs[0]["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(d["Dimensions"], serde_json::json!([["Environment"], ["Environment", "TenantID"]]));
    assert_eq!(docs[0]["TenantID"], "acme");
}

#[test]
fn conflicting_dimension_values_go_to_separate_documents() {
    let mut set = config_set();
    standard::authentication_failed(&mut set, ErrorType::MissingToken, None).unwrap();
    standard::authentication_failed(&mut set, ErrorType::InvalidJwt, None).unwrap();
    standard::processing_latency(&mut set, Action::Connect, Duration::from_millis(12)).unwrap();
    let docs = check(&emf::encode_lines(&set, NOW));
    assert_eq!(docs.len(), 2, "two ErrorType values cannot share a root");
    let types: Vec<&str> = docs.iter().map(|d| d["ErrorType"].as_str().unwrap()).collect();
    assert_eq!(types, ["missing_token", "invalid_jwt"]);
    // ProcessingLatency shares the first document (no conflicting keys): two directives.
    assert_eq!(docs[0]["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 2);
    assert_eq!(docs[0]["ProcessingLatency"], 12);
}

#[test]
fn empty_tenant_never_reaches_the_output() {
    let mut set = config_set();
    standard::connection_closed(&mut set, None, None).unwrap();
    standard::connection_closed(&mut set, Some(&TenantId::or_unknown(Some(""))), Some(Duration::from_secs(3))).unwrap();
    let docs = check(&emf::encode_lines(&set, NOW));
    for doc in &docs {
        assert_eq!(doc["TenantID"], "unknown");
    }
    assert_eq!(docs[0]["ConnectionClosed"], serde_json::json!([1, 1]));
}

#[test]
fn empty_set_writes_nothing() {
    let mut set = config_set();
    set.set_property("only", "props").unwrap();
    let mut out = Vec::new();
    let report = emf::encode(&set, NOW, &mut out);
    assert_eq!(report.documents, 0);
    assert!(out.is_empty());
}

#[test]
fn cold_start_document_has_only_its_dimensions() {
    let set = MetricSet::cold_start(Namespace::streamer(), "streamer-connect", "connect");
    let docs = check(&emf::encode_lines(&set, NOW));
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["ColdStart"], 1);
    assert_eq!(
        docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["function_name", "service"]])
    );
    assert_eq!(docs[0]["function_name"], "streamer-connect");
}

#[test]
fn explicit_timestamp_is_used() {
    let clock = streamer_obs::testing::FixedClock::at_millis(NOW);
    let mut set = config_set();
    set.add("A", Unit::Count, 1.0).unwrap();
    let ts = std::time::UNIX_EPOCH + Duration::from_millis(NOW - 3_600_000);
    set.set_timestamp(ts, &clock).unwrap();
    let docs = check(&emf::encode_lines(&set, NOW));
    assert_eq!(docs[0]["_aws"]["Timestamp"], NOW - 3_600_000);
    let too_old = std::time::UNIX_EPOCH + Duration::from_millis(NOW - 15 * 24 * 3_600_000);
    assert!(set.set_timestamp(too_old, &clock).is_err());
    let too_new = std::time::UNIX_EPOCH + Duration::from_millis(NOW + 2 * 3_600_000 + 1);
    assert!(set.set_timestamp(too_new, &clock).is_err());
}

#[test]
fn user_and_request_ids_are_properties() {
    let mut set = config_set();
    set.add("A", Unit::Count, 1.0).unwrap();
    set.set_property("user_id", UserId::new("u-1")).unwrap();
    set.set_property("request_id", RequestId::new("r-1")).unwrap();
    let docs = check(&emf::encode_lines(&set, NOW));
    assert_eq!(docs[0]["user_id"], "u-1");
    let sets = docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"].to_string();
    assert!(!sets.contains("user_id") && !sets.contains("request_id"));
}

#[test]
fn special_characters_in_names_stay_valid_json() {
    let mut set = MetricSet::new(Namespace::new("My App/Metrics").unwrap());
    set.add_dimension(DimensionName::new("Key \"q\"").unwrap(), &streamer_obs::dimension_value!("v\\1")).unwrap();
    set.add("Name \"quoted\" \\ é", Unit::Count, 1.0).unwrap();
    let docs = check(&emf::encode_lines(&set, NOW));
    assert_eq!(docs[0]["Key \"q\""], "v\\1");
    assert_eq!(docs[0]["Name \"quoted\" \\ é"], 1);
}

#[test]
fn all_units_and_extreme_values_are_schema_valid() {
    let mut set = config_set();
    for (i, unit) in Unit::ALL.iter().enumerate() {
        set.add(format!("M{i}"), *unit, streamer_obs::metrics::set::MAX_VALUE).unwrap();
        set.add(format!("M{i}"), *unit, -1e-300).unwrap();
    }
    check(&emf::encode_lines(&set, NOW));
}

#[test]
fn a_single_metric_is_its_own_document_with_its_own_dimensions() {
    let dims = Dimensions::new()
        .with(standard::ACTION, &Action::Broadcast)
        .with(standard::ERROR_TYPE, &ErrorType::Throttled)
        .set([standard::ACTION])
        .set([standard::ACTION, standard::ERROR_TYPE]);
    let single = MetricSet::single(Namespace::streamer(), "Retries", Unit::Count, 3.0, &dims).unwrap();
    let docs = check(&emf::encode_lines(&single, NOW));
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["Retries"], 3);
    assert_eq!(
        docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Action"], ["Action", "ErrorType"]])
    );
    assert!(docs[0].get("Environment").is_none() && docs[0].get("Service").is_none());
}

#[test]
fn a_token_in_a_property_never_reaches_the_line() {
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";
    let mut set = streamer_obs::metrics::MetricSet::new(streamer_obs::metrics::Namespace::streamer());
    set.add("A", streamer_obs::metrics::Unit::Count, 1.0).unwrap();
    set.set_property("note", format!("header was Bearer {jwt}")).unwrap();
    let lines = streamer_obs::metrics::emf::encode_lines(&set, 1_795_730_988_123);
    assert_eq!(lines.len(), 1);
    assert!(!lines[0].contains(jwt));
    let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(doc["note"], "header was Bearer [REDACTED]");
}

#[test]
fn a_property_under_a_secret_key_is_redacted() {
    let mut set = streamer_obs::metrics::MetricSet::new(streamer_obs::metrics::Namespace::streamer());
    set.add("A", streamer_obs::metrics::Unit::Count, 1.0).unwrap();
    set.set_property("authorization", "Basic dXNlcjpwYXNz").unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&streamer_obs::metrics::emf::encode_lines(&set, 1_795_730_988_123)[0]).unwrap();
    assert_eq!(doc["authorization"], "[REDACTED]");
}

#[test]
fn secrets_nested_in_a_property_are_redacted() {
    let mut set = streamer_obs::metrics::MetricSet::new(streamer_obs::metrics::Namespace::streamer());
    set.add("A", streamer_obs::metrics::Unit::Count, 1.0).unwrap();
    set.set_property(
        "request",
        serde_json::json!({"user": "u-1", "password": "hunter2", "nested": [{"api_key": 123456}, {"session_token": "st-9"}]}),
    )
    .unwrap();
    let line = &streamer_obs::metrics::emf::encode_lines(&set, 1_795_730_988_123)[0];
    for secret in ["hunter2", "123456", "st-9"] {
        assert!(!line.contains(secret), "{secret} in {line}");
    }
    let doc: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(doc["request"]["user"], "u-1");
    assert_eq!(doc["request"]["password"], "[REDACTED]");
    // A secret key alone, with a number or a nested object as its value.
    for value in [serde_json::json!({"pin": {"api_key": 987654}}), serde_json::json!([{"Cookie": {"sid": "zz-77"}}])] {
        let mut set = streamer_obs::metrics::MetricSet::new(streamer_obs::metrics::Namespace::streamer());
        set.add("A", streamer_obs::metrics::Unit::Count, 1.0).unwrap();
        set.set_property("request", value).unwrap();
        let line = &streamer_obs::metrics::emf::encode_lines(&set, 1_795_730_988_123)[0];
        assert!(!line.contains("987654") && !line.contains("zz-77"), "{line}");
    }
}
