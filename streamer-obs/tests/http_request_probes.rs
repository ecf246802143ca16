//! The `http` block of `lambda_http` handlers per event source: the URL rebuilt per source
//! (the scheme from `X-Forwarded-Proto` when `lambda_http` leaves a relative URI, as for an
//! ALB with multi-value headers: it was always `https`), the X-8 cut of `http.request.*` by
//! characters, X-13 integer fields, status flags (X-16) and query redaction.
#![cfg(feature = "http")]

mod common;

use common::*;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Layer, Service, ServiceExt};
use lambda_http::{Body, IntoResponse, Request, Response, service_fn};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use streamer_obs::handler::HandlerOptions;
use streamer_obs::layer::ObsLayer;
use streamer_obs::testing::ContextBuilder;
use tracing::instrument::WithSubscriber;

type H = Captured;

fn h() -> H {
    captured(config(&[]))
}

fn ev(payload: Value) -> LambdaEvent<LambdaRequest> {
    let payload: LambdaRequest = serde_json::from_value(payload).expect("a lambda_http event");
    LambdaEvent::new(payload, ContextBuilder::new().request_id("req-i").trace_header(HEADER).build())
}

fn run<S, R>(h: &H, service: S, event: LambdaEvent<LambdaRequest>) -> Result<Value, String>
where
    S: Service<Request, Response = R, Error = lambda_http::Error> + Send + 'static,
    S::Future: Send + 'static,
    R: IntoResponse + 'static,
{
    run_adapter(h.dispatch.clone(), service, event)
}

fn layer(h: &H, name: &'static str) -> ObsLayer {
    ObsLayer::new(HandlerOptions::new(name)).telemetry(h.telemetry.clone())
}

fn url_of(payload: Value, name: &'static str) -> (Value, Value) {
    let h = h();
    let service = layer(&h, name)
        .layer(service_fn(|_r: Request| async { Ok::<_, lambda_http::Error>(Response::new(Body::from("ok"))) }));
    let response = run(&h, service, ev(payload)).unwrap();
    let sub = h.subsegment(name);
    (response, sub)
}

fn v2(path: &str, query: &str, headers: Value) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": http_api_request_context("GET", path),
        "isBase64Encoded": false
    })
}

fn alb(path: &str, headers: Value, query: Value) -> Value {
    json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/6d0ecf831eec9f09"}},
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": query,
        "headers": headers,
        "isBase64Encoded": false,
        "body": ""
    })
}

#[test]
fn alb_over_plain_http_keeps_the_http_scheme() {
    let (_, sub) = url_of(
        alb(
            "/health",
            json!({"host": "lb.example.com", "x-forwarded-proto": "http", "x-forwarded-for": "198.51.100.23"}),
            json!({}),
        ),
        "AlbHttp",
    );
    assert_eq!(sub["http"]["request"]["url"], "http://lb.example.com/health", "{sub}");
}

#[test]
fn alb_without_a_host_header_has_no_query_in_the_url() {
    let (_, sub) =
        url_of(alb("/v1/rooms", json!({"x-forwarded-for": "198.51.100.23"}), json!({"token": "SECRETQ"})), "AlbNoHost");
    let url = sub["http"]["request"]["url"].as_str().unwrap_or_default().to_owned();
    assert!(!url.contains('?') && !url.contains("SECRETQ"), "{url}");
    assert!(url.ends_with("/v1/rooms"), "{url}");
}

#[test]
fn http_api_without_a_host_header_uses_the_domain_name() {
    let mut event = v2("/v1/r", "a=1", json!({"x-forwarded-proto": "https"}));
    event["requestContext"]["domainName"] = json!("api.example.com");
    let (_, sub) = url_of(event, "NoHostV2");
    assert_eq!(sub["http"]["request"]["url"], "https://api.example.com/v1/r", "{sub}");
}

#[test]
fn a_percent_encoded_question_mark_in_the_path_does_not_leak_as_a_query() {
    let (_, sub) = url_of(v2("/v1/files/a%3Ftoken%3DSECRET", "", json!({"host": "h.example.com"})), "PctQ");
    let url = sub["http"]["request"]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("https://h.example.com/v1/files/"), "{url}");
}

#[test]
fn a_fragment_like_path_keeps_the_path() {
    // `#` cannot be in an HTTP request target, but a percent-encoded one can.
    let (_, sub) = url_of(v2("/v1/tags/%23rust", "", json!({"host": "h.example.com"})), "Frag");
    assert_eq!(sub["http"]["request"]["url"], "https://h.example.com/v1/tags/%23rust", "{sub}");
}

#[test]
fn a_multibyte_user_agent_is_cut_to_250_characters_not_bytes() {
    let ua = "ü".repeat(400);
    let (_, sub) = url_of(v2("/ua", "", json!({"host": "h.example.com", "user-agent": ua})), "UaCut");
    let got = sub["http"]["request"]["user_agent"].as_str().expect("a user agent");
    assert_eq!(got.chars().count(), 250, "{} chars / {} bytes", got.chars().count(), got.len());
    assert!(got.chars().all(|c| c == 'ü'));
}

#[test]
fn a_multibyte_path_url_is_cut_to_250_characters() {
    let path = format!("/{}", "é".repeat(400));
    let (_, sub) = url_of(v2(&path, "", json!({"host": "h.example.com"})), "PathCut");
    let got = sub["http"]["request"]["url"].as_str().expect("a url");
    assert!(got.chars().count() <= 250, "{}", got.chars().count());
    assert!(got.starts_with("https://h.example.com/"), "{got}");
}

#[test]
fn rest_api_client_ip_and_user_agent_without_headers_come_from_the_identity() {
    // Headers are null in a REST API test invocation from the console; X-13 client_ip.
    let event = json!({
        "resource": "/{proxy+}", "path": "/v1/x", "httpMethod": "GET",
        "headers": {"Host": "wt6mne2s9k.execute-api.us-west-2.amazonaws.com", "X-Forwarded-For": "192.0.2.10"},
        "multiValueHeaders": {"X-Forwarded-For": ["192.0.2.10, 10.0.0.1", "10.9.9.9"]},
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": null, "stageVariables": null,
        "requestContext": {"accountId": "123456789012", "resourceId": "us4z18", "stage": "test",
            "requestId": "r", "identity": {"sourceIp": "192.0.2.10"}, "resourcePath": "/{proxy+}",
            "httpMethod": "GET", "apiId": "wt6mne2s9k", "path": "/test/v1/x"},
        "body": null, "isBase64Encoded": false
    });
    let (_, sub) = url_of(event, "RestIp");
    assert_eq!(sub["http"]["request"]["client_ip"], "192.0.2.10", "{sub}");
}

#[test]
fn a_websocket_message_records_a_block_without_panicking() {
    let event = json!({
        "requestContext": {"routeKey": "sendmessage", "eventType": "MESSAGE", "extendedRequestId": "x",
            "requestTime": "t", "messageDirection": "IN", "stage": "prod", "connectedAt": 1, "requestTimeEpoch": 1,
            "identity": {"sourceIp": "203.0.113.9"}, "requestId": "r", "domainName": "ws.example.com",
            "connectionId": "c1", "apiId": "a"},
        "body": "{\"action\":\"sendmessage\"}", "isBase64Encoded": false
    });
    let (_, sub) = url_of(event, "Ws");
    assert_eq!(sub["http"]["request"]["method"], "GET", "{sub}");
    assert_eq!(sub["http"]["response"]["status"], 200, "{sub}");
}

#[test]
fn a_head_response_with_content_length_and_no_body() {
    let h = h();
    let service = layer(&h, "Head").layer(service_fn(|_r: Request| async {
        Ok::<_, lambda_http::Error>(
            Response::builder().status(200).header("content-length", "1234").body(Body::Empty).unwrap(),
        )
    }));
    run(&h, service, ev(v2("/f", "", json!({"host": "h.example.com"})))).unwrap();
    let sub = h.subsegment("Head");
    assert!(sub["http"]["response"]["content_length"].is_u64(), "{sub}");
    assert!(sub["http"]["response"]["status"].is_u64(), "{sub}");
}

#[test]
fn a_vpc_lattice_request_records_url_user_agent_and_client_ip() {
    let event = json!({
        "version": "2.0",
        "path": "/health/check",
        "method": "GET",
        "headers": {
            "host": ["svc-0a1b.7d67968.vpc-lattice-svcs.us-east-1.on.aws"],
            "user-agent": ["curl/8.5"],
            "x-forwarded-for": ["10.0.0.5"]
        },
        "queryStringParameters": {"token": "SECRETQ"},
        "body": "",
        "isBase64Encoded": false,
        "requestContext": {
            "serviceNetworkArn": "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0bf3f2882e9cc805a",
            "serviceArn": "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0a40eebed65f8d69c",
            "targetGroupArn": "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-6d0ecf831eec9f09",
            "identity": {"sourceVpcArn": "arn:aws:ec2:region:123456789012:vpc/vpc-0b8276c84697e7339", "type": "AWS_IAM"},
            "region": "us-east-1",
            "timeEpoch": "1690497599177430"
        }
    });
    let (_, sub) = url_of(event, "Lattice");
    let req = &sub["http"]["request"];
    assert_eq!(req["url"], "https://svc-0a1b.7d67968.vpc-lattice-svcs.us-east-1.on.aws/health/check", "{sub}");
    assert_eq!(req["user_agent"], "curl/8.5", "{sub}");
    assert_eq!(req["client_ip"], "10.0.0.5", "{sub}");
}

/// A streamed body the layer never reads (it records the head only).
#[allow(dead_code)]
struct Chunks(Vec<&'static str>);

#[test]
fn the_streaming_layer_sets_the_x16_flags_without_an_error_line() {
    use lambda_http::RequestExt as _;
    for (status, flags) in [
        (429u16, [true, true, false]),
        (503, [false, false, true]),
        (404, [true, false, false]),
        (200, [false, false, false]),
    ] {
        let h = h();
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let ctx = ContextBuilder::new().request_id("req-st").trace_header(HEADER).build();
        let mut request = Request::new(Body::Empty).with_lambda_context(ctx);
        *request.uri_mut() = "https://h.example.com/events".parse().unwrap();
        let inner = service_fn(move |_r: Request| async move {
            Ok::<_, lambda_http::Error>(Response::builder().status(status).body(Chunks(vec!["x"])).unwrap())
        });
        let mut service = layer(&h, "StreamFlags").streaming().layer(inner);
        let response = rt
            .block_on(async { service.ready().await.unwrap().call(request).await }.with_subscriber(h.dispatch.clone()))
            .unwrap();
        assert_eq!(response.status(), status);
        let sub = h.subsegment("StreamFlags");
        let flag = |k: &str| sub.get(k).and_then(Value::as_bool).unwrap_or(false);
        assert_eq!([flag("error"), flag("throttle"), flag("fault")], flags, "{status}: {sub}");
        assert_eq!(sub["http"]["response"]["status"], status, "{sub}");
        assert!(sub.get("cause").is_none(), "{sub}");
        assert!(h.log.json_lines().iter().all(|l| l["level"] != "ERROR"), "{:?}", h.log.lines());
    }
}

#[streamer_obs::instrumented(name = "AttrFive", ctx = streamer_obs::http::lambda_context(&request))]
async fn attr_five(request: Request) -> Result<(lambda_http::http::StatusCode, String), lambda_http::Error> {
    let _ = request;
    Ok((lambda_http::http::StatusCode::from_u16(599).unwrap(), "upstream".to_owned()))
}

#[streamer_obs::instrumented(name = "AttrMut", ctx = streamer_obs::http::lambda_context(&request))]
async fn attr_mut(mut request: lambda_http::Request) -> Result<Response<Body>, lambda_http::Error> {
    request.headers_mut().remove("user-agent");
    Ok(Response::builder().status(428).body(Body::from("precondition"))?)
}

fn run_attr<F, Fut, R>(name: &str, handler: F) -> (Value, Value, H)
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R, lambda_http::Error>> + Send + 'static,
    R: IntoResponse + 'static,
{
    let h = h();
    let telemetry = h.telemetry.clone();
    let handler = std::sync::Arc::new(handler);
    let service = service_fn(move |request: Request| {
        let (telemetry, handler) = (telemetry.clone(), std::sync::Arc::clone(&handler));
        async move { telemetry.scope(handler(request)).await }
    });
    let response = run(
        &h,
        service,
        ev(v2("/v1/x", "", json!({"host": "h.example.com", "user-agent": "ua/1", "x-forwarded-for": "203.0.113.1"}))),
    )
    .unwrap();
    let sub = h.subsegment(name);
    (response, sub, h)
}

#[test]
fn the_attribute_599_is_a_fault_without_an_error_line() {
    let (response, sub, h) = run_attr("AttrFive", attr_five);
    assert_eq!(response["statusCode"], 599);
    assert_eq!(sub["fault"], true, "{sub}");
    assert!(sub.get("error").is_none() && sub.get("cause").is_none(), "{sub}");
    assert_eq!(sub["http"]["response"]["content_length"], 8, "{sub}");
    assert!(h.log.json_lines().iter().all(|l| l["level"] != "ERROR"), "{:?}", h.log.lines());
}

#[test]
fn the_attribute_on_a_mut_lambda_http_request_records_both_halves() {
    let (response, sub, _h) = run_attr("AttrMut", attr_mut);
    assert_eq!(response["statusCode"], 428);
    assert_eq!(sub["http"]["request"]["user_agent"], "ua/1", "the request as it came: {sub}");
    assert_eq!(sub["http"]["response"]["status"], 428, "{sub}");
    assert_eq!(sub["error"], true, "{sub}");
}

fn all_on(h: &H, name: &'static str) -> ObsLayer {
    ObsLayer::new(HandlerOptions::new(name).log_event(true).capture_response(true)).telemetry(h.telemetry.clone())
}

#[test]
fn repeated_and_presigned_query_secrets_are_not_logged() {
    let h = h();
    let service = all_on(&h, "Qs")
        .layer(service_fn(|_r: Request| async { Ok::<_, lambda_http::Error>(Response::new(Body::from("ok"))) }));
    let query = "token=CanaryTok1&token=CanaryTok2&X-Amz-Signature=CanarySig3&X-Amz-Credential=CanaryCred4&X-Amz-Security-Token=CanaryStok5";
    run(&h, service, ev(v2("/dl", query, json!({"host": "h.example.com"})))).unwrap();
    let all = format!("{}\n{}", h.log.lines().join("\n"), h.xray.raw().join("\n"));
    for s in ["CanaryTok1", "CanaryTok2", "CanarySig3", "CanaryCred4", "CanaryStok5"] {
        assert!(!all.contains(s), "{s}: {all}");
    }
}

#[test]
fn a_binary_png_response_is_captured_as_its_length_and_recorded_with_its_length() {
    let h = h();
    let png: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe, 0x00, 0x80];
    let body = png.clone();
    let service = all_on(&h, "Png").layer(service_fn(move |_r: Request| {
        let body = body.clone();
        async move {
            Ok::<_, lambda_http::Error>(
                Response::builder().header("content-type", "image/png").body(Body::from(body)).unwrap(),
            )
        }
    }));
    let response = run(&h, service, ev(v2("/img", "", json!({"host": "h.example.com"})))).unwrap();
    assert_eq!(response["isBase64Encoded"], true, "{response}");
    let sub = h.subsegment("Png");
    assert_eq!(sub["http"]["response"]["content_length"], png.len() as u64, "{sub}");
    let all = format!("{}\n{}", h.log.lines().join("\n"), h.xray.raw().join("\n"));
    assert!(all.contains("body_bytes"), "the binary body is captured as its length: {all}");
}

#[test]
fn ordinary_urls_user_agents_and_ips_are_recorded_as_they_are() {
    let cases = [
        (
            "/v1/rooms/01HGW2N7EJ9Z8XK5Q4R3T2V1B0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "2001:db8:85a3::8a2e:370:7334",
        ),
        (
            "/assets/app.3f2a9c8e7b6d5a4f3e2d1c0b9a8f7e6d.js",
            "Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B Build/UP1A.231005.007)",
            "198.51.100.23",
        ),
        (
            "/v1/users/3fa85f64-5717-4562-b3fc-2c963f66afa6/avatar",
            "aws-sdk-rust/1.3.0 os/linux lang/rust/1.80.0",
            "10.0.0.1",
        ),
        ("/v1/search/a.b.c", "python-requests/2.31.0", "192.0.2.1"),
        ("/v1/tokens/list", "curl/8.5.0", "192.0.2.2"),
        ("/v1/auth/logout", "Go-http-client/2.0", "192.0.2.3"),
    ];
    for (path, ua, ip) in cases {
        let (_, sub) =
            url_of(v2(path, "", json!({"host": "h.example.com", "user-agent": ua, "x-forwarded-for": ip})), "Plain");
        let req = &sub["http"]["request"];
        assert_eq!(req["url"], format!("https://h.example.com{path}"), "{sub}");
        assert_eq!(req["user_agent"], ua, "{sub}");
        assert_eq!(req["client_ip"], ip, "{sub}");
    }
}

/// An ALB target group with multi-value headers enabled: the event has only
/// `multiValueHeaders`, so `lambda_http` builds a relative URI and the layer rebuilds the
/// URL from the `Host` header. The listener is plain HTTP (`x-forwarded-proto: http`).
#[test]
fn alb_multi_value_headers_over_plain_http_keeps_the_http_scheme() {
    let event = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/6d0ecf831eec9f09"}},
        "httpMethod": "GET",
        "path": "/health",
        "multiValueQueryStringParameters": {},
        "multiValueHeaders": {
            "host": ["lb.example.com"],
            "user-agent": ["ELB-HealthChecker/2.0"],
            "x-forwarded-for": ["198.51.100.23"],
            "x-forwarded-port": ["80"],
            "x-forwarded-proto": ["http"]
        },
        "isBase64Encoded": false,
        "body": ""
    });
    let (_, sub) = url_of(event, "AlbMv");
    assert_eq!(sub["http"]["request"]["user_agent"], "ELB-HealthChecker/2.0", "{sub}");
    assert_eq!(sub["http"]["request"]["url"], "http://lb.example.com/health", "{sub}");
}
