//! Local WebSocket session: plays N clients through the real `$connect` and `$disconnect`
//! handlers of `streamer-handlers`, with the in-memory connection store and the
//! development key pair committed under `examples/keys/` (**TEST ONLY**: never deploy
//! these keys).
//!
//! ```text
//! cargo run -p local-session -- --clients 10
//! ```
//!
//! - stdout: the functions' stdout stream, exactly as Lambda would capture it (JSON log
//!   lines and EMF documents, in order);
//! - X-Ray: subsegments go to `AWS_XRAY_DAEMON_ADDRESS` when set, otherwise to a built-in
//!   loopback UDP listener;
//! - stderr, at the end: accepted/rejected connections by reason, the metrics aggregated
//!   as CloudWatch would, and the trace trees of one accepted and one rejected connection.
//!
//! The SDK's configuration variables apply (`POWERTOOLS_LOG_LEVEL`,
//! `POWERTOOLS_LOGGER_SAMPLE_RATE`, `POWERTOOLS_TRACE_DISABLED`,
//! `POWERTOOLS_METRICS_DISABLED`, `POWERTOOLS_SERVICE_NAME`, `ENVIRONMENT`, ...), and
//! `ALLOWED_TENANTS` (default `acme,globex`).

mod summary;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use streamer_handlers::connect::ConnectHandler;
use streamer_handlers::disconnect::DisconnectHandler;
use streamer_handlers::response::body_text;
use streamer_handlers::settings::Settings;
use streamer_handlers::store::InMemoryConnectionStore;
use streamer_handlers::testing::{DEV_RSA_PUBLIC_KEY_PEM, TokenMinter};
use streamer_obs::clock::SystemClock;
use streamer_obs::config::{Config, EnvVars};
use streamer_obs::metrics::EmfPublisher;
use streamer_obs::telemetry::Telemetry;
use streamer_obs::testing::ContextBuilder;

/// What one client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Client {
    /// A valid token of an allowed tenant: connects, later disconnects.
    Valid,
    /// No token at all.
    MissingToken,
    /// A token whose `exp` has passed.
    Expired,
    /// A token signed by a key the function does not trust.
    BadSignature,
    /// A valid token of a tenant outside `ALLOWED_TENANTS`.
    TenantNotAllowed,
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::Valid => "valid token",
            Client::MissingToken => "missing token",
            Client::Expired => "expired token",
            Client::BadSignature => "bad signature",
            Client::TenantNotAllowed => "tenant not allowed",
        }
    }
}

/// The clients of a session of `n`: every failure path appears once in each group of ten
/// (from five clients on), the rest are valid.
fn plan(n: usize) -> Vec<Client> {
    const CYCLE: [Client; 10] = [
        Client::Valid,
        Client::MissingToken,
        Client::Valid,
        Client::Expired,
        Client::Valid,
        Client::BadSignature,
        Client::Valid,
        Client::TenantNotAllowed,
        Client::Valid,
        Client::Valid,
    ];
    (0..n).map(|i| CYCLE[i % CYCLE.len()]).collect()
}

/// Command-line options.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    clients: usize,
    trace_sample_rate: f64,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut o = Options { clients: 10, trace_sample_rate: 1.0 };
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--clients" | "-n" => {
                let v = args.next().ok_or("--clients needs a number")?;
                o.clients = v.parse().map_err(|_| format!("--clients: not a number: {v}"))?;
                if o.clients == 0 || o.clients > 10_000 {
                    return Err("--clients must be between 1 and 10000".into());
                }
            }
            "--trace-sample-rate" => {
                let v = args.next().ok_or("--trace-sample-rate needs a number")?;
                o.trace_sample_rate = v.parse().map_err(|_| format!("--trace-sample-rate: not a number: {v}"))?;
                if !(0.0..=1.0).contains(&o.trace_sample_rate) {
                    return Err("--trace-sample-rate must be between 0 and 1".into());
                }
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(o)
}

const USAGE: &str = "usage: local-session [--clients N] [--trace-sample-rate R]\n\
  --clients N             WebSocket clients to play (default 10)\n\
  --trace-sample-rate R   share of invocations Lambda would sample for X-Ray (default 1)\n";

/// Writes to stdout and keeps a copy (to aggregate the EMF documents at the end).
#[derive(Debug, Clone, Default)]
struct Tee {
    copy: Arc<Mutex<Vec<u8>>>,
}

impl Write for Tee {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        io::stdout().lock().write_all(data)?;
        self.copy.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Tee {
    type Writer = Tee;

    fn make_writer(&'a self) -> Tee {
        self.clone()
    }
}

impl Tee {
    fn json_lines(&self) -> Vec<Value> {
        let copy = self.copy.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&copy).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// The loopback X-Ray daemon: keeps every document received.
struct Listener {
    address: SocketAddr,
    documents: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn listen() -> io::Result<Listener> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let address = socket.local_addr()?;
    let documents = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&documents);
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = socket.recv(&mut buf).await {
            let text = String::from_utf8_lossy(&buf[..n]);
            // `{"format":"json","version":1}\n{document}`
            if let Some((_, doc)) = text.split_once('\n')
                && let Ok(v) = serde_json::from_str::<Value>(doc)
            {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(v);
            }
        }
    });
    Ok(Listener { address, documents, task })
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// A fresh trace header as Lambda passes it (Root, the function segment as Parent).
fn trace_header(sampled: bool) -> String {
    let secs = now_ms() / 1000;
    let root: String = (0..24).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect();
    let parent: String = (0..16).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect();
    format!("Root=1-{secs:08x}-{root};Parent={parent};Sampled={}", u8::from(sampled))
}

fn trace_root(header: &str) -> String {
    header.split(';').find_map(|p| p.strip_prefix("Root=")).unwrap_or_default().to_owned()
}

/// An API Gateway-style connection id (`TWegAcC4EowCHnA=`).
fn connection_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let body: String = (0..14).map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())])).collect();
    format!("{body}A=")
}

const DOMAIN: &str = "abcd1234.execute-api.us-east-1.amazonaws.com";

fn request(route: &str, connection_id: &str, client: usize) -> ApiGatewayWebsocketProxyRequest {
    let mut r = ApiGatewayWebsocketProxyRequest::default();
    let ctx = &mut r.request_context;
    ctx.route_key = Some(route.to_owned());
    ctx.connection_id = Some(connection_id.to_owned());
    ctx.domain_name = Some(DOMAIN.to_owned());
    ctx.stage = Some("dev".to_owned());
    ctx.apiid = Some("abcd1234".to_owned());
    ctx.identity.source_ip = Some(format!("192.0.2.{}", client % 250 + 1));
    ctx.identity.user_agent = Some("local-session/1.0".to_owned());
    if let Ok(v) = "local-session/1.0".parse() {
        r.headers.insert("user-agent", v);
    }
    r
}

fn with_query_token(mut r: ApiGatewayWebsocketProxyRequest, token: &str) -> ApiGatewayWebsocketProxyRequest {
    let params: std::collections::HashMap<String, String> =
        [("Authorization".to_owned(), token.to_owned())].into_iter().collect();
    r.query_string_parameters = params.into();
    r
}

/// One invocation's outcome.
#[derive(Debug, Clone)]
struct Outcome {
    client: Client,
    status: i64,
    code: String,
    trace_id: String,
}

struct Session {
    connect: ConnectHandler,
    disconnect: DisconnectHandler,
    minter: TokenMinter,
    options: Options,
}

impl Session {
    fn context(&self, function: &str, n: usize) -> (lambda_runtime::Context, String) {
        let sampled = fastrand::f64() < self.options.trace_sample_rate;
        let header = trace_header(sampled);
        let ctx = ContextBuilder::new()
            .request_id(format!("{function}-{n:04}-{:08x}", fastrand::u32(..)))
            .trace_header(header.clone())
            .function_name(format!("streamer-{function}"))
            .invoked_function_arn(format!("arn:aws:lambda:us-east-1:000000000000:function:streamer-{function}"))
            .deadline_ms(now_ms() + 3_000)
            .build();
        (ctx, trace_root(&header))
    }

    fn token(&self, client: Client, user: &str) -> Option<String> {
        let life = Duration::from_secs(900);
        let token = match client {
            Client::Valid => {
                let tenant = if fastrand::bool() { "acme" } else { "globex" };
                self.minter.mint(user, tenant, life)
            }
            Client::MissingToken => return None,
            Client::Expired => self.minter.expired(user, "acme"),
            Client::BadSignature => self.minter.bad_signature(user, "acme"),
            Client::TenantNotAllowed => self.minter.mint(user, "initech", life),
        };
        token.ok()
    }

    async fn connect(&self, n: usize, client: Client, connection_id: &str) -> Outcome {
        let mut r = request("$connect", connection_id, n);
        if let Some(t) = self.token(client, &format!("user-{n}")) {
            r = with_query_token(r, &t);
        }
        let (ctx, trace_id) = self.context("connect", n);
        let (status, code) = match self.connect.handle(LambdaEvent::new(r, ctx)).await {
            Ok(resp) => {
                let body: Value = serde_json::from_str(body_text(&resp)).unwrap_or_default();
                (resp.status_code, body["code"].as_str().unwrap_or("OK").to_owned())
            }
            Err(e) => (500, e.to_string()),
        };
        Outcome { client, status, code, trace_id }
    }

    async fn disconnect(&self, n: usize, connection_id: &str, status: i64, reason: &str) {
        let mut r = request("$disconnect", connection_id, n);
        r.request_context.disconnect_status_code = Some(status);
        r.request_context.disconnect_reason = Some(reason.to_owned());
        let (ctx, _) = self.context("disconnect", n);
        let _ = self.disconnect.handle(LambdaEvent::new(r, ctx)).await;
    }
}

fn settings() -> Result<Settings, streamer_handlers::settings::SettingsError> {
    let process = EnvVars::from_process();
    let tenants = process.get("ALLOWED_TENANTS").unwrap_or("acme,globex").to_owned();
    // The development key pair (TEST ONLY): the minter signs with its private half.
    Settings::from_env(&EnvVars::from_pairs([
        ("JWT_PUBLIC_KEY", DEV_RSA_PUBLIC_KEY_PEM.to_owned()),
        ("ALLOWED_TENANTS", tenants),
        ("CONNECTIONS_TABLE", "local-session-connections".to_owned()),
    ]))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            eprint!("{USAGE}");
            return Ok(());
        }
        Err(e) => {
            eprint!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };

    // X-Ray: the configured daemon, else our own loopback listener.
    let env = EnvVars::from_process();
    let listener = if env.get("AWS_XRAY_DAEMON_ADDRESS").is_none() { Some(listen().await?) } else { None };
    let mut builder = Config::builder();
    if let Some(l) = &listener {
        builder = builder.xray_daemon_address(l.address.to_string());
    }
    if env.get("ENVIRONMENT").is_none() {
        builder = builder.environment("local");
    }
    if env.get("POWERTOOLS_SERVICE_NAME").is_none() {
        builder = builder.service("streamer");
    }
    let config = builder.build_from(&env);

    // The functions' stdout: log lines and EMF documents, kept to aggregate at the end.
    let stdout = Tee::default();
    streamer_obs::log::init_with_config(&config, stdout.clone(), SystemClock)?;
    let emitter = streamer_obs::xray::emitter::emitter_for(&config);
    let trace_disabled = config.trace_disabled();
    let daemon = config.xray_daemon_address().unwrap_or("127.0.0.1:2000").to_owned();
    let telemetry = Telemetry::builder(config)
        .emitter(emitter)
        .metrics_publisher(Arc::new(EmfPublisher::new(stdout.clone())))
        .build();
    let _ = telemetry.clone().install_global();

    let store = Arc::new(InMemoryConnectionStore::new());
    let session = Session {
        connect: ConnectHandler::from_settings(settings(), store.clone()),
        disconnect: DisconnectHandler::new(store.clone()),
        minter: TokenMinter::dev_rsa()?,
        options: options.clone(),
    };

    // Connect every client, hold the accepted connections a moment, disconnect them.
    let mut outcomes = Vec::new();
    let mut open = Vec::new();
    for (n, client) in plan(options.clients).into_iter().enumerate() {
        let id = connection_id();
        let outcome = session.connect(n, client, &id).await;
        if outcome.status == 200 {
            open.push((n, id));
        }
        outcomes.push(outcome);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(5..40))).await;
    }
    for (i, (n, id)) in open.iter().enumerate() {
        let (code, reason) = if i % 3 == 2 { (1006, "Going away") } else { (1000, "Normal closure") };
        session.disconnect(*n, id, code, reason).await;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(5..40))).await;
    }
    // A late, repeated $disconnect (API Gateway retries): the record is gone.
    if let Some((n, id)) = open.first() {
        session.disconnect(*n, id, 1001, "Going away").await;
    }

    // Let the last datagrams arrive.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let documents = match &listener {
        Some(l) => {
            l.task.abort();
            l.documents.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }
        None => Vec::new(),
    };
    let _ = io::stdout().flush();
    eprint!(
        "{}",
        render_summary(&outcomes, &stdout.json_lines(), &documents, listener.is_some(), trace_disabled, &daemon)
    );
    Ok(())
}

fn render_summary(
    outcomes: &[Outcome],
    stdout: &[Value],
    documents: &[Value],
    listening: bool,
    trace_disabled: bool,
    daemon: &str,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let accepted = outcomes.iter().filter(|o| o.status == 200).count();
    let _ = writeln!(s, "\n=== local session: {} clients ===", outcomes.len());
    let _ = writeln!(s, "accepted: {accepted}");
    let _ = writeln!(s, "rejected: {}", outcomes.len() - accepted);
    let mut by_reason: BTreeMap<(Client, i64, String), usize> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.status != 200) {
        *by_reason.entry((o.client, o.status, o.code.clone())).or_default() += 1;
    }
    for ((client, status, code), n) in &by_reason {
        let _ = writeln!(s, "  {:<20} {n:>4}  ({status} {code})", client.label());
    }
    // The precise reasons, as the WARN lines logged them.
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for l in stdout.iter().filter(|l| l["message"] == "Connection refused") {
        *reasons
            .entry(format!("{}/{}", l["error_type"].as_str().unwrap_or("?"), l["reason"].as_str().unwrap_or("?")))
            .or_default() += 1;
    }
    if !reasons.is_empty() {
        let text = reasons.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(s, "  logged reasons: {text}");
    }

    let emf: Vec<&Value> = stdout.iter().filter(|l| l.get("_aws").is_some()).collect();
    let _ = writeln!(s, "\n--- metrics ({} EMF documents, aggregated as CloudWatch would) ---", emf.len());
    let agg = summary::aggregate_emf(emf.iter().copied());
    if agg.is_empty() {
        let _ = writeln!(s, "  (no metrics: POWERTOOLS_METRICS_DISABLED?)");
    } else {
        s.push_str(&summary::render_metrics(&agg));
    }

    let _ = writeln!(s, "\n--- traces ---");
    if trace_disabled {
        let _ = writeln!(s, "  tracing disabled (POWERTOOLS_TRACE_DISABLED)");
    } else if !listening {
        let _ = writeln!(s, "  subsegments sent to the X-Ray daemon at {daemon}");
    } else {
        let _ = writeln!(s, "  {} subsegment documents received on {daemon}", documents.len());
        let traced = |o: &&Outcome| documents.iter().any(|d| d["trace_id"] == o.trace_id.as_str());
        match outcomes.iter().filter(|o| o.status == 200).find(traced) {
            Some(o) => {
                let _ = writeln!(s, "accepted connection ({}):", o.client.label());
                s.push_str(&summary::render_trace(documents, &o.trace_id));
            }
            None => {
                let _ = writeln!(s, "  no sampled accepted connection");
            }
        }
        let rejected = outcomes.iter().filter(|o| o.status != 200);
        let preferred = rejected.clone().filter(|o| o.client == Client::Expired).find(traced);
        match preferred.or_else(|| rejected.clone().find(traced)) {
            Some(o) => {
                let _ = writeln!(s, "rejected connection ({}, {}):", o.client.label(), o.status);
                s.push_str(&summary::render_trace(documents, &o.trace_id));
            }
            None => {
                let _ = writeln!(s, "  no sampled rejected connection");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_clients_cover_every_failure_path() {
        let p = plan(10);
        for c in [Client::MissingToken, Client::Expired, Client::BadSignature, Client::TenantNotAllowed] {
            assert_eq!(p.iter().filter(|x| **x == c).count(), 1, "{c:?}");
        }
        assert_eq!(p.iter().filter(|x| **x == Client::Valid).count(), 6);
        assert_eq!(plan(25).len(), 25);
    }

    #[test]
    fn parses_the_options() {
        let args = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        assert_eq!(args(&[]).unwrap(), Options { clients: 10, trace_sample_rate: 1.0 });
        assert_eq!(args(&["--clients", "3"]).unwrap().clients, 3);
        assert!(args(&["--clients", "x"]).is_err());
        assert!(args(&["--clients", "0"]).is_err());
        assert!(args(&["--trace-sample-rate", "2"]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }

    #[test]
    fn trace_headers_look_like_lambdas() {
        let h = trace_header(true);
        assert!(h.starts_with("Root=1-") && h.ends_with(";Sampled=1"), "{h}");
        let root = trace_root(&h);
        assert_eq!(root.len(), 35, "{root}");
        assert_eq!(connection_id().len(), 16);
    }

    #[test]
    fn summary_counts_rejections_by_reason() {
        let o = |client, status: i64, code: &str| Outcome { client, status, code: code.into(), trace_id: "1-x".into() };
        let outcomes = [o(Client::Valid, 200, "OK"), o(Client::Expired, 401, "UNAUTHORIZED")];
        let lines =
            [serde_json::json!({"message": "Connection refused", "error_type": "invalid_jwt", "reason": "expired"})];
        let s = render_summary(&outcomes, &lines, &[], true, false, "127.0.0.1:1");
        assert!(s.contains("accepted: 1") && s.contains("rejected: 1"), "{s}");
        assert!(s.contains("expired token") && s.contains("401 UNAUTHORIZED"), "{s}");
        assert!(s.contains("invalid_jwt/expired: 1"), "{s}");
    }
}
