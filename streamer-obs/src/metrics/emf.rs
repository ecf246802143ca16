//! The EMF encoder: pure and deterministic. A [`MetricSet`] and a timestamp in, compact
//! one-line JSON documents out (each ending in `\n`). All limits are enforced here, in
//! one place:
//!
//! - at most [`MAX_METRICS_PER_DOCUMENT`] metric definitions per document (E-13);
//! - at most [`MAX_VALUES_PER_METRIC`] values per metric: longer series are sliced in
//!   order, the later slices going into further documents (E-11, E-23);
//! - every document carries the full `_aws` block, the dimension values of its directives
//!   (only those: a context's values go into the documents of its metrics), and the
//!   properties; no document has an empty `Metrics` array; no metric appears twice in a
//!   document; metrics whose dimension values conflict go into separate documents;
//! - no line exceeds [`MAX_LINE_BYTES`] (256 KB, E-14), dimension members included:
//!   contexts share a document only while their directives and dimension values fit in
//!   one line; in a line still too large, the properties and the dimension values that no
//!   dimension set of the document names (they are only properties, E-5, E-8) are trimmed
//!   first (largest first, reported in [`EncodeReport::trimmed_properties`] so the caller
//!   logs a warning), then the metrics are split over more documents, then the dimension
//!   sets of a directive (each set is its own CloudWatch metric, so every value still
//!   reaches every set once); a metric that does not fit even alone with one set is left
//!   out, reported in [`EncodeReport::dropped_metrics`] (the publisher logs them in one
//!   warning; it cannot happen
//!   with the names and values the set accepts: one set and one metric take under 100 KB);
//! - `StorageResolution` is written only when it is 1; `Unit` always; `Timestamp` is an
//!   integer; keys are sorted; a single value is a number, several an array.
//!
//! An empty set produces no document at all.
//!
//! ```
//! use streamer_obs::metrics::{emf, MetricSet, Namespace, Unit};
//! let mut set = MetricSet::new(Namespace::streamer());
//! set.add("Hits", Unit::Count, 1.0).unwrap();
//! let mut out = Vec::new();
//! let report = emf::encode(&set, 1_700_000_000_000, &mut out);
//! assert_eq!(report.documents, 1);
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     "{\"Hits\":1,\"_aws\":{\"CloudWatchMetrics\":[{\"Dimensions\":[[]],\"Metrics\":[{\"Name\":\"Hits\",\"Unit\":\"Count\"}],\"Namespace\":\"Streamer\"}],\"Timestamp\":1700000000000}}\n"
//! );
//! ```

use std::sync::Arc;

use smallvec::SmallVec;

use super::dimension::{DimensionValue, Dimensions};
use super::name::{DimensionName, MetricName};
use super::set::{Base, Entry, MetricSet, Values};
use super::unit::{StorageResolution, Unit};

/// At most 100 metric definitions per document (E-13).
///
/// ```
/// assert_eq!(streamer_obs::metrics::emf::MAX_METRICS_PER_DOCUMENT, 100);
/// ```
pub const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// At most 100 values per metric in one document (E-11).
///
/// ```
/// assert_eq!(streamer_obs::metrics::emf::MAX_VALUES_PER_METRIC, 100);
/// ```
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// At most 256 KB per line (E-14, the conservative value).
///
/// ```
/// assert_eq!(streamer_obs::metrics::emf::MAX_LINE_BYTES, 262_144);
/// ```
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// What [`encode`] did.
///
/// ```
/// let r = streamer_obs::metrics::emf::EncodeReport::default();
/// assert_eq!(r.documents, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodeReport {
    /// Documents (lines) written.
    pub documents: usize,
    /// Property keys left out of at least one document to stay under [`MAX_LINE_BYTES`],
    /// and dimension keys whose value was left out of a document none of whose dimension
    /// sets names them (such a value is only a property of the line, E-5, E-8).
    pub trimmed_properties: Vec<String>,
    /// Property keys left out because a dimension or metric of the document has that name.
    pub shadowed_properties: Vec<String>,
    /// Metrics left out of the output (some or all of their values): even alone, with one
    /// dimension set and no property, their document would exceed [`MAX_LINE_BYTES`].
    /// [`EmfPublisher`](crate::metrics::EmfPublisher) logs them in one warning. Empty for
    /// every set [`MetricSet`] accepts.
    pub dropped_metrics: Vec<String>,
}

type Dim<'a> = (&'a DimensionName, &'a DimensionValue);
type Dims<'a> = Vec<Dim<'a>>;

struct Group<'a> {
    dims: Dims<'a>,
    contexts: Vec<usize>,
    names: Vec<&'a MetricName>,
    /// The bytes of the group's directives (without their metrics) and dimension members
    /// (see [`context_bytes`]).
    bytes: usize,
}

impl<'a> Group<'a> {
    fn accepts(&self, dims: &Dims<'a>, names: &[&'a MetricName]) -> bool {
        for (k, v) in dims {
            if self.names.iter().any(|n| n.as_str() == k.as_str()) {
                return false;
            }
            if let Some((_, gv)) = self.dims.iter().find(|(gk, _)| gk == k)
                && gv != v
            {
                return false;
            }
        }
        for n in names {
            if self.names.contains(n) || self.dims.iter().any(|(k, _)| k.as_str() == n.as_str()) {
                return false;
            }
        }
        true
    }

    /// What `dims` with a directive of `directive` bytes add to the group's size.
    fn added_bytes(&self, dims: &Dims<'a>, directive: usize) -> usize {
        directive
            + dims.iter().filter(|(k, _)| !self.dims.iter().any(|(gk, _)| gk == k)).map(member_bytes).sum::<usize>()
    }

    fn absorb(&mut self, context: usize, dims: Dims<'a>, names: Vec<&'a MetricName>) {
        if self.dims.is_empty() {
            self.dims = dims;
        } else {
            for (k, v) in dims {
                if !self.dims.iter().any(|(gk, _)| *gk == k) {
                    self.dims.push((k, v));
                }
            }
        }
        self.contexts.push(context);
        if self.names.is_empty() {
            self.names = names;
        } else {
            self.names.extend(names);
        }
    }

    fn doc(&self) -> Doc<'_, 'a> {
        Doc { dims: &self.dims, contexts: &self.contexts, sets: None }
    }
}

/// What the documents of one group share: the root dimension values and the contexts
/// (one directive each, in order). A document writes the directives of the contexts of
/// its metrics and their dimension values only.
#[derive(Clone, Copy)]
struct Doc<'g, 'a> {
    dims: &'g [Dim<'a>],
    contexts: &'g [usize],
    /// A directive split over documents: `(context, start, end)`, the range of the
    /// context's declared dimension sets this document writes.
    sets: Option<(usize, usize, usize)>,
}

impl Doc<'_, '_> {
    /// The range of `context`'s declared sets (`count` of them) this document writes.
    fn set_range(&self, context: usize, count: usize) -> (usize, usize) {
        match self.sets {
            Some((c, start, end)) if c == context => (start, end),
            _ => (0, count),
        }
    }
}

/// The bytes of a JSON string with `s` in it: exact for the ASCII text without control
/// characters that names and dimension values are.
fn json_len(s: &str) -> usize {
    s.len() + 2 + s.bytes().filter(|b| matches!(b, b'"' | b'\\')).count()
}

/// The bytes of a dimension member, its separator included.
fn member_bytes((k, v): &Dim<'_>) -> usize {
    json_len(k.as_str()) + json_len(v.as_str()) + 2
}

/// The bytes of a context's directive without its metrics (dimension sets, namespace,
/// the fixed text), its separator included.
fn context_bytes(set: &MetricSet, context: usize, dims: &Dims<'_>) -> usize {
    let key_set =
        |keys: &mut dyn Iterator<Item = &DimensionName>| keys.map(|k| json_len(k.as_str()) + 1).sum::<usize>() + 2;
    let ctx = set.context(context);
    let sets = if ctx.has_sets() {
        ctx.sets().map(|s| key_set(&mut s.iter())).sum::<usize>()
    } else {
        key_set(&mut dims.iter().map(|(k, _)| *k))
    };
    // `{"Dimensions":[`, `],"Metrics":[`, `],"Namespace":`, `}` and a comma.
    sets + json_len(set.namespace().as_str()) + 44
}

/// The bytes of a document besides its directives and members: `{"_aws":{`,
/// `"CloudWatchMetrics":[`, `],"Timestamp":` and the longest timestamp, `}}` and the
/// newline.
const DOCUMENT_BYTES: usize = 72;

/// One metric of one document: the entry and the slice of its values.
#[derive(Clone, Copy)]
struct Item<'a> {
    entry: &'a Entry,
    values: &'a [f64],
}

/// Runs `f` on `n` copies of `filler`: on the stack when `n <= N`, else in a vector.
fn scratch<T: Copy, R, const N: usize>(n: usize, filler: T, f: impl FnOnce(&mut [T]) -> R) -> R {
    if n <= N {
        let mut inline = [filler; N];
        f(&mut inline[..n])
    } else {
        f(&mut vec![filler; n])
    }
}

/// Encodes `set` as EMF lines appended to `out`, with `_aws.Timestamp` = the set's
/// explicit timestamp or `now_ms`.
///
/// ```
/// use streamer_obs::metrics::{emf, MetricSet, Namespace, Unit};
/// let mut set = MetricSet::new(Namespace::streamer());
/// for i in 0..150 {
///     set.add(format!("M{i}"), Unit::Count, 1.0).unwrap();
/// }
/// let mut out = Vec::new();
/// assert_eq!(emf::encode(&set, 0, &mut out).documents, 2);
/// assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 2);
/// ```
pub fn encode(set: &MetricSet, now_ms: u64, out: &mut Vec<u8>) -> EncodeReport {
    let mut report = EncodeReport::default();
    if set.is_empty() {
        return report;
    }
    let timestamp = set.timestamp_ms().unwrap_or(now_ms);
    if !encode_one_context(set, timestamp, out, &mut report) {
        encode_general(set, timestamp, out, &mut report, MAX_LINE_BYTES);
    }
    finish_report(&mut report);
    report
}

/// Sorts the report's lists and removes repeats.
fn finish_report(report: &mut EncodeReport) {
    for list in [&mut report.trimmed_properties, &mut report.shadowed_properties, &mut report.dropped_metrics] {
        list.sort();
        list.dedup();
    }
}

/// The common case without intermediate vectors: every metric in one dimension context,
/// at most [`MAX_METRICS_PER_DOCUMENT`] metrics of at most [`MAX_VALUES_PER_METRIC`]
/// values. Then the general algorithm makes one group and one chunk of every metric,
/// sorted by name; this writes the same. Returns `false` (having written nothing) for
/// any other set.
fn encode_one_context(set: &MetricSet, timestamp: u64, out: &mut Vec<u8>, report: &mut EncodeReport) -> bool {
    let Some(context) = one_context(set) else { return false };
    let entries = set.entries();
    with_context_dimensions(set, context, |dims| {
        if set.properties().is_empty() {
            // No property: nothing to shadow or trim, so one document of every metric
            // unless it is too large.
            let start = out.len();
            render_without_properties(set, context, dims, timestamp, out, None);
            if out.len() - start <= MAX_LINE_BYTES {
                report.documents += 1;
                return;
            }
            out.truncate(start);
        }
        let filler = Item { entry: &entries[0], values: &[] };
        scratch::<_, _, 16>(entries.len(), filler, |items| {
            for (item, e) in items.iter_mut().zip(entries) {
                *item = Item { entry: e, values: e.values.as_slice() };
            }
            // Stable, as in the general path (names are unique within a context anyway).
            items.sort_by(|a, b| key_cmp(a.entry.name.as_str(), b.entry.name.as_str()));
            let doc = Doc { dims, contexts: std::slice::from_ref(&context), sets: None };
            Lines { set, timestamp, limit: MAX_LINE_BYTES, out, report }.write_sized(doc, items);
        });
    });
    true
}

/// The context of every metric of a non-empty `set` when they all share one, there are
/// at most [`MAX_METRICS_PER_DOCUMENT`] of them and none has more than
/// [`MAX_VALUES_PER_METRIC`] values (one document holds them all).
fn one_context(set: &MetricSet) -> Option<usize> {
    let entries = set.entries();
    let context = entries.first()?.context;
    let fits = entries.len() <= MAX_METRICS_PER_DOCUMENT
        && entries.iter().all(|e| e.context == context && e.values.as_slice().len() <= MAX_VALUES_PER_METRIC);
    fits.then_some(context)
}

/// Runs `f` on the dimension values of `context` (see
/// `MetricSet::for_each_context_dimension`), collected on the stack.
fn with_context_dimensions<R>(set: &MetricSet, context: usize, f: impl FnOnce(&[Dim<'_>]) -> R) -> R {
    let bound = set.default_dimensions().len() + set.context(context).values().len();
    let dim_filler: Dim<'_> = (&PLACEHOLDER_NAME, &PLACEHOLDER_VALUE);
    scratch::<_, _, 8>(bound, dim_filler, |dims| {
        let mut len = 0;
        set.for_each_context_dimension(context, |k, v| {
            dims[len] = (k, v);
            len += 1;
        });
        f(&dims[..len])
    })
}

/// A root member of [`render_without_properties`]: its sort key (see [`Keyed`]) and what
/// it is (`0`: `_aws`; `1..=dims`: a dimension; then the metrics).
#[derive(Clone, Copy)]
struct Slot<'a> {
    prefix: u64,
    key: &'a str,
    at: usize,
}

impl Slot<'_> {
    #[inline]
    fn after(&self, other: &Self) -> bool {
        self.prefix > other.prefix || (self.prefix == other.prefix && self.key.as_bytes() > other.key.as_bytes())
    }
}

/// The first 8 bytes of `key`, big-endian, zero padded: ordered like the keys whenever
/// they differ there.
#[inline]
fn key_prefix(key: &str) -> u64 {
    let b = key.as_bytes();
    match b.first_chunk::<8>() {
        Some(head) => u64::from_be_bytes(*head),
        None => {
            let mut w = [0u8; 8];
            w[..b.len()].copy_from_slice(b);
            u64::from_be_bytes(w)
        }
    }
}

/// Where a [`Template`] leaves a gap: `(offset in the document, what goes there)`, with
/// [`TIMESTAMP`] or the index of a metric in the set's recording order.
type Holes = SmallVec<[(u32, u32); 9]>;

/// The hole of the timestamp.
const TIMESTAMP: u32 = u32::MAX;

/// What [`render`] writes for one context and no property, without its member table
/// (the root members sorted by an insertion sort on 8-byte prefixes). With `holes`, the
/// values and the timestamp are left out and their offsets (from the document's start)
/// recorded instead.
fn render_without_properties(
    set: &MetricSet,
    context: usize,
    dims: &[Dim<'_>],
    timestamp: u64,
    out: &mut Vec<u8>,
    mut holes: Option<&mut Holes>,
) {
    let entries = set.entries();
    let start = out.len();
    let n = 1 + dims.len() + entries.len();
    scratch::<_, _, 16>(n, Slot { prefix: 0, key: "", at: 0 }, |slots| {
        slots[0] = Slot { prefix: key_prefix("_aws"), key: "_aws", at: 0 };
        let keys = dims.iter().map(|(k, _)| k.as_str()).chain(entries.iter().map(|e| e.name.as_str()));
        for (i, key) in keys.enumerate() {
            let slot = Slot { prefix: key_prefix(key), key, at: i + 1 };
            // Insertion sort (stable: an equal key stays after the earlier one).
            let mut j = i + 1;
            while j > 0 && slots[j - 1].after(&slot) {
                slots[j] = slots[j - 1];
                j -= 1;
            }
            slots[j] = slot;
        }
        out.push(b'{');
        for (i, slot) in slots.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if slot.at == 0 {
                out.extend_from_slice(b"\"_aws\":");
                write_aws_one(set, context, dims, slots, out);
                match holes.as_deref_mut() {
                    Some(holes) => holes.push(((out.len() - start) as u32, TIMESTAMP)),
                    None => write_u64(out, timestamp),
                }
                out.push(b'}');
            } else if slot.at <= dims.len() {
                let (k, v) = dims[slot.at - 1];
                write_key(out, k.as_str());
                write_str(out, v.as_str());
            } else {
                let at = slot.at - 1 - dims.len();
                write_key(out, entries[at].name.as_str());
                match holes.as_deref_mut() {
                    Some(holes) => holes.push(((out.len() - start) as u32, at as u32)),
                    None => write_values(out, entries[at].values.as_slice()),
                }
            }
        }
        out.extend_from_slice(b"}\n");
    });
}

/// The `_aws` member of [`render_without_properties`] up to the timestamp's value: one
/// directive, the metrics in the order of the sorted root members.
fn write_aws_one(set: &MetricSet, context: usize, dims: &[Dim<'_>], slots: &[Slot<'_>], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"CloudWatchMetrics\":[{\"Dimensions\":[");
    let ctx = set.context(context);
    if !ctx.has_sets() {
        // The default set: every default key, then the metric's own keys (the order of
        // the context's dimensions).
        write_key_set(out, dims.iter().map(|(k, _)| *k));
    } else {
        write_declared_sets(out, ctx);
    }
    out.extend_from_slice(b"],\"Metrics\":[");
    let entries = set.entries();
    let mut first = true;
    for slot in slots.iter().filter(|s| s.at > dims.len()) {
        let e = &entries[slot.at - 1 - dims.len()];
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(b"{\"Name\":");
        write_str(out, e.name.as_str());
        if e.resolution == StorageResolution::High {
            out.extend_from_slice(b",\"StorageResolution\":1");
        }
        out.extend_from_slice(b",\"Unit\":\"");
        // Unit names are plain ASCII (tested): no escaping to consider.
        out.extend_from_slice(e.unit.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"],\"Namespace\":");
    write_str(out, set.namespace().as_str());
    out.extend_from_slice(b"}],\"Timestamp\":");
}

/// One dimension set: `["key",...]`.
fn write_key_set<'a>(out: &mut Vec<u8>, keys: impl Iterator<Item = &'a DimensionName>) {
    out.push(b'[');
    for (j, key) in keys.enumerate() {
        if j > 0 {
            out.push(b',');
        }
        write_str(out, key.as_str());
    }
    out.push(b']');
}

/// The dimension sets a context declares: `[...],[...]`.
fn write_declared_sets(out: &mut Vec<u8>, ctx: &Dimensions) {
    for (s, dset) in ctx.sets().enumerate() {
        if s > 0 {
            out.push(b',');
        }
        write_key_set(out, dset.iter());
    }
}

fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

/// The layout of one document, rendered once: the bytes with the values and the
/// timestamp left out, and what the set must hold for them to be its document (namespace
/// and default dimensions, one dimension context, the metrics' names, units and
/// resolutions in recording order, no property). An invocation of the same handler
/// records the same metrics, so its document is this one with its own values.
#[derive(Debug)]
struct Template {
    base: Arc<Base>,
    context: usize,
    /// The context's dimensions: the set's shared copy (context 0: an empty one).
    dims: Arc<Dimensions>,
    metrics: SmallVec<[(MetricName, Unit, StorageResolution); 8]>,
    bytes: Vec<u8>,
    holes: Holes,
}

impl Template {
    /// The template of `set` when it has one: one context, at most
    /// [`MAX_METRICS_PER_DOCUMENT`] metrics of at most [`MAX_VALUES_PER_METRIC`] values,
    /// no property.
    fn of(set: &MetricSet) -> Option<Template> {
        if !set.properties().is_empty() {
            return None;
        }
        let context = one_context(set)?;
        let mut bytes = Vec::new();
        let mut holes = Holes::new();
        with_context_dimensions(set, context, |dims| {
            render_without_properties(set, context, dims, 0, &mut bytes, Some(&mut holes));
        });
        Some(Template {
            base: Arc::clone(set.base()),
            context,
            dims: set.shared_context(context).cloned().unwrap_or_default(),
            metrics: set.entries().iter().map(|e| (e.name.clone(), e.unit, e.resolution)).collect(),
            bytes,
            holes,
        })
    }

    /// Whether `set`'s document is this one (values and timestamp aside).
    fn fits(&self, set: &MetricSet) -> bool {
        let entries = set.entries();
        entries.len() == self.metrics.len()
            && set.properties().is_empty()
            && entries.iter().zip(&self.metrics).all(|(e, (name, unit, resolution))| {
                e.context == self.context
                    && e.unit == *unit
                    && e.resolution == *resolution
                    && e.name == *name
                    && e.values.as_slice().len() <= MAX_VALUES_PER_METRIC
            })
            // Context 0 is the defaults alone in every set: nothing to compare.
            && (self.context == 0 || fits_context(set.context(self.context), &self.dims))
            && (Arc::ptr_eq(&self.base, set.base()) || *self.base == **set.base())
    }

    /// Writes `set`'s document (it [`fits`](Self::fits)): the layout's bytes between the
    /// holes, the values and the timestamp in them. Room for the line with one value per
    /// hole is reserved first, so that no copy below grows the buffer in the usual case.
    fn write(&self, set: &MetricSet, timestamp: u64, clock: &mut TimestampText, out: &mut Vec<u8>) {
        let entries = set.entries();
        out.reserve(self.bytes.len() + self.holes.len() * MAX_NUMBER_LEN);
        let mut rest = &self.bytes[..];
        let mut at = 0;
        for &(hole, what) in &self.holes {
            let (segment, tail) = rest.split_at(hole as usize - at);
            out.extend_from_slice(segment);
            rest = tail;
            at = hole as usize;
            match entries.get(what as usize).map(|e| &e.values) {
                Some(Values::One(v)) => write_f64(out, *v),
                Some(Values::Many(values)) => write_array(out, values),
                None => clock.write(out, timestamp),
            }
        }
        out.extend_from_slice(rest);
    }
}

/// Whether a set's context is a layout's: the same shared copy (the base's known context,
/// see `MetricSet::shared_context`), else equal.
#[inline]
fn fits_context(context: &Dimensions, known: &Dimensions) -> bool {
    std::ptr::eq(context, known) || context.same_as(known)
}

/// The longest text of one value (`-2.2250738585072014e-308`, 24 bytes) or timestamp.
const MAX_NUMBER_LEN: usize = 24;

/// A timestamp's text, its seconds remembered: documents written within the same second
/// (every invocation of a busy function) copy the digits of the seconds and format only
/// the three of the milliseconds after them. The same text as the integer's.
#[derive(Debug, Default)]
struct TimestampText {
    /// The seconds of the text (0: none yet; a timestamp below a second has no seconds
    /// digits and is formatted whole).
    seconds: u64,
    /// The seconds' digits (at most 20).
    digits: [u8; 20],
    /// How many digits the seconds have.
    len: usize,
}

impl TimestampText {
    #[inline]
    fn write(&mut self, out: &mut Vec<u8>, timestamp_ms: u64) {
        let (seconds, ms) = (timestamp_ms / 1000, timestamp_ms % 1000);
        if seconds == 0 {
            push_u64(out, ms);
            return;
        }
        if seconds != self.seconds {
            let mut buf = itoa::Buffer::new();
            let text = buf.format(seconds).as_bytes();
            self.digits[..text.len()].copy_from_slice(text);
            self.len = text.len();
            self.seconds = seconds;
        }
        // The seconds' digits, written when they changed (long since, as a rule), then the
        // milliseconds' written in place: nothing just written is read back (see
        // `write_block`).
        out.extend_from_slice(&self.digits[..self.len]);
        let ms = ms as u32;
        crate::write_block::write_block::<3>(out, |d| {
            *d = [b'0' + (ms / 100) as u8, b'0' + (ms / 10 % 10) as u8, b'0' + (ms % 10) as u8];
            3
        });
    }
}

/// How many document layouts an [`Encoder`] keeps.
const TEMPLATES: usize = 4;

/// [`encode`] with memory: it keeps the layout of the last few single documents it wrote
/// (a [`Template`] each), so the next set with the same metrics is written by copying the
/// layout and formatting only the values: the same bytes, a fraction of the work. A
/// publisher keeps one behind its lock.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    templates: Vec<Template>,
    /// The template replaced next when all slots are taken.
    next: usize,
    /// The text of the last timestamp's seconds.
    clock: TimestampText,
}

impl Encoder {
    /// What [`encode`] writes and reports.
    #[cfg(test)]
    pub(crate) fn encode(&mut self, set: &MetricSet, now_ms: u64, out: &mut Vec<u8>) -> EncodeReport {
        match self.encode_single(set, now_ms, out) {
            Some(documents) => EncodeReport { documents, ..EncodeReport::default() },
            None => encode(set, now_ms, out),
        }
    }

    /// [`encode`](Self::encode) when its report could only say how many documents were
    /// written (no property trimmed or shadowed): that number; `None` (having written
    /// nothing) for any other set, which [`encode`] then writes. An empty set is `Some(0)`.
    /// The publisher's common path: no report to build and drop.
    #[inline]
    pub(crate) fn encode_single(&mut self, set: &MetricSet, now_ms: u64, out: &mut Vec<u8>) -> Option<usize> {
        if set.is_empty() {
            return Some(0);
        }
        let i = match self.templates.iter().position(|t| t.fits(set)) {
            Some(i) => i,
            None => self.keep(Template::of(set)?),
        };
        let start = out.len();
        self.templates[i].write(set, set.timestamp_ms().unwrap_or(now_ms), &mut self.clock, out);
        if out.len() - start <= MAX_LINE_BYTES {
            return Some(1);
        }
        out.truncate(start);
        None
    }

    fn keep(&mut self, template: Template) -> usize {
        if self.templates.len() < TEMPLATES {
            self.templates.push(template);
            return self.templates.len() - 1;
        }
        let i = self.next;
        self.templates[i] = template;
        self.next = (i + 1) % TEMPLATES;
        i
    }
}

/// `"key":`.
#[inline]
fn write_key(out: &mut Vec<u8>, key: &str) {
    write_str(out, key);
    out.push(b':');
}

/// A metric's values: one as a number, several as an array.
#[inline(always)]
fn write_values(out: &mut Vec<u8>, values: &[f64]) {
    if let [v] = values {
        write_f64(out, *v);
    } else {
        write_array(out, values);
    }
}

/// Values as an array (out of line: the rare case).
#[inline(never)]
fn write_array(out: &mut Vec<u8>, values: &[f64]) {
    out.push(b'[');
    for (j, v) in values.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        write_f64(out, *v);
    }
    out.push(b']');
}

static PLACEHOLDER_NAME: DimensionName = DimensionName::__from_static_checked("_");
static PLACEHOLDER_VALUE: DimensionValue = DimensionValue::unknown();

/// Byte-wise string order (the order of `str`), deciding on the first byte when it
/// differs without calling `memcmp`.
#[inline]
fn key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.as_bytes().cmp(b.as_bytes()),
    }
}

fn encode_general(set: &MetricSet, timestamp: u64, out: &mut Vec<u8>, report: &mut EncodeReport, limit: usize) {
    let entries = set.entries();

    // 1. Contexts in order of first use, grouped into documents whose root members agree
    // and whose directives and dimension members fit in one line together.
    let mut used: Vec<usize> = Vec::new();
    for e in entries {
        if !used.contains(&e.context) {
            used.push(e.context);
        }
    }
    let bounded = used.len() > 1;
    let budget = limit.saturating_sub(DOCUMENT_BYTES);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for &c in &used {
        let dims = set.context_dimensions(c);
        let names: Vec<&MetricName> = entries.iter().filter(|e| e.context == c).map(|e| &e.name).collect();
        let directive = if bounded { context_bytes(set, c, &dims) } else { 0 };
        let added = |g: &Group<'_>| if bounded { g.added_bytes(&dims, directive) } else { 0 };
        match groups.iter_mut().find(|g| g.accepts(&dims, &names) && g.bytes + added(g) <= budget) {
            Some(g) => {
                g.bytes += added(g);
                g.absorb(c, dims, names);
            }
            None => {
                let mut g = Group { dims: Vec::new(), contexts: Vec::new(), names: Vec::new(), bytes: 0 };
                g.bytes = added(&g);
                g.absorb(c, dims, names);
                groups.push(g);
            }
        }
    }

    // 2. Per group: rounds of value slices, chunks of at most 100 metrics, size check.
    let mut lines = Lines { set, timestamp, limit, out, report };
    for group in &groups {
        let mut members: Vec<&Entry> = entries.iter().filter(|e| group.contexts.contains(&e.context)).collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let longest = members.iter().map(|e| e.values.as_slice().len()).max().unwrap_or(0);
        let rounds = longest.div_ceil(MAX_VALUES_PER_METRIC);
        for round in 0..rounds {
            let start = round * MAX_VALUES_PER_METRIC;
            let items: Vec<Item<'_>> = members
                .iter()
                .filter(|e| e.values.as_slice().len() > start)
                .map(|e| {
                    let v = e.values.as_slice();
                    Item { entry: e, values: &v[start..(start + MAX_VALUES_PER_METRIC).min(v.len())] }
                })
                .collect();
            for chunk in items.chunks(MAX_METRICS_PER_DOCUMENT) {
                lines.write_sized(group.doc(), chunk);
            }
        }
    }
}

/// Where the documents of one set go: the set, the timestamp, the line limit
/// ([`MAX_LINE_BYTES`]; smaller in tests), the output and the report.
struct Lines<'s, 'o> {
    set: &'s MetricSet,
    timestamp: u64,
    limit: usize,
    out: &'o mut Vec<u8>,
    report: &'o mut EncodeReport,
}

/// The contexts of `doc` that have a metric among `items` (their directives are written).
fn present_contexts(doc: Doc<'_, '_>, items: &[Item<'_>]) -> SmallVec<[usize; 8]> {
    doc.contexts.iter().copied().filter(|c| items.iter().any(|i| i.entry.context == *c)).collect()
}

/// How the dimension member `key` of `doc` is written when the contexts `present` have
/// their directives in it: `Some(true)` when a dimension set written names it (the
/// member is required, E-8), `Some(false)` when it is a value of a present context that
/// none of the sets written names (only a property of the line, E-5), `None` when it is a
/// value of absent contexts only (not written).
fn dim_role(set: &MetricSet, doc: Doc<'_, '_>, present: &[usize], key: &DimensionName) -> Option<bool> {
    let is_default = set.default_dimensions().iter().any(|(k, _)| k == key);
    let mut role = None;
    for &c in present {
        let ctx = set.context(c);
        if !(is_default || ctx.values().iter().any(|(k, _)| k == key)) {
            continue;
        }
        if !ctx.has_sets() {
            // The default set names every key of the context.
            return Some(true);
        }
        let (start, end) = doc.set_range(c, ctx.sets().len());
        if ctx.sets().skip(start).take(end - start).any(|s| s.contains(key)) {
            return Some(true);
        }
        role = Some(false);
    }
    role
}

impl Lines<'_, '_> {
    /// Renders one document; trims properties and the dimension values no set names, then
    /// splits the metrics, then the dimension sets, until every line fits.
    fn write_sized(&mut self, doc: Doc<'_, '_>, items: &[Item<'_>]) {
        let set = self.set;
        let mut props: Vec<(&String, &serde_json::Value)> = Vec::with_capacity(set.properties().len());
        for (k, v) in set.properties() {
            let shadowed =
                doc.dims.iter().any(|(dk, _)| dk.as_str() == k) || items.iter().any(|i| i.entry.name.as_str() == k);
            if shadowed {
                self.report.shadowed_properties.push(k.clone());
            } else {
                props.push((k, v));
            }
        }
        let start = self.out.len();
        // Every context of the document has a metric here (the usual case): every member.
        let whole = doc.sets.is_none() && doc.contexts.iter().all(|c| items.iter().any(|i| i.entry.context == *c));
        let roles: Vec<(Dim<'_>, bool)> = if whole {
            self.render(doc, doc.dims, items, &props);
            if self.out.len() - start <= self.limit {
                self.report.documents += 1;
                return;
            }
            let present = present_contexts(doc, items);
            doc.dims.iter().map(|d| (*d, dim_role(set, doc, &present, d.0) == Some(true))).collect()
        } else {
            let present = present_contexts(doc, items);
            let roles: Vec<(Dim<'_>, bool)> = doc
                .dims
                .iter()
                .filter_map(|d| dim_role(set, doc, &present, d.0).map(|required| (*d, required)))
                .collect();
            let dims: Vec<Dim<'_>> = roles.iter().map(|(d, _)| *d).collect();
            self.render(doc, &dims, items, &props);
            if self.out.len() - start <= self.limit {
                self.report.documents += 1;
                return;
            }
            roles
        };
        let mut size = self.out.len() - start;
        self.out.truncate(start);

        // Too large: leave out the members no dimension set names (the properties, the
        // dimension values of no set written), largest first, until the line fits. Each
        // member's bytes (with its comma) are measured once: the line shrinks by exactly
        // those.
        let mut scratch_buf = Vec::new();
        let mut optional: Vec<(usize, usize)> = Vec::new();
        for (i, (k, v)) in props.iter().enumerate() {
            scratch_buf.clear();
            write_key(&mut scratch_buf, k);
            write_property(&mut scratch_buf, k, v);
            optional.push((scratch_buf.len() + 1, i));
        }
        for (j, ((k, v), required)) in roles.iter().enumerate() {
            if !required {
                scratch_buf.clear();
                write_key(&mut scratch_buf, k.as_str());
                write_str(&mut scratch_buf, v.as_str());
                optional.push((scratch_buf.len() + 1, props.len() + j));
            }
        }
        optional.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut dropped = vec![false; props.len() + roles.len()];
        for &(bytes, i) in &optional {
            if size <= self.limit {
                break;
            }
            dropped[i] = true;
            size = size.saturating_sub(bytes);
            let key = match props.get(i) {
                Some((k, _)) => (*k).clone(),
                None => roles[i - props.len()].0.0.as_str().to_owned(),
            };
            self.report.trimmed_properties.push(key);
        }
        if size <= self.limit {
            let kept_props: Vec<(&String, &serde_json::Value)> =
                props.iter().enumerate().filter(|(i, _)| !dropped[*i]).map(|(_, p)| *p).collect();
            let kept_dims: Vec<Dim<'_>> =
                roles.iter().enumerate().filter(|(j, _)| !dropped[props.len() + j]).map(|(_, (d, _))| *d).collect();
            self.render(doc, &kept_dims, items, &kept_props);
            if self.out.len() - start <= self.limit {
                self.report.documents += 1;
                return;
            }
            self.out.truncate(start);
        }
        // Still too large with only what the directives need: split.
        self.write_split(doc, items);
    }

    /// Writes `items` without properties and with only the dimension values their sets
    /// name, in as many documents as it takes: the metrics in halves, or the dimension
    /// sets of a single directive that takes most of the line in halves (each set is its
    /// own CloudWatch metric: every value reaches every set once); a metric that does not
    /// fit alone with one set is left out and reported.
    fn write_split(&mut self, doc: Doc<'_, '_>, items: &[Item<'_>]) {
        let set = self.set;
        let present = present_contexts(doc, items);
        let dims: Vec<Dim<'_>> =
            doc.dims.iter().copied().filter(|d| dim_role(set, doc, &present, d.0) == Some(true)).collect();
        let start = self.out.len();
        self.render(doc, &dims, items, &[]);
        if self.out.len() - start <= self.limit {
            self.report.documents += 1;
            return;
        }
        self.out.truncate(start);
        let sets = match present[..] {
            [c] if set.context(c).has_sets() => {
                let (a, b) = doc.set_range(c, set.context(c).sets().len());
                (b - a >= 2).then_some((c, a, b))
            }
            _ => None,
        };
        if let Some((c, a, b)) = sets {
            // The directive's sets go to separate documents when one metric with them
            // takes more than half a line (else splitting the metrics is enough).
            let large = items.len() == 1 || {
                self.render(doc, &dims, &items[..1], &[]);
                let one = self.out.len() - start;
                self.out.truncate(start);
                one * 2 > self.limit
            };
            if large {
                let mid = a + (b - a) / 2;
                self.write_split(Doc { sets: Some((c, a, mid)), ..doc }, items);
                self.write_split(Doc { sets: Some((c, mid, b)), ..doc }, items);
                return;
            }
        }
        if items.len() > 1 {
            let (a, b) = items.split_at(items.len() / 2);
            self.write_split(doc, a);
            self.write_split(doc, b);
        } else {
            // Never with the names and values a set accepts (one metric and one set take
            // under 100 KB): left out rather than written over the limit.
            self.report.dropped_metrics.push(items[0].entry.name.as_str().to_owned());
        }
    }

    fn render(
        &mut self,
        doc: Doc<'_, '_>,
        dims: &[Dim<'_>],
        items: &[Item<'_>],
        props: &[(&String, &serde_json::Value)],
    ) {
        render(self.set, doc, dims, items, props, self.timestamp, self.out);
    }
}

#[derive(Clone, Copy)]
enum Member<'a> {
    Aws,
    Dimension(&'a DimensionValue),
    Metric(&'a [f64]),
    Property(&'a serde_json::Value),
}

/// A root member and its sort key: the first 8 bytes of the name, big-endian, zero
/// padded (ordered like the names whenever they differ), then the whole name.
#[derive(Clone, Copy)]
struct Keyed<'a> {
    prefix: u64,
    key: &'a str,
    member: Member<'a>,
}

impl<'a> Keyed<'a> {
    fn new(key: &'a str, member: Member<'a>) -> Self {
        let b = key.as_bytes();
        let prefix = match b.first_chunk::<8>() {
            Some(head) => u64::from_be_bytes(*head),
            None => b.iter().enumerate().fold(0, |p, (i, c)| p | u64::from(*c) << (56 - 8 * i)),
        };
        Self { prefix, key, member }
    }

    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.prefix.cmp(&other.prefix).then_with(|| self.key.as_bytes().cmp(other.key.as_bytes()))
    }
}

/// One document: the directives of `doc`'s contexts with a metric among `items`, the
/// dimension members `dims`, the metrics and the properties `props`.
fn render(
    set: &MetricSet,
    doc: Doc<'_, '_>,
    dims: &[Dim<'_>],
    items: &[Item<'_>],
    props: &[(&String, &serde_json::Value)],
    timestamp: u64,
    out: &mut Vec<u8>,
) {
    let n = 1 + dims.len() + items.len() + props.len();
    scratch::<_, _, 32>(n, Keyed { prefix: 0, key: "", member: Member::Aws }, |members| {
        let mut slots = members.iter_mut();
        let mut put = |key, member| {
            if let Some(slot) = slots.next() {
                *slot = Keyed::new(key, member);
            }
        };
        put("_aws", Member::Aws);
        for (k, v) in dims {
            put(k.as_str(), Member::Dimension(v));
        }
        for i in items {
            put(i.entry.name.as_str(), Member::Metric(i.values));
        }
        for (k, v) in props {
            put(k.as_str(), Member::Property(v));
        }
        // Stable: equal keys keep the order above.
        members.sort_by(Keyed::cmp);

        out.push(b'{');
        for (n, m) in members.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            if let Member::Aws = m.member {
                out.extend_from_slice(b"\"_aws\":");
                write_aws(set, doc, items, timestamp, out);
                continue;
            }
            write_str(out, m.key);
            out.push(b':');
            match m.member {
                Member::Aws => {}
                Member::Dimension(v) => write_str(out, v.as_str()),
                Member::Metric(values) => {
                    if values.len() == 1 {
                        write_f64(out, values[0]);
                    } else {
                        write_array(out, values);
                    }
                }
                Member::Property(v) => write_property(out, m.key, v),
            }
        }
        out.extend_from_slice(b"}\n");
    });
}

fn write_aws(set: &MetricSet, doc: Doc<'_, '_>, items: &[Item<'_>], timestamp: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"CloudWatchMetrics\":[");
    let mut first_directive = true;
    for &c in doc.contexts {
        let mut in_ctx = items.iter().filter(|i| i.entry.context == c).peekable();
        if in_ctx.peek().is_none() {
            continue;
        }
        if !first_directive {
            out.push(b',');
        }
        first_directive = false;
        out.extend_from_slice(b"{\"Dimensions\":[");
        let ctx = set.context(c);
        if !ctx.has_sets() {
            // The default set: every default key, then the metric's own keys.
            let defaults = set.default_dimensions().iter().map(|(k, _)| k);
            let own =
                ctx.values().iter().map(|(k, _)| k).filter(|k| !set.default_dimensions().iter().any(|(d, _)| d == *k));
            write_key_set(out, defaults.chain(own));
        } else {
            let (start, end) = doc.set_range(c, ctx.sets().len());
            for (s, dset) in ctx.sets().skip(start).take(end - start).enumerate() {
                if s > 0 {
                    out.push(b',');
                }
                write_key_set(out, dset.iter());
            }
        }
        out.extend_from_slice(b"],\"Metrics\":[");
        for (j, item) in in_ctx.enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"Name\":");
            write_str(out, item.entry.name.as_str());
            if item.entry.resolution == StorageResolution::High {
                out.extend_from_slice(b",\"StorageResolution\":1");
            }
            out.extend_from_slice(b",\"Unit\":\"");
            // Unit names are plain ASCII (tested): no escaping to consider.
            out.extend_from_slice(item.entry.unit.as_str().as_bytes());
            out.push(b'"');
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"Namespace\":");
        write_str(out, set.namespace().as_str());
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"Timestamp\":");
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(timestamp).as_bytes());
    out.push(b'}');
}

/// Writes a finite number: integral values below 2^53 as integers, others shortest
/// round-trip (values were checked to be finite when recorded).
#[inline]
fn write_f64(out: &mut Vec<u8>, v: f64) {
    // The usual value, a count or a size (1, 512): a non-negative integer below 2^32 is
    // its own text, written here; everything else out of line. `-0.0` is `0` either way.
    let n = v as u32;
    if f64::from(n) == v {
        push_u64(out, u64::from(n));
    } else {
        write_f64_other(out, v);
    }
}

/// [`write_f64`] for the values that are not a small non-negative integer.
#[inline(never)]
fn write_f64_other(out: &mut Vec<u8>, v: f64) {
    // `v as i64 as f64 == v` is `v.fract() == 0.0` for |v| < 2^53, without a libm call.
    let i = v as i64;
    if i as f64 == v && v.abs() < 9_007_199_254_740_992.0 {
        if i < 0 {
            out.push(b'-');
        }
        push_u64(out, i.unsigned_abs());
    } else if write_dyadic(out, v) {
        // 3.5, 0.25...: written without ryu, same text.
    } else if v.is_finite() {
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format_finite(v).as_bytes());
    } else {
        out.push(b'0');
    }
}

/// Appends the decimal digits of `n`: up to three digits in line, more with a formatter
/// out of line.
#[inline(always)]
fn push_u64(out: &mut Vec<u8>, n: u64) {
    let digit = |d: u64| b'0' + (d % 10) as u8;
    match n {
        0..=9 => out.push(digit(n)),
        10..=99 => out.extend_from_slice(&[digit(n / 10), digit(n)]),
        100..=999 => out.extend_from_slice(&[digit(n / 100), digit(n / 10), digit(n)]),
        _ => push_u64_long(out, n),
    }
}

#[inline(never)]
fn push_u64_long(out: &mut Vec<u8>, n: u64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(n).as_bytes());
}

/// Powers of five up to the tenth.
const POW5: [u64; 11] = [1, 5, 25, 125, 625, 3125, 15_625, 78_125, 390_625, 1_953_125, 9_765_625];

/// Writes a non-integral `v` with |v| < 2^20 that is a multiple of 2^-10 (3.5, 0.25,
/// 12.125...) as its exact decimal expansion, which is what `ryu` writes for it, and
/// returns `true`; returns `false` (writing nothing) for any other value.
///
/// Why it is ryu's output: v = k / 2^j with k odd and 1 <= j <= 10 has exactly j
/// decimals, the last one a 5. A decimal with fewer digits is at least 5 * 10^-j away
/// from v, more than half an ulp of v (< 2^-33 for |v| < 2^20), so it does not round
/// to v: the exact expansion is the shortest round-trip representation, and ryu writes
/// it in plain notation (0.0009765625 <= |v| < 1048576).
fn write_dyadic(out: &mut Vec<u8>, v: f64) -> bool {
    const J: u32 = 10;
    // Exact: scaling by a power of two loses nothing here. NaN and the infinities fail
    // the first test (a NaN converts to 0, an infinity saturates).
    let scaled = v * f64::from(1u32 << J);
    let k = scaled as i64;
    if k as f64 != scaled || v.abs() >= 1_048_576.0 {
        return false;
    }
    let magnitude = k.unsigned_abs();
    let fraction_bits = magnitude & ((1 << J) - 1);
    if fraction_bits == 0 {
        return false;
    }
    // |v| = whole + fraction_bits / 2^10, and fraction_bits / 2^10 = odd / 2^j with odd
    // odd: its decimal digits are odd * 5^j over 10^j, exactly j of them.
    let tz = fraction_bits.trailing_zeros();
    let j = (J - tz) as usize;
    let mut rest = (fraction_bits >> tz) * POW5[j];
    if v < 0.0 {
        out.push(b'-');
    }
    push_u64(out, magnitude >> J);
    out.push(b'.');
    // The j digits of the fraction, leading zeros included (pushed one by one: fewer
    // instructions than a copy for these few bytes).
    let mut fraction = [0u8; 10];
    for d in fraction[..j].iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    for &d in &fraction[..j] {
        out.push(d);
    }
    true
}

/// A property value; an EMF line is a log line, so the log redaction applies: a value
/// under a secret-looking key (`authorization`, `token`, ... and the keys of the global
/// telemetry's configuration, `STREAMER_LOG_REDACT_KEYS`) is `"[REDACTED]"`, at any depth
/// of an object or array, and JWT-shaped text and free-text credentials anywhere in it are
/// replaced.
fn write_property(out: &mut Vec<u8>, key: &str, v: &serde_json::Value) {
    let redactor = crate::log::redact::default_redactor();
    if redactor.is_redacted(key) {
        out.extend_from_slice(b"\"[REDACTED]\"");
        return;
    }
    let start = out.len();
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
        return;
    }
    // Keys at any depth (`{"card_number": …}`), `key=value` pairs of redacted keys, JWTs and
    // free-text credentials (`Bearer …`, `Cookie: …`, `token=…`) are redacted as in a logged
    // event: the value is redacted as a JSON value, nested strings included, when its JSON
    // text may hold any of them (the check the redaction of JSON text makes).
    if std::str::from_utf8(&out[start..]).map_or(true, |written| redactor.may_redact_json(written)) {
        out.truncate(start);
        let mut scrubbed = v.clone();
        redactor.redact_value(&mut scrubbed);
        if serde_json::to_writer(&mut *out, &scrubbed).is_err() {
            out.truncate(start);
            out.extend_from_slice(b"null");
        }
    }
}

/// A JSON string (quoted, escaped) with the log writer's escaper, which also replaces
/// JWT-shaped text by `[REDACTED]`: an EMF line is a log line, and a token put into a
/// property by mistake must not reach it either.
#[inline]
fn write_str(out: &mut Vec<u8>, s: &str) {
    crate::log::json::write_str(out, s);
}

/// Encodes `set` and returns the lines (without their newline), for tests and tools.
///
/// ```
/// use streamer_obs::metrics::{emf, MetricSet, Namespace, Unit};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add("A", Unit::Count, 1.0).unwrap();
/// assert_eq!(emf::encode_lines(&set, 0).len(), 1);
/// ```
pub fn encode_lines(set: &MetricSet, now_ms: u64) -> Vec<String> {
    let mut out = Vec::new();
    encode(set, now_ms, &mut out);
    String::from_utf8_lossy(&out).lines().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\u{1}é");
        assert_eq!(String::from_utf8(out).unwrap(), "\"a\\\"b\\\\c\\u0001é\"");
    }

    /// Dimension sets for the seeded comparisons: none, one set, two sets sharing a key, a
    /// name with the reserved `_aws` prefix.
    fn sample_dimensions() -> Vec<crate::metrics::Dimensions> {
        use crate::metrics::standard::{self, Action, ErrorType};
        use crate::metrics::{DimensionName, Dimensions};
        vec![
            Dimensions::new(),
            Dimensions::new().with(standard::ACTION, &Action::Connect).set([standard::ENVIRONMENT, standard::ACTION]),
            Dimensions::new()
                .with(standard::ERROR_TYPE, &ErrorType::InvalidJwt)
                .with(standard::ENVIRONMENT, &crate::dimension_value!("canary"))
                .set([standard::ERROR_TYPE])
                .set([standard::ERROR_TYPE, standard::ENVIRONMENT]),
            Dimensions::new().with(DimensionName::new("_awsx").unwrap(), &crate::dimension_value!("x")),
        ]
    }

    /// The fast path writes what the general path writes for every set it takes.
    #[test]
    fn the_one_context_path_matches_the_general_path() {
        use crate::metrics::{MetricSet, Namespace, Unit, standard};
        let mut rng = fastrand::Rng::with_seed(3);
        let dims = sample_dimensions();
        let names =
            ["ConnectionEstablished", "_aws", "_awsx", "a\"b", "Zeta", "aaaaaaaaX", "aaaaaaaa", "eyJa.eyJb", "é"];
        let mut fast_paths = 0;
        for _ in 0..2000 {
            let mut set = MetricSet::new(Namespace::streamer());
            if rng.bool() {
                set.add_dimension(standard::ENVIRONMENT, &crate::dimension_value!("prod")).unwrap();
            }
            let d = &dims[rng.usize(..dims.len())];
            for _ in 0..rng.usize(1..12) {
                let name =
                    if rng.bool() { names[rng.usize(..names.len())].to_owned() } else { format!("M{}", rng.u8(..40)) };
                let value = [1.0, 3.5, 0.1, -2.0, 1e300][rng.usize(..5)];
                let _ = set.add_with(name, Unit::Count, value, StorageResolution::Standard, d);
            }
            match rng.u8(..4) {
                0 => drop(set.set_property("Zeta", "shadowed by a metric or a dimension, or not")),
                1 => drop(set.set_property("big", "x".repeat(MAX_LINE_BYTES))),
                _ => {}
            }
            if set.is_empty() {
                continue;
            }
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            let (mut fast_report, mut general_report) = (EncodeReport::default(), EncodeReport::default());
            if encode_one_context(&set, 7, &mut fast, &mut fast_report) {
                fast_paths += 1;
                encode_general(&set, 7, &mut general, &mut general_report, MAX_LINE_BYTES);
                assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&general));
                assert_eq!(fast_report, general_report);
            }
        }
        assert!(fast_paths > 1000, "{fast_paths}");
    }

    /// The remembered layouts write what `encode` writes, for sets that repeat a layout
    /// (the templates hit) and for sets that do not (a template is made or `encode` runs).
    #[test]
    fn the_template_encoder_matches_encode() {
        use crate::metrics::standard::{self, Action};
        use crate::metrics::{DimensionName, Dimensions, MetricSet, Namespace, Unit};
        let mut rng = fastrand::Rng::with_seed(5);
        let mut dims = sample_dimensions();
        dims.push(
            Dimensions::new().with(standard::ACTION, &Action::Send).set([standard::ENVIRONMENT, standard::ACTION]),
        );
        dims.push(Dimensions::new().with(DimensionName::new("J\\\"x").unwrap(), &crate::dimension_value!("eyJa.eyJb")));
        let names = ["ConnectionEstablished", "_awsx", "a\"b", "Zeta", "aaaaaaaaX", "aaaaaaaa", "eyJa.eyJb", "é"];
        let values = [1.0, 3.5, 0.1, -2.0, 1e300, 512.0, -0.0, 12.125, 1e-7, 123_456_789.0];
        let with_defaults = MetricSet::new(Namespace::new("eyJa.b").unwrap());
        let mut encoder = Encoder::default();
        let mut hits = 0;
        for round in 0..3000 {
            let mut set = if rng.u8(..8) == 0 { with_defaults.clone() } else { MetricSet::new(Namespace::streamer()) };
            if rng.u8(..8) != 0 {
                set.add_dimension(standard::ENVIRONMENT, &crate::dimension_value!("prod")).unwrap();
            }
            // Mostly one of a few handlers (the same metrics each time), sometimes anything.
            let mut shape = if rng.u8(..4) == 0 { rng.fork() } else { fastrand::Rng::with_seed(rng.u64(..3)) };
            let common = shape.usize(..dims.len());
            for _ in 0..shape.usize(1..4) {
                let d = &dims[if shape.u8(..4) == 0 { shape.usize(..dims.len()) } else { common }];
                let name = names[shape.usize(..names.len())];
                let unit = if shape.bool() { Unit::Count } else { Unit::Milliseconds };
                let resolution = if shape.u8(..4) == 0 { StorageResolution::High } else { StorageResolution::Standard };
                for _ in 0..rng.usize(1..4) {
                    let _ = set.add_with(name, unit, values[rng.usize(..values.len())], resolution, d);
                }
            }
            match rng.u8(..8) {
                0 => drop(set.set_property("p", "v")),
                1 => {
                    let clock = crate::testing::FixedClock::at_millis(1_700_000_000_000);
                    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_699_999_999_000);
                    set.set_timestamp(at, &clock).unwrap();
                }
                _ => {}
            }
            let fits = encoder.templates.iter().any(|t| t.fits(&set));
            let (mut remembered, mut plain) = (Vec::new(), Vec::new());
            let r1 = encoder.encode(&set, 1_700_000_000_000 + round, &mut remembered);
            let r2 = encode(&set, 1_700_000_000_000 + round, &mut plain);
            assert_eq!(String::from_utf8_lossy(&remembered), String::from_utf8_lossy(&plain));
            assert_eq!(r1, r2);
            hits += usize::from(fits);
        }
        assert!(hits > 600, "{hits}");
    }

    /// Sets of one configuration (their contexts shared through the base, the layouts
    /// matched by address) and sets whose defaults changed (their own copies): the
    /// remembered layouts write what `encode` writes, dimensions built anew every round.
    #[test]
    fn the_template_encoder_matches_encode_on_shared_contexts() {
        use crate::config::{Config, EnvVars};
        use crate::metrics::standard::{self, Action, ErrorType};
        use crate::metrics::{Dimensions, MetricSet, TenantId, Unit};
        let config = Config::builder().service("svc").environment("prod").build_from(&EnvVars::empty());
        let mut rng = fastrand::Rng::with_seed(8);
        let mut encoder = Encoder::default();
        let names = ["ConnectionEstablished", "ProcessingLatency", "MessageSize", "Zeta", "a\"b"];
        for round in 0..3000u64 {
            let dims = match rng.u8(..4) {
                0 => Dimensions::new(),
                1 => Dimensions::new()
                    .with(standard::ACTION, &Action::Connect)
                    .set([standard::ENVIRONMENT, standard::ACTION]),
                2 => Dimensions::new().with(standard::ERROR_TYPE, &ErrorType::InvalidJwt),
                _ => Dimensions::new().with(standard::TENANT_ID, &TenantId::new(["a", "b"][rng.usize(..2)]).unwrap()),
            };
            let mut set = MetricSet::from_config(&config);
            if rng.u8(..10) == 0 {
                set.add_dimension(standard::TENANT_ID, &TenantId::new("t").unwrap()).unwrap();
            }
            for _ in 0..rng.usize(1..4) {
                let name = names[rng.usize(..names.len())];
                let value = [1.0, 3.5, 512.0, 0.1, -7.0][rng.usize(..5)];
                let _ = set.add_with(name, Unit::Count, value, StorageResolution::Standard, &dims);
            }
            let (mut remembered, mut plain) = (Vec::new(), Vec::new());
            let r1 = encoder.encode(&set, 1_700_000_000_000 + round * 7, &mut remembered);
            let r2 = encode(&set, 1_700_000_000_000 + round * 7, &mut plain);
            assert_eq!(String::from_utf8_lossy(&remembered), String::from_utf8_lossy(&plain), "round {round}");
            assert_eq!(r1, r2);
        }
    }

    /// A layout whose document grows past the line limit with longer values: `encode`
    /// splits it, the template path then writes what `encode` writes.
    #[test]
    fn a_template_line_over_the_limit_falls_back_to_encode() {
        use crate::metrics::{MetricSet, Namespace, Unit};
        let mut set = MetricSet::new(Namespace::streamer());
        let names: Vec<String> = (0..100).map(|i| format!("{i:03}{}", "n".repeat(250))).collect();
        for name in &names {
            set.add(name.clone(), Unit::Count, 1.0).unwrap();
        }
        let mut encoder = Encoder::default();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert_eq!(encoder.encode(&set, 0, &mut a), encode(&set, 0, &mut b));
        assert_eq!(a, b);
        let mut long = MetricSet::new(Namespace::streamer());
        for name in &names {
            for _ in 0..100 {
                long.add(name.clone(), Unit::Count, -2.2250738585072014e-308).unwrap();
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let report = encoder.encode(&long, 0, &mut a);
        assert_eq!(report, encode(&long, 0, &mut b));
        assert!(report.documents > 1);
        assert_eq!(a, b);
        assert!(encoder.templates.iter().any(|t| t.fits(&long)));
    }

    /// The values every `(metric, dimension set, dimension values)` should receive.
    type Received = std::collections::BTreeMap<(String, Vec<String>, Vec<String>), Vec<f64>>;

    /// What `set` should produce: each metric's values once per dimension set.
    fn expected(set: &crate::metrics::MetricSet) -> Received {
        let mut want = Received::new();
        for m in set.metrics() {
            for s in &m.sets {
                let keys: Vec<String> = s.iter().map(|k| k.as_str().to_owned()).collect();
                let values = s
                    .iter()
                    .map(|k| m.dimensions.iter().find(|(d, _)| d == k).unwrap().1.as_str().to_owned())
                    .collect();
                want.entry((m.name.as_str().to_owned(), keys, values)).or_default().extend(m.values);
            }
        }
        want
    }

    /// Checks the lines of `out`: each at most `limit` bytes with its newline, one JSON
    /// object; every metric of a directive has its numeric member, every key of a set a
    /// string member of at most 1024 characters; at most 100 metrics; and every value of
    /// every metric reaches every one of its dimension sets exactly once, but for the
    /// metrics the report says were dropped. Returns the documents.
    fn check_lines(
        set: &crate::metrics::MetricSet,
        out: &[u8],
        limit: usize,
        report: &EncodeReport,
    ) -> Vec<serde_json::Value> {
        use serde_json::Value;
        let text = std::str::from_utf8(out).unwrap();
        let mut got = Received::new();
        let mut docs = Vec::new();
        for line in text.split_inclusive('\n') {
            assert!(line.ends_with('\n'));
            assert!(line.len() <= limit, "line of {} bytes over {limit}", line.len());
            let doc: Value = serde_json::from_str(line).unwrap();
            let mut metrics = 0;
            for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                assert_eq!(directive["Namespace"], set.namespace().as_str());
                let sets = directive["Dimensions"].as_array().unwrap();
                assert!(!sets.is_empty());
                let mut resolved = Vec::new();
                for s in sets {
                    let keys: Vec<String> =
                        s.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()).collect();
                    let values: Vec<String> = keys
                        .iter()
                        .map(|k| {
                            let v = doc[k].as_str().unwrap_or_else(|| panic!("dimension {k} without a string member"));
                            assert!(!v.is_empty() && v.len() <= 1024);
                            v.to_owned()
                        })
                        .collect();
                    resolved.push((keys, values));
                }
                let defs = directive["Metrics"].as_array().unwrap();
                assert!(!defs.is_empty());
                for m in defs {
                    metrics += 1;
                    let name = m["Name"].as_str().unwrap();
                    let values: Vec<f64> = match &doc[name] {
                        Value::Number(n) => vec![n.as_f64().unwrap()],
                        Value::Array(a) => {
                            assert!(a.len() > 1 && a.len() <= MAX_VALUES_PER_METRIC);
                            a.iter().map(|v| v.as_f64().unwrap()).collect()
                        }
                        other => panic!("metric {name} member is {other}"),
                    };
                    for (keys, dims) in &resolved {
                        got.entry((name.to_owned(), keys.clone(), dims.clone())).or_default().extend(&values);
                    }
                }
            }
            assert!((1..=MAX_METRICS_PER_DOCUMENT).contains(&metrics));
            docs.push(doc);
        }
        assert_eq!(docs.len(), report.documents);
        for name in &report.dropped_metrics {
            assert!(alone_exceeds(set, name, limit), "{name} dropped though it fits alone");
        }
        let dropped = |k: &(String, Vec<String>, Vec<String>)| report.dropped_metrics.contains(&k.0);
        let mut want = expected(set);
        want.retain(|k, _| !dropped(k));
        got.retain(|k, _| !dropped(k));
        for v in want.values_mut().chain(got.values_mut()) {
            v.sort_by(f64::total_cmp);
        }
        assert_eq!(got, want, "values lost or repeated");
        docs
    }

    /// Whether a document of metric `name` alone, with one of its dimension sets, the
    /// dimension values of that set only and a slice of its values, exceeds `limit` (the
    /// only reason to drop it).
    fn alone_exceeds(set: &crate::metrics::MetricSet, name: &str, limit: usize) -> bool {
        set.entries().iter().filter(|e| e.name.as_str() == name).any(|e| {
            let dims = set.context_dimensions(e.context);
            let contexts = [e.context];
            let ctx = set.context(e.context);
            let count = if ctx.has_sets() { ctx.sets().len() } else { 1 };
            (0..count).any(|i| {
                let doc =
                    Doc { dims: &dims, contexts: &contexts, sets: ctx.has_sets().then_some((e.context, i, i + 1)) };
                let named: Vec<Dim<'_>> = match ctx.sets().nth(i) {
                    Some(keys) if ctx.has_sets() => dims.iter().copied().filter(|(k, _)| keys.contains(k)).collect(),
                    _ => dims.clone(),
                };
                e.values.as_slice().chunks(MAX_VALUES_PER_METRIC).any(|values| {
                    let mut out = Vec::new();
                    render(set, doc, &named, &[Item { entry: e, values }], &[], 5, &mut out);
                    out.len() > limit
                })
            })
        })
    }

    /// Encodes `set` with `encode` and with the remembered layouts (the publisher's path):
    /// the same bytes and report, checked.
    fn encode_checked(set: &crate::metrics::MetricSet) -> (Vec<serde_json::Value>, EncodeReport) {
        let mut out = Vec::new();
        let report = encode(set, 1_700_000_000_000, &mut out);
        let mut remembered = Vec::new();
        let mut encoder = Encoder::default();
        assert_eq!(encoder.encode(set, 1_700_000_000_000, &mut remembered), report);
        assert_eq!(remembered, out);
        let docs = check_lines(set, &out, MAX_LINE_BYTES, &report);
        (docs, report)
    }

    fn long_value() -> crate::metrics::TenantId {
        crate::metrics::TenantId::new("v".repeat(1024)).unwrap()
    }

    /// (a) 300 dimension values of 1 KB, one set naming one of them: the values no set
    /// names are only properties, trimmed (reported) until the line fits.
    #[test]
    fn dimension_values_no_set_names_are_trimmed_to_fit_the_line() {
        use crate::metrics::{DimensionName, Dimensions, MetricSet, Namespace, Unit};
        let mut dims = Dimensions::new();
        for i in 0..300 {
            dims = dims.with(DimensionName::new(format!("K{i}")).unwrap(), &long_value());
        }
        let dims = dims.set([DimensionName::new("K0").unwrap()]);
        let mut set = MetricSet::new(Namespace::streamer());
        set.add_with("Hits", Unit::Count, 1.0, StorageResolution::Standard, &dims).unwrap();
        let (docs, report) = encode_checked(&set);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["K0"].as_str().unwrap().len(), 1024);
        assert!(report.dropped_metrics.is_empty());
        assert!(!report.trimmed_properties.is_empty() && !report.trimmed_properties.contains(&"K0".to_owned()));
        let written = docs[0].as_object().unwrap().keys().filter(|k| k.starts_with('K')).count();
        assert_eq!(written + report.trimmed_properties.len(), 300);
    }

    /// (b) 300 contexts of one 1 KB dimension value each, one metric each: compatible
    /// contexts share documents only while their dimension members fit, and a document
    /// holds the members of its own directives only.
    #[test]
    fn contexts_share_a_document_only_while_their_dimensions_fit() {
        use crate::metrics::{DimensionName, Dimensions, MetricSet, Namespace, Unit};
        let mut set = MetricSet::new(Namespace::streamer());
        for i in 0..300 {
            let dims = Dimensions::new().with(DimensionName::new(format!("K{i}")).unwrap(), &long_value());
            set.add_with(format!("M{i}"), Unit::Count, 1.0, StorageResolution::Standard, &dims).unwrap();
        }
        let (docs, report) = encode_checked(&set);
        assert_eq!(report, EncodeReport { documents: docs.len(), ..EncodeReport::default() });
        assert!(docs.len() >= 3 && docs.len() <= 4, "{}", docs.len());
        for doc in &docs {
            let members = doc.as_object().unwrap();
            let metrics = members.keys().filter(|k| k.starts_with('M')).count();
            assert_eq!(members.keys().filter(|k| k.starts_with('K')).count(), metrics);
        }
    }

    /// (c) 30 keys of 250 characters with 1 KB values, 30 distinct sets of 29 of the keys
    /// (each leaves one out; a set repeated in another order would count the values twice,
    /// so it is not a second set): every per-item limit is respected, and under the real
    /// limit the directive (about 259 KB) just fits alone; under a limit of 160 KB its sets go to
    /// separate documents, each with the metric's values.
    #[test]
    fn a_directive_whose_sets_exceed_a_line_is_split_over_documents() {
        use crate::metrics::{DimensionName, Dimensions, MetricSet, Namespace, Unit};
        const LIMIT: usize = 160 * 1024;
        let keys: Vec<DimensionName> =
            (0..30).map(|i| DimensionName::new(format!("{i:02}{}", "k".repeat(248))).unwrap()).collect();
        let mut dims = keys.iter().fold(Dimensions::new(), |d, k| d.with(k.clone(), &long_value()));
        for r in 0..30 {
            dims = dims.set(keys.iter().enumerate().filter(|&(i, _)| i != r).map(|(_, k)| k.clone()));
        }
        assert_eq!(dims.sets().len(), 30);
        for metrics in [1usize, 150] {
            let mut set = MetricSet::new(Namespace::streamer());
            for m in 0..metrics {
                for v in 0..3 {
                    set.add_with(format!("Hits{m}"), Unit::Count, f64::from(v), StorageResolution::Standard, &dims)
                        .unwrap();
                }
            }
            // The real limit: valid, complete lines (checked), one for the single metric.
            let (whole, report) = encode_checked(&set);
            assert!(report.dropped_metrics.is_empty());
            if metrics == 1 {
                assert_eq!(whole.len(), 1);
            }
            let (mut out, mut report) = (Vec::new(), EncodeReport::default());
            encode_general(&set, 0, &mut out, &mut report, LIMIT);
            finish_report(&mut report);
            let docs = check_lines(&set, &out, LIMIT, &report);
            assert_eq!(report, EncodeReport { documents: docs.len(), ..EncodeReport::default() });
            let sets: usize =
                docs.iter().map(|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"].as_array().unwrap().len()).sum();
            // Two documents of 15 sets per 100 metrics.
            assert_eq!(docs.len(), 2 * metrics.div_ceil(MAX_METRICS_PER_DOCUMENT), "{metrics}");
            assert_eq!(sets, 30 * docs.len() / 2);
        }
    }

    /// A metric that does not fit a line even alone with one set (only with a limit far
    /// below the real one) is left out and reported, never written over the limit; the
    /// others are written.
    #[test]
    fn a_metric_too_large_alone_is_dropped_and_reported() {
        use crate::metrics::{MetricSet, Namespace, Unit};
        let mut set = MetricSet::new(Namespace::streamer());
        set.add("Small", Unit::Count, 1.0).unwrap();
        set.add(format!("Large{}", "x".repeat(200)), Unit::Count, 2.0).unwrap();
        set.add_with("Other", Unit::Count, 3.0, StorageResolution::High, &crate::metrics::Dimensions::new()).unwrap();
        let (mut out, mut report) = (Vec::new(), EncodeReport::default());
        encode_general(&set, 0, &mut out, &mut report, 300);
        finish_report(&mut report);
        assert_eq!(report.dropped_metrics, [format!("Large{}", "x".repeat(200))]);
        let docs = check_lines(&set, &out, 300, &report);
        assert_eq!(docs.len(), 1);
        assert_eq!((docs[0]["Small"].as_f64(), docs[0]["Other"].as_f64()), (Some(1.0), Some(3.0)));
    }

    /// Random sets (contexts with and without declared sets, long keys and values,
    /// defaults, properties, long series) under random small limits: every line fits, is
    /// valid, and every value reaches each of its sets once unless its metric is reported
    /// dropped; under the real limit, nothing is dropped.
    #[test]
    fn every_line_fits_and_no_value_is_lost() {
        use crate::metrics::{DimensionName, Dimensions, MetricSet, Namespace, TenantId, Unit};
        let mut rng = fastrand::Rng::with_seed(21);
        // Text of up to `max` characters (quotes and backslashes escaped in the line).
        let text = |rng: &mut fastrand::Rng, max: usize| -> String {
            let len = rng.usize(..max);
            (0..len).map(|_| ['a', 'b', 'Z', '"', '\\', ' ', '.'][rng.usize(..7)]).collect()
        };
        let mut dropped = 0;
        for round in 0..400 {
            let keys: Vec<DimensionName> = (0..rng.usize(1..12))
                .map(|i| DimensionName::new(format!("K{i}{}", text(&mut rng, 60))).unwrap())
                .collect();
            let mut set = MetricSet::new(Namespace::streamer());
            for k in keys.iter().take(rng.usize(..3)) {
                let _ = set.add_dimension(k.clone(), &crate::dimension_value!("default"));
            }
            let contexts: Vec<Dimensions> = (0..rng.usize(1..6))
                .map(|_| {
                    let mut d = Dimensions::new();
                    for k in &keys {
                        if rng.bool() {
                            let max = [8, 300][rng.usize(..2)];
                            let value = format!("v{}", text(&mut rng, max));
                            d = d.with(k.clone(), &TenantId::new(value).unwrap());
                        }
                    }
                    let own: Vec<DimensionName> = d.values().iter().map(|(k, _)| k.clone()).collect();
                    if !own.is_empty() && rng.bool() {
                        for _ in 0..rng.usize(1..8) {
                            let mut picked: Vec<DimensionName> = Vec::new();
                            for k in &own {
                                if rng.bool() {
                                    picked.push(k.clone());
                                }
                            }
                            d = d.set(picked);
                        }
                    }
                    d
                })
                .collect();
            for _ in 0..rng.usize(1..40) {
                let max = [4, 80][rng.usize(..2)];
                let name = format!("M{}{}", rng.u8(..60), text(&mut rng, max));
                let dims = &contexts[rng.usize(..contexts.len())];
                for _ in 0..[1, 3, 130][rng.usize(..3)] {
                    let _ = set.add_with(name.clone(), Unit::Count, rng.f64() * 1e6, StorageResolution::Standard, dims);
                }
            }
            for p in 0..rng.usize(..3) {
                set.set_property(format!("p{p}"), text(&mut rng, 400)).unwrap();
            }
            if set.is_empty() {
                continue;
            }
            let limit = if round % 10 == 0 { MAX_LINE_BYTES } else { rng.usize(600..6000) };
            let (mut out, mut report) = (Vec::new(), EncodeReport::default());
            if limit == MAX_LINE_BYTES {
                report = encode(&set, 5, &mut out);
                assert!(report.dropped_metrics.is_empty());
            } else {
                encode_general(&set, 5, &mut out, &mut report, limit);
                finish_report(&mut report);
            }
            check_lines(&set, &out, limit, &report);
            dropped += report.dropped_metrics.len();
        }
        assert!(dropped > 0);
    }

    #[test]
    fn no_document_holds_aws_twice() {
        use crate::metrics::{DimensionName, MetricName, MetricSet, Namespace, Unit};
        assert!(MetricName::new("_aws").is_err());
        assert!(DimensionName::new("_aws").is_err());
        let mut set = MetricSet::new(Namespace::streamer());
        assert!(set.add("_aws", Unit::Count, 1.0).is_err());
        assert!(set.set_property("_aws", 1).is_err());
        set.add("_awsx", Unit::Count, 1.0).unwrap();
        let mut out = Vec::new();
        encode(&set, 0, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("\"_aws\":").count(), 1, "{text}");
    }

    #[test]
    fn unit_names_need_no_escaping() {
        for u in crate::metrics::Unit::ALL {
            assert!(crate::log::json::is_plain(u.as_str().as_bytes()), "{u:?}");
        }
    }

    #[test]
    fn dyadic_values_are_written_as_ryu_writes_them() {
        let mut rng = fastrand::Rng::with_seed(1);
        let check = |v: f64| {
            let mut fast = Vec::new();
            write_f64(&mut fast, v);
            let expected = if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
                (v as i64).to_string()
            } else {
                ryu::Buffer::new().format_finite(v).to_owned()
            };
            assert_eq!(String::from_utf8(fast).unwrap(), expected, "{v:e}");
        };
        for j in 0..=12 {
            let step = f64::from(1u32 << j);
            for k in -5000i64..5000 {
                check(k as f64 / step);
            }
            for _ in 0..20_000 {
                check(rng.i64(-(1 << 32)..(1 << 32)) as f64 / step);
                check(rng.i64(-(1 << 30)..(1 << 30)) as f64 / step);
                check(rng.i64(-(1 << 53)..(1 << 53)) as f64 / step);
            }
            for edge in [1_048_575.0, 1_048_576.0, 1_048_577.0, 0.5, 4_194_303.5] {
                check(edge / step);
                check(-edge / step);
                check(edge / step + 0.5);
            }
        }
        for _ in 0..100_000 {
            check(rng.f64() * 1000.0);
            check((rng.f64() - 0.5) * 1e-3);
        }
    }

    /// The remembered seconds write the integer's text: the same second again, the next,
    /// one with more digits, timestamps below a second, at random.
    #[test]
    fn timestamp_text_is_the_integer() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut text = TimestampText::default();
        let mut check = |t: u64| {
            let mut out = b"x".to_vec();
            text.write(&mut out, t);
            assert_eq!(String::from_utf8(out).unwrap(), format!("x{t}"));
        };
        for t in [0, 1, 9, 10, 999, 1000, 1001, 1000, 0, 9_999_999, 10_000_000, 9_999_000, u64::MAX, u64::MAX - 1] {
            check(t);
        }
        let mut t = 1_700_000_000_000u64;
        for _ in 0..100_000 {
            t = match rng.u8(..6) {
                0 => rng.u64(..),
                1 => rng.u64(..100_000),
                2 => t.saturating_sub(rng.u64(..2000)),
                _ => t.saturating_add(rng.u64(..700)),
            };
            check(t);
        }
    }

    #[test]
    fn numbers_are_compact_and_round_trip() {
        let cases = [
            (1.0, "1"),
            (-0.0, "0"),
            (0.5, "0.5"),
            (1e300, "1e300"),
            (-2.5e-7, "-2.5e-7"),
            (-1.0, "-1"),
            (4_294_967_295.0, "4294967295"),
            (4_294_967_296.0, "4294967296"),
            (4_294_967_295.5, "4294967295.5"),
            (9_007_199_254_740_992.0, "9007199254740992.0"),
            (0.0009765625, "0.0009765625"),
            (-1048575.0009765625, "-1048575.0009765625"),
        ];
        for (v, s) in cases {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), s);
        }
    }
}
