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
            let location = match p.line_col {
                Some((line, col)) => format!("{}:{line}:{col}", self.file),
                None => self.file.clone(),
            };
            if p.path.is_empty() {
                write!(f, "error: {location}: {}", p.reason)?;
            } else {
                write!(f, "error: {location}: `{}`: {}", p.path, p.reason)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

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
}
