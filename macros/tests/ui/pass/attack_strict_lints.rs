//! A strict user crate: rustc's allow-by-default lints denied, unsafe forbidden.
#![forbid(unsafe_code)]
#![deny(
    warnings,
    missing_docs,
    unused_qualifications,
    unused_results,
    unused_lifetimes,
    unreachable_pub,
    trivial_casts,
    trivial_numeric_casts,
    single_use_lifetimes,
    elided_lifetimes_in_paths,
    let_underscore_drop,
    unit_bindings,
    unused_import_braces,
    unused_macro_rules,
    variant_size_differences,
    meta_variable_misuse,
    missing_debug_implementations,
    non_ascii_idents,
    redundant_lifetimes,
    rust_2018_idioms,
    keyword_idents,
    macro_use_extern_crate,
    unused_crate_dependencies
)]
#![allow(unused_crate_dependencies)]

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

/// A handler with every argument.
#[instrumented(
    name = "H",
    annotations(a = 1, b = "x", c = true, d = 1.5),
    metadata(m = event.payload),
    fields(f = %1, g = ?2, h.i = 3),
    capture_response = true,
    capture_error = true,
    log_event = true,
    cold_start_metric = true,
    raise_on_empty_metrics = true,
    latency_metric = "L",
    deadline_margin_ms = 10
)]
pub async fn handler(event: LambdaEvent<Value>, d: Duration) -> Result<(), Error> {
    let _unused = d;
    Ok(())
}

/// Unit and no return type.
#[instrumented]
pub fn unit() {}

/// Explicit unit.
#[instrumented]
pub fn explicit_unit() -> () {}

/// Async unit.
#[instrumented]
pub async fn async_unit(d: Duration) {
    let _unused = d;
}

/// Result, sync.
#[instrumented(annotations(k = n), metadata(n = n))]
pub fn sync_result(n: u8) -> Result<u8, std::io::Error> {
    Ok(n)
}

fn main() {
    unit();
    explicit_unit();
    drop(sync_result(1));
    drop(async_unit(Duration::ZERO));
}
