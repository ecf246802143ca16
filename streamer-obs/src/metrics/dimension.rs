//! The cardinality guard: dimension values come only from bounded, declared sources.
//!
//! Every unique combination of dimension values is a separate custom metric (billed, and
//! useless for alarms when unbounded, rule E-22). So a [`DimensionValue`] can only be
//! made from:
//!
//! - a string literal, checked at compile time ([`dimension_value!`](crate::dimension_value));
//! - a type implementing [`DimensionValueSource`] (enums of declared values such as
//!   [`ErrorType`](crate::metrics::standard::ErrorType) and
//!   [`Action`](crate::metrics::standard::Action));
//! - a [`TenantId`] (tenants are a bounded, declared set: the allow-list);
//! - the configured service and environment, and the function name (set by the SDK).
//!
//! There is no conversion from `String` or `&str`. Connection ids, user ids and request
//! ids have their own types ([`ConnectionId`], [`UserId`], [`RequestId`]) that go into
//! EMF properties and log fields, never into dimensions:
//!
//! ```compile_fail
//! use streamer_obs::metrics::{ConnectionId, Dimensions, standard};
//! let conn = ConnectionId::new("abc=");
//! // error[E0277]: the trait bound `ConnectionId: DimensionValueSource` is not satisfied
//! let dims = Dimensions::new().with(standard::TENANT_ID, &conn);
//! ```
//!
//! ```compile_fail
//! use streamer_obs::metrics::DimensionValue;
//! let runtime_text = String::from("anything");
//! // error[E0277]: the trait bound `DimensionValue: From<String>` is not satisfied
//! let v: DimensionValue = runtime_text.into();
//! ```
//!
//! An empty value never reaches the output: [`TenantId::or_unknown`] turns a missing or
//! empty tenant into the placeholder [`UNKNOWN`].
//!
//! ```
//! use streamer_obs::metrics::{Dimensions, TenantId, standard};
//! let tenant = TenantId::or_unknown(Some(""));
//! assert_eq!(tenant.as_str(), "unknown");
//! let dims = Dimensions::new()
//!     .with(standard::TENANT_ID, &tenant)
//!     .set([standard::ENVIRONMENT])
//!     .set([standard::ENVIRONMENT, standard::TENANT_ID]);
//! assert_eq!(dims.sets().len(), 2);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use smallvec::SmallVec;

use super::error::MetricsError;
use super::name::{DimensionName, dimension_value_error};

/// The placeholder written instead of an empty or missing dimension value (an empty value
/// makes CloudWatch drop the dimension, or the datum).
///
/// ```
/// assert_eq!(streamer_obs::metrics::UNKNOWN, "unknown");
/// ```
pub const UNKNOWN: &str = "unknown";

/// Maximum dimensions in one dimension set (E-7, C-2).
///
/// ```
/// assert_eq!(streamer_obs::metrics::dimension::MAX_DIMENSIONS_PER_SET, 30);
/// ```
pub const MAX_DIMENSIONS_PER_SET: usize = 30;
/// Maximum dimension sets per metric (each set is a separate CloudWatch metric).
///
/// ```
/// assert_eq!(streamer_obs::metrics::dimension::MAX_DIMENSION_SETS, 30);
/// ```
pub const MAX_DIMENSION_SETS: usize = 30;

/// A dimension value (E-17) from a bounded source (see the module documentation).
///
/// ```
/// use streamer_obs::metrics::{DimensionValue, DimensionValueSource, standard::Action};
/// let v: DimensionValue = Action::Connect.dimension_value();
/// assert_eq!(v.as_str(), "connect");
/// ```
#[derive(Debug, Clone, Eq, PartialOrd, Ord)]
pub struct DimensionValue(Cow<'static, str>);

super::name::same_text_eq!(DimensionValue);

impl DimensionValue {
    /// Used by [`dimension_value!`](crate::dimension_value), evaluated at compile time.
    #[doc(hidden)]
    pub const fn __from_static_checked(value: &'static str) -> Self {
        if dimension_value_error(value).is_some() {
            panic!("invalid dimension value (rule E-17)");
        }
        Self(Cow::Borrowed(value))
    }

    /// The placeholder [`UNKNOWN`].
    ///
    /// ```
    /// assert_eq!(streamer_obs::metrics::DimensionValue::unknown().as_str(), "unknown");
    /// ```
    pub const fn unknown() -> Self {
        Self(Cow::Borrowed(UNKNOWN))
    }

    /// A value the SDK itself takes from configuration (service, environment, function
    /// name): validated, with [`UNKNOWN`] for anything invalid or empty.
    pub(crate) fn from_config(value: &str) -> Self {
        let trimmed = value.trim();
        if dimension_value_error(trimmed).or_else(|| super::name::credential_error(trimmed)).is_none() {
            Self(Cow::Owned(trimmed.to_owned()))
        } else {
            Self::unknown()
        }
    }

    /// The value.
    ///
    /// ```
    /// assert_eq!(streamer_obs::dimension_value!("a").as_str(), "a");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DimensionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bounded, declared source of dimension values: implement it for enums whose
/// variants map to string literals.
///
/// ```
/// use streamer_obs::metrics::{DimensionValue, DimensionValueSource};
/// enum Region { Eu, Us }
/// impl DimensionValueSource for Region {
///     fn dimension_value(&self) -> DimensionValue {
///         match self {
///             Region::Eu => streamer_obs::dimension_value!("eu"),
///             Region::Us => streamer_obs::dimension_value!("us"),
///         }
///     }
/// }
/// assert_eq!(Region::Eu.dimension_value().as_str(), "eu");
/// ```
pub trait DimensionValueSource {
    /// The dimension value.
    ///
    /// ```
    /// use streamer_obs::metrics::{DimensionValueSource, standard::ErrorType};
    /// assert_eq!(ErrorType::Throttled.dimension_value().as_str(), "throttled");
    /// ```
    fn dimension_value(&self) -> DimensionValue;
}

impl DimensionValueSource for DimensionValue {
    fn dimension_value(&self) -> DimensionValue {
        self.clone()
    }
}

/// A tenant id: declared bounded (tenants come from the allow-list), so it may be a
/// dimension value. Validated as a dimension value (E-17).
///
/// ```
/// use streamer_obs::metrics::TenantId;
/// assert_eq!(TenantId::new("acme").unwrap().as_str(), "acme");
/// assert!(TenantId::new("").is_err());
/// assert_eq!(TenantId::or_unknown(None::<&str>).as_str(), "unknown");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// Validates `id` as a dimension value.
    ///
    /// ```
    /// assert!(streamer_obs::metrics::TenantId::new("t\u{1}").is_err());
    /// ```
    pub fn new(id: impl Into<String>) -> Result<Self, MetricsError> {
        let id = id.into();
        match dimension_value_error(&id).or_else(|| super::name::credential_error(&id)) {
            None => Ok(Self(id)),
            Some(reason) => Err(MetricsError::InvalidDimensionValue { value: id, reason }),
        }
    }

    /// The tenant, or [`UNKNOWN`] when it is missing, empty or not a valid dimension
    /// value (the Go system emitted an empty `TenantID` here and lost the datum).
    ///
    /// ```
    /// use streamer_obs::metrics::TenantId;
    /// assert_eq!(TenantId::or_unknown(Some("acme")).as_str(), "acme");
    /// assert_eq!(TenantId::or_unknown(Some("  ")).as_str(), "unknown");
    /// ```
    pub fn or_unknown<S: AsRef<str>>(id: Option<S>) -> Self {
        id.and_then(|s| Self::new(s.as_ref()).ok()).unwrap_or_else(|| Self(UNKNOWN.to_owned()))
    }

    /// The tenant id.
    ///
    /// ```
    /// # use streamer_obs::metrics::TenantId;
    /// assert_eq!(TenantId::new("t").unwrap().as_str(), "t");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl DimensionValueSource for TenantId {
    fn dimension_value(&self) -> DimensionValue {
        DimensionValue(Cow::Owned(self.0.clone()))
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! high_cardinality_id {
    ($(#[$doc:meta])* $name:ident, $example:literal) => {
        $(#[$doc])*
        ///
        /// High cardinality: it goes into EMF properties and log fields, never into a
        /// dimension (it implements neither [`DimensionValueSource`] nor any conversion
        /// into [`DimensionValue`]).
        ///
        /// ```
        #[doc = concat!("use streamer_obs::metrics::", stringify!($name), ";")]
        #[doc = concat!("let id = ", stringify!($name), "::new(\"", $example, "\");")]
        #[doc = concat!("assert_eq!(id.as_str(), \"", $example, "\");")]
        #[doc = concat!("assert_eq!(serde_json::to_string(&id).unwrap(), \"\\\"", $example, "\\\"\");")]
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

high_cardinality_id!(
    /// An API Gateway WebSocket connection id.
    ConnectionId,
    "abc123="
);
high_cardinality_id!(
    /// A user id (the JWT `sub`).
    UserId,
    "user-1"
);
high_cardinality_id!(
    /// A Lambda (or API Gateway) request id.
    RequestId,
    "8f2d-11"
);

/// The dimensions of one metric: values beyond the default dimensions (`Service`,
/// `Environment`, plus per-invocation ones), and the dimension sets to emit.
///
/// A key that is also a default dimension overrides the default's value for this metric.
/// With no [`set`](Dimensions::set) call, one set is emitted: every default key followed by
/// every key added here. With `set` calls, exactly those sets are emitted (each one is a
/// separate CloudWatch metric, so an `[Environment]` alarm and an
/// `[Environment, TenantID]` alarm both see data).
///
/// Up to [`INLINE_VALUES`] values and [`INLINE_KEYS`] set keys are stored inline: the usual
/// dimensions of a metric are built without a heap allocation.
///
/// ```
/// use streamer_obs::metrics::{Dimensions, standard::{self, Action}};
/// let dims = Dimensions::new()
///     .with(standard::ACTION, &Action::Connect)
///     .set([standard::ENVIRONMENT])
///     .set([standard::ENVIRONMENT, standard::ACTION]);
/// assert_eq!(dims.values().len(), 1);
/// ```
#[derive(Default, Eq)]
pub struct Dimensions {
    values: SmallVec<[(DimensionName, DimensionValue); INLINE_VALUES]>,
    /// The keys of every set, one set after the other.
    keys: SmallVec<[DimensionName; INLINE_KEYS]>,
    /// The end of each set in `keys`.
    ends: SmallVec<[u32; 2]>,
    /// An identity of this content: a fresh number from [`fresh_id`] at every change, kept
    /// by clones, 0 when unknown (new, empty). Equal non-zero ids mean equal content (the
    /// recording path's one-compare equality); equality itself ignores the id.
    id: u64,
}

/// How many identities a thread takes from [`NEXT_BLOCK`] at a time.
const ID_BLOCK: u64 = 1 << 20;

/// The next block of identities of [`Dimensions`] contents: unique in the process (a
/// counter of blocks, no per-invocation state). Block 0 is never handed out, so no
/// identity is 0.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's next identity and the end of its block (both 0 before its first).
    static IDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A number never handed out before, in any thread: the next of this thread's block, a
/// new block when it is used up (one atomic read-modify-write per 2^20 identities instead
/// of one per change of a `Dimensions`).
#[inline]
fn fresh_id() -> u64 {
    IDS.try_with(|ids| {
        let (next, end) = ids.get();
        let (next, end) = if next < end {
            (next, end)
        } else {
            let start = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) * ID_BLOCK;
            (start, start + ID_BLOCK)
        };
        ids.set((next + 1, end));
        next
    })
    // The thread is exiting (its block is gone): a block of its own for this one change.
    .unwrap_or_else(|_| NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) * ID_BLOCK)
}

/// How many dimension values a [`Dimensions`] holds without allocating.
///
/// ```
/// assert_eq!(streamer_obs::metrics::dimension::INLINE_VALUES, 2);
/// ```
pub const INLINE_VALUES: usize = 2;
/// How many dimension set keys (over all sets) a [`Dimensions`] holds without allocating.
///
/// ```
/// assert_eq!(streamer_obs::metrics::dimension::INLINE_KEYS, 3);
/// ```
pub const INLINE_KEYS: usize = 3;

/// Element by element (the inline storage is copied entry by entry).
impl Clone for Dimensions {
    fn clone(&self) -> Self {
        let mut out = Self::EMPTY;
        out.fill_from(self);
        out
    }

    /// In place, reusing `self`'s storage.
    fn clone_from(&mut self, source: &Self) {
        self.reset();
        self.fill_from(source);
    }
}

/// The content, without the identity.
impl fmt::Debug for Dimensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dimensions")
            .field("values", &self.values)
            .field("keys", &self.keys)
            .field("ends", &self.ends)
            .finish()
    }
}

/// Element by element (names compare by pointer first, see `same_text`): what the
/// derived comparison answers, faster on these short vectors.
impl PartialEq for Dimensions {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let (ends, keys, values) = (&self.ends[..], &self.keys[..], &self.values[..]);
        let (other_ends, other_keys, other_values) = (&other.ends[..], &other.keys[..], &other.values[..]);
        ends.len() == other_ends.len()
            && keys.len() == other_keys.len()
            && values.len() == other_values.len()
            && ends.iter().zip(other_ends).all(|(a, b)| a == b)
            && keys.iter().zip(other_keys).all(|(a, b)| a == b)
            && values.iter().zip(other_values).all(|(a, b)| a == b)
    }
}

impl std::hash::Hash for Dimensions {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.values[..].hash(state);
        self.keys[..].hash(state);
        self.ends[..].hash(state);
    }
}

impl Dimensions {
    /// No values, no sets (usable in `const` context).
    pub(crate) const EMPTY: Dimensions =
        Dimensions { values: SmallVec::new_const(), keys: SmallVec::new_const(), ends: SmallVec::new_const(), id: 0 };

    /// Whether `self` equals `other`: one compare when both have the same identity (the
    /// same build, or a clone of it), else element by element.
    #[inline]
    pub(crate) fn same_as(&self, other: &Dimensions) -> bool {
        (self.id != 0 && self.id == other.id) || self == other
    }

    /// The identity of this content (0: unknown), see [`same_as`](Self::same_as).
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Empties `self` (as [`EMPTY`](Self::EMPTY)), keeping its storage.
    pub(crate) fn reset(&mut self) {
        self.values.clear();
        self.keys.clear();
        self.ends.clear();
        self.id = 0;
    }

    /// Makes an empty `self` a copy of `source` (element by element, without the generic
    /// `SmallVec` machinery: a few elements, mostly borrowed names).
    pub(crate) fn fill_from(&mut self, source: &Dimensions) {
        debug_assert!(self.values.is_empty() && self.keys.is_empty() && self.ends.is_empty());
        for pair in &source.values {
            self.values.push(pair.clone());
        }
        for key in &source.keys {
            self.keys.push(key.clone());
        }
        for end in &source.ends {
            self.ends.push(*end);
        }
        self.id = source.id;
    }

    /// No extra values; the default set.
    ///
    /// ```
    /// let dims = streamer_obs::metrics::Dimensions::new();
    /// assert!(dims.values().is_empty() && dims.sets().len() == 0);
    /// ```
    #[inline]
    pub fn new() -> Self {
        Self::EMPTY
    }

    /// Adds (or replaces) the value of `name`.
    ///
    /// ```
    /// use streamer_obs::metrics::{Dimensions, standard::{self, Action}};
    /// let dims = Dimensions::new().with(standard::ACTION, &Action::Send).with(standard::ACTION, &Action::Broadcast);
    /// assert_eq!(dims.values()[0].1.as_str(), "broadcast");
    /// ```
    #[inline]
    pub fn with(mut self, name: DimensionName, value: &(impl DimensionValueSource + ?Sized)) -> Self {
        self.put(name, value.dimension_value());
        self
    }

    #[inline]
    fn put(&mut self, name: DimensionName, value: DimensionValue) {
        self.id = fresh_id();
        if let Some(slot) = self.values.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            self.values.push((name, value));
        }
    }

    /// Adds a dimension set (keys from the default dimensions or from [`with`](Self::with)).
    /// A set given twice, in any order of its keys, is emitted once (CloudWatch identifies a
    /// metric by its dimensions, not their order: a repeated set would count every value
    /// twice).
    ///
    /// ```
    /// use streamer_obs::metrics::{Dimensions, standard};
    /// let dims = Dimensions::new().set([standard::ENVIRONMENT]).set([standard::ENVIRONMENT]);
    /// assert_eq!(dims.sets().len(), 1);
    /// let dims = Dimensions::new()
    ///     .set([standard::ENVIRONMENT, standard::SERVICE])
    ///     .set([standard::SERVICE, standard::ENVIRONMENT]);
    /// assert_eq!(dims.sets().len(), 1);
    /// ```
    #[inline]
    pub fn set(mut self, keys: impl IntoIterator<Item = DimensionName>) -> Self {
        let start = self.keys.len();
        for key in keys {
            self.keys.push(key);
        }
        self.close_set(start);
        self
    }

    /// Ends the set whose keys start at `start`, dropping it when it repeats an earlier
    /// one in any order: CloudWatch identifies a metric by its dimension names and values,
    /// not their order, so `[A, B]` and `[B, A]` would count every value twice.
    #[inline]
    fn close_set(&mut self, start: usize) {
        self.id = fresh_id();
        let new = &self.keys[start..];
        let same_keys = |s: &[DimensionName]| {
            s.len() == new.len() && s.iter().all(|k| new.contains(k)) && new.iter().all(|k| s.contains(k))
        };
        if self.sets().any(same_keys) {
            self.keys.truncate(start);
        } else {
            self.ends.push(self.keys.len() as u32);
        }
    }

    /// The extra values, in insertion order.
    ///
    /// ```
    /// use streamer_obs::metrics::{Dimensions, TenantId, standard};
    /// let dims = Dimensions::new().with(standard::TENANT_ID, &TenantId::new("a").unwrap());
    /// assert_eq!(dims.values()[0].0, standard::TENANT_ID);
    /// ```
    #[inline]
    pub fn values(&self) -> &[(DimensionName, DimensionValue)] {
        &self.values
    }

    /// The explicit dimension sets, in order (none: the default set).
    ///
    /// ```
    /// use streamer_obs::metrics::{Dimensions, standard};
    /// let dims = Dimensions::new().set([standard::ENVIRONMENT, standard::SERVICE]);
    /// assert_eq!(dims.sets().len(), 1);
    /// assert_eq!(dims.sets().next().unwrap(), [standard::ENVIRONMENT, standard::SERVICE]);
    /// ```
    pub fn sets(&self) -> impl ExactSizeIterator<Item = &[DimensionName]> + Clone + '_ {
        let ends = &self.ends[..];
        ends.iter().enumerate().map(move |(i, &end)| {
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &self.keys[start..end as usize]
        })
    }

    /// The keys of every set, one set after the other, and the end of each set in them.
    pub(crate) fn set_keys(&self) -> (&[DimensionName], &[u32]) {
        (&self.keys, &self.ends)
    }

    /// Whether explicit sets were given.
    pub(crate) fn has_sets(&self) -> bool {
        !self.ends.is_empty()
    }

    /// Whether nothing was given (no value, no set).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty() && self.ends.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::standard::{self, Action, ErrorType};
    use std::hash::{BuildHasher, RandomState};

    fn many() -> Dimensions {
        // Beyond the inline capacities: 3 values, 6 keys, 3 sets.
        Dimensions::new()
            .with(standard::ACTION, &Action::Send)
            .with(standard::ERROR_TYPE, &ErrorType::Throttled)
            .with(standard::TENANT_ID, &TenantId::new("acme").unwrap())
            .set([standard::ENVIRONMENT])
            .set([standard::ENVIRONMENT, standard::ACTION])
            .set([standard::ENVIRONMENT, standard::ERROR_TYPE, standard::TENANT_ID])
    }

    #[test]
    fn sets_keep_their_order_and_repeats_are_dropped() {
        let dims = many().set([standard::ENVIRONMENT, standard::ACTION]).set([]).set([]);
        let sets: Vec<Vec<&str>> = dims.sets().map(|s| s.iter().map(DimensionName::as_str).collect()).collect();
        assert_eq!(
            sets,
            [vec!["Environment"], vec!["Environment", "Action"], vec!["Environment", "ErrorType", "TenantID"], vec![],]
        );
        assert_eq!(dims.sets().len(), 4);
        assert!(dims.has_sets() && !dims.is_empty());
        assert!(Dimensions::new().is_empty() && !Dimensions::new().has_sets());
        let values: Vec<&str> = dims.values().iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["send", "throttled", "acme"]);
    }

    #[test]
    fn clone_eq_and_hash_agree_inline_and_spilled() {
        let hasher = RandomState::new();
        for dims in [Dimensions::new(), Dimensions::new().with(standard::ACTION, &Action::Connect), many()] {
            let copy = dims.clone();
            assert_eq!(copy, dims);
            assert_eq!(hasher.hash_one(&copy), hasher.hash_one(&dims));
            assert_eq!(copy.sets().collect::<Vec<_>>(), dims.sets().collect::<Vec<_>>());
        }
        assert_ne!(many(), many().set([standard::ACTION]));
        assert_ne!(many(), many().with(standard::ACTION, &Action::Broadcast));
        // The same keys split into other sets differ.
        let a = Dimensions::new().set([standard::ENVIRONMENT, standard::SERVICE]);
        let b = Dimensions::new().set([standard::ENVIRONMENT]).set([standard::SERVICE]);
        assert_ne!(a, b);
        assert_eq!(Dimensions::EMPTY, Dimensions::new());
    }

    /// The identity answers only for the same content: clones share it, every change
    /// (even of a clone) makes a new one, and equal content built twice is still equal.
    #[test]
    fn same_as_is_equality() {
        let a =
            Dimensions::new().with(standard::ACTION, &Action::Connect).set([standard::ENVIRONMENT, standard::ACTION]);
        let copy = a.clone();
        assert!(copy.same_as(&a) && copy.id == a.id && a.id != 0);
        let other = copy.clone().with(standard::ACTION, &Action::Send);
        assert!(!other.same_as(&a) && !a.same_as(&other));
        let more = a.clone().set([standard::ACTION]);
        assert!(!more.same_as(&a));
        let twin =
            Dimensions::new().with(standard::ACTION, &Action::Connect).set([standard::ENVIRONMENT, standard::ACTION]);
        assert!(twin.id != a.id && twin.same_as(&a));
        let mut reused = many();
        reused.clone_from(&a);
        assert!(reused.same_as(&a) && reused == a);
        reused.reset();
        assert!(reused.is_empty() && reused == Dimensions::EMPTY && !reused.same_as(&a));
        assert!(Dimensions::new().same_as(&Dimensions::EMPTY));
        assert_eq!(format!("{:?}", a), format!("{:?}", twin));
    }

    /// Identities drawn on several threads at once (each from its own block) are all
    /// distinct and never 0.
    #[test]
    fn identities_are_unique_across_threads() {
        let threads: Vec<_> =
            (0..4).map(|_| std::thread::spawn(|| (0..1000).map(|_| fresh_id()).collect::<Vec<_>>())).collect();
        let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        all.extend((0..1000).map(|_| fresh_id()));
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all[0] != 0);
    }
}
