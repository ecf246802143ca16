//! Handlers that panic in a process built with `panic = "abort"` (`examples/panic_abort.rs`,
//! built by `scripts/test.sh` with `-C panic=abort`; `SCENARIO` picks where the panic
//! happens): the process aborts, and before it does the lifecycle's panic hook writes the
//! ERROR line and the EMF document on stdout and sends the X-Ray datagram to the daemon
//! address (a socket of this test).
//!
//! The example's path comes from `STREAMER_TEST_PANIC_ABORT_EXAMPLE`; without it the tests
//! print a skip notice, unless `STREAMER_REQUIRE_EMULATORS=1` or `CI` is set: then they fail.
//! Each run is bounded (a hang detector: a hook that waits on a lock would hang the process
//! until the Lambda timeout), not timed.
mod common;

use std::net::UdpSocket;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::xray_schema;
use serde_json::Value;

const EXAMPLE_VAR: &str = "STREAMER_TEST_PANIC_ABORT_EXAMPLE";

fn example() -> Option<String> {
    match std::env::var(EXAMPLE_VAR) {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var_os("STREAMER_REQUIRE_EMULATORS").is_some_and(|v| v == "1")
            || std::env::var_os("CI").is_some() =>
        {
            panic!("{EXAMPLE_VAR} must be set (run scripts/test.sh, which builds the example with -C panic=abort)")
        }
        _ => {
            eprintln!("skipped: {EXAMPLE_VAR} is not set (scripts/test.sh sets it)");
            None
        }
    }
}

struct Run {
    signal: Option<i32>,
    stdout: Vec<Value>,
    raw_stdout: String,
    stderr: String,
    /// The subsegment documents sent to the daemon.
    docs: Vec<Value>,
    raw_docs: String,
}

/// Runs `scenario`; `None` when the example is not built (skipped). Fails if the process
/// does not end within a generous bound (a hang detector, not a timing assertion).
fn run(scenario: &str) -> Option<Run> {
    let example = example()?;
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut child = Command::new(&example)
        .env_clear()
        .env("AWS_XRAY_DAEMON_ADDRESS", daemon.local_addr().unwrap().to_string())
        .env("POWERTOOLS_SERVICE_NAME", "streamer-connect")
        .env("ENVIRONMENT", "test")
        .env("RUST_BACKTRACE", "0")
        .env("SCENARIO", scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{scenario}: the process hangs instead of aborting; stdout so far:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let raw_stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = raw_stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{scenario}: stdout line not JSON ({e}): {l}")))
        .collect();
    daemon.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let (mut docs, mut raw_docs) = (Vec::new(), String::new());
    let mut buf = [0u8; 65_536];
    while let Ok(n) = daemon.recv(&mut buf) {
        let datagram = std::str::from_utf8(&buf[..n]).unwrap();
        let (header, body) = datagram.split_once('\n').unwrap();
        assert_eq!(header, r#"{"format":"json","version":1}"#);
        let doc: Value = serde_json::from_str(body).unwrap();
        assert!(xray_schema().is_valid(&doc), "{body}");
        raw_docs.push_str(body);
        docs.push(doc);
    }
    Some(Run { signal: out.status.signal(), stdout, raw_stdout, stderr, docs, raw_docs })
}

fn errors(r: &Run) -> Vec<&Value> {
    r.stdout.iter().filter(|l| l["level"] == "ERROR").collect()
}

fn names(r: &Run) -> Vec<String> {
    let mut names: Vec<String> = r.docs.iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_panic_that_aborts_the_process_is_recorded_and_flushed_first() {
    let Some(r) = run("") else { return };
    // Aborted (SIGABRT), after the hook installed before the lifecycle's (the default one)
    // wrote the panic message; the handler's result is never printed.
    assert_eq!(r.signal, Some(6), "{}\n{}", r.raw_stdout, r.stderr);
    assert!(r.stderr.contains("no token to validate"), "{}", r.stderr);
    assert!(!r.raw_stdout.contains("returned:"), "{}", r.raw_stdout);

    // The log lines and the EMF document (every stdout line is JSON: `run` parses them).
    let errors = errors(&r);
    assert_eq!(errors.len(), 1, "{}", r.raw_stdout);
    assert_eq!(errors[0]["message"], "handler panicked");
    assert_eq!(errors[0]["error.message"], "no token to validate");
    assert_eq!(errors[0]["handler"], "HandleConnect");
    assert_eq!(errors[0]["function_request_id"], "8f8ea7ae-5b4d-4b2c-9e5f-1c2d3e4f5a6b");
    assert!(r.stdout.iter().any(|l| l["message"] == "Connection attempt"), "{}", r.raw_stdout);
    let emf: Vec<&Value> = r.stdout.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 1, "{}", r.raw_stdout);
    assert_eq!(emf[0]["ConnectionAttempted"], 1.0);
    assert!(emf[0]["ProcessingLatency"].as_f64().is_some(), "{}", emf[0]);

    // One datagram (schema-checked by `run`): the handler subsegment, a fault with the
    // panic as its cause, the subsegment it held (never dropped: the process aborted)
    // ended inside it.
    assert_eq!(r.docs.len(), 1, "{}", r.raw_docs);
    let doc = &r.docs[0];
    assert_eq!(doc["name"], "HandleConnect");
    assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(doc["fault"], true);
    assert_eq!(doc["cause"]["exceptions"][0]["message"], "no token to validate");
    assert_eq!(doc["annotations"]["ColdStart"], true);
    assert_eq!(doc["annotations"]["tenant_id"], "acme");
    let held = &doc["subsegments"][0];
    assert_eq!(held["name"], "ValidateJWT");
    assert!(held["end_time"].as_f64().is_some() && held.get("in_progress").is_none(), "{held}");
    assert!(doc["end_time"].as_f64().unwrap() >= held["end_time"].as_f64().unwrap());
}

/// The hook redacts the panic message in the ERROR line and the X-Ray cause as the
/// unwinding lifecycle does; every stdout line is JSON.
#[test]
fn secret_in_the_panic_message_is_redacted_before_the_abort() {
    let Some(r) = run("secret") else { return };
    assert_eq!(r.signal, Some(6));
    for leak in ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "sk_live_0123456789abcdef"] {
        assert!(!r.raw_stdout.contains(leak), "{}", r.raw_stdout);
        assert!(!r.raw_docs.contains(leak), "{}", r.raw_docs);
    }
    let errors = errors(&r);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["error.message"], "bad token [REDACTED] from header Authorization: [REDACTED]");
    assert_eq!(r.docs.len(), 1);
    assert_eq!(r.docs[0]["cause"]["exceptions"][0]["message"], errors[0]["error.message"]);
}

/// The error's `Display` panics in the lifecycle's `conclude` (after the body): recorded.
#[test]
fn a_panicking_error_display_is_recorded_before_the_abort() {
    let Some(r) = run("view_error") else { return };
    assert_eq!(r.signal, Some(6));
    assert_eq!(names(&r), ["HandleConnect"], "no datagram before the abort:\n{}", r.raw_stdout);
    assert_eq!(r.stdout.iter().filter(|l| l.get("_aws").is_some()).count(), 1, "no EMF document:\n{}", r.raw_stdout);
}

/// An `annotations(...)` expression panics before the run future exists: recorded.
#[test]
fn a_panicking_annotation_is_recorded_before_the_abort() {
    let Some(r) = run("annotation") else { return };
    assert_eq!(r.signal, Some(6));
    assert_eq!(names(&r), ["HandleAnnotated", "HandleConnect"], "the annotated invocation is lost:\n{}", r.raw_docs);
}

/// The closure passed to `update_http` panics (it ran under the recorder's spin lock, which
/// the hook's `record_abort` then took again, spinning forever): recorded.
#[test]
fn a_panic_under_the_recorder_lock_aborts_and_is_recorded() {
    let Some(r) = run("locked") else { return };
    assert_eq!(r.signal, Some(6));
    assert_eq!(names(&r), ["HandleConnect"]);
}

/// A handler awaited inside another panics: both are recorded (the outer one's metric too).
#[test]
fn a_panic_in_a_nested_handler_records_both_before_the_abort() {
    let Some(r) = run("nested") else { return };
    assert_eq!(r.signal, Some(6));
    assert_eq!(names(&r), ["HandleConnect", "HandleInner"], "{}", r.raw_docs);
    assert!(
        r.stdout.iter().any(|l| l["ConnectionAttempted"] == 1.0),
        "the outer handler's metric is lost:\n{}",
        r.raw_stdout
    );
}

/// A value logged by the handler has a `Display` that panics (inside the log
/// layer's event): the hook's ERROR line, the EMF document and the datagram are written.
#[test]
fn a_panicking_display_in_a_log_event_is_recorded_before_the_abort() {
    let Some(r) = run("display") else { return };
    assert_eq!(r.signal, Some(6));
    let errors = errors(&r);
    assert_eq!(errors.len(), 1, "{}", r.raw_stdout);
    assert_eq!(errors[0]["error.message"], "Display panicked");
    assert_eq!(r.stdout.iter().filter(|l| l.get("_aws").is_some()).count(), 1, "{}", r.raw_stdout);
    assert_eq!(names(&r), ["HandleConnect"]);
    assert_eq!(r.docs[0]["fault"], true);
}
