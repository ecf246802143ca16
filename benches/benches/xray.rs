//! X-Ray: encoding a handler subsegment, and recording + emitting it over UDP to a
//! loopback socket, side by side with `opentelemetry-aws`'s X-Ray exporter doing the
//! same work (a handler span with one child span and 2 attributes, exported to a
//! loopback "daemon" through the simple span processor).

use std::collections::HashMap;
use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, TraceContextExt, Tracer, TracerProvider};
use streamer_obs::trace_header::{SegmentId, TraceHeader, TraceId};
use streamer_obs::xray::document::{SegmentDocument, Subsegment};
use streamer_obs::xray::emitter::UdpEmitter;
use streamer_obs::xray::recorder::Recorder;

/// A sampled Lambda trace header with a current trace id (the OpenTelemetry exporter
/// drops traces whose id is too old).
fn header_text() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("Root={};Parent=53995c3f42cd8ad8;Sampled=1", TraceId::generate(now as u32))
}

/// A handler subsegment with one nested child and 2 annotations, closed.
fn handler_tree() -> Subsegment {
    let mut root = Subsegment::new(SegmentId::generate(), "HandleConnect", 1_700_000_000_000_000);
    let _ = root.annotate("connection_id", "Gx1b2c3d4e5f=");
    let _ = root.annotate("cold_start", true);
    let mut child = Subsegment::new(SegmentId::generate(), "ValidateJWT", 1_700_000_000_000_100);
    child.set_end_micros(1_700_000_000_001_100);
    root.push_child(child);
    root.set_end_micros(1_700_000_000_002_000);
    root
}

fn encode(c: &mut Criterion) {
    let trace = TraceId::generate(1_700_000_000);
    let parent = SegmentId::generate();
    let tree = handler_tree();
    let mut buf = Vec::with_capacity(1024);
    c.bench_function("xray/encode_handler_subsegment", |b| {
        b.iter(|| {
            buf.clear();
            SegmentDocument::new(&trace, &parent, black_box(&tree)).write_to(&mut buf);
            black_box(buf.len())
        })
    });
}

fn emit_udp(c: &mut Criterion) {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = daemon.local_addr().expect("addr");
    let header_text = header_text();
    let header: TraceHeader = header_text.parse().expect("header");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let emitter = Arc::new(UdpEmitter::new(addr).expect("socket"));

    let record_once = || {
        let rec = Arc::new(Recorder::new(&header, emitter.clone()));
        {
            let h = rec.subsegment("HandleConnect");
            let _ = h.annotate("connection_id", "Gx1b2c3d4e5f=");
            let _ = h.annotate("cold_start", true);
            drop(h.child("ValidateJWT"));
        }
        rt.block_on(rec.flush())
    };
    record_once();
    eprintln!("streamer_obs: {:?}", received(&daemon));

    let mut group = c.benchmark_group("xray/record_and_emit_udp");
    group.bench_function("streamer_obs", |b| b.iter(|| black_box(record_once())));

    let client = opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient::new(addr).expect("client");
    // The two attributes become annotations, as ours do.
    let translator = opentelemetry_aws::xray_exporter::SegmentTranslator::new()
        .with_indexed_attr("connection_id".to_owned())
        .with_indexed_attr("cold_start".to_owned());
    let exporter = opentelemetry_aws::xray_exporter::XrayExporter::new(client).with_translator(translator);
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_id_generator(opentelemetry_aws::trace::XrayIdGenerator::default())
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("bench");
    // The same parent as ours: the Lambda trace header, extracted by the X-Ray propagator.
    let carrier: HashMap<String, String> = HashMap::from([("x-amzn-trace-id".to_owned(), header_text.clone())]);
    let parent_cx = opentelemetry_aws::trace::XrayPropagator::default().extract(&carrier);
    let otel_once = || {
        let mut handler = tracer.start_with_context("HandleConnect", &parent_cx);
        handler.set_attribute(KeyValue::new("connection_id", "Gx1b2c3d4e5f="));
        handler.set_attribute(KeyValue::new("cold_start", true));
        let cx = parent_cx.with_span(handler);
        let mut child = tracer.start_with_context("ValidateJWT", &cx);
        child.end();
        cx.span().end();
    };
    received(&daemon);
    otel_once();
    eprintln!("opentelemetry_aws: {:?}", received(&daemon));
    group.bench_function("opentelemetry_aws", |b| b.iter(otel_once));
    group.finish();
    let _ = provider.shutdown();
    received(&daemon);
}

/// The kernel cost of one ~600-byte datagram to a loopback socket that never reads:
/// `send_to` on an unconnected socket (what `UdpEmitter` did) against `send` on a
/// connected one (what it does now: no per-call address lookup and route resolution).
fn udp_send(c: &mut Criterion) {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = daemon.local_addr().expect("addr");
    let payload = vec![b'x'; 600];
    let unconnected = UdpSocket::bind("127.0.0.1:0").expect("bind");
    unconnected.set_nonblocking(true).expect("nonblocking");
    let connected = UdpSocket::bind("127.0.0.1:0").expect("bind");
    connected.set_nonblocking(true).expect("nonblocking");
    connected.connect(addr).expect("connect");
    let mut group = c.benchmark_group("xray/udp_send");
    group.bench_function("send_to_unconnected", |b| b.iter(|| unconnected.send_to(black_box(&payload), addr).is_ok()));
    group.bench_function("send_connected", |b| b.iter(|| connected.send(black_box(&payload)).is_ok()));
    group.finish();
    received(&daemon);
}

/// Drains the loopback daemon (not measured): datagram count and byte sizes.
fn received(daemon: &UdpSocket) -> Vec<usize> {
    let _ = daemon.set_nonblocking(true);
    let mut buf = [0u8; 65_536];
    let mut sizes = Vec::new();
    while let Ok(n) = daemon.recv(&mut buf) {
        sizes.push(n);
        if std::env::var_os("XRAY_BENCH_DUMP").is_some() {
            eprintln!("{}", String::from_utf8_lossy(&buf[..n]));
        }
    }
    sizes
}

criterion_group!(benches, encode, emit_udp, udp_send);
criterion_main!(benches);
