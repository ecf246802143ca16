use streamer_obs::instrumented;

#[instrumented(log_event = true, latency_metric = "Latency")]
fn helper(n: u8) -> u8 {
    n
}

fn main() {}
