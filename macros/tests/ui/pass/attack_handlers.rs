// Handler shapes: destructured event with `ctx`, `mut event`, impl returns, generic errors,
// `ctx` expressions, fully qualified paths, `-> Result<impl Serialize, Box<dyn Error>>`.
use std::error::Error as StdError;

use lambda_runtime::{Context, Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented(ctx = context)]
async fn destructured(LambdaEvent { payload, context }: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = context;
    Ok(payload)
}

#[instrumented(log_event = true)]
async fn mutable(mut event: LambdaEvent<Value>) -> Result<Value, Error> {
    event.payload = Value::Null;
    Ok(event.payload)
}

#[instrumented]
async fn impl_serialize(event: LambdaEvent<Value>) -> Result<impl Serialize, Box<dyn StdError + Send + Sync>> {
    if event.payload.is_null() {
        return Err("null".into());
    }
    let n: u8 = "1".parse()?;
    Ok(n)
}

#[instrumented]
async fn unit_ok(event: lambda_runtime::LambdaEvent<Value>) -> std::result::Result<(), Error> {
    let _ = event;
    Ok(())
}

#[instrumented(ctx = *ctx)]
async fn ctx_deref(ctx: Box<Context>, n: u8) -> Result<u8, Error> {
    Ok(n)
}

#[instrumented(ctx = state.1)]
async fn ctx_field(state: (u8, Context)) -> Result<u8, Error> {
    Ok(state.0)
}

#[derive(Debug)]
struct MyErr;
impl std::fmt::Display for MyErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my")
    }
}

#[instrumented]
async fn generic_err<E: std::fmt::Debug + Send>(event: LambdaEvent<Value>, e: Option<E>) -> Result<Value, E> {
    match e {
        Some(e) => Err(e),
        None => Ok(event.payload),
    }
}

#[instrumented(capture_response = false, capture_error = false, cold_start_metric = true,
    raise_on_empty_metrics = true, latency_metric = false, deadline_margin_ms = 0)]
async fn all_flags(event: LambdaEvent<Value>) -> Result<Value, MyErr> {
    Ok(event.payload)
}

#[instrumented(deadline_margin_ms = 18_446_744_073_709_551_615)]
async fn max_margin(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

struct App;

impl App {
    #[instrumented(skip_all, fields(app = "x"))]
    async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        Ok(event.payload)
    }
}

fn main() {
    let _ = lambda_runtime::service_fn(destructured);
    let _ = lambda_runtime::service_fn(mutable);
    let _ = lambda_runtime::service_fn(impl_serialize);
    let _ = lambda_runtime::service_fn(unit_ok);
    let _ = lambda_runtime::service_fn(all_flags);
    let _ = lambda_runtime::service_fn(max_margin);
    let _ = ctx_deref(Box::new(Context::default()), 1);
    let _ = ctx_field((1, Context::default()));
    let _ = generic_err::<MyErr>;
    let _ = App.handle(LambdaEvent::new(Value::Null, Context::default()));
}
