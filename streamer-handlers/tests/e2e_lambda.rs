//! End to end: the `connect` and `disconnect` binaries run under the Lambda Runtime API
//! emulator of cargo-lambda (`cargo lambda watch --only-lambda-apis`, started by
//! `scripts/test.sh`, address in `STREAMER_TEST_LAMBDA_RUNTIME_API`), with DynamoDB Local
//! as the table (`STREAMER_TEST_DYNAMODB_ENDPOINT`) and a loopback UDP listener as the
//! X-Ray daemon. WebSocket events are the `aws_lambda_events` fixtures with fresh tokens.
//!
//! Without the emulators the test prints a skip notice, unless
//! `STREAMER_REQUIRE_EMULATORS=1` or `CI` is set: then it fails.

mod common;

use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use common::emulator::{Daemon, Function, RUNTIME_VAR, emulators_required, eventually, invoke};
use serde_json::Value;
use streamer_handlers::store::{ConnectionStore, DynamoDbConnectionStore};
use streamer_handlers::testing::{DEV_RSA_PUBLIC_KEY_PEM, TokenMinter};

const DYNAMODB_VAR: &str = "STREAMER_TEST_DYNAMODB_ENDPOINT";

fn env_or_skip(test: &str) -> Option<(String, String)> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    match (get(RUNTIME_VAR), get(DYNAMODB_VAR)) {
        (Some(rt), Some(db)) => Some((rt, db)),
        _ => {
            assert!(
                !emulators_required(),
                "{test}: {RUNTIME_VAR} and {DYNAMODB_VAR} must be set when emulators are required (STREAMER_REQUIRE_EMULATORS=1 or CI); run scripts/test.sh"
            );
            eprintln!(
                "SKIPPED {test}: {RUNTIME_VAR} / {DYNAMODB_VAR} not set (run scripts/test.sh to start cargo-lambda and DynamoDB Local)"
            );
            None
        }
    }
}

fn connect_event(connection_id: &str, token: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
    let mut r = match token {
        Some(t) => common::connect_with_query_token(t),
        None => common::connect_request(),
    };
    r.request_context.connection_id = Some(connection_id.to_owned());
    r
}

fn disconnect_event(connection_id: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut r = common::disconnect_request();
    r.request_context.connection_id = Some(connection_id.to_owned());
    r
}

fn emf_for<'a>(lines: &'a [Value], metric: &str, connection_id: &str) -> Option<&'a Value> {
    lines.iter().find(|l| l.get("_aws").is_some() && l.get(metric).is_some() && l["connection_id"] == connection_id)
}

fn children(doc: &Value) -> Vec<String> {
    doc["subsegments"].as_array().into_iter().flatten().map(|s| s["name"].as_str().unwrap_or("?").to_owned()).collect()
}

fn child<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["subsegments"]
        .as_array()
        .and_then(|c| c.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no {name} under {doc:#}"))
}

/// The DynamoDB call's `aws` subsegment under `parent`.
fn assert_dynamodb_call(parent: &Value, operation: &str, table: &str) {
    let call = child(parent, "DynamoDB");
    assert_eq!(call["namespace"], "aws", "{call:#}");
    assert_eq!(call["aws"]["operation"], operation, "{call:#}");
    assert_eq!(call["aws"]["table_name"], table, "{call:#}");
}

#[test]
fn connect_and_disconnect_binaries_under_the_runtime_emulator() {
    let Some((runtime, dynamodb)) = env_or_skip("connect_and_disconnect_binaries_under_the_runtime_emulator") else {
        return;
    };
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
    );
    let table = format!("e2e-connections-{unique}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let config = streamer_obs::aws::emulator_config(&dynamodb, "us-east-1").await;
        let store = DynamoDbConnectionStore::new(aws_sdk_dynamodb::Client::new(&config), table.clone());
        store.create_table().await.expect("table created");
    });

    let daemon = Daemon::start();
    let env: Vec<(&str, String)> = vec![
        ("AWS_XRAY_DAEMON_ADDRESS", format!("127.0.0.1:{}", daemon.port)),
        ("AWS_ENDPOINT_URL", dynamodb.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("CONNECTIONS_TABLE", table.clone()),
        ("JWT_PUBLIC_KEY", DEV_RSA_PUBLIC_KEY_PEM.into()),
        ("ALLOWED_TENANTS", "acme,globex".into()),
        ("ENVIRONMENT", "e2e".into()),
        ("POWERTOOLS_SERVICE_NAME", "streamer".into()),
    ];
    // cargo-lambda only routes to the project's binary names. `connect` runs with four
    // concurrent pollers (`run_concurrent`, Lambda Managed Instances); the burst at the end
    // drives them.
    let mut connect_env = env.clone();
    connect_env.push(("AWS_LAMBDA_MAX_CONCURRENCY", "4".into()));
    let connect = Function::start(env!("CARGO_BIN_EXE_connect"), "connect", &runtime, &connect_env);
    let disconnect = Function::start(env!("CARGO_BIN_EXE_disconnect"), "disconnect", &runtime, &env);

    let minter = TokenMinter::dev_rsa().expect("dev key");
    let good = minter.mint("user-e2e", "acme", Duration::from_secs(300)).expect("token");
    let expired = minter.expired("user-e2e", "acme").expect("token");
    let foreign = minter.mint("user-e2e", "initech", Duration::from_secs(300)).expect("token");

    // $connect: accepted, then the three refusals.
    let accepted = "E2eAccepted0001=";
    let answer = invoke(&runtime, &connect.name, &connect_event(accepted, Some(&good)));
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["body"], r#"{"message":"Connected successfully"}"#);
    let cases = [
        ("E2eMissing00001=", None, 401, "UNAUTHORIZED", "missing_token", "missing_token"),
        ("E2eExpired00001=", Some(expired.as_str()), 401, "UNAUTHORIZED", "invalid_jwt", "expired"),
        ("E2eTenant000001=", Some(foreign.as_str()), 403, "FORBIDDEN", "tenant_not_allowed", "tenant_not_allowed"),
    ];
    for (id, token, status, code, _, _) in &cases {
        let answer = invoke(&runtime, &connect.name, &connect_event(id, *token));
        assert_eq!(answer["statusCode"], *status, "{id}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().expect("body")).expect("JSON body");
        assert_eq!(body["code"], *code);
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    }

    // $disconnect twice: the record, then a gone record.
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..2 {
        let answer = invoke(&runtime, &disconnect.name, &disconnect_event(accepted));
        assert_eq!(answer["statusCode"], 200, "{answer}");
        assert_eq!(answer["body"], r#"{"message":"Disconnected successfully"}"#);
    }

    // stdout of $connect: log lines and EMF documents.
    let lines = eventually("the connect EMF documents", || {
        let lines = connect.json();
        (lines.iter().filter(|l| l.get("_aws").is_some()).count() >= 4).then_some(lines)
    });
    let established = lines
        .iter()
        .find(|l| l["message"] == "Connection established")
        .unwrap_or_else(|| panic!("no Connection established line in {lines:#?}"));
    assert_eq!(established["connection_id"], accepted);
    assert_eq!(established["user_id"], "user-e2e");
    assert_eq!(established["tenant_id"], "acme");
    assert_eq!(established["route_key"], "$connect");
    assert_eq!(established["function_name"], connect.name.as_str());
    assert!(established["xray_trace_id"].as_str().is_some_and(|t| t.starts_with("1-")), "{established}");
    let doc = emf_for(&lines, "ConnectionEstablished", accepted).expect("ConnectionEstablished EMF");
    assert_eq!(doc["TenantID"], "acme");
    assert_eq!(doc["Environment"], "e2e");
    assert_eq!(doc["Action"], "connect");
    for (id, _, _, _, error_type, reason) in &cases {
        let refused = lines
            .iter()
            .find(|l| l["message"] == "Connection refused" && l["connection_id"] == *id)
            .unwrap_or_else(|| panic!("no refusal line for {id}"));
        assert_eq!(refused["level"], "WARN");
        assert_eq!(refused["error_type"], *error_type);
        assert_eq!(refused["reason"], *reason);
        let emf = emf_for(&lines, "AuthenticationFailed", id).expect("AuthenticationFailed EMF");
        assert_eq!(emf["ErrorType"], *error_type);
    }
    let stdout = connect.lines().join("\n");
    for token in [&good, &expired, &foreign] {
        assert!(!stdout.contains(token.as_str()), "a token reached stdout");
    }

    // stdout of $disconnect.
    let lines = eventually("the disconnect EMF documents", || {
        let lines = disconnect.json();
        (lines.iter().filter(|l| l.get("_aws").is_some()).count() >= 2).then_some(lines)
    });
    let completed: Vec<&Value> = lines.iter().filter(|l| l["message"] == "Disconnect completed").collect();
    assert_eq!(completed.len(), 2, "{lines:#?}");
    assert_eq!(completed[0]["connection_found"], true);
    assert_eq!(completed[0]["tenant_id"], "acme");
    assert_eq!(completed[0]["disconnect_status_code"], 1005);
    assert_eq!(completed[0]["disconnect_reason"], "Client-side close frame status not set");
    assert_eq!(completed[1]["connection_found"], false);
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("ConnectionClosed").is_some()).collect();
    assert_eq!(emf[0]["TenantID"], "acme");
    let duration = emf[0]["ConnectionDuration"].as_f64().expect("ConnectionDuration");
    assert!(duration > 0.0 && duration < 60.0, "fractional seconds: {duration}");
    assert_eq!(emf[1]["TenantID"], "unknown");
    assert!(emf[1].get("ConnectionDuration").is_none());
    assert_eq!(emf[0]["Action"], "disconnect");

    // Subsegment trees, with the DynamoDB calls as `aws` subsegments.
    let seg = eventually("the HandleConnect subsegment", || daemon.handler_doc("HandleConnect", accepted));
    assert_eq!(children(&seg), ["ValidateJWT", "SaveConnection"]);
    assert_eq!(seg["annotations"]["tenant_id"], "acme");
    assert_eq!(seg["annotations"]["user_id"], "user-e2e");
    assert_eq!(seg["annotations"]["action"], "connect");
    assert!(seg["parent_id"].is_string() && seg["trace_id"].is_string(), "{seg:#}");
    assert_dynamodb_call(child(&seg, "SaveConnection"), "PutItem", &table);
    for (id, _, _, _, _, reason) in &cases {
        let seg = eventually("a refused HandleConnect", || daemon.handler_doc("HandleConnect", id));
        assert_eq!(seg["error"], true, "{seg:#}");
        assert!(seg.get("fault").is_none(), "{seg:#}");
        assert_eq!(seg["annotations"]["reason"], *reason);
        assert_eq!(children(&seg), ["ValidateJWT"]);
    }
    let seg = eventually("the HandleDisconnect subsegment", || {
        let docs = daemon.docs.lock().unwrap();
        let found: Vec<Value> = docs
            .iter()
            .filter(|d| d["name"] == "HandleDisconnect" && d["annotations"]["connection_id"] == accepted)
            .cloned()
            .collect();
        (found.len() == 2).then(|| found[0].clone())
    });
    assert_eq!(children(&seg), ["LoadConnection", "DeleteConnection"]);
    assert_eq!(seg["annotations"]["disconnect_status_code"], 1005);
    assert_dynamodb_call(child(&seg, "LoadConnection"), "GetItem", &table);
    assert_dynamodb_call(child(&seg, "DeleteConnection"), "DeleteItem", &table);

    // The record is gone from the table.
    rt.block_on(async {
        let config = streamer_obs::aws::emulator_config(&dynamodb, "us-east-1").await;
        let store = DynamoDbConnectionStore::new(aws_sdk_dynamodb::Client::new(&config), table.clone());
        assert_eq!(store.get(accepted).await.expect("get"), None);
    });

    concurrent_burst(&runtime, &connect, &daemon, &minter);
}

/// Twelve `$connect` invocations at once against the binary's four concurrent pollers:
/// every answer, log line, EMF document and subsegment belongs to its own invocation, and
/// some invocations really overlapped in time.
fn concurrent_burst(runtime: &str, connect: &Function, daemon: &Daemon, minter: &TokenMinter) {
    const N: usize = 12;
    let cases: Vec<(String, String, &str, String)> = (0..N)
        .map(|i| {
            let tenant = if i % 2 == 0 { "acme" } else { "globex" };
            let user = format!("burst-user-{i}");
            let token = minter.mint(&user, tenant, Duration::from_secs(300)).expect("token");
            (format!("E2eBurst{i:07}="), user, tenant, token)
        })
        .collect();
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(id, _, _, token)| {
                scope.spawn(move || invoke(runtime, &connect.name, &connect_event(id, Some(token))))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("invoke thread")).collect()
    });
    for ((id, ..), answer) in cases.iter().zip(&answers) {
        assert_eq!(answer["statusCode"], 200, "{id}: {answer}");
    }

    let lines = eventually("the burst's EMF documents", || {
        let lines = connect.json();
        let n = lines
            .iter()
            .filter(|l| l.get("ConnectionEstablished").is_some())
            .filter(|l| l["connection_id"].as_str().is_some_and(|c| c.starts_with("E2eBurst")))
            .count();
        (n == N).then_some(lines)
    });
    let mut request_ids = std::collections::HashSet::new();
    let mut windows = Vec::new();
    for (id, user, tenant, _) in &cases {
        let line = lines
            .iter()
            .find(|l| l["message"] == "Connection established" && l["connection_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no Connection established line for {id}"));
        assert_eq!(line["user_id"], user.as_str(), "{line}");
        assert_eq!(line["tenant_id"], *tenant, "{line}");
        let request_id = line["function_request_id"].as_str().expect("function_request_id").to_owned();
        assert!(request_ids.insert(request_id.clone()), "request id {request_id} on two invocations");
        let emf = emf_for(&lines, "ConnectionEstablished", id).expect("ConnectionEstablished EMF");
        assert_eq!(emf["TenantID"], *tenant, "{emf}");
        assert_eq!(emf["user_id"], user.as_str(), "{emf}");

        let seg = eventually("a burst HandleConnect subsegment", || daemon.handler_doc("HandleConnect", id));
        assert_eq!(seg["annotations"]["user_id"], user.as_str(), "{seg:#}");
        assert_eq!(seg["annotations"]["tenant_id"], *tenant, "{seg:#}");
        assert_eq!(seg["trace_id"], line["xray_trace_id"], "{seg:#}\n{line}");
        assert_eq!(children(&seg), ["ValidateJWT", "SaveConnection"]);
        windows.push((seg["start_time"].as_f64().expect("start"), seg["end_time"].as_f64().expect("end")));
    }
    windows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let overlapped = windows.windows(2).any(|w| w[1].0 < w[0].1);
    assert!(overlapped, "no two invocations overlapped: run_concurrent did not run them concurrently {windows:?}");
}
