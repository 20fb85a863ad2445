//! Token buckets, as the providers' RPM and TPM limits behave.
//!
//! A bucket refills continuously at its per-minute rate (OpenAI and Anthropic document their
//! limits as buckets that refill continuously, not as fixed windows) and holds at most
//! `burst` worth of it. Anthropic's bucket holds the full minute; OpenAI's limits "can be
//! quantized, meaning they are enforced over shorter periods of time (e.g. 60,000
//! requests/minute may be enforced as 1,000 requests/second)" (OpenAI, *Rate limits* guide),
//! which is a bucket holding one second. A request needing more than is there is refused
//! with the exact wait until it would fit, which becomes the 429's Retry-After.
//!
//! A request larger than a short burst's capacity (a 2,000-token call against a 500-token
//! one-second quantum) is not refused for ever: it fits once the bucket is full, and leaves
//! it in debt that the refill repays. Only a request above the whole per-minute limit never
//! fits. The same debt lets a rejected request still count against the limit (OpenAI:
//! "unsuccessful requests contribute to your per-minute limit"), which is how a tight retry
//! loop keeps an account throttled after the burst that caused it.

use crate::time::{NS_PER_MIN, NS_PER_S, Nanos};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// The per-minute limit: no single request above it ever fits.
    per_minute: f64,
    capacity: f64,
    refill_per_ns: f64,
    /// Below zero when the bucket is in debt.
    tokens: f64,
    updated_ns: Nanos,
}

impl TokenBucket {
    /// A bucket allowing `per_minute` tokens per minute and holding a full minute of them,
    /// starting full.
    pub fn per_minute(per_minute: f64) -> Self {
        TokenBucket::with_burst(per_minute, NS_PER_MIN)
    }

    /// A bucket allowing `per_minute` tokens per minute and holding `burst_ns` worth of
    /// them (one second for OpenAI's quantized limits), starting full.
    pub fn with_burst(per_minute: f64, burst_ns: Nanos) -> Self {
        let refill_per_ns = per_minute / (60.0 * NS_PER_S as f64);
        let capacity = if burst_ns == NS_PER_MIN {
            // Exactly the limit, as before bursts existed: no rounding of per_minute.
            per_minute
        } else {
            refill_per_ns * burst_ns as f64
        };
        TokenBucket {
            per_minute,
            capacity,
            refill_per_ns,
            tokens: capacity,
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
    /// nanoseconds until they will be. An amount above the per-minute limit never fits:
    /// `Nanos::MAX`. One above the burst's capacity fits when the bucket is full.
    pub fn check(&mut self, now: Nanos, amount: f64) -> Result<(), Nanos> {
        self.refill(now);
        let needed = amount.min(self.capacity);
        if amount > self.per_minute {
            Err(Nanos::MAX)
        } else if needed <= self.tokens {
            Ok(())
        } else {
            Err(((needed - self.tokens) / self.refill_per_ns).ceil() as Nanos)
        }
    }

    /// Takes tokens already checked at the same instant, or charges a refused request
    /// (which may leave the bucket in debt).
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

    /// OpenAI's quantized limit: 2,400 RPM held as one second (40 requests), met by 50
    /// requests a second (10 a second over the rate), refuses after 4 seconds, not after
    /// the 4 minutes a bucket holding the whole minute takes to drain.
    #[test]
    fn a_one_second_burst_throttles_at_once() {
        let mut quantized = TokenBucket::with_burst(2_400.0, NS_PER_S);
        let mut minute = TokenBucket::per_minute(2_400.0);
        let first_refusal = |bucket: &mut TokenBucket| {
            (0..100_000u64)
                .map(|i| i * NS_PER_S / 50)
                .find(|&t| {
                    let ok = bucket.check(t, 1.0).is_ok();
                    if ok {
                        bucket.take(1.0);
                    }
                    !ok
                })
                .unwrap()
        };
        let soon = first_refusal(&mut quantized);
        assert!((3 * NS_PER_S..5 * NS_PER_S).contains(&soon), "{soon}");
        let later = first_refusal(&mut minute);
        assert!((3 * NS_PER_MIN..5 * NS_PER_MIN).contains(&later), "{later}");
    }

    /// A request above a short burst's capacity fits once the bucket is full and leaves it
    /// in debt; only one above the per-minute limit never fits.
    #[test]
    fn a_large_request_fits_a_full_short_bucket_and_leaves_debt() {
        let mut bucket = TokenBucket::with_burst(30_000.0, NS_PER_S); // 500 tokens a second
        assert!(bucket.check(0, 2_000.0).is_ok());
        bucket.take(2_000.0);
        // 1,500 in debt: 3 s to repay it, one more to hold 500 again.
        assert_eq!(bucket.check(0, 2_000.0), Err(4 * NS_PER_S));
        assert_eq!(bucket.check(0, 30_001.0), Err(Nanos::MAX));
    }

    /// Charging refused requests keeps a bucket hammered by retries empty: what it grants
    /// over a minute falls from the rate to almost nothing.
    #[test]
    fn counting_rejected_requests_keeps_a_retry_loop_throttled() {
        let granted = |count_rejected: bool| {
            let mut bucket = TokenBucket::with_burst(600.0, NS_PER_S); // 10/s, holds 10
            let mut granted = 0;
            for i in 0..60_000u64 {
                let now = i * NS_PER_S / 1000; // a retry every millisecond
                if bucket.check(now, 1.0).is_ok() {
                    bucket.take(1.0);
                    granted += 1;
                } else if count_rejected {
                    bucket.take(1.0);
                }
            }
            granted
        };
        assert!((600..=611).contains(&granted(false)), "{}", granted(false));
        assert!(granted(true) <= 10, "{}", granted(true));
    }
}
