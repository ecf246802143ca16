//! [`MetricSet`]: the in-memory record of one invocation's metrics (or of an explicit
//! handle outside an invocation). Recording does no I/O.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use smallvec::SmallVec;

use super::dimension::{DimensionValue, DimensionValueSource, Dimensions, MAX_DIMENSION_SETS, MAX_DIMENSIONS_PER_SET};
use super::error::MetricsError;
use super::name::{DimensionName, IntoMetricName, MetricName, Namespace};
use super::standard;
use super::unit::{StorageResolution, Unit};
use crate::clock::Clock;
use crate::config::Config;

/// The largest accepted magnitude of a value, 2^360 (E-19).
///
/// ```
/// assert_eq!(streamer_obs::metrics::set::MAX_VALUE, 2f64.powi(360));
/// ```
pub const MAX_VALUE: f64 = 2.348_542_582_773_833_2e108;
/// Timestamps at most this far in the past (14 days, E-20).
///
/// ```
/// assert_eq!(streamer_obs::metrics::set::MAX_PAST_MS, 1_209_600_000);
/// ```
pub const MAX_PAST_MS: u64 = 14 * 24 * 3600 * 1000;
/// Whether `ts_ms` lies within CloudWatch's window around `now_ms` (E-20, C-2).
fn in_window(ts_ms: i128, now_ms: u64) -> bool {
    let now = i128::from(now_ms);
    ts_ms >= 0 && ts_ms >= now - i128::from(MAX_PAST_MS) && ts_ms <= now + i128::from(MAX_FUTURE_MS)
}

/// Timestamps at most this far in the future (2 hours, E-20).
///
/// ```
/// assert_eq!(streamer_obs::metrics::set::MAX_FUTURE_MS, 7_200_000);
/// ```
pub const MAX_FUTURE_MS: u64 = 2 * 3600 * 1000;

/// Checks a value against rule E-19 (finite, within ±2^360).
///
/// ```
/// use streamer_obs::metrics::value_is_valid;
/// assert!(value_is_valid(1.5));
/// assert!(!value_is_valid(f64::NAN));
/// assert!(!value_is_valid(1e200));
/// ```
#[inline]
pub fn value_is_valid(value: f64) -> bool {
    // One comparison: false for NaN and for both infinities too.
    value.abs() <= MAX_VALUE
}

/// The dimension values and sets of a group of metrics (interned in the set): a copy of
/// the [`Dimensions`] they were recorded with, validated against the set's default
/// dimensions and shared through its [`Base`] (see [`KnownContexts`]).
pub(crate) type DimensionContext = Arc<Dimensions>;

/// The values of one metric: one without allocation, more in a (boxed, so that an entry
/// stays small) vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    One(f64),
    // A thin pointer: an entry stays at 56 bytes (see `the_set_stays_small`); several
    // values are the rare case.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<f64>>),
}

impl Values {
    pub(crate) fn as_slice(&self) -> &[f64] {
        match self {
            Values::One(v) => std::slice::from_ref(v),
            Values::Many(v) => v,
        }
    }

    fn push(&mut self, value: f64) {
        match self {
            Values::One(first) => *self = Values::Many(Box::new(vec![*first, value])),
            Values::Many(v) => v.push(value),
        }
    }
}

/// One recorded metric: a name in one dimension context with its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) name: MetricName,
    /// The previous entry with the same name hash ([`NO_ENTRY`] when none, or while the
    /// set is below [`INDEX_FROM`] entries): a hash chain.
    prev: u32,
    pub(crate) unit: Unit,
    pub(crate) resolution: StorageResolution,
    pub(crate) context: usize,
    pub(crate) values: Values,
}

const NO_ENTRY: u32 = u32::MAX;
/// From this many metrics on, recording looks names up in a hash index instead of scanning.
const INDEX_FROM: usize = 16;

/// A hasher for keys that already are hashes (the FNV-1a of a name).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Index = HashMap<u64, u32, BuildHasherDefault<PassThrough>>;

/// FNV-1a, 64 bit: cheap for short names; the key of the recording index.
fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A refusal on the recording path: boxed, so that the path passes a pointer back (the
/// public methods unbox it into their `Result<_, MetricsError>`). Refusals are the rare
/// case; they are built out of line.
pub(crate) type Refused = Box<MetricsError>;

/// The refusal `error` makes of the metric's name.
#[cold]
#[inline(never)]
fn refused_metric(name: &MetricName, error: impl FnOnce(String) -> MetricsError) -> Refused {
    Box::new(error(name.as_str().to_owned()))
}

#[cold]
#[inline(never)]
fn too_many_dimensions(name: &MetricName) -> Refused {
    refused_metric(name, |metric| MetricsError::TooManyDimensions { metric })
}

/// Why a dimension named like a secret is refused.
const SECRET_DIMENSION_NAME: &str =
    "named like a secret (a key the log lines redact): its value would be written in clear on the EMF line";

/// Why a dimension whose name or value holds a credential is refused.
const CREDENTIAL_IN_DIMENSION: &str = "its name or value holds a credential the EMF line's writer would redact (a dimension_name!/dimension_value! literal)";

#[cold]
#[inline(never)]
fn bad_dimension(name: &MetricName, key: &DimensionName, reason: &'static str) -> Refused {
    Box::new(MetricsError::Dimension { metric: name.as_str().to_owned(), dimension: key.as_str().to_owned(), reason })
}

/// One metric as an exporter sees it: name, unit, resolution, the full dimension values,
/// the dimension sets, and the values in recording order.
///
/// ```
/// use streamer_obs::metrics::{MetricSet, Namespace, Unit};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add("Hits", Unit::Count, 2.0).unwrap();
/// let m = set.metrics().next().unwrap();
/// assert_eq!(m.name.as_str(), "Hits");
/// assert_eq!(m.values, &[2.0]);
/// assert_eq!(m.sets.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct MetricView<'a> {
    /// The metric name.
    pub name: &'a MetricName,
    /// The unit.
    pub unit: Unit,
    /// The storage resolution.
    pub resolution: StorageResolution,
    /// Every dimension value of the metric (defaults, then the metric's own), keys unique.
    pub dimensions: Vec<(&'a DimensionName, &'a DimensionValue)>,
    /// The dimension sets to emit (each a list of keys of `dimensions`).
    pub sets: Vec<Vec<&'a DimensionName>>,
    /// The values, in recording order.
    pub values: &'a [f64],
}

/// The metrics of one invocation (or of an explicit handle): namespace, default
/// dimensions, metrics with their dimension sets, properties, and an optional explicit
/// timestamp.
///
/// The `try`-style methods here return typed [`MetricsError`]s; nothing panics. The
/// same metric name recorded again in the same dimensions appends a value (a multi-value
/// metric, written as an array).
///
/// ```
/// use streamer_obs::metrics::{Dimensions, MetricSet, Namespace, StorageResolution, TenantId, Unit, standard};
/// let mut set = MetricSet::new(Namespace::new("Streamer").unwrap());
/// set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).unwrap();
/// set.add("ConnectionEstablished", Unit::Count, 1.0).unwrap();
/// set.add("ConnectionEstablished", Unit::Count, 1.0).unwrap();
/// let tenant = TenantId::new("acme").unwrap();
/// let dims = Dimensions::new()
///     .with(standard::TENANT_ID, &tenant)
///     .set([standard::ENVIRONMENT])
///     .set([standard::ENVIRONMENT, standard::TENANT_ID]);
/// set.add_with("MessageSize", Unit::Bytes, 512.0, StorageResolution::High, &dims).unwrap();
/// set.set_property("connection_id", "abc=").unwrap();
/// assert_eq!(set.values_of("ConnectionEstablished"), vec![1.0, 1.0]);
/// assert!(set.add("Bad", Unit::Count, f64::NAN).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct MetricSet {
    /// Namespace and default dimensions, shared with the sets of the same configuration
    /// (and with what [`take`](Self::take) leaves behind); copied on write.
    base: Arc<Base>,
    /// Context 1, the first beyond context 0 (the defaults alone); most sets have at most
    /// this one.
    /// `None` while there is none.
    context1: Option<DimensionContext>,
    /// The identity of the [`Dimensions`] context 1 was found for (see
    /// `Dimensions::same_as`; 0: none): the shared copy keeps the identity of the
    /// dimensions it was made from, so the recording path compares this one to find
    /// context 1 again for the caller's dimensions without comparing their content.
    context1_id: u64,
    /// The metrics, in recording order (the first [`INLINE_ENTRIES`] without allocating).
    entries: SmallVec<[Entry; INLINE_ENTRIES]>,
    /// The [`name_bits`] of every name a metric may not take here: the default
    /// dimensions', the contexts' own dimensions', the properties'. A metric name whose
    /// bit is clear collides with none of them (the recording path's one test).
    reserved: u64,
    timestamp_ms: Option<u64>,
    /// The properties; `None` until the first (an empty map is dropped through its
    /// iterator, a `None` by one test).
    properties: Option<BTreeMap<String, serde_json::Value>>,
    /// What few sets hold (further contexts, a name index), out of line: a set without
    /// them is made, emptied and dropped without touching it.
    rare: Option<Box<Rare>>,
    /// Context 1 of the set before it was last emptied (see [`clear`](Self::clear)): the
    /// next invocation's usual context, taken back without the base's lock and reference
    /// count. A copy the base's known contexts hold as well; never written.
    last_context: Option<DimensionContext>,
}

/// The parts of a [`MetricSet`] most sets never use.
#[derive(Debug, Clone, Default)]
struct Rare {
    /// The contexts beyond context 1: context `i` is `contexts[i - 2]`.
    contexts: Vec<DimensionContext>,
    /// Name hash -> the last entry with that hash (then `Entry::prev`), from
    /// [`INDEX_FROM`] entries on.
    index: Index,
}

/// No property (what [`MetricSet::properties`] lends before the first).
static NO_PROPERTIES: BTreeMap<String, serde_json::Value> = BTreeMap::new();

/// The namespace and default dimensions a set starts from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Base {
    namespace: Namespace,
    defaults: Vec<(DimensionName, DimensionValue)>,
    /// The [`name_bits`] of the default dimensions' names.
    reserved: u64,
    /// Contexts validated against these defaults.
    known: KnownContexts,
}

impl Base {
    fn new(namespace: Namespace, defaults: Vec<(DimensionName, DimensionValue)>) -> Self {
        let reserved = defaults.iter().fold(0, |bits, (k, _)| bits | name_bits(k.as_str()));
        Self { namespace, defaults, reserved, known: KnownContexts::default() }
    }
}

/// How many contexts a [`Base`] remembers.
const KNOWN_CONTEXTS: usize = 8;

/// The last few contexts validated against a [`Base`]'s default dimensions, shared by the
/// sets of that base (every invocation of a configuration): an invocation recording the
/// same dimensions as an earlier one finds their validated copy here and shares it (one
/// compare and a reference count) instead of validating and copying them again, and
/// emptying its set only drops that reference. The EMF layouts compare a shared context
/// by address first. Nothing per invocation: only immutable, validated copies.
#[derive(Default)]
struct KnownContexts {
    /// The contexts, most recently added first.
    contexts: crate::lock::SpinLock<SmallVec<[DimensionContext; KNOWN_CONTEXTS]>>,
}

impl KnownContexts {
    /// The known context equal to `dims`.
    fn find(&self, dims: &Dimensions) -> Option<DimensionContext> {
        let known = self.contexts.lock();
        known.iter().find(|c| c.same_as(dims)).cloned()
    }

    /// Remembers a validated context, forgetting the oldest beyond [`KNOWN_CONTEXTS`].
    fn add(&self, context: &DimensionContext) {
        let mut known = self.contexts.lock();
        if known.len() == KNOWN_CONTEXTS {
            known.pop();
        }
        known.insert(0, Arc::clone(context));
    }
}

/// A copy of a base (a changed default) validates its contexts anew: it starts empty.
impl Clone for KnownContexts {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// A cache: not part of the base's value.
impl PartialEq for KnownContexts {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for KnownContexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KnownContexts")
    }
}

/// One bit of 64 for a name, from its length and its first and last bytes: names with
/// different bits differ, so a name whose bit is not in a set of bits (see
/// `MetricSet::reserved`) is none of the names that made it, without comparing text.
#[inline]
fn name_bits(name: &str) -> u64 {
    let b = name.as_bytes();
    let (first, last) = match b {
        [first, .., last] => (*first, *last),
        [only] => (*only, *only),
        [] => (0, 0),
    };
    let h = (b.len() as u32).wrapping_mul(31) ^ u32::from(first).wrapping_mul(7) ^ u32::from(last);
    1 << (h % 64)
}

/// Context 0: the default dimensions alone, in the default set.
static DEFAULT_CONTEXT: Dimensions = Dimensions::EMPTY;

/// How many metrics a set holds before it allocates: a handler's few metrics and the
/// latency metric. The set lives in the invocation's allocation, which stays within the
/// allocator's small-size cache (about 1 KB) with it (see the size test).
const INLINE_ENTRIES: usize = 4;

/// What a configuration gives the metrics of every invocation (namespace, the `Service`
/// and `Environment` default dimensions, the service name of the cold-start metric),
/// derived once: invocations of the same configuration share it instead of validating
/// and copying it again.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The configured service name (the cold-start metric's dimension).
    service: String,
    base: Arc<Base>,
}

impl Prepared {
    /// The prepared values of `config`: derived once per configuration and kept in it.
    pub(crate) fn of(config: &Config) -> Arc<Prepared> {
        Arc::clone(config.metrics_base())
    }

    /// The prepared values of `config`, borrowed.
    pub(crate) fn of_ref(config: &Config) -> &Arc<Prepared> {
        config.metrics_base()
    }

    pub(crate) fn derive(config: &Config) -> Self {
        let namespace = if config.namespace() == crate::config::DEFAULT_NAMESPACE {
            Namespace::streamer()
        } else {
            Namespace::new(config.namespace().to_owned()).unwrap_or_else(|_| Namespace::streamer())
        };
        let defaults = vec![
            (standard::SERVICE, DimensionValue::from_config(config.service())),
            (standard::ENVIRONMENT, DimensionValue::from_config(config.environment())),
        ];
        Self { service: config.service().to_owned(), base: Arc::new(Base::new(namespace, defaults)) }
    }

    /// The configured namespace.
    pub(crate) fn namespace(&self) -> &Namespace {
        &self.base.namespace
    }

    /// The configured service name (as configured: the cold-start set validates it).
    pub(crate) fn service(&self) -> &str {
        &self.service
    }

    /// An empty set with the prepared namespace and default dimensions.
    pub(crate) fn set(&self) -> MetricSet {
        MetricSet::with_base(Arc::clone(&self.base))
    }

    /// Makes `set` what [`Self::set`] returns: emptied in place, keeping its storage and
    /// its reference to the shared base, when it still shares this configuration's base
    /// (no default dimension was added to it); replaced otherwise.
    pub(crate) fn reset(&self, set: &mut MetricSet) {
        if Arc::ptr_eq(&set.base, &self.base) {
            set.clear();
        } else {
            *set = self.set();
        }
    }
}

impl MetricSet {
    fn with_base(base: Arc<Base>) -> Self {
        let reserved = base.reserved;
        Self {
            base,
            context1: None,
            context1_id: 0,
            entries: SmallVec::new(),
            reserved,
            timestamp_ms: None,
            properties: None,
            rare: None,
            last_context: None,
        }
    }

    /// The rare parts, made on first use.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// An empty set in `namespace`, with no default dimensions.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace};
    /// let set = MetricSet::new(Namespace::streamer());
    /// assert!(set.is_empty() && set.default_dimensions().is_empty());
    /// ```
    pub fn new(namespace: Namespace) -> Self {
        Self::with_base(Arc::new(Base::new(namespace, Vec::new())))
    }

    /// An empty set with the configured namespace and the default dimensions `Service`
    /// and `Environment` (the configuration has validated them; anything invalid becomes
    /// [`UNKNOWN`](super::UNKNOWN)).
    ///
    /// ```
    /// use streamer_obs::config::{Config, EnvVars};
    /// use streamer_obs::metrics::MetricSet;
    /// let config = Config::builder().service("connect").environment("prod").build_from(&EnvVars::empty());
    /// let set = MetricSet::from_config(&config);
    /// assert_eq!(set.namespace().as_str(), "Streamer");
    /// assert_eq!(set.default_dimensions().len(), 2);
    /// ```
    pub fn from_config(config: &Config) -> Self {
        Prepared::of(config).set()
    }

    /// A set holding exactly one metric with its own dimensions and no defaults (the
    /// "single metric" of Powertools: published as its own document).
    ///
    /// ```
    /// use streamer_obs::metrics::{Dimensions, MetricSet, Namespace, Unit, standard::{self, Action}};
    /// let dims = Dimensions::new().with(standard::ACTION, &Action::Connect);
    /// let single = MetricSet::single(Namespace::streamer(), "Retries", Unit::Count, 3.0, &dims).unwrap();
    /// assert_eq!(single.len(), 1);
    /// ```
    pub fn single(
        namespace: Namespace,
        name: impl IntoMetricName,
        unit: Unit,
        value: f64,
        dims: &Dimensions,
    ) -> Result<Self, MetricsError> {
        let mut set = Self::new(namespace);
        set.add_with(name, unit, value, StorageResolution::Standard, dims)?;
        Ok(set)
    }

    /// The cold-start set: `ColdStart = 1` (Count) with the dimensions `function_name`
    /// and `service` only, written as its own document. There is no way to record it as 0.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace};
    /// let set = MetricSet::cold_start(Namespace::streamer(), "connect", "streamer-connect");
    /// assert_eq!(set.values_of("ColdStart"), vec![1.0]);
    /// ```
    pub fn cold_start(namespace: Namespace, function_name: &str, service: &str) -> Self {
        let defaults = vec![
            (standard::FUNCTION_NAME_LOWER, DimensionValue::from_config(function_name)),
            (standard::SERVICE_LOWER, DimensionValue::from_config(service)),
        ];
        let mut set = Self::with_base(Arc::new(Base::new(namespace, defaults)));
        set.push_entry(MetricName::from_static(standard::COLD_START), Unit::Count, StorageResolution::Standard, 0, 1.0);
        set
    }

    /// The namespace.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace};
    /// assert_eq!(MetricSet::new(Namespace::streamer()).namespace().as_str(), "Streamer");
    /// ```
    pub fn namespace(&self) -> &Namespace {
        &self.base.namespace
    }

    /// The default dimensions (configured plus per-invocation), in order.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace, standard};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("dev")).unwrap();
    /// assert_eq!(set.default_dimensions()[0].1.as_str(), "dev");
    /// ```
    pub fn default_dimensions(&self) -> &[(DimensionName, DimensionValue)] {
        &self.base.defaults
    }

    /// The namespace and default dimensions, as shared with other sets.
    pub(crate) fn base(&self) -> &Arc<Base> {
        &self.base
    }

    /// Adds (or replaces) a dimension on every metric of this set (a per-invocation
    /// dimension). At most 30 default dimensions; refused too when a metric already
    /// recorded would then have more than 30 keys in its default dimension set.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace, TenantId, standard};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.add_dimension(standard::TENANT_ID, &TenantId::new("acme").unwrap()).unwrap();
    /// assert_eq!(set.default_dimensions().len(), 1);
    /// ```
    pub fn add_dimension(
        &mut self,
        name: DimensionName,
        value: &(impl DimensionValueSource + ?Sized),
    ) -> Result<(), MetricsError> {
        let value = value.dimension_value();
        // A `dimension_name!` / `dimension_value!` literal is checked for JWTs only at
        // compile time (see `validate`).
        if let Some(reason) = crate::metrics::name::credential_error(name.as_str()) {
            return Err(MetricsError::InvalidDimensionName { name: name.as_str().to_owned(), reason });
        }
        if crate::log::redact::default_redactor().is_redacted(name.as_str()) {
            return Err(MetricsError::InvalidDimensionName {
                name: name.as_str().to_owned(),
                reason: SECRET_DIMENSION_NAME,
            });
        }
        if let Some(reason) = crate::metrics::name::credential_error(value.as_str()) {
            return Err(MetricsError::InvalidDimensionValue { value: value.as_str().to_owned(), reason });
        }
        if self.entries.iter().any(|e| e.name.as_str() == name.as_str()) {
            return Err(MetricsError::NameCollision { metric: name.as_str().to_owned() });
        }
        if let Some(i) = self.base.defaults.iter().position(|(k, _)| *k == name) {
            Arc::make_mut(&mut self.base).defaults[i].1 = value;
            return Ok(());
        }
        if self.base.defaults.len() >= MAX_DIMENSIONS_PER_SET || !self.contexts_fit_another_default(&name) {
            return Err(MetricsError::TooManyDimensions { metric: name.as_str().to_owned() });
        }
        let bits = name_bits(name.as_str());
        let base = Arc::make_mut(&mut self.base);
        base.defaults.push((name, value));
        base.reserved |= bits;
        // Validated against fewer defaults (a key count may now be over the limit).
        base.known = KnownContexts::default();
        self.last_context = None;
        self.reserved |= bits;
        Ok(())
    }

    /// Whether every context recorded so far stays within the key limit of its default
    /// set (defaults and its own keys) with `name` as one more default: a context is
    /// checked against the defaults when it is first recorded, and is not checked again.
    fn contexts_fit_another_default(&self, name: &DimensionName) -> bool {
        let defaults = &self.base.defaults;
        let fits = |dims: &Dimensions| {
            let (_, ends) = dims.set_keys();
            let own = dims.values().iter().filter(|(k, _)| k != name && !defaults.iter().any(|(d, _)| d == k)).count();
            !ends.is_empty() || defaults.len() + 1 + own <= MAX_DIMENSIONS_PER_SET
        };
        self.context1.iter().chain(self.rare.iter().flat_map(|r| &r.contexts)).all(|c| fits(c))
    }

    /// Records `value` of `name` with the default dimensions and standard resolution.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, MetricsError, Namespace, Unit};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.add("Hits", Unit::Count, 1.0).unwrap();
    /// assert!(matches!(set.add("Hits", Unit::Count, f64::NAN), Err(MetricsError::InvalidValue { .. })));
    /// ```
    pub fn add(&mut self, name: impl IntoMetricName, unit: Unit, value: f64) -> Result<(), MetricsError> {
        let name = name.into_metric_name()?;
        self.record(name, unit, value, StorageResolution::Standard, 0).map_err(|e| *e)
    }

    /// Records `value` of `name` with its own dimensions and resolution.
    ///
    /// ```
    /// use streamer_obs::metrics::{Dimensions, MetricSet, Namespace, StorageResolution, Unit, standard::{self, Action}};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// let dims = Dimensions::new().with(standard::ACTION, &Action::Send).set([standard::ACTION]);
    /// set.add_with("Pushes", Unit::Count, 1.0, StorageResolution::High, &dims).unwrap();
    /// assert_eq!(set.metrics().next().unwrap().resolution, StorageResolution::High);
    /// ```
    pub fn add_with(
        &mut self,
        name: impl IntoMetricName,
        unit: Unit,
        value: f64,
        resolution: StorageResolution,
        dims: &Dimensions,
    ) -> Result<(), MetricsError> {
        let name = name.into_metric_name()?;
        self.record_with(name, unit, value, resolution, dims).map_err(|e| *e)
    }

    /// [`add_with`](Self::add_with) for a validated name, the refusal boxed: the recording
    /// path passes a pointer back, not a whole [`MetricsError`].
    #[inline]
    pub(crate) fn record_with(
        &mut self,
        name: MetricName,
        unit: Unit,
        value: f64,
        resolution: StorageResolution,
        dims: &Dimensions,
    ) -> Result<(), Refused> {
        let context = self.intern(&name, dims)?;
        self.record(name, unit, value, resolution, context)
    }

    #[inline]
    fn intern(&mut self, name: &MetricName, dims: &Dimensions) -> Result<usize, Refused> {
        if dims.is_empty() {
            return Ok(0);
        }
        if let Some(c) = &self.context1
            && ((dims.id() != 0 && dims.id() == self.context1_id) || c.same_as(dims))
        {
            return Ok(1);
        }
        self.intern_new(name, dims)
    }

    /// [`intern`](Self::intern) beyond context 1: a further context of the set, or a new
    /// one: the base's known copy, else a validated copy (then known to the base).
    fn intern_new(&mut self, name: &MetricName, dims: &Dimensions) -> Result<usize, Refused> {
        if let Some(i) = self.rare.as_ref().and_then(|r| r.contexts.iter().position(|c| c.same_as(dims))) {
            return Ok(i + 2);
        }
        let last = self.last_context.take_if(|c| c.same_as(dims));
        let context = match last.or_else(|| self.base.known.find(dims)) {
            Some(known) => known,
            None => {
                self.validate(name, dims)?;
                let copy = Arc::new(dims.clone());
                self.base.known.add(&copy);
                copy
            }
        };
        self.reserved |= context.values().iter().fold(0, |bits, (k, _)| bits | name_bits(k.as_str()));
        if self.context1.is_none() {
            self.context1 = Some(context);
            self.context1_id = dims.id();
            return Ok(1);
        }
        let contexts = &mut self.rare().contexts;
        contexts.push(context);
        Ok(contexts.len() + 1)
    }

    /// Checks a new context: at most 30 sets of at most 30 keys, each key once per set and
    /// with a value (a default or the context's own); without sets, at most 30 keys in all.
    fn validate(&self, name: &MetricName, dims: &Dimensions) -> Result<(), Refused> {
        let defaults = &self.base.defaults[..];
        let values = dims.values();
        let (keys, ends) = dims.set_keys();
        if ends.len() > MAX_DIMENSION_SETS {
            return Err(too_many_dimensions(name));
        }
        let mut start = 0;
        for &end in ends {
            let set = &keys[start..end as usize];
            start = end as usize;
            if set.len() > MAX_DIMENSIONS_PER_SET {
                return Err(too_many_dimensions(name));
            }
            for (i, key) in set.iter().enumerate() {
                if set[..i].contains(key) {
                    return Err(bad_dimension(name, key, "appears twice in one set"));
                }
                if !(defaults.iter().any(|(k, _)| k == key) || values.iter().any(|(k, _)| k == key)) {
                    return Err(bad_dimension(name, key, "is in a dimension set but has no value"));
                }
            }
        }
        // Names and values from `dimension_name!` / `dimension_value!` literals are
        // checked at compile time for JWTs only: a credential the EMF line's writer would
        // redact (`token=…`, `Bearer …`) is refused here, once per new context (two such
        // names would be written as one member, E-1/E-7). Those made at run time were
        // refused already.
        for (k, v) in values {
            if crate::metrics::name::credential_error(k.as_str()).is_some() {
                return Err(bad_dimension(name, k, CREDENTIAL_IN_DIMENSION));
            }
            // The EMF line is a log line: a value under a key the log lines redact would
            // be a secret written in clear (a dimension value cannot be redacted).
            if crate::log::redact::default_redactor().is_redacted(k.as_str()) {
                return Err(bad_dimension(name, k, SECRET_DIMENSION_NAME));
            }
            if crate::metrics::name::credential_error(v.as_str()).is_some() {
                return Err(bad_dimension(name, k, CREDENTIAL_IN_DIMENSION));
            }
        }
        for key in keys {
            if crate::metrics::name::credential_error(key.as_str()).is_some() {
                return Err(bad_dimension(name, key, CREDENTIAL_IN_DIMENSION));
            }
        }
        if ends.is_empty() {
            // The default set: every default key, then the context's other keys (unique:
            // a value given twice replaces the first).
            let own = values.iter().filter(|(k, _)| !defaults.iter().any(|(d, _)| d == k)).count();
            if defaults.len() + own > MAX_DIMENSIONS_PER_SET {
                return Err(too_many_dimensions(name));
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn record(
        &mut self,
        name: MetricName,
        unit: Unit,
        value: f64,
        resolution: StorageResolution,
        context: usize,
    ) -> Result<(), Refused> {
        if !value_is_valid(value) {
            return Err(refused_metric(&name, |metric| MetricsError::InvalidValue { metric, value }));
        }
        let mut slot = None;
        let mut conflict = false;
        let mut visit = |i: usize, e: &Entry| {
            if e.name == name {
                conflict |= e.unit != unit || e.resolution != resolution;
                if e.context == context {
                    slot = Some(i);
                }
            }
        };
        if self.entries.len() < INDEX_FROM {
            // Small sets (the common case): a scan is cheaper than hashing.
            for (i, e) in self.entries.iter().enumerate() {
                visit(i, e);
            }
        } else {
            let index = self.rare.as_ref().map(|r| &r.index);
            let mut i = index.and_then(|x| x.get(&name_hash(name.as_str()))).copied().unwrap_or(NO_ENTRY);
            while let Some(e) = self.entries.get(i as usize) {
                visit(i as usize, e);
                i = e.prev;
            }
        }
        if conflict {
            return Err(refused_metric(&name, |metric| MetricsError::Conflict { metric }));
        }
        if let Some(i) = slot {
            self.entries[i].values.push(value);
            return Ok(());
        }
        if self.reserved & name_bits(name.as_str()) != 0 && self.collides(&name, context) {
            return Err(refused_metric(&name, |metric| MetricsError::NameCollision { metric }));
        }
        self.push_entry(name, unit, resolution, context, value);
        Ok(())
    }

    /// Whether `name` is a default dimension's, a dimension's of `context` or a property's
    /// name (asked only when its bit is reserved).
    #[inline(never)]
    fn collides(&self, name: &MetricName, context: usize) -> bool {
        self.base.defaults.iter().any(|(k, _)| k.as_str() == name.as_str())
            || self.context(context).values().iter().any(|(k, _)| k.as_str() == name.as_str())
            || self.properties().contains_key(name.as_str())
    }

    /// Appends an entry; from [`INDEX_FROM`] entries on, keeps the name-hash index.
    #[inline(always)]
    fn push_entry(&mut self, name: MetricName, unit: Unit, resolution: StorageResolution, context: usize, value: f64) {
        self.entries.push(Entry { name, prev: NO_ENTRY, unit, resolution, context, values: Values::One(value) });
        if self.entries.len() >= INDEX_FROM {
            self.index_last();
        }
    }

    /// Indexes the entry just pushed (all of them when the set reaches [`INDEX_FROM`]):
    /// out of line, the common small set never gets here.
    #[inline(never)]
    fn index_last(&mut self) {
        let at = self.entries.len() - 1;
        // Entry numbers are `u32`: 4 billion metrics in one set are out of reach.
        let from = if at + 1 == INDEX_FROM { 0 } else { at };
        let index = &mut self.rare.get_or_insert_with(Box::default).index;
        for i in from..=at {
            let hash = name_hash(self.entries[i].name.as_str());
            self.entries[i].prev = index.insert(hash, i as u32).unwrap_or(NO_ENTRY);
        }
    }

    /// Sets a root property (high-cardinality context such as a connection id or a trace
    /// id): queryable in Logs Insights, never a dimension. `_aws`, keys starting with `@`
    /// (Logs Insights would show them as `@@…`, rule Q-3) and the names of dimensions and
    /// metrics are refused. Arrays and objects nested deeper than 64 levels
    /// become `"[too deep]"`; NaN and infinities become the strings `"NaN"`, `"Infinity"`,
    /// `"-Infinity"`.
    ///
    /// ```
    /// use streamer_obs::metrics::{ConnectionId, MetricSet, Namespace};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.set_property("connection_id", &ConnectionId::new("abc=")).unwrap();
    /// assert!(set.set_property("_aws", 1).is_err());
    /// assert!(set.set_property("@timestamp", "2026-11-27").is_err());
    /// ```
    pub fn set_property(&mut self, key: impl Into<String>, value: impl Serialize) -> Result<(), MetricsError> {
        let key = key.into();
        self.check_property_key(&key)?;
        self.insert_property(key, property_value(&value));
        Ok(())
    }

    /// [`Self::set_property`] of a value already converted by [`property_value`] (the
    /// recorder converts it before taking the invocation's lock: its `Serialize` is the
    /// user's code, which may record metrics itself).
    pub(crate) fn set_property_value(&mut self, key: &str, value: serde_json::Value) -> Result<(), MetricsError> {
        self.check_property_key(key)?;
        self.insert_property(key.to_owned(), value);
        Ok(())
    }

    /// Why `key` cannot be a property of this set, if it cannot.
    fn check_property_key(&self, key: &str) -> Result<(), MetricsError> {
        // A key starting with `@` would show in Logs Insights as `@@…` (rule Q-3).
        let reserved = key == "_aws"
            || key.is_empty()
            || key.starts_with('@')
            || self.base.defaults.iter().any(|(k, _)| k.as_str() == key)
            || self
                .context1
                .iter()
                .chain(self.rare.iter().flat_map(|r| &r.contexts))
                .any(|c| c.values().iter().any(|(k, _)| k.as_str() == key))
            || self.entries.iter().any(|e| e.name.as_str() == key);
        if reserved {
            return Err(MetricsError::ReservedProperty { key: key.to_owned() });
        }
        // A member name of the EMF line (a log line): a JWT-shaped key would be redacted,
        // and two such keys would merge. Values are scrubbed as text and may hold one.
        if super::name::secret_error(key).is_some() {
            return Err(MetricsError::SecretPropertyKey { key: key.to_owned() });
        }
        Ok(())
    }

    fn insert_property(&mut self, key: String, value: serde_json::Value) {
        self.reserved |= name_bits(&key);
        self.properties.get_or_insert_with(BTreeMap::new).insert(key, value);
    }

    /// Sets an explicit timestamp for every metric of the set, if it lies within 14 days
    /// in the past and 2 hours in the future of `clock` (E-20).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use streamer_obs::metrics::{MetricSet, Namespace};
    /// use streamer_obs::testing::FixedClock;
    /// let clock = FixedClock::at_millis(1_700_000_000_000);
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// assert!(set.set_timestamp(UNIX_EPOCH + Duration::from_millis(1_699_999_000_000), &clock).is_ok());
    /// assert!(set.set_timestamp(UNIX_EPOCH, &clock).is_err());
    /// ```
    pub fn set_timestamp(&mut self, timestamp: SystemTime, clock: &dyn Clock) -> Result<(), MetricsError> {
        let now_ms = clock.now_millis();
        let ts_ms: i128 = match timestamp.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i128,
            Err(e) => -(e.duration().as_millis() as i128),
        };
        if !in_window(ts_ms, now_ms) {
            return Err(MetricsError::InvalidTimestamp { timestamp_ms: ts_ms, now_ms });
        }
        self.timestamp_ms = Some(ts_ms as u64);
        Ok(())
    }

    /// The explicit timestamp when it has left CloudWatch's window (E-20, C-2: 14 days
    /// back, 2 hours ahead) by `now_ms`, the publish time: set within it, it may be too old
    /// by the time the set is flushed. The publishers then publish nothing (CloudWatch
    /// would refuse the metrics) and report them lost with one ERROR line.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use streamer_obs::metrics::{MetricSet, Namespace, set::MAX_PAST_MS};
    /// use streamer_obs::testing::FixedClock;
    /// let clock = FixedClock::at_millis(1_700_000_000_000);
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.set_timestamp(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 - MAX_PAST_MS), &clock).unwrap();
    /// assert_eq!(set.stale_timestamp(1_700_000_000_000), None);
    /// assert!(set.stale_timestamp(1_700_000_060_000).is_some());
    /// ```
    pub fn stale_timestamp(&self, now_ms: u64) -> Option<u64> {
        self.timestamp_ms.filter(|&ts| !in_window(i128::from(ts), now_ms))
    }

    /// The explicit timestamp (Unix milliseconds), if set.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace};
    /// assert_eq!(MetricSet::new(Namespace::streamer()).timestamp_ms(), None);
    /// ```
    pub fn timestamp_ms(&self) -> Option<u64> {
        self.timestamp_ms
    }

    /// The properties, sorted by key.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.set_property("b", 1).unwrap();
    /// set.set_property("a", 2).unwrap();
    /// assert_eq!(set.properties().keys().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn properties(&self) -> &BTreeMap<String, serde_json::Value> {
        self.properties.as_ref().unwrap_or(&NO_PROPERTIES)
    }

    /// How many metrics (name and dimension combinations) are recorded.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace, Unit};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.add("A", Unit::Count, 1.0).unwrap();
    /// set.add("A", Unit::Count, 2.0).unwrap();
    /// assert_eq!(set.len(), 1);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no metric is recorded (properties alone do not count).
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.set_property("p", 1).unwrap();
    /// assert!(set.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every value recorded under `name`, over all dimension combinations, in order.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace, Unit};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.add("A", Unit::Count, 1.0).unwrap();
    /// assert_eq!(set.values_of("A"), vec![1.0]);
    /// assert!(set.values_of("B").is_empty());
    /// ```
    pub fn values_of(&self, name: &str) -> Vec<f64> {
        self.entries.iter().filter(|e| e.name.as_str() == name).flat_map(|e| e.values.as_slice()).copied().collect()
    }

    /// Takes the recorded metrics, properties and timestamp out, leaving an empty set with
    /// the same namespace and default dimensions (used at flush).
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace, Unit};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.add("A", Unit::Count, 1.0).unwrap();
    /// let taken = set.take();
    /// assert_eq!((taken.len(), set.len()), (1, 0));
    /// ```
    pub fn take(&mut self) -> MetricSet {
        let empty = MetricSet::with_base(Arc::clone(&self.base));
        std::mem::replace(self, empty)
    }

    /// Empties the set in place, as [`take`](Self::take) leaves it (namespace and default
    /// dimensions kept), keeping its storage for what is recorded next.
    pub(crate) fn clear(&mut self) {
        if let Some(context) = self.context1.take() {
            self.last_context = Some(context);
        }
        self.context1_id = 0;
        self.entries.clear();
        self.reserved = self.base.reserved;
        self.timestamp_ms = None;
        if let Some(properties) = &mut self.properties {
            properties.clear();
        }
        if let Some(rare) = &mut self.rare {
            rare.contexts.clear();
            if !rare.index.is_empty() {
                rare.index.clear();
            }
        }
    }

    /// Every metric with its resolved dimensions and sets, in recording order.
    ///
    /// ```
    /// use streamer_obs::metrics::{MetricSet, Namespace, Unit};
    /// let mut set = MetricSet::new(Namespace::streamer());
    /// set.add("A", Unit::Count, 1.0).unwrap();
    /// assert_eq!(set.metrics().count(), 1);
    /// ```
    pub fn metrics(&self) -> impl Iterator<Item = MetricView<'_>> + '_ {
        self.entries.iter().map(move |e| self.view(e))
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn context_dimensions(&self, context: usize) -> Vec<(&DimensionName, &DimensionValue)> {
        let mut out: Vec<(&DimensionName, &DimensionValue)> =
            Vec::with_capacity(self.base.defaults.len() + self.context(context).values().len());
        self.for_each_context_dimension(context, |k, v| out.push((k, v)));
        out
    }

    /// Every dimension value of `context`: the defaults (with the context's value where it
    /// overrides one), then the context's own keys.
    pub(crate) fn for_each_context_dimension<'s>(
        &'s self,
        context: usize,
        mut f: impl FnMut(&'s DimensionName, &'s DimensionValue),
    ) {
        let ctx = self.context(context);
        let defaults = &self.base.defaults;
        for (k, v) in defaults {
            match ctx.values().iter().find(|(ck, _)| ck == k) {
                Some((_, cv)) => f(k, cv),
                None => f(k, v),
            }
        }
        for (k, v) in ctx.values() {
            if !defaults.iter().any(|(dk, _)| dk == k) {
                f(k, v);
            }
        }
    }

    pub(crate) fn context(&self, context: usize) -> &Dimensions {
        match self.shared_context(context) {
            Some(c) => c,
            None => &DEFAULT_CONTEXT,
        }
    }

    /// Context `context` as shared with other sets; `None` for context 0.
    pub(crate) fn shared_context(&self, context: usize) -> Option<&DimensionContext> {
        match context {
            0 => None,
            1 => self.context1.as_ref(),
            c => self.rare.as_ref().and_then(|r| r.contexts.get(c - 2)),
        }
    }

    pub(crate) fn context_sets(&self, context: usize) -> Vec<Vec<&DimensionName>> {
        let ctx = self.context(context);
        if !ctx.has_sets() {
            vec![self.context_dimensions(context).into_iter().map(|(k, _)| k).collect()]
        } else {
            ctx.sets().map(|s| s.iter().collect()).collect()
        }
    }

    fn view<'a>(&'a self, e: &'a Entry) -> MetricView<'a> {
        MetricView {
            name: &e.name,
            unit: e.unit,
            resolution: e.resolution,
            dimensions: self.context_dimensions(e.context),
            sets: self.context_sets(e.context),
            values: e.values.as_slice(),
        }
    }
}

/// A property's value as the EMF line holds it: bounded depth (deeper arrays and objects
/// become `"[too deep]"`, so neither this nor the encoder recurses without bound) and
/// non-finite floats as strings, as X-Ray metadata and log fields.
pub(crate) fn property_value(value: &impl Serialize) -> serde_json::Value {
    crate::xray::json::to_metadata_value(value)
        .unwrap_or_else(|e| serde_json::Value::String(format!("<unserialisable: {e}>")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::standard::{self, ErrorType};
    use crate::metrics::{TenantId, UNKNOWN};

    fn set() -> MetricSet {
        let config = Config::builder().service("svc").environment("prod").build_from(&crate::config::EnvVars::empty());
        MetricSet::from_config(&config)
    }

    #[test]
    fn multi_value_metrics_accumulate_in_order() {
        let mut s = set();
        for v in [3.0, 1.0, 2.0] {
            s.add("Latency", Unit::Milliseconds, v).unwrap();
        }
        assert_eq!(s.len(), 1);
        assert_eq!(s.values_of("Latency"), vec![3.0, 1.0, 2.0]);
    }

    #[test]
    fn invalid_values_are_typed_errors() {
        let mut s = set();
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e109, -1e109] {
            assert!(matches!(s.add("X", Unit::Count, v), Err(MetricsError::InvalidValue { .. })), "{v}");
        }
        assert!(s.add("X", Unit::Count, MAX_VALUE).is_ok());
        assert!(s.add("X", Unit::Count, -MAX_VALUE).is_ok());
    }

    #[test]
    fn unit_and_resolution_conflicts_are_refused() {
        let mut s = set();
        s.add("X", Unit::Count, 1.0).unwrap();
        assert!(matches!(s.add("X", Unit::Seconds, 1.0), Err(MetricsError::Conflict { .. })));
        let dims = Dimensions::new().with(standard::ERROR_TYPE, &ErrorType::InvalidJwt);
        assert!(matches!(
            s.add_with("X", Unit::Count, 1.0, StorageResolution::High, &dims),
            Err(MetricsError::Conflict { .. })
        ));
    }

    #[test]
    fn dimension_sets_must_name_known_keys() {
        let mut s = set();
        let dims = Dimensions::new().set([standard::TENANT_ID]);
        assert!(matches!(
            s.add_with("X", Unit::Count, 1.0, StorageResolution::Standard, &dims),
            Err(MetricsError::Dimension { .. })
        ));
        let dims = Dimensions::new().set([standard::ENVIRONMENT, standard::ENVIRONMENT]);
        assert!(s.add_with("X", Unit::Count, 1.0, StorageResolution::Standard, &dims).is_err());
    }

    #[test]
    fn a_metric_named_like_a_dimension_is_refused() {
        let mut s = set();
        assert!(matches!(s.add("Environment", Unit::Count, 1.0), Err(MetricsError::NameCollision { .. })));
        s.set_property("trace", "x").unwrap();
        assert!(s.add("trace", Unit::Count, 1.0).is_err());
        assert!(s.set_property("Service", "x").is_err());
    }

    #[test]
    fn empty_tenant_becomes_the_placeholder() {
        let mut s = set();
        let dims = Dimensions::new().with(standard::TENANT_ID, &TenantId::or_unknown(Some("")));
        s.add_with("ConnectionClosed", Unit::Count, 1.0, StorageResolution::Standard, &dims).unwrap();
        let m = s.metrics().next().unwrap();
        let tenant = m.dimensions.iter().find(|(k, _)| k.as_str() == "TenantID").unwrap().1;
        assert_eq!(tenant.as_str(), UNKNOWN);
    }

    #[test]
    fn the_index_finds_every_metric_in_every_context() {
        let mut s = set();
        for round in 0..2 {
            for i in 0..300 {
                s.add(format!("M{i}"), Unit::Count, f64::from(round)).unwrap();
            }
        }
        for e in [ErrorType::InvalidJwt, ErrorType::MissingToken, ErrorType::InvalidJwt] {
            let dims = Dimensions::new().with(standard::ERROR_TYPE, &e);
            s.add_with("M7", Unit::Count, 5.0, StorageResolution::Standard, &dims).unwrap();
        }
        assert_eq!(s.len(), 302);
        assert_eq!(s.values_of("M299"), vec![0.0, 1.0]);
        assert_eq!(s.values_of("M7"), vec![0.0, 1.0, 5.0, 5.0, 5.0]);
        assert!(matches!(s.add("M150", Unit::Bytes, 1.0), Err(MetricsError::Conflict { .. })));
        let taken = s.take();
        assert_eq!(taken.values_of("M7").len(), 5);
        s.add("M7", Unit::Bytes, 1.0).unwrap();
        assert_eq!(s.len(), 1);
    }

    /// Contexts are told apart by content, whatever the identity fast path: a different
    /// `Dimensions` with the same first key, or a changed clone of the interned one, gets
    /// its own context; an equal one built again joins the interned one.
    #[test]
    fn contexts_are_told_apart_by_content() {
        let mut s = set();
        let connect = Dimensions::new().with(standard::ACTION, &standard::Action::Connect);
        let send = Dimensions::new().with(standard::ACTION, &standard::Action::Send);
        let changed = connect.clone().with(standard::ERROR_TYPE, &ErrorType::InvalidJwt);
        let connect_again = Dimensions::new().with(standard::ACTION, &standard::Action::Connect);
        for dims in [&connect, &send, &changed, &connect_again, &connect] {
            s.add_with("Hits", Unit::Count, 1.0, StorageResolution::Standard, dims).unwrap();
        }
        let got: Vec<(Vec<&str>, usize)> =
            s.metrics().map(|m| (m.dimensions.iter().map(|(_, v)| v.as_str()).collect(), m.values.len())).collect();
        assert_eq!(
            got,
            [
                (vec!["svc", "prod", "connect"], 3),
                (vec!["svc", "prod", "send"], 1),
                (vec!["svc", "prod", "connect", "invalid_jwt"], 1),
            ]
        );
        // Emptied, the set interns anew: the same identity as before is a new context 1.
        s.clear();
        s.add_with("Hits", Unit::Count, 1.0, StorageResolution::Standard, &send).unwrap();
        s.add_with("Hits", Unit::Count, 1.0, StorageResolution::Standard, &connect).unwrap();
        let values: Vec<&str> = s.metrics().map(|m| m.dimensions[2].1.as_str()).collect();
        assert_eq!(values, ["send", "connect"]);
    }

    #[test]
    fn a_metric_value_overrides_a_default_dimension() {
        let mut s = set();
        let dims = Dimensions::new().with(standard::ENVIRONMENT, &crate::dimension_value!("canary"));
        s.add_with("X", Unit::Count, 1.0, StorageResolution::Standard, &dims).unwrap();
        let m = s.metrics().next().unwrap();
        let values: Vec<(&str, &str)> = m.dimensions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(values, [("Service", "svc"), ("Environment", "canary")]);
        assert_eq!(m.sets, vec![vec![&standard::SERVICE, &standard::ENVIRONMENT]]);
    }

    /// The reserved-name bits never hide a collision: a name is refused exactly when it is
    /// a default dimension's, one of its context's dimensions' or a property's name, for
    /// names alike in length, first and last byte, after defaults and properties change,
    /// and after the set is emptied.
    #[test]
    fn a_jwt_shaped_property_key_is_refused_and_a_value_is_redacted() {
        let mut s = MetricSet::new(Namespace::streamer());
        assert!(matches!(
            s.set_property("eyJa.b.c", "x"),
            Err(MetricsError::SecretPropertyKey { key }) if key == "eyJa.b.c"
        ));
        assert!(matches!(s.set_property("a token=1", "x"), Err(MetricsError::SecretPropertyKey { .. })));
        s.set_property("hdrs", serde_json::json!({"x": "Cookie: sid=SEKRET2"})).unwrap();
        s.set_property("note", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").unwrap();
        s.add("Pushes", Unit::Count, 1.0).unwrap();
        let mut out = Vec::new();
        crate::metrics::emf::encode(&s, 1_700_000_000_000, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.contains(r#""note":"Bearer [REDACTED]""#), "{line}");
        assert!(!line.contains("eyJ"), "{line}");
        assert!(!line.contains("SEKRET2"), "{line}");
    }

    #[test]
    fn reserved_bits_never_hide_a_collision() {
        let mut rng = fastrand::Rng::with_seed(21);
        let pool =
            ["Environment", "EnvironmenT", "Envir_nment", "Service", "Sxrvice", "Action", "Actiox", "k", "kk", "p1"];
        let key = |rng: &mut fastrand::Rng| DimensionName::new(pool[rng.usize(..pool.len())]).unwrap();
        let v = crate::dimension_value!("v");
        for round in 0..3000 {
            let mut s = set();
            if rng.bool() {
                s.add_dimension(key(&mut rng), &v).unwrap();
            }
            let mut dims = Dimensions::new();
            for _ in 0..rng.usize(..3) {
                dims = dims.with(key(&mut rng), &v);
            }
            if rng.bool() {
                let _ = s.set_property(pool[rng.usize(..pool.len())], 1);
            }
            if round % 5 == 0 {
                s.clear();
            }
            let name = pool[rng.usize(..pool.len())];
            let expected = s.default_dimensions().iter().any(|(k, _)| k.as_str() == name)
                || dims.values().iter().any(|(k, _)| k.as_str() == name)
                || s.properties().contains_key(name);
            let got = s.add_with(name, Unit::Count, 1.0, StorageResolution::Standard, &dims);
            assert_eq!(matches!(got, Err(MetricsError::NameCollision { .. })), expected, "{name} {s:?} {dims:?}");
            assert_eq!(got.is_ok(), !expected, "{got:?}");
        }
    }

    /// Sets of one configuration share the copy of a context validated once: equal
    /// dimensions built again find it; other dimensions, or a set whose defaults changed,
    /// get their own; an invalid context is refused every time.
    #[test]
    fn sets_of_a_configuration_share_their_contexts() {
        let config = Config::builder().service("svc").environment("prod").build_from(&crate::config::EnvVars::empty());
        let dims = || Dimensions::new().with(standard::ACTION, &standard::Action::Connect);
        let record = |s: &mut MetricSet, d: &Dimensions| {
            s.add_with("Hits", Unit::Count, 1.0, StorageResolution::Standard, d).unwrap();
            Arc::clone(s.shared_context(1).unwrap())
        };
        let (mut a, mut b) = (MetricSet::from_config(&config), MetricSet::from_config(&config));
        let first = record(&mut a, &dims());
        // Found by content for other dimensions, then by their identity; a changed clone
        // of them is another context.
        let again = dims();
        assert!(Arc::ptr_eq(&first, &record(&mut b, &again)));
        assert!(Arc::ptr_eq(&first, &record(&mut b, &again)));
        let changed = again.clone().with(standard::ERROR_TYPE, &ErrorType::Throttled);
        b.add_with("Hits", Unit::Count, 1.0, StorageResolution::Standard, &changed).unwrap();
        let contexts: Vec<usize> = b.entries().iter().map(|e| e.context).collect();
        assert_eq!(contexts, [1, 2]);
        assert_eq!(b.values_of("Hits"), [1.0, 1.0, 1.0]);
        a.clear();
        assert!(Arc::ptr_eq(&first, &record(&mut a, &dims())));
        let mut other = MetricSet::from_config(&config);
        let send = record(&mut other, &Dimensions::new().with(standard::ACTION, &standard::Action::Send));
        assert!(!Arc::ptr_eq(&first, &send));
        let mut changed = MetricSet::from_config(&config);
        changed.add_dimension(standard::TENANT_ID, &TenantId::new("t").unwrap()).unwrap();
        assert!(!Arc::ptr_eq(&first, &record(&mut changed, &dims())));
        let bad = Dimensions::new().set([standard::ERROR_TYPE]);
        for _ in 0..2 {
            let mut s = MetricSet::from_config(&config);
            assert!(s.add_with("X", Unit::Count, 1.0, StorageResolution::Standard, &bad).is_err());
        }
    }

    /// A set with one default (`Service`) and a metric recorded with a context of 29 own
    /// keys `k0`..`k28`, all `v`: its default dimension set is at the 30-key limit.
    fn set_at_the_key_limit() -> (Vec<DimensionName>, Dimensions, MetricSet) {
        let names: Vec<DimensionName> = (0..29).map(|i| DimensionName::new(format!("k{i}")).unwrap()).collect();
        let v = crate::dimension_value!("v");
        let dims = names.iter().fold(Dimensions::new(), |d, k| d.with(k.clone(), &v));
        let mut s = MetricSet::new(Namespace::streamer());
        s.add_dimension(standard::SERVICE, &v).unwrap();
        s.add_with("X", Unit::Count, 1.0, StorageResolution::Standard, &dims).unwrap();
        (names, dims, s)
    }

    /// A default added in place (the set's own base) forgets the contexts validated
    /// before: one that was within the key limit and no longer is gets refused.
    #[test]
    fn a_new_default_validates_known_contexts_again() {
        let (_, dims, mut s) = set_at_the_key_limit();
        let v = crate::dimension_value!("v");
        s.clear();
        s.add_dimension(standard::ENVIRONMENT, &v).unwrap();
        let r = s.add_with("X", Unit::Count, 1.0, StorageResolution::Standard, &dims);
        assert!(matches!(r, Err(MetricsError::TooManyDimensions { .. })), "{r:?}");
    }

    /// A new default that would take a context already recorded over the key limit is
    /// refused, before and after the set is emptied: no document gets 31 keys, and the
    /// context emptied is not taken back unchecked.
    #[test]
    fn a_new_default_is_refused_when_a_recorded_context_would_exceed_the_limit() {
        let (names, dims, mut s) = set_at_the_key_limit();
        let v = crate::dimension_value!("v");
        let r = s.add_dimension(standard::ENVIRONMENT, &v);
        assert!(matches!(r, Err(MetricsError::TooManyDimensions { .. })), "{r:?}");
        // A key the context already has is no new key: accepted (it stays at 30).
        s.add_dimension(names[0].clone(), &v).unwrap();
        assert_eq!(s.default_dimensions().len(), 2);
        s.clear();
        s.add_with("X", Unit::Count, 1.0, StorageResolution::Standard, &dims).unwrap();
        assert_eq!(s.metrics().next().unwrap().dimensions.len(), 30);
    }

    #[test]
    fn take_keeps_namespace_and_defaults() {
        let mut s = set();
        s.add("X", Unit::Count, 1.0).unwrap();
        let taken = s.take();
        assert_eq!(taken.len(), 1);
        assert!(s.is_empty());
        assert_eq!(s.default_dimensions().len(), 2);
    }

    /// The set is part of every invocation's allocation: it must stay small enough for
    /// that allocation to remain a small one (glibc's per-thread cache serves up to 1032
    /// bytes; beyond, every invocation pays the allocator's slow path).
    #[test]
    fn the_set_stays_small() {
        assert!(std::mem::size_of::<Entry>() <= 56, "{}", std::mem::size_of::<Entry>());
        assert!(std::mem::size_of::<MetricSet>() <= 560, "{}", std::mem::size_of::<MetricSet>());
    }

    /// The limits of a new context: 30 keys in the default set (an own value overriding a
    /// default is not another key), 30 keys in a set, 30 sets.
    #[test]
    fn context_limits() {
        let names: Vec<DimensionName> = (0..31).map(|i| DimensionName::new(format!("k{i}")).unwrap()).collect();
        let v = crate::dimension_value!("v");
        let own = |n: usize| {
            names[..n].iter().fold(Dimensions::new().with(standard::ENVIRONMENT, &v), |d, k| d.with(k.clone(), &v))
        };
        let add = |dims: &Dimensions| set().add_with("X", Unit::Count, 1.0, StorageResolution::Standard, dims);
        assert!(add(&own(28)).is_ok()); // Service, Environment and 28 own keys
        assert!(matches!(add(&own(29)), Err(MetricsError::TooManyDimensions { .. })));
        let keys = |n: usize| own(31).set(names[..n].iter().cloned());
        assert!(add(&keys(30)).is_ok());
        assert!(matches!(add(&keys(31)), Err(MetricsError::TooManyDimensions { .. })));
        let sets = |n: usize| names[..n].iter().fold(own(31), |d, k| d.set([k.clone()]));
        assert!(add(&sets(30)).is_ok());
        assert!(matches!(add(&sets(31)), Err(MetricsError::TooManyDimensions { .. })));
        // A duplicate in the second set, an unknown key after known ones.
        let dup = own(2).set([standard::ENVIRONMENT]).set([names[0].clone(), standard::SERVICE, names[0].clone()]);
        assert!(
            matches!(add(&dup), Err(MetricsError::Dimension { dimension, reason, .. }) if dimension == "k0" && reason.contains("twice"))
        );
        let unknown = own(2).set([standard::SERVICE, names[1].clone(), names[5].clone()]);
        assert!(
            matches!(add(&unknown), Err(MetricsError::Dimension { dimension, reason, .. }) if dimension == "k5" && reason.contains("no value"))
        );
    }

    #[test]
    fn too_many_default_dimensions_are_refused() {
        let mut s = MetricSet::new(Namespace::streamer());
        const NAMES: [&str; 31] = [
            "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15",
            "d16", "d17", "d18", "d19", "d20", "d21", "d22", "d23", "d24", "d25", "d26", "d27", "d28", "d29", "d30",
        ];
        for (i, n) in NAMES.iter().enumerate() {
            let r = s.add_dimension(DimensionName::new(*n).unwrap(), &crate::dimension_value!("v"));
            assert_eq!(r.is_ok(), i < 30, "{n}");
        }
    }
}
