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
//! * `additive`: `expo(n) + U(0, max)` (LiteLLM's router: up to 0.75 s);
//! * `decorrelated_v2`: Polly v8's `DecorrelatedJitterBackoffV2` (its exponential backoff
//!   with `UseJitter`; `Polly.Core/Retry/RetryHelper.cs`, after George Polevoy's formula,
//!   Polly issue #530): with `t = n + U` and `f(t) = 2^t * tanh(sqrt(4 t))`, retry `n` sleeps
//!   `(f(t) - f(t_prev)) * base / 1.4`, where `t_prev` is the previous retry's `t` (`f` is 0
//!   before the first). The first retry sleeps in `[0, 2 tanh(2) / 1.4 * base)`, about
//!   `[0, 1.377 base)`, with a median near `0.9 base`; later ones have medians near
//!   `base * 2^n`. `multiplier` plays no part (the formula doubles); the cap (Polly's
//!   `MaxDelay`) bounds each sleep but not the formula's memory, as in Polly.
//!
//! Every result is capped, including jittered ones (a test holds it to that), except the
//! additive jitter, which LiteLLM adds on top of the capped delay.
//!
//! Two kinds remember something from the previous retry on the same target, the
//! [`BackoffMemory`]: Brooker's decorrelated jitter the previous sleep, Polly's V2 its
//! formula's previous value. The caller keeps it with the request and asks
//! [`Backoff::memory_after`] what to keep after each retry.

use crate::time::Nanos;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffKind {
    Constant,
    Linear,
    Exponential,
}

/// The jitters' names in scenario files, the one list the parser and the schema share.
pub const JITTER_NAMES: &[&str] = &[
    "none",
    "full",
    "equal",
    "decorrelated",
    "proportional",
    "randomized",
    "additive",
    "decorrelated_v2",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
    Proportional { ratio: f64 },
    Randomized { ratio: f64 },
    Additive { max_ns: Nanos },
    DecorrelatedV2,
}

/// What a backoff carries from one retry to the next on a target (0 before the first):
/// the previous sleep in nanoseconds for `Decorrelated`, the bits of the previous `f(t)`
/// (an `f64`) for `DecorrelatedV2`, nothing for the others. An integer, so a request stays
/// `Copy` and `Eq`.
pub type BackoffMemory = u64;

/// Polly's `DecorrelatedJitterBackoffV2` constants (`RetryHelper.cs`): `PFactor` smooths the
/// first delay, `RpScalingFactor` puts the medians near `base * 2^n`.
const POLLY_P_FACTOR: f64 = 4.0;
const POLLY_RP_SCALING: f64 = 1.0 / 1.4;

/// `f(t) = 2^t * tanh(sqrt(4 t))`, through the pure-Rust libm so every platform agrees.
fn polly_v2_formula(t: f64) -> f64 {
    libm::exp2(t) * libm::tanh(libm::sqrt(POLLY_P_FACTOR * t))
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

    /// The jittered delay. `uniform` is a draw in [0, 1); `memory` is what the previous retry
    /// left (see [`BackoffMemory`]; 0 before the first).
    pub fn delay_ns(&self, retries_taken: u32, memory: BackoffMemory, uniform: f64) -> Nanos {
        let previous_sleep_ns = memory;
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
            Jitter::DecorrelatedV2 => {
                let next = polly_v2_formula(f64::from(retries_taken) + uniform);
                let previous = f64::from_bits(memory);
                // Polly clamps to TimeSpan's range; the cap does that here (an infinite
                // `next`, past t = 1024, gives an infinite delay, capped below).
                (next - previous) * POLLY_RP_SCALING * self.base_ns as f64
            }
        };
        (delay.min(self.cap_ns as f64)) as Nanos
    }

    /// What to remember after a retry that drew `uniform` and slept `slept_ns` (the final
    /// delay, Retry-After included): Brooker's decorrelated jitter grows from the sleep,
    /// Polly's V2 from its own formula whatever was slept (its `prev` is updated before any
    /// Retry-After or `MaxDelay` is applied).
    pub fn memory_after(&self, retries_taken: u32, uniform: f64, slept_ns: Nanos) -> BackoffMemory {
        match self.jitter {
            Jitter::Decorrelated => slept_ns,
            Jitter::DecorrelatedV2 => {
                polly_v2_formula(f64::from(retries_taken) + uniform).to_bits()
            }
            _ => 0,
        }
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

    fn polly(base_ns: Nanos) -> Backoff {
        Backoff {
            kind: BackoffKind::Exponential,
            base_ns,
            multiplier: 2.0,
            cap_ns: Nanos::MAX,
            jitter: Jitter::DecorrelatedV2,
        }
    }

    /// Sleeps for `retries` retries with the draws `u`, carrying the memory as the loop does.
    fn sleeps(b: &Backoff, u: &[f64]) -> Vec<Nanos> {
        let mut memory = 0;
        u.iter()
            .enumerate()
            .map(|(n, &u)| {
                let d = b.delay_ns(n as u32, memory, u);
                memory = b.memory_after(n as u32, u, d);
                d
            })
            .collect()
    }

    /// Polly's own example in RetryHelper.cs is "850ms, 1455ms, 3060ms" for a 1 s base; the
    /// formula's values at fixed draws, computed independently.
    #[test]
    fn polly_v2_follows_its_formula_at_fixed_draws() {
        let b = polly(2 * NS_PER_S);
        let ms = |v: Vec<Nanos>| v.iter().map(|d| d / 1_000_000).collect::<Vec<_>>();
        assert_eq!(ms(sleeps(&b, &[0.0, 0.0, 0.0])), [0, 2754, 2920]);
        assert_eq!(ms(sleeps(&b, &[0.5, 0.5, 0.5])), [1794, 2186, 4071]);
        // MaxDelay caps a sleep, not the formula's memory (Polly updates `prev` first).
        let capped = Backoff {
            cap_ns: NS_PER_S,
            ..b
        };
        assert_eq!(ms(sleeps(&capped, &[0.5, 0.5, 0.5])), [1000, 1000, 1000]);
        let after_cap = capped.delay_ns(3, capped.memory_after(2, 0.5, NS_PER_S), 0.5);
        assert_eq!(after_cap, NS_PER_S);
        assert_eq!(
            b.delay_ns(3, b.memory_after(2, 0.5, NS_PER_S), 0.0),
            b.delay_ns(3, f64::to_bits(polly_v2_formula(2.5)), 0.0)
        );
    }

    /// Over many draws: the first sleep's distribution function is the formula's (a DKW
    /// band), the second sleep's mean is the formula's integral, and the sleeps telescope:
    /// their sum is f(t_last) * base / 1.4 whatever the draws before.
    #[test]
    fn polly_v2_distribution_matches_the_formula_over_many_draws() {
        use rand::{RngExt, SeedableRng};
        let base_ns = 2 * NS_PER_S;
        let b = polly(base_ns);
        let scale = base_ns as f64 / 1.4;
        let n = 100_000;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(530);
        let (mut first, mut second) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let u: [f64; 4] = std::array::from_fn(|_| rng.random::<f64>());
            let s = sleeps(&b, &u);
            first.push(s[0] as f64);
            second.push(s[1] as f64);
            let total: Nanos = s.iter().sum();
            let telescoped = polly_v2_formula(3.0 + u[3]) * scale;
            assert!(
                (total as f64 - telescoped).abs() <= 4.0,
                "{total} vs {telescoped}"
            );
        }
        // DKW: P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2); eps for a 1e-9 false alarm.
        let eps = ((2.0f64 / 1e-9).ln() / (2.0 * n as f64)).sqrt();
        for q in [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99] {
            // f is increasing, so the q-quantile of the first sleep is f(q) * scale.
            let x = polly_v2_formula(q) * scale;
            let below = first.iter().filter(|&&d| d <= x).count() as f64 / n as f64;
            assert!((below - q).abs() <= eps, "q {q}: {below} (eps {eps})");
        }
        let top = polly_v2_formula(1.0) * scale;
        assert!(
            first.iter().all(|&d| d < top),
            "the first sleep stays below 1.377 base"
        );
        // E[second] = (integral of f over [1, 2] - integral over [0, 1]) * scale (Simpson).
        let integral = |a: f64, b: f64| {
            let k = 20_000;
            let h = (b - a) / k as f64;
            let sum: f64 = (0..=k)
                .map(|i| {
                    let w = if i == 0 || i == k {
                        1.0
                    } else if i % 2 == 1 {
                        4.0
                    } else {
                        2.0
                    };
                    w * polly_v2_formula(a + h * i as f64)
                })
                .sum();
            sum * h / 3.0
        };
        let expected = (integral(1.0, 2.0) - integral(0.0, 1.0)) * scale;
        let mean = second.iter().sum::<f64>() / n as f64;
        let sd = (second.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let half_width = 5.0 * sd / (n as f64).sqrt();
        assert!(
            (mean - expected).abs() <= half_width,
            "mean {mean} vs {expected} ± {half_width}"
        );
    }

    /// gRPC's amended A6 jitter, min(backoff, max) x U(0.8, 1.2), is `randomized` with ratio
    /// 0.2: uniform over [0.8, 1.2] x nominal, checked by its mean and its range.
    #[test]
    fn grpc_jitter_is_uniform_between_0_8_and_1_2_of_the_nominal() {
        use rand::{RngExt, SeedableRng};
        let b = Backoff {
            kind: BackoffKind::Exponential,
            base_ns: 100_000_000,
            multiplier: 2.0,
            cap_ns: NS_PER_S,
            jitter: Jitter::Randomized { ratio: 0.2 },
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(452);
        let n = 100_000;
        let draws: Vec<f64> = (0..n)
            .map(|_| b.delay_ns(2, 0, rng.random::<f64>()) as f64 / 400_000_000.0)
            .collect();
        assert!(draws.iter().all(|&x| (0.8..=1.2).contains(&x)));
        let mean = draws.iter().sum::<f64>() / n as f64;
        // U(0.8, 1.2): mean 1, sd 0.4 / sqrt(12).
        let half_width = 5.0 * 0.4 / 12f64.sqrt() / (n as f64).sqrt();
        assert!((mean - 1.0).abs() <= half_width, "{mean}");
        let below = draws.iter().filter(|&&x| x <= 0.9).count() as f64 / n as f64;
        assert!((below - 0.25).abs() < 0.01, "{below}");
    }
}
