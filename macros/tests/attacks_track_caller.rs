//! Review: `#[track_caller]` (in place) and `-> !` under `#[instrumented]`, each checked
//! against an un-instrumented twin where possible.

mod common;

use std::panic::Location;
use std::time::Duration;

use common::*;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use streamer_obs::instrumented;

type Loc = &'static Location<'static>;

// ---- methods ----
#[derive(Debug)]
struct S(u8);

impl S {
    #[instrumented]
    #[track_caller]
    fn by_ref(&self) -> Loc {
        tracing::info!("by_ref line");
        Location::caller()
    }
    #[track_caller]
    #[instrumented(skip(self))]
    fn by_mut(&mut self) -> Loc {
        self.0 += 1;
        Location::caller()
    }
    #[instrumented]
    #[track_caller]
    fn by_val(self) -> (u8, Loc) {
        (self.0, Location::caller())
    }
    #[instrumented]
    fn stop_method(&self) -> ! {
        panic!("stop_method {}", self.0)
    }
    #[instrumented]
    async fn stop_async_method(&self) -> ! {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

trait Stopper {
    #[instrumented(skip(self))]
    fn stop_default(&self) -> ! {
        panic!("stop_default")
    }
    #[instrumented(skip(self))]
    #[track_caller]
    fn where_default(&self) -> Loc {
        Location::caller()
    }
}
impl Stopper for S {}

// ---- generics / impl Trait / arguments ----
#[instrumented(fields(extra = 5), skip(it))]
#[track_caller]
fn generic<T, I>(t: T, it: I) -> (usize, Loc)
where
    T: std::fmt::Debug + Clone,
    I: IntoIterator<Item = u8>,
{
    let _ = t.clone();
    (it.into_iter().count(), Location::caller())
}

#[instrumented(skip_all, annotations(k = "v"))]
#[track_caller]
fn impl_arg(f: impl Fn() -> u8) -> (u8, Loc) {
    (f(), Location::caller())
}

// ---- nested ----
#[instrumented]
#[track_caller]
fn inner() -> Loc {
    Location::caller()
}
#[instrumented]
#[track_caller]
fn outer() -> Loc {
    inner()
}

// ---- early return ----
#[instrumented]
#[track_caller]
fn early(n: u8) -> Loc {
    if n == 0 {
        return Location::caller();
    }
    tracing::info!("early tail");
    Location::caller()
}

// ---- cfg_attr(track_caller) and its twin ----
#[instrumented]
#[cfg_attr(all(), track_caller)]
fn via_cfg_attr() -> Loc {
    Location::caller()
}
#[cfg_attr(all(), track_caller)]
fn via_cfg_attr_plain() -> Loc {
    Location::caller()
}

// ---- macro_rules with `$m:meta` ----
macro_rules! make_fn {
    (#[$m:meta] fn $name:ident() -> $ret:ty $body:block) => {
        #[instrumented]
        #[$m]
        fn $name() -> $ret $body
    };
}
make_fn!(
    #[track_caller]
    fn via_meta() -> Loc {
        Location::caller()
    }
);
macro_rules! make_plain {
    (#[$m:meta] fn $name:ident() -> $ret:ty $body:block) => {
        #[$m]
        fn $name() -> $ret $body
    };
}
make_plain!(
    #[track_caller]
    fn via_meta_plain() -> Loc {
        Location::caller()
    }
);

// ---- macro_rules with `$ret:ty` = `!` ----
macro_rules! never_fn {
    (fn $name:ident($c:ident: $t:ty) -> $ret:ty $body:block) => {
        #[instrumented]
        fn $name($c: $t) -> $ret $body
    };
}
never_fn!(
    fn via_macro_never(code: u8) -> ! {
        panic!("macro never {code}")
    }
);

// ---- track_caller + -> ! ----
#[instrumented]
#[track_caller]
fn tc_never(v: Option<u8>) -> ! {
    let _ = v.expect("tc_never expect");
    panic!("unreachable in practice")
}

// ---- indexing / unwrap ----
#[instrumented]
#[track_caller]
fn index(v: &[u8], i: usize) -> u8 {
    v[i]
}
#[track_caller]
fn index_plain(v: &[u8], i: usize) -> u8 {
    v[i]
}
#[instrumented]
#[track_caller]
fn unwrap_it(r: Result<u8, String>) -> u8 {
    r.unwrap()
}

// ---- tracing::instrument combined ----
#[instrumented]
#[tracing::instrument(skip_all)]
#[track_caller]
fn with_tracing_after() -> Loc {
    Location::caller()
}
#[tracing::instrument(skip_all)]
#[instrumented]
#[track_caller]
fn with_tracing_before() -> Loc {
    Location::caller()
}

// ---- drop of a body local inside the span ----
struct LogOnDrop;
impl Drop for LogOnDrop {
    fn drop(&mut self) {
        tracing::info!("dropped local");
    }
}
#[instrumented]
#[track_caller]
fn drops(tag: u8) -> u8 {
    let _l = LogOnDrop;
    tag
}

#[instrumented]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mut fails: Vec<String> = Vec::new();
    let mut check = |what: &str, got: Loc, line: u32| {
        if (got.file(), got.line()) != (file!(), line) {
            fails.push(format!("{what}: got {}:{} expected {}:{line}", got.file(), got.line(), file!()));
        }
    };
    let mut s = S(1);
    let l = line!() + 1;
    let got = s.by_ref();
    check("by_ref", got, l);
    let l = line!() + 1;
    let got = s.by_mut();
    check("by_mut", got, l);
    let l = line!() + 1;
    let got = s.where_default();
    check("trait default", got, l);
    let l = line!() + 1;
    let got = generic(1u8, vec![1, 2]).1;
    check("generic", got, l);
    let l = line!() + 1;
    let got = impl_arg(|| 3).1;
    check("impl_arg", got, l);
    let l = line!() + 1;
    let got = outer();
    check("nested outer/inner", got, l);
    let l = line!() + 1;
    let got = early(0);
    check("early return", got, l);
    let l = line!() + 1;
    let got = early(1);
    check("early tail", got, l);
    let l = line!() + 1;
    let got = via_cfg_attr_plain();
    check("cfg_attr plain twin", got, l);
    let l = line!() + 1;
    let got = via_cfg_attr();
    check("cfg_attr(all(), track_caller)", got, l);
    let l = line!() + 1;
    let got = via_meta_plain();
    check("macro_rules $m:meta plain twin", got, l);
    let l = line!() + 1;
    let got = via_meta();
    check("macro_rules $m:meta", got, l);
    let l = line!() + 1;
    let got = with_tracing_after();
    check("tracing::instrument after", got, l);
    let l = line!() + 1;
    let got = with_tracing_before();
    check("tracing::instrument before", got, l);
    let l = line!() + 1;
    let got = S(2).by_val().1;
    check("by_val", got, l);
    assert_eq!(drops(9), 9);

    let _ = tokio::time::timeout(Duration::from_millis(3), s.stop_async_method()).await;
    let msg = |p: Box<dyn std::any::Any + Send>| {
        p.downcast::<String>()
            .map(|s| *s)
            .or_else(|p| p.downcast::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    };
    let s2 = S(4);
    let m1 = msg(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s2.stop_method())).unwrap_err());
    let m2 = msg(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s2.stop_default())).unwrap_err());
    let m3 = msg(std::panic::catch_unwind(|| via_macro_never(5)).unwrap_err());
    let m5 = msg(std::panic::catch_unwind(|| tc_never(None)).unwrap_err());
    Ok(json!({"fails": fails, "msgs": [m1, m2, m3, m5]}))
}

#[test]
fn track_caller_locations_spans_and_subsegments() {
    let (out, cap) = run(handler(event(json!(1))));
    let out = out.unwrap();
    let names: Vec<_> = cap.spans.spans().iter().map(|s| (s.name.clone(), s.parent.clone())).collect();
    eprintln!("spans: {names:?}");
    let subs = cap.segments[0]["subsegments"].as_array().cloned().unwrap_or_default();
    let sub_names: Vec<&str> = subs.iter().map(|s| s["name"].as_str().unwrap_or("?")).collect();
    eprintln!("subsegments: {sub_names:?}");
    let mut problems: Vec<String> =
        out["fails"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(
        out["msgs"],
        json!(["stop_method 4", "stop_default", "macro never 5", "tc_never expect"]),
        "{problems:?}"
    );
    for s in &subs {
        if s["end_time"].as_f64().is_none() || s.get("in_progress").is_some() {
            problems.push(format!("subsegment not ended: {s}"));
        }
    }
    for expected in [
        "by_ref",
        "by_mut",
        "where_default",
        "generic",
        "impl_arg",
        "outer",
        "early",
        "via_cfg_attr",
        "via_meta",
        "with_tracing_after",
        "with_tracing_before",
        "by_val",
        "drops",
        "stop_async_method",
        "stop_method",
        "stop_default",
        "via_macro_never",
        "tc_never",
    ] {
        if !sub_names.contains(&expected) {
            problems.push(format!("no subsegment {expected}"));
        }
    }
    // inner's subsegment nested under outer's
    if let Some(o) = subs.iter().find(|s| s["name"] == "outer") {
        let kids: Vec<&str> = o["subsegments"]
            .as_array()
            .map(|a| a.iter().map(|s| s["name"].as_str().unwrap_or("?")).collect())
            .unwrap_or_default();
        if !kids.contains(&"inner") {
            problems.push(format!("inner not under outer: {o}"));
        }
    }
    let line = cap.line("by_ref line");
    if line["self"].is_null() {
        problems.push(format!("by_ref log line lacks span field self: {line}"));
    }
    let line = cap.line("early tail");
    if line["n"] != 1 {
        problems.push(format!("early tail line lacks n: {line}"));
    }
    let line = cap.line("dropped local");
    if line["tag"] != 9 {
        problems.push(format!("local dropped outside the span: {line}"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn panic_location(f: impl FnOnce() + std::panic::UnwindSafe) -> Option<(String, u32)> {
    let _g = HOOK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let hook_seen = std::sync::Arc::clone(&seen);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(loc) = info.location() {
            *hook_seen.lock().unwrap() = Some((loc.file().to_owned(), loc.line()));
        }
    }));
    let r = std::panic::catch_unwind(f);
    std::panic::set_hook(previous);
    assert!(r.is_err());
    seen.lock().unwrap().clone()
}

#[test]
fn panics_report_the_caller() {
    let ((), _cap) = run_sync(|| {
        let here = line!() + 2;
        let twin = panic_location(|| {
            let _ = index_plain(&[1], 5);
        });
        assert_eq!(twin, Some((file!().to_owned(), here)), "plain twin: indexing reports the caller");
        let here = line!() + 2;
        let got = panic_location(|| {
            let _ = index(&[1], 5);
        });
        assert_eq!(got, Some((file!().to_owned(), here)), "indexing");
        let here = line!() + 2;
        let got = panic_location(|| {
            let _ = unwrap_it(Err("x".into()));
        });
        assert_eq!(got, Some((file!().to_owned(), here)), "unwrap");
        let here = line!() + 1;
        let got = panic_location(|| tc_never(None));
        assert_eq!(got, Some((file!().to_owned(), here)), "-> ! with track_caller");
    });
}
