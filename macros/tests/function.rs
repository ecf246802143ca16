//! `#[instrumented]` on functions that are not handlers: async or sync, `Result` or not,
//! methods, generics, `impl Trait`, nesting under a handler.

mod common;

use std::fmt::Display;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let doubled = double(event.payload.as_u64().unwrap_or_default()).await;
    let store = Store { items: vec![doubled] };
    let total: u64 = store.sum()?;
    Ok(json!(total + generic(1u64, "x")))
}

#[instrumented]
async fn double(n: u64) -> u64 {
    tracing::info!("doubling");
    n * 2
}

#[instrumented(skip(label))]
fn generic<T, L>(value: T, label: L) -> T
where
    T: Copy + std::fmt::Debug,
    L: Display,
{
    tracing::info!(label = %label, "generic");
    value
}

#[instrumented]
fn evens(limit: u8) -> impl Iterator<Item = u8> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[instrumented]
async fn evens_async(limit: u8) -> Result<impl Iterator<Item = u8>, std::io::Error> {
    Ok((0..limit).filter(|n| n % 2 == 0))
}

#[derive(Debug)]
struct Store {
    items: Vec<u64>,
}

impl Store {
    #[instrumented(skip(self), fields(items = self.items.len()))]
    fn sum(&self) -> Result<u64, std::io::Error> {
        tracing::info!("summing");
        Ok(self.items.iter().sum())
    }

    #[instrumented]
    fn push(&mut self, item: u64) -> &mut Self {
        self.items.push(item);
        self
    }

    #[instrumented]
    fn first(&self) -> Option<&u64> {
        self.items.first()
    }

    #[instrumented(skip(self))]
    async fn into_items(self) -> Vec<u64> {
        self.items
    }
}

trait Repository {
    async fn load(&self, id: u64) -> Result<u64, std::io::Error>;
}

impl Repository for Store {
    #[instrumented(skip(self))]
    async fn load(&self, id: u64) -> Result<u64, std::io::Error> {
        self.items.get(id as usize).copied().ok_or_else(|| std::io::Error::other("missing"))
    }
}

#[test]
fn nested_functions_are_child_spans_of_the_handler() {
    let (out, cap) = run(handler(event(json!(3))));
    assert_eq!(out.unwrap(), 7);
    let spans = cap.spans.spans();
    let names: Vec<_> = spans.iter().map(|s| (s.name.as_str(), s.parent.as_deref())).collect();
    assert_eq!(
        names,
        [("handler", None), ("double", Some("handler")), ("sum", Some("handler")), ("generic", Some("handler"))]
    );
    let doubling = cap.line("doubling");
    assert_eq!(doubling["n"], 3);
    assert_eq!(doubling["function_request_id"], "req-1", "invocation fields reach nested functions");
    assert_eq!(cap.line("summing")["items"], 1);
    let g = cap.line("generic");
    assert_eq!((g["value"].clone(), g["label"].clone()), (json!("1"), json!("x")));
}

#[test]
fn methods_and_impl_trait() {
    let (out, cap) = run(async {
        let mut store = Store { items: vec![] };
        store.push(4).push(5);
        assert_eq!(store.first(), Some(&4));
        assert_eq!(store.load(1).await.unwrap(), 5);
        assert!(store.load(9).await.is_err());
        let evens: Vec<u8> = evens(5).collect();
        let evens_async: Vec<u8> = evens_async(5).await.unwrap().collect();
        (store.into_items().await, evens, evens_async)
    });
    assert_eq!(out, (vec![4, 5], vec![0, 2, 4], vec![0, 2, 4]));
    assert_eq!(cap.spans.names(), ["push", "push", "first", "load", "load", "evens", "evens_async", "into_items"]);
}

#[test]
fn handler_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let fut = handler(event(json!(1)));
    assert_send(&fut);
    let _ = lambda_runtime::service_fn(handler);
}

#[tracing::instrument(name = "tracing_span", skip(event))]
#[instrumented(name = "obs_span")]
async fn both_attributes(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tracing::info!("inside both");
    Ok(event.payload)
}

#[instrumented(name = "obs_inner")]
#[tracing::instrument(name = "tracing_outer", err)]
fn both_sync(n: u8) -> Result<u8, std::io::Error> {
    tracing::info!("inside both");
    Ok(n)
}

/// The attribute written first expands first, around the original body: it ends up
/// innermost.
#[test]
fn works_with_tracing_instrument_in_either_order() {
    let (out, cap) = run(both_attributes(event(json!(1))));
    assert_eq!(out.unwrap(), 1);
    let spans = cap.spans.spans();
    assert_eq!(
        spans,
        [
            SpanRecord { name: "obs_span".into(), parent: None },
            SpanRecord { name: "tracing_span".into(), parent: Some("obs_span".into()) }
        ]
    );
    assert_eq!(cap.line("inside both")["function_request_id"], "req-1");

    let (out, cap) = run_sync(|| both_sync(2));
    assert_eq!(out.unwrap(), 2);
    assert_eq!(cap.spans.spans()[1], SpanRecord { name: "obs_inner".into(), parent: Some("tracing_outer".into()) });
    assert_eq!(cap.line("inside both")["n"], 2);
}
