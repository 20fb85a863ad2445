//! `aichaos schema` (and its markdown reference), `completions` and `man`: documents generated from the definitions
//! themselves, so they never disagree with `--help` or the parser.

use std::path::PathBuf;

use aichaos::error::EXIT_OUTPUT_FAILED;

use super::examples::command;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Write one page per command into DIR instead (aichaos.1, aichaos-run.1, ...).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct SchemaArgs {
    /// Print the scenario-format reference as markdown instead (every field with its type,
    /// unit, default, range and description), read off the same schema: it is
    /// docs/src/reference/scenario.md.
    #[arg(long)]
    markdown: bool,
}

/// The JSON Schema of scenario files, derived from the parser's own structs, or the
/// reference read off it.
pub fn schema(a: SchemaArgs) -> i32 {
    if a.markdown {
        out!("{}", aichaos::scenario::reference::markdown());
        return 0;
    }
    let schema = aichaos::scenario::json_schema();
    outln!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("serializes")
    );
    0
}

pub fn completions(a: CompletionsArgs) -> i32 {
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut command(), "aichaos", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    0
}

/// The man pages: aichaos(1) on stdout, or with `dir` one page per command written there
/// (aichaos.1, aichaos-run.1, ...), the way cargo and git ship theirs.
pub fn man(a: ManArgs) -> i32 {
    let dir = a.out_dir;
    let result = match &dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).and_then(|_| clap_mangen::generate_to(command(), dir))
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command())
                .render(&mut page)
                .map(|_| out!("{}", String::from_utf8_lossy(&page)))
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let place = dir
                .map(|d| format!("{}: ", d.display()))
                .unwrap_or_default();
            eprintln!("error: {place}cannot write the man pages: {e}");
            EXIT_OUTPUT_FAILED
        }
    }
}
