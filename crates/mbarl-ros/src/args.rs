//! ROS 2 command-line arguments (`--ros-args … [--]`), as rcl understands them.
//!
//! Supported inside a `--ros-args` section:
//! `-r/--remap [node:]from:=to` (including `__node:=` and `__ns:=`),
//! `-p/--param [node:]name:=value`, `--params-file FILE`, `--log-level [logger:=]LEVEL`,
//! `-e/--enclave ENCLAVE`, and the rosout/stdout/external-lib log switches (accepted, ignored).
//! Everything outside `--ros-args` sections is returned to the program untouched.

use std::path::PathBuf;

use thiserror::Error;

/// A `from:=to` rule, optionally restricted to one node (`node:from:=to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    pub node: Option<String>,
    pub from: String,
    pub to: String,
}

/// A `-p name:=value` override; the value is YAML, as in rcl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamOverride {
    pub node: Option<String>,
    pub name: String,
    pub value: String,
}

/// The ROS-specific part of a command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosArgs {
    pub remaps: Vec<Remap>,
    pub params: Vec<ParamOverride>,
    pub params_files: Vec<PathBuf>,
    pub log_level: Option<String>,
    pub enclave: Option<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ArgsError {
    #[error("--ros-args: `{0}` needs a value")]
    MissingValue(String),
    #[error("--ros-args: `{flag} {value}` is not of the form [node:]name:=value")]
    BadRule { flag: String, value: String },
    #[error(
        "--ros-args: unknown argument `{0}` (see `ros2 run --help` conventions: -r, -p, --params-file, --log-level, -e)"
    )]
    Unknown(String),
}

impl RosArgs {
    /// Splits `args` (without the program name) into the program's own arguments and the ROS ones.
    pub fn parse<I, S>(args: I) -> Result<(Vec<String>, RosArgs), ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut user = Vec::new();
        let mut ros = RosArgs::default();
        let mut it = args.into_iter().map(Into::into);
        let mut in_ros = false;
        while let Some(arg) = it.next() {
            if arg == "--ros-args" {
                in_ros = true;
                continue;
            }
            if !in_ros {
                user.push(arg);
                continue;
            }
            let mut value_of = |flag: &str| {
                it.next()
                    .ok_or_else(|| ArgsError::MissingValue(flag.to_string()))
            };
            match arg.as_str() {
                "--" => in_ros = false,
                "-r" | "--remap" => {
                    let v = value_of(&arg)?;
                    let (node, from, to) = split_rule(&arg, &v)?;
                    ros.remaps.push(Remap { node, from, to });
                }
                "-p" | "--param" => {
                    let v = value_of(&arg)?;
                    let (node, name, value) = split_rule(&arg, &v)?;
                    ros.params.push(ParamOverride { node, name, value });
                }
                "--params-file" => ros.params_files.push(PathBuf::from(value_of(&arg)?)),
                "--log-level" => ros.log_level = Some(value_of(&arg)?),
                "-e" | "--enclave" => ros.enclave = Some(value_of(&arg)?),
                "--log-config-file" | "--log-file-name" => {
                    value_of(&arg)?;
                }
                "--enable-rosout-logs"
                | "--disable-rosout-logs"
                | "--enable-stdout-logs"
                | "--disable-stdout-logs"
                | "--enable-external-lib-logs"
                | "--disable-external-lib-logs" => {}
                other => return Err(ArgsError::Unknown(other.to_string())),
            }
        }
        Ok((user, ros))
    }

    /// Parses this process's command line (`std::env::args`, program name excluded).
    pub fn from_env() -> Result<(Vec<String>, RosArgs), ArgsError> {
        Self::parse(std::env::args().skip(1))
    }

    /// The node name set with `-r __node:=name` (for this node or all nodes), if any.
    pub fn node_name_override(&self, node: &str) -> Option<&str> {
        self.special("__node", node)
    }

    /// The namespace set with `-r __ns:=/ns`, if any.
    pub fn namespace_override(&self, node: &str) -> Option<&str> {
        self.special("__ns", node)
    }

    fn special(&self, key: &str, node: &str) -> Option<&str> {
        self.remaps
            .iter()
            .rev()
            .find(|r| r.from == key && r.node.as_deref().is_none_or(|n| n == node))
            .map(|r| r.to.as_str())
    }
}

/// `[node:]from:=to` → (node, from, to).
fn split_rule(flag: &str, rule: &str) -> Result<(Option<String>, String, String), ArgsError> {
    let bad = || ArgsError::BadRule {
        flag: flag.to_string(),
        value: rule.to_string(),
    };
    let (lhs, rhs) = rule.split_once(":=").ok_or_else(bad)?;
    // A node prefix is `name:` before the key; a key itself never contains ':' except in `rosservice:`/`rostopic:` URLs.
    let (node, key) = match lhs.split_once(':') {
        Some((node, key)) if !node.is_empty() && !node.starts_with("ros") => {
            (Some(node.to_string()), key)
        }
        _ => (None, lhs),
    };
    if key.is_empty() {
        return Err(bad());
    }
    Ok((node, key.to_string(), rhs.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_user_and_ros_args() {
        let (user, ros) = RosArgs::parse([
            "--config",
            "a.yaml",
            "--ros-args",
            "-r",
            "/joint_states:=/arm/joint_states",
            "-r",
            "__ns:=/robot1",
            "-p",
            "rate:=20.0",
            "-p",
            "arbiter:limits:=[1, 2]",
            "--params-file",
            "p.yaml",
            "--log-level",
            "debug",
            "--",
            "--verbose",
        ])
        .unwrap();
        assert_eq!(user, ["--config", "a.yaml", "--verbose"]);
        assert_eq!(ros.remaps[0].from, "/joint_states");
        assert_eq!(ros.remaps[0].to, "/arm/joint_states");
        assert_eq!(ros.namespace_override("any"), Some("/robot1"));
        assert_eq!(
            ros.params[0],
            ParamOverride {
                node: None,
                name: "rate".into(),
                value: "20.0".into()
            }
        );
        assert_eq!(ros.params[1].node.as_deref(), Some("arbiter"));
        assert_eq!(ros.params_files, [PathBuf::from("p.yaml")]);
        assert_eq!(ros.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn node_specific_special_remaps() {
        let (_, ros) = RosArgs::parse(["--ros-args", "-r", "talker:__node:=speaker"]).unwrap();
        assert_eq!(ros.node_name_override("talker"), Some("speaker"));
        assert_eq!(ros.node_name_override("listener"), None);
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(
            RosArgs::parse(["--ros-args", "-p"]),
            Err(ArgsError::MissingValue("-p".into()))
        );
        assert!(matches!(
            RosArgs::parse(["--ros-args", "-p", "novalue"]),
            Err(ArgsError::BadRule { .. })
        ));
        assert_eq!(
            RosArgs::parse(["--ros-args", "--bogus"]),
            Err(ArgsError::Unknown("--bogus".into()))
        );
    }
}
