#![deny(warnings, unsafe_op_in_unsafe_fn)]

use streamer_obs::instrumented;

/// # Safety
/// `p` is valid.
#[instrumented(skip(p))]
#[track_caller]
unsafe fn read(p: *const u8) -> (u8, &'static std::panic::Location<'static>) {
    // SAFETY: the caller's contract.
    (unsafe { *p }, std::panic::Location::caller())
}

/// # Safety
/// never returns.
#[instrumented]
unsafe fn stop(code: i32) -> ! {
    std::process::exit(code)
}

fn main() {
    let x = 7u8;
    // SAFETY: `x` lives.
    let (v, loc) = unsafe { read(&x) };
    assert_eq!((v, loc.line()), (7, line!() - 1));
    if std::env::args().count() > 100 {
        unsafe { stop(1) }
    }
}
