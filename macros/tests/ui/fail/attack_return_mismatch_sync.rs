use streamer_obs::instrumented;

#[instrumented]
fn f(n: u8) -> Result<u8, std::io::Error> {
    if n == 0 {
        return Ok("zero");
    }
    Ok(n)
}

fn main() {}
