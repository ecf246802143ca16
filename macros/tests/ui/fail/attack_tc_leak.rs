//! The in-place body cannot see the expansion's locals.
use streamer_obs::instrumented;

#[instrumented]
#[track_caller]
fn f(n: u8) -> u8 {
    drop(__obs_guard);
    let _ = &__obs_span;
    let _ = &__obs_scope;
    n
}

#[instrumented]
#[track_caller]
fn g(n: u8) -> ! {
    let _: Never = panic!("{n}");
}

fn main() {
    let _ = f(1);
    g(1);
}
