// Other attributes before and after, doc comments, visibility, nesting.
#![deny(deprecated)]
#![allow(dead_code)]
use streamer_obs::instrumented;

/// Doc before.
#[must_use]
#[inline]
#[instrumented]
/// Doc after.
#[allow(clippy::all)]
#[cfg_attr(all(), allow(unused_mut))]
pub(crate) fn attrs(a: u8) -> u8 {
    a
}

#[instrumented]
#[cfg(any())]
fn compiled_out() -> u8 {
    this_does_not_exist()
}

#[cfg(any())]
#[instrumented]
fn compiled_out_before() -> u8 {
    this_does_not_exist()
}

#[allow(deprecated)]
fn use_deprecated() -> u8 {
    old()
}

#[deprecated(note = "use new")]
#[instrumented]
fn old() -> u8 {
    1
}

#[instrumented]
#[doc = "doc as attribute"]
#[cold]
fn docs_attr() -> u8 {
    1
}

mod outer {
    pub(crate) mod inner {
        use streamer_obs::instrumented;

        #[instrumented]
        pub(super) fn sup(a: u8) -> u8 {
            a
        }

        #[instrumented]
        pub(in crate::outer) fn in_path(a: u8) -> u8 {
            a
        }
    }

    pub(crate) fn call() -> u8 {
        inner::sup(1) + inner::in_path(1)
    }
}

fn enclosing() -> u8 {
    #[instrumented]
    fn nested(a: u8) -> u8 {
        a * 2
    }
    #[instrumented]
    async fn nested_async() -> u8 {
        3
    }
    let _ = nested_async();
    nested(2)
}

fn main() {
    let _ = attrs(1);
    assert_eq!(use_deprecated(), 1);
    assert_eq!(outer::call(), 2);
    assert_eq!(enclosing(), 4);
    assert_eq!(docs_attr(), 1);
}
