//! Demo datasets: `<run_dir>/demos/<role>/<name>/`, MCAP bags of `mbarl_msgs/msg/Transition`
//! on `/mbarl/demo/transitions` (written by `mbarl demo import`), read with
//! [`mbarl_bag::demo::Transitions`] (which restores the next-observation frames a compact
//! dataset shares).
use crate::{NodeError, Result};
use mbarl_bag::Bag;
use mbarl_bag::demo::Transitions;
use mbarl_msgs::msg::Transition;
use std::path::{Path, PathBuf};

pub use mbarl_bag::demo::TRANSITIONS_TOPIC;

/// Dataset directories of a role (`forward` or `backward`), sorted by name.
pub fn dataset_dirs(run_dir: &Path, role: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run_dir.join("demos").join(role))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Every transition of one dataset, in order (corrupt parts are skipped with a warning).
pub fn read_dataset(dir: &Path) -> Result<Vec<Transition>> {
    let err = |reason: String| NodeError::Demo {
        path: dir.display().to_string(),
        reason,
    };
    let bag = Bag::open(dir).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    for t in Transitions::new(&bag, true) {
        match t {
            Ok(t) => out.push(t),
            Err(e) => tracing::warn!(dataset = %dir.display(), "skipping a demo message: {e}"),
        }
    }
    Ok(out)
}

/// Every transition of every dataset of a role (none when the role has no datasets).
pub fn load_role(run_dir: &Path, role: &str) -> Result<Vec<Transition>> {
    let mut out = Vec::new();
    for d in dataset_dirs(run_dir, role) {
        let t = read_dataset(&d)?;
        tracing::info!(dataset = %d.display(), transitions = t.len(), "demo dataset loaded");
        out.extend(t);
    }
    Ok(out)
}
