//! The DynamoDB connection store (`aws-sdk-dynamodb`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ReturnValue, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use streamer_obs::clock::{Clock, SystemClock};

use super::{ConnectionRecord, ConnectionStore, StoreError, schema, sort_records, ttl_for};
use crate::settings::{DEFAULT_CONNECTION_TTL_HOURS, SettingsError, StoreSettings};

type Item = HashMap<String, AttributeValue>;

/// Error codes DynamoDB uses for throttling and transient failures.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// A [`ConnectionStore`] on a DynamoDB table with the [`schema`] layout.
///
/// Point it at an emulator with the standard `AWS_ENDPOINT_URL` (or
/// `AWS_ENDPOINT_URL_DYNAMODB`): [`DynamoDbConnectionStore::from_settings`] loads the SDK
/// configuration through [`streamer_obs::aws::load_config`], which honours them.
///
/// ```no_run
/// use streamer_handlers::settings::StoreSettings;
/// use streamer_handlers::store::{ConnectionStore, DynamoDbConnectionStore};
/// use streamer_obs::config::EnvVars;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let settings = StoreSettings::from_env(&EnvVars::from_process())?;
/// let store = DynamoDbConnectionStore::from_settings(&settings).await?;
/// let record = store.get("AbCdEf=").await?;
/// # let _ = record;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DynamoDbConnectionStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
    connection_ttl: Duration,
}

impl fmt::Debug for DynamoDbConnectionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbConnectionStore")
            .field("table", &self.table)
            .field("connection_ttl", &self.connection_ttl)
            .finish_non_exhaustive()
    }
}

impl DynamoDbConnectionStore {
    /// A store on `table` using `client`, the system clock and a 24 h lifetime for `touch`.
    ///
    /// ```no_run
    /// use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f() {
    /// let config = streamer_obs::aws::emulator_config("http://127.0.0.1:8000", "us-east-1").await;
    /// let store = DynamoDbConnectionStore::new(aws_sdk_dynamodb::Client::new(&config), "connections");
    /// assert_eq!(store.table_name(), "connections");
    /// # }
    /// ```
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clock: Arc::new(SystemClock),
            connection_ttl: Duration::from_secs(DEFAULT_CONNECTION_TTL_HOURS * 3600),
        }
    }

    /// A store on `table` with a client built from `config`.
    ///
    /// ```no_run
    /// use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f() {
    /// let config = streamer_obs::aws::load_config().await;
    /// let _store = DynamoDbConnectionStore::from_sdk_config(&config, "connections");
    /// # }
    /// ```
    pub fn from_sdk_config(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    /// A store for `settings` (`CONNECTIONS_TABLE`, `CONNECTION_TTL_HOURS`), with the SDK
    /// configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] naming `CONNECTIONS_TABLE` when it is not set.
    ///
    /// ```no_run
    /// use streamer_handlers::settings::StoreSettings;
    /// use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f() -> Result<(), streamer_handlers::settings::SettingsError> {
    /// let settings = StoreSettings::default().with_connections_table("streamer-dev-connections")?;
    /// let store = DynamoDbConnectionStore::from_settings(&settings).await?;
    /// assert_eq!(store.table_name(), "streamer-dev-connections");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_settings(settings: &StoreSettings) -> Result<Self, SettingsError> {
        let table = settings.connections_table()?.to_owned();
        let config = streamer_obs::aws::load_config().await;
        Ok(Self::from_sdk_config(&config, table).with_connection_ttl(settings.connection_ttl()))
    }

    /// What the Lambda binaries use: [`from_settings`](Self::from_settings) with the
    /// X-Ray interceptor on the client, so each DynamoDB call is an `aws` subsegment
    /// (`DynamoDB`, operation, table) under the handler's current subsegment.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] naming `CONNECTIONS_TABLE` when it is not set.
    ///
    /// ```no_run
    /// use streamer_handlers::settings::StoreSettings;
    /// use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f() -> Result<(), streamer_handlers::settings::SettingsError> {
    /// let settings = StoreSettings::default().with_connections_table("streamer-dev-connections")?;
    /// let _store = DynamoDbConnectionStore::for_lambda(&settings).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn for_lambda(settings: &StoreSettings) -> Result<Self, SettingsError> {
        let table = settings.connections_table()?.to_owned();
        let config = streamer_obs::aws::load_config().await;
        Ok(Self::traced(&config, table).with_connection_ttl(settings.connection_ttl()))
    }

    /// A store on `table` whose client records each call as an X-Ray `aws` subsegment.
    ///
    /// ```no_run
    /// use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f() {
    /// let config = streamer_obs::aws::emulator_config("http://127.0.0.1:8000", "us-east-1").await;
    /// let _store = DynamoDbConnectionStore::traced(&config, "connections");
    /// # }
    /// ```
    pub fn traced(config: &SdkConfig, table: impl Into<String>) -> Self {
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(streamer_obs::xray::interceptor::XrayInterceptor::new())
            .build();
        Self::new(Client::from_conf(conf), table)
    }

    /// Uses `clock` to decide expiry and to stamp `touch`.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f(store: DynamoDbConnectionStore) {
    /// let store = store.with_clock(Arc::new(streamer_obs::clock::SystemClock));
    /// # }
    /// ```
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The lifetime `touch` extends a record to.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f(store: DynamoDbConnectionStore) {
    /// let store = store.with_connection_ttl(Duration::from_secs(3600));
    /// # }
    /// ```
    pub fn with_connection_ttl(mut self, lifetime: Duration) -> Self {
        self.connection_ttl = lifetime;
        self
    }

    /// The table name.
    ///
    /// ```no_run
    /// # use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f() {
    /// let config = streamer_obs::aws::load_config().await;
    /// let store = DynamoDbConnectionStore::from_sdk_config(&config, "connections");
    /// assert_eq!(store.table_name(), "connections");
    /// # }
    /// ```
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The SDK client.
    ///
    /// ```no_run
    /// # use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f(store: DynamoDbConnectionStore) {
    /// let tables = store.client().list_tables().send().await;
    /// # let _ = tables;
    /// # }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table as [`schema`] defines it (partition key `connectionId`, GSIs
    /// `userId-index` and `tenantId-index` with projection `ALL`, on-demand billing),
    /// waits until it is `ACTIVE` (up to about 60 s) and enables TTL on `ttl`. An existing
    /// table is left as it is (TTL is still enabled). For tests and demo tooling; in AWS
    /// the table belongs to the infrastructure code.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] / [`StoreError::Unavailable`] from DynamoDB, or
    /// `Unavailable` when the table does not become active in time.
    ///
    /// ```no_run
    /// # use streamer_handlers::store::DynamoDbConnectionStore;
    /// # async fn f(store: DynamoDbConnectionStore) -> Result<(), streamer_handlers::store::StoreError> {
    /// store.create_table().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_table(&self) -> Result<(), StoreError> {
        const OP: &str = "create_table";
        let key = |attr: &str| {
            KeySchemaElement::builder().attribute_name(attr).key_type(KeyType::Hash).build().map_err(|e| backend(OP, e))
        };
        let string_attr = |attr: &str| {
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| backend(OP, e))
        };
        let mut request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(schema::PARTITION_KEY)?)
            .attribute_definitions(string_attr(schema::PARTITION_KEY)?);
        for index in schema::INDEXES {
            request = request.attribute_definitions(string_attr(index.partition_key)?).global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.partition_key)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(|e| backend(OP, e))?,
            );
        }
        match request.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_in_use_exception()) => {}
            Err(e) => return Err(classify(OP, e)),
        }
        self.wait_until_active().await?;
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(schema::TTL_ATTRIBUTE)
            .build()
            .map_err(|e| backend(OP, e))?;
        match self.client.update_time_to_live().table_name(&self.table).time_to_live_specification(ttl).send().await {
            Ok(_) => Ok(()),
            // "TimeToLive is already enabled" comes back as a validation error.
            Err(e) if e.code() == Some("ValidationException") && self.ttl_enabled().await => Ok(()),
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn wait_until_active(&self) -> Result<(), StoreError> {
        const OP: &str = "create_table";
        for _ in 0..120 {
            let out = self.client.describe_table().table_name(&self.table).send().await.map_err(|e| classify(OP, e))?;
            let table = out.table();
            let table_active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
            let indexes_active = table
                .map(|t| t.global_secondary_indexes())
                .unwrap_or_default()
                .iter()
                .all(|i| i.index_status().is_none_or(|s| s.as_str() == "ACTIVE"));
            if table_active && indexes_active {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(StoreError::Unavailable { operation: OP, source: "table did not become ACTIVE within 60 s".into() })
    }

    async fn ttl_enabled(&self) -> bool {
        match self.client.describe_time_to_live().table_name(&self.table).send().await {
            Ok(out) => out
                .time_to_live_description()
                .and_then(|d| d.time_to_live_status())
                .is_some_and(|s| matches!(s.as_str(), "ENABLED" | "ENABLING")),
            Err(_) => false,
        }
    }

    fn now_secs(&self) -> u64 {
        self.clock.now_millis() / 1000
    }

    async fn query_index(
        &self,
        operation: &'static str,
        index: schema::GlobalIndex,
        value: &str,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        let now_ms = self.clock.now_millis();
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name)
                .key_condition_expression("#k = :v")
                .filter_expression("#ttl > :now")
                .expression_attribute_names("#k", index.partition_key)
                .expression_attribute_names("#ttl", schema::TTL)
                .expression_attribute_values(":v", AttributeValue::S(value.to_owned()))
                .expression_attribute_values(":now", number(now_ms / 1000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(operation, e))?;
            for item in page.items() {
                let record = from_item(item)?;
                if !record.is_expired_at(now_ms) {
                    out.push(record);
                }
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        sort_records(&mut out);
        Ok(out)
    }
}

#[async_trait]
impl ConnectionStore for DynamoDbConnectionStore {
    async fn save(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        const OP: &str = "save";
        record.validate()?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            // A record whose ttl has passed is absent for readers: it may be replaced.
            .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#ttl", schema::TTL)
            .expression_attribute_values(":now", number(self.now_secs()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(StoreError::AlreadyExists { connection_id: record.connection_id.clone() })
            }
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, AttributeValue::S(connection_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("get", e))?;
        let now_ms = self.clock.now_millis();
        match out.item() {
            Some(item) => Ok(Some(from_item(item)?).filter(|r| !r.is_expired_at(now_ms))),
            None => Ok(None),
        }
    }

    async fn delete(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, AttributeValue::S(connection_id.to_owned()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("delete", e))?;
        let now_ms = self.clock.now_millis();
        match out.attributes() {
            Some(item) if !item.is_empty() => match from_item(item) {
                Ok(record) => Ok(Some(record).filter(|r| !r.is_expired_at(now_ms))),
                // The delete succeeded: the item is gone. Only what it held cannot be read
                // (written by another writer or an older deployment): not a backend error.
                Err(e) => {
                    tracing::warn!(error = %e, "deleted a connection record that could not be read");
                    Ok(None)
                }
            },
            _ => Ok(None),
        }
    }

    async fn list_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.query_index("list_by_user", schema::USER_INDEX, user_id).await
    }

    async fn list_by_tenant(&self, tenant_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.query_index("list_by_tenant", schema::TENANT_INDEX, tenant_id).await
    }

    async fn touch(&self, connection_id: &str) -> Result<(), StoreError> {
        const OP: &str = "touch";
        let now_ms = self.clock.now_millis();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, AttributeValue::S(connection_id.to_owned()))
            .update_expression("SET #lp = :lp, #ttl = :ttl")
            .condition_expression("attribute_exists(#pk) AND #ttl > :now")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#lp", schema::LAST_PING)
            .expression_attribute_names("#ttl", schema::TTL)
            .expression_attribute_values(":lp", number(now_ms))
            .expression_attribute_values(":ttl", number(ttl_for(now_ms, self.connection_ttl)))
            .expression_attribute_values(":now", number(now_ms / 1000))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(StoreError::NotFound { connection_id: connection_id.to_owned() })
            }
            Err(e) => Err(classify(OP, e)),
        }
    }
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The item for `record` (optional attributes omitted when unset).
pub(crate) fn to_item(record: &ConnectionRecord) -> Item {
    let mut item = HashMap::with_capacity(10);
    item.insert(schema::CONNECTION_ID.to_owned(), AttributeValue::S(record.connection_id.clone()));
    item.insert(schema::USER_ID.to_owned(), AttributeValue::S(record.user_id.clone()));
    item.insert(schema::TENANT_ID.to_owned(), AttributeValue::S(record.tenant_id.clone()));
    item.insert(schema::ENDPOINT.to_owned(), AttributeValue::S(record.endpoint.clone()));
    item.insert(schema::CONNECTED_AT.to_owned(), number(record.connected_at));
    item.insert(schema::LAST_PING.to_owned(), number(record.last_ping));
    item.insert(schema::TTL.to_owned(), number(record.ttl));
    if let Some(ua) = &record.user_agent {
        item.insert(schema::USER_AGENT.to_owned(), AttributeValue::S(ua.clone()));
    }
    if let Some(ip) = &record.source_ip {
        item.insert(schema::SOURCE_IP.to_owned(), AttributeValue::S(ip.clone()));
    }
    item.insert(
        schema::PERMISSIONS.to_owned(),
        AttributeValue::L(record.permissions.iter().cloned().map(AttributeValue::S).collect()),
    );
    item
}

/// The record in `item`.
pub(crate) fn from_item(item: &Item) -> Result<ConnectionRecord, StoreError> {
    let s = |attr: &'static str| match item.get(attr) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt { attribute: attr }),
    };
    let opt_s = |attr: &'static str| match item.get(attr) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
        Some(_) => Err(StoreError::Corrupt { attribute: attr }),
    };
    let n = |attr: &'static str| match item.get(attr) {
        Some(AttributeValue::N(v)) => v.parse::<u64>().map_err(|_| StoreError::Corrupt { attribute: attr }),
        _ => Err(StoreError::Corrupt { attribute: attr }),
    };
    let permissions = match item.get(schema::PERMISSIONS) {
        None | Some(AttributeValue::Null(_)) => Vec::new(),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| match v {
                AttributeValue::S(p) => Ok(p.clone()),
                _ => Err(StoreError::Corrupt { attribute: schema::PERMISSIONS }),
            })
            .collect::<Result<_, _>>()?,
        Some(AttributeValue::Ss(values)) => values.clone(),
        Some(_) => return Err(StoreError::Corrupt { attribute: schema::PERMISSIONS }),
    };
    Ok(ConnectionRecord {
        connection_id: s(schema::CONNECTION_ID)?,
        user_id: s(schema::USER_ID)?,
        tenant_id: s(schema::TENANT_ID)?,
        endpoint: s(schema::ENDPOINT)?,
        connected_at: n(schema::CONNECTED_AT)?,
        last_ping: n(schema::LAST_PING)?,
        ttl: n(schema::TTL)?,
        user_agent: opt_s(schema::USER_AGENT)?,
        source_ip: opt_s(schema::SOURCE_IP)?,
        permissions,
    })
}

fn backend(operation: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend { operation, code: None, source: Box::new(source) }
}

/// Typed classification of an SDK error: transport failures, throttling and 5xx are
/// [`StoreError::Unavailable`]; everything else [`StoreError::Backend`] with its code.
fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable { operation, source: Box::new(err) }
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().map(str::to_owned);
            let transient =
                se.raw().status().is_server_error() || code.as_deref().is_some_and(|c| TRANSIENT_CODES.contains(&c));
            if transient {
                StoreError::Unavailable { operation, source: Box::new(err) }
            } else {
                StoreError::Backend { operation, code, source: Box::new(err) }
            }
        }
        _ => StoreError::Backend { operation, code: None, source: Box::new(err) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_round_trip() {
        let full = ConnectionRecord::new("c1", "u1", "acme", "d/prod", 1_750_000_000_123, Duration::from_secs(3600))
            .with_user_agent("Mozilla/5.0")
            .with_source_ip("198.51.100.4")
            .with_permissions(vec!["read".into(), "write".into()]);
        let item = to_item(&full);
        assert_eq!(item.get("ttl"), Some(&AttributeValue::N("1750003600".into())));
        assert_eq!(item.get("connectedAt"), Some(&AttributeValue::N("1750000000123".into())));
        assert_eq!(from_item(&item).unwrap(), full);

        let bare = ConnectionRecord::new("c2", "u1", "acme", "d/prod", 5_000, Duration::from_secs(1));
        let item = to_item(&bare);
        assert!(!item.contains_key("userAgent") && !item.contains_key("sourceIp"));
        assert_eq!(item.get("permissions"), Some(&AttributeValue::L(vec![])));
        assert_eq!(from_item(&item).unwrap(), bare);
    }

    #[test]
    fn corrupt_items_are_typed_errors() {
        let mut item = to_item(&ConnectionRecord::new("c1", "u1", "acme", "d/prod", 0, Duration::ZERO));
        item.insert("ttl".into(), AttributeValue::S("soon".into()));
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt { attribute: "ttl" })));
        item.remove("userId");
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt { attribute: "userId" })));
    }
}
