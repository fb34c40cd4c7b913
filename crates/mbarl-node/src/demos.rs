//! Demo datasets: `<run_dir>/demos/<role>/<name>/`, MCAP bags of `mbarl_msgs/msg/Transition`
//! on `/mbarl/demo/transitions` (written by `mbarl demo import`), read with
//! [`mbarl_bag::demo::Transitions`] (which restores the next-observation frames a compact
//! dataset shares).
use crate::{NodeError, Result};
use mbarl_bag::Bag;
use mbarl_bag::demo::Transitions;
use mbarl_learn::{LearnConfig, StateNorm};
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
    check_layout(&bag).map_err(err)?;
    let mut out = Vec::new();
    for t in Transitions::new(&bag, true) {
        match t {
            Ok(t) => out.push(t),
            Err(e) => tracing::warn!(dataset = %dir.display(), "skipping a demo message: {e}"),
        }
    }
    Ok(out)
}

/// A dataset written with another `mbarl_msgs/msg/Transition` definition (an earlier mbarl,
/// before `Observation.joint_command`) does not decode: every message would be skipped and the
/// policies would train without demos. It is refused, saying how to import it again.
fn check_layout(bag: &Bag) -> std::result::Result<(), String> {
    let Ok(topic) = bag.topic(TRANSITIONS_TOPIC) else {
        return Ok(()); // an empty dataset: nothing to decode
    };
    let stored = topic.definition.as_deref().unwrap_or_default();
    if stored.is_empty()
        || mbarl_bag::decode::decodes_as_current(&topic.type_name, stored) != Some(false)
    {
        return Ok(());
    }
    Err(format!(
        "imported by another mbarl version ({} has another definition now): import it again \
         from its bags with `mbarl demo import` (sim/record_demos.sh keeps them under <run-dir>/bags)",
        topic.type_name
    ))
}

/// Do the run's demos fit the learn config? Each dataset's first transition must convert
/// ([`crate::convert::transition`]): a config made for another arm (its `obs.action_dim`,
/// `obs.state_dim`, `obs.proprio_dim`) would otherwise refuse every demo, one warning each,
/// and train without them. The error names both sides. Learning nodes call it at start-up.
pub fn check_fits(run_dir: &Path, cfg: &LearnConfig) -> Result<()> {
    for role in ["forward", "backward"] {
        for dir in dataset_dirs(run_dir, role) {
            let Ok(bag) = Bag::open(&dir) else {
                continue; // read_dataset reports an unreadable dataset when it is loaded
            };
            let Some(Ok(t)) = Transitions::new(&bag, true).next() else {
                continue;
            };
            if let Err(e) = crate::convert::transition(&t, cfg, 0.0, true) {
                let o = &t.observation;
                return Err(NodeError::Demo {
                    path: dir.display().to_string(),
                    reason: format!(
                        "does not fit the learn config ({e}): the demos have {} joints {:?}, {} task-state values, actions of {}; \
                         the learn config has obs.action_dim {}, obs.state_dim {}, obs.proprio_dim {} \
                         (state mode: state_dim = task-state values + 1, 2 or 3 x joints; see docs/real-arm.md)",
                        o.joint_position.len(),
                        o.joint_names,
                        o.state.len(),
                        t.action.len(),
                        cfg.obs.action_dim,
                        cfg.obs.state_dim,
                        cfg.obs.proprio_dim,
                    ),
                });
            }
        }
    }
    Ok(())
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

/// `encoder.state_from_demos`: the state statistics of every demo observation in
/// `<run_dir>/demos/` (forward, then backward datasets, in name order), under `cfg`'s
/// observation layout. A demo observation that does not convert is an error: the
/// statistics would otherwise depend on which messages happened to be readable.
pub fn state_norm(run_dir: &Path, cfg: &LearnConfig) -> Result<StateNorm> {
    let mut states = Vec::new();
    for role in ["forward", "backward"] {
        for t in load_role(run_dir, role)? {
            let obs = crate::convert::observation(&t.observation, cfg)?;
            states.extend(obs.state);
        }
    }
    if states.is_empty() {
        return Err(NodeError::Config(format!(
            "encoder.state_from_demos: no demo observations in {}",
            run_dir.join("demos").display()
        )));
    }
    Ok(StateNorm::from_states(
        states.iter().map(|s| s.as_slice()),
        cfg.obs.state_dim,
        cfg.encoder.state_std_floor,
    )?)
}
