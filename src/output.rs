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

/// Held while a command writes into a directory: advisory locks on its marker file and on
/// the markers of the aichaos directories around it, released when dropped (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct DirLock {
    _markers: Vec<File>,
}

/// How a command shares its output directory while it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Alone: any other writer is refused (every command but a sweep shard).
    Exclusive,
    /// With other sweep shards, which write files of their own (`sweep-part-I-of-N.json`):
    /// the Slurm and Kubernetes examples of docs/src/guides/cluster.md run every shard on
    /// one `--out`.
    Shards,
}

/// Why a directory could not be taken: the user's choice to reconsider (exit 2), or the
/// file system failing (exit 3).
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimError {
    Refused(String),
    Io(String),
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimError::Refused(why) | ClaimError::Io(why) => f.write_str(why),
        }
    }
}

/// Takes `dir` as an output directory: refuses (unless `force`) a directory that exists,
/// is not empty and does not look like aichaos output, so a mistyped `--out` cannot
/// overwrite someone's files; then creates it, leaves the marker and locks it. A directory
/// another aichaos process is writing into is refused, `force` or not, and so is one inside
/// a directory being written (an experiment writes its scenarios into subdirectories) or
/// around one. Nothing is deleted.
pub fn claim_dir(dir: &Path, force: bool, sharing: Sharing) -> Result<DirLock, ClaimError> {
    use ClaimError::{Io, Refused};
    if dir.is_symlink() && !dir.exists() {
        let target = fs::read_link(dir).map_or_else(|_| "?".into(), |t| t.display().to_string());
        return Err(Refused(format!(
            "is a symbolic link to `{target}`, which does not exist; create the target \
             directory or choose another --out"
        )));
    }
    if dir.exists() && !force {
        if !dir.is_dir() {
            return Err(Refused("exists and is not a directory".into()));
        }
        let mut entries = fs::read_dir(dir).map_err(|e| Io(e.to_string()))?;
        let empty = entries.next().is_none();
        let ours = [MARKER]
            .iter()
            .chain(&RESULT_FILES)
            .any(|f| dir.join(f).is_file());
        if !empty && !ours {
            return Err(Refused(format!(
                "exists, is not empty and does not look like aichaos output (no {MARKER}); \
                 choose another --out, or pass --force to write into it"
            )));
        }
    }
    // Around it first, before creating anything: an experiment holds its directory alone
    // while it writes the scenarios' subdirectories, so a run into one of them must find
    // that lock; and a command writing below holds this one shared, so the experiment
    // finds it in turn.
    let mut markers = lock_enclosing_markers(dir)?;
    fs::create_dir_all(dir).map_err(|e| Io(format!("cannot create the directory: {e}")))?;
    markers.push(lock_marker(dir, sharing)?);
    if sharing == Sharing::Exclusive {
        remove_stale_partials(dir);
    }
    Ok(DirLock { _markers: markers })
}

/// Removes the temporary files a killed writer left (`.<name>.<pid>.partial[.ext]`): with
/// the directory held alone, none of them is being written.
fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with('.')
            && name.split('.').collect::<Vec<_>>().windows(2).any(|w| {
                w[1] == "partial" && !w[0].is_empty() && w[0].bytes().all(|b| b.is_ascii_digit())
            });
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Shared locks on the markers of the aichaos directories that contain `dir`.
fn lock_enclosing_markers(dir: &Path) -> Result<Vec<File>, ClaimError> {
    let absolute = std::path::absolute(dir).map_err(|e| ClaimError::Io(e.to_string()))?;
    let mut held = Vec::new();
    for ancestor in absolute.ancestors().skip(1) {
        let path = ancestor.join(MARKER);
        // Read-only: the directory may be someone else's, and the marker is never written.
        let Ok(marker) = File::open(&path) else {
            continue;
        };
        match marker.try_lock_shared() {
            Ok(()) => held.push(marker),
            Err(fs::TryLockError::WouldBlock) => {
                return Err(ClaimError::Refused(format!(
                    "another aichaos command is writing into {} now, which holds this \
                     directory; wait for it to finish or choose another --out",
                    ancestor.display()
                )));
            }
            // A marker we may not lock (a read-only file system) guards nothing.
            Err(fs::TryLockError::Error(_)) => {}
        }
    }
    Ok(held)
}

/// Opens (creating it if needed) and locks the directory's marker. The marker is written in
/// place, never renamed over: a rename would give it a new inode and drop the lock held on
/// the old one.
fn lock_marker(dir: &Path, sharing: Sharing) -> Result<File, ClaimError> {
    use ClaimError::{Io, Refused};
    let mut marker = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(MARKER))
        .map_err(|e| Io(format!("cannot create {MARKER}: {e}")))?;
    let locked = match sharing {
        Sharing::Exclusive => marker.try_lock(),
        Sharing::Shards => marker.try_lock_shared(),
    };
    match locked {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(Refused(
                "another aichaos command is writing into this directory now; wait for it to \
                 finish or choose another --out"
                    .into(),
            ));
        }
        Err(fs::TryLockError::Error(e)) => return Err(Io(format!("cannot lock {MARKER}: {e}"))),
    }
    if marker.metadata().map_err(|e| Io(e.to_string()))?.len() == 0 {
        marker
            .write_all(MARKER_TEXT)
            .map_err(|e| Io(format!("cannot write {MARKER}: {e}")))?;
    }
    Ok(marker)
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
        let refused = claim_dir(&foreign, false, Sharing::Exclusive)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("--force"), "{refused}");
        assert!(!foreign.join(MARKER).exists());
        drop(claim_dir(&foreign, true, Sharing::Exclusive).unwrap());
        // Once marked, it is ours; the user's file is untouched.
        drop(claim_dir(&foreign, false, Sharing::Exclusive).unwrap());
        assert_eq!(
            fs::read_to_string(foreign.join("thesis.tex")).unwrap(),
            "precious"
        );
        // New and empty directories are fine; a file in the way is not.
        drop(claim_dir(&dir.path().join("new/deep"), false, Sharing::Exclusive).unwrap());
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(claim_dir(&file, false, Sharing::Exclusive).is_err());
    }

    #[test]
    fn a_directory_being_written_is_refused_to_a_second_writer() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let held = claim_dir(&out, false, Sharing::Exclusive).unwrap();
        // A second open file description conflicts even within one process, as a second
        // aichaos process would; --force does not override it.
        for (force, sharing) in [(false, Sharing::Exclusive), (true, Sharing::Shards)] {
            let refused = claim_dir(&out, force, sharing).unwrap_err().to_string();
            assert!(refused.contains("another aichaos command"), "{refused}");
        }
        // Nor is a directory inside it free: an experiment writes its scenarios there.
        let inside = claim_dir(&out.join("scenario"), true, Sharing::Exclusive).unwrap_err();
        assert!(matches!(inside, ClaimError::Refused(_)), "{inside}");
        assert!(
            !out.join("scenario").exists(),
            "a refused claim creates nothing"
        );
        drop(held);
        let below = claim_dir(&out.join("scenario"), false, Sharing::Exclusive).unwrap();
        // ... and while something writes below, the directory around it is not free.
        assert!(claim_dir(&out, false, Sharing::Exclusive).is_err());
        drop(below);
        drop(claim_dir(&out, false, Sharing::Exclusive).unwrap());
        assert_eq!(fs::read(out.join(MARKER)).unwrap(), MARKER_TEXT);
    }

    /// Sweep shards share one --out (they write parts of their own); anything else waits.
    #[test]
    fn sweep_shards_share_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = claim_dir(dir.path(), false, Sharing::Shards).unwrap();
        let second = claim_dir(dir.path(), false, Sharing::Shards).unwrap();
        assert!(claim_dir(dir.path(), false, Sharing::Exclusive).is_err());
        drop((first, second));
        drop(claim_dir(dir.path(), false, Sharing::Exclusive).unwrap());
    }

    /// What a killed run left is removed by the next writer that holds the directory
    /// alone; nothing else is touched.
    #[test]
    fn stale_temporaries_are_removed_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".timeseries.csv.4242.partial",
            ".latency.4242.partial.png",
            "keep.partial",
            ".notes.partial",
        ] {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        drop(claim_dir(dir.path(), true, Sharing::Exclusive).unwrap());
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(left, [".aichaos-output", ".notes.partial", "keep.partial"]);
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
        let refused = claim_dir(&link, true, Sharing::Exclusive)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("symbolic link") && refused.contains("nowhere"),
            "{refused}"
        );
    }
}
