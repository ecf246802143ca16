// `#[instrumented]` stacked twice, with `#[tokio::main]` on either side, on `main`-like
// functions, annotation expressions that `.await` or use `?`, non-ASCII identifiers.
use streamer_obs::instrumented;

#[instrumented(name = "outer")]
#[instrumented(name = "inner")]
fn twice(n: u8) -> Result<u8, std::io::Error> {
    Ok(n)
}

#[tokio::main(flavor = "current_thread")]
#[instrumented]
async fn tokio_outside() -> Result<u8, Box<dyn std::error::Error>> {
    Ok(1)
}

#[instrumented]
#[tokio::main(flavor = "current_thread")]
async fn tokio_inside() -> Result<u8, Box<dyn std::error::Error>> {
    Ok(2)
}

async fn fetch() -> i64 {
    4
}

#[instrumented(annotations(fetched = fetch().await, parsed = s.parse::<i64>()?))]
async fn await_in_annotation(s: String) -> Result<usize, std::num::ParseIntError> {
    Ok(s.len())
}

#[instrumented]
fn unicode_idents(ñandú: u8, 数: u8) -> u8 {
    ñandú + 数
}

fn main() {
    assert_eq!(twice(1).unwrap(), 1);
    assert_eq!(tokio_outside().unwrap(), 1);
    assert_eq!(tokio_inside().unwrap(), 2);
    assert_eq!(unicode_idents(1, 2), 3);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(await_in_annotation("12".into())).unwrap(), 2);
    assert!(rt.block_on(await_in_annotation("x".into())).is_err());
}
