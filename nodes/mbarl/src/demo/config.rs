//! Which topics carry what, and how demonstrations are imported. Defaults match the sim bridge
//! (`sim/README.md`) and `config/robots/sim_arm.yaml`. A robot profile (`--profile`, the ROS 2
//! params file the nodes read, e.g. `config/robots/sim_arm.yaml`) supplies `joint_names` and
//! `max_step` from its `/**: ros__parameters:` block, and may override topics there (or at the
//! top level of a plain YAML file) under `topics`:
//!
//! ```yaml
//! topics:
//!   camera: /camera/color/image_raw        # sensor_msgs/Image or CompressedImage
//!   joint_states: /joint_states
//!   commands: /arm_controller/commands     # Float64MultiArray position targets or JointTrajectory
//!   state: /mocap/object_state             # optional low-dim state (Float64MultiArray), default none
//!   reward: /task_reward                   # optional task reward (std_msgs/Float64), default none
//!   episode: /mbarl/episode                # optional: any message starts a new episode
//!   reset_count: /sim/reset_count          # optional: any message starts a new episode
//!   camera_info: /camera/camera_info
//!   gripper: /gripper_controller/commands  # with a gripper (gripper.*): its width commands
//! ```
//!
//! A profile with `command_interface: cartesian_pose` takes its commands from
//! `/cartesian_controller/target_pose` (`geometry_msgs/PoseStamped`): each action is the
//! arbiter's end-effector step between consecutive targets, scaled by `cartesian.step_xyz`
//! (and `step_rpy`), plus the gripper's open (+1) or closed (−1) value.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Where the phase arbiter sends `command_interface: joint_trajectory` commands.
pub const JOINT_TRAJECTORY_TOPIC: &str = "/arm_controller/joint_trajectory";

/// Where the phase arbiter sends `command_interface: cartesian_pose` commands.
pub const TARGET_POSE_TOPIC: &str = "/cartesian_controller/target_pose";

/// The sim arm's `max_step` (config/robots/sim_arm.yaml): the arbiter's full-scale action.
pub const DEFAULT_MAX_STEP: f64 = 0.06;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RobotTopics {
    pub camera: String,
    pub joint_states: String,
    pub commands: String,
    pub state: String,
    /// The robot's task reward (`std_msgs/Float64`, the phase arbiter's `task_reward_topic`):
    /// demos recorded with it carry their rewards. None by default.
    pub reward: String,
    pub episode: String,
    pub reset_count: String,
    pub camera_info: String,
    /// The gripper's width commands (`std_msgs/Float64MultiArray` `[width]`), imported as the
    /// action's last value: `/gripper_controller/commands` for an end-effector profile with a
    /// gripper, else none.
    pub gripper: String,
}

impl Default for RobotTopics {
    fn default() -> Self {
        Self {
            camera: "/camera/image_raw".into(),
            joint_states: "/joint_states".into(),
            commands: "/arm_controller/commands".into(),
            // None by default: a state topic is the robot's own low-dimensional state (e.g.
            // motion capture). The sim's `/sim/task_state` is ground truth for evaluation and is
            // never a training input.
            state: String::new(),
            reward: String::new(),
            episode: "/mbarl/episode".into(),
            reset_count: "/sim/reset_count".into(),
            camera_info: "/camera/camera_info".into(),
            // set from a profile with a gripper (gripper.*)
            gripper: String::new(),
        }
    }
}

/// What the importer and recorder take from a robot profile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RobotProfile {
    pub topics: RobotTopics,
    pub joint_names: Option<Vec<String>>,
    pub max_step: Option<Vec<f64>>,
    /// End-effector commands (`command_interface: cartesian_pose`).
    pub end_effector: Option<EndEffector>,
}

impl RobotProfile {
    /// Reads a ROS 2 params file (`/**: ros__parameters: …`) or a plain YAML mapping.
    pub fn from_file(path: &Path) -> Result<Self> {
        use serde_yaml_ng::Value;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading robot profile {}", path.display()))?;
        let doc: Value = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("robot profile {}", path.display()))?;
        let params = doc
            .get("/**")
            .and_then(|n| n.get("ros__parameters"))
            .or_else(|| {
                doc.as_mapping()?
                    .values()
                    .find_map(|n| n.get("ros__parameters"))
            })
            .unwrap_or(&doc);
        let get = |k: &str| params.get(k).cloned();
        let mut topics: RobotTopics = match get("topics") {
            None => RobotTopics::default(),
            Some(v) => serde_yaml_ng::from_value(v)
                .with_context(|| format!("robot profile {}: `topics`", path.display()))?,
        };
        // The commands come on the topic of the profile's command interface (the arbiter's),
        // unless `topics.commands` names another.
        let commands_given = get("topics").is_some_and(|t| t.get("commands").is_some());
        let gripper_given = get("topics").is_some_and(|t| t.get("gripper").is_some());
        let interface = get("command_interface").and_then(|v| v.as_str().map(str::to_owned));
        if !commands_given {
            match interface.as_deref() {
                Some("joint_trajectory") => topics.commands = JOINT_TRAJECTORY_TOPIC.into(),
                Some("cartesian_pose") => topics.commands = TARGET_POSE_TOPIC.into(),
                _ => {}
            }
        }
        let joint_names = get("joint_names")
            .map(serde_yaml_ng::from_value::<Vec<String>>)
            .transpose()
            .with_context(|| format!("robot profile {}: `joint_names`", path.display()))?;
        let max_step = get("max_step")
            .map(serde_yaml_ng::from_value::<Vec<f64>>)
            .transpose()
            .with_context(|| format!("robot profile {}: `max_step`", path.display()))?;
        let end_effector = match interface.as_deref() {
            Some("cartesian_pose") => Some(EndEffector::from_profile(path)?),
            Some("cartesian_twist") => anyhow::bail!(
                "robot profile {}: demonstrations of a cartesian_twist profile cannot be imported yet (record pose targets: cartesian_pose)",
                path.display()
            ),
            _ => None,
        };
        if !gripper_given && end_effector.as_ref().is_some_and(|e| e.gripper.is_some()) {
            topics.gripper = phase_arbiter::command_out::GRIPPER_TOPIC.into();
        }
        Ok(Self {
            topics,
            joint_names,
            max_step,
            end_effector,
        })
    }
}

/// A profile that commands the end effector (`command_interface: cartesian_pose`): actions
/// are the arbiter's end-effector steps between the recorded pose targets, and the gripper's
/// open/close value when it has one.
#[derive(Debug, Clone)]
pub struct EndEffector {
    /// The arbiter's action space for the profile (the same limits and step rule).
    pub space: std::sync::Arc<dyn phase_arbiter::action_space::ActionSpace>,
    /// The gripper's widths, when the profile drives one.
    pub gripper: Option<phase_arbiter::gripper::GripperLimits>,
}

impl PartialEq for EndEffector {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.space, &other.space) && self.gripper == other.gripper
    }
}

impl EndEffector {
    /// The phase arbiter's reading of the profile (`params_file`).
    pub fn from_profile(params_file: &Path) -> Result<Self> {
        use phase_arbiter::config as arbiter;
        let blocks = mbarl_ros::params::load_params_file(params_file)
            .with_context(|| format!("robot profile {}", params_file.display()))?;
        let values = mbarl_ros::params::resolve_params(
            &arbiter::params(),
            "/phase_arbiter",
            "phase_arbiter",
            &blocks,
            &[],
        )
        .with_context(|| format!("robot profile {}", params_file.display()))?;
        let limits = arbiter::limits_from(&values)?;
        let rate: f64 = arbiter::param(&values, "control_rate_hz")?;
        let space = arbiter::action_space_from(&values, &limits, 1.0 / rate.max(1e-3))?;
        Ok(Self {
            space: std::sync::Arc::from(space),
            gripper: arbiter::gripper_from(&values)?.map(|(g, _)| g.limits),
        })
    }
}

impl RobotTopics {
    /// The `topics` of a robot profile (missing keys keep their defaults).
    pub fn from_profile(path: &Path) -> Result<Self> {
        Ok(RobotProfile::from_file(path)?.topics)
    }

    /// What `mbarl record` records by default: camera, camera info, joint states, commands (and
    /// the gripper's, with one).
    pub fn record_list(&self) -> Vec<String> {
        [
            &self.camera,
            &self.camera_info,
            &self.joint_states,
            &self.commands,
            &self.gripper,
        ]
        .into_iter()
        .filter(|t| !t.is_empty())
        .cloned()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ros_params_profile() {
        let p = repo_file("config/robots/sim_arm.yaml");
        let prof = RobotProfile::from_file(&p).unwrap();
        assert_eq!(prof.joint_names.unwrap().len(), 4);
        assert_eq!(prof.max_step.unwrap(), vec![DEFAULT_MAX_STEP; 4]);
        assert_eq!(prof.topics, RobotTopics::default());
    }

    fn repo_file(rel: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel)
    }

    #[test]
    fn a_joint_trajectory_profile_reads_commands_from_the_trajectory_topic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("robot.yaml");
        std::fs::write(
            &p,
            "/**:\n  ros__parameters:\n    command_interface: joint_trajectory\n",
        )
        .unwrap();
        assert_eq!(
            RobotTopics::from_profile(&p).unwrap().commands,
            "/arm_controller/joint_trajectory"
        );
        // `topics.commands` wins
        std::fs::write(
            &p,
            "/**:\n  ros__parameters:\n    command_interface: joint_trajectory\n    topics:\n      commands: /my/traj\n",
        )
        .unwrap();
        assert_eq!(RobotTopics::from_profile(&p).unwrap().commands, "/my/traj");
    }

    #[test]
    fn profile_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("robot.yaml");
        std::fs::write(&p, "topics:\n  camera: /cam/image\n").unwrap();
        let t = RobotTopics::from_profile(&p).unwrap();
        assert_eq!(t.camera, "/cam/image");
        assert_eq!(t.joint_states, "/joint_states");
        std::fs::write(&p, "topics:\n  camra: /cam/image\n").unwrap();
        let e = format!("{:#}", RobotTopics::from_profile(&p).unwrap_err());
        assert!(e.contains("camra"), "{e}");
    }
}
