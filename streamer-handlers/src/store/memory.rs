//! The in-memory connection store (demo and unit tests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use streamer_obs::clock::{Clock, SystemClock};

use super::{ConnectionRecord, ConnectionStore, StoreError, sort_records, ttl_for};
use crate::settings::DEFAULT_CONNECTION_TTL_HOURS;

/// A [`ConnectionStore`] in a map behind a mutex, with an injected clock deciding what
/// is expired. Same semantics as the DynamoDB store (conditional save, TTL filtering,
/// idempotent delete); the "indexes" are scans, which is fine at demo sizes.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use streamer_handlers::store::{ConnectionRecord, ConnectionStore, InMemoryConnectionStore};
/// use streamer_obs::testing::FixedClock;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = FixedClock::at_millis(1_000_000);
/// let store = InMemoryConnectionStore::new().with_clock(Arc::new(clock.clone()));
/// store.save(&ConnectionRecord::new("c1", "u1", "acme", "d/prod", 1_000_000, Duration::from_secs(60))).await?;
/// assert!(store.get("c1").await?.is_some());
/// clock.advance_millis(60_000);
/// assert!(store.get("c1").await?.is_none()); // expired: absent for readers
/// # Ok::<(), streamer_handlers::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct InMemoryConnectionStore {
    records: Mutex<HashMap<String, ConnectionRecord>>,
    clock: Arc<dyn Clock>,
    connection_ttl: Duration,
}

impl Default for InMemoryConnectionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryConnectionStore {
    /// An empty store on the system clock with the default 24 h connection lifetime.
    ///
    /// ```
    /// use streamer_handlers::store::InMemoryConnectionStore;
    /// let store = InMemoryConnectionStore::new();
    /// assert_eq!(store.stored_len(), 0);
    /// ```
    pub fn new() -> Self {
        Self {
            records: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
            connection_ttl: Duration::from_secs(DEFAULT_CONNECTION_TTL_HOURS * 3600),
        }
    }

    /// Uses `clock` to decide expiry and to stamp `touch`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use streamer_handlers::store::InMemoryConnectionStore;
    /// use streamer_obs::testing::FixedClock;
    /// let _store = InMemoryConnectionStore::new().with_clock(Arc::new(FixedClock::at_millis(0)));
    /// ```
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The lifetime `touch` extends a record to.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::InMemoryConnectionStore;
    /// let store = InMemoryConnectionStore::new().with_connection_ttl(Duration::from_secs(3600));
    /// assert_eq!(store.connection_ttl(), Duration::from_secs(3600));
    /// ```
    pub fn with_connection_ttl(mut self, lifetime: Duration) -> Self {
        self.connection_ttl = lifetime;
        self
    }

    /// The lifetime `touch` extends a record to.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::InMemoryConnectionStore;
    /// assert_eq!(InMemoryConnectionStore::new().connection_ttl(), Duration::from_secs(24 * 3600));
    /// ```
    pub fn connection_ttl(&self) -> Duration {
        self.connection_ttl
    }

    /// Every unexpired record, oldest first (for the demo's summary and for tests).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::{ConnectionRecord, InMemoryConnectionStore};
    /// let store = InMemoryConnectionStore::new();
    /// store.insert_raw(ConnectionRecord::new("expired", "u", "t", "d/s", 0, Duration::ZERO));
    /// assert!(store.snapshot().is_empty());
    /// ```
    pub fn snapshot(&self) -> Vec<ConnectionRecord> {
        self.list_where(|_| true)
    }

    /// Number of stored records, expired ones included (what DynamoDB would still hold).
    ///
    /// ```
    /// use streamer_handlers::store::InMemoryConnectionStore;
    /// assert_eq!(InMemoryConnectionStore::new().stored_len(), 0);
    /// ```
    pub fn stored_len(&self) -> usize {
        self.lock().len()
    }

    /// Inserts or replaces a record without any condition (for tests that need an
    /// expired record in place, as DynamoDB would hold one until its TTL sweep).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streamer_handlers::store::{ConnectionRecord, InMemoryConnectionStore};
    /// let store = InMemoryConnectionStore::new();
    /// store.insert_raw(ConnectionRecord::new("old", "u", "t", "d/s", 0, Duration::ZERO));
    /// assert_eq!(store.stored_len(), 1);
    /// ```
    pub fn insert_raw(&self, record: ConnectionRecord) {
        self.lock().insert(record.connection_id.clone(), record);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, ConnectionRecord>> {
        // A panic while holding the lock cannot leave a map half-updated (every update
        // is a single insert/remove), so a poisoned lock is still usable.
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn list_where(&self, pred: impl Fn(&ConnectionRecord) -> bool) -> Vec<ConnectionRecord> {
        let now = self.clock.now_millis();
        let mut out: Vec<_> = self.lock().values().filter(|r| !r.is_expired_at(now) && pred(r)).cloned().collect();
        sort_records(&mut out);
        out
    }
}

#[async_trait]
impl ConnectionStore for InMemoryConnectionStore {
    async fn save(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        record.validate()?;
        let now = self.clock.now_millis();
        let mut records = self.lock();
        if records.get(&record.connection_id).is_some_and(|r| !r.is_expired_at(now)) {
            return Err(StoreError::AlreadyExists { connection_id: record.connection_id.clone() });
        }
        records.insert(record.connection_id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let now = self.clock.now_millis();
        Ok(self.lock().get(connection_id).filter(|r| !r.is_expired_at(now)).cloned())
    }

    async fn delete(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let now = self.clock.now_millis();
        Ok(self.lock().remove(connection_id).filter(|r| !r.is_expired_at(now)))
    }

    async fn list_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        Ok(self.list_where(|r| r.user_id == user_id))
    }

    async fn list_by_tenant(&self, tenant_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        Ok(self.list_where(|r| r.tenant_id == tenant_id))
    }

    async fn touch(&self, connection_id: &str) -> Result<(), StoreError> {
        let now = self.clock.now_millis();
        match self.lock().get_mut(connection_id) {
            Some(r) if !r.is_expired_at(now) => {
                r.last_ping = now;
                r.ttl = ttl_for(now, self.connection_ttl);
                Ok(())
            }
            _ => Err(StoreError::NotFound { connection_id: connection_id.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use streamer_obs::testing::FixedClock;

    use super::*;

    const T0: u64 = 1_750_000_000_000;
    const HOUR: Duration = Duration::from_secs(3600);

    fn store() -> (InMemoryConnectionStore, FixedClock) {
        let clock = FixedClock::at_millis(T0);
        (InMemoryConnectionStore::new().with_clock(Arc::new(clock.clone())).with_connection_ttl(HOUR), clock)
    }

    fn record(id: &str, user: &str, tenant: &str, at: u64) -> ConnectionRecord {
        ConnectionRecord::new(id, user, tenant, "abc.execute-api.us-east-1.amazonaws.com/prod", at, HOUR)
    }

    #[tokio::test]
    async fn save_then_get() {
        let (store, _) = store();
        let r = record("c1", "u1", "acme", T0).with_permissions(vec!["read".into()]).with_source_ip("203.0.113.9");
        store.save(&r).await.unwrap();
        assert_eq!(store.get("c1").await.unwrap(), Some(r));
        assert_eq!(store.get("nope").await.unwrap(), None);
    }

    #[tokio::test]
    async fn save_is_conditional() {
        let (store, _) = store();
        store.save(&record("c1", "u1", "acme", T0)).await.unwrap();
        let err = store.save(&record("c1", "u2", "globex", T0)).await.unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists { ref connection_id } if connection_id == "c1"), "{err:?}");
        assert_eq!(store.get("c1").await.unwrap().unwrap().user_id, "u1", "not overwritten");
    }

    #[tokio::test]
    async fn save_replaces_an_expired_record() {
        let (store, clock) = store();
        store.save(&record("c1", "u1", "acme", T0)).await.unwrap();
        clock.advance_millis(2 * 3600 * 1000);
        let fresh = record("c1", "u2", "acme", T0 + 2 * 3600 * 1000);
        store.save(&fresh).await.unwrap();
        assert_eq!(store.get("c1").await.unwrap(), Some(fresh));
    }

    #[tokio::test]
    async fn save_validates_required_attributes() {
        let (store, _) = store();
        for (r, attribute) in [
            (record("", "u", "t", T0), "connectionId"),
            (record("c", " ", "t", T0), "userId"),
            (record("c", "u", "", T0), "tenantId"),
            (ConnectionRecord::new("c", "u", "t", "", T0, HOUR), "endpoint"),
        ] {
            let err = store.save(&r).await.unwrap_err();
            assert!(matches!(err, StoreError::InvalidRecord { attribute: a } if a == attribute), "{err:?}");
        }
        assert_eq!(store.stored_len(), 0);
    }

    #[tokio::test]
    async fn expired_records_are_absent_for_readers() {
        let (store, clock) = store();
        store.save(&record("c1", "u1", "acme", T0)).await.unwrap();
        clock.set_millis(T0 + 3600 * 1000 - 1);
        assert!(store.get("c1").await.unwrap().is_some(), "one ms before ttl");
        clock.set_millis(T0 + 3600 * 1000);
        assert_eq!(store.get("c1").await.unwrap(), None);
        assert!(store.list_by_user("u1").await.unwrap().is_empty());
        assert!(store.list_by_tenant("acme").await.unwrap().is_empty());
        assert!(matches!(store.touch("c1").await, Err(StoreError::NotFound { .. })));
        assert_eq!(store.stored_len(), 1, "still stored, like DynamoDB before its sweep");
        assert_eq!(store.delete("c1").await.unwrap(), None, "deleting an expired record returns nothing");
        assert_eq!(store.stored_len(), 0);
    }

    #[tokio::test]
    async fn delete_is_idempotent() {
        let (store, _) = store();
        let r = record("c1", "u1", "acme", T0);
        store.save(&r).await.unwrap();
        assert_eq!(store.delete("c1").await.unwrap(), Some(r));
        assert_eq!(store.delete("c1").await.unwrap(), None);
        assert_eq!(store.delete("never-existed").await.unwrap(), None);
    }

    #[tokio::test]
    async fn indexes_by_user_and_tenant() {
        let (store, _) = store();
        store.save(&record("c3", "u1", "globex", T0 + 2)).await.unwrap();
        store.save(&record("c1", "u1", "acme", T0)).await.unwrap();
        store.save(&record("c2", "u2", "acme", T0 + 1)).await.unwrap();
        store.insert_raw(record("old", "u1", "acme", T0 - 2 * 3600 * 1000));
        let ids = |v: Vec<ConnectionRecord>| v.into_iter().map(|r| r.connection_id).collect::<Vec<_>>();
        assert_eq!(ids(store.list_by_user("u1").await.unwrap()), ["c1", "c3"]);
        assert_eq!(ids(store.list_by_user("u2").await.unwrap()), ["c2"]);
        assert_eq!(ids(store.list_by_tenant("acme").await.unwrap()), ["c1", "c2"]);
        assert_eq!(ids(store.list_by_tenant("globex").await.unwrap()), ["c3"]);
        assert!(store.list_by_tenant("initech").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn touch_updates_last_ping_and_extends_ttl() {
        let (store, clock) = store();
        store.save(&record("c1", "u1", "acme", T0)).await.unwrap();
        clock.advance_millis(30 * 60 * 1000);
        store.touch("c1").await.unwrap();
        let r = store.get("c1").await.unwrap().unwrap();
        assert_eq!(r.last_ping, T0 + 30 * 60 * 1000);
        assert_eq!(r.ttl, (T0 + 30 * 60 * 1000) / 1000 + 3600);
        assert_eq!(r.connected_at, T0);
        clock.advance_millis(45 * 60 * 1000); // past the original ttl, within the extended one
        assert!(store.get("c1").await.unwrap().is_some());
        assert!(matches!(store.touch("missing").await, Err(StoreError::NotFound { .. })));
    }
}
