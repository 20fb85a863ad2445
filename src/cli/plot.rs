//! `aichaos plot`: redraw saved runs' charts, or overlay several runs, without simulating.

use std::path::PathBuf;

use aichaos::charts::{self, data::load_run};
use aichaos::error::EXIT_OUTPUT_FAILED;

use super::{bad_input, claim};

#[derive(clap::Args)]
pub struct Args {
    /// Run directories (holding summary.json and timeseries.csv) or experiment directories.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where to draw (default: the run's own directory for one run, output/overlay for
    /// several).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The run directories inside an experiment's output directory, in name order.
fn scenario_dirs(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("summary.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

pub fn execute(a: Args, g: super::Globals) -> i32 {
    let (dirs, out, force) = (a.dirs.as_slice(), a.out, g.force);
    // The runs were read and checked before drawing: what fails now is writing a PNG.
    let fail = |e: String| {
        eprintln!("error: {e}");
        EXIT_OUTPUT_FAILED
    };
    // An experiment's directory holds no summary of its own, only its scenarios'.
    if let [dir] = dirs
        && !dir.join("summary.json").exists()
    {
        let scenarios = scenario_dirs(dir);
        if !scenarios.is_empty() {
            let out = out.unwrap_or_else(|| dir.clone());
            let _lock = match claim(&out, force) {
                Ok(lock) => lock,
                Err(code) => return code,
            };
            let mut runs = Vec::new();
            for scenario in &scenarios {
                let run = match load_run(scenario) {
                    Ok(run) => run,
                    Err(e) => return bad_input(&e),
                };
                let target = out.join(scenario.file_name().expect("read_dir entries have names"));
                if let Err(e) = charts::render(std::slice::from_ref(&run), &target) {
                    return fail(e);
                }
                runs.push(run);
            }
            if let Err(e) = charts::render_overview(&runs, &out.join("overview.png")) {
                return fail(e);
            }
            outln!(
                "charts of {} scenarios and the overview in {}",
                runs.len(),
                out.display()
            );
            return 0;
        }
    }
    let mut runs = Vec::new();
    for dir in dirs {
        match load_run(dir) {
            Ok(run) => runs.push(run),
            Err(e) => return bad_input(&e),
        }
    }
    let out = out.unwrap_or_else(|| {
        if runs.len() == 1 {
            dirs[0].clone()
        } else {
            PathBuf::from("output").join("overlay")
        }
    });
    let _lock = match claim(&out, force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    match charts::render(&runs, &out) {
        Ok(files) => {
            for f in files {
                outln!("{}", f.display());
            }
            0
        }
        Err(e) => fail(e),
    }
}
