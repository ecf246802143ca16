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

/// A spin lock that yields while contended (see the module documentation).
pub(crate) type SpinLock<T> = spin::mutex::SpinMutex<T, spin::relax::Yield>;

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
