//! With log buffering on, the buffered lines of an invocation are written to the writer
//! after the invocation's buffer mutex is released (a review found them written while it
//! was held: `JsonLayer::deliver` on an ERROR line flushed under `buffer.lock()`, and so did
//! `Invocation::flush_log_buffer`). A line logged from there (by the writer, which the
//! layer says it supports: "Re-entered: a field's `Debug` (or the writer) logs while this
//! thread's scratch is in use") belongs to the same invocation, so `deliver` locks the same
//! `std::sync::Mutex` again on the same thread: the invocation deadlocks.
//!
//! Broken promise (README, log rules): "A line logged while another is being written ... is
//! written too, with the subscriber installed as the global default". Without a buffer the
//! same writer works (the re-entered line gets scratch buffers of its own); with one, the
//! first ERROR line of the invocation hangs it.
//!
//! Its own test binary (the global default is set once per process). The body runs on its
//! own thread with a watchdog: the hang is not a matter of timing (the mutex is never
//! released). Observed: the watchdog fires. Expected: the buffered line, the writer's line
//! and the ERROR line are written.

use std::cell::Cell;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use streamer_obs::config::{Config, EnvVars, LogBufferConfig, LogLevel};
use streamer_obs::invocation::{ColdStartTracker, Invocation};
use streamer_obs::testing::{CapturingWriter, ContextBuilder, FixedClock};

thread_local! {
    static IN_WRITER: Cell<bool> = const { Cell::new(false) };
}

/// A writer that reports each line it writes with a `tracing` event of its own (once per
/// line: not for the lines it logs itself), then writes into a capture.
#[derive(Clone)]
struct ReportingWriter(CapturingWriter);

struct ReportingHandle(CapturingWriter);

impl Write for ReportingHandle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !IN_WRITER.with(Cell::get) {
            IN_WRITER.with(|w| w.set(true));
            tracing::info!(bytes = buf.len(), "writer: line shipped");
            IN_WRITER.with(|w| w.set(false));
        }
        let mut inner = tracing_subscriber::fmt::MakeWriter::make_writer(&self.0);
        inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ReportingWriter {
    type Writer = ReportingHandle;
    fn make_writer(&'a self) -> Self::Writer {
        ReportingHandle(self.0.clone())
    }
}

#[test]
fn a_writer_that_logs_does_not_deadlock_the_buffer_flush() {
    let capture = CapturingWriter::new();
    let config = Config::builder()
        .service("svc")
        .log_level(LogLevel::Debug)
        .log_buffer(LogBufferConfig::new(LogLevel::Debug))
        .build_from(&EnvVars::from_pairs([("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")]));
    tracing::subscriber::set_global_default(streamer_obs::log::subscriber(
        &config,
        ReportingWriter(capture.clone()),
        FixedClock::at_millis(0),
    ))
    .expect("the only global subscriber of this test binary");
    let ctx = ContextBuilder::new().request_id("req-1").build();
    let inv = Arc::new(Invocation::from_context(&ctx, &config, &ColdStartTracker::new(&Default::default())));

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        inv.sync_scope(|| {
            tracing::debug!("held in the buffer");
            tracing::error!("boom");
        });
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "the ERROR line never returned: the buffer was flushed to a writer that logs with the buffer's mutex held. Written so far: {:?}",
        capture.lines()
    );
    let messages: Vec<String> =
        capture.json_lines().iter().map(|l| l["message"].as_str().unwrap_or_default().to_owned()).collect();
    assert!(messages.contains(&"held in the buffer".to_owned()), "{messages:?}");
    assert!(messages.contains(&"boom".to_owned()), "{messages:?}");
}
