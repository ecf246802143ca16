//! The keys of `STREAMER_LOG_REDACT_KEYS` redact X-Ray annotations and metadata and EMF
//! properties as they redact log lines, once the telemetry carrying them is the global one
//! (as `streamer_obs::init` installs it). One test in its own binary: it installs the
//! process's global telemetry.

mod common;

use std::sync::Arc;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;
use streamer_obs::metrics::{self, EmfPublisher, Unit};
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingEmitter, CapturingWriter, ContextBuilder};

#[instrumented(
    name = "Enrol",
    annotations(ssn = event.payload["ssn"].as_str().unwrap_or_default(), tenant_id = "acme"),
    metadata(customer_ssn = event.payload["ssn"], plan = "gold")
)]
async fn enrol(event: LambdaEvent<Value>) -> Result<(), Error> {
    metrics::set_property("ssn", event.payload["ssn"].clone());
    metrics::set_property("profile", json!({"card_number": "4111-1111-1111-1111", "city": "Lyon"}));
    metrics::set_property("query", "x=1&ssn=444-55-6666");
    metrics::set_property("clean", json!({"city": "Lyon", "zip": "69001"}));
    metrics::add("Enrolled", Unit::Count, 1.0);
    streamer_obs::xray::annotate("card_number_last4", 1111).unwrap();
    Ok(())
}

#[test]
fn configured_keys_redact_annotations_metadata_and_properties() {
    let (emf, xray) = (CapturingWriter::new(), CapturingEmitter::new());
    let config = config(&[("STREAMER_LOG_REDACT_KEYS", "ssn, card_number")]);
    Telemetry::builder(config)
        .metrics_publisher(Arc::new(EmfPublisher::new(emf.clone())))
        .emitter(Arc::new(xray.clone()))
        .build()
        .install_global()
        .expect("the only global telemetry of this binary");

    let ctx = ContextBuilder::new().request_id("req-ssn").trace_header(HEADER).build();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(enrol(LambdaEvent::new(json!({"ssn": "123-45-6789"}), ctx))).unwrap();

    let (docs, lines) = (xray.raw().join("\n"), emf.lines().join("\n"));
    for secret in ["123-45-6789", "4111-1111-1111-1111", "444-55-6666"] {
        assert!(!docs.contains(secret), "{secret} in X-Ray: {docs}");
        assert!(!lines.contains(secret), "{secret} in EMF: {lines}");
    }
    let sub: Value = serde_json::from_str(&xray.raw()[0]).unwrap();
    assert_eq!(sub["annotations"]["ssn"], "[REDACTED]", "{sub}");
    assert_eq!(sub["annotations"]["card_number_last4"], "[REDACTED]", "any type: {sub}");
    assert_eq!(sub["annotations"]["tenant_id"], "acme", "{sub}");
    assert_eq!(sub["metadata"]["default"]["customer_ssn"], "[REDACTED]", "{sub}");
    assert_eq!(sub["metadata"]["default"]["plan"], "gold", "{sub}");
    let doc = emf.json_lines().into_iter().find(|d| d.get("Enrolled").is_some()).expect("the metrics document");
    assert_eq!(doc["ssn"], "[REDACTED]", "{doc}");
    assert_eq!(doc["profile"], json!({"card_number": "[REDACTED]", "city": "Lyon"}), "{doc}");
    assert_eq!(doc["query"], "x=1&ssn=[REDACTED]", "{doc}");
    assert_eq!(doc["clean"], json!({"city": "Lyon", "zip": "69001"}), "{doc}");
}
