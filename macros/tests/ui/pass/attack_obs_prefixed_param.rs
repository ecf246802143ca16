// The expansion's `__obs_*` locals are hygienic: they neither see nor shadow the user's names.
use streamer_obs::instrumented;

#[instrumented]
fn takes_obs_names(__obs_span: u8, __obs_scope: u8) -> u8 {
    __obs_span + __obs_scope
}

#[instrumented]
async fn takes_obs_body(__obs_body: u8) -> u8 {
    __obs_body
}

fn main() {
    assert_eq!(takes_obs_names(1, 2), 3);
    let _ = takes_obs_body(1);
}
