use streamer_obs::instrumented;

#[derive(Debug)]
struct Opaque;

#[instrumented(annotations(ok = 1, bad = Opaque))]
fn f() -> u8 {
    1
}

fn main() {}
