//! `MockConnectionStore` (feature `testing`): how the handlers' tests inject store
//! failures without a database.

use std::time::Duration;

use mockall::predicate::eq;
use streamer_handlers::store::{ConnectionRecord, ConnectionStore, MockConnectionStore, StoreError};

fn record() -> ConnectionRecord {
    ConnectionRecord::new("conn-1", "user-1", "acme", "d/prod", 1_750_000_000_000, Duration::from_secs(3600))
}

/// What a caller does with the store, written against the trait object.
async fn connect(store: &dyn ConnectionStore, record: &ConnectionRecord) -> Result<&'static str, &'static str> {
    match store.save(record).await {
        Ok(()) => Ok("connected"),
        Err(StoreError::AlreadyExists { .. }) => Err("duplicate"),
        Err(e) if e.is_unavailable() => Err("retry later"),
        Err(_) => Err("internal error"),
    }
}

#[tokio::test]
async fn mock_save_success_is_called_once_with_the_record() {
    let mut store = MockConnectionStore::new();
    let expected = record();
    store.expect_save().withf(move |r| *r == expected).times(1).returning(|_| Ok(()));
    assert_eq!(connect(&store, &record()).await, Ok("connected"));
}

#[tokio::test]
async fn mock_injects_already_exists() {
    let mut store = MockConnectionStore::new();
    store.expect_save().returning(|r| Err(StoreError::AlreadyExists { connection_id: r.connection_id.clone() }));
    assert_eq!(connect(&store, &record()).await, Err("duplicate"));
}

#[tokio::test]
async fn mock_injects_unavailable_backend() {
    let mut store = MockConnectionStore::new();
    store
        .expect_save()
        .returning(|_| Err(StoreError::Unavailable { operation: "save", source: "connection reset by peer".into() }));
    assert_eq!(connect(&store, &record()).await, Err("retry later"));
}

#[tokio::test]
async fn mock_get_then_delete_sequence() {
    let mut store = MockConnectionStore::new();
    let mut seq = mockall::Sequence::new();
    store.expect_get().with(eq("conn-1")).times(1).in_sequence(&mut seq).returning(|_| Ok(Some(record())));
    store.expect_delete().with(eq("conn-1")).times(1).in_sequence(&mut seq).returning(|_| Ok(None));
    let loaded = store.get("conn-1").await.unwrap();
    assert_eq!(loaded.map(|r| r.tenant_id), Some("acme".to_owned()));
    assert_eq!(store.delete("conn-1").await.unwrap(), None, "already gone: idempotent");
}
