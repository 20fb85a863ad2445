//! Token buckets, as the providers' RPM and TPM limits behave.
//!
//! A bucket holds at most `capacity` tokens and refills continuously at `capacity` per
//! minute for a per-minute limit (OpenAI and Anthropic document their limits as buckets that
//! refill continuously, not as fixed windows). A request needing more than is there is
//! refused with the exact wait until it would fit, which becomes the 429's Retry-After.

use crate::time::{NS_PER_S, Nanos};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    refill_per_ns: f64,
    tokens: f64,
    updated_ns: Nanos,
}

impl TokenBucket {
    /// A bucket allowing `per_minute` tokens per minute, starting full.
    pub fn per_minute(per_minute: f64) -> Self {
        TokenBucket {
            capacity: per_minute,
            refill_per_ns: per_minute / (60.0 * NS_PER_S as f64),
            tokens: per_minute,
            updated_ns: 0,
        }
    }

    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    fn refill(&mut self, now: Nanos) {
        if now > self.updated_ns {
            let gained = (now - self.updated_ns) as f64 * self.refill_per_ns;
            self.tokens = (self.tokens + gained).min(self.capacity);
            self.updated_ns = now;
        }
    }

    /// Ok if `amount` tokens are available now (without taking them), else the wait in
    /// nanoseconds until they will be. An amount above capacity never fits: `Nanos::MAX`.
    pub fn check(&mut self, now: Nanos, amount: f64) -> Result<(), Nanos> {
        self.refill(now);
        if amount <= self.tokens {
            Ok(())
        } else if amount > self.capacity {
            Err(Nanos::MAX)
        } else {
            Err(((amount - self.tokens) / self.refill_per_ns).ceil() as Nanos)
        }
    }

    /// Takes tokens already checked at the same instant.
    pub fn take(&mut self, amount: f64) {
        self.tokens -= amount;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NS_PER_MIN;

    #[test]
    fn never_grants_more_than_its_rate() {
        // 600 RPM = 10 per second. Hammer it every millisecond for 10 minutes.
        let mut bucket = TokenBucket::per_minute(600.0);
        let mut granted = 0u64;
        let step = NS_PER_S / 1000;
        let mut now = 0;
        while now <= 10 * NS_PER_MIN {
            if bucket.check(now, 1.0).is_ok() {
                bucket.take(1.0);
                granted += 1;
            }
            now += step;
        }
        // At most the initial burst (600) plus 10/s for 600 s.
        assert!(granted <= 600 + 6000 + 1, "granted {granted}");
        assert!(granted >= 600 + 6000 - 1, "granted {granted}");
    }

    #[test]
    fn wait_is_exact_and_oversized_requests_never_fit() {
        let mut bucket = TokenBucket::per_minute(60.0); // 1 per second
        bucket.check(0, 60.0).unwrap();
        bucket.take(60.0);
        assert_eq!(bucket.check(0, 2.0), Err(2 * NS_PER_S));
        assert!(bucket.check(2 * NS_PER_S, 2.0).is_ok());
        assert_eq!(bucket.check(0, 61.0), Err(Nanos::MAX));
    }
}
