// An argument error and a genuine body error: both are the user's; no cascade beyond them.
use streamer_obs::instrumented;

#[instrumented(nmae = "x")]
fn f(n: u8) -> u8 {
    n + "1"
}

fn main() {}
