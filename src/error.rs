//! Errors a user can act on: which file, which field, what is wrong, how to fix it.
//!
//! Exit codes are part of the contract: 2 for bad input (nothing was simulated, nothing was
//! written), 1 for a run whose declared expectations failed, 3 when an output could not be
//! written (disk full, permissions: not the input's fault), 130 or 143 when interrupted
//! (`interrupt`), 0 otherwise.

use std::fmt;

pub const EXIT_EXPECTATION_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_OUTPUT_FAILED: i32 = 3;

/// One problem in a scenario file, located by its field path (`traffic[0].policy.retry`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub reason: String,
    /// Line and column, when the problem was found while reading the JSON text itself.
    pub line_col: Option<(usize, usize)>,
    /// The option that put the offending value there (`--set PATH=VALUE`, `--param ...`):
    /// the problem is on the command line, not at a line of the file.
    pub set_by: Option<String>,
}

impl FieldError {
    pub fn into_input_error(self, file: &str) -> InputError {
        InputError {
            file: file.to_string(),
            problems: vec![self],
        }
    }
}

/// Everything wrong with an input, reported together so a user fixes a file in one pass.
#[derive(Debug)]
pub struct InputError {
    pub file: String,
    pub problems: Vec<FieldError>,
}

impl InputError {
    pub fn single(file: &str, path: &str, reason: impl Into<String>) -> Self {
        InputError {
            file: file.to_string(),
            problems: vec![FieldError {
                path: path.to_string(),
                reason: reason.into(),
                line_col: None,
                set_by: None,
            }],
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let location = match (&p.set_by, p.line_col) {
                (Some(set), _) => format!("{}: {}", self.file, shorten(set)),
                (None, Some((line, col))) => format!("{}:{line}:{col}", self.file),
                (None, None) => self.file.clone(),
            };
            let reason = shorten_quoted(&p.reason);
            if p.path.is_empty() {
                write!(f, "error: {location}: {reason}")?;
            } else {
                write!(f, "error: {location}: `{}`: {reason}", shorten(&p.path))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// Quoted names longer than this are cut in messages: a 10,000-character name pasted by
/// mistake must not bury the error that names it.
const MAX_QUOTED_CHARS: usize = 64;
/// Field paths and command-line options longer than this are cut too.
const MAX_PLAIN_CHARS: usize = 200;

/// `text` with every span quoted in backticks or double quotes longer than
/// `MAX_QUOTED_CHARS` cut to its beginning, "…" and its length.
pub fn shorten_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(1024));
    let mut rest = text;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().expect("found");
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(quote) else {
            break;
        };
        out.push_str(&cut(&rest[..close], MAX_QUOTED_CHARS));
        out.push(quote);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `text` cut to `MAX_PLAIN_CHARS` (a field path holding a pasted name, a long `--set`).
pub fn shorten(text: &str) -> String {
    shorten_quoted(&cut(text, MAX_PLAIN_CHARS))
}

/// `text` itself, or its first characters, "…" and its length when longer than `max`.
fn cut(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max - 16).collect();
    format!("{kept}… ({count} characters)")
}

/// The closest valid name to a misspelt one, if any is close enough to be a likely typo.
pub fn nearest_name<'a>(wrong: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(wrong, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min()
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_name_finds_typos_only() {
        assert_eq!(
            nearest_name("max_attemps", &["max_attempts", "backoff"]),
            Some("max_attempts")
        );
        assert_eq!(nearest_name("zzz", &["max_attempts", "backoff"]), None);
    }

    #[test]
    fn long_quoted_names_are_cut_and_their_length_given() {
        let long = "x".repeat(10_000);
        let message = shorten_quoted(&format!("no provider named `{long}`; providers: `p`"));
        assert_eq!(
            message,
            format!(
                "no provider named `{}… (10000 characters)`; providers: `p`",
                "x".repeat(48)
            )
        );
        assert_eq!(shorten_quoted("`short` stays"), "`short` stays");
        let serde = shorten_quoted(&format!("invalid type: string \"{long}\", expected u32"));
        assert!(
            serde.ends_with("… (10000 characters)\", expected u32"),
            "{serde}"
        );
        assert!(shorten(&long).chars().count() < 210);
        assert_eq!(shorten_quoted("an `unclosed quote"), "an `unclosed quote");
    }
}
