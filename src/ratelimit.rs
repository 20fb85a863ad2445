//! Token buckets, as the providers' RPM, TPM, ITPM and OTPM limits behave, and the way a
//! provider writes a 429's Retry-After.
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
//! fits. The same debt, at most one burst deep, lets a rejected request still count against
//! the limit (OpenAI: "unsuccessful requests contribute to your per-minute limit"), which is
//! how a tight retry loop keeps an account throttled after the burst that caused it, for as
//! long as the retries outrun the rate.

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

    /// Charges a request refused now: it counts against the window it was made in, so the
    /// bucket goes into debt by at most one burst's worth (a debt already deeper, left by a
    /// large admitted request, is not deepened). Unbounded debt would make a refusal count
    /// for ever; OpenAI's "unsuccessful requests contribute to your per-minute limit" counts
    /// it in the period it falls in: the throttling lasts while retries outrun the rate.
    pub fn charge_refused(&mut self, amount: f64) {
        let floor = -self.capacity;
        if self.tokens > floor {
            self.tokens = (self.tokens - amount).max(floor);
        }
    }

    /// What a rate-limit header reports of the bucket at `now`, without changing it.
    pub fn level(&self, now: Nanos) -> BucketLevel {
        let gained = now.saturating_sub(self.updated_ns) as f64 * self.refill_per_ns;
        let tokens = (self.tokens + gained).min(self.capacity);
        BucketLevel {
            per_minute: self.per_minute,
            remaining: tokens.max(0.0),
            full_in_ns: ((self.capacity - tokens) / self.refill_per_ns).ceil() as Nanos,
        }
    }

    /// Gives back tokens reserved but not used (never above the capacity).
    pub fn give_back(&mut self, now: Nanos, amount: f64) {
        self.refill(now);
        self.tokens = (self.tokens + amount).min(self.capacity);
    }
}

/// A bucket as the providers' rate-limit headers describe it: the limit (per minute), what
/// is left now, and the time until it is full again ("reset").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketLevel {
    pub per_minute: f64,
    pub remaining: f64,
    pub full_in_ns: Nanos,
}

/// What a provider counts against its total-token (TPM) limit for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpmCounts {
    /// Input plus `max_tokens`: the worst case of the whole call.
    InputPlusMaxTokens,
    /// The larger of the input and `max_tokens`, as OpenAI documents its reservation: "the
    /// maximum of max_tokens and the estimated number of tokens based on the character count
    /// of your request" (OpenAI, *Rate limits* guide).
    LargerOfInputAndMaxTokens,
}

/// One block of limits: the account's (shared by all its models) or one model's. Each
/// limit is a bucket of its own; a request must fit all of them.
#[derive(Debug, Clone)]
pub struct LimitSpec {
    pub rpm: Option<f64>,
    /// Total tokens per minute, counted as `tpm_counts` says.
    pub tpm: Option<f64>,
    pub tpm_counts: TpmCounts,
    /// Input tokens per minute (Anthropic's ITPM): the prompt, taken when admitted.
    pub itpm: Option<f64>,
    /// Output tokens per minute (Anthropic's OTPM): `max_tokens` reserved when admitted,
    /// the unused part given back when the answer ends. Anthropic: "OTPM rate limits are
    /// estimated based on max_tokens at the beginning of each request and adjusted at the
    /// end of the request to reflect the actual number of output tokens used".
    pub otpm: Option<f64>,
    /// How much of the rate each bucket holds.
    pub burst_ns: Nanos,
    /// A request refused with 429 still takes its share (OpenAI).
    pub count_rejected: bool,
}

/// A request as the limits count it.
#[derive(Debug, Clone, Copy)]
pub struct Charge {
    pub input_tokens: u32,
    pub max_tokens: u32,
}

/// The buckets of one `LimitSpec` during a run.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The RPM, TPM, ITPM and OTPM buckets, in that order (`RPM` .. `OTPM`); None where the
    /// spec sets no such limit. An array, so the checks are one unrolled loop over it.
    buckets: [Option<TokenBucket>; 4],
    tpm_counts: TpmCounts,
    count_rejected: bool,
}

/// Places in `Limits::buckets`.
const RPM: usize = 0;
const OTPM: usize = 3;

/// Why a request does not fit a block of limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It will fit after this wait (the 429's exact Retry-After).
    Wait(Nanos),
    /// One of its token counts is above a per-minute limit: it never fits.
    TooLarge,
}

impl Limits {
    pub fn new(spec: &LimitSpec) -> Self {
        let bucket = |rate: Option<f64>| rate.map(|r| TokenBucket::with_burst(r, spec.burst_ns));
        Limits {
            buckets: [spec.rpm, spec.tpm, spec.itpm, spec.otpm].map(bucket),
            tpm_counts: spec.tpm_counts,
            count_rejected: spec.count_rejected,
        }
    }

    /// What this request takes from each bucket, in the order of `buckets`.
    #[inline]
    fn amounts(&self, charge: Charge) -> [f64; 4] {
        let (input, max) = (f64::from(charge.input_tokens), f64::from(charge.max_tokens));
        let total = match self.tpm_counts {
            TpmCounts::InputPlusMaxTokens => input + max,
            TpmCounts::LargerOfInputAndMaxTokens => input.max(max),
        };
        [1.0, total, input, max]
    }

    /// Ok if the request fits every bucket now (nothing is taken), else the longest wait.
    /// The request bucket never makes a request "too large": a limit under one request a
    /// minute only makes it wait.
    #[inline]
    pub fn check(&mut self, now: Nanos, charge: Charge) -> Result<(), Refusal> {
        let amounts = self.amounts(charge);
        let mut wait = None;
        for (i, (bucket, amount)) in self.buckets.iter_mut().zip(amounts).enumerate() {
            let Some(bucket) = bucket else { continue };
            match bucket.check(now, amount) {
                Ok(()) => {}
                Err(Nanos::MAX) if i != RPM => return Err(Refusal::TooLarge),
                Err(w) => wait = Some(wait.map_or(w, |v: Nanos| v.max(w))),
            }
        }
        wait.map_or(Ok(()), |w| Err(Refusal::Wait(w)))
    }

    /// The RPM, TPM, ITPM and OTPM buckets' levels at `now` (None where not limited).
    pub fn levels(&self, now: Nanos) -> [Option<BucketLevel>; 4] {
        self.buckets
            .each_ref()
            .map(|b| b.as_ref().map(|b| b.level(now)))
    }

    /// Takes the request's share of every bucket (checked at the same instant).
    #[inline]
    pub fn take(&mut self, charge: Charge) {
        let amounts = self.amounts(charge);
        for (bucket, amount) in self.buckets.iter_mut().zip(amounts) {
            if let Some(bucket) = bucket {
                bucket.take(amount);
            }
        }
    }

    /// Charges a refused request to every bucket, when the provider counts refusals
    /// (`TokenBucket::charge_refused`).
    pub fn charge_refused(&mut self, charge: Charge) {
        if !self.count_rejected {
            return;
        }
        let amounts = self.amounts(charge);
        for (bucket, amount) in self.buckets.iter_mut().zip(amounts) {
            if let Some(bucket) = bucket {
                bucket.charge_refused(amount);
            }
        }
    }

    /// The answer is over: the output tokens reserved (`max_tokens`) but not produced go
    /// back to the OTPM bucket.
    pub fn settle_output(&mut self, now: Nanos, max_tokens: u32, output_tokens: u32) {
        if let Some(bucket) = &mut self.buckets[OTPM] {
            let unused = max_tokens.saturating_sub(output_tokens);
            bucket.give_back(now, f64::from(unused));
        }
    }
}

/// How a provider writes the Retry-After of its 429s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfterUnit {
    /// The exact wait, to the nanosecond (an idealised provider).
    Exact,
    /// Whole milliseconds, rounded up: OpenAI's `retry-after-ms` header.
    Milliseconds,
    /// Whole seconds, rounded up: Anthropic's `retry-after` ("the number of seconds to wait
    /// before you can retry", Anthropic, *Rate limits*).
    Seconds,
}

impl RetryAfterUnit {
    /// The header's value for an exact wait: rounded up, so that a client obeying it finds
    /// room.
    pub fn header(self, wait_ns: Nanos) -> Nanos {
        let unit = match self {
            RetryAfterUnit::Exact => return wait_ns,
            RetryAfterUnit::Milliseconds => NS_PER_S / 1000,
            RetryAfterUnit::Seconds => NS_PER_S,
        };
        wait_ns.div_ceil(unit).saturating_mul(unit)
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

    #[test]
    fn retry_after_rounds_up_to_the_providers_unit() {
        let wait = 1_234_567_891; // 1.234567891 s
        assert_eq!(RetryAfterUnit::Exact.header(wait), wait);
        assert_eq!(RetryAfterUnit::Milliseconds.header(wait), 1_235_000_000);
        assert_eq!(RetryAfterUnit::Seconds.header(wait), 2 * NS_PER_S);
        assert_eq!(RetryAfterUnit::Seconds.header(42_000_000), NS_PER_S);
        assert_eq!(RetryAfterUnit::Seconds.header(NS_PER_S), NS_PER_S);
        assert_eq!(RetryAfterUnit::Seconds.header(Nanos::MAX), Nanos::MAX);
    }

    fn spec(tpm_counts: TpmCounts) -> LimitSpec {
        LimitSpec {
            rpm: None,
            tpm: Some(6_000.0),
            tpm_counts,
            itpm: None,
            otpm: None,
            burst_ns: NS_PER_MIN,
            count_rejected: false,
        }
    }

    #[test]
    fn tpm_counts_the_sum_or_the_larger_part() {
        let charge = Charge {
            input_tokens: 1_000,
            max_tokens: 2_000,
        };
        for (counts, fits) in [
            (TpmCounts::InputPlusMaxTokens, 2),
            (TpmCounts::LargerOfInputAndMaxTokens, 3),
        ] {
            let mut limits = Limits::new(&spec(counts));
            let mut admitted = 0;
            while limits.check(0, charge).is_ok() {
                limits.take(charge);
                admitted += 1;
            }
            assert_eq!(admitted, fits, "{counts:?}");
        }
        let huge = Charge {
            input_tokens: 7_000,
            max_tokens: 1,
        };
        let mut limits = Limits::new(&spec(TpmCounts::LargerOfInputAndMaxTokens));
        assert_eq!(limits.check(0, huge), Err(Refusal::TooLarge));
    }

    #[test]
    fn output_tokens_not_written_return_to_the_otpm_bucket() {
        let mut limits = Limits::new(&LimitSpec {
            otpm: Some(3_000.0),
            tpm: None,
            ..spec(TpmCounts::InputPlusMaxTokens)
        });
        let charge = Charge {
            input_tokens: 10,
            max_tokens: 1_000,
        };
        for _ in 0..3 {
            limits.check(0, charge).unwrap();
            limits.take(charge);
        }
        assert_eq!(limits.check(0, charge), Err(Refusal::Wait(20 * NS_PER_S)));
        // Two answers wrote 100 tokens each: 1,800 come back, room for one more call.
        limits.settle_output(0, 1_000, 100);
        limits.settle_output(0, 1_000, 100);
        assert!(limits.check(0, charge).is_ok());
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
                    bucket.charge_refused(1.0);
                }
            }
            granted
        };
        assert!((600..=611).contains(&granted(false)), "{}", granted(false));
        assert!(granted(true) <= 10, "{}", granted(true));
    }
}
