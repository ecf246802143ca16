//! No document nests 128 JSON levels or more (a review found 129), the bound the SDK documents
//! ("32 levels of nesting in one document | ... JSON under 128 levels", README "Tracing
//! (X-Ray)" limits table and docs/tracing.md; `MAX_NESTING_DEPTH`'s doc: "keeps a
//! document's JSON under 128 levels (a common parser limit, serde_json's among them)").
//!
//! The two bounds are applied separately: 32 subsegments nested in one document take 63
//! JSON levels (object + `subsegments` array per level), and a metadata value may add
//! `metadata` + namespace + 64 levels of its own (`MAX_METADATA_DEPTH`). 63 + 2 + 64 = 129.
//! serde_json (default limit 128) refuses such a document, and so does the SDK's own
//! `testing::CapturingEmitter::documents()` (it panics "not JSON"). The X-Ray rules
//! (aws-rules.md §2, §3 T-2: one document per datagram, parsed as JSON) publish no depth
//! limit; this is the SDK breaking its own documented guarantee, which exists so that the
//! documents stay parseable by common parsers.
//!
//! Fix: `MAX_NESTING_DEPTH` is 31 (61 levels + 2 + 64 = 127). Every document parses with
//! serde_json's default limit (under 128 levels).

mod common;

use serde_json::Value;
use streamer_obs::xray::recorder::MAX_NESTING_DEPTH;

fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[test]
fn deepest_allowed_subsegment_with_deepest_allowed_metadata_stays_under_128_levels() {
    let (rec, cap) = common::recorder();
    // 64 levels of arrays: within MAX_METADATA_DEPTH, kept as is.
    let mut value = serde_json::json!(1);
    for _ in 0..64 {
        value = serde_json::json!([value]);
    }
    {
        let mut guards = vec![rec.subsegment("L0")];
        // One deeper than a document nests (that one is sent on its own), every one with
        // the deepest metadata allowed.
        for i in 1..=MAX_NESTING_DEPTH {
            let g = guards.last().unwrap().child(&format!("L{i}"));
            guards.push(g);
        }
        for g in &guards {
            g.metadata("payload", &value).unwrap();
        }
        while let Some(g) = guards.pop() {
            drop(g);
        }
    }
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(rec.flush());
    let raw = cap.raw();
    assert_eq!(raw.len(), 2, "the tree nested to the limit, and the one beyond it");
    for doc in raw {
        let mut de = serde_json::Deserializer::from_str(&doc);
        de.disable_recursion_limit();
        let v: Value = serde::Deserialize::deserialize(&mut de).expect("valid JSON");
        let depth = json_depth(&v);
        assert!(depth < 128, "document nests {depth} JSON levels (documented: under 128)");
        assert!(serde_json::from_str::<Value>(&doc).is_ok(), "serde_json's default parser refuses it");
    }
}
