//! The expansion must not trigger lints on the user's code: an `async fn` body (handler
//! or function) that starts with an item (`use`, a nested `fn`, a `const`) is clean under
//! `clippy::items_after_statements` with the attribute as without (the generated
//! statements once came first; a review found it). Checked by CI's clippy on all targets
//! with `-D warnings`.
#![deny(clippy::items_after_statements)]
#![allow(missing_docs)]

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented]
pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    fn double(n: u64) -> u64 {
        n * 2
    }
    Ok(Value::from(double(event.payload.as_u64().unwrap_or_default())))
}

#[instrumented]
pub async fn distinct(values: Vec<u8>) -> usize {
    use std::collections::HashSet;
    values.into_iter().collect::<HashSet<u8>>().len()
}

// Clean: the same body in a sync function.
#[instrumented]
pub fn distinct_sync(values: Vec<u8>) -> usize {
    use std::collections::HashSet;
    values.into_iter().collect::<HashSet<u8>>().len()
}

#[test]
fn bodies_starting_with_items_run() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    assert_eq!(rt.block_on(distinct(vec![1, 1, 2])), 2);
    assert_eq!(distinct_sync(vec![1, 1, 2]), 2);
    let event = LambdaEvent::new(Value::from(2), streamer_obs::testing::ContextBuilder::new().build());
    assert_eq!(rt.block_on(handler(event)).unwrap(), Value::from(4));
}
