//! Charts: every run draws them, they are deterministic, `plot` redraws them byte for byte,
//! overlays show every run, and bad saved results are refused cleanly.

use std::path::Path;
use std::process::Command;

use crate::support::scenario;
use aichaos::charts::data::{RunData, load_run};
use aichaos::charts::{PercentilePoint, YAxis, credits_axis, legend, percentile_points};
use serde_json::json;

const CHARTS: [&str; 5] = [
    "success_rate.png",
    "latency.png",
    "load.png",
    "credits.png",
    "latency_cdf.png",
];

fn world(seed: u64, policy: serde_json::Value) -> aichaos::scenario::Scenario {
    let mut sc = scenario(json!({
        "duration": "20m",
        "bucket": "30s",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" }, "policy": policy }],
        "providers": [{ "name": "p", "capacity": { "slots": 8 }, "errors": { "500": 0.02 },
            "credits": { "balance_usd": 0.5 }, "outages": [{ "start": "5m", "duration": "2m", "behaviour": "hang" }] }],
        "chaos": { "failure_rate": 0.02, "start": "12m", "end": "14m" },
        "expect": { "min_success_rate": 0.9 }
    }));
    sc.seed = seed;
    sc
}

fn run_with_charts(dir: &Path, seed: u64) {
    let sc = world(
        seed,
        json!({ "timeout": { "total": "3s" }, "breaker": { "failure_threshold": 5 } }),
    );
    aichaos::run::run_to_dir(&sc, dir, true).unwrap();
}

/// Decodes a PNG: (width, height, RGB pixels).
pub fn decode(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let pixels = buffer[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

fn luminance_variance(pixels: &[[u8; 3]]) -> f64 {
    let lum: Vec<f64> = pixels
        .iter()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64
}

#[test]
fn every_run_draws_its_charts_and_they_are_not_blank() {
    let dir = tempfile::tempdir().unwrap();
    run_with_charts(dir.path(), 1);
    for chart in CHARTS {
        let (width, height, pixels) = decode(&dir.path().join(chart));
        assert_eq!((width, height), (1280, 720), "{chart}");
        let variance = luminance_variance(&pixels);
        assert!(
            variance > 150.0,
            "{chart} looks blank: luminance variance {variance}"
        );
        // Text is drawn: the legend column holds dark glyph pixels.
        let legend_dark = pixels
            .iter()
            .enumerate()
            .filter(|(i, p)| (*i as u32 % width) > 1040 && p.iter().all(|c| *c < 60))
            .count();
        assert!(
            legend_dark > 100,
            "{chart}: no legend text ({legend_dark} dark pixels)"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn charts_render_identically_twice() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_with_charts(a.path(), 2);
    run_with_charts(b.path(), 2);
    for chart in CHARTS {
        assert!(
            std::fs::read(a.path().join(chart)).unwrap()
                == std::fs::read(b.path().join(chart)).unwrap(),
            "{chart} differs"
        );
    }
}

fn aichaos(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn plot_of_a_saved_run_equals_the_runs_own_charts() {
    let (run, redraw) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_with_charts(run.path(), 3);
    let (code, stderr) = aichaos(&[
        "plot",
        run.path().to_str().unwrap(),
        "--out",
        redraw.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    for chart in CHARTS {
        assert!(
            std::fs::read(run.path().join(chart)).unwrap()
                == std::fs::read(redraw.path().join(chart)).unwrap(),
            "{chart} differs"
        );
    }
}

/// Pixels of exactly this colour in the legend column.
fn legend_pixels(path: &Path, rgb: [u8; 3]) -> usize {
    let (width, _, pixels) = decode(path);
    pixels
        .iter()
        .enumerate()
        .filter(|(i, p)| (*i as u32 % width) > 1040 && **p == rgb)
        .count()
}

#[test]
fn an_overlay_shows_every_run_in_its_legend() {
    let (a, b, overlay) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let naive = world(
        4,
        json!({ "retry": { "max_attempts": 5, "backoff": { "kind": "constant", "base": "100ms" } } }),
    );
    let mut careful = world(
        4,
        json!({ "retry": { "max_attempts": 2, "backoff": { "jitter": "full" } }, "breaker": {} }),
    );
    careful.name = "careful".into();
    aichaos::run::run_to_dir(&naive, a.path(), false).unwrap();
    aichaos::run::run_to_dir(&careful, b.path(), false).unwrap();
    let (code, stderr) = aichaos(&[
        "plot",
        a.path().to_str().unwrap(),
        b.path().to_str().unwrap(),
        "--out",
        overlay.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // Runs take the palette's first colours: blue (0, 114, 178), then vermillion (213, 94, 0).
    for chart in [
        "success_rate.png",
        "latency.png",
        "load.png",
        "credits.png",
        "latency_cdf.png",
    ] {
        let path = overlay.path().join(chart);
        assert!(
            legend_pixels(&path, [0, 114, 178]) > 20,
            "{chart}: first run missing from the legend"
        );
        assert!(
            legend_pixels(&path, [213, 94, 0]) > 20,
            "{chart}: second run missing from the legend"
        );
    }
}

#[track_caller]
fn refused(args: &[&str], expected: &[&str]) {
    let (code, stderr) = aichaos(args);
    assert_eq!(code, 2, "{stderr}");
    for piece in expected {
        assert!(stderr.contains(piece), "expected `{piece}` in: {stderr}");
    }
}

#[test]
fn plot_refuses_missing_truncated_and_foreign_results() {
    let empty = tempfile::tempdir().unwrap();
    refused(
        &["plot", empty.path().to_str().unwrap()],
        &["summary.json", "aichaos run"],
    );

    let run = tempfile::tempdir().unwrap();
    run_with_charts(run.path(), 5);
    let out = tempfile::tempdir().unwrap();
    let csv = run.path().join("timeseries.csv");
    let original = std::fs::read_to_string(&csv).unwrap();
    let plot_refused = |expected: &[&str]| {
        refused(
            &[
                "plot",
                run.path().to_str().unwrap(),
                "--out",
                out.path().to_str().unwrap(),
            ],
            expected,
        )
    };

    // Truncated mid-line.
    std::fs::write(&csv, &original[..original.len() - 40]).unwrap();
    plot_refused(&["timeseries.csv:", "truncated"]);
    // Whole rows missing.
    let lines: Vec<&str> = original.lines().collect();
    std::fs::write(&csv, lines[..lines.len() - 3].join("\n") + "\n").unwrap();
    plot_refused(&["timeseries.csv:", "rows"]);
    // A damaged cell in a column no chart draws (`retries`) is refused all the same, at its
    // line: the charts keep only the columns they draw, but every cell is checked.
    let retries = lines[0].split(',').position(|c| c == "retries").unwrap();
    let mut damaged: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut row: Vec<&str> = lines[3].split(',').collect();
    row[retries] = "x";
    damaged[3] = row.join(",");
    std::fs::write(&csv, damaged.join("\n") + "\n").unwrap();
    plot_refused(&["timeseries.csv:4:", "`retries`: `x` is not a number"]);
    // Bytes that are not UTF-8, in the third data row: refused at that line.
    let mut bytes = original.clone().into_bytes();
    let at = lines[..3].iter().map(|l| l.len() + 1).sum::<usize>();
    bytes[at] = 0xff;
    std::fs::write(&csv, bytes).unwrap();
    plot_refused(&["timeseries.csv:4:", "UTF-8"]);
    // A header from another version.
    std::fs::write(&csv, original.replacen("time_s,", "t,", 1)).unwrap();
    plot_refused(&["timeseries.csv:1:", "columns"]);
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing written on refusal"
    );
}

#[test]
fn an_experiment_draws_an_overview() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("experiment.json");
    let mut base = crate::support::base();
    base["duration"] = json!("2m");
    std::fs::write(&file, json!({ "name": "exp", "base": base, "scenarios": [ { "name": "one" }, { "name": "two", "expect": { "min_success_rate": 0.5 } } ] }).to_string()).unwrap();
    let out = dir.path().join("out");
    let (code, stderr) = aichaos(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (width, _, pixels) = decode(&out.join("overview.png"));
    assert_eq!(width, 1280);
    assert!(luminance_variance(&pixels) > 150.0);
    assert!(out.join("one/success_rate.png").is_file() && out.join("two/latency.png").is_file());
}

/// Crimson pixels (an incident strip) in the plot area's top rows.
fn incident_strip_pixels(path: &Path) -> usize {
    let (width, _, pixels) = decode(path);
    pixels
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            let (x, y) = (*i as u32 % width, *i as u32 / width);
            x < 1000
                && (40..80).contains(&y)
                && i32::from(p[0]) - i32::from(p[1]) > 80
                && p[2] > p[1]
        })
        .count()
}

#[test]
fn incidents_are_marked_along_the_top() {
    let policy = json!({ "timeout": { "total": "3s" } });
    let without = tempfile::tempdir().unwrap();
    aichaos::run::run_to_dir(&world(1, policy.clone()), without.path(), true).unwrap();
    let with = tempfile::tempdir().unwrap();
    let mut sc = world(1, policy);
    sc.slos = vec![aichaos::slo::SloModel {
        name: "availability".into(),
        group: None,
        indicator: aichaos::slo::Indicator::SuccessRate,
        target: 0.99,
        window_ns: 60 * aichaos::time::NS_PER_S,
        step_ns: 10 * aichaos::time::NS_PER_S,
        min_requests: 1,
        metastable_after_ns: 60 * aichaos::time::NS_PER_S,
        alerts: vec![],
    }];
    aichaos::run::run_to_dir(&sc, with.path(), true).unwrap();
    for chart in ["success_rate.png", "latency.png", "load.png"] {
        assert_eq!(
            incident_strip_pixels(&without.path().join(chart)),
            0,
            "{chart}"
        );
        // The 2-minute outage of a 20-minute run: a tenth of the plot's width at least.
        let marked = incident_strip_pixels(&with.path().join(chart));
        assert!(marked > 1_000, "{chart}: {marked}");
    }
}

/// A scenario of the shipped seed experiment (a few dozen requests), run without charts
/// and read back as the charts read it.
fn seed_run(name: &str, dir: &Path) -> RunData {
    let file = format!("{}/models/seed-experiment.json", env!("CARGO_MANIFEST_DIR"));
    let experiment = aichaos::scenario::load_file(&file).unwrap();
    let sc = experiment
        .scenarios
        .iter()
        .find(|s| s.name == name)
        .unwrap();
    aichaos::run::run_to_dir(sc, dir, false).unwrap();
    load_run(dir).unwrap()
}

fn world_run(seed: u64, dir: &Path) -> RunData {
    run_with_charts(dir, seed);
    load_run(dir).unwrap()
}

#[track_caller]
fn check_covers_every_bucket_once(run: &RunData, points: &[PercentilePoint]) {
    let buckets: Vec<usize> = points.iter().flat_map(|p| p.buckets.clone()).collect();
    assert_eq!(buckets, (0..run.series.len()).collect::<Vec<_>>());
    let successes: f64 = run.series.values("successes").iter().sum();
    assert_eq!(
        points.iter().map(|p| p.samples).sum::<u64>(),
        successes as u64
    );
}

#[test]
fn percentile_lines_of_a_small_run_stand_on_enough_requests() {
    let dir = tempfile::tempdir().unwrap();
    // 50 requests over 5 minutes in 10-second buckets: 0 to 4 successes a bucket.
    let run = seed_run("High Load", dir.path());
    let p99_column = run.series.column("latency_p99_ms");
    for (column, quantile, needed) in [
        ("latency_p50_ms", 0.50, 5),
        ("latency_p95_ms", 0.95, 20),
        ("latency_p99_ms", 0.99, 100),
    ] {
        let points = percentile_points(&run, column, quantile);
        check_covers_every_bucket_once(&run, &points);
        let values = run.series.column(column);
        for p in points.iter().filter(|p| p.samples > 0) {
            // A widened bucket's value lies among its buckets' values.
            let own: Vec<f64> = values.slice(p.buckets.clone()).present().collect();
            let value = p.value_ms.unwrap();
            assert!(own.contains(&value), "{column} {p:?}");
            if quantile < 0.99 {
                assert!(p.samples >= needed, "{column}: {p:?}");
            }
        }
        if quantile == 0.50 {
            let drawn = points.iter().filter(|p| p.samples > 0).count();
            assert!((5..=10).contains(&drawn), "{drawn} p50 points");
        }
    }
    // 50 successes cannot make a p99 over time: one point, the slowest request's latency.
    let p99 = percentile_points(&run, "latency_p99_ms", 0.99);
    let slowest = p99_column.present().fold(0.0, f64::max);
    let drawn: Vec<_> = p99.iter().filter(|p| p.samples > 0).collect();
    assert_eq!(drawn.len(), 1, "{p99:?}");
    assert_eq!(drawn[0].value_ms, Some(slowest));
    let successes: f64 = run.series.values("successes").iter().sum();
    assert!(successes < 100.0);
    assert_eq!(drawn[0].samples, successes as u64);
}

#[test]
fn percentile_lines_of_a_busy_run_keep_every_bucket() {
    let dir = tempfile::tempdir().unwrap();
    // About 300 requests a bucket: enough for a p99 each, outside the outage.
    let run = world_run(6, dir.path());
    let points = percentile_points(&run, "latency_p99_ms", 0.99);
    check_covers_every_bucket_once(&run, &points);
    let single = points.iter().filter(|p| p.buckets.len() == 1).count();
    assert!(single + 3 >= run.series.len(), "{points:?}");
}

#[test]
fn the_credits_chart_shows_a_ten_cent_account_next_to_a_twenty_dollar_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = seed_run("Token Exhaustion Sim", dir.path());
    let axis = credits_axis(std::slice::from_ref(&run));
    let primary: Vec<f64> = run.series.column("primary_credits_usd").present().collect();
    let fallback = run.series.column("fallback_credits_usd");
    assert!(primary.iter().all(|usd| *usd < 0.1) && fallback.get(0) > Some(19.9));
    for usd in &primary {
        let height = axis.fraction(*usd);
        assert!(height > 0.2, "${usd} at {height} of {axis:?}");
    }
    for usd in fallback.present() {
        assert!(axis.fraction(usd) < 1.0, "{axis:?}");
    }
}

#[test]
fn the_credits_chart_of_comparable_balances_stays_linear_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = format!(
        "{}/models/credit-exhaustion.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let sc = aichaos::scenario::load_file(&file)
        .unwrap()
        .scenarios
        .remove(0);
    aichaos::run::run_to_dir(&sc, dir.path(), false).unwrap();
    let run = load_run(dir.path()).unwrap();
    match credits_axis(&[run]) {
        YAxis::Linear { low, high } => assert!(low == 0.0 && (50.0..60.0).contains(&high)),
        log => panic!("{log:?}"),
    }
}

#[test]
fn the_load_chart_lists_no_empty_series() {
    let dir = tempfile::tempdir().unwrap();
    // A failure stacked only where the run had one: a series of zeros is neither drawn nor
    // listed. This world answers 5xx, never 429, and nothing times out.
    let sc = crate::support::scenario(serde_json::json!({
        "duration": "5m",
        "providers": [{ "name": "p", "errors": { "500": 0.2 } }]
    }));
    aichaos::run::run_to_dir(&sc, dir.path(), false).unwrap();
    let run = load_run(dir.path()).unwrap();
    for (column, drawn) in [
        ("rate_limited", false),
        ("timeouts", false),
        ("server_errors", true),
    ] {
        let any = run.series.values(column).iter().any(|n| *n > 0.0);
        assert_eq!(any, drawn, "{column}");
    }
    assert_eq!(
        legend(&[run], "load.png").unwrap(),
        [
            "offered requests",
            "attempts sent (retries included)",
            "5xx"
        ]
    );
}

#[test]
fn the_load_chart_shows_the_capacity_of_one_run_and_of_an_overlay() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, two) = (world_run(7, a.path()), world_run(8, b.path()));
    assert!(one.summary.providers[0].capacity_per_s.is_some());
    let single = legend(std::slice::from_ref(&one), "load.png").unwrap();
    assert!(
        single.contains(&"provider capacity (est.)".to_string()),
        "{single:?}"
    );
    // Failures this run has are stacked, others not.
    for (column, label) in [
        ("rate_limited", "429 rate limited"),
        ("timeouts", "timeouts"),
        ("server_errors", "5xx"),
    ] {
        let happened = one.series.values(column).iter().any(|n| *n > 0.0);
        assert_eq!(single.contains(&label.to_string()), happened, "{label}");
    }
    assert!(single.contains(&"5xx".to_string()), "{single:?}");
    let overlay = legend(&[one, two], "load.png").unwrap();
    assert!(
        overlay.contains(&"provider capacity (est.)".to_string()),
        "{overlay:?}"
    );
}

/// Rows of the plot area holding a horizontal run of at least `min` pixels of `rgb`.
fn rows_with(pixels: &[[u8; 3]], width: u32, rgb: [u8; 3], min: usize) -> Vec<u32> {
    (0..pixels.len() as u32 / width)
        .filter(|y| {
            let row = &pixels[(y * width) as usize..((y + 1) * width) as usize];
            row[..1000].iter().filter(|p| **p == rgb).count() >= min
        })
        .collect()
}

#[test]
fn the_expected_success_rate_lies_thin_beneath_the_data() {
    let dir = tempfile::tempdir().unwrap();
    // Every request succeeds and 100 % is expected: the line and the reference coincide.
    let file = format!("{}/models/seed-experiment.json", env!("CARGO_MANIFEST_DIR"));
    let experiment = aichaos::scenario::load_file(&file).unwrap();
    let sc = &experiment.scenarios[0];
    assert_eq!(sc.name, "Normal Load");
    aichaos::run::run_to_dir(sc, dir.path(), true).unwrap();
    let (width, _, pixels) = decode(&dir.path().join("success_rate.png"));
    let (blue, green) = ([0, 114, 178], [0, 158, 115]);
    let data_rows = rows_with(&pixels, width, blue, 300);
    let reference_rows = rows_with(&pixels, width, green, 30);
    // One pixel high, where the data line is three...
    assert_eq!(data_rows.len(), 3, "{data_rows:?}");
    assert_eq!(reference_rows.len(), 1, "{reference_rows:?}");
    let y = reference_rows[0];
    assert!(data_rows.contains(&(y - 1)) && data_rows.contains(&(y + 1)));
    // ...and in every column the data line covers, the data shows, not the reference.
    let at = |x: u32, y: u32| pixels[(y * width + x) as usize];
    let covered: Vec<u32> = (0..1000)
        .filter(|&x| at(x, y - 1) == blue && at(x, y + 1) == blue)
        .collect();
    assert!(covered.len() > 300, "{}", covered.len());
    for x in covered {
        assert_eq!(at(x, y), blue, "column {x}");
    }
}

/// Runs of an overlay differ by dash as well as colour: the second run's legend sample is
/// broken into dashes. References every run shares (the same expected success rate) are
/// drawn and listed once.
#[test]
fn an_overlay_tells_runs_apart_by_dash_and_draws_shared_references_once() {
    let (a, b, overlay) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (one, two) = (world_run(7, a.path()), world_run(8, b.path()));
    let labels = legend(&[one, two], "success_rate.png").unwrap();
    let expected: Vec<&String> = labels.iter().filter(|l| l.contains("expected")).collect();
    assert_eq!(expected, ["expected >= 90%"], "{labels:?}");
    let (code, stderr) = aichaos(&[
        "plot",
        a.path().to_str().unwrap(),
        b.path().to_str().unwrap(),
        "--out",
        overlay.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    for chart in ["success_rate.png", "latency.png", "latency_cdf.png"] {
        let (width, _, pixels) = decode(&overlay.path().join(chart));
        // Stretches of a colour along a legend row, in the sample's columns.
        let dashes = |rgb: [u8; 3]| {
            (0..pixels.len() as u32 / width)
                .map(|y| {
                    let row = &pixels[(y * width + 1036) as usize..(y * width + 1070) as usize];
                    row.windows(2)
                        .filter(|w| w[1] == rgb && w[0] != rgb)
                        .count()
                })
                .max()
                .unwrap()
        };
        assert_eq!(dashes([0, 114, 178]), 1, "{chart}: the first run is solid");
        assert!(
            dashes([213, 94, 0]) >= 2,
            "{chart}: the second run is dashed"
        );
    }
}
