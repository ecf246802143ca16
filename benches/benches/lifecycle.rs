//! The headline number: per-invocation overhead of an `#[instrumented]` handler doing
//! the W1 workload, against the same handler without the attribute and against the raw
//! I/O alone.
//!
//! W1: handler subsegment + one nested instrumented function, 2 annotations, one INFO log
//! line with 2 fields, 3 metrics with 2 dimensions, EMF flush into a no-op writer,
//! subsegments into the UDP emitter aimed at a loopback socket.

use std::hint::black_box;
use std::io::Write as _;
use std::net::UdpSocket;
use std::sync::{Arc, LazyLock};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::instrumented;
use streamer_obs::metrics::{self, Dimensions, EmfPublisher, StorageResolution, Unit, standard};
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::{CapturingEmitter, ContextBuilder};
use streamer_obs::xray::emitter::{EmitError, SegmentEmitter, UdpEmitter};
use tracing::instrument::WithSubscriber as _;

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn dims() -> Dimensions {
    Dimensions::new().with(standard::ACTION, &standard::Action::Connect).set([standard::ENVIRONMENT, standard::ACTION])
}

#[instrumented(
    name = "HandleConnect",
    annotations(connection_id = event.payload["connection_id"].as_str().unwrap_or_default(), tenant_id = "acme"),
    latency_metric = false
)]
async fn instrumented_handler(event: LambdaEvent<Value>) -> Result<u64, Error> {
    let n = nested(event.payload["n"].as_u64().unwrap_or(1)).await;
    tracing::info!(user_id = "user-1", attempt = n, "Connection established");
    let d = dims();
    metrics::add_with("ConnectionEstablished", Unit::Count, 1.0, StorageResolution::Standard, &d);
    metrics::add_with("ProcessingLatency", Unit::Milliseconds, 3.5, StorageResolution::Standard, &d);
    metrics::add_with("MessageSize", Unit::Bytes, 512.0, StorageResolution::Standard, &d);
    Ok(n)
}

#[instrumented]
async fn nested(n: u64) -> u64 {
    black_box(n + 1)
}

/// The same handler without the attribute and without the SDK: its log line still goes
/// through the JSON subscriber (a handler logs either way).
async fn bare_handler(event: LambdaEvent<Value>) -> Result<u64, Error> {
    let n = bare_nested(event.payload["n"].as_u64().unwrap_or(1)).await;
    tracing::info!(user_id = "user-1", attempt = n, "Connection established");
    Ok(n)
}

async fn bare_nested(n: u64) -> u64 {
    black_box(n + 1)
}

/// The invocation context as `lambda_runtime` builds it for every invocation: fresh
/// strings (request id, ARN, trace header), the runtime's `Config` shared by all of them
/// (one `Arc` for the process, cloned into each context).
static CONTEXT: LazyLock<lambda_runtime::Context> = LazyLock::new(|| {
    ContextBuilder::new().request_id("8f8ea7ae-5b4d-4b2c-9e5f-1c2d3e4f5a6b").trace_header(HEADER).build()
});

fn event() -> LambdaEvent<Value> {
    LambdaEvent::new(json!({"connection_id": "L0SM9cOFvHcCIhw=", "n": 1}), CONTEXT.clone())
}

/// The UDP emitter's work without the `send`: documents encoded into a reused buffer
/// (splits the invocation's CPU cost from the datagram's syscall).
#[derive(Debug, Default)]
struct EncodeOnlyEmitter {
    buf: std::sync::Mutex<Vec<u8>>,
}

impl SegmentEmitter for EncodeOnlyEmitter {
    fn emit(&self, doc: &streamer_obs::xray::document::SegmentDocument<'_>) -> Result<(), EmitError> {
        let mut buf = self.buf.lock().unwrap();
        streamer_obs::xray::encode::encode_documents(doc, 65_000, &mut buf, 0, &mut |datagram| {
            black_box(datagram);
        });
        Ok(())
    }

    /// As the UDP emitter: everything is done within `emit`.
    fn queues_documents(&self) -> bool {
        false
    }
}

/// The global telemetry's emitter: the UDP emitter, or (for `instrumented_no_send`) the
/// encoding without the `send`. Both rows then run the production path: the telemetry
/// installed once for the process (as `streamer_obs::init` does), found by the lifecycle
/// without a task-local scope around every invocation.
#[derive(Debug)]
struct SwitchEmitter {
    send: std::sync::atomic::AtomicBool,
    udp: Arc<dyn SegmentEmitter>,
    encode_only: EncodeOnlyEmitter,
}

impl SegmentEmitter for SwitchEmitter {
    fn emit(&self, doc: &streamer_obs::xray::document::SegmentDocument<'_>) -> Result<(), EmitError> {
        if self.send.load(std::sync::atomic::Ordering::Relaxed) {
            self.udp.emit(doc)
        } else {
            self.encode_only.emit(doc)
        }
    }

    fn queues_documents(&self) -> bool {
        false
    }
}

/// The log subscriber's writer: `io::sink` (the rows above), or the `write(2)` of each line
/// to `/dev/null` (the `*_log_write` rows): in Lambda the log line goes to stdout, a file
/// descriptor, one `write` per line (the JSON layer writes a whole line at once).
#[derive(Debug)]
struct SwitchWriter {
    to_fd: std::sync::atomic::AtomicBool,
    null: std::fs::File,
}

/// One line's writer: nothing, or the file descriptor.
enum LineWriter<'a> {
    Sink,
    Fd(&'a std::fs::File),
}

impl std::io::Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LineWriter::Sink => Ok(buf.len()),
            LineWriter::Fd(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The subscriber's handle on [`LOG_WRITER`].
#[derive(Debug, Clone, Copy)]
struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'static>;

    fn make_writer(&'a self) -> Self::Writer {
        if LOG_WRITER.to_fd.load(std::sync::atomic::Ordering::Relaxed) {
            LineWriter::Fd(&LOG_WRITER.null)
        } else {
            LineWriter::Sink
        }
    }
}

static LOG_WRITER: LazyLock<SwitchWriter> = LazyLock::new(|| SwitchWriter {
    to_fd: std::sync::atomic::AtomicBool::new(false),
    null: std::fs::OpenOptions::new().write(true).open("/dev/null").expect("/dev/null"),
});

fn config() -> Config {
    Config::builder().service("streamer-connect").environment("prod").build_from(&EnvVars::empty())
}

fn telemetry(emitter: Arc<dyn SegmentEmitter>) -> Telemetry {
    Telemetry::builder(config())
        .emitter(emitter)
        .metrics_publisher(Arc::new(EmfPublisher::new(std::io::sink())))
        .build()
}

fn bench(c: &mut Criterion) {
    // A loopback "daemon" that never reads: datagrams are sent for real, then dropped by the
    // kernel once its buffer is full (as an unread UDP socket does).
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let udp: Arc<dyn SegmentEmitter> = Arc::new(UdpEmitter::new(daemon.local_addr().unwrap()).expect("udp"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    // The log subscriber is the process's global default, as `streamer_obs::init` installs
    // it in a function (not a scoped dispatcher set around every invocation).
    tracing::dispatcher::set_global_default(tracing::Dispatch::new(streamer_obs::log::subscriber(
        &config(),
        LogWriter,
        streamer_obs::clock::SystemClock,
    )))
    .expect("the bench's global subscriber");

    // Sanity check of the workload (outside the measurement): one document per invocation.
    let capture = CapturingEmitter::new();
    let t = telemetry(Arc::new(capture.clone()));
    rt.block_on(t.scope(instrumented_handler(event()))).unwrap();
    let docs = capture.documents();
    assert_eq!(docs.len(), 1, "one datagram per invocation");
    let datagram = capture.raw().remove(0);

    let switch = Arc::new(SwitchEmitter {
        send: std::sync::atomic::AtomicBool::new(true),
        udp: Arc::clone(&udp),
        encode_only: EncodeOnlyEmitter::default(),
    });
    telemetry(Arc::clone(&switch) as Arc<dyn SegmentEmitter>).install_global().expect("the bench's global telemetry");

    let mut group = c.benchmark_group("w1_invocation");
    group.bench_function("instrumented", |b| b.iter(|| rt.block_on(instrumented_handler(event())).unwrap()));
    // The same with a deadline 3 s ahead, as every real invocation has: the deadline guard
    // (a Tokio sleep raced against the handler) is armed.
    group.bench_function("instrumented_with_deadline", |b| {
        b.iter(|| {
            let deadline =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 + 3000;
            let mut e = event();
            e.context.deadline = deadline;
            rt.block_on(instrumented_handler(e)).unwrap()
        })
    });
    // The same without the datagram's syscall: the SDK's CPU work alone.
    switch.send.store(false, std::sync::atomic::Ordering::Relaxed);
    group.bench_function("instrumented_no_send", |b| b.iter(|| rt.block_on(instrumented_handler(event())).unwrap()));
    switch.send.store(true, std::sync::atomic::Ordering::Relaxed);
    // The telemetry set around every invocation as a task-local (`Telemetry::scope`, the
    // way tests inject theirs), as the rows above measured it before 2026-11-27 (4).
    let warm = telemetry(Arc::clone(&udp));
    group.bench_function("instrumented_scoped_telemetry", |b| {
        b.iter(|| rt.block_on(warm.scope(instrumented_handler(event()))).unwrap())
    });
    group.bench_function("bare", |b| b.iter(|| rt.block_on(bare_handler(event())).unwrap()));
    // The same two with the subscriber set around every invocation as a scoped dispatcher
    // (`WithSubscriber::with_subscriber`), as these rows measured before 2026-11-27 (3):
    // a scoped dispatcher costs a thread-local swap per poll and a reference count per span.
    let scoped = tracing::Dispatch::new(streamer_obs::log::subscriber(
        &config(),
        std::io::sink,
        streamer_obs::clock::SystemClock,
    ));
    group.bench_function("instrumented_scoped_dispatch", |b| {
        b.iter(|| rt.block_on(instrumented_handler(event()).with_subscriber(scoped.clone())).unwrap())
    });
    group.bench_function("bare_scoped_dispatch", |b| {
        b.iter(|| rt.block_on(bare_handler(event()).with_subscriber(scoped.clone())).unwrap())
    });

    // The raw I/O of one invocation from pre-built bytes: the log line and the EMF line
    // written to a no-op writer, the datagram sent to the loopback socket.
    let log_line = br#"{"timestamp":"2026-11-26T22:09:48.123Z","level":"INFO","message":"Connection established","service":"streamer-connect","cold_start":false,"function_name":"test-function","function_request_id":"8f8ea7ae-5b4d-4b2c-9e5f-1c2d3e4f5a6b","xray_trace_id":"1-5759e988-bd862e3fe1be46a994272793","environment":"prod","user_id":"user-1","attempt":2}
"#;
    let emf = br#"{"Action":"connect","ConnectionEstablished":1,"Environment":"prod","MessageSize":512,"ProcessingLatency":3.5,"Service":"streamer-connect","_aws":{"CloudWatchMetrics":[{"Dimensions":[["Environment","Action"]],"Metrics":[{"Name":"ConnectionEstablished","Unit":"Count"},{"Name":"ProcessingLatency","Unit":"Milliseconds"},{"Name":"MessageSize","Unit":"Bytes"}],"Namespace":"Streamer"}],"Timestamp":1795730988123}}
"#;
    let raw_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw_socket.set_nonblocking(true).unwrap();
    raw_socket.connect(daemon.local_addr().unwrap()).unwrap();
    let mut packet = b"{\"format\":\"json\",\"version\":1}\n".to_vec();
    packet.extend_from_slice(datagram.as_bytes());
    group.bench_function("raw_io", |b| {
        b.iter(|| {
            let mut out = std::io::sink();
            out.write_all(black_box(log_line)).unwrap();
            out.write_all(black_box(emf)).unwrap();
            let _ = raw_socket.send(black_box(&packet));
        })
    });

    // The same raw I/O as a handler pays it: right after the bare handler, not in a loop of
    // its own that keeps the kernel's send path hot in the caches and branch predictors.
    // `raw_io_after_bare` minus `bare` is the raw I/O cost in place (benches/README.md).
    group.bench_function("raw_io_after_bare", |b| {
        b.iter(|| {
            rt.block_on(bare_handler(event())).unwrap();
            let mut out = std::io::sink();
            out.write_all(black_box(log_line)).unwrap();
            out.write_all(black_box(emf)).unwrap();
            let _ = raw_socket.send(black_box(&packet));
        })
    });

    // The SDK's CPU work (`instrumented_no_send`), then the raw datagram send: the send's
    // cost after the SDK's own work has run (minus `instrumented_no_send`).
    switch.send.store(false, std::sync::atomic::Ordering::Relaxed);
    group.bench_function("raw_io_after_no_send", |b| {
        b.iter(|| {
            rt.block_on(instrumented_handler(event())).unwrap();
            let _ = raw_socket.send(black_box(&packet));
        })
    });
    switch.send.store(true, std::sync::atomic::Ordering::Relaxed);

    // The same three measures with the log line written to a file descriptor (`/dev/null`),
    // one `write(2)` per line as stdout takes it in Lambda; the EMF line still goes to a
    // no-op writer (W1). The raw I/O then writes the pre-built log line the same way.
    LOG_WRITER.to_fd.store(true, std::sync::atomic::Ordering::Relaxed);
    group.bench_function("instrumented_log_write", |b| b.iter(|| rt.block_on(instrumented_handler(event())).unwrap()));
    group.bench_function("bare_log_write", |b| b.iter(|| rt.block_on(bare_handler(event())).unwrap()));
    group.bench_function("raw_io_log_write", |b| {
        b.iter(|| {
            let _ = (&LOG_WRITER.null).write(black_box(log_line));
            std::io::sink().write_all(black_box(emf)).unwrap();
            let _ = raw_socket.send(black_box(&packet));
        })
    });
    group.bench_function("raw_io_log_write_after_bare", |b| {
        b.iter(|| {
            rt.block_on(bare_handler(event())).unwrap();
            let _ = (&LOG_WRITER.null).write(black_box(log_line));
            std::io::sink().write_all(black_box(emf)).unwrap();
            let _ = raw_socket.send(black_box(&packet));
        })
    });
    LOG_WRITER.to_fd.store(false, std::sync::atomic::Ordering::Relaxed);

    // The first (cold) invocation: a fresh telemetry (and so a fresh cold-start tracker)
    // per iteration, ColdStart metric on.
    group.bench_function("instrumented_cold", |b| {
        b.iter_batched(
            || telemetry(Arc::clone(&udp)),
            |t| rt.block_on(t.scope(instrumented_handler(event()))).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // SDK init: configuration from an environment, telemetry, the log subscriber.
    let env = EnvVars::from_pairs([
        ("POWERTOOLS_SERVICE_NAME", "streamer-connect"),
        ("ENVIRONMENT", "prod"),
        ("AWS_LAMBDA_FUNCTION_NAME", "connect"),
        ("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000"),
    ]);
    c.bench_function("sdk_init", |b| {
        b.iter(|| {
            let config = Config::builder().build_from(black_box(&env));
            let dispatch = tracing::Dispatch::new(streamer_obs::log::subscriber(
                &config,
                std::io::sink,
                streamer_obs::clock::SystemClock,
            ));
            let udp: Arc<dyn SegmentEmitter> =
                Arc::new(UdpEmitter::new(black_box(daemon.local_addr().unwrap())).unwrap());
            let t = Telemetry::builder(config).emitter(udp).build();
            black_box((dispatch, t))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
