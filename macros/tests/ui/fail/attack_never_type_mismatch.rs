//! A `-> !` body that does not diverge: the instrumented functions should report what the
//! plain one does (`expected `!``), on the user's tokens, without naming internals.
use streamer_obs::instrumented;

fn plain(n: u8) -> ! {
    if n > 1 {
        panic!()
    }
}

#[instrumented]
fn sync_never(n: u8) -> ! {
    if n > 1 {
        panic!()
    }
}

#[instrumented]
async fn async_never(n: u8) -> ! {
    if n > 1 {
        panic!()
    }
}

#[instrumented]
fn sync_never_value(n: u8) -> ! {
    n
}

fn main() {
    plain(1);
}
