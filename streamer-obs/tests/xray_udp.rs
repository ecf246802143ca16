//! The UDP emitter against a loopback listener playing the X-Ray daemon: every datagram
//! is parsed, its header line checked, the document validated against the segment
//! document schema, and the linkage checked (every `parent_id` is the header's `Parent`
//! or an enclosing subsegment's id, every `trace_id` the header's `Root`).

use std::collections::HashSet;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::testing::ContextBuilder;
use streamer_obs::xray::{self, cause::ErrorKind, emitter::UdpEmitter, emitter::emitter_for};

const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";
const HEADER_LINE: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xray-segment.schema.json"))
        .expect("schema fixture");
    jsonschema::validator_for(&serde_json::from_str(&text).expect("schema JSON")).expect("valid schema")
}

fn daemon() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Bounded wait so a missing datagram fails the test instead of hanging it.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Receives `n` datagrams, checks each one, returns the documents.
fn receive(sock: &UdpSocket, n: u64) -> Vec<Value> {
    let validator = schema();
    let mut buf = vec![0u8; 70_000];
    let mut docs = Vec::new();
    for _ in 0..n {
        let len = sock.recv(&mut buf).expect("datagram");
        assert!(len <= 65_507, "datagram of {len} bytes");
        let d = &buf[..len];
        assert!(d.starts_with(HEADER_LINE), "header line: {:?}", String::from_utf8_lossy(&d[..40.min(len)]));
        let body = &d[HEADER_LINE.len()..];
        assert!(!body.contains(&b'\n'), "document must be one line");
        let doc: Value = serde_json::from_slice(body).expect("whole JSON document");
        let errors: Vec<String> =
            validator.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "schema errors {errors:?} in {doc}");
        docs.push(doc);
    }
    assert_nothing_more(sock);
    docs
}

fn assert_nothing_more(sock: &UdpSocket) {
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    let r = sock.recv(&mut buf);
    assert!(matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "unexpected datagram: {r:?}");
    sock.set_nonblocking(false).unwrap();
}

fn collect_ids(v: &Value, ids: &mut HashSet<String>) {
    if let Some(id) = v["id"].as_str() {
        ids.insert(id.to_owned());
    }
    for c in v["subsegments"].as_array().into_iter().flatten() {
        collect_ids(c, ids);
    }
}

fn collect_names(v: &Value, names: &mut Vec<String>) {
    names.push(v["name"].as_str().unwrap_or_default().to_owned());
    for c in v["subsegments"].as_array().into_iter().flatten() {
        collect_names(c, names);
    }
}

fn check_linkage(docs: &[Value]) {
    let mut ids = HashSet::new();
    for d in docs {
        collect_ids(d, &mut ids);
    }
    for d in docs {
        assert_eq!(d["trace_id"], ROOT);
        assert_eq!(d["type"], "subsegment");
        let parent = d["parent_id"].as_str().unwrap();
        assert!(parent == PARENT || ids.contains(parent), "dangling parent_id {parent}");
        assert_ne!(d["id"].as_str(), Some(parent));
    }
}

fn config_for(sock: &UdpSocket) -> Config {
    Config::builder().xray_daemon_address(sock.local_addr().unwrap().to_string()).build_from(&EnvVars::empty())
}

fn invocation(header: Option<&str>, config: &Config) -> Arc<Invocation> {
    let mut b = ContextBuilder::new();
    if let Some(h) = header {
        b = b.trace_header(h);
    }
    Arc::new(Invocation::from_context(&b.build(), config, &ColdStartTracker::new(&Default::default())))
}

#[derive(Debug, thiserror::Error)]
#[error("token expired")]
struct Expired;

#[derive(Debug, thiserror::Error)]
#[error("authentication failed")]
struct AuthFailed(#[source] Expired);

#[tokio::test]
async fn handler_tree_arrives_as_one_valid_datagram() {
    let sock = daemon();
    let config = config_for(&sock);
    let inv = invocation(Some(&format!("Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1")), &config);
    let emitter = Arc::new(UdpEmitter::new(sock.local_addr().unwrap()).unwrap());
    inv.xray().set_emitter(emitter.clone());
    Arc::clone(&inv)
        .scope(async {
            let handler = xray::subsegment("HandleConnect");
            handler.annotate("connection_id", "abc=").unwrap();
            handler.annotate("cold_start", true).unwrap();
            handler.metadata("message", serde_json::json!({"type": "auth", "size": 42})).unwrap();
            let err = AuthFailed(Expired);
            {
                let jwt = handler.child("ValidateJWT");
                jwt.record_error(&err, ErrorKind::Error);
            }
            {
                let _save = xray::subsegment("SaveConnection");
                xray::annotate("tenant_id", "t-1").unwrap();
            }
            handler.record_error(&err, ErrorKind::Error);
            drop(handler);
            let report = xray::flush().await;
            assert_eq!(report.trees, 1);
        })
        .await;
    assert_eq!(emitter.stats().datagrams, 1);
    let docs = receive(&sock, 1);
    check_linkage(&docs);
    let d = &docs[0];
    assert_eq!(d["parent_id"], PARENT);
    assert_eq!(d["name"], "HandleConnect");
    assert_eq!(d["error"], true);
    assert!(d.get("fault").is_none());
    let jwt = &d["subsegments"][0];
    assert_eq!(jwt["name"], "ValidateJWT");
    let ex = jwt["cause"]["exceptions"].as_array().unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0]["cause"], ex[1]["id"]);
    // The handler's own copy of the chain (a `cause` never refers into a child).
    let own = d["cause"]["exceptions"].as_array().unwrap();
    assert_eq!(own.len(), 2);
    assert_eq!((&own[0]["message"], &own[1]["message"]), (&ex[0]["message"], &ex[1]["message"]));
    assert_eq!(own[0]["cause"], own[1]["id"]);
    assert_eq!(d["subsegments"][1]["annotations"]["tenant_id"], "t-1");
    assert!(d["start_time"].as_f64().unwrap() <= d["end_time"].as_f64().unwrap());
}

#[tokio::test]
async fn oversized_trees_are_split_and_trimmed_under_the_datagram_limit() {
    let sock = daemon();
    let config = config_for(&sock);
    let inv = invocation(Some(&format!("Root={ROOT};Parent={PARENT};Sampled=1")), &config);
    let emitter = Arc::new(UdpEmitter::new(sock.local_addr().unwrap()).unwrap());
    inv.xray().set_emitter(emitter.clone());
    Arc::clone(&inv)
        .scope(async {
            let handler = xray::subsegment("Handler");
            for i in 0..3 {
                let c = handler.child(&format!("Batch{i}"));
                c.metadata("rows", "r".repeat(30_000)).unwrap();
                let g = c.child("Inner");
                g.annotate("n", i).unwrap();
            }
            {
                let big = handler.child("Huge");
                big.metadata("payload", "x".repeat(70_000)).unwrap();
            }
            drop(handler);
            xray::flush().await;
        })
        .await;
    let stats = emitter.stats();
    assert_eq!(stats.split_trees, 1);
    assert_eq!(stats.trimmed_documents, 1);
    assert_eq!(stats.dropped_documents, 0);
    let docs = receive(&sock, stats.datagrams);
    check_linkage(&docs);
    let huge = docs.iter().find(|d| d["name"] == "Huge").expect("trimmed document sent");
    assert_eq!(huge["metadata"]["streamer_obs"]["truncated_metadata"], serde_json::json!(["default.payload"]));
    let mut names = Vec::new();
    for d in &docs {
        collect_names(d, &mut names);
    }
    assert_eq!(names.iter().filter(|n| n.starts_with("Batch")).count(), 3);
    assert_eq!(names.iter().filter(|n| *n == "Inner").count(), 3);
    assert_eq!(names.len(), 1 + 3 + 3 + 1, "every subsegment arrives once: {names:?}");
}

#[tokio::test]
async fn in_progress_then_complete() {
    let sock = daemon();
    let config = config_for(&sock);
    let inv = invocation(Some(&format!("Root={ROOT};Parent={PARENT};Sampled=1")), &config);
    let emitter = Arc::new(UdpEmitter::new(sock.local_addr().unwrap()).unwrap());
    inv.xray().set_emitter(emitter.clone());
    Arc::clone(&inv)
        .scope(async {
            let handler = xray::subsegment("Handler");
            drop(handler.child("Quick"));
            let _slow = handler.child("Slow");
            let r = xray::flush_in_progress().await;
            assert_eq!((r.trees, r.in_progress), (1, 2));
        })
        .await;
    Arc::clone(&inv).scope(async { xray::flush().await }).await;
    let docs = receive(&sock, emitter.stats().datagrams);
    check_linkage(&docs);
    assert_eq!(docs.iter().filter(|d| d["in_progress"] == true).count(), 2);
    let complete: Vec<_> = docs.iter().filter(|d| d.get("end_time").is_some()).map(|d| d["name"].clone()).collect();
    assert_eq!(complete, vec!["Quick", "Handler"]);
    // The complete Slow arrives nested in Handler, with the id of its in-progress document.
    let handler = docs.iter().find(|d| d["name"] == "Handler" && d.get("end_time").is_some()).unwrap();
    let slow_in_progress = docs.iter().find(|d| d["name"] == "Slow").unwrap();
    assert_eq!(handler["subsegments"][0]["name"], "Slow");
    assert_eq!(handler["subsegments"][0]["id"], slow_in_progress["id"]);
}

#[tokio::test]
async fn nothing_is_sent_without_a_usable_sampled_header_or_when_disabled() {
    let sock = daemon();
    let enabled = config_for(&sock);
    let disabled = Config::builder()
        .trace_disabled(true)
        .xray_daemon_address(sock.local_addr().unwrap().to_string())
        .build_from(&EnvVars::empty());
    let cases: Vec<(Option<String>, &Config)> = vec![
        (Some(format!("Root={ROOT};Parent={PARENT};Sampled=0")), &enabled),
        (Some(format!("Root={ROOT};Parent={PARENT};Sampled=?")), &enabled),
        (Some(format!("Root={ROOT};Parent={PARENT}")), &enabled),
        (Some(format!("Root={ROOT};Sampled=1")), &enabled),
        (Some(format!("Root=1-xyz;Parent={PARENT};Sampled=1")), &enabled),
        (Some(format!("Root={ROOT};Parent=123;Sampled=1")), &enabled),
        (Some("garbage".to_owned()), &enabled),
        (None, &enabled),
        (Some(format!("Root={ROOT};Parent={PARENT};Sampled=1")), &disabled),
    ];
    for (header, config) in cases {
        let inv = invocation(header.as_deref(), config);
        inv.xray().set_emitter(emitter_for(config));
        assert!(!inv.xray().is_recording(), "{header:?}");
        Arc::clone(&inv)
            .scope(async {
                let g = xray::subsegment("Handler");
                g.annotate("k", 1).unwrap();
                drop(g);
                assert_eq!(xray::flush().await.trees, 0);
            })
            .await;
    }
    assert_nothing_more(&sock);
}

#[tokio::test]
async fn unreachable_daemon_never_fails_the_handler() {
    // A port nobody listens on: sends fail (or vanish) and are counted, never raised.
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let inv = invocation(Some(&format!("Root={ROOT};Parent={PARENT};Sampled=1")), &Config::default());
    let emitter = Arc::new(UdpEmitter::new(addr).unwrap());
    inv.xray().set_emitter(emitter.clone());
    Arc::clone(&inv)
        .scope(async {
            for _ in 0..3 {
                drop(xray::subsegment("Work"));
                xray::flush().await;
            }
        })
        .await;
    let s = emitter.stats();
    assert_eq!(s.datagrams + s.send_failures, 3);
}

#[tokio::test]
async fn every_field_and_odd_input_still_passes_the_schema() {
    use streamer_obs::xray::cause::ErrorDetails;
    use streamer_obs::xray::document::{Http, Namespace, Sql};
    let sock = daemon();
    let config = config_for(&sock);
    let inv = invocation(Some(&format!("Root={ROOT};Parent={PARENT};Sampled=1")), &config);
    let emitter = Arc::new(UdpEmitter::new(sock.local_addr().unwrap()).unwrap());
    inv.xray().set_emitter(emitter.clone());
    let bt = std::backtrace::Backtrace::force_capture();
    Arc::clone(&inv)
        .scope(async {
            let handler = xray::subsegment("Zürich 東京 ٣ Ⅻ ½ — (bad) \\ ? ; * \t\n 🚀 e\u{301}");
            handler.annotate("long", "é".repeat(5_000)).unwrap();
            handler.annotate("float", 0.25).unwrap();
            handler.annotate("big", u64::MAX).unwrap();
            assert!(handler.annotate("nan", f64::NAN).is_err());
            handler.metadata_in("streamer", "nested", serde_json::json!({"a": [1, {"b": null}]})).unwrap();
            let first = handler.child("First");
            let first_id = first.id().unwrap();
            first.end();
            let call = handler.child(&"x".repeat(500));
            call.set_namespace(Namespace::Remote);
            call.add_precursor(first_id);
            call.set_http(
                Http::default().method("POST").url("u".repeat(400)).user_agent("a").client_ip("10.0.0.1").traced(true),
            );
            call.update_http(|h| h.response_status = Some(503));
            call.set_sql(Sql {
                user: Some("n".repeat(300)),
                sanitized_query: Some("SELECT ?".into()),
                ..Default::default()
            });
            call.record_error_with(
                &AuthFailed(Expired),
                &ErrorDetails::new(ErrorKind::Fault).remote(true).type_name("Remote\"Quote").backtrace(&bt),
            );
            drop(call);
            let empty = handler.child("");
            empty.record_error(&std::fmt::Error, ErrorKind::Throttle);
            drop(empty);
            drop(handler);
            xray::flush().await;
        })
        .await;
    let docs = receive(&sock, emitter.stats().datagrams);
    check_linkage(&docs);
    let d = &docs[0];
    assert_eq!(d["annotations"]["long"].as_str().unwrap().chars().count(), 1000);
    let subs = d["subsegments"].as_array().unwrap();
    assert_eq!(subs[1]["name"].as_str().unwrap().chars().count(), 200);
    assert_eq!(subs[1]["precursor_ids"][0], subs[0]["id"]);
    assert_eq!(subs[1]["fault"], true);
    assert_eq!(subs[1]["cause"]["exceptions"][0]["type"], "Remote\"Quote");
    assert!(!subs[1]["cause"]["exceptions"][0]["stack"].as_array().unwrap().is_empty());
    assert_eq!(subs[2]["name"], "unnamed");
    assert_eq!((subs[2]["throttle"].clone(), subs[2]["error"].clone()), (Value::Bool(true), Value::Bool(true)));
}

#[tokio::test]
async fn interleaved_invocations_never_mix_subsegments() {
    let sock = daemon();
    let config = config_for(&sock);
    let emitter = Arc::new(UdpEmitter::new(sock.local_addr().unwrap()).unwrap());
    let headers = [
        ("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8"),
        ("1-6759e988-cd862e3fe1be46a994272794", "63995c3f42cd8ad9"),
    ];
    let run = |(root, parent): (&'static str, &'static str)| {
        let inv = invocation(Some(&format!("Root={root};Parent={parent};Sampled=1")), &config);
        inv.xray().set_emitter(emitter.clone());
        Arc::clone(&inv).scope(async move {
            let h = xray::subsegment(&format!("Handler{}", &parent[..2]));
            for i in 0..3 {
                tokio::task::yield_now().await;
                let _c = xray::subsegment(&format!("Step{i}"));
                xray::annotate("root", root).unwrap();
                tokio::task::yield_now().await;
            }
            drop(h);
            xray::flush().await;
        })
    };
    tokio::join!(run(headers[0]), run(headers[1]));
    let docs = receive(&sock, emitter.stats().datagrams);
    assert_eq!(docs.len(), 2);
    for d in &docs {
        let (root, parent) = headers.iter().find(|(r, _)| d["trace_id"] == *r).expect("known trace");
        assert_eq!(d["parent_id"], *parent);
        assert_eq!(d["name"], format!("Handler{}", &parent[..2]));
        let steps = d["subsegments"].as_array().unwrap();
        assert_eq!(steps.len(), 3);
        assert!(steps.iter().all(|s| s["annotations"]["root"] == *root));
    }
}
