//! Errors on subsegments: flags (X-16), `cause` and exceptions (X-17 to X-19).
//!
//! The caller says what kind of failure it is ([`ErrorKind`]); the SDK never guesses
//! `fault` for everything (the Go system did, even for authentication failures).
//!
//! An error becomes a `cause` object with `working_directory` and `exceptions`: the
//! error itself first, then its `source()` chain, each exception linked to the one that
//! caused it through `cause` (the id of the next exception in the chain, the convention of
//! the Java SDK). At most [`MAX_EXCEPTIONS`] exceptions are written; the last one written
//! carries `skipped` with the number left out. A captured backtrace becomes `stack`
//! frames (at most [`MAX_STACK_FRAMES`], the rest counted in `truncated`). A subsegment
//! keeps at most [`MAX_EXCEPTIONS_PER_SUBSEGMENT`] exceptions over all the errors recorded
//! on it; the rest are counted under metadata `streamer_obs.truncated_exceptions_count`.
//!
//! Recording the same error a second time in an invocation (for example by the parent
//! subsegment after a child recorded it) writes the `cause` as the 16-character id of the
//! exception recorded first, instead of a duplicate. When only part of a chain was
//! recorded before, the new exceptions link to the recorded one by id.
//!
//! ```
//! use streamer_obs::xray::cause::ErrorKind;
//! use streamer_obs::xray::document::Flags;
//! assert_eq!(ErrorKind::Error.flags(), Flags { error: true, ..Flags::default() });
//! assert_eq!(ErrorKind::from_http_status(503), Some(ErrorKind::Fault));
//! assert_eq!(ErrorKind::from_http_status(429), Some(ErrorKind::Throttle));
//! assert_eq!(ErrorKind::from_http_status(204), None);
//! ```

use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::trace_header::SegmentId;
use crate::xray::document::{Flags, MAX_STRING_CHARS, cut};

/// At most this many exceptions of one `source()` chain are written.
pub const MAX_EXCEPTIONS: usize = 10;
/// At most this many errors of one `source()` chain are counted for the last written
/// exception's `skipped` (a cyclic chain would never end): a longer chain counts as this
/// long.
///
/// ```
/// assert_eq!(streamer_obs::xray::cause::MAX_CHAIN_COUNTED, 10_000);
/// ```
pub const MAX_CHAIN_COUNTED: usize = 10_000;
/// At most this many exceptions are kept on one subsegment, whatever the number of
/// errors recorded on it: the exceptions of later errors beyond it are left out and
/// counted under metadata `streamer_obs.truncated_exceptions_count`.
///
/// ```
/// assert_eq!(streamer_obs::xray::cause::MAX_EXCEPTIONS_PER_SUBSEGMENT, 32);
/// ```
pub const MAX_EXCEPTIONS_PER_SUBSEGMENT: usize = 32;
/// At most this many stack frames per exception are written.
pub const MAX_STACK_FRAMES: usize = 32;
/// Exception messages are cut to this many characters (X-8: string values are limited to
/// 250 characters unless a field says otherwise, and `message` says nothing else).
pub const MAX_MESSAGE_CHARS: usize = 250;

/// What kind of failure an error is, chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An expected failure or a client error (4xx-like): sets `error`.
    Error,
    /// An unexpected failure or a server error (5xx-like): sets `fault`.
    Fault,
    /// Throttled (429): sets `throttle` and `error`.
    Throttle,
}

impl ErrorKind {
    /// The flags this kind sets.
    ///
    /// ```
    /// # use streamer_obs::xray::cause::ErrorKind;
    /// assert!(ErrorKind::Fault.flags().fault);
    /// assert!(ErrorKind::Throttle.flags().throttle && ErrorKind::Throttle.flags().error);
    /// ```
    pub fn flags(self) -> Flags {
        match self {
            ErrorKind::Error => Flags { error: true, ..Flags::default() },
            ErrorKind::Fault => Flags { fault: true, ..Flags::default() },
            ErrorKind::Throttle => Flags { error: true, throttle: true, fault: false },
        }
    }

    /// The kind of an HTTP status (X-16): ≥ 500 fault, 429 throttle, other ≥ 400 error.
    ///
    /// ```
    /// # use streamer_obs::xray::cause::ErrorKind;
    /// assert_eq!(ErrorKind::from_http_status(401), Some(ErrorKind::Error));
    /// assert_eq!(ErrorKind::from_http_status(500), Some(ErrorKind::Fault));
    /// ```
    pub fn from_http_status(status: u16) -> Option<Self> {
        match status {
            500.. => Some(ErrorKind::Fault),
            429 => Some(ErrorKind::Throttle),
            400..=499 => Some(ErrorKind::Error),
            _ => None,
        }
    }
}

/// One stack frame (`path`, `line`, `label`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackFrame {
    /// Source file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Line number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One exception of a `cause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// The exception id (16 hex digits).
    pub id: SegmentId,
    /// The error's `Display` text.
    pub message: String,
    /// The error type.
    pub type_name: String,
    /// Whether the error came from a downstream service.
    pub remote: bool,
    /// How many stack frames were left out.
    pub truncated: u32,
    /// How many exceptions of the chain were left out after this one.
    pub skipped: u32,
    /// The id of the exception that caused this one.
    pub cause: Option<SegmentId>,
    /// Stack frames, innermost first.
    pub stack: Vec<StackFrame>,
}

impl Serialize for Exception {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", self.id.as_str())?;
        m.serialize_entry("message", &self.message)?;
        m.serialize_entry("type", &self.type_name)?;
        m.serialize_entry("remote", &self.remote)?;
        if self.truncated > 0 {
            m.serialize_entry("truncated", &self.truncated)?;
        }
        if self.skipped > 0 {
            m.serialize_entry("skipped", &self.skipped)?;
        }
        if let Some(c) = &self.cause {
            m.serialize_entry("cause", c.as_str())?;
        }
        if !self.stack.is_empty() {
            m.serialize_entry("stack", &self.stack)?;
        }
        m.end()
    }
}

/// A subsegment's `cause`: a reference to an exception recorded before, or exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The id of an exception already recorded in the trace (the string form).
    Ref(SegmentId),
    /// `{working_directory, exceptions}`.
    Exceptions {
        /// The process's working directory.
        working_directory: String,
        /// The exceptions, outermost first.
        exceptions: Vec<Exception>,
    },
}

impl Cause {
    /// The exceptions written in this cause (none for a reference).
    ///
    /// ```
    /// # use streamer_obs::xray::cause::Cause;
    /// # use streamer_obs::trace_header::SegmentId;
    /// assert!(Cause::Ref(SegmentId::generate()).exceptions().is_empty());
    /// ```
    pub fn exceptions(&self) -> &[Exception] {
        match self {
            Cause::Ref(_) => &[],
            Cause::Exceptions { exceptions, .. } => exceptions,
        }
    }

    /// Adds `other` to this cause: exceptions are appended, up to
    /// [`MAX_EXCEPTIONS_PER_SUBSEGMENT`]; a reference is kept only while no exception
    /// object was recorded. Returns the ids of the exceptions left out (an exception kept
    /// whose `cause` was left out loses the link and counts them in `skipped`).
    pub(crate) fn merge(&mut self, other: Cause) -> Vec<SegmentId> {
        match (self, other) {
            (Cause::Exceptions { exceptions, .. }, Cause::Exceptions { exceptions: mut more, .. }) => {
                let room = MAX_EXCEPTIONS_PER_SUBSEGMENT.saturating_sub(exceptions.len());
                let left_out = if more.len() > room { unlink_dropped(&mut more, room) } else { Vec::new() };
                exceptions.extend(more);
                left_out
            }
            (_, Cause::Ref(_)) => Vec::new(),
            (this @ Cause::Ref(_), other) => {
                *this = other;
                Vec::new()
            }
        }
    }

    /// Keeps only the first `keep` exceptions (the size guard); returns the ids left out.
    pub(crate) fn keep_first(&mut self, keep: usize) -> Vec<SegmentId> {
        match self {
            Cause::Exceptions { exceptions, .. } if exceptions.len() > keep => unlink_dropped(exceptions, keep),
            _ => Vec::new(),
        }
    }

    /// Drops every stack frame, counting them in `truncated`. Returns how many were dropped.
    pub(crate) fn drop_stacks(&mut self) -> usize {
        let mut dropped = 0;
        if let Cause::Exceptions { exceptions, .. } = self {
            for e in exceptions {
                let n = e.stack.len();
                dropped += n;
                e.truncated = e.truncated.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                e.stack.clear();
            }
        }
        dropped
    }
}

/// Truncates `exceptions` to `keep`, returning the ids left out; a kept exception whose
/// `cause` was left out loses the link and counts the left-out ones in `skipped`.
fn unlink_dropped(exceptions: &mut Vec<Exception>, keep: usize) -> Vec<SegmentId> {
    let left_out: Vec<SegmentId> = exceptions.drain(keep..).map(|e| e.id).collect();
    let n = u32::try_from(left_out.len()).unwrap_or(u32::MAX);
    for e in exceptions.iter_mut() {
        if e.cause.is_some_and(|c| left_out.contains(&c)) {
            e.cause = None;
            e.skipped = e.skipped.saturating_add(n);
        }
    }
    left_out
}

impl Serialize for Cause {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cause::Ref(id) => s.serialize_str(id.as_str()),
            Cause::Exceptions { working_directory, exceptions } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("working_directory", working_directory)?;
                m.serialize_entry("exceptions", exceptions)?;
                m.end()
            }
        }
    }
}

/// How to record an error, beyond its kind.
///
/// ```
/// use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
/// let d = ErrorDetails::new(ErrorKind::Fault).remote(true);
/// assert!(d.is_remote());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorDetails<'a> {
    kind: ErrorKind,
    remote: bool,
    type_name: Option<&'a str>,
    backtrace: Option<&'a Backtrace>,
}

impl<'a> ErrorDetails<'a> {
    /// Details for an error of `kind`.
    ///
    /// ```
    /// # use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
    /// assert_eq!(ErrorDetails::new(ErrorKind::Error).kind(), ErrorKind::Error);
    /// ```
    pub fn new(kind: ErrorKind) -> Self {
        Self { kind, remote: false, type_name: None, backtrace: None }
    }
    /// Marks the error as coming from a downstream service.
    ///
    /// ```
    /// # use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
    /// assert!(ErrorDetails::new(ErrorKind::Fault).remote(true).is_remote());
    /// ```
    pub fn remote(mut self, remote: bool) -> Self {
        self.remote = remote;
        self
    }
    /// The type name of the outermost error (default: derived from its `Debug` text).
    ///
    /// ```
    /// # use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
    /// let d = ErrorDetails::new(ErrorKind::Error).type_name("ConditionalCheckFailedException");
    /// # let _ = d;
    /// ```
    pub fn type_name(mut self, name: &'a str) -> Self {
        self.type_name = Some(name);
        self
    }
    /// A captured backtrace, written as the outermost exception's stack.
    ///
    /// ```
    /// # use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
    /// let bt = std::backtrace::Backtrace::capture();
    /// let d = ErrorDetails::new(ErrorKind::Fault).backtrace(&bt);
    /// # let _ = d;
    /// ```
    pub fn backtrace(mut self, bt: &'a Backtrace) -> Self {
        self.backtrace = Some(bt);
        self
    }
    /// The kind.
    ///
    /// ```
    /// # use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
    /// assert_eq!(ErrorDetails::new(ErrorKind::Throttle).kind(), ErrorKind::Throttle);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// Whether the error is remote.
    ///
    /// ```
    /// # use streamer_obs::xray::cause::{ErrorDetails, ErrorKind};
    /// assert!(!ErrorDetails::new(ErrorKind::Error).is_remote());
    /// ```
    pub fn is_remote(&self) -> bool {
        self.remote
    }
}

/// The process working directory, read once.
///
/// ```
/// assert!(!streamer_obs::xray::cause::working_directory().is_empty());
/// ```
pub fn working_directory() -> &'static str {
    static WD: OnceLock<String> = OnceLock::new();
    WD.get_or_init(|| std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default())
}

/// Where an exception was recorded: the arena index of its subsegment's node and that
/// subsegment's id (an index alone could name a later node in a reused slot).
pub(crate) type RecordedAt = (u32, SegmentId);

/// Errors already recorded in an invocation, by fingerprint, with their exception id and
/// where they were recorded.
#[derive(Debug, Default)]
pub(crate) struct RecordedErrors {
    /// Created with the first recorded error (most invocations record none, and a
    /// `HashMap` seeds its hasher when created).
    by_fingerprint: Option<HashMap<u64, (SegmentId, RecordedAt)>>,
}

/// A fingerprint per element of the chain: element `i` covers its message and every
/// source below it, so a wrapped error is recognised by its inner part.
fn fingerprints(chain: &[(String, String)], remote: bool) -> Vec<u64> {
    let mut out = vec![0u64; chain.len()];
    let mut below = 0u64;
    for i in (0..chain.len()).rev() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // The text, the type (two errors may print alike: `timed out`) and where the
        // error came from.
        chain[i].0.hash(&mut h);
        chain[i].1.hash(&mut h);
        remote.hash(&mut h);
        below.hash(&mut h);
        below = h.finish();
        out[i] = below;
    }
    out
}

/// An error's `source()` chain rendered: each error's message and its type as its `Debug`
/// names it (at most [`MAX_EXCEPTIONS`] + 1 of them), and how many there are (counted up
/// to [`MAX_CHAIN_COUNTED`]).
#[derive(Debug)]
pub(crate) struct ErrorChain {
    links: Vec<(String, String)>,
    total: usize,
}

impl ErrorChain {
    /// Renders `err`'s chain: the errors' `Display`, `Debug` and `source()` run here.
    pub(crate) fn of(err: &(dyn StdError + 'static)) -> Self {
        let mut links = Vec::new();
        let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
        let mut total = 0usize;
        while let Some(e) = cur {
            total += 1;
            if links.len() < MAX_EXCEPTIONS + 1 {
                links.push((e.to_string(), erased_type_name(e)));
            }
            if total >= MAX_CHAIN_COUNTED {
                break; // a cyclic or absurd chain: stop counting
            }
            cur = e.source();
        }
        Self { links, total }
    }
}

/// The type shown for a type-erased error: the leading identifier of its `Debug` text
/// (`Io`, `ParseIntError`, ...), or `Error` when there is none.
fn erased_type_name(e: &dyn StdError) -> String {
    cut(crate::error_type::from_debug(&format!("{e:?}")).to_owned(), MAX_STRING_CHARS)
}

impl RecordedErrors {
    /// Forgets the exceptions `ids` (left out of their subsegment): a later record of the
    /// same error writes its exceptions again instead of a reference to one never sent.
    pub(crate) fn forget(&mut self, ids: &[SegmentId]) {
        if let Some(map) = self.by_fingerprint.as_mut() {
            map.retain(|_, (id, _)| !ids.contains(id));
        }
    }

    /// The exception id recorded for fingerprint `fp` on the subsegment `here`.
    fn known(&self, fp: u64, here: RecordedAt) -> Option<SegmentId> {
        let &(id, at) = self.by_fingerprint.as_ref()?.get(&fp)?;
        (at == here).then_some(id)
    }

    /// Builds the cause for `err` recorded on the subsegment `at`, remembering its
    /// exceptions. An error (or the inner part of one) already recorded on the same
    /// subsegment is referred to by id instead of written again; recorded on another, it
    /// is written in full, with its own ids (a `cause` never refers into another
    /// subsegment, whose exceptions the size guard may trim).
    #[cfg(test)]
    pub(crate) fn cause_for(
        &mut self,
        err: &(dyn StdError + 'static),
        details: &ErrorDetails<'_>,
        at: RecordedAt,
    ) -> Cause {
        self.cause_for_chain(&ErrorChain::of(err), details, at)
    }

    /// [`Self::cause_for`] of a chain rendered beforehand ([`ErrorChain::of`]): what the
    /// recorder calls under its lock, the errors' `Display`, `Debug` and `source()` (the
    /// user's code, which may record X-Ray data itself) having run before it took it.
    pub(crate) fn cause_for_chain(&mut self, chain: &ErrorChain, details: &ErrorDetails<'_>, at: RecordedAt) -> Cause {
        let ErrorChain { links: chain, total } = chain;
        let total = *total;
        let fps = fingerprints(chain, details.remote);
        if let Some(id) = fps.first().and_then(|&f| self.known(f, at)) {
            return Cause::Ref(id);
        }
        let mut exceptions: Vec<Exception> = Vec::new();
        for (i, (msg, erased_type)) in chain.iter().enumerate() {
            if let Some(known) = self.known(fps[i], at) {
                if let Some(prev) = exceptions.last_mut() {
                    prev.cause = Some(known);
                }
                break;
            }
            if exceptions.len() == MAX_EXCEPTIONS {
                if let Some(prev) = exceptions.last_mut() {
                    prev.skipped = u32::try_from(total - i).unwrap_or(u32::MAX);
                }
                break;
            }
            let id = SegmentId::generate();
            if let Some(prev) = exceptions.last_mut() {
                prev.cause = Some(id);
            }
            // A type name given as text (`ErrorDetails::type_name`, an error view's) is
            // scrubbed as the message is.
            let type_name = match (i, details.type_name) {
                (0, Some(t)) => cut(crate::xray::redact::scrub(t).unwrap_or_else(|| t.to_owned()), MAX_STRING_CHARS),
                _ => erased_type.clone(),
            };
            let (stack, truncated) = match (i, details.backtrace) {
                (0, Some(bt)) => frames(bt),
                _ => (Vec::new(), 0),
            };
            exceptions.push(Exception {
                id,
                // Error text may quote what failed (a token, an `Authorization` header, a
                // `passwd=…` pair): scrubbed as a log line's text is, the pairs of the
                // configured key list included.
                message: cut(crate::xray::redact::scrub(msg).unwrap_or_else(|| msg.clone()), MAX_MESSAGE_CHARS),
                type_name,
                remote: details.remote,
                truncated,
                skipped: 0,
                cause: None,
                stack,
            });
            self.by_fingerprint.get_or_insert_with(HashMap::new).insert(fps[i], (id, at));
        }
        Cause::Exceptions { working_directory: cut(working_directory().to_owned(), MAX_STRING_CHARS), exceptions }
    }
}

/// Stack frames from a captured backtrace (`N: label` lines followed by
/// `at path:line:col` lines), at most [`MAX_STACK_FRAMES`]; the count left out.
///
/// ```
/// let (frames, truncated) = streamer_obs::xray::cause::frames(&std::backtrace::Backtrace::force_capture());
/// assert!(!frames.is_empty() && frames.len() <= 32);
/// # let _ = truncated;
/// ```
pub fn frames(bt: &Backtrace) -> (Vec<StackFrame>, u32) {
    if bt.status() != std::backtrace::BacktraceStatus::Captured {
        return (Vec::new(), 0);
    }
    parse_backtrace(&bt.to_string())
}

fn parse_backtrace(text: &str) -> (Vec<StackFrame>, u32) {
    let mut out: Vec<StackFrame> = Vec::new();
    let mut total = 0u32;
    for line in text.lines() {
        let t = line.trim();
        if let Some(loc) = t.strip_prefix("at ") {
            if total as usize <= MAX_STACK_FRAMES
                && let Some(last) = out.last_mut().filter(|f| f.path.is_none())
            {
                let mut parts = loc.rsplitn(3, ':');
                let _col = parts.next();
                let line_no = parts.next().and_then(|l| l.parse().ok());
                let path = parts.next().map(|p| cut(p.to_owned(), MAX_STRING_CHARS));
                if path.is_some() {
                    last.path = path;
                    last.line = line_no;
                } else {
                    last.path = Some(cut(loc.to_owned(), MAX_STRING_CHARS));
                }
            }
            continue;
        }
        let Some((num, label)) = t.split_once(": ") else { continue };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        total += 1;
        if out.len() < MAX_STACK_FRAMES {
            out.push(StackFrame { path: None, line: None, label: Some(cut(label.to_owned(), MAX_STRING_CHARS)) });
        }
    }
    let kept = u32::try_from(out.len()).unwrap_or(u32::MAX);
    (out, total.saturating_sub(kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subsegment to record on.
    fn at() -> RecordedAt {
        (0, SegmentId::from_u64(1).unwrap())
    }

    #[derive(Debug, thiserror::Error)]
    #[error("token expired")]
    struct Expired;

    #[derive(Debug, thiserror::Error)]
    #[error("jwt validation failed")]
    struct Jwt(#[source] Expired);

    #[derive(Debug, thiserror::Error)]
    #[error("connect failed")]
    struct Connect(#[source] Jwt);

    #[test]
    fn chain_becomes_linked_exceptions() {
        let mut rec = RecordedErrors::default();
        let err = Jwt(Expired);
        let cause =
            rec.cause_for(&err, &ErrorDetails::new(ErrorKind::Error).type_name(std::any::type_name::<Jwt>()), at());
        let ex = cause.exceptions();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].message, "jwt validation failed");
        assert!(ex[0].type_name.ends_with("Jwt"));
        assert_eq!(ex[0].cause, Some(ex[1].id));
        assert_eq!(ex[1].type_name, "Expired");
        assert_eq!(ex[1].cause, None);
        assert!(!ex[0].remote);
    }

    #[test]
    fn second_record_refers_to_the_first() {
        let mut rec = RecordedErrors::default();
        let first = rec.cause_for(&Jwt(Expired), &ErrorDetails::new(ErrorKind::Error), at());
        let id = first.exceptions()[0].id;
        // The same error (moved, so at another address) recorded again.
        assert_eq!(rec.cause_for(&Jwt(Expired), &ErrorDetails::new(ErrorKind::Error), at()), Cause::Ref(id));
        // A wrapper: only the new outer exception, linked to the recorded one.
        let wrapped = rec.cause_for(&Connect(Jwt(Expired)), &ErrorDetails::new(ErrorKind::Fault), at());
        let ex = wrapped.exceptions();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].message, "connect failed");
        assert_eq!(ex[0].cause, Some(id));
    }

    #[test]
    fn an_error_recorded_on_another_subsegment_is_written_again() {
        let mut rec = RecordedErrors::default();
        let sibling: RecordedAt = (1, SegmentId::from_u64(2).unwrap());
        let first = rec.cause_for(&Jwt(Expired), &ErrorDetails::new(ErrorKind::Error), sibling);
        let (id, inner) = (first.exceptions()[0].id, first.exceptions()[1].id);
        // Recorded on another subsegment: written in full, with new ids, neither a
        // reference nor a link to the sibling's exceptions.
        let again = rec.cause_for(&Connect(Jwt(Expired)), &ErrorDetails::new(ErrorKind::Fault), at());
        let ex = again.exceptions();
        assert_eq!(ex.len(), 3, "{ex:?}");
        assert!(ex.iter().all(|e| e.id != id && e.id != inner && e.cause != Some(id) && e.cause != Some(inner)));
        // Recorded on `AT` now: a later record there refers to it.
        assert_eq!(
            rec.cause_for(&Connect(Jwt(Expired)), &ErrorDetails::new(ErrorKind::Fault), at()),
            Cause::Ref(ex[0].id)
        );
    }

    #[test]
    fn long_chains_are_skipped_and_counted() {
        // Build a 15-deep chain with boxed sources.
        #[derive(Debug)]
        struct Link(usize, Option<Box<Link>>);
        impl std::fmt::Display for Link {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "link {}", self.0)
            }
        }
        impl StdError for Link {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                self.1.as_deref().map(|l| l as &(dyn StdError + 'static))
            }
        }
        let mut e = Link(14, None);
        for i in (0..14).rev() {
            e = Link(i, Some(Box::new(e)));
        }
        let cause = RecordedErrors::default().cause_for(&e, &ErrorDetails::new(ErrorKind::Fault), at());
        let ex = cause.exceptions();
        assert_eq!(ex.len(), MAX_EXCEPTIONS);
        assert_eq!(ex[MAX_EXCEPTIONS - 1].skipped, 5);
        assert_eq!(ex[MAX_EXCEPTIONS - 1].cause, None);
    }

    #[test]
    fn backtrace_text_becomes_frames() {
        let text = "   0: app::handler\n             at ./src/main.rs:10:5\n   1: core::ops::function::FnOnce::call_once\n             at /rustc/x/library/core/src/ops/function.rs:250:5\n   2: main\n";
        let (frames, truncated) = parse_backtrace(text);
        assert_eq!(truncated, 0);
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames[0],
            StackFrame { path: Some("./src/main.rs".into()), line: Some(10), label: Some("app::handler".into()) }
        );
        assert_eq!(frames[2].path, None);
        let many: String = (0..40).map(|i| format!("  {i}: f{i}\n")).collect();
        let (frames, truncated) = parse_backtrace(&many);
        assert_eq!((frames.len(), truncated), (MAX_STACK_FRAMES, 8));
    }

    #[test]
    fn captured_backtrace_becomes_frames_on_the_outer_exception() {
        let bt = Backtrace::force_capture();
        let (frames, truncated) = frames(&bt);
        assert!(!frames.is_empty());
        assert!(frames.len() <= MAX_STACK_FRAMES);
        assert!(frames.iter().all(|f| f.label.is_some()));
        let cause = RecordedErrors::default().cause_for(
            &Jwt(Expired),
            &ErrorDetails::new(ErrorKind::Fault).backtrace(&bt),
            at(),
        );
        let ex = cause.exceptions();
        assert_eq!(ex[0].stack.len(), frames.len());
        assert_eq!(ex[0].truncated, truncated);
        assert!(ex[1].stack.is_empty());
        assert_eq!(frames_of_uncaptured(), (0, 0));
    }

    fn frames_of_uncaptured() -> (usize, u32) {
        let (f, t) = frames(&Backtrace::disabled());
        (f.len(), t)
    }

    #[test]
    fn cause_json_forms() {
        let id = SegmentId::from_u64(0x42).unwrap();
        assert_eq!(serde_json::to_string(&Cause::Ref(id)).unwrap(), "\"0000000000000042\"");
        let c = Cause::Exceptions {
            working_directory: "/var/task".into(),
            exceptions: vec![Exception {
                id,
                message: "m".into(),
                type_name: "T".into(),
                remote: true,
                truncated: 2,
                skipped: 0,
                cause: None,
                stack: vec![],
            }],
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"working_directory":"/var/task","exceptions":[{"id":"0000000000000042","message":"m","type":"T","remote":true,"truncated":2}]}"#
        );
    }
}
