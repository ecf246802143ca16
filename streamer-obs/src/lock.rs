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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
