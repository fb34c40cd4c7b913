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

/// `encoder.state_from_demos`: computes the state standardisation from the run's demos and
/// puts it into the config (every node computes the same numbers from the same files); logs it.
/// A config without the switch is left as it is.
pub fn resolve_state_norm(cfg: &mut LearnConfig, run_dir: &std::path::Path) -> Result<()> {
    if !cfg.encoder.state_from_demos {
        return Ok(());
    }
    let norm = crate::demos::state_norm(run_dir, cfg)?;
    tracing::info!(shift = ?norm.shift, scale = ?norm.scale, "state standardised by the demos' statistics");
    cfg.set_state_norm(norm)?;
    Ok(())
}

/// Sets up a learning thread: libtorch intra-op threads, and the lowest scheduling class
/// (Linux `SCHED_IDLE`, for this thread and the threads it starts): gradient steps only get the
/// CPU that acting, encoding, the arbiter's control loop and the arm's drivers leave idle, so
/// they never delay a command on a small machine. (nice +10 alone left a p99 of 24 ms frame →
/// command on 2 cores; `docs/notes/2026-12-07-results-history.md`.) Falls back to nice +10 where `SCHED_IDLE` is refused.
/// Lock-step pacing keeps the learning per env step unchanged when training gets less CPU.
pub fn training_thread(threads: i64) {
    set_threads(threads);
    // SAFETY: sched_setscheduler / setpriority on this thread's own id (Linux: per-thread
    // scheduling); the parameter struct lives for the call; no other memory is shared.
    #[cfg(target_os = "linux")]
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            if libc::setpriority(libc::PRIO_PROCESS, tid, 10) != 0 {
                tracing::debug!("could not lower the training thread's priority");
            }
        }
    }
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

/// What every learning node reads from the shared parameters ([`params`]) at start-up.
pub struct LearnSetup {
    pub cfg: LearnConfig,
    pub device: tch::Device,
    pub run_dir: PathBuf,
    /// libtorch intra-op threads, for the node's training thread too (see [`set_threads`]).
    pub threads: i64,
}

impl LearnSetup {
    /// Sets this thread's libtorch threads, loads the LearnConfig with the `device` parameter
    /// applied, resolves the device and the run directory.
    pub fn from_node(node: &mbarl_ros::RosNode) -> Result<Self> {
        let param_err = |e: mbarl_ros::TransportError| NodeError::Config(e.to_string());
        let threads: i64 = node.param("torch_threads").map_err(param_err)?;
        set_threads(threads);
        let mut cfg = learn_config(
            &node.param::<String>("learn_config").map_err(param_err)?,
            &node.param::<String>("device").map_err(param_err)?,
        )?;
        let device = cfg.device.resolve()?;
        let run_dir = run_dir(&node.param::<String>("run_dir").map_err(param_err)?);
        crate::demos::check_fits(&run_dir, &cfg)?;
        resolve_state_norm(&mut cfg, &run_dir)?;
        Ok(Self {
            cfg,
            device,
            run_dir,
            threads,
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_training_thread_runs_at_the_lowest_priority_and_no_other_thread_does() {
        // SAFETY: reading this thread's own scheduling class and nice value.
        let class = || unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            (
                libc::sched_getscheduler(0),
                libc::getpriority(libc::PRIO_PROCESS, tid),
            )
        };
        let before = class();
        let (sched, nice) = std::thread::spawn(move || {
            super::training_thread(1);
            class()
        })
        .join()
        .unwrap();
        assert!(sched == libc::SCHED_IDLE || nice >= 10, "{sched} {nice}");
        assert_eq!(class(), before, "the caller's thread keeps its priority");
    }
}
