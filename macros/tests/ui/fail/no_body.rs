use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use streamer_obs::instrumented;

trait Handler {
    #[instrumented]
    fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error>;
}

fn main() {}
