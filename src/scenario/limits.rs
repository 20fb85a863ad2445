//! Limits on everything a scenario can ask for. Each is far beyond any sensible scenario
//! and far below what would exhaust memory or time; hitting one is an input error with the
//! limit named, never an allocation failure halfway through a run.

use crate::time::{NS_PER_DAY, NS_PER_MS};

/// 10 years: beyond this, u64 nanoseconds are still safe but nobody means it.
pub const MAX_DURATION_NS: u64 = 3650 * NS_PER_DAY;
pub const MIN_BUCKET_NS: u64 = NS_PER_MS;
/// Rows of `timeseries.csv`.
pub const MAX_BUCKETS: u64 = 10_000_000;
pub const MAX_GROUPS: usize = 1_000;
pub const MAX_PROVIDERS: usize = 1_000;
pub const MAX_MODELS_PER_PROVIDER: usize = 1_000;
pub const MAX_CHAIN_LENGTH: usize = 64;
pub const MAX_ATTEMPTS_PER_TARGET: u32 = 100;
pub const MAX_USERS: u32 = 10_000_000;
pub const MAX_SLOTS: u32 = 10_000_000;
pub const MAX_QUEUE_LIMIT: u32 = 10_000_000;
pub const MAX_TOKENS: u32 = 100_000_000;
pub const MAX_EMPIRICAL_VALUES: usize = 1_000_000;
pub const MAX_RATE_PER_S: f64 = 1e9;
/// Memory per live request, for estimates: the request slot, a provider job, its timers and
/// the queues' share. Measured, not guessed: 10^6 closed-loop users each holding a request
/// peak at 676 MB RSS (685 bytes a request between 0.5 and 1 M users; 880 with a provider
/// queue), rounded up for the vectors' doubling.
pub const BYTES_PER_LIVE_REQUEST: f64 = 1_000.0;
/// The memory the requests alive at once may take: a third of a 24 GB machine, so that a
/// sweep's two side-by-side runs fit.
pub const MAX_LIVE_REQUEST_BYTES: f64 = 8e9;
/// Requests alive at once (arrived, not yet ended). Beyond this the run stops with an error
/// rather than grow without bound: it means the clients' timeouts do not bound the backlog.
pub const MAX_LIVE_REQUESTS: usize = (MAX_LIVE_REQUEST_BYTES / BYTES_PER_LIVE_REQUEST) as usize;
/// Refuse before starting when even the upper bound on live requests exceeds the budget.
pub const MAX_LIVE_REQUESTS_BOUND: f64 = MAX_LIVE_REQUESTS as f64;
/// Simulated requests per wall-second, to estimate how long a run computes: a measured, not
/// optimistic, figure (the slowest shipped world in `benches/engine.rs`, the naive retry
/// storm with two SLOs, ran 1.2 M requests/s on a 2-core machine in 2026-12), rounded down.
pub const REQUESTS_PER_WALL_SECOND: f64 = 1e6;
/// Refuse runs expected to exceed this many requests (about three hours of computing).
pub const MAX_EXPECTED_REQUESTS: f64 = 1e10;
/// A single `run` expected to compute longer than this is refused unless `--force`: it
/// should not start silently on hours of work and a multi-gigabyte time series.
pub const MAX_UNFORCED_RUN_WALL_SECONDS: f64 = 600.0;
/// Bytes of one `timeseries.csv` row, for estimates: the fixed columns and each provider's.
pub const CSV_ROW_BYTES: f64 = 120.0;
pub const CSV_ROW_BYTES_PER_PROVIDER: f64 = 40.0;
/// Calls in a count window, seconds in a time window (memory per breaker).
pub const MAX_BREAKER_WINDOW: u32 = 100_000;
/// Client instances of a fleet with a breaker each.
pub const MAX_BREAKER_INSTANCES: u32 = 10_000;
