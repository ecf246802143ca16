//! Code generation. The output is the user's function with its attributes, visibility,
//! signature and body tokens untouched; the body moves verbatim into an `async move`
//! block (async) or a `move` closure (sync), handed to `HandlerScope` / `FunctionScope`.
//! Generated code names only `::streamer_obs::__private::...` and `__obs_` locals, which
//! are hygienic (`Span::mixed_site`): invisible to the user's body and arguments.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

use crate::args::{Args, LatencyMetric};
use crate::item::{InstrumentedFn, Kind, Plan};

const PRIVATE: &str = "::streamer_obs::__private";

/// The instrumented function.
pub(crate) fn expand(args: &Args, f: &InstrumentedFn, plan: &Plan) -> TokenStream {
    let InstrumentedFn { outer_attrs, inner_attrs, vis, sig, body } = f;
    let private: TokenStream = PRIVATE.parse().unwrap_or_default();
    // The expansion's locals are hygienic (`Span::mixed_site`, as `macro_rules!` locals):
    // the user's body and arguments can neither see nor be shadowed by them.
    let local = |name: &str| syn::Ident::new(name, proc_macro2::Span::mixed_site());
    let (obs_span, obs_scope, obs_body, obs_pending) =
        (local("__obs_span"), local("__obs_scope"), local("__obs_body"), local("__obs_pending"));
    let (obs_e, obs_r, obs_fake_return) = (local("__obs_e"), local("__obs_r"), local("__obs_fake_return"));
    let obs_http = local("__obs_http");
    let name = &plan.name;
    let ret = &plan.ret;

    // tracing-attributes' "fake return edge": an unreachable `return` of the declared type,
    // first in the async block, so rustc infers the block's output from the signature
    // before it sees the body, and reports a mismatch on the user's tokens.
    let ret_span = plan.ret_span;
    // The body's statements, without the user's braces (the moved block has its own: a
    // block fragment of a `macro_rules!` kept in braces would be `unused_braces`), after
    // each parameter mentioned whole (see `Plan::captures`).
    let stmts = body_statements(body);
    let captures: Vec<TokenStream> = plan.captures.iter().map(|ident| quote!(let _ = &#ident;)).collect();
    let moved = quote!(#(#captures)* #stmts);
    // A body that starts with an item (`use`, `fn`, `const`) keeps it first in a block of
    // its own: after the generated statements below it would be reported by
    // `clippy::items_after_statements` on the user's item.
    let body_in_block = if starts_with_item(&stmts) { quote!({ #stmts }) } else { stmts.clone() };
    let moved_async = quote!(#(#captures)* #body_in_block);
    let async_body = quote_spanned! {ret_span=>
        async move {
            #[allow(
                unknown_lints,
                unreachable_code,
                clippy::diverging_sub_expression,
                clippy::empty_loop,
                clippy::let_unit_value,
                clippy::let_with_type_underscore,
                clippy::needless_return,
                clippy::unreachable
            )]
            if false {
                let #obs_fake_return: #ret = loop {};
                return #obs_fake_return;
            }
            #moved_async
        }
    };

    // The span: `fields(...)` first, then the recorded parameters.
    let mut span_fields: Vec<TokenStream> = Vec::new();
    if let Some(fields) = &args.fields {
        for field in &fields.value {
            let (key, sigil, value) = (&field.key, &field.sigil, &field.value);
            span_fields.push(quote!(#key = #sigil #value));
        }
    }
    // A parameter recorded with `Debug` is wrapped once, before the span macro (which may
    // use a field's expression more than once): one bound check, spanned on the parameter,
    // so "`T` doesn't implement `Debug`" is one error pointing at it.
    let mut debug_views: Vec<TokenStream> = Vec::new();
    for (n, p) in plan.params.iter().enumerate() {
        let ident = &p.ident;
        span_fields.push(if p.by_value {
            quote_spanned!(ident.span()=> #ident = #ident)
        } else {
            let view = local(&format!("__obs_field_{n}"));
            // The path with the parameter's span (`#private` has the attribute's): the unmet
            // bound is then reported on the parameter alone.
            let private = private_at(ident.span());
            debug_views.push(quote_spanned!(ident.span()=> let #view = #private::debug_field(&#ident);));
            quote_spanned!(ident.span()=> #ident = #view)
        });
    }
    let span = quote!({
        #(#debug_views)*
        #private::tracing::info_span!(#name #(, #span_fields)*)
    });

    // All annotations in one call (one lock); keys were checked against the X-Ray rule here.
    let entries: Vec<TokenStream> = args
        .annotations
        .iter()
        .flat_map(|a| &a.value)
        .map(|kv| {
            let key = syn::LitStr::new(&kv.key.name, kv.key.span);
            let value = &kv.value;
            let arg = quote_spanned!(value.span()=> #private::annotation_arg(#value));
            quote!((#key, #arg))
        })
        .collect();
    // A handler's annotations go in as its subsegment opens (`PendingHandlerScope::open`:
    // one lock for both); a function's right after.
    let annotations = (!entries.is_empty() && !matches!(plan.kind, Kind::Handler { .. }))
        .then(|| quote!(#obs_scope.annotate_all([#(#entries),*]);));
    let metadata = args.metadata.iter().flat_map(|a| &a.value).map(|kv| {
        let key = syn::LitStr::new(&kv.key.name, kv.key.span);
        let value = &kv.value;
        // Spanned on the value: a value that is not `Serialize` is reported there.
        quote_spanned!(value.span()=> #obs_scope.metadata(#key, &(#value));)
    });
    let recorders: Vec<TokenStream> = annotations.into_iter().chain(metadata).collect();

    // Autoref specialisation: `(&&Wrap(x)).method()` picks the most specific trait in scope
    // (only one is used per call site, hence the `allow`). Imported `as _` inside blocks that
    // do not contain the user's body: no name reaches the user's scope.
    let error_views = quote! {
        #[allow(unused_imports)]
        use #private::{ViaBoxError as _, ViaDebug as _, ViaError as _, ViaKind as _, ViaNoKind as _};
    };
    let json_views = quote! {
        #[allow(unused_imports)]
        use #private::{ViaHttpJson as _, ViaNoSerialize as _, ViaSerialize as _};
    };
    let view_error = quote!(|#obs_e| {
        (&&#private::Wrap(#obs_e)).__obs_error_view().with_kind((&&#private::Wrap(#obs_e)).__obs_error_kind())
    });
    let capture_error = args.capture_error.as_ref().is_none_or(|c| c.value.value);

    let generated = match &plan.kind {
        Kind::Handler { ctx, event } => {
            // How the handler's crate handles panics (`cfg!` is read where the expansion
            // is compiled): when they abort, the lifecycle's panic hook records them.
            let mut options = quote!(#private::HandlerOptions::new(#name).panic_aborts(::core::cfg!(panic = "abort")));
            let mut flag = |arg: &Option<crate::args::Arg<syn::LitBool>>, method: &str| {
                if let Some(a) = arg {
                    let method = syn::Ident::new(method, a.span);
                    let value = &a.value;
                    options.extend(quote!(.#method(#value)));
                }
            };
            flag(&args.capture_response, "capture_response");
            flag(&args.capture_error, "capture_error");
            flag(&args.log_event, "log_event");
            flag(&args.cold_start_metric, "cold_start_metric");
            flag(&args.raise_on_empty_metrics, "raise_on_empty_metrics");
            match args.latency_metric.as_ref().map(|a| &a.value) {
                Some(LatencyMetric::Name(lit)) => options.extend(quote!(.latency_metric(#lit))),
                Some(LatencyMetric::Off) => options.extend(quote!(.without_latency_metric())),
                None => {}
            }
            if let Some(ms) = &args.deadline_margin_ms {
                let ms = &ms.value;
                options.extend(quote!(.deadline_margin(::std::time::Duration::from_millis(#ms))));
            }
            // A span with fields runs the user's code (`fields(...)`, a parameter's `Debug`):
            // built under the lifecycle's guard, as the annotations are.
            let new_scope = if !span_fields.is_empty() {
                let open =
                    if entries.is_empty() { quote!(.open([])) } else { quote!(.open_guarded(|| [#(#entries),*])) };
                quote!({
                    let #obs_pending = #private::HandlerScope::prepare(#options, #ctx, #private::tracing::Span::none());
                    #obs_pending.with_span_guarded(|| #span)#open
                })
            } else if entries.is_empty() {
                quote!(#private::HandlerScope::new(#options, #ctx, #obs_span))
            } else {
                // The annotations are evaluated once `ctx` is no longer borrowed (one may
                // move a field out of it), after the start time is read, before the
                // subsegment opens, under `catch_unwind` (a panic takes the lifecycle's
                // panic path).
                quote!({
                    let #obs_pending = #private::HandlerScope::prepare(#options, #ctx, #obs_span);
                    #obs_pending.open_guarded(|| [#(#entries),*])
                })
            };
            // Before the body moves the event.
            let log_event = event.as_ref().map(|event| {
                // A statement (not a bare block) for the lint attribute: the payload is read
                // even when the binding says it is unused (`_event`).
                quote! {
                    #[allow(clippy::used_underscore_binding, clippy::let_unit_value)]
                    let () = {
                        #json_views
                        #obs_scope.log_event(|| (&&#private::Wrap(&#event.payload)).__obs_to_json());
                    };
                }
            });
            // A `lambda_http` request that `ctx` reads (feature `http` of `streamer-obs`; a
            // no-op for another type named `Request`): the request half of the `http`
            // block and `log_event` now, before the body moves it; the response half when
            // the body has returned.
            let (http_request, body) = match &plan.http_request {
                Some(request) => (
                    quote! {
                        let #obs_http = {
                            #[allow(unused_imports)]
                            use #private::{ViaHttpRequest as _, ViaNoHttpRequest as _};
                            (&&#private::Wrap(&#request)).__obs_http_request(&#obs_scope)
                        };
                    },
                    quote! {
                        async move {
                            let #obs_r = #async_body.await;
                            {
                                #[allow(unused_imports)]
                                use #private::{ViaHttpResponse as _, ViaHttpResponseHead as _, ViaNoHttpResponse as _};
                                (&&&#private::Wrap(&#obs_r)).__obs_http_response(&#obs_http);
                            }
                            #obs_r
                        }
                    },
                ),
                None => (TokenStream::new(), async_body.clone()),
            };
            // Everything is built in a block whose value is awaited: its locals (the scope
            // and the body future, moved into the run future) end with the block, before the
            // await, so the handler's future does not keep a slot for each of them beside the
            // run future that holds them.
            let span_now = span_fields.is_empty().then(|| quote!(let #obs_span = #span;));
            // The `metadata(...)` expressions are the user's code: run under the lifecycle's
            // panic guard, as the `annotations(...)` and `fields(...)` ones are.
            let record_metadata = (!recorders.is_empty())
                .then(|| quote!(let #obs_scope = #obs_scope.record_guarded(|#obs_scope| { #(#recorders)* });));
            quote! {
                {
                    #span_now
                    // The context is read from the event even when its binding says it is
                    // unused (`_event`).
                    #[allow(clippy::used_underscore_binding)]
                    let #obs_scope = #new_scope;
                    #record_metadata
                    #log_event
                    #http_request
                    let #obs_body = #private::pin_output::<#ret, _>(#body);
                    {
                        #error_views
                        #json_views
                        #obs_scope.run(
                            #obs_body,
                            #view_error,
                            |#obs_r| (&&#private::Wrap(#obs_r)).__obs_to_json(),
                        )
                    }
                }
                .await
            }
        }
        Kind::Function => {
            let mutability = (!recorders.is_empty()).then(|| quote!(mut));
            let prologue = quote! {
                let #obs_span = #span;
                let #mutability #obs_scope = #private::FunctionScope::new(#name, #obs_span);
                #(#recorders)*
            };
            let with_errors = plan.returns_result && capture_error;
            let obs_guard = local("__obs_guard");
            if plan.in_place {
                // `#[track_caller]` (sync, no error capture: `plan` refuses the rest): the
                // body's statements in place, the span entered and the subsegment open until
                // the function returns or unwinds.
                quote! {
                    #prologue
                    let #obs_guard = #obs_scope.enter();
                    #stmts
                }
            } else {
                match (sig.asyncness.is_some(), with_errors) {
                    (true, true) => quote! {
                        #prologue
                        let #obs_body = #private::pin_output::<#ret, _>(#async_body);
                        {
                            #error_views
                            #obs_scope.run(#obs_body, #view_error)
                        }
                        .await
                    },
                    (true, false) => {
                        let run = quote!(#obs_scope.run_plain(#private::pin_output::<#ret, _>(#async_body)).await);
                        // `-> !`: the output is pinned to the empty `Never`, matched away.
                        let run = if plan.never { quote!(match #run {}) } else { run };
                        quote! {
                            #prologue
                            #run
                        }
                    }
                    (false, true) => quote! {
                        #prologue
                        let #obs_body = #private::pin_fn::<#ret, _>(move || { #moved });
                        {
                            #error_views
                            #obs_scope.run_sync(#obs_body, #view_error)
                        }
                    },
                    // `-> !`: a closure may declare `!` as its return type (a type argument
                    // may not): the body's errors then name `!`, on the signature's token.
                    (false, false) if plan.never => {
                        let never = match &sig.output {
                            syn::ReturnType::Type(_, ty) => quote!(#ty),
                            syn::ReturnType::Default => quote!(!),
                        };
                        quote! {
                            #prologue
                            #obs_scope.run_sync_plain(move || -> #never { #moved })
                        }
                    }
                    (false, false) => quote! {
                        #prologue
                        #obs_scope.run_sync_plain(#private::pin_fn::<#ret, _>(move || { #moved }))
                    },
                }
            }
        }
    };

    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #inner_attrs
            #generated
        }
    }
}

/// The path of the private module with every token spanned at `span`.
fn private_at(span: proc_macro2::Span) -> TokenStream {
    PRIVATE
        .parse::<TokenStream>()
        .unwrap_or_default()
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

/// The tokens inside the body's braces (through an invisible group: a `$body:block`
/// fragment of a `macro_rules!`).
fn body_statements(body: &TokenStream) -> TokenStream {
    let mut tokens = body.clone().into_iter();
    match (tokens.next(), tokens.next()) {
        (Some(proc_macro2::TokenTree::Group(g)), None) => match g.delimiter() {
            proc_macro2::Delimiter::Brace => g.stream(),
            proc_macro2::Delimiter::None => body_statements(&g.stream()),
            _ => body.clone(),
        },
        _ => body.clone(),
    }
}

/// Whether the body's first statement is an item (`use`, `fn`, `const`, ...).
fn starts_with_item(stmts: &TokenStream) -> bool {
    syn::parse2::<syn::Block>(quote!({ #stmts }))
        .is_ok_and(|block| matches!(block.stmts.first(), Some(syn::Stmt::Item(_))))
}
