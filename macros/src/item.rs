//! The item under the attribute: parsed precisely when possible, else speculatively with
//! the body kept as raw tokens (so a body being edited still expands and rustc reports
//! the real syntax error), then checked against the arguments.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned as _;
use syn::{Attribute, FnArg, Ident, Pat, ReturnType, Signature, Type, Visibility};

use crate::args::{Args, Errors};

/// A function with its body as tokens (a parsed block, or the raw braces).
pub(crate) struct InstrumentedFn {
    pub(crate) outer_attrs: Vec<Attribute>,
    /// `#![...]` attributes at the start of the body: they stay at the top of the
    /// generated body, not inside the moved block.
    pub(crate) inner_attrs: TokenStream,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// `{ ... }` without the inner attributes.
    pub(crate) body: TokenStream,
}

impl InstrumentedFn {
    /// The function exactly as the user wrote it.
    pub(crate) fn original(&self) -> TokenStream {
        let Self { outer_attrs, inner_attrs, vis, sig, body } = self;
        let stmts = match body.clone().into_iter().next() {
            Some(TokenTree::Group(g)) => g.stream(),
            _ => TokenStream::new(),
        };
        quote!(#(#outer_attrs)* #vis #sig { #inner_attrs #stmts })
    }
}

/// `attrs vis sig { raw tokens }`: the fallback when the body does not parse.
struct MaybeItemFn(InstrumentedFn);

impl Parse for MaybeItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        if input.peek(syn::Token![;]) {
            return Err(input.error("`#[instrumented]` needs a function with a body"));
        }
        let group: Group = input.parse()?;
        if group.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(group.span(), "expected the function body `{ ... }`"));
        }
        let (inner_attrs, rest) = split_inner_attrs(group.stream());
        let mut body = Group::new(Delimiter::Brace, rest);
        body.set_span(group.span());
        Ok(Self(InstrumentedFn { outer_attrs, inner_attrs, vis, sig, body: TokenTree::Group(body).into() }))
    }
}

/// Splits leading `#![...]` attributes off raw body tokens.
fn split_inner_attrs(tokens: TokenStream) -> (TokenStream, TokenStream) {
    let tts: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while let [TokenTree::Punct(hash), TokenTree::Punct(bang), TokenTree::Group(g), ..] = &tts[i..] {
        if hash.as_char() == '#' && bang.as_char() == '!' && g.delimiter() == Delimiter::Bracket {
            i += 3;
        } else {
            break;
        }
    }
    (tts[..i].iter().cloned().collect(), tts[i..].iter().cloned().collect())
}

/// Parses the item: an `ItemFn`, else a function whose body does not parse, else an error
/// saying what it is instead.
pub(crate) fn parse(tokens: TokenStream) -> Result<InstrumentedFn, syn::Error> {
    match syn::parse2::<syn::ItemFn>(tokens.clone()) {
        Ok(f) => {
            let (inner, outer): (Vec<_>, Vec<_>) =
                f.attrs.into_iter().partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
            Ok(InstrumentedFn {
                outer_attrs: outer,
                inner_attrs: quote!(#(#inner)*),
                vis: f.vis,
                sig: f.sig,
                body: f.block.into_token_stream(),
            })
        }
        Err(precise) => match syn::parse2::<MaybeItemFn>(tokens.clone()) {
            Ok(MaybeItemFn(f)) => Ok(f),
            Err(speculative) if speculative.to_string().contains("needs a function with a body") => Err(speculative),
            Err(_) => match syn::parse2::<syn::Item>(tokens) {
                Ok(item) => Err(not_a_function(&item)),
                Err(_) => Err(precise),
            },
        },
    }
}

fn not_a_function(item: &syn::Item) -> syn::Error {
    const MSG: &str = "`#[instrumented]` can only be applied to a function (`fn` or `async fn`)";
    let span = match item {
        syn::Item::Struct(i) => i.struct_token.span,
        syn::Item::Enum(i) => i.enum_token.span,
        syn::Item::Union(i) => i.union_token.span,
        syn::Item::Const(i) => i.const_token.span,
        syn::Item::Static(i) => i.static_token.span,
        syn::Item::Trait(i) => i.trait_token.span,
        syn::Item::Impl(i) => i.impl_token.span,
        syn::Item::Mod(i) => i.mod_token.span,
        syn::Item::Type(i) => i.type_token.span,
        syn::Item::Use(i) => i.use_token.span,
        syn::Item::Fn(i) => i.sig.fn_token.span,
        other => other.span(),
    };
    syn::Error::new(span, MSG)
}

/// A parameter recorded as a span field.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    /// Recorded by value (`tracing::Value` primitives and strings), else with `?` (Debug).
    pub(crate) by_value: bool,
}

/// What the function is, decided from its signature and the arguments.
pub(crate) enum Kind {
    /// The full invocation lifecycle.
    Handler {
        /// Where the `Context` is (an expression used as `&(...)`).
        ctx: TokenStream,
        /// The `LambdaEvent` parameter, when bound to a name (for `log_event`).
        event: Option<Ident>,
    },
    /// A child scope.
    Function,
}

/// Everything the expansion needs to know about the item.
pub(crate) struct Plan {
    pub(crate) kind: Kind,
    pub(crate) name: syn::LitStr,
    pub(crate) params: Vec<Param>,
    /// Every binding of the parameters (but `#[cfg]`-gated ones and `_x`), each mentioned
    /// whole at the start of the moved body: the body's block or closure then captures the
    /// whole parameter, as the function did, not its fields one by one (a field assigned
    /// before it is read would be a "value captured ... never read" warning).
    pub(crate) captures: Vec<Ident>,
    /// The declared return type with `impl Trait` erased to `_` (usable as a type argument).
    pub(crate) ret: Type,
    /// The declared return type's span (the function name when there is none).
    pub(crate) ret_span: proc_macro2::Span,
    pub(crate) returns_result: bool,
    /// The function returns `!`: the generated code names `__private::Never` instead (`!`
    /// is not a type argument on stable Rust) and matches the empty result away.
    pub(crate) never: bool,
    /// A sync function with `#[track_caller]`: its body runs in place, not in a closure
    /// (a closure cannot track the caller on stable Rust), so `Location::caller()` and the
    /// panics of its body still report the function's caller.
    pub(crate) in_place: bool,
    /// A handler's parameter that its `ctx` reads and whose type is named `Request` (a
    /// `lambda_http` request, taken by value): it gives the HTTP view of the invocation
    /// (feature `http` of `streamer-obs`; a no-op for other types).
    pub(crate) http_request: Option<Ident>,
}

/// The last path segment of a type (through references, parentheses and groups).
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Reference(r) => last_segment(&r.elem),
        Type::Paren(p) => last_segment(&p.elem),
        Type::Group(g) => last_segment(&g.elem),
        _ => None,
    }
}

/// The never type `!` (through parentheses and groups).
fn is_never(ty: &Type) -> bool {
    match ty {
        Type::Never(_) => true,
        Type::Paren(p) => is_never(&p.elem),
        Type::Group(g) => is_never(&g.elem),
        _ => false,
    }
}

/// A `LambdaEvent<..>` taken by value or by reference (never recorded as a field).
fn holds_lambda_event(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => holds_lambda_event(&r.elem),
        Type::Paren(p) => holds_lambda_event(&p.elem),
        Type::Group(g) => holds_lambda_event(&g.elem),
        ty => is_lambda_event(ty),
    }
}

/// A `LambdaEvent<..>` taken by value (a helper taking `&LambdaEvent<T>` is not a handler).
fn is_lambda_event(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| s.ident == "LambdaEvent"),
        Type::Paren(p) => is_lambda_event(&p.elem),
        Type::Group(g) => is_lambda_event(&g.elem),
        _ => false,
    }
}

fn is_result(ret: &ReturnType) -> bool {
    match ret {
        ReturnType::Type(_, ty) => is_result_type(ty),
        ReturnType::Default => false,
    }
}

/// A `Result<..>` by its name (through parentheses and the invisible group of a
/// `macro_rules!` `$ret:ty` fragment).
fn is_result_type(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Paren(p) => is_result_type(&p.elem),
        Type::Group(g) => is_result_type(&g.elem),
        _ => false,
    }
}

/// Types `tracing` records as values (the rest is recorded with `Debug`).
fn records_by_value(ty: &Type) -> bool {
    const VALUES: &[&str] = &[
        "bool", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "f32", "f64",
        "str", "String",
    ];
    last_segment(ty).is_some_and(|s| s.arguments.is_none() && VALUES.iter().any(|v| s.ident == v))
}

/// Collects the identifiers a pattern binds (destructured parameters record each binding).
fn bindings(pat: &Pat, ty: Option<&Type>, out: &mut Vec<Param>) {
    match pat {
        Pat::Ident(p) => {
            out.push(Param { ident: p.ident.clone(), by_value: ty.is_some_and(records_by_value) });
            if let Some((_, sub)) = &p.subpat {
                bindings(sub, None, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| bindings(p, None, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| bindings(p, None, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| bindings(&f.pat, None, out)),
        Pat::Reference(r) => bindings(&r.pat, None, out),
        Pat::Paren(p) => bindings(&p.pat, ty, out),
        Pat::Slice(s) => s.elems.iter().for_each(|p| bindings(p, None, out)),
        Pat::Type(t) => bindings(&t.pat, Some(&t.ty), out),
        _ => {}
    }
}

/// The identifiers named anywhere in the expressions of the arguments (`annotations`,
/// `metadata`, `fields`, `ctx`).
fn argument_idents(args: &Args) -> Vec<String> {
    let mut out = Vec::new();
    let key_values = args.annotations.iter().chain(&args.metadata).flat_map(|a| &a.value).map(|kv| &kv.value);
    let fields = args.fields.iter().flat_map(|f| &f.value).map(|f| &f.value);
    for expr in key_values.chain(fields).chain(args.ctx.as_ref().map(|c| &c.value)) {
        idents_in(expr.to_token_stream(), &mut out);
    }
    out
}

/// The identifiers in `tokens`, at any depth.
fn idents_in(tokens: proc_macro2::TokenStream, out: &mut Vec<String>) {
    for t in tokens {
        match t {
            proc_macro2::TokenTree::Ident(i) => out.push(i.unraw().to_string()),
            proc_macro2::TokenTree::Group(g) => idents_in(g.stream(), out),
            _ => {}
        }
    }
}

/// Replaces `impl Trait` with `_`, so the return type can be a type argument.
struct EraseImplTrait;

impl syn::visit_mut::VisitMut for EraseImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(it) = ty {
            *ty = Type::Infer(syn::TypeInfer { underscore_token: syn::Token![_](it.impl_token.span) });
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

/// Checks the item against the arguments and decides what to generate. Every problem is
/// reported, each on the user's token.
pub(crate) fn plan(args: &Args, f: &InstrumentedFn) -> syn::Result<Plan> {
    let mut errors = Errors::default();
    let sig = &f.sig;
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(c.span, "`#[instrumented]` may not be used on a `const fn`"));
    }

    // The handler: the first non-receiver parameter typed `LambdaEvent<..>`, or `ctx = ...`.
    let first = sig.inputs.iter().find_map(|a| match a {
        FnArg::Typed(t) => Some(t),
        FnArg::Receiver(_) => None,
    });
    let event_param = first.filter(|t| is_lambda_event(&t.ty));
    let event_ident = event_param.and_then(|t| match &*t.pat {
        Pat::Ident(p) if p.subpat.is_none() => Some(p.ident.clone()),
        _ => None,
    });
    let kind = match (&args.ctx, event_param) {
        (Some(ctx), _) => {
            let expr = &ctx.value;
            // Spanned on the expression: a value of another type is reported there.
            Some(Kind::Handler { ctx: quote_spanned!(expr.span()=> &(#expr)), event: event_ident.clone() })
        }
        (None, Some(param)) => match &event_ident {
            Some(ident) => Some(Kind::Handler { ctx: quote!(&#ident.context), event: Some(ident.clone()) }),
            None => {
                errors.push(syn::Error::new(
                    param.pat.span(),
                    "bind the `LambdaEvent` parameter to a name (`event: LambdaEvent<T>`), or say where the \
                     `Context` is with `ctx = ...`",
                ));
                None
            }
        },
        (None, None) => Some(Kind::Function),
    };

    // A parameter the `ctx` expression reads (`ctx = ctx`, `ctx = request.context`,
    // `ctx = streamer_obs::http::lambda_context(&request)`) holds the invocation, not a
    // value of the handler's own: not recorded (a whole request's `Debug` on every line).
    let mut ctx_names = Vec::new();
    if let Some(c) = &args.ctx {
        idents_in(c.value.to_token_stream(), &mut ctx_names);
    }
    // Of those, a by-value parameter typed `…Request`: a `lambda_http` handler's request.
    let http_request = match &kind {
        Some(Kind::Handler { event: None, .. }) => sig.inputs.iter().find_map(|a| match a {
            FnArg::Typed(t) => match (&*t.pat, &*t.ty) {
                (Pat::Ident(p), Type::Path(_))
                    if p.subpat.is_none()
                        && ctx_names.contains(&p.ident.unraw().to_string())
                        && last_segment(&t.ty).is_some_and(|s| s.ident == "Request") =>
                {
                    Some(p.ident.clone())
                }
                _ => None,
            },
            FnArg::Receiver(_) => None,
        }),
        _ => None,
    };

    match &kind {
        Some(Kind::Handler { event, .. }) => {
            if sig.asyncness.is_none() {
                errors.push(syn::Error::new(
                    sig.fn_token.span,
                    "`#[instrumented]` on a Lambda handler requires an `async fn`",
                ));
            }
            if !is_result(&sig.output) {
                let span = match &sig.output {
                    ReturnType::Type(_, ty) => ty.span(),
                    ReturnType::Default => sig.paren_token.span.close(),
                };
                errors.push(syn::Error::new(span, "a Lambda handler must return a `Result<_, _>`"));
            }
            if let (Some(log), None, None) = (&args.log_event, event, &http_request) {
                errors.push(syn::Error::new(
                    log.span,
                    "`log_event` needs the `LambdaEvent` as the first parameter, bound to a name (or a \
                     `lambda_http` `Request` that `ctx` reads)",
                ));
            }
        }
        Some(Kind::Function) => {
            if let Some(attr) = f.outer_attrs.iter().find(|a| a.path().is_ident("track_caller"))
                && sig.asyncness.is_none()
                && is_result(&sig.output)
                && args.capture_error.as_ref().is_none_or(|c| c.value.value)
            {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "`#[track_caller]` with `#[instrumented]` needs `capture_error = false` on a function \
                     returning `Result`: the `Err` is captured through a closure, which cannot track the caller \
                     on stable Rust; with `capture_error = false` the body runs in place (the caller tracked, \
                     the span and subsegment kept, the `Err` not recorded)",
                ));
            }
            for (span, name) in args.handler_only() {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "`{name}` only applies to a Lambda handler, and this is a handler without a `LambdaEvent` \
                         and no `ctx`: take `LambdaEvent<T>` as the first parameter, or give `ctx = <expr>`"
                    ),
                ));
            }
        }
        None => {}
    }

    // Parameters recorded as fields; the event is never one (`log_event` logs it, redacted),
    // but skipping it is not an error.
    let mut all = Vec::new();
    let mut event_bindings = Vec::new();
    let mut gated_bindings = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => all.push(Param { ident: Ident::new("self", r.self_token.span), by_value: false }),
            // Any `LambdaEvent` (by value or by reference, first or not): never a field.
            FnArg::Typed(t) if event_param.is_some_and(|e| std::ptr::eq(e, t)) || holds_lambda_event(&t.ty) => {
                bindings(&t.pat, Some(&t.ty), &mut event_bindings);
            }
            // Removed by `#[cfg(...)]` (or another attribute that may remove or rename it):
            // not recorded, as the binding may not exist.
            FnArg::Typed(t) if !t.attrs.is_empty() => bindings(&t.pat, Some(&t.ty), &mut gated_bindings),
            FnArg::Typed(t) => bindings(&t.pat, Some(&t.ty), &mut all),
        }
    }
    let known = |name: &Ident| {
        all.iter().chain(&event_bindings).chain(&gated_bindings).any(|p| p.ident.unraw() == name.unraw())
    };
    // A parameter the arguments name (`annotations(k = ctx.request_id)` may move a field
    // out of it before the body runs) is left as the body uses it.
    let in_arguments = argument_idents(args);
    let captures: Vec<Ident> = all
        .iter()
        .chain(&event_bindings)
        .map(|p| p.ident.clone())
        .filter(|i| !i.unraw().to_string().starts_with('_') && !in_arguments.contains(&i.unraw().to_string()))
        .collect();
    if let Some(skip) = &args.skip {
        for name in &skip.value {
            if !known(name) {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("attempting to skip non-existent parameter `{}`", name.unraw()),
                ));
            }
        }
    }
    let custom: Vec<String> =
        args.fields.as_ref().map(|f| f.value.iter().map(|f| f.name()).collect()).unwrap_or_default();
    let params = if args.skip_all.is_some() {
        Vec::new()
    } else {
        all.into_iter()
            .filter(|p| args.skip.as_ref().is_none_or(|s| s.value.iter().all(|n| n.unraw() != p.ident.unraw())))
            .filter(|p| !ctx_names.contains(&p.ident.unraw().to_string()))
            .filter(|p| !custom.contains(&p.ident.unraw().to_string()))
            // A binding named `_x` says it is unused: not recorded (reading it would trip
            // `clippy::used_underscore_binding` in the user's crate).
            .filter(|p| !p.ident.unraw().to_string().starts_with('_'))
            .collect()
    };

    errors.finish()?;
    let kind = kind.unwrap_or(Kind::Function);

    let name = match &args.name {
        Some(n) => n.value.clone(),
        None => syn::LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span()),
    };
    let never = matches!(&sig.output, ReturnType::Type(_, ty) if is_never(ty));
    let in_place = matches!(kind, Kind::Function)
        && sig.asyncness.is_none()
        && f.outer_attrs.iter().any(|a| a.path().is_ident("track_caller"));
    let mut ret = match &sig.output {
        ReturnType::Type(_, _) if never => syn::parse_quote!(::streamer_obs::__private::Never),
        ReturnType::Type(_, ty) => (**ty).clone(),
        ReturnType::Default => syn::parse_quote!(()),
    };
    syn::visit_mut::VisitMut::visit_type_mut(&mut EraseImplTrait, &mut ret);
    let ret_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.ident.span(),
    };
    let returns_result = is_result(&sig.output);
    Ok(Plan { kind, name, params, captures, ret, ret_span, returns_result, never, in_place, http_request })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(args: &str, item: &str) -> syn::Result<Plan> {
        let args: Args = syn::parse_str(args)?;
        let f = parse(item.parse().map_err(|e| syn::Error::new(proc_macro2::Span::call_site(), format!("{e}")))?)?;
        plan(&args, &f)
    }

    #[test]
    fn handler_detection() {
        let p = plan_of("", "async fn h(event: lambda_runtime::LambdaEvent<V>, n: u8) -> Result<(), E> {}").unwrap();
        assert!(matches!(p.kind, Kind::Handler { event: Some(_), .. }));
        assert_eq!(p.params.len(), 1);
        assert!(p.params[0].by_value);
        let p = plan_of("ctx = c", "async fn h(c: &Context, s: String) -> Result<(), E> {}").unwrap();
        assert!(matches!(p.kind, Kind::Handler { event: None, .. }));
        assert_eq!(p.params.iter().map(|p| p.ident.to_string()).collect::<Vec<_>>(), ["s"]);
        let p = plan_of(
            "ctx = streamer_obs::http::lambda_context(&request)",
            "async fn h(request: Request, n: u8) -> Result<(), E> {}",
        )
        .unwrap();
        assert_eq!(p.params.iter().map(|p| p.ident.to_string()).collect::<Vec<_>>(), ["n"], "read by `ctx`");
        let p = plan_of("ctx = r#request.context", "async fn h(request: Routed, n: u8) -> Result<(), E> {}").unwrap();
        assert_eq!(p.params.iter().map(|p| p.ident.to_string()).collect::<Vec<_>>(), ["n"]);
        let p = plan_of("", "fn helper(event: &LambdaEvent<V>) -> u8 { 0 }").unwrap();
        assert!(matches!(p.kind, Kind::Function), "a reference to an event is not a handler");
        let p = plan_of("", "fn f(&self, (a, b): (u8, u8)) -> usize { 0 }").unwrap();
        assert!(matches!(p.kind, Kind::Function));
        assert_eq!(p.params.iter().map(|p| p.ident.to_string()).collect::<Vec<_>>(), ["self", "a", "b"]);
        assert!(!p.returns_result);
    }

    #[test]
    fn erases_impl_trait() {
        let p = plan_of("", "fn f() -> Result<impl Iterator<Item = u8>, E> { todo() }").unwrap();
        assert_eq!(p.ret.to_token_stream().to_string(), "Result < _ , E >");
        assert!(p.returns_result);
    }

    #[test]
    fn item_errors() {
        let e = |a: &str, i: &str| plan_of(a, i).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e("", "const fn f() {}").contains("const fn"));
        assert!(e("", "fn h(e: LambdaEvent<V>) -> Result<(), E> {}").contains("requires an `async fn`"));
        assert!(e("", "async fn h(e: LambdaEvent<V>) -> u8 {}").contains("must return a `Result"));
        assert!(e("", "async fn h(_: LambdaEvent<V>) -> Result<(), E> {}").contains("bind the `LambdaEvent`"));
        assert!(e("skip(x)", "fn f(a: u8) {}").contains("non-existent parameter `x`"));
        assert!(e("log_event = true", "fn f(a: u8) {}").contains("only applies to a Lambda handler"));
        assert!(e("", "struct S;").contains("can only be applied to a function"));
        assert!(e("", "fn f();").contains("needs a function with a body"));
    }

    #[test]
    fn raw_body_fallback_keeps_tokens() {
        let f = parse("fn f() { #![allow(unused)] let x = ; }".parse().unwrap()).unwrap();
        assert_eq!(f.inner_attrs.to_string().replace(' ', ""), "#![allow(unused)]");
        assert_eq!(f.body.to_string(), "{ let x = ; }");
    }
}
