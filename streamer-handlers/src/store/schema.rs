//! The connections table schema, defined once: attribute names, key, global secondary
//! indexes and TTL attribute. Both stores and [`super::DynamoDbConnectionStore::create_table`]
//! use these constants; `docs/connection-store.md` documents them.
//!
//! ```
//! use streamer_handlers::store::schema;
//! assert_eq!(schema::PARTITION_KEY, "connectionId");
//! assert_eq!(schema::TTL_ATTRIBUTE, "ttl");
//! assert_eq!(schema::USER_INDEX.name, "userId-index");
//! assert_eq!(schema::TENANT_INDEX.partition_key, "tenantId");
//! ```

/// `connectionId` (S): the API Gateway connection id; the table's partition key.
pub const CONNECTION_ID: &str = "connectionId";
/// `userId` (S): the token's `sub`; partition key of [`USER_INDEX`].
pub const USER_ID: &str = "userId";
/// `tenantId` (S): the token's `tenant_id`; partition key of [`TENANT_INDEX`].
pub const TENANT_ID: &str = "tenantId";
/// `endpoint` (S): `domain/stage`, where the Management API reaches the connection.
pub const ENDPOINT: &str = "endpoint";
/// `connectedAt` (N): epoch milliseconds of the `$connect`.
pub const CONNECTED_AT: &str = "connectedAt";
/// `lastPing` (N): epoch milliseconds of the last activity.
pub const LAST_PING: &str = "lastPing";
/// `ttl` (N): epoch seconds after which the record is expired (DynamoDB TTL attribute).
pub const TTL: &str = "ttl";
/// `userAgent` (S, optional): the client's `User-Agent`.
pub const USER_AGENT: &str = "userAgent";
/// `sourceIp` (S, optional): the client's source IP.
pub const SOURCE_IP: &str = "sourceIp";
/// `permissions` (L of S): the token's `permissions`.
pub const PERMISSIONS: &str = "permissions";

/// The partition key attribute.
pub const PARTITION_KEY: &str = CONNECTION_ID;
/// The attribute DynamoDB TTL is enabled on.
pub const TTL_ATTRIBUTE: &str = TTL;

/// A global secondary index (projection `ALL`, partition key only).
///
/// ```
/// use streamer_handlers::store::schema::{INDEXES, USER_INDEX};
/// assert_eq!(INDEXES[0], USER_INDEX);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalIndex {
    /// The index name.
    pub name: &'static str,
    /// Its partition key attribute (type S).
    pub partition_key: &'static str,
}

/// `userId-index`: connections of a user.
pub const USER_INDEX: GlobalIndex = GlobalIndex { name: "userId-index", partition_key: USER_ID };
/// `tenantId-index`: connections of a tenant.
pub const TENANT_INDEX: GlobalIndex = GlobalIndex { name: "tenantId-index", partition_key: TENANT_ID };
/// Every global secondary index of the table.
pub const INDEXES: [GlobalIndex; 2] = [USER_INDEX, TENANT_INDEX];
