//! Time, injected: production code uses [`SystemClock`]; tests use
//! `streamer_obs::testing::FixedClock` so output is byte-for-byte deterministic.
//!
//! ```
//! use streamer_obs::clock::{Clock, SystemClock};
//! let now = SystemClock.now();
//! assert!(now > std::time::UNIX_EPOCH);
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time as milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}
