use streamer_obs::instrumented;

#[instrumented]
const fn answer() -> u8 {
    42
}

fn main() {}
