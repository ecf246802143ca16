// Edition 2024: precise capturing `use<..>`, `#[unsafe(no_mangle)]`, let chains, async closures.
use std::fmt::Display;

use streamer_obs::instrumented;

#[instrumented]
fn precise<'a>(x: &'a str, n: u8) -> impl Display + use<> {
    let _ = x;
    n
}

#[instrumented]
fn precise_lt<'a>(x: &'a str) -> impl Display + use<'a> {
    x
}

#[instrumented]
#[unsafe(no_mangle)]
extern "C" fn exported_instrumented(n: u32) -> u32 {
    n
}

#[instrumented]
async fn chains(a: Option<u8>, b: Option<u8>) -> u8 {
    let add = async |x: u8| x + 1;
    if let Some(a) = a
        && let Some(b) = b
    {
        add(a + b).await
    } else {
        0
    }
}

fn main() {
    assert_eq!(precise("x", 1).to_string(), "1");
    assert_eq!(precise_lt("y").to_string(), "y");
    assert_eq!(exported_instrumented(2), 2);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(chains(Some(1), Some(2))), 4);
}
