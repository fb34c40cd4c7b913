//! The arbiter's parameters (ROS 2 parameters, usually from the robot profile params file) and
//! what they turn into: joint limits and phase-switching rules.

use anyhow::{Context, Result};
use mbarl_ros::params::ResolvedParam;
use mbarl_ros::{FromParam, ParamKind, ParamSpec};

use crate::action_space::{ActionSpace, JointSpace};
use crate::arbiter::Homing;
use crate::cartesian::{CartesianLimits, CartesianSpace};
use crate::gripper::{Gripper, GripperLimits};
use crate::kinematics::{KinematicChain, KinematicsError, Workspace, WorkspaceBox};
use crate::limits::JointLimits;
use crate::object_bounds::ObjectBounds;
use crate::phases::PhaseConfig;

/// A declared parameter's start-up value, typed.
pub fn param<T: FromParam>(values: &[ResolvedParam], name: &str) -> Result<T> {
    let p = values
        .iter()
        .find(|p| p.name == name)
        .with_context(|| format!("parameter {name} is not declared"))?;
    T::from_param(&p.value)
        .with_context(|| format!("parameter {name} is {:?}, not {}", p.value, T::KIND))
}

pub fn params() -> Vec<ParamSpec> {
    use ParamKind::{DoubleArray, StringArray};
    vec![
        ParamSpec::required("joint_names", StringArray, "arm joints, in command order"),
        ParamSpec::required(
            "position_lower",
            DoubleArray,
            "joint position lower limits (rad)",
        ),
        ParamSpec::required(
            "position_upper",
            DoubleArray,
            "joint position upper limits (rad)",
        ),
        ParamSpec::required(
            "max_velocity",
            DoubleArray,
            "joint velocity limits (rad/s): every command is within min(max_step, max_velocity * period) of the previous command or of the arm's measured position",
        ),
        ParamSpec::required(
            "max_step",
            DoubleArray,
            "joint position step for a full-scale action (rad)",
        ),
        ParamSpec::new("control_rate_hz", 20.0, "control rate"),
        ParamSpec::new(
            "watchdog_periods",
            2.0,
            "hold still when the active policy is silent this many periods",
        ),
        ParamSpec::new(
            "action_wait_periods",
            0.5,
            "how long to wait for the action answering an observation",
        ),
        ParamSpec::new(
            "command_interface",
            "position_array",
            "how the arm is commanded: position_array (std_msgs/Float64MultiArray joint targets on /arm_controller/commands), joint_trajectory (/arm_controller/joint_trajectory), cartesian_pose (geometry_msgs/PoseStamped end-effector targets on /cartesian_controller/target_pose) or cartesian_twist (geometry_msgs/TwistStamped on /servo_node/delta_twist_cmds, MoveIt Servo); remap the topic with --ros-args -r",
        ),
        ParamSpec::new(
            "gripper.command_interface",
            "none",
            "none, or position_array: the gripper's width (m) as std_msgs/Float64MultiArray [width] on /gripper_controller/commands, driven by one more action value (>= gripper.threshold opens, <= -gripper.threshold closes)",
        ),
        ParamSpec::new(
            "gripper.joint_names",
            Vec::<String>::new(),
            "the finger joints in /joint_states whose positions add up to the gripper's width",
        ),
        ParamSpec::new("gripper.open_width", 0.08, "the open gripper's width (m)"),
        ParamSpec::new(
            "gripper.closed_width",
            0.0,
            "the closed gripper's width (m)",
        ),
        ParamSpec::new(
            "gripper.threshold",
            0.5,
            "action value that opens (>=) or closes (<= its negative) the gripper; in between it stays as it is",
        ),
        ParamSpec::new(
            "cartesian.step_xyz",
            Vec::<f64>::new(),
            "cartesian_*: end-effector position step (m) along base x, y, z for a full-scale action (3 values; required there)",
        ),
        ParamSpec::new(
            "cartesian.step_rpy",
            Vec::<f64>::new(),
            "cartesian_*: end-effector rotation (rad) about base x, y, z for a full-scale action (3 values: the action has 6 values); empty: 3-value actions, the orientation is held",
        ),
        ParamSpec::new(
            "cartesian.max_speed",
            0.25,
            "cartesian_*: end-effector speed limit (m/s): a step moves the target at most max_speed / control_rate_hz",
        ),
        ParamSpec::new(
            "cartesian.max_angular_speed",
            1.0,
            "cartesian_*: end-effector angular speed limit (rad/s)",
        ),
        ParamSpec::new(
            "cartesian.reference_rpy",
            vec![0.0, 0.0, 0.0],
            "cartesian_*: the orientation (roll pitch yaw, rad, base frame) the orientation limit is measured from",
        ),
        ParamSpec::new(
            "cartesian.max_rotation",
            std::f64::consts::FRAC_PI_2,
            "cartesian_*: how far (rad, at most pi/2) a target's orientation may turn from cartesian.reference_rpy",
        ),
        ParamSpec::new(
            "run_dir",
            "",
            "run directory: phase changes go to <run_dir>/metrics/phases.csv (empty: none)",
        ),
        ParamSpec::new(
            "max_training_backlog",
            0.0,
            "lock-step sim only (never on a real arm or a real-time sim): hold the next step while a learner owes more updates than this (0: off)",
        ),
        ParamSpec::new(
            "task_reward_topic",
            "",
            "std_msgs/Float64 task reward of the robot, stamped into every Transition as the reward of s' (empty: none; the goal classifier gives the forward reward)",
        ),
        ParamSpec::new(
            "forward_only",
            false,
            "naive baseline: no backward phase (forward phases follow each other, no reset)",
        ),
        ParamSpec::new("forward_steps", 300i64, "forward phase step budget"),
        ParamSpec::new("backward_steps", 300i64, "backward phase step budget"),
        ParamSpec::new(
            "goal_threshold",
            0.8,
            "goal score that ends the forward phase",
        ),
        ParamSpec::new(
            "demo_threshold",
            0.8,
            "demo-state score that ends the backward phase",
        ),
        ParamSpec::new(
            "start_threshold",
            0.0,
            "start-detector score (demo states only: 0.5 at its calibrated radius) that also ends the backward phase; 0: off",
        ),
        ParamSpec::new(
            "hold_steps",
            3i64,
            "steps a score must stay above its threshold",
        ),
        ParamSpec::new(
            "min_phase_steps",
            10i64,
            "steps of a phase before a score may end it",
        ),
        ParamSpec::new(
            "stuck_cycles",
            5i64,
            "cycles without progress before asking for help",
        ),
        ParamSpec::new(
            "max_consecutive_clamps",
            200i64,
            "clamped (or refused) steps in a row that end a phase (stuck_cycles of them: help)",
        ),
        ParamSpec::new(
            "home_position",
            Vec::<f64>::new(),
            "rest pose (rad, one per joint): before each FORWARD or BACKWARD phase the arm is driven there, a full-scale step per period at most (empty: phases start where the last one ended)",
        ),
        ParamSpec::new(
            "home_tolerance",
            0.03,
            "homing ends when every joint is within this of home_position (rad; cartesian_*: the end effector within this of home_position's pose, m)",
        ),
        ParamSpec::new(
            "home_max_steps",
            100i64,
            "homing ends after this many steps even if the rest pose is not reached",
        ),
        ParamSpec::new(
            "kinematics.urdf_file",
            "",
            "the robot's URDF: the chain from kinematics.base_link to kinematics.tip_link gives the end effector (relative: from the working directory, else $MBARL_ROOT); instead of the kinematics.joint_* arrays",
        ),
        ParamSpec::new(
            "kinematics.base_link",
            "base_link",
            "URDF link of the base frame (the workspace box's frame)",
        ),
        ParamSpec::new(
            "kinematics.tip_link",
            "",
            "URDF link whose origin is the end effector (e.g. a tool centre point link)",
        ),
        ParamSpec::new(
            "kinematics.joint_origin_xyz",
            Vec::<f64>::new(),
            "per joint: origin xyz (m) in the previous joint's frame, as URDF <origin xyz>; 3 per joint",
        ),
        ParamSpec::new(
            "kinematics.joint_origin_rpy",
            Vec::<f64>::new(),
            "per joint: origin roll pitch yaw (rad), as URDF <origin rpy>; 3 per joint",
        ),
        ParamSpec::new(
            "kinematics.joint_axis",
            Vec::<f64>::new(),
            "per joint: revolute axis in the joint's frame, as URDF <axis xyz>; 3 per joint",
        ),
        ParamSpec::new(
            "kinematics.tool_xyz",
            Vec::<f64>::new(),
            "end-effector point (m) in the last joint's frame",
        ),
        ParamSpec::new(
            "workspace_min",
            Vec::<f64>::new(),
            "end-effector box lower corner xyz (m, base frame); empty: no box",
        ),
        ParamSpec::new(
            "workspace_max",
            Vec::<f64>::new(),
            "end-effector box upper corner xyz (m, base frame); empty: no box",
        ),
        ParamSpec::new(
            "object_state_indices",
            Vec::<i64>::new(),
            "dimensions of Observation.state that place the task's object (e.g. a block's x, y, z); empty: no object rule",
        ),
        ParamSpec::new(
            "object_lower",
            Vec::<f64>::new(),
            "lower bound of each object_state_indices dimension (the object's workspace)",
        ),
        ParamSpec::new(
            "object_upper",
            Vec::<f64>::new(),
            "upper bound of each object_state_indices dimension",
        ),
        ParamSpec::new(
            "object_outside_steps",
            10i64,
            "steps in a row with the object outside its bounds that ask for help",
        ),
        ParamSpec::new(
            "object_still_cycles",
            0i64,
            "cycles in a row in which the object moved less than object_min_travel that ask for help (0: off)",
        ),
        ParamSpec::new(
            "object_min_travel",
            0.01,
            "object travel (m, over object_state_indices, summed over a cycle) that counts as moving it",
        ),
    ]
}

/// The profile parameters that say how an action becomes joint targets (limits, control rate,
/// workspace box and its kinematics): what a node that applies the arbiter's rule outside the
/// arbiter declares (deployed evaluation, the learners' imagined steps).
pub fn command_rule_params() -> Vec<ParamSpec> {
    params()
        .into_iter()
        .filter(|s| {
            matches!(
                s.name.as_str(),
                "joint_names"
                    | "position_lower"
                    | "position_upper"
                    | "max_velocity"
                    | "max_step"
                    | "control_rate_hz"
                    | "workspace_min"
                    | "workspace_max"
                    | "command_interface"
            ) || s.name.starts_with("kinematics.")
                || s.name.starts_with("gripper.")
                || s.name.starts_with("cartesian.")
        })
        .collect()
}

/// The task object's bounds, `None` when `object_state_indices` is empty (no object rule).
pub fn object_bounds_from(node: &[ResolvedParam]) -> Result<Option<ObjectBounds>> {
    let indices: Vec<i64> = param(node, "object_state_indices")?;
    let lower: Vec<f64> = param(node, "object_lower")?;
    let upper: Vec<f64> = param(node, "object_upper")?;
    if indices.is_empty() {
        if !(lower.is_empty() && upper.is_empty()) {
            anyhow::bail!("object_lower/object_upper are set but object_state_indices is empty");
        }
        return Ok(None);
    }
    Ok(Some(
        ObjectBounds::new(&indices, &lower, &upper).map_err(anyhow::Error::msg)?,
    ))
}

/// A relative path from the working directory, else from `$MBARL_ROOT`, else from the mbarl
/// checkout this was built from (a node started elsewhere still finds the shipped models/).
pub fn resolve_path(path: &str) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(path);
    if p.is_absolute() || p.exists() {
        return p;
    }
    std::env::var_os("MBARL_ROOT")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain([std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")])
        .map(|root| root.join(&p))
        .find(|c| c.exists())
        .unwrap_or(p)
}

/// The kinematic chain of the profile, `None` when it has none (no URDF and no `kinematics.*`
/// array set). `joints` is the number of joints of the profile.
pub fn chain_from(node: &[ResolvedParam], joints: usize) -> Result<Option<KinematicChain>> {
    let urdf: String = param(node, "kinematics.urdf_file")?;
    if !urdf.is_empty() {
        let path = resolve_path(&urdf);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("kinematics.urdf_file {}", path.display()))?;
        let tip: String = param(node, "kinematics.tip_link")?;
        if tip.is_empty() {
            anyhow::bail!(
                "kinematics.urdf_file needs kinematics.tip_link (the end effector's link)"
            );
        }
        let names: Vec<String> = param(node, "joint_names")?;
        let chain = KinematicChain::from_urdf(
            &text,
            &param::<String>(node, "kinematics.base_link")?,
            &tip,
            &names,
        )
        .with_context(|| format!("kinematics.urdf_file {}", path.display()))?;
        return Ok(Some(chain));
    }
    let names = [
        "kinematics.joint_origin_xyz",
        "kinematics.joint_origin_rpy",
        "kinematics.joint_axis",
        "kinematics.tool_xyz",
    ];
    let values = names
        .iter()
        .map(|n| param::<Vec<f64>>(node, n))
        .collect::<Result<Vec<_>>>()?;
    if values.iter().all(Vec::is_empty) {
        return Ok(None);
    }
    Ok(Some(KinematicChain::new(
        joints, &values[0], &values[1], &values[2], &values[3],
    )?))
}

/// The workspace check of the profile: `None` when `workspace_min` and `workspace_max` are
/// both absent (no box); an error when the box is given without a kinematic chain.
pub fn workspace_from(node: &[ResolvedParam], joints: usize) -> Result<Option<Workspace>> {
    let min: Vec<f64> = param(node, "workspace_min")?;
    let max: Vec<f64> = param(node, "workspace_max")?;
    if min.is_empty() && max.is_empty() {
        return Ok(None);
    }
    let bounds = WorkspaceBox::new(&min, &max)?;
    let chain = chain_from(node, joints)?.ok_or_else(|| {
        KinematicsError::Incomplete(
            "workspace_min/workspace_max need the kinematic chain (kinematics.urdf_file and \
             kinematics.tip_link, or kinematics.joint_origin_xyz, kinematics.joint_origin_rpy, \
             kinematics.joint_axis, kinematics.tool_xyz)"
                .into(),
        )
    })?;
    Ok(Some(Workspace { chain, bounds }))
}

/// The profile's `command_interface`: how the arm is commanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandInterface {
    /// `std_msgs/Float64MultiArray` joint position targets.
    PositionArray,
    /// `trajectory_msgs/JointTrajectory`, one point a period ahead.
    JointTrajectory,
    /// `geometry_msgs/PoseStamped` end-effector targets.
    CartesianPose,
    /// `geometry_msgs/TwistStamped` end-effector velocities (a step over one period).
    CartesianTwist,
}

impl CommandInterface {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "position_array" => Self::PositionArray,
            "joint_trajectory" => Self::JointTrajectory,
            "cartesian_pose" => Self::CartesianPose,
            "cartesian_twist" => Self::CartesianTwist,
            other => anyhow::bail!(
                "command_interface must be position_array, joint_trajectory, cartesian_pose or cartesian_twist, got {other}"
            ),
        })
    }

    pub fn is_cartesian(self) -> bool {
        matches!(self, Self::CartesianPose | Self::CartesianTwist)
    }
}

/// The action space the profile's `command_interface` names: joint targets within the joint
/// limits and the workspace box ([`JointSpace`]), or end-effector poses within the box and the
/// `cartesian.*` limits ([`CartesianSpace`]; it needs the kinematic chain and the box).
pub fn action_space_from(
    node: &[ResolvedParam],
    limits: &JointLimits,
    period_s: f64,
) -> Result<Box<dyn ActionSpace>> {
    let interface = CommandInterface::parse(&param::<String>(node, "command_interface")?)?;
    let workspace = workspace_from(node, limits.joints())?;
    if !interface.is_cartesian() {
        return Ok(Box::new(JointSpace::new(
            limits.clone(),
            workspace,
            period_s,
        )));
    }
    let ws = workspace.context(
        "a cartesian command_interface needs the workspace box (workspace_min, workspace_max) and the kinematic chain",
    )?;
    let cartesian = CartesianLimits::new(
        &param::<Vec<f64>>(node, "cartesian.step_xyz")?,
        &param::<Vec<f64>>(node, "cartesian.step_rpy")?,
        param(node, "cartesian.max_speed")?,
        param(node, "cartesian.max_angular_speed")?,
        ws.bounds,
        &param::<Vec<f64>>(node, "cartesian.reference_rpy")?,
        param(node, "cartesian.max_rotation")?,
    )?;
    Ok(Box::new(CartesianSpace::new(ws.chain, cartesian, period_s)))
}

/// The number of values a policy's action must have for the profile: one per joint, or 3 or 6
/// end-effector values (`cartesian_*`); `None` when no profile is given (`joint_names` empty,
/// in a node where the profile is optional). With the interface's name, for messages.
pub fn profile_action_dim(node: &[ResolvedParam]) -> Result<Option<(usize, String)>> {
    let joints: Vec<String> = param(node, "joint_names")?;
    if joints.is_empty() {
        return Ok(None);
    }
    let name: String = param(node, "command_interface")?;
    let dim = if CommandInterface::parse(&name)?.is_cartesian() {
        if param::<Vec<f64>>(node, "cartesian.step_rpy")?.is_empty() {
            3
        } else {
            6
        }
    } else {
        joints.len()
    };
    let gripper = gripper_from(node)?.is_some();
    let name = if gripper {
        format!("{name} with a gripper")
    } else {
        name
    };
    Ok(Some((dim + usize::from(gripper), name)))
}

/// The profile's gripper and the finger joints whose positions add up to its width; `None`
/// with `gripper.command_interface: none`.
pub fn gripper_from(node: &[ResolvedParam]) -> Result<Option<(Gripper, Vec<String>)>> {
    match param::<String>(node, "gripper.command_interface")?.as_str() {
        "none" => Ok(None),
        "position_array" => {
            let joints: Vec<String> = param(node, "gripper.joint_names")?;
            anyhow::ensure!(
                !joints.is_empty(),
                "gripper.command_interface position_array needs gripper.joint_names (the finger joints in /joint_states)"
            );
            let limits = GripperLimits::new(
                param(node, "gripper.open_width")?,
                param(node, "gripper.closed_width")?,
                param(node, "gripper.threshold")?,
            )?;
            Ok(Some((Gripper::new(limits), joints)))
        }
        other => anyhow::bail!(
            "gripper.command_interface must be none or position_array, got {other} (control_msgs/GripperCommand actions are not supported yet)"
        ),
    }
}

/// The rest pose of the profile, `None` when `home_position` is empty (no homing).
pub fn homing_from(node: &[ResolvedParam]) -> Result<Option<Homing>> {
    let position: Vec<f64> = param(node, "home_position")?;
    if position.is_empty() {
        return Ok(None);
    }
    let max_steps: i64 = param(node, "home_max_steps")?;
    Ok(Some(Homing {
        position,
        tolerance: param(node, "home_tolerance")?,
        max_steps: u64::try_from(max_steps)
            .with_context(|| format!("home_max_steps must be > 0, got {max_steps}"))?,
    }))
}

pub fn limits_from(node: &[ResolvedParam]) -> Result<JointLimits> {
    Ok(JointLimits::new(
        param(node, "joint_names")?,
        param(node, "position_lower")?,
        param(node, "position_upper")?,
        param(node, "max_velocity")?,
        param(node, "max_step")?,
    )?)
}

pub fn phase_config_from(node: &[ResolvedParam]) -> Result<PhaseConfig> {
    let count = |name: &str| -> Result<u64> {
        let v: i64 = param(node, name)?;
        u64::try_from(v)
            .ok()
            .filter(|v| *v > 0)
            .with_context(|| format!("parameter {name} must be > 0, got {v}"))
    };
    Ok(PhaseConfig {
        forward_steps: count("forward_steps")?,
        backward_steps: count("backward_steps")?,
        goal_threshold: param::<f64>(node, "goal_threshold")? as f32,
        demo_threshold: param::<f64>(node, "demo_threshold")? as f32,
        start_threshold: Some(param::<f64>(node, "start_threshold")? as f32).filter(|t| *t > 0.0),
        hold_steps: count("hold_steps")?,
        min_phase_steps: count("min_phase_steps")?,
        forward_only: param(node, "forward_only")?,
        stuck_cycles: count("stuck_cycles")? as u32,
        max_consecutive_clamps: count("max_consecutive_clamps")?,
        object_outside_steps: count("object_outside_steps")?,
        object_still_cycles: {
            let v: i64 = param(node, "object_still_cycles")?;
            u32::try_from(v).with_context(|| format!("object_still_cycles must be ≥ 0, got {v}"))?
        },
        object_min_travel: {
            let v: f64 = param(node, "object_min_travel")?;
            anyhow::ensure!(
                v.is_finite() && v > 0.0,
                "object_min_travel must be > 0, got {v}"
            );
            v
        },
        ..PhaseConfig::default()
    })
}
