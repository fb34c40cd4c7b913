//! The launch file.
//!
//! ```yaml
//! run_dir: runs/reach_state          # created; relative paths are relative to the launch file's
//!                                    # directory's parent (the repository root for config/launch/)
//! ros_domain_id: 42                  # optional; default: the environment's ROS_DOMAIN_ID
//! params_files: [config/robots/sim_arm.yaml, config/presets/state.yaml]
//! params: {use_sim_time: true}       # -p for every node
//! env: {MUJOCO_GL: egl}              # extra environment for every process
//! restart: {initial_backoff_s: 0.5, max_backoff_s: 10, max_restarts: 20, grace_s: 5}
//! processes:
//!   - name: sim                      # the simulator is a process like the others
//!     cmd: ["${MBARL_ROS_PYTHON}", -m, mbarl_sim.bridge]
//!     ros: true                      # append --ros-args … (default true)
//!     params: {task: reach, lockstep: true}
//!   - name: phase_arbiter
//!     cmd: [phase_arbiter]           # a bare name is looked up next to the mbarl binary, then in PATH
//!     remap: {/arm_controller/commands: /arm_controller/commands}
//! ```
//! `${VAR}` in `cmd`, `params_files`, `env` values and string `params` is replaced from the
//! environment (an unset variable is an error naming it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LaunchError {
    #[error("cannot read launch file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("launch file {path}: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("launch file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("launch file {path}: `${{{var}}}` is not set in the environment")]
    UnsetVar { path: PathBuf, var: String },
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    pub initial_backoff_s: f64,
    pub max_backoff_s: f64,
    /// Give up on a process (and stop the launch) after this many restarts.
    pub max_restarts: u32,
    /// A process that ran this long has its backoff reset.
    pub healthy_after_s: f64,
    /// Ctrl-C: SIGINT first, SIGKILL after this many seconds.
    pub grace_s: f64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff_s: 0.5,
            max_backoff_s: 10.0,
            max_restarts: 20,
            healthy_after_s: 30.0,
            grace_s: 5.0,
        }
    }
}

/// One supervised process.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    pub name: String,
    pub cmd: Vec<String>,
    /// Append ROS 2 arguments (node name, params files, params, remaps).
    #[serde(default = "yes")]
    pub ros: bool,
    #[serde(default)]
    pub params: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    pub remap: BTreeMap<String, String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Restart when it exits (default true); `false` for one-shot helpers.
    #[serde(default = "yes")]
    pub restart: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LaunchConfig {
    pub run_dir: PathBuf,
    #[serde(default)]
    pub ros_domain_id: Option<u16>,
    #[serde(default)]
    pub params_files: Vec<PathBuf>,
    #[serde(default)]
    pub params: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// How `<run_dir>/logs/<process>.log` rotates.
    #[serde(default)]
    pub logs: crate::log_file::LogPolicy,
    pub processes: Vec<ProcessSpec>,
}

impl LaunchConfig {
    /// Reads and checks a launch file; relative paths become absolute against `base` (when
    /// `None`: the nearest ancestor of the launch file with a `Cargo.toml`, the repository root).
    pub fn load(path: &Path, base: Option<&Path>) -> Result<Self, LaunchError> {
        let text = std::fs::read_to_string(path).map_err(|source| LaunchError::Io {
            path: path.into(),
            source,
        })?;
        let base = base
            .map(Path::to_path_buf)
            .unwrap_or_else(|| project_root(path));
        Self::parse(&text, path, &base, &|v| std::env::var(v).ok())
    }

    pub fn parse(
        text: &str,
        path: &Path,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, LaunchError> {
        let mut c: LaunchConfig = serde_yaml_ng::from_str(text).map_err(|e| LaunchError::Yaml {
            path: path.into(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| LaunchError::Invalid {
            path: path.into(),
            message,
        };
        if c.processes.is_empty() {
            return Err(invalid("no processes".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &mut c.processes {
            if p.cmd.is_empty() {
                return Err(invalid(format!("process {} has an empty cmd", p.name)));
            }
            if !names.insert(p.name.clone()) {
                return Err(invalid(format!("two processes are named {}", p.name)));
            }
            for part in p.cmd.iter_mut() {
                *part = expand(part, path, env)?;
            }
            for v in p.env.values_mut() {
                *v = expand(v, path, env)?;
            }
        }
        for v in c.env.values_mut() {
            *v = expand(v, path, env)?;
        }
        for v in c
            .params
            .values_mut()
            .chain(c.processes.iter_mut().flat_map(|p| p.params.values_mut()))
        {
            if let serde_yaml_ng::Value::String(s) = v {
                *s = expand(s, path, env)?;
            }
        }
        let absolute = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        c.run_dir = absolute(&c.run_dir);
        c.params_files = c
            .params_files
            .iter()
            .map(|f| {
                Ok(absolute(Path::new(&expand(
                    &f.to_string_lossy(),
                    path,
                    env,
                )?)))
            })
            .collect::<Result<_, LaunchError>>()?;
        for f in &c.params_files {
            if !f.exists() {
                return Err(invalid(format!(
                    "params file {} does not exist",
                    f.display()
                )));
            }
        }
        if c.restart.initial_backoff_s <= 0.0
            || c.restart.max_backoff_s < c.restart.initial_backoff_s
        {
            return Err(invalid(
                "restart: need 0 < initial_backoff_s <= max_backoff_s".into(),
            ));
        }
        Ok(c)
    }

    /// The full argument list of a process (after `cmd[0]`).
    pub fn args_of(&self, p: &ProcessSpec) -> Vec<String> {
        let mut args: Vec<String> = p.cmd[1..].to_vec();
        if !p.ros {
            return args;
        }
        args.extend([
            "--ros-args".into(),
            "-r".into(),
            format!("__node:={}", p.name),
        ]);
        for f in &self.params_files {
            args.extend(["--params-file".into(), f.display().to_string()]);
        }
        for (k, v) in self.params.iter().chain(&p.params) {
            args.extend(["-p".into(), format!("{k}:={}", yaml_scalar(v))]);
        }
        for (from, to) in &p.remap {
            args.extend(["-r".into(), format!("{from}:={to}")]);
        }
        args
    }
}

/// The project a launch file belongs to: the nearest ancestor directory holding a `Cargo.toml`
/// (the repository root for `config/launch/*.yaml`), else the launch file's own directory.
fn project_root(launch_file: &Path) -> PathBuf {
    let file = launch_file
        .canonicalize()
        .unwrap_or_else(|_| launch_file.to_path_buf());
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    dir.ancestors()
        .find(|d| d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or(dir)
}

/// A YAML value as rcl's `-p name:=value` wants it (flow style, one line).
fn yaml_scalar(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::Sequence(items) => {
            format!(
                "[{}]",
                items.iter().map(yaml_scalar).collect::<Vec<_>>().join(", ")
            )
        }
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn expand(
    s: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, LaunchError> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| LaunchError::Invalid {
            path: path.into(),
            message: format!("unclosed ${{ in `{s}`"),
        })?;
        let var = &after[..end];
        out.push_str(&env(var).ok_or_else(|| LaunchError::UnsetVar {
            path: path.into(),
            var: var.into(),
        })?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<LaunchConfig, LaunchError> {
        let env = |v: &str| (v == "PY").then(|| "/venv/bin/python".to_string());
        LaunchConfig::parse(yaml, Path::new("l.yaml"), Path::new("/repo"), &env)
    }

    #[test]
    fn builds_ros_arguments() {
        let c = parse(
            "run_dir: runs/x
params: {use_sim_time: true}
processes:
  - name: sim
    cmd: ['${PY}', -m, mbarl_sim.bridge]
    params: {task: reach, joint_lower: [-1.5, 0.5], python: '${PY}'}
  - name: helper
    cmd: [sleep, '1']
    ros: false
",
        )
        .unwrap();
        assert_eq!(c.run_dir, PathBuf::from("/repo/runs/x"));
        assert_eq!(c.processes[0].cmd[0], "/venv/bin/python");
        let args = c.args_of(&c.processes[0]);
        assert_eq!(
            args,
            [
                "-m",
                "mbarl_sim.bridge",
                "--ros-args",
                "-r",
                "__node:=sim",
                "-p",
                "use_sim_time:=true",
                "-p",
                "joint_lower:=[-1.5, 0.5]",
                "-p",
                "python:=/venv/bin/python",
                "-p",
                "task:=reach"
            ]
        );
        assert_eq!(c.args_of(&c.processes[1]), ["1"]);
    }

    #[test]
    fn shipped_launch_files_load() {
        let root = mbarl_testkit::repo_root().canonicalize().unwrap();
        assert_eq!(
            project_root(&root.join("config/launch/sim_reach_state.yaml")),
            root
        );
        for entry in std::fs::read_dir(root.join("config/launch")).unwrap() {
            let path = entry.unwrap().path();
            let env = |v: &str| Some(format!("/env/{v}"));
            let text = std::fs::read_to_string(&path).unwrap();
            let c =
                LaunchConfig::parse(&text, &path, &root, &env).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                c.processes.iter().any(|p| p.name == "phase_arbiter"),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let e = parse("run_dir: r\nprocesses:\n  - {name: a, cmd: ['${NOPE}']}\n").unwrap_err();
        assert!(e.to_string().contains("NOPE"), "{e}");
        let e = parse("run_dir: r\nprocesses:\n  - {name: a, cmd: [x]}\n  - {name: a, cmd: [y]}\n")
            .unwrap_err();
        assert!(e.to_string().contains("two processes"), "{e}");
        let e = parse("run_dir: r\nprocesses: []\nbogus: 1\n").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = parse(
            "run_dir: r\nparams_files: [missing.yaml]\nprocesses:\n  - {name: a, cmd: [x]}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("missing.yaml"), "{e}");
    }
}
