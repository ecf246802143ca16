//! Randomized, adversarial conformance tests of the `PutMetricData` publisher and of the
//! `PutMetricAlarm` alarm specs (fixed seeds: every run is the same run).
//!
//! The validators are written from `aws-rules.md` §6 (C-1 to C-10, with E-10 and E-15 to
//! E-20 for units, names and values, which C-2/C-3 refer to) and the documented policies of
//! README.md and docs/metrics.md, not from the publisher. Every request is captured by an
//! interceptor (the SDK input and the size of its serialized body, before compression) and
//! answered by an in-process HTTP client: no emulator is needed and nothing leaves the
//! process. The checks: each request obeys §6; every accepted value reaches exactly one
//! request (or is reported lost, with one ERROR line); refused inputs get typed errors;
//! nothing panics.
//!
//! The first run found two defects, fixed since: a timestamp that left CloudWatch's window
//! between `set_timestamp` and the flush was still sent (C-2, E-20); alarms built with
//! `AlarmConfig::from_config` selected an `Environment` the metrics replace with `unknown`
//! (a credential-shaped value).
#![cfg(feature = "cloudwatch")]
#![allow(clippy::type_complexity, clippy::too_many_lines)]

#[allow(dead_code)]
#[path = "common/random.rs"]
mod random;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_cloudwatch::config::{AsyncSleep, ConfigBag, Intercept, RuntimeComponents, SharedAsyncSleep, Sleep};
use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmInput;
use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataInput;
use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricDatum, StandardUnit, Statistic as SdkStatistic};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use random::{Findings, G};
use streamer_obs::clock::Clock;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::metrics::alarm::{
    AlarmConfig, AlarmSpec, AlarmStatistic, Comparison, FunctionAlarms, Statistic, TreatMissingData, apply_alarms,
    standard_alarms,
};
use streamer_obs::metrics::cloudwatch::CloudWatchPublisher;
use streamer_obs::metrics::{
    DimensionName, Dimensions, MetricSet, MetricsError, MetricsPublisher, Namespace, StorageResolution, TenantId, Unit,
};
use streamer_obs::testing::{CapturingWriter, FixedClock};

/// 2026-11-26T22:09:48.123Z
const NOW: u64 = 1_795_730_988_123;
const DAY_MS: u64 = 86_400_000;
/// E-20 / C-2: at most 2 weeks old, at most 2 hours ahead.
const MAX_PAST_MS: u64 = 14 * DAY_MS;
const MAX_FUTURE_MS: u64 = 2 * 3_600_000;
/// C-1: 1000 datums, 1 MB (read conservatively as 1,000,000 bytes of uncompressed body).
const MAX_DATUMS: usize = 1000;
const MAX_BODY: usize = 1_000_000;
/// C-10: uncompressed PutMetricAlarm payload.
const MAX_ALARM_BODY: usize = 120 * 1000;

fn two_360() -> f64 {
    2f64.powi(360)
}

// ------------------------------------------------------------------------------------
// An in-process HTTP client and a capturing interceptor
// ------------------------------------------------------------------------------------

/// What the fake service answers to call number `i` (0-based, every attempt counts):
/// a status and, for errors, the error code.
type Script = Arc<dyn Fn(usize) -> (u16, Option<&'static str>) + Send + Sync>;

#[derive(Clone)]
struct FakeHttp {
    calls: Arc<AtomicUsize>,
    script: Script,
}

impl fmt::Debug for FakeHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FakeHttp")
    }
}

impl FakeHttp {
    fn ok() -> Self {
        Self::scripted(|_| (200, None))
    }
    fn scripted(f: impl Fn(usize) -> (u16, Option<&'static str>) + Send + Sync + 'static) -> Self {
        Self { calls: Arc::new(AtomicUsize::new(0)), script: Arc::new(f) }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// `{"__type": code}` in CBOR (Smithy RPC v2 CBOR error body).
fn cbor_error(code: &str) -> Vec<u8> {
    let mut out = vec![0xa1, 0x66];
    out.extend_from_slice(b"__type");
    let n = code.len();
    if n < 24 {
        out.push(0x60 + n as u8);
    } else {
        out.push(0x78);
        out.push(n as u8);
    }
    out.extend_from_slice(code.as_bytes());
    out
}

impl HttpConnector for FakeHttp {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let i = self.calls.fetch_add(1, Ordering::SeqCst);
        let (status, code) = (self.script)(i);
        let body = code.map(cbor_error).unwrap_or_default();
        let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        response.headers_mut().insert("smithy-protocol", "rpc-v2-cbor");
        response.headers_mut().insert("content-type", "application/cbor");
        if let Some(c) = code {
            response.headers_mut().insert("x-amzn-query-error", format!("{c};Sender"));
        }
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for FakeHttp {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// Retries without waiting (the SDK's backoff would make the tests slow).
#[derive(Debug)]
struct NoSleep;

impl AsyncSleep for NoSleep {
    fn sleep(&self, _: Duration) -> Sleep {
        Sleep::new(std::future::ready(()))
    }
}

#[derive(Debug, Clone, Default)]
struct Capture {
    data: Arc<Mutex<Vec<PutMetricDataInput>>>,
    alarms: Arc<Mutex<Vec<PutMetricAlarmInput>>>,
    /// Serialized body sizes, in operation order.
    sizes: Arc<Mutex<Vec<usize>>>,
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "Capture"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(i) = context.input().downcast_ref::<PutMetricDataInput>() {
            self.data.lock().unwrap().push(i.clone());
        }
        if let Some(i) = context.input().downcast_ref::<PutMetricAlarmInput>() {
            self.alarms.lock().unwrap().push(i.clone());
        }
        Ok(())
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = context.request().body().bytes().map_or(usize::MAX, <[u8]>::len);
        self.sizes.lock().unwrap().push(n);
        Ok(())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn sdk_config(http: &FakeHttp) -> aws_config::SdkConfig {
    streamer_obs::aws::emulator_config("http://127.0.0.1:9", "us-east-1")
        .await
        .to_builder()
        .http_client(http.clone())
        .sleep_impl(SharedAsyncSleep::new(NoSleep))
        .build()
}

/// A client with the capture interceptor on `http`.
async fn capturing_client(http: &FakeHttp, capture: &Capture) -> Client {
    let sdk = sdk_config(http).await;
    Client::from_conf(aws_sdk_cloudwatch::config::Builder::from(&sdk).interceptor(capture.clone()).build())
}

// ------------------------------------------------------------------------------------
// Rule predicates (aws-rules.md §1.2 and §6)
// ------------------------------------------------------------------------------------

/// E-15 (USE): `^[A-Za-z0-9._#:/ -]{1,255}$`, not `:` first, not `AWS/` first, not blank.
fn namespace_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._#:/ -".contains(&b))
        && !s.starts_with(':')
        && !s.starts_with("AWS/")
        && !s.trim().is_empty()
}

/// E-18 / C-2: 1 to 255 characters, not blank (docs/metrics.md: no control characters).
fn metric_name_ok(s: &str) -> bool {
    let n = s.chars().count();
    (1..=255).contains(&n) && !s.trim().is_empty() && !s.chars().any(char::is_control)
}

/// E-16 (USE 250): ASCII, no control characters, 1..250, not blank, not `:` first.
fn dimension_name_ok(s: &str) -> bool {
    (1..=250).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii() && !b.is_ascii_control())
        && !s.trim().is_empty()
        && !s.starts_with(':')
}

/// E-17: ASCII, no control characters, 1..1024, not blank.
fn dimension_value_ok(s: &str) -> bool {
    (1..=1024).contains(&s.len()) && s.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()) && !s.trim().is_empty()
}

/// A loose, independent sign of a JWT or credential in `s` (README: names and values
/// holding one are refused): `eyJ`, a scheme word (`bearer`, `basic`), a secret header
/// name, a `…://user:password@host` shape, or a secret parameter's `name=`.
fn credential_marked(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    let url_password = l.find("://").is_some_and(|i| {
        let rest = &l[i + 3..];
        rest.find(':').is_some_and(|c| rest[c..].contains('@'))
    });
    url_password
        || ["eyj", "bearer", "basic", "authorization", "cookie", "api-key", "token=", "password=", "secret=", "jwt="]
            .iter()
            .any(|m| l.contains(m))
}

/// E-19 / C-3.
fn value_ok(v: f64) -> bool {
    v.is_finite() && v.abs() <= two_360()
}

fn norm(v: f64) -> u64 {
    if v == 0.0 { 0f64.to_bits() } else { v.to_bits() }
}

/// Every rule of C-1..C-3 on one captured `PutMetricData` request.
fn check_request(f: &mut Findings, input: &PutMetricDataInput, body: usize, namespace: &str, now_ms: u64, what: &str) {
    let data = input.metric_data();
    if input.namespace() != Some(namespace) || !namespace_ok(namespace) {
        f.add("C-1/E-15 Namespace", format!("{what}: {:?}", input.namespace()));
    }
    if data.is_empty() || data.len() > MAX_DATUMS {
        f.add("C-1 1..1000 metrics per request", format!("{what}: {} datums", data.len()));
    }
    if !input.entity_metric_data().is_empty() {
        f.add("C-1 EntityMetricData", what.to_owned());
    }
    if body > MAX_BODY {
        f.add("C-1 payload at most 1 MB", format!("{what}: {body} bytes, {} datums", data.len()));
    }
    for d in data {
        check_datum(f, d, now_ms, what);
    }
}

fn check_datum(f: &mut Findings, d: &MetricDatum, now_ms: u64, what: &str) {
    let name = d.metric_name().unwrap_or_default();
    if !metric_name_ok(name) {
        f.add("C-2/E-18 MetricName", format!("{what}: {name:?}"));
    }
    let dims = d.dimensions();
    if dims.len() > 30 {
        f.add("C-2 at most 30 dimensions", format!("{what}: {name}: {}", dims.len()));
    }
    let mut seen = BTreeSet::new();
    for dim in dims {
        let (k, v) = (dim.name().unwrap_or_default(), dim.value().unwrap_or_default());
        if !dimension_name_ok(k) {
            f.add("C-2/E-16 dimension name", format!("{what}: {name}: {k:?}"));
        }
        if !dimension_value_ok(v) {
            f.add("C-2/E-17 dimension value", format!("{what}: {name}: {k}={v:?}"));
        }
        if !seen.insert(k) {
            f.add("C-2 a dimension name twice in one datum", format!("{what}: {name}: {k}"));
        }
    }
    match d.timestamp().map(|t| t.to_millis()) {
        Some(Ok(ms)) => {
            let (lo, hi) = (now_ms as i64 - MAX_PAST_MS as i64, now_ms as i64 + MAX_FUTURE_MS as i64);
            if ms < lo || ms > hi {
                f.add(
                    "C-2/E-20 Timestamp at most 2 weeks old and 2 hours ahead",
                    format!("{what}: {name}: {ms} is {} ms from now {now_ms}", ms - now_ms as i64),
                );
            }
        }
        other => f.add("C-2 Timestamp", format!("{what}: {name}: {other:?}")),
    }
    let kinds = usize::from(d.value().is_some())
        + usize::from(d.statistic_values().is_some())
        + usize::from(!d.values().is_empty());
    if kinds != 1 {
        f.add("C-2 exactly one of Value, StatisticValues, Values", format!("{what}: {name}: {kinds}"));
    }
    let values = d.values();
    if values.len() > 150 {
        f.add("C-2 at most 150 values", format!("{what}: {name}: {}", values.len()));
    }
    let distinct: BTreeSet<u64> = values.iter().map(|v| norm(*v)).collect();
    if distinct.len() != values.len() {
        f.add("C-2 Values are unique (Counts count repeats)", format!("{what}: {name}: {values:?}"));
    }
    if !d.counts().is_empty() && d.counts().len() != values.len() {
        f.add("C-2 Counts as long as Values", format!("{what}: {name}: {} / {}", d.counts().len(), values.len()));
    }
    for c in d.counts() {
        if !(c.is_finite() && *c >= 1.0 && c.fract() == 0.0) {
            f.add("C-2 Counts are positive whole numbers", format!("{what}: {name}: {c}"));
        }
    }
    for v in values.iter().chain(d.value().as_ref()) {
        if !value_ok(*v) {
            f.add("C-3/E-19 value finite within ±2^360", format!("{what}: {name}: {v}"));
        }
    }
    if !matches!(d.storage_resolution(), None | Some(1) | Some(60)) {
        f.add("C-2 StorageResolution 1 or 60", format!("{what}: {name}: {:?}", d.storage_resolution()));
    }
    match d.unit() {
        Some(u)
            if StandardUnit::values().contains(&u.as_str()) && Unit::ALL.iter().any(|x| x.as_str() == u.as_str()) => {}
        other => f.add("C-2/E-10 Unit", format!("{what}: {name}: {other:?}")),
    }
}

// ------------------------------------------------------------------------------------
// Random metric sets, and the model of what they must publish
// ------------------------------------------------------------------------------------

impl G {
    fn ascii(&mut self, len: usize, alphabet: &[u8]) -> String {
        (0..len).map(|_| alphabet[self.0.usize(0..alphabet.len())] as char).collect()
    }
}

const PRINTABLE: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-/#:@+!%&*()[]{}<>?|~^$";

/// A metric name; `i` keeps names unique.
fn metric_name(g: &mut G, i: usize) -> String {
    let base = format!("M{i}");
    match g.0.u8(0..40) {
        0 => format!("{base}{}", "x".repeat(255 - base.len())),
        1 => format!("{base}{}", "x".repeat(256 - base.len())),
        2 => format!("{base}{}", "é".repeat(255 - base.len())),
        3 => format!("{base}{}", "é".repeat(256 - base.len())),
        4 => format!("{base} with spaces"),
        5 => format!("{base}\u{7}"),
        6 => format!("{base}\u{85}"),
        7 => format!("{base}-📈-Métrique-日本"),
        8 => "   ".to_owned(),
        9 => String::new(),
        10 => format!("{base}\t"),
        _ => base,
    }
}

fn dimension_name(g: &mut G, j: usize) -> String {
    let base = format!("D{j}");
    match g.0.u8(0..30) {
        0 => format!("{base}{}", "k".repeat(250 - base.len())),
        1 => format!("{base}{}", "k".repeat(251 - base.len())),
        2 => format!(":{base}"),
        3 => format!("{base}é"),
        4 => format!("{base} x"),
        5 => format!("{base}\u{1}"),
        _ => base,
    }
}

fn dimension_value(g: &mut G) -> String {
    match g.0.u8(0..30) {
        0 => g.ascii(1024, PRINTABLE).replace(' ', "_"),
        1 => g.ascii(1025, PRINTABLE),
        2 => "   ".to_owned(),
        3 => "vé".to_owned(),
        4 => "v\u{7f}".to_owned(),
        5 => String::new(),
        _ => {
            let n = g.0.usize(1..40);
            format!("v{}", g.ascii(n, PRINTABLE))
        }
    }
}

fn random_value(g: &mut G, pool: &[f64]) -> f64 {
    match g.0.u8(0..40) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => 0.0,
        5 => two_360(),
        6 => -two_360(),
        7 => f64::from_bits(two_360().to_bits() + 1),
        8 => 5e-324,
        9 => f64::MIN_POSITIVE,
        10 => 1e300,
        11 => -1e-300,
        _ => g.pick_cloned(pool),
    }
}

/// Which refusal a call must get (several may apply; any of them is right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Refusal {
    Name,
    Value,
    Dimensions,
    Conflict,
}

fn refusal_of(e: &MetricsError) -> Option<Refusal> {
    Some(match e {
        MetricsError::InvalidMetricName { .. } => Refusal::Name,
        MetricsError::InvalidValue { .. } => Refusal::Value,
        MetricsError::TooManyDimensions { .. } | MetricsError::Dimension { .. } => Refusal::Dimensions,
        MetricsError::Conflict { .. } => Refusal::Conflict,
        _ => return None,
    })
}

/// The key a datum is aggregated under: name, unit, resolution, sorted dimensions.
type Key = (String, &'static str, bool, Vec<(String, String)>);

#[derive(Default)]
struct Model {
    /// Values per datum key: value bits -> count.
    expected: BTreeMap<Key, BTreeMap<u64, u64>>,
    /// First accepted unit and resolution per metric name.
    kinds: HashMap<String, (Unit, StorageResolution)>,
    accepted: usize,
    refused: usize,
}

/// One random set with its model; `n_metrics` metrics.
fn random_set(g: &mut G, f: &mut Findings, case: u64, n_metrics: usize, clock: &FixedClock) -> (MetricSet, Model) {
    let namespace = g.pick_cloned(&["Streamer", "Streamer/Test", "a b#c:d/e.f_g-h", "x"]).to_owned();
    let namespace = if g.pct(10) { format!("N{}", "s".repeat(254)) } else { namespace };
    let mut set = MetricSet::new(Namespace::new(namespace).unwrap());
    let mut model = Model::default();
    // Default dimensions (on every metric).
    let mut defaults: Vec<(String, String)> = Vec::new();
    if g.pct(30) {
        for j in 0..g.0.usize(1..4) {
            let (k, v) = (format!("Def{j}"), dimension_value(g));
            let (Ok(name), Ok(value)) = (DimensionName::new(k.clone()), TenantId::new(v.clone())) else { continue };
            if set.add_dimension(name, &value).is_ok() {
                defaults.push((k, v));
            }
        }
    }
    // Explicit timestamps at the window edges (E-20 / C-2).
    let now = clock.now_millis();
    let ts: Option<(i128, bool)> = match g.0.u8(0..10) {
        0 => Some((i128::from(now) - i128::from(MAX_PAST_MS), true)),
        1 => Some((i128::from(now) - i128::from(MAX_PAST_MS) - 1, false)),
        2 => Some((i128::from(now) + i128::from(MAX_FUTURE_MS), true)),
        3 => Some((i128::from(now) + i128::from(MAX_FUTURE_MS) + 1, false)),
        4 => Some((i128::from(now) - i128::from(g.0.u64(0..MAX_PAST_MS)), true)),
        _ => None,
    };
    if let Some((ms, ok)) = ts {
        let t = UNIX_EPOCH + Duration::from_millis(ms as u64);
        match (set.set_timestamp(t, clock), ok) {
            (Ok(()), false) => f.add("E-20 timestamp outside the window accepted", format!("case {case}: {ms}")),
            (Err(MetricsError::InvalidTimestamp { .. }), false) | (Ok(()), true) => {}
            (r, _) => f.add("E-20 timestamp inside the window refused", format!("case {case}: {ms}: {r:?}")),
        }
    }
    let pool: Vec<f64> = (0..g.0.usize(1..400)).map(|i| f64::from(i as u32) * 1.5 - 7.0).collect();
    let big = n_metrics >= 1000;
    for i in 0..n_metrics {
        let name = if big && g.pct(98) { format!("M{i}") } else { metric_name(g, i) };
        let unit = g.pick_cloned(&Unit::ALL);
        let resolution = if g.pct(30) { StorageResolution::High } else { StorageResolution::Standard };
        // Own dimensions and sets.
        let mut own: Vec<(String, String)> = Vec::new();
        let mut dims = Dimensions::new();
        let n_keys = if big { g.0.usize(0..2) } else { g.pick_cloned(&[0, 1, 2, 3, 5, 29, 30, 31]) };
        // Mostly clean keys at the 30-key limit, so the limit itself is what is tested.
        let clean = n_keys >= 29 && g.pct(70);
        for j in 0..n_keys {
            let (k, v) =
                if clean { (format!("D{j}"), format!("v{j}")) } else { (dimension_name(g, j), dimension_value(g)) };
            let name_res = DimensionName::new(k.clone());
            let value_res = TenantId::new(v.clone());
            if name_res.is_ok() != dimension_name_ok(&k) {
                f.add("E-16 DimensionName::new", format!("{k:?}: {:?}", name_res.as_ref().err()));
            }
            // README: a value holding a JWT or a credential the log scrubber redacts is
            // refused (it would be redacted in the EMF line); random text rarely holds one.
            let refused_as_secret = value_res.as_ref().err().is_some_and(|e| {
                let e = format!("{e:?}");
                e.contains("holds a credential") || e.contains("looks like a JWT")
            });
            let secret_refusal = refused_as_secret && dimension_value_ok(&v) && credential_marked(&v);
            if value_res.is_ok() != dimension_value_ok(&v) && !secret_refusal {
                f.add("E-17 TenantId::new (a dimension value)", format!("{v:?}: {:?}", value_res.as_ref().err()));
            }
            if let (Ok(dn), Ok(dv)) = (name_res, value_res) {
                dims = dims.with(dn, &dv);
                own.retain(|(x, _)| *x != k);
                own.push((k, v));
            }
        }
        // The dimension map a set draws from: defaults, overridden by own values.
        let mut map: BTreeMap<String, String> = defaults.iter().cloned().collect();
        for (k, v) in &own {
            map.insert(k.clone(), v.clone());
        }
        let mut sets: Vec<Vec<String>> = Vec::new();
        let mut dims_error = false;
        if !big && g.pct(50) {
            let keys: Vec<String> = map.keys().cloned().collect();
            let n_sets = match g.0.u8(0..20) {
                0 => 30,
                1 => 31,
                _ => g.0.usize(1..4),
            };
            for _ in 0..n_sets {
                let mut s: Vec<String> = keys.iter().filter(|_| g.pct(50)).cloned().collect();
                g.0.shuffle(&mut s);
                match g.0.u8(0..25) {
                    0 => s.push("Missing".to_owned()),
                    1 if !s.is_empty() => s.push(s[0].clone()),
                    _ => {}
                }
                let names: Vec<DimensionName> = s.iter().map(|k| DimensionName::new(k.clone()).unwrap()).collect();
                dims = dims.set(names);
                let as_set: BTreeSet<&String> = s.iter().collect();
                if as_set.len() != s.len() || s.iter().any(|k| !map.contains_key(k)) || s.len() > 30 {
                    dims_error = true;
                }
                // A set repeated in another key order is one set.
                if !sets.iter().any(|x| x.iter().collect::<BTreeSet<_>>() == as_set) {
                    sets.push(s);
                }
            }
            if sets.len() > 30 {
                dims_error = true;
            }
        } else {
            sets.push(map.keys().cloned().collect());
            if map.len() > 30 {
                dims_error = true;
            }
        }
        let n_values = if big {
            1
        } else {
            let r = g.0.usize(1..60);
            g.pick_cloned(&[1, 1, 2, 149, 150, 151, 300, r])
        };
        for _ in 0..n_values {
            let v = random_value(g, &pool);
            let mut why = BTreeSet::new();
            if !metric_name_ok(&name) {
                why.insert(Refusal::Name);
            }
            if dims_error {
                why.insert(Refusal::Dimensions);
            }
            if !value_ok(v) {
                why.insert(Refusal::Value);
            }
            if model.kinds.get(&name).is_some_and(|k| *k != (unit, resolution)) {
                why.insert(Refusal::Conflict);
            }
            let r = set.add_with(name.clone(), unit, v, resolution, &dims);
            match (&r, why.is_empty()) {
                (Ok(()), true) => {
                    model.accepted += 1;
                    model.kinds.entry(name.clone()).or_insert((unit, resolution));
                    for s in &sets {
                        let mut d: Vec<(String, String)> = s.iter().map(|k| (k.clone(), map[k].clone())).collect();
                        d.sort();
                        let key = (name.clone(), unit.as_str(), resolution == StorageResolution::High, d);
                        *model.expected.entry(key).or_default().entry(norm(v)).or_default() += 1;
                    }
                }
                (Ok(()), false) => {
                    f.add("docs/metrics.md: invalid input accepted", format!("case {case}: {name:?} {v} {why:?}"))
                }
                (Err(e), false) => {
                    model.refused += 1;
                    if !refusal_of(e).is_some_and(|x| why.contains(&x)) {
                        f.add(
                            "docs/metrics.md: refused with another error",
                            format!("{name:?} {v}: {e} (rules: {why:?})"),
                        );
                    }
                }
                (Err(e), true) => f.add(
                    "docs/metrics.md: valid input refused",
                    format!("case {case}: {:?} {v} sets={sets:?}: {e}", random::squeeze(&name)),
                ),
            }
        }
    }
    (set, model)
}

/// What the requests carry, aggregated like the model.
fn sent(inputs: &[PutMetricDataInput]) -> BTreeMap<Key, BTreeMap<u64, u64>> {
    let mut out: BTreeMap<Key, BTreeMap<u64, u64>> = BTreeMap::new();
    for input in inputs {
        for d in input.metric_data() {
            let unit = Unit::ALL
                .iter()
                .find(|u| d.unit().is_some_and(|x| x.as_str() == u.as_str()))
                .map_or("?", |u| u.as_str());
            let mut dims: Vec<(String, String)> = d
                .dimensions()
                .iter()
                .map(|x| (x.name().unwrap_or_default().to_owned(), x.value().unwrap_or_default().to_owned()))
                .collect();
            dims.sort();
            let key = (d.metric_name().unwrap_or_default().to_owned(), unit, d.storage_resolution() == Some(1), dims);
            let counts: Vec<f64> =
                if d.counts().is_empty() { vec![1.0; d.values().len()] } else { d.counts().to_vec() };
            let entry = out.entry(key).or_default();
            for (v, c) in d.values().iter().zip(counts) {
                *entry.entry(norm(*v)).or_default() += c as u64;
            }
            if let Some(v) = d.value() {
                *entry.entry(norm(v)).or_default() += 1;
            }
        }
    }
    out
}

fn compare(f: &mut Findings, case: u64, model: &Model, got: &BTreeMap<Key, BTreeMap<u64, u64>>) {
    for (key, values) in &model.expected {
        match got.get(key) {
            None => f.add(
                "completeness: an accepted metric never sent",
                format!("case {case}: {:?} {} dims", random::squeeze(&key.0), key.3.len()),
            ),
            Some(v) if v != values => {
                let want: u64 = values.values().sum();
                let have: u64 = v.values().sum();
                f.add(
                    "completeness: values lost, duplicated or changed",
                    format!("case {case}: {:?}: {want} values recorded, {have} sent", random::squeeze(&key.0)),
                );
            }
            Some(_) => {}
        }
    }
    for key in got.keys() {
        if !model.expected.contains_key(key) {
            f.add(
                "completeness: a datum nothing recorded (or wrong unit/resolution/dimensions)",
                format!("case {case}: {:?} {:?}", random::squeeze(&key.0), key.3.iter().take(3).collect::<Vec<_>>()),
            );
        }
    }
}

/// Random sets of 0, 1, 1000, 1001, 5000 or a few metrics, with every unit and both
/// resolutions, 1 to 300 values (repeats, ±0, 2^360, subnormals; NaN, ±inf and values
/// past 2^360 refused), 0 to 31 dimensions of up to 250/1024 characters, up to 31 sets,
/// timestamps at the window edges: every request obeys C-1..C-3, every accepted value is
/// sent exactly once, every refusal is typed, the report counts the datums.
#[test]
fn random_sets_publish_conforming_requests() {
    let started = Instant::now();
    let rt = runtime();
    let mut f = Findings::default();
    let (mut requests, mut datums, mut accepted, mut refused) = (0, 0, 0, 0);
    let (mut max_dims, mut full, mut high) = (0, 0, 0);
    for case in 0..90u64 {
        let mut g = G::new(0xC0_FFEE_0000 + case);
        let n = match case {
            0 => 0,
            1 => 1,
            2 => 1000,
            3 => 1001,
            4 => 5000,
            _ => g.pick_cloned(&[1, 2, 3, 5, 8, 13, 40]),
        };
        let clock = FixedClock::at_millis(NOW);
        let (set, model) = random_set(&mut g, &mut f, case, n, &clock);
        accepted += model.accepted;
        refused += model.refused;
        let http = FakeHttp::ok();
        let capture = Capture::default();
        let logs = CapturingWriter::new();
        let config = Config::builder().build_from(&EnvVars::empty());
        let sub = streamer_obs::log::subscriber(&config, logs.clone(), clock.clone());
        let report = tracing::subscriber::with_default(sub, || {
            rt.block_on(async {
                let publisher = CloudWatchPublisher::from_client(capturing_client(&http, &capture).await);
                publisher.publish(&set, clock.now_millis()).await
            })
        });
        let inputs = capture.data.lock().unwrap().clone();
        let sizes = capture.sizes.lock().unwrap().clone();
        for (i, input) in inputs.iter().enumerate() {
            let what = format!("case {case} request {i}");
            check_request(&mut f, input, sizes[i], set.namespace().as_str(), NOW, &what);
        }
        let n_datums: usize = inputs.iter().map(|i| i.metric_data().len()).sum();
        if report.sent != n_datums || report.lost != 0 {
            f.add("docs: PublishReport counts the datums sent", format!("case {case}: {report:?}, {n_datums} sent"));
        }
        if http.calls() != inputs.len() {
            f.add("one HTTP call per request on success", format!("case {case}: {} / {}", http.calls(), inputs.len()));
        }
        if set.is_empty() && !inputs.is_empty() {
            f.add("an empty set sends a request", format!("case {case}"));
        }
        if !logs.lines().is_empty() {
            f.add("docs: a successful publish logs nothing", format!("case {case}: {}", logs.lines()[0]));
        }
        compare(&mut f, case, &model, &sent(&inputs));
        requests += inputs.len();
        datums += n_datums;
        for d in inputs.iter().flat_map(|i| i.metric_data()) {
            max_dims = max_dims.max(d.dimensions().len());
            full += usize::from(d.values().len() == 150);
            high += usize::from(d.storage_resolution() == Some(1));
        }
    }
    eprintln!(
        "{requests} requests, {datums} datums ({full} with 150 values, {high} high resolution, up to {max_dims} \
         dimensions), {accepted} values accepted, {refused} refused, {:?}",
        started.elapsed()
    );
    f.assert_none("PutMetricData requests");
}

/// Requests near the 1 MB limit: 1000-datum sets of 150 distinct values with 30 maximal
/// dimensions (250-character names, 1024-character values), high resolution.
#[test]
fn large_datums_stay_within_the_request_limits() {
    let rt = runtime();
    let mut f = Findings::default();
    let mut g = G::new(0x1_3B00);
    for (case, (n_metrics, n_values, n_dims)) in
        [(1000, 1, 0), (40, 150, 30), (300, 150, 2), (7, 1000, 30), (1200, 2, 5)].into_iter().enumerate()
    {
        let mut set = MetricSet::new(Namespace::new("Streamer/Big").unwrap());
        let mut dims = Dimensions::new();
        for j in 0..n_dims {
            let k = format!("D{j:02}{}", "k".repeat(246));
            dims = dims
                .with(DimensionName::new(k).unwrap(), &TenantId::new(g.ascii(1024, b"abcdefgh0123456789")).unwrap());
        }
        let mut recorded = 0u64;
        for m in 0..n_metrics {
            let name = format!("M{m:04}{}", "n".repeat(250));
            for v in 0..n_values {
                set.add_with(name.clone(), Unit::Bytes, v as f64 * 1.25 + 0.1, StorageResolution::High, &dims).unwrap();
                recorded += 1;
            }
        }
        let http = FakeHttp::ok();
        let capture = Capture::default();
        let report = rt.block_on(async {
            let publisher = CloudWatchPublisher::from_client(capturing_client(&http, &capture).await);
            publisher.publish(&set, NOW).await
        });
        let inputs = capture.data.lock().unwrap().clone();
        let sizes = capture.sizes.lock().unwrap().clone();
        for (i, input) in inputs.iter().enumerate() {
            check_request(&mut f, input, sizes[i], "Streamer/Big", NOW, &format!("big case {case} request {i}"));
        }
        let sent_values: f64 = inputs.iter().flat_map(|i| i.metric_data()).flat_map(|d| d.counts()).sum();
        if sent_values as u64 != recorded || report.lost != 0 {
            f.add("completeness", format!("big case {case}: {recorded} recorded, {sent_values} sent, {report:?}"));
        }
        eprintln!(
            "big case {case}: {} requests, largest body {} bytes",
            inputs.len(),
            sizes.iter().max().copied().unwrap_or(0)
        );
    }
    f.assert_none("large PutMetricData requests");
}

// C-2 / E-20: a timestamp set within the window may have left it by the time the set is
// flushed; it is then not sent (CloudWatch would refuse the whole request), and the datums
// are reported lost with one ERROR line (docs/metrics.md).
#[test]
fn a_timestamp_that_left_the_window_before_the_flush_is_not_sent() {
    let rt = runtime();
    let mut f = Findings::default();
    for (set_at, flush_after_ms) in [(NOW - MAX_PAST_MS, 60_000u64), (NOW - MAX_PAST_MS + 1_000, 900_000)] {
        let clock = FixedClock::at_millis(NOW);
        let mut set = MetricSet::new(Namespace::streamer());
        set.set_timestamp(UNIX_EPOCH + Duration::from_millis(set_at), &clock).unwrap();
        set.add("Late", Unit::Count, 1.0).unwrap();
        clock.advance_millis(flush_after_ms);
        let http = FakeHttp::ok();
        let capture = Capture::default();
        let report = rt.block_on(async {
            let publisher = CloudWatchPublisher::from_client(capturing_client(&http, &capture).await);
            streamer_obs::metrics::publish_set(&mut set, &publisher, &clock).await
        });
        for input in capture.data.lock().unwrap().iter() {
            for d in input.metric_data() {
                check_datum(&mut f, d, clock.now_millis(), &format!("flushed {flush_after_ms} ms later ({report:?})"));
            }
        }
    }
    f.assert_none("timestamps at flush time");
}

/// A request that fails is counted and logged once per publish; the others go through.
/// Throttling and 5xx are retried (3 attempts, C-5/C-6, docs/metrics.md); a 400
/// `InvalidParameterValue` is not (C-5).
#[test]
fn failed_requests_are_retried_by_the_rules_counted_and_logged_once() {
    let rt = runtime();
    let mut f = Findings::default();
    // (status, code, attempts the rules expect for one request)
    let cases: [(u16, Option<&'static str>, usize); 6] = [
        (500, Some("InternalServiceError"), 3),
        (400, Some("Throttling"), 3),
        (503, None, 3),
        (400, Some("InvalidParameterValue"), 1),
        (400, Some("MissingParameter"), 1),
        (400, Some("InvalidParameterCombination"), 1),
    ];
    for (status, code, attempts) in cases {
        // 2500 one-value metrics: 3 requests (1000, 1000, 500); the second one fails.
        let mut set = MetricSet::new(Namespace::streamer());
        for i in 0..2500 {
            set.add(format!("M{i}"), Unit::Count, 1.0).unwrap();
        }
        let http = FakeHttp::scripted(move |i| if i >= 1 && i < 1 + attempts { (status, code) } else { (200, None) });
        let logs = CapturingWriter::new();
        let config = Config::builder().build_from(&EnvVars::empty());
        let sub = streamer_obs::log::subscriber(&config, logs.clone(), FixedClock::at_millis(NOW));
        let (report, lost_total) = tracing::subscriber::with_default(sub, || {
            rt.block_on(async {
                let publisher = CloudWatchPublisher::new(&sdk_config(&http).await);
                let report = publisher.publish(&set, NOW).await;
                (report, publisher.lost_datums())
            })
        });
        let what = format!("{status} {code:?}");
        if http.calls() != 2 + attempts {
            f.add(
                "C-5/C-6 attempts per failing request",
                format!("{what}: {} calls, rules: {}", http.calls(), 2 + attempts),
            );
        }
        if (report.sent, report.lost, lost_total) != (1500, 1000, 1000) {
            f.add("docs: sent/lost/lost_datums", format!("{what}: {report:?}, lost_datums {lost_total}"));
        }
        // The publisher's lines (the SDK logs its own connection notes at ERROR too).
        let errors: Vec<serde_json::Value> = logs
            .json_lines()
            .into_iter()
            .filter(|l| l["level"] == "ERROR" && l["message"].as_str().is_some_and(|m| m.contains("PutMetricData")))
            .collect();
        if errors.len() != 1 || errors[0]["lost_datums"] != 1000 {
            f.add("docs: one ERROR line per publish with lost_datums", format!("{what}: {errors:?}"));
        }
    }
    // Every request failing: still one ERROR line for the publish, everything counted.
    let mut set = MetricSet::new(Namespace::streamer());
    for i in 0..2500 {
        set.add(format!("M{i}"), Unit::Count, f64::from(i % 7)).unwrap();
    }
    let http = FakeHttp::scripted(|_| (500, Some("InternalServiceError")));
    let logs = CapturingWriter::new();
    let config = Config::builder().build_from(&EnvVars::empty());
    let sub = streamer_obs::log::subscriber(&config, logs.clone(), FixedClock::at_millis(NOW));
    let (report, lost_total) = tracing::subscriber::with_default(sub, || {
        rt.block_on(async {
            let publisher = CloudWatchPublisher::new(&sdk_config(&http).await);
            let first = publisher.publish(&set, NOW).await;
            let second = publisher.publish(&set, NOW).await;
            ((first, second), publisher.lost_datums())
        })
    });
    let errors = logs
        .json_lines()
        .into_iter()
        .filter(|l| l["level"] == "ERROR" && l["message"].as_str().is_some_and(|m| m.contains("PutMetricData")))
        .count();
    if (report.0.sent, report.0.lost, report.1.lost, lost_total, errors, http.calls()) != (0, 2500, 2500, 5000, 2, 18) {
        f.add(
            "docs: all requests failing: every datum lost, one ERROR per publish, 3 attempts each",
            format!("{report:?}, lost_datums {lost_total}, {errors} ERROR lines, {} calls", http.calls()),
        );
    }
    f.assert_none("failed PutMetricData requests");
}

// ------------------------------------------------------------------------------------
// PutMetricAlarm
// ------------------------------------------------------------------------------------

/// Valid / invalid / undecided (`None`: the rules do not settle it).
type Verdict = Option<bool>;

/// C-8 `ExtendedStatistic`: p90-style percentiles, tm/tc/ts/wm shorthands, IQM, PR(n:m)
/// with metric values, TC/TM/TS/WM(X%:X%) with X from 10 to 90.
fn extended_statistic_verdict(s: &str) -> Verdict {
    fn num(x: &str) -> Option<f64> {
        let (w, fr) = x.split_once('.').unwrap_or((x, "0"));
        let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        (digits(w) && digits(fr)).then(|| x.parse().ok()).flatten()
    }
    if s == "IQM" {
        return Some(true);
    }
    if let Some(n) = s.strip_prefix('p') {
        return match num(n) {
            Some(v) if v > 0.0 && v < 100.0 => Some(true),
            Some(v) if v == 0.0 || v == 100.0 => None,
            _ => Some(false),
        };
    }
    for short in ["tm", "tc", "ts", "wm"] {
        if let Some(n) = s.strip_prefix(short) {
            return match num(n) {
                Some(v) if v > 0.0 && v < 100.0 => Some(true),
                Some(_) => None,
                None => Some(false),
            };
        }
    }
    for long in ["PR", "TC", "TM", "TS", "WM"] {
        if let Some(rest) = s.strip_prefix(long) {
            let Some((a, b)) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')).and_then(|r| r.split_once(':'))
            else {
                return Some(false);
            };
            if a.is_empty() && b.is_empty() {
                return Some(false);
            }
            let pct = |x: &str| x.strip_suffix('%').map(num);
            if long == "PR" {
                if a.contains('%') || b.contains('%') {
                    return Some(false);
                }
                let (lo, hi) = (
                    if a.is_empty() { Some(f64::MIN) } else { num(a) },
                    if b.is_empty() { Some(f64::MAX) } else { num(b) },
                );
                return match (lo, hi) {
                    (Some(l), Some(h)) if l < h => Some(true),
                    (Some(_), Some(_)) => None,
                    _ => Some(false),
                };
            }
            let side = |x: &str| -> Option<Option<f64>> {
                if x.is_empty() {
                    return Some(None);
                }
                match pct(x) {
                    Some(Some(v)) if (10.0..=90.0).contains(&v) => Some(Some(v)),
                    _ => None,
                }
            };
            return match (side(a), side(b)) {
                (Some(Some(l)), Some(Some(h))) => Some(l < h),
                (Some(_), Some(_)) => Some(true),
                // Absolute bounds (`TM(100:2000)`) are outside C-8's list: undecided.
                _ if !a.contains('%') && !b.contains('%') => None,
                _ => Some(false),
            };
        }
    }
    Some(false)
}

/// C-7..C-10 for an `AlarmSpec`, written from the rules.
fn alarm_verdict(a: &AlarmSpec) -> (Verdict, &'static str) {
    let mut undecided = None;
    // C-7 AlarmName: 1..255 characters, no ASCII control characters.
    let n = a.name.chars().count();
    if n == 0 || n > 255 || a.name.chars().any(|c| c.is_ascii_control()) {
        return (Some(false), "C-7 AlarmName");
    }
    if a.name.trim().is_empty() {
        undecided = Some("C-7 blank AlarmName");
    }
    // C-10 description.
    if a.description.chars().count() > 1024 {
        return (Some(false), "C-10 AlarmDescription");
    }
    // C-8 MetricName (E-18: 1..255, not blank).
    let m = a.metric_name.chars().count();
    if m == 0 || m > 255 || a.metric_name.trim().is_empty() {
        return (Some(false), "C-8/E-18 MetricName");
    }
    if a.metric_name.chars().any(char::is_control) {
        undecided = Some("control character in MetricName");
    }
    // Namespace: ours by E-15, or any AWS/<service>.
    let ns_ok = match a.namespace.strip_prefix("AWS/") {
        Some(rest) => !rest.is_empty() && namespace_ok(rest) && a.namespace.len() <= 255,
        None => namespace_ok(&a.namespace),
    };
    if !ns_ok {
        return (Some(false), "C-8/E-15 Namespace");
    }
    if let AlarmStatistic::Extended(s) = &a.statistic {
        match extended_statistic_verdict(s) {
            Some(false) => return (Some(false), "C-8 ExtendedStatistic"),
            None => undecided = Some("ExtendedStatistic outside C-8's list"),
            Some(true) => {}
        }
    }
    let p = u64::from(a.period_secs);
    if !(p == 10 || p == 20 || p == 30 || (p > 0 && p % 60 == 0)) {
        return (Some(false), "C-8 Period");
    }
    // "Use 10/20/30 only for metrics published with StorageResolution 1."
    if p < 60 && a.resolution != StorageResolution::High {
        return (Some(false), "C-8 Period under a minute on a standard-resolution metric");
    }
    if a.evaluation_periods < 1 {
        return (Some(false), "C-8 EvaluationPeriods");
    }
    if a.datapoints_to_alarm < 1 || a.datapoints_to_alarm > a.evaluation_periods {
        return (Some(false), "C-8 DatapointsToAlarm");
    }
    let total = p * u64::from(a.evaluation_periods);
    if total > 604_800 || (p < 3600 && total > 86_400) {
        return (Some(false), "C-9 Period x EvaluationPeriods");
    }
    if !a.threshold.is_finite() {
        return (Some(false), "C-8 Threshold");
    }
    if a.dimensions.len() > 30 {
        return (Some(false), "C-10 Dimensions");
    }
    for (k, v) in &a.dimensions {
        if !dimension_name_ok(k) || !dimension_value_ok(v) {
            return (Some(false), "C-10/E-16/E-17 Dimension");
        }
    }
    let names: BTreeSet<&String> = a.dimensions.iter().map(|(k, _)| k).collect();
    if names.len() != a.dimensions.len() {
        undecided = Some("duplicate dimension names");
    }
    for actions in [&a.alarm_actions, &a.ok_actions] {
        if actions.len() > 5 || actions.iter().any(|x| x.is_empty() || x.chars().count() > 1024) {
            return (Some(false), "C-10 actions");
        }
        if actions.iter().any(|x| !x.is_ascii()) {
            undecided = Some("non-ASCII ARN");
        }
    }
    match undecided {
        Some(why) => (None, why),
        None => (Some(true), "valid"),
    }
}

fn random_alarm(g: &mut G, base: &AlarmSpec) -> AlarmSpec {
    let mut a = base.clone();
    for _ in 0..g.0.usize(1..4) {
        match g.0.u8(0..13) {
            0 => {
                a.name = g
                    .pick_cloned(&[
                        "streamer prod high latency".to_owned(),
                        "é".repeat(255),
                        "é".repeat(256),
                        String::new(),
                        "a\u{0}b".to_owned(),
                        "a\u{7f}".to_owned(),
                        "tab\there".to_owned(),
                        "c1\u{85}ok".to_owned(),
                        "📈 alarm".to_owned(),
                        "   ".to_owned(),
                        "x".repeat(255),
                    ])
                    .clone()
            }
            1 => a.description = g.pick_cloned(&["é".repeat(1024), "é".repeat(1025), String::new(), "x".repeat(1024)]),
            2 => {
                a.namespace = g
                    .pick_cloned(&[
                        "Streamer",
                        "AWS/Lambda",
                        "AWS/",
                        ":x",
                        "",
                        "Bad\u{e9}",
                        "with space",
                        "  ",
                        "aws/lambda",
                        "AWS/Api Gateway",
                    ])
                    .to_owned();
                if g.pct(20) {
                    a.namespace = format!("N{}", "s".repeat(g.pick_cloned(&[254, 255])));
                }
            }
            3 => {
                a.metric_name = g.pick_cloned(&[
                    "Duration".to_owned(),
                    String::new(),
                    " ".to_owned(),
                    "m".repeat(255),
                    "m".repeat(256),
                    "é".repeat(255),
                    "a\u{7}".to_owned(),
                ])
            }
            4 => {
                a.statistic = if g.pct(30) {
                    AlarmStatistic::Simple(g.pick_cloned(&[
                        Statistic::SampleCount,
                        Statistic::Average,
                        Statistic::Sum,
                        Statistic::Minimum,
                        Statistic::Maximum,
                    ]))
                } else {
                    AlarmStatistic::Extended(
                        g.pick_cloned(&[
                            "p50",
                            "p90",
                            "p99",
                            "p99.9",
                            "p99.99",
                            "p95.5",
                            "tm90",
                            "tc90",
                            "ts90",
                            "wm90",
                            "tm99",
                            "IQM",
                            "PR(10:300)",
                            "PR(:300)",
                            "PR(100:)",
                            "TM(10%:90%)",
                            "TC(25%:75%)",
                            "TS(10%:)",
                            "WM(:90%)",
                            "TM(10.5%:89.5%)",
                            "p0",
                            "p100",
                            "p101",
                            "P99",
                            "p-1",
                            "p",
                            "p99.",
                            "",
                            " p99",
                            "p99 ",
                            "tm",
                            "TM(5%:95%)",
                            "TM(90%:10%)",
                            "TM(50%:50%)",
                            "IQR",
                            "Average",
                            "PR(10%:90%)",
                            "p9 9",
                            "TM(10%:90%",
                            "tm90%",
                            "p1e2",
                            "p٩٩",
                            "pNaN",
                            "p+99",
                            "TM(10%:90%)x",
                            "iqm",
                            "TM(:)",
                            "PR(:)",
                            "TM(10%:95%)",
                            "TM(9.9%:90%)",
                            "TM(100:2000)",
                        ])
                        .to_owned(),
                    )
                }
            }
            5 => {
                a.resolution = if g.pct(50) { StorageResolution::High } else { StorageResolution::Standard };
                a.period_secs = g.pick_cloned(&[
                    0,
                    1,
                    5,
                    10,
                    20,
                    30,
                    45,
                    59,
                    60,
                    61,
                    90,
                    120,
                    300,
                    3600,
                    3601,
                    3660,
                    7200,
                    86_400,
                    604_800,
                    604_860,
                    4_294_967_280,
                ])
            }
            6 => {
                a.evaluation_periods =
                    g.pick_cloned(&[0, 1, 2, 3, 5, 60, 1440, 1441, 2880, 8640, 8641, 10_080, 10_081, 60_480, u32::MAX]);
                a.datapoints_to_alarm = a.datapoints_to_alarm.min(a.evaluation_periods.max(1));
            }
            7 => {
                let n = a.evaluation_periods;
                let r = g.0.u32(1..=n.max(1));
                a.datapoints_to_alarm = g.pick_cloned(&[0, 1, n, n.saturating_add(1), r]);
            }
            8 => {
                a.threshold = g.pick_cloned(&[
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.0,
                    0.0,
                    two_360(),
                    -two_360(),
                    f64::MAX,
                    5e-324,
                    1e300,
                    27_000.0,
                ])
            }
            9 => {
                a.comparison = g.pick_cloned(&[
                    Comparison::GreaterThan,
                    Comparison::GreaterThanOrEqual,
                    Comparison::LessThan,
                    Comparison::LessThanOrEqual,
                ])
            }
            10 => {
                a.treat_missing_data = g.pick_cloned(&[
                    TreatMissingData::Breaching,
                    TreatMissingData::NotBreaching,
                    TreatMissingData::Ignore,
                    TreatMissingData::Missing,
                ])
            }
            11 => {
                let n = g.pick_cloned(&[0usize, 1, 2, 29, 30, 31]);
                a.dimensions = (0..n)
                    .map(|j| {
                        let k = if g.pct(10) {
                            g.pick_cloned(&[
                                "D0".to_owned(),
                                String::new(),
                                ":k".to_owned(),
                                "k".repeat(251),
                                "kë".to_owned(),
                            ])
                        } else {
                            format!("D{j}")
                        };
                        let v = if g.pct(10) {
                            g.pick_cloned(&[
                                String::new(),
                                " ".to_owned(),
                                "v".repeat(1025),
                                "vé".to_owned(),
                                "v\n".to_owned(),
                            ])
                        } else if g.pct(5) {
                            "v".repeat(1024)
                        } else {
                            format!("v{j}")
                        };
                        (k, v)
                    })
                    .collect();
            }
            _ => {
                let mk = |g: &mut G, i: usize| -> String {
                    match g.0.u8(0..12) {
                        0 => String::new(),
                        1 => format!("arn:{}", "a".repeat(1020)),
                        2 => format!("arn:{}", "a".repeat(1021)),
                        3 => format!("arn:{}", "é".repeat(1020)),
                        _ => format!("arn:aws:sns:us-east-1:123456789012:topic-{i}"),
                    }
                };
                let n = g.0.usize(0..7);
                a.alarm_actions = (0..n).map(|i| mk(g, i)).collect();
                let n = g.0.usize(0..7);
                a.ok_actions = (0..n).map(|i| mk(g, i)).collect();
            }
        }
    }
    a
}

/// The `PutMetricAlarm` input of a valid spec (C-7..C-10).
fn check_alarm_input(f: &mut Findings, a: &AlarmSpec, i: &PutMetricAlarmInput, body: usize) {
    let what = format!("{:?}", random::squeeze(&a.name));
    if i.alarm_name() != Some(a.name.as_str()) {
        f.add("C-7 AlarmName sent as given", format!("{what}: {:?}", i.alarm_name()));
    }
    if !i.metrics().is_empty() || i.evaluation_criteria().is_some() || i.metric_name().is_none() {
        f.add("C-7 exactly one of MetricName, Metrics, EvaluationCriteria", what.clone());
    }
    match (i.statistic(), i.extended_statistic()) {
        (Some(s), None) if SdkStatistic::values().contains(&s.as_str()) => {}
        (None, Some(_)) => {}
        other => f.add("C-8 exactly one of Statistic, ExtendedStatistic", format!("{what}: {other:?}")),
    }
    if i.unit().is_some() {
        f.add("C-10 Unit left out", what.clone());
    }
    let p = i.period().unwrap_or(0);
    if !(p == 10 || p == 20 || p == 30 || (p > 0 && p % 60 == 0)) {
        f.add("C-8 Period", format!("{what}: {p}"));
    }
    let n = i.evaluation_periods().unwrap_or(0);
    let m = i.datapoints_to_alarm().unwrap_or(n);
    if n < 1 || m < 1 || m > n {
        f.add("C-8 EvaluationPeriods / DatapointsToAlarm", format!("{what}: {m} of {n}"));
    }
    let total = i64::from(p) * i64::from(n);
    if total > 604_800 || (p < 3600 && total > 86_400) {
        f.add("C-9 Period x EvaluationPeriods", format!("{what}: {total}"));
    }
    if !i.threshold().is_some_and(f64::is_finite) {
        f.add("C-8 Threshold", format!("{what}: {:?}", i.threshold()));
    }
    let ops = [
        ComparisonOperator::GreaterThanOrEqualToThreshold,
        ComparisonOperator::GreaterThanThreshold,
        ComparisonOperator::LessThanThreshold,
        ComparisonOperator::LessThanOrEqualToThreshold,
    ];
    if !i.comparison_operator().is_some_and(|c| ops.contains(c)) {
        f.add("C-8 static-threshold ComparisonOperator", format!("{what}: {:?}", i.comparison_operator()));
    }
    if !i.treat_missing_data().is_some_and(|t| ["breaching", "notBreaching", "ignore", "missing"].contains(&t)) {
        f.add("C-10 TreatMissingData", format!("{what}: {:?}", i.treat_missing_data()));
    }
    if i.dimensions().len() > 30 {
        f.add("C-10 at most 30 dimensions", what.clone());
    }
    for actions in [i.alarm_actions(), i.ok_actions(), i.insufficient_data_actions()] {
        if actions.len() > 5 || actions.iter().any(|x| x.is_empty() || x.chars().count() > 1024) {
            f.add("C-10 at most 5 actions of 1..1024 characters", what.clone());
        }
    }
    if body > MAX_ALARM_BODY {
        f.add("C-10 payload at most 120 KB", format!("{what}: {body} bytes"));
    }
}

/// Random alarm specs (periods 10/30/60/61/90 s and more, evaluation periods x period
/// over a day and a week, percentile statistics valid and invalid, names with spaces and
/// control characters, NaN and infinite thresholds, 30/31 dimensions, 5/6 actions):
/// `validate` agrees with C-7..C-10, and every spec it accepts becomes a conforming
/// `PutMetricAlarm` request.
#[test]
fn random_alarm_specs_validate_by_the_rules() {
    let started = Instant::now();
    let rt = runtime();
    let mut f = Findings::default();
    let config = AlarmConfig::new("prod").function(FunctionAlarms::new("streamer-connect", Duration::from_secs(10)));
    let bases = standard_alarms(&config);
    let http = FakeHttp::ok();
    let capture = Capture::default();
    let client = rt.block_on(capturing_client(&http, &capture));
    let (mut valid, mut invalid, mut undecided) = (0, 0, 0);
    let mut max_body = 0;
    for case in 0..3000u64 {
        let mut g = G::new(0xA1A2_0000 + case);
        let base = g.pick_cloned(&bases);
        let a = random_alarm(&mut g, &base);
        let (verdict, rule) = alarm_verdict(&a);
        let got = a.validate();
        match (verdict, &got) {
            (Some(true), Err(e)) => f.add("C-7..C-10: a valid spec refused", format!("{e}")),
            (Some(false), Ok(())) => {
                f.add(&format!("{rule}: an invalid spec accepted"), format!("{:?}", short_spec(&a)))
            }
            _ => {}
        }
        match verdict {
            Some(true) => valid += 1,
            Some(false) => invalid += 1,
            None => undecided += 1,
        }
        if let Err(e) = &got
            && e.alarm != a.name
        {
            f.add("typed AlarmError names the alarm", format!("{e:?}"));
        }
        if got.is_ok() {
            let before = capture.alarms.lock().unwrap().len();
            let sent = rt.block_on(a.to_request(&client).send());
            if sent.is_err() {
                f.add("a valid spec's request fails in the SDK", format!("{sent:?}"));
            }
            let alarms = capture.alarms.lock().unwrap();
            if alarms.len() == before + 1 {
                let body = capture.sizes.lock().unwrap().last().copied().unwrap_or(0);
                max_body = max_body.max(body);
                check_alarm_input(&mut f, &a, &alarms[before], body);
            }
        }
    }
    eprintln!(
        "{valid} valid, {invalid} invalid, {undecided} undecided specs; largest body {max_body} bytes; {:?}",
        started.elapsed()
    );
    f.assert_none("alarm specs");
}

fn short_spec(a: &AlarmSpec) -> String {
    random::squeeze(&format!(
        "name={:?} ns={:?} metric={:?} stat={:?} period={} n={} m={} thr={} dims={} actions={}/{}",
        a.name,
        a.namespace,
        a.metric_name,
        a.statistic,
        a.period_secs,
        a.evaluation_periods,
        a.datapoints_to_alarm,
        a.threshold,
        a.dimensions.len(),
        a.alarm_actions.len(),
        a.ok_actions.len()
    ))
}

/// The largest specs the rules allow fit in the 120 KB payload (C-10).
#[test]
fn maximal_alarm_specs_fit_the_payload_limit() {
    let rt = runtime();
    let mut f = Findings::default();
    let http = FakeHttp::ok();
    let capture = Capture::default();
    let client = rt.block_on(capturing_client(&http, &capture));
    let mut a = standard_alarms(&AlarmConfig::new("prod"))[0].clone();
    a.name = "é".repeat(255);
    a.description = "日".repeat(1024);
    a.metric_name = "m".repeat(255);
    a.namespace = "N".repeat(255);
    a.dimensions = (0..30).map(|j| (format!("{j:02}{}", "k".repeat(248)), "%".repeat(1024))).collect();
    a.alarm_actions = (0..5).map(|i| format!("{i}{}", "a".repeat(1023))).collect();
    a.ok_actions = a.alarm_actions.clone();
    a.statistic = AlarmStatistic::Extended("TM(10.5%:89.5%)".into());
    if let Err(e) = a.validate() {
        f.add("C-7..C-10: a maximal valid spec refused", e.to_string());
    } else {
        rt.block_on(a.to_request(&client).send()).unwrap();
        let body = capture.sizes.lock().unwrap()[0];
        eprintln!("maximal PutMetricAlarm body: {body} bytes");
        check_alarm_input(&mut f, &a, &capture.alarms.lock().unwrap()[0], body);
    }
    f.assert_none("maximal alarm specs");
}

/// `apply_alarms` sends nothing when one spec is invalid or a name repeats, and applies
/// the rest in order otherwise.
#[test]
fn apply_alarms_validates_everything_first() {
    let rt = runtime();
    let mut f = Findings::default();
    let config = AlarmConfig::new("prod").function(FunctionAlarms::new("fn", Duration::from_secs(3)));
    let good = standard_alarms(&config);
    let mut bad_period = good.clone();
    bad_period[4].period_secs = 61;
    let mut nan = good.clone();
    nan[5].threshold = f64::NAN;
    let mut twice = good.clone();
    twice.push(good[0].clone());
    for (what, specs, ok) in
        [("good", &good, true), ("period 61", &bad_period, false), ("NaN", &nan, false), ("name twice", &twice, false)]
    {
        let http = FakeHttp::ok();
        let capture = Capture::default();
        let result = rt.block_on(async { apply_alarms(&capturing_client(&http, &capture).await, specs).await });
        let calls = capture.alarms.lock().unwrap().len();
        match (result, ok) {
            (Ok(n), true) if n == specs.len() && calls == n => {}
            (Err(_), false) if calls == 0 => {}
            (r, _) => {
                f.add("docs: apply_alarms validates all before the first call", format!("{what}: {r:?}, {calls} calls"))
            }
        }
    }
    f.assert_none("apply_alarms");
}

/// Standard alarms from random configurations: every spec validates or is refused with a
/// typed error, names are unique, and an alarm on our namespace selects the very
/// `Environment` value the metrics of that configuration carry (docs/metrics.md: "A test
/// proves that every custom alarm's metric name, namespace and exact dimension set (with
/// values) appear in what the reference handlers emit"; README: `AlarmConfig::from_config`
/// takes the environment and namespace the metrics use).
// docs/metrics.md: an alarm selects the exact dimension set (with values) the metrics
// carry; an environment the metrics replace with `unknown` (a credential-shaped value) is
// `unknown` in the alarms too.
#[test]
fn standard_alarms_from_random_configurations_select_what_the_metrics_carry() {
    let mut f = Findings::default();
    let envs = [
        "prod".to_owned(),
        " dev ".to_owned(),
        "a b".to_owned(),
        "x".repeat(1024),
        "prödúction".to_owned(),
        "token=abc123".to_owned(),
        "password=hunter2".to_owned(),
        "Bearer abcdef123456".to_owned(),
        String::new(),
        "\t".to_owned(),
        "staging".to_owned(),
        "e:1/#".to_owned(),
    ];
    for (case, env) in envs.iter().enumerate() {
        let mut g = G::new(0x57A4_0000 + case as u64);
        let config = Config::builder()
            .environment(env.clone())
            .namespace(g.pick_cloned(&["Streamer", "Chat/Prod", "AWS/Lambda", ""]))
            .build_from(&EnvVars::empty());
        let metrics = MetricSet::from_config(&config);
        let metric_env = metrics
            .default_dimensions()
            .iter()
            .find(|(k, _)| k.as_str() == "Environment")
            .map(|(_, v)| v.as_str().to_owned());
        let mut c = AlarmConfig::from_config(&config);
        c.message_alarms = g.pct(50);
        c.processing_latency_ms = g.pick_cloned(&[1000.0, f64::NAN, -1.0, 1e300]);
        for i in 0..g.0.usize(0..3) {
            let name = g.pick_cloned(&[format!("connect{i}"), format!("f{i}{}", "f".repeat(200)), format!("fn-{i}")]);
            c = c.function(FunctionAlarms::new(
                name,
                Duration::from_millis(g.pick_cloned(&[0, 3000, 900_000, u64::MAX])),
            ));
        }
        let alarms = standard_alarms(&c);
        let names: BTreeSet<&String> = alarms.iter().map(|a| &a.name).collect();
        if names.len() != alarms.len() {
            f.add("C-7 names unique", format!("env {env:?}"));
        }
        for a in &alarms {
            let (verdict, rule) = alarm_verdict(a);
            match (verdict, a.validate()) {
                (Some(true), Err(e)) => f.add("C-7..C-10: a valid standard alarm refused", e.to_string()),
                (Some(false), Ok(())) => f.add(&format!("{rule}: an invalid standard alarm accepted"), short_spec(a)),
                _ => {}
            }
            if a.validate().is_ok() && a.namespace == metrics.namespace().as_str() {
                let selected = a.dimensions.iter().find(|(k, _)| k == "Environment").map(|(_, v)| v.clone());
                if selected != metric_env {
                    f.add(
                        "docs/metrics.md: an alarm selects an Environment no metric carries",
                        format!("env {env:?}: alarm {:?} selects {selected:?}, metrics carry {metric_env:?}", a.name),
                    );
                }
            }
        }
    }
    f.assert_none("standard alarms");
}
