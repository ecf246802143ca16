//! Names the expansion uses, defined by the user: no clash.
#![deny(warnings)]
#![allow(non_camel_case_types, dead_code)]

use streamer_obs::instrumented;

struct Never;
struct FunctionScope;
struct FunctionGuard;
mod streamer_obs_private {}

#[instrumented]
#[track_caller]
fn f(__obs_guard: u8, __obs_span: u8) -> u8 {
    let __obs_scope = 1u8;
    __obs_guard + __obs_span + __obs_scope
}

#[instrumented]
fn g(n: u8) -> ! {
    let _ = Never;
    let _ = FunctionScope;
    let _ = FunctionGuard;
    panic!("{n}")
}

fn main() {
    assert_eq!(f(1, 2), 4);
    if std::env::args().count() > 100 {
        g(1);
    }
}
