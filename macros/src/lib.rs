//! Implementation detail of `streamer-obs`: the `#[instrumented]` attribute. Use it
//! through `streamer_obs::instrumented`; the generated code refers to a hidden module of
//! `streamer-obs`, so this crate is useless on its own.
//!
//! The macro is thin: `args` parses the arguments, `item` checks the function,
//! `expand` writes the code; everything that runs at invocation time is a normal, tested
//! function of `streamer-obs` (`HandlerScope`, `FunctionScope`). Errors travel as
//! `syn::Result` and become `compile_error!` once, here.

mod args;
mod expand;
mod item;

use proc_macro2::TokenStream;
use quote::quote;

#[doc = include_str!("../docs/instrumented.md")]
#[proc_macro_attribute]
pub fn instrumented(args: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    // `#[instrumented = "x"]`: rustc reports "key-value macro attributes are not
    // supported" itself (a hard error) and passes the value on as the arguments, which
    // then read as `#[instrumented("x")]`. The item unchanged, so rustc's is the only error.
    if proc_macro::Span::call_site().source_text().is_some_and(|text| is_key_value_form(&text)) {
        return item;
    }
    instrument(args.into(), item.into()).into()
}

/// Whether the source text of an attribute is the key-value form (`#[path = value]`):
/// after its path (`instrumented`, `streamer_obs::instrumented`) comes `=`, not `(` or `]`.
fn is_key_value_form(attribute: &str) -> bool {
    attribute.find(['=', '(', ']']).is_some_and(|at| attribute[at..].starts_with('='))
}

/// The whole attribute on `proc_macro2` tokens (unit-testable).
fn instrument(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse2::<args::Args>(args);
    match item::parse(item.clone()) {
        Ok(f) => match args.and_then(|args| item::plan(&args, &f).map(|plan| (args, plan))) {
            Ok((args, plan)) => expand::expand(&args, &f, &plan),
            // The error plus the function unchanged: one error, not a cascade.
            Err(e) => {
                let error = e.into_compile_error();
                let original = f.original();
                quote!(#error #original)
            }
        },
        Err(mut error) => {
            if let Err(args_error) = args {
                error.combine(args_error);
            }
            let error = error.into_compile_error();
            quote!(#error #item)
        }
    }
}

/// The workspace's reference page for the attribute, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/instrumented.md")]
struct ReferenceDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_form_is_told_from_a_list() {
        assert!(is_key_value_form("#[instrumented = \"x\"]"));
        assert!(is_key_value_form("#[streamer_obs::instrumented= 3]"));
        assert!(!is_key_value_form("#[instrumented(name = \"x\")]"));
        assert!(!is_key_value_form("#[streamer_obs::instrumented]"));
        assert!(!is_key_value_form("#[instrumented(\"x\")]"));
    }

    fn expand(args: TokenStream, item: TokenStream) -> String {
        instrument(args, item).to_string()
    }

    /// Every item expands into a function that parses, and names only the private module.
    #[test]
    fn expansions_parse_and_use_private_paths_only() {
        let cases = [
            (
                quote!(),
                quote!(
                    async fn h(event: LambdaEvent<V>) -> Result<V, E> {
                        Ok(event.payload)
                    }
                ),
            ),
            (
                quote!(name = "N", log_event = true, latency_metric = false, deadline_margin_ms = 5),
                quote!(
                    pub(crate) async fn h<T: Debug>(mut event: LambdaEvent<T>, n: u8) -> Result<T, E>
                    where
                        T: Clone,
                    {
                        Ok(event.payload)
                    }
                ),
            ),
            (
                quote!(ctx = c, annotations(a = 1), metadata(m = 2), fields(f = %3)),
                quote!(
                    async fn h(c: &Context) -> Result<(), E> {
                        Ok(())
                    }
                ),
            ),
            (
                quote!(skip_all),
                quote!(
                    fn f(&self, (a, b): (u8, u8)) -> Result<impl Display, E> {
                        Ok(a + b)
                    }
                ),
            ),
            (
                quote!(annotations(k = v)),
                quote!(
                    fn f(v: u8) -> u8 {
                        v
                    }
                ),
            ),
            (
                quote!(capture_error = false),
                quote!(
                    async fn f() -> Result<(), E> {
                        Ok(())
                    }
                ),
            ),
            (
                quote!(),
                quote!(
                    fn f(code: i32) -> ! {
                        std::process::exit(code)
                    }
                ),
            ),
            (
                quote!(capture_error = false),
                quote!(
                    #[track_caller]
                    fn f(v: Option<u8>) -> Result<u8, E> {
                        Ok(v.unwrap())
                    }
                ),
            ),
            (
                quote!(),
                quote!(
                    #[doc = "d"]
                    fn f() {
                        #![allow(unused)]
                        let x = 1;
                    }
                ),
            ),
        ];
        for (args, item) in cases {
            let out = instrument(args, item.clone());
            let f: syn::ItemFn = syn::parse2(out.clone()).unwrap_or_else(|e| panic!("{e}: {out}"));
            let text = out.to_string();
            assert!(!text.contains("compile_error"), "{text}");
            for (i, _) in text.match_indices("streamer_obs") {
                assert!(text[..i].ends_with(":: "), "a path not under `::streamer_obs`: {text}");
            }
            let original: syn::ItemFn = syn::parse2(item).unwrap_or_else(|e| panic!("{e}"));
            let outer = |f: &syn::ItemFn| {
                let attrs = f.attrs.iter().filter(|a| matches!(a.style, syn::AttrStyle::Outer));
                quote!(#(#attrs)*).to_string()
            };
            assert_eq!(outer(&f), outer(&original), "outer attributes are untouched");
            // Compared as tokens: `PartialEq` on syn types needs syn's `extra-traits`.
            let tokens = |t: &dyn quote::ToTokens| t.to_token_stream().to_string();
            assert_eq!(tokens(&f.sig), tokens(&original.sig), "the signature is untouched");
            assert_eq!(tokens(&f.vis), tokens(&original.vis));
        }
    }

    #[test]
    fn errors_keep_the_function_unchanged() {
        let item = quote!(
            pub async fn h(event: LambdaEvent<V>) -> Result<V, E> {
                Ok(event.payload)
            }
        );
        let out = expand(quote!(nmae = "x"), item.clone());
        assert!(out.starts_with(":: core :: compile_error !"), "{out}");
        assert!(out.ends_with(&item.to_string()), "{out}");
        let out = expand(
            quote!(),
            quote!(
                const fn f() -> u8 {
                    1
                }
            ),
        );
        assert!(out.contains("compile_error") && out.ends_with("const fn f () -> u8 { 1 }"), "{out}");
        let out = expand(
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert!(out.contains("can only be applied to a function") && out.ends_with("struct S ;"), "{out}");
    }

    #[test]
    fn a_body_that_does_not_parse_still_expands_around_its_tokens() {
        let out = expand(quote!(), quote!(async fn f() -> u8 { let x = ; 1 }));
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("let x = ; 1"), "{out}");
        assert!(out.contains("run_plain"), "{out}");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = [
            ("", ""),
            ("", "fn"),
            ("(", "fn f() {}"),
            ("name", "fn f() {}"),
            ("name =", "fn f() {}"),
            ("skip(", "fn f() {}"),
            ("skip(1)", "fn f() {}"),
            ("annotations = 1", "fn f() {}"),
            ("annotations(=)", "fn f() {}"),
            ("fields(a.)", "fn f() {}"),
            (",,", "fn f() {}"),
            ("ctx = ", "async fn f() -> Result<(), E> {}"),
            ("deadline_margin_ms = 99999999999999999999999", "fn f() {}"),
            ("", "fn f(self: Box<Self>) {}"),
            ("", "async fn f(_: LambdaEvent) -> Result {}"),
            ("", "impl X { fn f() {} }"),
            ("", "fn f() -> impl Fn() -> impl Display { || 1 }"),
            ("", "extern \"C\" { fn f(); }"),
        ];
        for (args, item) in odd {
            let args: TokenStream = args.parse().unwrap_or_default();
            let item: TokenStream = item.parse().unwrap_or_default();
            let _ = instrument(args, item);
        }
    }
}
