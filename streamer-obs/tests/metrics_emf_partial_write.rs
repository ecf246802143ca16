//! A failed, partial EMF write must not corrupt the *next* document (a review found it
//! did).
//!
//! Rules: aws-rules.md §1.1 E-1 (one log event holds exactly one EMF document: a valid
//! JSON object, nothing before or after it, one object per stdout line) and §1.4 E-27
//! (an event that is not valid JSON is stored but its metrics are never extracted:
//! a silent loss). Project policy (docs/metrics.md, "EmfPublisher"): "A failed write logs
//! one ERROR with `lost_documents` and is reported as lost" — never an invalid EMF
//! document, never silently lost data (seed-system.md: metrics lost silently).
//!
//! `EmfPublisher::write_set` writes the encoded lines with one `write_all`. `write_all`
//! may fail after part of the buffer has reached the writer (a pipe or socket that
//! accepts some bytes, then returns an error such as `EPIPE`, `EAGAIN` on a non-blocking
//! stdout, `ENOSPC`...). The publisher reports that document lost (correct) but leaves
//! the half-written line unterminated: the next document it writes is glued onto that
//! tail, so the next line is `{"A":1,"_aws":{"Clou{"B":2,...}` — not JSON. CloudWatch
//! extracts nothing from it (E-27), yet `write_set` reports the second document as
//! `sent: 1, lost: 0`: that document's metrics are lost without a word.
//!
//! Policy (docs/metrics.md): after a write that broke off mid-line the publisher ends the
//! line at once, or, when the writer refuses even that, before the next document (which
//! is reported lost while the line cannot be ended). The documents whose whole line went
//! out before the error count as sent.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use streamer_obs::metrics::{EmfPublisher, MetricSet, Namespace, Unit};

const NOW: u64 = 1_700_000_000_000;

/// A writer that accepts `budget` bytes, then fails once, then works normally.
#[derive(Clone)]
struct FailsOnceMidLine {
    out: Arc<Mutex<Vec<u8>>>,
    budget: Arc<Mutex<Option<usize>>>,
}

impl Write for FailsOnceMidLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut budget = self.budget.lock().unwrap();
        match *budget {
            Some(0) => {
                *budget = None;
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "pipe closed mid-line"))
            }
            Some(n) => {
                let k = n.min(buf.len());
                *budget = Some(n - k);
                self.out.lock().unwrap().extend_from_slice(&buf[..k]);
                Ok(k)
            }
            None => {
                self.out.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_document_reported_sent_after_a_partial_write_is_a_valid_line_of_its_own() {
    let writer = FailsOnceMidLine { out: Arc::default(), budget: Arc::new(Mutex::new(Some(20))) };
    let publisher = EmfPublisher::new(writer.clone());

    let mut first = MetricSet::new(Namespace::streamer());
    first.add("A", Unit::Count, 1.0).unwrap();
    let r1 = publisher.write_set(&first, NOW);
    assert_eq!((r1.sent, r1.lost), (0, 1), "the failed document is reported lost (this part is right)");

    let mut second = MetricSet::new(Namespace::streamer());
    second.add("B", Unit::Count, 2.0).unwrap();
    let r2 = publisher.write_set(&second, NOW);
    assert_eq!((r2.sent, r2.lost), (1, 0), "the second document is reported sent");

    let text = String::from_utf8(writer.out.lock().unwrap().clone()).unwrap();
    // The document reported sent must be one JSON object on a line of its own (E-1),
    // with its metric: find the line that mentions "B".
    let line = text.lines().find(|l| l.contains("\"B\"")).expect("the second document was written");
    let parsed: Result<Value, _> = serde_json::from_str(line);
    assert!(
        parsed.as_ref().is_ok_and(|doc| doc["B"] == 2 && doc["_aws"]["CloudWatchMetrics"].is_array()),
        "E-1/E-27: the document reported as sent is not a valid EMF line (its metrics are lost silently):\n{line}"
    );
}

/// A writer that refuses everything while `down` is set.
#[derive(Clone, Default)]
struct Switchable {
    out: Arc<Mutex<Vec<u8>>>,
    budget: Arc<Mutex<Option<usize>>>,
    down: Arc<Mutex<bool>>,
}

impl Write for Switchable {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if *self.down.lock().unwrap() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "down"));
        }
        let mut budget = self.budget.lock().unwrap();
        let k = budget.map_or(buf.len(), |n| n.min(buf.len()));
        if let Some(n) = budget.as_mut() {
            *n -= k;
            if *n == 0 {
                *budget = None;
                *self.down.lock().unwrap() = true;
            }
        }
        self.out.lock().unwrap().extend_from_slice(&buf[..k]);
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn set_of(name: &str, metrics: usize) -> MetricSet {
    let mut set = MetricSet::new(Namespace::streamer());
    for i in 0..metrics {
        set.add(format!("{name}{i}"), Unit::Count, 1.0).unwrap();
    }
    set
}

#[test]
fn a_writer_that_refuses_the_line_end_too_gets_it_before_the_next_document() {
    let writer = Switchable { budget: Arc::new(Mutex::new(Some(20))), ..Switchable::default() };
    let publisher = EmfPublisher::new(writer.clone());
    let r = publisher.write_set(&set_of("A", 1), NOW);
    assert_eq!((r.sent, r.lost), (0, 1));
    // Still down: the line cannot be ended, so the next document is not written glued on.
    let r = publisher.write_set(&set_of("B", 1), NOW);
    assert_eq!((r.sent, r.lost), (0, 1));
    assert!(!String::from_utf8(writer.out.lock().unwrap().clone()).unwrap().contains("\"B0\""));
    // Back up: the open line is ended first, then the document goes on a line of its own.
    *writer.down.lock().unwrap() = false;
    let r = publisher.write_set(&set_of("C", 1), NOW);
    assert_eq!((r.sent, r.lost), (1, 0));
    let text = String::from_utf8(writer.out.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0].len(), 20, "the broken-off line, ended");
    let doc: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(doc["C0"], 1);
}

#[test]
fn documents_whose_whole_line_went_out_before_the_error_count_as_sent() {
    // 250 metrics: three documents (100 per directive, E-4). The writer takes the first
    // line whole and a part of the second.
    let set = set_of("M", 250);
    let mut all = Vec::new();
    let full = EmfPublisher::new(&mut all);
    assert_eq!(full.write_set(&set, NOW).sent, 3);
    let first_line = all.iter().position(|&b| b == b'\n').unwrap() + 1;

    let writer = Switchable { budget: Arc::new(Mutex::new(Some(first_line + 10))), ..Switchable::default() };
    let publisher = EmfPublisher::new(writer.clone());
    let r = publisher.write_set(&set, NOW);
    assert_eq!((r.sent, r.lost), (1, 2));
    let text = String::from_utf8(writer.out.lock().unwrap().clone()).unwrap();
    let doc: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(doc["_aws"]["CloudWatchMetrics"].is_array());
}
