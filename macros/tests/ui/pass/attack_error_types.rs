// Error types of every shape on a function (capture_error defaults to true).
use std::convert::Infallible;
use std::error::Error as StdError;

use streamer_obs::instrumented;

#[instrumented]
fn unit_err(n: u8) -> Result<u8, ()> {
    if n == 0 { Err(()) } else { Ok(n) }
}

#[instrumented]
fn str_err(n: u8) -> Result<u8, &'static str> {
    if n == 0 { Err("zero") } else { Ok(n) }
}

#[instrumented]
fn infallible(n: u8) -> Result<u8, Infallible> {
    Ok(n)
}

#[instrumented]
fn boxed_not_send(n: u8) -> Result<u8, Box<dyn StdError>> {
    if n == 0 { Err("zero".into()) } else { Ok(n) }
}

#[instrumented]
fn io_result(n: u8) -> std::io::Result<u8> {
    Ok(n)
}

#[instrumented(skip(r))]
fn generic_debug<E: std::fmt::Debug>(r: Result<u8, E>) -> Result<u8, E> {
    r
}

#[instrumented(skip(r))]
async fn generic_error<E: StdError + 'static>(r: Result<u8, E>) -> Result<u8, E> {
    r
}

#[instrumented]
fn nested_result(n: u8) -> Result<Result<u8, String>, String> {
    Ok(Ok(n))
}

fn main() {
    assert!(unit_err(0).is_err());
    assert!(str_err(0).is_err());
    assert!(infallible(1).is_ok());
    assert!(boxed_not_send(0).is_err());
    assert!(io_result(1).is_ok());
    assert!(generic_debug::<String>(Err("e".into())).is_err());
    let _ = generic_error::<std::io::Error>(Ok(1));
    assert!(nested_result(1).is_ok());
}
