use lambda_runtime::Error;
use streamer_obs::instrumented;

// `ctx = ...` must name a `lambda_runtime::Context`: the error points at the expression.
#[instrumented(ctx = request_id)]
async fn handler(request_id: String) -> Result<(), Error> {
    let _ = request_id;
    Ok(())
}

fn main() {}
