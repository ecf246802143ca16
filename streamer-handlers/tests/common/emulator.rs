//! The Lambda Runtime API emulator side of the end-to-end tests (cargo-lambda, started by
//! `scripts/test.sh`): function binaries attached to it, invocations through its invoke
//! API, and a loopback UDP listener standing in for the X-Ray daemon. Shared by the
//! end-to-end tests of `streamer-handlers` and `examples/http-echo` (included by path).
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The emulator's invoke address (`127.0.0.1:port`), set by `scripts/test.sh`.
pub const RUNTIME_VAR: &str = "STREAMER_TEST_LAMBDA_RUNTIME_API";

/// Whether the emulators must be there (`STREAMER_REQUIRE_EMULATORS=1` or `CI`): a test
/// then fails instead of skipping.
pub fn emulators_required() -> bool {
    std::env::var("STREAMER_REQUIRE_EMULATORS").is_ok_and(|v| v == "1")
        || std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Collects the X-Ray documents sent to a loopback UDP port.
pub struct Daemon {
    pub port: u16,
    pub docs: Arc<Mutex<Vec<Value>>>,
}

impl Daemon {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let port = socket.local_addr().expect("addr").port();
        let docs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&docs);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if let Some((header, doc)) = text.split_once('\n') {
                    assert_eq!(header, r#"{"format":"json","version":1}"#);
                    if let Ok(v) = serde_json::from_str::<Value>(doc) {
                        sink.lock().unwrap().push(v);
                    }
                }
            }
        });
        Self { port, docs }
    }

    pub fn handler_doc(&self, name: &str, connection_id: &str) -> Option<Value> {
        self.docs
            .lock()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name && d["annotations"]["connection_id"] == connection_id)
            .cloned()
    }
}

/// One function binary attached to the emulator, its stdout captured line by line.
pub struct Function {
    pub name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Function {
    pub fn start(bin: &str, name: &str, runtime: &str, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://{runtime}/.rt/{name}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("function binary starts");
        let out = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { name: name.to_owned(), child, stdout }
    }

    pub fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn json(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
            .collect()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `POST /2015-03-31/functions/{name}/invocations` on the emulator; the function's answer.
pub fn invoke(runtime: &str, function: &str, event: &impl serde::Serialize) -> Value {
    let body = serde_json::to_string(event).expect("event");
    let (head, payload) = post(runtime, function, &body);
    assert!(head.starts_with("HTTP/1.1 200"), "emulator answered {head}\n{payload}");
    serde_json::from_str(&payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload}"))
}

pub fn post(runtime: &str, function: &str, body: &str) -> (String, String) {
    let mut stream = TcpStream::connect(runtime).expect("emulator reachable");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let request = format!(
        "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: {runtime}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("response");
    let text = String::from_utf8_lossy(&raw);
    let (head, payload) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let payload = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    (head.to_owned(), payload)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// Waits until `f` holds (the stdout reader and the UDP listener run on their own threads).
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
