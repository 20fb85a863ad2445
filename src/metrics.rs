//! What a run measures, in memory that does not grow with the simulated duration.
//!
//! * Run totals (`Totals`) and streaming latency histograms (HdrHistogram: 3 significant
//!   digits for the summary, 2 for each time bucket), never a list of latencies.
//! * One open time bucket (`BucketStats`): when the clock passes its end it is handed to a
//!   `BucketSink` (the CSV writer) and reset, so a 1,000-hour run holds one bucket at a time.
//! * Levels that change at events (queue length, attempts in service) are integrated over
//!   time, giving exact time averages per bucket (the quantity Little's law speaks of).
//!
//! Request-level figures in the summary count only requests that arrived after the warm-up;
//! the time series counts everything, so the warm-up stays visible on the charts.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::outcome::Failure;
use crate::time::{NS_PER_US, Nanos};

/// Highest latency the histograms resolve: 10 days, in microseconds. Above it, clamped.
const MAX_LATENCY_US: u64 = 10 * 24 * 3600 * 1_000_000;

pub fn latency_histogram(significant_digits: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, significant_digits)
        .expect("static bounds are valid")
}

#[inline]
pub fn record_latency(histogram: &mut Histogram<u64>, latency_ns: Nanos) {
    histogram.saturating_record((latency_ns / NS_PER_US).clamp(1, MAX_LATENCY_US));
}

/// Attempt-level and request-level counters, kept for each group and each bucket (the
/// run's are the sum of its groups').
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Totals {
    pub arrived: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Requests that ended failed, by the failure that ended them.
    pub failed_by: [u64; Failure::COUNT],
    pub attempts_sent: u64,
    pub retries: u64,
    pub fallbacks: u64,
    /// Attempts that failed, by how (breaker rejections included though nothing was sent).
    pub attempt_failures: [u64; Failure::COUNT],
    /// Successful requests answered by a fallback target, not the primary.
    pub served_by_fallback: u64,
    /// Retries the retry budget refused.
    pub retries_denied: u64,
    /// Retries an open retries-only breaker stopped.
    pub retries_stopped_by_breaker: u64,
    /// Credit pre-checks that found the account short (the seed's low-credit alert).
    pub low_credit_alerts: u64,
    /// Targets put in LiteLLM cooldown.
    pub cooldowns: u64,
    /// Hedged attempts sent, and requests a hedge (not the first attempt) answered.
    pub hedges: u64,
    pub hedges_won: u64,
    /// Retries taken by each outer retry layer (innermost first).
    pub layer_retries: [u64; crate::policy::MAX_OUTER_RETRY_LAYERS],
    pub latency_sum_ns: u128,
    pub cost_nusd: u64,
}

impl Totals {
    /// Adds `other`'s counts to these (the run's totals are the sum of its groups'). Every
    /// field is named, so a new counter cannot be left out of the sum.
    pub fn add(&mut self, other: &Totals) {
        let Totals {
            arrived,
            succeeded,
            failed,
            failed_by,
            attempts_sent,
            retries,
            fallbacks,
            attempt_failures,
            served_by_fallback,
            retries_denied,
            retries_stopped_by_breaker,
            low_credit_alerts,
            cooldowns,
            hedges,
            hedges_won,
            layer_retries,
            latency_sum_ns,
            cost_nusd,
        } = other;
        let add_each = |into: &mut [u64], from: &[u64]| {
            into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
        };
        self.arrived += arrived;
        self.succeeded += succeeded;
        self.failed += failed;
        add_each(&mut self.failed_by, failed_by);
        self.attempts_sent += attempts_sent;
        self.retries += retries;
        self.fallbacks += fallbacks;
        add_each(&mut self.attempt_failures, attempt_failures);
        self.served_by_fallback += served_by_fallback;
        self.retries_denied += retries_denied;
        self.retries_stopped_by_breaker += retries_stopped_by_breaker;
        self.low_credit_alerts += low_credit_alerts;
        self.cooldowns += cooldowns;
        self.hedges += hedges;
        self.hedges_won += hedges_won;
        add_each(&mut self.layer_retries, layer_retries);
        self.latency_sum_ns += latency_sum_ns;
        self.cost_nusd += cost_nusd;
    }
}

/// Per-provider counters for the summary.
#[derive(Debug, Clone, Default)]
pub struct ProviderTotals {
    pub received: u64,
    pub accepted: u64,
    pub completed_ok: u64,
    /// Successful responses nobody was waiting for any more (the client timed out): work
    /// and money spent for nothing, the fuel of retry storms.
    pub wasted: u64,
    pub queue_max: u32,
    pub cost_nusd: u64,
    pub credits_exhausted_at_ns: Option<Nanos>,
    pub first_low_credit_alert_ns: Option<Nanos>,
    /// Jobs admitted after the warm-up that started service, how many of them waited in the
    /// queue first, and their total wait: the queueing-theory view (Erlang C's P(wait > 0)
    /// and mean wait).
    pub started: u64,
    pub waited: u64,
    pub wait_sum_ns: u128,
    /// Fault windows (outages and brownouts, merged where they overlap), how many a breaker
    /// detected (opened during) and how long that took from the window's start; and the
    /// time from a window's end to the provider's next successful answer.
    pub fault_windows: u64,
    pub detections: u64,
    pub detection_sum_ns: u128,
    pub detection_max_ns: Nanos,
    pub recoveries: u64,
    pub recovery_sum_ns: u128,
    pub recovery_max_ns: Nanos,
}

/// A level over time (queue length, in service), integrated for exact time averages.
#[derive(Debug, Clone, Copy, Default)]
pub struct Level {
    pub value: u32,
    pub max: u32,
    changed_ns: Nanos,
    area: u128,
}

impl Level {
    #[inline]
    pub fn set(&mut self, now: Nanos, value: u32) {
        self.area += u128::from(now - self.changed_ns) * u128::from(self.value);
        self.changed_ns = now;
        self.value = value;
        self.max = self.max.max(value);
    }

    /// Time average over [start, now), then restart the integral at `now`.
    fn close(&mut self, start: Nanos, now: Nanos) -> f64 {
        self.set(now, self.value);
        let average = if now > start {
            self.area as f64 / (now - start) as f64
        } else {
            0.0
        };
        self.area = 0;
        self.max = self.value;
        average
    }
}

/// Per-provider state of a bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProviderLevels {
    pub queue: Level,
    pub in_service: Level,
    /// 1 while hard down, else 0.
    pub down: Level,
    /// 1 while browned out (and not down), else 0.
    pub brownout: Level,
}

/// One provider's columns of a closed bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProviderRow {
    pub queue_avg: f64,
    pub queue_max: u32,
    pub in_service_avg: f64,
    /// Balance at the bucket's end; None without credits.
    pub credits_usd: Option<f64>,
    pub down_s: f64,
    pub brownout_s: f64,
}

/// One closed bucket, as handed to the sink.
pub struct BucketRow<'a> {
    pub start_ns: Nanos,
    pub end_ns: Nanos,
    pub totals: &'a Totals,
    pub latency: &'a Histogram<u64>,
    pub breaker_opens: u64,
    pub breaker_closes: u64,
    pub breaker_open_ns: Nanos,
    pub breakers_open_at_end: u32,
    /// Seconds of the bucket during which the chaos layer was active.
    pub chaos_active_s: f64,
    pub providers: &'a [ProviderRow],
}

/// Receives each bucket as it closes; the CSV writer implements it, tests can too.
pub trait BucketSink {
    fn row(&mut self, row: &BucketRow<'_>) -> std::io::Result<()>;
}

/// A sink that discards rows (benchmarks, searches that only need the summary).
pub struct NoRows;

impl BucketSink for NoRows {
    fn row(&mut self, _: &BucketRow<'_>) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct BucketStats {
    pub start_ns: Nanos,
    pub width_ns: Nanos,
    pub totals: Totals,
    pub latency: Histogram<u64>,
    pub breaker_opens: u64,
    pub breaker_closes: u64,
    pub breaker_open_ns: Nanos,
    pub levels: Vec<ProviderLevels>,
    /// The chaos layer's active window, if it has one.
    chaos_window: Option<(Nanos, Nanos)>,
    row_buffer: Vec<ProviderRow>,
}

impl BucketStats {
    pub fn new(width_ns: Nanos, providers: usize, chaos_window: Option<(Nanos, Nanos)>) -> Self {
        BucketStats {
            start_ns: 0,
            width_ns,
            totals: Totals::default(),
            latency: latency_histogram(2),
            breaker_opens: 0,
            breaker_closes: 0,
            breaker_open_ns: 0,
            levels: vec![ProviderLevels::default(); providers],
            chaos_window,
            row_buffer: Vec::with_capacity(providers),
        }
    }

    #[inline]
    pub fn end_ns(&self) -> Nanos {
        self.start_ns.saturating_add(self.width_ns)
    }

    /// Hands the bucket to the sink and opens the next one. `breaker_intervals` are the
    /// current open intervals of every breaker; `credits_usd` the balances now. The run's
    /// last bucket ends with the run (`run_end_ns`), not at its full width.
    pub fn close(
        &mut self,
        sink: &mut dyn BucketSink,
        run_end_ns: Nanos,
        breaker_intervals: &[(Nanos, Nanos)],
        credits_usd: impl Iterator<Item = Option<f64>>,
    ) -> std::io::Result<()> {
        let (start, end) = (self.start_ns, self.end_ns().min(run_end_ns));
        self.breaker_open_ns += breaker_intervals
            .iter()
            .map(|&iv| overlap(iv, (start, end)))
            .sum::<Nanos>();
        let open_at_end = breaker_intervals
            .iter()
            .filter(|(from, until)| *from <= end && end < *until)
            .count();
        self.row_buffer.clear();
        let seconds = |average: f64| average * (end - start) as f64 / 1e9;
        for (levels, credits_usd) in self.levels.iter_mut().zip(credits_usd) {
            let queue_max = levels.queue.max;
            self.row_buffer.push(ProviderRow {
                queue_avg: levels.queue.close(start, end),
                queue_max,
                in_service_avg: levels.in_service.close(start, end),
                credits_usd,
                down_s: seconds(levels.down.close(start, end)),
                brownout_s: seconds(levels.brownout.close(start, end)),
            });
        }
        let chaos_active_ns = self
            .chaos_window
            .map_or(0, |window| overlap(window, (start, end)));
        sink.row(&BucketRow {
            start_ns: start,
            end_ns: end,
            totals: &self.totals,
            latency: &self.latency,
            breaker_opens: self.breaker_opens,
            breaker_closes: self.breaker_closes,
            breaker_open_ns: self.breaker_open_ns,
            breakers_open_at_end: open_at_end as u32,
            chaos_active_s: chaos_active_ns as f64 / 1e9,
            providers: &self.row_buffer,
        })?;
        self.start_ns = self.end_ns();
        self.totals = Totals::default();
        self.latency.reset();
        self.breaker_opens = 0;
        self.breaker_closes = 0;
        self.breaker_open_ns = 0;
        Ok(())
    }
}

/// Length of the intersection of two half-open intervals.
pub fn overlap(a: (Nanos, Nanos), b: (Nanos, Nanos)) -> Nanos {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

/// One line of the error log: the seed's service kept its 10 most recent errors.
#[derive(Debug, Clone, Copy)]
pub struct ErrorRecord {
    pub time_ns: Nanos,
    pub request_id: u64,
    /// 1-based, as the seed logged it.
    pub attempt: u32,
    pub failure: Failure,
    pub provider: u16,
    pub model: u16,
}

/// A fixed ring of the most recent errors.
#[derive(Debug, Clone)]
pub struct RecentErrors {
    ring: [Option<ErrorRecord>; RecentErrors::KEPT],
    next: usize,
}

impl RecentErrors {
    pub const KEPT: usize = 10;

    pub fn new() -> Self {
        RecentErrors {
            ring: [None; Self::KEPT],
            next: 0,
        }
    }

    #[inline]
    pub fn push(&mut self, record: ErrorRecord) {
        self.ring[self.next] = Some(record);
        self.next = (self.next + 1) % Self::KEPT;
    }

    /// Oldest first.
    pub fn in_order(&self) -> impl Iterator<Item = &ErrorRecord> {
        (0..Self::KEPT).filter_map(move |i| self.ring[(self.next + i) % Self::KEPT].as_ref())
    }
}

impl Default for RecentErrors {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_time_average_is_exact() {
        let mut level = Level::default();
        level.set(0, 2);
        level.set(30, 4);
        // 2 for 30 ns, 4 for 70 ns over [0, 100): (60 + 280) / 100.
        assert!((level.close(0, 100) - 3.4).abs() < 1e-12);
        assert!((level.close(100, 200) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn recent_errors_keep_the_last_ten_in_order() {
        let mut log = RecentErrors::new();
        for i in 0..25 {
            log.push(ErrorRecord {
                time_ns: i,
                request_id: i,
                attempt: 1,
                failure: Failure::Timeout,
                provider: 0,
                model: 0,
            });
        }
        let ids: Vec<u64> = log.in_order().map(|r| r.request_id).collect();
        assert_eq!(ids, (15..25).collect::<Vec<_>>());
    }
}
