//! `aichaos serve`: one scenario's world as a live OpenAI- and Anthropic-compatible
//! endpoint (see `aichaos::serve`) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use aichaos::error::InputError;
use aichaos::scenario;
use aichaos::serve::{Config, Stopped};

use super::{SetArgs, bad_input, load};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario or experiment file (JSON); its providers and models are served.
    scenario: PathBuf,
    /// The scenario of an experiment file to serve.
    #[arg(long = "scenario", value_name = "NAME")]
    only: Option<String>,
    /// Address to listen on (port 0 picks a free port; the address is printed). Loopback
    /// by default: the server has no authentication.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// World seconds per wall second: 60 plays an hour of outages, brownouts and
    /// top-ups in a minute, and divides latencies and Retry-After by 60.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    time_scale: f64,
    /// Override the scenario's seed (the k-th request's draws depend on it and on k only).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    overrides: SetArgs,
}

pub fn execute(a: Args) -> i32 {
    let file = a.scenario.to_string_lossy().to_string();
    let experiment = match load(&a.scenario, &a.overrides.set) {
        Ok(e) => e,
        Err(e) => return bad_input(&e),
    };
    let names: Vec<&str> = experiment
        .scenarios
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let chosen = match (&a.only, experiment.scenarios.len()) {
        (None, 1) => Some(0),
        (None, _) => {
            let reason = format!(
                "the file holds several scenarios; pick one with --scenario ({})",
                names.join(", ")
            );
            return bad_input(&InputError::single(&file, "scenarios", reason));
        }
        (Some(name), _) => experiment.scenarios.iter().position(|s| &s.name == name),
    };
    let Some(index) = chosen else {
        let name = a.only.as_deref().unwrap_or_default();
        let reason = scenario::no_scenario_named(name, &names);
        return bad_input(&InputError::single(&file, "--scenario", reason));
    };
    if !(a.time_scale.is_finite() && a.time_scale > 0.0 && a.time_scale <= 1e6) {
        let reason = "must be a number above 0 and at most 1000000";
        return bad_input(&InputError::single(&file, "--time-scale", reason));
    }
    let mut scenario = experiment.scenarios.into_iter().nth(index).expect("found");
    if let Some(seed) = a.seed {
        scenario.seed = seed;
    }
    let models: Vec<String> = scenario
        .providers
        .iter()
        .flat_map(|p| {
            p.models
                .iter()
                .map(move |m| format!("{}/{}", p.name, m.name))
        })
        .collect();
    let (name, seed, scale) = (scenario.name.clone(), scenario.seed, a.time_scale);
    let config = Config {
        time_scale: scale,
        ..Config::new(scenario)
    };
    let served = aichaos::serve::run_until_interrupted(a.listen, config, |addr| {
        outln!(
            "aichaos serve: `{name}` (seed {seed}, time scale {scale}) listening on http://{addr}"
        );
        outln!(
            "  OpenAI:    base_url http://{addr}/v1   (POST /v1/chat/completions, GET /v1/models)"
        );
        outln!("  Anthropic: base_url http://{addr}      (POST /v1/messages)");
        outln!("  models: {}", models.join(", "));
        outln!("Ctrl-C stops it (answers in progress finish first).");
    });
    match served {
        Ok(stopped) => {
            if stopped == Stopped::Cut {
                eprintln!("aichaos serve: answers still in progress were cut at the drain limit");
            }
            aichaos::interrupt::exit_code()
        }
        Err(e) => {
            eprintln!("error: --listen {}: cannot listen: {e}", a.listen);
            aichaos::error::EXIT_BAD_INPUT
        }
    }
}
