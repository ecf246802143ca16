use streamer_obs::instrumented;

#[instrumented(annotations(k = 1, k = 2), metadata(m = 1, "m" = 2), fields(a.b = 1, a.b = 2), skip(n, n))]
fn f(n: u8) -> u8 {
    n
}

fn main() {}
