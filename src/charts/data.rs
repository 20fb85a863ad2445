//! What the charts are drawn from: a run's `summary.json` and `timeseries.csv`, read back
//! from disk and checked, so that `aichaos plot` on a saved run draws exactly what the run
//! drew, and a truncated or foreign file is an error naming its file and line.

use std::borrow::Cow;
use std::io::BufRead;
use std::ops::Range;
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

/// The columns of `timeseries.csv` the charts draw. `load_run` checks every cell of every
/// column but keeps only these and `CHARTED_PROVIDER_COLUMNS`: 21 of a two-provider run's
/// 57, what a long run's charts hold (1 MB rather than 2.7 at 1,000 simulated hours of
/// `thousand-hours.json`). A chart that draws another column names it here; until then
/// `Series::column` panics with this list's name.
pub const CHARTED_COLUMNS: [&str; 15] = [
    "time_s",
    "arrivals",
    "successes",
    "failures",
    "success_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "attempts",
    "rate_limited",
    "server_errors",
    "timeouts",
    "cost_usd",
    "chaos_active_s",
    "breaker_open_s",
];

/// The per-provider columns (`<provider>_<suffix>`) the charts draw; see `CHARTED_COLUMNS`.
pub const CHARTED_PROVIDER_COLUMNS: [&str; 3] = ["credits_usd", "down_s", "brownout_s"];

/// The time series as columns of numbers, one cell per bucket: the charted columns only
/// (`CHARTED_COLUMNS`).
///
/// A cell is held as a bare f64 with NaN standing for an empty CSV cell: the reader accepts
/// only finite numbers, so NaN is never a value, and 8 bytes a cell instead of
/// `Option<f64>`'s 16 halve what each kept column holds (6,000 buckets at 1,000 simulated
/// hours of `thousand-hours.json`). `Column` gives the cells back as `Option<f64>`.
#[derive(Debug, Clone)]
pub struct Series {
    /// The kept columns' names, in the file's order.
    pub names: Vec<String>,
    columns: Vec<Vec<f64>>,
}

impl Series {
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A column by name; the header was checked, so a missing name is a programming error:
    /// a column no chart drew before must be added to `CHARTED_COLUMNS`.
    pub fn column(&self, name: &str) -> Column<'_> {
        let index = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| {
                panic!("no column `{name}` among those kept for the charts (CHARTED_COLUMNS)")
            });
        Column {
            cells: &self.columns[index],
        }
    }

    /// A column whose cells are all present (counts), with empty cells as 0: borrowed
    /// when no cell is empty, so a chart reads the column in place instead of copying it.
    pub fn values(&self, name: &str) -> Cow<'_, [f64]> {
        let column = self.column(name);
        if column.cells.iter().any(|v| v.is_nan()) {
            Cow::Owned(column.iter().map(|v| v.unwrap_or(0.0)).collect())
        } else {
            Cow::Borrowed(column.cells)
        }
    }
}

/// One column of a `Series`: a cell per bucket, None where the CSV cell is empty.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    /// NaN for an empty cell.
    cells: &'a [f64],
}

impl<'a> Column<'a> {
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Bucket `i`'s cell; None where it is empty. Panics past the end, like a slice.
    pub fn get(&self, i: usize) -> Option<f64> {
        Some(self.cells[i]).filter(|v| !v.is_nan())
    }

    /// Every cell in bucket order, None where empty.
    pub fn iter(&self) -> impl Iterator<Item = Option<f64>> + 'a {
        self.cells.iter().map(|&v| Some(v).filter(|v| !v.is_nan()))
    }

    /// The present cells in bucket order, empty ones skipped.
    pub fn present(&self) -> impl Iterator<Item = f64> + 'a {
        self.cells.iter().copied().filter(|v| !v.is_nan())
    }

    /// The cells of buckets `range`.
    pub fn slice(&self, range: Range<usize>) -> Column<'a> {
        Column {
            cells: &self.cells[range],
        }
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
    let cannot_read = |e: std::io::Error| {
        InputError::single(&file, "", format!("cannot read the time series: {e}"))
    };
    let at_line = |line: usize, reason: String| InputError {
        file: file.clone(),
        problems: vec![crate::error::FieldError {
            path: String::new(),
            reason,
            line_col: Some((line, 1)),
            set_by: None,
        }],
    };
    // Line by line rather than the whole text at once: a 1,000-hour run's file is over a
    // megabyte, held for nothing while its numbers are parsed.
    let csv = std::fs::File::open(path).map_err(cannot_read)?;
    let file_bytes = csv.metadata().map_err(cannot_read)?.len();
    let mut reader = std::io::BufReader::new(csv);
    let mut lines = Lines::default();
    let names: Vec<&str> = summary.providers.iter().map(|p| p.name.as_str()).collect();
    let expected = header(&names);
    // A line that cannot be read (not UTF-8, an I/O error) is named like a bad cell.
    let unreadable =
        |line: usize, e: std::io::Error| at_line(line, format!("cannot read the time series: {e}"));
    let found = lines
        .next(&mut reader)
        .map_err(|e| unreadable(1, e))?
        .unwrap_or("");
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
    let expected_rows = (summary.simulated_duration_s / summary.bucket_s).ceil() as usize;
    // Columns sized once for the rows the summary announces, so they do not grow by
    // doubling to up to twice that; a row takes at least one byte a column, which bounds
    // the reservation when the summary is damaged.
    let most_rows = usize::try_from(file_bytes / header_names.len() as u64).unwrap_or(usize::MAX);
    let charted: Vec<String> = CHARTED_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(names.iter().flat_map(|p| {
            CHARTED_PROVIDER_COLUMNS
                .iter()
                .map(move |suffix| provider_column(p, suffix))
        }))
        .collect();
    let kept: Vec<bool> = header_names.iter().map(|n| charted.contains(n)).collect();
    let mut columns: Vec<Vec<f64>> = (0..kept.iter().filter(|k| **k).count())
        .map(|_| Vec::with_capacity(expected_rows.min(most_rows)))
        .collect();
    let mut i = 0;
    while let Some(line) = lines.next(&mut reader).map_err(|e| unreadable(i + 2, e))? {
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
        let mut kept_columns = columns.iter_mut();
        for ((field, name), kept) in fields.iter().zip(&header_names).zip(&kept) {
            // Every cell is checked, kept or not: a damaged file is refused all the same.
            let value = if field.is_empty() {
                // Never a value: only finite numbers are accepted below.
                f64::NAN
            } else {
                field
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| at_line(i + 2, format!("`{name}`: `{field}` is not a number")))?
            };
            if *kept {
                kept_columns
                    .next()
                    .expect("a column for every kept name")
                    .push(value);
            }
        }
        i += 1;
    }
    if !lines.ended_with_newline {
        return Err(at_line(
            lines.count,
            "the last line is incomplete (truncated file)".into(),
        ));
    }
    let series = Series {
        names: header_names
            .into_iter()
            .zip(&kept)
            .filter(|(_, kept)| **kept)
            .map(|(name, _)| name)
            .collect(),
        columns,
    };
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

/// The lines of a file read one at a time, split as `str::lines` splits a whole text (at
/// `\n`, a `\r` before it dropped), so that line numbers and the truncation check read as
/// they would on the text held at once.
#[derive(Default)]
struct Lines {
    buffer: String,
    /// Lines read so far.
    count: usize,
    /// Whether the text so far ends with `\n`: false for an empty text, as for a
    /// truncated last line.
    ended_with_newline: bool,
}

impl Lines {
    fn next(&mut self, reader: &mut impl BufRead) -> std::io::Result<Option<&str>> {
        self.buffer.clear();
        if reader.read_line(&mut self.buffer)? == 0 {
            return Ok(None);
        }
        self.count += 1;
        self.ended_with_newline = self.buffer.ends_with('\n');
        let mut line = self.buffer.as_str();
        if let Some(body) = line.strip_suffix('\n') {
            line = body.strip_suffix('\r').unwrap_or(body);
        }
        Ok(Some(line))
    }
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
    fn the_charted_columns_are_columns_of_the_file() {
        let written = split_csv(&header(&["a"]));
        for column in CHARTED_COLUMNS.iter().map(|c| c.to_string()).chain(
            CHARTED_PROVIDER_COLUMNS
                .iter()
                .map(|suffix| provider_column("a", suffix)),
        ) {
            assert!(written.contains(&column), "{column}");
        }
    }

    #[test]
    fn lines_split_as_str_lines_does() {
        for text in ["", "a", "a\n", "a\r\nb", "a\n\nb\r", "a\r\n\r\n", "\n"] {
            let mut reader = text.as_bytes();
            let mut lines = Lines::default();
            let mut read = Vec::new();
            while let Some(line) = lines.next(&mut reader).unwrap() {
                read.push(line.to_string());
            }
            assert_eq!(read, text.lines().collect::<Vec<_>>(), "{text:?}");
            assert_eq!(lines.count, text.lines().count(), "{text:?}");
            assert_eq!(lines.ended_with_newline, text.ends_with('\n'), "{text:?}");
        }
    }

    #[test]
    fn csv_fields_split_with_quotes() {
        assert_eq!(
            split_csv("a,\"b,c\",\"d\"\"e\","),
            vec!["a", "b,c", "d\"e", ""]
        );
    }
}
