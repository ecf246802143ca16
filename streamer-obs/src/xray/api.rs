//! The `PutTraceSegments` emitter (feature `xray-api`): documents are queued by
//! [`SegmentEmitter::emit`] and sent by [`SegmentEmitter::flush`] through the X-Ray API
//! (`aws-sdk-xray`), for environments without a daemon.
//!
//! - Documents go through the same size guard as the UDP emitter (each at most 64 KB).
//! - Batches hold at most [`MAX_DOCUMENTS_PER_CALL`] documents (the daemon's batch size)
//!   and at most [`MAX_REQUEST_BYTES`] of documents (our own bound; AWS publishes no
//!   per-call limit).
//! - `UnprocessedTraceSegments` with a retryable error code (throttling, internal
//!   errors, no code) and failed calls other than `InvalidRequestException` are retried
//!   with exponential backoff, at most [`ApiRetry::max_attempts`] attempts in all.
//!   `InvalidRequestException` and other unprocessed codes (`MissingParam`,
//!   `InvalidTraceId`, ...) are not retried.
//! - Nothing here fails the handler: failures are counted ([`ApiEmitterStats`]) and
//!   logged once.
//!
//! ```no_run
//! # async fn f() {
//! use std::sync::Arc;
//! use streamer_obs::xray::api::XrayApiEmitter;
//! let emitter = Arc::new(XrayApiEmitter::new(aws_sdk_xray::Client::new(&streamer_obs::aws::load_config().await)));
//! // inv.xray().set_emitter(emitter.clone());
//! # let _ = emitter;
//! # }
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_xray::error::SdkError;
use aws_sdk_xray::operation::put_trace_segments::PutTraceSegmentsError;

use crate::xray::document::SegmentDocument;
use crate::xray::emitter::{EmitError, FlushFuture, SegmentEmitter};
use crate::xray::encode::{self, MAX_DOCUMENT_BYTES};

/// At most this many documents per `PutTraceSegments` call.
pub const MAX_DOCUMENTS_PER_CALL: usize = 50;
/// At most this many bytes of documents per call.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Retry policy of the API emitter.
///
/// ```
/// use std::time::Duration;
/// use streamer_obs::xray::api::ApiRetry;
/// let r = ApiRetry::default();
/// assert_eq!((r.max_attempts, r.base_delay), (3, Duration::from_millis(50)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRetry {
    /// Attempts per batch, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub base_delay: Duration,
}

impl Default for ApiRetry {
    fn default() -> Self {
        Self { max_attempts: 3, base_delay: Duration::from_millis(50) }
    }
}

/// Counters of the API emitter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiEmitterStats {
    /// Documents accepted by X-Ray.
    pub sent: u64,
    /// Documents given up on (rejected, not retryable, or out of attempts).
    pub failed: u64,
    /// `PutTraceSegments` calls made.
    pub calls: u64,
    /// Retries made.
    pub retries: u64,
    /// Documents dropped by the size guard.
    pub dropped: u64,
}

#[derive(Debug, Clone)]
struct Pending {
    id: String,
    json: String,
}

/// The `PutTraceSegments` emitter.
#[derive(Debug)]
pub struct XrayApiEmitter {
    client: aws_sdk_xray::Client,
    retry: ApiRetry,
    pending: Mutex<Vec<Pending>>,
    sent: AtomicU64,
    failed: AtomicU64,
    calls: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
    failure_logged: AtomicBool,
}

/// The id of an encoded top-level document (its first `"id"` member).
fn document_id(json: &str) -> String {
    json.find("\"id\":\"").and_then(|i| json.get(i + 6..i + 22)).unwrap_or_default().to_owned()
}

/// Splits documents into batches of at most `max_docs` documents and `max_bytes` bytes.
fn batches<T>(docs: Vec<T>, len: impl Fn(&T) -> usize, max_docs: usize, max_bytes: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut cur: Vec<T> = Vec::new();
    let mut bytes = 0;
    for d in docs {
        let l = len(&d);
        if !cur.is_empty() && (cur.len() == max_docs || bytes + l > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += l;
        cur.push(d);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn retryable_code(code: Option<&str>) -> bool {
    match code {
        None | Some("") => true,
        Some(c) => {
            let c = c.to_ascii_lowercase();
            c.contains("throttl") || c.contains("internal") || c.contains("unavailable") || c.contains("timeout")
        }
    }
}

impl XrayApiEmitter {
    /// An emitter using `client` with the default retry policy.
    ///
    /// ```
    /// # use streamer_obs::xray::api::XrayApiEmitter;
    /// # let client = aws_sdk_xray::Client::from_conf(aws_sdk_xray::Config::builder().behavior_version_latest().region(aws_sdk_xray::config::Region::new("us-east-1")).build());
    /// let emitter = XrayApiEmitter::new(client);
    /// assert_eq!(emitter.pending(), 0);
    /// ```
    pub fn new(client: aws_sdk_xray::Client) -> Self {
        Self::with_retry(client, ApiRetry::default())
    }

    /// An emitter using `client` and `retry`.
    ///
    /// ```
    /// # use streamer_obs::xray::api::XrayApiEmitter;
    /// # let client = aws_sdk_xray::Client::from_conf(aws_sdk_xray::Config::builder().behavior_version_latest().region(aws_sdk_xray::config::Region::new("us-east-1")).build());
    /// # use streamer_obs::xray::api::ApiRetry;
    /// let emitter = XrayApiEmitter::with_retry(client, ApiRetry { max_attempts: 5, ..ApiRetry::default() });
    /// assert_eq!(emitter.stats().calls, 0);
    /// ```
    pub fn with_retry(client: aws_sdk_xray::Client, retry: ApiRetry) -> Self {
        Self {
            client,
            retry,
            pending: Mutex::new(Vec::new()),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failure_logged: AtomicBool::new(false),
        }
    }

    /// The counters so far.
    ///
    /// ```
    /// # use streamer_obs::xray::api::XrayApiEmitter;
    /// # let client = aws_sdk_xray::Client::from_conf(aws_sdk_xray::Config::builder().behavior_version_latest().region(aws_sdk_xray::config::Region::new("us-east-1")).build());
    /// let emitter = XrayApiEmitter::new(client);
    /// assert_eq!(emitter.stats(), Default::default());
    /// ```
    pub fn stats(&self) -> ApiEmitterStats {
        ApiEmitterStats {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Documents queued and not yet sent.
    ///
    /// ```
    /// # use streamer_obs::xray::api::XrayApiEmitter;
    /// # let client = aws_sdk_xray::Client::from_conf(aws_sdk_xray::Config::builder().behavior_version_latest().region(aws_sdk_xray::config::Region::new("us-east-1")).build());
    /// let emitter = XrayApiEmitter::new(client);
    /// assert_eq!(emitter.pending(), 0);
    /// ```
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn give_up(&self, n: usize, why: &str) {
        self.failed.fetch_add(n as u64, Ordering::Relaxed);
        if !self.failure_logged.swap(true, Ordering::Relaxed) {
            let why = why.to_owned();
            crate::lock::after_unlock(move || {
                tracing::warn!(target: "streamer_obs", documents = n, reason = why, "PutTraceSegments: documents not sent; further failures are only counted");
            });
        }
    }

    /// Sends every queued document (what [`SegmentEmitter::flush`] does).
    ///
    /// ```
    /// # use streamer_obs::xray::api::XrayApiEmitter;
    /// # let client = aws_sdk_xray::Client::from_conf(aws_sdk_xray::Config::builder().behavior_version_latest().region(aws_sdk_xray::config::Region::new("us-east-1")).build());
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let emitter = XrayApiEmitter::new(client);
    /// emitter.send_pending().await; // nothing queued: no call made
    /// assert_eq!(emitter.stats().calls, 0);
    /// # });
    /// ```
    pub async fn send_pending(&self) {
        let docs = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for batch in batches(docs, |d| d.json.len(), MAX_DOCUMENTS_PER_CALL, MAX_REQUEST_BYTES) {
            self.send_batch(batch).await;
        }
    }

    async fn send_batch(&self, mut batch: Vec<Pending>) {
        let mut last_error = String::new();
        for attempt in 0..self.retry.max_attempts.max(1) {
            if attempt > 0 {
                self.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.retry.base_delay * 2u32.saturating_pow(attempt - 1)).await;
            }
            self.calls.fetch_add(1, Ordering::Relaxed);
            let result = self
                .client
                .put_trace_segments()
                .set_trace_segment_documents(Some(batch.iter().map(|d| d.json.clone()).collect()))
                .send()
                .await;
            match result {
                Ok(out) => {
                    let mut retry = Vec::new();
                    let mut rejected = 0usize;
                    let mut unprocessed = 0usize;
                    for u in out.unprocessed_trace_segments() {
                        unprocessed += 1;
                        let doc = u.id().and_then(|id| batch.iter().position(|d| d.id == id));
                        match doc {
                            Some(i) if retryable_code(u.error_code()) => retry.push(batch[i].clone()),
                            _ => {
                                rejected += 1;
                                last_error = format!(
                                    "unprocessed {}: {}",
                                    u.error_code().unwrap_or("?"),
                                    u.message().unwrap_or_default()
                                );
                            }
                        }
                    }
                    self.sent.fetch_add(batch.len().saturating_sub(unprocessed) as u64, Ordering::Relaxed);
                    if rejected > 0 {
                        self.give_up(rejected, &last_error);
                    }
                    if retry.is_empty() {
                        return;
                    }
                    batch = retry;
                }
                Err(SdkError::ServiceError(e))
                    if matches!(e.err(), PutTraceSegmentsError::InvalidRequestException(_)) =>
                {
                    self.give_up(batch.len(), &format!("InvalidRequestException: {}", e.err()));
                    return;
                }
                Err(e) => last_error = format!("{e}"),
            }
        }
        self.give_up(batch.len(), &format!("out of attempts: {last_error}"));
    }
}

impl SegmentEmitter for XrayApiEmitter {
    fn emit(&self, doc: &SegmentDocument<'_>) -> Result<(), EmitError> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let report = encode::encode_documents(doc, MAX_DOCUMENT_BYTES, &mut buf, 0, &mut |d| {
            let json = String::from_utf8_lossy(d).into_owned();
            out.push(Pending { id: document_id(&json), json });
        });
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).extend(out);
        if report.dropped > 0 {
            self.dropped.fetch_add(report.dropped as u64, Ordering::Relaxed);
            return Err(EmitError::Dropped(format!("{} subsegment(s) too large", report.dropped)));
        }
        Ok(())
    }

    fn flush(&self) -> FlushFuture<'_> {
        Box::pin(self.send_pending())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_count_and_bytes() {
        let docs: Vec<usize> = vec![10; 120];
        let b = batches(docs, |d| *d, MAX_DOCUMENTS_PER_CALL, MAX_REQUEST_BYTES);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![50, 50, 20]);
        let big: Vec<usize> = vec![60_000; 40];
        let b = batches(big, |d| *d, MAX_DOCUMENTS_PER_CALL, MAX_REQUEST_BYTES);
        assert!(b.iter().all(|x| x.iter().sum::<usize>() <= MAX_REQUEST_BYTES));
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 40);
        assert!(batches(Vec::<usize>::new(), |d| *d, 50, 100).is_empty());
    }

    #[test]
    fn ids_and_retryable_codes() {
        assert_eq!(document_id(r#"{"type":"subsegment","id":"0123456789abcdef","trace_id":"x"}"#), "0123456789abcdef");
        assert_eq!(document_id("{}"), "");
        assert!(retryable_code(Some("ThrottledException")));
        assert!(retryable_code(None));
        assert!(!retryable_code(Some("MissingParam")));
        assert!(!retryable_code(Some("InvalidTraceId")));
    }
}
