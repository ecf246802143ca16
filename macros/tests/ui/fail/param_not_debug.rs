use streamer_obs::instrumented;

struct NoDebug;

// Parameters are recorded with `Debug` unless skipped: the error names the parameter.
#[instrumented]
fn helper(value: NoDebug) -> u8 {
    let _ = value;
    1
}

fn main() {}
