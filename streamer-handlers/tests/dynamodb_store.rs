//! The DynamoDB connection store against DynamoDB Local (`scripts/test.sh` starts it and
//! exports `STREAMER_TEST_DYNAMODB_ENDPOINT`). Without the endpoint the tests print a
//! skip notice, unless `STREAMER_REQUIRE_EMULATORS=1` or `CI` is set: then they fail.
//! Each test creates its own table, so they run in parallel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use streamer_handlers::settings::StoreSettings;
use streamer_handlers::store::{ConnectionRecord, ConnectionStore, DynamoDbConnectionStore, StoreError, schema};
use streamer_obs::clock::{Clock, SystemClock};
use streamer_obs::testing::FixedClock;

const ENDPOINT_VAR: &str = "STREAMER_TEST_DYNAMODB_ENDPOINT";
const HOUR: Duration = Duration::from_secs(3600);
const ENDPOINT: &str = "abc123.execute-api.us-east-1.amazonaws.com/prod";

fn endpoint_or_skip(test: &str) -> Option<String> {
    let endpoint = streamer_obs::testing::emulator_endpoint(ENDPOINT_VAR);
    if endpoint.is_none() {
        eprintln!("skipped {test}");
    }
    endpoint
}

fn table_name(test: &str) -> String {
    let nanos = SystemClock.now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("connections-{}-{}-{nanos}", test.replace('_', "-"), std::process::id())
}

struct Fixture {
    store: DynamoDbConnectionStore,
    clock: FixedClock,
    now: u64,
}

impl Fixture {
    fn record(&self, id: &str, user: &str, tenant: &str) -> ConnectionRecord {
        ConnectionRecord::new(id, user, tenant, ENDPOINT, self.now, HOUR)
    }

    /// The item as DynamoDB holds it, bypassing the store's TTL filtering.
    async fn raw_get(&self, id: &str) -> Option<HashMap<String, AttributeValue>> {
        let out = self
            .store
            .client()
            .get_item()
            .table_name(self.store.table_name())
            .key(schema::PARTITION_KEY, AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        out.item().cloned()
    }
}

/// A store on a fresh table; the store's clock starts at real time (DynamoDB Local
/// expires items on real time).
async fn fixture(test: &str) -> Option<Fixture> {
    let endpoint = endpoint_or_skip(test)?;
    let config = streamer_obs::aws::emulator_config(&endpoint, "us-east-1").await;
    let now = SystemClock.now_millis();
    let clock = FixedClock::at_millis(now);
    let store = DynamoDbConnectionStore::from_sdk_config(&config, table_name(test))
        .with_clock(Arc::new(clock.clone()))
        .with_connection_ttl(HOUR);
    store.create_table().await.expect("create_table");
    Some(Fixture { store, clock, now })
}

#[tokio::test]
async fn create_table_defines_key_indexes_and_ttl() {
    let Some(f) = fixture("create_table").await else { return };
    let client = f.store.client();
    let out = client.describe_table().table_name(f.store.table_name()).send().await.unwrap();
    let table = out.table().unwrap();
    let keys: Vec<_> = table.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().as_str())).collect();
    assert_eq!(keys, [("connectionId", "HASH")]);
    let mut indexes: Vec<_> = table
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let key = i.key_schema().iter().map(|k| k.attribute_name().to_owned()).collect::<Vec<_>>();
            let projection = i.projection().and_then(|p| p.projection_type()).map(|p| p.as_str().to_owned());
            (i.index_name().unwrap_or_default().to_owned(), key, projection)
        })
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            ("tenantId-index".to_owned(), vec!["tenantId".to_owned()], Some("ALL".to_owned())),
            ("userId-index".to_owned(), vec!["userId".to_owned()], Some("ALL".to_owned())),
        ]
    );
    let ttl = client.describe_time_to_live().table_name(f.store.table_name()).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
    // Idempotent.
    f.store.create_table().await.unwrap();
}

#[tokio::test]
async fn save_get_round_trip() {
    let Some(f) = fixture("save_get").await else { return };
    let record = f
        .record("conn-1", "user-1", "acme")
        .with_user_agent("Mozilla/5.0")
        .with_source_ip("203.0.113.10")
        .with_permissions(vec!["read".into(), "write".into()]);
    f.store.save(&record).await.unwrap();
    assert_eq!(f.store.get("conn-1").await.unwrap(), Some(record.clone()));
    assert_eq!(f.store.get("conn-unknown").await.unwrap(), None);

    // The item uses the schema's attribute names and types.
    let item = f.raw_get("conn-1").await.unwrap();
    assert_eq!(item.get("userId"), Some(&AttributeValue::S("user-1".into())));
    assert_eq!(item.get("tenantId"), Some(&AttributeValue::S("acme".into())));
    assert_eq!(item.get("endpoint"), Some(&AttributeValue::S(ENDPOINT.into())));
    assert_eq!(item.get("connectedAt"), Some(&AttributeValue::N(f.now.to_string())));
    assert_eq!(item.get("lastPing"), Some(&AttributeValue::N(f.now.to_string())));
    assert_eq!(item.get("ttl"), Some(&AttributeValue::N((f.now / 1000 + 3600).to_string())));
    assert_eq!(item.get("userAgent"), Some(&AttributeValue::S("Mozilla/5.0".into())));
    assert_eq!(item.get("sourceIp"), Some(&AttributeValue::S("203.0.113.10".into())));
}

#[tokio::test]
async fn save_is_conditional() {
    let Some(f) = fixture("save_conditional").await else { return };
    f.store.save(&f.record("conn-1", "user-1", "acme")).await.unwrap();
    let err = f.store.save(&f.record("conn-1", "intruder", "evil")).await.unwrap_err();
    assert!(matches!(&err, StoreError::AlreadyExists { connection_id } if connection_id == "conn-1"), "{err:?}");
    assert_eq!(f.store.get("conn-1").await.unwrap().unwrap().user_id, "user-1", "not overwritten");
}

#[tokio::test]
async fn save_rejects_invalid_records_without_calling_dynamodb() {
    let Some(f) = fixture("save_invalid").await else { return };
    let err = f.store.save(&f.record("conn-1", "", "acme")).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidRecord { attribute: "userId" }), "{err:?}");
    assert!(f.raw_get("conn-1").await.is_none());
}

#[tokio::test]
async fn delete_is_idempotent_and_returns_the_record() {
    let Some(f) = fixture("delete").await else { return };
    let record = f.record("conn-1", "user-1", "acme");
    f.store.save(&record).await.unwrap();
    assert_eq!(f.store.delete("conn-1").await.unwrap(), Some(record));
    assert!(f.raw_get("conn-1").await.is_none());
    assert_eq!(f.store.delete("conn-1").await.unwrap(), None);
    assert_eq!(f.store.delete("never-existed").await.unwrap(), None);
}

#[tokio::test]
async fn list_by_user_uses_the_user_index() {
    let Some(f) = fixture("list_by_user").await else { return };
    let mut second = f.record("conn-b", "user-1", "globex");
    second.connected_at += 5;
    f.store.save(&second).await.unwrap();
    f.store.save(&f.record("conn-a", "user-1", "acme")).await.unwrap();
    f.store.save(&f.record("conn-c", "user-2", "acme")).await.unwrap();
    let ids = |v: Vec<ConnectionRecord>| v.into_iter().map(|r| r.connection_id).collect::<Vec<_>>();
    assert_eq!(ids(f.store.list_by_user("user-1").await.unwrap()), ["conn-a", "conn-b"]);
    assert_eq!(ids(f.store.list_by_user("user-2").await.unwrap()), ["conn-c"]);
    assert!(f.store.list_by_user("nobody").await.unwrap().is_empty());
}

#[tokio::test]
async fn list_by_tenant_uses_the_tenant_index() {
    let Some(f) = fixture("list_by_tenant").await else { return };
    for (id, user, tenant) in [("c1", "u1", "acme"), ("c2", "u2", "acme"), ("c3", "u3", "globex")] {
        f.store.save(&f.record(id, user, tenant)).await.unwrap();
    }
    let ids = |v: Vec<ConnectionRecord>| v.into_iter().map(|r| r.connection_id).collect::<Vec<_>>();
    assert_eq!(ids(f.store.list_by_tenant("acme").await.unwrap()), ["c1", "c2"]);
    assert_eq!(ids(f.store.list_by_tenant("globex").await.unwrap()), ["c3"]);
    assert!(f.store.list_by_tenant("initech").await.unwrap().is_empty());
}

#[tokio::test]
async fn list_pages_through_many_results() {
    let Some(f) = fixture("list_pages").await else { return };
    // ~2 KB per item so DynamoDB's 1 MB query page is exceeded: forces pagination.
    let big = "p".repeat(2000);
    for i in 0..600 {
        let r = f.record(&format!("c{i:04}"), "user-many", "acme").with_user_agent(big.clone());
        f.store.save(&r).await.unwrap();
    }
    assert_eq!(f.store.list_by_user("user-many").await.unwrap().len(), 600);
}

#[tokio::test]
async fn touch_updates_last_ping_and_ttl() {
    let Some(f) = fixture("touch").await else { return };
    f.store.save(&f.record("conn-1", "user-1", "acme")).await.unwrap();
    f.clock.advance_millis(10 * 60 * 1000);
    f.store.touch("conn-1").await.unwrap();
    let r = f.store.get("conn-1").await.unwrap().unwrap();
    assert_eq!(r.last_ping, f.now + 10 * 60 * 1000);
    assert_eq!(r.ttl, (f.now + 10 * 60 * 1000) / 1000 + 3600);
    assert_eq!(r.connected_at, f.now);
    let err = f.store.touch("conn-missing").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(f.raw_get("conn-missing").await.is_none(), "touch must not create items");
}

#[tokio::test]
async fn expired_records_are_absent_while_dynamodb_still_holds_them() {
    let Some(f) = fixture("ttl_filter").await else { return };
    f.store.save(&f.record("conn-1", "user-1", "acme")).await.unwrap();
    // The store's clock moves past the record's ttl; DynamoDB (real time) keeps the item.
    f.clock.advance_millis(2 * 3600 * 1000);
    assert!(f.raw_get("conn-1").await.is_some(), "still stored");
    assert_eq!(f.store.get("conn-1").await.unwrap(), None);
    assert!(f.store.list_by_user("user-1").await.unwrap().is_empty());
    assert!(f.store.list_by_tenant("acme").await.unwrap().is_empty());
    assert!(matches!(f.store.touch("conn-1").await, Err(StoreError::NotFound { .. })));
    // An expired record may be replaced by a new connection with the same id.
    let mut fresh = f.record("conn-1", "user-2", "acme");
    fresh.connected_at = f.now + 2 * 3600 * 1000;
    fresh.last_ping = fresh.connected_at;
    fresh.ttl = fresh.connected_at / 1000 + 3600;
    f.store.save(&fresh).await.unwrap();
    assert_eq!(f.store.get("conn-1").await.unwrap(), Some(fresh));
}

#[tokio::test]
async fn item_written_with_a_past_ttl_is_absent() {
    let Some(f) = fixture("past_ttl").await else { return };
    // Written directly, as another writer (or an old deployment) would.
    let mut record = f.record("conn-old", "user-1", "acme");
    record.ttl = f.now / 1000 - 60;
    let mut item = HashMap::new();
    item.insert("connectionId".to_owned(), AttributeValue::S(record.connection_id.clone()));
    item.insert("userId".to_owned(), AttributeValue::S(record.user_id.clone()));
    item.insert("tenantId".to_owned(), AttributeValue::S(record.tenant_id.clone()));
    item.insert("endpoint".to_owned(), AttributeValue::S(record.endpoint.clone()));
    item.insert("connectedAt".to_owned(), AttributeValue::N(record.connected_at.to_string()));
    item.insert("lastPing".to_owned(), AttributeValue::N(record.last_ping.to_string()));
    item.insert("ttl".to_owned(), AttributeValue::N(record.ttl.to_string()));
    f.store.client().put_item().table_name(f.store.table_name()).set_item(Some(item)).send().await.unwrap();
    assert_eq!(f.store.get("conn-old").await.unwrap(), None);
    assert!(f.store.list_by_user("user-1").await.unwrap().is_empty());
    assert!(f.store.list_by_tenant("acme").await.unwrap().is_empty());
    assert_eq!(f.store.delete("conn-old").await.unwrap(), None);
}

/// An item another writer left unreadable (a `ttl` that is not a number): `get` reports
/// it corrupt, and `delete` removes it and succeeds (the delete did what it was asked;
/// `$disconnect` must not log a failed delete and a fault for it).
#[tokio::test]
async fn deleting_an_unreadable_item_succeeds_and_removes_it() {
    let Some(f) = fixture("unreadable").await else { return };
    let mut item = HashMap::new();
    item.insert("connectionId".to_owned(), AttributeValue::S("conn-bad".to_owned()));
    item.insert("userId".to_owned(), AttributeValue::S("user-1".to_owned()));
    item.insert("ttl".to_owned(), AttributeValue::S("not a number".to_owned()));
    f.store.client().put_item().table_name(f.store.table_name()).set_item(Some(item)).send().await.unwrap();
    assert!(matches!(f.store.get("conn-bad").await, Err(StoreError::Corrupt { .. })));
    assert_eq!(f.store.delete("conn-bad").await.unwrap(), None);
    assert!(f.raw_get("conn-bad").await.is_none(), "the item is gone");
}

#[tokio::test]
async fn missing_table_is_a_typed_backend_error() {
    let Some(endpoint) = endpoint_or_skip("missing_table") else { return };
    let config = streamer_obs::aws::emulator_config(&endpoint, "us-east-1").await;
    let store = DynamoDbConnectionStore::from_sdk_config(&config, "no-such-table");
    let err = store.get("conn-1").await.unwrap_err();
    match err {
        StoreError::Backend { operation: "get", code, .. } => {
            assert_eq!(code.as_deref(), Some("ResourceNotFoundException"))
        }
        other => panic!("expected Backend, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    // No emulator needed: nothing listens on port 9 of loopback.
    let config = streamer_obs::aws::emulator_config("http://127.0.0.1:9", "us-east-1").await;
    let store = DynamoDbConnectionStore::from_sdk_config(&config, "connections");
    let err = store.get("conn-1").await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

/// `from_settings` takes the endpoint from the standard `AWS_ENDPOINT_URL`: checked in a
/// child process (this test binary re-run on [`from_settings_child`]) because the
/// environment is process-wide.
#[test]
fn from_settings_honours_aws_endpoint_url() {
    let Some(endpoint) = endpoint_or_skip("from_settings") else { return };
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["from_settings_child", "--exact", "--ignored", "--nocapture"])
        .env("STREAMER_TEST_CHILD", "1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env("CONNECTIONS_TABLE", table_name("from_settings"))
        .env("CONNECTION_TTL_HOURS", "2")
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
#[ignore = "run by from_settings_honours_aws_endpoint_url in a child process"]
async fn from_settings_child() {
    if std::env::var_os("STREAMER_TEST_CHILD").is_none() {
        return;
    }
    let settings = StoreSettings::from_env(&streamer_obs::config::EnvVars::from_process()).unwrap();
    let store = DynamoDbConnectionStore::from_settings(&settings).await.unwrap();
    assert_eq!(store.table_name(), settings.connections_table().unwrap());
    store.create_table().await.unwrap();
    let record = ConnectionRecord::new("conn-1", "u", "t", ENDPOINT, SystemClock.now_millis(), HOUR);
    store.save(&record).await.unwrap();
    assert_eq!(store.get("conn-1").await.unwrap(), Some(record));
}
