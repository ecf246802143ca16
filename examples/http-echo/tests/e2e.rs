//! End to end: the `http-echo` binary (`lambda_http::run` with `ObsLayer`) under the Lambda
//! Runtime API emulator of cargo-lambda (started by `scripts/test.sh`, address in
//! `STREAMER_TEST_LAMBDA_RUNTIME_API`), invoked with API Gateway HTTP API events; its
//! stdout (JSON log lines, EMF documents) and the X-Ray documents it sends to a loopback
//! UDP listener are checked.
//!
//! Without the emulator the test prints a skip notice, unless
//! `STREAMER_REQUIRE_EMULATORS=1` or `CI` is set: then it fails.

#[path = "../../../streamer-handlers/tests/common/emulator.rs"]
mod emulator;

use emulator::{Daemon, Function, RUNTIME_VAR, emulators_required, eventually, invoke, post};
use serde_json::{Value, json};

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlMmUtdXNlciJ9.c2lnbmF0dXJlLW9mLXRoZS1lMmU";

/// An API Gateway HTTP API (payload 2.0) event for `POST /v1/echo?room=<room>&token=…`.
fn event(room: &str, body: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/echo",
        "rawQueryString": format!("room={room}&token=qs-e2e-secret"),
        "headers": {
            "authorization": format!("Bearer {JWT}"),
            "content-type": "application/json",
            "host": "e2e.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "e2e-client/1.0",
            "x-forwarded-for": "198.51.100.23"
        },
        "queryStringParameters": {"room": room, "token": "qs-e2e-secret"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "e2e",
            "domainName": "e2e.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "e2e",
            "http": {"method": "POST", "path": "/v1/echo", "protocol": "HTTP/1.1", "sourceIp": "198.51.100.23", "userAgent": "e2e-client/1.0"},
            "requestId": format!("apigw-{room}"), "routeKey": "$default", "stage": "$default",
            "time": "27/Nov/2026:17:00:00 +0000", "timeEpoch": 1_795_798_800_000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

#[test]
fn http_echo_under_the_runtime_emulator() {
    let runtime = match std::env::var(RUNTIME_VAR).ok().filter(|v| !v.trim().is_empty()) {
        Some(runtime) => runtime,
        None => {
            assert!(
                !emulators_required(),
                "{RUNTIME_VAR} must be set when emulators are required; run scripts/test.sh"
            );
            eprintln!("SKIPPED http_echo_under_the_runtime_emulator: {RUNTIME_VAR} not set (run scripts/test.sh)");
            return;
        }
    };
    let daemon = Daemon::start();
    let env = [
        ("AWS_XRAY_DAEMON_ADDRESS", format!("127.0.0.1:{}", daemon.port)),
        ("POWERTOOLS_SERVICE_NAME", "echo-e2e".to_owned()),
        ("ENVIRONMENT", "e2e".to_owned()),
        // `run_concurrent` with two pollers: the burst below overlaps invocations.
        ("AWS_LAMBDA_MAX_CONCURRENCY", "2".to_owned()),
        // `lambda_runtime`'s own ERROR line for a failed invocation off (README).
        ("RUST_LOG", "info,lambda_runtime=off".to_owned()),
    ];
    // cargo-lambda only routes to the workspace's binary names.
    let function = Function::start(env!("CARGO_BIN_EXE_http-echo"), "http-echo", &runtime, &env);

    let ok = invoke(&runtime, &function.name, &event("lobby", r#"{"text":"hi"}"#));
    assert_eq!(ok["statusCode"], 200, "{ok}");
    let body: Value = serde_json::from_str(ok["body"].as_str().expect("a body")).expect("JSON body");
    assert_eq!(body, json!({"room": "lobby", "echo": r#"{"text":"hi"}"#}));
    let teapot = invoke(&runtime, &function.name, &event("teapot", ""));
    assert_eq!(teapot["statusCode"], 418, "{teapot}");
    assert_eq!(teapot["body"], "short and stout");
    // A function error: the emulator answers 500 (Lambda itself 200 with
    // `X-Amz-Function-Error`), with the error the runtime reported.
    let (head, payload) = post(&runtime, &function.name, &event("boom", "").to_string());
    let failed: Value = serde_json::from_str(&payload).unwrap_or_else(|e| panic!("not JSON ({e}): {head}\n{payload}"));
    assert_eq!(failed["errorMessage"], "the echo failed", "{head}\n{failed}");

    // A burst of six at once: each answer carries its own room.
    let answers: Vec<(String, Value)> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..6)
            .map(|i| {
                let (runtime, name) = (&runtime, &function.name);
                s.spawn(move || {
                    let room = format!("burst-{i}");
                    let answer = invoke(runtime, name, &event(&room, &format!("message {i}")));
                    (room, answer)
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().expect("an invocation")).collect()
    });
    for (room, answer) in &answers {
        let body: Value = serde_json::from_str(answer["body"].as_str().expect("a body")).expect("JSON body");
        assert_eq!(body["room"], room.as_str(), "{answer}");
    }

    // stdout: one line per write, each a JSON object; no secret anywhere.
    let lines = eventually("nine EMF documents", || {
        let lines = function.json();
        (lines.iter().filter(|l| l.get("MessageEchoed").is_some()).count() == 9).then_some(lines)
    });
    let text = function.lines().join("\n");
    for secret in [JWT, "qs-e2e-secret"] {
        assert!(!text.contains(secret), "{secret} on stdout:\n{text}");
    }
    let echoing: Vec<&Value> = lines.iter().filter(|l| l["message"] == "echoing").collect();
    assert_eq!(echoing.len(), 9, "{text}");
    assert!(echoing.iter().all(|l| l["service"] == "echo-e2e" && l["function_name"] == "http-echo"), "{text}");
    let ids: std::collections::HashSet<&str> =
        echoing.iter().filter_map(|l| l["function_request_id"].as_str()).filter(|id| !id.is_empty()).collect();
    assert_eq!(ids.len(), 9, "a request id of its own per invocation: {text}");
    // Under concurrency, each invocation's lines keep its own keys: the `echoing` line and
    // the logged event of one request id name the same room.
    for line in &echoing {
        let id = &line["function_request_id"];
        let logged = lines
            .iter()
            .find(|l| l["message"] == "Incoming event" && &l["function_request_id"] == id)
            .unwrap_or_else(|| panic!("the event of {id}: {text}"));
        let request: Value = serde_json::from_str(logged["event"].as_str().unwrap()).unwrap();
        assert_eq!(request["query"]["room"], line["room"], "{id}: {text}");
    }
    let logged = lines.iter().find(|l| l["message"] == "Incoming event").expect("the event is logged");
    let request: Value = serde_json::from_str(logged["event"].as_str().expect("the event")).expect("JSON event");
    assert_eq!(request["headers"]["authorization"], "[REDACTED]", "{request}");
    assert_eq!(request["query"]["token"], "[REDACTED]", "{request}");
    assert_eq!(request["path"], "/v1/echo");
    // The lifecycle's ERROR line for `boom`, the only one (`lambda_runtime`'s own is off).
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "one ERROR line, for `boom`: {text}");
    assert_eq!(errors[0]["message"], "handler returned an error", "{}", errors[0]);
    assert_eq!(errors[0]["error.message"], "the echo failed", "{}", errors[0]);
    assert!(errors[0]["function_request_id"].as_str().is_some_and(|id| !id.is_empty()), "{}", errors[0]);

    // X-Ray: one handler subsegment per invocation, with the HTTP view.
    let docs = eventually("nine Echo subsegments", || {
        let docs: Vec<Value> = daemon.docs.lock().unwrap().iter().filter(|d| d["name"] == "Echo").cloned().collect();
        (docs.len() == 9).then_some(docs)
    });
    let traces: std::collections::HashSet<&str> = docs.iter().filter_map(|d| d["trace_id"].as_str()).collect();
    assert_eq!(traces.len(), 9, "a trace of its own per invocation");
    let status = |d: &Value| d["http"]["response"]["status"].as_u64();
    assert_eq!(docs.iter().filter(|d| status(d) == Some(200)).count(), 7, "the lobby and the burst");
    let ok_doc = docs.iter().find(|d| status(d) == Some(200)).expect("the 200 subsegment");
    assert_eq!(ok_doc["http"]["request"]["method"], "POST", "{ok_doc}");
    assert_eq!(ok_doc["http"]["request"]["url"], "https://e2e.execute-api.eu-west-1.amazonaws.com/v1/echo");
    assert_eq!(ok_doc["http"]["request"]["client_ip"], "198.51.100.23");
    assert!(ok_doc.get("error").is_none() && ok_doc.get("fault").is_none(), "{ok_doc}");
    let teapot_doc = docs.iter().find(|d| status(d) == Some(418)).expect("the 418 subsegment");
    assert_eq!(teapot_doc["error"], true, "a 4xx is an error: {teapot_doc}");
    let boom_doc = docs.iter().find(|d| status(d).is_none()).expect("the failed subsegment");
    assert_eq!(boom_doc["fault"], true, "{boom_doc}");
    assert_eq!(boom_doc["http"]["request"]["method"], "POST", "the request half stays: {boom_doc}");
    let all = serde_json::to_string(&docs).unwrap();
    for secret in [JWT, "qs-e2e-secret"] {
        assert!(!all.contains(secret), "{secret} in X-Ray: {all}");
    }
}
