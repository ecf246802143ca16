// The instrumented futures stay `Send` (tokio::spawn, lambda_runtime) when the original is,
// and a `!Send` argument keeps working on a local executor.
use std::rc::Rc;

use lambda_runtime::{Context, Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[instrumented(annotations(k = "v"), metadata(m = 1))]
async fn function(n: u8) -> Result<u8, std::io::Error> {
    tokio::task::yield_now().await;
    Ok(n)
}

#[instrumented(annotations(k = "v"), log_event = true)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::task::yield_now().await;
    Ok(event.payload)
}

#[instrumented]
async fn not_send(r: Rc<u8>) -> u8 {
    tokio::task::yield_now().await;
    *r
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        assert_eq!(tokio::spawn(assert_send(function(3))).await.unwrap().unwrap(), 3);
        let out = tokio::spawn(assert_send(handler(LambdaEvent::new(Value::Bool(true), Context::default()))))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out, Value::Bool(true));
        assert_eq!(not_send(Rc::new(4)).await, 4);
    });
}
