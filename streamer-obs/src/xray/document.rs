//! The subsegment document model and its serialisation (rules X-2 to X-23).
//!
//! A [`Subsegment`] is one closed (or still open) unit of work with its nested
//! children. A [`SegmentDocument`] is what leaves the process: a subsegment tree sent as
//! an *independent subsegment* (`type: "subsegment"`, `trace_id`, `parent_id`), written
//! as compact single-line JSON with sorted maps, so the same input always gives the same
//! bytes.
//!
//! ```
//! use streamer_obs::trace_header::{SegmentId, TraceId};
//! use streamer_obs::xray::document::{SegmentDocument, Subsegment};
//!
//! let trace: TraceId = "1-5759e988-bd862e3fe1be46a994272793".parse().unwrap();
//! let parent: SegmentId = "53995c3f42cd8ad8".parse().unwrap();
//! let mut sub = Subsegment::new(SegmentId::from_u64(1).unwrap(), "ValidateJWT", 1_700_000_000_000_000);
//! sub.set_end_micros(1_700_000_000_001_500);
//! let mut out = Vec::new();
//! SegmentDocument::new(&trace, &parent, &sub).write_to(&mut out);
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     r#"{"type":"subsegment","id":"0000000000000001","trace_id":"1-5759e988-bd862e3fe1be46a994272793","parent_id":"53995c3f42cd8ad8","name":"ValidateJWT","start_time":1700000000.0,"end_time":1700000000.0015}"#
//! );
//! ```

use smallvec::SmallVec;

use crate::trace_header::{SegmentId, TraceId};
use crate::write_block::write_block;
use crate::xray::annotation::AnnotationValue;
use crate::xray::cause::Cause;
use crate::xray::json;
use crate::xray::name::clean_name;
use crate::xray::small_str::{INLINE, SmallStr};

/// The `namespace` of a subsegment (X-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// `aws`: a call to an AWS service through an AWS SDK.
    Aws,
    /// `remote`: any other downstream call.
    Remote,
}

impl Namespace {
    /// The JSON value.
    ///
    /// ```
    /// assert_eq!(streamer_obs::xray::document::Namespace::Aws.as_str(), "aws");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Aws => "aws",
            Namespace::Remote => "remote",
        }
    }
}

/// The `error`, `fault` and `throttle` flags (X-16); more than one can be set.
///
/// ```
/// use streamer_obs::xray::document::Flags;
/// assert_eq!(Flags::from_http_status(429), Flags { error: true, throttle: true, fault: false });
/// assert_eq!(Flags::from_http_status(503), Flags { fault: true, ..Flags::default() });
/// assert_eq!(Flags::from_http_status(404), Flags { error: true, ..Flags::default() });
/// assert_eq!(Flags::from_http_status(200), Flags::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// A client error (4xx-like, expected failure).
    pub error: bool,
    /// A server error (5xx-like, unexpected failure).
    pub fault: bool,
    /// Throttled (429).
    pub throttle: bool,
}

impl Flags {
    /// The flags of an HTTP status (the Python SDK's mapping): ≥ 500 fault; 429 throttle
    /// and error; any other ≥ 400 error; anything else none.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Flags;
    /// assert!(Flags::from_http_status(502).fault);
    /// ```
    pub fn from_http_status(status: u16) -> Self {
        match status {
            500.. => Flags { fault: true, ..Flags::default() },
            429 => Flags { error: true, throttle: true, fault: false },
            400..=499 => Flags { error: true, ..Flags::default() },
            _ => Flags::default(),
        }
    }

    /// Sets every flag that is set in `other`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Flags;
    /// let mut f = Flags::from_http_status(404);
    /// f.merge(Flags::from_http_status(500));
    /// assert!(f.error && f.fault);
    /// // A throttle is an error too (X-16).
    /// let mut t = Flags::default();
    /// t.merge(Flags { throttle: true, ..Flags::default() });
    /// assert!(t.error && t.throttle);
    /// ```
    pub fn merge(&mut self, other: Flags) {
        // A throttle is a client error (429, X-16): `throttle` never goes without `error`.
        self.error |= other.error || other.throttle;
        self.fault |= other.fault;
        self.throttle |= other.throttle;
    }

    /// Whether no flag is set.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Flags;
    /// assert!(Flags::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        !(self.error || self.fault || self.throttle)
    }
}

/// The `http` block of an outgoing call (X-13). Strings are cut to 250 characters (by the
/// builder methods, and when the block is set on a subsegment).
///
/// ```
/// use streamer_obs::xray::document::Http;
/// let http = Http::default().method("POST").url("https://example.com/x").status(200).traced(true);
/// assert_eq!(http.response_status, Some(200));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Http {
    /// `request.method`.
    pub request_method: Option<String>,
    /// `request.url`.
    pub request_url: Option<String>,
    /// `request.user_agent`.
    pub request_user_agent: Option<String>,
    /// `request.client_ip`.
    pub request_client_ip: Option<String>,
    /// `request.traced`: the callee sends its own segment with this subsegment as parent.
    pub request_traced: bool,
    /// `response.status`.
    pub response_status: Option<u16>,
    /// `response.content_length`.
    pub response_content_length: Option<u64>,
}

impl Http {
    /// Sets `request.method`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Http;
    /// assert_eq!(Http::default().method("GET").request_method.as_deref(), Some("GET"));
    /// ```
    pub fn method(mut self, m: impl Into<String>) -> Self {
        self.request_method = Some(scrubbed_cut(m.into()));
        self
    }
    /// Sets `request.url`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Http;
    /// assert_eq!(Http::default().url("https://x").request_url.as_deref(), Some("https://x"));
    /// ```
    pub fn url(mut self, u: impl Into<String>) -> Self {
        // Redacted before the cut, which could leave part of a secret without its name.
        let mut u = u.into();
        crate::xray::redact::redact_url(&mut u);
        self.request_url = Some(cut(u, MAX_STRING_CHARS));
        self
    }
    /// Sets `request.user_agent`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Http;
    /// assert!(Http::default().user_agent("sdk").request_user_agent.is_some());
    /// ```
    pub fn user_agent(mut self, u: impl Into<String>) -> Self {
        self.request_user_agent = Some(scrubbed_cut(u.into()));
        self
    }
    /// Sets `request.client_ip`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Http;
    /// assert!(Http::default().client_ip("10.0.0.1").request_client_ip.is_some());
    /// ```
    pub fn client_ip(mut self, ip: impl Into<String>) -> Self {
        self.request_client_ip = Some(scrubbed_cut(ip.into()));
        self
    }

    /// Sets `request.traced`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Http;
    /// assert!(Http::default().traced(true).request_traced);
    /// ```
    pub fn traced(mut self, t: bool) -> Self {
        self.request_traced = t;
        self
    }
    /// Sets `response.status`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Http;
    /// assert_eq!(Http::default().status(204).response_status, Some(204));
    /// ```
    pub fn status(mut self, s: u16) -> Self {
        self.response_status = Some(s);
        self
    }
    /// Sets `response.content_length`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Http;
    /// assert_eq!(Http::default().content_length(3).response_content_length, Some(3));
    /// ```
    pub fn content_length(mut self, l: u64) -> Self {
        self.response_content_length = Some(l);
        self
    }
}

/// The `aws` block of a call to an AWS service (X-14). Strings are cut to 250 characters
/// when the block is set ([`Subsegment::set_aws`], `SubsegmentGuard::update_aws`).
///
/// ```
/// use streamer_obs::xray::document::AwsData;
/// let aws = AwsData { operation: Some("PutItem".into()), table_name: Some("connections".into()), ..Default::default() };
/// assert_eq!(aws.operation.as_deref(), Some("PutItem"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsData {
    /// `operation`, e.g. `PutItem`.
    pub operation: Option<String>,
    /// `region`.
    pub region: Option<String>,
    /// `request_id` from the response.
    pub request_id: Option<String>,
    /// `table_name` (DynamoDB).
    pub table_name: Option<String>,
    /// `queue_url` (SQS).
    pub queue_url: Option<String>,
    /// `account_id`.
    pub account_id: Option<String>,
}

impl AwsData {
    fn is_empty(&self) -> bool {
        self.operation.is_none()
            && self.region.is_none()
            && self.request_id.is_none()
            && self.table_name.is_none()
            && self.queue_url.is_none()
            && self.account_id.is_none()
    }
}

/// The `sql` block of a database call (X-15). When the block is set, a password in `url`
/// or `connection_string` is removed (see [`crate::xray::redact`]) and every string is cut
/// to 250 characters.
///
/// ```
/// use streamer_obs::xray::document::Sql;
/// let sql = Sql { database_type: Some("PostgreSQL".into()), sanitized_query: Some("SELECT 1".into()), ..Default::default() };
/// assert!(sql.url.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Sql {
    /// `connection_string` (without password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<String>,
    /// `url` (without password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `sanitized_query`: the query with user values replaced by placeholders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanitized_query: Option<String>,
    /// `database_type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_type: Option<String>,
    /// `database_version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_version: Option<String>,
    /// `driver_version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// `user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `preparation`: `call` or `statement` (X-15; any letter case is written in lower
    /// case, any other value is left out of the document with one WARN line per process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preparation: Option<String>,
}

/// Whether an `sql.preparation` outside `call`/`statement` was reported already (one WARN
/// per process: the value comes from code, so every call would repeat it).
static BAD_PREPARATION_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `preparation` as X-15 allows it: `call` or `statement` (in lower case), else `None`
/// after one WARN line per process.
fn checked_preparation(preparation: Option<String>) -> Option<String> {
    let p = preparation?;
    for allowed in ["call", "statement"] {
        if p.eq_ignore_ascii_case(allowed) {
            return Some(allowed.to_owned());
        }
    }
    if !BAD_PREPARATION_LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let length = p.len();
        crate::lock::after_unlock(move || {
            tracing::warn!(
                target: "streamer_obs::xray",
                length,
                "sql.preparation must be `call` or `statement`; the value is left out of the subsegment"
            );
        });
    }
    None
}

/// The default limit for strings the schema does not give another limit for (X-8).
pub const MAX_STRING_CHARS: usize = 250;

pub(crate) fn cut(mut s: String, max_chars: usize) -> String {
    cut_in_place(&mut s, max_chars);
    s
}

/// Cuts `s` to its first `max_chars` characters, in place (at a character boundary).
#[inline]
pub(crate) fn cut_in_place(s: &mut String, max_chars: usize) {
    if s.len() > max_chars
        && let Some((idx, _)) = s.char_indices().nth(max_chars)
    {
        s.truncate(idx);
    }
}

/// `s` scrubbed of JWTs and credentials ([`crate::xray::redact`]), then cut to
/// [`MAX_STRING_CHARS`] (in this order: a cut through a token would leave a piece that is
/// no longer recognised).
fn scrub_and_cut(s: &mut String) {
    if let Some(scrubbed) = crate::xray::redact::scrub(s) {
        *s = scrubbed;
    }
    cut_in_place(s, MAX_STRING_CHARS);
}

/// [`scrub_and_cut`] of an owned string.
fn scrubbed_cut(mut s: String) -> String {
    scrub_and_cut(&mut s);
    s
}

/// [`scrub_and_cut`] for each string that is set.
#[inline]
fn cut_all<const N: usize>(fields: [&mut Option<String>; N]) {
    fields.into_iter().flatten().for_each(scrub_and_cut);
}

impl Http {
    /// Redacts the URL and scrubs every string (see [`crate::xray::redact`]), and cuts
    /// every string to [`MAX_STRING_CHARS`].
    #[inline]
    pub(crate) fn cut_strings(&mut self) {
        // The password here; the scrubbing with every other string below.
        if let Some(url) = &mut self.request_url {
            crate::xray::redact::remove_url_password(url);
        }
        cut_all([
            &mut self.request_method,
            &mut self.request_url,
            &mut self.request_user_agent,
            &mut self.request_client_ip,
        ]);
    }
}

impl AwsData {
    /// Scrubs every string (see [`crate::xray::redact`]) and cuts it to
    /// [`MAX_STRING_CHARS`].
    #[inline]
    pub(crate) fn cut_strings(&mut self) {
        cut_all([
            &mut self.operation,
            &mut self.region,
            &mut self.request_id,
            &mut self.table_name,
            &mut self.queue_url,
            &mut self.account_id,
        ]);
    }
}

impl Sql {
    /// Removes passwords and scrubs every string (see [`crate::xray::redact`]), and cuts
    /// every string to [`MAX_STRING_CHARS`].
    #[inline]
    pub(crate) fn cut_strings(&mut self) {
        self.preparation = checked_preparation(self.preparation.take());
        for s in [&mut self.connection_string, &mut self.url].into_iter().flatten() {
            crate::xray::redact::redact_sql(s);
        }
        cut_all([
            &mut self.connection_string,
            &mut self.url,
            &mut self.sanitized_query,
            &mut self.database_type,
            &mut self.database_version,
            &mut self.driver_version,
            &mut self.user,
            &mut self.preparation,
        ]);
    }
}

/// `name` cleaned (see [`clean_name`]) as a [`SmallStr`].
#[inline]
fn clean_small(name: &str) -> SmallStr {
    match clean_name(name) {
        std::borrow::Cow::Borrowed(n) => SmallStr::new(n),
        std::borrow::Cow::Owned(n) => SmallStr::from(n),
    }
}

/// The annotations of a subsegment, sorted by key (written in this order); setting a key
/// again replaces its value. Up to four are kept inline (no allocation).
///
/// ```
/// use streamer_obs::trace_header::SegmentId;
/// use streamer_obs::xray::annotation::AnnotationValue;
/// use streamer_obs::xray::document::Subsegment;
/// let mut s = Subsegment::new(SegmentId::generate(), "H", 0);
/// s.annotate("tenant_id", "t-1").unwrap();
/// s.annotate("attempt", 1).unwrap();
/// s.annotate("tenant_id", "t-2").unwrap();
/// let keys: Vec<_> = s.annotations().iter().map(|(k, _)| k).collect();
/// assert_eq!(keys, ["attempt", "tenant_id"]);
/// assert_eq!(s.annotations().get("tenant_id"), Some(&AnnotationValue::from("t-2")));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Annotations(SmallVec<[(SmallStr, AnnotationValue); 4]>);

impl Annotations {
    /// How many annotations.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Annotations;
    /// assert_eq!(Annotations::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Annotations;
    /// assert!(Annotations::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Annotations;
    /// assert!(Annotations::default().get("k").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<&AnnotationValue> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// The annotations, sorted by key.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Annotations;
    /// assert_eq!(Annotations::default().iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &AnnotationValue)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_bytes().cmp(key.as_bytes()))
    }

    /// Whether `key` goes after every key there is: keys usually come in order (or alone)
    /// and are then appended without a search.
    #[inline]
    fn appends(&self, key: &str) -> bool {
        self.0.last().is_none_or(|(last, _)| match (last.as_bytes().first(), key.as_bytes().first()) {
            // Usually the first bytes differ: no full comparison.
            (Some(a), Some(b)) if a != b => a < b,
            _ => last.as_bytes() < key.as_bytes(),
        })
    }

    /// [`Self::put`] of a value stored as it is: written straight into its place when it
    /// is appended (a borrowed string is copied once, there).
    #[inline]
    fn put_arg(&mut self, key: &'static str, value: crate::__private::AnnotationArg<'_>) -> bool {
        match crate::xray::redact::redacted(crate::xray::redact::is_secret_static_key(key), value.text()) {
            Some(redacted) => self.put_stored(key, redacted),
            None => self.put_arg_stored(key, value),
        }
    }

    /// [`Self::put_arg`] of a value that needs no redaction (the SDK's own `ColdStart` and
    /// `Service`).
    #[inline]
    fn put_arg_stored(&mut self, key: &str, value: crate::__private::AnnotationArg<'_>) -> bool {
        if self.appends(key) {
            self.0.push((SmallStr::EMPTY, AnnotationValue::Bool(false)));
            if let Some((slot, v)) = self.0.last_mut() {
                slot.assign(key);
                v.assign_arg(value);
            }
            return true;
        }
        self.put_stored(key, AnnotationValue::from(value))
    }

    /// Sets `key` (a string value redacted, see [`crate::xray::redact`]); returns
    /// whether it is new.
    #[inline]
    fn put(&mut self, key: &str, value: AnnotationValue) -> bool {
        match crate::xray::redact::redacted(crate::xray::redact::is_secret_key(key), value.text()) {
            Some(redacted) => self.put_stored(key, redacted),
            None => self.put_stored(key, value),
        }
    }

    /// [`Self::put`] of a value that needs no redaction.
    #[inline]
    fn put_stored(&mut self, key: &str, value: AnnotationValue) -> bool {
        if self.appends(key) {
            // The key written where it stays (see `SmallStr::assign`).
            self.0.push((SmallStr::EMPTY, value));
            if let Some((slot, _)) = self.0.last_mut() {
                slot.assign(key);
            }
            return true;
        }
        match self.find(key) {
            Ok(i) => {
                self.0[i].1 = value;
                false
            }
            Err(i) => {
                self.0.insert(i, (SmallStr::new(key), value));
                true
            }
        }
    }

    pub(crate) fn entries(&self) -> &[(SmallStr, AnnotationValue)] {
        &self.0
    }

    /// Removes the annotations whose index is marked in `remove` (one pass).
    pub(crate) fn remove_marked(&mut self, remove: &[bool]) {
        retain_unmarked(&mut self.0, remove);
    }
}

/// The metadata of a subsegment: `(namespace, key, value)` entries sorted by namespace
/// then key (written in this order, grouped by namespace); setting a namespace and key
/// again replaces the value. One entry is kept inline (no allocation).
///
/// ```
/// use streamer_obs::trace_header::SegmentId;
/// use streamer_obs::xray::document::Subsegment;
/// let mut s = Subsegment::new(SegmentId::generate(), "H", 0);
/// s.add_metadata("service", "b", serde_json::json!(1)).unwrap();
/// s.add_metadata("default", "a", serde_json::json!(2)).unwrap();
/// s.add_metadata("service", "b", serde_json::json!(3)).unwrap();
/// let entries: Vec<_> = s.metadata().iter().map(|(ns, k, v)| (ns, k, v.clone())).collect();
/// assert_eq!(entries, [("default", "a", serde_json::json!(2)), ("service", "b", serde_json::json!(3))]);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata(SmallVec<[(SmallStr, SmallStr, serde_json::Value); 1]>);

impl Metadata {
    /// How many entries (all namespaces).
    ///
    /// ```
    /// # use streamer_obs::xray::document::Metadata;
    /// assert_eq!(Metadata::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Metadata;
    /// assert!(Metadata::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value under `namespace` and `key`.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Metadata;
    /// assert!(Metadata::default().get("default", "k").is_none());
    /// ```
    pub fn get(&self, namespace: &str, key: &str) -> Option<&serde_json::Value> {
        self.find(namespace, key).ok().map(|i| &self.0[i].2)
    }

    /// The entries as `(namespace, key, value)`, sorted by namespace then key.
    ///
    /// ```
    /// # use streamer_obs::xray::document::Metadata;
    /// assert_eq!(Metadata::default().iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str, &serde_json::Value)> + '_ {
        self.0.iter().map(|(ns, k, v)| (ns.as_str(), k.as_str(), v))
    }

    fn find(&self, namespace: &str, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(ns, k, _)| {
            ns.as_bytes().cmp(namespace.as_bytes()).then_with(|| k.as_bytes().cmp(key.as_bytes()))
        })
    }

    /// Sets an entry, redacted (see [`crate::xray::redact`]) unless it is in the SDK's
    /// own namespace.
    fn put(&mut self, namespace: &str, key: &str, mut value: serde_json::Value) {
        use crate::xray::redact;
        if namespace == crate::xray::encode::TRUNCATION_NAMESPACE {
            return self.put_stored(namespace, key, value);
        }
        redact::redact_metadata(key, &mut value);
        // A namespace or a key holding a JWT or a credential is scrubbed as text.
        let (scrubbed_namespace, scrubbed_key) = (redact::scrub(namespace), redact::scrub(key));
        self.put_stored(
            scrubbed_namespace.as_deref().unwrap_or(namespace),
            scrubbed_key.as_deref().unwrap_or(key),
            value,
        );
    }

    /// [`Self::put`] without redaction.
    fn put_stored(&mut self, namespace: &str, key: &str, value: serde_json::Value) {
        match self.find(namespace, key) {
            Ok(i) => self.0[i].2 = value,
            Err(i) => self.0.insert(i, (SmallStr::new(namespace), SmallStr::new(key), value)),
        }
    }

    /// Sets the entry under `namespace` and the key `<prefix><suffix>`, unredacted: only
    /// for a captured response, which the recorder redacted already. A handler's
    /// response is usually the only entry: written straight into its place (see
    /// `SmallStr::assign`), without a search.
    fn put_concat(&mut self, namespace: &str, prefix: &str, suffix: &str, value: serde_json::Value) {
        if self.0.is_empty() {
            self.0.push((SmallStr::EMPTY, SmallStr::EMPTY, serde_json::Value::Null));
            if let Some((ns, key, slot)) = self.0.last_mut() {
                ns.assign(namespace);
                key.assign_concat(prefix, suffix);
                *slot = value;
            }
            return;
        }
        self.put_owned_key(namespace, SmallStr::concat(prefix, suffix), value);
    }

    fn put_owned_key(&mut self, namespace: &str, key: SmallStr, value: serde_json::Value) {
        let found = self.0.binary_search_by(|(ns, k, _)| {
            ns.as_bytes().cmp(namespace.as_bytes()).then_with(|| k.as_bytes().cmp(key.as_bytes()))
        });
        match found {
            Ok(i) => self.0[i].2 = value,
            Err(i) => self.0.insert(i, (SmallStr::new(namespace), key, value)),
        }
    }

    /// Removes the entries whose index is marked in `remove` (one pass).
    pub(crate) fn remove_marked(&mut self, remove: &[bool]) {
        retain_unmarked(&mut self.0, remove);
    }

    pub(crate) fn entries(&self) -> &[(SmallStr, SmallStr, serde_json::Value)] {
        &self.0
    }
}

/// One subsegment and its nested children.
///
/// ```
/// use streamer_obs::trace_header::SegmentId;
/// use streamer_obs::xray::document::Subsegment;
/// let mut s = Subsegment::new(SegmentId::generate(), "Save (connection)", 10);
/// assert_eq!(s.name(), "Save connection");
/// s.set_end_micros(5);
/// assert_eq!(s.end_micros(), Some(10)); // never before the start
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Subsegment {
    pub(crate) id: SegmentId,
    pub(crate) name: SmallStr,
    pub(crate) start_micros: u64,
    pub(crate) end_micros: Option<u64>,
    pub(crate) namespace: Option<Namespace>,
    pub(crate) flags: Flags,
    pub(crate) annotations: Annotations,
    pub(crate) metadata: Metadata,
    /// The blocks few subsegments have, boxed together: a subsegment stays small to
    /// create, move and drop.
    pub(crate) rare: Option<Box<Rare>>,
    pub(crate) subsegments: Vec<Subsegment>,
}

/// The parts of a [`Subsegment`] that only errors and downstream calls fill in.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Rare {
    pub(crate) cause: Option<Cause>,
    pub(crate) http: Option<Http>,
    pub(crate) aws: Option<AwsData>,
    pub(crate) sql: Option<Sql>,
    pub(crate) precursor_ids: Vec<SegmentId>,
}

impl Subsegment {
    /// An open subsegment named `name` (cleaned, see [`clean_name`]) started at
    /// `start_micros` (microseconds since the Unix epoch).
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// assert_eq!(s.name(), "Work");
    /// assert!(s.end_micros().is_none());
    /// ```
    #[inline]
    pub fn new(id: SegmentId, name: &str, start_micros: u64) -> Self {
        Self {
            id,
            name: clean_small(name),
            start_micros,
            end_micros: None,
            namespace: None,
            flags: Flags::default(),
            annotations: Annotations::default(),
            metadata: Metadata::default(),
            rare: None,
            subsegments: Vec::new(),
        }
    }

    /// The id.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// assert_eq!(s.id().as_str(), "0000000000000007");
    /// ```
    pub fn id(&self) -> &SegmentId {
        &self.id
    }
    /// The (cleaned) name.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// assert_eq!(s.name(), "Work");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }
    /// Start, microseconds since the Unix epoch.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// assert_eq!(s.start_micros(), 1_000_000);
    /// ```
    pub fn start_micros(&self) -> u64 {
        self.start_micros
    }
    /// End, microseconds since the Unix epoch; `None` while open.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// s.set_end_micros(2_000_000);
    /// assert_eq!(s.end_micros(), Some(2_000_000));
    /// ```
    pub fn end_micros(&self) -> Option<u64> {
        self.end_micros
    }
    /// Ends the subsegment; an end before the start is written as the start.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// s.set_end_micros(0);
    /// assert_eq!(s.end_micros(), Some(1_000_000));
    /// ```
    pub fn set_end_micros(&mut self, end: u64) {
        self.end_micros = Some(end.max(self.start_micros));
    }
    /// The namespace.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// # use streamer_obs::xray::document::Namespace;
    /// s.set_namespace(Namespace::Remote);
    /// assert_eq!(s.namespace(), Some(Namespace::Remote));
    /// ```
    pub fn namespace(&self) -> Option<Namespace> {
        self.namespace
    }
    /// The flags.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// assert!(s.flags().is_empty());
    /// ```
    pub fn flags(&self) -> Flags {
        self.flags
    }
    /// The cause.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// assert!(s.cause().is_none());
    /// ```
    pub fn cause(&self) -> Option<&Cause> {
        self.rare.as_ref()?.cause.as_ref()
    }
    /// The annotations, sorted by key.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// s.annotate("k", 1).unwrap();
    /// assert_eq!(s.annotations().len(), 1);
    /// assert_eq!(s.annotations().get("k"), Some(&1.into()));
    /// ```
    pub fn annotations(&self) -> &Annotations {
        &self.annotations
    }
    /// The metadata, sorted by namespace then key.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// s.add_metadata("default", "k", serde_json::json!(1)).unwrap();
    /// assert_eq!(s.metadata().get("default", "k"), Some(&serde_json::json!(1)));
    /// ```
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    /// The `http` block.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// # use streamer_obs::xray::document::Http;
    /// s.set_http(Http::default().status(200));
    /// assert_eq!(s.http().unwrap().response_status, Some(200));
    /// ```
    pub fn http(&self) -> Option<&Http> {
        self.rare.as_ref()?.http.as_ref()
    }
    /// The `aws` block.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// # use streamer_obs::xray::document::AwsData;
    /// s.set_aws(AwsData { operation: Some("GetItem".into()), ..Default::default() });
    /// assert!(s.aws().is_some());
    /// ```
    pub fn aws(&self) -> Option<&AwsData> {
        self.rare.as_ref()?.aws.as_ref()
    }
    /// The nested children.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// s.push_child(Subsegment::new(SegmentId::generate(), "Child", 1_000_000));
    /// assert_eq!(s.subsegments()[0].name(), "Child");
    /// ```
    pub fn subsegments(&self) -> &[Subsegment] {
        &self.subsegments
    }
    /// The `sql` block.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::{Sql, Subsegment};
    /// let mut s = Subsegment::new(SegmentId::generate(), "Query", 0);
    /// s.set_sql(Sql { database_type: Some("PostgreSQL".into()), ..Default::default() });
    /// assert!(s.sql().is_some());
    /// ```
    pub fn sql(&self) -> Option<&Sql> {
        self.rare.as_ref()?.sql.as_ref()
    }

    /// Sets the `sql` block (every string cut to 250 characters; a `preparation` other
    /// than `call` or `statement` left out).
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::{Sql, Subsegment};
    /// let mut s = Subsegment::new(SegmentId::generate(), "Query", 0);
    /// s.set_sql(Sql { user: Some("u".repeat(300)), url: Some("x".repeat(3000)), ..Default::default() });
    /// assert_eq!(s.sql().unwrap().user.as_ref().unwrap().len(), 250);
    /// assert_eq!(s.sql().unwrap().url.as_ref().unwrap().len(), 250);
    /// s.set_sql(Sql { preparation: Some("Statement".into()), ..Default::default() });
    /// assert_eq!(s.sql().unwrap().preparation.as_deref(), Some("statement"));
    /// s.set_sql(Sql { preparation: Some("prepared".into()), ..Default::default() });
    /// assert_eq!(s.sql().unwrap().preparation, None);
    /// ```
    pub fn set_sql(&mut self, mut sql: Sql) {
        sql.cut_strings();
        self.rare_mut().sql = Some(sql);
    }

    /// Ids of sibling subsegments that finished before this one started (`precursor_ids`).
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::generate(), "Second", 0);
    /// s.add_precursor(SegmentId::from_u64(1).unwrap());
    /// assert_eq!(s.precursor_ids().len(), 1);
    /// ```
    pub fn precursor_ids(&self) -> &[SegmentId] {
        self.rare.as_ref().map_or(&[], |r| &r.precursor_ids)
    }

    /// Adds a precursor id (duplicates ignored).
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::generate(), "Second", 0);
    /// let first = SegmentId::generate();
    /// s.add_precursor(first);
    /// s.add_precursor(first);
    /// assert_eq!(s.precursor_ids(), &[first]);
    /// ```
    pub fn add_precursor(&mut self, id: SegmentId) {
        let ids = &mut self.rare_mut().precursor_ids;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    /// Adds a nested child.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// s.push_child(Subsegment::new(SegmentId::generate(), "Child", 1_000_000));
    /// assert_eq!(s.subsegments().len(), 1);
    /// ```
    pub fn push_child(&mut self, child: Subsegment) {
        self.subsegments.push(child);
    }
    /// Sets the namespace.
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// # use streamer_obs::xray::document::Namespace;
    /// s.set_namespace(Namespace::Aws);
    /// assert_eq!(s.namespace(), Some(Namespace::Aws));
    /// ```
    pub fn set_namespace(&mut self, ns: Namespace) {
        self.namespace = Some(ns);
    }
    /// Sets the response half of the `http` block, keeping the request half.
    #[cfg(feature = "http")]
    pub(crate) fn set_http_response(&mut self, status: u16, content_length: Option<u64>) {
        let http = self.rare_mut().http.get_or_insert_with(Http::default);
        http.response_status = Some(status);
        http.response_content_length = content_length;
    }

    /// Sets the `http` block (every string cut to 250 characters).
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// # use streamer_obs::xray::document::Http;
    /// s.set_http(Http { request_url: Some("u".repeat(2000)), ..Http::default().method("POST") });
    /// assert_eq!(s.http().unwrap().request_url.as_ref().unwrap().len(), 250);
    /// ```
    pub fn set_http(&mut self, mut http: Http) {
        http.cut_strings();
        self.rare_mut().http = Some(http);
    }
    /// Sets the `aws` block (every string cut to 250 characters).
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::{AwsData, Subsegment};
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// s.set_aws(AwsData { operation: Some("o".repeat(3000)), ..Default::default() });
    /// assert_eq!(s.aws().unwrap().operation.as_ref().unwrap().len(), 250);
    /// ```
    pub fn set_aws(&mut self, mut aws: AwsData) {
        aws.cut_strings();
        self.rare_mut().aws = Some(aws);
    }
    /// Sets flags (in addition to the ones already set).
    ///
    /// ```
    /// # use streamer_obs::trace_header::SegmentId;
    /// # use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::from_u64(7).unwrap(), "Work", 1_000_000);
    /// # use streamer_obs::xray::document::Flags;
    /// s.add_flags(Flags::from_http_status(429));
    /// assert!(s.flags().throttle);
    /// ```
    pub fn add_flags(&mut self, flags: Flags) {
        self.flags.merge(flags);
    }
    /// Sets an annotation (key and value checked as by the recorder).
    ///
    /// ```
    /// use streamer_obs::trace_header::SegmentId;
    /// use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::generate(), "H", 0);
    /// assert!(s.annotate("tenant_id", "t-1").is_ok());
    /// assert!(s.annotate("tenant-id", "t-1").is_err());
    /// ```
    pub fn annotate(
        &mut self,
        key: &str,
        value: impl Into<AnnotationValue>,
    ) -> Result<(), crate::xray::annotation::AnnotationError> {
        crate::xray::annotation::check_key(key)?;
        let value = value.into().checked()?;
        self.put_annotation(key, value);
        Ok(())
    }

    /// Sets a metadata entry (namespace checked as by the recorder; arrays and objects
    /// nested deeper than [`MAX_METADATA_DEPTH`](crate::xray::annotation::MAX_METADATA_DEPTH)
    /// replaced by `"[too deep]"`).
    ///
    /// ```
    /// use streamer_obs::trace_header::SegmentId;
    /// use streamer_obs::xray::document::Subsegment;
    /// let mut s = Subsegment::new(SegmentId::generate(), "H", 0);
    /// assert!(s.add_metadata("default", "k", serde_json::json!({"a": 1})).is_ok());
    /// assert!(s.add_metadata("AWS.x", "k", serde_json::json!(1)).is_err());
    /// ```
    pub fn add_metadata(
        &mut self,
        namespace: &str,
        key: &str,
        value: serde_json::Value,
    ) -> Result<(), crate::xray::annotation::AnnotationError> {
        crate::xray::annotation::check_namespace(namespace)?;
        let mut value = value;
        json::limit_depth(&mut value);
        self.put_metadata(namespace, key, value);
        Ok(())
    }

    /// Sets an annotation whose key was checked.
    /// Returns whether the key is new (a second write replaces the value).
    #[inline]
    pub(crate) fn put_annotation(&mut self, key: &str, value: AnnotationValue) -> bool {
        self.annotations.put(key, value)
    }
    /// [`Self::put_annotation`] of a value that is stored as it is (see
    /// [`crate::__private::AnnotationArg::is_stored_as_is`]).
    #[inline]
    pub(crate) fn put_annotation_arg(&mut self, key: &'static str, value: crate::__private::AnnotationArg<'_>) -> bool {
        self.annotations.put_arg(key, value)
    }
    /// [`Self::put_annotation_arg`] without redaction: for the SDK's own annotations,
    /// whose keys are not secret and whose values come from the configuration.
    #[inline]
    pub(crate) fn put_known_annotation_arg(&mut self, key: &str, value: crate::__private::AnnotationArg<'_>) -> bool {
        self.annotations.put_arg_stored(key, value)
    }
    /// Sets a metadata entry whose namespace was checked (a second write of the same
    /// namespace and key replaces the value).
    pub(crate) fn put_metadata(&mut self, namespace: &str, key: &str, value: serde_json::Value) {
        self.metadata.put(namespace, key, value);
    }
    /// [`Self::put_metadata`] with the key `<prefix><suffix>` (built without a UTF-8 check).
    pub(crate) fn put_metadata_concat(
        &mut self,
        namespace: &str,
        prefix: &str,
        suffix: &str,
        value: serde_json::Value,
    ) {
        self.metadata.put_concat(namespace, prefix, suffix, value);
    }
    /// Sets the cause.
    pub(crate) fn set_cause(&mut self, cause: Cause) {
        self.rare_mut().cause = Some(cause);
    }

    /// The rare blocks, boxed on first use.
    pub(crate) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
}

/// Keeps the items of `items` whose index is not marked in `remove` (one pass, in order).
fn retain_unmarked<A: smallvec::Array>(items: &mut smallvec::SmallVec<A>, remove: &[bool]) {
    let mut i = 0;
    items.retain(|_| {
        let keep = !remove.get(i).copied().unwrap_or(false);
        i += 1;
        keep
    });
}

/// An independent subsegment document: a subsegment tree with the trace id and the id
/// of its parent (the header's `Parent` or an enclosing subsegment).
///
/// A document is either an owned [`Subsegment`] tree ([`SegmentDocument::new`]) or a tree
/// of the recorder, whose children stay where they were recorded (linked, not nested in
/// [`Subsegment::subsegments`]): [`SegmentDocument::subsegment`] is then the root without
/// its children, and [`SegmentDocument::write_to`] writes the whole tree either way.
#[derive(Debug, Clone, Copy)]
pub struct SegmentDocument<'a> {
    trace_id: &'a TraceId,
    parent_id: &'a SegmentId,
    root: NodeRef<'a>,
    in_progress: bool,
}

/// No node (end of a child list, no parent).
pub(crate) const NO_NODE: u32 = u32::MAX;

/// Whether a recorded subsegment is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeState {
    Open,
    Closed,
}

/// A subsegment recorded in place in the recorder's arena: its own fields (its
/// `subsegments` stay empty) and links to its closed children, in the order they closed.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) sub: Subsegment,
    pub(crate) state: NodeState,
    /// Whether an in-progress document was sent for it.
    pub(crate) in_progress_sent: bool,
    /// The arena index of the parent it was opened under (`NO_NODE`: none recorded).
    pub(crate) parent_idx: u32,
    /// The id written as `parent_id` when it is sent as its own document.
    pub(crate) parent_id: SegmentId,
    pub(crate) first_child: u32,
    pub(crate) last_child: u32,
    pub(crate) next_sibling: u32,
}

impl Node {
    /// A node for a subsegment opened now, built in one expression (no intermediate
    /// `Subsegment` to copy).
    #[inline(always)]
    pub(crate) fn open(id: SegmentId, name: &str, start_micros: u64, parent_idx: u32, parent_id: SegmentId) -> Self {
        Self {
            sub: Subsegment {
                id,
                name: clean_small(name),
                start_micros,
                end_micros: None,
                namespace: None,
                flags: Flags { error: false, fault: false, throttle: false },
                annotations: Annotations(SmallVec::new()),
                metadata: Metadata(SmallVec::new()),
                rare: None,
                subsegments: Vec::new(),
            },
            state: NodeState::Open,
            in_progress_sent: false,
            parent_idx,
            parent_id,
            first_child: NO_NODE,
            last_child: NO_NODE,
            next_sibling: NO_NODE,
        }
    }

    /// [`Node::open`] written over a released node in place (no node built elsewhere and
    /// copied in). Every field is named: a field added to `Node` or `Subsegment` has to be
    /// set here too.
    #[inline(always)]
    pub(crate) fn reopen(
        &mut self,
        id: SegmentId,
        name: &str,
        start_micros: u64,
        parent_idx: u32,
        parent_id: SegmentId,
    ) {
        let Node {
            sub,
            state,
            in_progress_sent,
            parent_idx: node_parent_idx,
            parent_id: node_parent_id,
            first_child,
            last_child,
            next_sibling,
        } = self;
        let Subsegment {
            id: sub_id,
            name: sub_name,
            start_micros: sub_start,
            end_micros,
            namespace,
            flags,
            annotations,
            metadata,
            rare,
            subsegments,
        } = sub;
        *sub_id = id;
        match clean_name(name) {
            std::borrow::Cow::Borrowed(n) => sub_name.assign(n),
            std::borrow::Cow::Owned(n) => *sub_name = SmallStr::from(n),
        }
        *sub_start = start_micros;
        *end_micros = None;
        *namespace = None;
        *flags = Flags::default();
        // Empty already (released); cleared again (nothing to drop) so nothing can carry
        // over.
        annotations.0.clear();
        metadata.0.clear();
        if rare.is_some() {
            *rare = None;
        }
        if !subsegments.is_empty() {
            subsegments.clear();
        }
        *state = NodeState::Open;
        *in_progress_sent = false;
        *node_parent_idx = parent_idx;
        *node_parent_id = parent_id;
        *first_child = NO_NODE;
        *last_child = NO_NODE;
        *next_sibling = NO_NODE;
    }

    /// Empties a node kept as storage: closed, and every value of its invocation dropped
    /// (annotations, metadata, error, blocks; a long name).
    pub(crate) fn release(&mut self) {
        self.state = NodeState::Closed;
        self.sub.name = SmallStr::new("");
        self.sub.annotations.0.clear();
        self.sub.metadata.0.clear();
        self.sub.rare = None;
        if self.sub.subsegments.capacity() > 0 {
            self.sub.subsegments = Vec::new();
        }
    }

    #[cfg(test)]
    pub(crate) fn new(sub: Subsegment, parent_idx: u32, parent_id: SegmentId) -> Self {
        Self { sub, ..Self::open(parent_id, "", 0, parent_idx, parent_id) }
    }
}

/// A subsegment with its children: an owned tree, or a node of the recorder's arena.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NodeRef<'a> {
    Owned(&'a Subsegment),
    Linked(&'a [Node], &'a Node),
}

impl<'a> NodeRef<'a> {
    /// The subsegment's own fields.
    pub(crate) fn sub(self) -> &'a Subsegment {
        match self {
            NodeRef::Owned(s) => s,
            NodeRef::Linked(_, n) => &n.sub,
        }
    }

    /// The children, in order.
    pub(crate) fn children(self) -> Children<'a> {
        match self {
            NodeRef::Owned(s) => Children::Owned(s.subsegments.iter()),
            NodeRef::Linked(nodes, n) => Children::Linked(nodes, n.first_child),
        }
    }

    pub(crate) fn has_children(self) -> bool {
        match self {
            NodeRef::Owned(s) => !s.subsegments.is_empty(),
            NodeRef::Linked(_, n) => n.first_child != NO_NODE,
        }
    }
}

/// The children of a [`NodeRef`].
pub(crate) enum Children<'a> {
    Owned(std::slice::Iter<'a, Subsegment>),
    Linked(&'a [Node], u32),
}

impl<'a> Iterator for Children<'a> {
    type Item = NodeRef<'a>;

    fn next(&mut self) -> Option<NodeRef<'a>> {
        match self {
            Children::Owned(it) => it.next().map(NodeRef::Owned),
            Children::Linked(nodes, next) => {
                let node = nodes.get(*next as usize)?;
                *next = node.next_sibling;
                Some(NodeRef::Linked(nodes, node))
            }
        }
    }
}

impl<'a> SegmentDocument<'a> {
    /// A complete document for `subsegment` (children nested).
    ///
    /// ```
    /// # use streamer_obs::trace_header::{SegmentId, TraceId};
    /// # use streamer_obs::xray::document::{SegmentDocument, Subsegment};
    /// let (t, p) = (TraceId::generate(1), SegmentId::generate());
    /// let s = Subsegment::new(SegmentId::generate(), "W", 0);
    /// assert!(!SegmentDocument::new(&t, &p, &s).is_in_progress());
    /// ```
    pub fn new(trace_id: &'a TraceId, parent_id: &'a SegmentId, subsegment: &'a Subsegment) -> Self {
        Self { trace_id, parent_id, root: NodeRef::Owned(subsegment), in_progress: false }
    }

    /// A document for `root` (owned or recorded).
    pub(crate) fn of(trace_id: &'a TraceId, parent_id: &'a SegmentId, root: NodeRef<'a>, in_progress: bool) -> Self {
        Self { trace_id, parent_id, root, in_progress }
    }

    /// An in-progress document for a still-open `subsegment` (`in_progress: true`, no
    /// `end_time`, no children), replaced by the complete one later (X-7).
    ///
    /// ```
    /// use streamer_obs::trace_header::{SegmentId, TraceId};
    /// use streamer_obs::xray::document::{SegmentDocument, Subsegment};
    /// let t = TraceId::generate(1); let p = SegmentId::generate();
    /// let s = Subsegment::new(SegmentId::generate(), "Handler", 1_000_000);
    /// let json = SegmentDocument::in_progress(&t, &p, &s).to_json();
    /// assert!(json.contains(r#""in_progress":true"#) && !json.contains("end_time"));
    /// ```
    pub fn in_progress(trace_id: &'a TraceId, parent_id: &'a SegmentId, subsegment: &'a Subsegment) -> Self {
        Self { trace_id, parent_id, root: NodeRef::Owned(subsegment), in_progress: true }
    }

    /// The trace id (`Root`).
    ///
    /// ```
    /// # use streamer_obs::trace_header::{SegmentId, TraceId};
    /// # use streamer_obs::xray::document::{SegmentDocument, Subsegment};
    /// let (t, p) = (TraceId::generate(1), SegmentId::generate());
    /// let s = Subsegment::new(SegmentId::generate(), "W", 0);
    /// assert_eq!(SegmentDocument::new(&t, &p, &s).trace_id(), &t);
    /// ```
    pub fn trace_id(&self) -> &'a TraceId {
        self.trace_id
    }
    /// The parent id.
    ///
    /// ```
    /// # use streamer_obs::trace_header::{SegmentId, TraceId};
    /// # use streamer_obs::xray::document::{SegmentDocument, Subsegment};
    /// let (t, p) = (TraceId::generate(1), SegmentId::generate());
    /// let s = Subsegment::new(SegmentId::generate(), "W", 0);
    /// assert_eq!(SegmentDocument::new(&t, &p, &s).parent_id(), &p);
    /// ```
    pub fn parent_id(&self) -> &'a SegmentId {
        self.parent_id
    }
    /// The root subsegment. For a document of the recorder its children are not in
    /// [`Subsegment::subsegments`] (they were recorded in place); [`Self::write_to`] writes
    /// them either way.
    ///
    /// ```
    /// # use streamer_obs::trace_header::{SegmentId, TraceId};
    /// # use streamer_obs::xray::document::{SegmentDocument, Subsegment};
    /// let (t, p) = (TraceId::generate(1), SegmentId::generate());
    /// let s = Subsegment::new(SegmentId::generate(), "W", 0);
    /// assert_eq!(SegmentDocument::new(&t, &p, &s).subsegment().name(), "W");
    /// ```
    pub fn subsegment(&self) -> &'a Subsegment {
        self.root.sub()
    }

    /// The root with its children.
    pub(crate) fn root(&self) -> NodeRef<'a> {
        self.root
    }
    /// Whether this is an in-progress document.
    ///
    /// ```
    /// # use streamer_obs::trace_header::{SegmentId, TraceId};
    /// # use streamer_obs::xray::document::{SegmentDocument, Subsegment};
    /// let (t, p) = (TraceId::generate(1), SegmentId::generate());
    /// let s = Subsegment::new(SegmentId::generate(), "W", 0);
    /// assert!(SegmentDocument::in_progress(&t, &p, &s).is_in_progress());
    /// ```
    pub fn is_in_progress(&self) -> bool {
        self.in_progress
    }

    /// Appends the compact JSON document (children nested) to `out`.
    ///
    /// ```
    /// # use streamer_obs::trace_header::{SegmentId, TraceId};
    /// # use streamer_obs::xray::document::{SegmentDocument, Subsegment};
    /// let (t, p) = (TraceId::generate(1), SegmentId::generate());
    /// let s = Subsegment::new(SegmentId::generate(), "W", 0);
    /// let mut buf = b"prefix\n".to_vec();
    /// SegmentDocument::new(&t, &p, &s).write_to(&mut buf);
    /// assert!(buf.starts_with(b"prefix\n{\"type\":\"subsegment\""));
    /// ```
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_with(out, true);
    }

    /// The compact JSON document as a string.
    ///
    /// ```
    /// # use streamer_obs::trace_header::{SegmentId, TraceId};
    /// # use streamer_obs::xray::document::{SegmentDocument, Subsegment};
    /// let (t, p) = (TraceId::generate(1), SegmentId::generate());
    /// let s = Subsegment::new(SegmentId::generate(), "W", 0);
    /// assert!(!SegmentDocument::new(&t, &p, &s).to_json().contains('\n'));
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    pub(crate) fn write_with(&self, out: &mut Vec<u8>, nested: bool) {
        write_sub(out, self.root, Some((self.trace_id, self.parent_id)), nested && !self.in_progress, self.in_progress);
    }

    /// Writes the document with only `children` nested (the size guard's split).
    pub(crate) fn write_with_children(&self, out: &mut Vec<u8>, children: &[NodeRef<'_>]) {
        write_fields(out, self.root.sub(), Some((self.trace_id, self.parent_id)), self.in_progress);
        if !children.is_empty() {
            out.extend_from_slice(b",\"subsegments\":[");
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_sub(out, *child, None, true, false);
            }
            out.push(b']');
        }
        out.push(b'}');
    }
}

/// Appends `node` as it appears nested in its parent's `subsegments` array.
pub(crate) fn write_nested(node: NodeRef<'_>, out: &mut Vec<u8>) {
    write_sub(out, node, None, true, false);
}

/// Appends one subsegment object (keys in a fixed order, maps sorted by key), byte for
/// byte what `serde_json` writes for the same document.
fn write_sub(
    out: &mut Vec<u8>,
    node: NodeRef<'_>,
    top: Option<(&TraceId, &SegmentId)>,
    nested: bool,
    in_progress: bool,
) {
    write_fields(out, node.sub(), top, in_progress);
    if nested && node.has_children() {
        out.extend_from_slice(b",\"subsegments\":[");
        for (i, child) in node.children().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_sub(out, child, None, true, false);
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// Appends a subsegment object without its children and without the closing brace.
fn write_fields(out: &mut Vec<u8>, sub: &Subsegment, top: Option<(&TraceId, &SegmentId)>, in_progress: bool) {
    out.reserve(160 + sub.name.as_bytes().len());
    // The fixed-size head in one piece: `{"type":"subsegment","id":"…","trace_id":"…",
    // "parent_id":"…","name":"` (or `{"id":"…","name":"` nested).
    // Written in place (see `write_block`).
    match top {
        Some((trace, parent)) => {
            write_block::<{ 27 + 16 + 14 + 35 + 15 + 16 + 10 }>(out, |head| {
                head[..27].copy_from_slice(b"{\"type\":\"subsegment\",\"id\":\"");
                head[27..43].copy_from_slice(sub.id.as_array());
                head[43..57].copy_from_slice(b"\",\"trace_id\":\"");
                head[57..92].copy_from_slice(trace.as_array());
                head[92..107].copy_from_slice(b"\",\"parent_id\":\"");
                head[107..123].copy_from_slice(parent.as_array());
                head[123..].copy_from_slice(b"\",\"name\":\"");
                head.len()
            });
        }
        None => {
            write_block::<{ 7 + 16 + 10 }>(out, |head| {
                head[..7].copy_from_slice(b"{\"id\":\"");
                head[7..23].copy_from_slice(sub.id.as_array());
                head[23..].copy_from_slice(b"\",\"name\":\"");
                head.len()
            });
        }
    }
    // A cleaned name (see `clean_name`) has nothing to escape.
    sub.name.write_raw(out);
    out.extend_from_slice(b"\",\"start_time\":");
    match (in_progress, sub.end_micros) {
        (false, Some(end)) => json::write_start_end(out, sub.start_micros, end.max(sub.start_micros)),
        _ => {
            json::write_seconds(out, sub.start_micros);
            out.extend_from_slice(b",\"in_progress\":true");
        }
    }
    if let Some(ns) = sub.namespace {
        out.extend_from_slice(b",\"namespace\":\"");
        out.extend_from_slice(ns.as_str().as_bytes());
        out.push(b'"');
    }
    // `throttle` implies `error` (X-16: a 429 is a 4xx), however the flags were set.
    if sub.flags.error || sub.flags.throttle {
        out.extend_from_slice(b",\"error\":true");
    }
    if sub.flags.fault {
        out.extend_from_slice(b",\"fault\":true");
    }
    if sub.flags.throttle {
        out.extend_from_slice(b",\"throttle\":true");
    }
    let rare = sub.rare.as_deref();
    if let Some(cause) = rare.and_then(|r| r.cause.as_ref()) {
        out.extend_from_slice(b",\"cause\":");
        // Rare (errors only): serde, which cannot fail writing to a Vec.
        let _ = serde_json::to_writer(&mut *out, cause);
    }
    if !sub.annotations.is_empty() {
        out.extend_from_slice(b",\"annotations\":{");
        for (i, (k, v)) in sub.annotations.entries().iter().enumerate() {
            write_annotation(out, i > 0, k, v);
        }
        out.push(b'}');
    }
    if !sub.metadata.is_empty() {
        out.extend_from_slice(b",\"metadata\":{");
        let mut current: Option<&SmallStr> = None;
        for (ns, k, v) in sub.metadata.entries() {
            if current != Some(ns) {
                if current.is_some() {
                    out.extend_from_slice(b"},");
                }
                current = Some(ns);
                ns.write_json(out);
                out.extend_from_slice(b":{");
            } else {
                out.push(b',');
            }
            k.write_json(out);
            out.push(b':');
            json::write_value(out, v);
        }
        out.extend_from_slice(b"}}");
    }
    let Some(rare) = rare else { return };
    if let Some(http) = &rare.http {
        write_http(out, http);
    }
    if let Some(aws) = rare.aws.as_ref().filter(|a| !a.is_empty()) {
        write_aws(out, aws);
    }
    if let Some(sql) = &rare.sql {
        out.extend_from_slice(b",\"sql\":");
        let _ = serde_json::to_writer(&mut *out, sql);
    }
    if !rare.precursor_ids.is_empty() {
        out.extend_from_slice(b",\"precursor_ids\":[");
        for (i, id) in rare.precursor_ids.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(id.as_bytes());
            out.push(b'"');
        }
        out.push(b']');
    }
}

/// Appends one annotation, `"key":value`, after a comma unless it is the first. Keys are
/// checked before they are stored (`A-Z a-z 0-9 _`): nothing to escape. The usual one (an
/// inline key with a boolean or a short plain string) is assembled in one block on the
/// stack from fixed-size pieces and appended with one copy, instead of six appends.
#[inline]
pub(crate) fn write_annotation(out: &mut Vec<u8>, comma: bool, key: &SmallStr, value: &AnnotationValue) {
    let SmallStr::Inline(key_len, key_buf) = key else {
        if comma {
            out.push(b',');
        }
        out.push(b'"');
        key.write_raw(out);
        out.extend_from_slice(b"\":");
        value.write_json(out);
        return;
    };
    // At most 1 + 1 + 22 + 2 + 24 = 50 bytes, written in place.
    let mut complete = false;
    write_block::<64>(out, |block| {
        block[0] = b',';
        let mut at = usize::from(comma);
        block[at] = b'"';
        block[at + 1..at + 1 + INLINE].copy_from_slice(key_buf);
        at += 1 + usize::from(*key_len);
        block[at..at + 2].copy_from_slice(b"\":");
        at += 2;
        // `at` ≤ 26: the value's 24 bytes fit.
        if let Some(len) = block[at..].first_chunk_mut::<{ INLINE + 2 }>().and_then(|piece| value.json_into(piece)) {
            complete = true;
            at += len;
        }
        at
    });
    if !complete {
        value.write_json(out);
    }
}

/// Appends `key":value` pairs of optional strings, each preceded by a comma except the
/// first one written in the object; returns whether any was written.
fn write_opt_strs(out: &mut Vec<u8>, fields: &[(&[u8], Option<&str>)], mut first: bool) -> bool {
    for (key, value) in fields {
        if let Some(v) = value {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(key);
            out.extend_from_slice(b"\":");
            json::write_str(out, v);
        }
    }
    !first
}

fn write_http(out: &mut Vec<u8>, h: &Http) {
    out.extend_from_slice(b",\"http\":{");
    let has_request = h.request_method.is_some()
        || h.request_url.is_some()
        || h.request_user_agent.is_some()
        || h.request_client_ip.is_some()
        || h.request_traced;
    if has_request {
        out.extend_from_slice(b"\"request\":{");
        let wrote = write_opt_strs(
            out,
            &[
                (b"method", h.request_method.as_deref()),
                (b"url", h.request_url.as_deref()),
                (b"user_agent", h.request_user_agent.as_deref()),
                (b"client_ip", h.request_client_ip.as_deref()),
            ],
            true,
        );
        if h.request_traced {
            if wrote {
                out.push(b',');
            }
            out.extend_from_slice(b"\"traced\":true");
        }
        out.push(b'}');
    }
    if h.response_status.is_some() || h.response_content_length.is_some() {
        if has_request {
            out.push(b',');
        }
        out.extend_from_slice(b"\"response\":{");
        if let Some(status) = h.response_status {
            out.extend_from_slice(b"\"status\":");
            json::write_u64(out, u64::from(status));
        }
        if let Some(len) = h.response_content_length {
            if h.response_status.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"content_length\":");
            json::write_u64(out, len);
        }
        out.push(b'}');
    }
    out.push(b'}');
}

fn write_aws(out: &mut Vec<u8>, a: &AwsData) {
    out.extend_from_slice(b",\"aws\":{");
    write_opt_strs(
        out,
        &[
            (b"operation", a.operation.as_deref()),
            (b"region", a.region.as_deref()),
            (b"request_id", a.request_id.as_deref()),
            (b"table_name", a.table_name.as_deref()),
            (b"queue_url", a.queue_url.as_deref()),
            (b"account_id", a.account_id.as_deref()),
        ],
        true,
    );
    out.push(b'}');
}

/// The `serde` form of a document, kept as the reference the hand-written writer is
/// tested against.
#[cfg(test)]
mod reference {
    use super::*;
    use crate::xray::json::seconds;
    use serde::Serialize;
    use serde::ser::{SerializeMap, Serializer};

    pub(super) fn write(
        sub: &Subsegment,
        top: Option<(&TraceId, &SegmentId)>,
        nested: bool,
        in_progress: bool,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        View { sub, top, nested, in_progress }.serialize(&mut serde_json::Serializer::new(&mut out)).unwrap();
        out
    }

    struct View<'a> {
        sub: &'a Subsegment,
        top: Option<(&'a TraceId, &'a SegmentId)>,
        nested: bool,
        in_progress: bool,
    }

    impl Serialize for View<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let sub = self.sub;
            let mut m = s.serialize_map(None)?;
            if let Some((trace, parent)) = self.top {
                m.serialize_entry("type", "subsegment")?;
                m.serialize_entry("id", sub.id.as_str())?;
                m.serialize_entry("trace_id", trace.as_str())?;
                m.serialize_entry("parent_id", parent.as_str())?;
            } else {
                m.serialize_entry("id", sub.id.as_str())?;
            }
            m.serialize_entry("name", sub.name.as_str())?;
            m.serialize_entry("start_time", &seconds(sub.start_micros))?;
            match (self.in_progress, sub.end_micros) {
                (false, Some(end)) => m.serialize_entry("end_time", &seconds(end.max(sub.start_micros)))?,
                _ => m.serialize_entry("in_progress", &true)?,
            }
            if let Some(ns) = sub.namespace {
                m.serialize_entry("namespace", ns.as_str())?;
            }
            if sub.flags.error || sub.flags.throttle {
                m.serialize_entry("error", &true)?;
            }
            if sub.flags.fault {
                m.serialize_entry("fault", &true)?;
            }
            if sub.flags.throttle {
                m.serialize_entry("throttle", &true)?;
            }
            if let Some(cause) = sub.cause() {
                m.serialize_entry("cause", cause)?;
            }
            if !sub.annotations.is_empty() {
                let map: std::collections::BTreeMap<&str, &AnnotationValue> = sub.annotations.iter().collect();
                m.serialize_entry("annotations", &map)?;
            }
            if !sub.metadata.is_empty() {
                let mut map: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, &serde_json::Value>> =
                    std::collections::BTreeMap::new();
                for (ns, k, v) in sub.metadata.iter() {
                    map.entry(ns).or_default().insert(k, v);
                }
                m.serialize_entry("metadata", &map)?;
            }
            if let Some(http) = sub.http() {
                m.serialize_entry("http", &HttpView(http))?;
            }
            if let Some(aws) = sub.aws().filter(|a| !a.is_empty()) {
                m.serialize_entry("aws", &AwsView(aws))?;
            }
            if let Some(sql) = sub.sql() {
                m.serialize_entry("sql", sql)?;
            }
            if !sub.precursor_ids().is_empty() {
                m.serialize_entry("precursor_ids", &Ids(sub.precursor_ids()))?;
            }
            if self.nested && !sub.subsegments.is_empty() {
                m.serialize_entry("subsegments", &Children(&sub.subsegments))?;
            }
            m.end()
        }
    }

    struct Ids<'a>(&'a [SegmentId]);

    impl Serialize for Ids<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(SegmentId::as_str))
        }
    }

    struct Children<'a>(&'a [Subsegment]);

    impl Serialize for Children<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|c| View { sub: c, top: None, nested: true, in_progress: false }))
        }
    }

    struct HttpView<'a>(&'a Http);

    impl Serialize for HttpView<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            #[derive(Serialize)]
            struct Req<'a> {
                #[serde(skip_serializing_if = "Option::is_none")]
                method: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                url: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                user_agent: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                client_ip: Option<&'a str>,
                #[serde(skip_serializing_if = "std::ops::Not::not")]
                traced: bool,
            }
            #[derive(Serialize)]
            struct Resp {
                #[serde(skip_serializing_if = "Option::is_none")]
                status: Option<u16>,
                #[serde(skip_serializing_if = "Option::is_none")]
                content_length: Option<u64>,
            }
            let h = self.0;
            let mut m = s.serialize_map(None)?;
            if h.request_method.is_some()
                || h.request_url.is_some()
                || h.request_user_agent.is_some()
                || h.request_client_ip.is_some()
                || h.request_traced
            {
                m.serialize_entry(
                    "request",
                    &Req {
                        method: h.request_method.as_deref(),
                        url: h.request_url.as_deref(),
                        user_agent: h.request_user_agent.as_deref(),
                        client_ip: h.request_client_ip.as_deref(),
                        traced: h.request_traced,
                    },
                )?;
            }
            if h.response_status.is_some() || h.response_content_length.is_some() {
                m.serialize_entry(
                    "response",
                    &Resp { status: h.response_status, content_length: h.response_content_length },
                )?;
            }
            m.end()
        }
    }

    struct AwsView<'a>(&'a AwsData);

    impl Serialize for AwsView<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let a = self.0;
            let mut m = s.serialize_map(None)?;
            for (k, v) in [
                ("operation", &a.operation),
                ("region", &a.region),
                ("request_id", &a.request_id),
                ("table_name", &a.table_name),
                ("queue_url", &a.queue_url),
                ("account_id", &a.account_id),
            ] {
                if let Some(v) = v {
                    m.serialize_entry(k, v)?;
                }
            }
            m.end()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (TraceId, SegmentId) {
        ("1-5759e988-bd862e3fe1be46a994272793".parse().unwrap(), "53995c3f42cd8ad8".parse().unwrap())
    }

    #[test]
    fn times_have_microsecond_precision() {
        assert_eq!(json::seconds(1_700_000_000_123_456), 1_700_000_000.123456);
        let (t, p) = ids();
        let mut s = Subsegment::new(SegmentId::from_u64(2).unwrap(), "x", 1_700_000_000_123_456);
        s.set_end_micros(1_700_000_000_123_457);
        let json = SegmentDocument::new(&t, &p, &s).to_json();
        assert!(json.contains(r#""start_time":1700000000.123456,"end_time":1700000000.123457"#), "{json}");
    }

    #[test]
    fn full_document_shape() {
        let (t, p) = ids();
        let mut root = Subsegment::new(SegmentId::from_u64(0xa).unwrap(), "HandleConnect", 1_000_000);
        root.put_annotation("tenant_id", "t-1".into());
        root.put_annotation("cold_start", true.into());
        root.put_metadata("default", "message", serde_json::json!({"type": "auth", "size": 12}));
        let mut child = Subsegment::new(SegmentId::from_u64(0xb).unwrap(), "DynamoDB", 1_100_000);
        child.set_namespace(Namespace::Aws);
        child.set_aws(AwsData { operation: Some("PutItem".into()), ..Default::default() });
        child.set_http(Http::default().status(400));
        child.add_flags(Flags::from_http_status(400));
        child.set_end_micros(1_200_000);
        root.push_child(child);
        let mut query = Subsegment::new(SegmentId::from_u64(0xc).unwrap(), "Query", 1_200_000);
        query.set_namespace(Namespace::Remote);
        query.set_sql(Sql {
            database_type: Some("PostgreSQL".into()),
            preparation: Some("statement".into()),
            ..Default::default()
        });
        query.add_precursor(SegmentId::from_u64(0xb).unwrap());
        query.set_http(Http::default().method("POST").client_ip("10.0.0.1").traced(true));
        query.set_end_micros(1_300_000);
        root.push_child(query);
        root.set_end_micros(2_000_000);
        let v: serde_json::Value = serde_json::from_str(&SegmentDocument::new(&t, &p, &root).to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "subsegment", "id": "000000000000000a", "trace_id": t.as_str(), "parent_id": p.as_str(),
                "name": "HandleConnect", "start_time": 1.0, "end_time": 2.0,
                "annotations": {"cold_start": true, "tenant_id": "t-1"},
                "metadata": {"default": {"message": {"size": 12, "type": "auth"}}},
                "subsegments": [{
                    "id": "000000000000000b", "name": "DynamoDB", "start_time": 1.1, "end_time": 1.2,
                    "namespace": "aws", "error": true,
                    "http": {"response": {"status": 400}}, "aws": {"operation": "PutItem"}
                }, {
                    "id": "000000000000000c", "name": "Query", "start_time": 1.2, "end_time": 1.3, "namespace": "remote",
                    "http": {"request": {"method": "POST", "client_ip": "10.0.0.1", "traced": true}},
                    "sql": {"database_type": "PostgreSQL", "preparation": "statement"},
                    "precursor_ids": ["000000000000000b"]
                }]
            })
        );
    }

    /// A tree using every field, with awkward strings and numbers.
    fn everything() -> Subsegment {
        let mut root =
            Subsegment::new(SegmentId::from_u64(0xa).unwrap(), "Handle \u{e9}\u{6771}", 1_700_000_000_123_456);
        root.put_annotation("tenant_id", "t-\"1\"\\\n\u{1}\u{7f}".into());
        root.put_annotation("cold_start", true.into());
        root.put_annotation("count", (-42_i64).into());
        root.put_annotation("ratio", 0.1.into());
        root.put_annotation("big", u64::MAX.into());
        root.put_annotation("bad", AnnotationValue::Float(f64::NAN));
        root.put_metadata(
            "default",
            "message",
            serde_json::json!({"type": "auth", "size": 12, "f": 1.5e-7, "n": null}),
        );
        root.put_metadata("default", "a", serde_json::json!([1, "x\ty", false]));
        root.put_metadata("streamer-connect", "HandleConnect response", serde_json::json!(2));
        root.add_flags(Flags { error: true, fault: true, throttle: true });
        root.set_cause(Cause::Ref(SegmentId::from_u64(0xdd).unwrap()));
        let mut child = Subsegment::new(SegmentId::from_u64(0xb).unwrap(), "DynamoDB", 1_100_000);
        child.set_namespace(Namespace::Aws);
        child.set_aws(AwsData {
            operation: Some("PutItem".into()),
            region: Some("eu-west-1".into()),
            request_id: Some("r".into()),
            table_name: Some("t".into()),
            queue_url: Some("q".into()),
            account_id: Some("1".into()),
        });
        child.set_http(Http::default().status(400).content_length(12));
        child.set_end_micros(1_200_000);
        root.push_child(child);
        let mut query = Subsegment::new(SegmentId::from_u64(0xc).unwrap(), "Query", 5);
        query.set_namespace(Namespace::Remote);
        query.set_sql(Sql {
            database_type: Some("PostgreSQL".into()),
            preparation: Some("statement".into()),
            ..Default::default()
        });
        query.add_precursor(SegmentId::from_u64(0xb).unwrap());
        query.add_precursor(SegmentId::from_u64(0xe).unwrap());
        query.set_http(Http::default().method("POST").url("u").user_agent("a").client_ip("10.0.0.1").traced(true));
        query.push_child(Subsegment::new(SegmentId::from_u64(0xf).unwrap(), "Open", 7));
        root.push_child(query);
        let mut only_traced = Subsegment::new(SegmentId::from_u64(0x10).unwrap(), "T", 1);
        only_traced.set_http(Http::default().traced(true).content_length(3));
        only_traced.set_aws(AwsData::default());
        only_traced.set_end_micros(u64::MAX);
        root.push_child(only_traced);
        let mut empty_http = Subsegment::new(SegmentId::from_u64(0x11).unwrap(), "(!)", 1);
        empty_http.set_http(Http::default());
        empty_http.set_end_micros(0);
        root.push_child(empty_http);
        root.set_end_micros(1_700_000_002_000_000);
        root
    }

    #[test]
    fn hand_written_json_equals_the_serde_form_byte_for_byte() {
        let (t, p) = ids();
        let root = everything();
        let check = |sub: &Subsegment, top: Option<(&TraceId, &SegmentId)>, nested: bool, in_progress: bool| {
            let mut hand = Vec::new();
            write_sub(&mut hand, NodeRef::Owned(sub), top, nested, in_progress);
            let serde = reference::write(sub, top, nested, in_progress);
            assert_eq!(String::from_utf8(hand).unwrap(), String::from_utf8(serde).unwrap());
        };
        for top in [Some((&t, &p)), None] {
            for (nested, in_progress) in [(true, false), (false, false), (false, true)] {
                check(&root, top, nested, in_progress);
                for child in &root.subsegments {
                    check(child, top, nested, in_progress);
                }
            }
        }
        let mut v: serde_json::Value = serde_json::from_str(&SegmentDocument::new(&t, &p, &root).to_json()).unwrap();
        assert_eq!(v["annotations"]["bad"], 0);
        assert_eq!(
            v["subsegments"][2]["http"],
            serde_json::json!({"request": {"traced": true}, "response": {"content_length": 3}})
        );
        assert!(v["subsegments"][3]["http"].as_object().unwrap().is_empty());
        assert!(v.as_object_mut().unwrap().remove("cause").is_some());
    }

    #[test]
    fn annotations_written_from_one_block_equal_the_serde_form() {
        // Keys inline (up to 22 bytes) and on the heap; string values of every inline
        // length with and without bytes to escape, non-ASCII, past the inline limit, and
        // the other value types, alone and after another annotation.
        let keys = ["k", "tenant_id", "connection_id_abcdefgh", "connection_id_abcdefghi", &"k".repeat(500)];
        let mut values: Vec<AnnotationValue> = Vec::new();
        for len in 0..=24 {
            let plain: String = "abcdefghijklmnopqrstuvwxyz".chars().cycle().take(len).collect();
            values.push(plain.as_str().into());
            for special in ['"', '\\', '\n', '\u{1}', '\u{7f}', 'é', ' '] {
                for pos in [0, len / 2, len] {
                    let mut v: Vec<char> = plain.chars().collect();
                    v.insert(pos.min(v.len()), special);
                    values.push(v.into_iter().collect::<String>().into());
                }
            }
        }
        values.extend([true.into(), false.into(), 0.into(), (-7).into(), i64::MIN.into(), 1.5.into(), 1e300.into()]);
        values.push("東京".repeat(400).into());
        let (t, p) = ids();
        for key in keys {
            for value in &values {
                let mut sub = Subsegment::new(SegmentId::from_u64(1).unwrap(), "A", 0);
                sub.annotate(key, value.clone()).unwrap();
                let mut hand = Vec::new();
                write_sub(&mut hand, NodeRef::Owned(&sub), Some((&t, &p)), true, false);
                assert_eq!(hand, reference::write(&sub, Some((&t, &p)), true, false), "{key} {value:?}");
                sub.annotate("a_first", value.clone()).unwrap();
                let mut hand = Vec::new();
                write_sub(&mut hand, NodeRef::Owned(&sub), None, true, false);
                assert_eq!(hand, reference::write(&sub, None, true, false), "{key} {value:?}");
            }
        }
    }

    /// `sub` flattened into an arena as the recorder keeps it (children linked, not nested).
    fn flatten(sub: &Subsegment, nodes: &mut Vec<Node>) -> u32 {
        let mut own = sub.clone();
        own.subsegments.clear();
        let idx = nodes.len() as u32;
        nodes.push(Node::new(own, NO_NODE, SegmentId::from_u64(1).unwrap()));
        let mut prev = NO_NODE;
        for child in &sub.subsegments {
            let c = flatten(child, nodes);
            nodes[c as usize].parent_idx = idx;
            if prev == NO_NODE {
                nodes[idx as usize].first_child = c;
            } else {
                nodes[prev as usize].next_sibling = c;
            }
            nodes[idx as usize].last_child = c;
            prev = c;
        }
        idx
    }

    #[test]
    fn recorded_trees_write_the_same_bytes_as_owned_ones() {
        let (t, p) = ids();
        let root = everything();
        let mut nodes = Vec::new();
        let idx = flatten(&root, &mut nodes);
        let linked = NodeRef::Linked(&nodes, &nodes[idx as usize]);
        assert_eq!(linked.children().count(), root.subsegments.len());
        for top in [Some((&t, &p)), None] {
            for (nested, in_progress) in [(true, false), (false, false), (false, true)] {
                let mut hand = Vec::new();
                write_sub(&mut hand, linked, top, nested, in_progress);
                assert_eq!(
                    String::from_utf8(hand).unwrap(),
                    String::from_utf8(reference::write(&root, top, nested, in_progress)).unwrap()
                );
            }
        }
        // The split form: the parent with only some children nested.
        let kept: Vec<_> = linked.children().skip(1).step_by(2).collect();
        let mut split = Vec::new();
        SegmentDocument::of(&t, &p, linked, false).write_with_children(&mut split, &kept);
        let mut expected = root.clone();
        expected.subsegments = root.subsegments.iter().skip(1).step_by(2).cloned().collect();
        assert_eq!(split, reference::write(&expected, Some((&t, &p)), true, false));
        assert!(SegmentDocument::of(&t, &p, linked, false).subsegment().subsegments().is_empty());
    }

    #[test]
    fn open_subsegments_are_written_in_progress() {
        let (t, p) = ids();
        let s = Subsegment::new(SegmentId::generate(), "Open", 5);
        let json = SegmentDocument::new(&t, &p, &s).to_json();
        assert!(json.contains(r#""in_progress":true"#) && !json.contains("end_time"));
    }

    #[test]
    fn strings_are_cut_to_250() {
        let h = Http::default().url("u".repeat(300));
        assert_eq!(h.request_url.unwrap().len(), 250);
    }
}
