//! `<run_dir>/checkpoints/<component>/v<version>.safetensors` (+ `.json` manifest).
use crate::Result;
use mbarl_learn::checkpoint::{self, CheckpointBytes};
use std::path::{Path, PathBuf};

pub struct CheckpointStore {
    dir: PathBuf,
    keep: usize,
}

impl CheckpointStore {
    /// The store of `component` under `run_dir`, keeping the newest `keep` versions.
    pub fn new(run_dir: &Path, component: &str, keep: usize) -> Self {
        Self {
            dir: run_dir.join("checkpoints").join(component),
            keep: keep.max(1),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, version: u64) -> PathBuf {
        self.dir.join(format!("v{version}.safetensors"))
    }

    /// Versions on disk, newest first.
    pub fn versions(&self) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix('v')?
                    .strip_suffix(".safetensors")?
                    .parse::<u64>()
                    .ok()
            })
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }

    /// Saves a checkpoint and prunes old versions.
    pub fn save(&self, ck: &CheckpointBytes) -> Result<()> {
        checkpoint::save(self.path(ck.meta.version), ck)?;
        for old in self.versions().into_iter().skip(self.keep) {
            let p = self.path(old);
            let _ = std::fs::remove_file(checkpoint::manifest_path(&p));
            let _ = std::fs::remove_file(p);
        }
        Ok(())
    }

    /// The newest checkpoint that loads and verifies (a corrupted one is skipped with a warning).
    pub fn load_newest(&self) -> Option<CheckpointBytes> {
        for v in self.versions() {
            match checkpoint::load(self.path(v)) {
                Ok(ck) => return Some(ck),
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), version = v, "skipping a bad checkpoint: {e}")
                }
            }
        }
        None
    }
}
