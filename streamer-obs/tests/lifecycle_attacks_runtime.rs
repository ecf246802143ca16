//! The lifecycle under `lambda_runtime`'s own runtime loop (`run_concurrent`, its
//! `TracingLayer` and panic catching), against a minimal in-process Runtime API. The
//! runtime reads its endpoint from the environment, so the runtime side runs in a child
//! process (this test binary again, with `LIFE_CHILD=1`); no `unsafe` `set_var`.

mod common;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use lambda_runtime::tower::Layer;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use streamer_obs::handler::HandlerOptions;
use streamer_obs::invocation::ColdStartTracker;
use streamer_obs::layer::ObsLayer;
use streamer_obs::metrics::{self, EmfPublisher, Unit};
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingEmitter, CapturingWriter};

const N: usize = 24;

#[derive(Default)]
struct Api {
    queue: Mutex<VecDeque<(String, Value, String)>>,
    ready: Condvar,
    /// request id -> (kind, body)
    results: Mutex<HashMap<String, (String, String)>>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut first = String::new();
    if r.read_line(&mut first).ok()? == 0 {
        return None;
    }
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let (mut len, mut chunked) = (0usize, false);
    loop {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len, 0);
        r.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

fn serve(api: Arc<Api>, stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some((method, path, body)) = read_request(&mut reader) {
        if method == "GET" && path.ends_with("/invocation/next") {
            let mut q = api.queue.lock().unwrap();
            while q.is_empty() {
                q = api.ready.wait(q).unwrap();
            }
            let (id, payload, trace) = q.pop_front().unwrap();
            drop(q);
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 60_000;
            let body = payload.to_string();
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {id}\r\nlambda-runtime-deadline-ms: {deadline}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:eu-west-1:123456789012:function:attack\r\nlambda-runtime-trace-id: {trace}\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if out.write_all(resp.as_bytes()).is_err() {
                return;
            }
        } else {
            // /2018-06-01/runtime/invocation/{id}/response or /error
            let segs: Vec<&str> = path.split('/').collect();
            if segs.len() >= 5 {
                let id = segs[segs.len() - 2].to_owned();
                let kind = segs[segs.len() - 1].to_owned();
                api.results.lock().unwrap().insert(id, (kind, String::from_utf8_lossy(&body).into_owned()));
            }
            if out.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}").is_err() {
                return;
            }
        }
    }
}

fn kind_of(i: usize) -> &'static str {
    match i % 6 {
        0 => "fail",
        3 => "panic",
        _ => "ok",
    }
}

#[test]
fn run_concurrent_under_the_real_runtime_loop() {
    if std::env::var_os("LIFE_CHILD").is_some() {
        return;
    }
    let api = Arc::new(Api::default());
    {
        let mut q = api.queue.lock().unwrap();
        for i in 0..N {
            q.push_back((
                format!("rt-{i}"),
                json!({"i": i, "kind": kind_of(i)}),
                format!("Root=1-5759e988-{i:024x};Parent=53995c3f42cd8ad8;Sampled=1"),
            ));
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let a2 = api.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let a = a2.clone();
            std::thread::spawn(move || serve(a, s));
        }
    });
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_runtime", "--nocapture", "--test-threads=1"])
        .env("LIFE_CHILD", "1")
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "attack")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_MAX_CONCURRENCY", "4")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success() && stdout.contains("CHILD OK"), "child failed:\n{stdout}\n{stderr}");
    let results = api.results.lock().unwrap().clone();
    assert_eq!(results.len(), N, "{results:?}");
    for i in 0..N {
        let (kind, body) = &results[&format!("rt-{i}")];
        match kind_of(i) {
            "ok" => {
                assert_eq!(kind, "response", "rt-{i}: {body}");
                let v: Value = serde_json::from_str(body).unwrap();
                assert_eq!(v["i"], i);
                assert_eq!(v["seen_request"], format!("rt-{i}"));
            }
            "fail" => {
                assert_eq!(kind, "error", "rt-{i}: {body}");
                assert!(body.contains(&format!("failed {i}")), "{body}");
            }
            _ => assert_eq!(kind, "error", "rt-{i}: {body}"),
        }
    }
}

/// The runtime side (runs only in the child process).
#[test]
fn child_runtime() {
    if std::env::var_os("LIFE_CHILD").is_none() {
        return;
    }
    let cfg = config(&[("POWERTOOLS_SERVICE_NAME", "attack")]);
    let log = CapturingWriter::new();
    let clock = streamer_obs::testing::FixedClock::at_millis(T0);
    tracing::dispatcher::set_global_default(tracing::Dispatch::new(streamer_obs::log::subscriber(
        &cfg,
        log.clone(),
        clock,
    )))
    .unwrap();
    let emf = CapturingWriter::new();
    let xray = CapturingEmitter::new();
    let telemetry = Telemetry::builder(cfg)
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .metrics_publisher(Arc::new(EmfPublisher::new(emf.clone())))
        .emitter(Arc::new(xray.clone()))
        .build();
    let svc = ObsLayer::<lambda_runtime::Error>::new(HandlerOptions::new("Attack")).telemetry(telemetry).layer(
        service_fn(|e: LambdaEvent<Value>| async move {
            let i = e.payload["i"].as_u64().unwrap();
            streamer_obs::invocation::append_field("user_id", format!("u{i}"));
            metrics::set_property("inv", i);
            metrics::add("Work", Unit::Count, i as f64);
            let _ = streamer_obs::xray::annotate("inv", i as i64);
            let sub = streamer_obs::xray::subsegment(&format!("Sub{i}"));
            tokio::time::sleep(Duration::from_millis(i % 5)).await;
            tracing::info!("work");
            drop(sub);
            match e.payload["kind"].as_str().unwrap() {
                "fail" => Err(format!("failed {i}").into()),
                "panic" => panic!("panicked {i}"),
                _ => Ok(json!({"i": i, "seen_request": e.context.request_id})),
            }
        }),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(async {
        let task = tokio::spawn(lambda_runtime::run_concurrent(svc));
        for _ in 0..1500 {
            if emf.json_lines().iter().filter(|d| d.get("ProcessingLatency").is_some()).count() >= N {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Let the last responses go out.
        tokio::time::sleep(Duration::from_millis(200)).await;
        task.abort();
    });
    let lines: Vec<Value> = log.json_lines();
    let emf = emf.json_lines();
    // Every invocation: one latency metric, its own Work value and property.
    let mut per: HashMap<u64, usize> = HashMap::new();
    for d in &emf {
        if let Some(w) = d.get("Work") {
            let inv = d["inv"].as_u64().unwrap();
            assert_eq!(w.as_f64().unwrap() as u64, inv, "{d}");
            assert!(d.get("ProcessingLatency").is_some(), "{d}");
            *per.entry(inv).or_default() += 1;
        }
    }
    assert_eq!(per.len(), N, "{emf:?}");
    assert!(per.values().all(|&n| n == 1));
    // Log lines carry their own invocation's keys.
    let mut errors: HashMap<String, usize> = HashMap::new();
    for l in &lines {
        if l["message"] == "work" {
            let rid = l["function_request_id"].as_str().unwrap();
            let i: u64 = rid.strip_prefix("rt-").unwrap().parse().unwrap();
            assert_eq!(l["user_id"], format!("u{i}"), "{l}");
            assert_eq!(l["xray_trace_id"], format!("1-5759e988-{i:024x}"), "{l}");
            assert_eq!(l["function_name"], "attack");
        }
        if l["level"] == "ERROR" && l.get("handler").is_some() {
            *errors.entry(l["function_request_id"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
        }
    }
    for i in 0..N {
        let want = usize::from(kind_of(i) != "ok");
        assert_eq!(errors.get(&format!("rt-{i}")).copied().unwrap_or(0), want, "rt-{i} ERROR lines: {lines:?}");
    }
    // Subsegments: each invocation's handler and child in its own trace, with its own flags.
    let mut seen = 0;
    for d in xray.documents() {
        let trace = d["trace_id"].as_str().unwrap();
        let i = usize::from_str_radix(&trace[trace.len() - 24..], 16).unwrap();
        assert_eq!(d["name"], "Attack", "{d}");
        assert_eq!(d["annotations"]["inv"], i, "{d}");
        assert_eq!(d.get("fault").is_some(), kind_of(i) != "ok", "{d}");
        assert_eq!(d["subsegments"][0]["name"], format!("Sub{i}"), "{d}");
        seen += 1;
    }
    assert_eq!(seen, N);
    println!("CHILD OK");
}
