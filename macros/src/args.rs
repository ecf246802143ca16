//! The argument grammar of `#[instrumented(...)]`: one `custom_keyword!` per argument,
//! a `lookahead1` loop, every error spanned on the user's tokens and collected, so one
//! compile shows every mistake.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitBool, LitInt, LitStr, Token};

pub(crate) mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(annotations);
    syn::custom_keyword!(metadata);
    syn::custom_keyword!(fields);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(capture_response);
    syn::custom_keyword!(capture_error);
    syn::custom_keyword!(log_event);
    syn::custom_keyword!(cold_start_metric);
    syn::custom_keyword!(raise_on_empty_metrics);
    syn::custom_keyword!(latency_metric);
    syn::custom_keyword!(deadline_margin_ms);
    syn::custom_keyword!(ctx);
}

const EXPECTED: &str = "expected one of `name`, `annotations`, `metadata`, `fields`, `skip`, `skip_all`, \
     `capture_response`, `capture_error`, `log_event`, `cold_start_metric`, `raise_on_empty_metrics`, \
     `latency_metric`, `deadline_margin_ms`, `ctx`";

/// Several errors combined into one `syn::Error` (serde's `Ctxt`, without the drop bomb:
/// [`Errors::finish`] consumes it).
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// An argument value together with the span of its keyword (for "only on a handler"
/// and "duplicate" errors).
pub(crate) struct Arg<T> {
    pub(crate) span: Span,
    pub(crate) value: T,
}

/// `latency_metric = "Name"` or `latency_metric = false`.
pub(crate) enum LatencyMetric {
    Name(LitStr),
    Off,
}

/// A key of `annotations(...)` or `metadata(...)`: an identifier or a string literal.
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) span: Span,
}

/// `key = <expr>`.
pub(crate) struct KeyValue {
    pub(crate) key: Key,
    pub(crate) value: Expr,
}

/// `key = <expr>` of `fields(...)`, with an optional `%` (Display) or `?` (Debug) sigil;
/// `key` may be dotted (`http.method`), as in `tracing`'s span macros.
pub(crate) struct Field {
    pub(crate) key: Punctuated<Ident, Token![.]>,
    pub(crate) sigil: Option<TokenStream>,
    pub(crate) value: Expr,
}

impl Field {
    /// The field name as recorded (`http.method`).
    pub(crate) fn name(&self) -> String {
        self.key.iter().map(|i| i.unraw().to_string()).collect::<Vec<_>>().join(".")
    }
}

/// Every argument of `#[instrumented(...)]`; all optional.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<Arg<LitStr>>,
    pub(crate) annotations: Option<Arg<Vec<KeyValue>>>,
    pub(crate) metadata: Option<Arg<Vec<KeyValue>>>,
    pub(crate) fields: Option<Arg<Vec<Field>>>,
    pub(crate) skip: Option<Arg<Vec<Ident>>>,
    pub(crate) skip_all: Option<Arg<()>>,
    pub(crate) capture_response: Option<Arg<LitBool>>,
    pub(crate) capture_error: Option<Arg<LitBool>>,
    pub(crate) log_event: Option<Arg<LitBool>>,
    pub(crate) cold_start_metric: Option<Arg<LitBool>>,
    pub(crate) raise_on_empty_metrics: Option<Arg<LitBool>>,
    pub(crate) latency_metric: Option<Arg<LatencyMetric>>,
    pub(crate) deadline_margin_ms: Option<Arg<LitInt>>,
    pub(crate) ctx: Option<Arg<Expr>>,
}

impl Args {
    /// The handler-only arguments that were given, with their keyword spans and names.
    pub(crate) fn handler_only(&self) -> Vec<(Span, &'static str)> {
        let mut out = Vec::new();
        let mut add = |span: Option<Span>, name| {
            if let Some(span) = span {
                out.push((span, name));
            }
        };
        add(self.capture_response.as_ref().map(|a| a.span), "capture_response");
        add(self.log_event.as_ref().map(|a| a.span), "log_event");
        add(self.cold_start_metric.as_ref().map(|a| a.span), "cold_start_metric");
        add(self.raise_on_empty_metrics.as_ref().map(|a| a.span), "raise_on_empty_metrics");
        add(self.latency_metric.as_ref().map(|a| a.span), "latency_metric");
        add(self.deadline_margin_ms.as_ref().map(|a| a.span), "deadline_margin_ms");
        out
    }
}

/// Stores `value` in `slot`, or reports a duplicate on `span`.
fn set<T>(slot: &mut Option<Arg<T>>, span: Span, value: T, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("duplicate argument `{name}`: expected it at most once")));
    }
    *slot = Some(Arg { span, value });
    Ok(())
}

/// Skips to the next top-level `,` (error recovery: the next argument is still checked).
fn skip_to_comma(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt
                && p.as_char() == ','
            {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut errors = Errors::default();
        while !input.is_empty() {
            if let Err(e) = args.parse_one(input, &mut errors) {
                errors.push(e);
                skip_to_comma(input);
            }
            if input.is_empty() {
                break;
            }
            if let Err(e) = input.parse::<Token![,]>() {
                errors.push(e);
                skip_to_comma(input);
                let _ = input.parse::<Option<Token![,]>>();
            }
        }
        if let (Some(skip), Some(all)) = (&args.skip, &args.skip_all) {
            let mut e = syn::Error::new(all.span, "`skip_all` and `skip(...)` are mutually exclusive");
            e.combine(syn::Error::new(skip.span, "`skip(...)` given here"));
            errors.push(e);
        }
        errors.finish()?;
        Ok(args)
    }
}

impl Args {
    fn parse_one(&mut self, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let span = input.parse::<kw::name>()?.span;
            input.parse::<Token![=]>()?;
            let lit: LitStr = input.parse()?;
            if lit.value().trim().is_empty() {
                return Err(syn::Error::new(lit.span(), "`name` must hold a non-whitespace character"));
            }
            set(&mut self.name, span, lit, "name")
        } else if lookahead.peek(kw::annotations) {
            let span = input.parse::<kw::annotations>()?.span;
            let pairs = parse_key_values(input, errors, check_annotation_key)?;
            set(&mut self.annotations, span, pairs, "annotations")
        } else if lookahead.peek(kw::metadata) {
            let span = input.parse::<kw::metadata>()?.span;
            let pairs = parse_key_values(input, errors, check_metadata_key)?;
            set(&mut self.metadata, span, pairs, "metadata")
        } else if lookahead.peek(kw::fields) {
            let span = input.parse::<kw::fields>()?.span;
            let fields = parse_fields(input, errors)?;
            set(&mut self.fields, span, fields, "fields")
        } else if lookahead.peek(kw::skip_all) {
            let span = input.parse::<kw::skip_all>()?.span;
            set(&mut self.skip_all, span, (), "skip_all")
        } else if lookahead.peek(kw::skip) {
            let span = input.parse::<kw::skip>()?.span;
            let content;
            syn::parenthesized!(content in input);
            let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, Ident::parse_any)?;
            let mut seen: Vec<Ident> = Vec::new();
            for n in names {
                if seen.iter().any(|s| s.unraw() == n.unraw()) {
                    errors.push(syn::Error::new(n.span(), format!("parameter `{}` is skipped twice", n.unraw())));
                } else {
                    seen.push(n);
                }
            }
            set(&mut self.skip, span, seen, "skip")
        } else if lookahead.peek(kw::capture_response) {
            let span = input.parse::<kw::capture_response>()?.span;
            let b = parse_bool(input, "capture_response", span)?;
            set(&mut self.capture_response, span, b, "capture_response")
        } else if lookahead.peek(kw::capture_error) {
            let span = input.parse::<kw::capture_error>()?.span;
            let b = parse_bool(input, "capture_error", span)?;
            set(&mut self.capture_error, span, b, "capture_error")
        } else if lookahead.peek(kw::log_event) {
            let span = input.parse::<kw::log_event>()?.span;
            let b = parse_bool(input, "log_event", span)?;
            set(&mut self.log_event, span, b, "log_event")
        } else if lookahead.peek(kw::cold_start_metric) {
            let span = input.parse::<kw::cold_start_metric>()?.span;
            let b = parse_bool(input, "cold_start_metric", span)?;
            set(&mut self.cold_start_metric, span, b, "cold_start_metric")
        } else if lookahead.peek(kw::raise_on_empty_metrics) {
            let span = input.parse::<kw::raise_on_empty_metrics>()?.span;
            let b = parse_bool(input, "raise_on_empty_metrics", span)?;
            set(&mut self.raise_on_empty_metrics, span, b, "raise_on_empty_metrics")
        } else if lookahead.peek(kw::latency_metric) {
            let span = input.parse::<kw::latency_metric>()?.span;
            input.parse::<Token![=]>()?;
            let value = if input.peek(LitBool) {
                let b: LitBool = input.parse()?;
                if b.value {
                    return Err(syn::Error::new(
                        b.span,
                        "`latency_metric = true` is not an option: the latency metric is on by default; \
                         give its name (`latency_metric = \"Name\"`) or turn it off (`latency_metric = false`)",
                    ));
                }
                LatencyMetric::Off
            } else if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                let value = lit.value();
                if value.trim().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the latency metric name must hold a non-whitespace character",
                    ));
                }
                // CloudWatch metric names (E-15): 1 to 255 characters, no control character.
                if value.chars().count() > 255 || value.chars().any(char::is_control) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the latency metric name must be at most 255 characters, without control characters",
                    ));
                }
                // The SDK's other refusals of a metric name, which would drop the metric at
                // every invocation: the EMF metadata member (E-2), and `@…`, which Logs
                // Insights shows as `@@…` (Q-3).
                if value == "_aws" {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the latency metric name must not be `_aws` (the EMF metadata member, rule E-2)",
                    ));
                }
                if value.starts_with('@') {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the latency metric name must not start with '@' (Logs Insights would show it as `@@…`, rule Q-3)",
                    ));
                }
                // The latency metric's own dimensions are root members of the same EMF
                // document: a metric named like one is refused (E-1, one member per name).
                if value == "Service" || value == "Environment" {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the latency metric name must not be `Service` or `Environment`: they are its dimensions, members of the same EMF document (rule E-1)",
                    ));
                }
                LatencyMetric::Name(lit)
            } else {
                return Err(input.error("expected a metric name (`latency_metric = \"Name\"`) or `false`"));
            };
            set(&mut self.latency_metric, span, value, "latency_metric")
        } else if lookahead.peek(kw::deadline_margin_ms) {
            let span = input.parse::<kw::deadline_margin_ms>()?.span;
            input.parse::<Token![=]>()?;
            const EXPECTED: &str =
                "`deadline_margin_ms` takes a whole number of milliseconds (`deadline_margin_ms = 50`)";
            if input.peek(Token![-]) {
                return Err(syn::Error::new(input.span(), EXPECTED));
            }
            let lit: LitInt = input.parse().map_err(|e| syn::Error::new(e.span(), EXPECTED))?;
            if !matches!(lit.suffix(), "" | "u64") {
                return Err(syn::Error::new(lit.span(), EXPECTED));
            }
            let ms: u64 = lit.base10_parse().map_err(|e| syn::Error::new(e.span(), EXPECTED))?;
            let lit = LitInt::new(&ms.to_string(), lit.span());
            set(&mut self.deadline_margin_ms, span, lit, "deadline_margin_ms")
        } else if lookahead.peek(kw::ctx) {
            let span = input.parse::<kw::ctx>()?.span;
            input.parse::<Token![=]>()?;
            let expr: Expr = input.parse()?;
            set(&mut self.ctx, span, expr, "ctx")
        } else if input.peek(Ident::peek_any) {
            let unknown = input.call(Ident::parse_any)?;
            Err(syn::Error::new(
                unknown.span(),
                format!("unknown `#[instrumented]` argument `{}`: {EXPECTED}", unknown.unraw()),
            ))
        } else {
            Err(lookahead.error())
        }
    }
}

fn parse_bool(input: ParseStream<'_>, name: &str, span: Span) -> syn::Result<LitBool> {
    // A bare flag (`log_event,`): said on the flag, with the form it takes.
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(span, format!("expected `{name} = true` or `{name} = false`")));
    }
    input.parse::<Token![=]>()?;
    if input.peek(LitBool) {
        input.parse()
    } else {
        Err(input.error(format!("expected `{name} = true` or `{name} = false`")))
    }
}

/// A key: an identifier (keywords and raw identifiers too) or a string literal.
fn parse_key(input: ParseStream<'_>) -> syn::Result<Key> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        Ok(Key { name: lit.value(), span: lit.span() })
    } else if input.peek(Ident::peek_any) {
        let ident = input.call(Ident::parse_any)?;
        Ok(Key { name: ident.unraw().to_string(), span: ident.span() })
    } else {
        Err(input.error("expected a key: an identifier, or a string literal"))
    }
}

/// `( key = <expr>, ... )`; `check` reports invalid keys (collected, parsing goes on).
fn parse_key_values(
    input: ParseStream<'_>,
    errors: &mut Errors,
    check: fn(&Key) -> Option<String>,
) -> syn::Result<Vec<KeyValue>> {
    let content;
    syn::parenthesized!(content in input);
    let mut out: Vec<KeyValue> = Vec::new();
    while !content.is_empty() {
        let key = parse_key(&content)?;
        content.parse::<Token![=]>()?;
        let value: Expr = content.parse()?;
        if let Some(message) = check(&key) {
            errors.push(syn::Error::new(key.span, message));
        } else if out.iter().any(|kv| kv.key.name == key.name) {
            errors.push(syn::Error::new(key.span, format!("duplicate key `{}`", key.name)));
        } else {
            out.push(KeyValue { key, value });
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(out)
}

/// X-Ray annotation keys: 1 to 500 characters, ASCII letters, digits and `_` only.
pub(crate) fn annotation_key_error(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("invalid annotation key: it must not be empty".to_owned());
    }
    if key.chars().count() > 500 {
        return Some(format!("invalid annotation key: {} characters, at most 500", key.chars().count()));
    }
    if let Some(c) = key.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Some(format!(
            "invalid annotation key `{key}`: X-Ray annotation keys are 1 to 500 ASCII letters, digits \
             and `_` (found `{c}`)"
        ));
    }
    None
}

fn check_annotation_key(key: &Key) -> Option<String> {
    annotation_key_error(&key.name)
}

fn check_metadata_key(key: &Key) -> Option<String> {
    key.name.is_empty().then(|| "invalid metadata key: it must not be empty".to_owned())
}

/// `( a = <expr>, b.c = %<expr>, d = ?<expr> )`.
fn parse_fields(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Vec<Field>> {
    let content;
    syn::parenthesized!(content in input);
    let mut out: Vec<Field> = Vec::new();
    while !content.is_empty() {
        let mut key = Punctuated::<Ident, Token![.]>::new();
        key.push_value(content.call(Ident::parse_any)?);
        while content.peek(Token![.]) {
            key.push_punct(content.parse()?);
            key.push_value(content.call(Ident::parse_any)?);
        }
        content.parse::<Token![=]>()?;
        let sigil = if content.peek(Token![%]) {
            Some(content.parse::<Token![%]>()?.into_token_stream())
        } else if content.peek(Token![?]) {
            Some(content.parse::<Token![?]>()?.into_token_stream())
        } else {
            None
        };
        let value: Expr = content.parse()?;
        let field = Field { key, sigil, value };
        if out.iter().any(|f| f.name() == field.name()) {
            errors.push(syn::Error::new_spanned(&field.key, format!("duplicate field `{}`", field.name())));
        } else {
            out.push(field);
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: &str) -> syn::Result<Args> {
        syn::parse_str::<Args>(tokens)
    }

    fn messages(tokens: &str) -> Vec<String> {
        match parse(tokens) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_argument_parses() {
        let a = parse(
            r#"name = "HandleConnect", annotations(connection_id = id, "tenant" = t), metadata(req = &r),
               fields(route = %r, http.method = ?m), skip(a, self), capture_response = false,
               capture_error = true, log_event = true, cold_start_metric = true,
               raise_on_empty_metrics = false, latency_metric = "Latency", deadline_margin_ms = 100,
               ctx = event.context"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.name.unwrap().value.value(), "HandleConnect");
        assert_eq!(
            a.annotations.unwrap().value.iter().map(|k| k.key.name.clone()).collect::<Vec<_>>(),
            ["connection_id", "tenant"]
        );
        assert_eq!(a.fields.unwrap().value[1].name(), "http.method");
        assert_eq!(a.skip.unwrap().value.len(), 2);
        assert!(matches!(a.latency_metric.unwrap().value, LatencyMetric::Name(_)));
        assert_eq!(a.deadline_margin_ms.unwrap().value.base10_parse::<u64>().unwrap(), 100);
        assert!(a.ctx.is_some());
    }

    /// Every argument fills its own slot, and a second one is reported as a duplicate of
    /// that argument, on the second keyword (derived from the slot: no copy-paste slips).
    #[test]
    fn every_duplicate_is_reported_by_name() {
        type Case = (&'static str, &'static str, fn(&Args) -> bool);
        let cases: [Case; 14] = [
            ("name", r#"name = "a""#, |a| a.name.is_some()),
            ("annotations", "annotations(a = 1)", |a| a.annotations.is_some()),
            ("metadata", "metadata(a = 1)", |a| a.metadata.is_some()),
            ("fields", "fields(a = 1)", |a| a.fields.is_some()),
            ("skip", "skip(a)", |a| a.skip.is_some()),
            ("skip_all", "skip_all", |a| a.skip_all.is_some()),
            ("capture_response", "capture_response = true", |a| a.capture_response.is_some()),
            ("capture_error", "capture_error = true", |a| a.capture_error.is_some()),
            ("log_event", "log_event = true", |a| a.log_event.is_some()),
            ("cold_start_metric", "cold_start_metric = true", |a| a.cold_start_metric.is_some()),
            ("raise_on_empty_metrics", "raise_on_empty_metrics = true", |a| a.raise_on_empty_metrics.is_some()),
            ("latency_metric", "latency_metric = false", |a| a.latency_metric.is_some()),
            ("deadline_margin_ms", "deadline_margin_ms = 1", |a| a.deadline_margin_ms.is_some()),
            ("ctx", "ctx = c", |a| a.ctx.is_some()),
        ];
        for (name, arg, filled) in cases {
            let args = parse(arg).unwrap_or_else(|e| panic!("{arg}: {e}"));
            assert!(filled(&args), "{arg} fills the `{name}` slot");
            let others = cases.iter().filter(|(n, ..)| *n != name).filter(|(.., f)| f(&args)).count();
            assert_eq!(others, 0, "{arg} fills only its own slot");
            let m = messages(&format!("{arg}, {arg}"));
            assert_eq!(m, [format!("duplicate argument `{name}`: expected it at most once")], "{arg}");
        }
    }

    #[test]
    fn empty_and_trailing_comma() {
        assert!(parse("").is_ok());
        assert!(parse("skip_all,").is_ok());
        assert!(matches!(parse("latency_metric = false").unwrap().latency_metric.unwrap().value, LatencyMetric::Off));
    }

    #[test]
    fn errors_are_collected() {
        let m = messages(r#"nmae = "x", name = "a", name = "b", annotations("user-id" = 1), log_event = 1"#);
        assert_eq!(m.len(), 4, "{m:?}");
        assert!(m[0].starts_with("unknown `#[instrumented]` argument `nmae`"), "{m:?}");
        assert!(m.iter().any(|e| e.contains("duplicate argument `name`")), "{m:?}");
        assert!(m.iter().any(|e| e.contains("invalid annotation key `user-id`")), "{m:?}");
        assert!(m.iter().any(|e| e.contains("expected `log_event = true` or `log_event = false`")), "{m:?}");
    }

    #[test]
    fn bad_values() {
        assert!(messages("latency_metric = true")[0].contains("not an option"));
        assert!(messages(r#"name = """#)[0].contains("must hold a non-whitespace character"));
        assert!(messages(r#"name = "   ""#)[0].contains("must hold a non-whitespace character"));
        assert!(messages(r#"latency_metric = " ""#)[0].contains("non-whitespace"));
        assert!(messages(&format!(r#"latency_metric = "{}""#, "m".repeat(256)))[0].contains("at most 255"));
        assert!(messages("deadline_margin_ms = -1")[0].contains("whole number of milliseconds"));
        assert!(messages("deadline_margin_ms = 5i8")[0].contains("whole number of milliseconds"));
        assert!(messages("deadline_margin_ms = \"5\"")[0].contains("whole number of milliseconds"));
        assert!(messages("deadline_margin_ms = 5u64").is_empty());
        assert_eq!(
            messages("cold_start_metric"),
            ["expected `cold_start_metric = true` or `cold_start_metric = false`"]
        );
        assert_eq!(messages("log_event, name = \"A\""), ["expected `log_event = true` or `log_event = false`"]);
        assert!(messages("skip(a, a)")[0].contains("skipped twice"));
        assert!(messages("skip(a), skip_all").iter().any(|m| m.contains("mutually exclusive")));
        assert!(messages("fields(a = 1, a = 2)")[0].contains("duplicate field `a`"));
        assert!(messages("annotations(a = 1, a = 2)")[0].contains("duplicate key `a`"));
        assert!(!messages("name = \"a\" skip_all").is_empty());
        assert!(!messages("42").is_empty());
    }

    #[test]
    fn annotation_key_rules() {
        assert_eq!(annotation_key_error("connection_id"), None);
        assert_eq!(annotation_key_error(&"a".repeat(500)), None);
        assert!(annotation_key_error(&"a".repeat(501)).is_some());
        assert!(annotation_key_error("").is_some());
        assert!(annotation_key_error("user-id").is_some());
        assert!(annotation_key_error("clé").is_some());
    }
}
