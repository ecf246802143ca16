//! `-> !` (sync and async) and `#[track_caller]` (either order, with `capture_error = false`
//! on a `Result`) under strict lints.
#![deny(warnings, clippy::all, clippy::pedantic, unused_results, unreachable_code)]

use streamer_obs::instrumented;

#[instrumented]
fn stop(code: i32) -> ! {
    std::process::exit(code)
}

#[instrumented]
fn stop_statement(code: i32) -> ! {
    std::process::exit(code);
}

#[instrumented(annotations(code = code))]
async fn stop_async(code: i32) -> ! {
    std::process::exit(code)
}

#[instrumented]
#[track_caller]
fn at_caller() -> &'static std::panic::Location<'static> {
    std::panic::Location::caller()
}

#[track_caller]
#[instrumented(capture_error = false, annotations(n = n))]
fn checked(n: u8) -> Result<u8, std::num::TryFromIntError> {
    let v = u8::try_from(u16::from(n) + 1)?;
    if v == 0 {
        return Ok(0);
    }
    Ok(v)
}

#[instrumented]
#[track_caller]
fn stop_here() -> ! {
    panic!("stopped")
}

fn main() {
    assert_eq!(at_caller().line(), line!());
    assert_eq!(checked(1), Ok(2));
    if std::env::args().count() > 100 {
        stop(1);
    }
    if std::env::args().count() > 100 {
        stop_statement(1);
    }
    if std::env::args().count() > 100 {
        stop_here();
    }
    drop(stop_async(1));
}
