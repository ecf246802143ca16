//! Per-invocation log buffering: records held in a bounded buffer, written out when
//! the invocation logs an ERROR or fails, dropped when it succeeds.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::config::LogBufferConfig;

/// Where buffered lines go when they are flushed (the log layer's writer).
pub(crate) type LineSink = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// The buffer of one invocation. Lines are stored fully formatted, so they keep their
/// original timestamps.
pub(crate) struct LogBuffer {
    config: LogBufferConfig,
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    evicted: usize,
    warned: bool,
    warned_too_large: bool,
    sink: Option<LineSink>,
}

/// Lines taken out of a buffer ([`LogBuffer::take`]), with where they go.
#[must_use = "the lines are written by `write`"]
pub(crate) struct HeldLines {
    lines: VecDeque<Vec<u8>>,
    sink: Option<LineSink>,
}

impl HeldLines {
    /// Writes the lines to the sink, oldest first (without one, drops them); the count.
    pub(crate) fn write(self) -> usize {
        let n = self.lines.len();
        if let Some(sink) = &self.sink {
            for line in &self.lines {
                sink(line);
            }
        }
        n
    }
}

/// The warning written on an invocation's first eviction.
pub(crate) const EVICTED: &str =
    "log buffer full: the oldest buffered records were evicted (raise LogBufferConfig::max_bytes to keep more)";
/// The warning written for an invocation's first record larger than the whole buffer.
pub(crate) const TOO_LARGE: &str = "log buffer: a record larger than LogBufferConfig::max_bytes was dropped without being buffered (raise LogBufferConfig::max_bytes to keep such records)";

impl std::fmt::Debug for LogBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBuffer")
            .field("lines", &self.lines.len())
            .field("bytes", &self.bytes)
            .field("evicted", &self.evicted)
            .finish()
    }
}

impl LogBuffer {
    pub(crate) fn new(config: LogBufferConfig) -> Self {
        Self {
            config,
            lines: VecDeque::new(),
            bytes: 0,
            evicted: 0,
            warned: false,
            warned_too_large: false,
            sink: None,
        }
    }

    pub(crate) fn config(&self) -> &LogBufferConfig {
        &self.config
    }

    /// Holds `line`; evicts the oldest lines past the byte cap. A line larger than the
    /// cap on its own is not held (and evicts nothing). Returns the warning the caller
    /// writes, once per invocation and kind: the first eviction, the first line too large
    /// to hold.
    pub(crate) fn push(&mut self, line: &[u8], sink: &LineSink) -> Option<&'static str> {
        if self.sink.is_none() {
            self.sink = Some(Arc::clone(sink));
        }
        if line.len() > self.config.max_bytes_value() {
            self.evicted += 1;
            if self.warned_too_large {
                return None;
            }
            self.warned_too_large = true;
            return Some(TOO_LARGE);
        }
        self.lines.push_back(line.to_vec());
        self.bytes += line.len();
        let mut first_eviction = false;
        while self.bytes > self.config.max_bytes_value() {
            let Some(old) = self.lines.pop_front() else { break };
            self.bytes -= old.len();
            self.evicted += 1;
            if !self.warned {
                self.warned = true;
                first_eviction = true;
            }
        }
        first_eviction.then_some(EVICTED)
    }

    /// Writes every held line to the sink, oldest first. Returns the count.
    #[cfg(test)]
    pub(crate) fn flush(&mut self) -> usize {
        self.take().write()
    }

    /// Takes every held line out, to be written ([`HeldLines::write`]) once the buffer's
    /// lock is released: the writer is the user's, and a writer that logs would find the
    /// lock held.
    pub(crate) fn take(&mut self) -> HeldLines {
        self.bytes = 0;
        HeldLines { lines: std::mem::take(&mut self.lines), sink: self.sink.clone() }
    }

    pub(crate) fn clear(&mut self) {
        self.lines.clear();
        self.bytes = 0;
    }

    #[cfg(test)]
    pub(crate) fn evicted(&self) -> usize {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogLevel;
    use std::sync::Mutex;

    #[test]
    fn evicts_oldest_past_the_cap_and_warns_once() {
        let out = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let o = Arc::clone(&out);
        let sink: LineSink = Arc::new(move |l: &[u8]| o.lock().unwrap().push(l.to_vec()));
        let mut b = LogBuffer::new(LogBufferConfig::new(LogLevel::Debug).max_bytes(10));
        assert_eq!(b.push(b"aaaa", &sink), None);
        assert_eq!(b.push(b"bbbb", &sink), None);
        assert_eq!(b.push(b"cccc", &sink), Some(EVICTED));
        assert_eq!(b.push(b"dddd", &sink), None);
        assert_eq!(b.evicted(), 2);
        assert_eq!(b.flush(), 2);
        assert_eq!(*out.lock().unwrap(), vec![b"cccc".to_vec(), b"dddd".to_vec()]);
        assert_eq!(b.flush(), 0);
    }

    #[test]
    fn a_record_larger_than_the_cap_is_dropped_alone_with_its_own_warning() {
        let out = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let o = Arc::clone(&out);
        let sink: LineSink = Arc::new(move |l: &[u8]| o.lock().unwrap().push(l.to_vec()));
        let mut b = LogBuffer::new(LogBufferConfig::new(LogLevel::Debug).max_bytes(10));
        assert_eq!(b.push(b"aaaa", &sink), None);
        assert_eq!(b.push(b"0123456789ab", &sink), Some(TOO_LARGE));
        assert_eq!(b.push(b"0123456789abc", &sink), None, "warned once");
        assert_eq!(b.push(b"bbbb", &sink), None);
        assert_eq!(b.evicted(), 2);
        assert_eq!(b.flush(), 2);
        assert_eq!(*out.lock().unwrap(), vec![b"aaaa".to_vec(), b"bbbb".to_vec()], "the others are kept");
    }
}
