// A body passed as a `$body:block` fragment whose only content is a tail
// expression must not get rustc's `unused_braces` warning ("unnecessary braces around block return
// value") once instrumented, as the same macro without the attribute does not. Under
// `#![deny(warnings)]` it compiles.
#![deny(warnings)]
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

macro_rules! handler_body {
    ($name:ident, $event:ident, $body:block) => {
        #[instrumented]
        async fn $name($event: LambdaEvent<Value>) -> Result<Value, Error> $body
    };
}

handler_body!(body_handler, event, { Ok(event.payload) });

macro_rules! sync_body {
    ($name:ident, $n:ident, $body:block) => {
        #[instrumented]
        fn $name($n: u8) -> u8 $body
    };
}

sync_body!(sync_fn, n, { n + 1 });

macro_rules! async_body {
    ($name:ident, $n:ident, $body:block) => {
        #[instrumented]
        async fn $name($n: u8) -> u8 $body
    };
}

async_body!(async_fn, n, { n + 1 });

fn main() {
    let _ = lambda_runtime::service_fn(body_handler);
    assert_eq!(sync_fn(1), 2);
    let _ = async_fn(1);
}
