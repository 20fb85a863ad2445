//! Backoff between retries, with the jitter variants of Marc Brooker's "Exponential Backoff
//! and Jitter" (AWS Architecture Blog, 2015):
//!
//! * nominal `expo(n) = min(cap, base * multiplier^n)` for exponential, `base * (n + 1)` for
//!   linear (Polly's `DelayBackoffType.Linear`), `base` for constant; `n` is the number of
//!   retries already taken, so the first retry waits `base`;
//! * `full`: `U(0, expo(n))`; `equal`: `expo(n)/2 + U(0, expo(n)/2)`;
//! * `decorrelated`: `min(cap, U(base, 3 * previous_sleep))`, starting from `base`;
//! * `proportional`: `expo(n) * (1 - ratio * U)` (openai-python and anthropic-python:
//!   ratio 0.25);
//! * `randomized`: `expo(n) * (1 + ratio * (2U - 1))` (resilience4j's randomization factor,
//!   Polly's constant backoff with jitter: ±25 %);
//! * `additive`: `expo(n) + U(0, max)` (LiteLLM's router: up to 0.75 s).
//!
//! Every result is capped, including jittered ones (a test holds it to that), except the
//! additive jitter, which LiteLLM adds on top of the capped delay.

use crate::time::Nanos;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffKind {
    Constant,
    Linear,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
    Proportional { ratio: f64 },
    Randomized { ratio: f64 },
    Additive { max_ns: Nanos },
}

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub kind: BackoffKind,
    pub base_ns: Nanos,
    pub multiplier: f64,
    pub cap_ns: Nanos,
    pub jitter: Jitter,
}

impl Backoff {
    /// The delay before retry number `retries_taken + 1`, before jitter.
    pub fn nominal_ns(&self, retries_taken: u32) -> Nanos {
        let base = self.base_ns as f64;
        // powi needs no libm: it compiles to compiler-builtins' __powidf2 (libgcc's is the
        // same loop), repeated squaring in a fixed order, so the same bits on every platform.
        let delay = match self.kind {
            BackoffKind::Constant => base,
            BackoffKind::Linear => base * f64::from(retries_taken + 1),
            BackoffKind::Exponential => base * self.multiplier.powi(retries_taken.min(1024) as i32),
        };
        (delay.min(self.cap_ns as f64)) as Nanos
    }

    /// The jittered delay. `uniform` is a draw in [0, 1); `previous_sleep_ns` is the delay
    /// slept before the previous retry (0 before the first), used by decorrelated jitter.
    pub fn delay_ns(&self, retries_taken: u32, previous_sleep_ns: Nanos, uniform: f64) -> Nanos {
        let nominal = self.nominal_ns(retries_taken) as f64;
        let delay = match self.jitter {
            Jitter::None => nominal,
            Jitter::Full => nominal * uniform,
            Jitter::Equal => nominal / 2.0 + nominal / 2.0 * uniform,
            Jitter::Decorrelated => {
                let base = self.base_ns as f64;
                let previous = if previous_sleep_ns == 0 {
                    base
                } else {
                    previous_sleep_ns as f64
                };
                let upper = (3.0 * previous).max(base);
                base + (upper - base) * uniform
            }
            Jitter::Proportional { ratio } => nominal * (1.0 - ratio * uniform),
            Jitter::Randomized { ratio } => nominal * (1.0 + ratio * (2.0 * uniform - 1.0)),
            // Added after the cap, as LiteLLM does: the cap bounds the exponential part.
            Jitter::Additive { max_ns } => {
                return self.nominal_ns(retries_taken) + (max_ns as f64 * uniform) as Nanos;
            }
        };
        (delay.min(self.cap_ns as f64)) as Nanos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NS_PER_S;

    fn expo(jitter: Jitter) -> Backoff {
        Backoff {
            kind: BackoffKind::Exponential,
            base_ns: NS_PER_S,
            multiplier: 2.0,
            cap_ns: 30 * NS_PER_S,
            jitter,
        }
    }

    #[test]
    fn seed_backoff_is_one_then_two_seconds() {
        let b = expo(Jitter::None);
        assert_eq!(b.delay_ns(0, 0, 0.7), NS_PER_S);
        assert_eq!(b.delay_ns(1, 0, 0.7), 2 * NS_PER_S);
        assert_eq!(b.delay_ns(10, 0, 0.7), 30 * NS_PER_S, "capped");
    }

    #[test]
    fn jitter_formulas_follow_the_aws_article() {
        assert_eq!(expo(Jitter::Full).delay_ns(2, 0, 0.25), NS_PER_S); // U(0, 4s) at 0.25
        assert_eq!(expo(Jitter::Equal).delay_ns(2, 0, 0.5), 3 * NS_PER_S); // 2 + 2*0.5
        // decorrelated: U(base, 3 * previous) = 1s + (6s - 1s) * 0.2 = 2s
        assert_eq!(
            expo(Jitter::Decorrelated).delay_ns(5, 2 * NS_PER_S, 0.2),
            2 * NS_PER_S
        );
        assert_eq!(expo(Jitter::Decorrelated).delay_ns(0, 0, 0.0), NS_PER_S);
    }

    #[test]
    fn no_delay_ever_exceeds_the_cap() {
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
            Jitter::Proportional { ratio: 0.25 },
            Jitter::Randomized { ratio: 0.5 },
        ] {
            let b = expo(jitter);
            let mut previous = 0;
            for n in 0..64 {
                for u in [0.0, 0.3, 0.999_999] {
                    let d = b.delay_ns(n, previous, u);
                    assert!(d <= b.cap_ns, "{jitter:?} n={n} u={u}: {d}");
                    previous = d;
                }
            }
        }
    }

    #[test]
    fn sdk_jitters() {
        let mut b = expo(Jitter::Proportional { ratio: 0.25 });
        b.base_ns = NS_PER_S / 2;
        b.cap_ns = 8 * NS_PER_S;
        // openai-python: the first retry waits 0.375 to 0.5 s, the second 0.75 to 1 s.
        assert_eq!(b.delay_ns(0, 0, 0.0), NS_PER_S / 2);
        assert_eq!(b.delay_ns(0, 0, 1.0), 375 * NS_PER_S / 1000);
        assert_eq!(b.delay_ns(1, 0, 1.0), 750 * NS_PER_S / 1000);
        assert_eq!(b.delay_ns(10, 0, 0.0), 8 * NS_PER_S, "capped at 8 s");
        let r = Backoff {
            jitter: Jitter::Randomized { ratio: 0.25 },
            kind: BackoffKind::Constant,
            ..expo(Jitter::None)
        };
        assert_eq!(r.delay_ns(3, 0, 0.0), 750 * NS_PER_S / 1000);
        assert_eq!(r.delay_ns(3, 0, 1.0), 1250 * NS_PER_S / 1000);
        let a = Backoff {
            jitter: Jitter::Additive {
                max_ns: 750 * NS_PER_S / 1000,
            },
            ..b
        };
        assert_eq!(
            a.delay_ns(10, 0, 1.0),
            8750 * NS_PER_S / 1000,
            "LiteLLM adds its jitter past the cap"
        );
    }

    #[test]
    fn linear_and_constant() {
        let mut b = expo(Jitter::None);
        b.kind = BackoffKind::Linear;
        assert_eq!(b.delay_ns(2, 0, 0.0), 3 * NS_PER_S);
        b.kind = BackoffKind::Constant;
        assert_eq!(b.delay_ns(7, 0, 0.0), NS_PER_S);
    }
}
