//! Two `#[instrumented]` on one `#[track_caller]` function, and `-> !` with it.
#![deny(warnings)]

use streamer_obs::instrumented;

#[instrumented(name = "outer_name")]
#[instrumented(name = "inner_name")]
#[track_caller]
fn at() -> &'static std::panic::Location<'static> {
    std::panic::Location::caller()
}

#[instrumented(name = "a")]
#[instrumented(name = "b")]
fn stop(n: u8) -> ! {
    panic!("{n}")
}

#[instrumented]
#[track_caller]
fn inner_tc() -> &'static std::panic::Location<'static> {
    std::panic::Location::caller()
}

#[instrumented]
#[track_caller]
fn outer_tc() -> &'static std::panic::Location<'static> {
    let f = || 1;
    let _ = f();
    inner_tc()
}

fn main() {
    assert_eq!(at().line(), line!());
    assert_eq!(outer_tc().line(), line!());
    assert!(std::panic::catch_unwind(|| stop(1)).is_err());
}
