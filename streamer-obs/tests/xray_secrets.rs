//! An attacker's look at the X-Ray redaction policy (`xray::redact`, `docs/tracing.md`
//! "Secrets", the README's X-Ray limits row "secrets"): every public way of putting text
//! into a subsegment document is fed a secret (JWT, `Bearer`/`Basic` credential,
//! `Authorization:`/`Cookie:` header value, `password=`/`token=`/`X-Amz-Signature=`
//! query value, URL password, connection-string password), and the emitted documents are
//! searched, raw text and every parsed key and string, for the secret. Each document must
//! still parse and keep its ids and the non-secret text around the secret.
//!
//! Cases the documented policy does not name (subsegment names, metadata namespaces, the
//! `http` block's other fields, the `aws` block, ...) are `#[ignore]`d with the reason, so
//! the maintainer can decide whether the policy should cover them.

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use streamer_obs::__private::annotation_arg;
use streamer_obs::config::Config;
use streamer_obs::function::FunctionScope;
use streamer_obs::handler::{ErrorView, HandlerOptions, HandlerScope};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::metrics::EmfPublisher;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingEmitter, CapturingWriter, ContextBuilder};
use streamer_obs::trace_header::{SegmentId, TraceHeader};
use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
use streamer_obs::xray::document::{AwsData, Http, SegmentDocument, Sql, Subsegment};
use streamer_obs::xray::emitter::{SegmentEmitter, UdpEmitter};
use streamer_obs::xray::{self, annotation::AnnotationValue};

use common::HEADER;

const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";

/// The JWT of the brief, and the parts of it that must never be seen.
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
const JWT_PAYLOAD: &str = "eyJzdWIiOiIxIn0";
const JWT_SIG: &str = "c2lnbmF0dXJl";
/// An opaque credential (mixed case and digits: never read as an ordinary word).
const TOK: &str = "Zq9XvT3kLm8RwP2s";
/// RFC 6750's example bearer token.
const RFC_TOK: &str = "mF_9.B5f-4.1JqM";
/// `user:pass` in base64.
const BASIC: &str = "dXNlcjpwYXNz";
const PASSWORD: &str = "hunter2Xy9";
/// Non-secret text that must survive next to the secrets.
const KEEP: &str = "tenant-a";

const JWT_PARTS: &[&str] = &[JWT_PAYLOAD, JWT_SIG];

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

fn invocation() -> (Arc<Invocation>, CapturingEmitter) {
    let ctx = ContextBuilder::new().request_id("req-1").trace_header(HEADER).build();
    let inv = Arc::new(Invocation::from_context(&ctx, &Config::default(), &ColdStartTracker::new(&Default::default())));
    let capture = CapturingEmitter::new();
    inv.xray().set_emitter(Arc::new(capture.clone()));
    (inv, capture)
}

/// Runs `body` inside an invocation (with a sampled header) and returns the raw documents
/// sent at the flush.
fn emitted(body: impl FnOnce()) -> Vec<String> {
    let (inv, capture) = invocation();
    rt().block_on(inv.scope(async move {
        body();
        xray::flush().await;
    }));
    capture.raw()
}

/// Runs `body` inside an invocation, in a subsegment named `Work` (the guard passed in).
fn in_work(body: impl FnOnce(&xray::recorder::SubsegmentGuard)) -> Vec<String> {
    emitted(|| {
        let g = xray::subsegment("Work");
        assert!(g.is_recording());
        body(&g);
        drop(g);
    })
}

/// One owned subsegment written as an independent subsegment document.
fn owned_doc(sub: &Subsegment) -> Vec<String> {
    let header: TraceHeader = HEADER.parse().unwrap();
    let doc = SegmentDocument::new(header.root(), header.parent().unwrap(), sub);
    let mut out = Vec::new();
    doc.write_to(&mut out);
    vec![doc.to_json(), String::from_utf8(out).unwrap()]
}

fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|v| collect_text(v, out)),
        Value::Object(m) => {
            for (k, v) in m {
                out.push_str(k);
                out.push('\n');
                collect_text(v, out);
            }
        }
        Value::Number(n) => {
            out.push_str(&n.to_string());
            out.push('\n');
        }
        Value::Bool(_) | Value::Null => {}
    }
}

fn check_ids(v: &Value) {
    let id = v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}"));
    assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "bad id {id:?}");
    if let Some(children) = v.get("subsegments").and_then(Value::as_array) {
        children.iter().for_each(check_ids);
    }
}

/// Every document parses, keeps its trace id, parent and ids, contains every `keep`
/// text and none of the `secrets` (in its raw text or in any parsed key or string).
#[track_caller]
fn assert_clean(raw: &[String], secrets: &[&str], keep: &[&str]) {
    assert!(!raw.is_empty(), "no document was emitted");
    let mut all = String::new();
    for r in raw {
        let v: Value = serde_json::from_str(r).unwrap_or_else(|e| panic!("invalid JSON ({e}): {r}"));
        assert_eq!(v["trace_id"], ROOT, "{r}");
        assert!(v["parent_id"].is_string(), "{r}");
        check_ids(&v);
        all.push_str(r);
        all.push('\n');
        collect_text(&v, &mut all);
    }
    for s in secrets {
        assert!(!all.contains(s), "secret {s:?} leaked into the document(s):\n{}", raw.join("\n"));
    }
    for k in keep {
        assert!(all.contains(k), "non-secret {k:?} lost from the document(s):\n{}", raw.join("\n"));
    }
}

/// The `secrets` found in `raw` (raw text or any parsed key or string).
fn leaks<'a>(raw: &[String], secrets: &[&'a str]) -> Vec<&'a str> {
    let mut all = String::new();
    for r in raw {
        all.push_str(r);
        if let Ok(v) = serde_json::from_str::<Value>(r) {
            collect_text(&v, &mut all);
        }
    }
    secrets.iter().copied().filter(|s| all.contains(s)).collect()
}

/// Strings holding a credential, each with the secret text that must disappear. The
/// non-secret `KEEP` text is written before each one.
fn free_text_cases() -> Vec<(String, Vec<&'static str>)> {
    vec![
        (format!("{KEEP} jwt {JWT}"), JWT_PARTS.to_vec()),
        (format!("{KEEP} {JWT}"), JWT_PARTS.to_vec()),
        (format!("{KEEP} sent Bearer {TOK}"), vec![TOK]),
        (format!("{KEEP} sent Bearer {RFC_TOK}"), vec![RFC_TOK]),
        (format!("{KEEP} sent bEaReR {TOK}"), vec![TOK]),
        (format!("{KEEP} sent BEARER {TOK}"), vec![TOK]),
        (format!("{KEEP} sent Basic {BASIC}"), vec![BASIC]),
        (format!("{KEEP} Authorization: Basic {BASIC}"), vec![BASIC]),
        (format!("{KEEP} authorization: {TOK}"), vec![TOK]),
        (format!("{KEEP}\nAuthorization: {TOK}\nHost: h"), vec![TOK]),
        (format!("{KEEP} Cookie: session={TOK}; theme=dark"), vec![TOK]),
        (format!("{KEEP} Proxy-Authorization: Bearer {TOK}"), vec![TOK]),
        (format!("{KEEP} GET https://h/x?token={TOK}&page=2"), vec![TOK]),
        (format!("{KEEP} GET https://h/x?access_token={TOK}"), vec![TOK]),
        (format!("{KEEP} https://b.s3.amazonaws.com/k?X-Amz-Signature={TOK}&x=1"), vec![TOK]),
        (format!("{KEEP} https://h/k?X-Amz-Security-Token={TOK}"), vec![TOK]),
        (format!("{KEEP} password={PASSWORD} user=app"), vec![PASSWORD]),
        (format!("{KEEP} client_secret={TOK}"), vec![TOK]),
        (format!("{KEEP} Server=db;User Id=app;Password={PASSWORD};Database=main"), vec![PASSWORD]),
        (format!("{KEEP} {{\"password\":\"{PASSWORD}\",\"user\":\"app\"}}"), vec![PASSWORD]),
        (format!("{KEEP} Bearer {JWT}"), JWT_PARTS.to_vec()),
        (format!("{KEEP} jwt %20{JWT}%20"), JWT_PARTS.to_vec()),
        (format!("{KEEP} id_token={}", JWT.replace('.', "%2E")), vec![JWT_PAYLOAD, JWT_SIG]),
    ]
}

/// Objects holding secrets at any depth, under keys in any case, with the secrets.
fn metadata_cases() -> Vec<(Value, Vec<&'static str>)> {
    let mut deep = json!({"password": PASSWORD, "keep": KEEP});
    for i in 0..40 {
        deep = json!({ format!("level{i}"): deep });
    }
    vec![
        (json!({"user": KEEP, "password": PASSWORD}), vec![PASSWORD]),
        (json!({"user": KEEP, "AUTHORIZATION": format!("Bearer {TOK}")}), vec![TOK]),
        (json!({"user": KEEP, "Authorization": TOK}), vec![TOK]),
        (json!({"user": KEEP, "x_api_key": TOK}), vec![TOK]),
        (json!({"user": KEEP, "apiKey": TOK}), vec![TOK]),
        (json!({"user": KEEP, "SessionToken": TOK}), vec![TOK]),
        (json!({"user": KEEP, "headers": {"Cookie": format!("sid={TOK}")}}), vec![TOK]),
        (json!({"user": KEEP, "pin": {"password": 123_456_789}}), vec!["123456789"]),
        (json!({"user": KEEP, "list": [{"a": [{"b": {"client_secret": TOK}}]}]}), vec![TOK]),
        (deep, vec![PASSWORD]),
        (json!({"user": KEEP, "note": format!("sent Bearer {TOK}")}), vec![TOK]),
        (json!({"user": KEEP, "note": format!("got {JWT}")}), JWT_PARTS.to_vec()),
        (json!({"user": KEEP, "url": format!("https://h/cb?code=1&token={TOK}")}), vec![TOK]),
        (json!({"user": KEEP, "url": format!("https://h/cb?Authorization=Bearer%20{TOK}")}), vec![TOK]),
        // JSON held in a string.
        (json!({"user": KEEP, "body": format!("{{\"password\":\"{PASSWORD}\",\"n\":1}}")}), vec![PASSWORD]),
        (json!({"user": KEEP, "body": format!("{{\"a\":{{\"api_key\":\"{TOK}\"}}}}")}), vec![TOK]),
        (json!({"user": KEEP, "body": format!("[{{\"jwt\":\"{TOK}\"}}]")}), vec![TOK]),
        // JSON in a string in JSON in a string.
        (json!({"user": KEEP, "body": json!({"inner": json!({"token": TOK}).to_string()}).to_string()}), vec![TOK]),
        // A JWT as an object key, at depth.
        (json!({"user": KEEP, "sessions": {JWT: {"n": 1}}}), JWT_PARTS.to_vec()),
        // Form body.
        (json!({"user": KEEP, "form": format!("user=app&password={PASSWORD}&x=1")}), vec![PASSWORD]),
        // A top-level array and a top-level string.
        (json!([KEEP, format!("Bearer {TOK}"), {"token": TOK}]), vec![TOK]),
        (json!(format!("{KEEP} Authorization: Bearer {TOK}")), vec![TOK]),
    ]
}

/// Annotation values under secret-looking keys, whatever their type.
fn secret_key_annotations() -> Vec<(&'static str, AnnotationValue, &'static str)> {
    vec![
        ("auth_token", AnnotationValue::from("Zq9XvT3kLm8RwP2s"), TOK),
        ("AUTHORIZATION", AnnotationValue::from("Zq9XvT3kLm8RwP2s"), TOK),
        ("Password", AnnotationValue::from(987_654_321_i64), "987654321"),
        ("user_password", AnnotationValue::number(13_579.246_8).unwrap(), "13579.2468"),
        ("x_api_key", AnnotationValue::from("Zq9XvT3kLm8RwP2s"), TOK),
        ("ApiKey", AnnotationValue::from("Zq9XvT3kLm8RwP2s"), TOK),
        ("session_cookie", AnnotationValue::from("Zq9XvT3kLm8RwP2s"), TOK),
        ("client_secret", AnnotationValue::from("Zq9XvT3kLm8RwP2s"), TOK),
        ("id_jwt", AnnotationValue::from("Zq9XvT3kLm8RwP2s"), TOK),
    ]
}

/// The `Work` subsegment of the first document.
fn work(raw: &[String]) -> Value {
    let v: Value = serde_json::from_str(&raw[0]).unwrap();
    assert_eq!(v["name"], "Work", "{v}");
    v
}

// ---------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------

#[test]
fn xray_annotate_free_text_credentials() {
    for (text, secrets) in free_text_cases() {
        let raw = in_work(|_| xray::annotate("note", text.as_str()).unwrap());
        assert_clean(&raw, &secrets, &[KEEP, "note"]);
        // An owned `String` too.
        let raw = in_work(|_| xray::annotate("note", text.clone()).unwrap());
        assert_clean(&raw, &secrets, &[KEEP, "note"]);
    }
}

#[test]
fn xray_annotate_secret_keys_any_type() {
    for (key, value, secret) in secret_key_annotations() {
        let raw = in_work(|_| {
            xray::annotate(key, value.clone()).unwrap();
            xray::annotate("tenant_id", KEEP).unwrap();
        });
        assert_clean(&raw, &[secret], &[KEEP, key]);
        assert_eq!(work(&raw)["annotations"][key], "[REDACTED]", "{key}");
    }
}

#[test]
fn guard_annotate_free_text_and_secret_keys() {
    for (text, secrets) in free_text_cases() {
        let raw = in_work(|g| g.annotate("note", text.as_str()).unwrap());
        assert_clean(&raw, &secrets, &[KEEP]);
        // On a child opened through the guard.
        let raw = in_work(|g| {
            let c = g.child("Child");
            c.annotate("note", text.as_str()).unwrap();
        });
        assert_clean(&raw, &secrets, &[KEEP, "Child"]);
    }
    for (key, value, secret) in secret_key_annotations() {
        let raw = in_work(|g| g.annotate(key, value.clone()).unwrap());
        assert_clean(&raw, &[secret], &[key]);
    }
}

#[test]
fn owned_subsegment_annotate() {
    for (text, secrets) in free_text_cases() {
        let mut s = Subsegment::new(SegmentId::generate(), "Work", 1_000_000);
        s.annotate("note", text.as_str()).unwrap();
        assert_clean(&owned_doc(&s), &secrets, &[KEEP]);
    }
    for (key, value, secret) in secret_key_annotations() {
        let mut s = Subsegment::new(SegmentId::generate(), "Work", 1_000_000);
        s.annotate(key, value).unwrap();
        assert_clean(&owned_doc(&s), &[secret], &[key]);
    }
}

/// Annotation values with a secret straddling the 1000-character cut: the first `kept`
/// characters of the secret survive the cut. Returns, per case, the stored value.
fn cut_annotations() -> Vec<(&'static str, &'static str, usize, String)> {
    let cases: &[(&str, &str)] =
        &[(" ", JWT), (" Bearer ", TOK), (" Bearer ", RFC_TOK), (" ?token=", TOK), (" Authorization: ", TOK)];
    let mut out = Vec::new();
    for &(marker, secret) in cases {
        for kept in 1..=secret.len() {
            let pad = 1000 - marker.len() - kept;
            let text = format!("{}{marker}{secret} and more text after it", "a".repeat(pad));
            for via_guard in [false, true] {
                let raw = in_work(|g| {
                    if via_guard {
                        g.annotate("note", text.clone()).unwrap();
                    } else {
                        xray::annotate("note", text.as_str()).unwrap();
                    }
                });
                assert_clean(&raw, &[], &["Work"]);
                let stored = work(&raw)["annotations"]["note"].as_str().unwrap().to_owned();
                out.push((marker, secret, kept, stored));
            }
        }
    }
    out
}

/// A value over 1000 characters is cut, and the cut comes before redaction: a JWT cut
/// inside its payload is no longer JWT-shaped, and the start of its payload stays.
/// (`Http::url` redacts before its cut for exactly this reason.)
#[test]
fn annotation_cut_at_1000_characters_never_leaves_part_of_a_secret() {
    let mut failures = Vec::new();
    for (marker, secret, kept, stored) in cut_annotations() {
        // A JWT's header alone says nothing; 4 characters of its payload, or of an opaque
        // token, are part of the secret.
        let min = if secret == JWT { 25 } else { 4 };
        if kept >= min {
            let part = &secret[..kept];
            let tail = if secret == JWT { &part[21..] } else { part };
            if stored.contains(tail) {
                failures
                    .push(format!("{marker:?} cut after {kept} chars: stored ends {:?}", &stored[stored.len() - 45..]));
            }
        }
    }
    failures.dedup();
    assert!(failures.is_empty(), "{} leaks:\n{}", failures.len(), failures.join("\n"));
}

/// The same cut, then redaction: `[REDACTED]` (10 characters) replacing a token cut to
/// fewer characters makes the stored value longer than the 1000 characters an
/// annotation string may have (`AnnotationValue::String`: "at most 1000 characters").
#[test]
fn redacted_annotation_is_still_at_most_1000_characters() {
    let mut too_long = Vec::new();
    for (marker, _, kept, stored) in cut_annotations() {
        let n = stored.chars().count();
        if n > 1000 {
            too_long.push(format!(
                "{marker:?} cut after {kept} chars: {n} characters, ending {:?}",
                &stored[stored.len() - 30..]
            ));
        }
    }
    too_long.dedup();
    assert!(too_long.is_empty(), "{} values over 1000 characters:\n{}", too_long.len(), too_long.join("\n"));
}

/// The same at the cut of a handler's and a function's annotations.
#[test]
fn scope_annotation_cut_never_leaves_half_a_jwt() {
    let pad = 1000 - 1 - 40;
    let text = format!("{} {JWT}", "a".repeat(pad));
    let partial = &JWT[21..40];
    let raw = in_work(|_| {
        let mut f = FunctionScope::new("Fn", tracing::Span::none());
        f.annotate("note", text.as_str());
        f.annotate_all([("note2", annotation_arg(text.as_str()))]);
        f.run_sync_plain(|| ());
    });
    assert_clean(&raw, &[partial], &["Fn"]);
}

#[test]
fn very_long_annotation_with_the_secret_far_past_the_cut_and_before_it() {
    let before = format!("{KEEP} Bearer {TOK} {}", "x".repeat(100_000));
    let after = format!("{KEEP} {} Bearer {TOK}", "x".repeat(100_000));
    let raw = in_work(|_| {
        xray::annotate("before", before.as_str()).unwrap();
        xray::annotate("after", after.clone()).unwrap();
    });
    assert_clean(&raw, &[TOK], &[KEEP]);
}

// ---------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------

#[test]
fn xray_metadata_values_at_any_depth() {
    for (value, secrets) in metadata_cases() {
        let raw = in_work(|_| xray::metadata("request", &value).unwrap());
        assert_clean(&raw, &secrets, &[KEEP, "request"]);
        let raw = in_work(|_| xray::metadata_in("streamer", "request", &value).unwrap());
        assert_clean(&raw, &secrets, &[KEEP, "request", "streamer"]);
    }
}

#[test]
fn guard_metadata_values_at_any_depth() {
    for (value, secrets) in metadata_cases() {
        let raw = in_work(|g| g.metadata("request", &value).unwrap());
        assert_clean(&raw, &secrets, &[KEEP]);
        let raw = in_work(|g| g.metadata_in("service_x", "request", value.clone()).unwrap());
        assert_clean(&raw, &secrets, &[KEEP]);
    }
}

#[test]
fn owned_subsegment_add_metadata() {
    for (value, secrets) in metadata_cases() {
        let mut s = Subsegment::new(SegmentId::generate(), "Work", 1_000_000);
        s.add_metadata("default", "request", value).unwrap();
        assert_clean(&owned_doc(&s), &secrets, &[KEEP]);
    }
}

#[test]
fn metadata_under_secret_keys_any_type() {
    for key in ["password", "AUTHORIZATION", "session_token", "x_api_key", "Cookie", "jwt"] {
        for value in [json!(TOK), json!(987_654_321), json!({"inner": TOK}), json!([TOK])] {
            let raw = in_work(|g| {
                xray::metadata(key, &value).unwrap();
                g.metadata_in("ns", key, &value).unwrap();
                xray::metadata("keep", KEEP).unwrap();
            });
            assert_clean(&raw, &[TOK, "987654321"], &[KEEP, key]);
            assert_eq!(work(&raw)["metadata"]["default"][key], "[REDACTED]");
        }
    }
}

/// A `Serialize` struct (not a `json!` value) with secret fields.
#[test]
fn metadata_of_a_serialize_struct() {
    #[derive(serde::Serialize)]
    struct Creds<'a> {
        user: &'a str,
        password: &'a str,
        #[serde(rename = "Authorization")]
        auth: String,
        nested: Vec<Inner<'a>>,
    }
    #[derive(serde::Serialize)]
    struct Inner<'a> {
        api_key: &'a str,
        url: String,
    }
    let c = Creds {
        user: KEEP,
        password: PASSWORD,
        auth: format!("Bearer {TOK}"),
        nested: vec![Inner { api_key: TOK, url: format!("https://db/x?token={TOK}") }],
    };
    let raw = in_work(|g| {
        xray::metadata("creds", &c).unwrap();
        g.metadata("creds2", &c).unwrap();
    });
    assert_clean(&raw, &[PASSWORD, TOK], &[KEEP]);
}

/// A JWT as the metadata key itself.
#[test]
fn jwt_as_metadata_key() {
    let key = format!("session {JWT}");
    let raw = in_work(|g| {
        xray::metadata(&key, KEEP).unwrap();
        g.metadata_in("ns", JWT, KEEP).unwrap();
        xray::metadata(JWT, json!({"a": KEEP})).unwrap();
    });
    assert_clean(&raw, JWT_PARTS, &[KEEP]);
    let mut s = Subsegment::new(SegmentId::generate(), "Work", 1_000_000);
    s.add_metadata("default", JWT, json!(KEEP)).unwrap();
    assert_clean(&owned_doc(&s), JWT_PARTS, &[KEEP]);
}

/// Very long metadata (the size guard trims the document) with secrets everywhere: what
/// the guard keeps, and its notes listing what it removed, hold no secret.
#[test]
fn oversized_metadata_trimmed_by_the_size_guard() {
    let big = format!("{KEEP} {} Bearer {TOK}", "y".repeat(70_000));
    let raw = in_work(|_| {
        xray::metadata("big", &big).unwrap();
        xray::metadata(&format!("k {JWT}"), "y".repeat(70_000)).unwrap();
        xray::metadata("request", json!({"password": PASSWORD, "n": KEEP})).unwrap();
        xray::annotate("note", format!("{KEEP} Bearer {TOK}")).unwrap();
    });
    assert_clean(&raw, &[TOK, PASSWORD, JWT_PAYLOAD, JWT_SIG], &[KEEP]);
}

// ---------------------------------------------------------------------------------------
// http and sql blocks
// ---------------------------------------------------------------------------------------

fn url_cases() -> Vec<(String, Vec<&'static str>, &'static str)> {
    vec![
        (format!("https://app:{PASSWORD}@api.example.com/x"), vec![PASSWORD], "api.example.com"),
        (format!("HTTPS://app:{PASSWORD}@api.example.com/x"), vec![PASSWORD], "api.example.com"),
        (format!("https://app:{PASSWORD}@api.example.com"), vec![PASSWORD], "api.example.com"),
        (format!("https://app:{PASSWORD}@api.example.com?x=1"), vec![PASSWORD], "api.example.com"),
        (format!("https://api.example.com/x?token={TOK}&page=2"), vec![TOK], "page=2"),
        (format!("https://api.example.com/x?TOKEN={TOK}"), vec![TOK], "api.example.com"),
        (format!("https://api.example.com/x?page=2&access_token={TOK}#frag"), vec![TOK], "page=2"),
        (format!("https://b.s3.amazonaws.com/k?X-Amz-Signature={TOK}&x=1"), vec![TOK], "x=1"),
        (format!("https://b.s3.amazonaws.com/k?x-amz-signature={TOK}"), vec![TOK], "b.s3.amazonaws.com"),
        (format!("https://b.s3.amazonaws.com/k?X-Amz-Security-Token={TOK}&x=1"), vec![TOK], "x=1"),
        (format!("https://h/cb?password={PASSWORD}"), vec![PASSWORD], "https://h/cb"),
        (format!("https://h/cb?api_key={TOK}"), vec![TOK], "https://h/cb"),
        (format!("https://h/cb?api-key={TOK}"), vec![TOK], "https://h/cb"),
        (format!("https://h/cb?Authorization=Bearer%20{TOK}"), vec![TOK], "https://h/cb"),
        (format!("https://h/cb?id_token={JWT}"), JWT_PARTS.to_vec(), "https://h/cb"),
        (format!("https://h/cb/{JWT}/x"), JWT_PARTS.to_vec(), "https://h/cb"),
        (format!("https://h/cb#access_token={TOK}&state=1"), vec![TOK], "https://h/cb"),
        // The password of the user information, longer than the 250-character cut.
        (format!("https://app:{PASSWORD}{}@h/x", "p".repeat(300)), vec![PASSWORD], "https://app"),
        // A secret parameter after the 250-character cut's boundary, cut in half.
        (format!("https://h/{}?token={TOK}", "p".repeat(230)), vec![&TOK[..4]], "https://h/"),
    ]
}

fn assert_url_clean(raw: &[String], secrets: &[&str], keep: &str) {
    assert_clean(raw, secrets, &[keep]);
    // The block is still there (only the secret is gone).
    let v: Value = serde_json::from_str(&raw[0]).unwrap();
    assert!(v["http"]["request"]["url"].is_string(), "{v}");
}

#[test]
fn http_url_builder() {
    for (url, secrets, keep) in url_cases() {
        let raw = in_work(|g| g.set_http(Http::default().method("GET").url(url.as_str())));
        assert_url_clean(&raw, &secrets, keep);
    }
}

#[test]
fn http_url_direct_field_assignment_then_set() {
    for (url, secrets, keep) in url_cases() {
        // Struct literal.
        let raw = in_work(|g| g.set_http(Http { request_url: Some(url.clone()), ..Http::default() }));
        assert_url_clean(&raw, &secrets, keep);
        // Field assigned after the builder redacted another URL.
        let raw = in_work(|g| {
            let mut h = Http::default().url("https://safe/");
            h.request_url = Some(url.clone());
            g.set_http(h);
        });
        assert_url_clean(&raw, &secrets, keep);
        // On an owned subsegment.
        let mut s = Subsegment::new(SegmentId::generate(), "Work", 1_000_000);
        s.set_http(Http { request_url: Some(url.clone()), ..Http::default() });
        assert_url_clean(&owned_doc(&s), &secrets, keep);
    }
}

#[test]
fn http_update_http() {
    for (url, secrets, keep) in url_cases() {
        let raw = in_work(|g| g.update_http(|h| h.request_url = Some(url.clone())));
        assert_url_clean(&raw, &secrets, keep);
        // Set clean, then updated with the secret, then updated again without touching it.
        let raw = in_work(|g| {
            g.set_http(Http::default().url("https://safe/"));
            g.update_http(|h| h.request_url = Some(url.clone()));
            g.update_http(|h| h.response_status = Some(200));
        });
        assert_url_clean(&raw, &secrets, keep);
    }
}

/// A password holding a character that ends the authority (`/`, `?`, `#`) when it is not
/// percent-encoded: the module doc promises a careless `@` is removed whole; the same
/// carelessness with these leaves the password in the document.
#[test]
fn url_password_with_unencoded_delimiters() {
    let mut failures = Vec::new();
    for pw in ["hun#ter2Xy9", "hun?ter2Xy9", "hun/ter2Xy9"] {
        let url = format!("postgres://app:{pw}@db.internal:5432/main");
        let raw = in_work(|g| g.set_http(Http::default().url(url.as_str())));
        if !leaks(&raw, &["ter2Xy9"]).is_empty() {
            failures.push(format!("Http::url({url:?}) -> {:?}", work(&raw)["http"]["request"]["url"]));
        }
        let raw = in_work(|g| g.set_sql(Sql { url: Some(url.clone()), ..Default::default() }));
        if !leaks(&raw, &["ter2Xy9"]).is_empty() {
            failures.push(format!("Sql.url {url:?} -> {:?}", work(&raw)["sql"]["url"]));
        }
    }
    assert!(failures.is_empty(), "{} leaks:\n{}", failures.len(), failures.join("\n"));
}

fn sql_cases() -> Vec<(String, &'static str)> {
    vec![
        (format!("Server=db;User Id=app;Password={PASSWORD};Database=main"), "Database=main"),
        (format!("Server=db;User Id=app;password = {PASSWORD} ;Database=main"), "Database=main"),
        (format!("Server=db;PWD={{{PASSWORD};x}}}}y}};Uid=u"), "Uid=u"),
        (format!("Server=db;Password=\"{PASSWORD};x\"\"y\";Database=main"), "Database=main"),
        (format!("Server=db;Password='{PASSWORD}'"), "Server=db"),
        (format!("Password={PASSWORD}"), ""),
        (format!("Data Source=db;Initial Catalog=main;User ID=app;Password={PASSWORD}"), "Initial Catalog=main"),
        (format!("postgres://app:{PASSWORD}@db:5432/main"), "db:5432/main"),
        (format!("postgresql://app:{PASSWORD}@db1:5432,db2:5432/main?sslmode=require"), "sslmode=require"),
        (format!("mysql://app:{PASSWORD}@db/main"), "mysql://app@db/main"),
        (format!("jdbc:postgresql://db/main?user=app&password={PASSWORD}"), "jdbc:postgresql://db/main"),
        (format!("jdbc:sqlserver://db:1433;databaseName=main;user=app;password={PASSWORD}"), "databaseName=main"),
        (format!("mongodb+srv://app:{PASSWORD}@cluster0.example.net/?retryWrites=true"), "cluster0.example.net"),
        (format!("Server=db;Password={PASSWORD}{};Database=main", "q".repeat(300)), "Server=db"),
    ]
}

#[test]
fn sql_url_and_connection_string() {
    for (s, keep) in sql_cases() {
        for as_url in [false, true] {
            let sql = if as_url {
                Sql { url: Some(s.clone()), database_type: Some("PostgreSQL".into()), ..Default::default() }
            } else {
                Sql {
                    connection_string: Some(s.clone()),
                    database_type: Some("PostgreSQL".into()),
                    ..Default::default()
                }
            };
            let raw = in_work(|g| g.set_sql(sql.clone()));
            assert_clean(&raw, &[PASSWORD], &[keep, "PostgreSQL"]);
            let mut sub = Subsegment::new(SegmentId::generate(), "Work", 1_000_000);
            sub.set_sql(sql);
            assert_clean(&owned_doc(&sub), &[PASSWORD], &[keep, "PostgreSQL"]);
        }
    }
}

/// The `sql` block's other fields are not named by the policy (only `url` and
/// `connection_string` are recorded "without passwords").
#[test]
#[ignore = "not covered by the documented policy: every sql string is scrubbed of JWTs and credentials, but a password appended to a user name (`app:PASSWORD`) has no marker to recognise"]
fn sql_other_fields() {
    let raw = in_work(|g| {
        g.set_sql(Sql {
            user: Some(format!("app:{PASSWORD}")),
            sanitized_query: Some(format!("SELECT 1 -- Bearer {TOK}")),
            driver_version: Some(JWT.into()),
            database_type: Some(KEEP.into()),
            ..Default::default()
        })
    });
    assert_clean(&raw, &[PASSWORD, TOK, JWT_PAYLOAD], &[KEEP]);
}

#[test]
fn http_other_fields() {
    let raw = in_work(|g| {
        g.set_http(
            Http::default()
                .method(format!("GET Bearer {TOK}"))
                .user_agent(format!("sdk/1.0 {JWT}"))
                .client_ip(format!("10.0.0.1 token={TOK}"))
                .url(format!("https://{KEEP}/x")),
        )
    });
    assert_clean(&raw, &[TOK, JWT_PAYLOAD], &[KEEP]);
}

#[test]
fn aws_block_fields() {
    let raw = in_work(|g| {
        g.update_aws(|a| {
            a.operation = Some("SendMessage".into());
            a.queue_url = Some(format!("https://sqs.eu-west-1.amazonaws.com/1/q?X-Amz-Signature={TOK}"));
            a.request_id = Some(JWT.into());
            a.table_name = Some(KEEP.into());
        })
    });
    assert_clean(&raw, &[TOK, JWT_PAYLOAD], &[KEEP]);
    let mut s = Subsegment::new(SegmentId::generate(), "Work", 1_000_000);
    s.set_aws(AwsData { account_id: Some(format!("Bearer {TOK}")), region: Some(KEEP.into()), ..Default::default() });
    assert_clean(&owned_doc(&s), &[TOK], &[KEEP]);
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Msg(String, Option<Box<Msg>>);

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Msg {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.as_deref().map(|m| m as &(dyn std::error::Error + 'static))
    }
}

#[test]
fn record_error_messages_are_scrubbed() {
    for (text, secrets) in free_text_cases() {
        let err = Msg(text.clone(), None);
        let raw = in_work(|_| assert!(xray::record_error(&err, ErrorKind::Fault)));
        assert_clean(&raw, &secrets, &[KEEP]);
        let raw = in_work(|g| g.record_error(&err, ErrorKind::Error));
        assert_clean(&raw, &secrets, &[KEEP]);
        let raw = in_work(|g| g.record_error_with(&err, &ErrorDetails::new(ErrorKind::Fault).remote(true)));
        assert_clean(&raw, &secrets, &[KEEP]);
        // As the source of an outer error.
        let outer = Msg(format!("request failed {KEEP}"), Some(Box::new(Msg(text.clone(), None))));
        let raw = in_work(|_| assert!(xray::record_error(&outer, ErrorKind::Fault)));
        assert_clean(&raw, &secrets, &[KEEP, "request failed"]);
    }
}

/// A message longer than the 1000-character cut with the secret straddling it.
#[test]
fn record_error_message_cut_never_leaves_half_a_secret() {
    for (marker, secret) in [(" ", JWT), (" Bearer ", TOK), (" token=", TOK)] {
        for kept in [6, 10, 30] {
            if kept >= secret.len() {
                continue;
            }
            let pad = 1000 - marker.len() - kept;
            let err = Msg(format!("{}{marker}{secret} tail", "a".repeat(pad)), None);
            let raw = in_work(|_| assert!(xray::record_error(&err, ErrorKind::Fault)));
            let leaked = if secret == JWT { JWT_PAYLOAD } else { &secret[..kept] };
            assert_clean(&raw, &[leaked], &[]);
        }
    }
}

#[test]
fn error_type_names() {
    let ty = format!("Bearer {TOK}");
    let raw = in_work(|g| {
        g.record_error_with(&Msg(KEEP.into(), None), &ErrorDetails::new(ErrorKind::Fault).type_name(&ty));
    });
    assert_clean(&raw, &[TOK], &[KEEP]);
}

// ---------------------------------------------------------------------------------------
// Handler and function scopes
// ---------------------------------------------------------------------------------------

fn telemetry() -> (Telemetry, CapturingEmitter) {
    let xray = CapturingEmitter::new();
    let telemetry = Telemetry::builder(common::config(&[]))
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .metrics_publisher(Arc::new(EmfPublisher::new(CapturingWriter::new())))
        .emitter(Arc::new(xray.clone()))
        .build();
    (telemetry, xray)
}

/// Runs a handler named `name`; `body` gets the scope before `run`; the handler returns
/// `result`; returns the raw documents.
fn handler(
    name: &'static str,
    body: impl FnOnce(&HandlerScope),
    result: Result<Value, ErrorView>,
    capture_response: bool,
) -> Vec<String> {
    let (telemetry, xray) = telemetry();
    let ctx = ContextBuilder::new().request_id("req-1").trace_header(HEADER).build();
    rt().block_on(async {
        let scope = HandlerScope::with_telemetry(
            telemetry,
            HandlerOptions::new(name).capture_response(capture_response),
            &ctx,
            tracing::Span::none(),
        );
        body(&scope);
        let _ = scope.run(async move { result }, |e: &ErrorView| e.clone(), |v: &Value| Some(v.clone())).await;
    });
    xray.raw()
}

#[test]
fn handler_scope_annotate_and_metadata() {
    for (text, secrets) in free_text_cases() {
        let raw = handler(
            "Handle",
            |s| {
                s.annotate("note", text.as_str());
                s.annotate(String::from("note_owned"), text.clone());
                s.annotate_all([("note_all", annotation_arg(text.as_str()))]);
                s.metadata("text", &text);
            },
            Ok(json!({"ok": KEEP})),
            false,
        );
        assert_clean(&raw, &secrets, &[KEEP, "Handle"]);
    }
    for (value, secrets) in metadata_cases() {
        let raw = handler("Handle", |s| s.metadata(String::from("request"), &value), Ok(json!(1)), false);
        assert_clean(&raw, &secrets, &[KEEP]);
    }
    for (key, value, secret) in secret_key_annotations() {
        let raw = handler(
            "Handle",
            |s| {
                let v = match &value {
                    AnnotationValue::String(t) => annotation_arg(t.as_str().to_owned()),
                    AnnotationValue::Int(i) => annotation_arg(*i),
                    AnnotationValue::Float(f) => annotation_arg(*f),
                    AnnotationValue::Bool(b) => annotation_arg(*b),
                };
                s.annotate(key.to_owned(), v.clone());
                s.annotate_all([("secret_k", v)]);
            },
            Ok(json!(1)),
            false,
        );
        assert_clean(&raw, &[secret], &[key]);
    }
}

/// The annotations written as the handler subsegment opens (`#[instrumented]`'s
/// `annotations(...)`), stored under the opening lock.
#[test]
fn handler_open_annotations() {
    let (telemetry, xray) = telemetry();
    let ctx = ContextBuilder::new().request_id("req-1").trace_header(HEADER).build();
    let note = format!("{KEEP} Bearer {TOK}");
    rt().block_on(telemetry.scope(async {
        let pending =
            HandlerScope::prepare(HandlerOptions::new("Handle").capture_response(false), &ctx, tracing::Span::none());
        let scope = pending.open([
            ("tenant_id", annotation_arg(KEEP)),
            ("access_token", annotation_arg(TOK)),
            ("pin_password", annotation_arg(123_456_789_i64)),
            ("note", annotation_arg(note.as_str())),
            ("jwt_value", annotation_arg(JWT.to_owned())),
        ]);
        let _ = scope.run(async { Ok::<_, ErrorView>(json!(1)) }, |e: &ErrorView| e.clone(), |_| None).await;
    }));
    assert_clean(&xray.raw(), &[TOK, "123456789", JWT_PAYLOAD, JWT_SIG], &[KEEP, "tenant_id"]);
}

#[test]
fn handler_error_and_captured_response() {
    for (text, secrets) in free_text_cases() {
        // The error's message, through the lifecycle's cause.
        let raw = handler("Handle", |_| {}, Err(ErrorView::new("AuthError", text.clone())), false);
        assert_clean(&raw, &secrets, &[KEEP, "AuthError"]);
    }
    for (value, secrets) in metadata_cases() {
        // The captured response, redacted with the process's (default) list.
        let raw = handler("Handle", |_| {}, Ok(value.clone()), true);
        assert_clean(&raw, &secrets, &[KEEP]);
    }
}

#[test]
fn function_scope_annotate_metadata_and_error() {
    for (text, secrets) in free_text_cases() {
        let raw = emitted(|| {
            let mut f = FunctionScope::new("Validate", tracing::Span::none());
            f.annotate("note", text.as_str());
            f.annotate(String::from("note2"), text.clone());
            f.annotate_all([("note3", annotation_arg(text.as_str()))]);
            f.metadata("text", &text);
            let _ = f.run_sync(|| Err::<(), _>(Msg(text.clone(), None)), |e| ErrorView::new("E", e.0.clone()));
        });
        assert_clean(&raw, &secrets, &[KEEP, "Validate"]);
    }
    for (value, secrets) in metadata_cases() {
        let raw = emitted(|| {
            let mut f = FunctionScope::new("Validate", tracing::Span::none());
            f.metadata(String::from("request"), &value);
            f.run_sync_plain(|| ());
        });
        assert_clean(&raw, &secrets, &[KEEP]);
    }
    for (key, value, secret) in secret_key_annotations() {
        let raw = emitted(|| {
            let mut f = FunctionScope::new("Validate", tracing::Span::none());
            let v = match &value {
                AnnotationValue::String(t) => annotation_arg(t.as_str().to_owned()),
                AnnotationValue::Int(i) => annotation_arg(*i),
                AnnotationValue::Float(f) => annotation_arg(*f),
                AnnotationValue::Bool(b) => annotation_arg(*b),
            };
            f.annotate(key, v.clone());
            f.annotate_all([("api_key", v)]);
            f.run_sync_plain(|| ());
        });
        assert_clean(&raw, &[secret], &[key]);
    }
}

// ---------------------------------------------------------------------------------------
// Keys in other spellings, Unicode tricks
// ---------------------------------------------------------------------------------------

/// `Api-Key` (and `X-Api-Key`, the usual header) contains neither `api_key` nor `apikey`
/// literally; the policy's `name=value` rule treats `-` and `_` alike, the key rule
/// does not.
#[test]
fn hyphenated_api_key_names() {
    let mut failures = Vec::new();
    for key in ["Api-Key", "X-Api-Key", "x-api-key"] {
        let raw = in_work(|g| g.metadata("headers", json!({ key: TOK, "host": KEEP })).unwrap());
        assert_clean(&raw, &[], &[KEEP, key]);
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("metadata object key {key:?}"));
        }
        let raw = in_work(|g| g.metadata(key, TOK).unwrap());
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("metadata entry key {key:?}"));
        }
        // JSON text held in a metadata string (parsed, then redacted by key).
        let raw = in_work(|g| g.metadata("body", format!("{{\"{key}\":\"{TOK}\"}}")).unwrap());
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("JSON-in-string key {key:?}"));
        }
        // The same text as an annotation (log-text rules: quoted name, then value).
        let raw = in_work(|_| xray::annotate("body", format!("{{\"{key}\":\"{TOK}\"}}")).unwrap());
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("annotation JSON text key {key:?}"));
        }
        // A `Debug` header pair.
        let raw = in_work(|_| xray::annotate("hdr", format!("{:?}", [(key, TOK)])).unwrap());
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("annotation Debug pair {key:?}"));
        }
        let raw = in_work(|_| xray::annotate("q", format!("https://h/?{key}={TOK}")).unwrap());
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("annotation query parameter {key:?}"));
        }
    }
    assert!(failures.is_empty(), "{} leaks:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn keys_in_other_cases() {
    for key in ["AUTHORIZATION", "Authorization", "PassWord", "X_API_KEY", "x_api_key", "ApiKey", "SET-COOKIE"] {
        let raw = in_work(|g| g.metadata("headers", json!({ key: TOK, "host": KEEP })).unwrap());
        assert_clean(&raw, &[TOK], &[KEEP, key]);
    }
}

/// Mixed case and other whitespace after the scheme: HTTP auth schemes are
/// case-insensitive (RFC 9110 11.1) and a tab is whitespace.
#[test]
fn scheme_case_and_ascii_whitespace() {
    for text in [
        format!("{KEEP} bEaReR {TOK}"),
        format!("{KEEP} bearer {TOK}"),
        format!("{KEEP} BASIC {BASIC}"),
        format!("{KEEP} Bearer\t{TOK}"),
        format!("{KEEP} Bearer  {TOK}"),
        format!("{KEEP} AUTHORIZATION: {TOK}"),
        format!("{KEEP} cookie: sid={TOK}"),
    ] {
        let raw = in_work(|_| xray::annotate("note", text.as_str()).unwrap());
        assert_clean(&raw, &[TOK, BASIC], &[KEEP]);
    }
}

#[test]
#[ignore = "not covered by the documented policy: credentials are recognised by ASCII markers (`Bearer`, `Authorization:`, `token=`); full-width or zero-width-spliced markers and a non-ASCII space are not credentials any server accepts"]
fn unicode_disguised_markers() {
    for text in [
        format!("{KEEP} Ｂｅａｒｅｒ {TOK}"),
        format!("{KEEP} Bea\u{200B}rer {TOK}"),
        format!("{KEEP} Bearer\u{00A0}{TOK}"),
        format!("{KEEP} Bearer\u{2003}{TOK}"),
        format!("{KEEP} Authorization\u{FF1A} {TOK}"),
        format!("{KEEP} ｔｏｋｅｎ={TOK}"),
    ] {
        let raw = in_work(|_| xray::annotate("note", text.as_str()).unwrap());
        assert_clean(&raw, &[TOK], &[KEEP]);
    }
}

#[test]
#[ignore = "not covered by the documented policy: the free-text rule needs whitespace after `Bearer`/`Basic`; a percent-encoded space is only handled inside a secret name=value pair"]
fn percent_encoded_space_after_scheme() {
    let raw = in_work(|_| xray::annotate("note", format!("{KEEP} Bearer%20{TOK}")).unwrap());
    assert_clean(&raw, &[TOK], &[KEEP]);
}

/// A JWT with a zero-width space in it is no longer a JWT to any verifier, but the
/// three parts are still there; likewise full-width dots.
#[test]
#[ignore = "not covered by the documented policy: a JWT-shaped run is `eyJ….….…` (also `%2E` dots); a JWT spliced with invisible or full-width characters is not recognised"]
fn jwt_spliced_with_unicode() {
    for text in [JWT.replace('.', "\u{200B}.\u{200B}"), JWT.replace('.', "\u{FF0E}"), JWT.replace('.', "\u{2024}")] {
        let raw = in_work(|_| xray::annotate("note", format!("{KEEP} {text}")).unwrap());
        assert_clean(&raw, JWT_PARTS, &[KEEP]);
    }
}

// ---------------------------------------------------------------------------------------
// Names and namespaces: text the policy does not name
// ---------------------------------------------------------------------------------------

#[test]
fn subsegment_names() {
    let raw = emitted(|| {
        let _a = xray::subsegment(&format!("GET https://h/x?token={TOK}"));
        let b = xray::subsegment(JWT);
        let _c = b.child(&format!("Bearer {TOK}"));
        let _f = FunctionScope::new(format!("fn {JWT}"), tracing::Span::none());
    });
    assert_clean(&raw, &[TOK, JWT_PAYLOAD, JWT_SIG], &[]);
    let raw = handler(JWT, |_| {}, Ok(json!(1)), false);
    assert_clean(&raw, JWT_PARTS, &[]);
    let s = Subsegment::new(SegmentId::generate(), &format!("https://app:{PASSWORD}@h/"), 1_000_000);
    assert_clean(&owned_doc(&s), &[PASSWORD], &[]);
}

#[test]
fn jwt_as_metadata_namespace() {
    let raw = in_work(|g| {
        g.metadata_in(JWT, "k", KEEP).unwrap();
        xray::metadata_in(&format!("ns Bearer {TOK}"), "k", KEEP).unwrap();
    });
    assert_clean(&raw, &[JWT_PAYLOAD, JWT_SIG, TOK], &[KEEP]);
    // Trimmed: the note names `<namespace>.<key>`.
    let raw = in_work(|g| g.metadata_in(JWT, "big", "z".repeat(70_000)).unwrap());
    assert_clean(&raw, JWT_PARTS, &[]);
}

// ---------------------------------------------------------------------------------------
// The UDP path: what the daemon receives
// ---------------------------------------------------------------------------------------

const HEADER_LINE: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";

#[test]
fn udp_datagrams_hold_no_secret() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let emitter = Arc::new(UdpEmitter::new(sock.local_addr().unwrap()).unwrap());
    let ctx = ContextBuilder::new().request_id("req-1").trace_header(HEADER).build();
    let inv = Arc::new(Invocation::from_context(&ctx, &Config::default(), &ColdStartTracker::new(&Default::default())));
    inv.xray().set_emitter(emitter.clone());
    let cases = free_text_cases();
    let secrets: Vec<&str> = cases.iter().flat_map(|(_, s)| s.iter().copied()).chain([PASSWORD, TOK]).collect();
    rt().block_on(Arc::clone(&inv).scope(async {
        let g = xray::subsegment("Work");
        for (i, (text, _)) in cases.iter().enumerate() {
            xray::annotate(&format!("note{i}"), text.as_str()).unwrap();
            xray::metadata(&format!("m{i}"), json!({"text": text, "token": TOK})).unwrap();
        }
        for (value, _) in metadata_cases() {
            g.metadata("value", value).unwrap();
        }
        g.set_http(Http::default().url(format!("https://app:{PASSWORD}@h/x?token={TOK}&page=2")));
        let c = g.child("Query");
        c.set_sql(Sql {
            connection_string: Some(format!("Server=db;Password={PASSWORD};Database=main")),
            url: Some(format!("postgres://app:{PASSWORD}@db/main")),
            ..Default::default()
        });
        c.record_error(&Msg(format!("{KEEP} Authorization: Bearer {TOK}"), None), ErrorKind::Fault);
        drop(c);
        drop(g);
        xray::flush().await;
    }));
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 70_000];
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = sock.recv(&mut buf).expect("a datagram");
    raw.push(buf[..n].to_vec());
    // Anything else sent (split trees) within a short wait.
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    while let Ok(n) = sock.recv(&mut buf) {
        raw.push(buf[..n].to_vec());
    }
    let docs: Vec<String> = raw
        .iter()
        .map(|d| {
            assert!(d.starts_with(HEADER_LINE), "{:?}", String::from_utf8_lossy(d));
            String::from_utf8(d[HEADER_LINE.len()..].to_vec()).expect("UTF-8 datagram")
        })
        .collect();
    assert_clean(&docs, &secrets, &[KEEP, "Work", "Query", "db/main", "page=2"]);
    // The datagram as bytes too (no escaping can hide a secret from the daemon).
    for d in &raw {
        let text = String::from_utf8_lossy(d);
        for s in &secrets {
            assert!(!text.contains(s), "{s:?} in datagram");
        }
    }
}

/// An owned document sent straight through the UDP emitter.
#[test]
fn udp_owned_document() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let emitter = UdpEmitter::new(sock.local_addr().unwrap()).unwrap();
    let mut s = Subsegment::new(SegmentId::generate(), "Work", 1_000_000);
    s.annotate("note", format!("{KEEP} Bearer {TOK}")).unwrap();
    s.annotate("password", 1234_5678).unwrap();
    s.add_metadata(
        "default",
        "req",
        json!({"headers": {"authorization": TOK}, "body": format!("{{\"password\":\"{PASSWORD}\"}}")}),
    )
    .unwrap();
    s.set_http(Http { request_url: Some(format!("https://u:{PASSWORD}@h/?X-Amz-Signature={TOK}")), ..Http::default() });
    s.set_sql(Sql { connection_string: Some(format!("Server=db;Pwd={PASSWORD};")), ..Default::default() });
    s.set_end_micros(2_000_000);
    let header: TraceHeader = HEADER.parse().unwrap();
    let trace_id = header.root();
    let parent: SegmentId = PARENT.parse().unwrap();
    emitter.emit(&SegmentDocument::new(trace_id, &parent, &s)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = sock.recv(&mut buf).expect("a datagram");
    assert!(buf[..n].starts_with(HEADER_LINE));
    let doc = String::from_utf8(buf[HEADER_LINE.len()..n].to_vec()).unwrap();
    assert_clean(&[doc], &[TOK, PASSWORD, "12345678"], &[KEEP]);
}

/// A URL with a password inside free text (an annotation, a metadata string, an error
/// message): the URL-password rule is documented for the `http` and `sql` blocks only,
/// and the log-text rules do not name user information.
#[test]
fn url_password_in_free_text() {
    let url = format!("postgres://app:{PASSWORD}@db.internal/main");
    let raw = in_work(|g| {
        xray::annotate("dsn", url.as_str()).unwrap();
        g.metadata("config", json!({"database": {"url": url}})).unwrap();
        g.record_error(&Msg(format!("connect {url} failed"), None), ErrorKind::Fault);
    });
    assert_clean(&raw, &[PASSWORD], &["db.internal"]);
}

/// A handler that panics: the panic message becomes the exception message (documented
/// as scrubbed as log text is).
#[test]
fn handler_panic_message_is_scrubbed() {
    for (text, secrets) in free_text_cases() {
        let (telemetry, xray) = telemetry();
        let ctx = ContextBuilder::new().request_id("req-1").trace_header(HEADER).build();
        let t = text.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt().block_on(async {
                let scope =
                    HandlerScope::with_telemetry(telemetry, HandlerOptions::new("Handle"), &ctx, tracing::Span::none());
                let _ = scope
                    .run(
                        async move {
                            if !t.is_empty() {
                                std::panic::panic_any(t);
                            }
                            Ok::<Value, ErrorView>(json!(1))
                        },
                        |e: &ErrorView| e.clone(),
                        |_| None,
                    )
                    .await;
            })
        }));
        assert!(outcome.is_err(), "the panic resumes");
        assert_clean(&xray.raw(), &secrets, &[KEEP, "Handle"]);
    }
}

/// A `Serialize` that fails with the secret in its error: the handler scope records
/// `<unserialisable: …>` in its place.
#[test]
fn unserialisable_metadata_error_text() {
    struct Bad;
    impl serde::Serialize for Bad {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom(format!("{KEEP} rejected Bearer {TOK} and {JWT}")))
        }
    }
    let raw = handler("Handle", |s| s.metadata("request", &Bad), Ok(json!(1)), false);
    assert_clean(&raw, &[TOK, JWT_PAYLOAD, JWT_SIG], &[KEEP, "Handle"]);
    let raw = emitted(|| {
        let mut f = FunctionScope::new("Validate", tracing::Span::none());
        f.metadata("request", &Bad);
        f.run_sync_plain(|| ());
    });
    assert_clean(&raw, &[TOK, JWT_PAYLOAD, JWT_SIG], &["Validate"]);
}

/// An error recorded from its `Debug` text (`ErrorView::from_debug`): header lists and
/// `Authorization` values in `Debug` output are covered by the log-text rules.
#[test]
fn error_from_debug_text() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Request {
        tenant: &'static str,
        headers: Vec<(&'static str, String)>,
        auth: String,
    }
    let req = Request {
        tenant: KEEP,
        headers: vec![("authorization", format!("Bearer {TOK}")), ("cookie", format!("sid={TOK}"))],
        auth: format!("Bearer {RFC_TOK}"),
    };
    let raw = handler("Handle", |_| {}, Err(ErrorView::from_debug(&req)), false);
    assert_clean(&raw, &[TOK, RFC_TOK], &[KEEP]);
}

/// The README's rule for `Debug` of header lists (`("authorization", "…")` pairs) only
/// matches the compact form: the pretty form (`{:#?}`, a newline and indentation between
/// the two strings) keeps the value, in exception messages, annotations and metadata.
#[test]
fn pretty_debug_header_pairs() {
    let mut failures = Vec::new();
    for (name, value) in
        [("authorization", TOK.to_owned()), ("cookie", format!("sid={TOK}")), ("x-api-key", TOK.to_owned())]
    {
        let text = format!("{KEEP} {:#?}", vec![(name, value.clone())]);
        let raw = in_work(|g| {
            g.record_error(&Msg(text.clone(), None), ErrorKind::Fault);
        });
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("record_error message {text:?}"));
        }
        let raw = handler("Handle", |_| {}, Err(ErrorView::new("E", text.clone())), false);
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("handler ErrorView message {text:?}"));
        }
        let raw = in_work(|_| xray::annotate("note", text.as_str()).unwrap());
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("xray::annotate value {text:?}"));
        }
        let raw = in_work(|_| xray::metadata("note", text.as_str()).unwrap());
        if !leaks(&raw, &[TOK]).is_empty() {
            failures.push(format!("xray::metadata value {text:?}"));
        }
    }
    assert!(failures.is_empty(), "{} leaks:\n{}", failures.len(), failures.join("\n"));
}

/// `Debug` of a struct with a `password` field (`password: "…"`): the README lists
/// `password: x` unquoted among what is not recognised.
#[test]
fn error_debug_struct_password_field() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Creds {
        user: &'static str,
        password: &'static str,
    }
    let view = ErrorView::from_debug(&Creds { user: KEEP, password: PASSWORD });
    let raw = handler("Handle", |_| {}, Err(view), false);
    assert_clean(&raw, &[PASSWORD], &[KEEP]);
}

/// libpq's keyword/value connection strings (space-separated, `key = value` with spaces
/// allowed, values in single quotes): `sql.connection_string` is documented as recorded
/// without passwords, whatever its `Password=`/`Pwd=` pair looks like.
#[test]
fn sql_libpq_keyword_value_connection_strings() {
    let mut failures = Vec::new();
    for cs in [
        format!("host=db user=app password={PASSWORD} dbname=main"),
        format!("host=db user=app password='{PASSWORD}' dbname=main"),
        format!("host=db user=app password='{PASSWORD} x' dbname=main"),
        format!("host=db user=app password = {PASSWORD} dbname=main"),
        format!("host=db user=app PASSWORD={PASSWORD}"),
    ] {
        let raw = in_work(|g| {
            g.set_sql(Sql {
                connection_string: Some(cs.clone()),
                database_type: Some("PostgreSQL".into()),
                ..Default::default()
            })
        });
        assert_clean(&raw, &[], &["PostgreSQL", "host=db"]);
        if !leaks(&raw, &[PASSWORD]).is_empty() {
            failures.push(format!("{cs:?} -> {}", work(&raw)["sql"]["connection_string"]));
        }
    }
    assert!(failures.is_empty(), "{} leaks:\n{}", failures.len(), failures.join("\n"));
}
