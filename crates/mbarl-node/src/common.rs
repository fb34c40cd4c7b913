//! Parameters every learning node shares, run directory and config loading.
use crate::{NodeError, Result};
use mbarl_learn::{DeviceChoice, LearnConfig};
use mbarl_ros::ParamSpec;
use std::path::PathBuf;

/// `run_dir`, `learn_config`, `device`, `torch_threads`.
pub fn params() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new(
            "run_dir",
            "",
            "run directory (default: $MBARL_RUN_DIR, else ./runs/default)",
        ),
        ParamSpec::new(
            "learn_config",
            "",
            "LearnConfig YAML (e.g. config/presets/state.yaml); empty: mbarl-learn defaults",
        ),
        ParamSpec::new("device", "cpu", "cpu | cuda | cuda:N | auto"),
        ParamSpec::new("torch_threads", 1i64, "libtorch intra-op threads"),
    ]
}

/// The run directory: the parameter, else `$MBARL_RUN_DIR`, else `./runs/default`.
pub fn run_dir(param: &str) -> PathBuf {
    if !param.is_empty() {
        return PathBuf::from(param);
    }
    match std::env::var("MBARL_RUN_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from("runs/default"),
    }
}

/// Loads the LearnConfig (defaults when `path` is empty) and applies the device parameter.
pub fn learn_config(path: &str, device: &str) -> Result<LearnConfig> {
    let mut cfg = if path.is_empty() {
        LearnConfig::default()
    } else {
        LearnConfig::from_yaml_file(path)?
    };
    cfg.device = device
        .parse::<DeviceChoice>()
        .map_err(|e| NodeError::Config(e.to_string()))?;
    Ok(cfg)
}

/// Sets libtorch's intra-op threads (1 by default in nodes: control latency on small CPUs).
pub fn set_threads(n: i64) {
    if n > 0 {
        tch::set_num_threads(n as i32);
    }
}

/// What a training thread does next: with a training budget left it only picks up a command
/// that is already waiting (`Ok(None)`: train a step); without one it waits up to 100 ms for a
/// command (`Ok(None)`: nothing came). `Err(())`: the node side hung up, stop.
#[allow(clippy::result_unit_err)]
pub fn next_command<T>(
    rx: &std::sync::mpsc::Receiver<T>,
    budget: bool,
) -> std::result::Result<Option<T>, ()> {
    use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
    if budget {
        match rx.try_recv() {
            Ok(c) => Ok(Some(c)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(()),
        }
    } else {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(c) => Ok(Some(c)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        }
    }
}
