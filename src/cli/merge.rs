//! `aichaos merge`: the parts of a sharded sweep, checked and joined into exactly the files
//! the whole sweep writes.

use std::path::PathBuf;

use aichaos::error::InputError;
use aichaos::shard::{SWEEP_PART_FORMAT, SweepPart, SweepSpec, check_merged_spec, check_part};

use super::sweep::finish_sweep;
use super::{bad_input, claim};

#[derive(clap::Args)]
pub struct Args {
    /// The sweep-part-I-of-N.json files, one per shard.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Print sweep.json instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    export: super::sweep::ExportArgs,
}

pub fn execute(a: Args, g: super::Globals) -> i32 {
    let (parts, out, json, force) = (a.parts.as_slice(), a.out.as_path(), a.json, g.force);
    let plan = match a.export.plan() {
        Ok(p) => p,
        Err(e) => {
            return bad_input(&InputError::single(
                &out.display().to_string(),
                "--export",
                e,
            ));
        }
    };
    let mut loaded: Vec<SweepPart> = Vec::new();
    for path in parts {
        let file = path.display().to_string();
        let part: SweepPart = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str(&t).map_err(|e| format!("{}:{}: {e}", e.line(), e.column()))
            }) {
            Ok(p) => p,
            Err(e) => {
                return bad_input(&InputError::single(
                    &file,
                    "",
                    format!("not a sweep part: {e}"),
                ));
            }
        };
        if part.format != SWEEP_PART_FORMAT {
            return bad_input(&InputError::single(
                &file,
                "format",
                if part.format == "aichaos.sweep-part/1" {
                    format!(
                        "`{}` is not `{SWEEP_PART_FORMAT}`: the part was written by an older \
                         aichaos, without the baseline; run its shard again",
                        part.format
                    )
                } else {
                    format!("`{}` is not `{SWEEP_PART_FORMAT}`", part.format)
                },
            ));
        }
        if let Err((field, reason)) = check_part(&part) {
            return bad_input(&InputError::single(&file, field, reason));
        }
        if let Some(first) = loaded.first()
            && (SweepSpec {
                file: String::new(),
                ..first.spec.clone()
            } != SweepSpec {
                file: String::new(),
                ..part.spec.clone()
            } || first.of != part.of
                || first.total_points != part.total_points
                || first.scenario != part.scenario
                || first.base_document != part.base_document
                || first.comparison.seeds != part.comparison.seeds)
        {
            return bad_input(&InputError::single(
                &file,
                "spec",
                "this part belongs to another sweep (its parameters, scenario, seed or shard count differ)",
            ));
        }
        // Every shard ran the baseline on the same seeds: different results mean another
        // version of aichaos or an edited part, and points judged against different worlds.
        if let Some(first) = loaded.first()
            && first.comparison.variants[0] != part.comparison.variants[0]
        {
            return bad_input(&InputError::single(
                &file,
                "comparison.variants[0]",
                "this part's baseline results differ from the first part's (another aichaos version, or an edited part); run the shards with one version",
            ));
        }
        if loaded.iter().any(|p| p.shard == part.shard) {
            return bad_input(&InputError::single(
                &file,
                "shard",
                format!("shard {} is given twice", part.shard),
            ));
        }
        loaded.push(part);
    }
    let of = loaded[0].of;
    let missing: Vec<usize> = (1..=of)
        .filter(|i| !loaded.iter().any(|p| p.shard == *i))
        .collect();
    if !missing.is_empty() {
        return bad_input(&InputError::single(
            &parts[0].display().to_string(),
            "shard",
            format!("shards {missing:?} of {of} are missing"),
        ));
    }
    // The baseline, then every point's results back in grid order.
    let total = loaded[0].total_points;
    let mut variants: Vec<Option<aichaos::compare::VariantResult>> = vec![None; total + 1];
    variants[0] = Some(loaded[0].comparison.variants[0].clone());
    for part in &loaded {
        for (index, result) in part.indices.iter().zip(&part.comparison.variants[1..]) {
            variants[*index + 1] = Some(result.clone());
        }
    }
    let Some(variants) = variants.into_iter().collect::<Option<Vec<_>>>() else {
        return bad_input(&InputError::single(
            &parts[0].display().to_string(),
            "indices",
            "the parts do not cover every point",
        ));
    };
    let first = &loaded[0];
    if let Err((field, reason)) = check_merged_spec(first) {
        return bad_input(&InputError::single(
            &parts[0].display().to_string(),
            field,
            reason,
        ));
    }
    let comparison = aichaos::compare::Comparison {
        variants,
        ..first.comparison.clone()
    };
    let _lock = match claim(out, force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    finish_sweep(
        &first.spec,
        &first.scenario,
        &first.base_document,
        &comparison,
        None,
        None,
        out,
        json,
        &plan,
    )
}
