// Error types that are not `'static` (an error borrowing its input, as
// `nom::Err<nom::error::Error<&str>>` does; a generic `E: Error` with no `'static` bound;
// a `Box<dyn Error + 'a>`) compile without the attribute and must compile with it
// (the signature is kept, the error type must only be `Debug`). The expansion's error
// view (`ViaError` requires `E: Error + 'static`) is picked anyway (trait selection ignores
// regions) and borrowck then rejects the user's function: "lifetime may not live long
// enough", "the parameter type `E` may not live long enough", "borrowed data escapes".
use std::error::Error;
use std::fmt;

use streamer_obs::instrumented;

#[derive(Debug)]
pub struct ParseErr<'a> {
    input: &'a str,
}

impl fmt::Display for ParseErr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot parse {:?}", self.input)
    }
}

impl Error for ParseErr<'_> {}

#[instrumented]
fn parse(input: &str) -> Result<u8, ParseErr<'_>> {
    input.parse().map_err(|_| ParseErr { input })
}

#[instrumented]
async fn parse_async(input: &str) -> Result<u8, ParseErr<'_>> {
    input.parse().map_err(|_| ParseErr { input })
}

#[instrumented(skip(r))]
fn generic_error<E: Error>(r: Result<u8, E>) -> Result<u8, E> {
    r
}

#[instrumented]
fn boxed_borrowing<'a>(s: &'a str) -> Result<u8, Box<dyn Error + 'a>> {
    Ok(s.parse()?)
}

fn main() {
    assert!(parse("x").is_err());
    let _ = parse_async("1");
    assert!(generic_error::<std::fmt::Error>(Ok(1)).is_ok());
    assert!(boxed_borrowing("1").is_ok());
}
