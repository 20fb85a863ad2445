//! Ctrl-C: a run stops cleanly with exit 130 and leaves nothing that looks complete; an
//! interrupted sweep or incident search keeps its finished runs, and `--resume` ends with
//! exactly the files of an uninterrupted one.

use std::path::Path;
use std::process::{Child, Command};

use crate::support::start;
use std::time::Duration;

const STORM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/outage-retry-storm.json"
);
const LONG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/thousand-hours.json");

/// Sends SIGINT after `after`, and waits: (exit code, stderr).
fn interrupt(child: Child, after: Duration) -> (i32, String) {
    std::thread::sleep(after);
    signal_and_wait(child)
}

/// Sends SIGINT once `progress` holds its header and at least one finished run (so the
/// interruption falls mid-way however fast the machine is), and waits: (exit code, stderr).
fn interrupt_after_first_run(child: Child, progress: &Path) -> (i32, String) {
    let started = std::time::Instant::now();
    while std::fs::read_to_string(progress).map_or(0, |t| t.lines().count()) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no run finished within a minute"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    signal_and_wait(child)
}

fn signal_and_wait(child: Child) -> (i32, String) {
    // The shell's builtin `kill`: no procps needed.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_interrupted_run_exits_130_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = start(&["run", LONG, "--out", out.to_str().unwrap(), "--no-charts"]);
    let (code, stderr) = interrupt(child, Duration::from_millis(1500));
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("interrupted at simulated time"), "{stderr}");
    let left: Vec<String> = files(&out).into_iter().map(|(name, _)| name).collect();
    assert_eq!(left, vec![".aichaos-output".to_string()], "{left:?}");
}

fn sweep_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "sweep",
        STORM,
        "--scenario",
        "naive retries",
        "--set",
        "duration=30m",
        "--param",
        "traffic[app].policy.retry.max_attempts=1,2,3,4,5,6",
        "--param",
        "traffic[app].policy.retry.backoff.jitter=none,full",
        "--replications",
        "3",
        "--threads",
        "1",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let resumed = dir.path().join("resumed");
    let (whole_s, resumed_s) = (whole.to_str().unwrap(), resumed.to_str().unwrap());

    let child = start(&sweep_args(resumed_s, &[]));
    let progress = resumed.join("sweep-progress.jsonl");
    let (code, stderr) = interrupt_after_first_run(child, &progress);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let kept = std::fs::read_to_string(&progress).unwrap().lines().count() - 1;
    assert!(
        kept < 36,
        "the sweep was not interrupted ({kept} runs kept)"
    );
    assert!(!resumed.join("sweep.json").exists());

    // Without --resume the kept runs are not thrown away silently.
    let (code, _, stderr) = crate::support::aichaos(&sweep_args(resumed_s, &["--quiet"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("add --resume"), "{stderr}");

    let (code, _, stderr) = crate::support::aichaos(&sweep_args(resumed_s, &["--resume"]));
    assert_eq!(code, 0, "{stderr}");
    if kept > 0 {
        assert!(
            stderr.contains(&format!("resuming: {kept} finished runs")),
            "{stderr}"
        );
    }
    assert!(
        !progress.exists(),
        "the progress file is removed once the sweep completes"
    );

    let (code, _, stderr) = crate::support::aichaos(&sweep_args(whole_s, &[]));
    assert_eq!(code, 0, "{stderr}");
    let (a, b) = (files(&whole), files(&resumed));
    assert_eq!(
        a.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        b.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after --resume");
    }
}

/// `--replications auto` keeps its finished runs too: resumed, the procedure takes them
/// from the progress file and reaches the same stages and the same files.
#[test]
fn an_interrupted_sequential_sweep_resumes_to_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, resumed) = (dir.path().join("whole"), dir.path().join("resumed"));
    let args = |out: &std::path::Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = sweep_args(out.to_str().unwrap(), extra)
            .into_iter()
            .map(String::from)
            .collect();
        let at = a.iter().position(|x| x == "--replications").unwrap();
        a.splice(
            at..at + 2,
            ["--replications", "auto", "--budget", "100"].map(String::from),
        );
        a
    };
    let child = start(
        &args(&resumed, &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let progress = resumed.join("sweep-progress.jsonl");
    let (code, stderr) = interrupt_after_first_run(child, &progress);
    assert_eq!(code, 130, "{stderr}");
    let kept = std::fs::read_to_string(&progress).unwrap().lines().count() - 1;
    assert!(
        kept < 100,
        "the sweep was not interrupted ({kept} runs kept)"
    );
    let run = |a: Vec<String>| {
        let (code, _, stderr) =
            crate::support::aichaos(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 0, "{stderr}");
    };
    run(args(&resumed, &["--resume"]));
    run(args(&whole, &[]));
    let (a, b) = (files(&whole), files(&resumed));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after --resume");
    }
}

#[test]
fn an_interrupted_incident_search_resumes_to_the_same_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let out_s = out.to_str().unwrap();
    let args = |extra: &'static str| {
        let mut a = vec![
            "incidents",
            STORM,
            "--scenario",
            "naive retries",
            "--set",
            "duration=30m",
            "--seeds",
            "1..40",
            "--threads",
            "1",
            "--json",
            "--out",
            out_s,
        ];
        if !extra.is_empty() {
            a.push(extra);
        }
        a
    };
    let progress = out.join("incidents-progress.jsonl");
    let (code, stderr) = interrupt_after_first_run(start(&args("")), &progress);
    assert_eq!(code, 130, "{stderr}");
    let (code, resumed, stderr) = crate::support::aichaos(&args("--resume"));
    assert_eq!(code, 0, "{stderr}");
    let (code, whole, stderr) = crate::support::aichaos(&args("--force"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(resumed, whole);
}

/// A write that fails midway (here: `summary.json` cannot be put in place) leaves no file
/// that looks complete and no temporary file behind; the error says what failed.
#[test]
fn a_failed_write_leaves_nothing_that_looks_complete() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("summary.json")).unwrap();
    let sc = crate::support::scenario(serde_json::json!({ "duration": "2m" }));
    let err = aichaos::run::run_to_dir(&sc, dir.path(), false).unwrap_err();
    assert!(err.to_string().contains("cannot write"), "{err}");
    assert!(dir.path().join("summary.json").is_dir());
    let leftovers: Vec<String> = files(dir.path())
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
