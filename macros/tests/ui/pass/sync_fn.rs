use streamer_obs::instrumented;

#[instrumented]
fn plain(n: u8) -> u8 {
    n + 1
}

#[instrumented]
fn unit(label: &str) {
    let _ = label;
}

#[instrumented]
fn fallible(text: &str) -> Result<u8, Box<dyn std::error::Error>> {
    // Coerces to the declared `Box<dyn Error>` exactly as without the attribute.
    let n = text.parse::<u8>()?;
    if n > 9 {
        return Err(Box::new(std::fmt::Error));
    }
    Ok(n)
}

#[instrumented]
unsafe fn raw(p: *const u8) -> u8 {
    unsafe { *p }
}

#[instrumented]
pub(crate) extern "C" fn exported(n: i32) -> i32 {
    n
}

fn main() {
    assert_eq!(plain(1), 2);
    unit("x");
    assert!(fallible("12").is_err());
    let v = 3u8;
    assert_eq!(unsafe { raw(&v) }, 3);
    assert_eq!(exported(4), 4);
}
