//! Size guard: turns a subsegment tree into documents that each fit in one datagram
//! (rules X-1, T-3, T-4). JSON is never cut.
//!
//! 1. The whole tree as one document with nested `subsegments` (one datagram per
//!    invocation in the common case).
//! 2. If it does not fit, the parent keeps as many of its children nested as fit (in
//!    order), and every other child becomes its own independent document (`parent_id` =
//!    the enclosing subsegment), encoded by the same rules, recursively.
//! 3. If one subsegment alone is still too large, its largest metadata entries are
//!    removed (the first [`MAX_LISTED_NAMES`] names listed under metadata
//!    `streamer_obs.truncated_metadata`, the number under
//!    `streamer_obs.truncated_metadata_count`), then its stack frames (counted in each
//!    exception's `truncated`), then its largest annotations (listed under
//!    `streamer_obs.truncated_annotations`, counted under
//!    `streamer_obs.truncated_annotations_count`), and last its last exceptions (counted
//!    under `streamer_obs.truncated_exceptions_count`; a kept exception whose `cause` was
//!    left out counts it in `skipped`): a `cause` elsewhere may refer to an exception by
//!    id. Each item is measured as written.
//! 4. If it still does not fit it is sent as a **stub**: the same id, name, times,
//!    namespace and flags, with metadata `streamer_obs.truncated: true` and
//!    `streamer_obs.original_bytes`, so that children already sent with its id as
//!    `parent_id` stay linked; a WARN line says so. Only if even the stub does not fit
//!    (a limit below a few hundred bytes) is it dropped, with a WARN line.
//!
//! ```
//! use streamer_obs::trace_header::{SegmentId, TraceId};
//! use streamer_obs::xray::document::{SegmentDocument, Subsegment};
//! use streamer_obs::xray::encode::encode_documents;
//!
//! let (t, p) = (TraceId::generate(1), SegmentId::generate());
//! let mut root = Subsegment::new(SegmentId::generate(), "Handler", 1_000_000);
//! for i in 0..3 {
//!     let mut c = Subsegment::new(SegmentId::generate(), &format!("Child{i}"), 1_000_000);
//!     c.set_end_micros(2_000_000);
//!     root.push_child(c);
//! }
//! root.set_end_micros(3_000_000);
//! let mut docs = Vec::new();
//! let mut buf = Vec::new();
//! // A 300-byte limit forces a split: the parent keeps one child, two go alone.
//! let report = encode_documents(&SegmentDocument::new(&t, &p, &root), 300, &mut buf, 0, &mut |d| docs.push(d.to_vec()));
//! assert!(report.split);
//! assert_eq!(docs.len(), 3);
//! assert!(docs.iter().all(|d| d.len() <= 300));
//! ```

use crate::trace_header::SegmentId;
use crate::xray::document::{NodeRef, SegmentDocument, Subsegment, write_annotation, write_nested};
use crate::xray::json;
use crate::xray::small_str::SmallStr;

/// `,"subsegments":[]`: what nesting children adds besides the children themselves.
const SUBSEGMENTS_OVERHEAD: usize = 17;

/// The daemon header line (compact form, rule T-1) with its newline.
pub const DAEMON_HEADER: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";
/// The largest UDP payload over IPv4: header line plus document (rule T-3).
pub const MAX_DATAGRAM_BYTES: usize = 65_507;
/// The largest document, header line excluded.
pub const MAX_DOCUMENT_BYTES: usize = MAX_DATAGRAM_BYTES - DAEMON_HEADER.len();
/// The metadata namespace where the names of removed metadata entries are listed.
pub const TRUNCATION_NAMESPACE: &str = "streamer_obs";

/// What encoding did to a tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeReport {
    /// Documents handed to the sink.
    pub documents: usize,
    /// Whether the tree was split into several documents.
    pub split: bool,
    /// Documents that had metadata or stack frames removed.
    pub trimmed: usize,
    /// Subsegments dropped because they could not be made small enough, not even as a
    /// stub.
    pub dropped: usize,
    /// Subsegments sent as a stub (id, name, times, namespace, flags and the note
    /// `streamer_obs.truncated`) because they could not be trimmed enough; also counted
    /// in `trimmed`.
    pub stubbed: usize,
}

/// Encodes `doc` into documents of at most `max_doc_bytes` bytes each. Each document is
/// written into `buf` after its first `keep` bytes (a prefix such as the daemon header,
/// left untouched), and `sink` receives `buf` (prefix included) once per document.
///
/// ```
/// # use streamer_obs::trace_header::{SegmentId, TraceId};
/// # use streamer_obs::xray::document::{SegmentDocument, Subsegment};
/// # use streamer_obs::xray::encode::{encode_documents, DAEMON_HEADER, MAX_DOCUMENT_BYTES};
/// let (t, p) = (TraceId::generate(1), SegmentId::generate());
/// let s = Subsegment::new(SegmentId::generate(), "W", 0);
/// let mut buf = DAEMON_HEADER.to_vec();
/// let mut datagrams = 0;
/// let r = encode_documents(&SegmentDocument::new(&t, &p, &s), MAX_DOCUMENT_BYTES, &mut buf, DAEMON_HEADER.len(), &mut |d| {
///     assert!(d.starts_with(DAEMON_HEADER));
///     datagrams += 1;
/// });
/// assert_eq!((r.documents, datagrams), (1, 1));
/// ```
pub fn encode_documents(
    doc: &SegmentDocument<'_>,
    max_doc_bytes: usize,
    buf: &mut Vec<u8>,
    keep: usize,
    sink: &mut dyn FnMut(&[u8]),
) -> EncodeReport {
    let mut report = EncodeReport::default();
    encode_into(doc, max_doc_bytes, buf, keep, sink, &mut report);
    buf.truncate(keep);
    report
}

fn fits(buf: &[u8], keep: usize, max: usize) -> bool {
    buf.len() - keep <= max
}

fn encode_into(
    doc: &SegmentDocument<'_>,
    max: usize,
    buf: &mut Vec<u8>,
    keep: usize,
    sink: &mut dyn FnMut(&[u8]),
    report: &mut EncodeReport,
) {
    buf.truncate(keep);
    doc.write_with(buf, true);
    if fits(buf, keep, max) {
        sink(buf);
        report.documents += 1;
        return;
    }
    let root = doc.root();
    let sub = root.sub();
    if !doc.is_in_progress() && root.has_children() {
        report.split = true;
        // The parent alone, then as many children nested in it as fit (in order); the
        // others go as their own documents.
        buf.truncate(keep);
        doc.write_with(buf, false);
        let base = buf.len() - keep;
        let mut budget = max.saturating_sub(base + SUBSEGMENTS_OVERHEAD);
        let mut kept: Vec<NodeRef<'_>> = Vec::new();
        let mut scratch = Vec::new();
        for child in root.children() {
            scratch.clear();
            write_nested(child, &mut scratch);
            let size = scratch.len() + usize::from(!kept.is_empty());
            if base <= max && size <= budget {
                budget -= size;
                kept.push(child);
            } else {
                encode_into(&SegmentDocument::of(doc.trace_id(), &sub.id, child, false), max, buf, keep, sink, report);
            }
        }
        if kept.is_empty() {
            buf.truncate(keep);
            doc.write_with(buf, false);
            if fits(buf, keep, max) {
                sink(buf);
                report.documents += 1;
                return;
            }
        } else {
            buf.truncate(keep);
            doc.write_with_children(buf, &kept);
            if fits(buf, keep, max) {
                sink(buf);
                report.documents += 1;
                return;
            }
            // Unreachable by construction (sizes were measured); send the children alone.
            for child in kept {
                encode_into(&SegmentDocument::of(doc.trace_id(), &sub.id, child, false), max, buf, keep, sink, report);
            }
        }
    }
    trim_and_send(doc, max, buf, keep, sink, report);
}

fn shallow(sub: &Subsegment) -> Subsegment {
    Subsegment {
        id: sub.id,
        name: sub.name.clone(),
        start_micros: sub.start_micros,
        end_micros: sub.end_micros,
        namespace: sub.namespace,
        flags: sub.flags,
        annotations: sub.annotations.clone(),
        metadata: sub.metadata.clone(),
        rare: sub.rare.clone(),
        subsegments: Vec::new(),
    }
}

fn rewrite(doc: &SegmentDocument<'_>, copy: &Subsegment, parent: &SegmentId, buf: &mut Vec<u8>, keep: usize) -> usize {
    buf.truncate(keep);
    let d = if doc.is_in_progress() {
        SegmentDocument::in_progress(doc.trace_id(), parent, copy)
    } else {
        SegmentDocument::new(doc.trace_id(), parent, copy)
    };
    d.write_with(buf, false);
    buf.len() - keep
}

/// At most this many removed metadata or annotation names are listed (each cut to 80
/// characters); the `…_count` entry says how many were removed in all.
pub const MAX_LISTED_NAMES: usize = 20;
/// Metadata key (under [`TRUNCATION_NAMESPACE`]) listing removed metadata entries.
pub const TRUNCATED_METADATA: &str = "truncated_metadata";
/// Metadata key (under [`TRUNCATION_NAMESPACE`]) counting removed metadata entries.
pub const TRUNCATED_METADATA_COUNT: &str = "truncated_metadata_count";
/// Metadata key (under [`TRUNCATION_NAMESPACE`]) listing removed annotation keys.
pub const TRUNCATED_ANNOTATIONS: &str = "truncated_annotations";
/// Metadata key (under [`TRUNCATION_NAMESPACE`]) counting removed annotations.
pub const TRUNCATED_ANNOTATIONS_COUNT: &str = "truncated_annotations_count";
/// Metadata key (under [`TRUNCATION_NAMESPACE`]) counting exceptions left out (by the
/// size guard or by [`MAX_EXCEPTIONS_PER_SUBSEGMENT`](crate::xray::cause::MAX_EXCEPTIONS_PER_SUBSEGMENT)).
pub const TRUNCATED_EXCEPTIONS: &str = "truncated_exceptions_count";
/// Metadata key (under [`TRUNCATION_NAMESPACE`]) set to `true` on a stub: a subsegment
/// that could not be made small enough, sent with only its id, name, times, namespace and
/// flags so that its children's `parent_id` stays valid.
pub const TRUNCATED_SUBSEGMENT: &str = "truncated";

/// Room kept for the notes of one trimming stage (their names are counted separately).
const NOTE_BYTES: usize = 128;

/// Adds `n` to the count note `key` under [`TRUNCATION_NAMESPACE`].
pub(crate) fn add_count_note(sub: &mut Subsegment, key: &str, n: usize) {
    let before = sub.metadata.get(TRUNCATION_NAMESPACE, key).and_then(serde_json::Value::as_u64).unwrap_or(0);
    sub.put_metadata(TRUNCATION_NAMESPACE, key, serde_json::json!(before.saturating_add(n as u64)));
}

/// The JSON length of `name` as listed in a note, plus its comma.
fn listed_len(name: &str, scratch: &mut Vec<u8>) -> usize {
    scratch.clear();
    json::write_str(scratch, name);
    scratch.len() + 1
}

/// Removes items largest first until the document (now `size` bytes, notes included in
/// the estimate) fits in `max`. `sizes` holds each item's written size (comma included)
/// and name; returns which to remove, the listed names, and how many.
fn pick_largest(
    sizes: &mut [(usize, usize, String)],
    count: usize,
    mut size: usize,
    max: usize,
    scratch: &mut Vec<u8>,
) -> (Vec<bool>, Vec<String>, usize) {
    // Largest first; of equal sizes, the later first (the earlier ones are kept).
    sizes.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut remove = vec![false; count];
    let mut names = Vec::new();
    let mut removed = 0;
    size += NOTE_BYTES;
    for (bytes, index, name) in sizes.iter_mut() {
        if size <= max {
            break;
        }
        remove[*index] = true;
        removed += 1;
        size = size.saturating_sub(*bytes);
        if names.len() < MAX_LISTED_NAMES {
            let name: String = std::mem::take(name).chars().take(80).collect();
            size += listed_len(&name, scratch);
            names.push(name);
        }
    }
    (remove, names, removed)
}

fn send_trimmed(buf: &[u8], sink: &mut dyn FnMut(&[u8]), report: &mut EncodeReport) {
    sink(buf);
    report.documents += 1;
    report.trimmed += 1;
}

fn trim_and_send(
    doc: &SegmentDocument<'_>,
    max: usize,
    buf: &mut Vec<u8>,
    keep: usize,
    sink: &mut dyn FnMut(&[u8]),
    report: &mut EncodeReport,
) {
    let parent = *doc.parent_id();
    let mut copy = shallow(doc.subsegment());
    let original = rewrite(doc, &copy, &parent, buf, keep);
    let mut size = original;
    let mut scratch = Vec::new();
    // 1. Metadata, largest entries first (the notes of this guard are kept).
    let trimmable = |ns: &SmallStr| ns.as_str() != TRUNCATION_NAMESPACE;
    if copy.metadata.entries().iter().any(|(ns, _, _)| trimmable(ns)) {
        let entries = copy.metadata.entries();
        let mut sizes: Vec<(usize, usize, String)> = Vec::new();
        for (i, (ns, k, v)) in entries.iter().enumerate() {
            if !trimmable(ns) {
                continue;
            }
            scratch.clear();
            k.write_json(&mut scratch);
            scratch.push(b':');
            json::write_value(&mut scratch, v);
            sizes.push((scratch.len() + 1, i, format!("{}.{}", ns.as_str(), k.as_str())));
        }
        let (remove, names, removed) = pick_largest(&mut sizes, entries.len(), size, max, &mut scratch);
        copy.metadata.remove_marked(&remove);
        if removed > 0 {
            copy.put_metadata(TRUNCATION_NAMESPACE, TRUNCATED_METADATA, serde_json::json!(names));
            copy.put_metadata(TRUNCATION_NAMESPACE, TRUNCATED_METADATA_COUNT, serde_json::json!(removed));
        }
        size = rewrite(doc, &copy, &parent, buf, keep);
        if size <= max {
            return send_trimmed(buf, sink, report);
        }
        // Still too large (not expected: sizes are measured): no metadata at all.
        let all = removed + copy.metadata.entries().iter().filter(|(ns, _, _)| trimmable(ns)).count();
        let remove: Vec<bool> = copy.metadata.entries().iter().map(|(ns, _, _)| trimmable(ns)).collect();
        copy.metadata.remove_marked(&remove);
        if removed == 0 {
            copy.put_metadata(TRUNCATION_NAMESPACE, TRUNCATED_METADATA, serde_json::json!(["*"]));
        }
        copy.put_metadata(TRUNCATION_NAMESPACE, TRUNCATED_METADATA_COUNT, serde_json::json!(all));
        size = rewrite(doc, &copy, &parent, buf, keep);
        if size <= max {
            return send_trimmed(buf, sink, report);
        }
    }
    // 2. Stack frames.
    if let Some(cause) = copy.rare.as_mut().and_then(|r| r.cause.as_mut())
        && cause.drop_stacks() > 0
    {
        size = rewrite(doc, &copy, &parent, buf, keep);
        if size <= max {
            return send_trimmed(buf, sink, report);
        }
    }
    // 3. Annotations, largest first.
    if !copy.annotations.is_empty() {
        let entries = copy.annotations.entries();
        let mut sizes: Vec<(usize, usize, String)> = Vec::with_capacity(entries.len());
        for (i, (k, v)) in entries.iter().enumerate() {
            scratch.clear();
            write_annotation(&mut scratch, true, k, v);
            sizes.push((scratch.len(), i, k.as_str().to_owned()));
        }
        let (remove, names, removed) = pick_largest(&mut sizes, entries.len(), size, max, &mut scratch);
        copy.annotations.remove_marked(&remove);
        if removed > 0 {
            copy.put_metadata(TRUNCATION_NAMESPACE, TRUNCATED_ANNOTATIONS, serde_json::json!(names));
            add_count_note(&mut copy, TRUNCATED_ANNOTATIONS_COUNT, removed);
        }
        size = rewrite(doc, &copy, &parent, buf, keep);
        if size <= max {
            return send_trimmed(buf, sink, report);
        }
    }
    // 4. Exceptions: only the first ones that fit. Last of the trims: a `cause` elsewhere
    //    (a parent's, another subsegment's) may refer to an exception by id.
    if let Some(cause) = copy.rare.as_mut().and_then(|r| r.cause.as_mut())
        && !cause.exceptions().is_empty()
    {
        let mut est = size + NOTE_BYTES;
        let mut kept = cause.exceptions().len();
        while kept > 0 && est > max {
            kept -= 1;
            scratch.clear();
            let _ = serde_json::to_writer(&mut scratch, &cause.exceptions()[kept]);
            est = est.saturating_sub(scratch.len() + 1);
        }
        let left_out = cause.keep_first(kept).len();
        if left_out > 0 {
            add_count_note(&mut copy, TRUNCATED_EXCEPTIONS, left_out);
        }
        size = rewrite(doc, &copy, &parent, buf, keep);
        if size <= max {
            return send_trimmed(buf, sink, report);
        }
    }
    // 5. A stub with the same id, so that children sent with this id as `parent_id` stay
    //    linked.
    let mut stub = Subsegment::new(copy.id, "", copy.start_micros);
    stub.name = copy.name.clone();
    stub.end_micros = copy.end_micros;
    stub.namespace = copy.namespace;
    stub.flags = copy.flags;
    stub.put_metadata(TRUNCATION_NAMESPACE, TRUNCATED_SUBSEGMENT, serde_json::Value::Bool(true));
    stub.put_metadata(TRUNCATION_NAMESPACE, "original_bytes", serde_json::json!(original));
    let stub_size = rewrite(doc, &stub, &parent, buf, keep);
    if stub_size <= max {
        report.stubbed += 1;
        warn_oversize(
            &copy,
            original,
            max,
            "X-Ray subsegment too large even trimmed: sent as a stub (id, name, times, flags)",
        );
        return send_trimmed(buf, sink, report);
    }
    // 6. Give up on this subsegment.
    buf.truncate(keep);
    report.dropped += 1;
    warn_oversize(&copy, size, max, "X-Ray subsegment dropped: too large for one document even as a stub");
}

/// The size guard's WARN line about `sub` (`bytes` over `limit`), written once the
/// recorder's lock is released (`crate::lock`).
#[cold]
fn warn_oversize(sub: &Subsegment, bytes: usize, limit: usize, what: &'static str) {
    let (name, id) = (sub.name.to_string(), sub.id);
    crate::lock::after_unlock(move || {
        tracing::warn!(target: "streamer_obs", subsegment = %name, id = %id, bytes, limit, "{what}");
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace_header::TraceId;
    use crate::xray::cause::{Cause, Exception, StackFrame};

    fn ids() -> (TraceId, SegmentId) {
        (TraceId::generate(1_700_000_000), SegmentId::generate())
    }

    fn collect(doc: &SegmentDocument<'_>, max: usize) -> (Vec<serde_json::Value>, EncodeReport, Vec<usize>) {
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        let mut buf = b"HDR\n".to_vec();
        let report = encode_documents(doc, max, &mut buf, 4, &mut |d| {
            assert!(d.starts_with(b"HDR\n"));
            sizes.push(d.len() - 4);
            out.push(serde_json::from_slice(&d[4..]).expect("whole JSON"));
        });
        assert_eq!(buf, b"HDR\n");
        (out, report, sizes)
    }

    #[test]
    fn small_tree_is_one_nested_document() {
        let (t, p) = ids();
        let mut root = Subsegment::new(SegmentId::generate(), "H", 1);
        root.push_child(Subsegment::new(SegmentId::generate(), "C", 1));
        let (docs, report, _) = collect(&SegmentDocument::new(&t, &p, &root), MAX_DOCUMENT_BYTES);
        assert_eq!(docs.len(), 1);
        assert_eq!(report, EncodeReport { documents: 1, ..Default::default() });
        assert_eq!(docs[0]["subsegments"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn subsegment_with_70_kb_of_metadata_is_trimmed_to_fit() {
        let (t, p) = ids();
        let mut s = Subsegment::new(SegmentId::generate(), "Big", 1_000_000);
        s.put_metadata("default", "payload", serde_json::json!("x".repeat(70_000)));
        s.put_metadata("default", "small", serde_json::json!({"kept": true}));
        s.put_annotation("tenant_id", "t".into());
        s.set_end_micros(2_000_000);
        let (docs, report, sizes) = collect(&SegmentDocument::new(&t, &p, &s), MAX_DOCUMENT_BYTES);
        assert_eq!(report.trimmed, 1);
        assert_eq!(report.dropped, 0);
        assert_eq!(docs.len(), 1);
        assert!(sizes[0] <= MAX_DOCUMENT_BYTES);
        assert!(sizes[0] + DAEMON_HEADER.len() <= MAX_DATAGRAM_BYTES);
        let d = &docs[0];
        assert_eq!(d["metadata"]["default"]["small"]["kept"], true);
        assert!(d["metadata"]["default"].get("payload").is_none());
        assert_eq!(d["metadata"][TRUNCATION_NAMESPACE]["truncated_metadata"], serde_json::json!(["default.payload"]));
        assert_eq!(d["annotations"]["tenant_id"], "t");
        assert_eq!(d["end_time"], 2.0);
    }

    #[test]
    fn oversized_tree_is_split_with_linkage() {
        let (t, p) = ids();
        let mut root = Subsegment::new(SegmentId::generate(), "Handler", 1);
        for i in 0..4 {
            let mut c = Subsegment::new(SegmentId::generate(), &format!("C{i}"), 1);
            c.put_metadata("default", "blob", serde_json::json!("y".repeat(20_000)));
            c.set_end_micros(2);
            root.push_child(c);
        }
        root.set_end_micros(3);
        let (docs, report, sizes) = collect(&SegmentDocument::new(&t, &p, &root), MAX_DOCUMENT_BYTES);
        assert!(report.split);
        // Three 20 KB children still fit nested in the parent; the fourth goes alone.
        assert_eq!(docs.len(), 2);
        assert!(sizes.iter().all(|s| *s <= MAX_DOCUMENT_BYTES));
        let root_id = root.id().as_str();
        assert_eq!(docs[0]["parent_id"], root_id);
        assert_eq!(docs[0]["name"], "C3");
        assert_eq!(docs[0]["type"], "subsegment");
        assert_eq!(docs[0]["trace_id"], t.as_str());
        assert_eq!(docs[1]["parent_id"], p.as_str());
        let nested = docs[1]["subsegments"].as_array().unwrap();
        assert_eq!(nested.len(), 3);
        assert!(nested.iter().all(|c| c["metadata"]["default"]["blob"].as_str().unwrap().len() == 20_000));
    }

    #[test]
    fn parent_keeps_as_many_children_as_fit() {
        let (t, p) = ids();
        let mut root = Subsegment::new(SegmentId::generate(), "Handler", 1);
        for i in 0..2_000 {
            let mut c = Subsegment::new(SegmentId::generate(), &format!("Item{i}"), 1);
            c.set_end_micros(2);
            root.push_child(c);
        }
        root.set_end_micros(3);
        let (docs, report, sizes) = collect(&SegmentDocument::new(&t, &p, &root), MAX_DOCUMENT_BYTES);
        assert!(report.split);
        assert!(sizes.iter().all(|s| *s <= MAX_DOCUMENT_BYTES));
        let total: usize = docs.iter().map(|d| 1 + d["subsegments"].as_array().map_or(0, Vec::len)).sum();
        assert_eq!(total, 2_001);
        let parent = docs.iter().find(|d| d["id"] == root.id().as_str()).expect("parent sent");
        assert_eq!(parent["parent_id"], p.as_str());
        // The parent is filled close to the limit; only the rest go one per document (one
        // document holds one tree, so they cannot share one).
        let nested = parent["subsegments"].as_array().unwrap().len();
        assert!(nested > 500, "{nested}");
        assert_eq!(docs.len(), 1 + 2_000 - nested);
        assert!(sizes.iter().max().copied().unwrap_or(0) > MAX_DOCUMENT_BYTES - 200);
    }

    #[test]
    fn exact_fit_boundary() {
        let (t, p) = ids();
        let mut root = Subsegment::new(SegmentId::generate(), "H", 1);
        for i in 0..3 {
            root.push_child(Subsegment::new(SegmentId::generate(), &format!("C{i}"), 1));
        }
        let mut whole = Vec::new();
        SegmentDocument::new(&t, &p, &root).write_to(&mut whole);
        // At exactly the whole size: one document; one byte less: split, each document within limit.
        let (docs, report, _) = collect(&SegmentDocument::new(&t, &p, &root), whole.len());
        assert_eq!((docs.len(), report.split), (1, false));
        let (docs, report, sizes) = collect(&SegmentDocument::new(&t, &p, &root), whole.len() - 1);
        assert!(report.split);
        assert_eq!(docs.len(), 2);
        assert!(sizes.iter().all(|s| *s < whole.len()));
    }

    #[test]
    fn stack_frames_are_trimmed_after_metadata() {
        let (t, p) = ids();
        let mut s = Subsegment::new(SegmentId::generate(), "Err", 1);
        let frame = StackFrame { path: Some("p".repeat(200)), line: Some(1), label: Some("l".repeat(200)) };
        s.set_cause(Cause::Exceptions {
            working_directory: "/".into(),
            exceptions: vec![Exception {
                id: SegmentId::generate(),
                message: "m".into(),
                type_name: "T".into(),
                remote: false,
                truncated: 0,
                skipped: 0,
                cause: None,
                stack: vec![frame; 400],
            }],
        });
        s.set_end_micros(2);
        let (docs, report, _) = collect(&SegmentDocument::new(&t, &p, &s), 10_000);
        assert_eq!(report.trimmed, 1);
        let ex = &docs[0]["cause"]["exceptions"][0];
        assert_eq!(ex["truncated"], 400);
        assert!(ex.get("stack").is_none());
    }

    #[test]
    fn largest_annotations_are_removed_and_listed() {
        let (t, p) = ids();
        let mut s = Subsegment::new(SegmentId::generate(), "Annotated", 1);
        for i in 0..100 {
            s.put_annotation(&format!("k{i:02}"), "v".repeat(1000).into());
        }
        s.put_annotation("small", 1.into());
        let (docs, report, sizes) = collect(&SegmentDocument::new(&t, &p, &s), 50_000);
        assert_eq!((docs.len(), report.trimmed, report.dropped, report.stubbed), (1, 1, 0, 0));
        assert!(sizes[0] <= 50_000 && sizes[0] > 48_000, "{}", sizes[0]);
        let d = &docs[0];
        let kept = d["annotations"].as_object().unwrap();
        assert_eq!(kept["small"], 1);
        // The earlier keys are kept, the later removed.
        assert!(kept.contains_key("k00"));
        let removed = 101 - kept.len();
        let notes = &d["metadata"][TRUNCATION_NAMESPACE];
        assert_eq!(notes[TRUNCATED_ANNOTATIONS_COUNT], removed);
        let listed = notes[TRUNCATED_ANNOTATIONS].as_array().unwrap();
        assert_eq!(listed.len(), MAX_LISTED_NAMES);
        assert_eq!(listed[0], "k99");
    }

    #[test]
    fn metadata_entries_are_measured_as_written() {
        let (t, p) = ids();
        let mut s = Subsegment::new(SegmentId::generate(), "Meta", 1);
        for i in 0..20_000 {
            s.put_metadata("default", &format!("k{i:05}"), serde_json::json!("vvvvvvvvvv"));
        }
        s.set_end_micros(2);
        let (docs, report, sizes) = collect(&SegmentDocument::new(&t, &p, &s), MAX_DOCUMENT_BYTES);
        assert_eq!((docs.len(), report.trimmed), (1, 1));
        let d = &docs[0];
        let kept = d["metadata"]["default"].as_object().unwrap().len();
        assert!(kept > 2_800, "{kept}");
        assert!(sizes[0] > MAX_DOCUMENT_BYTES - 500, "{}", sizes[0]);
        let notes = &d["metadata"][TRUNCATION_NAMESPACE];
        assert_eq!(notes[TRUNCATED_METADATA_COUNT], 20_000 - kept);
        assert_eq!(notes[TRUNCATED_METADATA].as_array().unwrap().len(), MAX_LISTED_NAMES);
        assert_eq!(notes[TRUNCATED_METADATA][0], "default.k19999");
        assert!(d["metadata"]["default"].get("k00000").is_some());
    }

    #[test]
    fn exceptions_beyond_what_fits_are_left_out_and_counted() {
        let (t, p) = ids();
        let mut s = Subsegment::new(SegmentId::generate(), "Errors", 1);
        let ids: Vec<SegmentId> = (0..100).map(|_| SegmentId::generate()).collect();
        let exceptions = (0..100)
            .map(|i| Exception {
                id: ids[i],
                message: format!("{i:03}{}", "m".repeat(997)),
                type_name: "T".into(),
                remote: false,
                truncated: 0,
                skipped: 0,
                cause: ids.get(i + 1).copied(),
                stack: vec![],
            })
            .collect();
        s.set_cause(Cause::Exceptions { working_directory: "/".into(), exceptions });
        s.add_flags(crate::xray::document::Flags { fault: true, ..Default::default() });
        let (docs, report, sizes) = collect(&SegmentDocument::new(&t, &p, &s), MAX_DOCUMENT_BYTES);
        assert_eq!((docs.len(), report.trimmed, report.stubbed), (1, 1, 0));
        assert!(sizes[0] > MAX_DOCUMENT_BYTES - 2_000);
        let d = &docs[0];
        let ex = d["cause"]["exceptions"].as_array().unwrap();
        assert!(ex.len() > 50 && ex.len() < 100, "{}", ex.len());
        assert!(ex[0]["message"].as_str().unwrap().starts_with("000"));
        let last = ex.last().unwrap();
        assert!(last.get("cause").is_none(), "no link to a left-out exception");
        assert_eq!(last["skipped"], 100 - ex.len());
        assert_eq!(d["metadata"][TRUNCATION_NAMESPACE][TRUNCATED_EXCEPTIONS], 100 - ex.len());
        assert_eq!(d["fault"], true);
    }

    #[test]
    fn untrimmable_subsegment_is_sent_as_a_stub_so_children_stay_linked() {
        let (t, p) = ids();
        let mut root = Subsegment::new(SegmentId::generate(), "Parent", 1_000_000);
        root.set_namespace(crate::xray::document::Namespace::Remote);
        root.add_flags(crate::xray::document::Flags { error: true, ..Default::default() });
        for _ in 0..5_000 {
            root.add_precursor(SegmentId::generate());
        }
        root.put_annotation("a", 1.into());
        let mut child = Subsegment::new(SegmentId::generate(), "Child", 1_100_000);
        child.set_end_micros(1_200_000);
        root.push_child(child);
        root.set_end_micros(2_000_000);
        let (docs, report, sizes) = collect(&SegmentDocument::new(&t, &p, &root), MAX_DOCUMENT_BYTES);
        assert!(sizes.iter().all(|s| *s <= MAX_DOCUMENT_BYTES));
        assert_eq!((docs.len(), report.dropped, report.stubbed), (2, 0, 1));
        let child = docs.iter().find(|d| d["name"] == "Child").unwrap();
        assert_eq!(child["parent_id"], root.id().as_str());
        let stub = docs.iter().find(|d| d["id"] == root.id().as_str()).unwrap();
        assert_eq!(stub["parent_id"], p.as_str());
        assert_eq!(stub["name"], "Parent");
        assert_eq!((stub["start_time"].as_f64(), stub["end_time"].as_f64()), (Some(1.0), Some(2.0)));
        assert_eq!((&stub["error"], &stub["namespace"]), (&serde_json::json!(true), &serde_json::json!("remote")));
        assert_eq!(stub["metadata"][TRUNCATION_NAMESPACE][TRUNCATED_SUBSEGMENT], true);
        assert!(stub.get("precursor_ids").is_none() && stub.get("annotations").is_none());
        // In progress: the stub is in progress too.
        let open = Subsegment { end_micros: None, subsegments: Vec::new(), ..root.clone() };
        let (docs, report, _) = collect(&SegmentDocument::in_progress(&t, &p, &open), MAX_DOCUMENT_BYTES);
        assert_eq!((docs.len(), report.stubbed), (1, 1));
        assert_eq!(docs[0]["in_progress"], true);
    }

    #[test]
    fn hopeless_subsegment_is_dropped_never_cut() {
        let (t, p) = ids();
        let s = Subsegment::new(SegmentId::generate(), &"n".repeat(200), 1);
        let (docs, report, _) = collect(&SegmentDocument::new(&t, &p, &s), 200);
        assert!(docs.is_empty());
        assert_eq!(report.dropped, 1);
    }
}
