//! The `$connect` and `$disconnect` handlers per invocation, in process: the
//! `#[instrumented]` handlers of `streamer-handlers` (JSON log lines, EMF documents and X-Ray
//! subsegments sent over UDP to a loopback socket, all on) against a bare copy of the same
//! logic without the attribute, the logs or the metrics. With the in-memory store, and
//! against DynamoDB Local when `STREAMER_TEST_DYNAMODB_ENDPOINT` is set.
//!
//! Each measured iteration is one invocation; what keeps the store bounded (deleting the
//! record a `$connect` saved, inserting the record a `$disconnect` deletes) runs outside
//! the measured time.

use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use criterion::{Criterion, criterion_group, criterion_main};
use lambda_runtime::LambdaEvent;
use streamer_handlers::auth::Authenticator;
use streamer_handlers::connect::ConnectHandler;
use streamer_handlers::disconnect::DisconnectHandler;
use streamer_handlers::response;
use streamer_handlers::settings::{AllowedTenants, JwtSettings};
use streamer_handlers::store::{ConnectionRecord, ConnectionStore, DynamoDbConnectionStore, InMemoryConnectionStore};
use streamer_handlers::testing::{DEV_RSA_PUBLIC_KEY_PEM, TokenMinter};
use streamer_obs::clock::{Clock, SystemClock};
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::metrics::EmfPublisher;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::ContextBuilder;
use streamer_obs::xray::emitter::UdpEmitter;

const HOUR: Duration = Duration::from_secs(3600);

/// RS256 with the development key (TEST ONLY), tenants `acme` and `globex`.
fn authenticator() -> Authenticator {
    let jwt =
        JwtSettings::from_env(&EnvVars::from_pairs([("JWT_PUBLIC_KEY", DEV_RSA_PUBLIC_KEY_PEM)])).expect("settings");
    Authenticator::new(&jwt, AllowedTenants::parse("acme,globex"))
}

fn connect_event(connection_id: &str, token: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut r = ApiGatewayWebsocketProxyRequest::default();
    r.request_context.route_key = Some("$connect".into());
    r.request_context.connection_id = Some(connection_id.into());
    r.request_context.domain_name = Some("abcd1234.execute-api.us-east-1.amazonaws.com".into());
    r.request_context.stage = Some("prod".into());
    r.request_context.identity.source_ip = Some("192.0.2.1".into());
    let params: std::collections::HashMap<String, String> =
        [("Authorization".into(), token.into())].into_iter().collect();
    r.query_string_parameters = params.into();
    r
}

fn disconnect_event(connection_id: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut r = ApiGatewayWebsocketProxyRequest::default();
    r.request_context.route_key = Some("$disconnect".into());
    r.request_context.connection_id = Some(connection_id.into());
    r.request_context.disconnect_status_code = Some(1000);
    r.request_context.disconnect_reason = Some("Normal closure".into());
    r
}

fn context(n: u64) -> lambda_runtime::Context {
    ContextBuilder::new()
        .request_id(format!("req-{n}"))
        .trace_header("Root=1-6b08bea7-6805f8ecf28d76663bc8ff75;Parent=53995c3f42cd8ad8;Sampled=1")
        .build()
}

/// The bare `$connect`: the same extraction, verification, record and conditional save,
/// without the attribute, logs, metrics or subsegments.
async fn bare_connect(
    auth: &Authenticator,
    store: &dyn ConnectionStore,
    event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
) -> ApiGatewayProxyResponse {
    let request = &event.payload;
    let headers = request.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()));
    let claims = match auth.authenticate(response::query_authorization(request), headers) {
        Ok(c) => c,
        Err(f) => return response::refused(&f),
    };
    let ctx = &request.request_context;
    let record = ConnectionRecord::new(
        ctx.connection_id.as_deref().unwrap_or_default(),
        claims.user_id,
        claims.tenant_id,
        ConnectionRecord::endpoint_for(
            ctx.domain_name.as_deref().unwrap_or_default(),
            ctx.stage.as_deref().unwrap_or_default(),
        ),
        SystemClock.now_millis(),
        HOUR,
    )
    .with_permissions(claims.permissions);
    match store.save(&record).await {
        Ok(()) => response::connected(),
        Err(_) => response::internal_error(),
    }
}

/// The bare `$disconnect`: load, delete, duration.
async fn bare_disconnect(
    store: &dyn ConnectionStore,
    event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
) -> ApiGatewayProxyResponse {
    let id = event.payload.request_context.connection_id.as_deref().unwrap_or_default();
    let record = store.get(id).await.ok().flatten();
    let _ = store.delete(id).await;
    black_box(record.map(|r| SystemClock.now_millis().saturating_sub(r.connected_at)));
    response::disconnected()
}

/// Telemetry writing logs and EMF to a sink and subsegments over UDP to a loopback socket.
struct Harness {
    rt: tokio::runtime::Runtime,
    telemetry: Telemetry,
    _daemon: UdpSocket,
    _log: tracing::subscriber::DefaultGuard,
}

fn harness() -> Harness {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let config = Config::builder().environment("bench").service("streamer").build_from(&EnvVars::empty());
    let log = tracing::subscriber::set_default(streamer_obs::log::subscriber(&config, std::io::sink, SystemClock));
    let telemetry = Telemetry::builder(config)
        .emitter(Arc::new(UdpEmitter::new(daemon.local_addr().expect("addr")).expect("emitter")))
        .metrics_publisher(Arc::new(EmfPublisher::new(std::io::sink())))
        .build();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    Harness { rt, telemetry, _daemon: daemon, _log: log }
}

/// `$connect` and `$disconnect`, instrumented and bare, on `store`.
fn bench_store(c: &mut Criterion, group_name: &str, store: Arc<dyn ConnectionStore>, samples: usize) {
    let h = harness();
    let token = TokenMinter::dev_rsa().expect("minter").mint("user-1", "acme", HOUR).expect("token");
    let auth = authenticator();
    let connect = ConnectHandler::new(auth.clone(), Arc::clone(&store), HOUR);
    let disconnect = DisconnectHandler::new(Arc::clone(&store));
    let record =
        |id: &str| ConnectionRecord::new(id, "user-1", "acme", "d/prod", SystemClock.now_millis() - 1_500, HOUR);

    let mut group = c.benchmark_group(group_name);
    group.sample_size(samples);
    group.bench_function("connect/instrumented", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for n in 0..iters {
                let id = format!("bench-{n}=");
                let event = LambdaEvent::new(connect_event(&id, &token), context(n));
                let start = Instant::now();
                let out = h.rt.block_on(h.telemetry.scope(connect.handle(event)));
                total += start.elapsed();
                assert_eq!(out.map(|r| r.status_code).unwrap_or(0), 200);
                let _ = h.rt.block_on(store.delete(&id));
            }
            total
        })
    });
    group.bench_function("connect/bare", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for n in 0..iters {
                let id = format!("bench-{n}=");
                let event = LambdaEvent::new(connect_event(&id, &token), context(n));
                let start = Instant::now();
                let out = h.rt.block_on(bare_connect(&auth, store.as_ref(), event));
                total += start.elapsed();
                assert_eq!(out.status_code, 200);
                let _ = h.rt.block_on(store.delete(&id));
            }
            total
        })
    });
    group.bench_function("disconnect/instrumented", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for n in 0..iters {
                let id = format!("bench-{n}=");
                let _ = h.rt.block_on(store.save(&record(&id)));
                let event = LambdaEvent::new(disconnect_event(&id), context(n));
                let start = Instant::now();
                let out = h.rt.block_on(h.telemetry.scope(disconnect.handle(event)));
                total += start.elapsed();
                assert_eq!(out.map(|r| r.status_code).unwrap_or(0), 200);
            }
            total
        })
    });
    group.bench_function("disconnect/bare", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for n in 0..iters {
                let id = format!("bench-{n}=");
                let _ = h.rt.block_on(store.save(&record(&id)));
                let event = LambdaEvent::new(disconnect_event(&id), context(n));
                let start = Instant::now();
                let out = h.rt.block_on(bare_disconnect(store.as_ref(), event));
                total += start.elapsed();
                assert_eq!(out.status_code, 200);
            }
            total
        })
    });
    group.finish();
}

fn in_memory(c: &mut Criterion) {
    bench_store(c, "handlers/in_memory", Arc::new(InMemoryConnectionStore::new()), 100);
}

fn dynamodb_local(c: &mut Criterion) {
    let Some(endpoint) = std::env::var("STREAMER_TEST_DYNAMODB_ENDPOINT").ok().filter(|e| !e.is_empty()) else {
        eprintln!("handlers/dynamodb_local skipped: STREAMER_TEST_DYNAMODB_ENDPOINT is not set");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let store = rt.block_on(async {
        let config = streamer_obs::aws::emulator_config(&endpoint, "us-east-1").await;
        let table = format!("bench-connections-{}", std::process::id());
        let store = DynamoDbConnectionStore::traced(&config, table);
        store.create_table().await.expect("table");
        // DynamoDB Local (a JVM) is slow on its first requests: warm it up untimed.
        let warm = ConnectionRecord::new("warm-up=", "u", "acme", "d/prod", SystemClock.now_millis(), HOUR);
        for _ in 0..300 {
            let _ = store.save(&warm).await;
            let _ = store.get("warm-up=").await;
            let _ = store.delete("warm-up=").await;
        }
        store
    });
    bench_store(c, "handlers/dynamodb_local", Arc::new(store), 20);
}

criterion_group!(benches, in_memory, dynamodb_local);
criterion_main!(benches);
