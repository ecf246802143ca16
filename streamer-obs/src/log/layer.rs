//! The `tracing-subscriber` layer that writes one compact JSON object per line.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::buffer::LineSink;
use super::json;
use super::redact::Redactor;
use super::span_store::SpanStore;
use crate::clock::Clock;
use crate::config::{Config, LogLevel};
use crate::invocation::Invocation;
use crate::static_memo::StaticStrMemo;

/// Keys the SDK writes itself; a user field with one of these names is written as
/// `field.<name>` so no line ever holds a key twice.
const RESERVED: &[&str] = &[
    "timestamp",
    "level",
    "message",
    "service",
    "cold_start",
    "function_name",
    "function_request_id",
    "function_arn",
    "function_memory_size",
    "function_version",
    "xray_trace_id",
    "environment",
    "sampling_rate",
    "target",
];

/// Settings shared by the layer and its span-field recorder.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `,"service":"..."` rendered once (the value never changes).
    service_json: Box<[u8]>,
    /// `,"environment":"..."` rendered once.
    environment_json: Box<[u8]>,
    function_name: Option<Box<str>>,
    filter: tracing_subscriber::filter::Targets,
    sample_rate: f64,
    redactor: Redactor,
    dev: bool,
    max_level: Level,
    /// The fields of the live spans that have some. Those of spans other than the
    /// runtime's are tagged: inside an invocation the runtime's span is never written, so
    /// while none is tagged an event has no span field to write and skips the walk up its
    /// scope (registry lookups for every span).
    spans: SpanStore<SpanFields>,
    /// Field names found plain (see [`Shared::key_is_plain`]), by address.
    plain_keys: StaticStrMemo,
}

impl Shared {
    /// Whether a field named `key` is written as `,"key":value` with nothing to decide per
    /// line: not a `log.` field, no leading `@`, not a reserved name, nothing to escape and
    /// not redacted. Field names are `&'static`, so the answer is asked once per name; other
    /// names take [`write_key`] and the redaction check.
    #[inline]
    fn key_is_plain(&self, key: &'static str) -> bool {
        self.plain_keys.get_or(key, |k| {
            !k.starts_with("log.")
                && !k.starts_with('@')
                && k != FATAL_FIELD
                && !RESERVED.contains(&k)
                && json::escape_free(k)
                && !self.redactor.is_redacted(k)
                && !json::contains_jwt(k)
        })
    }
}

/// Appends `,"key":` for a key [`Shared::key_is_plain`] accepted.
#[inline]
fn write_plain_key(out: &mut Vec<u8>, key: &str) {
    out.reserve(key.len() + 4);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `prefix` followed by `value` as a JSON string (escaped and scrubbed like any value).
fn rendered_key(prefix: &str, value: &str) -> Box<[u8]> {
    let mut out = prefix.as_bytes().to_vec();
    json::write_str(&mut out, value);
    out.into_boxed_slice()
}

/// The JSON log layer. Build it with [`crate::log::layer`].
pub struct JsonLayer<W> {
    writer: Arc<W>,
    clock: Arc<dyn Clock>,
    shared: Arc<Shared>,
    sink: LineSink,
}

impl<W> std::fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLayer").field("shared", &self.shared).field("clock", &self.clock).finish()
    }
}

impl<W> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    pub(crate) fn new(config: &Config, writer: W, clock: Arc<dyn Clock>) -> Self {
        let log = config.log();
        let sample_rate = log.sample_rate();
        let mut max_level = log.level().to_tracing();
        // Per-target directives may be more verbose than the default level.
        for l in [Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN] {
            if target_max_enables(log.filter(), l) {
                max_level = max_level.max(l);
                break;
            }
        }
        if sample_rate > 0.0 {
            max_level = max_level.max(Level::DEBUG);
        }
        // INFO spans are recorded at any level (see `span_always_on`); INFO events that the
        // filter refuses are turned off per callsite in `register_callsite`.
        max_level = max_level.max(Level::INFO);
        let shared = Arc::new(Shared {
            service_json: rendered_key(",\"service\":", config.service()),
            environment_json: rendered_key(",\"environment\":", config.environment()),
            function_name: config.function_name().map(Into::into),
            filter: log.filter().clone(),
            sample_rate,
            redactor: log.redactor().clone(),
            dev: log.dev(),
            max_level,
            spans: SpanStore::new(),
            plain_keys: StaticStrMemo::new(),
        });
        let writer = Arc::new(writer);
        let w = Arc::clone(&writer);
        let dev = log.dev();
        let sink: LineSink = Arc::new(move |line: &[u8]| write_line(&*w, line, dev));
        Self { writer, clock, shared, sink }
    }

    fn statically_enabled(&self, meta: &Metadata<'_>) -> bool {
        self.shared.filter.would_enable(meta.target(), meta.level())
    }

    fn sampling_enables(&self, level: &Level) -> bool {
        self.shared.sample_rate > 0.0
            && *level <= Level::DEBUG
            && Invocation::with_current(|i| i.debug_sampled()).unwrap_or(false)
    }

    /// Writes an SDK-internal line (not through `tracing`, so it also works from inside
    /// the layer).
    fn internal_line(&self, level: LogLevel, message: &str, inv: Option<&Invocation>) {
        let mut line = Vec::with_capacity(256);
        self.write_prefix(&mut line, level);
        json::write_str(&mut line, message);
        self.write_context_keys(&mut line, inv, &[], &mut WrittenKeys::default(), &mut InvocationKeys::default());
        line.extend_from_slice(b"}\n");
        if line.len() > super::MAX_LINE_BYTES {
            json::cap_line(&mut line, super::MAX_LINE_BYTES);
        }
        write_line(&*self.writer, &line, self.shared.dev);
    }

    /// `{"timestamp":...,"level":"...","message":` (the message's value follows).
    /// [`Self::write_prefix`] of a `"level":"FATAL"` line ([`FATAL_FIELD`]).
    #[cold]
    fn write_fatal_prefix(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"timestamp\":");
        json::write_timestamp(out, self.clock.now_millis());
        out.extend_from_slice(b",\"level\":\"FATAL\",\"message\":");
    }

    fn write_prefix(&self, out: &mut Vec<u8>, level: LogLevel) {
        out.extend_from_slice(b"{\"timestamp\":");
        json::write_timestamp(out, self.clock.now_millis());
        out.extend_from_slice(match level {
            LogLevel::Trace => b",\"level\":\"TRACE\",\"message\":",
            LogLevel::Debug => b",\"level\":\"DEBUG\",\"message\":",
            LogLevel::Info => b",\"level\":\"INFO\",\"message\":",
            LogLevel::Warn => b",\"level\":\"WARN\",\"message\":",
            LogLevel::Error => b",\"level\":\"ERROR\",\"message\":",
        });
    }

    /// `service`, the invocation keys, `environment` and the correlation fields (and the
    /// Lambda tenant). `event_fields` holds the event's fields as written (their keys are
    /// in `keys`): a correlation field with a key already written there is skipped.
    fn write_context_keys(
        &self,
        out: &mut Vec<u8>,
        inv: Option<&Invocation>,
        event_fields: &[u8],
        keys: &mut WrittenKeys,
        invocation_keys: &mut InvocationKeys,
    ) {
        out.extend_from_slice(&self.shared.service_json);
        match inv {
            Some(inv) => invocation_keys.write(out, inv),
            None => {
                if let Some(f) = &self.shared.function_name {
                    out.extend_from_slice(b",\"function_name\":");
                    json::write_str(out, f);
                }
            }
        }
        out.extend_from_slice(&self.shared.environment_json);
        if self.shared.sample_rate > 0.0 {
            out.extend_from_slice(b",\"sampling_rate\":");
            json::write_f64(out, self.shared.sample_rate);
        }
        if let Some(inv) = inv {
            // Values were redacted and rendered when they were attached
            // (`Invocation::append_field`).
            inv.for_each_field(|k, v| {
                let start = out.len();
                write_attached_key(out, k);
                if keys.keep_line_key(event_fields, out, start) {
                    out.extend_from_slice(v.as_bytes());
                }
            });
            if let Some(t) = inv.tenant_id() {
                let start = out.len();
                out.extend_from_slice(b",\"tenant_id\":");
                if keys.keep_line_key(event_fields, out, start) {
                    json::write_str(out, t);
                }
            }
        }
    }
}

/// Spans at INFO or above are always recorded, whatever the level: their fields belong on
/// every line inside them, and the lines that pass a stricter level (WARN, ERROR) need them
/// most.
fn span_always_on(meta: &Metadata<'_>) -> bool {
    meta.is_span() && *meta.level() <= Level::INFO
}

fn target_max_enables(filter: &tracing_subscriber::filter::Targets, level: Level) -> bool {
    filter.iter().any(|(_, l)| l >= level) || filter.default_level().is_some_and(|l| l >= level)
}

fn write_line<W: for<'w> MakeWriter<'w>>(writer: &W, line: &[u8], dev: bool) {
    let mut w = writer.make_writer();
    // A failed write to stdout cannot be reported anywhere else; it never panics.
    if dev {
        let _ = w.write_all(&json::pretty(line.strip_suffix(b"\n").unwrap_or(line)));
    } else {
        let _ = w.write_all(line);
    }
    let _ = w.flush();
}

/// Appends `,"key":` with the key cleaned: a leading `@` becomes `at_` (Logs Insights
/// reserves `@` names), reserved names get a `field.` prefix, a JWT-shaped run becomes
/// `[REDACTED]`.
fn write_key(out: &mut Vec<u8>, key: &str) {
    write_key_with_suffix(out, key, "");
}

/// [`write_key`] for a correlation field's key, refused when JWT-shaped at attach
/// (`Invocation::append_field`): no scan per line.
fn write_attached_key(out: &mut Vec<u8>, key: &str) {
    write_cleaned_key(out, key, "");
}

/// [`write_key`] for the key `key` + `suffix` (`suffix` is plain: `.type`, `.message`,
/// ...), with the renaming rules applied to the whole key.
fn write_key_with_suffix(out: &mut Vec<u8>, key: &str, suffix: &str) {
    if json::contains_jwt(key) {
        write_cleaned_key(out, &json::scrub_jwts(key), suffix);
    } else {
        write_cleaned_key(out, key, suffix);
    }
}

/// [`write_key_with_suffix`] of a key known free of JWT-shaped runs.
fn write_cleaned_key(out: &mut Vec<u8>, key: &str, suffix: &str) {
    out.extend_from_slice(b",\"");
    let mut k = key;
    if k.starts_with('@') {
        out.extend_from_slice(b"at_");
        k = k.trim_start_matches('@');
    } else if suffix.is_empty() && RESERVED.contains(&k) {
        out.extend_from_slice(b"field.");
    }
    json::escape_into(out, k);
    out.extend_from_slice(suffix.as_bytes());
    out.extend_from_slice(b"\":");
}

/// The keys written on the line being built, as written (after renaming and escaping),
/// so that no key is written twice: by the byte range of each key in the buffer that
/// holds it (the event's fields buffer, or the line). Kept in the thread's scratch: no
/// allocation once warm.
#[derive(Default)]
struct WrittenKeys {
    /// Ranges in the event fields buffer.
    event: Vec<(usize, usize)>,
    /// Ranges in the line (correlation fields, Lambda tenant, span fields).
    line: Vec<(usize, usize)>,
    /// One bit per key written so far ([`key_bit`]): a key whose bit is not set is new
    /// without comparing it with any other (the usual case).
    event_bits: u64,
    line_bits: u64,
}

/// A bit of a 64-bit filter for `key`, from its length and its first and last bytes.
#[inline]
fn key_bit(key: &[u8]) -> u64 {
    let (first, last) = (key.first().copied().unwrap_or(0), key.last().copied().unwrap_or(0));
    let h = (key.len() as u32).wrapping_mul(31) ^ u32::from(first).wrapping_mul(7) ^ u32::from(last);
    1 << (h % 64)
}

impl WrittenKeys {
    const fn new() -> Self {
        Self { event: Vec::new(), line: Vec::new(), event_bits: 0, line_bits: 0 }
    }

    fn clear(&mut self) {
        self.event.clear();
        self.line.clear();
        self.event_bits = 0;
        self.line_bits = 0;
    }

    /// `out[start..]` is `,"key":` of an event field just written: true (and remembered)
    /// when the key is new on the line; else the key is taken back out of `out`.
    #[inline]
    fn keep_event_key(&mut self, out: &mut Vec<u8>, start: usize) -> bool {
        let key = (start + 2, out.len() - 2);
        let k = &out[key.0..key.1];
        let bit = key_bit(k);
        if self.event_bits & bit != 0 && self.event.iter().any(|&(s, e)| &out[s..e] == k) {
            out.truncate(start);
            return false;
        }
        self.event_bits |= bit;
        self.event.push(key);
        true
    }

    /// [`Self::keep_event_key`] for a key written on the line, checked against the event's
    /// keys (in `event_fields`) and the line's.
    #[inline]
    fn keep_line_key(&mut self, event_fields: &[u8], out: &mut Vec<u8>, start: usize) -> bool {
        let key = (start + 2, out.len() - 2);
        let k = &out[key.0..key.1];
        let bit = key_bit(k);
        if (self.event_bits & bit != 0 && self.event.iter().any(|&(s, e)| &event_fields[s..e] == k))
            || (self.line_bits & bit != 0 && self.line.iter().any(|&(s, e)| &out[s..e] == k))
        {
            out.truncate(start);
            return false;
        }
        self.line_bits |= bit;
        self.line.push(key);
        true
    }
}

/// What a value whose `Debug` or `Display` panicked is written as.
pub(crate) const PANICKED: &str = "<panicked while formatting>";

/// Formats a user value into `buf` (emptied first) with `format`; a panic in the value's
/// `Debug`/`Display` is caught and leaves [`PANICKED`] (the line is still written), and a
/// `fmt::Error` keeps what was written before it.
#[inline]
fn format_guarded(buf: &mut String, format: impl FnOnce(&mut String) -> std::fmt::Result) {
    buf.clear();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = format(&mut *buf);
    }));
    if caught.is_err() {
        buf.clear();
        buf.push_str(PANICKED);
    }
}

/// Span fields, pre-rendered as JSON values (redaction already applied): the keys (the
/// callsite's `&'static` names) with the byte range of their value in one buffer.
/// `runtime` marks `lambda_runtime`'s own invocation span, whose `requestId` and
/// `xrayTraceId` fields repeat `function_request_id` / `xray_trace_id` inside an
/// invocation (they are only written outside one).
#[derive(Debug, Default)]
struct SpanFields {
    entries: smallvec::SmallVec<[(&'static str, u32, u32); 4]>,
    values: smallvec::SmallVec<[u8; 64]>,
    runtime: bool,
}

impl super::span_store::Tagged for SpanFields {
    /// Tagged: a span other than the runtime's (see `Shared::spans`).
    fn tagged(&self) -> bool {
        !self.runtime
    }
}

thread_local! {
    /// Where a span field value is rendered before it is copied into its [`SpanFields`].
    static SPAN_VALUE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The name of `lambda_runtime`'s per-invocation span.
const RUNTIME_SPAN: &str = "Lambda runtime invoke";

impl SpanFields {
    /// Sets `key` to the value `render` writes (a recorded-again field replaces its value).
    fn set(&mut self, key: &'static str, render: impl FnOnce(&mut Vec<u8>)) {
        SPAN_VALUE.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut value) => {
                value.clear();
                render(&mut value);
                self.set_rendered(key, &value);
            }
            // Re-entered (a `Debug` impl that records a span field): render apart.
            Err(_) => {
                let mut value = Vec::new();
                render(&mut value);
                self.set_rendered(key, &value);
            }
        });
    }

    fn set_rendered(&mut self, key: &'static str, value: &[u8]) {
        match self.entries.iter().position(|(k, _, _)| *k == key) {
            None => {
                let start = self.values.len() as u32;
                self.values.extend_from_slice(value);
                self.entries.push((key, start, self.values.len() as u32));
            }
            Some(i) => {
                // The new value takes the old one's place; the ones after it shift.
                let (_, old_start, old_end) = self.entries[i];
                let (old_start, old_end) = (old_start as usize, old_end as usize);
                let delta = value.len() as i64 - (old_end - old_start) as i64;
                let mut values = smallvec::SmallVec::<[u8; 64]>::with_capacity(self.values.len());
                values.extend_from_slice(&self.values[..old_start]);
                values.extend_from_slice(value);
                values.extend_from_slice(&self.values[old_end..]);
                self.values = values;
                for e in self.entries.iter_mut() {
                    if e.1 as usize >= old_end {
                        e.1 = (e.1 as i64 + delta) as u32;
                        e.2 = (e.2 as i64 + delta) as u32;
                    }
                }
                self.entries[i] = (key, old_start as u32, (old_start + value.len()) as u32);
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8])> {
        self.entries.iter().map(|&(k, s, e)| (k, &self.values[s as usize..e as usize]))
    }
}

/// Records span fields into [`SpanFields`].
struct SpanVisitor<'a> {
    fields: &'a mut SpanFields,
    redactor: &'a Redactor,
}

impl SpanVisitor<'_> {
    fn put(&mut self, field: &Field, render: impl FnOnce(&mut Vec<u8>)) {
        if self.redactor.is_redacted_static(field.name()) {
            self.fields.set_rendered(field.name(), REDACTED_JSON);
        } else {
            self.fields.set(field.name(), render);
        }
    }

    /// [`Self::put`] for a value rendered on the stack (integers, booleans): no scratch
    /// buffer to borrow.
    fn put_rendered(&mut self, field: &Field, value: &[u8]) {
        let value = if self.redactor.is_redacted_static(field.name()) { REDACTED_JSON } else { value };
        self.fields.set_rendered(field.name(), value);
    }
}

impl Visit for SpanVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, |v| json::write_f64(v, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put_rendered(field, itoa::Buffer::new().format(value).as_bytes());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put_rendered(field, itoa::Buffer::new().format(value).as_bytes());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put_rendered(field, if value { b"true" } else { b"false" });
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let redactor = self.redactor;
        self.put(field, |v| json::write_text(v, value, redactor));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = String::new();
        format_guarded(&mut text, |t| write!(t, "{value}"));
        let redactor = self.redactor;
        self.put(field, |v| json::write_text(v, &text, redactor));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        format_guarded(&mut text, |t| write!(t, "{value:?}"));
        let redactor = self.redactor;
        self.put(field, |v| json::write_text(v, &text, redactor));
    }
}

/// Per-thread scratch buffers, reused across events (no allocation per line once warm).
struct Scratch {
    line: Vec<u8>,
    fields: Vec<u8>,
    message: String,
    text: String,
    keys: WrittenKeys,
    invocation_keys: InvocationKeys,
}

impl Scratch {
    const fn new() -> Self {
        Scratch {
            line: Vec::new(),
            fields: Vec::new(),
            message: String::new(),
            text: String::new(),
            keys: WrittenKeys::new(),
            invocation_keys: InvocationKeys::new(),
        }
    }

    /// Lets go of buffers a huge line grew (a thread keeps its scratch for good).
    fn shrink(&mut self) {
        const KEEP: usize = 2 * super::MAX_LINE_BYTES;
        if self.line.capacity() > KEEP {
            self.line = Vec::new();
        }
        if self.fields.capacity() > KEEP {
            self.fields = Vec::new();
        }
        if self.message.capacity() > KEEP {
            self.message = String::new();
        }
        if self.text.capacity() > KEEP {
            self.text = String::new();
        }
    }
}

/// The invocation keys around the request id (`cold_start`, `function_name`,
/// `function_arn`, `function_memory_size`, the start of `xray_trace_id`) as this thread last
/// rendered them. Every invocation of a function in one execution environment has the same
/// name, ARN and memory size (and after the first the same cold start): they are compared
/// with what the keys were rendered from (two `memcmp`s) and the keys copied in two pieces,
/// instead of written one by one with the byte-class checks of the name and ARN.
#[derive(Default)]
struct InvocationKeys {
    rendered: bool,
    cold_start: bool,
    memory_mb: Option<u32>,
    traced: bool,
    function_name: Vec<u8>,
    arn: Vec<u8>,
    /// `,"cold_start":...` to `,"function_request_id":` (the request id follows).
    head: Vec<u8>,
    /// `,"function_arn":...`, `,"function_memory_size":...` and `,"xray_trace_id":"` when
    /// the invocation has them (the trace id's root and closing quote follow).
    tail: Vec<u8>,
}

impl InvocationKeys {
    const fn new() -> Self {
        Self {
            rendered: false,
            cold_start: false,
            memory_mb: None,
            traced: false,
            function_name: Vec::new(),
            arn: Vec::new(),
            head: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// Appends the invocation keys of `inv`.
    fn write(&mut self, out: &mut Vec<u8>, inv: &Invocation) {
        if !self.rendered_from(inv) {
            self.render(inv);
        }
        out.extend_from_slice(&self.head);
        json::write_str(out, inv.request_id());
        out.extend_from_slice(&self.tail);
        if let Some(h) = inv.trace_header() {
            out.extend_from_slice(h.root().as_bytes());
            out.push(b'"');
        }
    }

    fn rendered_from(&self, inv: &Invocation) -> bool {
        self.rendered
            && self.cold_start == inv.cold_start()
            && self.memory_mb == inv.memory_mb()
            && self.traced == inv.trace_header().is_some()
            && self.function_name == inv.function_name().as_bytes()
            && self.arn == inv.invoked_function_arn().as_bytes()
    }

    fn render(&mut self, inv: &Invocation) {
        let (head, tail) = (&mut self.head, &mut self.tail);
        head.clear();
        head.extend_from_slice(if inv.cold_start() { b",\"cold_start\":true" } else { b",\"cold_start\":false" });
        if !inv.function_name().is_empty() {
            head.extend_from_slice(b",\"function_name\":");
            json::write_str(head, inv.function_name());
        }
        head.extend_from_slice(b",\"function_request_id\":");
        tail.clear();
        let arn = inv.invoked_function_arn();
        if !arn.is_empty() {
            tail.extend_from_slice(b",\"function_arn\":");
            json::write_str(tail, arn);
        }
        if let Some(mb) = inv.memory_mb() {
            tail.extend_from_slice(b",\"function_memory_size\":");
            json::write_u64(tail, u64::from(mb));
        }
        if inv.trace_header().is_some() {
            tail.extend_from_slice(b",\"xray_trace_id\":\"");
        }
        self.cold_start = inv.cold_start();
        self.memory_mb = inv.memory_mb();
        self.traced = inv.trace_header().is_some();
        self.function_name.clear();
        self.function_name.extend_from_slice(inv.function_name().as_bytes());
        self.arn.clear();
        self.arn.extend_from_slice(arn.as_bytes());
        self.rendered = true;
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Writes event fields into `out` (each as `,"key":value`), the message into `message`.
struct EventVisitor<'a> {
    out: &'a mut Vec<u8>,
    message: &'a mut String,
    text: &'a mut String,
    keys: &'a mut WrittenKeys,
    shared: &'a Shared,
    has_message: bool,
    /// The event asked for `"level":"FATAL"` ([`FATAL_FIELD`]).
    fatal: bool,
}

/// The field that makes an ERROR event a `"level":"FATAL"` line (`tracing` has no level
/// above ERROR; Lambda's JSON log filter at `AWS_LAMBDA_LOG_LEVEL=FATAL` keeps only those):
/// `tracing::error!(streamer_obs_level = "FATAL", "…")`. The field itself is not written;
/// on an event below ERROR it is ignored.
///
/// ```
/// use streamer_obs::config::Config;
/// use streamer_obs::testing::{CapturingWriter, FixedClock};
/// let writer = CapturingWriter::new();
/// let subscriber = streamer_obs::log::subscriber(&Config::default(), writer.clone(), FixedClock::at_millis(0));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::error!(streamer_obs_level = "FATAL", "cannot start");
/// });
/// let line = &writer.json_lines()[0];
/// assert_eq!(line["level"], "FATAL");
/// assert!(line.get(streamer_obs::log::FATAL_FIELD).is_none());
/// ```
pub const FATAL_FIELD: &str = "streamer_obs_level";

/// How many `source()`s of an error are written; a longer chain ends with a
/// `"… N more"` entry.
const MAX_ERROR_SOURCES: usize = 32;
/// How far past [`MAX_ERROR_SOURCES`] the rest of a chain is counted.
const MAX_SOURCES_COUNTED: usize = 1024;

impl EventVisitor<'_> {
    /// Writes the field's key; returns false when the value must not be written (the key
    /// was already written, a `log.` field, or redacted: then `"[REDACTED]"` is written).
    #[inline]
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        let start = self.out.len();
        if self.shared.key_is_plain(name) {
            write_plain_key(self.out, name);
            return self.keys.keep_event_key(self.out, start);
        }
        // `log.` fields and the FATAL marker are never written.
        if name.starts_with("log.") || name == FATAL_FIELD {
            return false;
        }
        write_key(self.out, name);
        if !self.keys.keep_event_key(self.out, start) {
            return false;
        }
        if self.shared.redactor.is_redacted_static(name) {
            self.out.extend_from_slice(REDACTED_JSON);
            return false;
        }
        true
    }

    /// Writes the key `name` + `suffix` of one of an error's keys; false when it was
    /// already written.
    fn error_key(&mut self, name: &str, suffix: &str) -> bool {
        let start = self.out.len();
        write_key_with_suffix(self.out, name, suffix);
        self.keys.keep_event_key(self.out, start)
    }
}

const REDACTED_JSON: &[u8] = b"\"[REDACTED]\"";

/// The `source()` of `e`; `None` when it panics.
fn source_guarded<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e (dyn std::error::Error + 'static)> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.source())).unwrap_or(None)
}

impl Visit for EventVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            json::write_f64(self.out, value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            json::write_i64(self.out, value);
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            json::write_u64(self.out, value);
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.out.extend_from_slice(if value { b"true" } else { b"false" });
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        // A plain key is never `message` (reserved): one memo lookup settles most fields
        // before the name is compared with `message`.
        if self.shared.key_is_plain(field.name()) {
            let start = self.out.len();
            write_plain_key(self.out, field.name());
            if self.keys.keep_event_key(self.out, start) {
                json::write_text(self.out, value, &self.shared.redactor);
            }
        } else if field.name() == "message" {
            self.message.clear();
            self.message.push_str(value);
            self.has_message = true;
        } else if field.name() == FATAL_FIELD && value == "FATAL" {
            self.fatal = true;
        } else if self.key(field) {
            json::write_text(self.out, value, &self.shared.redactor);
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        let redacted = self.shared.redactor.is_redacted_static(name);
        if self.error_key(name, ".type") {
            // error.type: the concrete type is not available through `dyn Error`; the
            // leading identifier of its `Debug` output names the struct or variant.
            format_guarded(self.text, |t| write!(t, "{value:?}"));
            json::write_str(self.out, crate::error_type::from_debug(self.text));
        }
        if self.error_key(name, ".message") {
            if redacted {
                self.out.extend_from_slice(REDACTED_JSON);
            } else {
                format_guarded(self.text, |t| write!(t, "{value}"));
                json::write_text(self.out, self.text, &self.shared.redactor);
            }
        }
        if self.error_key(name, ".sources") {
            self.out.push(b'[');
            let mut source = source_guarded(value);
            let mut written = 0;
            while let Some(s) = source {
                if written == MAX_ERROR_SOURCES {
                    // The rest of the chain is counted (up to a bound: a chain may loop).
                    let mut more = 0;
                    let mut rest = Some(s);
                    while let Some(r) = rest {
                        if more == MAX_SOURCES_COUNTED {
                            break;
                        }
                        more += 1;
                        rest = source_guarded(r);
                    }
                    self.text.clear();
                    let plus = if rest.is_some() { "+" } else { "" };
                    let _ = write!(self.text, "… {more}{plus} more");
                    self.out.push(b',');
                    json::write_str(self.out, self.text);
                    break;
                }
                if written > 0 {
                    self.out.push(b',');
                }
                if redacted {
                    self.out.extend_from_slice(REDACTED_JSON);
                } else {
                    format_guarded(self.text, |t| write!(t, "{s}"));
                    json::write_text(self.out, self.text, &self.shared.redactor);
                }
                written += 1;
                source = source_guarded(s);
            }
            self.out.push(b']');
        }
        let bt = std::backtrace::Backtrace::capture();
        if bt.status() == std::backtrace::BacktraceStatus::Captured && self.error_key(name, ".backtrace") {
            json::write_str(self.out, &bt.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            format_guarded(self.message, |m| write!(m, "{value:?}"));
            self.has_message = true;
        } else if field.name() == FATAL_FIELD {
            // Given with `%` (`FATAL`) or `?` (`"FATAL"`).
            self.text.clear();
            format_guarded(self.text, |t| write!(t, "{value:?}"));
            self.fatal |= self.text.trim_matches('"') == "FATAL";
        } else if self.key(field) {
            format_guarded(self.text, |t| write!(t, "{value:?}"));
            json::write_text(self.out, self.text, &self.shared.redactor);
        }
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if span_always_on(meta) || self.statically_enabled(meta) {
            tracing::subscriber::Interest::always()
        } else if self.shared.sample_rate > 0.0 && *meta.level() <= Level::DEBUG {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        span_always_on(meta) || self.statically_enabled(meta) || self.sampling_enables(meta.level())
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(self.shared.max_level))
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        // A span without values gets its fields on its first record.
        if attrs.values().is_empty() {
            return;
        }
        let runtime = attrs.metadata().name() == RUNTIME_SPAN;
        let mut fields = SpanFields { runtime, ..SpanFields::default() };
        attrs.record(&mut SpanVisitor { fields: &mut fields, redactor: &self.shared.redactor });
        // Only `Empty` values (recorded later): nothing to store yet.
        if !fields.entries.is_empty() {
            self.store_new(id, fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // Rendered apart, then merged under the store's lock: a value's `Debug` may log or
        // record fields itself, and must not find the lock held.
        let mut recorded = SpanFields::default();
        values.record(&mut SpanVisitor { fields: &mut recorded, redactor: &self.shared.redactor });
        if recorded.entries.is_empty() {
            return;
        }
        self.shared.spans.merge_or_insert(
            id.into_u64(),
            recorded,
            |fields, recorded| {
                for (k, v) in recorded.iter() {
                    fields.set_rendered(k, v);
                }
            },
            |fields| fields.runtime = ctx.metadata(id).is_some_and(|m| m.name() == RUNTIME_SPAN),
        );
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        self.shared.spans.remove(id.into_u64(), |_| ());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // A handle, not a borrow of the task-local: writing the line runs the fields'
        // `Debug`/`Display` and the writer, which may enter the invocation's scope
        // themselves (tokio refuses to while the task-local is borrowed).
        let inv = Invocation::current();
        self.write_event(event, &ctx, inv.as_deref());
    }
}

impl<W> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    /// Writes (or buffers) the line of `event`, inside `inv` if any.
    #[inline]
    fn write_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>, inv: Option<&Invocation>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let written = SCRATCH.try_with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                self.write_event_with(&mut scratch, event, ctx, inv);
                scratch.shrink();
            }
            // Re-entered: a field's `Debug` (or the writer) logs while this thread's
            // scratch is in use. The inner line gets buffers of its own.
            Err(_) => self.write_event_with(&mut Scratch::new(), event, ctx, inv),
        });
        // The thread is exiting (its scratch is gone).
        if written.is_err() {
            self.write_event_with(&mut Scratch::new(), event, ctx, inv);
        }
    }

    #[inline]
    fn write_event_with<S>(
        &self,
        scratch: &mut Scratch,
        event: &Event<'_>,
        ctx: &Context<'_, S>,
        inv: Option<&Invocation>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let level = LogLevel::from_tracing(*event.metadata().level());
        let Scratch { line, fields, message, text, keys, invocation_keys } = scratch;
        line.clear();
        fields.clear();
        message.clear();
        keys.clear();
        let mut visitor =
            EventVisitor { out: fields, message, text, keys, shared: &self.shared, has_message: false, fatal: false };
        event.record(&mut visitor);

        if visitor.fatal && level == LogLevel::Error {
            self.write_fatal_prefix(line);
        } else {
            self.write_prefix(line, level);
        }
        json::write_text(line, message, &self.shared.redactor);
        // Event fields win over correlation fields and span fields of the same key.
        self.write_context_keys(line, inv, fields, keys, invocation_keys);
        line.extend_from_slice(fields);

        // Span fields, innermost first; a key already written is skipped. Inside an
        // invocation, while no span but the runtime's holds fields, there is none to
        // write: the walk is skipped.
        let walk = inv.is_none() || self.shared.spans.tagged() != 0;
        if walk && let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                self.shared.spans.with(span.id().into_u64(), |sf| {
                    let Some(sf) = sf else { return };
                    if sf.runtime && inv.is_some() {
                        return;
                    }
                    for (k, v) in sf.iter() {
                        let start = line.len();
                        if self.shared.key_is_plain(k) {
                            write_plain_key(line, k);
                        } else {
                            write_key(line, k);
                        }
                        if keys.keep_line_key(fields, line, start) {
                            line.extend_from_slice(v);
                        }
                    }
                });
            }
        }
        line.extend_from_slice(b"}\n");
        if line.len() > super::MAX_LINE_BYTES {
            json::cap_line(line, super::MAX_LINE_BYTES);
        }

        match inv {
            Some(inv) => self.deliver(line, level, inv),
            None => write_line(&*self.writer, line, self.shared.dev),
        }
    }
}

impl<W> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    /// Stores the fields of a span that had none.
    #[inline]
    fn store_new(&self, id: &Id, fields: SpanFields) {
        // Counted with a relaxed add: an event inside the span happens after this (on any
        // thread, through whatever handed the span over), so it sees this count or a later
        // one, which still includes it until the span closes.
        self.shared.spans.insert(id.into_u64(), fields);
    }

    /// Writes or buffers a finished line of an invocation.
    fn deliver(&self, line: &[u8], level: LogLevel, inv: &Invocation) {
        if let Some(buffer) = &inv.log_buffer {
            let mut b = buffer.lock().unwrap_or_else(|p| p.into_inner());
            if level <= b.config().buffer_at() {
                let warning = b.push(line, &self.sink);
                drop(b);
                if let Some(warning) = warning {
                    self.internal_line(LogLevel::Warn, warning, Some(inv));
                }
                return;
            }
            if level == LogLevel::Error && b.config().flushes_on_error_log() {
                // Written without the lock: a writer that logs comes back here.
                let held = b.take();
                drop(b);
                held.write();
            }
        }
        write_line(&*self.writer, line, self.shared.dev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: &SpanFields) -> Vec<(&'static str, String)> {
        f.iter().map(|(k, v)| (k, String::from_utf8(v.to_vec()).unwrap())).collect()
    }

    /// The shared settings of a layer with the default configuration (default redaction
    /// keys: `token`, `authorization`, ...).
    fn shared() -> Arc<Shared> {
        let config = crate::config::Config::default();
        Arc::clone(&JsonLayer::new(&config, std::io::sink, Arc::new(crate::clock::SystemClock)).shared)
    }

    /// The general way to write a field's key: `None` when the field is not written, else
    /// the key's bytes and whether its value is redacted.
    fn general_key(shared: &Shared, key: &str) -> Option<(Vec<u8>, bool)> {
        if key.starts_with("log.") {
            return None;
        }
        let mut out = Vec::new();
        write_key(&mut out, key);
        Some((out, shared.redactor.is_redacted(key)))
    }

    #[test]
    fn plain_keys_are_written_as_the_general_path_writes_them() {
        let shared = shared();
        let mut keys: Vec<&'static str> = vec![
            "user_id",
            "attempt",
            "log.target",
            "log",
            "logx",
            "@timestamp",
            "@",
            "level",
            "levels",
            "service",
            "field.level",
            "a\"b",
            "back\\slash",
            "tab\t",
            "é",
            "clé_token",
            "access_token",
            "Authorization",
            "jwt",
            "J",
            "eyJ",
            "",
            "target",
            "message",
            "x\u{7f}",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        const BYTES: &[u8] = b"aAzZ_.@-\"\\\tJ0";
        for _ in 0..2_000 {
            let len = rng.usize(0..12);
            let mut k: String = (0..len).map(|_| char::from(BYTES[rng.usize(..BYTES.len())])).collect();
            if rng.bool() {
                k.insert_str(rng.usize(..=k.len()), ["token", "log.", "é", "level"][rng.usize(..4)]);
            }
            keys.push(Box::leak(k.into_boxed_str()));
        }
        for _ in 0..2 {
            for &key in &keys {
                if shared.key_is_plain(key) {
                    let mut fast = Vec::new();
                    write_plain_key(&mut fast, key);
                    assert_eq!(general_key(&shared, key), Some((fast, false)), "{key:?}");
                }
            }
        }
        for key in ["user_id", "attempt", "eyJ", "J"] {
            assert!(shared.key_is_plain(key), "{key}");
        }
        for key in ["log.target", "@timestamp", "level", "a\"b", "access_token", "Authorization", "x\u{7f}"] {
            assert!(!shared.key_is_plain(key), "{key}");
        }
    }

    #[test]
    fn the_field_span_count_follows_the_spans_that_hold_fields() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let layer =
            JsonLayer::new(&crate::config::Config::default(), std::io::sink, Arc::new(crate::clock::SystemClock));
        let shared = Arc::clone(&layer.shared);
        let count = || shared.spans.tagged();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let bare = tracing::info_span!("bare", later = tracing::field::Empty);
            assert_eq!(count(), 0, "only empty values: nothing stored");
            let with = tracing::info_span!("with", n = 1);
            assert_eq!(count(), 1);
            bare.record("later", 2);
            assert_eq!(count(), 2);
            bare.record("later", 3);
            assert_eq!(count(), 2, "a second record keeps the span's one count");
            let runtime = tracing::info_span!("Lambda runtime invoke", requestId = "r");
            assert_eq!(count(), 2, "the runtime's span is not counted");
            let clone = with.clone();
            drop(with);
            assert_eq!(count(), 2, "a clone keeps the span open");
            drop(clone);
            drop(bare);
            drop(runtime);
            assert_eq!(count(), 0);
        });
    }

    #[test]
    fn first_records_of_one_span_on_two_threads_both_land_and_are_counted_once() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let writer = crate::testing::CapturingWriter::new();
        let layer =
            JsonLayer::new(&crate::config::Config::default(), writer.clone(), Arc::new(crate::clock::SystemClock));
        let shared = Arc::clone(&layer.shared);
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        for _ in 0..50 {
            tracing::dispatcher::with_default(&dispatch, || {
                let span = tracing::info_span!("s", a = tracing::field::Empty, b = tracing::field::Empty);
                std::thread::scope(|s| {
                    for (k, v) in [("a", 1), ("b", 2)] {
                        let span = span.clone();
                        s.spawn(move || {
                            span.record(k, v);
                        });
                    }
                });
                span.in_scope(|| tracing::info!("x"));
            });
            assert_eq!(shared.spans.tagged(), 0);
            let line = writer.json_lines().pop().expect("a line");
            assert_eq!((line["a"].as_u64(), line["b"].as_u64()), (Some(1), Some(2)));
        }
    }

    /// The invocation keys written one by one (the writer before [`InvocationKeys`]).
    fn invocation_keys_one_by_one(out: &mut Vec<u8>, inv: &Invocation) {
        out.extend_from_slice(if inv.cold_start() { b",\"cold_start\":true" } else { b",\"cold_start\":false" });
        if !inv.function_name().is_empty() {
            out.extend_from_slice(b",\"function_name\":");
            json::write_str(out, inv.function_name());
        }
        out.extend_from_slice(b",\"function_request_id\":");
        json::write_str(out, inv.request_id());
        if !inv.invoked_function_arn().is_empty() {
            out.extend_from_slice(b",\"function_arn\":");
            json::write_str(out, inv.invoked_function_arn());
        }
        if let Some(mb) = inv.memory_mb() {
            out.extend_from_slice(b",\"function_memory_size\":");
            json::write_u64(out, u64::from(mb));
        }
        if let Some(h) = inv.trace_header() {
            out.extend_from_slice(b",\"xray_trace_id\":\"");
            out.extend_from_slice(h.root().as_bytes());
            out.push(b'"');
        }
    }

    #[test]
    fn remembered_invocation_keys_are_the_keys_written_one_by_one() {
        use crate::invocation::ColdStartTracker;
        use crate::testing::ContextBuilder;
        const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let names = ["connect", "", "a\"b", "é-fn", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "connect-2"];
        let arns =
            ["arn:aws:lambda:eu-west-1:1:function:connect", "", "arn:\n", "arn:aws:lambda:eu-west-1:1:function:c"];
        let ids = ["8f8ea7ae-5b4d-4b2c-9e5f-1c2d3e4f5a6b", "", "r\"1", "req-é"];
        let config = crate::config::Config::default();
        let mut rng = fastrand::Rng::with_seed(5);
        let mut keys = InvocationKeys::default();
        for _ in 0..1_000 {
            let tracker = ColdStartTracker::new(&Default::default());
            if rng.bool() {
                tracker.take();
            }
            let mut ctx = ContextBuilder::new()
                .request_id(ids[rng.usize(..ids.len())])
                .function_name(names[rng.usize(..names.len())])
                .invoked_function_arn(arns[rng.usize(..arns.len())])
                .memory_mb([0, 128, 512][rng.usize(..3)]);
            if rng.bool() {
                ctx = ctx.trace_header(HEADER);
            }
            let inv = Invocation::from_context(&ctx.build(), &config, &tracker);
            for _ in 0..rng.usize(1..3) {
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                keys.write(&mut fast, &inv);
                invocation_keys_one_by_one(&mut general, &inv);
                assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(general).unwrap());
            }
        }
    }

    #[test]
    fn an_event_logged_while_the_scratch_is_in_use_is_written() {
        // A field's `Debug` or the writer logging: with the global dispatcher (as in
        // Lambda) the inner event reaches the layer while this thread's scratch is
        // borrowed by the outer one.
        let writer = crate::testing::CapturingWriter::new();
        let subscriber = crate::log::subscriber(
            &crate::config::Config::default(),
            writer.clone(),
            crate::testing::FixedClock::at_millis(0),
        );
        tracing::subscriber::with_default(subscriber, || {
            SCRATCH.with(|scratch| {
                let _outer = scratch.borrow_mut();
                tracing::info!(k = "v", "inner");
            });
            tracing::info!("after");
        });
        let lines = writer.json_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!((&lines[0]["message"], &lines[0]["k"]), (&"inner".into(), &"v".into()));
        assert_eq!(lines[1]["message"], "after");
    }

    #[test]
    fn recording_a_field_again_replaces_its_value_in_place() {
        let mut f = SpanFields::default();
        f.set("a", |v| v.extend_from_slice(b"1"));
        f.set("b", |v| v.extend_from_slice(b"\"two\""));
        f.set("c", |v| v.extend_from_slice(b"3"));
        f.set("a", |v| v.extend_from_slice(b"\"longer\""));
        assert_eq!(render(&f), [("a", "\"longer\"".into()), ("b", "\"two\"".into()), ("c", "3".into())]);
        f.set("b", |v| v.extend_from_slice(b"2"));
        f.set("c", |v| v.extend_from_slice(b"true"));
        assert_eq!(render(&f), [("a", "\"longer\"".into()), ("b", "2".into()), ("c", "true".into())]);
        assert_eq!(&f.values[..], b"\"longer\"2true");
    }
}
