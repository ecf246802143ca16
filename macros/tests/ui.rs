//! trybuild: `ui/pass` compiles, `ui/fail` fails with the committed `.stderr` (errors on
//! the user's tokens). Compiler messages change between toolchains: regenerate with
//! `TRYBUILD=overwrite cargo test -p streamer-obs-macros --test ui` on the stable
//! toolchain CI uses, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
