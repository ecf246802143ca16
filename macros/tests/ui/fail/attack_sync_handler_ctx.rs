use lambda_runtime::{Context, Error};
use streamer_obs::instrumented;

#[instrumented(ctx = c)]
fn h(c: &Context) -> Result<(), Error> {
    Ok(())
}

fn main() {}
