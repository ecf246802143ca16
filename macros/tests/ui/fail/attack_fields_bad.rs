use streamer_obs::instrumented;

#[instrumented(fields(a = %))]
fn f() -> u8 {
    1
}

#[instrumented(fields("quoted" = 1))]
fn g() -> u8 {
    1
}

#[instrumented(fields(a = nope))]
fn h() -> u8 {
    1
}

fn main() {}
