//! Three rules a review found the output breaking, each checked on what is sent:
//! - an exception `message` is a string value without a limit of its own, so at most
//!   250 characters (it was cut at 1000);
//! - `sql.preparation` is `call` or `statement` (any other value was sent as given);
//! - no EMF root member starts with `@` (Logs Insights shows it as `@@…`): such
//!   property keys, metric names and dimension names are refused.

use std::sync::Arc;

use streamer_obs::metrics::{DimensionName, MetricName, MetricSet, Namespace, Unit, emf};
use streamer_obs::testing::{CapturingEmitter, FixedClock};
use streamer_obs::trace_header::TraceHeader;
use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
use streamer_obs::xray::document::Sql;
use streamer_obs::xray::recorder::Recorder;

fn recorder() -> (Arc<Recorder>, CapturingEmitter) {
    let header: TraceHeader =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    let cap = CapturingEmitter::new();
    let rec = Arc::new(Recorder::with_clock(
        &header,
        Arc::new(cap.clone()),
        Arc::new(FixedClock::at_millis(1_795_730_988_123)),
    ));
    (rec, cap)
}

#[derive(Debug)]
struct Long;
impl std::fmt::Display for Long {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&"é".repeat(5000))
    }
}
impl std::error::Error for Long {}

#[test]
fn exception_messages_are_at_most_250_characters() {
    let (rec, cap) = recorder();
    rec.subsegment("A").record_error_with(&Long, &ErrorDetails::new(ErrorKind::Fault));
    rec.flush_now();
    let doc = &cap.documents()[0];
    let exception = &doc["cause"]["exceptions"][0];
    let message = exception["message"].as_str().unwrap();
    assert_eq!(message.chars().count(), 250, "{message}");
    assert!(doc["cause"]["working_directory"].as_str().unwrap().chars().count() <= 250);
    assert!(exception["type"].as_str().unwrap().chars().count() <= 250);
}

#[test]
fn sql_preparation_is_call_or_statement() {
    for (given, sent) in [("call", Some("call")), ("STATEMENT", Some("statement")), ("prepared", None), ("", None)] {
        let (rec, cap) = recorder();
        let query = rec.subsegment("Query");
        query.set_sql(Sql { preparation: Some(given.into()), user: Some("app".into()), ..Sql::default() });
        query.end();
        rec.flush_now();
        let doc = &cap.documents()[0];
        assert_eq!(doc["sql"]["preparation"].as_str(), sent, "{given:?}: {doc}");
        // The rest of the block is kept.
        assert_eq!(doc["sql"]["user"], "app");
    }
}

#[test]
fn emf_root_members_never_start_with_at() {
    let mut set = MetricSet::new(Namespace::streamer());
    set.add("Hits", Unit::Count, 1.0).unwrap();
    assert!(set.set_property("@timestamp", "2026-01-01").is_err());
    assert!(set.set_property("@message", 1).is_err());
    assert!(set.set_property("at_timestamp", "2026-01-01").is_ok());
    assert!(set.add("@Latency", Unit::Milliseconds, 1.0).is_err());
    assert!(MetricName::new("@Latency").is_err());
    assert!(DimensionName::new("@Route").is_err());
    // An `@` inside a name is fine.
    assert!(MetricName::new("Latency@Edge").is_ok());
    for line in emf::encode_lines(&set, 1_795_730_988_123) {
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|k| !k.starts_with('@')), "root keys {keys:?} in {line}");
        assert_eq!(doc["Hits"], 1.0);
    }
}
