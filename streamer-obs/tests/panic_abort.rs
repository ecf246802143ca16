//! A handler that panics in a process built with `panic = "abort"` (`examples/panic_abort.rs`,
//! built by `scripts/test.sh` with `-C panic=abort`): the process aborts, and before it does
//! the lifecycle's panic hook writes the ERROR line and the EMF document on stdout and sends
//! the X-Ray datagram to the daemon address (a socket of this test).
//!
//! The example's path comes from `STREAMER_TEST_PANIC_ABORT_EXAMPLE`; without it the test
//! prints a skip notice, unless `STREAMER_REQUIRE_EMULATORS=1` or `CI` is set: then it fails.
mod common;

use std::net::UdpSocket;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

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

#[test]
fn a_panic_that_aborts_the_process_is_recorded_and_flushed_first() {
    let Some(example) = example() else { return };
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let out = Command::new(&example)
        .env_clear()
        .env("AWS_XRAY_DAEMON_ADDRESS", daemon.local_addr().unwrap().to_string())
        .env("POWERTOOLS_SERVICE_NAME", "streamer-connect")
        .env("ENVIRONMENT", "test")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);

    // Aborted (SIGABRT), after the hook installed before the lifecycle's (the default one)
    // wrote the panic message; the handler's result is never printed.
    assert_eq!(out.status.signal(), Some(6), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(stderr.contains("no token to validate"), "{stderr}");
    assert!(!stdout.contains("returned:"), "{stdout}");

    // Every stdout line is one JSON document: the log lines and the EMF document.
    let lines: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{stdout}");
    assert_eq!(errors[0]["message"], "handler panicked");
    assert_eq!(errors[0]["error.message"], "no token to validate");
    assert_eq!(errors[0]["handler"], "HandleConnect");
    assert_eq!(errors[0]["function_request_id"], "8f8ea7ae-5b4d-4b2c-9e5f-1c2d3e4f5a6b");
    assert!(lines.iter().any(|l| l["message"] == "Connection attempt"), "{stdout}");
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 1, "{stdout}");
    assert_eq!(emf[0]["ConnectionAttempted"], 1.0);
    assert!(emf[0]["ProcessingLatency"].as_f64().is_some(), "{}", emf[0]);

    // One datagram: the handler subsegment, a fault with the panic as its cause, the
    // subsegment it held (never dropped: the process aborted) ended inside it.
    let mut buf = [0u8; 65_536];
    let n = daemon.recv(&mut buf).expect("the datagram was sent before the abort");
    let datagram = std::str::from_utf8(&buf[..n]).unwrap();
    let (header, body) = datagram.split_once('\n').unwrap();
    assert_eq!(header, r#"{"format":"json","version":1}"#);
    let doc: Value = serde_json::from_str(body).unwrap();
    assert!(xray_schema().is_valid(&doc), "{body}");
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
    daemon.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    assert!(daemon.recv(&mut buf).is_err(), "one datagram only");
}
