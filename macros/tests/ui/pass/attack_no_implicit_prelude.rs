// An instrumented function in a `#![no_implicit_prelude]` module.
mod bare {
    #![no_implicit_prelude]

    use ::streamer_obs::instrumented;

    #[instrumented(annotations(k = 1), fields(f = %2))]
    pub fn add(a: u8, b: u8) -> ::std::result::Result<u8, ::std::io::Error> {
        ::std::result::Result::Ok(a + b)
    }

    #[instrumented]
    pub async fn add_async(a: u8) -> u8 {
        a
    }

    #[instrumented(log_event = true)]
    pub async fn handler(
        event: ::lambda_runtime::LambdaEvent<::serde_json::Value>,
    ) -> ::std::result::Result<::serde_json::Value, ::lambda_runtime::Error> {
        ::std::result::Result::Ok(event.payload)
    }
}

fn main() {
    assert_eq!(bare::add(1, 2).ok(), Some(3));
    let _ = bare::add_async(1);
}
