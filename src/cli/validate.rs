//! `aichaos validate`: check files and report every problem, without running anything.

use std::path::PathBuf;

use super::{SetArgs, bad_input, load};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario or experiment files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    overrides: SetArgs,
}

pub fn execute(a: Args) -> i32 {
    let mut code = 0;
    for file in &a.files {
        match load(file, &a.overrides.set) {
            Ok(experiment) => {
                let names: Vec<&str> = experiment
                    .scenarios
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                outln!(
                    "ok: {}: {} scenario(s): {}",
                    file.display(),
                    names.len(),
                    names.join(", ")
                );
            }
            Err(e) => code = bad_input(&e),
        }
    }
    code
}
