// A parameter with `#[cfg(...)]` (or another attribute) is not recorded as a field (the
// attribute sees the parameter before cfg-stripping: the expansion would name a parameter
// that may no longer exist).
use streamer_obs::instrumented;

#[instrumented]
fn cfg_param(#[cfg(any())] gone: u8, kept: u8) -> u8 {
    kept
}

#[instrumented]
fn attr_params(#[allow(unused_variables)] quiet: u8, #[cfg(all())] kept: u8) -> u8 {
    kept
}

fn main() {
    assert_eq!(cfg_param(1), 1);
    assert_eq!(attr_params(0, 1), 1);
}
