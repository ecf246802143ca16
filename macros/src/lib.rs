//! Implementation detail of [`streamer-obs`]: the `#[instrumented]` attribute. Use it
//! through `streamer_obs::instrumented`; the generated code refers to a hidden module of
//! `streamer-obs`, so this crate is useless on its own.
//!
//! The macro is thin: `args` parses the arguments, `item` checks the function,
//! `expand` writes the code; everything that runs at invocation time is a normal, tested
//! function of `streamer-obs` (`HandlerScope`, `FunctionScope`).
//!
//! [`streamer-obs`]: https://docs.rs/streamer-obs

mod args;
mod expand;
mod item;

use proc_macro::TokenStream;

#[doc = include_str!("../docs/instrumented.md")]
#[proc_macro_attribute]
pub fn instrumented(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let args = syn::parse::<args::Args>(args);
    match item::parse(item.clone()) {
        Ok(f) => {
            let plan = args.and_then(|args| item::plan(&args, &f).map(|plan| (args, plan)));
            match plan {
                Ok((args, plan)) => expand::expand(&args, &f, &plan).into(),
                // The error plus the function unchanged: one error, not a cascade.
                Err(e) => {
                    let original = f.original();
                    let error = e.into_compile_error();
                    quote::quote!(#error #original).into()
                }
            }
        }
        Err(e) => {
            let mut error = e;
            if let Err(args_error) = args {
                error.combine(args_error);
            }
            let error = error.into_compile_error();
            quote::quote!(#error #item).into()
        }
    }
}

/// The workspace's reference page for the attribute, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/instrumented.md")]
struct ReferenceDoctests;
