//! The examples at the end of every command's `--help`, and the guides `aichaos --help`
//! lists, as ripgrep and hyperfine end theirs: a reader learns a command fastest from a
//! command line that works on a shipped model.
//!
//! They are attached to clap's definition here, in one table, rather than as an
//! `after_help` attribute on each variant, so that the examples read as a set and a test
//! (below) can parse every one of them with the real definition: an example that stops
//! parsing fails the build's tests, not a reader.

use clap::{CommandFactory, FromArgMatches};

use super::Cli;

/// The guides of the book under docs/ (`mdbook build docs`), for `aichaos --help`.
const GUIDES: &str = "\
Guides (docs/src/, or `mdbook build docs`):
  docs/src/tour.md                     five minutes: a fault, a retry storm, a defended client
  docs/src/guides/tune.md              tune a breaker and retries: compare, sweep, --worlds
  docs/src/guides/incidents.md         reproduce an incident: incidents, replay, Perfetto
  docs/src/guides/cluster.md           run sweeps on a cluster: Slurm, Kubernetes
  docs/src/guides/provider-model.md    how the provider is modelled, and what it is not
  docs/src/guides/outputs.md           summary.json, timeseries.csv, charts, reproducibility
  docs/src/guides/fit.md               from your logs to a scenario (fit)
  docs/src/guides/serve.md             meet your real client (serve)
  docs/src/guides/config.md            bring your own config (import, export)
  docs/src/reference/scenario.md       every field of a scenario file (aichaos schema --markdown)";

/// Each subcommand's examples: a comment line, then the command.
const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "run",
        &[
            (
                "the seed's three-scenario experiment",
                "aichaos run models/seed-experiment.json",
            ),
            (
                "one scenario, ten minutes, another seed, no charts",
                "aichaos run models/outage-retry-storm.json --scenario \"naive retries\" --set duration=10m --seed 7 --no-charts",
            ),
            (
                "every attempt as a request log, for `aichaos fit`",
                "aichaos run models/rate-limit-429.json --scenario \"Retry-After honoured\" --request-log requests.csv",
            ),
        ],
    ),
    (
        "plot",
        &[
            (
                "a saved run's charts again",
                "aichaos plot output/outage-retry-storm/naive-retries",
            ),
            (
                "two runs overlaid on one set of charts",
                "aichaos plot output/outage-retry-storm/naive-retries output/outage-retry-storm/backoff-jitter-and-breaker --out output/compare",
            ),
        ],
    ),
    (
        "compare",
        &[
            (
                "an experiment's scenarios as variants, the first the baseline",
                "aichaos compare models/policy-shootout.json --replications 8",
            ),
            (
                "one field changed, and a merge patch from a file",
                "aichaos compare models/outage-retry-storm.json --scenario \"naive retries\" --variant 'one-try:traffic[app].policy.retry.max_attempts=1' --variant defended=defended.json --replications 8",
            ),
        ],
    ),
    (
        "sweep",
        &[
            (
                "a breaker's threshold and open time, with a constraint",
                "aichaos sweep models/outage-retry-storm.json --scenario \"backoff, jitter and breaker\" --param 'traffic[app].policy.breaker.failure_threshold=3,5,10' --param 'traffic[app].policy.breaker.open_duration=5s..60s:3' --objective max:success_rate --constraint 'latency_p99_ms<=4600' --replications 3",
            ),
            (
                "replications spent where they matter",
                "aichaos sweep scenario.json --param 'traffic[app].policy.retry.max_attempts=1..6:6' --replications auto --budget 150",
            ),
            (
                "robust over three worlds, judged by the worst",
                "aichaos sweep --worlds outage-a.json storm-b.json runout-c.json --aggregate worst --param 'traffic[app].request.model=n,k'",
            ),
            (
                "the 3rd of 16 shards (then `aichaos merge`)",
                "aichaos sweep scenario.json --param 'traffic[0].policy.retry.max_attempts=1..6:6' --replications 10 --shard 3/16 --out /shared/sweep",
            ),
        ],
    ),
    (
        "merge",
        &[(
            "the parts of a 16-shard sweep",
            "aichaos merge /shared/sweep/sweep-part-1-of-16.json /shared/sweep/sweep-part-2-of-16.json --out /shared/sweep/result",
        )],
    ),
    (
        "incidents",
        &[
            (
                "the five worst incidents over 200 seeds",
                "aichaos incidents models/outage-retry-storm.json --scenario \"naive retries\" --seeds 1..200 --top 5",
            ),
            (
                "which seeds tip into a metastable incident",
                "aichaos incidents models/incident-hunt.json --seeds 1..100",
            ),
        ],
    ),
    (
        "replay",
        &[
            (
                "a window as a Perfetto trace, and its timeline",
                "aichaos replay models/outage-retry-storm.json --scenario \"naive retries\" --seed 9 --from 00:15:30 --to 00:35:00 --trace incident.json --narrate",
            ),
            (
                "every event of a minute as JSON lines",
                "aichaos replay models/outage-retry-storm.json --scenario \"naive retries\" --from 20m --to 21m --trace minute.jsonl",
            ),
        ],
    ),
    (
        "fit",
        &[
            (
                "a request log, its arrivals replayed",
                "aichaos fit models/fitted-incident/request-log.csv --out fitted/scenario.json --replay",
            ),
            (
                "a proxy's CSV, columns named",
                "aichaos fit proxy.csv --out fitted/scenario.json --format columns --column time=ts_ms --column status=http_status --column latency=duration_ms",
            ),
        ],
    ),
    (
        "serve",
        &[(
            "the 429 world at ten times speed (then point OPENAI_BASE_URL at http://127.0.0.1:8080/v1)",
            "aichaos serve models/rate-limit-429.json --scenario \"Retry-After honoured\" --time-scale 10",
        )],
    ),
    (
        "validate",
        &[
            (
                "every shipped model",
                "aichaos validate models/seed-experiment.json models/outage-retry-storm.json",
            ),
            (
                "with an override, as run would apply it",
                "aichaos validate scenario.json --set 'traffic[0].policy.retry.max_attempts=5'",
            ),
        ],
    ),
    (
        "init",
        &[
            ("a starter scenario and its schema", "aichaos init"),
            (
                "a real account's limits and a real client's policy",
                "aichaos init svc.json --provider-profile openai-tier1 --preset openai-python",
            ),
        ],
    ),
    (
        "import",
        &[
            (
                "a LiteLLM proxy config, printed as a policy",
                "aichaos import litellm litellm-config.yaml",
            ),
            (
                "written into a scenario's group",
                "aichaos import litellm litellm-config.yaml --into my-world.json --group app",
            ),
        ],
    ),
    (
        "export",
        &[
            (
                "a tuned policy back as LiteLLM's config",
                "aichaos export litellm tune/best.json -o tuned-config.yaml",
            ),
            (
                "as openai-python code, writing what it cannot say",
                "aichaos export openai-python scenario.json --lossy",
            ),
        ],
    ),
    (
        "schema",
        &[
            ("for the editor", "aichaos schema > aichaos.schema.json"),
            (
                "the reference of every field",
                "aichaos schema --markdown > docs/src/reference/scenario.md",
            ),
        ],
    ),
    (
        "completions",
        &[
            (
                "bash",
                "aichaos completions bash > ~/.local/share/bash-completion/completions/aichaos",
            ),
            (
                "fish",
                "aichaos completions fish > ~/.config/fish/completions/aichaos.fish",
            ),
        ],
    ),
    (
        "man",
        &[
            ("aichaos(1)", "aichaos man > aichaos.1"),
            (
                "a page per command, for `man aichaos-sweep`",
                "aichaos man --out-dir ~/.local/share/man/man1",
            ),
        ],
    ),
];

/// The command line's definition with the examples and the guides attached.
pub fn command() -> clap::Command {
    let mut command = Cli::command().after_help(GUIDES);
    for (name, examples) in EXAMPLES {
        let text = examples_text(examples);
        command = command.mut_subcommand(*name, |c| c.after_help(text));
    }
    command
}

/// Parses the process's arguments against `command()`; exits on a usage error or `--help`
/// as clap does.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn examples_text(examples: &[(&str, &str)]) -> String {
    let mut text = String::from("Examples:");
    for (what, line) in examples {
        text.push_str(&format!("\n  # {what}\n  {line}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words as a POSIX shell splits them: quotes group, and are removed.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote = None;
        let mut started = false;
        for c in line.chars() {
            match (quote, c) {
                (None, '\'' | '"') => {
                    quote = Some(c);
                    started = true;
                }
                (Some(q), c) if c == q => quote = None,
                (None, ' ') => {
                    if started {
                        words.push(std::mem::take(&mut word));
                        started = false;
                    }
                }
                (_, c) => {
                    word.push(c);
                    started = true;
                }
            }
        }
        if started {
            words.push(word);
        }
        words
    }

    #[test]
    fn every_subcommand_has_examples_that_parse() {
        let command = command();
        for sub in command.get_subcommands() {
            let name = sub.get_name();
            if name == "help" {
                continue;
            }
            let examples = EXAMPLES
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("`aichaos {name}` has no examples in EXAMPLES"));
            assert!(!examples.1.is_empty(), "{name}");
            for (_, line) in examples.1 {
                // A redirection is the shell's, not an argument.
                let line = line.split(" > ").next().unwrap();
                let words = shell_words(line);
                assert_eq!(
                    words[1], name,
                    "an example of `{name}` runs another command"
                );
                if let Err(e) = command.clone().try_get_matches_from(&words) {
                    panic!("the example `{line}` does not parse: {e}");
                }
            }
        }
    }

    #[test]
    fn shell_words_removes_quotes() {
        assert_eq!(
            shell_words("a \"b c\" 'd[e]=f' g"),
            ["a", "b c", "d[e]=f", "g"]
        );
    }
}
