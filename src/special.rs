//! Special functions behind the numbers in outputs, written on the pure-Rust `libm` crate.
//!
//! std's `ln`, `exp` and `powf` call the platform's libm (glibc, macOS, the Windows CRT),
//! which may differ in the last bit; one such bit can move a sample, an event, and then every
//! byte after it. libm (the rust-lang port of musl's) is the same code on every target, so
//! the functions here give the same bits everywhere. Only `+ - * /` and `sqrt` (IEEE
//! correctly rounded, so exact on any conforming platform) are used besides libm.
//!
//! * `student_t_quantile`: by safeguarded Newton on the upper tail, itself the regularized
//!   incomplete beta function by its continued fraction; beyond 1e5 degrees of freedom, the
//!   Cornish-Fisher expansion. Confidence intervals (`compare`, hence `sweep`).
//! * `student_t_sf`: P(T > t), the same incomplete beta function. The p-values of a
//!   sweep's paired tests (`selection`).
//! * `std_normal_quantile`: Wichura's AS 241 (PPND16), relative error about 1e-16: where the
//!   expansion starts.

/// Coefficients of AS 241 (Wichura 1988, Applied Statistics 37(3), 477-484), digit for digit
/// as published, lowest degree first. Rust rounds each literal correctly to the nearest f64.
#[allow(clippy::excessive_precision)]
mod as241 {
    /// |p - 1/2| <= 0.425: q * A(r) / B(r) with r = 0.180625 - q^2.
    pub const A: [f64; 8] = [
        3.3871328727963666080e0,
        1.3314166789178437745e+2,
        1.9715909503065514427e+3,
        1.3731693765509461125e+4,
        4.5921953931549871457e+4,
        6.7265770927008700853e+4,
        3.3430575583588128105e+4,
        2.5090809287301226727e+3,
    ];
    pub const B: [f64; 8] = [
        1.0,
        4.2313330701600911252e+1,
        6.8718700749205790830e+2,
        5.3941960214247511077e+3,
        2.1213794301586595867e+4,
        3.9307895800092710610e+4,
        2.8729085735721942674e+4,
        5.2264952788528545610e+3,
    ];
    /// Tails with r = sqrt(-ln(min(p, 1 - p))) <= 5: C(r - 1.6) / D(r - 1.6).
    pub const C: [f64; 8] = [
        1.42343711074968357734e0,
        4.63033784615654529590e0,
        5.76949722146069140550e0,
        3.64784832476320460504e0,
        1.27045825245236838258e0,
        2.41780725177450611770e-1,
        2.27238449892691845833e-2,
        7.74545014278341407640e-4,
    ];
    pub const D: [f64; 8] = [
        1.0,
        2.05319162663775882187e0,
        1.67638483018380384940e0,
        6.89767334985100004550e-1,
        1.48103976427480074590e-1,
        1.51986665636164571966e-2,
        5.47593808499534494600e-4,
        1.05075007164441684324e-9,
    ];
    /// Far tails, r > 5 (p below about 1e-11): E(r - 5) / F(r - 5).
    pub const E: [f64; 8] = [
        6.65790464350110377720e0,
        5.46378491116411436990e0,
        1.78482653991729133580e0,
        2.96560571828504891230e-1,
        2.65321895265761230930e-2,
        1.24266094738807843860e-3,
        2.71155556874348757815e-5,
        2.01033439929228813265e-7,
    ];
    pub const F: [f64; 8] = [
        1.0,
        5.99832206555887937690e-1,
        1.36929880922735805310e-1,
        1.48753612908506148525e-2,
        7.86869131145613259100e-4,
        1.84631831751005468180e-5,
        1.42151175831644588870e-7,
        2.04426310338993978564e-15,
    ];
}

/// A polynomial by Horner's rule, coefficients lowest degree first. The order of operations
/// is fixed, so the result is too.
#[inline]
fn horner(coefficients: &[f64; 8], x: f64) -> f64 {
    coefficients.iter().rev().fold(0.0, |acc, c| acc * x + c)
}

/// The standard normal quantile Φ⁻¹(p) for p in (0, 1) (AS 241): one rational function in
/// the centre (|p - 1/2| <= 0.425), one `log` and one `sqrt` besides in the tails.
pub fn std_normal_quantile(p: f64) -> f64 {
    use as241::*;
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * horner(&A, r) / horner(&B, r);
    }
    // For p > 1/2, 1 - p is exact (Sterbenz), so both tails are equally accurate.
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = libm::sqrt(-libm::log(tail));
    let z = if r <= 5.0 {
        horner(&C, r - 1.6) / horner(&D, r - 1.6)
    } else {
        horner(&E, r - 5.0) / horner(&F, r - 5.0)
    };
    if q < 0.0 { -z } else { z }
}

/// Above this argument, ln Γ(a) - ln Γ(a + b) is taken from Stirling's series: a difference
/// of two lgammas near a ln a would cancel most of its digits (ν/2 reaches 10,000 in Welch).
const STIRLING_FROM: f64 = 100.0;

/// ln Γ(a) - ln Γ(a + b) for a >= STIRLING_FROM and 0 < b <= a: Stirling's series with its
/// large terms subtracted analytically, then the 1/x corrections, whose first omitted term
/// is below 1/(1680 a^7) < 1e-17.
fn ln_gamma_ratio_stirling(a: f64, b: f64) -> f64 {
    let correction = |x: f64| {
        let x2 = x * x;
        (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / (1260.0 * x2)) / x2) / x
    };
    -(a - 0.5) * libm::log1p(b / a) - b * libm::log(a + b) + b + correction(a) - correction(a + b)
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a + b) through libm's `lgamma`.
fn ln_beta(a: f64, b: f64) -> f64 {
    let (small, large) = if a < b { (a, b) } else { (b, a) };
    if large >= STIRLING_FROM {
        libm::lgamma(small) + ln_gamma_ratio_stirling(large, small)
    } else {
        libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b)
    }
}

/// Continued-fraction terms closer than this to 1 end the expansion.
const CF_EPSILON: f64 = 1e-16;
/// Stand-in for a zero denominator in Lentz's method.
const CF_TINY: f64 = 1e-300;
/// The fraction converges in O(sqrt(max(a, b))) terms at worst, far fewer in practice; this
/// bound only guards against a non-terminating loop.
const CF_MAX_TERMS: u32 = 100_000;

/// Replaces a denominator too close to zero (Lentz's modification).
fn away_from_zero(x: f64) -> f64 {
    if x.abs() < CF_TINY { CF_TINY } else { x }
}

/// The continued fraction of I_x(a, b) (Numerical Recipes, 3rd ed., 6.4), by Lentz's
/// method; it converges fast for x < (a + 1) / (a + b + 2).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    let mut c = 1.0;
    let mut d = 1.0 / away_from_zero(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..=CF_MAX_TERMS {
        let m = f64::from(m);
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / away_from_zero(1.0 + even * d);
        c = away_from_zero(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / away_from_zero(1.0 + odd * d);
        c = away_from_zero(1.0 + odd / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < CF_EPSILON {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b) at x = 1 / (1 + s), given the odds
/// s = (1 - x) / x >= 0. Taking s rather than x keeps both x and 1 - x, and their logarithms,
/// accurate when either is tiny (Student's t at large dof has 1 - x near 1e-4 and smaller).
/// Expands whichever of I_x(a, b) and 1 - I_{1-x}(b, a) converges fast.
fn beta_regularized_at_odds(a: f64, b: f64, s: f64) -> f64 {
    if s.is_infinite() {
        return 0.0;
    }
    if s == 0.0 {
        return 1.0;
    }
    let (x, y) = (1.0 / (1.0 + s), s / (1.0 + s));
    let (ln_x, ln_y) = (-libm::log1p(s), libm::log(s) - libm::log1p(s));
    let front = libm::exp(a * ln_x + b * ln_y - ln_beta(a, b));
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, y) / b
    }
}

/// P(T > t) for Student's t with `dof` degrees of freedom and t >= 0:
/// I_x(ν/2, 1/2) / 2 at x = ν/(ν+t²), whose odds are t²/ν.
fn student_t_upper_tail(t: f64, dof: f64) -> f64 {
    0.5 * beta_regularized_at_odds(dof / 2.0, 0.5, t * t / dof)
}

/// P(T > t) for Student's t with `dof` > 0 degrees of freedom, any t: a one-sided p-value.
pub fn student_t_sf(t: f64, dof: f64) -> f64 {
    debug_assert!(dof > 0.0 && !t.is_nan());
    if t >= 0.0 {
        student_t_upper_tail(t, dof)
    } else {
        1.0 - student_t_upper_tail(-t, dof)
    }
}

/// The density of Student's t at t.
fn student_t_density(t: f64, dof: f64) -> f64 {
    libm::exp(
        -(dof + 1.0) / 2.0 * libm::log1p(t * t / dof)
            - 0.5 * libm::log(dof)
            - ln_beta(dof / 2.0, 0.5),
    )
}

/// Newton steps (each falling back on bisection when it would leave the bracket) before the
/// bracket's midpoint is accepted; convergence takes about five.
const T_MAX_ITERATIONS: u32 = 200;

/// From this many degrees of freedom on, the quantile is the expansion in 1/ν alone: its
/// first omitted term is below 1e-20 here, while the continued fraction's error grows like
/// ν x 1e-16 (cancellation with x = ν/(ν+t²) near 1). compare never gets near: its dof are
/// below 20,000.
const EXPANSION_FROM_DOF: f64 = 1e5;

/// The Cornish-Fisher expansion of Student's t quantile in powers of 1/ν around the normal
/// quantile z (Abramowitz and Stegun 26.7.5), to 1/ν⁴.
fn student_t_expansion(z: f64, dof: f64) -> f64 {
    let z2 = z * z;
    let g1 = (z2 + 1.0) * z / 4.0;
    let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / dof) / dof) / dof) / dof
}

/// The quantile of Student's t with `dof` > 0 degrees of freedom at p in [1/2, 1).
///
/// Solves P(T > t) = 1 - p by Newton's method from the Cornish-Fisher expansion, inside a
/// bracket that every evaluation narrows, so it always converges. Accurate to about 1e-13
/// relative for p up to 0.9995 (the incomplete beta function's own error).
pub fn student_t_quantile(p: f64, dof: f64) -> f64 {
    debug_assert!((0.5..1.0).contains(&p) && dof > 0.0);
    let z = std_normal_quantile(p);
    let guess = student_t_expansion(z, dof);
    if dof >= EXPANSION_FROM_DOF {
        return guess;
    }
    // For small ν the expansion is far off (it is a series in 1/ν): only a start.
    let alpha = 1.0 - p;
    let (mut low, mut high) = (0.0, guess.clamp(1.0, 1e3));
    while student_t_upper_tail(high, dof) > alpha {
        low = high;
        high *= 2.0;
    }
    let mut t = guess.clamp(low, high);
    for _ in 0..T_MAX_ITERATIONS {
        let excess = student_t_upper_tail(t, dof) - alpha;
        if excess == 0.0 {
            return t;
        }
        if excess > 0.0 {
            low = t;
        } else {
            high = t;
        }
        let newton = t + excess / student_t_density(t, dof);
        let next = if newton > low && newton < high {
            newton
        } else {
            0.5 * (low + high)
        };
        if (next - t).abs() <= 4.0 * f64::EPSILON * t {
            return next;
        }
        t = next;
    }
    0.5 * (low + high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ContinuousCDF, StudentsT};

    fn assert_close(ours: f64, reference: f64, tolerance: f64, what: &str) {
        assert!(
            ((ours - reference) / reference).abs() < tolerance,
            "{what}: {ours} vs {reference}"
        );
    }

    /// Φ⁻¹ of the exact binary value of each p, computed to 60 digits with mpmath. Every
    /// branch of AS 241 and both sides of each boundary (0.075, 0.925, and r = 5 near
    /// p = 1.39e-11) are represented, so a mistyped coefficient would show.
    #[test]
    fn normal_quantile_meets_reference_values() {
        let reference = [
            (1e-300, -37.047_096_299_361_2),
            (1e-100, -21.273_453_560_965_324),
            (1e-20, -9.262_340_089_798_408),
            (1e-12, -7.034_483_825_301_132),
            (1.3e-11, -6.667_611_456_510_741),
            (1.5e-11, -6.646_570_887_477_113),
            (1e-6, -4.753_424_308_822_899),
            (0.001, -3.090_232_306_167_813_5),
            (0.01, -2.326_347_874_040_841),
            (0.05, -1.644_853_626_951_472_7),
            (0.0749, -1.440_238_267_527_963_7),
            (0.075, -1.439_531_470_938_456),
            (0.0751, -1.438_825_392_752_54),
            (0.1, -1.281_551_565_544_600_4),
            (0.25, -0.674_489_750_196_081_7),
            (0.4, -0.253_347_103_135_799_7),
            (0.6, 0.253_347_103_135_799_7),
            (0.9, 1.281_551_565_544_600_6),
            (0.925, 1.439_531_470_938_456_2),
            (0.9251, 1.440_238_267_527_964),
            (0.975, 1.959_963_984_540_054),
            (0.999, 3.090_232_306_167_813),
            (0.999_999_999_999, 7.034_486_910_047_835),
        ];
        for (p, z) in reference {
            assert_close(std_normal_quantile(p), z, 1e-15, &format!("p {p}"));
        }
        assert_eq!(std_normal_quantile(0.5), 0.0);
        assert_eq!(std_normal_quantile(0.3), -std_normal_quantile(0.7));
    }

    #[test]
    fn student_t_tail_matches_statrs() {
        for dof in [1.0, 2.0, 4.0, 9.0, 29.0, 250.5] {
            for t in [-3.0, -0.4, 0.0, 0.7, 2.0, 5.5] {
                let reference = 1.0 - StudentsT::new(0.0, 1.0, dof).unwrap().cdf(t);
                assert_close(
                    student_t_sf(t, dof),
                    reference,
                    1e-9,
                    &format!("t {t} dof {dof}"),
                );
            }
        }
        // The 97.5 % quantile of t(4) is 2.776445: 2.5 % above it.
        assert!((student_t_sf(2.776_445_105, 4.0) - 0.025).abs() < 1e-9);
    }

    #[test]
    fn student_t_quantile_matches_statrs() {
        // statrs's own solver (AS 64 on its incomplete beta) drifts to 1e-8 beyond a few
        // thousand dof; larger dof are checked against mpmath below.
        let dofs = [
            1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 10.0, 29.0, 100.0, 1000.0, // whole (n - 1)
            1.3, 2.5, 3.7, 7.25, 17.9, 41.6, 250.5, // Welch's
        ];
        for dof in dofs {
            let reference = StudentsT::new(0.0, 1.0, dof).unwrap();
            for p in [0.6, 0.9, 0.975, 0.995, 0.9995] {
                let what = format!("dof {dof}, p {p}");
                assert_close(
                    student_t_quantile(p, dof),
                    reference.inverse_cdf(p),
                    1e-9,
                    &what,
                );
            }
        }
    }

    /// 0.975 quantiles computed to 40 digits with mpmath, on both sides of the switch to the
    /// expansion (1e5) and at compare's largest Welch dof.
    #[test]
    fn student_t_quantile_meets_reference_values() {
        let reference = [
            (1.0, 12.706_204_736_174_705),
            (2.0, 4.302_652_729_749_464),
            (10.0, 2.228_138_851_986_275),
            (29.0, 2.045_229_642_132_704),
            (5432.1, 1.960_400_793_677_062_2),
            (19_998.0, 1.960_082_617_022_088_8),
            (99_999.0, 1.959_987_707_771_844_4),
            (100_000.0, 1.959_987_707_534_609_3),
            (1e9, 1.959_963_986_912_325_5),
        ];
        for (dof, t) in reference {
            assert_close(
                student_t_quantile(0.975, dof),
                t,
                1e-12,
                &format!("dof {dof}"),
            );
        }
        // ν = 1 is the Cauchy: t = tan(π (p - 1/2)) exactly.
        let cauchy = libm::tan(std::f64::consts::PI * 0.49);
        assert_close(student_t_quantile(0.99, 1.0), cauchy, 1e-12, "Cauchy");
    }
}
