//! `aichaos serve`: one scenario's world as a live OpenAI- and Anthropic-compatible
//! endpoint (see `aichaos::serve`) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use aichaos::error::InputError;
use aichaos::scenario;
use aichaos::serve::{BindError, Config, Stopped};

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
    /// Also write every completion request that reached the world, one record per attempt,
    /// in `run --request-log`'s format (JSON lines, or CSV when FILE ends in .csv) with the
    /// rate-limit headers each answer sent, for `aichaos fit`: written as the server runs,
    /// whole when it stops. Attempts become
    /// requests by `x-aichaos-request-id`, `Idempotency-Key`, or the SDKs'
    /// `x-stainless-retry-count` with the same body (docs/src/guides/serve.md).
    #[arg(long, value_name = "FILE")]
    request_log: Option<PathBuf>,
    /// Connections open at once; beyond, a new connection's requests get a 503 that says
    /// so. Each open stream takes about 21 KiB (10,000: 206-224 MiB).
    #[arg(long, value_name = "N", default_value_t = aichaos::serve::DEFAULT_MAX_CONNECTIONS as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
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
        request_log: a.request_log.clone(),
        max_connections: a.max_connections as usize,
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
    let log_name = a
        .request_log
        .as_ref()
        .map_or(String::new(), |p| p.display().to_string());
    match served {
        Ok(served) => {
            if served.stopped == Stopped::Cut {
                eprintln!(
                    "aichaos serve: answers still in progress were cut at the drain limit \
                     (and are not in the request log)"
                );
            }
            match served.log {
                Some(Err(e)) => {
                    eprintln!("error: --request-log {log_name}: cannot write: {e}");
                    aichaos::error::EXIT_OUTPUT_FAILED
                }
                Some(Ok(records)) => {
                    eprintln!("aichaos serve: wrote {records} records to {log_name}");
                    aichaos::interrupt::exit_code()
                }
                None => aichaos::interrupt::exit_code(),
            }
        }
        Err(BindError::Listen(e)) => {
            eprintln!("error: --listen {}: cannot listen: {e}", a.listen);
            aichaos::error::EXIT_BAD_INPUT
        }
        Err(BindError::Log(e)) => {
            eprintln!("error: --request-log {log_name}: cannot write: {e}");
            aichaos::error::EXIT_BAD_INPUT
        }
    }
}
