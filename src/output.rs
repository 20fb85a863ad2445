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

    /// Puts the file in place; if that fails, the temporary file is removed too.
    pub fn commit(self) -> std::io::Result<()> {
        fs::rename(&self.partial, &self.target).inspect_err(|_| {
            let _ = fs::remove_file(&self.partial);
        })
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

/// The file that marks a directory as aichaos's to write into.
pub const MARKER: &str = ".aichaos-output";

/// Files whose presence shows a directory holds aichaos results (from before the marker).
const RESULT_FILES: [&str; 4] = ["summary.json", "compare.json", "sweep.json", "overview.png"];

/// Takes `dir` as an output directory: refuses (unless `force`) a directory that exists,
/// is not empty and does not look like aichaos output, so a mistyped `--out` cannot
/// overwrite someone's files; then creates it and leaves the marker. Nothing is deleted.
pub fn claim_dir(dir: &Path, force: bool) -> Result<(), String> {
    if dir.exists() && !force {
        if !dir.is_dir() {
            return Err("exists and is not a directory".into());
        }
        let mut entries = fs::read_dir(dir).map_err(|e| e.to_string())?;
        let empty = entries.next().is_none();
        let ours = [MARKER]
            .iter()
            .chain(&RESULT_FILES)
            .any(|f| dir.join(f).is_file());
        if !empty && !ours {
            return Err(format!(
                "exists, is not empty and does not look like aichaos output (no {MARKER}); \
                 choose another --out, or pass --force to write into it"
            ));
        }
    }
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    write_atomic(
        dir,
        MARKER,
        b"This directory holds aichaos results; aichaos may overwrite files here.\n",
    )
    .map_err(|e| e.to_string())
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

    #[test]
    fn foreign_directories_are_refused_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("home");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("thesis.tex"), "precious").unwrap();
        let refused = claim_dir(&foreign, false).unwrap_err();
        assert!(refused.contains("--force"), "{refused}");
        assert!(!foreign.join(MARKER).exists());
        claim_dir(&foreign, true).unwrap();
        // Once marked, it is ours; the user's file is untouched.
        claim_dir(&foreign, false).unwrap();
        assert_eq!(
            fs::read_to_string(foreign.join("thesis.tex")).unwrap(),
            "precious"
        );
        // New and empty directories are fine; a file in the way is not.
        claim_dir(&dir.path().join("new/deep"), false).unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(claim_dir(&file, false).is_err());
    }
}
