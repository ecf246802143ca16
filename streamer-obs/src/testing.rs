//! Test support (feature `testing`): a capturing writer, a fixed clock and a
//! `lambda_runtime::Context` builder that needs no Lambda environment variables.
//! The SDK's own tests use these first.
//!
//! ```
//! use streamer_obs::testing::{CapturingWriter, ContextBuilder, FixedClock};
//! use streamer_obs::clock::Clock;
//!
//! let ctx = ContextBuilder::new().request_id("r-1").function_name("connect").build();
//! assert_eq!(ctx.request_id, "r-1");
//! let clock = FixedClock::at_millis(1_000);
//! clock.advance_millis(5);
//! assert_eq!(clock.now_millis(), 1_005);
//! let w = CapturingWriter::new();
//! assert!(w.lines().is_empty());
//! ```

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::MakeWriter;

use crate::clock::Clock;

/// A writer that keeps everything written to it; clones share the same buffer.
#[derive(Debug, Clone, Default)]
pub struct CapturingWriter {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl CapturingWriter {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// The written lines (without their newline).
    pub fn lines(&self) -> Vec<String> {
        self.contents().lines().map(str::to_owned).collect()
    }

    /// Every line parsed as JSON.
    ///
    /// # Panics
    ///
    /// When a line is not valid JSON (that is a test failure).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
            .collect()
    }

    /// Forgets what was written.
    pub fn clear(&self) {
        self.buf.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl io::Write for CapturingWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturingWriter {
    type Writer = CapturingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A clock that stands still until told to move; clones share the same time.
#[derive(Debug, Clone)]
pub struct FixedClock {
    millis: Arc<AtomicU64>,
}

impl FixedClock {
    /// A clock at `millis` since the Unix epoch.
    pub fn at_millis(millis: u64) -> Self {
        Self { millis: Arc::new(AtomicU64::new(millis)) }
    }

    /// Moves the clock forward.
    pub fn advance_millis(&self, millis: u64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set_millis(&self, millis: u64) {
        self.millis.store(millis, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// Builds a `lambda_runtime::Context` without Lambda environment variables.
#[derive(Debug, Clone, Default)]
pub struct ContextBuilder {
    ctx: lambda_runtime::Context,
    config: lambda_runtime::Config,
}

impl ContextBuilder {
    /// A context with request id `test-request`, ARN of function `test-function`, 128 MB.
    pub fn new() -> Self {
        let mut ctx = lambda_runtime::Context::default();
        ctx.request_id = "test-request".to_owned();
        ctx.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function".to_owned();
        let config = lambda_runtime::Config {
            function_name: "test-function".to_owned(),
            memory: 128,
            version: "$LATEST".to_owned(),
            ..Default::default()
        };
        Self { ctx, config }
    }

    /// The request id.
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.ctx.request_id = id.into();
        self
    }

    /// The raw trace header (as `Lambda-Runtime-Trace-Id`).
    pub fn trace_header(mut self, header: impl Into<String>) -> Self {
        self.ctx.xray_trace_id = Some(header.into());
        self
    }

    /// The deadline in Unix milliseconds.
    pub fn deadline_ms(mut self, ms: u64) -> Self {
        self.ctx.deadline = ms;
        self
    }

    /// The invoked function ARN.
    pub fn invoked_function_arn(mut self, arn: impl Into<String>) -> Self {
        self.ctx.invoked_function_arn = arn.into();
        self
    }

    /// The function name.
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.config.function_name = name.into();
        self
    }

    /// The function memory in MB.
    pub fn memory_mb(mut self, mb: i32) -> Self {
        self.config.memory = mb;
        self
    }

    /// The tenant id (tenant-isolation mode).
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.ctx.tenant_id = Some(tenant.into());
        self
    }

    /// The context.
    pub fn build(self) -> lambda_runtime::Context {
        let mut ctx = self.ctx;
        ctx.env_config = Arc::new(self.config);
        ctx
    }
}

/// An X-Ray emitter that keeps every document, encoded exactly as the UDP emitter
/// would (size guard included); clones share the same capture.
///
/// ```
/// use streamer_obs::testing::CapturingEmitter;
/// let c = CapturingEmitter::new();
/// assert!(c.documents().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CapturingEmitter {
    docs: Arc<Mutex<Vec<String>>>,
}

impl CapturingEmitter {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// The raw documents (compact JSON), in the order sent.
    pub fn raw(&self) -> Vec<String> {
        self.docs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The documents parsed as JSON.
    ///
    /// # Panics
    ///
    /// When a document is not valid JSON (that is a test failure).
    pub fn documents(&self) -> Vec<serde_json::Value> {
        self.raw().iter().map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("not JSON ({e}): {d}"))).collect()
    }

    /// Forgets the captured documents.
    pub fn clear(&self) {
        self.docs.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl crate::xray::emitter::SegmentEmitter for CapturingEmitter {
    fn emit(&self, doc: &crate::xray::document::SegmentDocument<'_>) -> Result<(), crate::xray::emitter::EmitError> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        crate::xray::encode::encode_documents(doc, crate::xray::encode::MAX_DOCUMENT_BYTES, &mut buf, 0, &mut |d| {
            out.push(String::from_utf8_lossy(d).into_owned())
        });
        self.docs.lock().unwrap_or_else(|p| p.into_inner()).extend(out);
        Ok(())
    }

    /// Captured within `emit`.
    fn queues_documents(&self) -> bool {
        false
    }
}

/// The endpoint of an emulator that `scripts/test.sh` started and exported in `variable`.
///
/// Returns `None` (after a skip notice on stderr) when the variable is unset or blank, so
/// a plain `cargo test` skips emulator tests; but when emulators are required
/// (`STREAMER_REQUIRE_EMULATORS=1`, or `CI` set, as in the test command and CI), a missing
/// endpoint fails the test instead of skipping it.
///
/// # Panics
///
/// When the endpoint is missing and emulators are required.
///
/// ```
/// // The variable below is never set: outside CI the test is skipped.
/// if std::env::var_os("STREAMER_REQUIRE_EMULATORS").is_none() && std::env::var_os("CI").is_none() {
///     assert_eq!(streamer_obs::testing::emulator_endpoint("STREAMER_TEST_NO_SUCH_EMULATOR"), None);
/// }
/// ```
pub fn emulator_endpoint(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            let required = std::env::var("STREAMER_REQUIRE_EMULATORS").is_ok_and(|v| v == "1")
                || std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            assert!(
                !required,
                "{variable} is not set but emulators are required (STREAMER_REQUIRE_EMULATORS=1 or CI): run scripts/test.sh"
            );
            eprintln!("skipped: {variable} is not set (scripts/test.sh starts the emulators)");
            None
        }
    }
}
