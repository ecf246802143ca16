//! [`SpinLock`]: the lock of the state the recording path takes many times per
//! invocation: an invocation's own metric set and X-Ray tree, the log layer's span fields,
//! the dimension contexts a configuration's metric sets share.
//!
//! Those locks are almost never contended (only tasks or threads that record at the same
//! moment meet there, mostly of one invocation) and each is held for a short section of
//! this crate's code. Two sections do I/O, both once per invocation as it ends: the X-Ray
//! tree is held while its datagram is sent (a non-blocking socket, or an emitter, which
//! must not block without bound), and the metric set while its EMF line is written (a
//! writer that blocks, a full stdout pipe, holds it as long: a task of the same invocation
//! recording at that moment yields until it is written). No caller code runs under them
//! but what a caller runs on its own state (`InvocationMetrics::with_set`). `std::sync::Mutex` costs two atomic
//! read-modify-write instructions per lock and unlock pair (its unlock swaps the state to
//! learn whether a thread sleeps on it); a spin lock's unlock is a plain release store, so a
//! pair costs one (on the 2-vCPU benchmark machine about 5 ns less per pair). A contended
//! lock yields the thread between tries (`spin::relax::Yield`), so a waiter never burns a
//! whole time slice. There is no poisoning: a panic while the lock is held releases it, and
//! the state it guards is valid between any two of its operations.

/// A spin lock that yields while contended (see the module documentation). Its guards
/// count the locks this thread holds, so that what must not run under one (a log line:
/// the subscriber's code) can wait until the last is released ([`after_unlock`]).
pub(crate) struct SpinLock<T>(spin::mutex::SpinMutex<T, spin::relax::Yield>);

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(spin::mutex::SpinMutex::new(value))
    }

    /// Takes the lock (yielding while another thread holds it).
    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        let inner = self.0.lock();
        Guard { inner, _held: Held::mark() }
    }

    /// Takes the lock if it is free.
    #[cfg(test)]
    pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
        let inner = self.0.try_lock()?;
        Some(Guard { inner, _held: Held::mark() })
    }

    /// Whether some thread holds the lock now.
    #[cfg(test)]
    pub(crate) fn is_locked(&self) -> bool {
        self.0.is_locked()
    }

    /// The value, through an exclusive borrow (no locking).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

/// A held [`SpinLock`]. Its fields drop in order: the lock is released first, then the
/// thread's count of held locks goes down, and when it reaches zero what was deferred runs.
pub(crate) struct Guard<'a, T> {
    inner: spin::mutex::SpinMutexGuard<'a, T>,
    _held: Held,
}

impl<T> std::ops::Deref for Guard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> std::ops::DerefMut for Guard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

/// The bit of [`STATE`] that says [`DEFERRED`] holds something; the bits below count the
/// locks held.
const PENDING: u32 = 1 << 31;

thread_local! {
    /// How many of this crate's locks this thread holds, and [`PENDING`]: one cell, so a
    /// lock and its release touch one thread-local each.
    static STATE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// What [`after_unlock`] deferred, in order.
    static DEFERRED: std::cell::RefCell<Vec<Box<dyn FnOnce()>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One lock counted as held by this thread while it lives. Not `Send`: a guard released
/// on another thread would leave both threads' counts wrong (so no guard is held across an
/// `.await` of a `Send` future either: the compiler refuses it).
struct Held(std::marker::PhantomData<*const ()>);

impl Held {
    #[inline]
    fn mark() -> Self {
        STATE.with(|s| s.set(s.get().wrapping_add(1)));
        Held(std::marker::PhantomData)
    }
}

impl Drop for Held {
    #[inline]
    fn drop(&mut self) {
        let left = STATE.with(|s| {
            let left = s.get().wrapping_sub(1);
            s.set(left);
            left
        });
        // No lock held any more, and something deferred.
        if left == PENDING {
            run_deferred();
        }
    }
}

#[cold]
#[inline(never)]
fn run_deferred() {
    STATE.with(|s| s.set(s.get() & !PENDING));
    let work = DEFERRED.try_with(|d| std::mem::take(&mut *d.borrow_mut())).unwrap_or_default();
    for f in work {
        f();
    }
}

/// Writes what [`after_unlock`] deferred now, whatever locks this thread holds: for the
/// lifecycle's panic hook, after which the process may abort.
pub(crate) fn run_deferred_now() {
    if STATE.try_with(std::cell::Cell::get).is_ok_and(|s| s & PENDING != 0) {
        run_deferred();
    }
}

/// Runs `f` now if this thread holds none of this crate's locks, else as soon as it has
/// released the last one. For the crate's own log lines written where a lock is held (a
/// limit reached, a document trimmed, a send failed): a log line runs the subscriber's
/// code, which may record or read telemetry (a layer that stamps the trace header on every
/// line) and so take the same lock again on this thread, which would spin forever.
///
/// `f` is dropped unrun only if the thread is exiting.
pub(crate) fn after_unlock(f: impl FnOnce() + 'static) {
    if STATE.with(std::cell::Cell::get) & !PENDING == 0 {
        f();
        return;
    }
    if DEFERRED.try_with(|d| d.borrow_mut().push(Box::new(f))).is_ok() {
        STATE.with(|s| s.set(s.get() | PENDING));
    }
}

thread_local! {
    /// How many of this crate's locks this thread holds while it runs a caller's code
    /// under them (`InvocationMetrics::with_set`).
    static CALLER_CODE_UNDER_LOCK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Marks the caller's code run under one of this crate's locks, for as long as it lives:
/// a panic there that aborts the process reaches the lifecycle's panic hook with the lock
/// held, and the hook must not wait for it (see [`caller_code_under_lock`]).
pub(crate) struct CallerCodeUnderLock(());

impl CallerCodeUnderLock {
    /// Marks the current thread until the returned guard drops.
    pub(crate) fn enter() -> Self {
        let _ = CALLER_CODE_UNDER_LOCK.try_with(|n| n.set(n.get() + 1));
        Self(())
    }
}

impl Drop for CallerCodeUnderLock {
    fn drop(&mut self) {
        let _ = CALLER_CODE_UNDER_LOCK.try_with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// Whether this thread runs a caller's code under one of this crate's locks now.
pub(crate) fn caller_code_under_lock() -> bool {
    CALLER_CODE_UNDER_LOCK.try_with(|n| n.get() > 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn deferred_work_runs_when_the_last_lock_is_released() {
        use std::cell::RefCell;
        use std::rc::Rc;
        let (a, b) = (SpinLock::new(1), SpinLock::new(2));
        let ran = Rc::new(RefCell::new(Vec::new()));
        let r = Rc::clone(&ran);
        after_unlock(move || r.borrow_mut().push("now"));
        assert_eq!(*ran.borrow(), ["now"]);
        {
            let _ga = a.lock();
            {
                let _gb = b.lock();
                let r = Rc::clone(&ran);
                after_unlock(move || r.borrow_mut().push("later"));
            }
            assert_eq!(ran.borrow().len(), 1, "one lock still held");
            // The deferred work may take the same locks again.
        }
        assert_eq!(*ran.borrow(), ["now", "later"]);
        let r = Rc::clone(&ran);
        let a = Rc::new(a);
        let again = Rc::clone(&a);
        let g = a.lock();
        after_unlock(move || {
            let _again = again.lock();
            r.borrow_mut().push("relocked");
        });
        drop(g);
        assert_eq!(ran.borrow().last(), Some(&"relocked"));
        assert_eq!(*b.lock(), 2);
    }

    #[test]
    fn caller_code_under_a_lock_is_marked_while_its_guard_lives() {
        assert!(!caller_code_under_lock());
        {
            let _outer = CallerCodeUnderLock::enter();
            let _inner = CallerCodeUnderLock::enter();
            assert!(caller_code_under_lock());
        }
        assert!(!caller_code_under_lock());
        let marked_elsewhere = std::thread::spawn(caller_code_under_lock).join().unwrap();
        assert!(!marked_elsewhere);
    }

    /// Four threads on two cores, each adding under the lock: no update is lost, and a
    /// waiter yields rather than spinning out its time slice (the test ends).
    #[test]
    fn contended_updates_are_all_kept() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*lock.lock(), 80_000);
    }

    /// A panic while the lock is held releases it.
    #[test]
    fn a_panic_while_held_releases_the_lock() {
        let lock = Arc::new(SpinLock::new(vec![1]));
        let l = Arc::clone(&lock);
        let r = std::thread::spawn(move || {
            let mut g = l.lock();
            g.push(2);
            panic!("while held");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(*lock.try_lock().expect("released"), vec![1, 2]);
    }
}
