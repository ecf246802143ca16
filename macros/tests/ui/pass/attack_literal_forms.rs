// Raw strings, hex / underscored integers, trailing commas.
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

#[instrumented(name = r#"Raw "quoted" name"#, annotations(r#"k"# = r"v",), skip(n,),)]
fn raw(n: u8) -> u8 {
    n
}

#[instrumented(deadline_margin_ms = 0x40, latency_metric = r"Lat",)]
async fn hex(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {
    assert_eq!(raw(1), 1);
    let _ = lambda_runtime::service_fn(hex);
}
