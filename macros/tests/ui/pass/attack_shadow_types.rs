// User items named like std / prelude names in the scope of the instrumented functions.
#![allow(dead_code, non_camel_case_types)]
use streamer_obs::instrumented;

mod shadowed {
    use ::streamer_obs::instrumented;

    #[derive(Debug)]
    pub struct Option;
    #[derive(Debug)]
    pub struct Box;
    #[derive(Debug)]
    pub struct Vec;
    pub struct Some;
    pub struct None;
    pub struct Ok;
    pub struct Err;
    pub struct Into;
    pub struct From;
    pub struct Fn;
    pub struct FnOnce;
    pub struct Future;
    pub struct Drop;
    pub mod tracing {}
    pub mod std {}
    pub mod core {}
    pub mod streamer_obs {}
    pub mod lambda_runtime {}

    #[instrumented(annotations(k = 1), metadata(m = 2), fields(f = %3))]
    pub fn plain(o: Option, b: Box) -> ::std::result::Result<u8, ::std::io::Error> {
        let _ = (o, b);
        ::std::result::Result::Ok(1)
    }

    #[instrumented(annotations(k = "v"))]
    pub async fn plain_async(v: Vec) -> ::std::result::Result<u8, ::std::io::Error> {
        let _ = v;
        ::std::result::Result::Ok(1)
    }

    #[instrumented(annotations(k = "v"), log_event = true, deadline_margin_ms = 10, latency_metric = "L")]
    pub async fn handler(
        event: ::lambda_runtime::LambdaEvent<::serde_json::Value>,
    ) -> ::std::result::Result<::serde_json::Value, ::lambda_runtime::Error> {
        ::std::result::Result::Ok(event.payload)
    }
}

#[instrumented]
fn top() -> u8 {
    1
}

fn main() {
    let _ = shadowed::plain(shadowed::Option, shadowed::Box);
    let _ = top();
}
