use std::fmt::Display;

use streamer_obs::instrumented;

#[instrumented]
fn evens(limit: u8) -> impl Iterator<Item = u8> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[instrumented]
async fn shown(n: u8) -> Result<impl Display, std::io::Error> {
    Ok(n)
}

#[instrumented(skip(items))]
fn boxed(items: Vec<u8>) -> Box<dyn Iterator<Item = u8>> {
    Box::new(items.into_iter())
}

fn main() {}
