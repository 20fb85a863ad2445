//! Finished work kept across an interruption: a sweep's or an incident search's runs, one
//! JSON line each, appended as they finish, so that `--resume` runs only what is missing
//! and ends with exactly the results of an uninterrupted run (floats round-trip exactly
//! through serde_json's `float_roundtrip`).
//!
//! The first line is a header naming the work (the command's whole specification); a
//! resume with another specification is refused. A line cut short by the interruption is
//! ignored. The file is removed when the work completes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(serde::Serialize, serde::Deserialize)]
struct Line<T> {
    job: usize,
    result: T,
}

#[derive(Debug)]
pub struct Checkpoint<T> {
    path: PathBuf,
    done: BTreeMap<usize, T>,
    writer: Mutex<File>,
}

impl<T: Serialize + DeserializeOwned + Clone> Checkpoint<T> {
    /// Opens `dir/name` for the work `header`. With `resume`, loads what a previous
    /// attempt finished (it must have been the same work); without, starts afresh, but
    /// refuses to discard an interrupted attempt's progress unless `force`.
    pub fn open(
        dir: &Path,
        name: &str,
        header: &Value,
        resume: bool,
        force: bool,
    ) -> Result<Self, String> {
        let path = dir.join(name);
        let mut done = BTreeMap::new();
        if resume {
            let file = File::open(&path).map_err(|e| {
                format!(
                    "nothing to resume: cannot read {} ({e}); run without --resume",
                    path.display()
                )
            })?;
            let mut lines = BufReader::new(file).lines();
            let first: Value = lines
                .next()
                .and_then(Result::ok)
                .and_then(|l| serde_json::from_str(&l).ok())
                .ok_or_else(|| format!("{} has no header: not a progress file", path.display()))?;
            if &first != header {
                return Err(format!(
                    "{} holds the progress of different work (other parameters, file, seeds or \
                     replications); run the same command as before with --resume, or drop \
                     --resume and add --force to start over",
                    path.display()
                ));
            }
            for line in lines.map_while(Result::ok) {
                // A line cut by the interruption is the last one: skip it.
                if let Ok(entry) = serde_json::from_str::<Line<T>>(&line) {
                    done.insert(entry.job, entry.result);
                }
            }
        } else if path.exists() && !force {
            return Err(format!(
                "{} holds the progress of an interrupted run; add --resume to continue it, or \
                 --force to start over",
                path.display()
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut file = if resume {
            OpenOptions::new().append(true).open(&path)
        } else {
            File::create(&path)
        }
        .map_err(|e| format!("{}: {e}", path.display()))?;
        if resume {
            // Whatever partial line the interruption left ends here.
            file.write_all(b"\n")
        } else {
            file.write_all(format!("{header}\n").as_bytes())
        }
        .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Checkpoint {
            path,
            done,
            writer: Mutex::new(file),
        })
    }

    /// The result of `job` if an earlier attempt finished it.
    pub fn prior(&self, job: usize) -> Option<T> {
        self.done.get(&job).cloned()
    }

    pub fn resumed(&self) -> usize {
        self.done.len()
    }

    /// Appends a finished job. A failure to write only costs the ability to resume it.
    pub fn record(&self, job: usize, result: &T) {
        let line = serde_json::to_string(&Line {
            job,
            result: result.clone(),
        })
        .expect("a result serializes");
        let mut file = self.writer.lock().expect("no writer panics holding it");
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The work is complete: the progress file has served.
    pub fn complete(self) {
        drop(self.writer);
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_gets_back_what_was_recorded_and_only_for_the_same_work() {
        let dir = tempfile::tempdir().unwrap();
        let header = serde_json::json!({"work": 1});
        let c: Checkpoint<Vec<f64>> =
            Checkpoint::open(dir.path(), "p.jsonl", &header, false, false).unwrap();
        c.record(3, &vec![0.1 + 0.2, 1e-300]);
        c.record(0, &vec![f64::MAX]);
        drop(c);
        // A torn last line, as an interruption mid-write leaves.
        let path = dir.path().join("p.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"job\":7,\"res");
        std::fs::write(&path, text).unwrap();
        assert!(
            Checkpoint::<Vec<f64>>::open(dir.path(), "p.jsonl", &header, false, false)
                .unwrap_err()
                .contains("--resume")
        );
        let other = serde_json::json!({"work": 2});
        assert!(
            Checkpoint::<Vec<f64>>::open(dir.path(), "p.jsonl", &other, true, false)
                .unwrap_err()
                .contains("different work")
        );
        let c: Checkpoint<Vec<f64>> =
            Checkpoint::open(dir.path(), "p.jsonl", &header, true, false).unwrap();
        assert_eq!(c.resumed(), 2);
        assert_eq!(c.prior(3), Some(vec![0.1 + 0.2, 1e-300]));
        assert_eq!(c.prior(0), Some(vec![f64::MAX]));
        assert_eq!(c.prior(7), None);
        c.record(7, &vec![2.0]);
        drop(c);
        let c: Checkpoint<Vec<f64>> =
            Checkpoint::open(dir.path(), "p.jsonl", &header, true, false).unwrap();
        assert_eq!(c.prior(7), Some(vec![2.0]));
        c.complete();
        assert!(!path.exists());
    }
}
