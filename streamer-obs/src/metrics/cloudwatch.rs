//! The `PutMetricData` publisher (feature `cloudwatch`): the second [`MetricsPublisher`],
//! for code that does not write EMF (or needs metrics at once rather than after log
//! extraction).
//!
//! - Called at flush time only: no background interval (Lambda freezes the environment
//!   between invocations).
//! - Each metric becomes one datum per dimension set; its values are written as
//!   `Values`/`Counts` (identical values counted), at most [`MAX_VALUES_PER_DATUM`] distinct
//!   values per datum (C-2).
//! - Datums are batched to at most [`MAX_DATUMS_PER_REQUEST`] per request and at most
//!   [`MAX_REQUEST_BYTES`] of estimated payload (C-1).
//! - Throttling and 5xx are retried by the SDK's own standard retry strategy (3 attempts
//!   with backoff), configured explicitly on the client.
//! - A request that still fails never fails the handler: the publisher logs **one** ERROR
//!   per publish with the number of lost datums, adds them to
//!   [`CloudWatchPublisher::lost_datums`], and reports them in [`PublishReport::lost`].
//!
//! ```no_run
//! use streamer_obs::metrics::cloudwatch::CloudWatchPublisher;
//! use streamer_obs::metrics::{MetricSet, MetricsPublisher, Namespace, Unit};
//! # async fn f() {
//! let publisher = CloudWatchPublisher::new(&streamer_obs::aws::load_config().await);
//! let mut set = MetricSet::new(Namespace::streamer());
//! set.add("Hits", Unit::Count, 1.0).unwrap();
//! let report = publisher.publish(&set, 1_700_000_000_000).await;
//! assert_eq!(report.lost, 0);
//! # }
//! ```

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::AsyncSleep as _;
use aws_sdk_cloudwatch::config::retry::RetryConfig;
use aws_sdk_cloudwatch::config::timeout::TimeoutConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use super::publish::{MetricsPublisher, PublishReport};
use super::set::MetricSet;
use super::unit::StorageResolution;

/// At most 1000 datums per `PutMetricData` request (C-1).
///
/// ```
/// assert_eq!(streamer_obs::metrics::cloudwatch::MAX_DATUMS_PER_REQUEST, 1000);
/// ```
pub const MAX_DATUMS_PER_REQUEST: usize = 1000;
/// At most 1 MB per request (C-1); batches are cut on a conservative size estimate.
///
/// ```
/// assert_eq!(streamer_obs::metrics::cloudwatch::MAX_REQUEST_BYTES, 1_000_000);
/// ```
pub const MAX_REQUEST_BYTES: usize = 1_000_000;
/// At most 150 distinct values per datum (C-2).
///
/// ```
/// assert_eq!(streamer_obs::metrics::cloudwatch::MAX_VALUES_PER_DATUM, 150);
/// ```
pub const MAX_VALUES_PER_DATUM: usize = 150;
/// Attempts per request in the SDK's standard retry mode (C-6).
///
/// ```
/// assert_eq!(streamer_obs::metrics::cloudwatch::MAX_ATTEMPTS, 3);
/// ```
pub const MAX_ATTEMPTS: u32 = 3;

/// How long one `PutMetricData` attempt may take before it is abandoned (and retried, up
/// to [`MAX_ATTEMPTS`]): an endpoint that never answers must not hold the invocation's
/// flush until Lambda kills it, the datums then lost without a word.
///
/// ```
/// assert_eq!(streamer_obs::metrics::cloudwatch::ATTEMPT_TIMEOUT.as_secs(), 2);
/// ```
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long one `PutMetricData` call may take, retries included, and how long one
/// publish may take, every batch of it together (a set of more than 1000 datums is several
/// calls, sent one after the other); past it the datums not sent are reported lost (one
/// ERROR line, [`CloudWatchPublisher::lost_datums`]).
///
/// ```
/// assert_eq!(streamer_obs::metrics::cloudwatch::OPERATION_TIMEOUT.as_secs(), 5);
/// ```
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One datum ready to send, with its estimated encoded size.
///
/// ```
/// use streamer_obs::metrics::{MetricSet, Namespace, Unit, cloudwatch};
/// let mut set = MetricSet::new(Namespace::streamer());
/// set.add("A", Unit::Count, 1.0).unwrap();
/// let planned = &cloudwatch::datums(&set, 0)[0];
/// assert_eq!(planned.datum.metric_name(), Some("A"));
/// assert!(planned.estimated_bytes > 0);
/// ```
#[derive(Debug, Clone)]
pub struct PlannedDatum {
    /// The SDK datum.
    pub datum: MetricDatum,
    /// An upper bound of its size in the request (the query encoding, larger than CBOR).
    pub estimated_bytes: usize,
}

/// Turns a set into datums (one per metric, dimension set and slice of 150 distinct
/// values), in order. Pure; used by [`CloudWatchPublisher`] and its tests.
///
/// ```
/// use streamer_obs::metrics::{MetricSet, Namespace, Unit, cloudwatch};
/// let mut set = MetricSet::new(Namespace::streamer());
/// for v in [1.0, 1.0, 2.0] {
///     set.add("Latency", Unit::Milliseconds, v).unwrap();
/// }
/// let datums = cloudwatch::datums(&set, 1_700_000_000_000);
/// assert_eq!(datums.len(), 1);
/// assert_eq!(datums[0].datum.values(), &[1.0, 2.0]);
/// assert_eq!(datums[0].datum.counts(), &[2.0, 1.0]);
/// ```
pub fn datums(set: &MetricSet, now_ms: u64) -> Vec<PlannedDatum> {
    let timestamp_ms = set.timestamp_ms().unwrap_or(now_ms);
    let timestamp = DateTime::from_millis(i64::try_from(timestamp_ms).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    for m in set.metrics() {
        // Distinct values with their counts, in first-seen order. Values are finite
        // (checked when recorded): `==` is exact, and -0 counts as 0 (one value, written 0).
        let mut distinct: Vec<(f64, f64)> = Vec::new();
        for &v in m.values {
            match distinct.iter_mut().find(|(d, _)| *d == v) {
                Some((_, c)) => *c += 1.0,
                None => distinct.push((if v == 0.0 { 0.0 } else { v }, 1.0)),
            }
        }
        for set_keys in &m.sets {
            let dims: Vec<Dimension> = set_keys
                .iter()
                .filter_map(|k| m.dimensions.iter().find(|(dk, _)| dk == k))
                .map(|(k, v)| Dimension::builder().name(k.as_str()).value(v.as_str()).build())
                .collect();
            let dims_bytes: usize = set_keys
                .iter()
                .filter_map(|k| m.dimensions.iter().find(|(dk, _)| dk == k))
                .map(|(k, v)| k.as_str().len() + v.as_str().len() + 96)
                .sum();
            for chunk in distinct.chunks(MAX_VALUES_PER_DATUM) {
                let mut b = MetricDatum::builder()
                    .metric_name(m.name.as_str())
                    .unit(StandardUnit::from(m.unit.as_str()))
                    .timestamp(timestamp)
                    .set_dimensions(Some(dims.clone()))
                    .set_values(Some(chunk.iter().map(|(v, _)| *v).collect()))
                    .set_counts(Some(chunk.iter().map(|(_, c)| *c).collect()));
                if m.resolution == StorageResolution::High {
                    b = b.storage_resolution(1);
                }
                let estimated_bytes = 256 + 2 * m.name.as_str().len() + dims_bytes + chunk.len() * 96;
                out.push(PlannedDatum { datum: b.build(), estimated_bytes });
            }
        }
    }
    out
}

/// Splits datums into request batches: at most [`MAX_DATUMS_PER_REQUEST`] datums and
/// [`MAX_REQUEST_BYTES`] estimated bytes each, order kept.
///
/// ```
/// use streamer_obs::metrics::{MetricSet, Namespace, Unit, cloudwatch};
/// let mut set = MetricSet::new(Namespace::streamer());
/// for i in 0..1500 {
///     set.add(format!("M{i}"), Unit::Count, 1.0).unwrap();
/// }
/// let batches = cloudwatch::batches(cloudwatch::datums(&set, 0));
/// assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![1000, 500]);
/// ```
pub fn batches(datums: Vec<PlannedDatum>) -> Vec<Vec<MetricDatum>> {
    let mut out: Vec<Vec<MetricDatum>> = Vec::new();
    let mut current: Vec<MetricDatum> = Vec::new();
    let mut bytes = 512usize;
    for d in datums {
        if !current.is_empty()
            && (current.len() == MAX_DATUMS_PER_REQUEST || bytes + d.estimated_bytes > MAX_REQUEST_BYTES)
        {
            out.push(std::mem::take(&mut current));
            bytes = 512;
        }
        bytes += d.estimated_bytes;
        current.push(d.datum);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Publishes through `PutMetricData` (see the module documentation for the policy).
///
/// ```
/// # async fn f() {
/// let sdk = streamer_obs::aws::emulator_config("http://127.0.0.1:1", "us-east-1").await;
/// let publisher = streamer_obs::metrics::cloudwatch::CloudWatchPublisher::new(&sdk);
/// assert_eq!(publisher.lost_datums(), 0);
/// # }
/// ```
#[derive(Debug)]
pub struct CloudWatchPublisher {
    client: Client,
    lost: AtomicU64,
}

impl CloudWatchPublisher {
    /// A publisher with a client built from `sdk_config` (use [`crate::aws::load_config`]),
    /// in standard retry mode with [`MAX_ATTEMPTS`] attempts of at most
    /// [`ATTEMPT_TIMEOUT`] each, [`OPERATION_TIMEOUT`] in all.
    ///
    /// ```
    /// # async fn f() {
    /// let sdk = streamer_obs::aws::load_config().await;
    /// let _publisher = streamer_obs::metrics::cloudwatch::CloudWatchPublisher::new(&sdk);
    /// # }
    /// ```
    pub fn new(sdk_config: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_cloudwatch::config::Builder::from(sdk_config)
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .build();
        Self::from_client(Client::from_conf(config))
    }

    /// A publisher on an existing client (its retry configuration applies).
    ///
    /// ```
    /// # async fn f() {
    /// let sdk = streamer_obs::aws::load_config().await;
    /// let client = aws_sdk_cloudwatch::Client::new(&sdk);
    /// let _publisher = streamer_obs::metrics::cloudwatch::CloudWatchPublisher::from_client(client);
    /// # }
    /// ```
    pub fn from_client(client: Client) -> Self {
        Self { client, lost: AtomicU64::new(0) }
    }

    /// Datums lost since the publisher was created (failed requests after retries).
    ///
    /// ```
    /// # async fn f() {
    /// let sdk = streamer_obs::aws::load_config().await;
    /// let publisher = streamer_obs::metrics::cloudwatch::CloudWatchPublisher::new(&sdk);
    /// assert_eq!(publisher.lost_datums(), 0);
    /// # }
    /// ```
    pub fn lost_datums(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// The client.
    ///
    /// ```
    /// # async fn f() {
    /// let sdk = streamer_obs::aws::load_config().await;
    /// let publisher = streamer_obs::metrics::cloudwatch::CloudWatchPublisher::new(&sdk);
    /// let _metrics = publisher.client().list_metrics();
    /// # }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait::async_trait]
impl MetricsPublisher for CloudWatchPublisher {
    async fn publish(&self, set: &MetricSet, now_ms: u64) -> PublishReport {
        if let Some(timestamp_ms) = set.stale_timestamp(now_ms) {
            let lost = datums(set, now_ms).len();
            self.lost.fetch_add(lost as u64, Ordering::Relaxed);
            return crate::metrics::publish::stale_timestamp_lost(timestamp_ms, now_ms, lost);
        }
        let planned = datums(set, now_ms);
        let total = planned.len();
        // The requests go one after the other, all of them within `OPERATION_TIMEOUT`:
        // every request has its own bound, but a set of several batches (over 1000 datums,
        // C-1) must not hold the flush for that bound once per batch. What is not sent by
        // then is reported lost (the deadline sleeps on the client's own sleep, the one
        // its timeouts use).
        let sent = AtomicUsize::new(0);
        let first_error = std::sync::Mutex::new(None::<String>);
        let work = async {
            for batch in batches(planned) {
                let n = batch.len();
                let result = self
                    .client
                    .put_metric_data()
                    .namespace(set.namespace().as_str())
                    .set_metric_data(Some(batch))
                    .send()
                    .await;
                match result {
                    Ok(_) => {
                        sent.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        if first.is_none() {
                            *first = Some(aws_sdk_cloudwatch::error::DisplayErrorContext(&e).to_string());
                        }
                    }
                }
            }
        };
        let timed_out = match self.client.config().sleep_impl() {
            Some(sleep) => {
                let deadline = sleep.sleep(OPERATION_TIMEOUT);
                matches!(
                    futures_util::future::select(std::pin::pin!(work), std::pin::pin!(deadline)).await,
                    futures_util::future::Either::Right(_)
                )
            }
            None => {
                work.await;
                false
            }
        };
        let mut first_error = first_error.into_inner().unwrap_or_else(|p| p.into_inner());
        if timed_out && first_error.is_none() {
            first_error = Some(format!("publish not done within {} s", OPERATION_TIMEOUT.as_secs()));
        }
        let sent = sent.into_inner().min(total);
        let report = PublishReport { sent, lost: total - sent };
        if report.lost > 0 {
            self.lost.fetch_add(report.lost as u64, Ordering::Relaxed);
            tracing::error!(
                target: "streamer_obs::metrics",
                lost_datums = report.lost,
                sent_datums = report.sent,
                error = first_error.as_deref().unwrap_or_default(),
                "PutMetricData failed; metrics lost"
            );
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Dimensions, Namespace, Unit, standard};

    #[test]
    fn one_datum_per_dimension_set_and_values_sliced_by_150_distinct() {
        let mut set = MetricSet::new(Namespace::streamer());
        set.add_dimension(standard::ENVIRONMENT, &crate::dimension_value!("prod")).unwrap();
        let dims = Dimensions::new()
            .with(standard::ACTION, &standard::Action::Connect)
            .set([standard::ENVIRONMENT])
            .set([standard::ENVIRONMENT, standard::ACTION]);
        for i in 0..400 {
            set.add_with("L", Unit::Milliseconds, f64::from(i % 200), StorageResolution::High, &dims).unwrap();
        }
        let d = datums(&set, 1_000);
        assert_eq!(d.len(), 4); // 2 sets x (150 + 50 distinct)
        assert_eq!(d[0].datum.values().len(), 150);
        assert_eq!(d[1].datum.values().len(), 50);
        assert!(d[0].datum.counts().iter().all(|c| *c == 2.0));
        assert_eq!(d[0].datum.dimensions().len(), 1);
        assert_eq!(d[2].datum.dimensions().len(), 2);
        assert_eq!(d[0].datum.storage_resolution(), Some(1));
        assert_eq!(d[0].datum.timestamp().map(|t| t.to_millis().unwrap()), Some(1_000));
        let total: f64 = d.iter().take(2).flat_map(|x| x.datum.counts()).sum();
        assert_eq!(total, 400.0);
    }

    #[test]
    fn zero_and_negative_zero_are_one_value() {
        let mut set = MetricSet::new(Namespace::streamer());
        for v in [-0.0, 0.0, 1.0, -0.0] {
            set.add("L", Unit::Count, v).unwrap();
        }
        let d = datums(&set, 1_000);
        assert_eq!(d[0].datum.values(), &[0.0, 1.0]);
        assert!(d[0].datum.values()[0].is_sign_positive());
        assert_eq!(d[0].datum.counts(), &[3.0, 1.0]);
    }

    #[test]
    fn batches_respect_the_size_budget() {
        let mut set = MetricSet::new(Namespace::streamer());
        for m in 0..100 {
            for v in 0..150 {
                set.add(format!("Metric{m}"), Unit::Count, f64::from(v)).unwrap();
            }
        }
        let planned = datums(&set, 0);
        let sizes: Vec<usize> = planned.iter().map(|p| p.estimated_bytes).collect();
        let b = batches(planned);
        assert!(b.len() >= 2, "100 datums of ~14 KB each exceed 1 MB");
        let mut i = 0;
        for batch in &b {
            let bytes: usize = sizes[i..i + batch.len()].iter().sum();
            assert!(bytes + 512 <= MAX_REQUEST_BYTES || batch.len() == 1);
            i += batch.len();
        }
        assert_eq!(i, 100);
    }
}
