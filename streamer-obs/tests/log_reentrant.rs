//! Lines logged while another line is being written (from a field's `Debug`), with the
//! subscriber installed as the process's global default, as `streamer_obs::init` does in
//! Lambda. Its own test binary: the global default is set once per process.
//!
//! (Under a scoped dispatcher, `tracing::subscriber::with_default`, `tracing` itself
//! drops an event dispatched while another one is: see the README's log rules.)

use std::fmt;

use streamer_obs::config::{Config, EnvVars};
use streamer_obs::testing::{CapturingWriter, FixedClock};

/// A value whose `Debug` logs `depth` nested lines before writing itself.
struct Logs(u8);

impl fmt::Debug for Logs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 0 {
            tracing::warn!(inner = ?Logs(self.0 - 1), "nested {}", self.0);
        } else {
            tracing::warn!(token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "nested 0");
        }
        f.write_str("logged")
    }
}

#[test]
fn lines_logged_from_a_debug_impl_are_written_whole_and_redacted() {
    let writer = CapturingWriter::new();
    let config = Config::builder().service("svc").build_from(&EnvVars::empty());
    tracing::subscriber::set_global_default(streamer_obs::log::subscriber(
        &config,
        writer.clone(),
        FixedClock::at_millis(0),
    ))
    .expect("the only global subscriber of this test binary");

    tracing::info!(v = ?Logs(3), "outer");

    let lines = writer.json_lines();
    let messages: Vec<&str> = lines.iter().map(|l| l["message"].as_str().unwrap()).collect();
    // The innermost line is complete first, each outer one after the value it logs from.
    assert_eq!(messages, ["nested 0", "nested 1", "nested 2", "nested 3", "outer"]);
    assert_eq!(lines[0]["token"], "[REDACTED]");
    for l in &lines[1..4] {
        assert_eq!(l["inner"], "logged", "{l}");
    }
    assert_eq!(lines[4]["v"], "logged");
    assert!(writer.contents().lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
}
