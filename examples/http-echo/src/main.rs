//! `http-echo`: a `lambda_http` function behind `ObsLayer` (feature `http` of
//! `streamer-obs`), the way an API Gateway HTTP API function uses the SDK. It answers
//! `{"room": …, "echo": <body>}`; the room `teapot` answers 418, the room `boom` fails.
//!
//! Run under the Lambda Runtime API (or its emulator) with the usual variables
//! (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, ...); `tests/e2e.rs` does so
//! under cargo-lambda's emulator.

use lambda_http::tower::Layer;
use lambda_http::{Body, Error, Request, RequestExt as _, Response, service_fn};
use streamer_obs::handler::HandlerOptions;
use streamer_obs::layer::ObsLayer;
use streamer_obs::metrics::{self, Unit};

async fn echo(request: Request) -> Result<Response<Body>, Error> {
    let room = request.query_string_parameters_ref().and_then(|q| q.first("room")).unwrap_or("lobby").to_owned();
    tracing::info!(room = room.as_str(), "echoing");
    metrics::add("MessageEchoed", Unit::Count, 1.0);
    match room.as_str() {
        "boom" => Err("the echo failed".into()),
        "teapot" => Ok(Response::builder().status(418).body(Body::from("short and stout"))?),
        _ => {
            let body = match request.body() {
                Body::Text(text) => text.clone(),
                _ => String::new(),
            };
            let answer = serde_json::json!({ "room": room, "echo": body });
            Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(answer.to_string()))?)
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    streamer_obs::init()?;
    let options = HandlerOptions::new("Echo").log_event(true);
    // Several invocations at once when `AWS_LAMBDA_MAX_CONCURRENCY` says so (Lambda Managed
    // Instances), one at a time otherwise.
    lambda_http::run_concurrent(ObsLayer::new(options).layer(service_fn(echo))).await
}
