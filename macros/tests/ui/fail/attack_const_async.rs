use streamer_obs::instrumented;

#[instrumented(nmae = 1)]
const unsafe fn f() -> u8 {
    1
}

fn main() {}
