//! Probability distributions for durations and token counts.
//!
//! A `Dist` samples a non-negative value in its base unit: seconds for durations, a count
//! for tokens. Continuous families are statrs's types, which validate parameters and give
//! moments; the samplers are ours, on the pure-Rust `libm` crate instead of the platform's
//! `ln`/`exp`/`powf` (which statrs's samplers call), so a seed gives the same samples, bit
//! for bit, on every platform (see `special`). `empirical` resamples a list of observed
//! values (bootstrap), so a user can paste latencies from their own logs. Every family may
//! be capped (`cap`), which is how a heavy Pareto or lognormal tail is kept physical.
//!
//! Samplers: exponential, Weibull and Pareto by inversion of one uniform; normal by the
//! ziggurat (one 64-bit word and no libm call for 99 % of draws), lognormal as the
//! exponential of a normal; gamma by Marsaglia and Tsang (2000), with the U^(1/shape) boost
//! below shape 1. Poisson arrival gaps, the hottest exponential, use the exponential
//! ziggurat (`std_exponential_ziggurat`: one word and no libm call for 99 % of draws).
//!
//! Normal is truncated at 0 by resampling (a latency or a token count is never negative);
//! validation requires a positive mean so the rejection loop is short, and it is bounded.

use rand::RngExt;
use statrs::distribution::{Exp, Gamma, LogNormal, Normal, Pareto, Weibull};
use statrs::statistics::Distribution as Moments;

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
    pub fn sample(&self, rng: &mut (impl rand::Rng + ?Sized)) -> f64 {
        let x = match &self.family {
            Family::Constant(v) => *v,
            Family::Uniform { min, max } => min + (max - min) * rng.random::<f64>(),
            Family::Exponential(d) => std_exponential(rng) / d.rate(),
            Family::Normal(d) => truncated_normal(rng, d),
            Family::LogNormal(d) => exp_via_exp2(d.location() + d.scale() * std_normal(rng)),
            Family::Gamma(d) => gamma(rng, d.shape()) / d.rate(),
            Family::Weibull(d) => d.scale() * libm::pow(std_exponential(rng), 1.0 / d.shape()),
            // Inversion: P(X > x) = (min / x)^shape.
            Family::Pareto(d) => d.scale() * libm::pow(unit_open_closed(rng), -1.0 / d.shape()),
            Family::Empirical(values) => values[rng.random_range(0..values.len())],
        };
        x.min(self.cap)
    }

    /// A draw rounded to a whole count (tokens), at least `min`.
    #[inline]
    pub fn sample_count(&self, rng: &mut (impl rand::Rng + ?Sized), min: u32) -> u32 {
        // Round half up by adding 0.5 and truncating (samples are >= 0); `f64::round` is a
        // libm call on baseline x86-64. Casts saturate, so huge draws become u32::MAX.
        ((self.sample(rng) + 0.5) as u32).max(min)
    }
}

/// A uniform draw in (0, 1]: 1 - U for rand's U in [0, 1), exact (both lie on the 2^-53
/// grid), so its logarithm is finite.
#[inline]
fn unit_open_closed(rng: &mut (impl rand::Rng + ?Sized)) -> f64 {
    1.0 - rng.random::<f64>()
}

/// A standard exponential draw by inversion: -ln(U), U in (0, 1].
#[inline]
fn std_exponential(rng: &mut (impl rand::Rng + ?Sized)) -> f64 {
    -libm::log(unit_open_closed(rng))
}

/// A standard normal draw (the ziggurat).
#[inline]
fn std_normal(rng: &mut (impl rand::Rng + ?Sized)) -> f64 {
    ziggurat::std_normal(rng)
}

/// A standard exponential draw by the ziggurat: the same law as `std_exponential` with no
/// logarithm for 99 % of draws, which read one word; the rest (wedges, the tail, rejections)
/// read more. Unlike inversion it is not a monotone function of one uniform.
#[inline]
pub fn std_exponential_ziggurat(rng: &mut (impl rand::Rng + ?Sized)) -> f64 {
    ziggurat::std_exponential(rng)
}

/// e^x as 2^(x log2 e): libm's exp2 (FreeBSD's table-driven s_exp2) takes a third of the time
/// of its exp (fdlibm's) and is as fast as glibc's exp. Rounding x log2 e costs a relative
/// error below |x| x 1.2e-16 (a few units in the last place for a lognormal draw): the same
/// bits everywhere, and statistically invisible.
#[inline]
fn exp_via_exp2(x: f64) -> f64 {
    libm::exp2(x * std::f64::consts::LOG2_E)
}

/// A normal draw redrawn while negative, at most NORMAL_REDRAWS times, then clamped to 0.
fn truncated_normal(rng: &mut (impl rand::Rng + ?Sized), d: &Normal) -> f64 {
    // statrs keeps these private behind its moment accessors, always Some for a normal.
    let (mean, sd) = (d.mean().unwrap_or(0.0), d.std_dev().unwrap_or(0.0));
    let mut x = mean + sd * std_normal(rng);
    let mut redraws = 0;
    while x < 0.0 && redraws < NORMAL_REDRAWS {
        x = mean + sd * std_normal(rng);
        redraws += 1;
    }
    x.max(0.0)
}

/// A Gamma(shape, 1) draw: Marsaglia and Tsang (2000), "A simple method for generating gamma
/// variables", ACM TOMS 26(3). Below shape 1 it draws Gamma(shape + 1) and multiplies by
/// U^(1/shape), their boost. The squeeze `u < 1 - 0.0331 x^4` accepts most candidates
/// without a logarithm; at least 95 % of candidates are accepted for any shape.
fn gamma(rng: &mut (impl rand::Rng + ?Sized), shape: f64) -> f64 {
    let (a, boost) = if shape < 1.0 {
        (shape + 1.0, libm::pow(unit_open_closed(rng), 1.0 / shape))
    } else {
        (shape, 1.0)
    };
    let d = a - 1.0 / 3.0;
    let c = 1.0 / libm::sqrt(9.0 * d);
    loop {
        let x = std_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = unit_open_closed(rng);
        let x2 = x * x;
        if u < 1.0 - 0.0331 * x2 * x2 || libm::log(u) < 0.5 * x2 + d * (1.0 - v + libm::log(v)) {
            return boost * d * v;
        }
    }
}

/// The ziggurat of Marsaglia and Tsang (2000), "The ziggurat method for generating random
/// variables", J. Stat. Softw. 5(8), with 256 layers, and with the layer index taken from
/// bits of the word disjoint from the abscissa's (Doornik 2005: sharing them correlates the
/// two). The curve exp(-x²/2) is covered by 255 stacked rectangles and a base strip with the
/// tail, all of area v; a draw picks a layer and a point in it, and a point inside the next
/// layer's width is under the curve, accepted with no further work (99 % of draws). Wedge
/// points are tested against the curve (libm's exp) and the tail beyond r is sampled by
/// Marsaglia's (1964) method (libm's log). The tables are computed once, with libm, so they
/// are the same everywhere.
///
/// The exponential ziggurat is the same construction on exp(-x), one-sided (their section
/// 4): 255 layers and a base strip of area v = (r + 1) e^-r, r = 7.697... Its tail beyond r
/// is r plus a standard exponential (memorylessness), drawn by inversion with libm's log;
/// wedges are tested against libm's exp. rand_distr's `Exp1` is the same ziggurat but calls
/// the platform's `exp` and `ln` on those paths, so it would not give the same bits
/// everywhere.
mod ziggurat {
    use std::f64::consts::{FRAC_PI_2, SQRT_2};
    use std::sync::LazyLock;

    use rand::RngExt;

    use super::unit_open_closed;

    const LAYERS: usize = 256;
    /// Where the tail begins for 256 layers (Marsaglia and Tsang 2000): 3.654152885361008772
    /// to 19 digits (solved again with mpmath), here the nearest f64. With it the top layer's
    /// area equals the others' to 1e-13 in f64.
    const R: f64 = 3.654_152_885_361_009;

    /// The unnormalized density exp(-x²/2).
    fn curve(x: f64) -> f64 {
        libm::exp(-0.5 * x * x)
    }

    /// Layer i spans abscissas [0, x[i]] and heights [f[i], f[i + 1]]; x decreases from the
    /// base strip's width x[0] = v / f(r) through x[1] = r to x[256] = 0, f = curve(x).
    struct Tables {
        x: [f64; LAYERS + 1],
        f: [f64; LAYERS + 1],
    }

    static TABLES: LazyLock<Tables> = LazyLock::new(|| {
        // Each layer's area: the base strip's rectangle r f(r) plus the tail beyond r.
        let v = R * curve(R) + libm::sqrt(FRAC_PI_2) * libm::erfc(R / SQRT_2);
        let mut x = [0.0; LAYERS + 1];
        x[0] = v / curve(R);
        x[1] = R;
        for i in 2..LAYERS {
            // The next width w solves w (f(w) - f(x[i - 1])) = v.
            x[i] = libm::sqrt(-2.0 * libm::log(v / x[i - 1] + curve(x[i - 1])));
        }
        Tables { x, f: x.map(curve) }
    });

    /// 2^-52: the spacing of the 52-bit uniform grid.
    const CELL: f64 = 1.0 / (1u64 << 52) as f64;

    pub fn std_normal(rng: &mut (impl rand::Rng + ?Sized)) -> f64 {
        let t = &*TABLES;
        loop {
            let bits = rng.next_u64();
            let layer = (bits & 0xff) as usize;
            // The top 52 bits, centred in their cell and mapped to (-1, 1): symmetric, never 0.
            let u = 2.0 * (((bits >> 12) as f64 + 0.5) * CELL) - 1.0;
            let x = u * t.x[layer];
            if x.abs() < t.x[layer + 1] {
                return x;
            }
            if layer == 0 {
                return if u < 0.0 { -tail(rng) } else { tail(rng) };
            }
            let height = t.f[layer] + rng.random::<f64>() * (t.f[layer + 1] - t.f[layer]);
            if height < curve(x) {
                return x;
            }
        }
    }

    /// A draw of |Z| conditioned on |Z| > r (Marsaglia 1964): r + a with a exponential of
    /// rate r, accepted with probability exp(-a²/2).
    fn tail(rng: &mut (impl rand::Rng + ?Sized)) -> f64 {
        loop {
            let a = -libm::log(unit_open_closed(rng)) / R;
            let b = -libm::log(unit_open_closed(rng));
            if 2.0 * b > a * a {
                return R + a;
            }
        }
    }

    /// Where the exponential's tail begins for 256 layers: Marsaglia and Tsang's
    /// 7.69711747013104972 (solved again with mpmath: 7.6971174701310497140), here the
    /// nearest f64. With it the top layer's area equals the others' to 1e-12 in f64.
    const R_EXP: f64 = 7.697_117_470_131_05;

    /// Layer i of the exponential spans abscissas [0, x[i]] and heights [f[i], f[i + 1]],
    /// as for the normal, with f = e^-x.
    static EXP_TABLES: LazyLock<Tables> = LazyLock::new(|| {
        // The base strip's rectangle r e^-r plus the tail beyond r, e^-r.
        let v = (R_EXP + 1.0) * libm::exp(-R_EXP);
        let mut x = [0.0; LAYERS + 1];
        x[0] = v / libm::exp(-R_EXP);
        x[1] = R_EXP;
        for i in 2..LAYERS {
            // The next width w solves w (e^-w - e^-x[i - 1]) = v.
            x[i] = -libm::log(v / x[i - 1] + libm::exp(-x[i - 1]));
        }
        Tables {
            x,
            f: x.map(|x| libm::exp(-x)),
        }
    });

    pub fn std_exponential(rng: &mut (impl rand::Rng + ?Sized)) -> f64 {
        let t = &*EXP_TABLES;
        loop {
            let bits = rng.next_u64();
            // The layer from the low byte, the abscissa from the top 52 bits (disjoint, as
            // for the normal), centred in its cell: in (0, 1), so a draw is never 0.
            let layer = (bits & 0xff) as usize;
            let u = ((bits >> 12) as f64 + 0.5) * CELL;
            let x = u * t.x[layer];
            if x < t.x[layer + 1] {
                return x;
            }
            if layer == 0 {
                // Beyond r, by memorylessness: r plus a fresh standard exponential.
                return R_EXP - libm::log(unit_open_closed(rng));
            }
            let height = t.f[layer] + rng.random::<f64>() * (t.f[layer + 1] - t.f[layer]);
            if height < libm::exp(-x) {
                return x;
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::rng::named_stream;
        use statrs::distribution::{ContinuousCDF, Normal};

        /// Every layer, and the base strip with the tail, has the same area v.
        #[test]
        fn layers_have_equal_areas() {
            let t = &*TABLES;
            let v = t.x[0] * t.f[1];
            for i in 1..LAYERS {
                let area = t.x[i] * (t.f[i + 1] - t.f[i]);
                assert!((area / v - 1.0).abs() < 1e-12, "layer {i}: {area} vs {v}");
            }
            assert_eq!((t.x[1], t.x[LAYERS], t.f[LAYERS]), (R, 0.0, 1.0));
        }

        /// Every layer of the exponential, and its base strip with the tail, has the same
        /// area v: this fails if r is not the root for 256 layers.
        #[test]
        fn exponential_layers_have_equal_areas() {
            let t = &*EXP_TABLES;
            let v = t.x[0] * t.f[1];
            assert!(((R_EXP + 1.0) * libm::exp(-R_EXP) / v - 1.0).abs() < 1e-15);
            for i in 1..LAYERS {
                let area = t.x[i] * (t.f[i + 1] - t.f[i]);
                assert!((area / v - 1.0).abs() < 1e-12, "layer {i}: {area} vs {v}");
            }
            assert_eq!((t.x[1], t.x[LAYERS], t.f[LAYERS]), (R_EXP, 0.0, 1.0));
        }

        /// Kolmogorov-Smirnov distance of sorted `xs` from the law with CDF `cdf`.
        fn ks_distance(xs: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
            let n = xs.len() as f64;
            xs.iter()
                .enumerate()
                .map(|(i, &x)| {
                    let f = cdf(x);
                    (f - i as f64 / n).max((i + 1) as f64 / n - f)
                })
                .fold(0.0, f64::max)
        }

        /// 100,000 exponential draws: Kolmogorov-Smirnov against Exp(1) below its 0.1 %
        /// critical value (about 1,000 go through the wedges).
        #[test]
        fn exponential_draws_follow_exp_1() {
            let mut rng = named_stream(18, "test");
            let n = 100_000;
            let mut xs: Vec<f64> = (0..n).map(|_| std_exponential(&mut rng)).collect();
            assert!(xs.iter().all(|&x| x > 0.0 && x.is_finite()));
            xs.sort_by(f64::total_cmp);
            let ks = ks_distance(&xs, |x| -libm::expm1(-x));
            assert!(ks < 1.95 / (n as f64).sqrt(), "Kolmogorov-Smirnov {ks}");
        }

        /// Two million exponential draws: the mean within 5 standard errors of 1 and the
        /// sample variance within 5 of its standard errors (sqrt((mu4 - 1) / n), mu4 = 9);
        /// the share beyond r (the tail path, e^-r = 4.5e-4) within 5 binomial standard
        /// deviations, and those ~900 draws minus r follow Exp(1) (Kolmogorov-Smirnov, 0.1 %).
        #[test]
        fn exponential_moments_and_tail() {
            let mut rng = named_stream(19, "test");
            let n = 2_000_000;
            let xs: Vec<f64> = (0..n).map(|_| std_exponential(&mut rng)).collect();
            let nf = n as f64;
            let mean = xs.iter().sum::<f64>() / nf;
            assert!((mean - 1.0).abs() < 5.0 / nf.sqrt(), "mean {mean}");
            let variance = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
            assert!(
                (variance - 1.0).abs() < 5.0 * (8.0 / nf).sqrt(),
                "variance {variance}"
            );
            let p = libm::exp(-R_EXP);
            let mut tail: Vec<f64> = xs
                .iter()
                .filter(|&&x| x > R_EXP)
                .map(|x| x - R_EXP)
                .collect();
            let sd = (nf * p * (1.0 - p)).sqrt();
            let beyond = tail.len() as f64;
            assert!((beyond - nf * p).abs() < 5.0 * sd, "{beyond} beyond r");
            tail.sort_by(f64::total_cmp);
            let ks = ks_distance(&tail, |x| -libm::expm1(-x));
            assert!(ks < 1.95 / beyond.sqrt(), "tail Kolmogorov-Smirnov {ks}");
        }

        /// Tail draws follow |Z| given |Z| > r: Kolmogorov-Smirnov against
        /// P(|Z| <= x | |Z| > r) = 1 - erfc(x/√2) / erfc(r/√2), below its 0.1 % critical value.
        #[test]
        fn tail_draws_follow_the_normal_tail() {
            let mut rng = named_stream(16, "test");
            let n = 100_000;
            let mut xs: Vec<f64> = (0..n).map(|_| tail(&mut rng)).collect();
            xs.sort_by(f64::total_cmp);
            let beyond_r = libm::erfc(R / SQRT_2);
            let ks = xs
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let f = 1.0 - libm::erfc(x / SQRT_2) / beyond_r;
                    (f - i as f64 / n as f64).max((i + 1) as f64 / n as f64 - f)
                })
                .fold(0.0, f64::max);
            assert!(ks < 1.95 / (n as f64).sqrt(), "Kolmogorov-Smirnov {ks}");
        }

        /// Two million draws: the share beyond ±r (the base strip's tail path) within 5
        /// binomial standard deviations, and Kolmogorov-Smirnov against Φ (wedges included:
        /// 20,000 draws go through them).
        #[test]
        fn draws_follow_the_standard_normal() {
            let mut rng = named_stream(17, "test");
            let n = 2_000_000;
            let mut xs: Vec<f64> = (0..n).map(|_| std_normal(&mut rng)).collect();
            let p = libm::erfc(R / SQRT_2);
            let beyond = xs.iter().filter(|x| x.abs() > R).count() as f64;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (beyond - n as f64 * p).abs() < 5.0 * sd,
                "{beyond} beyond r"
            );
            xs.sort_by(f64::total_cmp);
            let normal = Normal::standard();
            let ks = xs
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let f = normal.cdf(x);
                    (f - i as f64 / n as f64).max((i + 1) as f64 / n as f64 - f)
                })
                .fold(0.0, f64::max);
            assert!(ks < 1.95 / (n as f64).sqrt(), "Kolmogorov-Smirnov {ks}");
        }
    }
}

/// Lognormal parameters from the median and the 99th percentile, the two numbers people
/// read off a latency dashboard: median = e^mu, p99 = e^(mu + z99 * sigma).
pub fn lognormal_from_median_p99(median: f64, p99: f64) -> (f64, f64) {
    const Z99: f64 = 2.326_347_874_040_841;
    let mu = libm::log(median);
    (mu, (libm::log(p99) - mu) / Z99)
}

/// An exponential duration of mean `mean_ns` (random outages' up and down times).
pub fn exponential_ns(
    rng: &mut (impl rand::Rng + ?Sized),
    mean_ns: crate::time::Nanos,
) -> crate::time::Nanos {
    (std_exponential(rng) * mean_ns as f64) as crate::time::Nanos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::named_stream;
    use statrs::distribution::{Continuous, ContinuousCDF};

    const DRAWS: usize = 200_000;

    fn uncapped(family: Family) -> Dist {
        Dist {
            family,
            cap: f64::INFINITY,
            mean: 0.0,
        }
    }

    /// Draws DRAWS samples of `family` and checks them against `exact`, statrs's closed forms
    /// (an implementation independent of our samplers): the sample mean within 5 standard
    /// errors (when the variance is finite), the 1 %, 50 % and 99 % sample quantiles within 5
    /// of their standard errors sqrt(p (1 - p) / n) / density, and the Kolmogorov-Smirnov
    /// distance below its 0.1 % critical value 1.95 / sqrt(n). Seeds are fixed, so a pass is
    /// reproducible; a wrong sampler misses these bounds by far.
    fn check<D>(family: Family, exact: &D, seed: u64)
    where
        D: Continuous<f64, f64> + ContinuousCDF<f64, f64> + Moments<f64>,
    {
        let dist = uncapped(family);
        let mut rng = named_stream(seed, "dist-test");
        let mut xs: Vec<f64> = (0..DRAWS).map(|_| dist.sample(&mut rng)).collect();
        let n = DRAWS as f64;
        let label = format!("{:?}", dist.family);
        if let (Some(mean), Some(variance)) = (exact.mean(), exact.variance())
            && variance.is_finite()
        {
            let sample_mean = xs.iter().sum::<f64>() / n;
            let tolerance = 5.0 * (variance / n).sqrt();
            assert!(
                (sample_mean - mean).abs() < tolerance,
                "{label}: mean {sample_mean} vs {mean} (tolerance {tolerance})"
            );
        }
        xs.sort_by(f64::total_cmp);
        for p in [0.01, 0.5, 0.99] {
            let (sample, quantile) = (xs[(p * n) as usize], exact.inverse_cdf(p));
            let tolerance = 5.0 * (p * (1.0 - p) / n).sqrt() / exact.pdf(quantile);
            assert!(
                (sample - quantile).abs() < tolerance,
                "{label}: {p}-quantile {sample} vs {quantile} (tolerance {tolerance})"
            );
        }
        let ks = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = exact.cdf(x);
                (f - i as f64 / n).max((i + 1) as f64 / n - f)
            })
            .fold(0.0, f64::max);
        assert!(ks < 1.95 / n.sqrt(), "{label}: Kolmogorov-Smirnov {ks}");
    }

    #[test]
    fn exponential_samples_have_its_mean_quantiles_and_shape() {
        check(
            Family::Exponential(Exp::new(1.25).unwrap()),
            &Exp::new(1.25).unwrap(),
            3,
        );
    }

    #[test]
    fn normal_samples_have_its_mean_quantiles_and_shape() {
        // Mean 5 sd: truncation at 0 (probability 3e-7) cannot show in 200k draws.
        let d = Normal::new(5.0, 1.0).unwrap();
        check(Family::Normal(d), &d, 4);
    }

    #[test]
    fn lognormal_samples_have_its_mean_quantiles_and_shape() {
        let (mu, sigma) = lognormal_from_median_p99(0.8, 4.0);
        let d = LogNormal::new(mu, sigma).unwrap();
        check(Family::LogNormal(d), &d, 5);
    }

    #[test]
    fn gamma_samples_have_its_mean_quantiles_and_shape() {
        // Below 1 (the boost), exactly 1 (no boost, smallest Marsaglia-Tsang shape), above.
        for (i, (shape, rate)) in [(0.3, 2.0), (1.0, 1.0), (2.5, 2.5), (40.0, 0.5)]
            .into_iter()
            .enumerate()
        {
            let d = Gamma::new(shape, rate).unwrap();
            check(Family::Gamma(d), &d, 6 + i as u64);
        }
    }

    #[test]
    fn weibull_samples_have_its_mean_quantiles_and_shape() {
        for (i, (shape, scale)) in [(0.7, 1.0), (1.5, 2.0)].into_iter().enumerate() {
            let d = Weibull::new(shape, scale).unwrap();
            check(Family::Weibull(d), &d, 10 + i as u64);
        }
    }

    #[test]
    fn pareto_samples_have_its_mean_quantiles_and_shape() {
        // Shape 1.5 has an infinite variance: quantiles and Kolmogorov-Smirnov only.
        for (i, (scale, shape)) in [(0.1, 4.5), (0.2, 1.5)].into_iter().enumerate() {
            let d = Pareto::new(scale, shape).unwrap();
            check(Family::Pareto(d), &d, 12 + i as u64);
        }
    }

    #[test]
    fn exponential_ns_has_its_mean() {
        let mut rng = named_stream(14, "test");
        let mean_ns = 60_000_000_000u64;
        let sum: u64 = (0..DRAWS).map(|_| exponential_ns(&mut rng, mean_ns)).sum();
        let sample_mean = sum as f64 / DRAWS as f64;
        // Truncation to whole nanoseconds lowers the mean by half a nanosecond: negligible.
        let tolerance = 5.0 * mean_ns as f64 / (DRAWS as f64).sqrt();
        assert!(
            (sample_mean - mean_ns as f64).abs() < tolerance,
            "{sample_mean}"
        );
    }

    /// The promise behind this module: the same seed gives the same bits on every platform.
    /// A digest of 1,000 draws of every family; it changes only when a sampler does on
    /// purpose, and would catch a platform function slipping back in (CI on another OS).
    #[test]
    fn samples_are_the_same_bits_everywhere() {
        let families = [
            Family::Uniform { min: 1.0, max: 3.0 },
            Family::Exponential(Exp::new(2.0).unwrap()),
            Family::Normal(Normal::new(1.0, 2.0).unwrap()),
            Family::LogNormal(LogNormal::new(-0.5, 1.2).unwrap()),
            Family::Gamma(Gamma::new(0.4, 3.0).unwrap()),
            Family::Gamma(Gamma::new(7.0, 0.5).unwrap()),
            Family::Weibull(Weibull::new(0.8, 2.0).unwrap()),
            Family::Pareto(Pareto::new(0.5, 1.7).unwrap()),
        ];
        let mut rng = named_stream(15, "test");
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for family in families {
            let dist = uncapped(family);
            for _ in 0..1000 {
                for byte in dist.sample(&mut rng).to_bits().to_le_bytes() {
                    hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
        for _ in 0..1000 {
            hash = (hash ^ exponential_ns(&mut rng, 1_000_000_000)).wrapping_mul(0x0100_0000_01b3);
        }
        assert_eq!(format!("{hash:016x}"), "747144c36a49478e");
    }

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
