use std::fmt::{Debug, Display};

use lambda_runtime::{Error, LambdaEvent};
use serde::{Serialize, de::DeserializeOwned};
use streamer_obs::instrumented;

#[instrumented]
fn const_generic<const N: usize>(a: [u8; N]) -> usize {
    a.len() + N
}

#[instrumented]
fn lifetimes<'a, 'b: 'a>(x: &'a str, y: &'b str) -> &'a str
where
    'b: 'a,
{
    if x.len() > y.len() { x } else { y }
}

#[instrumented]
fn elided(s: &str) -> &str {
    &s[..1]
}

#[instrumented]
fn impl_args(d: impl Display + Debug, it: impl IntoIterator<Item = u8> + Debug) -> impl Display {
    let n: u32 = it.into_iter().map(u32::from).sum();
    format!("{d}{n}")
}

#[instrumented]
fn impl_result(n: u8) -> Result<impl Iterator<Item = u8>, std::io::Error> {
    Ok(0..n)
}

#[instrumented]
async fn impl_async<T: Debug + Clone>(t: T) -> impl Debug {
    t.clone()
}

#[instrumented(skip(f))]
fn closure_param<F: FnOnce(u8) -> u8>(f: F, n: u8) -> u8 {
    f(n)
}

#[instrumented]
fn dyn_return(n: u8) -> Box<dyn Fn() -> u8> {
    Box::new(move || n)
}

#[instrumented]
async fn generic_handler<T, R>(event: LambdaEvent<T>) -> Result<R, Error>
where
    T: DeserializeOwned + Into<R> + Send,
    R: Serialize,
{
    Ok(event.payload.into())
}

struct Holder {
    s: String,
}

impl Holder {
    #[instrumented(skip(self))]
    fn get_mut(&mut self) -> &mut String {
        &mut self.s
    }

    #[instrumented(skip(self))]
    fn get_mut_result(&mut self) -> Result<&mut String, std::io::Error> {
        Ok(&mut self.s)
    }
}

fn main() {
    assert_eq!(const_generic([1, 2, 3]), 6);
    assert_eq!(lifetimes("ab", "c"), "ab");
    assert_eq!(elided("xyz"), "x");
    assert_eq!(impl_args("a", vec![1, 2]).to_string(), "a3");
    assert_eq!(impl_result(3).map(|i| i.count()).ok(), Some(3));
    assert_eq!(closure_param(|n| n + 1, 1), 2);
    assert_eq!(dyn_return(4)(), 4);
    let mut h = Holder { s: String::new() };
    h.get_mut().push('x');
    h.get_mut_result().unwrap().push('y');
    assert_eq!(h.s, "xy");
    let _ = impl_async(1u8);
    let _ = generic_handler::<serde_json::Value, serde_json::Value>;
}
