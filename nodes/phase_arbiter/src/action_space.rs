//! The seam between a policy's action and the arm's command: an [`ActionSpace`] clamps, holds
//! and makes the command, so the arbiter stays one loop whatever the robot is driven in.
//!
//! - [`JointSpace`]: joint position targets (`position_array`, `joint_trajectory`): the joint
//!   limits and the workspace box of [`crate::command`], one rule for training, deployed
//!   evaluation and imagined steps.
//! - [`crate::cartesian::CartesianSpace`]: end-effector pose targets (`cartesian_pose`,
//!   `cartesian_twist`): a step in end-effector space from the last target, clamped to a
//!   Cartesian box, speed and orientation limits.
//!
//! A command is a vector of `f64` in the space's own coordinates (joint positions; or a pose
//! `x y z qx qy qz qw` in the profile's base frame). It is what the arbiter sends and what the
//! transition records as `commanded_position`. The arm's *measured* state is always its joint
//! positions in profile order (from `/joint_states`).

use crate::command::{self, SafeCommand};
use crate::kinematics::Workspace;
use crate::limits::JointLimits;

/// How a policy action becomes a safe command.
pub trait ActionSpace: std::fmt::Debug + Send + Sync {
    /// The number of values in a policy action (each in [-1, 1]).
    fn action_dim(&self) -> usize;

    /// The command that holds the arm where it is: at `measured` (joint positions) when known,
    /// else at the last command; `None` when neither is known (nothing safe to send).
    fn hold(&self, measured: Option<&[f64]>, last: Option<&[f64]>) -> Option<Vec<f64>>;

    /// The command for `action` (any values: non-finite ones count as 0 and as clamped), given
    /// the measured joint positions, the last command sent, and `hold` (the command that holds,
    /// the fallback when the measurement is not sane).
    fn command(
        &self,
        measured: &[f64],
        last: Option<&[f64]>,
        hold: &[f64],
        action: &[f32],
    ) -> SafeCommand;

    /// The action whose command steps from where [`ActionSpace::command`] would start towards
    /// the command `goal` (homing to a rest pose).
    fn action_towards(
        &self,
        measured: &[f64],
        last: Option<&[f64]>,
        hold: &[f64],
        goal: &[f64],
    ) -> Vec<f32>;

    /// Is the arm at `measured` within `tolerance` of the command `goal` (rad per joint, or m)?
    fn reached(&self, measured: &[f64], goal: &[f64], tolerance: f64) -> bool;

    /// The policy's action as the learners record it: each value in [-1, 1], a missing or
    /// non-finite value as 0 (see [`JointLimits::requested_action`]).
    fn requested_action(&self, action: &[f32]) -> Vec<f32> {
        (0..self.action_dim())
            .map(|i| match action.get(i) {
                Some(a) if a.is_finite() => a.clamp(-1.0, 1.0),
                _ => 0.0,
            })
            .collect()
    }
}

/// Joint position targets: one action value per joint, `target = origin + a · max_step`
/// within the velocity and position limits, and the workspace box when there is one.
#[derive(Debug, Clone)]
pub struct JointSpace {
    pub limits: JointLimits,
    pub workspace: Option<Workspace>,
    /// The control period (s): the velocity limit bounds a step to `max_velocity · period`.
    pub period_s: f64,
}

impl JointSpace {
    pub fn new(limits: JointLimits, workspace: Option<Workspace>, period_s: f64) -> Self {
        Self {
            limits,
            workspace,
            period_s,
        }
    }
}

impl ActionSpace for JointSpace {
    fn action_dim(&self) -> usize {
        self.limits.joints()
    }

    fn hold(&self, measured: Option<&[f64]>, last: Option<&[f64]>) -> Option<Vec<f64>> {
        measured
            .or(last)
            .map(|base| self.limits.clamp_positions(base))
    }

    fn command(
        &self,
        measured: &[f64],
        last: Option<&[f64]>,
        hold: &[f64],
        action: &[f32],
    ) -> SafeCommand {
        let from = command::step_from(&self.limits, measured, last, hold);
        command::safe_command(
            &self.limits,
            self.workspace.as_ref(),
            self.period_s,
            &from,
            action,
            hold,
            last,
        )
    }

    fn action_towards(
        &self,
        measured: &[f64],
        last: Option<&[f64]>,
        hold: &[f64],
        goal: &[f64],
    ) -> Vec<f32> {
        let from = command::step_from(&self.limits, measured, last, hold);
        from.iter()
            .zip(goal)
            .zip(&self.limits.max_step)
            .map(|((f, g), step)| ((g - f) / step).clamp(-1.0, 1.0) as f32)
            .collect()
    }

    fn reached(&self, measured: &[f64], goal: &[f64], tolerance: f64) -> bool {
        self.limits.within(measured, 0.05)
            && measured.len() == goal.len()
            && measured
                .iter()
                .zip(goal)
                .all(|(m, g)| (m - g).abs() <= tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> JointSpace {
        let limits = JointLimits::new(
            vec!["a".into(), "b".into()],
            vec![-1.0, -1.0],
            vec![1.0, 1.0],
            vec![10.0, 10.0],
            vec![0.1, 0.1],
        )
        .unwrap();
        JointSpace::new(limits, None, 0.05)
    }

    #[test]
    fn joint_space_steps_holds_and_homes() {
        let s = space();
        assert_eq!(s.action_dim(), 2);
        assert_eq!(s.hold(None, None), None);
        assert_eq!(s.hold(Some(&[2.0, 0.5]), None), Some(vec![1.0, 0.5]));
        assert_eq!(s.hold(None, Some(&[0.2, 0.3])), Some(vec![0.2, 0.3]));
        // from the last target (it leads the arm by less than 2 steps)
        let c = s.command(&[0.0, 0.0], Some(&[0.1, 0.0]), &[0.0, 0.0], &[1.0, -0.5]);
        assert!((c.targets[0] - 0.2).abs() < 1e-12 && (c.targets[1] + 0.05).abs() < 1e-12);
        assert!(!c.clamped);
        let a = s.action_towards(&[0.0, 0.0], None, &[0.0, 0.0], &[0.05, -1.0]);
        assert_eq!(a, vec![0.5, -1.0]);
        assert!(s.reached(&[0.05, -0.5], &[0.06, -0.5], 0.02));
        assert!(!s.reached(&[0.05, -0.5], &[0.1, -0.5], 0.02));
        assert_eq!(s.requested_action(&[f32::NAN, 3.0, 1.0]), vec![0.0, 1.0]);
    }
}
