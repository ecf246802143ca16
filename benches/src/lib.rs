//! Shared support for the criterion benches.
