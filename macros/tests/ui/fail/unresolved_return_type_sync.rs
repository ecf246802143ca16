use streamer_obs::instrumented;

#[instrumented]
fn lookup(id: u32) -> Result<u32, MissingError> {
    Ok(id)
}

fn main() {}
