//! Where documents go: the [`SegmentEmitter`] trait and the UDP daemon emitter.
//!
//! An emitter receives *structured* documents ([`SegmentDocument`]) and owns its wire
//! format, so an OpenTelemetry exporter can implement the same trait. Contract (as
//! OpenTelemetry's `SpanExporter`): not called concurrently for one invocation, never
//! blocks without bound, never panics, never fails the handler; problems are counted
//! and logged once.
//!
//! [`UdpEmitter`] sends each document to the X-Ray daemon as one datagram: the header
//! line `{"format":"json","version":1}`, a newline and one compact document. It uses one
//! non-blocking socket, connected to the daemon once (a `send` then skips the per-call
//! address and route lookup of `send_to`), and a per-thread buffer that keeps the header
//! and its capacity between datagrams (no lock shared by concurrent flushes). On a
//! connected socket the kernel reports an ICMP "port unreachable" for an earlier datagram
//! as `ECONNREFUSED` on a later send, which then is not made: reading the error clears it,
//! and the datagram is sent again, as an unconnected socket would have sent it. Other send
//! errors are counted as failures (the first one logged). A tree that does
//! not fit in a datagram is split and trimmed by [`encode`] so that
//! no datagram exceeds 65,507 bytes.
//!
//! ```
//! use std::net::UdpSocket;
//! use streamer_obs::trace_header::{SegmentId, TraceId};
//! use streamer_obs::xray::document::{SegmentDocument, Subsegment};
//! use streamer_obs::xray::emitter::{SegmentEmitter, UdpEmitter};
//!
//! let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
//! let emitter = UdpEmitter::new(daemon.local_addr().unwrap()).unwrap();
//! let (t, p) = (TraceId::generate(1_700_000_000), SegmentId::generate());
//! let mut s = Subsegment::new(SegmentId::generate(), "Work", 1_700_000_000_000_000);
//! s.set_end_micros(1_700_000_000_000_100);
//! emitter.emit(&SegmentDocument::new(&t, &p, &s)).unwrap();
//! let mut buf = [0u8; 65_536];
//! let n = daemon.recv(&mut buf).unwrap();
//! assert!(buf[..n].starts_with(b"{\"format\":\"json\",\"version\":1}\n{\"type\":\"subsegment\""));
//! assert_eq!(emitter.stats().datagrams, 1);
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::config::Config;
use crate::xray::daemon::DaemonAddress;
use crate::xray::document::SegmentDocument;
use crate::xray::encode::{self, DAEMON_HEADER, MAX_DATAGRAM_BYTES};

/// A boxed future returned by [`SegmentEmitter::flush`].
pub type FlushFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Why a document was not (fully) sent. Emitters count these; callers only log them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The socket or transport failed (full buffer, unreachable daemon, ...).
    #[error("X-Ray emitter I/O: {0}")]
    Io(#[from] io::Error),
    /// A document could not be made small enough and was dropped.
    #[error("X-Ray document dropped: {0}")]
    Dropped(String),
}

/// Receives independent subsegment documents.
///
/// ```
/// use streamer_obs::xray::document::SegmentDocument;
/// use streamer_obs::xray::emitter::{EmitError, SegmentEmitter};
///
/// #[derive(Debug)]
/// struct Stdout;
/// impl SegmentEmitter for Stdout {
///     fn emit(&self, doc: &SegmentDocument<'_>) -> Result<(), EmitError> {
///         println!("{}", doc.to_json());
///         Ok(())
///     }
/// }
/// ```
pub trait SegmentEmitter: Send + Sync + fmt::Debug + 'static {
    /// Sends (or queues) one document tree. Must not block without bound.
    ///
    /// The recorder calls it with its tree locked (the document is written from where the
    /// subsegments were recorded, not from a copy, and the emitter is reached through the
    /// same lock): an emitter must not record X-Ray data (annotations, subsegments) of the
    /// invocation being flushed, nor call any other method of its recorder (such as
    /// `set_emitter`), from inside `emit`.
    fn emit(&self, doc: &SegmentDocument<'_>) -> Result<(), EmitError>;

    /// Sends whatever is queued; called before the invocation's response is returned.
    fn flush(&self) -> FlushFuture<'_> {
        Box::pin(Done)
    }

    /// Whether [`emit`](Self::emit) may queue documents that only [`flush`](Self::flush)
    /// sends (true, the default: the flush is awaited). An emitter that sends (or drops)
    /// every document within `emit`, and whose `flush` does nothing, returns false: the
    /// lifecycle then flushes without awaiting a future.
    ///
    /// ```
    /// use streamer_obs::xray::emitter::{NoopEmitter, SegmentEmitter};
    /// assert!(!NoopEmitter.queues_documents());
    /// ```
    fn queues_documents(&self) -> bool {
        true
    }

    /// Whether documents go anywhere; a disabled emitter makes recording a no-op.
    fn is_enabled(&self) -> bool {
        true
    }
}

/// An already finished future; zero-sized, so boxing it does not allocate (unlike
/// `std::future::Ready<()>`).
#[derive(Debug)]
struct Done;

impl Future for Done {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

/// An emitter that drops everything (tracing disabled).
///
/// ```
/// use streamer_obs::xray::emitter::{NoopEmitter, SegmentEmitter};
/// assert!(!NoopEmitter.is_enabled());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopEmitter;

impl SegmentEmitter for NoopEmitter {
    fn emit(&self, _doc: &SegmentDocument<'_>) -> Result<(), EmitError> {
        Ok(())
    }

    fn is_enabled(&self) -> bool {
        false
    }

    fn queues_documents(&self) -> bool {
        false
    }
}

/// Counters of an emitter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitterStats {
    /// Datagrams (or documents) sent.
    pub datagrams: u64,
    /// Datagrams that could not be sent (full socket buffer, unreachable daemon).
    pub send_failures: u64,
    /// Documents dropped because they could not be made small enough.
    pub dropped_documents: u64,
    /// Documents that had metadata or stack frames trimmed.
    pub trimmed_documents: u64,
    /// Trees split into several documents.
    pub split_trees: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) datagrams: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) trimmed: AtomicU64,
    pub(crate) split: AtomicU64,
    send_failure_logged: AtomicBool,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> EmitterStats {
        EmitterStats {
            datagrams: self.datagrams.load(Ordering::Relaxed),
            send_failures: self.send_failures.load(Ordering::Relaxed),
            dropped_documents: self.dropped.load(Ordering::Relaxed),
            trimmed_documents: self.trimmed.load(Ordering::Relaxed),
            split_trees: self.split.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn record(&self, report: &encode::EncodeReport) {
        if report.dropped > 0 {
            self.dropped.fetch_add(report.dropped as u64, Ordering::Relaxed);
        }
        if report.trimmed > 0 {
            self.trimmed.fetch_add(report.trimmed as u64, Ordering::Relaxed);
        }
        if report.split {
            self.split.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn send_failed(&self, e: &io::Error, what: &str) {
        self.send_failures.fetch_add(1, Ordering::Relaxed);
        if !self.send_failure_logged.swap(true, Ordering::Relaxed) {
            // Sent under the recorder's lock: written once it is released (`crate::lock`).
            let (e, what) = (e.to_string(), what.to_owned());
            crate::lock::after_unlock(move || {
                tracing::warn!(
                    target: "streamer_obs",
                    error = %e,
                    "{what}: could not send an X-Ray document; further failures are only counted"
                );
            });
        }
    }
}

/// The X-Ray daemon emitter over UDP.
#[derive(Debug)]
pub struct UdpEmitter {
    socket: UdpSocket,
    target: SocketAddr,
    /// Whether `connect` succeeded (otherwise every datagram goes with `send_to`).
    connected: bool,
    counters: Counters,
}

thread_local! {
    /// Where the UDP emitters of this thread build their datagrams: the daemon header, then
    /// the document. Per thread, so concurrent flushes (invocations on several threads) do
    /// not meet on a lock; it keeps its capacity between datagrams.
    static DATAGRAM: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl UdpEmitter {
    /// An emitter sending to `target`, from a non-blocking socket on an ephemeral port
    /// connected to `target`.
    ///
    /// ```
    /// # use streamer_obs::xray::emitter::UdpEmitter;
    /// let e = UdpEmitter::new("127.0.0.1:2000".parse().unwrap()).unwrap();
    /// assert_eq!(e.target().port(), 2000);
    /// ```
    pub fn new(target: SocketAddr) -> io::Result<Self> {
        let bind: SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        // Connecting a UDP socket only records the peer; should it fail (no route yet),
        // datagrams go with `send_to` as before.
        let connected = socket.connect(target).is_ok();
        Ok(Self { socket, target, connected, counters: Counters::default() })
    }

    /// An emitter for a parsed daemon address.
    ///
    /// ```
    /// # use streamer_obs::xray::emitter::UdpEmitter;
    /// let e = UdpEmitter::for_address(&Default::default()).unwrap();
    /// assert_eq!(e.target().to_string(), "127.0.0.1:2000");
    /// ```
    pub fn for_address(address: &DaemonAddress) -> io::Result<Self> {
        Self::new(address.udp())
    }

    /// Where datagrams go.
    ///
    /// ```
    /// # use streamer_obs::xray::emitter::UdpEmitter;
    /// let e = UdpEmitter::new("127.0.0.1:2001".parse().unwrap()).unwrap();
    /// assert_eq!(e.target().port(), 2001);
    /// ```
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The counters so far.
    ///
    /// ```
    /// # use streamer_obs::xray::emitter::UdpEmitter;
    /// let e = UdpEmitter::new("127.0.0.1:2000".parse().unwrap()).unwrap();
    /// assert_eq!(e.stats().datagrams, 0);
    /// ```
    pub fn stats(&self) -> EmitterStats {
        self.counters.snapshot()
    }
}

impl UdpEmitter {
    fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        if !self.connected {
            return self.socket.send_to(datagram, self.target);
        }
        match self.socket.send(datagram) {
            // A connected socket reports the ICMP refusal of an earlier datagram (no daemon
            // listening then) on the next send, and that send is not made. Reading the error
            // clears it: send again, as an unconnected socket would have sent it.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => self.socket.send(datagram),
            other => other,
        }
    }
}

impl SegmentEmitter for UdpEmitter {
    fn emit(&self, doc: &SegmentDocument<'_>) -> Result<(), EmitError> {
        let mut last_err = None;
        let mut encode = |buf: &mut Vec<u8>| {
            if buf.len() != DAEMON_HEADER.len() {
                buf.clear();
                buf.extend_from_slice(DAEMON_HEADER);
            }
            let report = encode::encode_documents(
                doc,
                MAX_DATAGRAM_BYTES - DAEMON_HEADER.len(),
                buf,
                DAEMON_HEADER.len(),
                &mut |datagram| match self.send(datagram) {
                    Ok(_) => {
                        self.counters.datagrams.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        self.counters.send_failed(&e, "UDP emitter");
                        last_err = Some(e);
                    }
                },
            );
            buf.truncate(DAEMON_HEADER.len());
            report
        };
        // The thread's buffer; a fresh one if it is in use further up this thread's stack
        // (an emit from inside an emit) or the thread is being torn down.
        let report = DATAGRAM
            .try_with(|cell| cell.try_borrow_mut().ok().map(|mut buf| encode(&mut buf)))
            .ok()
            .flatten()
            .unwrap_or_else(|| encode(&mut Vec::new()));
        self.counters.record(&report);
        match (last_err, report.dropped) {
            (Some(e), _) => Err(EmitError::Io(e)),
            (None, 0) => Ok(()),
            (None, n) => Err(EmitError::Dropped(format!("{n} subsegment(s) too large even after trimming"))),
        }
    }

    /// Every datagram is sent within `emit`.
    fn queues_documents(&self) -> bool {
        false
    }
}

/// The process-wide emitter for `config`, built on first use: disabled when
/// `POWERTOOLS_TRACE_DISABLED` is set or `AWS_XRAY_DAEMON_ADDRESS` is invalid (one ERROR
/// line), otherwise a [`UdpEmitter`] to the configured daemon (default `127.0.0.1:2000`).
///
/// ```
/// use streamer_obs::config::Config;
/// let emitter = streamer_obs::xray::emitter::default_emitter(&Config::builder().trace_disabled(true).build_from(&Default::default()));
/// // Built once per process: the first configuration wins.
/// let _ = emitter.is_enabled();
/// ```
pub fn default_emitter(config: &Config) -> Arc<dyn SegmentEmitter> {
    Arc::clone(DEFAULT.get_or_init(|| emitter_for(config)))
}

static DEFAULT: OnceLock<Arc<dyn SegmentEmitter>> = OnceLock::new();

/// Installs the process-wide emitter used by every invocation (for example an
/// `xray::api::XrayApiEmitter` (feature `xray-api`) where there is no daemon). Call it
/// at start-up, before the first invocation; once an emitter is in place (installed or
/// built by [`default_emitter`]) it is not replaced and the given one is returned.
///
/// ```
/// use std::sync::Arc;
/// use streamer_obs::xray::emitter::install_default_emitter;
/// let first = install_default_emitter(Arc::new(streamer_obs::testing::CapturingEmitter::new()));
/// // A second installation is refused.
/// assert!(install_default_emitter(Arc::new(streamer_obs::testing::CapturingEmitter::new())).is_err());
/// # let _ = first;
/// ```
pub fn install_default_emitter(emitter: Arc<dyn SegmentEmitter>) -> Result<(), Arc<dyn SegmentEmitter>> {
    DEFAULT.set(emitter)
}

/// A new emitter for `config` (see [`default_emitter`], which caches one per process).
///
/// ```
/// use streamer_obs::config::Config;
/// use streamer_obs::xray::emitter::emitter_for;
/// let off = emitter_for(&Config::builder().xray_daemon_address("tcp:127.0.0.1:2000").build_from(&Default::default()));
/// assert!(!off.is_enabled()); // invalid address (udp part missing): tracing disabled
/// let on = emitter_for(&Config::builder().xray_daemon_address("127.0.0.1:2000").build_from(&Default::default()));
/// assert!(on.is_enabled());
/// ```
pub fn emitter_for(config: &Config) -> Arc<dyn SegmentEmitter> {
    if config.trace_disabled() {
        return Arc::new(NoopEmitter);
    }
    let address = match config.xray_daemon_address() {
        None => DaemonAddress::default(),
        Some(raw) => match raw.parse::<DaemonAddress>() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(target: "streamer_obs", error = %e, "AWS_XRAY_DAEMON_ADDRESS is invalid: X-Ray tracing disabled");
                return Arc::new(NoopEmitter);
            }
        },
    };
    match UdpEmitter::for_address(&address) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            tracing::error!(target: "streamer_obs", error = %e, "could not open the X-Ray UDP socket: X-Ray tracing disabled");
            Arc::new(NoopEmitter)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace_header::{SegmentId, TraceId};
    use crate::xray::document::Subsegment;

    /// Two emitters of one thread share its buffer: each datagram is the header and its
    /// own document, whatever was built before it (a longer one, another emitter's), and
    /// an emit while the buffer is in use on the thread builds in a fresh one.
    #[test]
    fn each_datagram_is_the_header_and_its_own_document() {
        let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
        daemon.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let (a, b) = (
            UdpEmitter::new(daemon.local_addr().unwrap()).unwrap(),
            UdpEmitter::new(daemon.local_addr().unwrap()).unwrap(),
        );
        let (t, p) = (TraceId::generate(1_700_000_000), SegmentId::generate());
        let long = Subsegment::new(SegmentId::generate(), &"L".repeat(200), 1_700_000_000_000_000);
        let short = Subsegment::new(SegmentId::generate(), "S", 1_700_000_000_000_000);
        let mut buf = [0u8; 65_536];
        let mut received = |expected: &Subsegment| {
            let n = daemon.recv(&mut buf).expect("a datagram");
            let mut want = DAEMON_HEADER.to_vec();
            want.extend_from_slice(SegmentDocument::new(&t, &p, expected).to_json().as_bytes());
            assert_eq!(String::from_utf8_lossy(&buf[..n]), String::from_utf8_lossy(&want));
        };
        for (emitter, doc) in [(&a, &long), (&b, &short), (&a, &short), (&b, &long)] {
            emitter.emit(&SegmentDocument::new(&t, &p, doc)).unwrap();
            received(doc);
        }
        DATAGRAM.with(|cell| {
            let _held = cell.borrow_mut();
            a.emit(&SegmentDocument::new(&t, &p, &short)).unwrap();
        });
        received(&short);
        assert_eq!(a.stats().datagrams + b.stats().datagrams, 5);
    }

    #[test]
    fn a_refusal_of_an_earlier_datagram_does_not_lose_the_next_one() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let emitter = UdpEmitter::new(addr).unwrap();
        assert!(emitter.connected);
        let (t, p) = (TraceId::generate(1_700_000_000), SegmentId::generate());
        let s = Subsegment::new(SegmentId::generate(), "Work", 1_700_000_000_000_000);
        // No daemon: every datagram is refused by ICMP, reported on the following send,
        // which is then made again: nothing fails, as with an unconnected socket.
        for _ in 0..4 {
            assert!(emitter.emit(&SegmentDocument::new(&t, &p, &s)).is_ok());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(emitter.stats().send_failures, 0);
        // The daemon (re)starts on that port: the next document reaches it.
        let Ok(daemon) = UdpSocket::bind(addr) else { return }; // port taken meanwhile: nothing to check
        daemon.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        assert!(emitter.emit(&SegmentDocument::new(&t, &p, &s)).is_ok());
        let mut buf = [0u8; 65_536];
        let n = daemon.recv(&mut buf).expect("the datagram after the restart arrives");
        assert!(buf[..n].starts_with(DAEMON_HEADER));
    }
}
