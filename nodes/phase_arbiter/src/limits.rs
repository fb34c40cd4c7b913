//! Joint limits and the clamping that every arm command goes through.
//!
//! A policy action is normalised to [-1, 1] per joint. The arbiter turns it into a joint
//! position target `last_target + action * max_step`, then clamps the step to the velocity
//! limit (`max_velocity * period`) and the target to the position limits. Non-finite actions
//! never reach the arm: the joint holds its last target.
//!
//! What the profile's speed limits bound: every command is within [`JointLimits::step_bound`]
//! (`min(max_step, max_velocity · period)`) of the previous command, or of the arm's measured
//! position (a hold where the arm is; a step restarted from a blocked or pushed arm that the
//! last target led by more than [`MAX_LEAD_STEPS`] steps): no command is farther than that from
//! both where the arm is and the command before it. Bounding the restarts by
//! the previous command alone was measured to break door learning (deployed success 2 % against
//! 39 % mean over 10k env steps; docs/notes/2026-12-07-start-detector-and-step-bound.md): a
//! restart from the measured position is Markov in the measured state, one bounded by the last
//! target is not.

use thiserror::Error;

/// How many full-scale steps a target may lead the measured position before the next step
/// starts from the measured position instead of the last target ([`JointLimits::step_origin`]).
pub const MAX_LEAD_STEPS: f64 = 2.0;

#[derive(Debug, Error, PartialEq)]
pub enum LimitsError {
    #[error("robot profile: {what} has {got} values for {joints} joints")]
    Length {
        what: &'static str,
        got: usize,
        joints: usize,
    },
    #[error("robot profile: joint {joint}: lower limit {lower} is not below upper limit {upper}")]
    Range {
        joint: String,
        lower: f64,
        upper: f64,
    },
    #[error("robot profile: joint {joint}: {what} must be finite and > 0, got {value}")]
    Positive {
        joint: String,
        what: &'static str,
        value: f64,
    },
}

/// Per-joint limits from the robot profile.
#[derive(Debug, Clone, PartialEq)]
pub struct JointLimits {
    pub names: Vec<String>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// rad/s (or m/s)
    pub max_velocity: Vec<f64>,
    /// Position change for a full-scale action (|a| = 1) in one control step.
    pub max_step: Vec<f64>,
}

impl JointLimits {
    pub fn new(
        names: Vec<String>,
        lower: Vec<f64>,
        upper: Vec<f64>,
        max_velocity: Vec<f64>,
        max_step: Vec<f64>,
    ) -> Result<Self, LimitsError> {
        let joints = names.len();
        for (what, v) in [
            ("lower", &lower),
            ("upper", &upper),
            ("max_velocity", &max_velocity),
            ("max_step", &max_step),
        ] {
            if v.len() != joints {
                return Err(LimitsError::Length {
                    what,
                    got: v.len(),
                    joints,
                });
            }
        }
        for i in 0..joints {
            if lower[i].partial_cmp(&upper[i]) != Some(std::cmp::Ordering::Less) {
                return Err(LimitsError::Range {
                    joint: names[i].clone(),
                    lower: lower[i],
                    upper: upper[i],
                });
            }
            for (what, value) in [("max_velocity", max_velocity[i]), ("max_step", max_step[i])] {
                if !(value.is_finite() && value > 0.0) {
                    return Err(LimitsError::Positive {
                        joint: names[i].clone(),
                        what,
                        value,
                    });
                }
            }
        }
        Ok(Self {
            names,
            lower,
            upper,
            max_velocity,
            max_step,
        })
    }

    pub fn joints(&self) -> usize {
        self.names.len()
    }

    /// Clamps a position to the limits (non-finite values become the nearest safe value:
    /// the midpoint of the range).
    pub fn clamp_position(&self, joint: usize, p: f64) -> f64 {
        if p.is_finite() {
            p.clamp(self.lower[joint], self.upper[joint])
        } else {
            (self.lower[joint] + self.upper[joint]) / 2.0
        }
    }

    /// Every joint's position clamped to the limits ([`JointLimits::clamp_position`]; a
    /// missing joint is non-finite, so it becomes its range's midpoint).
    pub fn clamp_positions(&self, p: &[f64]) -> Vec<f64> {
        (0..self.joints())
            .map(|j| self.clamp_position(j, p.get(j).copied().unwrap_or(f64::NAN)))
            .collect()
    }

    /// Where the next step starts: the last target, as the demonstrations' actions assume
    /// (`target = last_target + action · max_step`; demo import normalises them so), because
    /// a position-controlled arm lags its targets: the sim's expert leads the arm by 1.5–2
    /// steps, and stepping from the measured position made the same actions move the arm half
    /// as fast. When the last target leads the measured position by more than
    /// [`MAX_LEAD_STEPS`] steps on some joint (a blocked or pushed arm), or there is none, the
    /// measured position: targets never run away from the arm.
    pub fn step_origin(&self, measured: &[f64], last_target: Option<&[f64]>) -> Vec<f64> {
        match last_target {
            Some(last)
                if last.len() == measured.len()
                    && (0..measured.len().min(self.joints())).all(|j| {
                        (last[j] - measured[j]).abs() <= MAX_LEAD_STEPS * self.max_step[j] + 1e-9
                    }) =>
            {
                last.to_vec()
            }
            _ => measured.to_vec(),
        }
    }

    /// The command for `action` from `last_target`, one control period `period_s` later.
    /// Returns the targets and whether anything was clamped.
    pub fn command(&self, last_target: &[f64], action: &[f32], period_s: f64) -> Command {
        let mut clamped = false;
        let targets = (0..self.joints())
            .map(|j| {
                let last = self.clamp_position(j, last_target.get(j).copied().unwrap_or(f64::NAN));
                let a = action.get(j).copied().map(f64::from).unwrap_or(f64::NAN);
                let a = if a.is_finite() {
                    a
                } else {
                    clamped = true;
                    0.0
                };
                let a_clamped = a.clamp(-1.0, 1.0);
                let max_move = self.max_velocity[j] * period_s;
                let step = (a_clamped * self.max_step[j]).clamp(-max_move, max_move);
                let target = (last + step).clamp(self.lower[j], self.upper[j]);
                if a_clamped != a || (target - (last + a * self.max_step[j])).abs() > 1e-12 {
                    clamped = true;
                }
                target
            })
            .collect();
        Command { targets, clamped }
    }

    /// The policy's action as the learners record it (in the `Transition`): each joint's value
    /// in [-1, 1], a missing or non-finite value as 0. The request, not the executed step (that
    /// is `commanded_position`): a learner that only ever saw the executed step never saw what
    /// its own clamped or refused actions did, its critic extrapolated over them, and its policy
    /// kept pushing into joint limits and the workspace boundary.
    pub fn requested_action(&self, action: &[f32]) -> Vec<f32> {
        (0..self.joints())
            .map(|j| match action.get(j) {
                Some(a) if a.is_finite() => a.clamp(-1.0, 1.0),
                _ => 0.0,
            })
            .collect()
    }

    /// Joint `j`'s step bound over one period `period_s`: a full-scale action's step, never more
    /// than the velocity limit. Every command is within it of the previous command or of the
    /// arm's measured position (the safety properties test it).
    pub fn step_bound(&self, j: usize, period_s: f64) -> f64 {
        self.max_step[j].min(self.max_velocity[j] * period_s)
    }

    /// Is `p` within limits (with a tolerance)?
    pub fn within(&self, p: &[f64], tolerance: f64) -> bool {
        p.len() == self.joints()
            && p.iter().enumerate().all(|(j, x)| {
                x.is_finite() && *x >= self.lower[j] - tolerance && *x <= self.upper[j] + tolerance
            })
    }
}

/// Joint position targets to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub targets: Vec<f64>,
    pub clamped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> JointLimits {
        JointLimits::new(
            vec!["j1".into(), "j2".into()],
            vec![-1.0, 0.0],
            vec![1.0, 2.0],
            vec![1.0, 0.5],
            vec![0.1, 0.1],
        )
        .unwrap()
    }

    #[test]
    fn action_scales_to_a_step() {
        let c = limits().command(&[0.0, 1.0], &[0.5, -0.5], 0.05);
        // j1: 0.05 step ≤ 1.0 * 0.05; j2: -0.05 step > 0.5*0.05=0.025 → clamped to -0.025.
        assert!((c.targets[0] - 0.05).abs() < 1e-12);
        assert!((c.targets[1] - 0.975).abs() < 1e-12);
        assert!(c.clamped);
    }

    #[test]
    fn nan_and_missing_actions_hold() {
        let c = limits().command(&[0.3, 1.0], &[f32::NAN], 0.05);
        assert_eq!(c.targets, vec![0.3, 1.0]);
        assert!(c.clamped);
    }

    #[test]
    fn bad_profiles_are_refused() {
        let e = JointLimits::new(vec!["a".into()], vec![1.0], vec![0.0], vec![1.0], vec![0.1])
            .unwrap_err();
        assert!(matches!(e, LimitsError::Range { .. }));
        let e = JointLimits::new(
            vec!["a".into()],
            vec![0.0],
            vec![1.0],
            vec![f64::NAN],
            vec![0.1],
        )
        .unwrap_err();
        assert!(matches!(e, LimitsError::Positive { .. }));
        let e = JointLimits::new(
            vec!["a".into()],
            vec![0.0, 1.0],
            vec![1.0],
            vec![1.0],
            vec![0.1],
        )
        .unwrap_err();
        assert!(matches!(e, LimitsError::Length { .. }));
    }

    proptest! {
        /// Whatever the policy says and wherever the last target was, the command stays
        /// within the position limits and moves each joint at most max_velocity * period
        /// from the (clamped) last target.
        #[test]
        fn commands_never_exceed_limits(
            last in proptest::collection::vec(prop_oneof![any::<f64>(), -3.0..3.0f64], 2),
            action in proptest::collection::vec(prop_oneof![any::<f32>(), -2.0..2.0f32], 0..4),
            period in 0.001..0.5f64,
        ) {
            let l = limits();
            let c = l.command(&last, &action, period);
            prop_assert!(l.within(&c.targets, 0.0));
            for (j, &last_j) in last.iter().enumerate() {
                let from = l.clamp_position(j, last_j);
                prop_assert!((c.targets[j] - from).abs() <= l.max_velocity[j] * period + 1e-9);
            }
        }
    }
}
