// Edition 2024: an unsafe operation directly in an `unsafe fn` body is a lint
// (`unsafe_op_in_unsafe_fn`), allowed here; it must stay a lint once instrumented.
#![allow(unsafe_op_in_unsafe_fn)]
use streamer_obs::instrumented;

/// # Safety
/// `p` is valid.
#[instrumented]
unsafe fn read(p: *const u8) -> u8 {
    *p
}

/// # Safety
/// `p` is valid.
#[instrumented]
async unsafe fn read_async(p: *const u8) -> u8 {
    *p
}

fn main() {
    let x = 5u8;
    assert_eq!(unsafe { read(&x) }, 5);
    let _ = unsafe { read_async(&x) };
}
