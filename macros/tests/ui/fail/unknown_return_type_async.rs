use streamer_obs::instrumented;

// An unknown return type is reported once, on the user's tokens.
#[instrumented]
async fn helper() -> Missing {
    todo!()
}

fn main() {}
