//! `?` in a `-> !` body: the plain function's error, not one about a closure or `Never`.
use streamer_obs::instrumented;

fn plain(s: &str) -> ! {
    let n: u8 = s.parse()?;
    panic!("{n}")
}

#[instrumented]
fn instrumented_never(s: &str) -> ! {
    let n: u8 = s.parse()?;
    panic!("{n}")
}

fn main() {
    plain("1");
}
