//! One INFO line with 5 fields into a no-op writer: our JSON layer against
//! tracing-subscriber's own JSON formatter on the same event.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use streamer_obs::config::Config;
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::testing::{ContextBuilder, FixedClock};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

fn event() {
    tracing::info!(
        connection_id = "L0SM9cOFvHcCIhw=",
        tenant_id = "tenant-a",
        attempt = 3u64,
        latency_ms = 12.5,
        authorized = true,
        "Connection established"
    );
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_line_5_fields");
    let config = Config::default();

    let ours =
        Dispatch::new(streamer_obs::log::subscriber(&config, std::io::sink, FixedClock::at_millis(1_795_730_988_123)));
    group.bench_function("streamer_obs_outside_invocation", |b| {
        tracing::dispatcher::with_default(&ours, || b.iter(event))
    });

    let ctx = ContextBuilder::new()
        .request_id("8f8ea7ae-5b4d-4b2c-9e5f-1c2d3e4f5a6b")
        .trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        .build();
    let inv = Arc::new(Invocation::from_context(&ctx, &config, &ColdStartTracker::new(&Default::default())));
    inv.append_field("user_id", "user-1");
    group.bench_function("streamer_obs_in_invocation", |b| {
        tracing::dispatcher::with_default(&ours, || inv.clone().sync_scope(|| b.iter(event)))
    });

    let theirs = Dispatch::new(
        tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().json().with_writer(std::io::sink)),
    );
    group.bench_function("tracing_subscriber_json", |b| tracing::dispatcher::with_default(&theirs, || b.iter(event)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
