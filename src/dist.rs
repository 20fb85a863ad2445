//! Probability distributions for durations and token counts.
//!
//! A `Dist` samples a non-negative value in its base unit: seconds for durations, a count
//! for tokens. Continuous families come from statrs (whose samplers implement rand 0.10's
//! `Distribution`); `empirical` resamples a list of observed values (bootstrap), so a user
//! can paste latencies from their own logs. Every family may be capped (`cap`), which is how
//! a heavy Pareto or lognormal tail is kept physical.
//!
//! Normal is truncated at 0 by resampling (a latency or a token count is never negative);
//! validation requires a positive mean so the rejection loop is short, and it is bounded.

use rand::RngExt;
use rand::distr::Distribution as Sampler;
use statrs::distribution::{Exp, Gamma, LogNormal, Normal, Pareto, Weibull};

use crate::rng::SimRng;

#[derive(Debug, Clone)]
pub enum Family {
    Constant(f64),
    Uniform { min: f64, max: f64 },
    Exponential(Exp),
    Normal(Normal),
    LogNormal(LogNormal),
    Gamma(Gamma),
    Weibull(Weibull),
    Pareto(Pareto),
    Empirical(Box<[f64]>),
}

#[derive(Debug, Clone)]
pub struct Dist {
    pub family: Family,
    /// Samples above `cap` are clamped to it.
    pub cap: f64,
    /// Mean of the capped distribution where known in closed form, else of the uncapped one;
    /// used for estimates (run size, cost), never for sampling.
    pub mean: f64,
}

/// A normal sample below zero is redrawn at most this many times, then clamped to zero.
const NORMAL_REDRAWS: u32 = 32;

impl Dist {
    pub fn constant(value: f64) -> Dist {
        Dist {
            family: Family::Constant(value),
            cap: f64::INFINITY,
            mean: value,
        }
    }

    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        let x = match &self.family {
            Family::Constant(v) => *v,
            Family::Uniform { min, max } => min + (max - min) * rng.random::<f64>(),
            Family::Exponential(d) => d.sample(rng),
            Family::Normal(d) => {
                let mut x = d.sample(rng);
                let mut redraws = 0;
                while x < 0.0 && redraws < NORMAL_REDRAWS {
                    x = d.sample(rng);
                    redraws += 1;
                }
                x.max(0.0)
            }
            Family::LogNormal(d) => d.sample(rng),
            Family::Gamma(d) => d.sample(rng),
            Family::Weibull(d) => d.sample(rng),
            Family::Pareto(d) => d.sample(rng),
            Family::Empirical(values) => values[rng.random_range(0..values.len())],
        };
        x.min(self.cap)
    }

    /// A draw rounded to a whole count (tokens), at least `min`.
    #[inline]
    pub fn sample_count(&self, rng: &mut SimRng, min: u32) -> u32 {
        // Round half up by adding 0.5 and truncating (samples are >= 0); `f64::round` is a
        // libm call on baseline x86-64. Casts saturate, so huge draws become u32::MAX.
        ((self.sample(rng) + 0.5) as u32).max(min)
    }
}

/// Lognormal parameters from the median and the 99th percentile, the two numbers people
/// read off a latency dashboard: median = e^mu, p99 = e^(mu + z99 * sigma).
pub fn lognormal_from_median_p99(median: f64, p99: f64) -> (f64, f64) {
    const Z99: f64 = 2.326_347_874_040_841;
    let mu = median.ln();
    (mu, (p99.ln() - mu) / Z99)
}

/// An exponential duration of mean `mean_ns` (random outages' up and down times).
pub fn exponential_ns(rng: &mut SimRng, mean_ns: crate::time::Nanos) -> crate::time::Nanos {
    let u: f64 = rand::RngExt::random(rng);
    (-(1.0 - u).ln() * mean_ns as f64) as crate::time::Nanos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::named_stream;

    #[test]
    fn lognormal_by_median_and_p99_has_them() {
        let (mu, sigma) = lognormal_from_median_p99(0.8, 4.0);
        let dist = Dist {
            family: Family::LogNormal(LogNormal::new(mu, sigma).unwrap()),
            cap: f64::INFINITY,
            mean: 0.0,
        };
        let mut rng = named_stream(1, "test");
        let mut xs: Vec<f64> = (0..200_000).map(|_| dist.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[100_000];
        let p99 = xs[198_000];
        assert!((median - 0.8).abs() < 0.01, "median {median}");
        assert!((p99 - 4.0).abs() < 0.1, "p99 {p99}");
    }

    #[test]
    fn truncated_normal_is_never_negative_and_cap_holds() {
        let dist = Dist {
            family: Family::Normal(Normal::new(0.1, 1.0).unwrap()),
            cap: 1.5,
            mean: 0.0,
        };
        let mut rng = named_stream(2, "test");
        for _ in 0..100_000 {
            let x = dist.sample(&mut rng);
            assert!((0.0..=1.5).contains(&x));
        }
    }
}
