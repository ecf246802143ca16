//! With an endpoint that never answers, `CloudWatchPublisher` holds the flush for
//! `OPERATION_TIMEOUT` in all, not per batch (a review found it per batch).
//!
//! What is violated: the publisher's documented bound, which exists to prevent a silent
//! loss (seed-system.md: "metrics lost silently"; project policy: never silently lost
//! data). README "Metrics": "the SDK's own retries (3 attempts of at most 2 s each, 5 s in
//! all, so an endpoint that never answers cannot hold the flush until Lambda's timeout);
//! a failed publish never fails the handler, it logs one ERROR with the lost datum
//! count". src/metrics/cloudwatch.rs, `ATTEMPT_TIMEOUT`: "an endpoint that never answers
//! must not hold the invocation's flush until Lambda kills it, the datums then lost
//! without a word."
//!
//! The batching rules (aws-rules.md §6.1 C-1: at most 1000 datums and 1 MB per request)
//! make a flush of more than 1000 datums several requests, which `publish` sends one
//! after the other, each with its own 5 s operation timeout. A set of 5001 datums is 6
//! requests: against an endpoint that never answers the flush is held about 6 x 5 s =
//! 30 s (beyond the default Lambda timeout of 3 s and most configured ones); Lambda
//! then kills the invocation before `publish` returns, so the one ERROR line with the
//! lost count is never written and the datums are lost without a word.
//!
//! Expected: the whole publish is bounded (once a request has timed out against an
//! unresponsive endpoint, the remaining batches are reported lost rather than each
//! waited for in turn), i.e. about `OPERATION_TIMEOUT` in all, as documented.
//!
//! Time is Tokio's paused clock (`start_paused`): the SDK's sleeps (timeouts, backoff, the
//! publish deadline) advance it only when everything waits, so the time measured is the
//! SDK's own, exactly, whatever the machine's speed: no wall-clock assertion.
#![cfg(feature = "cloudwatch")]

use std::time::Duration;

use aws_sdk_cloudwatch::config::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use streamer_obs::metrics::cloudwatch::{CloudWatchPublisher, MAX_DATUMS_PER_REQUEST, OPERATION_TIMEOUT};
use streamer_obs::metrics::{MetricSet, MetricsPublisher, Namespace, Unit};

const NOW: u64 = 1_795_730_988_123;

/// An HTTP client whose requests never get an answer (a black-holed endpoint).
#[derive(Debug, Clone)]
struct NeverAnswers;

impl HttpConnector for NeverAnswers {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(std::future::pending::<
            Result<aws_smithy_runtime_api::client::orchestrator::HttpResponse, ConnectorError>,
        >())
    }
}

impl HttpClient for NeverAnswers {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// Tokio's sleep (on the paused clock).
#[derive(Debug)]
struct PausedSleep;

impl AsyncSleep for PausedSleep {
    fn sleep(&self, d: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(d))
    }
}

#[test]
fn an_unresponsive_endpoint_holds_the_flush_for_at_most_the_documented_timeout() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    rt.block_on(async {
        let sdk = streamer_obs::aws::emulator_config("http://127.0.0.1:9", "us-east-1")
            .await
            .to_builder()
            .http_client(NeverAnswers)
            .sleep_impl(SharedAsyncSleep::new(PausedSleep))
            .build();
        let publisher = CloudWatchPublisher::new(&sdk);

        // 5001 single-value metrics: 6 requests of at most 1000 datums (C-1).
        let mut set = MetricSet::new(Namespace::streamer());
        let n = 5 * MAX_DATUMS_PER_REQUEST + 1;
        for i in 0..n {
            set.add(format!("M{i}"), Unit::Count, 1.0).unwrap();
        }

        let started = tokio::time::Instant::now();
        let report = publisher.publish(&set, NOW).await;
        let held = started.elapsed();

        assert_eq!((report.sent, report.lost), (0, n), "every datum is reported lost");
        assert!(
            held <= OPERATION_TIMEOUT + Duration::from_millis(1),
            "an endpoint that never answers held the flush for about {:.1} s (documented: {} s in all); \
             in Lambda the invocation is killed first and the {} datums are lost without the ERROR line",
            held.as_secs_f64(),
            OPERATION_TIMEOUT.as_secs(),
            n
        );
    });
}
