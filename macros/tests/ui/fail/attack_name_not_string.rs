use streamer_obs::instrumented;

#[instrumented(name = Handle)]
fn f() -> u8 {
    1
}

#[instrumented(name = 5)]
fn g() -> u8 {
    1
}

#[instrumented(name = b"bytes")]
fn h() -> u8 {
    1
}

fn main() {}
