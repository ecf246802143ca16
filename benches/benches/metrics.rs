//! Metrics benchmarks: recording one metric, EMF encoding of 1, 10 and 100 metrics with 2
//! dimensions, and the same workloads through `metrics_cloudwatch_embedded` side by side.
//! Everything is written into `io::sink()`.

use std::hint::black_box;
use std::io;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use streamer_obs::metrics::standard::{self, Action};
use streamer_obs::metrics::{Dimensions, EmfPublisher, MetricSet, Namespace, StorageResolution, Unit, emf};

const NOW: u64 = 1_700_000_000_000;

fn names(n: usize) -> Vec<&'static str> {
    (0..n).map(|i| &*Box::leak(format!("Metric{i:03}").into_boxed_str())).collect()
}

/// A set with the two dimensions `Environment` and `Action`.
fn base_set() -> MetricSet {
    let mut set = MetricSet::new(Namespace::streamer());
    set.add_dimension(standard::ENVIRONMENT, &streamer_obs::dimension_value!("prod")).expect("valid");
    set.add_dimension(standard::ACTION, &Action::Connect).expect("valid");
    set
}

fn filled(names: &[&'static str]) -> MetricSet {
    let mut set = base_set();
    for (i, n) in names.iter().enumerate() {
        set.add(*n, Unit::Count, i as f64).expect("valid");
    }
    set
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics/record_one");
    g.bench_function("streamer_obs/MetricSet::add (static name)", |b| {
        let mut set = base_set();
        set.add("ConnectionEstablished", Unit::Count, 1.0).expect("valid");
        let mut n = 0u32;
        b.iter(|| {
            // Appends to an existing multi-value metric; reset now and then to bound memory.
            n += 1;
            if n.is_multiple_of(10_000) {
                set.take();
            }
            set.add(black_box("ConnectionEstablished"), Unit::Count, black_box(1.0))
        });
    });
    g.bench_function("streamer_obs/MetricSet::add_with (2 dimension sets)", |b| {
        let dims = Dimensions::new()
            .with(standard::ERROR_TYPE, &standard::ErrorType::InvalidJwt)
            .set([standard::ENVIRONMENT])
            .set([standard::ENVIRONMENT, standard::ERROR_TYPE]);
        let mut set = base_set();
        let mut n = 0u32;
        b.iter(|| {
            n += 1;
            if n.is_multiple_of(10_000) {
                set.take();
            }
            set.add_with(black_box("AuthenticationFailed"), Unit::Count, 1.0, StorageResolution::Standard, &dims)
        });
    });
    g.bench_function("streamer_obs/metrics::add (task-local invocation)", |b| {
        let config = streamer_obs::config::Config::builder()
            .environment("prod")
            .build_from(&streamer_obs::config::EnvVars::empty());
        let tracker = streamer_obs::invocation::ColdStartTracker::new(&Default::default());
        let ctx = streamer_obs::testing::ContextBuilder::new().build();
        let inv = std::sync::Arc::new(streamer_obs::invocation::Invocation::from_context(&ctx, &config, &tracker));
        let mut n = 0u32;
        std::sync::Arc::clone(&inv).sync_scope(|| {
            b.iter(|| {
                n += 1;
                if n.is_multiple_of(10_000) {
                    inv.metrics().with_set(MetricSet::take);
                }
                streamer_obs::metrics::add(black_box("ConnectionEstablished"), Unit::Count, black_box(1.0))
            })
        });
    });
    g.bench_function("metrics_cloudwatch_embedded/counter!.increment", |b| {
        collector();
        b.iter(|| metrics::counter!("ConnectionEstablished", "Action" => "connect").increment(black_box(1)));
    });
    g.finish();
}

fn collector() -> &'static metrics_cloudwatch_embedded::Collector {
    static C: std::sync::OnceLock<&'static metrics_cloudwatch_embedded::Collector> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace("Streamer")
            .with_dimension("Environment", "prod")
            .with_timestamp(NOW)
            .init()
            .expect("the only global recorder")
    })
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics/encode");
    for n in [1usize, 10, 100] {
        let ns = names(n);
        let set = filled(&ns);
        let mut buf = Vec::with_capacity(64 * 1024);
        g.bench_with_input(BenchmarkId::new("streamer_obs/emf::encode", n), &set, |b, set| {
            b.iter(|| {
                buf.clear();
                emf::encode(black_box(set), NOW, &mut buf);
                io::Write::write_all(&mut io::sink(), &buf)
            });
        });
        g.bench_with_input(BenchmarkId::new("streamer_obs/record+encode", n), &ns, |b, ns| {
            b.iter(|| {
                let set = filled(black_box(ns));
                buf.clear();
                emf::encode(&set, NOW, &mut buf);
                io::Write::write_all(&mut io::sink(), &buf)
            });
        });
        let collector = collector();
        let counters: Vec<metrics::Counter> =
            ns.iter().map(|name| metrics::counter!(*name, "Action" => "connect")).collect();
        g.bench_with_input(BenchmarkId::new("metrics_cloudwatch_embedded/record+flush", n), &counters, |b, cs| {
            b.iter(|| {
                for (i, c) in cs.iter().enumerate() {
                    c.increment(i as u64 + 1);
                }
                collector.flush(io::sink())
            });
        });
    }
    g.finish();
}

/// The metrics part of the W1 invocation (`lifecycle.rs`) alone: a set from the
/// configuration, 3 metrics with 2 dimensions in one set, EMF through an `EmfPublisher`
/// into `io::sink()`.
fn invocation(c: &mut Criterion) {
    let config = streamer_obs::config::Config::builder()
        .service("streamer-connect")
        .environment("prod")
        .build_from(&streamer_obs::config::EnvVars::empty());
    let publisher = EmfPublisher::new(io::sink());
    c.bench_function("metrics/w1_metrics (from_config + 3 add_with + publish)", |b| {
        b.iter(|| {
            let mut set = MetricSet::from_config(black_box(&config));
            let dims = Dimensions::new()
                .with(standard::ACTION, &Action::Connect)
                .set([standard::ENVIRONMENT, standard::ACTION]);
            let standard = StorageResolution::Standard;
            set.add_with("ConnectionEstablished", Unit::Count, 1.0, standard, &dims).expect("valid");
            set.add_with("ProcessingLatency", Unit::Milliseconds, 3.5, standard, &dims).expect("valid");
            set.add_with("MessageSize", Unit::Bytes, 512.0, standard, &dims).expect("valid");
            publisher.write_set(&set.take(), NOW)
        });
    });
}

criterion_group!(benches, record, encode, invocation);
criterion_main!(benches);
