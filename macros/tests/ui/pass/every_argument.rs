use lambda_runtime::{Context, Error, LambdaEvent};
use serde::Serialize;
use streamer_obs::instrumented;

#[derive(Debug, Serialize)]
struct Request {
    connection_id: String,
    tenant_id: String,
}

#[instrumented(
    name = "HandleConnect",
    annotations(connection_id = event.payload.connection_id.as_str(), tenant_id = &event.payload.tenant_id),
    metadata(request = event.payload, "free form" = 1),
    fields(route = "$connect", http.method = %"GET", debugged = ?event.payload),
    capture_response = true,
    capture_error = false,
    log_event = true,
    cold_start_metric = true,
    raise_on_empty_metrics = true,
    latency_metric = "ConnectLatency",
    deadline_margin_ms = 100,
)]
async fn connect(event: LambdaEvent<Request>, attempt: u32) -> Result<u32, Error> {
    Ok(attempt)
}

#[instrumented(ctx = context, latency_metric = false, skip_all)]
async fn with_ctx(context: Context, body: String) -> Result<usize, Error> {
    let _ = context;
    Ok(body.len())
}

#[instrumented(skip(token), name = "Validate", annotations(len = token.len()), capture_error = true)]
fn validate(token: &str, strict: bool) -> Result<bool, std::fmt::Error> {
    Ok(strict && !token.is_empty())
}

fn main() {}
