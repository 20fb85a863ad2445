//! Client groups and the traffic they offer.
//!
//! * **Open loop** (`poisson`): a non-homogeneous Poisson process. The rate at time t is a
//!   base rate (or the schedule step in force) times a diurnal factor
//!   `1 + amplitude * cos(2π (t - peak_at) / period)` times the multipliers of the spikes
//!   in progress. Arrivals are drawn exactly by thinning (Lewis and Shedler 1979), with the
//!   bound recomputed on each piecewise-constant segment so a short 10x spike does not make
//!   the rest of the run draw ten candidates per arrival. A candidate's gap is an
//!   exponential draw by the ziggurat (`dist::std_exponential_ziggurat`).
//! * **Closed loop** (`closed_loop`): N users, each sending a request, waiting for its final
//!   outcome, thinking, and sending the next. Offered load falls as latency rises.
//! * **Replay** (`replay`): the first attempts of a recorded log (a request log, a proxy's
//!   log) arrive exactly when they were sent, shifted by `time_shift`, streamed from the file
//!   by a thread reading ahead (`ReplayArrivals`), so a day of traffic needs the memory of
//!   four batches of arrivals. With
//!   `rate_scale` r each recorded arrival becomes floor(r) arrivals, plus one more with
//!   probability r - floor(r) (drawn from the group's traffic stream), at the same instant:
//!   the same day with r times the traffic, its bursts where they were.

use std::f64::consts::TAU;

use rand::RngExt;

use crate::dist::{self, Dist};
use crate::policy::ClientPolicy;
use crate::rng::SimRng;
use crate::time::{Nanos, ns_to_secs, secs_to_ns};

#[derive(Debug, Clone, Copy)]
pub struct Diurnal {
    pub amplitude: f64,
    pub period_ns: Nanos,
    pub peak_ns: Nanos,
}

#[derive(Debug, Clone, Copy)]
pub struct Spike {
    pub start_ns: Nanos,
    pub end_ns: Nanos,
    pub multiplier: f64,
}

#[derive(Debug, Clone)]
pub struct RateProfile {
    pub base_per_s: f64,
    /// (from, rate per second), sorted by time; replaces the base rate from `from` on.
    pub schedule: Vec<(Nanos, f64)>,
    pub diurnal: Option<Diurnal>,
    pub spikes: Vec<Spike>,
}

impl RateProfile {
    pub fn constant(per_s: f64) -> Self {
        RateProfile {
            base_per_s: per_s,
            schedule: vec![],
            diurnal: None,
            spikes: vec![],
        }
    }

    /// The rate without the diurnal factor: schedule step times active spikes.
    fn piecewise_per_s(&self, t: Nanos) -> f64 {
        let step = self
            .schedule
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map_or(self.base_per_s, |(_, rate)| *rate);
        self.spikes
            .iter()
            .filter(|s| s.start_ns <= t && t < s.end_ns)
            .fold(step, |rate, s| rate * s.multiplier)
    }

    fn diurnal_factor(&self, t: Nanos) -> f64 {
        self.diurnal.map_or(1.0, |d| {
            // Reduce to one period first (exactly: floor and subtraction), so cos sees a
            // small argument and needs no costly range reduction. libm's cos, not the
            // platform's: the factor decides which thinned candidates become arrivals.
            let phase = (t as f64 - d.peak_ns as f64) / d.period_ns as f64;
            1.0 + d.amplitude * libm::cos(TAU * (phase - phase.floor()))
        })
    }

    pub fn rate_at(&self, t: Nanos) -> f64 {
        self.piecewise_per_s(t) * self.diurnal_factor(t)
    }

    /// The first instant after `t` at which the piecewise part may change.
    fn next_change(&self, t: Nanos) -> Nanos {
        let steps = self.schedule.iter().map(|(from, _)| *from);
        let spikes = self.spikes.iter().flat_map(|s| [s.start_ns, s.end_ns]);
        steps
            .chain(spikes)
            .filter(|&b| b > t)
            .min()
            .unwrap_or(Nanos::MAX)
    }

    /// An upper bound on the rate at any time: every spike at once, at the diurnal crest.
    pub fn peak_rate_per_s(&self) -> f64 {
        let step = self
            .schedule
            .iter()
            .map(|(_, r)| *r)
            .fold(self.base_per_s, f64::max);
        let spikes: f64 = self.spikes.iter().map(|s| s.multiplier.max(1.0)).product();
        step * spikes * (1.0 + self.diurnal.map_or(0.0, |d| d.amplitude))
    }

    /// Expected number of arrivals in [0, end): the integral of the rate.
    pub fn expected_arrivals(&self, end: Nanos) -> f64 {
        let mut total = 0.0;
        let mut t = 0;
        while t < end {
            let next = self.next_change(t).min(end);
            let rate = self.piecewise_per_s(t);
            let (a, b) = (ns_to_secs(t), ns_to_secs(next));
            let mut integral = b - a;
            if let Some(d) = self.diurnal {
                let omega = TAU / ns_to_secs(d.period_ns);
                let peak = ns_to_secs(d.peak_ns);
                integral += d.amplitude / omega
                    * (libm::sin(omega * (b - peak)) - libm::sin(omega * (a - peak)));
            }
            total += rate * integral;
            t = next;
        }
        total
    }
}

/// Thinning bounds are recomputed on segments this fine a fraction of the diurnal period.
const DIURNAL_SEGMENTS_PER_PERIOD: u64 = 256;

/// A piecewise-constant stretch of the profile with bounds on the diurnal factor over it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start_ns: Nanos,
    end_ns: Nanos,
    piecewise_per_s: f64,
    factor_low: f64,
    factor_high: f64,
}

/// The arrival stream of one open-loop group: its generator, and the thinning segment in
/// use. Within a segment the diurnal factor is bounded tightly (it moves by at most
/// 2π/256 of its amplitude), so thinning rejects few candidates and, by the squeeze
/// `u * high < low`, accepts most without evaluating the cosine at all. The squeeze does not
/// change which candidates are accepted, only how fast that is decided.
pub struct ArrivalProcess {
    rng: SimRng,
    segment: Option<Segment>,
}

impl ArrivalProcess {
    pub fn new(rng: SimRng) -> Self {
        ArrivalProcess { rng, segment: None }
    }

    /// The generator, for draws outside arrival times (closed-loop start times).
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    #[inline]
    fn segment_at(&mut self, profile: &RateProfile, t: Nanos) -> Segment {
        match self.segment {
            Some(s) if s.start_ns <= t && t < s.end_ns => s,
            _ => self.new_segment(profile, t),
        }
    }

    /// The segment starting at `t`. Out of line: most arrivals fall in the segment in use,
    /// and inlined, the diurnal bounds' set-up was hoisted into every call of `next`.
    #[inline(never)]
    fn new_segment(&mut self, profile: &RateProfile, t: Nanos) -> Segment {
        let mut end_ns = profile.next_change(t);
        let (mut low, mut high) = (1.0, 1.0);
        if let Some(d) = profile.diurnal {
            let step = (d.period_ns / DIURNAL_SEGMENTS_PER_PERIOD).max(1);
            let offset =
                (i128::from(t) - i128::from(d.peak_ns)).rem_euclid(i128::from(step)) as u64;
            end_ns = end_ns.min(t.saturating_add(step - offset));
            let phase = |x: Nanos| (x as f64 - d.peak_ns as f64) / d.period_ns as f64;
            let (from, to) = (phase(t), phase(end_ns));
            let (at_from, at_to) = (profile.diurnal_factor(t), profile.diurnal_factor(end_ns));
            low = at_from.min(at_to);
            high = at_from.max(at_to);
            // A crest (integer phase) or trough (half-integer) inside the segment.
            if from.floor() != to.floor() || from == from.floor() {
                high = 1.0 + d.amplitude;
            }
            if (from - 0.5).floor() != (to - 0.5).floor() {
                low = 1.0 - d.amplitude;
            }
        }
        let segment = Segment {
            start_ns: t,
            end_ns,
            piecewise_per_s: profile.piecewise_per_s(t),
            factor_low: low,
            factor_high: high,
        };
        self.segment = Some(segment);
        segment
    }

    /// The next arrival strictly after `from`, or None if the rate stays zero forever.
    pub fn next(&mut self, profile: &RateProfile, from: Nanos) -> Option<Nanos> {
        let mut t = from;
        loop {
            let segment = self.segment_at(profile, t);
            if segment.piecewise_per_s <= 0.0 {
                // No arrival until the schedule or a spike raises the rate: jump there, not
                // diurnal segment by diurnal segment (a zero rate with a one-minute period
                // would otherwise step 256 times a minute toward the end of time).
                t = profile.next_change(t);
                if t == Nanos::MAX {
                    return None;
                }
                continue;
            }
            let bound = segment.piecewise_per_s * segment.factor_high;
            if bound <= 0.0 {
                // The diurnal trough of amplitude 1 touches zero only inside this segment.
                t = segment.end_ns;
                continue;
            }
            // Exponential gap by the ziggurat: no logarithm for 99 % of gaps, and libm's
            // exp and log on its rare slow paths, the same bits on every platform.
            let gap_s = dist::std_exponential_ziggurat(&mut self.rng) / bound;
            let candidate = t.saturating_add(secs_to_ns(gap_s).max(1));
            if candidate >= segment.end_ns {
                // Memorylessness: restarting at the boundary with the new bound is exact.
                t = segment.end_ns;
                continue;
            }
            t = candidate;
            if profile.diurnal.is_none() || self.thinning_accepts(profile, segment, t) {
                return Some(t);
            }
        }
    }

    /// Thinning under a diurnal profile: is the candidate at `t` an arrival? Out of line
    /// for the same reason as `new_segment`.
    #[inline(never)]
    fn thinning_accepts(&mut self, profile: &RateProfile, segment: Segment, t: Nanos) -> bool {
        let u = self.rng.random::<f64>() * segment.factor_high;
        u < segment.factor_low || u < profile.diurnal_factor(t)
    }
}

#[derive(Debug, Clone)]
pub enum ArrivalModel {
    Poisson(RateProfile),
    ClosedLoop { users: u32, think: Dist },
    Replay(ReplaySpec),
}

/// The unit of a replayed log's time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Ns,
    Us,
    Ms,
    S,
}

impl TimeUnit {
    pub fn ns(self) -> u64 {
        match self {
            TimeUnit::Ns => 1,
            TimeUnit::Us => 1_000,
            TimeUnit::Ms => 1_000_000,
            TimeUnit::S => 1_000_000_000,
        }
    }

    /// The unit a column's name ends in (`_ns`, `_us`, `_ms`), seconds otherwise.
    pub fn from_column_name(name: &str) -> TimeUnit {
        [
            ("_ns", TimeUnit::Ns),
            ("_us", TimeUnit::Us),
            ("_ms", TimeUnit::Ms),
        ]
        .into_iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map_or(TimeUnit::S, |(_, unit)| unit)
    }
}

/// Recorded arrivals: where, which column, and how to place them on the run's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySpec {
    /// Resolved against the scenario file's directory.
    pub file: std::path::PathBuf,
    pub time_column: String,
    pub unit: TimeUnit,
    /// Times count from the first record's (true) or from zero (false).
    pub from_first: bool,
    pub rate_scale: f64,
    /// Added to every recorded time; arrivals before the run's start are skipped.
    pub time_shift_ns: i64,
}

/// A recorded time in nanoseconds: an integer exactly, a decimal through f64.
fn parse_time_ns(bytes: &[u8], unit: TimeUnit) -> Result<i128, String> {
    // The common case, read without a UTF-8 check: up to 18 digits, which cannot overflow.
    if !bytes.is_empty() && bytes.len() <= 18 && bytes.iter().all(u8::is_ascii_digit) {
        let n = bytes
            .iter()
            .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
        return Ok(i128::from(n) * i128::from(unit.ns()));
    }
    let text = String::from_utf8_lossy(bytes);
    if let Ok(n) = text.parse::<i64>() {
        return Ok(i128::from(n) * i128::from(unit.ns()));
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok((x * unit.ns() as f64).round() as i128),
        _ => Err(format!("`{text}` is not a number")),
    }
}

fn replay_error(file: &std::path::Path, line: u64, reason: impl std::fmt::Display) -> String {
    format!("{}: line {line}: {reason}", file.display())
}

/// The arrivals of a `replay` group, read from its file as the run needs them.
///
/// The file is read and parsed ahead on a thread of its own (`RecordedTimes`), in batches
/// through a channel of two: reading a row costs more than drawing a Poisson gap, so on the
/// run's thread a replayed arrival would otherwise cost more than a drawn one (measured in
/// docs/src/guides/fit.md, "Replaying recorded traffic"). The thread hands over the times in the
/// file's order and stops at the first error, which arrives in its turn: the run sees
/// exactly what reading inline would give, and its memory stays that of four batches (two in
/// the channel, one being sent, one being read).
pub struct ReplayArrivals {
    spec: ReplaySpec,
    reader: Option<ReadAhead>,
    /// The first record's time, as recorded (with `from_first`).
    origin: Option<i128>,
    /// Copies of the current record still to arrive, and its instant.
    copies_left: u32,
    at_ns: Nanos,
}

/// Recorded times per batch handed from the reading thread to the run.
const READ_AHEAD_BATCH: usize = 4096;

/// What the reading thread hands over: the next times in order (an empty batch at the
/// file's end), or the error that stopped it.
type RecordedBatch = Result<Vec<i128>, String>;

struct ReadAhead {
    file: std::path::PathBuf,
    batches: std::sync::mpsc::Receiver<RecordedBatch>,
    thread: Option<std::thread::JoinHandle<()>>,
    batch: std::vec::IntoIter<i128>,
    /// The file is over (or failed): nothing more will come.
    ended: bool,
}

impl ReadAhead {
    /// Starts reading `spec`'s file on a thread named `replay-reader`.
    fn start(spec: &ReplaySpec) -> Result<ReadAhead, String> {
        let (sender, batches) = std::sync::mpsc::sync_channel(2);
        let mut times = RecordedTimes::new(spec.clone());
        let reading = std::thread::Builder::new().name("replay-reader".into());
        let thread = reading.spawn(move || {
            // A send fails when the run is over and dropped its end: then reading stops.
            loop {
                let (batch, stop) = times.next_batch();
                if !batch.is_empty() && sender.send(Ok(batch)).is_err() {
                    return;
                }
                let last = match stop {
                    None => continue,
                    // An empty batch says the file is over.
                    Some(Ok(())) => Ok(Vec::new()),
                    Some(Err(e)) => Err(e),
                };
                let _ = sender.send(last);
                return;
            }
        });
        let thread = thread.map_err(|e| {
            let file = spec.file.display();
            format!("{file}: cannot start a thread to read it: {e}")
        })?;
        Ok(ReadAhead {
            file: spec.file.clone(),
            batches,
            thread: Some(thread),
            batch: Vec::new().into_iter(),
            ended: false,
        })
    }

    /// The next recorded time in the file's order, None at its end.
    fn next(&mut self) -> Result<Option<i128>, String> {
        loop {
            if let Some(t) = self.batch.next() {
                return Ok(Some(t));
            }
            if self.ended {
                return Ok(None);
            }
            match self.batches.recv() {
                Ok(Ok(batch)) => {
                    self.ended = batch.is_empty();
                    self.batch = batch.into_iter();
                }
                Ok(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                // The thread says the end or an error before it stops, unless it panicked.
                Err(_) => {
                    self.ended = true;
                    let file = self.file.display();
                    return Err(format!("{file}: the thread reading it stopped early"));
                }
            }
        }
    }

    /// Stops the reading thread and waits for it: closing the channel first makes its next
    /// send fail, and it returns. What the join gave, or None when already stopped.
    fn stop(&mut self) -> Option<std::thread::Result<()>> {
        let (_, closed) = std::sync::mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.batches, closed));
        self.thread.take().map(|thread| thread.join())
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // No thread outlives its run (nor keeps the file open after it).
        let _ = self.stop();
    }
}

impl ReplayArrivals {
    pub fn new(spec: ReplaySpec) -> Self {
        ReplayArrivals {
            spec,
            reader: None,
            origin: None,
            copies_left: 0,
            at_ns: 0,
        }
    }

    /// The next arrival (in time order), None when the file is over; a row that cannot be
    /// read or goes back in time is an error naming the file, its line and why.
    pub fn next(&mut self, rng: &mut SimRng) -> Result<Option<Nanos>, String> {
        loop {
            if self.copies_left > 0 {
                self.copies_left -= 1;
                return Ok(Some(self.at_ns));
            }
            if self.reader.is_none() {
                self.reader = Some(ReadAhead::start(&self.spec)?);
            }
            let reader = self.reader.as_mut().expect("started above");
            let Some(recorded) = reader.next()? else {
                return Ok(None);
            };
            let origin = if self.spec.from_first {
                *self.origin.get_or_insert(recorded)
            } else {
                0
            };
            // Saturating: a time such as 1e300 s is read as i128::MAX, and lands at the end
            // of time rather than wrapping round to its start.
            let at = recorded
                .saturating_sub(origin)
                .saturating_add(i128::from(self.spec.time_shift_ns));
            if at < 0 {
                continue;
            }
            self.at_ns = Nanos::try_from(at).unwrap_or(Nanos::MAX);
            let scale = self.spec.rate_scale;
            let whole = scale.floor();
            let extra = scale > whole && rng.random::<f64>() < scale - whole;
            self.copies_left = whole as u32 + u32::from(extra);
        }
    }
}

/// Whether an `attempt` field says 0, around any whitespace (Unicode's too, as `str::trim`
/// reads it); the bytes `0` are checked first, as nearly every row holds them.
fn is_first_attempt(field: &[u8]) -> bool {
    field == b"0" || std::str::from_utf8(field).is_ok_and(|text| text.trim() == "0")
}

/// The recorded times of a log's first attempts, read row by row (on `ReadAhead`'s thread).
struct RecordedTimes {
    spec: ReplaySpec,
    rows: Option<crate::table::Rows>,
    /// The columns read: the time, and the attempt index when the log has one.
    columns: Option<(crate::table::Column, crate::table::Column)>,
    /// The last record's time, as recorded.
    last: Option<i128>,
}

impl RecordedTimes {
    fn new(spec: ReplaySpec) -> Self {
        RecordedTimes {
            spec,
            rows: None,
            columns: None,
            last: None,
        }
    }
    /// Up to a batch of the next recorded times, and why it stopped short when it did: the
    /// file's end (Ok) or a row that cannot be replayed (Err).
    fn next_batch(&mut self) -> (Vec<i128>, Option<Result<(), String>>) {
        let mut batch = Vec::with_capacity(READ_AHEAD_BATCH);
        while batch.len() < READ_AHEAD_BATCH {
            match self.next_record() {
                Ok(Some(t)) => batch.push(t),
                Ok(None) => return (batch, Some(Ok(()))),
                Err(e) => return (batch, Some(Err(e))),
            }
        }
        (batch, None)
    }

    /// The next first attempt's recorded time. Rows with an `attempt` column above 0 are
    /// retries, hedges or fallbacks of a request already replayed: skipped.
    fn next_record(&mut self) -> Result<Option<i128>, String> {
        if self.rows.is_none() {
            let mut rows = crate::table::Rows::open(&self.spec.file)
                .map_err(|e| format!("{}: {e}", self.spec.file.display()))?;
            rows.keep_only(&[self.spec.time_column.as_str(), "attempt"]);
            self.columns = Some((rows.column(&self.spec.time_column), rows.column("attempt")));
            self.rows = Some(rows);
        }
        let (time, attempt) = self.columns.as_ref().expect("resolved with the rows");
        loop {
            let rows = self.rows.as_mut().expect("opened above");
            match rows.advance() {
                None => return Ok(None),
                Some(Err(e)) => return Err(replay_error(&self.spec.file, e.line, e.reason)),
                Some(Ok(())) => {}
            }
            let line = rows.line;
            if rows
                .get_column(attempt)
                .is_some_and(|a| !is_first_attempt(&a))
            {
                continue;
            }
            let Some(text) = rows.get_column(time) else {
                let reason = format!("no `{}` (the replayed time column)", self.spec.time_column);
                return Err(replay_error(&self.spec.file, line, reason));
            };
            let parsed = parse_time_ns(&text, self.spec.unit);
            let t = parsed.map_err(|e| replay_error(&self.spec.file, line, e))?;
            if let Some(last) = self.last
                && t < last
            {
                let reason = format!(
                    "`{}` goes back in time ({} after a later time); replayed arrivals \
                     must be in time order",
                    self.spec.time_column,
                    String::from_utf8_lossy(&text)
                );
                return Err(replay_error(&self.spec.file, line, reason));
            }
            self.last = Some(t);
            return Ok(Some(t));
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestModel {
    pub input_tokens: Dist,
    pub output_tokens: Dist,
    pub max_tokens: u32,
}

#[derive(Debug, Clone)]
pub struct GroupModel {
    pub name: String,
    pub arrivals: ArrivalModel,
    pub max_requests: Option<u64>,
    pub request: RequestModel,
    pub policy: ClientPolicy,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::named_stream;
    use crate::time::{NS_PER_H, NS_PER_MIN, NS_PER_S};

    fn replay_spec(dir: &std::path::Path, text: &str) -> ReplaySpec {
        let file = dir.join("log.csv");
        std::fs::write(&file, text).unwrap();
        ReplaySpec {
            file,
            time_column: "t_ms".into(),
            unit: TimeUnit::Ms,
            from_first: false,
            rate_scale: 1.0,
            time_shift_ns: 0,
        }
    }

    /// `attempt` 0 around any whitespace is a first attempt, Unicode's included; a time
    /// past the end of time lands at its end instead of wrapping round (or panicking).
    #[test]
    fn first_attempts_and_huge_times_are_read_as_written() {
        assert!(is_first_attempt(b"0") && is_first_attempt("0\u{a0}".as_bytes()));
        assert!(is_first_attempt("\u{b}0".as_bytes()));
        assert!(!is_first_attempt(b"1") && !is_first_attempt(b"00") && !is_first_attempt(b"\xff0"));
        let dir = tempfile::tempdir().unwrap();
        let spec = ReplaySpec {
            time_shift_ns: 1,
            ..replay_spec(dir.path(), "t_ms,attempt\n1e300,0\u{a0}\n")
        };
        let mut arrivals = ReplayArrivals::new(spec);
        assert_eq!(
            arrivals.next(&mut named_stream(1, "t")),
            Ok(Some(Nanos::MAX))
        );
    }

    /// Read ahead on its thread, many batches of arrivals come in the file's order, and a
    /// bad row late in the file stops them where reading inline would: every arrival before
    /// it, then its error with its line.
    #[test]
    fn read_ahead_gives_every_arrival_in_order_then_the_error_in_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("t_ms,attempt\n");
        for i in 0..10_000 {
            text.push_str(&format!("{i},0\n{i},1\n"));
        }
        text.push_str("oops,0\n10001,0\n");
        let mut arrivals = ReplayArrivals::new(replay_spec(dir.path(), &text));
        let mut rng = named_stream(1, "t");
        for i in 0..10_000 {
            assert_eq!(arrivals.next(&mut rng), Ok(Some(i * 1_000_000)));
        }
        let e = arrivals.next(&mut rng).unwrap_err();
        assert!(
            e.ends_with("log.csv: line 20002: `oops` is not a number"),
            "{e}"
        );
        assert_eq!(arrivals.next(&mut rng), Ok(None));
    }

    /// A run that ends before its file does stops the reading thread and waits for it (as
    /// dropping the arrivals does): the thread, blocked on a full channel, must end cleanly
    /// and must not hold the run up.
    #[test]
    fn a_run_ending_early_stops_the_reading_thread() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("t_ms\n");
        for i in 0..200_000 {
            text.push_str(&format!("{i}\n"));
        }
        let spec = replay_spec(dir.path(), &text);
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut arrivals = ReplayArrivals::new(spec);
            let first = arrivals.next(&mut named_stream(1, "t"));
            let reader = arrivals.reader.as_mut().expect("reading");
            let stopped = reader.stop().map(|joined| joined.is_ok());
            let stopped_again = reader.stop().is_some();
            sender.send((first, stopped, stopped_again)).unwrap();
        });
        let (first, stopped, stopped_again) = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("stopping the reading thread returns");
        assert_eq!(first, Ok(Some(0)));
        assert_eq!(stopped, Some(true), "joined, and it ended without a panic");
        assert!(!stopped_again);
    }

    fn count(profile: &RateProfile, end: Nanos) -> u64 {
        let mut process = ArrivalProcess::new(named_stream(11, "traffic"));
        let (mut t, mut n) = (0, 0);
        while let Some(next) = process.next(profile, t) {
            if next >= end {
                break;
            }
            n += 1;
            t = next;
        }
        n
    }

    /// A Poisson count with mean m lies within m ± 4 sqrt(m) with probability > 0.9999.
    #[track_caller]
    fn check_poisson(observed: u64, mean: f64) {
        let tolerance = 4.0 * mean.sqrt();
        assert!(
            (observed as f64 - mean).abs() < tolerance,
            "observed {observed}, expected {mean:.0} ± {tolerance:.0}"
        );
    }

    #[test]
    fn constant_rate_counts_are_poisson() {
        let profile = RateProfile::constant(50.0);
        check_poisson(count(&profile, 600 * NS_PER_S), 30_000.0);
    }

    #[test]
    fn spikes_schedules_and_diurnal_integrate_correctly() {
        let profile = RateProfile {
            base_per_s: 10.0,
            schedule: vec![(30 * NS_PER_MIN, 20.0)],
            diurnal: Some(Diurnal {
                amplitude: 0.8,
                period_ns: NS_PER_H,
                peak_ns: 0,
            }),
            spikes: vec![Spike {
                start_ns: 10 * NS_PER_MIN,
                end_ns: 12 * NS_PER_MIN,
                multiplier: 10.0,
            }],
        };
        let expected = profile.expected_arrivals(NS_PER_H);
        check_poisson(count(&profile, NS_PER_H), expected);
        // Over many periods, the diurnal factor averages out exactly.
        let long = RateProfile {
            schedule: vec![],
            spikes: vec![],
            ..profile.clone()
        };
        check_poisson(count(&long, 100 * NS_PER_H), 10.0 * 360_000.0);
        // Without the diurnal term: 10/s x 30 min + 20/s x 30 min + 9 x 10/s x 2 min.
        let flat = RateProfile {
            diurnal: None,
            ..profile
        };
        assert!((flat.expected_arrivals(NS_PER_H) - (18_000.0 + 36_000.0 + 10_800.0)).abs() < 1e-6);
    }

    #[test]
    fn zero_rate_forever_ends_the_stream() {
        let profile = RateProfile::constant(0.0);
        let mut process = ArrivalProcess::new(named_stream(1, "t"));
        assert_eq!(process.next(&profile, 0), None);
    }

    /// A zero rate under a short diurnal period used to step 256 segments a minute toward
    /// the end of time (a hang Ctrl-C could not stop); it must end at once, and a later
    /// schedule step must still be found by jumping to it.
    #[test]
    fn zero_rate_with_a_diurnal_profile_ends_or_jumps_at_once() {
        let diurnal = Some(Diurnal {
            amplitude: 0.5,
            period_ns: NS_PER_MIN,
            peak_ns: 0,
        });
        let silent = RateProfile {
            diurnal,
            ..RateProfile::constant(0.0)
        };
        let later = RateProfile {
            schedule: vec![(1_000 * NS_PER_H, 10.0)],
            diurnal,
            ..RateProfile::constant(0.0)
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut process = ArrivalProcess::new(named_stream(1, "t"));
            let none = process.next(&silent, 0);
            let first = process.next(&later, 0);
            sender.send((none, first)).unwrap();
        });
        let (none, first) = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("arrival generation must not spin through empty segments");
        assert_eq!(none, None);
        let first = first.unwrap();
        assert!((1_000 * NS_PER_H..1_000 * NS_PER_H + NS_PER_MIN).contains(&first));
    }
}
