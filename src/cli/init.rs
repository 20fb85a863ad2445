//! `aichaos init`: a starting scenario to edit, and the schema beside it.

use std::path::PathBuf;

use aichaos::error::{EXIT_OUTPUT_FAILED, InputError};
use aichaos::scenario;

use super::bad_input;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write it.
    #[arg(default_value = "scenario.json")]
    file: PathBuf,
    /// The client policy: a preset of a real client (e.g. openai-python, resilience4j-default)
    /// instead of the hand-written timeouts, retries, breaker and fallback.
    #[arg(long)]
    preset: Option<String>,
    /// The provider: a real API's account as published (openai-tier1, openai-tier5,
    /// anthropic-tier1, anthropic-tier4: models, prices, rate limits of the tier) instead
    /// of the generic OpenAI-like one.
    #[arg(long, value_name = "NAME")]
    provider_profile: Option<String>,
}

/// Writes a starter scenario and, unless one is there, the schema it points at. Existing
/// files are kept unless --force.
pub fn execute(a: Args, g: super::Globals) -> i32 {
    let (file, preset, profile, force) = (
        a.file.as_path(),
        a.preset.as_deref(),
        a.provider_profile.as_deref(),
        g.force,
    );
    let name = file.display().to_string();
    let doc = match aichaos::init::starter(preset, profile) {
        Ok(doc) => doc,
        Err(e) => {
            let option = if e.contains("provider profile") {
                "--provider-profile"
            } else {
                "--preset"
            };
            return bad_input(&InputError::single(&name, option, e));
        }
    };
    if file.exists() && !force {
        return bad_input(&InputError::single(
            &name,
            "",
            "exists; choose another name, or pass --force to overwrite it".to_string(),
        ));
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file_name) = file.file_name().and_then(|n| n.to_str()) else {
        return bad_input(&InputError::single(
            &name,
            "",
            "not a file name".to_string(),
        ));
    };
    let schema_name = "aichaos.schema.json";
    let write_schema = force || !dir.join(schema_name).exists();
    let schema = serde_json::to_string_pretty(&scenario::json_schema()).expect("serializes") + "\n";
    let text = serde_json::to_string_pretty(&doc).expect("serializes") + "\n";
    let written = std::fs::create_dir_all(&dir)
        .and_then(|_| {
            if write_schema {
                aichaos::output::write_atomic(&dir, schema_name, schema.as_bytes())
            } else {
                Ok(())
            }
        })
        .and_then(|_| aichaos::output::write_atomic(&dir, file_name, text.as_bytes()));
    if let Err(e) = written {
        eprintln!("error: {name}: {e}");
        return EXIT_OUTPUT_FAILED;
    }
    outln!(
        "wrote {name}{}; next: aichaos run {name}",
        if write_schema {
            format!(" and {}", dir.join(schema_name).display())
        } else {
            String::new()
        }
    );
    0
}
