//! `aichaos fit`: request logs in, a calibrated scenario out (`aichaos::fit`).

use std::path::PathBuf;

use aichaos::error::{EXIT_BAD_INPUT, InputError};
use aichaos::fit::{Fit, Options, read::Format};
use aichaos::time::parse_duration;

use super::{bad_input, write_failed};

#[derive(clap::Args)]
pub struct Args {
    /// Request logs: aichaos's own (`run --request-log`), OpenTelemetry GenAI spans as OTLP
    /// JSON, or any CSV / JSON lines with --column.
    #[arg(required = true, value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// The scenario to write; fit.json and the charts go beside it.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The logs' format (default: detected from each file's first record).
    #[arg(long, value_parser = ["aichaos", "otel", "columns"])]
    format: Option<String>,
    /// A column of a `columns` log: FIELD=COLUMN, FIELD one of time, request_id, attempt,
    /// provider, model, status, outcome, latency, ttft, input_tokens, output_tokens,
    /// ratelimit_limit_requests, ratelimit_remaining_requests, ratelimit_limit_tokens,
    /// ratelimit_remaining_tokens (repeatable). Times and durations take their unit from the
    /// column's name (_ns, _us, _ms, else seconds). The rate-limit fields are also found
    /// unmapped under OpenAI's (x-ratelimit-limit-requests...) and Anthropic's
    /// (anthropic-ratelimit-requests-limit...) header names.
    #[arg(long = "column", value_name = "FIELD=COLUMN")]
    columns: Vec<String>,
    /// Width of the time buckets errors, outages, rate limits and traffic are counted in.
    #[arg(long, default_value = "1m")]
    bucket: String,
    /// Replay the log's first attempts as the traffic instead of an hourly schedule (one
    /// log file of one provider and model).
    #[arg(long)]
    replay: bool,
    /// The scenario's name (default: the --out file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Skip the PNG charts.
    #[arg(long)]
    no_charts: bool,
}

pub fn execute(a: Args, g: super::Globals) -> i32 {
    let out_text = a.out.display().to_string();
    let bucket_ns = match parse_duration(&a.bucket) {
        Ok(ns) if ns > 0 => ns,
        Ok(_) => return bad_input(&InputError::single(&out_text, "--bucket", "must be > 0")),
        Err(e) => return bad_input(&InputError::single(&out_text, "--bucket", e)),
    };
    let mut columns = Vec::new();
    for text in &a.columns {
        match text.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                columns.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => {
                return bad_input(&InputError::single(
                    text,
                    "--column",
                    "expected FIELD=COLUMN, e.g. time=ts",
                ));
            }
        }
    }
    if let Err(e) = aichaos::fit::read::columns(&columns) {
        return bad_input(&InputError::single(&out_text, "--column", e));
    }
    if a.replay && a.logs.len() > 1 {
        return bad_input(&InputError::single(
            &out_text,
            "--replay",
            "replays one log file; give one",
        ));
    }
    if a.out.exists() && !g.force {
        return bad_input(&InputError::single(
            &out_text,
            "--out",
            "exists; pass --force to replace it",
        ));
    }
    let format = a
        .format
        .as_deref()
        .map(|f| Format::parse(f).expect("clap checked it"));
    let mut fit = Fit::new(Options {
        format,
        columns,
        bucket_ns,
        replay: a.replay,
    });
    for log in &a.logs {
        if let Err(e) = fit.read(log) {
            eprintln!("error: {}: {e}", log.display());
            return EXIT_BAD_INPUT;
        }
    }
    let unreadable = fit.unreadable.clone();
    if unreadable.count > 0 {
        eprintln!(
            "{} unreadable line(s), not used; the first:",
            unreadable.count
        );
        for line in &unreadable.first {
            eprintln!("  {line}");
        }
    }
    let report = match fit.finish() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}; nothing written");
            return EXIT_BAD_INPUT;
        }
    };
    if a.replay && report.formats.contains(&"otel") {
        return bad_input(&InputError::single(
            &out_text,
            "--replay",
            "OTLP spans are not rows a replay can read; replay a request log or a CSV / JSON lines log",
        ));
    }
    if a.replay && report.targets.len() > 1 {
        return bad_input(&InputError::single(
            &out_text,
            "--replay",
            "the log holds several providers or models; a replayed log drives one group",
        ));
    }
    let dir = match a.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = a.name.unwrap_or_else(|| {
        a.out
            .file_stem()
            .map_or("fitted".into(), |s| s.to_string_lossy().to_string())
    });
    let scenario = report.scenario(&name, &dir);
    let text = serde_json::to_string_pretty(&scenario).expect("serializes") + "\n";
    // The fitted scenario must load: a failure here is a bug of `fit`, said as such.
    if let Err(e) = aichaos::scenario::parse(&out_text, &text) {
        eprintln!("error: the fitted scenario does not validate (a bug of aichaos fit):\n{e}");
        return EXIT_BAD_INPUT;
    }
    let report_json = serde_json::to_string_pretty(&report).expect("serializes") + "\n";
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|_| aichaos::output::write_atomic(&dir, "fit.json", report_json.as_bytes()))
    {
        return write_failed(&dir.join("fit.json"), e);
    }
    if !a.no_charts
        && let Err(e) = aichaos::fit::charts::render(&report, &dir)
    {
        return write_failed(&dir, e);
    }
    let file_name = a
        .out
        .file_name()
        .map_or("scenario.json".into(), |n| n.to_string_lossy().to_string());
    if let Err(e) = aichaos::output::write_atomic(&dir, &file_name, text.as_bytes()) {
        return write_failed(&a.out, e);
    }
    outln!("{}", summary_lines(&report).join("\n"));
    outln!(
        "wrote {} (and fit.json{} beside it)",
        a.out.display(),
        if a.no_charts { "" } else { ", charts" }
    );
    0
}

fn summary_lines(r: &aichaos::fit::FitReport) -> Vec<String> {
    let mut lines = vec![format!(
        "{} attempts read from {} file(s)",
        r.records,
        r.files.len()
    )];
    for t in &r.targets {
        let chosen = |f: &Option<aichaos::fit::families::SampleFit>| {
            f.as_ref().map_or("-".to_string(), |f| {
                format!("{} (KS {:.3})", f.chosen, f.ks_distance)
            })
        };
        lines.push(format!(
            "{}/{}: ttft {}, per_token {}, {} successes",
            t.provider,
            t.model,
            chosen(&t.ttft_s),
            chosen(&t.per_token_s),
            t.successes
        ));
    }
    for p in &r.providers {
        lines.push(format!(
            "{}: {} window(s), background {}, {}",
            p.name,
            p.windows.len(),
            p.background
                .iter()
                .map(|(s, e)| format!("{s} {:.2}%", 100.0 * e.rate))
                .collect::<Vec<_>>()
                .join(" "),
            match (
                p.limits_source,
                p.rpm,
                p.inferred.as_ref().and_then(|i| i.tpm)
            ) {
                ("inferred_rpm", Some((rpm, _)), _) => format!("rpm {rpm:.0}"),
                ("inferred_tpm", _, Some(tpm)) => format!("tpm {tpm:.0}"),
                ("logged", _, _) => "rate limits logged".to_string(),
                _ => "rpm -".to_string(),
            }
        ));
    }
    if let Some(retry) = &r.retries {
        lines.push(format!(
            "retries: up to {} attempts, closest preset {}",
            retry.max_attempts, retry.closest_preset
        ));
    }
    for n in &r.notes {
        lines.push(format!("note: {n}"));
    }
    lines
}
