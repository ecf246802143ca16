use streamer_obs::instrumented;

#[instrumented(annotations(bad = vec![1, 2]))]
fn f(n: u8) -> u8 {
    n
}

fn main() {}
