//! [`InvocationLock`]: the lock of an invocation's own state (its metric set, its X-Ray
//! tree, the log layer's span fields).
//!
//! Those locks are taken many times per invocation and almost never contended: only the
//! tasks or threads of one invocation that record at the same moment meet there, and each
//! holds the lock for a few hundred nanoseconds at most. `std::sync::Mutex` costs two atomic
//! read-modify-write instructions per lock and unlock pair (its unlock swaps the state to
//! learn whether a thread sleeps on it); a spin lock's unlock is a plain release store, so a
//! pair costs one (on the 2-vCPU benchmark machine about 5 ns less per pair). A contended
//! lock yields the thread between tries (`spin::relax::Yield`), so a waiter never burns a
//! whole time slice. There is no poisoning: a panic while the lock is held releases it, and
//! the state it guards is valid between any two of its operations.

/// A spin lock that yields while contended (see the module documentation).
pub(crate) type InvocationLock<T> = spin::mutex::SpinMutex<T, spin::relax::Yield>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Four threads on two cores, each adding under the lock: no update is lost, and a
    /// waiter yields rather than spinning out its time slice (the test ends).
    #[test]
    fn contended_updates_are_all_kept() {
        let lock = Arc::new(InvocationLock::new(0u64));
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
        let lock = Arc::new(InvocationLock::new(vec![1]));
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
