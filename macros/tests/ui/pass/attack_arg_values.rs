// Edge values of every argument that must be accepted.
use std::cell::Cell;

use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use streamer_obs::instrumented;

thread_local! {
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

fn side_effect() -> u32 {
    CALLS.with(|c| c.set(c.get() + 1));
    7
}

#[derive(Serialize)]
struct Meta {
    a: u8,
}

#[instrumented(name = "Handle connect: ünïcödé / spaces @ # = + - _ . : %")]
fn unicode_name() -> u8 {
    1
}

#[instrumented(name = "a very long name aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
fn long_name() -> u8 {
    1
}

#[instrumented(annotations(
    s = "str", owned = String::from("x"), borrowed = &s, i8v = -1i8, i16v = 1i16, i32v = 1i32, i64v = 1i64,
    u8v = 1u8, u16v = 1u16, u32v = 1u32, u64v = 1u64, usizev = 1usize,
    f32v = 1.5f32, f64v = 2.5, b = false, "quoted_key" = 1, r#type = 2, effect = side_effect()
))]
fn every_annotation_type(s: String) -> u8 {
    let _ = s;
    1
}

#[instrumented(metadata(m = Meta { a: 1 }, v = vec![1, 2], o = Option::<u8>::None, "key with spaces" = 1, effect = side_effect()))]
async fn metadata_values() -> Result<(), std::io::Error> {
    Ok(())
}

#[instrumented(fields(a.b.c = %"x", d = ?vec![1], e = 1, self_field = "s", n = %n))]
fn fields_sigils(n: u8) -> u8 {
    n
}

#[derive(Debug)]
struct S;

impl S {
    #[instrumented(skip(self), fields(tag = "t"))]
    fn skip_self(&self, n: u8) -> u8 {
        n
    }

    #[instrumented(skip_all, fields(n = n))]
    fn skip_all_fields(&self, n: u8) -> u8 {
        n
    }
}

#[instrumented(skip(event, ctx_unused))]
async fn skip_event(event: LambdaEvent<Value>, ctx_unused: u8) -> Result<Value, Error> {
    let _ = ctx_unused;
    Ok(event.payload)
}

#[instrumented(latency_metric = "My.Latency-ms/p99 ünï", deadline_margin_ms = 1_000u64)]
async fn metric_name(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[instrumented(capture_error = false)]
fn no_capture(n: u8) -> Result<u8, String> {
    if n == 0 { Err("zero".into()) } else { Ok(n) }
}

fn main() {
    assert_eq!(unicode_name(), 1);
    assert_eq!(long_name(), 1);
    CALLS.with(|c| c.set(0));
    assert_eq!(every_annotation_type("s".into()), 1);
    assert_eq!(CALLS.with(Cell::get), 1, "annotation evaluated exactly once");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    CALLS.with(|c| c.set(0));
    rt.block_on(metadata_values()).unwrap();
    assert_eq!(CALLS.with(Cell::get), 1, "metadata evaluated exactly once");
    assert_eq!(fields_sigils(2), 2);
    assert_eq!(S.skip_self(1), 1);
    assert_eq!(S.skip_all_fields(1), 1);
    assert!(no_capture(0).is_err());
    let _ = lambda_runtime::service_fn(skip_event);
    let _ = lambda_runtime::service_fn(metric_name);
}
