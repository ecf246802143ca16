use streamer_obs::instrumented;

// The attribute takes a list (`#[instrumented(name = "x")]`), not `= value`.
#[instrumented = "x"]
fn helper() -> u8 {
    1
}

fn main() {}
