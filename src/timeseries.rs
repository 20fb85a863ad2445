//! `timeseries.csv`: one row per time bucket, written as each bucket closes.
//!
//! Columns, in order (the order is part of the output contract; new columns are appended):
//! `time_s` (bucket start), `arrivals`, `successes`, `failures`, one `failed_<reason>` per
//! failure kind, `success_rate` (of requests ended in the bucket; empty if none ended),
//! `latency_p50_ms`, `latency_p95_ms`, `latency_p99_ms` (end-to-end, successful requests
//! ended in the bucket), `attempts`, `retries`, `fallbacks`, `rate_limited`,
//! `server_errors`, `timeouts`, `insufficient_credits` (402 and 429 `insufficient_quota`),
//! `breaker_rejected`, `breaker_opens`,
//! `breaker_open_s` (summed over breakers), `breakers_open` (at the bucket's end),
//! `cost_usd`, `chaos_active_s`, `retries_denied` (by a retry budget), `throttled`
//! (adaptive throttling), `low_credit_alerts`, `breaker_closes`, `hedges_sent`,
//! `hedges_won`, then for each provider `<p>_queue_avg`, `<p>_queue_max`,
//! `<p>_in_service_avg` (time averages), `<p>_credits_usd` (at the bucket's end; empty
//! without credits), `<p>_down_s` and `<p>_brownout_s` (seconds of the bucket in a hard
//! outage or a brownout). The last bucket ends with the run, so it may be shorter.

use std::io::Write;

use crate::credits::nano_to_usd;
use crate::metrics::{BucketRow, BucketSink};
use crate::outcome::Failure;
use crate::time::{NS_PER_MS, ns_to_secs};

pub struct CsvSink<W: Write> {
    out: W,
    line: String,
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The columns each provider adds, as `<provider>_<suffix>`.
pub const PROVIDER_COLUMNS: [&str; 6] = [
    "queue_avg",
    "queue_max",
    "in_service_avg",
    "credits_usd",
    "down_s",
    "brownout_s",
];

pub fn header(provider_names: &[&str]) -> String {
    let mut columns: Vec<String> = ["time_s", "arrivals", "successes", "failures"]
        .map(String::from)
        .to_vec();
    columns.extend(Failure::ALL.iter().map(|f| format!("failed_{}", f.name())));
    columns.extend(
        [
            "success_rate",
            "latency_p50_ms",
            "latency_p95_ms",
            "latency_p99_ms",
            "attempts",
            "retries",
            "fallbacks",
            "rate_limited",
            "server_errors",
            "timeouts",
            "insufficient_credits",
            "breaker_rejected",
            "breaker_opens",
            "breaker_open_s",
            "breakers_open",
            "cost_usd",
            "chaos_active_s",
            "retries_denied",
            "throttled",
            "low_credit_alerts",
            "breaker_closes",
            "hedges_sent",
            "hedges_won",
        ]
        .map(String::from),
    );
    for name in provider_names {
        for suffix in PROVIDER_COLUMNS {
            columns.push(csv_field(&format!("{name}_{suffix}")));
        }
    }
    columns.join(",")
}

impl<W: Write> CsvSink<W> {
    pub fn new(mut out: W, provider_names: &[&str]) -> std::io::Result<Self> {
        writeln!(out, "{}", header(provider_names))?;
        Ok(CsvSink {
            out,
            line: String::with_capacity(512),
        })
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> BucketSink for CsvSink<W> {
    fn row(&mut self, row: &BucketRow<'_>) -> std::io::Result<()> {
        use std::fmt::Write as _;
        let t = row.totals;
        let line = &mut self.line;
        line.clear();
        let ended = t.succeeded + t.failed;
        let _ = write!(
            line,
            "{},{},{},{}",
            fixed(ns_to_secs(row.start_ns), 3),
            t.arrived,
            t.succeeded,
            t.failed
        );
        for n in t.failed_by {
            let _ = write!(line, ",{n}");
        }
        if ended > 0 {
            let _ = write!(line, ",{}", fixed(t.succeeded as f64 / ended as f64, 6));
        } else {
            line.push(',');
        }
        for q in [0.50, 0.95, 0.99] {
            if row.latency.is_empty() {
                line.push(',');
            } else {
                let us = row.latency.value_at_quantile(q);
                let _ = write!(line, ",{}", fixed(us as f64 / 1000.0, 3));
            }
        }
        let af = &t.attempt_failures;
        let sum_of = |kind: fn(Failure) -> bool| -> u64 {
            Failure::ALL
                .iter()
                .filter(|f| kind(**f))
                .map(|f| af[f.index()])
                .sum()
        };
        let _ = write!(
            line,
            ",{},{},{},{},{},{},{},{},{},{},{},{}",
            t.attempts_sent,
            t.retries,
            t.fallbacks,
            af[Failure::RateLimited.index()],
            sum_of(Failure::is_server_error),
            sum_of(Failure::is_timeout),
            sum_of(Failure::is_out_of_credits),
            af[Failure::BreakerOpen.index()],
            row.breaker_opens,
            fixed(row.breaker_open_ns as f64 / (1000.0 * NS_PER_MS as f64), 3),
            row.breakers_open_at_end,
            fixed(nano_to_usd(t.cost_nusd), 6),
        );
        let _ = write!(
            line,
            ",{},{},{},{},{},{},{}",
            fixed(row.chaos_active_s, 3),
            t.retries_denied,
            af[Failure::Throttled.index()],
            t.low_credit_alerts,
            row.breaker_closes,
            t.hedges,
            t.hedges_won
        );
        for p in row.providers {
            let _ = write!(
                line,
                ",{},{},{},",
                fixed(p.queue_avg, 3),
                p.queue_max,
                fixed(p.in_service_avg, 3)
            );
            if let Some(c) = p.credits_usd {
                let _ = write!(line, "{}", fixed(c, 6));
            }
            let _ = write!(line, ",{},{}", fixed(p.down_s, 3), fixed(p.brownout_s, 3));
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }
}

/// Fixed decimals: the same bytes on every platform, and no "1e-7" in a spreadsheet.
fn fixed(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}
