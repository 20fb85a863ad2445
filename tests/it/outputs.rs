//! Outputs under attack: two commands on one directory, a full disk, SIGTERM. Whatever
//! happens, no result is silently another run's, no temporary file survives, and the exit
//! code says what kind of failure it was (2 refused, 3 an output could not be written,
//! 143 terminated).

use std::path::Path;
use std::process::{Child, Command};

use crate::support::start;
use std::time::{Duration, Instant};

const LONG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/thousand-hours.json");
const SMALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/rate-limit-429.json");

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// Waits until a file whose name contains `part` appears in `dir` (the run is writing).
#[track_caller]
fn wait_for_file(dir: &Path, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(dir.is_dir() && names(dir).iter().any(|n| n.contains(part))) {
        assert!(Instant::now() < deadline, "no {part} in {}", dir.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    // The shell's builtin `kill`: no procps needed.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{name} {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A second command on a directory being written is refused (exit 2) and touches nothing;
/// SIGTERM (what a CI timeout sends) then stops the first as Ctrl-C would: exit 143, its
/// temporary file removed.
#[test]
fn a_second_writer_is_refused_and_sigterm_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap();
    let first = start(&["run", LONG, "--out", out_s, "--no-charts"]);
    let pid = first.id();
    wait_for_file(&out, &format!(".timeseries.csv.{pid}.partial"));

    let (code, _, stderr) =
        crate::support::aichaos(&["run", SMALL, "--out", out_s, "--no-charts", "--force"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("another aichaos command"), "{stderr}");
    assert_eq!(
        names(&out),
        [
            ".aichaos-output".to_string(),
            format!(".timeseries.csv.{pid}.partial")
        ]
    );

    signal(&first, "TERM");
    let output = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted at simulated time"), "{stderr}");
    assert_eq!(names(&out), [".aichaos-output"]);

    // The directory is free again.
    let (code, _, stderr) = crate::support::aichaos(&["run", SMALL, "--out", out_s, "--no-charts"]);
    assert_eq!(code, 0, "{stderr}");
}

/// Runs `aichaos args` with the file-size limit at `kib` KiB, so that a write beyond it fails
/// as on a full disk (EFBIG instead of ENOSPC; SIGXFSZ ignored, as a full disk sends none).
fn with_file_size_limit(kib: u32, args: &[&str]) -> (i32, String) {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "trap '' XFSZ; ulimit -f {}; exec '{}' {}",
        kib * 2, // POSIX sh counts 512-byte blocks
        env!("CARGO_BIN_EXE_aichaos"),
        quoted.join(" ")
    );
    let output = Command::new("sh").args(["-c", &script]).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// A full disk is not bad input: exit 3, no temporary file left, and the error says which
/// outputs are complete.
#[test]
fn a_full_disk_exits_3_names_what_is_complete_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = |kib: u32, name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let out_s = out.to_str().unwrap().to_string();
        let mut args = vec!["run", SMALL, "--scenario", "Retry-After honoured", "--out"];
        args.push(&out_s);
        args.extend_from_slice(extra);
        let (code, stderr) = with_file_size_limit(kib, &args);
        (code, stderr, names(&out))
    };

    // The time series does not fit: nothing is kept.
    let (code, stderr, left) = run(4, "csv", &["--no-charts"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("timeseries.csv"), "{stderr}");
    assert!(stderr.contains("nothing of this run was kept"), "{stderr}");
    assert_eq!(left, [".aichaos-output"]);

    // The results fit, a chart does not: the results are complete, and said to be.
    let (code, stderr, left) = run(40, "png", &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains(".png"), "{stderr}");
    assert!(
        stderr.contains("complete nonetheless: timeseries.csv, summary.json"),
        "{stderr}"
    );
    assert_eq!(left, [".aichaos-output", "summary.json", "timeseries.csv"]);
}

#[test]
fn a_dangling_symlink_out_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("results");
    std::os::unix::fs::symlink(dir.path().join("gone"), &link).unwrap();
    let (code, _, stderr) =
        crate::support::aichaos(&["run", SMALL, "--out", link.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}
