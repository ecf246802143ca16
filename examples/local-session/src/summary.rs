//! The end-of-session summary: metrics aggregated the way CloudWatch aggregates EMF
//! documents, and X-Ray subsegment documents rendered as the console's trace tree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// Statistics of one metric in one dimension set (what a CloudWatch statistic query over
/// the session's period returns).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stats {
    pub(crate) unit: String,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Stats {
    fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub(crate) fn avg(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum / self.count as f64 }
    }
}

/// `(namespace, metric, "K=V, K=V")` → statistics.
pub(crate) type Aggregate = BTreeMap<(String, String, String), Stats>;

/// Aggregates EMF documents: every metric counted once per dimension set it declares, its
/// dimension values read from the document's root (as CloudWatch extracts them).
pub(crate) fn aggregate_emf<'a>(docs: impl IntoIterator<Item = &'a Value>) -> Aggregate {
    let mut out = Aggregate::new();
    for doc in docs {
        let Some(directives) = doc["_aws"]["CloudWatchMetrics"].as_array() else { continue };
        for directive in directives {
            let namespace = directive["Namespace"].as_str().unwrap_or_default().to_owned();
            let sets = directive["Dimensions"].as_array().cloned().unwrap_or_default();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let Some(name) = metric["Name"].as_str() else { continue };
                let unit = metric["Unit"].as_str().unwrap_or("None").to_owned();
                let values: Vec<f64> = match &doc[name] {
                    Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
                    v => v.as_f64().into_iter().collect(),
                };
                for set in &sets {
                    let dims = set
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(|k| format!("{k}={}", doc[k].as_str().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let stats = out.entry((namespace.clone(), name.to_owned(), dims)).or_insert(Stats {
                        unit: unit.clone(),
                        count: 0,
                        sum: 0.0,
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                    });
                    for v in &values {
                        stats.add(*v);
                    }
                }
            }
        }
    }
    out
}

/// The aggregate as a table.
pub(crate) fn render_metrics(agg: &Aggregate) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  {:<22} {:<66} {:>6} {:>10} {:>10} {:>10}  unit",
        "metric", "dimensions", "count", "sum", "avg", "max"
    );
    for ((_, name, dims), st) in agg {
        let _ = writeln!(
            s,
            "  {:<22} {:<66} {:>6} {:>10.3} {:>10.3} {:>10.3}  {}",
            name,
            dims,
            st.count,
            st.sum,
            st.avg(),
            st.max,
            st.unit
        );
    }
    s
}

/// The subsegment documents of `trace_id`, as the console's timeline: one line per
/// (sub)segment, indented by depth, with duration, error/fault flags and annotations.
pub(crate) fn render_trace(docs: &[Value], trace_id: &str) -> String {
    let mut s = String::new();
    let mine: Vec<&Value> = docs.iter().filter(|d| d["trace_id"] == trace_id).collect();
    if mine.is_empty() {
        let _ = writeln!(s, "  (no subsegment received for {trace_id})");
        return s;
    }
    let _ = writeln!(s, "  Trace {trace_id}");
    if let Some(parent) = mine[0]["parent_id"].as_str() {
        let _ = writeln!(s, "  └─ Lambda function segment {parent} (recorded by Lambda)");
    }
    for doc in &mine {
        render_node(&mut s, doc, 2);
    }
    s
}

fn render_node(s: &mut String, node: &Value, depth: usize) {
    let ms = match (node["start_time"].as_f64(), node["end_time"].as_f64()) {
        (Some(a), Some(b)) => format!("{:>8.3} ms", (b - a) * 1000.0),
        _ => "in progress".to_owned(),
    };
    let mut flags = Vec::new();
    for f in ["error", "fault", "throttle"] {
        if node[f] == true {
            flags.push(f);
        }
    }
    let flags = if flags.is_empty() { String::new() } else { format!(" [{}]", flags.join(",")) };
    let ns = node["namespace"].as_str().map(|n| format!(" ({n})")).unwrap_or_default();
    let name = format!("{}└─ {}{ns}", "   ".repeat(depth - 1), node["name"].as_str().unwrap_or("?"));
    let _ = writeln!(s, "  {name:<44} {ms}{flags}");
    if let Some(ann) = node["annotations"].as_object() {
        let text = ann.iter().map(|(k, v)| format!("{k}={}", plain(v))).collect::<Vec<_>>().join(", ");
        let _ = writeln!(s, "  {}      annotations: {text}", "   ".repeat(depth - 1));
    }
    if let Some(ex) = node["cause"]["exceptions"].as_array().and_then(|e| e.first()) {
        let _ = writeln!(s, "  {}      cause: {}", "   ".repeat(depth - 1), plain(&ex["message"]));
    }
    for child in node["subsegments"].as_array().into_iter().flatten() {
        render_node(s, child, depth + 1);
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn emf(metric: &str, value: Value, tenant: &str) -> Value {
        json!({
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{
                "Namespace": "Streamer",
                "Dimensions": [["Environment"], ["Environment", "TenantID"]],
                "Metrics": [{"Name": metric, "Unit": "Seconds"}]
            }]},
            "Environment": "dev", "TenantID": tenant, metric: value
        })
    }

    #[test]
    fn aggregates_per_metric_and_dimension_set_like_cloudwatch() {
        let docs = [
            emf("ConnectionDuration", json!(0.5), "acme"),
            emf("ConnectionDuration", json!([1.5, 2.0]), "globex"),
            json!({"message": "not EMF"}),
        ];
        let agg = aggregate_emf(docs.iter());
        let env = &agg[&("Streamer".into(), "ConnectionDuration".into(), "Environment=dev".into())];
        assert_eq!((env.count, env.sum, env.max), (3, 4.0, 2.0));
        assert!((env.avg() - 4.0 / 3.0).abs() < 1e-9);
        let acme = &agg[&("Streamer".into(), "ConnectionDuration".into(), "Environment=dev, TenantID=acme".into())];
        assert_eq!((acme.count, acme.sum, acme.unit.as_str()), (1, 0.5, "Seconds"));
        assert_eq!(agg.len(), 3);
        assert!(render_metrics(&agg).contains("Environment=dev, TenantID=globex"));
    }

    #[test]
    fn renders_the_trace_tree_with_flags_and_annotations() {
        let doc = json!({
            "trace_id": "1-abc", "parent_id": "53995c3f42cd8ad8", "name": "HandleConnect",
            "start_time": 1.0, "end_time": 1.002, "error": true,
            "annotations": {"action": "connect", "reason": "expired"},
            "subsegments": [{"name": "ValidateJWT", "start_time": 1.0, "end_time": 1.001, "error": true,
                             "cause": {"exceptions": [{"message": "invalid_jwt: token expired"}]}}]
        });
        let out = render_trace(&[doc], "1-abc");
        assert!(out.contains("Lambda function segment 53995c3f42cd8ad8"), "{out}");
        assert!(out.contains("└─ HandleConnect"), "{out}");
        assert!(out.contains("[error]"), "{out}");
        assert!(out.contains("action=connect, reason=expired"), "{out}");
        assert!(out.contains("   └─ ValidateJWT"), "{out}");
        assert!(out.contains("cause: invalid_jwt: token expired"), "{out}");
        assert!(render_trace(&[], "1-x").contains("no subsegment"));
    }
}
