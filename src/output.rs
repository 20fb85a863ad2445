//! Writing results so that an interrupted or failed run never leaves a file that looks
//! complete: everything is written under a temporary name and renamed into place only when
//! the run succeeded, `summary.json` last (its presence marks a complete result).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written under `.<name>.partial`, renamed to `<name>` by `commit`.
pub struct PendingFile {
    partial: PathBuf,
    target: PathBuf,
}

impl PendingFile {
    pub fn create(dir: &Path, name: &str) -> std::io::Result<(PendingFile, BufWriter<File>)> {
        let partial = dir.join(format!(".{name}.partial"));
        let file = File::create(&partial)?;
        Ok((
            PendingFile {
                partial,
                target: dir.join(name),
            },
            BufWriter::with_capacity(1 << 16, file),
        ))
    }

    pub fn commit(self) -> std::io::Result<()> {
        fs::rename(&self.partial, &self.target)
    }

    pub fn abandon(self) {
        let _ = fs::remove_file(&self.partial);
    }
}

/// Writes `bytes` to `dir/name` atomically.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let (pending, mut out) = PendingFile::create(dir, name)?;
    let written = out.write_all(bytes).and_then(|_| out.flush());
    match written {
        Ok(()) => {
            drop(out);
            pending.commit()
        }
        Err(e) => {
            drop(out);
            pending.abandon();
            Err(e)
        }
    }
}

/// A directory-friendly form of a scenario name: "High Load" -> "high-load".
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "scenario".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_directory_names() {
        assert_eq!(slug("High Load"), "high-load");
        assert_eq!(slug("Token Exhaustion Sim!"), "token-exhaustion-sim");
        assert_eq!(slug("../../etc"), "etc");
        assert_eq!(slug("***"), "scenario");
    }
}
