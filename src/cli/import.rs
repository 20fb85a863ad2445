//! `aichaos import`: a real client's resilience configuration as a scenario `policy`.

use std::path::{Path, PathBuf};

use aichaos::config::{self, Format};
use aichaos::error::InputError;

use super::{bad_input, write_failed};

#[derive(clap::Args)]
pub struct Args {
    /// The file's format: litellm (proxy config.yaml, or Router keyword arguments as JSON),
    /// litellm-json, resilience4j (Spring Boot YAML, or .properties by the file's name),
    /// resilience4j-properties, envoy (YAML or JSON), polly (JSON section).
    format: String,
    /// The configuration file.
    file: PathBuf,
    /// Which of several model groups (LiteLLM), instances (resilience4j), routes (Envoy) or
    /// sections (polly) to read. Absent: the only one.
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    /// Write the policy into this scenario file (replacing the group's `policy`, keeping
    /// everything else as written) instead of printing it.
    #[arg(long, value_name = "SCENARIO")]
    into: Option<PathBuf>,
    /// With --into: the scenario's group to receive it. Absent: the only group.
    #[arg(long, value_name = "NAME", requires = "into")]
    group: Option<String>,
}

/// Prints (or writes) the policy; the report of what was mapped, ignored and defaulted goes
/// to stderr. Bad input: exit 2, nothing written.
pub fn execute(a: Args) -> i32 {
    let file = a.file.to_string_lossy().to_string();
    let format = match Format::from_name(&a.format) {
        Ok(f) => f,
        Err(e) => return bad_input(&InputError::single(&file, "FORMAT", e)),
    };
    let imported = aichaos::scenario::read_text(&file)
        .and_then(|text| config::import(format, &file, &text, a.instance.as_deref()));
    let imported = match imported {
        Ok(i) => i,
        Err(e) => return bad_input(&e),
    };
    let Some(into) = a.into else {
        let json = serde_json::to_string_pretty(&imported.policy).expect("serializes");
        outln!("{json}");
        eprint!("{}", imported.report.render());
        return 0;
    };
    let target = into.to_string_lossy().to_string();
    let merged = aichaos::scenario::read_text(&target).and_then(|text| {
        config::into::merge_into(&target, &text, a.group.as_deref(), &imported.policy)
    });
    let (text, group) = match merged {
        Ok(m) => m,
        Err(e) => return bad_input(&e),
    };
    let dir = match into.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = into
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("scenario.json");
    if let Err(e) = aichaos::output::write_atomic(&dir, name, text.as_bytes()) {
        return write_failed(Path::new(&target), e);
    }
    eprint!("{}", imported.report.render());
    eprintln!("wrote the policy of group `{group}` in {target}");
    0
}
