//! The per-invocation subsegment tree and the guard that ends a subsegment on drop.
//!
//! Every [`Invocation`](crate::invocation::Invocation) owns one [`Recorder`]. It records
//! only when the trace header has a `Root`, a `Parent` and `Sampled=1`, tracing is not
//! disabled and the emitter is enabled; otherwise it is a no-op (and a missing or
//! malformed header is reported per `AWS_XRAY_CONTEXT_MISSING`: by default one ERROR
//! line per process, never a panic).
//!
//! Parentage: a subsegment opened with [`Recorder::subsegment`] (or
//! [`xray::subsegment`](crate::xray::subsegment)) is a child of the innermost subsegment
//! still open in the invocation, or of the header's `Parent` when none is open.
//! Subsegments of downstream calls (namespace `aws` or `remote`) are leaves: they are
//! never the implicit parent or the implicit target of `annotate`/`metadata`/
//! `record_error`, so concurrent SDK calls do not nest in each other.
//! Concurrent futures inside one invocation interleave, so when parentage matters use
//! [`SubsegmentGuard::child`], which always parents on that guard.
//!
//! Closed subsegments are nested into their parent; a closed top-level tree waits for
//! [`Recorder::flush`]. A child that closes after its parent was closed is sent as its
//! own document with the parent's id.
//!
//! ```
//! use std::sync::Arc;
//! use streamer_obs::trace_header::TraceHeader;
//! use streamer_obs::testing::CapturingEmitter;
//! use streamer_obs::xray::recorder::Recorder;
//! use streamer_obs::xray::cause::ErrorKind;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let header: TraceHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
//! let capture = CapturingEmitter::new();
//! let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
//! {
//!     let handler = rec.subsegment("HandleConnect");
//!     handler.annotate("connection_id", "abc").unwrap();
//!     let jwt = handler.child("ValidateJWT");
//!     jwt.record_error(&std::fmt::Error, ErrorKind::Error);
//! } // both end here
//! rec.flush().await;
//! let docs = capture.documents();
//! assert_eq!(docs.len(), 1);
//! assert_eq!(docs[0]["parent_id"], "53995c3f42cd8ad8");
//! assert_eq!(docs[0]["subsegments"][0]["name"], "ValidateJWT");
//! assert_eq!(docs[0]["subsegments"][0]["error"], true);
//! # });
//! ```

use std::borrow::Cow;
use std::cell::Cell;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::lock::SpinLock;

use serde::Serialize;

use crate::__private::AnnotationArg;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ContextMissing};
use crate::trace_header::{Sampled, SegmentId, TraceHeader, TraceHeaderError, TraceId};
use crate::xray::annotation::{
    AnnotationError, AnnotationValue, DEFAULT_METADATA_NAMESPACE, INDEXED_ANNOTATIONS_PER_TRACE, check_key,
    check_namespace,
};
use crate::xray::cause::{ErrorDetails, ErrorKind, RecordedErrors};
use smallvec::SmallVec;

use crate::xray::document::{
    AwsData, Flags, Http, NO_NODE, Namespace, Node, NodeRef, NodeState, SegmentDocument, Sql, Subsegment,
};
use crate::xray::emitter::{SegmentEmitter, default_emitter};

/// At most this many subsegments are recorded per invocation; more are not recorded
/// (one WARN line).
pub const MAX_SUBSEGMENTS_PER_INVOCATION: usize = 10_000;

/// Subsegments nest at most this deep in one document: a subsegment opened deeper is sent
/// as an independent subsegment (its own document, `parent_id` = its parent's id, rule
/// X-25), with its own subsegments nested in it again. The encoders walk a document's
/// nesting recursively; this bounds the recursion for any tree, and keeps a document's
/// JSON under 128 levels (a common parser limit, serde_json's among them): 31 subsegments
/// take 61 levels, and the deepest metadata [`crate::xray::annotation::MAX_METADATA_DEPTH`]
/// allows 2 + 64 more.
///
/// ```
/// assert_eq!(streamer_obs::xray::recorder::MAX_NESTING_DEPTH, 31);
/// ```
pub const MAX_NESTING_DEPTH: usize = 31;

/// The place of a subsegment refused for [`MAX_SUBSEGMENTS_PER_INVOCATION`] on the stack
/// of open subsegments, while its guard lives: implicit calls made inside it
/// (`xray::annotate`, `xray::record_error`, ...) record nothing rather than land on the
/// subsegment it was opened in.
const REFUSED: u32 = NO_NODE - 1;

/// What happened at a flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Trees handed to the emitter.
    pub trees: usize,
    /// Emitter calls that reported an error (already logged by the emitter).
    pub failed: usize,
    /// In-progress documents sent.
    pub in_progress: usize,
}

/// The subsegments of the invocation, recorded in place.
///
/// `nodes` holds every subsegment opened since the last flush that left nothing open, in
/// the order they were opened; closing one links it to its open parent (or queues it in
/// `ready` as a tree of its own) instead of moving it. Guards and explicit parents carry
/// the index and the id, and only an open node with that id is written to. The arena is
/// emptied when a flush leaves no subsegment open.
#[derive(Debug, Default)]
struct Tree {
    nodes: Arena,
    /// Open subsegments, in the order they were opened (the innermost last).
    open: SmallVec<[u32; 4]>,
    /// Closed trees waiting for the flush (each sent with its node's `parent_id`).
    ready: SmallVec<[u32; 2]>,
    state: TreeState,
}

#[derive(Debug, Default)]
struct TreeState {
    /// Subsegments opened in the invocation so far.
    opened: usize,
    annotations: usize,
    warned_annotations: bool,
    warned_subsegments: bool,
    /// Whether a subsegment opened after the invocation returned was reported.
    warned_after: bool,
    /// Whether subsegments still open at the invocation's last flush were reported.
    warned_open: bool,
    errors: RecordedErrors,
}

impl TreeState {
    /// Counts `added` annotation keys; past the number X-Ray indexes per trace, one WARN.
    fn count_annotations(&mut self, added: usize) {
        if added == 0 {
            return;
        }
        self.annotations += added;
        if self.annotations > INDEXED_ANNOTATIONS_PER_TRACE && !self.warned_annotations {
            self.warned_annotations = true;
            // Under the recorder's lock: written once it is released (`crate::lock`).
            crate::lock::after_unlock(|| {
                tracing::warn!(
                    target: "streamer_obs",
                    limit = INDEXED_ANNOTATIONS_PER_TRACE,
                    "more than 50 X-Ray annotations in this invocation: X-Ray indexes only 50 per trace"
                );
            });
        }
    }
}

/// The nodes of a [`Tree`]: the first `live` are the invocation's subsegments; the ones
/// after them are closed nodes kept as storage, emptied (see `Node::release`), and
/// rewritten in place when a subsegment opens (`Node::reopen`) instead of a new node being
/// built and copied in (a node is over 400 bytes). The nodes are on the heap: inline they
/// would make the recorder over a kilobyte, copied several times when an invocation
/// starts. The buffer comes from `spare_arena` and goes back there when the recorder is
/// dropped, so a warm thread allocates none.
#[derive(Debug, Default)]
struct Arena {
    nodes: Vec<Node>,
    live: usize,
}

impl Arena {
    /// The invocation's nodes.
    fn live(&self) -> &[Node] {
        self.nodes.get(..self.live).unwrap_or_default()
    }

    fn live_mut(&mut self) -> &mut [Node] {
        let live = self.live.min(self.nodes.len());
        &mut self.nodes[..live]
    }

    /// Records a subsegment opened now; returns its index.
    #[inline(always)]
    fn open(&mut self, id: SegmentId, name: &str, start_micros: u64, parent_idx: u32, parent_id: SegmentId) -> usize {
        if self.nodes.capacity() == 0 {
            self.nodes = spare_arena();
        }
        let idx = self.live;
        match self.nodes.get_mut(idx) {
            Some(node) => node.reopen(id, name, start_micros, parent_idx, parent_id),
            None => self.nodes.push(Node::open(id, name, start_micros, parent_idx, parent_id)),
        }
        self.live = idx + 1;
        idx
    }

    /// Forgets every node (all closed and sent); they stay as storage.
    fn reset(&mut self) {
        self.live = 0;
    }
}

thread_local! {
    /// One node arena per thread, kept between invocations: a recorder takes it at its
    /// first subsegment and gives it back when dropped, instead of one allocation and one
    /// free per invocation. Its nodes come back emptied (nothing of an invocation is
    /// kept, see `Node::release`): only their storage is reused.
    static SPARE_ARENA: Cell<Vec<Node>> = const { Cell::new(Vec::new()) };
}

/// Arenas up to this many nodes are kept for reuse (a larger one, from an invocation with
/// many subsegments, is freed rather than held by the thread).
const SPARE_ARENA_MAX_NODES: usize = 8;

/// This thread's spare arena when there is one, else a new one for two nodes (a handler
/// and one call: below glibc's thread-cache size limit of 1 KiB, so allocated and freed on
/// its fast path). Its nodes, if any, are empty storage.
fn spare_arena() -> Vec<Node> {
    let mut nodes = SPARE_ARENA.try_with(Cell::take).unwrap_or_default();
    if nodes.capacity() == 0 {
        nodes.reserve_exact(2);
    }
    nodes
}

impl Drop for Tree {
    fn drop(&mut self) {
        if self.nodes.nodes.capacity() == 0 || self.nodes.nodes.capacity() > SPARE_ARENA_MAX_NODES {
            return;
        }
        let mut nodes = std::mem::take(&mut self.nodes.nodes);
        nodes.iter_mut().for_each(Node::release);
        // Kept only when the thread has none (a recorder dropped on another thread than
        // the one it started on leaves that one to allocate again, nothing more); during
        // thread teardown it is simply freed.
        let _ = SPARE_ARENA.try_with(|spare| {
            let held = spare.take();
            spare.set(if held.capacity() == 0 { nodes } else { held });
        });
    }
}

/// Writes annotations whose keys are known valid and whose values are stored as they are
/// (see [`AnnotationArg::is_stored_as_is`]) into `sub`, each value moved once, into its
/// place. Returns how many keys were new.
pub(crate) fn put_args_into(sub: &mut Subsegment, entries: &mut [(&'static str, AnnotationArg<'_>)]) -> usize {
    put_each(sub, entries, Subsegment::put_annotation_arg)
}

/// [`put_args_into`] for the SDK's own annotations (`ColdStart`, `Service`), which need no
/// redaction.
pub(crate) fn put_known_args_into(sub: &mut Subsegment, entries: &mut [(&'static str, AnnotationArg<'_>)]) -> usize {
    put_each(sub, entries, Subsegment::put_known_annotation_arg)
}

#[inline(always)]
fn put_each<'a>(
    sub: &mut Subsegment,
    entries: &mut [(&'static str, AnnotationArg<'a>)],
    put: impl Fn(&mut Subsegment, &'static str, AnnotationArg<'a>) -> bool,
) -> usize {
    entries
        .iter_mut()
        .map(|(key, value)| usize::from(put(sub, key, std::mem::replace(value, AnnotationArg::Bool(false)))))
        .sum()
}

/// How many subsegments of one document the node `idx` would nest in, itself included
/// (0 for `NO_NODE`), counted up to [`MAX_NESTING_DEPTH`].
#[inline]
fn nesting_depth(nodes: &[Node], mut idx: u32) -> usize {
    let mut depth = 0;
    while idx != NO_NODE && depth < MAX_NESTING_DEPTH {
        depth += 1;
        idx = nodes.get(idx as usize).map_or(NO_NODE, |n| n.parent_idx);
    }
    depth
}

/// Whether `node` is open with id `id` (not ended, and not a later node in a reused slot).
fn is_open_as(node: &Node, id: SegmentId) -> bool {
    node.state == NodeState::Open && node.sub.id == id
}

/// Whether the node at `idx` is open with id `id`.
fn is_open_node(nodes: &[Node], idx: usize, id: SegmentId) -> bool {
    nodes.get(idx).is_some_and(|n| is_open_as(n, id))
}

/// The open node at `idx` with id `id`.
fn open_node(nodes: &mut [Node], idx: usize, id: SegmentId) -> Option<&mut Node> {
    nodes.get_mut(idx).filter(|n| is_open_as(n, id))
}

impl Tree {
    /// Back to `Tree::default()`, keeping the node arena as storage when a dropped tree
    /// would give it back for reuse (its nodes emptied alike), freeing it otherwise.
    fn reset(&mut self) {
        let Self { nodes, open, ready, state } = self;
        if nodes.nodes.capacity() > SPARE_ARENA_MAX_NODES {
            nodes.nodes = Vec::new();
        } else {
            nodes.nodes.iter_mut().for_each(Node::release);
        }
        nodes.live = 0;
        open.clear();
        ready.clear();
        *state = TreeState::default();
    }

    /// The innermost open subsegment, calls included.
    fn innermost(&self) -> Option<(usize, SegmentId)> {
        // A refused subsegment has no id: the one it was opened in stands for it.
        let &idx = self.open.iter().rev().find(|&&idx| idx != REFUSED)?;
        self.nodes.live().get(idx as usize).map(|n| (idx as usize, n.sub.id))
    }

    /// The innermost open subsegment that is not a downstream call (`aws` or `remote`
    /// namespace): calls are leaves, so concurrent calls never nest in each other and
    /// annotations never land on them implicitly.
    fn innermost_local(&self) -> Option<(usize, SegmentId)> {
        for &idx in self.open.iter().rev() {
            // Inside a subsegment refused for the per-invocation limit: what is meant for
            // it is not recorded (it must not land on the subsegment it was opened in).
            if idx == REFUSED {
                return None;
            }
            if let Some(n) = self.nodes.live().get(idx as usize)
                && n.sub.namespace.is_none()
            {
                return Some((idx as usize, n.sub.id));
            }
        }
        None
    }
}

struct Active {
    trace_id: TraceId,
    parent: SegmentId,
    /// The header, kept only when it has parts beyond `Root`, `Parent` and `Sampled`
    /// (`Lineage`, unknown keys) that downstream headers repeat; otherwise a downstream
    /// header is built from `trace_id` alone (no copy of the header per invocation).
    header_extras: Option<Box<TraceHeader>>,
    clock: Arc<dyn Clock>,
    shared: SpinLock<Shared>,
    /// Set by the lifecycle before its final flush: a subsegment opened later (by a task
    /// the handler spawned) would never be sent, so it is not recorded, with one WARN line.
    /// Read under the lock, which the flush takes after setting it.
    finished: AtomicBool,
}

/// What the recorder's one lock guards: the subsegments and the emitter. The emitter is
/// under the same lock as the tree (not a lock of its own) so that a flush takes one
/// lock, and calls the emitter through it without cloning its `Arc`; the emitter is
/// therefore called with the lock held (as the tree always was), and must not call back
/// into the recorder being flushed (see `SegmentEmitter::emit`). Only a flush that awaits
/// the emitter's `flush` clones the `Arc`, to release the lock before awaiting.
struct Shared {
    tree: Tree,
    emitter: Arc<dyn SegmentEmitter>,
}

impl Active {
    /// As [`Recorder::with_clock`] builds it for `header` (which has a `Parent` and
    /// `Sampled=1`), in place: see [`Recorder::reinit_for_invocation`].
    fn reinit(&mut self, header: &TraceHeader, emitter: &Arc<dyn SegmentEmitter>, clock: &Arc<dyn Clock>) {
        let Self { trace_id, parent, header_extras, clock: own_clock, shared, finished } = self;
        *finished.get_mut() = false;
        *trace_id = *header.root();
        if let Some(p) = header.parent() {
            *parent = *p;
        }
        if header.lineage().is_some() || !header.extra().is_empty() {
            match header_extras {
                Some(kept) => (**kept).clone_from(header),
                None => *header_extras = Some(Box::new(header.clone())),
            }
        } else {
            *header_extras = None;
        }
        if !Arc::ptr_eq(own_clock, clock) {
            *own_clock = Arc::clone(clock);
        }
        let Shared { tree, emitter: own_emitter } = shared.get_mut();
        if !Arc::ptr_eq(own_emitter, emitter) {
            *own_emitter = Arc::clone(emitter);
        }
        tree.reset();
    }

    /// The invocation's header with `Parent` = `parent` (what `TraceHeader::with_parent`
    /// gives: a recording header is sampled).
    fn downstream_header(&self, parent: SegmentId) -> TraceHeader {
        match &self.header_extras {
            Some(header) => header.with_parent(parent),
            None => TraceHeader::new(self.trace_id, Some(parent), Some(Sampled::Sampled)),
        }
    }
}

/// One invocation's subsegment recorder (a no-op when the invocation is not traced).
pub struct Recorder {
    active: Option<Active>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.active {
            None => f.write_str("Recorder(off)"),
            Some(a) => write!(f, "Recorder({}, parent {})", a.trace_id, a.parent),
        }
    }
}

static CONTEXT_MISSING_LOGGED: AtomicBool = AtomicBool::new(false);

/// Why an invocation is not traced although it should be (a missing, malformed or
/// parentless sampled header), with the `AWS_XRAY_CONTEXT_MISSING` policy that says how
/// to report it. The invocation reports it once it is current (`Invocation::sync_scope`,
/// `Invocation::scope`, the handler lifecycle), so the line has the invocation's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContextMissingReport {
    policy: ContextMissing,
    reason: Cow<'static, str>,
}

impl ContextMissingReport {
    /// Logs the report per its policy: nothing, one ERROR line per process, or one per
    /// invocation.
    pub(crate) fn log(&self) {
        let why = self.reason.as_ref();
        match self.policy {
            ContextMissing::IgnoreError => {}
            ContextMissing::LogError => {
                if !CONTEXT_MISSING_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        target: "streamer_obs",
                        reason = why,
                        "X-Ray context missing: no subsegments are sent for such invocations (logged once)"
                    );
                }
            }
            ContextMissing::RuntimeError => {
                tracing::error!(target: "streamer_obs", reason = why, "X-Ray context missing: no subsegments sent");
            }
        }
    }
}

/// The report of an invocation with `header` (or `header_error`) under `config` that is
/// not traced for want of a usable context; `None` when it is traced, not sampled, or
/// tracing is disabled, or when the policy ignores it.
pub(crate) fn context_missing(
    header: Option<&TraceHeader>,
    header_error: Option<&TraceHeaderError>,
    config: &Config,
) -> Option<ContextMissingReport> {
    let policy = config.context_missing();
    if config.trace_disabled() || policy == ContextMissing::IgnoreError {
        return None;
    }
    let reason = match (header, header_error) {
        (_, Some(e)) => Cow::Owned(e.to_string()),
        (None, None) => Cow::Borrowed("no trace header"),
        (Some(h), None) if h.parent().is_none() && h.is_sampled() => Cow::Borrowed("trace header has no Parent"),
        (Some(_), None) => return None,
    };
    Some(ContextMissingReport { policy, reason })
}

impl Recorder {
    /// A recorder that records nothing.
    ///
    /// ```
    /// let r = streamer_obs::xray::recorder::Recorder::disabled();
    /// assert!(!r.is_recording());
    /// ```
    pub fn disabled() -> Self {
        Self { active: None }
    }

    /// A recorder for `header` sending to `emitter`: recording when the header has a
    /// `Parent` and `Sampled=1` and the emitter is enabled, a no-op otherwise.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// assert!(rec.is_recording());
    /// ```
    pub fn new(header: &TraceHeader, emitter: Arc<dyn SegmentEmitter>) -> Self {
        Self::with_clock(header, emitter, Arc::new(SystemClock))
    }

    /// As [`Recorder::new`] with an injected clock.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// let clock = streamer_obs::testing::FixedClock::at_millis(1_700_000_000_000);
    /// let rec = Recorder::with_clock(&header, Arc::new(streamer_obs::testing::CapturingEmitter::new()), Arc::new(clock));
    /// assert!(rec.is_recording());
    /// ```
    #[inline]
    pub fn with_clock(header: &TraceHeader, emitter: Arc<dyn SegmentEmitter>, clock: Arc<dyn Clock>) -> Self {
        let (Some(parent), true, true) = (header.parent(), header.is_sampled(), emitter.is_enabled()) else {
            return Self::disabled();
        };
        Self {
            active: Some(Active {
                trace_id: *header.root(),
                parent: *parent,
                header_extras: (header.lineage().is_some() || !header.extra().is_empty())
                    .then(|| Box::new(header.clone())),
                clock,
                shared: SpinLock::new(Shared { tree: Tree::default(), emitter }),
                finished: AtomicBool::new(false),
            }),
        }
    }

    /// The recorder of an invocation (used by `Invocation::from_context`): applies
    /// `POWERTOOLS_TRACE_DISABLED` and the process emitter. A missing or malformed header
    /// is reported per `AWS_XRAY_CONTEXT_MISSING` by the invocation, once it is current.
    ///
    /// ```
    /// # use streamer_obs::config::Config;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".parse().unwrap();
    /// assert!(!Recorder::for_invocation(Some(&header), None, &Config::default()).is_recording());
    /// ```
    pub fn for_invocation(
        header: Option<&TraceHeader>,
        header_error: Option<&TraceHeaderError>,
        config: &Config,
    ) -> Self {
        if config.trace_disabled() {
            return Self::disabled();
        }
        Self::for_invocation_with(header, header_error, config, || default_emitter(config), Arc::new(SystemClock))
    }

    /// As [`Recorder::for_invocation`] with an injected emitter (asked for only when the
    /// invocation is traced) and clock; used by the handler lifecycle with the emitter of
    /// its `Telemetry`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::config::Config;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// let capture = streamer_obs::testing::CapturingEmitter::new();
    /// let rec = Recorder::for_invocation_with(Some(&header), None, &Config::default(), || Arc::new(capture.clone()), Arc::new(streamer_obs::clock::SystemClock));
    /// assert!(rec.is_recording());
    /// ```
    pub fn for_invocation_with(
        header: Option<&TraceHeader>,
        header_error: Option<&TraceHeaderError>,
        config: &Config,
        emitter: impl FnOnce() -> Arc<dyn SegmentEmitter>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let Some(h) = Self::traced_header(header, header_error, config) else { return Self::disabled() };
        let emitter = emitter();
        if !emitter.is_enabled() {
            return Self::disabled();
        }
        Self::with_clock(h, emitter, clock)
    }

    /// The header of an invocation that records if the emitter is enabled: tracing not
    /// disabled, a header with a `Parent` and `Sampled=1`. (A missing or malformed header
    /// is reported by the invocation: [`context_missing`].)
    fn traced_header<'h>(
        header: Option<&'h TraceHeader>,
        header_error: Option<&TraceHeaderError>,
        config: &Config,
    ) -> Option<&'h TraceHeader> {
        if config.trace_disabled() || header_error.is_some() {
            return None;
        }
        header.filter(|h| h.parent().is_some() && h.is_sampled())
    }

    /// Makes this recorder the one [`Recorder::for_invocation_with`] would build for
    /// `header`, `header_error` and `config` with `emitter` and `clock` (the invocation
    /// pool's reuse of a finished invocation): every field gets that recorder's value, but
    /// in place. The emitter and clock `Arc`s are kept when they are the same ones (no
    /// clone and drop, two atomic operations each), and so are the allocations (the node
    /// arena, emptied as a dropped recorder's is, and the boxed header).
    pub(crate) fn reinit_for_invocation(
        &mut self,
        header: Option<&TraceHeader>,
        header_error: Option<&TraceHeaderError>,
        config: &Config,
        emitter: &Arc<dyn SegmentEmitter>,
        clock: &Arc<dyn Clock>,
    ) {
        let Some(h) = Self::traced_header(header, header_error, config).filter(|_| emitter.is_enabled()) else {
            self.active = None;
            return;
        };
        match &mut self.active {
            Some(a) => a.reinit(h, emitter, clock),
            None => *self = Self::with_clock(h, Arc::clone(emitter), Arc::clone(clock)),
        }
    }

    /// Marks the invocation's subsegments as final (the lifecycle's last flush follows):
    /// a subsegment opened later is not recorded (one WARN line).
    pub(crate) fn finish(&self) {
        if let Some(a) = &self.active {
            a.finished.store(true, Ordering::Relaxed);
        }
    }

    /// Whether this recorder records (header sampled, with a Parent, tracing enabled).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// assert!(rec.is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.active.is_some()
    }

    /// Replaces the emitter (tests, or a `PutTraceSegments` emitter chosen at start-up).
    /// Not to be called from inside an emitter's `emit` on this recorder: `emit` runs
    /// with the recorder's lock held, which this takes too.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// rec.set_emitter(Arc::new(streamer_obs::testing::CapturingEmitter::new()));
    /// ```
    pub fn set_emitter(&self, emitter: Arc<dyn SegmentEmitter>) {
        if let Some(a) = &self.active {
            // The previous emitter is dropped after the lock is released.
            let previous = std::mem::replace(&mut Self::lock(a).emitter, emitter);
            drop(previous);
        }
    }

    /// The trace id, when recording.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// assert_eq!(rec.trace_id().unwrap().as_str(), "1-5759e988-bd862e3fe1be46a994272793");
    /// ```
    pub fn trace_id(&self) -> Option<&TraceId> {
        self.active.as_ref().map(|a| &a.trace_id)
    }

    /// The recorder's lock (see `crate::lock`: a panic while it was held, in an emitter for
    /// example, releases it and does not stop the recording).
    fn lock(a: &Active) -> crate::lock::Guard<'_, Shared> {
        a.shared.lock()
    }

    /// Opens a subsegment under the innermost open one (or the header's `Parent`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let g = rec.subsegment("Work");
    /// assert!(g.is_recording());
    /// ```
    pub fn subsegment(self: &Arc<Self>, name: &str) -> SubsegmentGuard {
        self.open(name, None, None)
    }

    /// [`Self::subsegment`] started at `start` (microseconds since the epoch, a time the
    /// caller already read from the same clock: the handler lifecycle reads it once for its latency and the subsegment),
    /// with `init` recording on the new subsegment under the same lock (the handler's
    /// annotations as it opens); `init` returns how many annotation keys it added. Not
    /// called when nothing is recorded.
    pub(crate) fn subsegment_at_with(
        self: &Arc<Self>,
        name: &str,
        start: u64,
        init: impl FnOnce(&mut Subsegment) -> usize,
    ) -> SubsegmentGuard {
        self.open_with(name, None, Some(start), init)
    }

    fn open(
        self: &Arc<Self>,
        name: &str,
        explicit_parent: Option<(usize, SegmentId)>,
        start: Option<u64>,
    ) -> SubsegmentGuard {
        self.open_with(name, explicit_parent, start, |_| 0)
    }

    fn open_with(
        self: &Arc<Self>,
        name: &str,
        explicit_parent: Option<(usize, SegmentId)>,
        start: Option<u64>,
        init: impl FnOnce(&mut Subsegment) -> usize,
    ) -> SubsegmentGuard {
        let Some(a) = &self.active else { return SubsegmentGuard::noop() };
        let start = start.unwrap_or_else(|| a.clock.now_micros());
        let mut shared = Self::lock(a);
        let tree = &mut shared.tree;
        if a.finished.load(Ordering::Relaxed) {
            if !tree.state.warned_after {
                tree.state.warned_after = true;
                let name = name.to_owned();
                crate::lock::after_unlock(move || {
                    tracing::warn!(target: "streamer_obs", subsegment = name, "X-Ray subsegment opened after its invocation returned (its subsegments were already sent): not recorded");
                });
            }
            return SubsegmentGuard::noop();
        }
        if tree.state.opened >= MAX_SUBSEGMENTS_PER_INVOCATION {
            if !tree.state.warned_subsegments {
                tree.state.warned_subsegments = true;
                crate::lock::after_unlock(|| {
                    tracing::warn!(target: "streamer_obs", limit = MAX_SUBSEGMENTS_PER_INVOCATION, "too many X-Ray subsegments in this invocation; further ones are not recorded");
                });
            }
            tree.open.push(REFUSED);
            return SubsegmentGuard { rec: Some(Arc::clone(self)), idx: REFUSED as usize, id: None, ended: false };
        }
        let (parent_idx, parent_id) = match explicit_parent {
            Some((idx, id)) => {
                let alive = is_open_node(tree.nodes.live(), idx, id);
                (if alive { idx as u32 } else { NO_NODE }, id)
            }
            None => match tree.innermost_local() {
                Some((idx, id)) => (idx as u32, id),
                None => (NO_NODE, a.parent),
            },
        };
        // Too deep for one document: a tree of its own, sent with the parent's id.
        let parent_idx =
            if nesting_depth(tree.nodes.live(), parent_idx) >= MAX_NESTING_DEPTH { NO_NODE } else { parent_idx };
        let id = SegmentId::generate();
        tree.state.opened += 1;
        // At most `MAX_SUBSEGMENTS_PER_INVOCATION` nodes: the index fits in a u32.
        let idx = tree.nodes.open(id, name, start, parent_idx, parent_id);
        tree.open.push(idx as u32);
        if let Some(node) = tree.nodes.live_mut().get_mut(idx) {
            let added = init(&mut node.sub);
            tree.state.count_annotations(added);
        }
        SubsegmentGuard { rec: Some(Arc::clone(self)), idx, id: Some(id), ended: false }
    }

    fn with_node<R>(
        &self,
        idx: usize,
        id: SegmentId,
        f: impl FnOnce(&mut Subsegment, &mut TreeState) -> R,
    ) -> Option<R> {
        let a = self.active.as_ref()?;
        let mut shared = Self::lock(a);
        let Tree { nodes, state, .. } = &mut shared.tree;
        let node = open_node(nodes.live_mut(), idx, id)?;
        Some(f(&mut node.sub, state))
    }

    fn current(&self) -> Option<(usize, SegmentId)> {
        let a = self.active.as_ref()?;
        Self::lock(a).tree.innermost_local()
    }

    fn close(&self, idx: usize, id: SegmentId, end: Option<u64>) {
        self.close_with(idx, id, end, |_| {});
    }

    /// Closes the subsegment after `last` has recorded on it, under the same lock.
    fn close_with(&self, idx: usize, id: SegmentId, end: Option<u64>, last: impl FnOnce(&mut Subsegment)) {
        let Some(a) = &self.active else { return };
        let end = end.unwrap_or_else(|| a.clock.now_micros());
        let mut shared = Self::lock(a);
        let Tree { nodes, open, ready, .. } = &mut shared.tree;
        let nodes = nodes.live_mut();
        let Some(node) = open_node(nodes, idx, id) else { return };
        last(&mut node.sub);
        node.sub.set_end_micros(end);
        node.state = NodeState::Closed;
        let (parent_idx, parent_id) = (node.parent_idx, node.parent_id);
        if open.last().is_some_and(|&i| i as usize == idx) {
            open.pop();
        } else if let Some(pos) = open.iter().rposition(|&i| i as usize == idx) {
            open.remove(pos);
        }
        // Into its parent while that is open; otherwise (top level, or the parent closed
        // first) it is a tree of its own, sent with the parent's id.
        let last = match open_node(nodes, parent_idx as usize, parent_id) {
            Some(parent) => {
                let last = parent.last_child;
                parent.last_child = idx as u32;
                if last == NO_NODE {
                    parent.first_child = idx as u32;
                }
                last
            }
            None => {
                ready.push(idx as u32);
                NO_NODE
            }
        };
        if let Some(prev) = nodes.get_mut(last as usize) {
            prev.next_sibling = idx as u32;
        }
        // Closed after the invocation's last flush (by a task the handler spawned): sent
        // now, no later flush of this invocation would send it. An emitter that queues
        // documents gets it queued, and its flush is started on the running Tokio runtime
        // (without one, the emitter's next flush, the next invocation's, sends it).
        if a.finished.load(Ordering::Relaxed) {
            let report = Self::emit_ready(a, &mut shared);
            if report.trees > 0 && shared.emitter.queues_documents() {
                let emitter = Arc::clone(&shared.emitter);
                drop(shared);
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move { emitter.flush().await });
                }
            }
        }
    }

    /// See [`SubsegmentGuard::end_open_inside`]: the open subsegments above `idx` on the
    /// stack of open subsegments, innermost first.
    fn end_open_inside(&self, idx: usize, id: SegmentId, end: u64) {
        let Some(a) = &self.active else { return };
        let inside: SmallVec<[(usize, SegmentId); 4]> = {
            let shared = Self::lock(a);
            let Tree { nodes, open, .. } = &shared.tree;
            let nodes = nodes.live();
            if !is_open_node(nodes, idx, id) {
                return;
            }
            let Some(pos) = open.iter().rposition(|&i| i as usize == idx) else { return };
            open[pos + 1..]
                .iter()
                .rev()
                .filter(|&&i| i != REFUSED)
                .filter_map(|&i| nodes.get(i as usize).map(|n| (i as usize, n.sub.id)))
                .collect()
        };
        for (inner, inner_id) in inside {
            self.close(inner, inner_id, Some(end));
        }
        let open = &mut Self::lock(a).tree.open;
        // Refused ones above it (no node) go too.
        if let Some(pos) = open.iter().rposition(|&i| i as usize == idx) {
            open.truncate(pos + 1);
        }
    }

    /// Ends a refused subsegment: its place on the stack of open subsegments goes.
    fn end_refused(&self) {
        let Some(a) = &self.active else { return };
        let open = &mut Self::lock(a).tree.open;
        if let Some(pos) = open.iter().rposition(|&i| i == REFUSED) {
            open.remove(pos);
        }
    }

    fn annotate_node<'k>(
        &self,
        idx: usize,
        id: SegmentId,
        entries: impl IntoIterator<Item = (&'k str, AnnotationValue)>,
    ) {
        self.annotate_node_with(idx, id, |sub| {
            entries.into_iter().map(|(key, value)| usize::from(sub.put_annotation(key, value))).sum()
        });
    }

    /// Annotates a node with `put`, which returns how many keys it added.
    fn annotate_node_with(&self, idx: usize, id: SegmentId, put: impl FnOnce(&mut Subsegment) -> usize) {
        self.with_node(idx, id, |sub, tree| tree.count_annotations(put(sub)));
    }

    /// Records `err` on the node: its cause refers by id only to an exception recorded on
    /// the node itself; an error a nested subsegment recorded first is written again, in
    /// full, with its own ids. (A reference into a nested subsegment would dangle when the
    /// size guard trims that subsegment's exceptions or sends it as a stub.)
    fn error_node(&self, idx: usize, id: SegmentId, err: &(dyn StdError + 'static), details: &ErrorDetails<'_>) {
        // `idx` fits a `u32`: the arena holds fewer than `NO_NODE` nodes.
        let here = (idx as u32, id);
        // Rendered before the lock: the errors' `Display`, `Debug` and `source()` are the
        // user's code, which may read or record X-Ray data (a message with the trace id).
        let chain = crate::xray::cause::ErrorChain::of(err);
        self.with_node(idx, id, |sub, state| {
            let cause = state.errors.cause_for_chain(&chain, details, here);
            sub.add_flags(details.kind().flags());
            let left_out = match &mut sub.rare_mut().cause {
                Some(existing) => existing.merge(cause),
                None => {
                    sub.set_cause(cause);
                    Vec::new()
                }
            };
            if !left_out.is_empty() {
                state.errors.forget(&left_out);
                crate::xray::encode::add_count_note(sub, crate::xray::encode::TRUNCATED_EXCEPTIONS, left_out.len());
            }
        });
    }

    /// Sends every closed top-level tree through the emitter, then flushes the emitter.
    /// Open subsegments stay (see [`Recorder::flush_in_progress`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// drop(rec.subsegment("Work"));
    /// assert_eq!(rec.flush().await.trees, 1);
    /// assert_eq!(capture.documents().len(), 1);
    /// # });
    /// ```
    pub async fn flush(&self) -> FlushReport {
        let Some(a) = &self.active else { return FlushReport::default() };
        let (report, emitter) = {
            let mut shared = Self::lock(a);
            let report = Self::emit_ready(a, &mut shared);
            // Cloned to be awaited without the lock held.
            (report, Arc::clone(&shared.emitter))
        };
        emitter.flush().await;
        report
    }

    /// [`Self::flush`] without a future, for an emitter that sends every document within
    /// `emit` ([`SegmentEmitter::queues_documents`] false: the UDP daemon emitter): the
    /// closed trees are sent and the report returned. `None`, having sent nothing, when
    /// the emitter queues documents: await [`Self::flush`] then.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// let capture = streamer_obs::testing::CapturingEmitter::new();
    /// let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// drop(rec.subsegment("Work"));
    /// assert_eq!(rec.flush_now().map(|r| r.trees), Some(1));
    /// assert_eq!(capture.documents().len(), 1);
    /// ```
    pub fn flush_now(&self) -> Option<FlushReport> {
        let Some(a) = &self.active else { return Some(FlushReport::default()) };
        // One lock for the check and the sending: the emitter is called through the lock,
        // its `Arc` not cloned.
        let mut shared = Self::lock(a);
        if shared.emitter.queues_documents() {
            return None;
        }
        Some(Self::emit_ready(a, &mut shared))
    }

    /// Sends every closed top-level tree through the emitter (without flushing it).
    fn emit_ready(a: &Active, shared: &mut Shared) -> FlushReport {
        let mut report = FlushReport::default();
        // The trees are written from where they were recorded, under the lock.
        let Shared { tree, emitter } = shared;
        let Tree { nodes: arena, open, ready, .. } = tree;
        let nodes = arena.live();
        // Taken out first: an emitter that panics half-way cannot make a later flush
        // send these trees twice.
        let mut sending = std::mem::take(ready);
        for &idx in sending.iter() {
            let Some(node) = nodes.get(idx as usize) else { continue };
            report.trees += 1;
            let doc = SegmentDocument::of(&a.trace_id, &node.parent_id, NodeRef::Linked(nodes, node), false);
            if emitter.emit(&doc).is_err() {
                report.failed += 1;
            }
        }
        sending.clear();
        *ready = sending;
        if open.is_empty() {
            arena.reset();
        } else if a.finished.load(Ordering::Relaxed) && !tree.state.warned_open {
            // The last flush with subsegments still open (moved into a spawned task, or
            // never closed): said once; each is sent when it closes.
            tree.state.warned_open = true;
            let open = open.len();
            crate::lock::after_unlock(move || {
                tracing::warn!(
                    target: "streamer_obs",
                    open,
                    "X-Ray subsegments still open when the invocation returned: each is sent when it closes"
                );
            });
        }
        report
    }

    /// For the deadline guard: sends closed trees, closed children of still-open
    /// subsegments as complete documents, and one `in_progress: true` document per open
    /// subsegment (once each; the complete document replaces it later, rule X-7).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let _open = rec.subsegment("Slow");
    /// assert_eq!(rec.flush_in_progress().await.in_progress, 1);
    /// assert_eq!(capture.documents()[0]["in_progress"], true);
    /// # });
    /// ```
    pub async fn flush_in_progress(&self) -> FlushReport {
        let Some(a) = &self.active else { return FlushReport::default() };
        let mut report = FlushReport::default();
        let emitter = {
            let mut shared = Self::lock(a);
            let Shared { tree, emitter } = &mut *shared;
            let Tree { nodes, open, ready, .. } = tree;
            let nodes = nodes.live_mut();
            let send = |doc: SegmentDocument<'_>, report: &mut FlushReport| {
                if doc.is_in_progress() {
                    report.in_progress += 1;
                } else {
                    report.trees += 1;
                }
                if emitter.emit(&doc).is_err() {
                    report.failed += 1;
                }
            };
            let mut sending = std::mem::take(ready);
            for &idx in sending.iter() {
                if let Some(node) = nodes.get(idx as usize) {
                    send(
                        SegmentDocument::of(&a.trace_id, &node.parent_id, NodeRef::Linked(nodes, node), false),
                        &mut report,
                    );
                }
            }
            sending.clear();
            *ready = sending;
            for &idx in open.iter() {
                // Its closed children go now, on their own; it no longer holds them.
                let Some(node) = nodes.get_mut(idx as usize) else { continue };
                let first = std::mem::replace(&mut node.first_child, NO_NODE);
                node.last_child = NO_NODE;
                let send_in_progress = !std::mem::replace(&mut node.in_progress_sent, true);
                let Some(node) = nodes.get(idx as usize) else { continue };
                let mut next = first;
                while let Some(child) = nodes.get(next as usize) {
                    next = child.next_sibling;
                    send(
                        SegmentDocument::of(&a.trace_id, &node.sub.id, NodeRef::Linked(nodes, child), false),
                        &mut report,
                    );
                }
                if send_in_progress {
                    send(
                        SegmentDocument::of(&a.trace_id, &node.parent_id, NodeRef::Linked(nodes, node), true),
                        &mut report,
                    );
                }
            }
            // Cloned to be awaited without the lock held.
            Arc::clone(emitter)
        };
        emitter.flush().await;
        report
    }

    /// Annotates the innermost open subsegment (see [`SubsegmentGuard::annotate`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let _g = rec.subsegment("Work");
    /// assert!(rec.annotate("tenant_id", "t-1").is_ok());
    /// ```
    pub fn annotate(&self, key: &str, value: impl Into<AnnotationValue>) -> Result<(), AnnotationError> {
        check_key(key)?;
        let value = value.into().checked()?;
        if self.active.is_none() {
            return Ok(());
        }
        let (idx, id) = self.current().ok_or(AnnotationError::NoSubsegment)?;
        self.annotate_node(idx, id, [(key, value)]);
        Ok(())
    }

    /// Adds metadata to the innermost open subsegment.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let _g = rec.subsegment("Work");
    /// assert!(rec.metadata_in("default", "k", [1, 2]).is_ok());
    /// ```
    pub fn metadata_in(&self, namespace: &str, key: &str, value: impl Serialize) -> Result<(), AnnotationError> {
        check_namespace(namespace)?;
        if self.active.is_none() {
            return Ok(());
        }
        let (idx, id) = self.current().ok_or(AnnotationError::NoSubsegment)?;
        let v =
            crate::xray::json::to_metadata_value(&value).map_err(|e| AnnotationError::Unserializable(e.to_string()))?;
        self.with_node(idx, id, |sub, _| sub.put_metadata(namespace, key, v));
        Ok(())
    }

    /// Records an error on the innermost open subsegment. Returns false when there is none.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// # use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
    /// let _g = rec.subsegment("Work");
    /// assert!(rec.record_error_with(&std::fmt::Error, &ErrorDetails::new(ErrorKind::Fault)));
    /// ```
    pub fn record_error_with(&self, err: &(dyn StdError + 'static), details: &ErrorDetails<'_>) -> bool {
        match self.current() {
            Some((idx, id)) => {
                self.error_node(idx, id, err, details);
                true
            }
            None => false,
        }
    }

    /// The header to send downstream from the innermost open subsegment (same `Root`,
    /// `Sampled`, `Lineage`, unknown keys; `Parent` = that subsegment, or the function's
    /// segment when none is open). `None` when this recorder does not record.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let g = rec.subsegment("Call");
    /// let h = rec.downstream_header().unwrap();
    /// assert_eq!(h.parent(), g.id().as_ref());
    /// // A call subsegment (namespace `remote`) opened inside is the parent then.
    /// let call = g.child("api.example.com");
    /// call.set_namespace(streamer_obs::xray::document::Namespace::Remote);
    /// assert_eq!(rec.downstream_header().unwrap().parent(), call.id().as_ref());
    /// ```
    pub fn downstream_header(&self) -> Option<TraceHeader> {
        let a = self.active.as_ref()?;
        // The innermost open subsegment of any namespace: a call (`aws`, `remote`) opened
        // for the request is the one the downstream service's segment hangs under (H-4),
        // unlike the implicit target of annotations, which skips calls.
        // None open: the function's segment (the header's `Parent`).
        let id = Self::lock(a).tree.innermost().map_or(a.parent, |(_, id)| id);
        Some(a.downstream_header(id))
    }
}

/// An open subsegment; ends when dropped (or with [`SubsegmentGuard::end`]).
///
/// A no-op guard (invocation not traced) accepts every call and records nothing, but
/// annotation keys and metadata namespaces are still checked so mistakes show up in
/// tests.
#[must_use = "the subsegment ends when the guard is dropped"]
pub struct SubsegmentGuard {
    rec: Option<Arc<Recorder>>,
    idx: usize,
    id: Option<SegmentId>,
    ended: bool,
}

/// See [`SubsegmentGuard::reference`].
#[derive(Clone, Debug)]
pub(crate) struct SubsegmentRef {
    rec: Option<Arc<Recorder>>,
    idx: usize,
    id: Option<SegmentId>,
}

impl SubsegmentRef {
    /// A guard on the referenced subsegment, for the lifecycle's panic hook when panics
    /// abort (`crate::handler`): the guard the lifecycle holds is never dropped then. It
    /// records nothing once the subsegment has ended (ending it again does nothing).
    pub(crate) fn guard(&self) -> SubsegmentGuard {
        SubsegmentGuard { rec: self.rec.clone(), idx: self.idx, id: self.id, ended: self.id.is_none() }
    }
}

#[cfg(feature = "http")]
impl SubsegmentRef {
    /// Sets the `http` block, while the subsegment is open.
    pub(crate) fn set_http(&self, http: Http) {
        if let (Some(rec), Some(id)) = (&self.rec, self.id) {
            rec.with_node(self.idx, id, |sub, _| sub.set_http(http));
        }
    }

    /// Sets the response half of the `http` block (numbers only: nothing to redact or cut)
    /// and adds `flags`, under one lock, while the subsegment is open.
    pub(crate) fn set_http_response(&self, status: u16, content_length: Option<u64>, flags: Flags) {
        if let (Some(rec), Some(id)) = (&self.rec, self.id) {
            rec.with_node(self.idx, id, |sub, _| {
                sub.set_http_response(status, content_length);
                sub.add_flags(flags);
            });
        }
    }
}

impl fmt::Debug for SubsegmentGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "SubsegmentGuard({id})"),
            None => f.write_str("SubsegmentGuard(noop)"),
        }
    }
}

impl SubsegmentGuard {
    /// A guard that records nothing.
    ///
    /// ```
    /// let g = streamer_obs::xray::recorder::SubsegmentGuard::noop();
    /// assert!(g.id().is_none());
    /// assert!(g.annotate("ok_key", 1).is_ok());
    /// assert!(g.annotate("bad-key", 1).is_err());
    /// ```
    pub fn noop() -> Self {
        Self { rec: None, idx: 0, id: None, ended: true }
    }

    /// The subsegment id (`None` for a no-op guard).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// assert!(rec.subsegment("Work").id().is_some());
    /// ```
    pub fn id(&self) -> Option<SegmentId> {
        self.id
    }

    /// Whether this guard records.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// assert!(!streamer_obs::xray::recorder::SubsegmentGuard::noop().is_recording());
    /// assert!(rec.subsegment("Work").is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.id.is_some()
    }

    fn target(&self) -> Option<(&Arc<Recorder>, SegmentId)> {
        Some((self.rec.as_ref()?, self.id?))
    }

    /// Opens a child of this subsegment, whatever else is open in the invocation.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let parent = rec.subsegment("Parent");
    /// let child = parent.child("Child");
    /// assert!(child.is_recording());
    /// ```
    pub fn child(&self, name: &str) -> SubsegmentGuard {
        match self.target() {
            Some((rec, id)) => rec.open(name, Some((self.idx, id)), None),
            None => SubsegmentGuard::noop(),
        }
    }

    /// Adds an annotation. An invalid key is refused (never written); a string longer
    /// than 1000 characters is cut; a non-finite number is refused.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let g = rec.subsegment("Work");
    /// assert!(g.annotate("connection_id", "abc").is_ok());
    /// assert!(g.annotate("connection-id", "abc").is_err());
    /// ```
    pub fn annotate(&self, key: &str, value: impl Into<AnnotationValue>) -> Result<(), AnnotationError> {
        check_key(key)?;
        let value = value.into().checked()?;
        if let Some((rec, id)) = self.target() {
            rec.annotate_node(self.idx, id, [(key, value)]);
        }
        Ok(())
    }

    /// Adds annotations under one lock when every key passes the X-Ray rules and every
    /// value is stored as it is; otherwise one by one (long strings cut to 1000
    /// characters), each refused one left out and handed to `refused` (the scopes log it).
    #[inline]
    pub(crate) fn annotate_all<const N: usize>(
        &self,
        mut entries: [(&'static str, AnnotationArg<'_>); N],
        mut refused: impl FnMut(&'static str, AnnotationError),
    ) {
        if !self.is_recording() {
            return;
        }
        if entries
            .iter()
            .all(|(key, value)| crate::xray::annotation::is_valid_static_key(key) && value.is_stored_as_is())
        {
            self.put_args(&mut entries);
            return;
        }
        for (key, value) in entries {
            if let Err(e) = self.annotate(key, AnnotationValue::from(value)) {
                refused(key, e);
            }
        }
    }

    /// Adds annotations whose keys are SDK constants known to match the key rule (not
    /// checked again), under one lock. Values are cut or refused as by
    /// [`SubsegmentGuard::annotate`].
    #[inline]
    pub(crate) fn annotate_known<const N: usize>(&self, mut entries: [(&'static str, AnnotationArg<'_>); N]) {
        debug_assert!(entries.iter().all(|(k, _)| crate::xray::annotation::is_valid_key(k.as_bytes())));
        if entries.iter().all(|(_, value)| value.is_stored_as_is()) {
            self.put_args(&mut entries);
            return;
        }
        if let Some((rec, id)) = self.target() {
            let values = entries.map(|(key, value)| (key, AnnotationValue::from(value)));
            rec.annotate_node(self.idx, id, values.into_iter().filter_map(|(k, v)| Some((k, v.checked().ok()?))));
        }
    }

    /// Writes entries stored as they are (keys already known valid) into the subsegment
    /// under one lock. One function for every array length, handed the caller's array in
    /// place: each value is moved once, into the subsegment.
    fn put_args(&self, entries: &mut [(&'static str, AnnotationArg<'_>)]) {
        if let Some((rec, id)) = self.target() {
            rec.annotate_node_with(self.idx, id, |sub| put_args_into(sub, entries));
        }
    }

    /// Adds metadata under the `default` namespace.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let g = rec.subsegment("Work");
    /// assert!(g.metadata("message", serde_json::json!({"size": 3})).is_ok());
    /// ```
    pub fn metadata(&self, key: &str, value: impl Serialize) -> Result<(), AnnotationError> {
        self.metadata_in(DEFAULT_METADATA_NAMESPACE, key, value)
    }

    /// Adds metadata under `namespace` (not empty, not starting with `AWS.`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let g = rec.subsegment("Work");
    /// assert!(g.metadata_in("streamer", "k", 1).is_ok());
    /// assert!(g.metadata_in("AWS.x", "k", 1).is_err());
    /// ```
    pub fn metadata_in(&self, namespace: &str, key: &str, value: impl Serialize) -> Result<(), AnnotationError> {
        check_namespace(namespace)?;
        if let Some((rec, id)) = self.target() {
            let v = crate::xray::json::to_metadata_value(&value)
                .map_err(|e| AnnotationError::Unserializable(e.to_string()))?;
            rec.with_node(self.idx, id, |sub, _| sub.put_metadata(namespace, key, v));
        }
        Ok(())
    }

    /// [`SubsegmentGuard::metadata_in`] with a value that is already JSON (moved, not
    /// serialized again).
    pub(crate) fn metadata_value_in(
        &self,
        namespace: &str,
        key: &str,
        mut value: serde_json::Value,
    ) -> Result<(), AnnotationError> {
        check_namespace(namespace)?;
        if let Some((rec, id)) = self.target() {
            crate::xray::json::limit_depth(&mut value);
            rec.with_node(self.idx, id, |sub, _| sub.put_metadata(namespace, key, value));
        }
        Ok(())
    }

    /// Captures a handler's response, metadata `<name> response` in the namespace
    /// `service` (or `default` when `service` is not a usable namespace: Powertools'
    /// convention), as the subsegment ends at `end` (microseconds since the epoch): one
    /// lock for both.
    pub(crate) fn end_at_capturing(mut self, end: u64, service: &str, name: &str, response: serde_json::Value) {
        if self.ended {
            return;
        }
        self.ended = true;
        if let Some((rec, id)) = self.target() {
            let namespace = response_namespace(service);
            rec.close_with(self.idx, id, Some(end), |sub| {
                sub.put_metadata_concat(namespace, name, " response", response)
            });
        }
    }

    /// Records `err` (its `source()` chain included) as `kind`; the exception type is
    /// `std::any::type_name::<E>()`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// # use streamer_obs::xray::cause::ErrorKind;
    /// let g = rec.subsegment("Work");
    /// g.record_error(&std::fmt::Error, ErrorKind::Error);
    /// ```
    pub fn record_error<E: StdError + 'static>(&self, err: &E, kind: ErrorKind) {
        self.record_error_with(err, &ErrorDetails::new(kind).type_name(std::any::type_name::<E>()));
    }

    /// Records a type-erased error with details (remote, backtrace, type name).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// # use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
    /// let g = rec.subsegment("Call");
    /// g.record_error_with(&std::fmt::Error, &ErrorDetails::new(ErrorKind::Fault).remote(true));
    /// ```
    pub fn record_error_with(&self, err: &(dyn StdError + 'static), details: &ErrorDetails<'_>) {
        if let Some((rec, id)) = self.target() {
            rec.error_node(self.idx, id, err, details);
        }
    }

    /// Sets flags without an error (for example from an HTTP status).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// # use streamer_obs::xray::document::Flags;
    /// let g = rec.subsegment("Call");
    /// g.add_flags(Flags::from_http_status(429));
    /// ```
    pub fn add_flags(&self, flags: Flags) {
        if let Some((rec, id)) = self.target() {
            rec.with_node(self.idx, id, |sub, _| sub.add_flags(flags));
        }
    }

    /// Sets the namespace (`aws` or `remote`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// # use streamer_obs::xray::document::Namespace;
    /// let g = rec.subsegment("Call");
    /// g.set_namespace(Namespace::Remote);
    /// ```
    pub fn set_namespace(&self, ns: Namespace) {
        if let Some((rec, id)) = self.target() {
            rec.with_node(self.idx, id, |sub, _| sub.set_namespace(ns));
        }
    }

    /// Sets the `http` block.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// # use streamer_obs::xray::document::Http;
    /// let g = rec.subsegment("Call");
    /// g.set_http(Http::default().method("POST").url("https://example.com"));
    /// ```
    pub fn set_http(&self, http: Http) {
        if let Some((rec, id)) = self.target() {
            rec.with_node(self.idx, id, |sub, _| sub.set_http(http));
        }
    }

    /// A reference to this subsegment that does not end it: what records on it from
    /// inside the work it times (the tower layer's HTTP status) while the lifecycle holds
    /// the guard. It records nothing once the subsegment has ended.
    pub(crate) fn reference(&self) -> SubsegmentRef {
        SubsegmentRef { rec: self.rec.clone(), idx: self.idx, id: self.id }
    }

    /// Sets the `sql` block (a database call).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(streamer_obs::testing::CapturingEmitter::new())));
    /// use streamer_obs::xray::document::Sql;
    /// let g = rec.subsegment("Query");
    /// g.set_sql(Sql { database_type: Some("PostgreSQL".into()), ..Default::default() });
    /// ```
    pub fn set_sql(&self, sql: Sql) {
        if let Some((rec, id)) = self.target() {
            rec.with_node(self.idx, id, |sub, _| sub.set_sql(sql));
        }
    }

    /// Marks `earlier` (a sibling that finished before this one started) as a precursor.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(streamer_obs::testing::CapturingEmitter::new())));
    /// let first = rec.subsegment("First");
    /// let first_id = first.id();
    /// first.end();
    /// let second = rec.subsegment("Second");
    /// if let Some(id) = first_id { second.add_precursor(id); }
    /// ```
    pub fn add_precursor(&self, earlier: SegmentId) {
        if let Some((rec, id)) = self.target() {
            rec.with_node(self.idx, id, |sub, _| sub.add_precursor(earlier));
        }
    }

    /// Updates the `http` block in place (strings cut to 250 characters afterwards).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let g = rec.subsegment("Call");
    /// g.update_http(|h| h.response_status = Some(200));
    /// ```
    pub fn update_http(&self, f: impl FnOnce(&mut Http)) {
        self.update_block(|sub| &mut sub.rare_mut().http, f, Http::cut_strings);
    }

    /// Updates the `aws` block in place (strings cut to 250 characters afterwards).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let g = rec.subsegment("Call");
    /// g.update_aws(|a| a.operation = Some("PutItem".into()));
    /// ```
    pub fn update_aws(&self, f: impl FnOnce(&mut AwsData)) {
        self.update_block(|sub| &mut sub.rare_mut().aws, f, AwsData::cut_strings);
    }

    /// Runs the caller's `f` on a block of the open subsegment taken out of it, outside
    /// the recorder's lock, then puts the block back, cut by `cut` (also when `f` panics and
    /// the panic unwinds). Outside the lock: when panics abort, the lifecycle's panic hook
    /// takes that lock to record the panic (a block being updated is then left out).
    fn update_block<T: Default>(
        &self,
        slot: fn(&mut Subsegment) -> &mut Option<T>,
        f: impl FnOnce(&mut T),
        cut: fn(&mut T),
    ) {
        /// Puts the block back when dropped.
        struct PutBack<'a, T: Default> {
            rec: &'a Recorder,
            idx: usize,
            id: SegmentId,
            slot: fn(&mut Subsegment) -> &mut Option<T>,
            cut: fn(&mut T),
            block: T,
        }
        impl<T: Default> Drop for PutBack<'_, T> {
            fn drop(&mut self) {
                let mut block = std::mem::take(&mut self.block);
                (self.cut)(&mut block);
                let slot = self.slot;
                self.rec.with_node(self.idx, self.id, |sub, _| *slot(sub) = Some(block));
            }
        }
        let Some((rec, id)) = self.target() else { return };
        // Not open (ended, or refused): nothing to update.
        let Some(block) = rec.with_node(self.idx, id, |sub, _| slot(sub).take()) else { return };
        let mut put_back =
            PutBack { rec: rec.as_ref(), idx: self.idx, id, slot, cut, block: block.unwrap_or_default() };
        f(&mut put_back.block);
    }

    /// The header for a downstream call made inside this subsegment (`Parent` = this id).
    /// A no-op guard gives the current invocation's (see [`crate::xray::downstream_header`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// let g = rec.subsegment("Call");
    /// assert_eq!(g.downstream_header().unwrap().parent(), g.id().as_ref());
    /// ```
    pub fn downstream_header(&self) -> Option<TraceHeader> {
        match self.target() {
            Some((rec, id)) => rec.active.as_ref().map(|a| a.downstream_header(id)),
            // A no-op guard (the invocation not sampled): the invocation's header.
            None => crate::xray::downstream_header(),
        }
    }

    /// Ends the subsegment now.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use streamer_obs::xray::recorder::Recorder;
    /// # let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap();
    /// # let capture = streamer_obs::testing::CapturingEmitter::new();
    /// # let rec = Arc::new(Recorder::new(&header, Arc::new(capture.clone())));
    /// rec.subsegment("Work").end();
    /// ```
    pub fn end(mut self) {
        self.finish(None);
    }

    /// Ends, innermost first and at `end`, the subsegments opened inside this one that are
    /// still open: what unwinding would have ended when a panic aborts the process instead
    /// (their guards are never dropped then). Then this one can end with its tree complete.
    pub(crate) fn end_open_inside(&self, end: u64) {
        if let Some((rec, id)) = self.target() {
            rec.end_open_inside(self.idx, id, end);
        }
    }

    /// [`Self::end`] through a borrow (the guard's drop then does nothing): for a scope
    /// that ends its subsegment before a panic resumes.
    pub(crate) fn end_in_place(&mut self) {
        self.finish(None);
    }

    /// [`Self::end`] at `end` (microseconds since the epoch, a time the caller already
    /// read from the recorder's clock).
    pub(crate) fn end_at(mut self, end: u64) {
        self.finish(Some(end));
    }

    fn finish(&mut self, end: Option<u64>) {
        if self.ended {
            return;
        }
        self.ended = true;
        match (self.target(), &self.rec) {
            (Some((rec, id)), _) => rec.close(self.idx, id, end),
            (None, Some(rec)) if self.idx == REFUSED as usize => rec.end_refused(),
            _ => {}
        }
    }
}

/// The namespace of a captured response: the service's, or `default` when the service
/// name is not a usable namespace (Powertools' convention).
fn response_namespace(service: &str) -> &str {
    if check_namespace(service).is_ok() { service } else { DEFAULT_METADATA_NAMESPACE }
}

impl Drop for SubsegmentGuard {
    fn drop(&mut self) {
        self.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CapturingEmitter, FixedClock};

    const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    /// Panics on its first `emit`, then counts the documents by name.
    #[derive(Debug, Default)]
    struct PanicsOnce {
        calls: std::sync::atomic::AtomicUsize,
        names: std::sync::Mutex<Vec<String>>,
    }

    impl SegmentEmitter for PanicsOnce {
        fn emit(&self, doc: &SegmentDocument<'_>) -> Result<(), crate::xray::emitter::EmitError> {
            if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                panic!("emitter failed");
            }
            let json: serde_json::Value = serde_json::from_str(&doc.to_json()).unwrap();
            self.names.lock().unwrap().push(json["name"].as_str().unwrap().to_owned());
            Ok(())
        }
    }

    #[test]
    fn a_tree_is_not_sent_again_after_an_emitter_panicked_on_it() {
        let emitter = Arc::new(PanicsOnce::default());
        let rec = Arc::new(Recorder::new(&HEADER.parse().unwrap(), emitter.clone()));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rec.subsegment("First").end();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(rec.flush())));
        assert!(panicked.is_err());
        rec.subsegment("Second").end();
        rt.block_on(rec.flush());
        assert_eq!(*emitter.names.lock().unwrap(), ["Second"]);
    }

    fn recorder() -> (Arc<Recorder>, CapturingEmitter, FixedClock) {
        let capture = CapturingEmitter::new();
        let clock = FixedClock::at_millis(1_700_000_000_000);
        let rec = Recorder::with_clock(&HEADER.parse().unwrap(), Arc::new(capture.clone()), Arc::new(clock.clone()));
        (Arc::new(rec), capture, clock)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[derive(Debug, thiserror::Error)]
    #[error("token expired")]
    struct Expired;

    #[test]
    fn nested_subsegments_parent_on_the_enclosing_one() {
        let (rec, capture, clock) = recorder();
        {
            let outer = rec.subsegment("HandleConnect");
            clock.advance_millis(1);
            {
                let _inner = rec.subsegment("ValidateJWT");
                clock.advance_millis(2);
                let _deeper = rec.subsegment("FetchKeys");
            }
            let _second = outer.child("SaveConnection");
        }
        block_on(rec.flush());
        let docs = capture.documents();
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d["name"], "HandleConnect");
        assert_eq!(d["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(d["subsegments"][0]["name"], "ValidateJWT");
        assert_eq!(d["subsegments"][0]["subsegments"][0]["name"], "FetchKeys");
        assert_eq!(d["subsegments"][1]["name"], "SaveConnection");
        assert_eq!(d["start_time"], 1_700_000_000.0);
        assert_eq!(d["end_time"], 1_700_000_000.003);
    }

    #[test]
    fn explicit_children_survive_interleaving() {
        let (rec, capture, _) = recorder();
        let a = rec.subsegment("A");
        let b = rec.subsegment("B"); // implicitly a child of A
        let a_child = a.child("A1"); // explicitly A's, although B is innermost
        drop(b);
        drop(a_child);
        drop(a);
        block_on(rec.flush());
        let d = &capture.documents()[0];
        let names: Vec<_> = d["subsegments"].as_array().unwrap().iter().map(|s| s["name"].clone()).collect();
        assert_eq!(names, vec!["B", "A1"]);
    }

    #[test]
    fn child_outliving_its_parent_is_sent_alone_with_parent_id() {
        let (rec, capture, _) = recorder();
        let parent = rec.subsegment("Parent");
        let child = parent.child("Late");
        let parent_id = parent.id().unwrap();
        drop(parent);
        drop(child);
        block_on(rec.flush());
        let docs = capture.documents();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["name"], "Parent");
        assert_eq!(docs[1]["name"], "Late");
        assert_eq!(docs[1]["parent_id"], parent_id.as_str());
    }

    #[test]
    fn error_recorded_once_with_the_right_flags_and_parent_marked() {
        let (rec, capture, _) = recorder();
        {
            let handler = rec.subsegment("HandleConnect");
            let jwt = handler.child("ValidateJWT");
            let err = Expired;
            jwt.record_error(&err, ErrorKind::Error);
            // Recorded again on the same subsegment: nothing new.
            jwt.record_error(&err, ErrorKind::Error);
            drop(jwt);
            // The handler returns the same error: written on it too, with its own id (a
            // reference into the child would dangle if the child were trimmed).
            handler.record_error(&err, ErrorKind::Error);
        }
        block_on(rec.flush());
        let d = &capture.documents()[0];
        let child = &d["subsegments"][0];
        assert_eq!(child["error"], true);
        assert!(child.get("fault").is_none(), "an auth failure is not a fault");
        let ex = child["cause"]["exceptions"].as_array().unwrap();
        assert_eq!(ex.len(), 1);
        assert!(ex[0]["type"].as_str().unwrap().ends_with("Expired"));
        assert_eq!(d["error"], true, "the top subsegment is marked");
        let own = d["cause"]["exceptions"].as_array().expect("written in full");
        assert_eq!((own.len(), &own[0]["message"]), (1, &ex[0]["message"]));
        assert_ne!(own[0]["id"], ex[0]["id"]);
    }

    #[test]
    fn the_same_error_on_siblings_and_their_parent_is_written_on_each() {
        let (rec, capture, _) = recorder();
        {
            let handler = rec.subsegment("HandleConnect");
            let a = handler.child("A");
            a.record_error(&Expired, ErrorKind::Error);
            drop(a);
            // An unrelated failure with the same message, on a sibling: its own exception.
            let b = handler.child("B");
            b.record_error(&Expired, ErrorKind::Error);
            drop(b);
            // The enclosing subsegment: its own copy too.
            handler.record_error(&Expired, ErrorKind::Error);
            handler.record_error(&Expired, ErrorKind::Error);
        }
        block_on(rec.flush());
        let d = &capture.documents()[0];
        let ids: Vec<&str> = (0..2)
            .map(|i| {
                let ex = d["subsegments"][i]["cause"]["exceptions"].as_array().expect("written in full");
                assert_eq!(ex.len(), 1);
                ex[0]["id"].as_str().unwrap()
            })
            .collect();
        assert_ne!(ids[0], ids[1]);
        let own = d["cause"]["exceptions"].as_array().expect("written in full");
        assert_eq!(own.len(), 1, "recorded twice on the handler: once");
        assert!(!ids.contains(&own[0]["id"].as_str().unwrap()));
    }

    #[test]
    fn subsegments_nested_deeper_than_the_limit_are_sent_as_their_own_documents() {
        let (rec, capture, _) = recorder();
        {
            let mut guards = vec![rec.subsegment("L0")];
            for i in 1..(2 * MAX_NESTING_DEPTH + 5) {
                let g = guards.last().unwrap().child(&format!("L{i}"));
                guards.push(g);
            }
            while let Some(g) = guards.pop() {
                drop(g);
            }
        }
        block_on(rec.flush());
        let docs = capture.documents();
        // Three trees: levels 0..32, 32..64 and 64..69, each nested, each linked to the
        // level above it by `parent_id`.
        assert_eq!(docs.len(), 3, "{}", docs.len());
        let depth = |d: &serde_json::Value| {
            let (mut n, mut at) = (1, d);
            while let Some(next) = at.get("subsegments").and_then(|s| s.get(0)) {
                n += 1;
                at = next;
            }
            (n, at["id"].as_str().unwrap().to_owned())
        };
        let mut by_name: Vec<_> = docs.iter().map(|d| (d["name"].as_str().unwrap().to_owned(), d)).collect();
        by_name.sort_by_key(|(n, _)| n[1..].parse::<usize>().unwrap());
        let (top, second, third) = (by_name[0].1, by_name[1].1, by_name[2].1);
        assert_eq!(top["name"], "L0");
        let (n, deepest) = depth(top);
        assert_eq!(n, MAX_NESTING_DEPTH);
        assert_eq!(second["name"], format!("L{MAX_NESTING_DEPTH}"));
        assert_eq!(second["type"], "subsegment");
        assert_eq!(second["parent_id"], deepest.as_str());
        assert_eq!(depth(second).0, MAX_NESTING_DEPTH);
        assert_eq!(third["parent_id"], depth(second).1.as_str());
        assert_eq!(depth(third).0, 5);
    }

    #[test]
    fn fault_kind_and_current_subsegment_api() {
        let (rec, capture, _) = recorder();
        {
            let _h = rec.subsegment("H");
            rec.annotate("tenant_id", "t-1").unwrap();
            assert!(matches!(rec.annotate("tenant-id", "t-1"), Err(AnnotationError::InvalidKey(_))));
            rec.metadata_in("default", "m", serde_json::json!({"a": 1})).unwrap();
            assert!(rec.metadata_in("AWS.x", "m", 1).is_err());
            assert!(rec.record_error_with(&std::fmt::Error, &ErrorDetails::new(ErrorKind::Fault).remote(true)));
            assert!(rec.downstream_header().unwrap().to_string().contains("Sampled=1"));
        }
        assert_eq!(rec.annotate("k", 1), Err(AnnotationError::NoSubsegment));
        block_on(rec.flush());
        let d = &capture.documents()[0];
        assert_eq!(d["fault"], true);
        assert!(d.get("error").is_none());
        assert_eq!(d["annotations"], serde_json::json!({"tenant_id": "t-1"}));
        assert_eq!(d["cause"]["exceptions"][0]["remote"], true);
        assert_eq!(d["metadata"]["default"]["m"]["a"], 1);
    }

    #[test]
    fn not_sampled_or_parentless_headers_record_nothing() {
        for h in [
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        ] {
            let capture = CapturingEmitter::new();
            let rec = Arc::new(Recorder::new(&h.parse().unwrap(), Arc::new(capture.clone())));
            assert!(!rec.is_recording(), "{h}");
            let g = rec.subsegment("X");
            assert!(!g.is_recording());
            drop(g);
            block_on(rec.flush());
            assert!(capture.documents().is_empty());
        }
    }

    #[test]
    fn in_progress_flush_then_complete() {
        let (rec, capture, _) = recorder();
        let handler = rec.subsegment("Handler");
        drop(handler.child("Done"));
        let report = block_on(rec.flush_in_progress());
        assert_eq!(report, FlushReport { trees: 1, failed: 0, in_progress: 1 });
        // A second in-progress flush does not resend the in-progress document.
        assert_eq!(block_on(rec.flush_in_progress()).in_progress, 0);
        drop(handler);
        block_on(rec.flush());
        let docs = capture.documents();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0]["name"], "Done");
        assert_eq!(docs[1]["in_progress"], true);
        assert!(docs[1].get("end_time").is_none());
        assert_eq!(docs[2]["name"], "Handler");
        assert_eq!(docs[2]["id"], docs[1]["id"]);
        assert!(docs[2].get("in_progress").is_none());
        assert!(docs[2].get("subsegments").is_none());
    }

    #[test]
    fn concurrent_calls_are_leaves_not_parents() {
        let (rec, capture, _) = recorder();
        {
            let _h = rec.subsegment("Handler");
            let a = rec.subsegment("DynamoDB");
            a.set_namespace(Namespace::Aws);
            let b = rec.subsegment("CloudWatch"); // concurrent with a: sibling, not child
            b.set_namespace(Namespace::Aws);
            rec.annotate("on_handler", true).unwrap();
            drop(a);
            drop(b);
        }
        block_on(rec.flush());
        let d = &capture.documents()[0];
        assert_eq!(d["annotations"]["on_handler"], true);
        let names: Vec<_> = d["subsegments"].as_array().unwrap().iter().map(|s| s["name"].clone()).collect();
        assert_eq!(names, vec!["DynamoDB", "CloudWatch"]);
        assert!(d["subsegments"][0].get("subsegments").is_none());
    }

    #[test]
    fn context_missing_policy_logs_as_configured_inside_the_invocation() {
        use crate::config::EnvVars;
        use crate::invocation::{ColdStartTracker, Invocation};
        use crate::testing::{CapturingWriter, ContextBuilder, FixedClock};
        let lines = |policy: ContextMissing| {
            let writer = CapturingWriter::new();
            let config = Config::builder().context_missing(policy).build_from(&EnvVars::empty());
            let subscriber = crate::log::subscriber(&config, writer.clone(), FixedClock::at_millis(0));
            let tracker = ColdStartTracker::new(&Default::default());
            tracing::subscriber::with_default(subscriber, || {
                for (i, header) in [None, Some("Root=nope"), Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")]
                    .into_iter()
                    .enumerate()
                {
                    let mut ctx = ContextBuilder::new().request_id(format!("r-{i}"));
                    if let Some(h) = header {
                        ctx = ctx.trace_header(h);
                    }
                    let inv = Arc::new(Invocation::from_context(&ctx.build(), &config, &tracker));
                    assert!(!inv.xray().is_recording());
                    // Reported at the first entry only, with the invocation current.
                    Arc::clone(&inv).sync_scope(|| ());
                    inv.sync_scope(|| ());
                }
            });
            writer
                .json_lines()
                .into_iter()
                .filter(|l| l["message"].as_str().unwrap().starts_with("X-Ray context missing"))
                .collect::<Vec<_>>()
        };
        assert!(lines(ContextMissing::IgnoreError).is_empty());
        let each = lines(ContextMissing::RuntimeError);
        let ids: Vec<_> = each.iter().map(|l| l["function_request_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["r-0", "r-1", "r-2"], "one line per invocation, with its keys");
        assert_eq!(each[0]["reason"], "no trace header");
        assert_eq!(each[2]["reason"], "trace header has no Parent");
        assert_eq!(each[0]["level"], "ERROR");
        // Once per process: at most one line, whichever test saw a missing context first.
        assert!(lines(ContextMissing::LogError).len() <= 1);
        assert!(lines(ContextMissing::LogError).is_empty());
    }

    #[test]
    fn thousands_of_subsegments_stay_cheap_and_bounded() {
        let (rec, capture, _) = recorder();
        {
            let h = rec.subsegment("Handler");
            for i in 0..(MAX_SUBSEGMENTS_PER_INVOCATION + 10) {
                let c = h.child("Item");
                assert_eq!(c.is_recording(), i + 1 < MAX_SUBSEGMENTS_PER_INVOCATION, "{i}");
            }
        }
        block_on(rec.flush());
        // Split into many documents by the size guard, none lost.
        let docs = capture.documents();
        let total: usize = docs.iter().map(|d| 1 + d["subsegments"].as_array().map_or(0, Vec::len)).sum();
        assert_eq!(total, MAX_SUBSEGMENTS_PER_INVOCATION);
    }

    #[test]
    fn implicit_calls_inside_a_refused_subsegment_do_not_land_on_its_parent() {
        let (rec, capture, _) = recorder();
        {
            let h = rec.subsegment("Handler");
            for _ in 1..MAX_SUBSEGMENTS_PER_INVOCATION {
                drop(h.child("Item"));
            }
            {
                let refused = rec.subsegment("OverTheLimit");
                assert!(!refused.is_recording());
                // Meant for the refused subsegment: not recorded, and not on `Handler`.
                assert!(matches!(rec.annotate("inside", true), Err(AnnotationError::NoSubsegment)));
                assert!(!rec.record_error_with(&Expired, &ErrorDetails::new(ErrorKind::Fault)));
                assert!(!rec.subsegment("Nested").is_recording());
            }
            // Ended: the implicit target is `Handler` again.
            rec.annotate("after", true).unwrap();
        }
        block_on(rec.flush());
        let docs = capture.documents();
        let handler = docs.iter().find(|d| d["name"] == "Handler").unwrap();
        assert_eq!(handler["annotations"]["after"], true);
        assert!(handler["annotations"].get("inside").is_none());
        assert!(handler.get("fault").is_none() && handler.get("cause").is_none(), "{handler}");
    }

    #[test]
    fn freed_slots_are_reused_without_mixing_subsegments() {
        let (rec, capture, _) = recorder();
        {
            let h = rec.subsegment("H");
            let a = h.child("A");
            let a_id = a.id();
            drop(a);
            let b = h.child("B"); // takes the slot A left
            assert_ne!(b.id(), a_id);
            b.annotate("on_b", 1).unwrap();
            let c = rec.subsegment("C"); // implicit parent: B, the innermost open one
            drop(b); // closes before its child C: C is sent alone under B's id
            rec.annotate("on_c", true).unwrap();
            drop(c);
            rec.annotate("on_h", true).unwrap();
        }
        block_on(rec.flush());
        let docs = capture.documents();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["name"], "C");
        assert_eq!(docs[0]["annotations"], serde_json::json!({"on_c": true}));
        let h = &docs[1];
        assert_eq!(h["annotations"], serde_json::json!({"on_h": true}));
        assert_eq!(h["subsegments"][1]["name"], "B");
        assert_eq!(h["subsegments"][1]["annotations"], serde_json::json!({"on_b": 1}));
        assert_eq!(docs[0]["parent_id"], h["subsegments"][1]["id"]);
        assert!(h["subsegments"][0].get("annotations").is_none());
    }

    #[test]
    fn each_tree_is_sent_once_across_flushes() {
        let (rec, capture, _) = recorder();
        let h = rec.subsegment("H");
        drop(rec.subsegment("A"));
        let b = h.child("B");
        block_on(rec.flush());
        assert!(capture.documents().is_empty(), "nothing closed at the top yet");
        drop(b);
        drop(h);
        let open = rec.subsegment("Open");
        drop(open.child("Inner"));
        block_on(rec.flush());
        let docs = capture.documents();
        assert_eq!(docs.len(), 1);
        let names: Vec<_> = docs[0]["subsegments"].as_array().unwrap().iter().map(|s| s["name"].clone()).collect();
        assert_eq!(names, vec!["A", "B"]);
        drop(open);
        block_on(rec.flush());
        drop(rec.subsegment("C"));
        block_on(rec.flush());
        block_on(rec.flush());
        let docs = capture.documents();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1]["name"], "Open");
        assert_eq!(docs[1]["subsegments"][0]["name"], "Inner");
        assert_eq!(docs[2]["name"], "C");
        assert!(docs[2].get("subsegments").is_none());
        assert_eq!(docs[2]["parent_id"], "53995c3f42cd8ad8");
    }

    /// Values stored as they are are written in place (appended keys) or through the
    /// general path (a key out of order, a key again); the others are cut or refused one by
    /// one: the same annotations either way.
    #[test]
    fn annotation_args_are_stored_as_converted_values_are() {
        let (rec, capture, _) = recorder();
        let long = "é".repeat(1200);
        let owned = String::from("owned value longer than twenty-two bytes");
        let mut refused = Vec::new();
        {
            let a = rec.subsegment("A");
            a.annotate_all(
                [
                    ("b_str", AnnotationArg::Str("short")),
                    ("c_owned", AnnotationArg::String(owned.clone())),
                    ("d_int", AnnotationArg::Int(-3)),
                    ("e_float", AnnotationArg::Float(0.5)),
                    ("f_bool", AnnotationArg::Bool(true)),
                    ("a_first", AnnotationArg::Str("out of order: inserted")),
                    ("b_str", AnnotationArg::Str("replaced")),
                ],
                |k, e| refused.push((k, e)),
            );
            a.annotate_all(
                [("g_long", AnnotationArg::Str(&long)), ("h_nan", AnnotationArg::Float(f64::NAN))],
                |k, e| refused.push((k, e)),
            );
        }
        block_on(rec.flush());
        let d = &capture.documents()[0];
        assert_eq!(
            d["annotations"],
            serde_json::json!({
                "a_first": "out of order: inserted",
                "b_str": "replaced",
                "c_owned": owned,
                "d_int": -3,
                "e_float": 0.5,
                "f_bool": true,
                "g_long": "é".repeat(1000),
            })
        );
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "h_nan");
    }

    #[test]
    fn known_keys_annotate_as_checked_ones() {
        let (rec, capture, _) = recorder();
        {
            let a = rec.subsegment("A");
            a.annotate_known([("ColdStart", true.into()), ("Service", "x".repeat(1200).into())]);
            a.annotate_known([("Bad", AnnotationArg::Float(f64::NAN))]);
            let b = rec.subsegment("B");
            b.annotate("ColdStart", true).unwrap();
            b.annotate("Service", "x".repeat(1200)).unwrap();
        }
        block_on(rec.flush());
        let d = &capture.documents()[0];
        assert_eq!(d["annotations"], d["subsegments"][0]["annotations"]);
        assert_eq!(d["annotations"]["Service"].as_str().unwrap().len(), 1000);
        assert!(d["annotations"].get("Bad").is_none());
    }

    #[test]
    fn a_dropped_recorder_leaves_its_emptied_arena_to_the_next_one_on_the_thread() {
        std::thread::spawn(|| {
            let (first, capture, _) = recorder();
            {
                let g = first.subsegment("First");
                g.annotate("tenant_id", "t-1").unwrap();
                g.metadata("m", serde_json::json!({"big": "x".repeat(100)})).unwrap();
                g.record_error(&std::fmt::Error, ErrorKind::Fault);
            }
            let open = first.subsegment("StillOpen"); // not flushed away: dropped with the recorder
            block_on(first.flush());
            drop(open);
            drop(first);
            let spare = spare_arena();
            // Storage only: closed, nothing of the first invocation left.
            assert!(spare.capacity() >= 2 && !spare.is_empty());
            for node in &spare {
                assert_eq!(node.state, NodeState::Closed);
                assert!(node.sub.name().is_empty() && node.sub.annotations().is_empty());
                assert!(node.sub.metadata().is_empty() && node.sub.rare.is_none());
            }
            let mut tree = Tree::default();
            tree.nodes.nodes = spare;
            drop(tree); // given back again
            let (second, second_capture, _) = recorder();
            drop(second.subsegment("Second"));
            drop(second.subsegment("Third"));
            block_on(second.flush());
            let names: Vec<_> = capture.documents().iter().map(|d| d["name"].clone()).collect();
            assert_eq!(names, ["First"]);
            // Written in the first recorder's storage: nothing of it shows.
            for d in second_capture.documents() {
                let keys: Vec<_> = d.as_object().unwrap().keys().cloned().collect();
                assert_eq!(keys, ["end_time", "id", "name", "parent_id", "start_time", "trace_id", "type"], "{d}");
            }
            // An arena grown past the limit is freed, not kept.
            let (big, _, _) = recorder();
            for _ in 0..=SPARE_ARENA_MAX_NODES {
                drop(big.subsegment("Item"));
            }
            drop(big);
            assert_eq!(SPARE_ARENA.with(Cell::take).capacity(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn downstream_headers_equal_the_invocation_header_with_the_new_parent() {
        for h in [
            HEADER,
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Self=1-abc;Foo=bar",
            "Sampled=1;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793",
        ] {
            let header: TraceHeader = h.parse().unwrap();
            let rec = Arc::new(Recorder::new(&header, Arc::new(CapturingEmitter::new())));
            let g = rec.subsegment("Call");
            let id = g.id().unwrap();
            let expected = header.with_parent(id);
            assert_eq!(g.downstream_header().unwrap(), expected, "{h}");
            assert_eq!(rec.downstream_header().unwrap().to_string(), expected.to_string(), "{h}");
        }
    }

    /// Every 16-hex-digit id but the header's `Parent`, renamed by order of appearance:
    /// documents of two recorders compare equal when they have the same shape and the same
    /// references between ids.
    fn normalised_ids(docs: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
        fn walk(v: &mut serde_json::Value, names: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s)
                    if s.len() == 16 && s != "53995c3f42cd8ad8" && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    let n = match names.iter().position(|known| known == s) {
                        Some(n) => n,
                        None => {
                            names.push(s.clone());
                            names.len() - 1
                        }
                    };
                    *s = format!("id#{n}");
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, names)),
                serde_json::Value::Object(map) => map.values_mut().for_each(|i| walk(i, names)),
                _ => {}
            }
        }
        let mut names = Vec::new();
        docs.into_iter()
            .map(|mut d| {
                walk(&mut d, &mut names);
                d
            })
            .collect()
    }

    /// What an invocation records: nested subsegments, annotations (known and checked),
    /// metadata, the same error twice (the second a reference), an in-progress flush, a
    /// downstream header. Returns the downstream header.
    fn run_invocation(rec: &Arc<Recorder>) -> Option<String> {
        let handler = rec.subsegment("Handler");
        handler.annotate_known([("ColdStart", true.into()), ("Service", "svc".into())]);
        let call = handler.child("Call");
        call.set_namespace(Namespace::Remote);
        call.record_error(&Expired, ErrorKind::Error);
        let downstream =
            call.id().zip(call.downstream_header()).map(|(id, h)| h.to_string().replace(&id.to_string(), "CALL"));
        call.end();
        handler.annotate("tenant_id", "t-1").unwrap();
        handler.metadata("m", serde_json::json!({"k": [1, 2]})).unwrap();
        handler.record_error(&Expired, ErrorKind::Error);
        let open = rec.subsegment("StillOpen");
        block_on(rec.flush_in_progress());
        drop(open);
        drop(handler);
        block_on(rec.flush());
        downstream
    }

    /// Leaves `rec` as a finished invocation can be left: subsegments open, closed trees
    /// not flushed, errors and annotations counted, a panic while the lock was held; with `grown`, more
    /// nodes than a spare arena keeps.
    fn dirty(rec: &Arc<Recorder>, grown: bool) {
        drop(rec.subsegment("Unsent"));
        let mut kept = rec.subsegment("Left");
        kept.annotate("tenant_id", "old").unwrap();
        kept.record_error(&Expired, ErrorKind::Fault);
        for i in 0..60 {
            kept.annotate(&format!("k{i}"), i).unwrap();
        }
        let _ = kept.child("Unflushed");
        let items = if grown { SPARE_ARENA_MAX_NODES } else { 1 };
        let mut grown = rec.subsegment("Grown");
        for _ in 0..items {
            drop(grown.child("Item"));
        }
        // Dropped without being closed (their `Arc`s released: the pool reuses a recorder
        // no guard holds).
        kept.ended = true;
        grown.ended = true;
        drop((kept, grown));
        if let Some(a) = &rec.active {
            let poisoned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _held = Recorder::lock(a);
                panic!("while the lock is held");
            }));
            assert!(poisoned.is_err() && !a.shared.is_locked(), "a panic while held releases the lock");
        }
    }

    #[test]
    fn a_reinitialised_recorder_is_indistinguishable_from_a_fresh_one() {
        let lineage =
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5";
        let other = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8;Sampled=1;Foo=bar";
        let headers: Vec<Result<Option<TraceHeader>, TraceHeaderError>> = vec![
            Ok(Some(HEADER.parse().unwrap())),
            Ok(Some(lineage.parse().unwrap())),
            Ok(Some(other.parse().unwrap())),
            Ok(Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".parse().unwrap())),
            Ok(Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".parse().unwrap())),
            Ok(None),
            "garbage".parse::<TraceHeader>().map(Some),
        ];
        let configs = [
            crate::config::Config::builder().build_from(&crate::config::EnvVars::empty()),
            crate::config::Config::builder().trace_disabled(true).build_from(&crate::config::EnvVars::empty()),
        ];
        let capture = CapturingEmitter::new();
        let first_emitter: Arc<dyn SegmentEmitter> = Arc::new(capture.clone());
        let first_clock: Arc<dyn Clock> = Arc::new(FixedClock::at_millis(1_700_000_000_000));
        let other_capture = CapturingEmitter::new();
        let other_emitter: Arc<dyn SegmentEmitter> = Arc::new(other_capture.clone());
        let other_clock: Arc<dyn Clock> = Arc::new(FixedClock::at_millis(1_800_000_000_000));
        let disabled: Arc<dyn SegmentEmitter> = Arc::new(crate::xray::emitter::NoopEmitter);
        let previous_headers = [HEADER, lineage, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"];
        let mut checked = 0;
        for (previous, grown) in previous_headers.into_iter().flat_map(|p| [(p, false), (p, true)]) {
            for header in &headers {
                for config in &configs {
                    for (emitter, clock, captured) in [
                        (&first_emitter, &first_clock, &capture),
                        (&other_emitter, &other_clock, &other_capture),
                        (&other_emitter, &first_clock, &other_capture),
                        (&disabled, &first_clock, &capture),
                    ] {
                        let (h, e) = match header {
                            Ok(h) => (h.as_ref(), None),
                            Err(e) => (None, Some(e)),
                        };
                        let case = format!(
                            "{previous} (grown {grown}) then {header:?}, trace disabled {}",
                            config.trace_disabled()
                        );
                        let fresh = Arc::new(Recorder::for_invocation_with(
                            h,
                            e,
                            config,
                            || Arc::clone(emitter),
                            Arc::clone(clock),
                        ));
                        // The pool's recorder: the previous invocation's, built with the
                        // first emitter and clock, left dirty.
                        let mut reused = Arc::new(Recorder::with_clock(
                            &previous.parse().unwrap(),
                            Arc::clone(&first_emitter),
                            Arc::clone(&first_clock),
                        ));
                        dirty(&reused, grown);
                        let was_recording = reused.is_recording();
                        let counts = || {
                            [
                                Arc::strong_count(emitter),
                                Arc::strong_count(clock),
                                Arc::strong_count(&first_emitter),
                                Arc::strong_count(&first_clock),
                            ]
                        };
                        let before = counts();
                        Arc::get_mut(&mut reused).unwrap().reinit_for_invocation(h, e, config, emitter, clock);
                        assert!(capture.documents().is_empty() && other_capture.documents().is_empty(), "{case}");

                        assert_eq!(fresh.is_recording(), reused.is_recording(), "{case}");
                        assert_eq!(format!("{fresh:?}"), format!("{reused:?}"), "{case}");
                        assert_eq!(fresh.trace_id(), reused.trace_id(), "{case}");
                        if let (Some(f), Some(r)) = (&fresh.active, &reused.active) {
                            checked += 1;
                            assert_eq!(f.parent, r.parent, "{case}");
                            assert_eq!(f.header_extras, r.header_extras, "{case}");
                            assert!(Arc::ptr_eq(&f.clock, &r.clock), "{case}: the clock is the one given");
                            assert!(!r.shared.is_locked(), "{case}");
                            let shared = Recorder::lock(r);
                            assert!(Arc::ptr_eq(&Recorder::lock(f).emitter, &shared.emitter), "{case}");
                            // Nothing of the previous invocation left: no node, no count.
                            let tree = &shared.tree;
                            assert_eq!(tree.nodes.live, 0, "{case}");
                            assert!(tree.open.is_empty() && tree.ready.is_empty(), "{case}");
                            assert_eq!(format!("{:?}", tree.state), format!("{:?}", TreeState::default()), "{case}");
                            assert!(tree.nodes.nodes.capacity() <= SPARE_ARENA_MAX_NODES, "{case}");
                            for node in &tree.nodes.nodes {
                                assert_eq!(node.state, NodeState::Closed, "{case}");
                                assert!(node.sub.name().is_empty() && node.sub.annotations().is_empty(), "{case}");
                                assert!(node.sub.metadata().is_empty() && node.sub.rare.is_none(), "{case}");
                            }
                            drop(shared);
                            // The same emitter and clock are kept (no clone), others swapped in
                            // (the previous ones released).
                            let after = counts();
                            let kept_emitter = was_recording && Arc::ptr_eq(emitter, &first_emitter);
                            let kept_clock = was_recording && Arc::ptr_eq(clock, &first_clock);
                            let released = usize::from(was_recording);
                            assert_eq!(after[0], before[0] + usize::from(!kept_emitter), "{case}");
                            assert_eq!(after[1], before[1] + usize::from(!kept_clock), "{case}");
                            if !Arc::ptr_eq(emitter, &first_emitter) {
                                assert_eq!(after[2], before[2] - released, "{case}");
                            }
                            if !Arc::ptr_eq(clock, &first_clock) {
                                assert_eq!(after[3], before[3] - released, "{case}");
                            }
                        }

                        let fresh_downstream = run_invocation(&fresh);
                        let fresh_docs = normalised_ids(captured.documents());
                        captured.clear();
                        let reused_downstream = run_invocation(&reused);
                        let reused_docs = normalised_ids(captured.documents());
                        captured.clear();
                        assert_eq!(fresh_downstream, reused_downstream, "{case}");
                        assert_eq!(fresh_docs, reused_docs, "{case}");
                        assert_eq!(fresh_docs.is_empty(), !fresh.is_recording(), "{case}");
                        assert!(capture.documents().is_empty() && other_capture.documents().is_empty(), "{case}");
                    }
                }
            }
        }
        assert!(checked >= 12, "recording cases: {checked}");
        // Every recorder dropped: only the test's handles are left.
        assert_eq!((Arc::strong_count(&first_emitter), Arc::strong_count(&first_clock)), (1, 1));
        assert_eq!((Arc::strong_count(&other_emitter), Arc::strong_count(&other_clock)), (1, 1));
    }

    /// Counts, at each `emit`, the strong references to itself (the emitter's `Arc`).
    #[derive(Debug, Default)]
    struct CountsItsRefs {
        me: std::sync::OnceLock<std::sync::Weak<CountsItsRefs>>,
        queues: bool,
        seen: std::sync::Mutex<Vec<usize>>,
        flushes: std::sync::atomic::AtomicUsize,
    }

    impl CountsItsRefs {
        fn new(queues: bool) -> Arc<Self> {
            let emitter = Arc::new(Self { queues, ..Self::default() });
            emitter.me.set(Arc::downgrade(&emitter)).unwrap();
            emitter
        }
    }

    impl SegmentEmitter for CountsItsRefs {
        fn emit(&self, _doc: &SegmentDocument<'_>) -> Result<(), crate::xray::emitter::EmitError> {
            let refs = self.me.get().and_then(std::sync::Weak::upgrade).map_or(0, |me| Arc::strong_count(&me) - 1);
            self.seen.lock().unwrap().push(refs);
            Ok(())
        }

        fn flush(&self) -> crate::xray::emitter::FlushFuture<'_> {
            self.flushes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(std::future::ready(()))
        }

        fn queues_documents(&self) -> bool {
            self.queues
        }
    }

    #[test]
    fn flushes_call_the_current_emitter_without_cloning_it() {
        for queues in [false, true] {
            let first = CountsItsRefs::new(queues);
            let rec = Arc::new(Recorder::new(&HEADER.parse().unwrap(), first.clone()));
            drop(rec.subsegment("Now"));
            assert_eq!(rec.flush_now().map(|r| r.trees), (!queues).then_some(1), "queues {queues}");
            drop(rec.subsegment("Later"));
            assert_eq!(block_on(rec.flush()).trees, 1 + usize::from(queues));
            let open = rec.subsegment("Open");
            assert_eq!(block_on(rec.flush_in_progress()).in_progress, 1);
            drop(open);
            // Emitted to through the recorder's own reference (the test's and the
            // recorder's: 2), never a clone; both flushes flushed it.
            assert_eq!(*first.seen.lock().unwrap(), [2, 2, 2], "Now, Later, Open in progress");
            assert_eq!(first.flushes.load(std::sync::atomic::Ordering::SeqCst), 2);
            // Replaced: the previous one is released, the next flush goes to the new one.
            let second = CountsItsRefs::new(queues);
            rec.set_emitter(second.clone());
            assert_eq!(Arc::strong_count(&first), 1);
            drop(rec.subsegment("After"));
            block_on(rec.flush());
            assert_eq!(*second.seen.lock().unwrap(), [2, 2], "Open, then After");
            assert_eq!(first.seen.lock().unwrap().len(), 3);
        }
    }

    #[test]
    fn more_than_50_annotations_are_kept() {
        let (rec, capture, _) = recorder();
        {
            let g = rec.subsegment("Many");
            for i in 0..60 {
                g.annotate(&format!("k{i}"), i).unwrap();
            }
        }
        block_on(rec.flush());
        assert_eq!(capture.documents()[0]["annotations"].as_object().unwrap().len(), 60);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Msg(String);

    #[test]
    fn oversized_parent_is_trimmed_and_its_child_stays_linked() {
        let (rec, capture, _) = recorder();
        let parent_id = {
            let p = rec.subsegment("Parent");
            for i in 0..80 {
                p.annotate(&format!("k{i}"), "v".repeat(1000)).unwrap();
            }
            drop(p.child("Child"));
            p.id().unwrap()
        };
        block_on(rec.flush());
        let docs = capture.documents();
        assert!(capture.raw().iter().all(|d| d.len() <= crate::xray::encode::MAX_DOCUMENT_BYTES));
        let child = docs.iter().find(|d| d["name"] == "Child").expect("child sent");
        assert_eq!(child["parent_id"], parent_id.as_str());
        let parent = docs.iter().find(|d| d["id"] == parent_id.as_str()).expect("parent sent, not dropped");
        assert_eq!(parent["name"], "Parent");
        let kept = parent["annotations"].as_object().unwrap().len();
        assert!((50..80).contains(&kept), "{kept}");
        let notes = &parent["metadata"]["streamer_obs"];
        assert_eq!(notes["truncated_annotations_count"], 80 - kept);
        assert_eq!(notes["truncated_annotations"].as_array().unwrap().len(), (80 - kept).min(20));
    }

    #[test]
    fn hundred_errors_are_capped_per_subsegment_and_the_parent_is_sent() {
        let (rec, capture, _) = recorder();
        let parent_id = {
            let p = rec.subsegment("Parent");
            for i in 0..100 {
                p.record_error(&Msg(format!("{i:04}{}", "m".repeat(996))), ErrorKind::Fault);
            }
            drop(p.child("Child"));
            p.id().unwrap()
        };
        block_on(rec.flush());
        let docs = capture.documents();
        let parent = docs.iter().find(|d| d["id"] == parent_id.as_str()).expect("parent sent");
        assert_eq!(parent["fault"], true);
        let ex = parent["cause"]["exceptions"].as_array().unwrap();
        assert_eq!(ex.len(), crate::xray::cause::MAX_EXCEPTIONS_PER_SUBSEGMENT);
        assert!(ex[0]["message"].as_str().unwrap().starts_with("0000"));
        assert_eq!(parent["metadata"]["streamer_obs"]["truncated_exceptions_count"], 68);
        // 32 exceptions fit: the child stays nested.
        assert_eq!(docs.len(), 1);
        assert_eq!(parent["subsegments"][0]["name"], "Child");
    }

    #[test]
    fn http_aws_and_sql_strings_are_cut_to_250_characters() {
        let (rec, capture, _) = recorder();
        {
            let a = rec.subsegment("SetHttp");
            a.set_http(Http {
                request_method: Some("M".repeat(300)),
                request_url: Some("é".repeat(2000)),
                request_user_agent: Some("a".repeat(251)),
                request_client_ip: Some("1".repeat(260)),
                ..Http::default()
            });
            drop(a);
            let b = rec.subsegment("Update");
            b.update_http(|h| h.request_url = Some("u".repeat(2000)));
            b.update_aws(|a| {
                a.operation = Some("o".repeat(3000));
                a.region = Some("r".repeat(300));
                a.request_id = Some("i".repeat(300));
                a.table_name = Some("t".repeat(300));
                a.queue_url = Some("q".repeat(300));
                a.account_id = Some("1".repeat(300));
            });
            drop(b);
            let c = rec.subsegment("Sql");
            let long = || Some("s".repeat(3000));
            c.set_sql(Sql {
                connection_string: long(),
                url: long(),
                sanitized_query: long(),
                database_type: long(),
                database_version: long(),
                driver_version: long(),
                user: long(),
                // Not `call` or `statement` (X-15): left out.
                preparation: long(),
            });
        }
        block_on(rec.flush());
        let docs = capture.documents();
        let mut strings = 0;
        for d in &docs {
            for block in ["http", "aws", "sql"] {
                let mut stack = vec![&d[block]];
                while let Some(v) = stack.pop() {
                    match v {
                        serde_json::Value::Object(m) => stack.extend(m.values()),
                        serde_json::Value::String(s) => {
                            assert_eq!(s.chars().count(), 250, "{block}: {}", &s[..10]);
                            strings += 1;
                        }
                        _ => {}
                    }
                }
            }
        }
        assert_eq!(strings, 4 + 1 + 6 + 7);
        assert!(docs.iter().all(|d| d["sql"].get("preparation").is_none()));
        assert_eq!(docs[0]["http"]["request"]["url"], "é".repeat(250));
    }

    #[test]
    fn non_finite_metadata_floats_are_written_as_strings() {
        let (rec, capture, _) = recorder();
        {
            let g = rec.subsegment("Floats");
            g.metadata("vals", vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0]).unwrap();
            g.metadata("f32", (f32::NAN, 0.5_f32)).unwrap();
            let _inner = g.child("Inner");
            rec.metadata_in("default", "one", f64::INFINITY).unwrap();
        }
        block_on(rec.flush());
        let d = &capture.documents()[0];
        assert_eq!(d["metadata"]["default"]["vals"], serde_json::json!(["NaN", "Infinity", "-Infinity", 1.0]));
        assert_eq!(d["metadata"]["default"]["f32"], serde_json::json!(["NaN", 0.5]));
        assert_eq!(d["subsegments"][0]["metadata"]["default"]["one"], "Infinity");
    }

    fn nested_arrays(depth: usize) -> serde_json::Value {
        let mut v = serde_json::json!(1);
        for _ in 0..depth {
            v = serde_json::Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn deep_metadata_is_cut_at_the_depth_limit_without_deep_recursion() {
        use crate::xray::annotation::{MAX_METADATA_DEPTH, TOO_DEEP};
        let run = || {
            for depth in [MAX_METADATA_DEPTH, 100, 30_000] {
                let (rec, capture, _) = recorder();
                let deep = nested_arrays(depth);
                {
                    let g = rec.subsegment("Deep");
                    g.metadata("deep", &deep).unwrap();
                    g.metadata_value_in("default", "value", nested_arrays(depth)).unwrap();
                }
                crate::xray::json::drop_flat(deep);
                block_on(rec.flush());
                let raw = capture.raw();
                for key in ["deep", "value"] {
                    let doc: serde_json::Value = serde_json::from_str(&raw[0]).unwrap();
                    let mut v = &doc["metadata"]["default"][key];
                    for _ in 0..MAX_METADATA_DEPTH {
                        v = &v[0];
                    }
                    if depth <= MAX_METADATA_DEPTH {
                        assert_eq!(*v, 1, "{depth}");
                    } else {
                        assert_eq!(*v, TOO_DEEP, "{depth}");
                    }
                }
                let mut s = Subsegment::new(SegmentId::generate(), "Owned", 0);
                s.add_metadata("default", "v", nested_arrays(depth)).unwrap();
                let json = crate::xray::document::SegmentDocument::new(
                    &"1-5759e988-bd862e3fe1be46a994272793".parse().unwrap(),
                    &SegmentId::generate(),
                    &s,
                )
                .to_json();
                assert_eq!(json.contains(TOO_DEEP), depth > MAX_METADATA_DEPTH);
            }
        };
        std::thread::Builder::new().stack_size(2 << 20).spawn(run).unwrap().join().unwrap();
    }

    #[test]
    fn annotation_string_values_over_1000_characters_are_cut_not_refused() {
        use crate::xray::annotation::AnnotationString;
        let (rec, capture, _) = recorder();
        {
            let g = rec.subsegment("Long");
            g.annotate("k", AnnotationValue::String(AnnotationString::from("x".repeat(2000)))).unwrap();
            rec.annotate("e", AnnotationValue::String(AnnotationString::from("é".repeat(1001)))).unwrap();
            assert_eq!(g.annotate("nan", f64::NAN), Err(AnnotationError::NonFiniteNumber));
        }
        block_on(rec.flush());
        let d = &capture.documents()[0];
        assert_eq!(d["annotations"]["k"], "x".repeat(1000));
        assert_eq!(d["annotations"]["e"], "é".repeat(1000));
        let mut s = Subsegment::new(SegmentId::generate(), "Owned", 0);
        s.annotate("k", AnnotationValue::String(AnnotationString::from("y".repeat(2000)))).unwrap();
        assert_eq!(s.annotations().get("k"), Some(&AnnotationValue::from("y".repeat(1000))));
    }
}
