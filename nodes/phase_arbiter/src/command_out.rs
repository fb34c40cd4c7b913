//! The arm's command publishers, one per `command_interface`: joint targets
//! (`Float64MultiArray`, `JointTrajectory`) or end-effector targets (`PoseStamped`,
//! `TwistStamped`), and the gripper's width. The arbiter and deployed evaluation send through
//! them, so an evaluated policy commands the arm exactly as in training.

use std::time::Duration;

use anyhow::Result;
use mbarl_msgs::builtin_interfaces::Duration as RosDuration;
use mbarl_msgs::geometry_msgs::{
    Point, Pose, PoseStamped, Quaternion, Twist, TwistStamped, Vector3,
};
use mbarl_msgs::std_msgs::{Float64MultiArray, Header};
use mbarl_msgs::trajectory_msgs::{JointTrajectory, JointTrajectoryPoint};
use mbarl_ros::params::ResolvedParam;
use mbarl_ros::{Publisher, Qos, RosNode};

use crate::cartesian::command_to_pose;
use crate::config::{CommandInterface, param};

/// The gripper's width command (`std_msgs/Float64MultiArray` `[width]`).
pub const GRIPPER_TOPIC: &str = "/gripper_controller/commands";

pub enum CommandOut {
    Positions(Publisher<Float64MultiArray>),
    Trajectory(Publisher<JointTrajectory>, Vec<String>, Duration),
    /// End-effector pose targets in the base frame (frame id).
    Pose(Publisher<PoseStamped>, String),
    /// End-effector velocities: the step from the last target over one period (zero on a
    /// hold), in the base frame, never faster than the speed limits (m/s, rad/s).
    Twist {
        publisher: Publisher<TwistStamped>,
        frame_id: String,
        period: Duration,
        max_speed: (f64, f64),
        last: std::cell::RefCell<Option<Vec<f64>>>,
    },
}

impl CommandOut {
    /// Sends the command `targets` (joint positions, or a pose `x y z qx qy qz qw`); `hold`:
    /// it holds the arm where it is.
    pub fn send(&self, targets: &[f64], header: Header, hold: bool) -> Result<()> {
        match self {
            CommandOut::Positions(p) => p.publish(Float64MultiArray {
                data: targets.to_vec(),
                ..Default::default()
            })?,
            CommandOut::Trajectory(p, names, period) => p.publish(JointTrajectory {
                header,
                joint_names: names.clone(),
                points: vec![JointTrajectoryPoint {
                    positions: targets.to_vec(),
                    time_from_start: RosDuration::from(*period),
                    ..Default::default()
                }],
            })?,
            CommandOut::Pose(p, frame_id) => {
                let target = command_to_pose(targets)
                    .ok_or_else(|| anyhow::anyhow!("not a pose: {targets:?}"))?;
                let (t, q) = (target.translation.vector, target.rotation.coords);
                p.publish(PoseStamped {
                    header: Header {
                        stamp: header.stamp,
                        frame_id: frame_id.clone(),
                    },
                    pose: Pose {
                        position: Point {
                            x: t.x,
                            y: t.y,
                            z: t.z,
                        },
                        orientation: Quaternion {
                            x: q.x,
                            y: q.y,
                            z: q.z,
                            w: q.w,
                        },
                    },
                })?
            }
            CommandOut::Twist {
                publisher,
                frame_id,
                period,
                max_speed,
                last,
            } => {
                let target = command_to_pose(targets)
                    .ok_or_else(|| anyhow::anyhow!("not a pose: {targets:?}"))?;
                let previous = last.replace(Some(targets.to_vec()));
                let mut twist = Twist::default();
                if let Some(from) = previous.as_deref().and_then(command_to_pose)
                    && !hold
                {
                    // a step restarted at the measured pose jumps back from the last target:
                    // its velocity is cut to the speed limit
                    let dt = period.as_secs_f64();
                    let v = ((target.translation.vector - from.translation.vector) / dt)
                        .cap_magnitude(max_speed.0);
                    let w = ((target.rotation * from.rotation.inverse()).scaled_axis() / dt)
                        .cap_magnitude(max_speed.1);
                    twist.linear = Vector3 {
                        x: v.x,
                        y: v.y,
                        z: v.z,
                    };
                    twist.angular = Vector3 {
                        x: w.x,
                        y: w.y,
                        z: w.z,
                    };
                }
                publisher.publish(TwistStamped {
                    header: Header {
                        stamp: header.stamp,
                        frame_id: frame_id.clone(),
                    },
                    twist,
                })?
            }
        }
        Ok(())
    }
}

impl CommandOut {
    /// The publisher of the profile's `command_interface`, on its conventional topic (remap it
    /// with `--ros-args -r`); `joints`: the profile's joint names, `period`: the control period.
    pub fn for_profile(
        node: &RosNode,
        values: &[ResolvedParam],
        joints: &[String],
        period: Duration,
    ) -> Result<Self> {
        let interface = CommandInterface::parse(&param::<String>(values, "command_interface")?)?;
        let base_frame: String = param(values, "kinematics.base_link")?;
        Ok(match interface {
            CommandInterface::PositionArray => {
                CommandOut::Positions(node.publisher("/arm_controller/commands", Qos::DEFAULT)?)
            }
            CommandInterface::JointTrajectory => CommandOut::Trajectory(
                node.publisher("/arm_controller/joint_trajectory", Qos::DEFAULT)?,
                joints.to_vec(),
                period,
            ),
            CommandInterface::CartesianPose => CommandOut::Pose(
                node.publisher("/cartesian_controller/target_pose", Qos::DEFAULT)?,
                base_frame,
            ),
            CommandInterface::CartesianTwist => CommandOut::Twist {
                publisher: node.publisher("/servo_node/delta_twist_cmds", Qos::DEFAULT)?,
                frame_id: base_frame,
                period,
                max_speed: (
                    param(values, "cartesian.max_speed")?,
                    param(values, "cartesian.max_angular_speed")?,
                ),
                last: Default::default(),
            },
        })
    }
}
