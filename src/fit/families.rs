//! Fitting a sample of positive values (seconds, tokens) to the scenario format's
//! families by maximum likelihood, with the Kolmogorov-Smirnov distance of each fit:
//!
//! * lognormal: mu and sigma are the mean and (1/n) standard deviation of ln x, exactly;
//! * gamma: the shape solves ln k - ψ(k) = ln(mean x) - mean(ln x), started from Minka's
//!   closed-form approximation (Minka 2002, "Estimating a Gamma distribution") and polished
//!   by Newton steps; scale = mean / shape;
//! * Weibull: the shape solves Σ x^k ln x / Σ x^k - 1/k = mean(ln x) (its left side grows
//!   with k), by bisection on ln k; scale = (Σ x^k / n)^(1/k) (Johnson, Kotz and
//!   Balakrishnan, "Continuous Univariate Distributions", vol. 1, ch. 21).
//!
//! The family with the highest log-likelihood is chosen; if even its KS distance exceeds
//! `EMPIRICAL_ABOVE_KS`, the sample's quantiles are used instead (`empirical`). A sample
//! with no spread (all values within 0.1 % of their mean) is a constant.
//!
//! Logarithms and powers come from `libm`, so a log fits to the same digits on every
//! platform; statrs gives ψ, the regularized incomplete gamma and erf.

use serde::Serialize;
use statrs::function::{erf::erf, gamma::digamma, gamma::gamma_lr};

/// Above this KS distance the best parametric fit is not trusted: the empirical quantiles
/// are used.
pub const EMPIRICAL_ABOVE_KS: f64 = 0.05;

/// Quantiles kept for an empirical fit: enough for a smooth CDF, small in a scenario file.
pub const EMPIRICAL_POINTS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Fitted {
    Constant { value: f64 },
    Lognormal { mu: f64, sigma: f64 },
    Gamma { shape: f64, scale: f64 },
    Weibull { shape: f64, scale: f64 },
}

impl Fitted {
    pub fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        match *self {
            Fitted::Constant { value } => f64::from(x >= value),
            Fitted::Lognormal { mu, sigma } => {
                0.5 * (1.0 + erf((libm::log(x) - mu) / (sigma * std::f64::consts::SQRT_2)))
            }
            Fitted::Gamma { shape, scale } => gamma_lr(shape, x / scale),
            Fitted::Weibull { shape, scale } => 1.0 - libm::exp(-libm::pow(x / scale, shape)),
        }
    }

    /// The quantile by bisection on the CDF (for Q-Q plots; never on a hot path).
    pub fn quantile(&self, p: f64) -> f64 {
        if let Fitted::Constant { value } = *self {
            return value;
        }
        let (mut low, mut high) = (0.0, 1.0);
        while self.cdf(high) < p && high < 1e12 {
            high *= 2.0;
        }
        for _ in 0..100 {
            let mid = 0.5 * (low + high);
            if self.cdf(mid) < p {
                low = mid;
            } else {
                high = mid;
            }
        }
        0.5 * (low + high)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Fitted::Constant { .. } => "constant",
            Fitted::Lognormal { .. } => "lognormal",
            Fitted::Gamma { .. } => "gamma",
            Fitted::Weibull { .. } => "weibull",
        }
    }
}

/// One candidate's fit.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    #[serde(flatten)]
    pub fitted: Fitted,
    pub log_likelihood: f64,
    pub ks_distance: f64,
}

/// The fits of one sample and the choice among them.
#[derive(Debug, Clone, Serialize)]
pub struct SampleFit {
    pub n: usize,
    pub mean: f64,
    pub candidates: Vec<Candidate>,
    /// `constant`, `lognormal`, `gamma`, `weibull` or `empirical`.
    pub chosen: &'static str,
    /// The chosen parametric fit (None when empirical).
    #[serde(skip)]
    pub best: Option<Fitted>,
    /// The sample's quantiles, for `empirical` (and for charts).
    #[serde(skip)]
    pub quantiles: Vec<f64>,
    pub ks_distance: f64,
}

/// Fits `values` (each > 0; others are dropped). None for fewer than `min_n` values.
pub fn fit(values: &[f64], min_n: usize) -> Option<SampleFit> {
    let mut x: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if x.len() < min_n.max(2) {
        return None;
    }
    x.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let quantiles = quantiles(&x, EMPIRICAL_POINTS);
    if x[0] >= mean * 0.999 && x[x.len() - 1] <= mean * 1.001 {
        let fitted = Fitted::Constant { value: mean };
        return Some(SampleFit {
            n: x.len(),
            mean,
            candidates: vec![],
            chosen: "constant",
            best: Some(fitted),
            quantiles,
            ks_distance: 0.0,
        });
    }
    let logs: Vec<f64> = x.iter().map(|v| libm::log(*v)).collect();
    let mean_log = logs.iter().sum::<f64>() / n;
    let candidates: Vec<Candidate> = [
        lognormal(&logs, mean_log),
        gamma(mean, mean_log),
        weibull(&x, &logs, mean_log),
    ]
    .into_iter()
    .flatten()
    .map(|fitted| Candidate {
        fitted,
        log_likelihood: log_likelihood(&fitted, &x, &logs),
        ks_distance: ks_distance(&fitted, &x),
    })
    .filter(|c| c.log_likelihood.is_finite())
    .collect();
    let best = candidates
        .iter()
        .max_by(|a, b| a.log_likelihood.total_cmp(&b.log_likelihood));
    let (chosen, best_fit, ks) = match best {
        Some(c) if c.ks_distance <= EMPIRICAL_ABOVE_KS => {
            (c.fitted.name(), Some(c.fitted), c.ks_distance)
        }
        // The empirical CDF of the quantiles differs from the sample's by at most 1/points.
        _ => ("empirical", None, 1.0 / EMPIRICAL_POINTS as f64),
    };
    Some(SampleFit {
        n: x.len(),
        mean,
        candidates,
        chosen,
        best: best_fit,
        quantiles,
        ks_distance: ks,
    })
}

/// `points` quantiles of a sorted sample, at the midpoints (i + 1/2) / points.
pub fn quantiles(sorted: &[f64], points: usize) -> Vec<f64> {
    (0..points)
        .map(|i| {
            let p = (i as f64 + 0.5) / points as f64;
            sorted[((p * sorted.len() as f64) as usize).min(sorted.len() - 1)]
        })
        .collect()
}

fn lognormal(logs: &[f64], mean_log: f64) -> Option<Fitted> {
    let n = logs.len() as f64;
    let var = logs.iter().map(|l| (l - mean_log).powi(2)).sum::<f64>() / n;
    (var > 0.0).then(|| Fitted::Lognormal {
        mu: mean_log,
        sigma: var.sqrt(),
    })
}

fn gamma(mean: f64, mean_log: f64) -> Option<Fitted> {
    let s = libm::log(mean) - mean_log;
    if s <= 0.0 || !s.is_finite() {
        return None;
    }
    let mut k = (3.0 - s + ((s - 3.0).powi(2) + 24.0 * s).sqrt()) / (12.0 * s);
    for _ in 0..20 {
        // f(k) = ln k - ψ(k) - s; f'(k) = 1/k - ψ'(k), ψ' by a central difference.
        let h = 1e-5 * k;
        let trigamma = (digamma(k + h) - digamma(k - h)) / (2.0 * h);
        let step = (libm::log(k) - digamma(k) - s) / (1.0 / k - trigamma);
        let next = (k - step).max(k / 10.0);
        if (next - k).abs() < 1e-12 * k {
            k = next;
            break;
        }
        k = next;
    }
    (k.is_finite() && k > 0.0).then(|| Fitted::Gamma {
        shape: k,
        scale: mean / k,
    })
}

fn weibull(x: &[f64], logs: &[f64], mean_log: f64) -> Option<Fitted> {
    // Powers of x / max x, so that x^k neither overflows nor underflows for large k.
    let top = x[x.len() - 1];
    let ln_top = libm::log(top);
    let sums = |k: f64| {
        let (mut s, mut sl) = (0.0, 0.0);
        for l in logs {
            let w = libm::exp(k * (l - ln_top));
            s += w;
            sl += w * l;
        }
        (s, sl)
    };
    let g = |k: f64| {
        let (s, sl) = sums(k);
        sl / s - 1.0 / k - mean_log
    };
    let (mut low, mut high) = (libm::log(0.02), libm::log(200.0));
    if g(libm::exp(low)) > 0.0 || g(libm::exp(high)) < 0.0 {
        return None;
    }
    for _ in 0..60 {
        let mid = 0.5 * (low + high);
        if g(libm::exp(mid)) < 0.0 {
            low = mid;
        } else {
            high = mid;
        }
    }
    let k = libm::exp(0.5 * (low + high));
    let (s, _) = sums(k);
    let scale = top * libm::pow(s / x.len() as f64, 1.0 / k);
    Some(Fitted::Weibull { shape: k, scale })
}

fn log_likelihood(f: &Fitted, x: &[f64], logs: &[f64]) -> f64 {
    let n = x.len() as f64;
    let sum_log: f64 = logs.iter().sum();
    match *f {
        Fitted::Constant { .. } => f64::NAN,
        Fitted::Lognormal { mu, sigma } => {
            let sq: f64 = logs.iter().map(|l| (l - mu).powi(2)).sum();
            -sum_log
                - n * (libm::log(sigma) + 0.5 * libm::log(std::f64::consts::TAU))
                - sq / (2.0 * sigma * sigma)
        }
        Fitted::Gamma { shape, scale } => {
            let sum: f64 = x.iter().sum();
            (shape - 1.0) * sum_log
                - sum / scale
                - n * (shape * libm::log(scale) + libm::lgamma(shape))
        }
        Fitted::Weibull { shape, scale } => {
            let sum: f64 = x.iter().map(|v| libm::pow(v / scale, shape)).sum();
            n * libm::log(shape) - n * shape * libm::log(scale) + (shape - 1.0) * sum_log - sum
        }
    }
}

/// sup |F(x) - F_n(x)| over a sorted sample.
pub fn ks_distance(f: &Fitted, sorted: &[f64]) -> f64 {
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let c = f.cdf(*x);
            (c - i as f64 / n).max((i + 1) as f64 / n - c)
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use crate::rng::named_stream;

    fn sample(dist: Dist, n: usize) -> Vec<f64> {
        let mut rng = named_stream(5, "fit-test");
        (0..n).map(|_| dist.sample(&mut rng)).collect()
    }

    fn dist(f: crate::dist::Family) -> Dist {
        Dist {
            family: f,
            cap: f64::INFINITY,
            mean: 1.0,
        }
    }

    #[test]
    fn each_family_is_recovered_and_chosen_from_its_own_sample() {
        use statrs::distribution::{Gamma, LogNormal, Weibull};
        let n = 20_000;
        let lognormal = fit(
            &sample(
                dist(crate::dist::Family::LogNormal(
                    LogNormal::new(-0.7, 0.5).unwrap(),
                )),
                n,
            ),
            10,
        )
        .unwrap();
        assert_eq!(lognormal.chosen, "lognormal");
        let Some(Fitted::Lognormal { mu, sigma }) = lognormal.best else {
            panic!()
        };
        // Standard errors: sigma / sqrt(n) = 0.0035 and sigma / sqrt(2n) = 0.0025.
        assert!(
            (mu + 0.7).abs() < 0.015 && (sigma - 0.5).abs() < 0.012,
            "{mu} {sigma}"
        );

        let gamma = fit(
            &sample(
                dist(crate::dist::Family::Gamma(Gamma::new(3.0, 2.0).unwrap())),
                n,
            ),
            10,
        )
        .unwrap();
        assert_eq!(gamma.chosen, "gamma");
        let Some(Fitted::Gamma { shape, scale }) = gamma.best else {
            panic!()
        };
        assert!(
            (shape - 3.0).abs() < 0.15 && (scale - 0.5).abs() < 0.03,
            "{shape} {scale}"
        );

        let weibull = fit(
            &sample(
                dist(crate::dist::Family::Weibull(
                    Weibull::new(1.5, 2.0).unwrap(),
                )),
                n,
            ),
            10,
        )
        .unwrap();
        assert_eq!(weibull.chosen, "weibull");
        let Some(Fitted::Weibull { shape, scale }) = weibull.best else {
            panic!()
        };
        assert!(
            (shape - 1.5).abs() < 0.05 && (scale - 2.0).abs() < 0.05,
            "{shape} {scale}"
        );
        assert!(weibull.ks_distance < 0.02);
    }

    #[test]
    fn constants_bimodal_samples_and_small_ones() {
        let c = fit(&[0.01; 50], 10).unwrap();
        let Some(Fitted::Constant { value }) = c.best else {
            panic!("{c:?}")
        };
        assert!(
            c.chosen == "constant" && (value - 0.01).abs() < 1e-15,
            "{value}"
        );
        let mut two: Vec<f64> = vec![0.1; 500];
        two.extend(vec![10.0; 500]);
        two.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v *= 1.0 + i as f64 * 1e-5);
        assert_eq!(fit(&two, 10).unwrap().chosen, "empirical");
        assert!(fit(&[1.0, 2.0], 10).is_none());
    }
}
