//! Randomized, adversarial conformance tests of the trace header (`X-Amzn-Trace-Id`,
//! `Lambda-Runtime-Trace-Id`) parser, its formatter and the header propagated downstream
//! (fixed seeds: every run is the same run).
//!
//! The model is written from `aws-rules.md` §4 (H-1 to H-4, X-4/X-5 for the ids) and the
//! policy documented in README.md ("Invocation context") and docs/tracing.md, not from the
//! parser: `;`-separated `key=value` parts in any order and letter case, whitespace
//! trimmed, a part without `=` skipped, `Root` required and checked, a bad `Parent` fatal
//! only with `Sampled=1`, `Sampled` `1`/`?`/anything else, `Self` dropped, `Lineage` kept
//! when visible ASCII within 256 bytes, unknown parts when visible ASCII, within 256 bytes
//! in all and 16 parts, and free of credentials.
//! Every parse is compared with the model; every formatted header must be visible
//! ASCII, at most the documented size, and parse back to itself; downstream headers keep
//! `Root`, `Sampled`, `Lineage` and unknown keys with the new `Parent` (H-4).
//!
//! The first run found three defects, fixed since: an unsampled invocation (or a sampled one
//! with no subsegment open) propagated no header (H-4); `Lineage` was crowded out by
//! unknown parts sharing its 256-byte budget (H-3); unknown parts carrying credentials
//! (`Authorization=<JWT>`, `token=…`) were propagated downstream.
#![allow(clippy::too_many_lines)]

#[allow(dead_code)]
#[path = "common/random.rs"]
mod random;

use std::sync::Arc;
use std::time::Instant;

use random::{Findings, G, squeeze};
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::testing::{CapturingEmitter, ContextBuilder};
use streamer_obs::trace_header::{MAX_EXTRA_BYTES, Sampled, SegmentId, TraceHeader, TraceHeaderError, TraceId};

const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";
/// README: `Root=<35>;Parent=<16>;Sampled=<1>`, a `Lineage` of at most 256 bytes, and at
/// most 256 bytes of unknown `;k=v` parts.
const MAX_HEADER: usize = "Root=".len()
    + 35
    + ";Parent=".len()
    + 16
    + ";Sampled=".len()
    + 1
    + ";Lineage=".len()
    + MAX_EXTRA_BYTES
    + MAX_EXTRA_BYTES;

/// README: an unknown part that carries a credential is not propagated: a JWT-shaped key
/// or value, or a key named like `token`, `authorization`, `jwt`, `password`, `secret`,
/// `cookie`, `api_key`/`apikey`, `signature` (case-insensitive, `-` and `_` alike).
fn secret_part(k: &str, v: &str) -> bool {
    let name = k.to_ascii_lowercase().replace('_', "-");
    ["token", "authorization", "jwt", "password", "secret", "cookie", "api-key", "apikey", "signature"]
        .iter()
        .any(|s| name.ends_with(s))
        || streamer_obs::log::contains_jwt(k)
        || streamer_obs::log::contains_jwt(v)
}

// ------------------------------------------------------------------------------------
// Rule predicates and the model
// ------------------------------------------------------------------------------------

/// `1-` + 8 hex + `-` + 24 hex.
fn trace_id_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 35
        && s.starts_with("1-")
        && b[10] == b'-'
        && b[2..10].iter().all(u8::is_ascii_hexdigit)
        && b[11..].iter().all(u8::is_ascii_hexdigit)
}

/// 16 hex digits (the SDK documents all zeros as invalid).
fn segment_id_ok(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

/// README: what may be propagated: visible ASCII, no `;`.
fn visible(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b';')
}

#[derive(Debug, Clone, PartialEq)]
struct Model {
    root: String,
    parent: Option<String>,
    sampled: Option<Sampled>,
    lineage: Option<String>,
    extra: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ModelError {
    MissingRoot,
    InvalidRoot,
    InvalidParent,
}

fn model_parse(s: &str) -> Result<Model, ModelError> {
    let mut root = None;
    let mut parent: Option<Result<String, ()>> = None;
    let mut sampled = None;
    let mut lineage = None;
    let mut extra = Vec::new();
    let mut used = 0;
    for part in s.split(';') {
        let part = part.trim();
        let Some((k, v)) = part.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        match k.to_ascii_lowercase().as_str() {
            "root" => {
                if !trace_id_ok(v) {
                    return Err(ModelError::InvalidRoot);
                }
                root = Some(v.to_owned());
            }
            "parent" => parent = Some(if segment_id_ok(v) { Ok(v.to_owned()) } else { Err(()) }),
            "sampled" => {
                sampled = Some(match v {
                    "1" => Sampled::Sampled,
                    "?" => Sampled::Requested,
                    _ => Sampled::NotSampled,
                })
            }
            "self" => {}
            // H-3: passed through, with a budget of its own.
            "lineage" => {
                if visible(v) && v.len() <= MAX_EXTRA_BYTES {
                    lineage = Some(v.to_owned());
                }
            }
            _ => {
                if k.is_empty() || !visible(k) || !visible(v) || secret_part(k, v) {
                    continue;
                }
                let bytes = k.len() + v.len() + 2;
                if used + bytes <= MAX_EXTRA_BYTES && extra.len() < 16 {
                    used += bytes;
                    extra.push((k.to_owned(), v.to_owned()));
                }
            }
        }
    }
    let root = root.ok_or(ModelError::MissingRoot)?;
    let parent = match parent {
        Some(Err(())) if sampled == Some(Sampled::Sampled) => return Err(ModelError::InvalidParent),
        Some(Ok(p)) => Some(p),
        _ => None,
    };
    Ok(Model { root, parent, sampled, lineage, extra })
}

fn as_model(h: &TraceHeader) -> Model {
    Model {
        root: h.root().as_str().to_owned(),
        parent: h.parent().map(|p| p.as_str().to_owned()),
        sampled: h.sampled(),
        lineage: h.lineage().map(str::to_owned),
        extra: h.extra().to_vec(),
    }
}

fn error_kind(e: &TraceHeaderError) -> Option<ModelError> {
    match e {
        TraceHeaderError::MissingRoot => Some(ModelError::MissingRoot),
        TraceHeaderError::InvalidRoot(_) => Some(ModelError::InvalidRoot),
        TraceHeaderError::InvalidParent(_) => Some(ModelError::InvalidParent),
        _ => None,
    }
}

/// A formatted header (ours or downstream): visible ASCII, `Root=` first, no `Self`, at
/// most the documented size, and it parses back to the same header.
fn check_formatted(f: &mut Findings, h: &TraceHeader, what: &str) {
    let s = h.to_string();
    if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        f.add("H-1/README formatted header has spaces, controls or non-ASCII", format!("{what}: {s:?}"));
    }
    if !s.starts_with("Root=") {
        f.add("H-1 formatted header starts with Root", format!("{what}: {s:?}"));
    }
    if s.len() > MAX_HEADER {
        f.add("README formatted header within the documented size", format!("{what}: {} bytes", s.len()));
    }
    for part in s.split(';') {
        match part.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("self") => f.add("H-2 Self propagated", format!("{what}: {s:?}")),
            None => f.add("H-1 formatted part is not key=value", format!("{what}: {part:?}")),
            _ => {}
        }
    }
    match s.parse::<TraceHeader>() {
        Ok(again) if again == *h => {}
        other => f.add("round trip: format then parse gives the header back", format!("{what}: {s:?} -> {other:?}")),
    }
}

// ------------------------------------------------------------------------------------
// Random headers
// ------------------------------------------------------------------------------------

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

fn root_value(g: &mut G) -> String {
    match g.0.u8(0..24) {
        0 => ROOT.to_uppercase(),
        1 => "1-5759E988-bd862e3fe1BE46a994272793".to_owned(),
        2 => ROOT[..34].to_owned(),
        3 => format!("{ROOT}3"),
        4 => ROOT.replacen('1', "2", 1),
        5 => ROOT.replacen('1', "0", 1),
        6 => ROOT.replace('-', "_"),
        7 => ROOT.replacen('e', "g", 1),
        8 => ROOT.replacen('e', "é", 1),
        9 => "1-5759e988 -bd862e3fe1be46a994272793".to_owned(),
        10 => String::new(),
        11 => TraceId::generate(g.0.u32(..)).to_string(),
        _ => ROOT.to_owned(),
    }
}

fn parent_value(g: &mut G) -> String {
    match g.0.u8(0..20) {
        0 => PARENT.to_uppercase(),
        1 => PARENT[..15].to_owned(),
        2 => format!("{PARENT}0"),
        3 => "0000000000000000".to_owned(),
        4 => PARENT.replacen('c', "z", 1),
        5 => String::new(),
        6 => SegmentId::generate().to_string(),
        _ => PARENT.to_owned(),
    }
}

fn lineage_value(g: &mut G) -> String {
    g.pick_cloned(&[
        "10:1234abcd:3".to_owned(),
        "0:00000000:0".to_owned(),
        "32767:ffffffff:255".to_owned(),
        "32768:1234abcd:3".to_owned(),
        "a87bd80c:1|68fd508a:5|c512fbe3:2".to_owned(),
        "x y".to_owned(),
        "a\u{7}".to_owned(),
        "é".to_owned(),
        "l".repeat(300),
        String::new(),
    ])
}

/// An unknown `key=value` part (or something that is not one).
fn unknown_part(g: &mut G, i: usize) -> (String, Option<String>) {
    let (k, v): (String, Option<String>) = match g.0.u8(0..22) {
        0 => ("X-Custom".into(), Some("a=b".into())),
        1 => (format!("K{i}\u{1}"), Some("v".into())),
        2 => (format!("K{i}"), Some("v\r\nX-Evil: 1".into())),
        3 => (format!("K{i}"), Some("two words".into())),
        4 => ("Authorization".into(), Some(JWT.into())),
        5 => ("token".into(), Some("abc123secret".into())),
        6 => ("api_key".into(), Some("AKIAIOSFODNN7EXAMPLE".into())),
        7 => (format!("K{i}"), Some("v".repeat(g.0.usize(100..260)))),
        8 => (String::new(), Some("v".into())),
        9 => (format!("NoEquals{i}"), None),
        10 => (format!("K{i}"), Some(String::new())),
        11 => ("Ключ".into(), Some("значение".into())),
        12 => (format!("K{i}"), Some("x\u{0}y".into())),
        13 => ("Self".into(), Some("1-67891234-12456789abcdef012345678".into())),
        14 => ("SELF".into(), Some("anything".into())),
        15 => (format!("K{i}"), Some("\u{7f}".into())),
        _ => (format!("K{i}"), Some(format!("v{}", g.0.u32(..)))),
    };
    (k, v)
}

fn keyed(g: &mut G, k: &str) -> String {
    match g.0.u8(0..8) {
        0 => k.to_lowercase(),
        1 => k.to_uppercase(),
        2 => k
            .chars()
            .enumerate()
            .map(|(i, c)| if i % 2 == 0 { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() })
            .collect(),
        _ => k.to_owned(),
    }
}

fn pad(g: &mut G, s: &str) -> String {
    const WS: [&str; 7] = [" ", "  ", "\t", "\u{a0}", "\u{2003}", "\u{b}", "\n"];
    let before = if g.pct(20) { g.pick_cloned(&WS) } else { "" };
    let after = if g.pct(20) { g.pick_cloned(&WS) } else { "" };
    format!("{before}{s}{after}")
}

/// A random header text.
fn random_header(g: &mut G) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut push = |g: &mut G, k: &str, v: Option<String>| {
        let k = keyed(g, k);
        let k = pad(g, &k);
        parts.push(match v {
            Some(v) => format!("{k}={}", pad(g, &v)),
            None => k,
        });
    };
    if g.pct(96) {
        let v = if g.pct(70) { ROOT.to_owned() } else { root_value(g) };
        push(g, "Root", Some(v));
    }
    if g.pct(85) {
        let v = if g.pct(70) { PARENT.to_owned() } else { parent_value(g) };
        push(g, "Parent", Some(v));
    }
    if g.pct(85) {
        let v = if g.pct(50) {
            "1".to_owned()
        } else {
            g.pick_cloned(&["0", "1", "?", "2", "", "yes", "true", "01", "１"]).to_owned()
        };
        push(g, "Sampled", Some(v));
    }
    if g.pct(35) {
        let v = lineage_value(g);
        push(g, "Lineage", Some(v));
    }
    if g.pct(15) {
        push(g, "Self", Some("1-67891234-12456789abcdef012345678".to_owned()));
    }
    let unknown = match g.0.u8(0..20) {
        0 => g.0.usize(17..40),
        1 => 1000,
        2..=9 => g.0.usize(1..5),
        _ => 0,
    };
    for i in 0..unknown {
        let (k, v) = unknown_part(g, i);
        push(g, &k, v);
    }
    // Duplicates of reserved keys.
    if g.pct(8) {
        let k = g.pick_cloned(&["Root", "Parent", "Sampled", "Lineage"]);
        let v = match k {
            "Root" => root_value(g),
            "Parent" => parent_value(g),
            "Sampled" => g.pick_cloned(&["0", "1", "?"]).to_owned(),
            _ => lineage_value(g),
        };
        push(g, k, Some(v));
    }
    if g.pct(10) {
        parts.push(String::new());
    }
    if g.pct(10) {
        parts.push("   ".to_owned());
    }
    // Random permutation (the Lambda form keeps its order half of the time).
    if g.pct(50) {
        g.0.shuffle(&mut parts);
    }
    parts.join(";")
}

// ------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------

/// Random headers (permutations, key case, whitespace, duplicates, bad ids of each field,
/// Sampled values, Lineage forms, `Self`, unknown keys with controls, spaces and CR/LF,
/// 1000-part headers): the parse agrees with the documented grammar, never panics, and
/// what it formats is a valid header of bounded size that parses back to itself.
#[test]
fn random_headers_parse_by_the_documented_grammar() {
    let started = Instant::now();
    let mut f = Findings::default();
    let (mut ok, mut err) = (0, 0);
    for case in 0..20_000u64 {
        let mut g = G::new(0x7EAD_0000 + case);
        let text = random_header(&mut g);
        let what = format!("case {case}: {:?}", squeeze(&text).chars().take(300).collect::<String>());
        let t0 = Instant::now();
        let got = text.parse::<TraceHeader>();
        if t0.elapsed().as_millis() > 50 {
            f.add("parse time bounded", format!("{what}: {:?} for {} bytes", t0.elapsed(), text.len()));
        }
        match (model_parse(&text), &got) {
            (Ok(m), Ok(h)) => {
                ok += 1;
                if as_model(h) != m {
                    f.add(
                        "H-1..H-3/README parse differs from the documented grammar",
                        format!("{what}: got {:?}, model {m:?}", as_model(h)),
                    );
                }
                check_formatted(&mut f, h, &what);
            }
            (Err(m), Err(e)) => {
                err += 1;
                if error_kind(e) != Some(m) {
                    f.add("README typed error", format!("{what}: got {e:?}, model {m:?}"));
                }
            }
            (m, g) => f.add(
                "H-1..H-3/README accepted or refused against the grammar",
                format!("{what}: got {g:?}, model {m:?}"),
            ),
        }
    }
    eprintln!("{ok} parsed, {err} refused in {:?}", started.elapsed());
    f.assert_none("trace header parsing");
}

/// The Lambda form read at fixed offsets and the general parser agree (docs: "same
/// result, just slower"): every byte in the Sampled position, every id variant.
#[test]
fn the_canonical_form_and_the_general_form_agree() {
    let mut f = Findings::default();
    let mut g = G::new(0xCA_0001);
    for _ in 0..4000 {
        let root = root_value(&mut g);
        let parent = parent_value(&mut g);
        let b = g.0.u8(0..128);
        let sampled = char::from(b);
        let canonical = format!("Root={root};Parent={parent};Sampled={sampled}");
        let general = format!(" {canonical}");
        let (a, c) = (canonical.parse::<TraceHeader>(), general.parse::<TraceHeader>());
        if a != c {
            f.add("canonical and general parse differ", format!("{canonical:?}: {a:?} vs {c:?}"));
        }
        match (model_parse(&canonical), &a) {
            (Ok(m), Ok(h)) if as_model(h) == m => {}
            (Err(m), Err(e)) if error_kind(e) == Some(m) => {}
            (m, got) => f.add("canonical form against the grammar", format!("{canonical:?}: {got:?}, model {m:?}")),
        }
    }
    f.assert_none("canonical form");
}

/// Ids alone: exactly, and generated ids parse back.
#[test]
fn ids_follow_x4_and_x5() {
    let mut f = Findings::default();
    let mut g = G::new(0x1D5);
    const ALPHABET: &[u8] = b"0123456789abcdefABCDEFgG-_ 1\x00";
    for _ in 0..50_000 {
        let r = g.0.usize(0..40);
        let len = g.pick_cloned(&[15usize, 16, 17, 34, 35, 36, r]);
        let mut s: String = (0..len).map(|_| char::from(ALPHABET[g.0.usize(0..ALPHABET.len())])).collect();
        if len == 35 && g.pct(70) {
            s.replace_range(0..2, "1-");
            s.replace_range(10..11, "-");
        }
        if s.parse::<TraceId>().is_ok() != trace_id_ok(&s) {
            f.add("X-5 trace id", format!("{s:?}"));
        }
        if s.parse::<SegmentId>().is_ok() != segment_id_ok(&s) {
            f.add("X-4 segment id", format!("{s:?}"));
        }
    }
    for _ in 0..2000 {
        let t = TraceId::generate(g.0.u32(..));
        let s = SegmentId::generate();
        if !trace_id_ok(t.as_str()) || t.as_str().parse::<TraceId>().ok() != Some(t) {
            f.add("X-5 generated trace id", t.to_string());
        }
        if !segment_id_ok(s.as_str()) || s.as_str().parse::<SegmentId>().ok() != Some(s) {
            f.add("X-4 generated segment id", s.to_string());
        }
    }
    f.assert_none("ids");
}

fn invocation(text: &str) -> Arc<Invocation> {
    let config = Config::builder().build_from(&EnvVars::from_pairs([("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")]));
    let ctx = ContextBuilder::new().trace_header(text.to_owned()).build();
    let inv = Arc::new(Invocation::from_context(&ctx, &config, &ColdStartTracker::new(&Default::default())));
    inv.xray().set_emitter(Arc::new(CapturingEmitter::new()));
    inv
}

/// What a traced invocation propagates (H-4): the header with `Parent` = the subsegment of
/// the call, the same `Root`, `Sampled`, `Lineage` and unknown keys, never `Self`, a valid
/// header of bounded size.
#[test]
fn random_sampled_invocations_propagate_by_h4() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut f = Findings::default();
    let mut traced = 0;
    for case in 0..3000u64 {
        let mut g = G::new(0xD0_0000 + case);
        let text = random_header(&mut g);
        let what = format!("case {case}: {:?}", squeeze(&text).chars().take(300).collect::<String>());
        let Ok(header) = text.parse::<TraceHeader>() else { continue };
        let inv = invocation(&text);
        if inv.trace_header() != Some(&header) {
            f.add("the invocation keeps the parsed header", what.clone());
        }
        if !inv.xray().is_recording() {
            continue;
        }
        traced += 1;
        let (mut id, mut from_guard, mut from_fn, mut nested) = (None, None, None, None);
        rt.block_on(Arc::clone(&inv).scope(async {
            let g = streamer_obs::xray::subsegment("Call");
            id = g.id();
            from_guard = g.downstream_header();
            from_fn = streamer_obs::xray::downstream_header();
            let child = g.child("Inner");
            nested = child.downstream_header().zip(child.id());
        }));
        let Some(h) = from_guard else {
            f.add("H-4 no downstream header in a traced invocation", what.clone());
            continue;
        };
        if from_fn.as_ref() != Some(&h) {
            f.add("docs: xray::downstream_header() = the innermost subsegment's", what.clone());
        }
        let expected = header.with_parent(id.unwrap());
        if h != expected || h.parent() != id.as_ref() || !h.is_sampled() {
            f.add("H-4 same Root, Sampled, Lineage, unknown keys; Parent = the subsegment", format!("{what}: {h}"));
        }
        if let Some((nh, nid)) = nested
            && (nh.parent() != Some(&nid) || nh.root() != header.root())
        {
            f.add("H-4 a nested call's Parent is its own subsegment", format!("{what}: {nh}"));
        }
        check_formatted(&mut f, &h, &what);
    }
    eprintln!("{traced} of 3000 random headers traced, {:?}", started.elapsed());
    f.assert_none("downstream headers");
}

// H-4: an unsampled invocation (and a sampled one calling outside any subsegment) still
// propagates `Root` and `Sampled`, so the callee keeps the caller's trace and decision.
#[test]
fn unsampled_invocations_still_propagate_root_and_sampled() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut f = Findings::default();
    for text in [
        format!("Root={ROOT};Parent={PARENT};Sampled=0"),
        format!("Root={ROOT};Parent={PARENT};Sampled=?"),
        format!("Root={ROOT};Parent={PARENT}"),
        format!("Root={ROOT};Parent={PARENT};Sampled=0;Lineage=10:1234abcd:3"),
    ] {
        let header: TraceHeader = text.parse().unwrap();
        let inv = invocation(&text);
        let (mut outside, mut inside) = (None, None);
        rt.block_on(Arc::clone(&inv).scope(async {
            outside = streamer_obs::xray::downstream_header();
            let g = streamer_obs::xray::subsegment("Call");
            inside = g.downstream_header().or_else(streamer_obs::xray::downstream_header);
        }));
        for (where_, h) in [("outside a subsegment", outside), ("inside a subsegment", inside)] {
            match h {
                Some(h) if h.root() == header.root() && !h.is_sampled() && h.lineage() == header.lineage() => {}
                other => f.add(
                    "H-4 an unsampled invocation propagates Root and Sampled",
                    format!("{text:?} {where_}: {:?}", other.map(|h| h.to_string())),
                ),
            }
        }
    }
    // A sampled invocation calling out before opening any subsegment: the caller's segment
    // (the header's Parent) is the closest parent there is.
    let text = format!("Root={ROOT};Parent={PARENT};Sampled=1");
    let inv = invocation(&text);
    let mut outside = None;
    rt.block_on(Arc::clone(&inv).scope(async {
        outside = streamer_obs::xray::downstream_header();
    }));
    if outside.as_ref().is_none_or(|h| h.root().as_str() != ROOT || !h.is_sampled()) {
        f.add("H-4 a sampled call outside any subsegment propagates Root and Sampled", format!("{outside:?}"));
    }
    f.assert_none("unsampled propagation");
}

// H-3: `Lineage` is passed through unchanged, whatever unknown parts come before it.
#[test]
fn lineage_is_propagated_even_after_large_unknown_parts() {
    let mut f = Findings::default();
    for n in [1usize, 3, 10, 15] {
        let filler: String = (0..n).map(|i| format!(";K{i}={}", "v".repeat(240 / n))).collect();
        for lineage in ["10:1234abcd:3", "a87bd80c:1|68fd508a:5|c512fbe3:2"] {
            let text = format!("Root={ROOT};Parent={PARENT};Sampled=1{filler};Lineage={lineage}");
            let h: TraceHeader = text.parse().unwrap();
            let down = h.with_parent(SegmentId::generate());
            if down.lineage() != Some(lineage) {
                f.add(
                    "H-3 Lineage passed through unchanged",
                    format!("{n} unknown parts first: {}", squeeze(&down.to_string())),
                );
            }
            check_formatted(&mut f, &down, &text);
        }
    }
    f.assert_none("Lineage propagation");
}

// README: unknown parts carrying credentials (a JWT, a `token`/`authorization`/... key) are
// not propagated downstream.
#[test]
fn secrets_in_unknown_keys_are_not_propagated() {
    let mut f = Findings::default();
    for (k, v) in [("Authorization", JWT), ("X-Token", JWT), ("token", "abc123secret"), ("password", "hunter2")] {
        let text = format!("Root={ROOT};Parent={PARENT};Sampled=1;{k}={v}");
        let h: TraceHeader = text.parse().unwrap();
        let down = h.with_parent(SegmentId::generate()).to_string();
        if down.contains(v) {
            f.add("brief: secrets in unknown keys must not propagate", down);
        }
    }
    f.assert_none("secret propagation");
}

/// Control characters, CR/LF, spaces, `;` smuggling and non-ASCII in unknown keys or
/// Lineage never reach the downstream header (README), in any position or case.
#[test]
fn control_characters_never_propagate() {
    let mut f = Findings::default();
    let mut g = G::new(0xC7_0001);
    for case in 0..5000 {
        let c = char::from_u32(
            g.pick_cloned(&[0u32, 1, 9, 10, 11, 12, 13, 27, 32, 127, 0x85, 0xa0, 0x2028, 0x3000, 0xfeff]),
        )
        .unwrap();
        let key = if g.pct(50) { format!("K{c}ey") } else { "Key".to_owned() };
        let value = match g.0.u8(0..3) {
            0 => format!("va{c}lue"),
            1 => format!("{c}"),
            _ => "value".to_owned(),
        };
        let part = if g.pct(20) { format!("Lineage=10:1234{c}abcd:3") } else { format!("{key}={value}") };
        let text = format!("Root={ROOT};Parent={PARENT};Sampled=1;{part};Ok=1");
        let Ok(h) = text.parse::<TraceHeader>() else {
            f.add("a bad unknown part rejects the header", format!("case {case}: {text:?}"));
            continue;
        };
        let down = h.with_parent(SegmentId::generate());
        check_formatted(&mut f, &down, &format!("case {case}: {text:?}"));
        if !down.to_string().ends_with(";Ok=1") {
            f.add("README: a valid unknown part after a dropped one is kept", format!("case {case}: {down}"));
        }
    }
    f.assert_none("control characters");
}
