//! The phase arbiter's logic, testable without ROS: phases ([`phases`]), joint limits and
//! clamping ([`limits`]), the robot's task reward in transitions ([`task_reward`]), the end-effector workspace box checked by forward kinematics
//! ([`kinematics`]), the task object's bounds ([`object_bounds`]), when a silent arbiter holds the arm ([`arm_pace`]), the command rule that turns an action into safe targets, shared with deployed evaluation
//! ([`command`]), the arm's command publishers ([`command_out`]), the action spaces that turn a policy's action into a safe command in joint or
//! end-effector space ([`action_space`], [`cartesian`]), a gripper's open/close decision
//! ([`gripper`]), and the per-step decision
//! ([`arbiter`]) of what the arm is commanded.

pub mod action_space;
pub mod arbiter;
pub mod arm_pace;
pub mod cartesian;
pub mod command;
pub mod command_out;
pub mod config;
pub mod gripper;
pub mod kinematics;
pub mod limits;
pub mod object_bounds;
pub mod pacing;
pub mod phase_log;
pub mod phases;
pub mod task_reward;
