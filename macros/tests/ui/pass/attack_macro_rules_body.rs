// A whole function passed as `$item:item` / `$f:tt` tokens and bodies as `$body:block`.
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

macro_rules! instrument_item {
    ($item:item) => {
        #[instrumented]
        $item
    };
}

instrument_item! {
    fn whole_item(n: u8) -> u8 {
        n
    }
}

macro_rules! handler_body {
    ($name:ident, $event:ident, $body:block) => {
        #[instrumented(log_event = true)]
        async fn $name($event: LambdaEvent<Value>) -> Result<Value, Error> $body
    };
}

handler_body!(body_handler, event, {
    let payload = event.payload;
    Ok(payload)
});

fn main() {
    assert_eq!(whole_item(1), 1);
    let _ = lambda_runtime::service_fn(body_handler);
}
