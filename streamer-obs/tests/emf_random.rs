//! Randomized, adversarial conformance tests of the EMF documents (fixed seeds: every run
//! is the same run).
//!
//! The validator below is written from `aws-rules.md` §1 (rule ids in the comments) and
//! the documented policies of README.md / docs/metrics.md, not from the encoder: every
//! line the SDK writes is checked against every rule that can be checked on one line, and
//! the lines of one set together are checked for completeness (every accepted value
//! reaches every dimension set it was recorded for exactly once, unless a report or a
//! WARN line says it was dropped).

#[path = "common/random.rs"]
mod random;
use random::{Findings, G, Nest, duplicate_key, run_child};

/// The leaf of the deep property values: a JWT, which must not survive either.
const JWT_LEAF: &str = "leaf eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU";
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::{Value, json};
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::metrics::standard;
use streamer_obs::metrics::{
    self, DimensionName, Dimensions, EmfPublisher, FlushOptions, MetricSet, Namespace, StorageResolution, TenantId,
    Unit, emf,
};
use streamer_obs::testing::{CapturingWriter, ContextBuilder, FixedClock};

const NOW: u64 = 1_795_730_988_123;
/// E-14 (USE 256 KB per EMF line).
const MAX_LINE: usize = 256 * 1024;
/// E-19: |v| <= 2^360.
const LIMIT_2_360: f64 = 2.348_542_582_773_833_2e108;
/// E-10: the 27 units.
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

// ------------------------------------------------------------------------------------
// Rule predicates (from aws-rules.md, independent of the SDK)
// ------------------------------------------------------------------------------------

/// E-15 USE: `^[A-Za-z0-9._#:/ -]{1,255}$`, not starting with `:`, not `AWS/`, not blank.
fn namespace_ok(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 255
        && ns.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_/#: ".contains(&b))
        && !ns.starts_with(':')
        && !ns.starts_with("AWS/")
        && !ns.trim().is_empty()
}

/// E-16: ASCII, no control characters, not blank, not starting with `:`, 1 to 250.
fn dimension_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 250
        && n.bytes().all(|b| b.is_ascii() && !b.is_ascii_control())
        && !n.trim().is_empty()
        && !n.starts_with(':')
}

/// E-17 / E-8: ASCII, no control characters, not blank, 1 to 1024.
fn dimension_value_ok(v: &str) -> bool {
    !v.is_empty() && v.len() <= 1024 && v.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()) && !v.trim().is_empty()
}

/// E-18 (USE 1 to 255 characters, a non-whitespace character) plus E-2 (`_aws` is taken).
fn metric_name_ok(n: &str) -> bool {
    let chars = n.chars().count();
    (1..=255).contains(&chars) && !n.trim().is_empty() && n != "_aws"
}

/// E-19: finite and within ±2^360.
fn value_ok(v: f64) -> bool {
    v.is_finite() && v.abs() <= LIMIT_2_360
}

/// A JWT-shaped text (`eyJ` + base64url, a dot or `%2E`, base64url), as README.md describes
/// what the log scrubber redacts.
fn contains_jwt(s: &str) -> bool {
    let b = s.as_bytes();
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let mut i = 0;
    while let Some(p) = s[i..].find("eyJ") {
        let mut j = i + p + 3;
        while j < b.len() && b64(b[j]) {
            j += 1;
        }
        let dot = if b[j..].starts_with(b".") {
            1
        } else if b[j..].len() >= 3 && b[j..j + 3].eq_ignore_ascii_case(b"%2e") {
            3
        } else {
            0
        };
        if dot > 0 && j + dot < b.len() && b64(b[j + dot]) && j - (i + p) >= 6 {
            return true;
        }
        i = i + p + 3;
    }
    false
}

// ------------------------------------------------------------------------------------
// Adversarial generators
// ------------------------------------------------------------------------------------

impl G {
    fn b64(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..n).map(|_| A[self.0.usize(0..A.len())] as char).collect()
    }
    fn word(&mut self, n: usize) -> String {
        (0..n).map(|_| self.0.alphanumeric()).collect()
    }
    fn jwt(&mut self) -> String {
        let (h, p, s) = (self.b64(12), self.b64(20), self.b64(16));
        match self.0.u8(0..4) {
            0 => format!("eyJ{h}.eyJ{p}.{s}"),
            1 => format!("eyJ{h}%2EeyJ{p}%2E{s}"),
            2 => format!("eyJ{h}.eyJ{p}"),
            _ => format!("eyJ{h}.eyJ{p}.{s}.{}.{}", self.b64(8), self.b64(8)),
        }
    }
    /// A credential the docs say the scrubber redacts (random, unmistakably not a word).
    fn credential(&mut self) -> (String, String) {
        let token = format!("{}9x{}Q7", self.b64(10), self.b64(10));
        let text = match self.0.u8(0..5) {
            0 => format!("Bearer {token}"),
            1 => format!("header was Bearer {token} ok"),
            2 => format!("https://h/p?access_token={token}&x=1"),
            3 => format!("Authorization: {token}"),
            _ => format!("client_secret={token}"),
        };
        (text, token)
    }
    /// Any string, biased to the hostile ones.
    fn any_string(&mut self) -> String {
        let pieces: &[&str] = &[
            "",
            " ",
            "\t",
            "   ",
            "\u{0}",
            "\u{1}",
            "\u{1f}",
            "\u{7f}",
            "\u{85}",
            "\u{a0}",
            "\u{2028}",
            "\u{2029}",
            "\u{fffe}",
            "\u{feff}",
            "é",
            "東京",
            "🚀",
            "e\u{301}",
            "\"",
            "\\",
            "{",
            "}",
            "\"}",
            "\\u0000",
            ":",
            ":x",
            "AWS/",
            "AWS/Lambda",
            "_aws",
            "Timestamp",
            "CloudWatchMetrics",
            "a.b",
            "/",
            "#",
            "-",
            "Name",
            "Value",
        ];
        let mut s = String::new();
        for _ in 0..self.0.usize(1..4) {
            match self.0.u8(0..12) {
                0..=4 => {
                    let p: &str = self.pick::<&str>(pieces);
                    s.push_str(p);
                }
                5..=7 => {
                    let n = self.0.usize(1..16);
                    s.push_str(&self.word(n));
                }
                8 => s.push_str(&self.jwt()),
                9 => s.push_str(&self.credential().0),
                10 => {
                    let n = *self.pick(&[200, 249, 250, 251, 255, 256, 1000, 1024, 1025, 2000]);
                    let c = *self.pick(&['x', 'é', '🚀', ' ']);
                    s.extend(std::iter::repeat_n(c, n));
                }
                _ => s.push(char::from_u32(self.0.u32(0..0x11_0000)).unwrap_or('?')),
            }
        }
        s
    }
    fn value(&mut self) -> f64 {
        let edge = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            5e-324,
            -5e-324,
            f64::MIN_POSITIVE,
            2.2250738585072e-308,
            1e-300,
            1e21,
            1e22,
            123_456_789_012_345_680.0,
            9_007_199_254_740_993.0,
            i64::MAX as f64,
            i64::MIN as f64,
            u64::MAX as f64,
            LIMIT_2_360,
            -LIMIT_2_360,
            f64::from_bits(LIMIT_2_360.to_bits() + 1),
            1e308,
            f64::MAX,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1 + 0.2,
            1.0 / 3.0,
        ];
        match self.0.u8(0..4) {
            0 => *self.pick(&edge),
            1 => f64::from(self.0.i32(..)),
            2 => (self.0.f64() - 0.5) * 10f64.powi(self.0.i32(-320..320)),
            _ => f64::from_bits(self.0.u64(..)),
        }
    }
    fn unit(&mut self) -> Unit {
        *self.pick(&Unit::ALL)
    }
    fn resolution(&mut self) -> StorageResolution {
        if self.pct(30) { StorageResolution::High } else { StorageResolution::Standard }
    }
    /// A count from the interesting sizes.
    fn count(&mut self, sizes: &[usize]) -> usize {
        *self.pick(sizes)
    }
}

// ------------------------------------------------------------------------------------
// The model of what was accepted, and the line validator
// ------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Rec {
    name: String,
    unit: Unit,
    resolution: StorageResolution,
    /// The metric's own dimension values, in the order given.
    own: Vec<(String, String)>,
    /// Its explicit dimension sets (`None`: the default set).
    sets: Option<Vec<Vec<String>>>,
    value: f64,
}

#[derive(Debug, Default)]
struct Model {
    defaults: Vec<(String, String)>,
    recs: Vec<Rec>,
    properties: BTreeMap<String, Value>,
    /// Secrets put into property values, which must never reach a line.
    secrets: Vec<String>,
    timestamp: Option<u64>,
    namespace: String,
}

type Key = (String, Vec<String>, Vec<(String, String)>);

impl Model {
    fn resolve(&self, r: &Rec) -> (BTreeMap<String, String>, Vec<Vec<String>>) {
        let mut map: BTreeMap<String, String> = self.defaults.iter().cloned().collect();
        for (k, v) in &r.own {
            map.insert(k.clone(), v.clone());
        }
        let sets = match &r.sets {
            Some(s) => {
                // The same set twice is one CloudWatch metric: written once.
                let mut seen = BTreeSet::new();
                s.iter().filter(|k| seen.insert(sorted(k))).cloned().collect()
            }
            None => {
                let mut keys: Vec<String> = self.defaults.iter().map(|(k, _)| k.clone()).collect();
                for (k, _) in &r.own {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
                vec![keys]
            }
        };
        (map, sets)
    }

    /// Expected values per (metric, dimension set, values of the set's keys).
    fn expected(&self, dropped: &[String]) -> BTreeMap<Key, Vec<f64>> {
        let mut out: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
        for r in &self.recs {
            if dropped.contains(&r.name) {
                continue;
            }
            let (map, sets) = self.resolve(r);
            for set in sets {
                let mut keys = set.clone();
                keys.sort();
                keys.dedup();
                let vals = keys.iter().map(|k| (k.clone(), map.get(k).cloned().unwrap_or_default())).collect();
                out.entry((r.name.clone(), keys, vals)).or_default().push(r.value);
            }
        }
        out
    }

    fn unit_of(&self, name: &str) -> Option<(Unit, StorageResolution)> {
        self.recs.iter().find(|r| r.name == name).map(|r| (r.unit, r.resolution))
    }
}

fn sorted(k: &[String]) -> Vec<String> {
    let mut k = k.to_vec();
    k.sort();
    k.dedup();
    k
}

/// Violations found, as `rule: detail` (deduplicated by rule, a few examples each).
fn short(s: &str) -> String {
    if s.len() <= 300 {
        s.to_owned()
    } else {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…({} bytes)", &s[..end], s.len())
    }
}

/// Checks one line against every per-line rule; returns the document.
fn check_line(line: &str, now_ms: u64, f: &mut Findings, case: &str) -> Option<Value> {
    // E-14
    if line.len() > MAX_LINE {
        f.add("E-14 line over 256 KB", format!("{case}: {} bytes", line.len()));
    }
    // E-1: one JSON object on one line, nothing before or after.
    if line.contains('\n') || line.contains('\r') {
        f.add("E-1 line break inside a line", format!("{case}: {}", short(line)));
    }
    if line.trim() != line {
        f.add("E-1 data around the object", format!("{case}: {}", short(line)));
    }
    if let Some(k) = duplicate_key(line.as_bytes()) {
        f.add("E-1/RFC 8259: duplicate member name in a line", format!("{case}: {k:?}"));
    }
    let doc: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            f.add("E-1 not JSON", format!("{case}: {e}: {}", short(line)));
            return None;
        }
    };
    let Some(root) = doc.as_object() else {
        f.add("E-1 not an object", format!("{case}: {}", short(line)));
        return None;
    };
    // E-2
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        f.add("E-2 no _aws object", format!("{case}: {}", short(line)));
        return None;
    };
    // E-4 (_aws holds only the listed keys)
    for k in aws.keys() {
        if k != "Timestamp" && k != "CloudWatchMetrics" {
            f.add("E-4 extra member in _aws", format!("{case}: {k}"));
        }
    }
    // E-3 integer Timestamp; E-20 within -14 days / +2 hours of now.
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.is_u64() => {
            let t = n.as_u64().unwrap();
            if t + 14 * 24 * 3_600_000 < now_ms || t > now_ms + 2 * 3_600_000 {
                f.add("E-20 timestamp out of range", format!("{case}: {t} vs now {now_ms}"));
            }
        }
        other => f.add("E-3 Timestamp not an integer", format!("{case}: {other:?}")),
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        f.add("E-3 CloudWatchMetrics not an array", format!("{case}: {}", short(line)));
        return None;
    };
    if directives.is_empty() {
        f.add("policy: document without metrics", format!("{case}: {}", short(line)));
    }
    let mut names: BTreeMap<String, (Option<String>, Option<i64>)> = BTreeMap::new();
    let mut metric_count = 0;
    for d in directives {
        let Some(dobj) = d.as_object() else {
            f.add("E-3 directive not an object", format!("{case}: {d}"));
            continue;
        };
        for k in dobj.keys() {
            if !["Namespace", "Dimensions", "Metrics"].contains(&k.as_str()) {
                f.add("E-4 extra member in a MetricDirective", format!("{case}: {k}"));
            }
        }
        // E-6 + E-15
        match dobj.get("Namespace").and_then(Value::as_str) {
            Some(ns) if namespace_ok(ns) => {}
            other => f.add("E-6/E-15 bad Namespace", format!("{case}: {other:?}")),
        }
        match dobj.get("Dimensions").and_then(Value::as_array) {
            None => f.add("E-6 Dimensions not an array", format!("{case}: {d}")),
            Some(sets) => {
                if sets.is_empty() {
                    f.add("E-6 Dimensions empty (schema: at least 1 DimensionSet)", format!("{case}: {d}"));
                }
                for set in sets {
                    let Some(keys) = set.as_array() else {
                        f.add("E-7 DimensionSet not an array", format!("{case}: {set}"));
                        continue;
                    };
                    if keys.len() > 30 {
                        f.add("E-7 more than 30 dimensions in a set", format!("{case}: {}", keys.len()));
                    }
                    for k in keys {
                        let Some(k) = k.as_str() else {
                            f.add("E-7 dimension key not a string", format!("{case}: {k}"));
                            continue;
                        };
                        if !dimension_name_ok(k) {
                            f.add("E-7/E-16 bad dimension name", format!("{case}: {k:?}"));
                        }
                        // E-8: a root string member of at most 1024 characters (E-17).
                        match root.get(k) {
                            Some(Value::String(v)) => {
                                if !dimension_value_ok(v) {
                                    f.add("E-8/E-17 bad dimension value", format!("{case}: {k}={}", short(v)));
                                }
                            }
                            other => f.add(
                                "E-8 dimension key is not a root string member",
                                format!(
                                    "{case}: {k:?} -> {}",
                                    other.map(|v| short(&v.to_string())).unwrap_or_default()
                                ),
                            ),
                        }
                    }
                }
            }
        }
        let Some(metrics) = dobj.get("Metrics").and_then(Value::as_array) else {
            f.add("E-6 Metrics not an array", format!("{case}: {d}"));
            continue;
        };
        if metrics.is_empty() {
            f.add("policy: directive with an empty Metrics", format!("{case}: {d}"));
        }
        for m in metrics {
            metric_count += 1;
            let Some(mobj) = m.as_object() else {
                f.add("E-9 MetricDefinition not an object", format!("{case}: {m}"));
                continue;
            };
            for k in mobj.keys() {
                if !["Name", "Unit", "StorageResolution"].contains(&k.as_str()) {
                    f.add("E-4 extra member in a MetricDefinition", format!("{case}: {k}"));
                }
            }
            let Some(name) = mobj.get("Name").and_then(Value::as_str) else {
                f.add("E-9 Name missing", format!("{case}: {m}"));
                continue;
            };
            if !metric_name_ok(name) {
                f.add("E-18 bad metric name", format!("{case}: {}", short(name)));
            }
            let unit = mobj.get("Unit").map(|u| u.as_str().map(str::to_owned));
            if let Some(u) = &unit
                && !u.as_deref().is_some_and(|u| UNITS.contains(&u))
            {
                f.add("E-10 bad Unit", format!("{case}: {u:?}"));
            }
            let res = mobj.get("StorageResolution").map(|r| r.as_i64());
            if let Some(r) = res
                && r != Some(1)
                && r != Some(60)
            {
                f.add("E-9 StorageResolution not 1 or 60", format!("{case}: {m}"));
            }
            let this = (unit.flatten(), res.flatten());
            if let Some(prev) = names.insert(name.to_owned(), this.clone()) {
                if prev.1.unwrap_or(60) != this.1.unwrap_or(60) {
                    f.add("E-21 one name, two StorageResolutions in a document", format!("{case}: {name}"));
                }
                f.add("E-11 metric name twice in one document (one root target for both)", format!("{case}: {name}"));
            }
            // E-11: the root member is a number or an array of at most 100 numbers.
            match root.get(name) {
                Some(Value::Number(n)) => {
                    if !n.as_f64().is_some_and(value_ok) {
                        f.add("E-19 value out of range", format!("{case}: {name}={n}"));
                    }
                }
                Some(Value::Array(a)) => {
                    if a.is_empty() || a.len() > 100 {
                        f.add("E-11 values array empty or over 100", format!("{case}: {name}: {} values", a.len()));
                    }
                    for v in a {
                        if !v.as_f64().is_some_and(value_ok) {
                            f.add("E-11/E-19 non-number or out-of-range value", format!("{case}: {name}: {v}"));
                        }
                    }
                }
                other => f.add(
                    "E-11 metric target is not a number or array of numbers",
                    format!("{case}: {name} -> {}", other.map(|v| short(&v.to_string())).unwrap_or("missing".into())),
                ),
            }
        }
    }
    // E-13
    if metric_count > 100 {
        f.add("E-13 more than 100 metrics in a document", format!("{case}: {metric_count}"));
    }
    Some(doc)
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Number(n) => n.as_f64().into_iter().collect(),
        Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
        _ => Vec::new(),
    }
}

/// Equal, allowing serde_json's best-effort float parsing (1 ULP).
fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.to_bits().abs_diff(b.to_bits()) <= 2 && a.signum() == b.signum())
}

/// Checks the documents of one set together: completeness of every value, units,
/// resolutions, properties, timestamp and secrets.
fn check_set(
    model: &Model,
    docs: &[Value],
    lines: &[String],
    report: &emf::EncodeReport,
    f: &mut Findings,
    case: &str,
) {
    let expected = model.expected(&report.dropped_metrics);
    let mut got: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    for doc in docs {
        for d in doc["_aws"]["CloudWatchMetrics"].as_array().into_iter().flatten() {
            if d["Namespace"] != model.namespace.as_str() {
                f.add("completeness: wrong namespace", format!("{case}: {} vs {}", d["Namespace"], model.namespace));
            }
            for m in d["Metrics"].as_array().into_iter().flatten() {
                let name = m["Name"].as_str().unwrap_or_default().to_owned();
                if let Some((unit, res)) = model.unit_of(&name) {
                    if m["Unit"].as_str().unwrap_or("None") != unit.as_str() {
                        f.add(
                            "completeness: unit changed",
                            format!("{case}: {name}: {} vs {}", m["Unit"], unit.as_str()),
                        );
                    }
                    let written = m.get("StorageResolution").and_then(Value::as_i64).unwrap_or(60);
                    if written != i64::from(res.seconds()) {
                        f.add("completeness: storage resolution changed", format!("{case}: {name}: {written}"));
                    }
                } else {
                    f.add("completeness: metric never recorded", format!("{case}: {name}"));
                }
                let values = numbers(&doc[&name]);
                for set in d["Dimensions"].as_array().into_iter().flatten() {
                    let mut keys: Vec<String> =
                        set.as_array().into_iter().flatten().filter_map(|k| k.as_str().map(str::to_owned)).collect();
                    keys.sort();
                    keys.dedup();
                    let vals = keys
                        .iter()
                        .map(|k| (k.clone(), doc[k.as_str()].as_str().unwrap_or("<not a string>").to_owned()))
                        .collect();
                    got.entry((name.clone(), keys, vals)).or_default().extend(values.iter().copied());
                }
            }
        }
    }
    for (key, want) in &expected {
        let mut want = want.clone();
        let mut have = got.remove(key).unwrap_or_default();
        want.sort_by(f64::total_cmp);
        have.sort_by(f64::total_cmp);
        let same = want.len() == have.len() && want.iter().zip(&have).all(|(a, b)| same_value(*a, *b));
        if !same {
            let what = if have.len() < want.len() {
                "completeness: recorded values lost (no report)"
            } else if have.len() > want.len() {
                "completeness: values written more than once"
            } else {
                "completeness: values changed"
            };
            f.add(
                what,
                format!(
                    "{case}: metric {:?} set {:?} dims {:?}: recorded {} values {:?}, written {} {:?}",
                    key.0,
                    key.1,
                    key.2.iter().map(|(k, v)| (k.as_str(), short(v))).collect::<Vec<_>>(),
                    want.len(),
                    &want[..want.len().min(4)],
                    have.len(),
                    &have[..have.len().min(4)]
                ),
            );
        }
    }
    for (key, have) in got {
        f.add(
            "completeness: values under a metric/dimension combination never recorded",
            format!("{case}: {:?} {:?} {:?}: {:?}", key.0, key.1, key.2, &have[..have.len().min(4)]),
        );
    }
    // Timestamp: the explicit one, or now (E-3).
    let ts = model.timestamp.unwrap_or(NOW);
    for doc in docs {
        if doc["_aws"]["Timestamp"].as_u64() != Some(ts) {
            f.add("E-3 Timestamp is not the set's", format!("{case}: {} vs {ts}", doc["_aws"]["Timestamp"]));
        }
    }
    // Properties: in every document, unless reported trimmed or shadowed (and then only
    // where a dimension or metric uses the key).
    for doc in docs {
        for (k, v) in &model.properties {
            match doc.get(k) {
                None => {
                    if report.trimmed_properties.contains(k) {
                        continue;
                    }
                    f.add("completeness: property missing from a document without a report", format!("{case}: {k:?}"));
                }
                Some(w) => {
                    let used_as_member =
                        is_member_name(doc, k) || (report.shadowed_properties.contains(k) && !same_json(w, v));
                    if used_as_member {
                        if !report.shadowed_properties.contains(k) {
                            f.add("completeness: property shadowed without a report", format!("{case}: {k:?}"));
                        }
                        continue;
                    }
                    if !secret_key(k) && !has_secret(v) && !same_json(w, v) {
                        f.add(
                            "completeness: property value changed",
                            format!("{case}: {k:?}: {} -> {}", short(&v.to_string()), short(&w.to_string())),
                        );
                    }
                }
            }
        }
    }
    // Secrets in property values never reach a line (README: written as [REDACTED]).
    for line in lines {
        for s in &model.secrets {
            if line.contains(s.as_str()) {
                f.add("secret: credential or JWT reached an EMF line", format!("{case}: {s:?} in {}", short(line)));
            }
        }
    }
}

fn is_member_name(doc: &Value, k: &str) -> bool {
    doc["_aws"]["CloudWatchMetrics"].as_array().into_iter().flatten().any(|d| {
        d["Metrics"].as_array().into_iter().flatten().any(|m| m["Name"] == k)
            || d["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s.as_array().into_iter().flatten().any(|x| x == k))
    })
}

/// README: values under keys containing one of the default fragments
/// (`config::DEFAULT_REDACT_KEYS`, listed there) are written as `[REDACTED]`.
fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    streamer_obs::config::DEFAULT_REDACT_KEYS.iter().any(|f| k.contains(f))
}

fn has_secret(v: &Value) -> bool {
    match v {
        Value::String(s) => {
            contains_jwt(s)
                || s.contains("Bearer")
                || s.contains("Basic")
                || s.contains('=')
                || s.contains(':')
                || s.contains('{')
                || s.contains('[')
        }
        Value::Array(a) => a.iter().any(has_secret),
        Value::Object(o) => o.iter().any(|(k, v)| secret_key(k) || contains_jwt(k) || has_secret(v)),
        _ => false,
    }
}

/// JSON equality with numbers compared as by `same_value`.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => same_value(x, y),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

// ------------------------------------------------------------------------------------
// Building random sets
// ------------------------------------------------------------------------------------

/// A dimension value source for the tests: a tenant id (the only runtime-built source).
fn tenant(g: &mut G) -> Option<TenantId> {
    let s = match g.0.u8(0..6) {
        0 => g.any_string(),
        1 => {
            let n = *g.pick(&[1usize, 100, 1000, 1023, 1024, 1025]);
            "t".repeat(n)
        }
        _ => format!("tenant-{}", g.0.u8(0..4)),
    };
    let r = TenantId::new(s.clone());
    if let Ok(t) = &r {
        // Accepted values obey E-17 and hold no secret.
        assert!(dimension_value_ok(t.as_str()), "TenantId accepted an E-17-invalid value {s:?}");
        assert!(!contains_jwt(t.as_str()), "TenantId accepted a JWT-shaped value {s:?}");
    }
    r.ok()
}

fn dimension_name(g: &mut G, pool: &[String]) -> Option<DimensionName> {
    let s = if g.pct(80) { g.pick(pool).clone() } else { g.any_string() };
    let r = DimensionName::new(s.clone());
    if let Ok(n) = &r {
        assert!(dimension_name_ok(n.as_str()) && n.as_str() != "_aws", "DimensionName accepted {s:?}");
        assert!(!contains_jwt(n.as_str()), "DimensionName accepted a JWT-shaped name {s:?}");
    }
    r.ok()
}

fn metric_name(g: &mut G, pool: &[String]) -> String {
    if g.pct(85) { g.pick(pool).clone() } else { g.any_string() }
}

fn random_property(g: &mut G, depth: u32, secrets: &mut Vec<String>) -> Value {
    match g.0.u8(0..if depth > 3 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(g.pct(50)),
        2 => {
            let v = g.value();
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
        }
        3 => json!(g.0.i64(..)),
        4 => {
            if g.pct(20) {
                let j = g.jwt();
                secrets.push(j.clone());
                Value::String(format!("before {j} after"))
            } else if g.pct(20) {
                let (text, token) = g.credential();
                secrets.push(token);
                Value::String(text)
            } else {
                Value::String(g.any_string())
            }
        }
        5 => Value::String("p".repeat(*g.pick(&[10usize, 1000, 100_000, 300 * 1024]))),
        6 | 7 => {
            let n = g.0.usize(0..5);
            Value::Array((0..n).map(|_| random_property(g, depth + 1, secrets)).collect())
        }
        _ => {
            let n = g.0.usize(0..5);
            let mut m = serde_json::Map::new();
            for _ in 0..n {
                let k = if g.pct(70) { g.word(5) } else { g.any_string() };
                m.insert(k, random_property(g, depth + 1, secrets));
            }
            Value::Object(m)
        }
    }
}

fn base_config(g: &mut G) -> Config {
    let mut b = Config::builder();
    if g.pct(70) {
        b = b.service(if g.pct(60) { "connect".to_owned() } else { g.any_string() });
    }
    if g.pct(70) {
        b = b.environment(if g.pct(60) { "prod".to_owned() } else { g.any_string() });
    }
    if g.pct(40) {
        let ns = if g.pct(50) { "My App/Metrics #1:x".to_owned() } else { g.any_string() };
        b = b.namespace(ns);
    }
    b.build_from(&EnvVars::empty())
}

/// A random set and the model of everything it accepted.
fn random_set(g: &mut G, sizes: &Sizes) -> (MetricSet, Model) {
    let mut model = Model::default();
    let mut set = if g.pct(60) {
        MetricSet::from_config(&base_config(g))
    } else {
        let ns = if g.pct(50) { "Streamer".to_owned() } else { g.any_string() };
        match Namespace::new(ns.clone()) {
            Ok(n) => {
                assert!(namespace_ok(n.as_str()), "Namespace accepted {ns:?} (E-15)");
                assert!(!contains_jwt(&ns), "Namespace accepted a JWT {ns:?}");
                MetricSet::new(n)
            }
            Err(_) => MetricSet::new(Namespace::streamer()),
        }
    };
    model.namespace = set.namespace().as_str().to_owned();
    if !namespace_ok(&model.namespace) {
        panic!("a namespace breaking E-15 reached a set: {:?}", model.namespace);
    }
    let refresh_defaults = |set: &MetricSet, model: &mut Model| {
        model.defaults =
            set.default_dimensions().iter().map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned())).collect();
    };
    refresh_defaults(&set, &mut model);

    // Pools small enough to collide: metric names with dimension names and properties.
    let dim_pool: Vec<String> = (0..sizes.dim_pool)
        .map(|i| match i % 7 {
            0 => "Environment".to_owned(),
            1 => "Service".to_owned(),
            2 => "TenantID".to_owned(),
            3 => format!("D{i}"),
            4 => format!("Dim {i} \"q\""),
            5 => format!("d.{i}"),
            _ => format!("K{i}"),
        })
        .collect();
    let mut metric_pool: Vec<String> = (0..sizes.metric_pool).map(|i| format!("M{i}")).collect();
    metric_pool.extend(
        ["Environment", "Service", "D3", "K6", "prop", "Name \"quoted\" é", "🚀 rocket", "a.b"].map(String::from),
    );
    metric_pool.push("L".repeat(255));
    metric_pool.push("é".repeat(255));

    let ops = g.count(&sizes.ops);
    for _ in 0..ops {
        match g.0.u8(0..20) {
            // A per-invocation (default) dimension.
            0 => {
                if let (Some(n), Some(t)) = (dimension_name(g, &dim_pool), tenant(g))
                    && set.add_dimension(n, &t).is_ok()
                {
                    refresh_defaults(&set, &mut model);
                }
            }
            // A property.
            1 | 2 => {
                let key = if g.pct(40) {
                    g.pick(&[
                        "prop",
                        "note",
                        "connection_id",
                        "authorization",
                        "user_token",
                        "D3",
                        "M1",
                        "Environment",
                        "_aws",
                    ])
                    .to_string()
                } else if g.pct(50) {
                    g.word(6)
                } else {
                    g.any_string()
                };
                let mut secrets = Vec::new();
                let v = random_property(g, 0, &mut secrets);
                if let Ok(()) = set.set_property(key.clone(), &v) {
                    assert!(!contains_jwt(&key), "set_property accepted a JWT-shaped key {key:?}");
                    assert_ne!(key, "_aws", "set_property accepted _aws");
                    model.properties.insert(key, v);
                    model.secrets.extend(secrets);
                }
            }
            // An explicit timestamp.
            3 if g.pct(30) => {
                let clock = FixedClock::at_millis(NOW);
                let off: i64 = *g.pick(&[
                    0,
                    -1,
                    1,
                    -14 * 24 * 3_600_000,
                    -14 * 24 * 3_600_000 - 1,
                    2 * 3_600_000,
                    2 * 3_600_000 + 1,
                ]);
                let ts = (NOW as i64 + off) as u64;
                let ok = set.set_timestamp(UNIX_EPOCH + Duration::from_millis(ts), &clock).is_ok();
                let allowed = (-14 * 24 * 3_600_000..=2 * 3_600_000).contains(&off);
                assert_eq!(ok, allowed, "set_timestamp({off:+} ms) accepted={ok}, E-20 says {allowed}");
                if ok {
                    model.timestamp = Some(ts);
                }
            }
            // A metric with default dimensions.
            4..=11 => {
                let name = metric_name(g, &metric_pool);
                let unit = if g.pct(90) { model.unit_of(&name).map_or_else(|| g.unit(), |u| u.0) } else { g.unit() };
                let n = g.count(&sizes.values);
                for _ in 0..n {
                    let v = g.value();
                    let r = set.add(name.clone(), unit, v);
                    if r.is_ok() {
                        check_accepted(&name, v);
                        model.recs.push(Rec {
                            name: name.clone(),
                            unit,
                            resolution: StorageResolution::Standard,
                            own: Vec::new(),
                            sets: None,
                            value: v,
                        });
                    } else if !value_ok(v) || !metric_name_ok(&name) {
                        // refused, as required
                    }
                    if r.is_err() && g.pct(80) {
                        break;
                    }
                }
            }
            // A metric with its own dimensions and sets.
            _ => {
                let name = metric_name(g, &metric_pool);
                let (unit, res) = match model.unit_of(&name) {
                    Some(u) if g.pct(90) => u,
                    _ => (g.unit(), g.resolution()),
                };
                let mut dims = Dimensions::new();
                let mut own: Vec<(String, String)> = Vec::new();
                for _ in 0..g.count(&sizes.own_dims) {
                    if let (Some(n), Some(t)) = (dimension_name(g, &dim_pool), tenant(g)) {
                        if own.iter().any(|(k, _)| k == n.as_str()) {
                            continue;
                        }
                        own.push((n.as_str().to_owned(), t.as_str().to_owned()));
                        dims = dims.with(n, &t);
                    }
                }
                let mut sets: Option<Vec<Vec<String>>> = None;
                if g.pct(60) {
                    let mut all = Vec::new();
                    for _ in 0..g.count(&sizes.sets) {
                        let mut keys: Vec<DimensionName> = Vec::new();
                        let available: Vec<String> = model
                            .defaults
                            .iter()
                            .map(|(k, _)| k.clone())
                            .chain(own.iter().map(|(k, _)| k.clone()))
                            .collect();
                        for _ in 0..g.count(&sizes.set_keys) {
                            let k = if !available.is_empty() && g.pct(90) {
                                g.pick(&available).clone()
                            } else {
                                g.pick(&dim_pool).clone()
                            };
                            if let Ok(k) = DimensionName::new(k) {
                                keys.push(k);
                            }
                        }
                        all.push(keys.iter().map(|k| k.as_str().to_owned()).collect::<Vec<_>>());
                        dims = dims.set(keys);
                    }
                    if !all.is_empty() {
                        sets = Some(all);
                    }
                }
                let n = g.count(&sizes.values);
                for _ in 0..n {
                    let v = g.value();
                    let r = set.add_with(name.clone(), unit, v, res, &dims);
                    if r.is_ok() {
                        check_accepted(&name, v);
                        if let Some(sets) = &sets {
                            for s in sets {
                                assert!(s.len() <= 30, "a set of {} keys was accepted (E-7)", s.len());
                                let uniq: BTreeSet<_> = s.iter().collect();
                                assert_eq!(uniq.len(), s.len(), "a key twice in a set was accepted: {s:?}");
                            }
                        }
                        model.recs.push(Rec {
                            name: name.clone(),
                            unit,
                            resolution: res,
                            own: own.clone(),
                            sets: sets.clone(),
                            value: v,
                        });
                    } else if g.pct(80) {
                        break;
                    }
                }
            }
        }
    }
    (set, model)
}

/// What recording accepted obeys E-18 and E-19 (the refusals are typed errors, fine).
fn check_accepted(name: &str, v: f64) {
    assert!(value_ok(v), "a value breaking E-19 was accepted: {v:e} for {name:?}");
    assert!(metric_name_ok(name), "a metric name breaking E-18 was accepted: {:?}", short(name));
    assert!(!contains_jwt(name), "a JWT-shaped metric name was accepted: {name:?}");
    assert!(!name.chars().any(char::is_control), "a metric name with a control character was accepted: {name:?}");
}

struct Sizes {
    ops: Vec<usize>,
    values: Vec<usize>,
    own_dims: Vec<usize>,
    sets: Vec<usize>,
    set_keys: Vec<usize>,
    metric_pool: usize,
    dim_pool: usize,
}

fn large_sizes() -> Sizes {
    Sizes {
        ops: vec![99, 100, 101, 150, 260],
        values: vec![1, 1, 2, 100, 101, 150],
        own_dims: vec![0, 1, 2, 5],
        sets: vec![1, 2, 5],
        set_keys: vec![1, 2, 5, 10],
        metric_pool: 300,
        dim_pool: 40,
    }
}

fn small_sizes() -> Sizes {
    Sizes {
        ops: vec![0, 1, 2, 5, 10, 30],
        values: vec![1, 1, 1, 2, 3, 100, 101],
        own_dims: vec![0, 1, 2, 3],
        sets: vec![0, 1, 2],
        set_keys: vec![0, 1, 2, 3],
        metric_pool: 12,
        dim_pool: 14,
    }
}

/// Encodes through `emf::encode` and through `EmfPublisher::write_set` (same bytes; the
/// WARN lines the publisher logs), then validates everything.
fn encode_and_check(set: &MetricSet, model: &Model, f: &mut Findings, case: &str) -> usize {
    let mut out = Vec::new();
    let report = emf::encode(set, NOW, &mut out);
    let text = String::from_utf8(out.clone()).expect("EMF output is UTF-8");
    if !text.is_empty() && !text.ends_with('\n') {
        f.add("E-1 last line without a newline", format!("{case}: {}", short(&text)));
    }
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if report.documents != lines.len() {
        f.add("report: documents != lines", format!("{case}: {} vs {}", report.documents, lines.len()));
    }
    // Determinism (docs/metrics.md: the same input gives the same bytes).
    let mut again = Vec::new();
    emf::encode(set, NOW, &mut again);
    if again != out {
        f.add("policy: encoding is not deterministic", case.to_owned());
    }
    // The publisher writes the same bytes and logs one WARN per kind of report.
    let logs = CapturingWriter::new();
    let sub = streamer_obs::log::subscriber(&Config::default(), logs.clone(), FixedClock::at_millis(NOW));
    let published = CapturingWriter::new();
    let publisher = EmfPublisher::new(published.clone());
    let pr = tracing::subscriber::with_default(sub, || publisher.write_set(set, NOW));
    if published.contents() != text {
        f.add("policy: EmfPublisher bytes differ from emf::encode", case.to_string());
    }
    if pr.sent != lines.len() || pr.lost != 0 {
        f.add("report: publish report", format!("{case}: {pr:?} for {} lines", lines.len()));
    }
    let warns = logs.lines().iter().filter(|l| l.contains("\"level\":\"WARN\"")).count();
    let reported = usize::from(!report.trimmed_properties.is_empty())
        + usize::from(!report.shadowed_properties.is_empty())
        + usize::from(!report.dropped_metrics.is_empty());
    if reported > 0 && warns == 0 {
        f.add("policy: data left out without a WARN line", format!("{case}: {report:?}"));
    }
    if !model.recs.is_empty() && lines.is_empty() {
        f.add("completeness: accepted metrics but no document", case.to_owned());
    }
    if model.recs.is_empty() && !lines.is_empty() {
        f.add("policy: a document for a set without metrics", format!("{case}: {}", short(&lines[0])));
    }
    let docs: Vec<Value> = lines.iter().filter_map(|l| check_line(l, NOW, f, case)).collect();
    check_set(model, &docs, &lines, &report, f, case);
    lines.len()
}

// ------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------

/// Small random sets: every kind of input, mostly under the limits.
#[test]
fn random_small_sets_give_valid_complete_emf() {
    let start = Instant::now();
    let mut f = Findings::default();
    let mut lines = 0;
    for case in 0..700u64 {
        let mut g = G::new(0xE3F_0000 + case);
        let (set, model) = random_set(&mut g, &small_sizes());
        lines += encode_and_check(&set, &model, &mut f, &format!("small#{case}"));
    }
    eprintln!("{lines} lines checked in {:?}", start.elapsed());
    f.assert_none("random small sets");
}

/// Large random sets: 100/101/250 metrics, 100/101/150 values, many contexts and sets.
#[test]
fn random_large_sets_split_validly_and_completely() {
    let start = Instant::now();
    let sizes = large_sizes();
    let mut f = Findings::default();
    let mut lines = 0;
    for case in 0..12u64 {
        let t = Instant::now();
        let mut g = G::new(0xB16_0000 + case);
        let (set, model) = random_set(&mut g, &sizes);
        let t1 = t.elapsed();
        lines += encode_and_check(&set, &model, &mut f, &format!("large#{case}"));
        eprintln!("large#{case}: {} recs, built in {t1:?}, checked in {:?}", model.recs.len(), t.elapsed() - t1);
    }
    eprintln!("{lines} lines checked in {:?}", start.elapsed());
    f.assert_none("random large sets");
}

/// Exactly 0, 1, 100, 101 and 1000 distinct metrics; 100, 101 and 150 values of one.
#[test]
fn metric_and_value_counts_at_the_limits() {
    let mut f = Findings::default();
    for (i, (metrics, values)) in
        [(0usize, 1usize), (1, 1), (100, 1), (101, 1), (1000, 1), (1, 100), (1, 101), (1, 150), (100, 101), (101, 150)]
            .into_iter()
            .enumerate()
    {
        let mut g = G::new(0xC0_0000 + i as u64);
        let mut set =
            MetricSet::from_config(&Config::builder().service("svc").environment("prod").build_from(&EnvVars::empty()));
        let mut model = Model { namespace: "Streamer".into(), ..Default::default() };
        model.defaults = vec![("Service".into(), "svc".into()), ("Environment".into(), "prod".into())];
        for m in 0..metrics {
            let unit = g.unit();
            let res = g.resolution();
            for _ in 0..values {
                let v = loop {
                    let v = g.value();
                    if value_ok(v) {
                        break v;
                    }
                };
                let name = format!("Metric{m:04}");
                set.add_with(name.clone(), unit, v, res, &Dimensions::new()).unwrap();
                model.recs.push(Rec { name, unit, resolution: res, own: vec![], sets: None, value: v });
            }
        }
        encode_and_check(&set, &model, &mut f, &format!("limits {metrics}x{values}"));
    }
    f.assert_none("limits");
}

/// 30 dimensions per set, 30 sets of 30 keys, 1024-character values: the line limit with
/// dimension members; 31 and 40 dimensions must be refused.
#[test]
fn dimension_counts_and_sizes_at_the_limits() {
    let mut f = Findings::default();
    for case in 0..40u64 {
        let mut g = G::new(0xD1_0000 + case);
        let mut set = MetricSet::new(Namespace::streamer());
        let mut model = Model { namespace: "Streamer".into(), ..Default::default() };
        let keys: Vec<DimensionName> = (0..40).map(|i| DimensionName::new(format!("Dim{i:02}")).unwrap()).collect();
        let ndims = *g.pick(&[29usize, 30, 31, 40]);
        let vlen = *g.pick(&[1usize, 250, 1024]);
        let mut dims = Dimensions::new();
        let mut own = Vec::new();
        for k in keys.iter().take(ndims) {
            let t = TenantId::new(format!("{}{}", g.word(3), "v".repeat(vlen - 3.min(vlen)))).ok();
            let t = t.unwrap_or_else(|| TenantId::new("v").unwrap());
            own.push((k.as_str().to_owned(), t.as_str().to_owned()));
            dims = dims.with(k.clone(), &t);
        }
        let nsets = *g.pick(&[0usize, 1, 30, 31]);
        let mut sets = Vec::new();
        let mut distinct = BTreeSet::new();
        for s in 0..nsets {
            // Set s: keys s, s+1, ... (s % 30 + 1 of them, wrapping): distinct sets.
            let n = (s % 30) + 1;
            let ks: Vec<DimensionName> = (0..n).map(|i| keys[(s + i) % ndims].clone()).collect();
            let names: Vec<String> = ks.iter().map(|k| k.as_str().to_owned()).collect();
            distinct.insert(sorted(&names));
            sets.push(names);
            dims = dims.set(ks);
        }
        let contexts = *g.pick(&[1usize, 2, 10]);
        let mut accepted = 0;
        for c in 0..contexts {
            // Each context differs in one value: separate documents.
            let t = TenantId::new(format!("ctx{c}-{}", "w".repeat(vlen.saturating_sub(10)))).unwrap();
            let d = dims.clone().with(keys[0].clone(), &t);
            let mut own_c = own.clone();
            if let Some(first) = own_c.first_mut() {
                first.1 = t.as_str().to_owned();
            }
            let name = format!("Metric{}", c % 3);
            let unit = Unit::Count;
            if set.add_with(name.clone(), unit, c as f64, StorageResolution::Standard, &d).is_ok() {
                accepted += 1;
                model.recs.push(Rec {
                    name,
                    unit,
                    resolution: StorageResolution::Standard,
                    own: own_c,
                    sets: if nsets == 0 { None } else { Some(sets.clone()) },
                    value: c as f64,
                });
            }
        }
        let over = (nsets == 0 && ndims > 30) || distinct.len() > 30 || distinct.iter().any(|s| s.len() > 30);
        if over && accepted > 0 {
            f.add(
                "E-7/policy: more than 30 dimensions or sets accepted",
                format!("case {case}: {ndims} dims {} sets", distinct.len()),
            );
        }
        encode_and_check(&set, &model, &mut f, &format!("dims#{case} ({ndims} dims, {nsets} sets, {vlen} chars)"));
    }
    f.assert_none("dimension limits");
}

/// Non-finite and out-of-range values are refused; every finite in-range value (the
/// extremes included) is written as a valid JSON number equal to it.
#[test]
fn values_edge_cases() {
    let mut f = Findings::default();
    let mut g = G::new(0x7A1);
    let mut set = MetricSet::new(Namespace::streamer());
    let mut model = Model { namespace: "Streamer".into(), ..Default::default() };
    for i in 0..3000 {
        let v = g.value();
        let name = format!("V{}", i % 90);
        let r = set.add(name.clone(), Unit::None, v);
        match (r.is_ok(), value_ok(v)) {
            (true, false) => f.add("E-19 non-finite or out-of-range value accepted", format!("{v:e}")),
            (false, true) => f.add("policy: a valid value refused", format!("{v:e}: {r:?}")),
            (true, true) => model.recs.push(Rec {
                name,
                unit: Unit::None,
                resolution: StorageResolution::Standard,
                own: vec![],
                sets: None,
                value: v,
            }),
            _ => {}
        }
    }
    encode_and_check(&set, &model, &mut f, "values");
    f.assert_none("values");
}

/// Hostile names: whatever a constructor accepts must give valid output; JWTs and
/// credentials must be refused in names (README: refused with a typed error).
#[test]
fn hostile_names_are_refused_or_written_validly() {
    let mut f = Findings::default();
    for case in 0..1500u64 {
        let mut g = G::new(0x4A3E_0000 + case);
        let s = g.any_string();
        // README: what the log scrubber would redact is refused in every name.
        let secret = log_redacts(&s);
        let ns = Namespace::new(s.clone());
        if ns.is_ok() && (!namespace_ok(&s) || secret) {
            f.add("E-15 namespace accepted", format!("{s:?}"));
        }
        let dn = DimensionName::new(s.clone());
        if dn.is_ok() && (!dimension_name_ok(&s) || s == "_aws" || secret) {
            f.add("E-16 dimension name accepted", format!("{s:?}"));
        }
        let tv = TenantId::new(s.clone());
        if tv.is_ok() && (!dimension_value_ok(&s) || secret) {
            f.add("E-17 dimension value accepted", format!("{s:?}"));
        }
        let mut set = MetricSet::new(ns.clone().unwrap_or_else(|_| Namespace::streamer()));
        let mut model = Model { namespace: set.namespace().as_str().to_owned(), ..Default::default() };
        let mut dims = Dimensions::new();
        let mut own = vec![];
        if let (Ok(n), Ok(v)) = (&dn, &tv) {
            dims = dims.with(n.clone(), v);
            own.push((n.as_str().to_owned(), v.as_str().to_owned()));
        }
        let name = s.clone();
        match set.add_with(name.clone(), Unit::Count, 1.0, StorageResolution::High, &dims) {
            Ok(()) => {
                if !metric_name_ok(&name) || secret || name.chars().any(char::is_control) {
                    f.add("E-18 metric name accepted", format!("{name:?}"));
                }
                model.recs.push(Rec {
                    name,
                    unit: Unit::Count,
                    resolution: StorageResolution::High,
                    own,
                    sets: None,
                    value: 1.0,
                });
            }
            Err(_) => {
                // Retry with a safe name so the dimension still reaches a document.
                if set.add_with("Safe", Unit::Count, 2.0, StorageResolution::High, &dims).is_ok() {
                    model.recs.push(Rec {
                        name: "Safe".into(),
                        unit: Unit::Count,
                        resolution: StorageResolution::High,
                        own,
                        sets: None,
                        value: 2.0,
                    });
                }
            }
        }
        if let Ok(()) = set.set_property(s.clone(), "v") {
            if secret || s == "_aws" {
                f.add("README: secret/_aws property key accepted", format!("{s:?}"));
            }
            model.properties.insert(s.clone(), json!("v"));
        }
        encode_and_check(&set, &model, &mut f, &format!("names#{case}"));
        // The configured service, environment, namespace and function name (cold start).
        let config = Config::builder()
            .service(s.clone())
            .environment(s.clone())
            .namespace(s.clone())
            .build_from(&EnvVars::empty());
        let mut from_config = MetricSet::from_config(&config);
        from_config.add("FromConfig", Unit::Count, 1.0).unwrap();
        let cold = MetricSet::cold_start(from_config.namespace().clone(), &s, &s);
        for (i, set) in [from_config, cold].iter().enumerate() {
            let mut model = Model { namespace: set.namespace().as_str().to_owned(), ..Default::default() };
            model.defaults =
                set.default_dimensions().iter().map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned())).collect();
            let name = if i == 0 { "FromConfig" } else { "ColdStart" };
            model.recs.push(Rec {
                name: name.into(),
                unit: Unit::Count,
                resolution: StorageResolution::Standard,
                own: vec![],
                sets: None,
                value: 1.0,
            });
            encode_and_check(set, &model, &mut f, &format!("config#{case}.{i}"));
            if secret && s.len() > 8 && emf::encode_lines(set, NOW).iter().any(|l| l.contains(s.as_str())) {
                f.add("README: a configured value the scrubber redacts reached an EMF line", format!("{s:?}"));
            }
        }
    }
    f.assert_none("hostile names");
}

/// Whether the SDK's own log scrubber changes `s` when it is logged as a field value.
fn log_redacts(s: &str) -> bool {
    let w = CapturingWriter::new();
    let sub = streamer_obs::log::subscriber(&Config::default(), w.clone(), FixedClock::at_millis(NOW));
    tracing::subscriber::with_default(sub, || tracing::info!(v = s, "probe"));
    let lines = w.json_lines();
    lines.len() != 1 || lines[0]["v"] != s
}

/// E-7 [INF], completeness (a defect the first run found, fixed): one dimension set written twice in one directive,
/// with its keys in another order. CloudWatch identifies a metric by its unordered
/// dimension pairs, so both sets name the same metric and every value is counted twice;
/// the SDK already merges two identical sets written in the same order.
#[test]
fn permuted_dimension_sets_are_one_metric() {
    let (a, b) = (DimensionName::new("A").unwrap(), DimensionName::new("B").unwrap());
    let dims = Dimensions::new()
        .with(a.clone(), &TenantId::new("x").unwrap())
        .with(b.clone(), &TenantId::new("y").unwrap())
        .set([a.clone(), b.clone()])
        .set([b.clone(), a.clone()]);
    let mut set = MetricSet::new(Namespace::streamer());
    set.add_with("M", Unit::Count, 1.0, StorageResolution::Standard, &dims).unwrap();
    let mut f = Findings::default();
    let model = Model {
        namespace: "Streamer".into(),
        recs: vec![Rec {
            name: "M".into(),
            unit: Unit::Count,
            resolution: StorageResolution::Standard,
            own: vec![("A".into(), "x".into()), ("B".into(), "y".into())],
            sets: Some(vec![vec!["A".into(), "B".into()], vec!["B".into(), "A".into()]]),
            value: 1.0,
        }],
        ..Default::default()
    };
    if std::env::var_os("SHOW_LINES").is_some() {
        eprintln!("{}", emf::encode_lines(&set, NOW).join("\n"));
    }
    encode_and_check(&set, &model, &mut f, "permuted sets");
    f.assert_none("permuted dimension sets");
}

/// Secrets anywhere inside property values never reach the line.
#[test]
fn secrets_in_property_values_never_reach_the_line() {
    let mut f = Findings::default();
    for case in 0..800u64 {
        let mut g = G::new(0x5EC_0000 + case);
        let mut set = MetricSet::new(Namespace::streamer());
        let mut model = Model { namespace: "Streamer".into(), ..Default::default() };
        set.add("A", Unit::Count, 1.0).unwrap();
        model.recs.push(Rec {
            name: "A".into(),
            unit: Unit::Count,
            resolution: StorageResolution::Standard,
            own: vec![],
            sets: None,
            value: 1.0,
        });
        for p in 0..g.0.usize(1..4) {
            // A secret nested at a random depth in arrays and objects.
            let mut secrets = Vec::new();
            let leaf = if g.pct(50) {
                let j = g.jwt();
                secrets.push(j.clone());
                if g.pct(50) { j } else { format!("x {j} y") }
            } else {
                let (text, token) = g.credential();
                secrets.push(token);
                text
            };
            let mut v = Value::String(leaf);
            for _ in 0..g.0.usize(0..6) {
                v = if g.pct(50) { json!([1, v, "z"]) } else { json!({ g.word(4): v, "n": 1 }) };
            }
            let key = format!("p{p}_{}", g.word(3));
            if set.set_property(key.clone(), &v).is_ok() {
                model.properties.insert(key, v);
                model.secrets.extend(secrets);
            }
        }
        encode_and_check(&set, &model, &mut f, &format!("secrets#{case}"));
    }
    f.assert_none("secrets");
}

/// Same metric name in several compatible dimension contexts, metric names equal to
/// another context's dimension key, properties named like either: the root member of a
/// name can only hold one thing per document.
#[test]
fn colliding_names_across_contexts() {
    let mut f = Findings::default();
    let action = DimensionName::new("Action").unwrap();
    let kind = DimensionName::new("Kind").unwrap();
    for case in 0..300u64 {
        let mut g = G::new(0xC011_0000 + case);
        let mut set = MetricSet::new(Namespace::streamer());
        let mut model = Model { namespace: "Streamer".into(), ..Default::default() };
        let names = ["Hits", "Action", "Kind", "prop"];
        for _ in 0..g.0.usize(1..12) {
            let name = g.pick(&names).to_string();
            let (dims, own, sets) = match g.0.u8(0..4) {
                0 => (Dimensions::new(), vec![], None),
                1 => {
                    let t = TenantId::new(format!("a{}", g.0.u8(0..2))).unwrap();
                    (
                        Dimensions::new().with(action.clone(), &t).set([action.clone()]),
                        vec![("Action".to_owned(), t.as_str().to_owned())],
                        Some(vec![vec!["Action".to_owned()]]),
                    )
                }
                2 => {
                    let t = TenantId::new(format!("k{}", g.0.u8(0..2))).unwrap();
                    (Dimensions::new().with(kind.clone(), &t), vec![("Kind".to_owned(), t.as_str().to_owned())], None)
                }
                _ => (Dimensions::new().set(Vec::<DimensionName>::new()), vec![], Some(vec![vec![]])),
            };
            let v = f64::from(g.0.u8(0..50));
            if set.add_with(name.clone(), Unit::Count, v, StorageResolution::Standard, &dims).is_ok() {
                model.recs.push(Rec {
                    name,
                    unit: Unit::Count,
                    resolution: StorageResolution::Standard,
                    own,
                    sets,
                    value: v,
                });
            }
            if g.pct(30) {
                let key = g.pick(&names).to_string();
                if set.set_property(key.clone(), "pv").is_ok() {
                    model.properties.insert(key, json!("pv"));
                }
            }
        }
        encode_and_check(&set, &model, &mut f, &format!("collide#{case}"));
    }
    f.assert_none("colliding names");
}

/// Large properties and dimension values around the 256 KB line limit: trimmed with a
/// report, never an oversized or invalid line, never a lost metric.
#[test]
fn oversized_documents_are_trimmed_with_reports() {
    let mut f = Findings::default();
    for case in 0..14u64 {
        let mut g = G::new(0x512E_0000 + case);
        let mut set =
            MetricSet::from_config(&Config::builder().service("svc").environment("prod").build_from(&EnvVars::empty()));
        let mut model = Model { namespace: "Streamer".into(), ..Default::default() };
        model.defaults = vec![("Service".into(), "svc".into()), ("Environment".into(), "prod".into())];
        for p in 0..g.0.usize(0..5) {
            let n = *g.pick(&[1000usize, 100_000, 200_000, 262_000, 300 * 1024]);
            let c = *g.pick(&["x", "é", "\"", "\u{1}", "🚀"]);
            let v = json!(c.repeat(n / c.len()));
            if set.set_property(format!("big{p}"), &v).is_ok() {
                model.properties.insert(format!("big{p}"), v);
            }
        }
        let metrics = *g.pick(&[1usize, 100, 101, 300]);
        let long = g.pct(50);
        for m in 0..metrics {
            let name = if long { format!("{}{m:04}", "N".repeat(250)) } else { format!("M{m}") };
            let nvals = *g.pick(&[1usize, 100, 150]);
            for k in 0..nvals {
                let v = -1.234_567_890_123_456_7e-300 * (k as f64 + 1.0);
                if set.add(name.clone(), Unit::Count, v).is_ok() {
                    model.recs.push(Rec {
                        name: name.clone(),
                        unit: Unit::Count,
                        resolution: StorageResolution::Standard,
                        own: vec![],
                        sets: None,
                        value: v,
                    });
                }
            }
        }
        encode_and_check(&set, &model, &mut f, &format!("big#{case}"));
    }
    f.assert_none("oversized");
}

/// The publisher's remembered layouts (docs/metrics.md): a set that looks like a cached
/// one (same metric names in the same order) but differs in namespace, default dimension
/// values, units, resolutions, value counts or own dimensions must still give exactly the
/// encoder's bytes.
#[test]
fn publisher_layout_cache_matches_the_encoder() {
    let mut f = Findings::default();
    let out = CapturingWriter::new();
    let publisher = EmfPublisher::new(out.clone());
    let action = DimensionName::new("Action").unwrap();
    for case in 0..3000u64 {
        let mut g = G::new(0x1A40_0000 + case);
        // Few choices each, so near-identical sets follow each other.
        let config = Config::builder()
            .service(*g.pick(&["svc", "other"]))
            .environment(*g.pick(&["prod", "dev"]))
            .namespace(*g.pick(&["Streamer", "Other/NS"]))
            .build_from(&EnvVars::empty());
        let mut set = MetricSet::from_config(&config);
        if g.pct(30) {
            let t = TenantId::new(*g.pick(&["acme", "globex"])).unwrap();
            set.add_dimension(standard::TENANT_ID, &t).unwrap();
        }
        let layout = g.0.u8(0..3);
        let n = 1 + usize::from(layout);
        for m in 0..n {
            let unit = *g.pick(&[Unit::Count, Unit::Milliseconds]);
            let res = *g.pick(&[StorageResolution::Standard, StorageResolution::High]);
            let count = *g.pick(&[1usize, 1, 2, 100, 101]);
            let dims = match g.0.u8(0..3) {
                0 => Dimensions::new(),
                1 => Dimensions::new().with(action.clone(), &TenantId::new(*g.pick(&["a", "b"])).unwrap()),
                _ => Dimensions::new().with(action.clone(), &TenantId::new("a").unwrap()).set([action.clone()]),
            };
            for _ in 0..count {
                let v = loop {
                    let v = g.value();
                    if value_ok(v) {
                        break v;
                    }
                };
                if set.add_with(format!("L{layout}M{m}"), unit, v, res, &dims).is_err() {
                    break;
                }
            }
        }
        if g.pct(30) {
            let ts = NOW - g.0.u64(0..3_600_000);
            set.set_timestamp(UNIX_EPOCH + Duration::from_millis(ts), &FixedClock::at_millis(NOW)).unwrap();
        }
        let now = NOW + g.0.u64(0..10_000_000);
        out.clear();
        publisher.write_set(&set, now);
        let mut want = Vec::new();
        emf::encode(&set, now, &mut want);
        if out.contents().as_bytes() != want.as_slice() {
            f.add(
                "policy: cached layout differs from the encoder",
                format!("case {case}: {} vs {}", short(&out.contents()), short(&String::from_utf8_lossy(&want))),
            );
        }
        for l in out.lines() {
            check_line(&l, now, &mut f, &format!("cache#{case}"));
        }
    }
    f.assert_none("layout cache");
}

/// The task-local API inside an invocation: every refused datum gives `false` and exactly
/// one WARN line; the flushed EMF (cold start included) is valid and complete.
#[test]
fn task_local_recording_warns_once_per_drop_and_flushes_everything() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut f = Findings::default();
    let action = DimensionName::new("Action").unwrap();
    for case in 0..250u64 {
        let mut g = G::new(0x7A5C_0000 + case);
        let config = Config::builder().service("svc").environment("prod").build_from(&EnvVars::empty());
        let tracker = streamer_obs::invocation::ColdStartTracker::new(&Default::default());
        let cold = g.pct(50);
        if !cold {
            tracker.take();
        }
        let ctx = ContextBuilder::new().function_name("fn-name").build();
        let inv = Arc::new(streamer_obs::invocation::Invocation::from_context(&ctx, &config, &tracker));
        let mut defaults: Vec<(String, String)> =
            vec![("Service".into(), "svc".into()), ("Environment".into(), "prod".into())];
        let mut pool: Vec<String> = (0..8).map(|i| format!("T{i}")).collect();
        pool.extend(["Environment", "Action", "TenantID"].map(String::from));
        // One or two flushes (a deadline guard, then the end): each publishes what was
        // recorded since the last one.
        let phases = if g.pct(40) { 2 } else { 1 };
        for phase in 0..phases {
            let logs = CapturingWriter::new();
            let sub = streamer_obs::log::subscriber(&config, logs.clone(), FixedClock::at_millis(NOW));
            let mut model = Model { namespace: "Streamer".into(), defaults: defaults.clone(), ..Default::default() };
            let mut falses = 0usize;
            let ops: Vec<(String, Unit, f64, u8, String)> = (0..g.0.usize(0..60))
                .map(|_| {
                    (
                        metric_name(&mut g, &pool),
                        g.unit(),
                        g.value(),
                        g.0.u8(0..10),
                        g.pick(&["connect", "send"]).to_string(),
                    )
                })
                .collect();
            let mut accepted = Vec::new();
            tracing::subscriber::with_default(sub, || {
                rt.block_on(Arc::clone(&inv).scope(async {
                    for (name, unit, v, kind, a) in &ops {
                        let ok = match kind {
                            0 => metrics::set_property(name, *v),
                            1 => {
                                let t = TenantId::or_unknown(Some(name.as_str()));
                                metrics::add_dimension(standard::TENANT_ID, &t)
                            }
                            2 => {
                                let dims = Dimensions::new()
                                    .with(action.clone(), &TenantId::new(a.as_str()).unwrap())
                                    .set([action.clone()]);
                                metrics::add_with(name.clone(), *unit, *v, StorageResolution::High, &dims)
                            }
                            _ => metrics::add(name.clone(), *unit, *v),
                        };
                        if ok {
                            accepted.push((name.clone(), *unit, *v, *kind, a.clone()));
                        } else {
                            falses += 1;
                        }
                    }
                }));
            });
            let warns = logs.lines().iter().filter(|l| l.contains("\"level\":\"WARN\"")).count();
            if warns != falses {
                f.add(
                    "policy: a dropped datum must give exactly one WARN line",
                    format!(
                        "case {case}: {falses} refused, {warns} WARN lines: {:?}",
                        logs.lines().iter().take(3).collect::<Vec<_>>()
                    ),
                );
            }
            for (name, unit, v, kind, a) in accepted {
                match kind {
                    0 => {
                        // Non-finite floats are written as strings (MetricSet::set_property).
                        let value = match v {
                            v if v.is_nan() => json!("NaN"),
                            v if v == f64::INFINITY => json!("Infinity"),
                            v if v == f64::NEG_INFINITY => json!("-Infinity"),
                            v => serde_json::to_value(v).unwrap(),
                        };
                        model.properties.insert(name, value);
                    }
                    1 => {
                        let t = TenantId::or_unknown(Some(name.as_str()));
                        if let Some(d) = defaults.iter_mut().find(|(k, _)| k == "TenantID") {
                            d.1 = t.as_str().to_owned();
                        } else {
                            defaults.push(("TenantID".into(), t.as_str().to_owned()));
                        }
                        model.defaults = defaults.clone();
                    }
                    2 => {
                        check_accepted(&name, v);
                        let sets = Some(vec![vec!["Action".to_owned()]]);
                        model.recs.push(Rec {
                            name,
                            unit,
                            resolution: StorageResolution::High,
                            own: vec![("Action".into(), a)],
                            sets,
                            value: v,
                        });
                    }
                    _ => {
                        check_accepted(&name, v);
                        model.recs.push(Rec {
                            name,
                            unit,
                            resolution: StorageResolution::Standard,
                            own: vec![],
                            sets: None,
                            value: v,
                        });
                    }
                }
            }
            let out = CapturingWriter::new();
            let flush_logs = CapturingWriter::new();
            let sub = streamer_obs::log::subscriber(&config, flush_logs.clone(), FixedClock::at_millis(NOW));
            let report = tracing::subscriber::with_default(sub, || {
                rt.block_on(metrics::flush_invocation(
                    &inv,
                    &EmfPublisher::new(out.clone()),
                    &FixedClock::at_millis(NOW),
                    &FlushOptions::default(),
                ))
            });
            // What the flush's WARN lines name counts as reported (shadowed or trimmed).
            let warned: Vec<String> =
                flush_logs.lines().into_iter().filter(|l| l.contains("\"level\":\"WARN\"")).collect();
            let named = |k: &String| {
                warned.iter().any(|w| w.contains(&format!("\\\"{k}\\\"")) || w.contains(&format!("\"{k}\"")))
            };
            let lines = out.lines();
            let name = format!("tasklocal#{case}.{phase}");
            let mut docs = Vec::new();
            for l in &lines {
                if let Some(d) = check_line(l, NOW, &mut f, &name) {
                    docs.push(d);
                }
            }
            // The cold start is its own document: take it out before the completeness check.
            let (cold_docs, rest): (Vec<Value>, Vec<Value>) =
                docs.into_iter().partition(|d| d.get("ColdStart").is_some() && d.get("function_name").is_some());
            let want_cold = cold && phase == 0;
            if want_cold != (cold_docs.len() == 1) || cold_docs.len() > 1 {
                f.add(
                    "docs: one ColdStart document, on the first flush of a cold start only",
                    format!("{name}: cold={cold}, {} docs", cold_docs.len()),
                );
            }
            for d in &cold_docs {
                if d["ColdStart"] != 1
                    || d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] != json!([["function_name", "service"]])
                {
                    f.add("docs: ColdStart document shape", format!("{name}: {d}"));
                }
            }
            if report.lost != 0 {
                f.add("policy: flush lost documents", format!("{name}: {report:?}"));
            }
            let reported: Vec<String> = model.properties.keys().filter(|k| named(k)).cloned().collect();
            let rep = emf::EncodeReport {
                shadowed_properties: reported.clone(),
                trimmed_properties: reported,
                ..Default::default()
            };
            check_set(&model, &rest, &lines, &rep, &mut f, &name);
        }
    }
    f.assert_none("task-local recording");
}

#[test]
#[ignore = "run by deeply_nested_properties_never_crash in a child process"]
fn child_deep_property() {
    let depth: usize = std::env::var("DEPTH").unwrap().parse().unwrap();
    let objects = std::env::var("OBJECTS").is_ok();
    // Baseline: serde_json itself can write the value. On a thread of its own with a large
    // stack: its unoptimised frames (larger since `lambda_http` turns on its `raw_value`)
    // overflow this one at depth 5000, and they are not what is tested; the SDK's steps
    // below run on this thread's stack.
    let plain = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || serde_json::to_string(&Nest(depth, objects, JWT_LEAF)).unwrap())
        .unwrap()
        .join()
        .unwrap();
    eprintln!("STEP serde_json::to_string ok ({} bytes)", plain.len());
    let mut set = MetricSet::new(Namespace::streamer());
    set.add("A", Unit::Count, 1.0).unwrap();
    let r = set.set_property("deep", Nest(depth, objects, JWT_LEAF));
    eprintln!("STEP set_property {:?}", r.is_ok());
    let lines = emf::encode_lines(&set, NOW);
    eprintln!("STEP encode ok");
    assert_eq!(lines.len(), 1);
    // serde_json's parser stops at 128 levels: check what can be parsed.
    if depth < 120 {
        let mut f = Findings::default();
        check_line(&lines[0], NOW, &mut f, "deep");
        f.assert_none("deep property");
    }
    assert!(!lines[0].contains("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0"), "JWT in a deep property reached the line");
}

/// Deeply nested property values (documented for log fields: deeper than 64 levels
/// becomes "[too deep]"): never a crash, never an invalid line, never a secret.
#[test]
fn deeply_nested_properties_never_crash() {
    let mut f = Findings::default();
    for depth in [10usize, 64, 65, 200, 1_000, 2_000, 5_000] {
        for objects in [false, true] {
            let mut env = vec![("DEPTH", depth.to_string())];
            if objects {
                env.push(("OBJECTS", "1".into()));
            }
            let out = run_child("child_deep_property", &env);
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let steps: Vec<&str> = err.lines().filter(|l| l.starts_with("STEP")).collect();
                let why = err
                    .lines()
                    .find(|l| l.contains("overflow") || l.contains("panicked") || l.contains("violations"))
                    .unwrap_or("")
                    .to_owned();
                let why = format!("{why} after {steps:?}");
                f.add(
                    "policy: never a crash / invalid line (deep property)",
                    format!("depth {depth} objects={objects}: {:?} {why}", out.status),
                );
            }
        }
    }
    f.assert_none("deep properties");
}
