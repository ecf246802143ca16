// Tail and `return` coercions the original function allows (unsizing, `!`, deref, closures).
use std::fmt::Display;

use streamer_obs::instrumented;

#[instrumented]
fn slice() -> &'static [u8] {
    b"abc"
}

#[instrumented]
async fn slice_async(early: bool) -> &'static [u8] {
    if early {
        return b"x";
    }
    b"abc"
}

#[instrumented]
async fn boxed_dyn() -> Box<dyn Fn() -> u8 + Send> {
    Box::new(|| 1)
}

#[instrumented]
fn boxed_display(n: u8) -> Box<dyn Display> {
    if n == 0 {
        return Box::new("zero");
    }
    Box::new(n)
}

#[instrumented]
fn deref_coercion(s: &String) -> &str {
    s
}

#[instrumented]
async fn fn_pointer() -> fn(u8) -> u8 {
    |n| n + 1
}

#[instrumented]
fn diverging_arm(n: u8) -> u8 {
    match n {
        0 => panic!("zero"),
        n => n,
    }
}

fn main() {
    assert_eq!(slice(), b"abc");
    assert_eq!(boxed_display(0).to_string(), "zero");
    assert_eq!(deref_coercion(&"x".to_owned()), "x");
    assert_eq!(diverging_arm(1), 1);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(slice_async(true)), b"x");
    assert_eq!(rt.block_on(boxed_dyn())(), 1);
    assert_eq!(rt.block_on(fn_pointer())(1), 2);
}
