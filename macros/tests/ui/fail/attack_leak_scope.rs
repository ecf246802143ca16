// The body cannot see the expansion's `__obs_scope` (hygienic locals): "cannot find
// value", as without the attribute.
use streamer_obs::instrumented;

#[instrumented]
fn leak() -> u8 {
    let _ = &__obs_scope;
    1
}

fn main() {
    let _ = leak();
}
