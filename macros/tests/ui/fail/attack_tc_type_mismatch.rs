//! A type error in an in-place body: reported on the user's tokens, once.
use streamer_obs::instrumented;

#[instrumented]
#[track_caller]
fn f(n: u8) -> u8 {
    if n > 1 {
        return "no";
    }
    n
}

fn main() {
    let _ = f(1);
}
