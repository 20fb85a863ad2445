//! What the charts are drawn from: a run's `summary.json` and `timeseries.csv`, read back
//! from disk and checked, so that `aichaos plot` on a saved run draws exactly what the run
//! drew, and a truncated or foreign file is an error naming its file and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::InputError;
use crate::report::SUMMARY_FORMAT;
use crate::timeseries::{PROVIDER_COLUMNS, header};

/// The parts of `summary.json` the charts use. Other fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryView {
    pub format: String,
    pub scenario: ScenarioView,
    pub seed: u64,
    pub versions: VersionsView,
    pub simulated_duration_s: f64,
    pub bucket_s: f64,
    pub success_rate: f64,
    pub health: String,
    pub latency_ms: Option<LatencyView>,
    pub latency_cdf_ms: CdfView,
    pub providers: Vec<ProviderView>,
    pub expectations: Vec<ExpectationView>,
    pub passed: bool,
    /// Absent when the scenario declares no SLO.
    #[serde(default)]
    pub incidents: Vec<IncidentView>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IncidentView {
    pub start_s: f64,
    pub end_s: f64,
    pub metastability: Option<MetastabilityView>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetastabilityView {
    pub metastable: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioView {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VersionsView {
    pub aichaos: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LatencyView {
    pub mean: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CdfView {
    pub succeeded: Vec<[f64; 2]>,
    pub failed: Vec<[f64; 2]>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProviderView {
    pub name: String,
    pub capacity_per_s: Option<f64>,
    pub credits_remaining_usd: Option<f64>,
    pub first_insufficient_credits_s: Option<f64>,
    pub first_low_credit_alert_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExpectationView {
    pub name: String,
    pub limit: f64,
    pub actual: f64,
    pub passed: bool,
}

impl SummaryView {
    pub fn expectation(&self, name: &str) -> Option<&ExpectationView> {
        self.expectations.iter().find(|e| e.name == name)
    }
}

/// The time series as columns of numbers (None for an empty cell).
#[derive(Debug, Clone)]
pub struct Series {
    pub names: Vec<String>,
    pub columns: Vec<Vec<Option<f64>>>,
}

impl Series {
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A column by name; the header was checked, so a missing name is a programming error.
    pub fn column(&self, name: &str) -> &[Option<f64>] {
        let index = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no column `{name}`"));
        &self.columns[index]
    }

    /// A column whose cells are all present (counts), with empty cells as 0.
    pub fn values(&self, name: &str) -> Vec<f64> {
        self.column(name).iter().map(|v| v.unwrap_or(0.0)).collect()
    }
}

/// One saved run.
#[derive(Debug, Clone)]
pub struct RunData {
    pub dir: PathBuf,
    pub summary: SummaryView,
    pub series: Series,
}

impl RunData {
    /// The name a legend gives this run: its scenario.
    pub fn label(&self) -> &str {
        &self.summary.scenario.name
    }

    pub fn provider_names(&self) -> Vec<&str> {
        self.summary
            .providers
            .iter()
            .map(|p| p.name.as_str())
            .collect()
    }
}

/// Reads and checks a run directory.
pub fn load_run(dir: &Path) -> Result<RunData, InputError> {
    let summary_path = dir.join("summary.json");
    let summary_file = summary_path.display().to_string();
    let text = std::fs::read_to_string(&summary_path).map_err(|e| {
        InputError::single(&summary_file, "", format!("cannot read the run's summary ({e}); is `{}` a directory written by `aichaos run`?", dir.display()))
    })?;
    let summary: SummaryView = serde_json::from_str(&text).map_err(|e| InputError {
        file: summary_file.clone(),
        problems: vec![crate::error::FieldError {
            path: String::new(),
            reason: format!("not an aichaos summary: {e}"),
            line_col: Some((e.line(), e.column())),
            set_by: None,
        }],
    })?;
    if summary.format != SUMMARY_FORMAT {
        return Err(InputError::single(
            &summary_file,
            "format",
            format!(
                "`{}` is not `{SUMMARY_FORMAT}`, the format this version reads",
                summary.format
            ),
        ));
    }
    let csv_path = dir.join("timeseries.csv");
    let series = load_series(&csv_path, &summary)?;
    Ok(RunData {
        dir: dir.to_path_buf(),
        summary,
        series,
    })
}

fn load_series(path: &Path, summary: &SummaryView) -> Result<Series, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::single(&file, "", format!("cannot read the time series: {e}")))?;
    let at_line = |line: usize, reason: String| InputError {
        file: file.clone(),
        problems: vec![crate::error::FieldError {
            path: String::new(),
            reason,
            line_col: Some((line, 1)),
            set_by: None,
        }],
    };
    let mut lines = text.lines();
    let names: Vec<&str> = summary.providers.iter().map(|p| p.name.as_str()).collect();
    let expected = header(&names);
    let found = lines.next().unwrap_or("");
    if found != expected {
        return Err(at_line(
            1,
            format!(
                "the columns are not those aichaos {} writes for providers {names:?} (the file was written by aichaos {} or edited)",
                env!("CARGO_PKG_VERSION"),
                summary.versions.aichaos
            ),
        ));
    }
    let header_names: Vec<String> = split_csv(&expected);
    let mut columns: Vec<Vec<Option<f64>>> = vec![Vec::new(); header_names.len()];
    for (i, line) in lines.enumerate() {
        let fields = split_csv(line);
        if fields.len() != header_names.len() {
            return Err(at_line(
                i + 2,
                format!(
                    "{} fields, expected {} (truncated or damaged file)",
                    fields.len(),
                    header_names.len()
                ),
            ));
        }
        for (column, (field, name)) in columns.iter_mut().zip(fields.iter().zip(&header_names)) {
            let value = if field.is_empty() {
                None
            } else {
                Some(
                    field
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| {
                            at_line(i + 2, format!("`{name}`: `{field}` is not a number"))
                        })?,
                )
            };
            column.push(value);
        }
    }
    if !text.ends_with('\n') {
        return Err(at_line(
            text.lines().count(),
            "the last line is incomplete (truncated file)".into(),
        ));
    }
    let series = Series {
        names: header_names,
        columns,
    };
    let expected_rows = (summary.simulated_duration_s / summary.bucket_s).ceil() as usize;
    if series.len() != expected_rows {
        return Err(at_line(
            series.len() + 1,
            format!(
                "{} rows, but the summary's duration needs {expected_rows} (truncated file?)",
                series.len()
            ),
        ));
    }
    Ok(series)
}

/// Splits a CSV line written by `timeseries` (RFC 4180 quoting, no embedded newlines).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// `<provider>_<suffix>` column name.
pub fn provider_column(provider: &str, suffix: &str) -> String {
    debug_assert!(PROVIDER_COLUMNS.contains(&suffix));
    format!("{provider}_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_split_with_quotes() {
        assert_eq!(
            split_csv("a,\"b,c\",\"d\"\"e\","),
            vec!["a", "b,c", "d\"e", ""]
        );
    }
}
