//! Writing results so that an interrupted or failed run never leaves a file that looks
//! complete: everything is written under a temporary name and renamed into place only when
//! the run succeeded, `summary.json` last (its presence marks a complete result).
//!
//! Two commands must never write into one directory at once: each holds an advisory lock on
//! the directory's marker file for as long as it writes (`claim_dir`), and temporary names
//! carry the process id, so even a writer that skipped the lock cannot rename another's
//! half-written bytes into place.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The temporary name of `dir/name` while this process writes it: `.<name>.<pid>.partial`,
/// or `.<stem>.<pid>.partial.<ext>` with `keep_extension` (for writers that pick the format
/// by extension, as plotters does).
pub fn partial_path(dir: &Path, name: &str, keep_extension: bool) -> PathBuf {
    let pid = std::process::id();
    match name.rsplit_once('.') {
        Some((stem, ext)) if keep_extension => dir.join(format!(".{stem}.{pid}.partial.{ext}")),
        _ => dir.join(format!(".{name}.{pid}.partial")),
    }
}

/// A file being written under its `partial_path`, renamed to `<name>` by `commit`.
pub struct PendingFile {
    partial: PathBuf,
    target: PathBuf,
}

impl PendingFile {
    pub fn create(dir: &Path, name: &str) -> std::io::Result<(PendingFile, BufWriter<File>)> {
        let partial = partial_path(dir, name, false);
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

/// Held while a command writes into a directory: an advisory lock on its marker file,
/// released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct DirLock {
    _marker: File,
}

/// Takes `dir` as an output directory: refuses (unless `force`) a directory that exists,
/// is not empty and does not look like aichaos output, so a mistyped `--out` cannot
/// overwrite someone's files; then creates it, leaves the marker and locks it. A directory
/// another aichaos process is writing into is refused, `force` or not. Nothing is deleted.
pub fn claim_dir(dir: &Path, force: bool) -> Result<DirLock, String> {
    if dir.is_symlink() && !dir.exists() {
        let target = fs::read_link(dir).map_or_else(|_| "?".into(), |t| t.display().to_string());
        return Err(format!(
            "is a symbolic link to `{target}`, which does not exist; create the target \
             directory or choose another --out"
        ));
    }
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
    lock_marker(dir)
}

/// Opens (creating it if needed) and locks the directory's marker. The marker is written in
/// place, never renamed over: a rename would give it a new inode and drop the lock held on
/// the old one.
fn lock_marker(dir: &Path) -> Result<DirLock, String> {
    let mut marker = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(MARKER))
        .map_err(|e| format!("cannot create {MARKER}: {e}"))?;
    match marker.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(
                "another aichaos command is writing into this directory now; wait \
                        for it to finish or choose another --out"
                    .into(),
            );
        }
        Err(fs::TryLockError::Error(e)) => return Err(format!("cannot lock {MARKER}: {e}")),
    }
    if marker.metadata().map_err(|e| e.to_string())?.len() == 0 {
        marker
            .write_all(MARKER_TEXT)
            .map_err(|e| format!("cannot write {MARKER}: {e}"))?;
    }
    Ok(DirLock { _marker: marker })
}

const MARKER_TEXT: &[u8] =
    b"This directory holds aichaos results; aichaos may overwrite files here.\n";

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
        drop(claim_dir(&foreign, true).unwrap());
        // Once marked, it is ours; the user's file is untouched.
        drop(claim_dir(&foreign, false).unwrap());
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

    #[test]
    fn a_directory_being_written_is_refused_to_a_second_writer() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let held = claim_dir(&out, false).unwrap();
        // A second open file description conflicts even within one process, as a second
        // aichaos process would; --force does not override it.
        for force in [false, true] {
            let refused = claim_dir(&out, force).unwrap_err();
            assert!(refused.contains("another aichaos command"), "{refused}");
        }
        drop(held);
        claim_dir(&out, false).unwrap();
        assert_eq!(fs::read(out.join(MARKER)).unwrap(), MARKER_TEXT);
    }

    #[test]
    fn temporary_names_carry_the_process_id() {
        let dir = Path::new("/d");
        let pid = std::process::id();
        assert_eq!(
            partial_path(dir, "timeseries.csv", false),
            dir.join(format!(".timeseries.csv.{pid}.partial"))
        );
        assert_eq!(
            partial_path(dir, "latency.png", true),
            dir.join(format!(".latency.{pid}.partial.png"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_out_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        let refused = claim_dir(&link, true).unwrap_err();
        assert!(
            refused.contains("symbolic link") && refused.contains("nowhere"),
            "{refused}"
        );
    }
}
