use streamer_obs::instrumented;

#[instrumented(skip(self))]
fn f(n: u8) -> u8 {
    n
}

fn main() {}
