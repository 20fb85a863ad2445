//! `aichaos incidents`: the same scenario over many seeds, side by side, and the worst
//! incidents ranked, each with the commands that reproduce and replay it.

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::engine::RunError;
use crate::report::{BELOW_ONE_ATTEMPT, incident_line, prints_below_one};
use crate::scenario::Scenario;
use crate::slo::Incident;
use crate::time::{NS_PER_MIN, format_clock, secs_to_ns};
use crate::timeseries::csv_field;

pub const INCIDENTS_FORMAT: &str = "aichaos-incidents/1";
/// Seeds in one search.
pub const MAX_SEEDS: u64 = 100_000;

/// Parses `--seeds`: "1..1000" (both ends included), "7", or a list "1,5,9".
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not a seed (a whole number >= 0)"))
    };
    let seeds: Vec<u64> = if let Some((a, b)) = text.split_once("..") {
        let (first, last) = (number(a)?, number(b.trim_start_matches('='))?);
        if first > last {
            return Err(format!("`{text}`: the range runs backwards"));
        }
        if last - first >= MAX_SEEDS {
            return Err(format!(
                "`{text}` is {} seeds; at most {MAX_SEEDS} per search (split it into several)",
                (last - first).saturating_add(1)
            ));
        }
        (first..=last).collect()
    } else {
        text.split(',').map(number).collect::<Result<_, _>>()?
    };
    if seeds.is_empty() {
        return Err("no seed given".into());
    }
    if seeds.len() as u64 > MAX_SEEDS {
        return Err(format!(
            "{} seeds; at most {MAX_SEEDS} per search",
            seeds.len()
        ));
    }
    Ok(seeds)
}

/// Everything needed to write the commands that reproduce a run: the file and how it was
/// narrowed (an experiment's scenario, `--set` overrides).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub file: String,
    pub scenario: Option<String>,
    pub overrides: Vec<String>,
}

impl Source {
    fn arguments(&self) -> String {
        let mut out = shell_word(&self.file);
        if let Some(name) = &self.scenario {
            out.push_str(&format!(" --scenario {}", shell_word(name)));
        }
        for o in &self.overrides {
            out.push_str(&format!(" --set {}", shell_word(o)));
        }
        out
    }
}

/// A word safe to paste into a POSIX shell.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ranked {
    pub rank: usize,
    pub seed: u64,
    /// Reproduces the whole run; its summary.json lists this incident.
    pub run_command: String,
    /// Replays the incident's window (from a window before its start) with a trace and a
    /// narrated timeline.
    pub replay_command: String,
    pub incident: Incident,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Search {
    pub format: String,
    pub scenario: String,
    pub source: Source,
    pub seeds: usize,
    pub first_seed: u64,
    pub last_seed: u64,
    pub runs_with_incidents: usize,
    pub incidents_found: usize,
    pub metastable_incidents: usize,
    /// The worst incidents, by bad requests, then duration, then seed.
    pub top: Vec<Ranked>,
}

/// One seed's incidents (what a worker returns).
pub struct SeedIncidents {
    pub seed: u64,
    pub incidents: Vec<Incident>,
}

/// Runs `scenario` once per seed (`threads` at once) and keeps every incident; with a
/// checkpoint, each seed's incidents are kept as it finishes and seeds an interrupted
/// search finished are not run again.
pub fn run_seeds(
    scenario: &Scenario,
    seeds: &[u64],
    threads: usize,
    done: &(dyn Fn() + Sync),
    checkpoint: Option<&Checkpoint<Vec<Incident>>>,
) -> Result<Vec<SeedIncidents>, RunError> {
    crate::parallel::map_indexed(
        seeds.len(),
        threads,
        |i| {
            let seed = seeds[i];
            if let Some(incidents) = checkpoint.and_then(|c| c.prior(i)) {
                return Ok(SeedIncidents { seed, incidents });
            }
            let mut s = scenario.clone();
            s.seed = seed;
            let summary = crate::run::run_summary(&s)?;
            let incidents = summary.objectives.map(|o| o.incidents).unwrap_or_default();
            if let Some(c) = checkpoint {
                c.record(i, &incidents);
            }
            Ok(SeedIncidents { seed, incidents })
        },
        done,
    )
    .into_iter()
    .collect()
}

/// Ranks the incidents of every seed and keeps the `top` worst (only those of `slo`, if
/// given).
pub fn rank(
    scenario: &Scenario,
    source: &Source,
    found: &[SeedIncidents],
    slo: Option<&str>,
    top: usize,
) -> Search {
    let mut all: Vec<(u64, &Incident)> = found
        .iter()
        .flat_map(|s| s.incidents.iter().map(move |i| (s.seed, i)))
        .filter(|(_, i)| slo.is_none_or(|name| i.slo == name))
        .collect();
    let incidents_found = all.len();
    let metastable_incidents = all
        .iter()
        .filter(|(_, i)| i.metastability.as_ref().is_some_and(|m| m.metastable))
        .count();
    let runs_with_incidents = found
        .iter()
        .filter(|s| s.incidents.iter().any(|i| slo.is_none_or(|n| i.slo == n)))
        .count();
    // Worst first; ties by seed and start so the order is total and stable.
    all.sort_by(|(sa, a), (sb, b)| {
        b.bad_requests
            .cmp(&a.bad_requests)
            .then(b.duration_s.total_cmp(&a.duration_s))
            .then(sa.cmp(sb))
            .then(a.start_s.total_cmp(&b.start_s))
            .then(a.slo.cmp(&b.slo))
    });
    let top = all
        .into_iter()
        .take(top)
        .enumerate()
        .map(|(i, (seed, incident))| Ranked {
            rank: i + 1,
            seed,
            run_command: format!("aichaos run {} --seed {seed}", source.arguments()),
            replay_command: replay_command(scenario, source, seed, incident),
            incident: incident.clone(),
        })
        .collect();
    Search {
        format: INCIDENTS_FORMAT.to_string(),
        scenario: scenario.name.clone(),
        source: source.clone(),
        seeds: found.len(),
        first_seed: found.first().map_or(0, |s| s.seed),
        last_seed: found.last().map_or(0, |s| s.seed),
        runs_with_incidents,
        incidents_found,
        metastable_incidents,
        top,
    }
}

/// The window worth replaying: from one SLO window before the incident (what led to the
/// first breach, and the trigger) to a minute after it.
pub fn replay_window(scenario: &Scenario, incident: &Incident) -> (u64, u64) {
    let window_ns = scenario
        .slos
        .iter()
        .find(|s| s.name == incident.slo)
        .map_or(5 * NS_PER_MIN, |s| s.window_ns);
    let start = secs_to_ns(incident.start_s);
    let from = start.saturating_sub(window_ns);
    let to = secs_to_ns(incident.end_s).saturating_add(NS_PER_MIN);
    (from, to)
}

fn replay_command(scenario: &Scenario, source: &Source, seed: u64, incident: &Incident) -> String {
    let (from, to) = replay_window(scenario, incident);
    format!(
        "aichaos replay {} --seed {seed} --from {} --to {} --trace incident-seed{seed}.json --narrate",
        source.arguments(),
        format_clock(from),
        format_clock(to)
    )
}

/// The console table: per ranked incident a line, the command that reruns its seed and the
/// one that replays its window; then a legend of what the lines hold.
pub fn table(search: &Search) -> String {
    let mut out = format!(
        "{}: {} seeds (first {}, last {}), {} incident(s) in {} run(s), {} metastable\n",
        search.scenario,
        search.seeds,
        search.first_seed,
        search.last_seed,
        search.incidents_found,
        search.runs_with_incidents,
        search.metastable_incidents
    );
    for r in &search.top {
        out.push_str(&format!(
            "#{:<3} seed {:<6} {}\n      run:    {}\n      replay: {}\n",
            r.rank,
            r.seed,
            incident_line(&r.incident),
            r.run_command,
            r.replay_command
        ));
    }
    let legend = legend(&search.top);
    let width = legend.iter().map(|(marker, _)| marker.len()).max();
    if let Some(width) = width {
        out.push_str("legend:\n");
        for (marker, meaning) in legend {
            out.push_str(&format!("  {marker:<width$}  {meaning}\n"));
        }
    }
    out
}

/// What each marker of the listed incidents means, for the markers that appear only: a
/// legend of what is not on the screen is noise, and the incidents guide
/// (docs/src/guides/incidents.md) describes every field.
fn legend(top: &[Ranked]) -> Vec<(&'static str, &'static str)> {
    let any = |f: &dyn Fn(&Incident) -> bool| top.iter().any(|r| f(&r.incident));
    let mut out = Vec::new();
    if top.is_empty() {
        return out;
    }
    out.push(("#N", "rank: the most bad requests first, then the longest"));
    out.push(("seed", "the seed of the run that met the incident"));
    out.push((
        "run:",
        "reruns that whole run; its summary.json lists this incident, field for field",
    ));
    out.push((
        "replay:",
        "traces and narrates the incident's window, from one SLO window before it to a \
         minute after",
    ));
    out.push((
        "[slo] A -> B (D)",
        "the SLO in breach, from its first evaluation in breach to the first back within \
         target, in simulated time, and how long that is",
    ));
    if any(&|i| i.ongoing_at_end) {
        out.push((
            "(still open)",
            "still in breach when the run ended: B is the run's end",
        ));
    }
    out.push((
        "worst X% good",
        "the lowest share of good requests in one SLO window during the incident",
    ));
    if any(&|i| i.worst_latency_ms.is_some()) {
        out.push((
            "(p <= T)",
            "a latency SLO's percentile in that window (to a histogram bin's edge, 19 % wide)",
        ));
    }
    out.push((
        "B bad of R requests",
        "the requests the SLO judged bad, of those it judged (a latency SLO judges the \
         successful ones), from the window before the first breach to the end",
    ));
    out.push((
        "peak N attempts/request",
        "the most attempts sent per arriving request in one SLO window during the incident; \
         retries, fallbacks and hedges raise it above 1",
    ));
    if any(&|i| prints_below_one(i.peak_amplification)) {
        out.push(("peak below 1", BELOW_ONE_ATTEMPT));
    }
    out.push((
        "trigger",
        "the earliest condition of the world overlapping the incident or the window before \
         it, and its span (to `end`: it lasted to the end of the run); without one, what the \
         failures point to",
    ));
    if any(&|i| !i.detected_by.is_empty()) {
        out.push((
            "alert X after T",
            "the first burn-rate alert that fired during the incident, T after its start",
        ));
    }
    if any(&|i| i.metastability.as_ref().is_some_and(|m| m.metastable)) {
        out.push((
            "METASTABLE",
            "still in breach, beyond one SLO window after every overlapping condition ended, \
             for longer than the SLO's metastable_after (by the time shown): the clients' \
             retries and queues kept it going",
        ));
    }
    out
}

/// `incidents.csv`: every incident of every seed, one row each.
pub fn csv(found: &[SeedIncidents], slo: Option<&str>) -> String {
    let mut out = String::from(
        "seed,slo,start_s,end_s,duration_s,ongoing_at_end,worst_sli,requests,bad_requests,\
         error_budget_consumed,peak_amplification,trigger,trigger_subject,metastable,outlived_trigger_by_s\n",
    );
    for s in found {
        for i in s
            .incidents
            .iter()
            .filter(|i| slo.is_none_or(|n| i.slo == n))
        {
            let (metastable, outlived) = match &i.metastability {
                Some(m) => (
                    m.metastable.to_string(),
                    m.outlived_trigger_by_s.to_string(),
                ),
                None => (String::new(), String::new()),
            };
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                s.seed,
                csv_field(&i.slo),
                i.start_s,
                i.end_s,
                i.duration_s,
                i.ongoing_at_end,
                i.worst_sli,
                i.requests,
                i.bad_requests,
                i.error_budget_consumed,
                i.peak_amplification,
                i.trigger.kind,
                csv_field(i.trigger.subject.as_deref().unwrap_or("")),
                metastable,
                outlived
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_as_ranges_and_lists() {
        assert_eq!(parse_seeds("1..5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_seeds("1..=3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("7").unwrap(), vec![7]);
        assert_eq!(parse_seeds("3,1,2").unwrap(), vec![3, 1, 2]);
        assert!(parse_seeds("5..1").unwrap_err().contains("backwards"));
        assert!(parse_seeds("1..1000000").unwrap_err().contains("at most"));
        assert!(parse_seeds("a..3").is_err());
        assert!(parse_seeds("-1").is_err());
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("models/a.json"), "models/a.json");
        assert_eq!(shell_word("naive retries"), "'naive retries'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(
            shell_word("traffic[app].policy.retry.max_attempts=3"),
            "'traffic[app].policy.retry.max_attempts=3'"
        );
    }
}
