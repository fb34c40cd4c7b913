//! A process's log file, `<run_dir>/logs/<process>.log`, rotated by size so that a suite
//! running around the clock keeps its logs bounded: past `max_bytes` the file becomes
//! `<process>.log.1` (the older ones `.2`, … up to `keep`, the oldest deleted) and a new one
//! starts.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How logs rotate (launch file `logs:`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogPolicy {
    /// Size (MB) at which a log file is rotated; 0: never.
    pub max_mb: f64,
    /// Rotated files kept per process (`.1` … `.keep`).
    pub keep: u32,
}

impl Default for LogPolicy {
    fn default() -> Self {
        Self {
            max_mb: 50.0,
            keep: 3,
        }
    }
}

impl LogPolicy {
    fn max_bytes(&self) -> Option<u64> {
        (self.max_mb.is_finite() && self.max_mb > 0.0).then_some((self.max_mb * 1e6) as u64)
    }
}

pub struct LogFile {
    path: PathBuf,
    policy: LogPolicy,
    file: Option<File>,
    written: u64,
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl LogFile {
    /// Appends to `path` (created if needed).
    pub fn open(path: &Path, policy: LogPolicy) -> Self {
        let file = OpenOptions::new().create(true).append(true).open(path).ok();
        let written = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        Self {
            path: path.to_path_buf(),
            policy,
            file,
            written,
        }
    }

    /// Writes one line (a newline is added), rotating first when the file is full.
    pub fn line(&mut self, line: &str) {
        if let Some(max) = self.policy.max_bytes()
            && self.written > 0
            && self.written + line.len() as u64 + 1 > max
        {
            self.rotate();
        }
        if let Some(f) = self.file.as_mut()
            && f.write_all(format!("{line}\n").as_bytes()).is_ok()
        {
            self.written += line.len() as u64 + 1;
        }
    }

    fn rotate(&mut self) {
        self.file = None;
        if self.policy.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(rotated(&self.path, self.policy.keep));
            for n in (1..self.policy.keep).rev() {
                let _ = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
            }
            let _ = std::fs::rename(&self.path, rotated(&self.path, 1));
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .ok();
        self.written = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_rotate_by_size_and_keep_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.log");
        let policy = LogPolicy {
            max_mb: 100e-6, // 100 bytes
            keep: 2,
        };
        let mut log = LogFile::open(&path, policy.clone());
        for i in 0..40 {
            log.line(&format!("line {i:03} ........")); // 18 bytes + newline
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        // 5 lines per file: 40 lines made 8 files; the newest three remain
        assert_eq!(read(&path).lines().count(), 5);
        assert!(read(&path).ends_with("line 039 ........\n"));
        assert!(read(&rotated(&path, 1)).starts_with("line 030"));
        assert!(read(&rotated(&path, 2)).starts_with("line 025"));
        assert!(!rotated(&path, 3).exists());
        // a restarted launcher appends to the current file and goes on rotating
        let mut again = LogFile::open(&path, policy);
        again.line("after restart ....");
        assert!(read(&rotated(&path, 1)).starts_with("line 035"));
        assert_eq!(read(&path), "after restart ....\n");
    }

    #[test]
    fn no_limit_never_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut log = LogFile::open(
            &path,
            LogPolicy {
                max_mb: 0.0,
                keep: 3,
            },
        );
        for _ in 0..100 {
            log.line("0123456789");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 100);
        assert!(!rotated(&path, 1).exists());
    }
}
