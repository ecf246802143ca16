use streamer_obs::instrumented;

#[instrumented]
static S: u8 = 1;

#[instrumented]
trait T {
    fn f(&self);
}

#[instrumented]
macro_rules! m {
    () => {};
}

#[instrumented]
extern "C" {
    fn ext();
}

fn main() {}
