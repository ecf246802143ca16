// `unsafe fn`, `extern "C" fn`, `async unsafe fn`: accepted and still behave.
use streamer_obs::instrumented;

/// # Safety
/// `p` is valid.
#[instrumented]
unsafe fn read(p: *const u8) -> u8 {
    unsafe { *p }
}

#[instrumented]
extern "C" fn c_abi(n: u32) -> u32 {
    n + 1
}

#[instrumented]
pub unsafe extern "C" fn c_abi_unsafe(n: u32) -> u32 {
    n + 2
}

/// # Safety
/// `p` is valid.
#[instrumented]
async unsafe fn read_async(p: *const u8) -> Result<u8, std::io::Error> {
    Ok(unsafe { *p })
}

fn main() {
    let x = 7u8;
    assert_eq!(unsafe { read(&x) }, 7);
    assert_eq!(c_abi(1), 2);
    assert_eq!(unsafe { c_abi_unsafe(1) }, 3);
    let _ = unsafe { read_async(&x) };
}
