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
/// Requests alive at once (arrived, not yet ended). Beyond this the run stops with an error
/// rather than grow without bound: it means the clients' timeouts do not bound the backlog.
/// About 2 GB with the request, its provider job and its timers.
pub const MAX_LIVE_REQUESTS: usize = 20_000_000;
/// Memory per live request, for estimates: the request slot, a provider job, two timers.
pub const BYTES_PER_LIVE_REQUEST: f64 = 100.0;
/// Refuse before starting when even the upper bound on live requests means ~16 GB.
pub const MAX_LIVE_REQUESTS_BOUND: f64 = 160e6;
/// Refuse runs expected to exceed this many requests (about an hour at 3M requests/s).
pub const MAX_EXPECTED_REQUESTS: f64 = 1e10;
/// Calls in a count window, seconds in a time window (memory per breaker).
pub const MAX_BREAKER_WINDOW: u32 = 100_000;
/// Client instances of a fleet with a breaker each.
pub const MAX_BREAKER_INSTANCES: u32 = 10_000;
