//! `aichaos export`: a scenario group's policy in a real client's configuration format.

use std::path::{Path, PathBuf};

use aichaos::config::{self, Format, Source, best};
use aichaos::error::{EXIT_BAD_INPUT, InputError};

use super::{SetArgs, bad_input, load, parse_overrides, write_failed};

#[derive(clap::Args)]
pub struct Args {
    /// The format: litellm (proxy config.yaml), litellm-json (Router keyword arguments),
    /// resilience4j (Spring Boot YAML), resilience4j-properties, envoy, polly,
    /// openai-python, anthropic-python (client arguments, plus tenacity when needed).
    format: String,
    /// The scenario file (a sweep's best.json works too: the values the sweep chose are
    /// labelled as tuned, with the --param and the point).
    scenario: PathBuf,
    /// The group whose policy to write. Absent: the only group.
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// Write what the format can express and list what it cannot, instead of refusing.
    #[arg(long)]
    lossy: bool,
    /// Write to this file (atomically) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    overrides: SetArgs,
}

pub fn execute(a: Args) -> i32 {
    let file = a.scenario.to_string_lossy().to_string();
    let format = match Format::from_name(&a.format) {
        Ok(f) => f,
        Err(e) => return bad_input(&InputError::single(&file, "FORMAT", e)),
    };
    let experiment = match load(&a.scenario, &a.overrides.set) {
        Ok(e) => e,
        Err(e) => return bad_input(&e),
    };
    let [scenario] = experiment.scenarios.as_slice() else {
        return bad_input(&InputError::single(
            &file,
            "scenarios",
            "an experiment of several scenarios: export one scenario file",
        ));
    };
    let group = match best::pick_group(scenario, a.group.as_deref()) {
        Ok(g) => g,
        Err(e) => return bad_input(&InputError::single(&file, "--group", e)),
    };
    let names: Vec<&str> = scenario.groups.iter().map(|g| g.name.as_str()).collect();
    // The document as written, to say which values the scenario set and which a sweep chose
    // (none when the group is not found as written: an experiment's, made of base and
    // patches). A value given with --set counts as written in the file.
    let doc: Option<serde_json::Value> = std::fs::read_to_string(&a.scenario)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .map(|mut doc| {
            for o in parse_overrides(&a.overrides.set).unwrap_or_default() {
                let _ = o.apply(&mut doc);
            }
            doc
        });
    let written = doc
        .as_ref()
        .and_then(|d| best::written_policy(d, names[group]));
    let tuned = doc
        .as_ref()
        .map(|d| best::tuned_of(d, &names, group))
        .unwrap_or_default();
    let source = Source {
        scenario,
        group,
        written: written.as_ref(),
        tuned: &tuned,
    };
    let exported = match config::export(format, &source, a.lossy) {
        Ok(e) => e,
        Err(lost) => {
            eprintln!(
                "error: {file}: group `{}`: {} cannot express:",
                names[group],
                format.name()
            );
            for l in &lost {
                eprintln!("  - {l}");
            }
            eprintln!("(pass --lossy to write the rest and list what is lost)");
            return EXIT_BAD_INPUT;
        }
    };
    for l in &exported.lost {
        eprintln!("lost: {l}");
    }
    match a.output {
        None => {
            out!("{}", exported.text);
            0
        }
        Some(path) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("policy");
            match aichaos::output::write_atomic(&dir, name, exported.text.as_bytes()) {
                Ok(()) => 0,
                Err(e) => write_failed(Path::new(&path), e),
            }
        }
    }
}
