//! A panic message carrying secrets (a JWT, an `Authorization: Bearer` header) is
//! redacted the same by the hook (`panic_aborts(true)`) as by the unwinding lifecycle, in
//! the ERROR line and in the X-Ray cause.
mod abort_harness;
mod common;

use abort_harness::*;
use common::*;
use streamer_obs::handler::ErrorView;

const JWT: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

fn run(panic_aborts: bool) -> (serde_json::Value, serde_json::Value, Captured) {
    let h = captured(config(&[]));
    let out = run_handler(
        &h,
        "HandleSecret",
        panic_aborts,
        async {
            if true {
                panic!("bad token {JWT} from header Authorization: Bearer sk_live_0123456789abcdef");
            }
            Ok::<u8, std::io::Error>(1)
        },
        ErrorView::from_error,
        |_| None,
    );
    assert!(out.is_err());
    let errors: Vec<serde_json::Value> = h.log.json_lines().into_iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{:?}", h.log.lines());
    let docs = h.xray.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_valid_docs(&h);
    (errors[0].clone(), docs[0]["cause"].clone(), h)
}

#[test]
fn the_hook_redacts_the_panic_message_as_the_lifecycle_does() {
    let _snaps = snapshot_hook();
    let (log_unwind, cause_unwind, hu) = run(false);
    let (log_hook, cause_hook, hh) = run(true);
    for (what, raw) in [
        ("log, lifecycle", hu.log.contents()),
        ("log, hook", hh.log.contents()),
        ("xray, lifecycle", hu.xray.raw().join("\n")),
        ("xray, hook", hh.xray.raw().join("\n")),
    ] {
        assert!(!raw.contains("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"), "{what}: JWT leaked: {raw}");
        assert!(!raw.contains("sk_live_0123456789abcdef"), "{what}: bearer token leaked: {raw}");
    }
    assert_eq!(log_unwind["error.message"], log_hook["error.message"]);
    assert_eq!(cause_unwind["exceptions"][0]["message"], cause_hook["exceptions"][0]["message"]);
}
