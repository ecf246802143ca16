//! CloudWatch units (the 27 values of `StandardUnit`, rule E-10) and storage resolution.

use std::fmt;

/// A CloudWatch unit: exactly the 27 values the API and the EMF schema accept, so a
/// wrong unit does not compile.
///
/// ```
/// use streamer_obs::metrics::Unit;
/// assert_eq!(Unit::Milliseconds.as_str(), "Milliseconds");
/// assert_eq!(Unit::BytesPerSecond.as_str(), "Bytes/Second");
/// assert_eq!(Unit::ALL.len(), 27);
/// assert_eq!(Unit::default(), Unit::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Unit {
    /// `Seconds`.
    Seconds,
    /// `Microseconds`.
    Microseconds,
    /// `Milliseconds`.
    Milliseconds,
    /// `Bytes`.
    Bytes,
    /// `Kilobytes`.
    Kilobytes,
    /// `Megabytes`.
    Megabytes,
    /// `Gigabytes`.
    Gigabytes,
    /// `Terabytes`.
    Terabytes,
    /// `Bits`.
    Bits,
    /// `Kilobits`.
    Kilobits,
    /// `Megabits`.
    Megabits,
    /// `Gigabits`.
    Gigabits,
    /// `Terabits`.
    Terabits,
    /// `Percent`.
    Percent,
    /// `Count`.
    Count,
    /// `Bytes/Second`.
    BytesPerSecond,
    /// `Kilobytes/Second`.
    KilobytesPerSecond,
    /// `Megabytes/Second`.
    MegabytesPerSecond,
    /// `Gigabytes/Second`.
    GigabytesPerSecond,
    /// `Terabytes/Second`.
    TerabytesPerSecond,
    /// `Bits/Second`.
    BitsPerSecond,
    /// `Kilobits/Second`.
    KilobitsPerSecond,
    /// `Megabits/Second`.
    MegabitsPerSecond,
    /// `Gigabits/Second`.
    GigabitsPerSecond,
    /// `Terabits/Second`.
    TerabitsPerSecond,
    /// `Count/Second`.
    CountPerSecond,
    /// `None` (the CloudWatch default when no unit is given).
    #[default]
    None,
}

impl Unit {
    /// Every unit, in the order of the CloudWatch documentation.
    ///
    /// ```
    /// use streamer_obs::metrics::Unit;
    /// assert!(Unit::ALL.contains(&Unit::CountPerSecond));
    /// ```
    pub const ALL: [Unit; 27] = [
        Unit::Seconds,
        Unit::Microseconds,
        Unit::Milliseconds,
        Unit::Bytes,
        Unit::Kilobytes,
        Unit::Megabytes,
        Unit::Gigabytes,
        Unit::Terabytes,
        Unit::Bits,
        Unit::Kilobits,
        Unit::Megabits,
        Unit::Gigabits,
        Unit::Terabits,
        Unit::Percent,
        Unit::Count,
        Unit::BytesPerSecond,
        Unit::KilobytesPerSecond,
        Unit::MegabytesPerSecond,
        Unit::GigabytesPerSecond,
        Unit::TerabytesPerSecond,
        Unit::BitsPerSecond,
        Unit::KilobitsPerSecond,
        Unit::MegabitsPerSecond,
        Unit::GigabitsPerSecond,
        Unit::TerabitsPerSecond,
        Unit::CountPerSecond,
        Unit::None,
    ];

    /// The exact (case-sensitive) name CloudWatch uses.
    ///
    /// ```
    /// use streamer_obs::metrics::Unit;
    /// assert_eq!(Unit::CountPerSecond.as_str(), "Count/Second");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "Seconds",
            Unit::Microseconds => "Microseconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
            Unit::Kilobytes => "Kilobytes",
            Unit::Megabytes => "Megabytes",
            Unit::Gigabytes => "Gigabytes",
            Unit::Terabytes => "Terabytes",
            Unit::Bits => "Bits",
            Unit::Kilobits => "Kilobits",
            Unit::Megabits => "Megabits",
            Unit::Gigabits => "Gigabits",
            Unit::Terabits => "Terabits",
            Unit::Percent => "Percent",
            Unit::Count => "Count",
            Unit::BytesPerSecond => "Bytes/Second",
            Unit::KilobytesPerSecond => "Kilobytes/Second",
            Unit::MegabytesPerSecond => "Megabytes/Second",
            Unit::GigabytesPerSecond => "Gigabytes/Second",
            Unit::TerabytesPerSecond => "Terabytes/Second",
            Unit::BitsPerSecond => "Bits/Second",
            Unit::KilobitsPerSecond => "Kilobits/Second",
            Unit::MegabitsPerSecond => "Megabits/Second",
            Unit::GigabitsPerSecond => "Gigabits/Second",
            Unit::TerabitsPerSecond => "Terabits/Second",
            Unit::CountPerSecond => "Count/Second",
            Unit::None => "None",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Storage resolution: 60 s (standard, the default) or 1 s (high resolution). No other
/// value exists in CloudWatch, so no other value can be expressed.
///
/// ```
/// use streamer_obs::metrics::StorageResolution;
/// assert_eq!(StorageResolution::default().seconds(), 60);
/// assert_eq!(StorageResolution::High.seconds(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum StorageResolution {
    /// 60 seconds (written as nothing in EMF: it is the default).
    #[default]
    Standard,
    /// 1 second (`StorageResolution: 1`; high-resolution alarms cost more).
    High,
}

impl StorageResolution {
    /// The resolution in seconds (1 or 60).
    ///
    /// ```
    /// use streamer_obs::metrics::StorageResolution;
    /// assert_eq!(StorageResolution::Standard.seconds(), 60);
    /// ```
    pub const fn seconds(self) -> i32 {
        match self {
            StorageResolution::Standard => 60,
            StorageResolution::High => 1,
        }
    }
}

/// A duration in milliseconds, for a `Unit::Milliseconds` metric: the whole nanoseconds
/// divided once (the double nearest the exact value, so 213,999 ns is written `0.213999`;
/// `as_secs_f64() * 1000.0` rounds twice and gives `0.21399900000000002`). Exact below
/// 2^53 ns (104 days).
pub(crate) fn millis_f64(d: std::time::Duration) -> f64 {
    d.as_nanos() as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_units_are_distinct_and_match_the_schema_pattern() {
        let names: std::collections::BTreeSet<_> = Unit::ALL.iter().map(|u| u.as_str()).collect();
        assert_eq!(names.len(), 27);
        let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/emf.schema.json"))
            .expect("schema fixture");
        for name in names {
            assert!(schema.contains(&name.replace('/', "\\\\/")) || schema.contains(name), "{name} not in schema");
        }
    }

    #[test]
    fn milliseconds_are_the_nearest_double_to_the_exact_value() {
        use std::time::Duration;
        for (nanos, text) in [
            (213_999, "0.213999"),
            (1_500_000, "1.5"),
            (0, "0"),
            (1, "0.000001"),
            (123_456_789_012, "123456.789012"),
            (3_000_000_000, "3000"),
        ] {
            assert_eq!(millis_f64(Duration::from_nanos(nanos)).to_string(), text, "{nanos} ns");
        }
    }
}
