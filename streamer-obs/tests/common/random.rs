//! What the randomized conformance tests (`emf_random.rs`, `xray_random.rs`,
//! `cloudwatch_random.rs`, `trace_header_random.rs`) share: a seeded generator, rule
//! violations collected and reported at once, a child-process runner for probes that may
//! overflow the stack, and a duplicate-member check of JSON text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A seeded generator (fixed seeds: deterministic suites). Each suite adds the value
/// generators of its own subject in an `impl G` block of its own.
pub(crate) struct G(pub(crate) fastrand::Rng);

/// `STREAMER_TEST_SEED_SALT` (a number, 0 when unset): XORed into every seed, so the
/// suites can be run again over other cases (`STREAMER_TEST_SEED_SALT=7 cargo test ...`);
/// CI runs them unsalted.
pub(crate) fn seed_salt() -> u64 {
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SALT.get_or_init(|| std::env::var("STREAMER_TEST_SEED_SALT").ok().and_then(|s| s.parse().ok()).unwrap_or(0))
}

impl G {
    pub(crate) fn new(seed: u64) -> Self {
        Self(fastrand::Rng::with_seed(seed ^ seed_salt()))
    }
    /// True `p` times in 100.
    pub(crate) fn pct(&mut self, p: u32) -> bool {
        self.0.u32(0..100) < p
    }
    /// One of `items`.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.usize(0..items.len())]
    }
    /// A copy of one of `items`.
    #[allow(dead_code)] // not every suite uses it
    pub(crate) fn pick_cloned<T: Clone>(&mut self, items: &[T]) -> T {
        self.pick(items).clone()
    }
}

/// Rule violations, grouped by rule with up to three examples each.
#[derive(Default)]
pub(crate) struct Findings(BTreeMap<String, (usize, Vec<String>)>);

impl Findings {
    pub(crate) fn add(&mut self, rule: &str, detail: String) {
        let e = self.0.entry(rule.to_owned()).or_default();
        e.0 += 1;
        if e.1.len() < 3 {
            e.1.push(squeeze(&detail).chars().take(700).collect());
        }
    }
    pub(crate) fn assert_none(&self, what: &str) {
        if self.0.is_empty() {
            return;
        }
        let mut msg = format!("{what}: rule violations found\n");
        for (rule, (n, ex)) in &self.0 {
            let _ = writeln!(msg, "- {rule} ({n} times)");
            for e in ex {
                let _ = writeln!(msg, "    e.g. {e}");
            }
        }
        panic!("{msg}");
    }
}

/// Runs of one character longer than 8 written as `c{×n}`, for readable reports.
pub(crate) fn squeeze(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        let mut n = 1;
        while it.peek() == Some(&c) {
            it.next();
            n += 1;
        }
        if n > 8 {
            let _ = write!(out, "{c}{{×{n}}}");
        } else {
            out.extend(std::iter::repeat_n(c, n));
        }
    }
    out
}

/// Runs one ignored test of this binary in a child process (a stack overflow aborts the
/// whole process, so it cannot be caught in this one).
pub(crate) fn run_child(test: &str, env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("child test runs")
}

/// Duplicate member names anywhere in a JSON text (RFC 8259 §4: names SHOULD be unique;
/// parsers disagree on which one wins). Returns the first duplicate found.
pub(crate) fn duplicate_key(text: &[u8]) -> Option<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Dup<'a>(&'a mut Option<String>);
    impl<'de> DeserializeSeed<'de> for Dup<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Dup<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            while a.next_element_seed(Dup(&mut *self.0))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            let mut keys = std::collections::HashSet::new();
            while let Some(k) = a.next_key::<String>()? {
                if !keys.insert(k.clone()) && self.0.is_none() {
                    *self.0 = Some(k);
                }
                a.next_value_seed(Dup(&mut *self.0))?;
            }
            Ok(())
        }
    }
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(text);
    de.disable_recursion_limit();
    let _ = Dup(&mut found).deserialize(&mut de);
    found
}

/// A value nested `.0` levels deep (arrays, or objects when `.1`) around the string `.2`,
/// serialised without building it first (a deep `serde_json::Value` would overflow the
/// stack when dropped).
pub(crate) struct Nest(pub(crate) usize, pub(crate) bool, pub(crate) &'static str);

impl serde::Serialize for Nest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        if self.0 == 0 {
            return s.serialize_str(self.2);
        }
        if self.1 {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("k", &Nest(self.0 - 1, self.1, self.2))?;
            m.end()
        } else {
            let mut q = s.serialize_seq(Some(1))?;
            q.serialize_element(&Nest(self.0 - 1, self.1, self.2))?;
            q.end()
        }
    }
}
