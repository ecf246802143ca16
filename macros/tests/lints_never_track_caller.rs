//! Review: `-> !` and `#[track_caller]` expansions under strict lints (run clippy on this
//! file: `cargo clippy -p streamer-obs-macros --all-features --test lints_never_track_caller`).
#![deny(
    warnings,
    clippy::all,
    clippy::pedantic,
    unused_results,
    unreachable_code,
    unused_qualifications,
    clippy::diverging_sub_expression
)]

use std::panic::Location;
use std::time::Duration;

use streamer_obs::instrumented;

type Loc = &'static Location<'static>;

/// Items first in an in-place body (`clippy::items_after_statements` is pedantic).
#[instrumented]
#[track_caller]
fn items_first(n: u8) -> u8 {
    const K: u8 = 2;
    fn helper(x: u8) -> u8 {
        x.wrapping_mul(K)
    }
    helper(n)
}

#[instrumented(fields(extra = 5), skip_all, annotations(kind = "x"))]
#[track_caller]
fn args_all(n: u8, _unused: u8) -> Loc {
    let _ = n;
    Location::caller()
}

#[instrumented]
#[track_caller]
#[must_use]
fn must(n: u8) -> u8 {
    n
}

#[instrumented]
#[track_caller]
fn inner_attrs(n: u64) -> u8 {
    #![allow(clippy::cast_possible_truncation)]
    n as u8
}

#[instrumented]
#[track_caller]
fn unit_return(v: &[u8]) {
    let _ = v[0];
}

#[instrumented]
#[track_caller]
fn empty_body() {}

#[instrumented(capture_error = false)]
#[track_caller]
fn question(n: u16) -> Result<u8, std::num::TryFromIntError> {
    let v = u8::try_from(n)?;
    Ok(v)
}

#[instrumented]
#[track_caller]
fn opt(v: Option<u8>) -> Option<u8> {
    let x = v?;
    Some(x)
}

#[instrumented]
#[track_caller]
fn generic<T>(t: &T) -> Loc
where
    T: std::fmt::Debug + ?Sized,
{
    let _ = t;
    Location::caller()
}

#[instrumented(skip(f))]
#[track_caller]
fn impl_arg(f: impl Fn() -> u8) -> u8 {
    f()
}

#[instrumented]
#[track_caller]
fn never_tc(code: u8) -> ! {
    panic!("{code}")
}

#[instrumented]
#[track_caller]
fn never_tc_stmt(code: u8) -> ! {
    panic!("{code}");
}

#[instrumented(annotations(code = code), fields(k = 1))]
fn never_annotated(code: u8) -> ! {
    panic!("{code}")
}

#[instrumented]
fn never_loop() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[instrumented(skip(it))]
fn never_generic<T, I>(t: T, it: I) -> !
where
    T: std::fmt::Debug,
    I: IntoIterator<Item = u8>,
{
    panic!("{t:?} {}", it.into_iter().count())
}

#[instrumented(skip(f))]
async fn never_generic_async<T: std::fmt::Debug + Send>(t: T, f: impl Fn() -> u8 + Send) -> ! {
    loop {
        tokio::time::sleep(Duration::from_millis(u64::from(f()))).await;
        let _ = &t;
    }
}

#[instrumented(metadata(n = n), annotations(n = n))]
#[track_caller]
fn tc_metadata<'a>(n: u8, s: &'a str) -> &'a str {
    let _ = n;
    s
}

#[derive(Debug)]
struct S(u8);

impl S {
    #[instrumented]
    #[track_caller]
    fn by_ref(&self) -> u8 {
        self.0
    }
    #[instrumented]
    #[track_caller]
    fn by_mut(&mut self) {
        self.0 += 1;
    }
    #[instrumented]
    #[track_caller]
    fn by_val(self) -> u8 {
        self.0
    }
    #[instrumented]
    fn stop(&self) -> ! {
        panic!("{}", self.0)
    }
    #[instrumented(skip(self))]
    async fn stop_async(&self) -> ! {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

trait T {
    #[instrumented(skip(self))]
    fn stop_default(&self) -> ! {
        panic!("default")
    }
    #[instrumented(skip(self))]
    async fn stop_default_async(&self) -> ! {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    #[instrumented(skip(self))]
    #[track_caller]
    fn tc_default(&self) -> Loc {
        Location::caller()
    }
}

impl T for S {
    #[instrumented]
    #[track_caller]
    fn tc_default(&self) -> Loc {
        Location::caller()
    }
}

macro_rules! tc_fn {
    ($name:ident, $n:ident, $ret:ty, $body:block) => {
        #[instrumented]
        #[track_caller]
        fn $name($n: u8) -> $ret $body
    };
}
tc_fn!(from_macro, n, u8, { n });
tc_fn!(never_from_macro, n, !, { panic!("{n}") });

#[instrumented]
#[tracing::instrument]
#[track_caller]
fn with_tracing(n: u8) -> u8 {
    n
}

#[test]
fn lints_compile_and_run() {
    assert_eq!(items_first(2), 4);
    assert_eq!(args_all(1, 2).line(), line!());
    assert_eq!(must(1), 1);
    assert_eq!(inner_attrs(3), 3);
    unit_return(&[1]);
    empty_body();
    assert_eq!(question(3), Ok(3));
    assert_eq!(opt(Some(1)), Some(1));
    assert_eq!(generic("x").line(), line!());
    assert_eq!(impl_arg(|| 1), 1);
    let mut s = S(1);
    s.by_mut();
    assert_eq!(s.by_ref(), 2);
    assert_eq!(s.tc_default().line(), line!());
    assert_eq!(from_macro(4), 4);
    assert_eq!(with_tracing(4), 4);
    assert_eq!(s.by_val(), 2);
    assert!(std::panic::catch_unwind(|| never_tc(1)).is_err());
    assert!(std::panic::catch_unwind(|| never_tc_stmt(1)).is_err());
    assert!(std::panic::catch_unwind(|| never_annotated(1)).is_err());
    assert!(std::panic::catch_unwind(|| never_from_macro(1)).is_err());
    assert!(std::panic::catch_unwind(|| S(3).stop()).is_err());
    assert!(std::panic::catch_unwind(|| S(3).stop_default()).is_err());
    if std::env::args().count() > 1000 {
        never_loop();
    }
    drop(S(1).stop_async());
    drop(never_generic_async(1u8, || 1));
    assert_eq!(tc_metadata(1, "a"), "a");
    assert!(std::panic::catch_unwind(|| never_generic(1u8, [1u8])).is_err());
    drop(S(1).stop_default_async());
}
