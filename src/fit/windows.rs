//! Error bursts in a series of buckets (attempts and failures per bucket), found by binary
//! segmentation with a binomial likelihood (Scott and Knott 1974; Killick and Eckley's
//! `changepoint` package documents the method): split the series where splitting raises the
//! log-likelihood of "a constant failure probability per segment" most, keep the split if
//! the gain exceeds the BIC penalty (ln of the attempts, for the new segment's rate and its
//! change point), and recurse. The calmest segments covering half the buckets give the
//! background rate; segments well above it are the windows.

/// A run of buckets `[first, end)` whose failure rate stands above the background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub first: usize,
    pub end: usize,
    pub attempts: u64,
    pub failures: u64,
}

impl Window {
    pub fn rate(&self) -> f64 {
        self.failures as f64 / self.attempts.max(1) as f64
    }
}

/// At most this many segments: a day of minutes cut finer than this is noise, and the
/// recursion stays shallow.
const MAX_SEGMENTS: usize = 256;

/// A window's rate must exceed the background by this much (absolute) and be at least
/// `WINDOW_RATIO` times it: a 2 % background and a 3 % stretch are the same world.
const WINDOW_EXCESS: f64 = 0.05;
const WINDOW_RATIO: f64 = 3.0;

fn log_likelihood(failures: u64, attempts: u64) -> f64 {
    if attempts == 0 || failures == 0 || failures == attempts {
        return 0.0;
    }
    let (e, n) = (failures as f64, attempts as f64);
    let p = e / n;
    e * libm::log(p) + (n - e) * libm::log(1.0 - p)
}

/// The windows of `series` (attempts, failures per bucket) and the background rate (the
/// failure rate outside them).
pub fn detect(series: &[(u64, u64)]) -> (Vec<Window>, f64) {
    let mut prefix = vec![(0u64, 0u64); series.len() + 1];
    for (i, (n, e)) in series.iter().enumerate() {
        prefix[i + 1] = (prefix[i].0 + n, prefix[i].1 + e);
    }
    let total = prefix[series.len()].0;
    let sum = |a: usize, b: usize| (prefix[b].0 - prefix[a].0, prefix[b].1 - prefix[a].1);
    let penalty = libm::log(total.max(2) as f64);
    let mut cuts = vec![0, series.len()];
    let mut pending = vec![(0, series.len())];
    while let Some((a, b)) = pending.pop() {
        if cuts.len() > MAX_SEGMENTS || b - a < 2 {
            continue;
        }
        let (n, e) = sum(a, b);
        let whole = log_likelihood(e, n);
        let best = (a + 1..b)
            .map(|k| {
                let ((n1, e1), (n2, e2)) = (sum(a, k), sum(k, b));
                (log_likelihood(e1, n1) + log_likelihood(e2, n2) - whole, k)
            })
            .max_by(|x, y| x.0.total_cmp(&y.0).then(y.1.cmp(&x.1)));
        if let Some((gain, k)) = best
            && gain > penalty
        {
            cuts.push(k);
            pending.push((a, k));
            pending.push((k, b));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let segments: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    // The background: the calmest segments that together cover half the buckets (a burst
    // of retries can hold more attempts than any calm stretch, so attempts cannot decide).
    let rate_of = |(a, b): (usize, usize)| {
        let (n, e) = sum(a, b);
        e as f64 / n.max(1) as f64
    };
    let mut calm = segments.clone();
    calm.sort_by(|x, y| rate_of(*x).total_cmp(&rate_of(*y)).then(x.cmp(y)));
    let (mut covered, mut bn, mut be) = (0, 0, 0);
    for (a, b) in calm {
        if covered * 2 >= series.len() {
            break;
        }
        let (n, e) = sum(a, b);
        covered += b - a;
        bn += n;
        be += e;
    }
    let base = be as f64 / bn.max(1) as f64;
    let mut windows: Vec<Window> = Vec::new();
    for (a, b) in segments {
        let (n, e) = sum(a, b);
        let rate = e as f64 / n.max(1) as f64;
        if n == 0 || rate < base + WINDOW_EXCESS || rate < base * WINDOW_RATIO {
            continue;
        }
        // Adjacent high segments (a burst that changed its rate) are one window.
        match windows.last_mut() {
            Some(w) if w.end == a => {
                w.end = b;
                w.attempts += n;
                w.failures += e;
            }
            _ => windows.push(Window {
                first: a,
                end: b,
                attempts: n,
                failures: e,
            }),
        }
    }
    let (wn, we) = windows
        .iter()
        .fold((0, 0), |(n, e), w| (n + w.attempts, e + w.failures));
    let background = (prefix[series.len()].1 - we) as f64 / (total - wn).max(1) as f64;
    (windows, background)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_found_to_the_bucket_and_the_background_outside_it() {
        // 60 buckets of 300 attempts, 2 % failures, and buckets 20..30 failing entirely.
        let series: Vec<(u64, u64)> = (0..60)
            .map(|i| {
                if (20..30).contains(&i) {
                    (300, 300)
                } else {
                    (300, 6 + (i % 3))
                }
            })
            .collect();
        let (windows, background) = detect(&series);
        assert_eq!(windows.len(), 1, "{windows:?}");
        assert_eq!((windows[0].first, windows[0].end), (20, 30));
        assert!((background - 0.0233).abs() < 0.001, "{background}");
        // No burst: no window.
        let flat: Vec<(u64, u64)> = (0..60).map(|i| (300, 5 + (i % 4))).collect();
        assert!(detect(&flat).0.is_empty());
        // A burst holding more attempts than the calm stretches (retries) is still the burst.
        let retries: Vec<(u64, u64)> = (0..30)
            .map(|i| {
                if (8..16).contains(&i) {
                    (900, 900)
                } else {
                    (120, 2 + (i % 2))
                }
            })
            .collect();
        let (windows, _) = detect(&retries);
        assert_eq!(
            (windows.len(), windows[0].first, windows[0].end),
            (1, 8, 16)
        );
    }
}
