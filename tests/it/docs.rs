//! The documentation is kept true by tests: the scenario reference is the generated one and
//! covers every field of the schema; every relative link and anchor of docs/ and README.md
//! resolves; every command a guide shows runs, and the output it shows is what it prints;
//! every command's `--help` ends with examples, and `aichaos --help` lists guides that exist.
//!
//! How a guide marks its commands (an HTML comment just before a fenced block):
//! - `<!-- check: output -->` before a `console` block: each `$ ` line is a command, the
//!   lines under it (to the next `$ ` or the end) are exactly what it prints on stdout;
//! - `<!-- check: runs ARGS -->` before an `sh` block: each command (`\` continuations
//!   joined, `#` lines skipped) runs and must exit 0, or 1 when its scenario's expectations
//!   fail; ARGS (`--set duration=10m --replications 2`) are given to every `aichaos`
//!   command that takes them, replacing a value the guide shows, so a guide may show the
//!   full run while the test runs a short one; the output is then not checked here (the
//!   guide says which test checks the figures it quotes, if any);
//! - `<!-- check: skip REASON -->`: not run (a Slurm script, a server that runs until
//!   stopped); the reason is said.
//!
//! Every `sh` and `console` block of docs/src carries one of the three, so a command cannot
//! be shown without being run or without saying why not. Commands run in a temporary
//! directory where `models/` and `tests/` are the repository's, with this build's `aichaos`
//! first on the PATH.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::aichaos;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every markdown file of docs/ (sorted), and README.md.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("docs"), &mut files);
    files.push(root().join("README.md"));
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// The reference.

const REGENERATE: &str = "cargo run -- schema --markdown > docs/src/reference/scenario.md";

#[test]
fn the_scenario_reference_is_the_generated_one() {
    let committed = read(&root().join("docs/src/reference/scenario.md"));
    let (code, generated, stderr) = aichaos(&["schema", "--markdown"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        committed == generated,
        "docs/src/reference/scenario.md differs from what the definitions generate; \
         regenerate it with `{REGENERATE}`"
    );
}

/// 100 % of the schema's fields are in the reference, each in its object's section: read
/// off the schema here, independently of the generator.
#[test]
fn the_reference_covers_every_field_of_the_schema() {
    let schema = aichaos::scenario::json_schema();
    let reference = aichaos::scenario::reference::markdown();
    let mut fields = 0;
    for (object, def) in schema["$defs"].as_object().unwrap() {
        let properties = def["properties"].as_object().or_else(|| {
            def["anyOf"]
                .as_array()?
                .iter()
                .find_map(|b| b["properties"].as_object())
        });
        let Some(properties) = properties else {
            continue; // a closed set of names, shown as the type of the fields using it
        };
        let begin = format!("<a id=\"{}\"></a>", object.to_lowercase());
        let start = reference
            .find(&begin)
            .unwrap_or_else(|| panic!("no section for `{object}`; {REGENERATE}"));
        let section = &reference[start + begin.len()..];
        let section = &section[..section.find("<a id=").unwrap_or(section.len())];
        for (name, property) in properties {
            let mut names = vec![name.clone()];
            if let Some(keys) = property["properties"].as_object() {
                names.extend(keys.keys().map(|k| format!("{name}.{k}")));
            }
            for name in names {
                assert!(
                    section.contains(&format!("\n| `{name}` |")),
                    "`{object}.{name}` is not in the reference; {REGENERATE}"
                );
                fields += 1;
            }
        }
    }
    assert!(fields > 200, "only {fields} fields found");
}

/// Every number states its range, every text or number its unit where it has one, and
/// every field says what it is: what the reference cannot show, the definitions lack.
#[test]
fn every_field_of_the_reference_has_a_range_type_and_description() {
    let mut missing = Vec::new();
    for f in aichaos::scenario::reference::fields() {
        if f.numeric && f.range.is_empty() {
            missing.push(format!("{}.{}: no range", f.object, f.name));
        }
        if f.kind.is_empty() || f.description.trim().is_empty() {
            missing.push(format!("{}.{}: no type or description", f.object, f.name));
        }
    }
    assert!(
        missing.is_empty(),
        "state these in the doc comments of src/scenario/raw.rs:\n{}",
        missing.join("\n")
    );
    let fields = aichaos::scenario::reference::fields();
    let field = |object: &str, name: &str| {
        fields
            .iter()
            .find(|f| f.object == object && f.name == name)
            .unwrap_or_else(|| panic!("{object}.{name}"))
            .clone()
    };
    let attempts = field("Retry", "max_attempts");
    assert_eq!(
        (attempts.kind.as_str(), attempts.default.as_str()),
        ("integer", "3")
    );
    assert_eq!(attempts.range, "[1, 100]");
    let open = field("Breaker", "open_duration");
    assert_eq!(open.unit, "duration");
    assert!(open.default.contains("for count_window"), "{open:?}");
    assert_eq!(
        field("Model", "input_usd_per_mtok").unit,
        "USD per million tokens"
    );
    assert_eq!(field("Model", "ttft").default, "required");
    assert_eq!(field("Provider", "errors.500").range, "[0, 1]");
}

// ---------------------------------------------------------------------------------------
// Links.

/// The lines of a markdown text outside fenced code blocks.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// Heading anchors as mdBook and GitHub make them, and explicit `<a id>` tags.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose(text) {
        if let Some(heading) = line.strip_prefix('#') {
            let heading = heading.trim_start_matches('#').trim();
            let slug: String = heading
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect();
            out.insert(slug);
        }
        let mut rest = line;
        while let Some(at) = rest.find("<a id=\"") {
            rest = &rest[at + 7..];
            if let Some(end) = rest.find('"') {
                out.insert(rest[..end].to_string());
            }
        }
    }
    out
}

/// The relative links of a markdown text outside code: `](target)`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                out.push(target.to_string());
            }
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut dead = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = read(&file);
        for link in links(&text) {
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let name = file.strip_prefix(root()).unwrap().display().to_string();
            checked += 1;
            if !target.exists() {
                dead.push(format!("{name}: `{link}`: no such file"));
                continue;
            }
            if let Some(anchor) = anchor
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&target)).contains(anchor)
            {
                dead.push(format!("{name}: `{link}`: no such anchor"));
            }
        }
    }
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
    assert!(checked > 50, "only {checked} links found");
}

#[test]
fn the_link_checker_finds_anchors_and_skips_code() {
    let text = "# Sweeping settings: `sweep`\n```sh\n# not a heading](x.md)\n```\n<a id=\"breaker\"></a>\nsee [a](b.md#c) and [web](https://x.y)\n";
    assert_eq!(
        anchors(text),
        BTreeSet::from(["sweeping-settings-sweep".to_string(), "breaker".to_string()])
    );
    assert_eq!(links(text), ["b.md#c"]);
}

// ---------------------------------------------------------------------------------------
// The guides' commands.

/// A marked block of a guide.
struct Block {
    file: String,
    marker: String,
    lines: Vec<String>,
}

/// The marked blocks of a file; in `strict` files (the book) an `sh` or `console` block
/// must be marked.
fn marked_blocks(file: &Path, strict: bool) -> Vec<Block> {
    let text = read(file);
    let name = file.strip_prefix(root()).unwrap().display().to_string();
    let mut blocks = Vec::new();
    let mut marker: Option<String> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(m) = line
            .strip_prefix("<!-- check: ")
            .and_then(|m| m.strip_suffix(" -->"))
        {
            marker = Some(m.to_string());
            continue;
        }
        if let Some(lang) = line.strip_prefix("```")
            && !lang.is_empty()
        {
            let body: Vec<String> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .map(str::to_string)
                .collect();
            let lang = lang.trim();
            match marker.take() {
                Some(marker) => blocks.push(Block {
                    file: name.clone(),
                    marker,
                    lines: body,
                }),
                None => assert!(
                    !strict || (lang != "sh" && lang != "console"),
                    "{name}: a `{lang}` block without a `<!-- check: ... -->` marker"
                ),
            }
            continue;
        }
        if !line.trim().is_empty() {
            marker = None;
        }
    }
    blocks
}

/// Commands of an `sh` block: continuations joined, comments and blank lines skipped.
fn commands(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in lines {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The commands that take each option a `runs` marker may pass.
fn takes(subcommand: &str, option: &str) -> bool {
    match option {
        "--set" => matches!(
            subcommand,
            "run" | "validate" | "compare" | "sweep" | "incidents" | "replay"
        ),
        "--replications" => matches!(subcommand, "compare" | "sweep"),
        "--seeds" => subcommand == "incidents",
        _ => false,
    }
}

/// `line` with the marker's options: a value the line gives for an option is replaced,
/// else the option is added before any redirection or comment.
fn with_options(line: &str, options: &[(String, String)]) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() != Some(&"aichaos") {
        return line.to_string();
    }
    let subcommand = words.get(1).copied().unwrap_or("");
    let mut line = line.to_string();
    for (option, value) in options {
        if !takes(subcommand, option) {
            continue;
        }
        let given = format!(" {option} ");
        if option != "--set"
            && let Some(at) = line.find(&given)
        {
            let start = at + given.len();
            let end = line[start..].find(' ').map_or(line.len(), |e| start + e);
            line.replace_range(start..end, value);
            continue;
        }
        // Before a redirection or a trailing comment, which would swallow it.
        let cut = [" > ", " #"]
            .iter()
            .filter_map(|end| line.find(end))
            .min()
            .unwrap_or(line.len());
        line.insert_str(cut, &format!(" {option} {value}"));
    }
    line
}

/// A temporary directory to run guides in: `models/` and `tests/` are the repository's.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["models", "tests"] {
        std::os::unix::fs::symlink(root().join(name), dir.path().join(name)).unwrap();
    }
    dir
}

/// Runs a shell command line with this build's `aichaos` first on the PATH.
fn shell(dir: &Path, line: &str) -> (i32, String, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_aichaos")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

fn check_block(block: &Block, dir: &Path) {
    let (kind, args) = block
        .marker
        .split_once(' ')
        .unwrap_or((block.marker.as_str(), ""));
    match kind {
        "skip" => assert!(!args.trim().is_empty(), "{}: a skip says why", block.file),
        "output" => {
            let mut expected: Vec<(String, Vec<String>)> = Vec::new();
            for line in &block.lines {
                match line.strip_prefix("$ ") {
                    Some(command) => expected.push((command.to_string(), Vec::new())),
                    None => expected
                        .last_mut()
                        .unwrap_or_else(|| panic!("{}: output before a `$ ` line", block.file))
                        .1
                        .push(line.clone()),
                }
            }
            for (command, shown) in expected {
                let (code, stdout, stderr) = shell(dir, &command);
                assert!(
                    code == 0 || code == 1,
                    "{}: `{command}` exits {code}: {stderr}",
                    block.file
                );
                if !shown.is_empty() {
                    let printed: Vec<&str> = stdout.lines().collect();
                    assert_eq!(
                        shown, printed,
                        "{}: `{command}` prints otherwise than shown",
                        block.file
                    );
                }
            }
        }
        "runs" => {
            let words: Vec<&str> = args.split_whitespace().collect();
            let options: Vec<(String, String)> = words
                .chunks(2)
                .map(|pair| (pair[0].to_string(), pair.get(1).unwrap_or(&"").to_string()))
                .collect();
            for command in commands(&block.lines) {
                let line = with_options(&command, &options);
                let (code, _, stderr) = shell(dir, &line);
                assert!(
                    code == 0 || code == 1,
                    "{}: `{line}` exits {code}: {stderr}",
                    block.file
                );
            }
        }
        other => panic!("{}: unknown marker `check: {other}`", block.file),
    }
}

#[test]
fn with_options_replaces_or_adds_what_a_marker_gives() {
    let options = vec![
        ("--set".to_string(), "duration=5m".to_string()),
        ("--replications".to_string(), "2".to_string()),
    ];
    assert_eq!(
        with_options("aichaos compare m.json --replications 8 --json", &options),
        "aichaos compare m.json --replications 2 --json --set duration=5m"
    );
    assert_eq!(
        with_options("aichaos run m.json > out.txt", &options),
        "aichaos run m.json --set duration=5m > out.txt"
    );
    assert_eq!(
        with_options("aichaos run m.json # a comment", &options),
        "aichaos run m.json --set duration=5m # a comment"
    );
    assert_eq!(
        with_options("aichaos plot a b", &options),
        "aichaos plot a b"
    );
}

/// Every guide's commands run as its markers say (see the module's documentation), and the
/// README's marked blocks too.
#[test]
fn every_command_a_guide_shows_runs_as_shown() {
    let mut blocks = 0;
    for file in markdown_files() {
        let in_book = file.starts_with(root().join("docs/src"));
        let dir = workdir();
        for block in marked_blocks(&file, in_book) {
            check_block(&block, dir.path());
            blocks += 1;
        }
        // The tour's chart is the README's: regenerated here, byte for byte (plot redraws
        // a saved run's charts exactly).
        if file.ends_with("docs/src/tour.md") {
            let drawn = std::fs::read(dir.path().join("output/compare/success_rate.png")).unwrap();
            let committed =
                std::fs::read(root().join("docs/src/images/retry-storm-success-rate.png")).unwrap();
            assert!(
                drawn == committed,
                "docs/src/images/retry-storm-success-rate.png is not what the tour draws; copy \
                 output/compare/success_rate.png there after the tour's commands"
            );
        }
    }
    assert!(blocks >= 10, "only {blocks} marked blocks");
}

// ---------------------------------------------------------------------------------------
// --help.

#[test]
fn every_command_help_ends_with_examples_and_the_top_lists_the_guides() {
    let (code, top, _) = aichaos(&["--help"]);
    assert_eq!(code, 0);
    let guides: Vec<&str> = top
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("docs/"))
        .collect();
    assert!(guides.len() >= 8, "{top}");
    for guide in guides {
        let path = guide.split_whitespace().next().unwrap();
        assert!(
            root().join("docs").join(path).is_file(),
            "`aichaos --help` lists docs/{path}, which does not exist"
        );
    }
    let commands: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 15, "{commands:?}");
    for command in commands {
        let (code, help, _) = aichaos(&[command, "--help"]);
        assert_eq!(code, 0, "{command}");
        let examples = help
            .split("Examples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("`aichaos {command} --help` has no examples"));
        assert!(
            examples.contains(&format!("  aichaos {command} "))
                || examples.contains(&format!("  aichaos {command}\n")),
            "`aichaos {command} --help`'s examples do not run it:\n{examples}"
        );
    }
}
