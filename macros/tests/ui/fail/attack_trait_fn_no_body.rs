use streamer_obs::instrumented;

trait T {
    #[instrumented]
    fn f(&self) -> u8;
}

fn main() {}
