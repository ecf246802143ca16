//! Whole-line tests of the log layer: what the captured JSON lines hold.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use tracing::Dispatch;
use tracing::dispatcher::with_default;

use crate::config::{Config, EnvVars};
use crate::invocation::{self, ColdStartTracker, Invocation};
use crate::testing::{CapturingWriter, ContextBuilder, FixedClock};

/// The keys of one JSON object, in order, duplicates included.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = m.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

/// Every captured line: one valid JSON object on one line, no key twice, within
/// [`super::MAX_LINE_BYTES`]; parsed.
fn checked_lines(w: &CapturingWriter) -> Vec<serde_json::Value> {
    let contents = w.contents();
    assert!(contents.is_empty() || contents.ends_with('\n'), "{contents}");
    contents
        .lines()
        .map(|line| {
            assert!(line.len() < super::MAX_LINE_BYTES, "line of {} bytes", line.len());
            let Keys(keys) = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), keys.len(), "a key written twice: {keys:?}");
            assert!(keys.iter().all(|k| !k.starts_with('@')), "{keys:?}");
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

fn config(pairs: &[(&str, &str)]) -> Config {
    // The once-per-process "X-Ray context missing" line (invocations without a trace
    // header) would land in whichever test of the binary runs first: off unless asked for.
    let quiet = ("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR");
    let asked = pairs.iter().any(|(k, _)| *k == quiet.0);
    Config::builder().build_from(&EnvVars::from_pairs(pairs.iter().copied().chain((!asked).then_some(quiet))))
}

fn invocation(config: &Config, ctx: ContextBuilder) -> Arc<Invocation> {
    Arc::new(Invocation::from_context(&ctx.build(), config, &ColdStartTracker::new(&Default::default())))
}

/// The checked lines `f` writes inside an invocation (built from `ctx`).
fn lines_in(config: &Config, ctx: ContextBuilder, f: impl FnOnce()) -> Vec<serde_json::Value> {
    let writer = CapturingWriter::new();
    let dispatch = Dispatch::new(super::subscriber(config, writer.clone(), FixedClock::at_millis(0)));
    let inv = invocation(config, ctx);
    with_default(&dispatch, || inv.sync_scope(f));
    checked_lines(&writer)
}

fn lines(f: impl FnOnce()) -> Vec<serde_json::Value> {
    lines_in(&config(&[]), ContextBuilder::new().request_id("r"), f)
}

fn line(f: impl FnOnce()) -> serde_json::Value {
    let mut all = lines(f);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[derive(Debug)]
struct Chain(u32, u32);
impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "level {}", self.0)
    }
}
impl Error for Chain {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        // Each link is leaked: a test-only chain of `'static` sources.
        (self.0 < self.1).then(|| &*Box::leak(Box::new(Chain(self.0 + 1, self.1))) as &(dyn Error + 'static))
    }
}

#[derive(Debug)]
struct AuthError;
impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream rejected header Authorization: Basic dXNlcjpwYXNzd29yZA==")
    }
}
impl Error for AuthError {}

struct FailingFmt;
impl fmt::Debug for FailingFmt {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}
impl fmt::Display for FailingFmt {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}
#[derive(Debug)]
struct FailingError;
impl fmt::Display for FailingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("partial")?;
        Err(fmt::Error)
    }
}
impl Error for FailingError {}

struct Panicky;
impl fmt::Debug for Panicky {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Debug panicked")
    }
}
struct PanickyDisplay;
impl fmt::Debug for PanickyDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PanickyDisplay")
    }
}
impl fmt::Display for PanickyDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display panicked")
    }
}
impl Error for PanickyDisplay {}

/// Runs `f` with the panic message of the deliberate panics kept off the test output.
fn quietly<R>(f: impl FnOnce() -> R) -> R {
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = HOOK.lock().unwrap_or_else(|p| p.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    r.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

// Item 1, 10, 12: correlation fields are redacted, non-finite floats and depth kept.

#[test]
fn correlation_fields_are_redacted_at_any_depth_when_attached() {
    let l = line(|| {
        assert!(invocation::append_field(
            "request",
            serde_json::json!({
                "headers": {"Authorization": "Basic dXNlcjpwYXNzd29yZA==", "Cookie": "sid=abc", "Host": "h"},
                "token": "opaque-123",
                "note": "sent Bearer opaque-token-123 and eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2ln",
                "url": "https://x/y?access_token=opaque-qs&x=1",
            })
        ));
        assert!(invocation::append_field("api_key", "k-1"));
        tracing::info!("m");
    });
    assert_eq!(
        l["request"],
        serde_json::json!({
            "headers": {"Authorization": "[REDACTED]", "Cookie": "[REDACTED]", "Host": "h"},
            "token": "[REDACTED]",
            "note": "sent Bearer [REDACTED] and [REDACTED]",
            "url": "https://x/y?access_token=[REDACTED]&x=1",
        })
    );
    assert_eq!(l["api_key"], "[REDACTED]");
}

#[test]
fn correlation_non_finite_floats_are_strings_and_deep_values_are_marked() {
    let l = line(|| {
        invocation::append_field("ratio", f64::NAN);
        invocation::append_field("up", f64::INFINITY);
        invocation::append_field("down", vec![f64::NEG_INFINITY]);
        let mut deep = serde_json::json!("bottom");
        for _ in 0..200 {
            deep = serde_json::json!([deep]);
        }
        invocation::append_field("deep", deep);
        tracing::info!("m");
    });
    assert_eq!((&l["ratio"], &l["up"], &l["down"][0]), (&"NaN".into(), &"Infinity".into(), &"-Infinity".into()));
    let mut v = &l["deep"];
    let mut depth = 0;
    while let Some(inner) = v.get(0) {
        v = inner;
        depth += 1;
    }
    assert_eq!(v, "[too deep]", "a marker, not null");
    assert_eq!(depth, 64);
}

#[test]
fn a_jwt_shaped_correlation_key_is_refused() {
    let l = line(|| {
        assert!(!invocation::append_field("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig", 1));
        assert!(invocation::append_field("ok", 1));
        tracing::info!("m");
    });
    assert!(!l.to_string().contains("eyJ"), "{l}");
    assert_eq!(l["ok"], 1);
}

// Items 5, 6: no key written twice, the precedence kept on the keys as written.

#[test]
fn keys_are_deduplicated_as_written_first_wins() {
    let l = line(|| tracing::info!(level = 1, field.level = 2, "m"));
    assert_eq!(l["field.level"], 1);
    let l = line(|| tracing::info!("@x" = 1, at_x = 2, "m"));
    assert_eq!(l["at_x"], 1);
    let l = line(|| tracing::info!(a = 1, a = 2, "m"));
    assert_eq!(l["a"], 1);
    let l = line(|| tracing::info!(error = &Chain(0, 1) as &dyn Error, error.type = "mine", "m"));
    assert_eq!(l["error.type"], "Chain");
}

#[test]
fn the_event_wins_over_correlation_fields_and_spans_on_the_written_key() {
    let l = line(|| {
        invocation::append_field("error.message", "correlation");
        invocation::append_field("at_y", "correlation");
        tracing::error!(error = &Chain(0, 0) as &dyn Error, "@y" = "event", "m");
    });
    assert_eq!((&l["error.message"], &l["at_y"]), (&"level 0".into(), &"event".into()));
    let l = line(|| {
        let span = tracing::info_span!("s", "@x" = "span", at_z = "span");
        let _g = span.enter();
        invocation::append_field("at_z", "correlation");
        tracing::info!(at_x = "event", "m");
    });
    assert_eq!((&l["at_x"], &l["at_z"]), (&"event".into(), &"correlation".into()));
}

#[test]
fn the_lambda_tenant_wins_over_a_span_tenant_id() {
    let ctx = ContextBuilder::new().request_id("t").tenant_id("tenant-lambda");
    let all = lines_in(&config(&[]), ctx, || {
        let span = tracing::info_span!("s", tenant_id = "tenant-span");
        let _g = span.enter();
        tracing::info!("m");
    });
    assert_eq!(all[0]["tenant_id"], "tenant-lambda");
}

#[test]
fn error_keys_follow_the_renaming_rules() {
    let l = line(|| tracing::error!("@err" = &AuthError as &dyn Error, "m"));
    assert_eq!(l["at_err.type"], "AuthError");
    assert!(l["at_err.sources"].is_array());
}

// Items 7, 8: `Debug`/`Display` failing or panicking.

#[test]
fn a_span_field_whose_debug_or_display_fails_is_written() {
    let l = line(|| {
        let span = tracing::info_span!("s", v = ?FailingFmt, d = %FailingFmt, e = &FailingError as &dyn Error);
        let _g = span.enter();
        tracing::info!("inside");
    });
    assert_eq!((&l["v"], &l["d"], &l["e"]), (&"".into(), &"".into(), &"partial".into()));
}

#[test]
fn a_panicking_debug_or_display_is_written_as_a_placeholder() {
    let all = quietly(|| {
        lines(|| {
            tracing::info!(v = ?Panicky, "event field");
            tracing::info!("message {:?}", Panicky);
            tracing::error!(error = &PanickyDisplay as &dyn Error, "error");
            let span = tracing::info_span!("s", v = ?Panicky);
            let _g = span.enter();
            tracing::info!("span field");
        })
    });
    let placeholder = super::layer::PANICKED;
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all[0]["v"], placeholder);
    assert_eq!(all[1]["message"], placeholder);
    assert_eq!(all[2]["error.message"], placeholder);
    assert_eq!(all[2]["error.type"], "PanickyDisplay");
    assert_eq!(all[3]["v"], placeholder);
}

// Item 11: the line size cap.

#[test]
fn lines_are_capped_at_max_line_bytes_and_stay_valid() {
    let max = super::MAX_LINE_BYTES;
    let all = lines(|| {
        tracing::info!("{}", "x".repeat(300 * 1024));
        tracing::info!(blob = "y".repeat(2 * 1024 * 1024).as_str(), small = "kept", "m");
        // Escapes and multi-byte characters at every cut position.
        tracing::info!(text = "é\"\n日\u{1}".repeat(60 * 1024).as_str(), "m");
        invocation::append_field("big", vec!["z".repeat(1024); 300]);
        tracing::info!(b = "w".repeat(100 * 1024).as_str(), "m");
    });
    assert_eq!(all.len(), 4);
    let message = all[0]["message"].as_str().unwrap();
    assert!(message.starts_with("xxx") && message.ends_with("…[truncated]"), "{}", &message[message.len() - 20..]);
    assert!(all[0].to_string().len() > max - 1024, "trimmed no more than needed");
    assert!(all[1]["blob"].as_str().unwrap().ends_with("…[truncated]"));
    assert_eq!((&all[1]["small"], &all[1]["message"]), (&"kept".into(), &"m".into()));
    assert!(all[2]["text"].as_str().unwrap().ends_with("…[truncated]"));
    // The correlation object is the largest value: replaced first, the rest kept.
    assert_eq!(all[3]["big"], "[truncated]");
    assert_eq!(all[3]["b"].as_str().unwrap().len(), 100 * 1024);
}

// Item 3: free-text credentials.

#[test]
fn free_text_credentials_are_scrubbed() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Request {
        path: &'static str,
        authorization: &'static str,
        cookie: &'static str,
    }
    let all = lines(|| {
        tracing::info!("got header Authorization: Basic dXNlcjpwYXNzd29yZA==");
        tracing::info!("retrying with bearer abc.def.ghi now");
        tracing::info!(req = ?Request { path: "/x", authorization: "Bearer opaque-token-123", cookie: "sid=s3cr3t" }, "m");
        tracing::error!(error = &AuthError as &dyn Error, "m");
        tracing::info!(
            ws = "Sec-WebSocket-Protocol: graphql-ws, opaque-token-xyz",
            set = "Set-Cookie: sid=1; Path=/",
            "m"
        );
        tracing::info!("a basic check with a Bearer token; Basic Plan");
    });
    assert_eq!(all[0]["message"], "got header Authorization: [REDACTED]");
    assert_eq!(all[1]["message"], "retrying with bearer [REDACTED] now");
    assert_eq!(all[2]["req"], r#"Request { path: "/x", authorization: "[REDACTED]", cookie: "[REDACTED]" }"#);
    assert_eq!(all[3]["error.message"], "upstream rejected header Authorization: [REDACTED]");
    assert_eq!(
        (&all[4]["ws"], &all[4]["set"]),
        (&"Sec-WebSocket-Protocol: [REDACTED]".into(), &"Set-Cookie: [REDACTED]".into())
    );
    assert_eq!(all[5]["message"], "a basic check with a Bearer token; Basic Plan", "plain words are kept");
}

#[test]
fn debug_escaped_text_json_values_and_header_tuples_are_scrubbed() {
    let all = lines(|| {
        tracing::info!(v = ?"GET /\tBearer abc123XYZ789def", "m");
        tracing::info!(v = ?"Authorization: \"abc123XYZ789def\"", "m");
        tracing::info!(v = ?serde_json::json!({"Cookie": "sid=abc123XYZ789def", "X-Api-Key": "k3yAbc"}), "m");
        tracing::info!(v = ?vec![("authorization", "abc123XYZ789def"), ("host", "h")], "m");
        tracing::info!("body {}", r#"{"password":"hunter2","user":"u"}"#);
    });
    assert_eq!(all[0]["v"], r#""GET /\tBearer [REDACTED]""#);
    assert_eq!(all[1]["v"], r#""Authorization: \"[REDACTED]\"""#);
    assert_eq!(all[2]["v"], r#"Object {"Cookie": String("[REDACTED]"), "X-Api-Key": String("[REDACTED]")}"#);
    assert_eq!(all[3]["v"], r#"[("authorization", "[REDACTED]"), ("host", "h")]"#);
    assert_eq!(all[4]["message"], r#"body {"password":"[REDACTED]","user":"u"}"#);
}

#[test]
fn jwt_shaped_field_names_and_object_keys_are_redacted() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnYWJjMTIzWFla";
    let all = lines(|| {
        tracing::info!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnYWJjMTIzWFla" = 1u8, plain = 2u8, "m");
        assert!(crate::invocation::append_field("p", serde_json::json!({ jwt: 1, "[REDACTED]": 2 })));
        tracing::info!("n");
    });
    assert_eq!(all[0]["[REDACTED]"], 1);
    assert_eq!(all[0]["plain"], 2);
    assert_eq!(all[1]["p"], serde_json::json!({"[REDACTED]": 2, "[REDACTED]#2": 1}));
    assert!(all.iter().all(|l| !l.to_string().contains("eyJzdWIi")));
}

// Item 4: JWT shapes.

#[test]
fn two_part_and_url_encoded_jwts_are_scrubbed() {
    let (h, p, s) = ("eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiIxMjM0In0", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
    let all = lines(|| {
        tracing::info!("two {h}.{p}");
        tracing::info!("pct {h}%2E{p}%2E{s} lower {h}%2e{p}%2e{s}");
        tracing::info!("std {h}.{p}.ab+cd/ef== jwe {h}.{p}.{s}.aXY.dGFn");
        // A JWE with `alg: dir`: its encrypted key is empty.
        tracing::info!("dir eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXZpdml2aXZpdg.Y2lwaGVydGV4dA.dGFndGFn end");
        // Not a JWE: an empty second part with only one part after it.
        tracing::info!("short eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXZ end");
    });
    assert_eq!(all[0]["message"], "two [REDACTED]");
    assert_eq!(all[1]["message"], "pct [REDACTED] lower [REDACTED]");
    assert_eq!(all[2]["message"], "std [REDACTED] jwe [REDACTED]");
    assert_eq!(all[3]["message"], "dir [REDACTED] end");
    assert_eq!(all[4]["message"], "short eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXZ end");
}

// Item 2: the logged event.

#[test]
fn the_logged_event_has_json_bodies_and_query_strings_redacted() {
    use tracing::instrument::WithSubscriber;

    use crate::handler::{ErrorView, HandlerOptions, HandlerScope};
    use crate::telemetry::Telemetry;
    let config = config(&[]);
    let writer = CapturingWriter::new();
    let dispatch = Dispatch::new(super::subscriber(&config, writer.clone(), FixedClock::at_millis(0)));
    let telemetry = Telemetry::builder(config)
        .clock(FixedClock::at_millis(0))
        .cold_start_tracker(Arc::new(ColdStartTracker::new(&Default::default())))
        .emitter(Arc::new(crate::testing::CapturingEmitter::new()))
        .build();
    let ctx = ContextBuilder::new().request_id("ev-1").build();
    let payload = serde_json::json!({
        "rawQueryString": "access_token=opaque-qs-123&x=1",
        "body": "{\"password\":\"hunter2\",\"Authorization\":\"Basic dXNlcjpwYXNzd29yZA==\",\"n\":[1]}",
        "path": "/p",
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _ = rt.block_on(
        async move {
            let scope = HandlerScope::with_telemetry(
                telemetry,
                HandlerOptions::new("H").log_event(true),
                &ctx,
                tracing::info_span!("H"),
            );
            scope.log_event(|| Some(payload));
            scope.run(async { Ok::<_, std::io::Error>(1) }, ErrorView::from_error, |_| None).await
        }
        .with_subscriber(dispatch),
    );
    let all = checked_lines(&writer);
    let logged = all.iter().find(|l| l["message"] == "Incoming event").expect("the event line");
    let event: serde_json::Value = serde_json::from_str(logged["event"].as_str().unwrap()).unwrap();
    assert_eq!(event["rawQueryString"], "access_token=[REDACTED]&x=1");
    let body: serde_json::Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"password": "[REDACTED]", "Authorization": "[REDACTED]", "n": [1]}));
    assert_eq!(event["path"], "/p");
}

// Item 13: long source chains.

#[test]
fn a_long_source_chain_ends_with_a_count_of_the_rest() {
    let l = line(|| tracing::error!(error = &Chain(0, 40) as &dyn Error, "m"));
    let sources = l["error.sources"].as_array().unwrap();
    assert_eq!(sources.len(), 33);
    assert_eq!(sources[31], "level 32");
    assert_eq!(sources[32], "… 8 more");
    let l = line(|| tracing::error!(error = &Chain(0, 32) as &dyn Error, "m"));
    assert_eq!(l["error.sources"].as_array().unwrap().len(), 32, "exactly 32: no marker");
}

// Item 14: the debug sampling line under `sync_scope`.

#[test]
fn a_sampled_invocation_under_sync_scope_logs_its_sampling_line_first() {
    let config = config(&[("POWERTOOLS_LOGGER_SAMPLE_RATE", "1")]);
    let all = lines_in(&config, ContextBuilder::new().request_id("s"), || tracing::debug!("user debug"));
    let messages: Vec<_> = all.iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect();
    assert_eq!(messages, ["debug sampling: log level raised to DEBUG for this invocation", "user debug"]);
}
