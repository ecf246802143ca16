// README: annotation values are "integers": `isize`, `i128` and `u128` too (a value beyond
// `i64` is written as the nearest `f64`).
use streamer_obs::instrumented;

#[instrumented(annotations(a = 1isize, b = 1i128, c = 1u128))]
fn f() -> u8 {
    1
}

fn main() {
    assert_eq!(f(), 1);
}
