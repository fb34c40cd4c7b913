//! End-effector control: the [`CartesianSpace`] action space (`command_interface`
//! `cartesian_pose` or `cartesian_twist`).
//!
//! The policy's action is an end-effector step: 3 values (x, y, z) or 6 (x, y, z, then
//! rotations about the base frame's x, y, z), each in [-1, 1] and scaled by the profile's
//! per-step limits (`cartesian.step_xyz`, `cartesian.step_rpy`). It is applied to the last
//! target pose (or to the measured pose when the last target leads it by more than
//! [`MAX_LEAD_STEPS`] steps: a blocked or pushed arm), then
//!
//! - the translation is bounded by `cartesian.max_speed · period` (m, its length), the rotation
//!   by `cartesian.max_angular_speed · period` (rad, its angle);
//! - the position is clamped to the workspace box (`workspace_min` / `workspace_max`): a target
//!   is inside the box, or no farther out on any axis than the pose it stepped from (the way
//!   back in is never refused);
//! - the orientation stays within `cartesian.max_rotation` of `cartesian.reference_rpy`, or no
//!   farther from it than the pose it stepped from.
//!
//! A command is the target pose `x y z qx qy qz qw` in the base frame (the kinematic chain's
//! base link). Hold = the measured pose (forward kinematics of the joint positions). The
//! controller (a Cartesian impedance controller, or MoveIt Servo for twists) tracks it; joint
//! limits are the controller's business, as on any end-effector interface.

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion, Vector3};
use thiserror::Error;

use crate::command::SafeCommand;
use crate::kinematics::{KinematicChain, WorkspaceBox, rpy_rotation};
use crate::limits::MAX_LEAD_STEPS;

/// Values in a Cartesian command: position, then the orientation quaternion (x, y, z, w).
pub const POSE_LEN: usize = 7;

#[derive(Debug, Error, PartialEq)]
pub enum CartesianError {
    #[error("robot profile: {what} must have {expected} values, got {got}")]
    Length {
        what: &'static str,
        expected: &'static str,
        got: usize,
    },
    #[error("robot profile: {what} must be finite and > 0, got {value}")]
    Positive { what: &'static str, value: f64 },
    #[error("robot profile: cartesian.max_rotation must be in (0, pi/2], got {0}")]
    MaxRotation(f64),
}

/// The per-step limits of end-effector control (robot profile, `cartesian.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct CartesianLimits {
    /// Position change (m) along base x, y, z for a full-scale action.
    pub step_xyz: [f64; 3],
    /// Rotation (rad) about base x, y, z for a full-scale action; `None`: the action is the
    /// position step only (3 values) and the orientation is held.
    pub step_rpy: Option<[f64; 3]>,
    /// Bounds on a step's translation length (m/s) and rotation angle (rad/s), per period.
    pub max_speed: f64,
    pub max_angular_speed: f64,
    /// Where the end effector may go (base frame).
    pub bounds: WorkspaceBox,
    /// The orientation the limit is measured from, and how far from it a target may turn.
    pub reference: UnitQuaternion<f64>,
    pub max_rotation: f64,
}

fn positive(what: &'static str, value: f64) -> Result<f64, CartesianError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(CartesianError::Positive { what, value })
    }
}

fn triple(what: &'static str, v: &[f64]) -> Result<[f64; 3], CartesianError> {
    match v {
        [x, y, z] => Ok([*x, *y, *z]),
        _ => Err(CartesianError::Length {
            what,
            expected: "3",
            got: v.len(),
        }),
    }
}

impl CartesianLimits {
    /// From the profile's values; `step_rpy` empty: position-only control.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        step_xyz: &[f64],
        step_rpy: &[f64],
        max_speed: f64,
        max_angular_speed: f64,
        bounds: WorkspaceBox,
        reference_rpy: &[f64],
        max_rotation: f64,
    ) -> Result<Self, CartesianError> {
        let step_xyz = triple("cartesian.step_xyz", step_xyz)?;
        for v in step_xyz {
            positive("cartesian.step_xyz", v)?;
        }
        let step_rpy = match step_rpy {
            [] => None,
            v => {
                let t = triple("cartesian.step_rpy", v)?;
                for x in t {
                    positive("cartesian.step_rpy", x)?;
                }
                Some(t)
            }
        };
        let [roll, pitch, yaw] = triple("cartesian.reference_rpy", reference_rpy)?;
        if !(max_rotation.is_finite()
            && max_rotation > 0.0
            && max_rotation <= std::f64::consts::FRAC_PI_2)
        {
            return Err(CartesianError::MaxRotation(max_rotation));
        }
        let reference = UnitQuaternion::from_rotation_matrix(&rpy_rotation(roll, pitch, yaw));
        if !reference.coords.iter().all(|v| v.is_finite()) {
            return Err(CartesianError::Positive {
                what: "cartesian.reference_rpy (finite)",
                value: f64::NAN,
            });
        }
        Ok(Self {
            step_xyz,
            step_rpy,
            max_speed: positive("cartesian.max_speed", max_speed)?,
            max_angular_speed: positive("cartesian.max_angular_speed", max_angular_speed)?,
            bounds,
            reference,
            max_rotation,
        })
    }
}

/// A pose as a command vector `x y z qx qy qz qw`.
pub fn pose_to_command(pose: &Isometry3<f64>) -> Vec<f64> {
    let t = pose.translation.vector;
    let q = pose.rotation.coords; // (i, j, k, w)
    vec![t.x, t.y, t.z, q.x, q.y, q.z, q.w]
}

/// The pose of a command vector (`None` unless 7 finite values with a non-zero quaternion).
pub fn command_to_pose(c: &[f64]) -> Option<Isometry3<f64>> {
    if c.len() != POSE_LEN || !c.iter().all(|v| v.is_finite()) {
        return None;
    }
    let q = Quaternion::new(c[6], c[3], c[4], c[5]);
    if q.norm() < 1e-9 {
        return None;
    }
    Some(Isometry3::from_parts(
        Translation3::new(c[0], c[1], c[2]),
        UnitQuaternion::from_quaternion(q),
    ))
}

/// End-effector pose targets from end-effector steps (module docs).
#[derive(Debug, Clone)]
pub struct CartesianSpace {
    pub chain: KinematicChain,
    pub limits: CartesianLimits,
    pub period_s: f64,
}

impl CartesianSpace {
    pub fn new(chain: KinematicChain, limits: CartesianLimits, period_s: f64) -> Self {
        Self {
            chain,
            limits,
            period_s,
        }
    }

    /// The largest translation (m) and rotation (rad) of one step.
    pub fn step_bounds(&self) -> (f64, f64) {
        let l = &self.limits;
        let full = Vector3::from(l.step_xyz).norm();
        let turn = l.step_rpy.map_or(0.0, |r| Vector3::from(r).norm());
        (
            full.min(l.max_speed * self.period_s),
            turn.min(l.max_angular_speed * self.period_s),
        )
    }

    /// Where a step starts: the last target, unless it leads the measured pose by more than
    /// [`MAX_LEAD_STEPS`] full steps (or there is none, or it is malformed): the measured pose.
    /// Without a sane measurement: the hold command.
    fn origin(
        &self,
        measured: &[f64],
        last: Option<&[f64]>,
        hold: &[f64],
    ) -> Option<Isometry3<f64>> {
        let Some(now) = self.chain.end_effector_pose(measured) else {
            return command_to_pose(hold);
        };
        let l = &self.limits;
        let near = |target: &Isometry3<f64>| {
            let d = target.translation.vector - now.translation.vector;
            let turn = target.rotation.angle_to(&now.rotation);
            (0..3).all(|i| d[i].abs() <= MAX_LEAD_STEPS * l.step_xyz[i] + 1e-9)
                && l.step_rpy
                    .is_none_or(|r| turn <= MAX_LEAD_STEPS * Vector3::from(r).norm() + 1e-9)
        };
        Some(last.and_then(command_to_pose).filter(near).unwrap_or(now))
    }
}

impl crate::action_space::ActionSpace for CartesianSpace {
    fn action_dim(&self) -> usize {
        if self.limits.step_rpy.is_some() { 6 } else { 3 }
    }

    fn hold(&self, measured: Option<&[f64]>, last: Option<&[f64]>) -> Option<Vec<f64>> {
        measured
            .and_then(|q| self.chain.end_effector_pose(q))
            .or_else(|| last.and_then(command_to_pose))
            .map(|p| pose_to_command(&p))
    }

    fn command(
        &self,
        measured: &[f64],
        last: Option<&[f64]>,
        hold: &[f64],
        action: &[f32],
    ) -> SafeCommand {
        let Some(from) = self.origin(measured, last, hold) else {
            return SafeCommand {
                targets: hold.to_vec(),
                clamped: true,
                refusal: None,
            };
        };
        let requested = crate::action_space::ActionSpace::requested_action(self, action);
        let mut clamped = action.len() != requested.len()
            || action
                .iter()
                .zip(&requested)
                .any(|(a, r)| !a.is_finite() || *a != *r);
        let l = &self.limits;
        let (max_move, max_turn) = self.step_bounds();

        // translation: scaled, bounded in length, then into the box (or no farther out)
        let mut d = Vector3::new(
            requested[0] as f64 * l.step_xyz[0],
            requested[1] as f64 * l.step_xyz[1],
            requested[2] as f64 * l.step_xyz[2],
        );
        if d.norm() > max_move {
            d *= max_move / d.norm();
            clamped = true;
        }
        let start = from.translation.vector;
        let mut p = start + d;
        for i in 0..3 {
            let lo = l.bounds.min[i].min(start[i]);
            let hi = l.bounds.max[i].max(start[i]);
            let c = p[i].clamp(lo, hi);
            if c != p[i] {
                clamped = true;
                p[i] = c;
            }
        }

        // rotation: about the base axes, bounded in angle, then within the orientation limit
        let mut rotation = from.rotation;
        if let Some(step_rpy) = l.step_rpy {
            let mut w = Vector3::new(
                requested[3] as f64 * step_rpy[0],
                requested[4] as f64 * step_rpy[1],
                requested[5] as f64 * step_rpy[2],
            );
            if w.norm() > max_turn {
                w *= max_turn / w.norm();
                clamped = true;
            }
            let turned = UnitQuaternion::from_scaled_axis(w) * from.rotation;
            let limit = l.max_rotation.max(l.reference.angle_to(&from.rotation));
            let off = l.reference.angle_to(&turned);
            rotation = if off <= limit {
                turned
            } else {
                clamped = true;
                // back along the way from the reference to the limit; kept only when that is
                // within one step of where the step started
                let back = l
                    .reference
                    .try_slerp(&turned, limit / off, 1e-9)
                    .unwrap_or(from.rotation);
                if back.angle_to(&from.rotation) <= max_turn + 1e-9 {
                    back
                } else {
                    from.rotation
                }
            };
        }
        let target = Isometry3::from_parts(Translation3::from(p), rotation);
        SafeCommand {
            targets: pose_to_command(&target),
            clamped,
            refusal: None,
        }
    }

    fn action_towards(
        &self,
        measured: &[f64],
        last: Option<&[f64]>,
        hold: &[f64],
        goal: &[f64],
    ) -> Vec<f32> {
        let (Some(from), Some(goal)) = (self.origin(measured, last, hold), command_to_pose(goal))
        else {
            return vec![0.0; crate::action_space::ActionSpace::action_dim(self)];
        };
        let l = &self.limits;
        let d = goal.translation.vector - from.translation.vector;
        let mut a: Vec<f32> = (0..3)
            .map(|i| (d[i] / l.step_xyz[i]).clamp(-1.0, 1.0) as f32)
            .collect();
        if let Some(step_rpy) = l.step_rpy {
            let w = (goal.rotation * from.rotation.inverse()).scaled_axis();
            a.extend((0..3).map(|i| (w[i] / step_rpy[i]).clamp(-1.0, 1.0) as f32));
        }
        a
    }

    fn reached(&self, measured: &[f64], goal: &[f64], tolerance: f64) -> bool {
        match (
            self.chain.end_effector_pose(measured),
            command_to_pose(goal),
        ) {
            (Some(now), Some(goal)) => {
                (now.translation.vector - goal.translation.vector).norm() <= tolerance
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action_space::ActionSpace;
    use proptest::prelude::*;

    fn space(rpy: bool) -> CartesianSpace {
        let limits = CartesianLimits::new(
            &[0.02, 0.02, 0.01],
            if rpy { &[0.1, 0.1, 0.2] } else { &[] },
            1.0,
            2.0,
            WorkspaceBox::new(&[0.1, -0.3, 0.05], &[0.6, 0.3, 0.6]).unwrap(),
            &[0.0, 1.5, 0.0],
            1.2,
        )
        .unwrap();
        CartesianSpace::new(crate::kinematics::tests::sim_arm(), limits, 0.05)
    }

    #[test]
    fn a_step_moves_the_target_by_the_scaled_action() {
        let s = space(false);
        assert_eq!(s.action_dim(), 3);
        let q = [0.0, 0.5, 0.8, 0.3];
        let hold = s.hold(Some(&q), None).unwrap();
        let c = s.command(&q, None, &hold, &[1.0, -0.5, 0.0]);
        let (from, to) = (
            command_to_pose(&hold).unwrap(),
            command_to_pose(&c.targets).unwrap(),
        );
        let d = to.translation.vector - from.translation.vector;
        assert!((d - Vector3::new(0.02, -0.01, 0.0)).norm() < 1e-12, "{d}");
        assert!(to.rotation.angle_to(&from.rotation) < 1e-12);
        assert!(!c.clamped);
        // the next step starts at that target (it leads the arm by one step)
        let c2 = s.command(&q, Some(&c.targets), &hold, &[1.0, 0.0, 0.0]);
        let d2 = command_to_pose(&c2.targets).unwrap().translation.vector - from.translation.vector;
        assert!((d2 - Vector3::new(0.04, -0.01, 0.0)).norm() < 1e-12, "{d2}");
    }

    #[test]
    fn speed_box_and_bad_actions_clamp() {
        let s = space(true);
        assert_eq!(s.action_dim(), 6);
        // slow speed limit: a full diagonal step is cut to max_speed · period
        let mut slow = s.clone();
        slow.limits.max_speed = 0.2; // 0.01 m per step of 0.05 s
        let q = [0.0, 0.5, 0.8, 0.3];
        let hold = slow.hold(Some(&q), None).unwrap();
        let c = slow.command(&q, None, &hold, &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let d = command_to_pose(&c.targets).unwrap().translation.vector
            - command_to_pose(&hold).unwrap().translation.vector;
        assert!((d.norm() - 0.01).abs() < 1e-12 && c.clamped);
        // NaN and out-of-range values: 0 and ±1, clamped
        let c = s.command(&q, None, &hold, &[f32::NAN, 3.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(c.clamped);
        let d = command_to_pose(&c.targets).unwrap().translation.vector
            - command_to_pose(&hold).unwrap().translation.vector;
        assert!((d - Vector3::new(0.0, 0.02, 0.0)).norm() < 1e-12);
        // a malformed measurement: the step starts at the hold pose
        let c = s.command(&[f64::NAN; 4], None, &hold, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let d = command_to_pose(&c.targets).unwrap().translation.vector
            - command_to_pose(&hold).unwrap().translation.vector;
        assert!((d - Vector3::new(0.02, 0.0, 0.0)).norm() < 1e-12);
        // … and a malformed hold too: the hold, as it is
        let c = s.command(&[f64::NAN; 4], None, &[f64::NAN; 7], &[1.0; 6]);
        assert!(c.clamped && c.targets.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn homing_steps_towards_a_pose_and_arrives() {
        let s = space(true);
        let (home, q) = ([0.0, 0.5, 0.8, 0.3], [0.3, 0.4, 0.9, 0.2]);
        let hold = s.hold(Some(&q), None).unwrap();
        let from = command_to_pose(&hold).unwrap();
        // a goal within one step: the action gets there exactly
        let near = Isometry3::from_parts(
            Translation3::from(from.translation.vector + Vector3::new(0.01, -0.005, 0.002)),
            UnitQuaternion::from_scaled_axis(Vector3::new(0.0, 0.0, 0.05)) * from.rotation,
        );
        let a = s.action_towards(&q, None, &hold, &pose_to_command(&near));
        let c = s.command(&q, None, &hold, &a);
        let to = command_to_pose(&c.targets).unwrap();
        assert!((to.translation.vector - near.translation.vector).norm() < 1e-6);
        assert!(to.rotation.angle_to(&near.rotation) < 1e-6);
        // a far goal: full-scale steps in its direction
        let goal = s.hold(Some(&home), None).unwrap();
        let g = command_to_pose(&goal).unwrap();
        let a = s.action_towards(&q, None, &hold, &goal);
        let d = g.translation.vector - from.translation.vector;
        for i in 0..3 {
            assert!(a[i].abs() <= 1.0 && (a[i] as f64) * d[i] >= 0.0);
        }
        assert!(a[..3].iter().any(|v| v.abs() == 1.0));
        assert!(s.reached(&home, &goal, 1e-9));
        assert!(!s.reached(&q, &goal, 1e-3));
    }

    #[test]
    fn bad_limits_are_refused() {
        let b = WorkspaceBox::new(&[0.0; 3], &[1.0; 3]).unwrap();
        let ok = |xyz: &[f64], rpy: &[f64], rot: f64| {
            CartesianLimits::new(xyz, rpy, 0.2, 1.0, b, &[0.0; 3], rot)
        };
        assert!(ok(&[0.01; 3], &[], 1.0).is_ok());
        assert!(matches!(
            ok(&[0.01; 2], &[], 1.0),
            Err(CartesianError::Length { .. })
        ));
        assert!(matches!(
            ok(&[0.01, 0.0, 0.01], &[], 1.0),
            Err(CartesianError::Positive { .. })
        ));
        assert!(matches!(
            ok(&[0.01; 3], &[0.1, f64::NAN, 0.1], 1.0),
            Err(CartesianError::Positive { .. })
        ));
        assert!(matches!(
            ok(&[0.01; 3], &[0.1; 3], 2.0),
            Err(CartesianError::MaxRotation(_))
        ));
    }

    fn any_action() -> impl Strategy<Value = Vec<f32>> {
        proptest::collection::vec(
            prop_oneof![
                4 => -1.5..1.5f32,
                1 => Just(f32::NAN),
                1 => Just(f32::INFINITY),
                1 => any::<f32>(),
            ],
            0..8,
        )
    }

    proptest! {
        /// Whatever the actions and wherever the arm is measured, every target is within one
        /// step (speed limits) of the pose it stepped from, inside the box or no farther out
        /// than that pose, and within the orientation limit or no farther from the reference.
        #[test]
        fn targets_never_leave_the_box_nor_exceed_the_step_limits(
            q0 in proptest::collection::vec(-2.5..2.5f64, 4),
            jitter in proptest::collection::vec(proptest::collection::vec(-0.05..0.05f64, 4), 1..40),
            actions in proptest::collection::vec(any_action(), 1..40),
            rpy in any::<bool>(),
        ) {
            let s = space(rpy);
            let l = &s.limits;
            let (max_move, max_turn) = s.step_bounds();
            let mut last: Option<Vec<f64>> = None;
            let mut q = q0.clone();
            for (i, a) in actions.iter().enumerate() {
                let hold = s.hold(Some(&q), last.as_deref()).unwrap();
                let from = s.origin(&q, last.as_deref(), &hold).unwrap();
                let c = s.command(&q, last.as_deref(), &hold, a);
                let to = command_to_pose(&c.targets).unwrap();
                let (f, t) = (from.translation.vector, to.translation.vector);
                prop_assert!((t - f).norm() <= max_move + 1e-9);
                prop_assert!(to.rotation.angle_to(&from.rotation) <= max_turn + 1e-9);
                for k in 0..3 {
                    let out_t = (l.bounds.min[k] - t[k]).max(t[k] - l.bounds.max[k]).max(0.0);
                    let out_f = (l.bounds.min[k] - f[k]).max(f[k] - l.bounds.max[k]).max(0.0);
                    prop_assert!(out_t <= out_f + 1e-12, "axis {} out {} from {}", k, out_t, out_f);
                    if out_f == 0.0 {
                        prop_assert!(t[k] >= l.bounds.min[k] - 1e-12 && t[k] <= l.bounds.max[k] + 1e-12);
                    }
                }
                let off_t = l.reference.angle_to(&to.rotation);
                let off_f = l.reference.angle_to(&from.rotation);
                prop_assert!(off_t <= l.max_rotation.max(off_f) + 1e-9);
                last = Some(c.targets);
                let j = &jitter[i % jitter.len()];
                q = q.iter().zip(j).map(|(a, b)| a + b).collect();
            }
        }
    }
}
