// More than 32 recorded fields compiles and (attacks.rs) every field reaches the log line; the
// docs' Limitations still say "at most 32 span fields (a tracing limit)" (doc out of date).
#![allow(clippy::too_many_arguments)]
use streamer_obs::instrumented;

#[instrumented]
#[allow(clippy::too_many_arguments)]
fn many(
    a0: u8, a1: u8, a2: u8, a3: u8, a4: u8, a5: u8, a6: u8, a7: u8, a8: u8, a9: u8,
    b0: u8, b1: u8, b2: u8, b3: u8, b4: u8, b5: u8, b6: u8, b7: u8, b8: u8, b9: u8,
    c0: u8, c1: u8, c2: u8, c3: u8, c4: u8, c5: u8, c6: u8, c7: u8, c8: u8, c9: u8,
    d0: u8, d1: u8, d2: u8,
) -> u8 {
    let _ = (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9);
    let _ = (c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, d0, d1);
    d2
}

fn main() {
    assert_eq!(many(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7), 7);
}
