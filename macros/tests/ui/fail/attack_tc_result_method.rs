use streamer_obs::instrumented;

#[derive(Debug)]
struct S;

impl S {
    #[instrumented]
    #[inline]
    #[track_caller]
    fn write(&self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let _ = S.write();
}
