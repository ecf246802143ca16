use lambda_runtime::Error;
use streamer_obs::instrumented;

#[instrumented(ctx = contxt)]
async fn f(n: u8) -> Result<u8, Error> {
    Ok(n)
}

fn main() {}
