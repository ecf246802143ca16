use streamer_obs::instrumented;

#[track_caller]
#[instrumented]
fn checked(n: u8) -> Result<u8, std::num::TryFromIntError> {
    u8::try_from(u16::from(n) + 1)
}

fn main() {
    let _ = checked(1);
}
