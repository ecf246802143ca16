// Assigning to a (field of a) parameter and then reading it must not be reported as
// "value captured by `...` is never read" (unused_assignments) once instrumented: the moved
// body mentions each parameter whole, so it is captured whole; `#![deny(warnings)]` holds.
#![deny(warnings)]
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[derive(Debug)]
struct Pair {
    a: u8,
    b: u8,
}

#[instrumented]
async fn handler(mut event: LambdaEvent<Value>) -> Result<Value, Error> {
    event.payload = Value::Null;
    Ok(event.payload)
}

#[instrumented]
fn sync_field(mut p: Pair) -> u8 {
    p.a = 2;
    p.a + p.b
}

#[instrumented]
async fn async_field(mut p: Pair) -> u8 {
    p.a = 2;
    p.a + p.b
}

#[instrumented]
fn sync_whole(mut n: u8) -> u8 {
    n = n.wrapping_add(1);
    n
}

fn main() {
    assert_eq!(sync_field(Pair { a: 0, b: 1 }), 3);
    assert_eq!(sync_whole(1), 2);
    let _ = async_field(Pair { a: 0, b: 1 });
    let _ = lambda_runtime::service_fn(handler);
}
