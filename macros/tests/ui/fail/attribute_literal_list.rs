use streamer_obs::instrumented;

// A bare value in the list is not an argument: the error points at it.
#[instrumented("x")]
fn helper() -> u8 {
    1
}

fn main() {}
