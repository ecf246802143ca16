// `fields(...)` keys that are keywords or name the receiver ("a field named like a parameter
// replaces it"), `skip` of raw identifiers.
use streamer_obs::instrumented;

#[derive(Debug)]
struct S;

impl S {
    #[instrumented(fields(self = "replaced"))]
    fn replaces_self(&self) -> u8 {
        1
    }
}

#[instrumented(fields(r#type = 1), skip(r#fn))]
fn raw_keys(r#fn: u8) -> u8 {
    r#fn
}

#[instrumented(fields(type = 1, match.arm = 2))]
fn keyword_keys() -> u8 {
    1
}

fn main() {
    assert_eq!(S.replaces_self(), 1);
    assert_eq!(raw_keys(1), 1);
    assert_eq!(keyword_keys(), 1);
}
