//! `aichaos fit`: request logs in, a calibrated scenario out.
//!
//! The logs are read once, record by record (`read`), into bounded accumulators: per
//! (provider, model) reservoirs of latencies and token counts (Vitter's algorithm R, 20,000
//! values each, from a fixed ChaCha stream so a log always fits the same way), per provider
//! counts in fixed time buckets, per request the last attempt's end while the request may
//! still retry. Then (`Fit::finish`):
//!
//! * latency: time to first token and time per output token, each fitted by `families`
//!   (lognormal, gamma, Weibull by likelihood, empirical if the best KS distance is over
//!   0.05); without a logged time to first token, latency is regressed on output tokens
//!   (least squares): the slope is the time per token, the residuals the time to first token;
//! * tokens: input and output counts, fitted the same way;
//! * errors: server errors, connection failures and timeouts per bucket, cut into windows by
//!   `windows` (binary segmentation); a window failing 90 % or more is an outage (`down`,
//!   failing as most of its attempts did), a lesser one a brownout; the rate of each server
//!   status outside the windows is the background (`errors`), with its 95 % Wilson interval;
//! * rate limits: in buckets where 5 % or more of the attempts got a 429, the attempts the
//!   provider accepted per minute; their median is the RPM;
//! * traffic: first attempts per schedule step (default an hour) as a `schedule`, or the log
//!   itself as `replay` arrivals;
//! * retries, when request ids and attempt indices are logged: attempts per request and the
//!   gaps between an attempt's end and the next one's start, turned into a retry policy and
//!   compared with the presets of known clients.
//!
//! Memory is the reservoirs (fixed), the buckets (one small record per bucket of the log's
//! span) and the requests still open (bounded by those seen in the last half hour).
//!
//! Why over 1,000 lines: the accumulators and the report they make share one set of types;
//! reading (`read`), the families (`families`), the windows (`windows`), rate limits
//! (`limits`) and the charts are already apart. The next split is the report's writing
//! (`FitReport`'s scenario and notes, with each model's backgrounds) into a file of its own.

pub mod charts;
pub mod families;
pub mod limits;
pub mod read;
pub mod windows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::RngExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::rng::{SimRng, named_stream};
use families::{Fitted, SampleFit};
use limits::{Inferred, LimitAcc, LoggedAcc};
use read::{Format, Obs, Outcome, Unreadable};

/// Values kept per reservoir.
pub const RESERVOIR: usize = 20_000;
/// Fewer values than this: the part is not fitted (and the report says so).
pub const MIN_SAMPLE: usize = 30;
/// A request not seen for this long is taken as ended (for attempts per request).
const REQUEST_IDLE_NS: i64 = 30 * 60 * 1_000_000_000;
/// Retry gaps kept by retry number (1 = between the first attempt and the second).
const GAP_RANKS: usize = 4;

/// A uniform sample of a stream of values (Vitter's algorithm R).
#[derive(Debug)]
pub struct Reservoir<T> {
    pub values: Vec<T>,
    pub seen: u64,
    rng: SimRng,
}

impl<T> Reservoir<T> {
    fn new(name: &str) -> Self {
        Reservoir {
            values: Vec::new(),
            seen: 0,
            rng: named_stream(0, &format!("fit/{name}")),
        }
    }

    fn push(&mut self, value: T) {
        self.seen += 1;
        if self.values.len() < RESERVOIR {
            self.values.push(value);
        } else {
            let j = self.rng.random_range(0..self.seen);
            if (j as usize) < RESERVOIR {
                self.values[j as usize] = value;
            }
        }
    }
}

/// What is gathered per (provider, model).
struct TargetAcc {
    ttft: Reservoir<f64>,
    per_token: Reservoir<f64>,
    /// (output tokens, latency) of successes, for the regression without TTFT.
    pairs: Reservoir<(f64, f64)>,
    input: Reservoir<f64>,
    output: Reservoir<f64>,
    successes: u64,
    /// First attempts per bucket (arrivals).
    arrivals: BTreeMap<i64, u64>,
    max_output: u32,
    /// Rate-limit headers, when logged.
    logged: LoggedAcc,
    /// This model's attempts per bucket (its own background errors).
    counts: BTreeMap<i64, Counts>,
}

impl TargetAcc {
    fn new(name: &str) -> Self {
        TargetAcc {
            ttft: Reservoir::new(&format!("{name}/ttft")),
            per_token: Reservoir::new(&format!("{name}/per_token")),
            pairs: Reservoir::new(&format!("{name}/pairs")),
            input: Reservoir::new(&format!("{name}/input")),
            output: Reservoir::new(&format!("{name}/output")),
            successes: 0,
            arrivals: BTreeMap::new(),
            max_output: 0,
            logged: LoggedAcc::default(),
            counts: BTreeMap::new(),
        }
    }
}

/// One bucket of a provider's attempts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub attempts: u64,
    pub rate_limited: u64,
    pub timeouts: u64,
    pub connection: u64,
    /// Server errors by status.
    pub server: BTreeMap<u16, u64>,
}

impl Counts {
    /// Failures a provider fault explains: server errors, connection failures, timeouts.
    pub fn failures(&self) -> u64 {
        self.server.values().sum::<u64>() + self.connection + self.timeouts
    }
}

/// Where a request's attempts stand.
struct OpenRequest {
    attempts: u32,
    last_end_ns: i64,
    last_failed_not_429: bool,
    last_seen_ns: i64,
}

/// How `fit` reads and cuts the logs.
#[derive(Debug, Clone)]
pub struct Options {
    /// None: detected per file.
    pub format: Option<Format>,
    pub columns: Vec<(String, String)>,
    pub bucket_ns: u64,
    /// Write `replay` arrivals (the log itself) instead of an hourly schedule.
    pub replay: bool,
}

/// Everything gathered from the logs.
pub struct Fit {
    options: Options,
    files: Vec<PathBuf>,
    targets: BTreeMap<(String, String), TargetAcc>,
    providers: BTreeMap<String, BTreeMap<i64, Counts>>,
    /// Per provider, the accepted attempts around its 429s.
    limits: BTreeMap<String, LimitAcc>,
    timeout_latency: Reservoir<f64>,
    open: BTreeMap<String, OpenRequest>,
    attempts_per_request: BTreeMap<u32, u64>,
    gaps: Vec<Reservoir<f64>>,
    records: u64,
    min_t_ns: i64,
    max_t_ns: i64,
    pub unreadable: Unreadable,
    /// The format of each file, and whether every file is aichaos's (times from zero).
    formats: Vec<Format>,
    replay_column: Option<(String, String)>,
}

impl Fit {
    pub fn new(options: Options) -> Self {
        Fit {
            options,
            files: Vec::new(),
            targets: BTreeMap::new(),
            providers: BTreeMap::new(),
            limits: BTreeMap::new(),
            timeout_latency: Reservoir::new("timeouts"),
            open: BTreeMap::new(),
            attempts_per_request: BTreeMap::new(),
            gaps: (1..=GAP_RANKS)
                .map(|k| Reservoir::new(&format!("gap{k}")))
                .collect(),
            records: 0,
            min_t_ns: i64::MAX,
            max_t_ns: i64::MIN,
            unreadable: Unreadable::default(),
            formats: Vec::new(),
            replay_column: None,
        }
    }

    /// Reads one log file into the accumulators.
    pub fn read(&mut self, path: &Path) -> Result<(), String> {
        let format = match self.options.format {
            Some(f) => f,
            None => read::detect(path)?,
        };
        self.files.push(path.to_path_buf());
        self.formats.push(format);
        let mut unreadable = std::mem::take(&mut self.unreadable);
        let result = match format {
            Format::Otel => read::read_otel(path, &mut unreadable, &mut |o| self.add(o)),
            Format::Aichaos | Format::Columns => {
                let mapping = if format == Format::Aichaos {
                    vec![]
                } else {
                    self.options.columns.clone()
                };
                let map = read::columns(&mapping)?;
                if self.replay_column.is_none() {
                    self.replay_column = Some((map["time"].clone(), map["attempt"].clone()));
                }
                read::read_table(path, &map, &mut unreadable, &mut |o| self.add(o))
            }
        };
        self.unreadable = unreadable;
        result
    }

    fn add(&mut self, o: Obs) {
        self.records += 1;
        self.min_t_ns = self.min_t_ns.min(o.t_ns);
        self.max_t_ns = self.max_t_ns.max(o.t_ns);
        let bucket = o.t_ns.div_euclid(self.options.bucket_ns as i64);
        let key = (o.provider.clone(), o.model.clone());
        let name = format!("{}/{}", o.provider, o.model);
        let target = self
            .targets
            .entry(key)
            .or_insert_with(|| TargetAcc::new(&name));
        if o.attempt.unwrap_or(0) == 0 {
            *target.arrivals.entry(bucket).or_default() += 1;
        }
        if o.ratelimit.any() {
            target.logged.add(&o.ratelimit);
        }
        let own = target.counts.entry(bucket).or_default();
        own.attempts += 1;
        match o.outcome {
            Outcome::RateLimited => own.rate_limited += 1,
            Outcome::ServerError(s) => *own.server.entry(s).or_default() += 1,
            _ => {}
        }
        if o.outcome == Outcome::Ok {
            target.successes += 1;
            if let Some(t) = o.input_tokens {
                target.input.push(f64::from(t));
            }
            if let Some(t) = o.output_tokens {
                target.output.push(f64::from(t));
                target.max_output = target.max_output.max(t);
            }
            if let Some(latency) = o.latency_s {
                match o.ttft_s {
                    Some(ttft) => {
                        target.ttft.push(ttft);
                        if let Some(tokens) = o.output_tokens.filter(|t| *t > 0) {
                            target
                                .per_token
                                .push((latency - ttft).max(0.0) / f64::from(tokens));
                        }
                    }
                    None => target
                        .pairs
                        .push((f64::from(o.output_tokens.unwrap_or(0)), latency)),
                }
            }
        }
        self.limits
            .entry(o.provider.clone())
            .or_insert_with(|| LimitAcc::new(&o.provider))
            .add(o.t_ns, o.outcome, o.input_tokens);
        let counts = self
            .providers
            .entry(o.provider.clone())
            .or_default()
            .entry(bucket)
            .or_default();
        counts.attempts += 1;
        match o.outcome {
            Outcome::RateLimited => counts.rate_limited += 1,
            Outcome::ServerError(s) => *counts.server.entry(s).or_default() += 1,
            Outcome::Timeout => {
                counts.timeouts += 1;
                if let Some(l) = o.latency_s {
                    self.timeout_latency.push(l);
                }
            }
            Outcome::Connection => counts.connection += 1,
            Outcome::Ok | Outcome::Other => {}
        }
        self.follow_request(&o);
    }

    /// Attempts per request and the gaps between attempts, from request ids and indices.
    fn follow_request(&mut self, o: &Obs) {
        let (Some(id), Some(attempt)) = (&o.request, o.attempt) else {
            return;
        };
        let end = o.t_ns + o.latency_s.map_or(0, |l| (l * 1e9) as i64);
        let failed_not_429 = !matches!(o.outcome, Outcome::Ok | Outcome::RateLimited);
        match self.open.get_mut(id) {
            Some(r) if attempt > 0 => {
                let rank = attempt as usize;
                if r.last_failed_not_429 && rank <= GAP_RANKS {
                    let gap_s = (o.t_ns - r.last_end_ns) as f64 / 1e9;
                    if gap_s >= 0.0 {
                        self.gaps[rank - 1].push(gap_s);
                    }
                }
                r.attempts = r.attempts.max(attempt + 1);
                r.last_end_ns = end;
                r.last_failed_not_429 = failed_not_429;
                r.last_seen_ns = o.t_ns;
            }
            _ => {
                if let Some(old) = self.open.insert(
                    id.clone(),
                    OpenRequest {
                        attempts: attempt + 1,
                        last_end_ns: end,
                        last_failed_not_429: failed_not_429,
                        last_seen_ns: o.t_ns,
                    },
                ) {
                    *self.attempts_per_request.entry(old.attempts).or_default() += 1;
                }
            }
        }
        if self.records.is_multiple_of(1 << 16) {
            let idle_before = o.t_ns - REQUEST_IDLE_NS;
            let ended: Vec<String> = self
                .open
                .iter()
                .filter(|(_, r)| r.last_seen_ns < idle_before)
                .map(|(k, _)| k.clone())
                .collect();
            for k in ended {
                let r = self.open.remove(&k).expect("listed above");
                *self.attempts_per_request.entry(r.attempts).or_default() += 1;
            }
        }
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Fits what was read: the report, or why nothing could be fitted.
    pub fn finish(mut self) -> Result<FitReport, String> {
        if self.records == 0 {
            return Err("no usable record in the logs".into());
        }
        for (_, r) in std::mem::take(&mut self.open) {
            *self.attempts_per_request.entry(r.attempts).or_default() += 1;
        }
        let bucket_ns = self.options.bucket_ns as i64;
        // aichaos's own logs count from the run's start: keep that origin so that windows
        // land where the run had them. Others start at the first record's bucket.
        let origin_ns = if self.formats.iter().all(|f| *f == Format::Aichaos) {
            0
        } else {
            self.min_t_ns.div_euclid(bucket_ns) * bucket_ns
        };
        let first_bucket = origin_ns.div_euclid(bucket_ns);
        let buckets = ((self.max_t_ns - origin_ns) / bucket_ns + 1) as usize;
        let duration_ns = buckets as u64 * self.options.bucket_ns;
        let mut notes = Vec::new();
        let mut targets: Vec<TargetReport> = self
            .targets
            .iter()
            .map(|((provider, model), acc)| {
                target_report(provider, model, acc, first_bucket, buckets, &mut notes)
            })
            .collect();
        let providers: Vec<ProviderReport> = self
            .providers
            .iter()
            .map(|(name, counts)| {
                let mut p = provider_report(
                    name,
                    counts,
                    first_bucket,
                    buckets,
                    &self.options,
                    &mut notes,
                );
                let own = || targets.iter().filter(|t| t.provider == *name);
                let logged = own().any(|t| t.logged_limits.is_some());
                // The fitted requests ask for the largest output seen as max_tokens.
                let max_tokens = own().map(|t| t.max_output_tokens.max(1)).max().unwrap_or(1);
                p.inferred = limits::infer(&self.limits[name], max_tokens);
                p.limits_source = limits::source(&mut p, logged, &mut notes);
                p
            })
            .collect();
        model_backgrounds(
            &self,
            &mut targets,
            &providers,
            first_bucket,
            buckets,
            &mut notes,
        );
        let retries = retry_report(
            &self.attempts_per_request,
            &self.gaps,
            &self.timeout_latency,
        );
        if retries.is_none() {
            notes.push(
                "retries: not fitted: the logs have no request ids with attempt indices, \
                 so the client's default policy is written"
                    .to_string(),
            );
        }
        Ok(FitReport {
            format: "aichaos.fit/1",
            files: self.files.iter().map(|f| f.display().to_string()).collect(),
            formats: self
                .formats
                .iter()
                .map(|f| match f {
                    Format::Aichaos => "aichaos",
                    Format::Otel => "otel",
                    Format::Columns => "columns",
                })
                .collect(),
            records: self.records,
            unreadable_lines: self.unreadable.count,
            unreadable_first: self.unreadable.first.clone(),
            origin_ns,
            bucket_ns: self.options.bucket_ns,
            duration_ns,
            targets,
            providers,
            retries,
            notes,
            replay: self.options.replay.then(|| ReplayFrom {
                file: self.files[0].clone(),
                columns: self.replay_column.clone(),
            }),
        })
    }
}

/// What was fitted, and from what: `fit.json`, and the source of the scenario.
#[derive(Debug, Serialize)]
pub struct FitReport {
    pub format: &'static str,
    pub files: Vec<String>,
    pub formats: Vec<&'static str>,
    pub records: u64,
    pub unreadable_lines: u64,
    pub unreadable_first: Vec<String>,
    /// The log's time that becomes the scenario's zero, ns.
    pub origin_ns: i64,
    pub bucket_ns: u64,
    pub duration_ns: u64,
    pub targets: Vec<TargetReport>,
    pub providers: Vec<ProviderReport>,
    pub retries: Option<RetryReport>,
    /// What could not be fitted, and why.
    pub notes: Vec<String>,
    #[serde(skip)]
    pub replay: Option<ReplayFrom>,
}

#[derive(Debug)]
pub struct ReplayFrom {
    pub file: PathBuf,
    /// The time column and the attempt column.
    pub columns: Option<(String, String)>,
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub provider: String,
    pub model: String,
    pub successes: u64,
    /// `logged`: from time to first token; `regression`: latency on output tokens.
    pub latency_method: &'static str,
    pub ttft_s: Option<SampleFit>,
    pub per_token_s: Option<SampleFit>,
    /// The regression's slope and intercept (seconds per token, seconds), when used.
    pub regression: Option<(f64, f64)>,
    pub input_tokens: Option<SampleFit>,
    pub output_tokens: Option<SampleFit>,
    pub max_output_tokens: u32,
    /// This model's own server errors by status outside its provider's windows, when it
    /// has `MIN_MODEL_ATTEMPTS` attempts there; reported only (see `errors_source`).
    pub background: Option<BTreeMap<u16, RateEstimate>>,
    /// `model` when its own background was measured, `provider` when too sparse; the
    /// scenario writes the provider's in either case (the format has no per-model errors).
    pub errors_source: &'static str,
    /// The rate-limit headers logged for this target (`limits`), when any.
    pub logged_limits: Option<LoggedAcc>,
    /// First attempts per bucket, from the origin.
    pub arrivals: Vec<u64>,
    /// Observed TTFT sample (sorted) for charts.
    #[serde(skip)]
    pub ttft_sample: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct RateEstimate {
    pub rate: f64,
    /// The 95 % Wilson score interval.
    pub low: f64,
    pub high: f64,
    pub count: u64,
}

/// The Wilson score interval (Wilson 1927) for `k` of `n`, at 95 %.
pub fn wilson(k: u64, n: u64) -> RateEstimate {
    let (k_f, n_f) = (k as f64, n.max(1) as f64);
    let z = 1.959_963_984_540_054;
    let p = k_f / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / (1.0 + z * z / n_f);
    let half = z / (1.0 + z * z / n_f) * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt();
    RateEstimate {
        rate: p,
        // At k = 0 (or n) the bound is 0 (or 1) exactly; the arithmetic leaves a crumb.
        low: if k == 0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        high: if k >= n {
            1.0
        } else {
            (centre + half).min(1.0)
        },
        count: k,
    }
}

#[derive(Debug, Serialize)]
pub struct WindowReport {
    pub start_ns: u64,
    pub end_ns: u64,
    pub failure_rate: f64,
    /// `down` or `brownout`.
    pub kind: &'static str,
    /// How its attempts failed: `refuse`, `hang` or a status.
    pub behaviour: String,
    pub status_mix: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct ProviderReport {
    pub name: String,
    pub attempts: u64,
    /// Server errors by status, outside the windows, per attempt the provider did not
    /// rate-limit.
    pub background: BTreeMap<u16, RateEstimate>,
    pub windows: Vec<WindowReport>,
    /// Requests per minute the provider accepted while it answered 429s (median over those
    /// buckets), and how many buckets that stands on.
    pub rpm: Option<(f64, usize)>,
    /// The limits the 429s imply (`limits::infer`): requests and tokens per minute before
    /// each 429, and which of them binds.
    pub inferred: Option<Inferred>,
    /// Where the scenario's limits come from: `logged` (the rate-limit headers, per model),
    /// `inferred_rpm`, `inferred_tpm`, or `none`.
    pub limits_source: &'static str,
    pub rate_limited: u64,
    /// Per bucket from the origin: (attempts but 429s, failures).
    pub series: Vec<(u64, u64)>,
}

#[derive(Debug, Serialize)]
pub struct RetryReport {
    pub requests: u64,
    pub attempts_per_request: BTreeMap<u32, u64>,
    pub max_attempts: u32,
    /// Median gap (s) before retry k (1-based), after a failure other than a 429.
    pub median_gap_s: Vec<Option<f64>>,
    pub timeout_s: Option<f64>,
    pub closest_preset: &'static str,
    /// A distance on ln(first gap) and attempts; smaller is closer.
    pub preset_distance: f64,
}

fn target_report(
    provider: &str,
    model: &str,
    acc: &TargetAcc,
    first_bucket: i64,
    buckets: usize,
    notes: &mut Vec<String>,
) -> TargetReport {
    let name = format!("{provider}/{model}");
    let (method, ttft_values, per_token, regression) = if acc.ttft.values.len() >= MIN_SAMPLE {
        (
            "logged",
            acc.ttft.values.clone(),
            families::fit(&acc.per_token.values, MIN_SAMPLE),
            None,
        )
    } else {
        // Least squares of latency on output tokens: latency = a + b * tokens.
        let pairs = &acc.pairs.values;
        let n = pairs.len() as f64;
        let (sx, sy) = pairs
            .iter()
            .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
        let (mx, my) = (sx / n.max(1.0), sy / n.max(1.0));
        let (sxy, sxx) = pairs.iter().fold((0.0, 0.0), |(sxy, sxx), (x, y)| {
            (sxy + (x - mx) * (y - my), sxx + (x - mx) * (x - mx))
        });
        let slope = if sxx > 0.0 { (sxy / sxx).max(0.0) } else { 0.0 };
        let ttft: Vec<f64> = pairs.iter().map(|(x, y)| y - slope * x).collect();
        let per_token = (pairs.len() >= MIN_SAMPLE).then(|| SampleFit {
            n: pairs.len(),
            mean: slope,
            candidates: vec![],
            chosen: "constant",
            best: Some(Fitted::Constant { value: slope }),
            quantiles: vec![slope],
            ks_distance: 0.0,
        });
        (
            "regression",
            ttft,
            per_token,
            Some((slope, my - slope * mx)),
        )
    };
    let ttft = families::fit(&ttft_values, MIN_SAMPLE);
    if ttft.is_none() {
        notes.push(format!(
            "{name}: latency not fitted: {} successes, {MIN_SAMPLE} needed",
            acc.successes
        ));
    }
    let input = families::fit(&acc.input.values, MIN_SAMPLE);
    let output = families::fit(&acc.output.values, MIN_SAMPLE);
    if input.is_none() || output.is_none() {
        notes.push(format!(
            "{name}: token counts not fitted: fewer than {MIN_SAMPLE} successes log them"
        ));
    }
    let arrivals = (0..buckets)
        .map(|i| {
            acc.arrivals
                .get(&(first_bucket + i as i64))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    let mut ttft_sample: Vec<f64> = ttft_values.into_iter().filter(|v| *v > 0.0).collect();
    ttft_sample.sort_by(f64::total_cmp);
    TargetReport {
        provider: provider.to_string(),
        model: model.to_string(),
        successes: acc.successes,
        latency_method: method,
        ttft_s: ttft,
        per_token_s: per_token,
        regression,
        input_tokens: input,
        output_tokens: output,
        max_output_tokens: acc.max_output,
        background: None,
        errors_source: "provider",
        logged_limits: (!acc.logged.limit_requests.is_empty()
            || !acc.logged.limit_tokens.is_empty())
        .then(|| acc.logged.clone()),
        arrivals,
        ttft_sample,
    }
}

/// The share of a bucket's attempts rate-limited above which its accepted attempts measure
/// the limit.
const LIMITED_SHARE: f64 = 0.05;

fn provider_report(
    name: &str,
    counts: &BTreeMap<i64, Counts>,
    first_bucket: i64,
    buckets: usize,
    options: &Options,
    notes: &mut Vec<String>,
) -> ProviderReport {
    let empty = Counts::default();
    let at = |i: usize| counts.get(&(first_bucket + i as i64)).unwrap_or(&empty);
    let series: Vec<(u64, u64)> = (0..buckets)
        .map(|i| {
            let c = at(i);
            (c.attempts - c.rate_limited, c.failures())
        })
        .collect();
    let (found, _) = windows::detect(&series);
    let in_window = |i: usize| found.iter().any(|w| (w.first..w.end).contains(&i));
    let mut windows = Vec::new();
    for w in &found {
        let mut mix = Counts::default();
        for i in w.first..w.end {
            let c = at(i);
            mix.connection += c.connection;
            mix.timeouts += c.timeouts;
            for (s, n) in &c.server {
                *mix.server.entry(*s).or_default() += n;
            }
        }
        let (top_status, top_server) = mix
            .server
            .iter()
            .max_by_key(|(s, n)| (**n, std::cmp::Reverse(**s)))
            .map_or((503, 0), |(s, n)| (*s, *n));
        let behaviour = if mix.connection >= mix.timeouts && mix.connection >= top_server {
            "refuse".to_string()
        } else if mix.timeouts >= top_server {
            "hang".to_string()
        } else {
            top_status.to_string()
        };
        let mut status_mix: BTreeMap<String, u64> = mix
            .server
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        status_mix.insert("connection_error".into(), mix.connection);
        status_mix.insert("timeout".into(), mix.timeouts);
        windows.push(WindowReport {
            start_ns: w.first as u64 * options.bucket_ns,
            end_ns: w.end as u64 * options.bucket_ns,
            failure_rate: w.rate(),
            kind: if w.rate() >= 0.9 { "down" } else { "brownout" },
            behaviour: if w.rate() >= 0.9 {
                behaviour
            } else {
                top_status.to_string()
            },
            status_mix,
        });
    }
    let (_, background) = background_outside(counts, first_bucket, buckets, &in_window);
    let mut per_minute: Vec<f64> = (0..buckets)
        .map(at)
        .filter(|c| c.attempts > 0 && c.rate_limited as f64 >= LIMITED_SHARE * c.attempts as f64)
        .map(|c| (c.attempts - c.rate_limited) as f64 * 60e9 / options.bucket_ns as f64)
        .collect();
    per_minute.sort_by(f64::total_cmp);
    let rate_limited = counts.values().map(|c| c.rate_limited).sum();
    let rpm = if per_minute.len() >= 3 && options.bucket_ns <= 60_000_000_000 {
        Some((per_minute[per_minute.len() / 2], per_minute.len()))
    } else {
        if rate_limited > 0 {
            notes.push(format!(
                "{name}: rate limit not fitted: {} bucket(s) with 5 % or more 429s, 3 needed \
                 (and buckets of a minute or less)",
                per_minute.len()
            ));
        }
        None
    };
    ProviderReport {
        name: name.to_string(),
        attempts: counts.values().map(|c| c.attempts).sum(),
        background,
        windows,
        rpm,
        inferred: None,
        limits_source: "none",
        rate_limited,
        series,
    }
}

/// Server errors by status outside the windows, per attempt the provider did not
/// rate-limit, and how many such attempts.
fn background_outside(
    counts: &BTreeMap<i64, Counts>,
    first_bucket: i64,
    buckets: usize,
    in_window: &dyn Fn(usize) -> bool,
) -> (u64, BTreeMap<u16, RateEstimate>) {
    let mut outside = Counts::default();
    for i in (0..buckets).filter(|i| !in_window(*i)) {
        let Some(c) = counts.get(&(first_bucket + i as i64)) else {
            continue;
        };
        outside.attempts += c.attempts - c.rate_limited;
        for (s, n) in &c.server {
            *outside.server.entry(*s).or_default() += n;
        }
    }
    let rates = outside
        .server
        .iter()
        .map(|(s, n)| (*s, wilson(*n, outside.attempts)))
        .collect();
    (outside.attempts, rates)
}

/// Attempts a model needs outside its provider's windows for its own background rates.
pub const MIN_MODEL_ATTEMPTS: u64 = 1_000;

/// Each model's background errors, outside its provider's windows, when its attempts
/// suffice; a note where they differ from the provider's (whose rates the scenario keeps:
/// the format holds errors and outages per provider only, `providers[].errors` and
/// `outages`, with no such field under `models[]`).
fn model_backgrounds(
    fit: &Fit,
    targets: &mut [TargetReport],
    providers: &[ProviderReport],
    first_bucket: i64,
    buckets: usize,
    notes: &mut Vec<String>,
) {
    for p in providers {
        let models = targets.iter().filter(|t| t.provider == p.name).count();
        if models > 1 {
            notes.push(format!(
                "{}: background errors and outages fitted over its {models} models together \
                 (the scenario format has no errors or outages per model); each model's own \
                 rates are in fit.json",
                p.name
            ));
        }
    }
    for t in targets.iter_mut() {
        let acc = &fit.targets[&(t.provider.clone(), t.model.clone())];
        let p = providers
            .iter()
            .find(|p| p.name == t.provider)
            .expect("every target's provider is reported");
        let bucket_ns = fit.options.bucket_ns;
        let in_window = |i: usize| {
            let at_ns = i as u64 * bucket_ns;
            p.windows
                .iter()
                .any(|w| (w.start_ns..w.end_ns).contains(&at_ns))
        };
        let (attempts, rates) = background_outside(&acc.counts, first_bucket, buckets, &in_window);
        if attempts < MIN_MODEL_ATTEMPTS {
            t.errors_source = "provider";
            continue;
        }
        t.errors_source = "model";
        if fit.targets.keys().filter(|(q, _)| *q == t.provider).count() > 1 {
            // Statuses where the model's interval and the provider's rate part.
            let differ: Vec<String> = rates
                .keys()
                .chain(p.background.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter_map(|s| {
                    let own = rates
                        .get(s)
                        .map_or((0.0, 0.0, 0.0), |r| (r.rate, r.low, r.high));
                    let all = p.background.get(s).map_or(0.0, |r| r.rate);
                    (all < own.1 || all > own.2).then(|| {
                        format!(
                            "{s}: {:.4} [{:.4}, {:.4}] against {all:.4}",
                            own.0, own.1, own.2
                        )
                    })
                })
                .collect();
            if !differ.is_empty() {
                notes.push(format!(
                    "{}/{}: its background errors differ from its provider's ({}); the \
                     scenario format holds errors and outages per provider only, so the \
                     provider's are written",
                    t.provider,
                    t.model,
                    differ.join(", ")
                ));
            }
        }
        t.background = Some(rates);
    }
}

/// Known clients' retry shapes (POLICY-FACTS, the presets' sources): attempts in all and
/// the mean first delay, seconds.
const PRESET_SHAPES: [(&str, u32, f64); 5] = [
    // min(0.5 * 2^0, 8) * (1 - 0.25 U): mean 0.4375 s.
    ("openai-python", 3, 0.4375),
    ("resilience4j-default", 3, 0.5),
    ("polly-v8-default", 4, 2.0),
    // Full jitter over 25 ms: mean 12.5 ms.
    ("envoy-default", 2, 0.0125),
    ("seed-service", 3, 1.0),
];

fn retry_report(
    attempts: &BTreeMap<u32, u64>,
    gaps: &[Reservoir<f64>],
    timeouts: &Reservoir<f64>,
) -> Option<RetryReport> {
    let requests: u64 = attempts.values().sum();
    let max_attempts = *attempts.keys().max()?;
    if requests == 0 || max_attempts < 2 {
        return None;
    }
    let median = |values: &[f64]| {
        (values.len() >= 5).then(|| {
            let mut v = values.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
    };
    let median_gap_s: Vec<Option<f64>> = gaps.iter().map(|g| median(&g.values)).collect();
    let first = median_gap_s[0].unwrap_or(1.0).max(1e-3);
    let (closest_preset, preset_distance) = PRESET_SHAPES
        .iter()
        .map(|(name, n, gap)| {
            let d = (libm::log(first) - libm::log(*gap)).abs()
                + 0.5 * (f64::from(max_attempts) - f64::from(*n)).abs();
            (*name, d)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("presets listed");
    Some(RetryReport {
        requests,
        attempts_per_request: attempts.clone(),
        max_attempts,
        median_gap_s,
        timeout_s: median(&timeouts.values),
        closest_preset,
        preset_distance,
    })
}

/// Six significant digits: enough for any fitted parameter, and the same text everywhere.
pub fn sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.5e}").parse().unwrap_or(x)
}

fn ns_text(seconds: f64) -> String {
    format!("{}ns", (seconds * 1e9).round().max(1.0) as u64)
}

/// A fitted sample as a scenario distribution, of durations or counts.
fn dist_json(fit: &SampleFit, durations: bool) -> Value {
    let q = |x: f64| {
        if durations {
            json!(ns_text(x))
        } else {
            json!(sig(x))
        }
    };
    match fit.best {
        Some(Fitted::Constant { value }) => {
            if durations {
                json!(ns_text(value))
            } else {
                json!(value.round().max(1.0) as u64)
            }
        }
        Some(Fitted::Lognormal { mu, sigma }) => {
            json!({ "dist": "lognormal", "mu": sig(mu), "sigma": sig(sigma) })
        }
        Some(Fitted::Gamma { shape, scale }) => {
            json!({ "dist": "gamma", "shape": sig(shape), "scale": q(scale) })
        }
        Some(Fitted::Weibull { shape, scale }) => {
            json!({ "dist": "weibull", "shape": sig(shape), "scale": q(scale) })
        }
        None => {
            json!({ "dist": "empirical", "values": fit.quantiles.iter().map(|x| q(*x)).collect::<Vec<_>>() })
        }
    }
}

fn describe_fit(what: &str, fit: &Option<SampleFit>) -> String {
    match fit {
        Some(f) => format!(
            "{what} {} over {} values (KS {:.3})",
            f.chosen, f.n, f.ks_distance
        ),
        None => format!("{what} not fitted (default)"),
    }
}

/// Group and provider names safe in a scenario.
fn slug(text: &str) -> String {
    crate::output::slug(text)
}

impl FitReport {
    /// The fitted world as a scenario document (valid against the schema), its
    /// description saying where each number came from. `out_dir` is where it will be
    /// written (a replayed log's path is given relative to it when it lies there).
    pub fn scenario(&self, name: &str, out_dir: &Path) -> Value {
        let mut sources = vec![format!(
            "Fitted by `aichaos fit` from {} ({} attempts, {} unreadable lines). Time 0 is {} ns \
             of the log's clock; buckets of {} s.",
            self.files.join(", "),
            self.records,
            self.unreadable_lines,
            self.origin_ns,
            self.bucket_ns as f64 / 1e9
        )];
        let mut providers: Vec<Value> = Vec::new();
        for p in &self.providers {
            let models: Vec<Value> = self
                .targets
                .iter()
                .filter(|t| t.provider == p.name)
                .map(|t| {
                    sources.push(format!(
                        "{}/{}: latency {} ({}); {}; {}; {}.",
                        t.provider,
                        t.model,
                        t.latency_method,
                        describe_fit("ttft", &t.ttft_s),
                        describe_fit("per_token", &t.per_token_s),
                        describe_fit("input_tokens", &t.input_tokens),
                        describe_fit("output_tokens", &t.output_tokens),
                    ));
                    let mut model = json!({
                        "name": t.model,
                        "input_usd_per_mtok": 0,
                        "output_usd_per_mtok": 0,
                        "ttft": t.ttft_s.as_ref().map_or(json!("500ms"), |f| dist_json(f, true)),
                        "per_token": t.per_token_s.as_ref().map_or(json!("0s"), |f| dist_json(f, true)),
                    });
                    if let Some(logged) = &t.logged_limits {
                        let (rpm, tpm) = logged.limits();
                        let mut limits = serde_json::Map::new();
                        // A logged limit of 0 cannot be a bucket's rate: left out.
                        if let Some(rpm) = rpm.filter(|v| *v > 0) {
                            limits.insert("rpm".into(), json!(rpm));
                        }
                        if let Some(tpm) = tpm.filter(|v| *v > 0) {
                            limits.insert("tpm".into(), json!(tpm));
                        }
                        let text = |v: Option<u64>| v.map_or("no".to_string(), |v| v.to_string());
                        sources.push(format!(
                            "{}/{}: rate limits of {} requests and {} tokens a minute, the \
                             values its logged rate-limit headers announced most often.",
                            t.provider,
                            t.model,
                            text(rpm),
                            text(tpm)
                        ));
                        if !limits.is_empty() {
                            model["rate_limits"] = Value::Object(limits);
                        }
                    }
                    model
                })
                .collect();
            let errors: serde_json::Map<String, Value> = p
                .background
                .iter()
                .map(|(status, r)| {
                    // Statuses the format has no name for count as 500s.
                    let key = if [500, 502, 503, 529].contains(status) {
                        *status
                    } else {
                        500
                    };
                    (key.to_string(), json!(sig(r.rate)))
                })
                .collect();
            let outages: Vec<Value> = p
                .windows
                .iter()
                .map(|w| {
                    let mut o = json!({
                        "start": format!("{}ns", w.start_ns),
                        "duration": format!("{}ns", w.end_ns - w.start_ns),
                        "kind": w.kind,
                    });
                    if w.kind == "down" {
                        o["behaviour"] = json!(w.behaviour);
                    } else {
                        let extra =
                            w.failure_rate - p.background.values().map(|r| r.rate).sum::<f64>();
                        o["error_rate"] = json!(sig(extra.clamp(0.0, 1.0)));
                        o["error_status"] = json!(w.behaviour.parse::<u16>().unwrap_or(503));
                    }
                    o
                })
                .collect();
            sources.push(format!(
                "{}: background errors {} outside {} window(s) found by binary segmentation of \
                 the buckets' failures{}.",
                p.name,
                if p.background.is_empty() {
                    "none".to_string()
                } else {
                    p.background
                        .iter()
                        .map(|(s, r)| format!("{s}: {:.4} [{:.4}, {:.4}]", r.rate, r.low, r.high))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                p.windows.len(),
                match (p.limits_source, p.rpm, &p.inferred) {
                    ("inferred_rpm", Some((rpm, n)), _) => format!(
                        "; rpm {rpm:.0}: median accepted attempts per minute over {n} buckets with 5 % or more 429s"
                    ),
                    ("inferred_tpm", _, Some(i)) => format!(
                        "; tpm {:.0}: median tokens (input + max_tokens) accepted in the minute before each of {} 429s",
                        i.tpm.unwrap_or(0.0),
                        i.samples
                    ),
                    ("logged", _, _) => "; rate limits from the logged rate-limit headers".to_string(),
                    _ => String::new(),
                }
            ));
            let mut provider = json!({ "name": p.name, "models": models });
            if !errors.is_empty() {
                provider["errors"] = Value::Object(errors);
            }
            if !outages.is_empty() {
                provider["outages"] = json!(outages);
            }
            match (p.limits_source, p.rpm, &p.inferred) {
                ("inferred_rpm", Some((rpm, _)), _) => {
                    provider["rate_limits"] = json!({ "rpm": rpm.round().max(1.0) });
                }
                ("inferred_tpm", _, Some(Inferred { tpm: Some(tpm), .. })) => {
                    provider["rate_limits"] = json!({ "tpm": tpm.round().max(1.0) });
                }
                _ => {}
            }
            providers.push(provider);
        }
        let policy = self.retries.as_ref().map(|r| {
            sources.push(format!(
                "Client policy from {} requests' attempts: up to {} attempts, median gaps {:?} s \
                 before retries 1..{}; closest preset {} (distance {:.2}).",
                r.requests,
                r.max_attempts,
                r.median_gap_s,
                GAP_RANKS,
                r.closest_preset,
                r.preset_distance
            ));
            policy_json(r)
        });
        let traffic: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                let mut group = json!({
                    "name": slug(&format!("{}-{}", t.provider, t.model)),
                    "arrivals": self.arrivals_json(t, out_dir),
                    "request": {
                        "provider": t.provider,
                        "model": t.model,
                        "input_tokens": t.input_tokens.as_ref().map_or(json!(100), |f| dist_json(f, false)),
                        "output_tokens": t.output_tokens.as_ref().map_or(json!(100), |f| dist_json(f, false)),
                        "max_tokens": t.max_output_tokens.max(1),
                    },
                });
                if let Some(p) = &policy {
                    group["policy"] = p.clone();
                }
                group
            })
            .collect();
        sources.push(match &self.replay {
            Some(_) => "Traffic: the log's first attempts, replayed.".to_string(),
            None => {
                "Traffic: first attempts per hour (or per bucket for a log under two hours) as a \
                 schedule."
                    .to_string()
            }
        });
        sources.extend(self.notes.iter().map(|n| format!("Note: {n}.")));
        json!({
            "name": name,
            "description": sources.join(" "),
            "seed": 1,
            "duration": format!("{}ns", self.duration_ns),
            "bucket": format!("{}ns", self.bucket_ns),
            "traffic": traffic,
            "providers": providers,
        })
    }

    fn arrivals_json(&self, t: &TargetReport, out_dir: &Path) -> Value {
        if let Some(replay) = &self.replay {
            let file = relative_to(&replay.file, out_dir);
            let mut a = json!({ "type": "replay", "file": file });
            if let Some((time, _)) = &replay.columns {
                a["time_column"] = json!(time);
            }
            if self.origin_ns != 0 {
                a["time_shift"] = json!(format!("-{}ns", self.origin_ns));
            }
            return a;
        }
        // An hour a step, or the buckets themselves when the log is shorter than two hours.
        let hour_ns = 3_600_000_000_000u64;
        let step = if self.duration_ns >= 2 * hour_ns {
            (hour_ns / self.bucket_ns).max(1) as usize
        } else {
            1
        };
        let schedule: Vec<Value> = t
            .arrivals
            .chunks(step)
            .enumerate()
            .map(|(i, chunk)| {
                let span_s = (chunk.len() as u64 * self.bucket_ns) as f64 / 1e9;
                let rate = chunk.iter().sum::<u64>() as f64 / span_s;
                json!({
                    "from": format!("{}ns", i as u64 * step as u64 * self.bucket_ns),
                    "rate": format!("{}/s", sig(rate)),
                })
            })
            .collect();
        json!({ "type": "poisson", "schedule": schedule })
    }
}

/// `path` relative to `dir` when it lies in it, else absolute.
fn relative_to(path: &Path, dir: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (file, dir) = (abs(path), abs(dir));
    match file.strip_prefix(&dir) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => file.display().to_string(),
    }
}

fn policy_json(r: &RetryReport) -> Value {
    let base = r.median_gap_s[0].unwrap_or(1.0).max(1e-3);
    let backoff = match r.median_gap_s.get(1).copied().flatten() {
        Some(second) if second > base * 1.05 => json!({
            "kind": "exponential",
            "base": ns_text(base),
            "multiplier": sig(second / base),
            "cap": "none",
            "jitter": "none",
        }),
        _ => json!({ "kind": "constant", "base": ns_text(base), "jitter": "none" }),
    };
    let mut policy = json!({
        "retry": { "max_attempts": r.max_attempts.min(100), "backoff": backoff },
    });
    if let Some(t) = r.timeout_s {
        policy["timeout"] = json!({ "total": ns_text(t) });
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_hold_the_rate() {
        let r = wilson(20, 1000);
        assert!(
            r.low < 0.02 && 0.02 < r.high && r.high - r.low < 0.02,
            "{r:?}"
        );
        assert_eq!(wilson(0, 100).low, 0.0);
    }

    #[test]
    fn reservoirs_keep_a_bounded_uniform_sample() {
        let mut r = Reservoir::new("t");
        for i in 0..100_000 {
            r.push(i as f64);
        }
        assert_eq!(r.values.len(), RESERVOIR);
        let mean = r.values.iter().sum::<f64>() / RESERVOIR as f64;
        // Uniform over 0..1e5: mean 5e4, sd of the mean about 28867 / sqrt(2e4) = 204.
        assert!((mean - 50_000.0).abs() < 1_000.0, "{mean}");
    }
}
