//! Seeded random cross-checks of the fast paths against simple references: recorder trees
//! sent exactly once across flushes and size-guard splits, annotations against a
//! `BTreeMap`, the redaction prefilter against a plain substring search, inline strings
//! against serde's escaping, the EMF layout cache against `encode`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::testing::{CapturingEmitter, FixedClock};
use crate::xray::document::Namespace;
use crate::xray::recorder::{Recorder, SubsegmentGuard};

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// Checks a word-at-a-time byte-class test against its byte rule: `check` of every prefix
/// of `sample` whose length is in `lens` (each must pass), then with every byte value at
/// every position, must equal whether `byte_ok` accepts that byte.
pub(crate) fn every_byte_at_every_position(
    sample: &[u8],
    lens: &[usize],
    check: impl Fn(&[u8]) -> bool,
    byte_ok: impl Fn(u8) -> bool,
) {
    for &len in lens {
        let base = &sample[..len];
        assert!(check(base), "{len}");
        for pos in 0..len {
            let mut v = base.to_vec();
            for c in 0..=255u8 {
                v[pos] = c;
                assert_eq!(check(&v), byte_ok(c), "{len} {pos} {c}");
            }
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

fn walk(v: &serde_json::Value, parent: &str, out: &mut Vec<(String, String, bool)>) {
    let id = v["id"].as_str().unwrap().to_owned();
    let ip = v.get("in_progress").is_some();
    assert_eq!(ip, v.get("end_time").is_none(), "{v}");
    out.push((id.clone(), parent.to_owned(), ip));
    if let Some(children) = v.get("subsegments") {
        for c in children.as_array().unwrap() {
            walk(c, &id, out);
        }
    }
}

#[test]
fn recorder_trees_sent_exactly_once_random() {
    for seed in 0..3000u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let capture = CapturingEmitter::new();
        let clock = FixedClock::at_millis(1_700_000_000_000);
        let rec = Arc::new(Recorder::with_clock(
            &HEADER.parse().unwrap(),
            Arc::new(capture.clone()),
            Arc::new(clock.clone()),
        ));
        let mut open: Vec<(SubsegmentGuard, String, bool)> = Vec::new();
        let mut expected: HashMap<String, String> = HashMap::new();
        for _ in 0..rng.usize(1..90) {
            match rng.u8(..10) {
                0..=2 => {
                    let parent = open
                        .iter()
                        .rev()
                        .find(|(_, _, call)| !*call)
                        .map(|(_, id, _)| id.clone())
                        .unwrap_or_else(|| "53995c3f42cd8ad8".to_owned());
                    let g = rec.subsegment("S");
                    let id = g.id().unwrap().to_string();
                    if rng.u8(..3) == 0 {
                        let _ = g.metadata("blob", "x\"y".repeat(rng.usize(..12_000)));
                        let _ = g.annotate("k", "v");
                    }
                    let is_call = rng.u8(..5) == 0;
                    if is_call {
                        g.set_namespace(Namespace::Aws);
                    }
                    expected.insert(id.clone(), parent);
                    open.push((g, id, is_call));
                }
                3..=4 if !open.is_empty() => {
                    let i = rng.usize(..open.len());
                    let pid = open[i].1.clone();
                    let g = open[i].0.child("C");
                    let id = g.id().unwrap().to_string();
                    expected.insert(id.clone(), pid);
                    open.push((g, id, false));
                }
                5..=7 if !open.is_empty() => {
                    let i = rng.usize(..open.len());
                    let (g, _, _) = open.remove(i);
                    clock.advance_millis(rng.u64(..3_000));
                    drop(g);
                }
                8 => {
                    block_on(rec.flush());
                }
                9 => {
                    block_on(rec.flush_in_progress());
                }
                _ => {}
            }
        }
        while let Some((g, _, _)) = open.pop() {
            drop(g);
        }
        block_on(rec.flush());
        let mut seen = Vec::new();
        for d in capture.documents() {
            assert_eq!(d["type"], "subsegment");
            assert_eq!(d["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
            walk(&d, d["parent_id"].as_str().unwrap(), &mut seen);
        }
        let mut complete: HashMap<String, usize> = HashMap::new();
        let mut progress: HashMap<String, usize> = HashMap::new();
        for (id, parent, ip) in &seen {
            assert_eq!(expected.get(id), Some(parent), "seed {seed}: parent of {id}");
            *if *ip { &mut progress } else { &mut complete }.entry(id.clone()).or_default() += 1;
        }
        for id in expected.keys() {
            assert_eq!(complete.get(id).copied().unwrap_or(0), 1, "seed {seed}: {id} complete count");
            assert!(progress.get(id).copied().unwrap_or(0) <= 1, "seed {seed}: {id} in-progress count");
        }
        assert_eq!(complete.len(), expected.len());
    }
}

#[test]
fn annotations_random_order_match_btreemap() {
    use crate::trace_header::SegmentId;
    use crate::xray::document::Subsegment;
    let keys = ["a", "b", "ab", "aa", "B", "Z", "_", "a0", "k1", "k10", "k2", "zz", "A_b"];
    for seed in 0..2000u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut s = Subsegment::new(SegmentId::generate(), "X", 1);
        let mut model = BTreeMap::new();
        for _ in 0..rng.usize(0..20) {
            let k = keys[rng.usize(..keys.len())];
            let v = rng.i64(..100);
            s.annotate(k, v).unwrap();
            model.insert(k.to_owned(), v);
        }
        let got: Vec<(String, i64)> = s
            .annotations()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    match v {
                        crate::xray::annotation::AnnotationValue::Int(i) => *i,
                        _ => panic!(),
                    },
                )
            })
            .collect();
        let want: Vec<(String, i64)> = model.into_iter().collect();
        assert_eq!(got, want, "seed {seed}");
    }
}

#[test]
fn redactor_matches_naive_substring() {
    use crate::log::Redactor;
    let alphabet: &[&str] = &["a", "b", "T", "t", "_", "-", "é", "K", "k", "\u{130}", "z"];
    for seed in 0..3000u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let nf = rng.usize(0..5);
        let frags: Vec<String> =
            (0..nf).map(|_| (0..rng.usize(1..4)).map(|_| alphabet[rng.usize(..alphabet.len())]).collect()).collect();
        let r = Redactor::new(&frags);
        let lower: Vec<String> = frags.iter().map(|f| f.to_ascii_lowercase()).filter(|f| !f.is_empty()).collect();
        for _ in 0..30 {
            let key: String = (0..rng.usize(0..8)).map(|_| alphabet[rng.usize(..alphabet.len())]).collect();
            let k = key.to_ascii_lowercase();
            let naive = lower.iter().any(|f| k.contains(f.as_str()));
            assert_eq!(r.is_redacted(&key), naive, "frags {frags:?} key {key:?}");
        }
    }
}

#[test]
fn small_str_write_json_every_position() {
    use crate::xray::annotation::{AnnotationString, AnnotationValue};
    let classes: Vec<char> = vec!['\u{0}', '\u{1f}', '"', '\\', '\u{7f}', 'é', '😀', 'a', ' ', '\n', '\u{2028}'];
    for len in 0..45 {
        for at in 0..=len {
            for &c in &classes {
                let mut s: String = "M".repeat(len);
                s.insert(at.min(s.len()), c);
                let mut out = Vec::new();
                AnnotationValue::String(AnnotationString::from(s.as_str())).write_json(&mut out);
                assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
                let mut out2 = Vec::new();
                AnnotationValue::String(AnnotationString::from(s.clone())).write_json(&mut out2);
                assert_eq!(out2, out);
            }
        }
    }
}

#[test]
fn emf_template_spill_and_override() {
    use crate::metrics::emf::{Encoder, encode};
    use crate::metrics::standard::{self, Action};
    use crate::metrics::{Dimensions, MetricSet, Namespace, StorageResolution, Unit};
    let mut enc = Encoder::default();
    let mut rng = fastrand::Rng::with_seed(9);
    for round in 0..4000u64 {
        let mut set = MetricSet::new(Namespace::streamer());
        set.add_dimension(standard::ENVIRONMENT, &crate::dimension_value!("prod")).unwrap();
        if rng.bool() {
            set.add_dimension(standard::SERVICE, &crate::dimension_value!("svc")).unwrap();
        }
        let env = if rng.bool() { crate::dimension_value!("a") } else { crate::dimension_value!("b") };
        let mut dims = Dimensions::new().with(standard::ENVIRONMENT, &env).with(standard::ACTION, &Action::Send);
        if rng.bool() {
            dims = dims.set([standard::ACTION]);
        }
        if rng.bool() {
            dims = dims.set([standard::ENVIRONMENT, standard::ACTION]);
        }
        if rng.u8(..3) == 0 {
            dims = dims.with(standard::TENANT_ID, &crate::metrics::TenantId::new("t").unwrap());
        }
        let n = rng.usize(1..8);
        for i in 0..n {
            let name = ["A", "B", "C", "D", "E", "F", "G", "H"][(i + rng.usize(..2)) % 8];
            for _ in 0..rng.usize(1..3) {
                let r = if rng.u8(..6) == 0 { StorageResolution::High } else { StorageResolution::Standard };
                let _ = set.add_with(name, Unit::Count, rng.f64() * 10.0, r, &dims);
            }
        }
        if rng.u8(..10) == 0 {
            let _ = set.set_property("q", "v");
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ra = enc.encode(&set, 1_700_000_000_000 + round, &mut a);
        let rb = encode(&set, 1_700_000_000_000 + round, &mut b);
        assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "round {round}");
        assert_eq!(ra, rb);
    }
}
