//! The name shown for a type-erased error (`dyn Error`, or a value that is only `Debug`):
//! the concrete type is not available, so the leading identifier of its `Debug` output
//! (the struct or variant name, path included) stands in for it. One rule for the log
//! lines (`error.type`), the lifecycle's `ErrorView` and X-Ray exceptions.

/// The leading identifier (`A-Za-z0-9_` and `:`) of `debug`, or `Error` when there is none.
pub(crate) fn from_debug(debug: &str) -> &str {
    let t = debug.trim_start();
    let end = t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(t.len());
    if end == 0 { "Error" } else { &t[..end] }
}

#[cfg(test)]
mod tests {
    use super::from_debug;

    #[test]
    fn leading_identifier_or_error() {
        assert_eq!(from_debug("Custom { kind: Other }"), "Custom");
        assert_eq!(from_debug("  my::Error(5)"), "my::Error");
        assert_eq!(from_debug("\"plain text\""), "Error");
        assert_eq!(from_debug(""), "Error");
    }
}
