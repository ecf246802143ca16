//! `#[instrumented]` on functions declared `-> !` (sync and async) and on sync functions
//! with `#[track_caller]` (their body runs in place, so the caller is still tracked).

mod common;

use std::panic::Location;
use std::time::Duration;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

#[instrumented(annotations(n = n))]
#[track_caller]
fn located(n: u8) -> &'static Location<'static> {
    tracing::info!("located");
    Location::caller()
}

/// `#[track_caller]` written first, `Result` returned: errors are not captured (the
/// attribute refuses `#[track_caller]` with error capture on), the caller is tracked.
#[track_caller]
#[instrumented(capture_error = false)]
fn located_result(n: u8) -> Result<&'static Location<'static>, u8> {
    if n == 0 {
        return Err(n);
    }
    Ok(Location::caller())
}

/// A panic through `#[track_caller]` reports the caller's line (`Option::expect` is
/// `#[track_caller]` too).
#[instrumented]
#[track_caller]
fn expect_some(v: Option<u8>) -> u8 {
    v.expect("a value")
}

#[instrumented]
fn diverge(code: u8) -> ! {
    panic!("diverged with {code}")
}

#[instrumented]
fn diverge_statement(code: u8) -> ! {
    tracing::info!("about to diverge");
    panic!("diverged with {code}");
}

#[instrumented]
async fn spin() -> ! {
    loop {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let here = line!() + 1;
    let loc = located(3);
    assert_eq!((loc.file(), loc.line()), (file!(), here), "Location::caller() is the caller's");
    let here = line!() + 1;
    let loc = located_result(1).expect("ok");
    assert_eq!(loc.line(), here);
    assert_eq!(located_result(0), Err(0));
    let _ = tokio::time::timeout(Duration::from_millis(5), spin()).await;
    let code = event.payload.as_u64().unwrap_or_default() as u8;
    let caught = std::panic::catch_unwind(|| diverge(code)).expect_err("diverges");
    let caught2 = std::panic::catch_unwind(|| diverge_statement(code)).expect_err("diverges");
    let messages: Vec<String> =
        [caught, caught2].into_iter().map(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default()).collect();
    Ok(json!(messages))
}

#[test]
fn track_caller_and_never_functions_keep_their_spans_subsegments_and_semantics() {
    let (out, cap) = run(handler(event(json!(7))));
    assert_eq!(out.unwrap(), json!(["diverged with 7", "diverged with 7"]));

    let spans = cap.spans.spans();
    let names: Vec<_> = spans.iter().map(|s| (s.name.as_str(), s.parent.as_deref())).collect();
    assert_eq!(
        names,
        [
            ("handler", None),
            ("located", Some("handler")),
            ("located_result", Some("handler")),
            ("located_result", Some("handler")),
            ("spin", Some("handler")),
            ("diverge", Some("handler")),
            ("diverge_statement", Some("handler")),
        ]
    );
    // The span is entered around the in-place body: its fields reach the line.
    let line = cap.line("located");
    assert_eq!(line["n"], 3);
    assert_eq!(line["function_request_id"], "req-1");
    assert_eq!(cap.line("about to diverge")["code"], 7);

    assert_eq!(cap.segments.len(), 1, "{:#?}", cap.segments);
    let subs = cap.segments[0]["subsegments"].as_array().expect("subsegments");
    let names: Vec<&str> = subs.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["located", "located_result", "located_result", "spin", "diverge", "diverge_statement"]);
    for s in subs {
        assert!(s["end_time"].as_f64().is_some(), "every subsegment ended (returned, dropped or unwound): {s}");
        assert!(s.get("in_progress").is_none(), "{s}");
    }
    assert_eq!(subs[0]["annotations"]["n"], 3);
    // `capture_error = false`: the `Err` is returned, not recorded.
    assert!(subs[2].get("fault").is_none() && subs[2].get("cause").is_none(), "{}", subs[2]);
}

#[test]
fn a_panic_in_a_track_caller_function_reports_the_callers_line() {
    // The hook is process-wide (other tests of this binary panic on purpose too): it keeps
    // the location of this test's panic only, by its message.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let hook_seen = std::sync::Arc::clone(&seen);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let (Some(loc), Some("a value")) = (info.location(), info.payload_as_str()) {
            *hook_seen.lock().unwrap() = Some((loc.file().to_owned(), loc.line()));
        }
    }));
    let (caught, _cap) = run_sync(|| {
        let here = line!() + 1;
        (std::panic::catch_unwind(|| expect_some(None)), here)
    });
    std::panic::set_hook(previous);
    let (caught, here) = caught;
    assert!(caught.is_err());
    assert_eq!(*seen.lock().unwrap(), Some((file!().to_owned(), here)), "the panic points at the caller");
    assert_eq!(expect_some(Some(4)), 4);
}
