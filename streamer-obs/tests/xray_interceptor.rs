//! The AWS SDK interceptor around real DynamoDB calls on the AWS API emulator (moto
//! server): each operation becomes an `aws` subsegment with the right fields, and the
//! trace header sent downstream names that subsegment as `Parent`.
//!
//! Needs `STREAMER_TEST_MOTO_ENDPOINT` (set by `scripts/test.sh`). Without it the test
//! fails when `STREAMER_REQUIRE_EMULATORS=1` or `CI` is set, and is skipped otherwise.
#![cfg(all(feature = "aws-sdk", feature = "xray-api"))]

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use streamer_obs::config::Config;
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::testing::{CapturingEmitter, ContextBuilder};
use streamer_obs::xray::{self, interceptor::XrayInterceptor};

const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";

fn moto_endpoint() -> Option<String> {
    streamer_obs::testing::emulator_endpoint("STREAMER_TEST_MOTO_ENDPOINT")
}

/// Records the `X-Amzn-Trace-Id` of every request as it leaves.
#[derive(Debug, Clone, Default)]
struct SeenHeaders(Arc<Mutex<Vec<Option<String>>>>);

impl Intercept for SeenHeaders {
    fn name(&self) -> &'static str {
        "SeenHeaders"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let h = context.request().headers().get("x-amzn-trace-id").map(str::to_owned);
        self.0.lock().unwrap().push(h);
        Ok(())
    }
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xray-segment.schema.json"))
        .expect("schema fixture");
    jsonschema::validator_for(&serde_json::from_str(&text).expect("schema JSON")).expect("valid schema")
}

#[tokio::test]
async fn dynamodb_calls_become_aws_subsegments() {
    let Some(endpoint) = moto_endpoint() else { return };
    let sdk_config = streamer_obs::aws::emulator_config(&endpoint, "eu-west-1").await;
    let seen = SeenHeaders::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config)
        .interceptor(XrayInterceptor::new())
        .interceptor(seen.clone())
        .build();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(config);
    let table = format!("connections-{}", fastrand::u32(..));

    let ctx = ContextBuilder::new()
        .trace_header(format!("Root={ROOT};Parent={PARENT};Sampled=1;Lineage=10:1234abcd:3"))
        .build();
    let inv = Arc::new(Invocation::from_context(&ctx, &Config::default(), &ColdStartTracker::new(&Default::default())));
    let capture = CapturingEmitter::new();
    inv.xray().set_emitter(Arc::new(capture.clone()));

    Arc::clone(&inv)
        .scope(async {
            let handler = xray::subsegment("HandleConnect");
            dynamodb
                .create_table()
                .table_name(&table)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("connectionId")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder().attribute_name("connectionId").key_type(KeyType::Hash).build().unwrap(),
                )
                .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
                .send()
                .await
                .expect("CreateTable");
            dynamodb
                .put_item()
                .table_name(&table)
                .item("connectionId", AttributeValue::S("abc=".into()))
                .send()
                .await
                .expect("PutItem");
            let conflict = dynamodb
                .put_item()
                .table_name(&table)
                .item("connectionId", AttributeValue::S("abc=".into()))
                .condition_expression("attribute_not_exists(connectionId)")
                .send()
                .await;
            assert!(conflict.is_err(), "conditional put must fail");
            // Concurrent calls are siblings under the handler, never nested in each other.
            let key = || AttributeValue::S("abc=".into());
            let (a, b) = tokio::join!(
                dynamodb.get_item().table_name(&table).key("connectionId", key()).send(),
                dynamodb.get_item().table_name(&table).key("connectionId", key()).send(),
            );
            assert!(a.is_ok() && b.is_ok());
            drop(handler);
            xray::flush().await;
        })
        .await;

    let docs = capture.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    let validator = schema();
    for d in &docs {
        let errors: Vec<String> = validator.iter_errors(d).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "schema errors {errors:?} in {d}");
    }
    let handler = &docs[0];
    assert_eq!(handler["parent_id"], PARENT);
    let calls = handler["subsegments"].as_array().expect("aws subsegments");
    assert_eq!(calls.len(), 5);
    for c in calls {
        assert_eq!(c["name"], "DynamoDB");
        assert_eq!(c["namespace"], "aws");
        assert_eq!(c["aws"]["region"], "eu-west-1");
        assert_eq!(c["aws"]["table_name"], table.as_str());
        assert!(c["aws"]["request_id"].as_str().is_some_and(|r| !r.is_empty()), "request id in {c}");
        assert!(c["start_time"].as_f64().unwrap() <= c["end_time"].as_f64().unwrap());
    }
    assert_eq!(calls[0]["aws"]["operation"], "CreateTable");
    assert_eq!(calls[1]["aws"]["operation"], "PutItem");
    assert_eq!(calls[1]["http"]["response"]["status"], 200);
    assert!(calls[1].get("error").is_none() && calls[1].get("fault").is_none());
    let failed = &calls[2];
    assert_eq!(failed["http"]["response"]["status"], 400);
    assert_eq!(failed["error"], true);
    assert!(failed.get("fault").is_none());
    let ex = &failed["cause"]["exceptions"][0];
    assert_eq!(ex["remote"], true);
    assert_eq!(ex["type"], "ConditionalCheckFailedException");
    for c in &calls[3..] {
        assert_eq!(c["aws"]["operation"], "GetItem");
        assert!(c.get("subsegments").is_none());
    }

    // Downstream header: same Root, Sampled and Lineage, Parent = the call's subsegment.
    let mut seen: Vec<String> = seen.0.lock().unwrap().iter().map(|h| h.clone().expect("trace header sent")).collect();
    let mut expected: Vec<String> = calls
        .iter()
        .map(|c| format!("Root={ROOT};Parent={};Sampled=1;Lineage=10:1234abcd:3", c["id"].as_str().unwrap()))
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn xray_client_calls_are_traced_too() {
    let Some(endpoint) = moto_endpoint() else { return };
    let sdk_config = streamer_obs::aws::emulator_config(&endpoint, "us-east-1").await;
    let config = aws_sdk_xray::config::Builder::from(&sdk_config).interceptor(XrayInterceptor::new()).build();
    let client = aws_sdk_xray::Client::from_conf(config);
    let ctx = ContextBuilder::new().trace_header(format!("Root={ROOT};Parent={PARENT};Sampled=1")).build();
    let inv = Arc::new(Invocation::from_context(&ctx, &Config::default(), &ColdStartTracker::new(&Default::default())));
    let capture = CapturingEmitter::new();
    inv.xray().set_emitter(Arc::new(capture.clone()));
    Arc::clone(&inv)
        .scope(async {
            client.batch_get_traces().trace_ids(ROOT).send().await.expect("BatchGetTraces");
            xray::flush().await;
        })
        .await;
    let docs = capture.documents();
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["parent_id"], PARENT, "a top-level call parents on the header's Parent");
    assert_eq!(d["name"], "XRay");
    assert_eq!(d["namespace"], "aws");
    assert_eq!(d["aws"]["operation"], "BatchGetTraces");
    assert_eq!(d["aws"]["region"], "us-east-1");
    assert!(d["aws"].get("table_name").is_none());
    assert_eq!(d["http"]["response"]["status"], 200);
    assert!(schema().iter_errors(d).next().is_none());
}
