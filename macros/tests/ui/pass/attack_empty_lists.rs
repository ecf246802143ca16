// Empty argument lists are accepted and do nothing.
use streamer_obs::instrumented;

#[instrumented(annotations(), metadata(), fields(), skip())]
fn f(n: u8) -> u8 {
    n
}

#[instrumented()]
fn g() -> u8 {
    1
}

fn main() {
    assert_eq!(f(1), 1);
    assert_eq!(g(), 1);
}
