//! Size guard: turns a subsegment tree into documents that each fit in one datagram
//! (rules X-1, T-3, T-4). JSON is never cut.
//!
//! 1. The whole tree as one document with nested `subsegments` (one datagram per
//!    invocation in the common case).
//! 2. If it does not fit, the parent keeps as many of its children nested as fit (in
//!    order), and every other child becomes its own independent document (`parent_id` =
//!    the enclosing subsegment), encoded by the same rules, recursively.
//! 3. If one subsegment alone is still too large, its largest metadata entries are
//!    removed (their names listed under metadata `streamer_obs.truncated_metadata`),
//!    then its stack frames (counted in each exception's `truncated`).
//! 4. If it still does not fit it is dropped and a WARN line says so.
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
use crate::xray::document::{NodeRef, SegmentDocument, Subsegment, write_nested};

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
    /// Subsegments dropped because they could not be made small enough.
    pub dropped: usize,
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

fn rewrite(doc: &SegmentDocument<'_>, copy: &Subsegment, parent: &SegmentId, buf: &mut Vec<u8>, keep: usize) {
    buf.truncate(keep);
    let d = if doc.is_in_progress() {
        SegmentDocument::in_progress(doc.trace_id(), parent, copy)
    } else {
        SegmentDocument::new(doc.trace_id(), parent, copy)
    };
    d.write_with(buf, false);
}

fn trim_and_send(
    doc: &SegmentDocument<'_>,
    max: usize,
    buf: &mut Vec<u8>,
    keep: usize,
    sink: &mut dyn FnMut(&[u8]),
    report: &mut EncodeReport,
) {
    let original = buf.len() - keep;
    let parent = *doc.parent_id();
    let mut copy = shallow(doc.subsegment());
    // 1. Metadata, largest entries first.
    let mut entries: Vec<(usize, String, String)> = copy
        .metadata
        .iter()
        .map(|(ns, k, v)| (serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0) + k.len(), ns.to_owned(), k.to_owned()))
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    if !entries.is_empty() {
        let mut removed: Vec<String> = Vec::new();
        let mut size = original;
        // Room for the list of removed names.
        let budget = max.saturating_sub(2048);
        for (bytes, ns, key) in &entries {
            if size <= budget {
                break;
            }
            copy.metadata.remove(ns, key);
            size = size.saturating_sub(*bytes);
            if removed.len() < 20 {
                removed.push(format!("{ns}.{key}").chars().take(80).collect());
            }
        }
        if !removed.is_empty() {
            copy.put_metadata(TRUNCATION_NAMESPACE, "truncated_metadata", serde_json::json!(removed));
        }
        rewrite(doc, &copy, &parent, buf, keep);
        if fits(buf, keep, max) {
            sink(buf);
            report.documents += 1;
            report.trimmed += 1;
            return;
        }
        // Still too large: no metadata at all.
        copy.metadata.clear();
        copy.put_metadata(TRUNCATION_NAMESPACE, "truncated_metadata", serde_json::json!(["*"]));
    }
    // 2. Stack frames.
    if let Some(cause) = copy.rare.as_mut().and_then(|r| r.cause.as_mut()) {
        cause.drop_stacks();
    }
    rewrite(doc, &copy, &parent, buf, keep);
    if fits(buf, keep, max) {
        sink(buf);
        report.documents += 1;
        report.trimmed += 1;
        return;
    }
    // 3. Give up on this subsegment.
    report.dropped += 1;
    tracing::warn!(
        target: "streamer_obs",
        subsegment = %copy.name,
        id = %copy.id,
        bytes = buf.len() - keep,
        limit = max,
        "X-Ray subsegment dropped: too large for one document even without metadata and stack frames"
    );
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
    fn hopeless_subsegment_is_dropped_never_cut() {
        let (t, p) = ids();
        let mut s = Subsegment::new(SegmentId::generate(), "Annotated", 1);
        for i in 0..100 {
            s.put_annotation(&format!("k{i}"), "v".repeat(1000).into());
        }
        let (docs, report, _) = collect(&SegmentDocument::new(&t, &p, &s), 50_000);
        assert!(docs.is_empty());
        assert_eq!(report.dropped, 1);
    }
}
