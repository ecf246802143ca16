#![deny(warnings)]

mod inner {
    #![no_implicit_prelude]

    use ::streamer_obs::instrumented;

    #[instrumented]
    #[track_caller]
    pub fn at(n: u8) -> &'static ::std::panic::Location<'static> {
        let _ = n;
        ::std::panic::Location::caller()
    }

    #[instrumented(annotations(n = n), fields(k = 1))]
    #[track_caller]
    pub fn stop_tc(n: u8) -> ! {
        ::std::panic!("{}", n)
    }

    #[instrumented]
    pub fn stop(n: u8) -> ! {
        ::std::panic!("{}", n)
    }

    #[instrumented]
    pub async fn stop_async(n: u8) -> ! {
        ::std::panic!("{}", n)
    }

    #[derive(Debug)]
    pub struct S;

    impl S {
        #[instrumented]
        #[track_caller]
        pub fn m(&mut self) -> ::std::option::Option<u8> {
            ::std::option::Option::Some(1)
        }
        #[instrumented]
        pub fn stop(&self) -> ! {
            ::std::process::exit(1)
        }
    }
}

fn main() {
    assert_eq!(inner::at(1).line(), line!());
    let _ = inner::S.m();
    if std::env::args().count() > 100 {
        inner::stop_tc(1);
    }
    if std::env::args().count() > 100 {
        inner::stop(1);
    }
    if std::env::args().count() > 100 {
        inner::S.stop();
    }
    drop(inner::stop_async(1));
}
