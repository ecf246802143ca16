//! The expansion is lint-clean in a strict user crate: every argument, handler and
//! function, async and sync, under `deny(warnings, clippy::all, unused_qualifications)`
//! (clippy runs on this file in CI with `-D warnings`).
#![deny(warnings, clippy::all, unused_qualifications)]

use std::error::Error as StdError;

use lambda_runtime::{Context, Error, LambdaEvent};
use serde::{Deserialize, Serialize};
use streamer_obs::instrumented;

#[derive(Debug, Clone, Deserialize, Serialize)]
struct Request {
    connection_id: String,
    tenant_id: String,
    attempt: u32,
}

#[derive(Debug, Serialize)]
struct Response {
    status: u16,
}

#[instrumented(
    name = "HandleConnect",
    annotations(connection_id = event.payload.connection_id.as_str(), attempt = event.payload.attempt),
    metadata(request = event.payload),
    fields(route = "$connect", tenant_id = %event.payload.tenant_id),
    capture_response = true,
    capture_error = true,
    log_event = true,
    cold_start_metric = true,
    raise_on_empty_metrics = false,
    latency_metric = "ConnectLatency",
    deadline_margin_ms = 100
)]
async fn handler(event: LambdaEvent<Request>) -> Result<Response, Error> {
    let n = check(&event.payload.tenant_id)?;
    let _ = count(n);
    Ok(Response { status: 200 })
}

#[instrumented(latency_metric = false, skip_all)]
async fn handler_no_latency(event: LambdaEvent<Request>, label: &str) -> Result<(), Box<dyn StdError + Send + Sync>> {
    let _ = (event, label);
    Ok(())
}

#[instrumented(ctx = ctx, skip(payload))]
async fn with_ctx(ctx: &Context, payload: Request, retries: u8) -> Result<u8, Error> {
    let _ = (ctx, payload);
    Ok(retries)
}

#[instrumented(name = "Check", annotations(tenant = tenant), metadata(len = tenant.len()), skip(tenant))]
fn check(tenant: &str) -> Result<usize, std::num::ParseIntError> {
    if tenant.is_empty() {
        return Ok(0);
    }
    Ok(tenant.len())
}

#[instrumented(capture_error = false)]
fn count(n: usize) -> usize {
    n + 1
}

#[instrumented]
async fn lookup(key: String) -> Option<String> {
    Some(key)
}

// References and non-primitive parameters are recorded through `Debug`.
#[instrumented]
fn by_reference(request: &Request, maybe: Option<&str>, pair: (u8, u8), items: &[u8], count: &u64) -> usize {
    request.connection_id.len() + maybe.map_or(0, str::len) + usize::from(pair.0) + items.len() + *count as usize
}

#[instrumented]
fn unit_return(mut n: u8) {
    n += 1;
    let _ = n;
}

#[derive(Debug)]
struct Store {
    table: String,
}

impl Store {
    #[instrumented(fields(table = %self.table))]
    async fn get(&self, id: u64) -> Result<u64, std::io::Error> {
        Ok(id)
    }

    #[instrumented(skip(self))]
    fn name(&self) -> &str {
        &self.table
    }
}

#[test]
fn compiles_clean() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let store = Store { table: "connections".to_owned() };
    rt.block_on(async {
        let ctx = streamer_obs::testing::ContextBuilder::new().build();
        let req = Request { connection_id: "c".into(), tenant_id: "t".into(), attempt: 1 };
        assert_eq!(handler(LambdaEvent::new(req.clone(), ctx.clone())).await.unwrap().status, 200);
        handler_no_latency(LambdaEvent::new(req.clone(), ctx.clone()), "x").await.unwrap();
        assert_eq!(with_ctx(&ctx, req, 3).await.unwrap(), 3);
        assert_eq!(lookup("k".into()).await.as_deref(), Some("k"));
        assert_eq!(store.get(4).await.unwrap(), 4);
    });
    assert_eq!(store.name(), "connections");
    let req = Request { connection_id: "c".into(), tenant_id: "t".into(), attempt: 1 };
    assert_eq!(by_reference(&req, Some("ab"), (1, 2), &[1], &1), 6);
    unit_return(1);
}
