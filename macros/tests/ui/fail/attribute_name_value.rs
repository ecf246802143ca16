use streamer_obs::instrumented;

// The attribute takes a list (`#[instrumented(name = "x")]`), not `= value`: rustc's own
// error is the only one (the function is emitted unchanged).
#[instrumented = "x"]
fn helper() -> u8 {
    1
}

fn main() {}
