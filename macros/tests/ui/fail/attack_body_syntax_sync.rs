// A syntax error in a sync function's body.
use streamer_obs::instrumented;

#[instrumented(fields(a = 1))]
fn f(n: u8) -> u8 {
    let x = ;
    n
}

fn main() {}
