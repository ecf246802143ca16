use streamer_obs::instrumented;

#[instrumented(annotations("clé" = 1, "" = 2, r#type = 3))]
fn f() -> u8 {
    1
}

fn main() {}
