#![deny(unused_variables)]

use streamer_obs::instrumented;

/// Docs and attributes stay on the function.
#[instrumented]
#[must_use]
#[inline]
pub fn documented(n: u8) -> u8 {
    #![allow(unused_variables)]
    let unused = 1;
    n
}

fn main() {
    let _ = documented(1);
}
