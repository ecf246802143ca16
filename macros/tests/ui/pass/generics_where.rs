use std::fmt::Debug;

use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use streamer_obs::instrumented;

#[instrumented]
async fn handler<T>(event: LambdaEvent<T>) -> Result<T, Error>
where
    T: DeserializeOwned + Serialize + Debug + Send + 'static,
{
    Ok(event.payload)
}

#[instrumented]
fn pick<'a, T: Debug + ?Sized, const N: usize>(items: &'a [&'a T; N], index: usize) -> Option<&'a T> {
    items.get(index).copied()
}

#[instrumented(skip(f))]
async fn apply<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    f()
}

fn main() {}
