//! One control step of the arbiter: choose the active phase's action if it is fresh and
//! well-formed, clamp it, or hold still; record the transition (the policy's request and the
//! targets sent).
//!
//! Hold still means: command the last commanded target (or, before any command, the measured
//! position). It is what the arm gets on e-stop, in PAUSED / NEEDS_HELP, when the active
//! policy is silent for more than `watchdog_periods` control periods, and when its action is
//! malformed (wrong size, NaN).
//!
//! The action space ([`crate::action_space`]) turns the action into the command: joint targets
//! by default, end-effector poses with [`Arbiter::with_action_space`]. In joint space:
//!
//! With a workspace box ([`Arbiter::with_workspace`]), a command whose end effector (forward
//! kinematics) would leave the box, or go farther out when the arm is already outside, is
//! refused: from where the arm is, only the joints whose step keeps the end effector in (or no
//! farther out of) the box move; the others hold.
//!
//! With a rest pose ([`Arbiter::with_homing`]), every automatic switch into FORWARD or BACKWARD
//! first drives the arm to that joint configuration, at most a full-scale step per control
//! period, before the policy acts: each phase then starts from the same arm pose (say, the one
//! the demonstrations start from). Only the arm moves (the scene is never reset); homing steps count as env steps
//! but are neither a policy's transition nor part of the phase's step budget.

use std::time::{Duration, Instant};

use mbarl_msgs::msg::{Observation, PolicyAction, StateScore, Transition};

use crate::action_space::{ActionSpace, JointSpace};
use crate::gripper::Gripper;
use crate::kinematics::Workspace;
use crate::limits::JointLimits;
use crate::object_bounds::{ObjectBounds, ObjectCheck};
use crate::phases::{Phase, PhaseMachine, StepReport, Switch};

/// Maps a `sensor_msgs/JointState` (any joint order, extra joints allowed) to the profile's
/// joint order.
#[derive(Debug, Clone)]
pub struct JointOrder {
    names: Vec<String>,
}

impl JointOrder {
    pub fn new(names: &[String]) -> Self {
        Self {
            names: names.to_vec(),
        }
    }

    /// Positions in profile order; an error names what is wrong (missing joint, NaN, lengths).
    pub fn positions(&self, js: &mbarl_msgs::sensor_msgs::JointState) -> Result<Vec<f64>, String> {
        if js.name.len() != js.position.len() {
            return Err(format!(
                "{} names but {} positions",
                js.name.len(),
                js.position.len()
            ));
        }
        self.names
            .iter()
            .map(|n| {
                let i = js
                    .name
                    .iter()
                    .position(|m| m == n)
                    .ok_or_else(|| format!("joint {n} missing"))?;
                let p = js.position[i];
                if p.is_finite() {
                    Ok(p)
                } else {
                    Err(format!("joint {n} position is {p}"))
                }
            })
            .collect()
    }
}

/// Why the arm holds still this step (counted and logged by the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    EStop,
    Inactive,
    NoAction,
    StaleAction,
    WrongSize,
    NotFinite,
    /// Neither a measured position nor a previous command: nothing is sent (the controller
    /// keeps its own hold) rather than a guess.
    UnknownPosition,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::EStop => "estop",
            HoldReason::Inactive => "inactive_phase",
            HoldReason::NoAction => "no_action",
            HoldReason::StaleAction => "stale_action",
            HoldReason::WrongSize => "wrong_action_size",
            HoldReason::NotFinite => "non_finite_action",
            HoldReason::UnknownPosition => "unknown_position",
        }
    }
}

pub use crate::command::Refusal;

/// The decision for one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// The command to send (joint targets, or an end-effector pose in end-effector mode);
    /// `None`: send nothing (position unknown).
    pub targets: Option<Vec<f64>>,
    /// The gripper width (m) to send, with a gripper ([`Arbiter::with_gripper`]).
    pub gripper: Option<f64>,
    pub hold: Option<HoldReason>,
    /// The policy's command was refused; `targets` moves only the joints whose step is safe.
    pub refused: Option<Refusal>,
    /// The command was clamped to the limits, or refused.
    pub clamped: bool,
    pub switch: Option<Switch>,
    /// The transition completed by this step's observation (previous obs → this obs).
    pub transition: Option<Transition>,
    /// The step drove the arm towards its rest pose (no policy acted).
    pub homing: bool,
    /// Object bounds are configured but this observation's task state does not hold the
    /// object's dimensions (too short, or not finite): the rule could not be checked.
    pub object_unreadable: bool,
}

/// The rest pose the arm returns to before each phase (parameters `home_position`,
/// `home_tolerance`, `home_max_steps`).
#[derive(Debug, Clone, PartialEq)]
pub struct Homing {
    /// Joint positions (rad), in profile order, within the limits.
    pub position: Vec<f64>,
    /// Homing ends when every joint is within this of its rest position (rad)…
    pub tolerance: f64,
    /// …or after this many steps (an obstacle, a refused workspace step). In end-effector mode
    /// the tolerance is the end effector's distance (m) from the rest pose's.
    pub max_steps: u64,
}

struct Pending {
    observation: Observation,
    action: Vec<f32>,
    targets: Vec<f64>,
    gripper: Option<f64>,
    clamped: bool,
    phase: Phase,
    cycle: u32,
    step: u64,
}

pub struct Arbiter {
    /// The arm's joints (what `/joint_states` must carry, in profile order).
    pub limits: JointLimits,
    pub machine: PhaseMachine,
    /// How an action becomes a command ([`JointSpace`] unless [`Arbiter::with_action_space`]).
    space: Box<dyn ActionSpace>,
    /// The gripper, driven by the action's last value.
    gripper: Option<Gripper>,
    object_bounds: Option<ObjectBounds>,
    period: Duration,
    watchdog: Duration,
    last_targets: Option<Vec<f64>>,
    actions: [Option<(PolicyAction, Instant)>; 2],
    score: Option<StateScore>,
    estop: bool,
    pending: Option<Pending>,
    measured: Option<Vec<f64>>,
    /// The position held since the arm last moved under a policy.
    holding: Option<Vec<f64>>,
    /// The newest observation's sequence number (the encoder's count since it started).
    last_seq: Option<u64>,
    homing: Option<Homing>,
    /// The rest pose as a command of the action space.
    homing_goal: Option<Vec<f64>>,
    /// Steps taken towards the rest pose since the last switch; `None`: not homing.
    homing_steps: Option<u64>,
}

impl Arbiter {
    pub fn new(
        limits: JointLimits,
        machine: PhaseMachine,
        period: Duration,
        watchdog_periods: f64,
    ) -> Self {
        Self {
            space: Box::new(JointSpace::new(limits.clone(), None, period.as_secs_f64())),
            gripper: None,
            limits,
            machine,
            object_bounds: None,
            period,
            watchdog: period.mul_f64(watchdog_periods),
            last_targets: None,
            actions: [None, None],
            score: None,
            estop: false,
            pending: None,
            measured: None,
            holding: None,
            last_seq: None,
            homing: None,
            homing_goal: None,
            homing_steps: None,
        }
    }

    /// Drives the arm to `homing.position` at the start of every automatic FORWARD or BACKWARD
    /// phase. The position must have one entry per joint, within the limits.
    pub fn with_homing(mut self, homing: Homing) -> Result<Self, String> {
        if homing.position.len() != self.limits.joints() {
            return Err(format!(
                "home_position has {} entries for {} joints",
                homing.position.len(),
                self.limits.joints()
            ));
        }
        if !self.limits.within(&homing.position, 0.0) {
            return Err(format!(
                "home_position {:?} is outside the joint limits",
                homing.position
            ));
        }
        if !(homing.tolerance.is_finite() && homing.tolerance > 0.0) || homing.max_steps == 0 {
            return Err(format!(
                "home_tolerance must be > 0 and home_max_steps > 0, got {} and {}",
                homing.tolerance, homing.max_steps
            ));
        }
        self.homing_goal = self.space.hold(Some(&homing.position), None);
        self.homing = Some(homing);
        Ok(self)
    }

    /// Is the arm on its way to the rest pose (no policy acts)?
    pub fn is_homing(&self) -> bool {
        self.homing_steps.is_some()
    }

    /// Enforces a workspace box on every policy command (the chain must have one joint per
    /// limited joint; a mismatched chain would refuse everything).
    pub fn with_workspace(mut self, workspace: Workspace) -> Self {
        self.space = Box::new(JointSpace::new(
            self.limits.clone(),
            Some(workspace),
            self.period.as_secs_f64(),
        ));
        self
    }

    /// Commands the arm through `space` (say, end-effector poses) instead of joint targets.
    /// Set it before [`Arbiter::with_homing`], whose rest pose becomes a command of the space.
    pub fn with_action_space(mut self, space: Box<dyn ActionSpace>) -> Self {
        self.space = space;
        self
    }

    /// Drives a gripper with one more action value, after the arm's ([`crate::gripper`]).
    pub fn with_gripper(mut self, gripper: Gripper) -> Self {
        self.gripper = Some(gripper);
        self
    }

    /// The gripper's measured width (m), from `/joint_states`.
    pub fn on_gripper_width(&mut self, width: f64) {
        if let Some(g) = &mut self.gripper {
            g.on_width(width);
        }
    }

    /// The number of values a policy's action must have: the arm's, and one for the gripper.
    pub fn action_dim(&self) -> usize {
        self.space.action_dim() + usize::from(self.gripper.is_some())
    }

    /// Asks for help when the task's object stays outside `bounds` (checked on every
    /// observation's `state` during a phase).
    pub fn with_object_bounds(mut self, bounds: ObjectBounds) -> Self {
        self.object_bounds = Some(bounds);
        self
    }

    pub fn set_estop(&mut self, on: bool) {
        self.estop = on;
    }

    pub fn estop(&self) -> bool {
        self.estop
    }

    /// Stores a policy action (forward or backward) as it arrives.
    pub fn on_action(&mut self, action: PolicyAction, now: Instant) {
        let slot = if action.policy == PolicyAction::POLICY_BACKWARD {
            1
        } else {
            0
        };
        self.actions[slot] = Some((action, now));
    }

    /// Marks the stored actions as received `now` (lock-step pacing: sim time stood still
    /// while the arbiter waited, so they are as fresh as when they came).
    pub fn refresh_actions(&mut self, now: Instant) {
        for (_, at) in self.actions.iter_mut().flatten() {
            *at = now;
        }
    }

    pub fn on_score(&mut self, score: StateScore) {
        self.score = Some(score);
    }

    /// The arm's measured joint positions (from `/joint_states`, in profile order).
    pub fn on_joint_positions(&mut self, positions: &[f64]) {
        if positions.len() == self.limits.joints() && positions.iter().all(|p| p.is_finite()) {
            self.measured = Some(positions.to_vec());
        }
    }

    /// The hold command, for the node to send now (e-stop, no observations, shutdown); it
    /// becomes the last command sent. Holding starts at the arm's measured position (so it
    /// stops where it is, instead of finishing its last step), else at the last target,
    /// clamped to the limits, and stays there while the hold lasts (no creeping after a
    /// sagging measurement). `None` while the arm's position is unknown: nothing is sent and
    /// the controller keeps holding on its own.
    pub fn hold_targets(&mut self) -> Option<Vec<f64>> {
        let hold = self.hold_position()?;
        self.last_targets = Some(hold.clone());
        Some(hold)
    }

    /// The position held (see [`Arbiter::hold_targets`]), without sending it.
    fn hold_position(&mut self) -> Option<Vec<f64>> {
        if self.holding.is_none() {
            self.holding = Some(
                self.space
                    .hold(self.measured.as_deref(), self.last_targets.as_deref())?,
            );
        }
        self.holding.clone()
    }

    fn active_action(&self, now: Instant) -> Result<&PolicyAction, HoldReason> {
        if self.estop {
            return Err(HoldReason::EStop);
        }
        let slot = match self.machine.phase() {
            Phase::Forward | Phase::Eval => 0,
            Phase::Backward => 1,
            _ => return Err(HoldReason::Inactive),
        };
        let (action, at) = self.actions[slot].as_ref().ok_or(HoldReason::NoAction)?;
        if now.duration_since(*at) > self.watchdog {
            return Err(HoldReason::StaleAction);
        }
        if action.action.len() != self.action_dim() {
            return Err(HoldReason::WrongSize);
        }
        if !action.action.iter().all(|a| a.is_finite()) {
            return Err(HoldReason::NotFinite);
        }
        Ok(action)
    }

    /// One control step on a new observation (whose `joint_position` is the measured state).
    pub fn step(&mut self, observation: Observation, now: Instant) -> StepOutput {
        let measured = observation.joint_position.clone();
        // Scores of this or the two previous observations count; older ones are stale.
        let scores = self
            .score
            .as_ref()
            .filter(|s| s.observation_seq + 2 >= observation.seq);
        let report_scores = (
            scores.map(|s| s.goal_probability),
            scores.map(|s| s.demo_probability),
            scores.map(|s| s.start_probability),
        );

        // Close the previous step's transition with this observation as s_{t+1}.
        let mut transition = None;
        let mut switch = None;
        let object = self
            .object_bounds
            .as_ref()
            .map(|b| b.check(&observation.state));
        let object_unreadable = object == Some(ObjectCheck::Unreadable);
        if let Some(p) = self.pending.take() {
            let travel = p
                .observation
                .joint_position
                .iter()
                .zip(&measured)
                .map(|(a, b)| (a - b).abs())
                .filter(|d| d.is_finite())
                .sum();
            switch = self.machine.step(StepReport {
                goal_score: report_scores.0,
                demo_score: report_scores.1,
                start_score: report_scores.2,
                travel,
                clamped: p.clamped,
                object_outside: match object {
                    Some(ObjectCheck::Outside(o)) => Some(o),
                    _ => None,
                },
                object_motion: self
                    .object_bounds
                    .as_ref()
                    .and_then(|b| b.motion(&p.observation.state, &observation.state)),
            });
            transition = Some(Transition {
                header: observation.header.clone(),
                step: p.step,
                phase: p.phase.to_msg(),
                cycle: p.cycle,
                observation: p.observation,
                action: p.action,
                commanded_position: p.targets.into_iter().chain(p.gripper).collect(),
                clamped: p.clamped,
                task_reward: 0.0,
                has_task_reward: false,
                next_observation: observation.clone(),
                phase_end: switch.is_some(),
            });
        }

        if switch
            .as_ref()
            .is_some_and(|s| matches!(s.to, Phase::Forward | Phase::Backward))
            && self.homing.is_some()
        {
            self.homing_steps = Some(0);
        }
        self.on_joint_positions(&measured);
        // With neither a measured position nor a last target there is nothing safe to
        // command (clamping a NaN would send the arm to the middle of its range).
        let Some(base) = self.hold_position() else {
            return StepOutput {
                targets: None,
                gripper: self.gripper.as_ref().and_then(Gripper::hold),
                hold: Some(HoldReason::UnknownPosition),
                refused: None,
                clamped: false,
                switch,
                transition,
                homing: false,
                object_unreadable,
            };
        };
        if let Some(out) = self.homing_step(&measured, &base) {
            return StepOutput {
                switch,
                transition,
                object_unreadable,
                ..out
            };
        }
        let mut refused = None;
        let arm_dim = self.space.action_dim();
        let (targets, hold, clamped, mut action, grip) = match self.active_action(now) {
            Ok(a) => {
                let (arm, grip) = a.action.split_at(arm_dim);
                let grip = grip.first().copied();
                let c = self
                    .space
                    .command(&measured, self.last_targets.as_deref(), &base, arm);
                refused = c.refusal;
                (
                    c.targets,
                    None,
                    c.clamped,
                    self.space.requested_action(arm),
                    grip,
                )
            }
            Err(reason) => (base, Some(reason), false, vec![0.0; arm_dim], None),
        };
        // the gripper: the action's last value decides, a hold keeps it as it is
        let gripper = self.gripper.as_mut().and_then(|g| match grip {
            Some(a) => g.command(a),
            None => g.hold(),
        });
        if self.gripper.is_some() {
            action.push(
                grip.filter(|a| a.is_finite())
                    .map_or(0.0, |a| a.clamp(-1.0, 1.0)),
            );
        }
        if refused.is_some() {
            // A hold right after a refusal keeps the arm where the refusal sent it.
            self.holding = Some(targets.clone());
        } else if hold.is_none() {
            self.holding = None;
        }
        if self.machine.phase().is_active() {
            self.pending = Some(Pending {
                observation,
                action,
                targets: targets.clone(),
                gripper,
                clamped,
                phase: self.machine.phase(),
                cycle: self.machine.cycle(),
                step: self.machine.total_steps(),
            });
        }
        self.last_targets = Some(targets.clone());
        StepOutput {
            targets: Some(targets),
            gripper,
            hold,
            refused,
            clamped,
            switch,
            transition,
            homing: false,
            object_unreadable,
        }
    }

    /// One step towards the rest pose while homing (not on e-stop, nor outside FORWARD and
    /// BACKWARD); `None` when the policy acts. Homing ends once every joint is within the
    /// tolerance, or after `max_steps`; this step is then the last homing step.
    fn homing_step(&mut self, measured: &[f64], base: &[f64]) -> Option<StepOutput> {
        let steps = self.homing_steps?;
        let homing = self.homing.as_ref()?;
        let goal = self.homing_goal.as_ref()?;
        if self.estop || !matches!(self.machine.phase(), Phase::Forward | Phase::Backward) {
            self.homing_steps = None;
            return None;
        }
        let last = self.last_targets.as_deref();
        let arrived = self.space.reached(measured, goal, homing.tolerance);
        let action = self.space.action_towards(measured, last, base, goal);
        self.homing_steps = (!arrived && steps + 1 < homing.max_steps).then_some(steps + 1);
        let c = self.space.command(measured, last, base, &action);
        let (targets, clamped, refused) = (c.targets, c.clamped, c.refusal);
        self.machine.count_unrecorded_step();
        self.pending = None;
        self.holding = None;
        self.last_targets = Some(targets.clone());
        Some(StepOutput {
            targets: Some(targets),
            gripper: self.gripper.as_ref().and_then(Gripper::hold),
            hold: None,
            refused,
            clamped,
            switch: None,
            transition: None,
            homing: true,
            object_unreadable: false,
        })
    }

    /// After a phase change made outside `step` (operator), the open transition is dropped:
    /// no transition spans two phases.
    pub fn end_pending_phase(&mut self) {
        self.pending = None;
    }

    /// A new observation arrived (before [`Arbiter::has_action_for`] asks about it). A
    /// sequence number lower than the last one means the camera encoder restarted and counts
    /// from 0 again: the stored actions answer observations of its previous run, so they are
    /// dropped, or an old action would count as the answer to a new observation.
    pub fn on_observation_seq(&mut self, seq: u64) {
        if self.last_seq.is_some_and(|last| seq < last) {
            tracing::warn!(
                seq,
                last = self.last_seq,
                "observation sequence restarted (camera encoder restarted): dropping the stored actions"
            );
            self.actions = [None, None];
        }
        self.last_seq = Some(seq);
    }

    /// Has the active policy answered observation `seq` yet? (Always, while homing: no
    /// policy acts then.)
    pub fn has_action_for(&self, seq: u64) -> bool {
        if self.is_homing() {
            return true;
        }
        let slot = match self.machine.phase() {
            Phase::Backward => 1,
            _ => 0,
        };
        self.actions[slot]
            .as_ref()
            .is_some_and(|(a, _)| a.observation_seq >= seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phases::PhaseConfig;

    fn arbiter() -> Arbiter {
        let limits = JointLimits::new(
            vec!["j1".into(), "j2".into()],
            vec![-1.0, -1.0],
            vec![1.0, 1.0],
            vec![2.0, 2.0],
            vec![0.05, 0.05],
        )
        .unwrap();
        Arbiter::new(
            limits,
            PhaseMachine::new(PhaseConfig::default()),
            Duration::from_millis(50),
            2.0,
        )
    }

    #[test]
    fn joint_states_are_reordered_and_checked() {
        use mbarl_msgs::sensor_msgs::JointState;
        let order = JointOrder::new(&["j1".into(), "j2".into()]);
        let js = |names: &[&str], pos: Vec<f64>| JointState {
            name: names.iter().map(|s| s.to_string()).collect(),
            position: pos,
            ..Default::default()
        };
        assert_eq!(
            order.positions(&js(&["gripper", "j2", "j1"], vec![9.0, 0.2, 0.1])),
            Ok(vec![0.1, 0.2])
        );
        assert!(
            order
                .positions(&js(&["j1"], vec![0.1]))
                .unwrap_err()
                .contains("j2 missing")
        );
        assert!(
            order
                .positions(&js(&["j1", "j2"], vec![0.1, f64::NAN]))
                .unwrap_err()
                .contains("NaN")
        );
        assert!(order.positions(&js(&["j1", "j2"], vec![0.1])).is_err());
    }

    #[test]
    fn nothing_to_hold_before_the_arm_position_is_known() {
        let mut arb = arbiter();
        assert_eq!(arb.hold_targets(), None);
        arb.on_joint_positions(&[0.3, f64::NAN]);
        assert_eq!(
            arb.hold_targets(),
            None,
            "a NaN measurement is not a position"
        );
        arb.on_joint_positions(&[0.3, 2.0]);
        assert_eq!(
            arb.hold_targets(),
            Some(vec![0.3, 1.0]),
            "clamped to the limits"
        );
    }

    fn obs(seq: u64, pos: [f64; 2]) -> Observation {
        Observation {
            seq,
            joint_position: pos.to_vec(),
            ..Default::default()
        }
    }

    fn act(policy: u8, a: Vec<f32>) -> PolicyAction {
        PolicyAction {
            policy,
            action: a,
            ..Default::default()
        }
    }

    #[test]
    fn an_encoder_restart_drops_the_actions_of_its_previous_run() {
        let mut arb = arbiter();
        let t0 = Instant::now();
        arb.on_observation_seq(100);
        let mut a = act(PolicyAction::POLICY_FORWARD, vec![1.0, 1.0]);
        a.observation_seq = 100;
        arb.on_action(a, t0);
        assert!(arb.has_action_for(100));
        arb.on_observation_seq(101);
        assert!(
            !arb.has_action_for(101),
            "the next observation waits for its own action"
        );
        // the encoder restarted: its count begins again
        arb.on_observation_seq(0);
        assert!(
            !arb.has_action_for(0),
            "an action for observation 100 of the old run is not one for observation 0"
        );
        let out = arb.step(obs(0, [0.2, 0.3]), t0);
        assert_eq!(out.hold, Some(HoldReason::NoAction));
    }

    #[test]
    fn an_object_out_of_bounds_asks_for_help_and_the_arm_holds() {
        let mut arb = arbiter()
            .with_object_bounds(ObjectBounds::new(&[1], &[-0.05], &[0.3]).expect("bounds"));
        arb.machine = PhaseMachine::new(PhaseConfig {
            object_outside_steps: 3,
            ..PhaseConfig::default()
        });
        let t0 = Instant::now();
        let with_state = |seq, state: Vec<f32>| Observation {
            state,
            ..obs(seq, [0.0, 0.0])
        };
        let mut switches = Vec::new();
        for seq in 0..6 {
            arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.1, 0.1]), t0);
            // the object (state[1]) fell to the floor
            let out = arb.step(with_state(seq, vec![0.3, -0.73]), t0);
            assert!(!out.object_unreadable);
            switches.extend(out.switch);
        }
        assert_eq!(switches.len(), 1, "{switches:?}");
        assert_eq!(switches[0].to, Phase::NeedsHelp);
        assert!(switches[0].reason.contains("out of the workspace"));
        let out = arb.step(with_state(6, vec![0.3, -0.73]), t0);
        assert_eq!(
            out.hold,
            Some(HoldReason::Inactive),
            "the arm holds while help is asked"
        );
        // An object that stays where it is, inside its bounds, for a whole cycle
        // (object_still_cycles 1): the arbiter measures its motion from the observations.
        let mut arb = arbiter()
            .with_object_bounds(ObjectBounds::new(&[1], &[-0.05], &[0.3]).expect("bounds"));
        arb.machine = PhaseMachine::new(PhaseConfig {
            forward_steps: 2,
            backward_steps: 2,
            object_still_cycles: 1,
            ..PhaseConfig::default()
        });
        let mut to = Vec::new();
        for seq in 0..6 {
            arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.1, 0.1]), t0);
            arb.on_action(act(PolicyAction::POLICY_BACKWARD, vec![-0.1, -0.1]), t0);
            to.extend(arb.step(with_state(seq, vec![0.3, 0.1]), t0).switch);
        }
        let to: Vec<_> = to.iter().map(|s| s.to).collect();
        assert_eq!(to, [Phase::Backward, Phase::NeedsHelp]);
        // A task state without the object's dimension: flagged, never mistaken for outside.
        let mut arb = arbiter()
            .with_object_bounds(ObjectBounds::new(&[1], &[-0.05], &[0.3]).expect("bounds"));
        for seq in 0..20 {
            arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.1, 0.1]), t0);
            let out = arb.step(with_state(seq, vec![0.3]), t0);
            assert!(out.object_unreadable);
            assert!(out.switch.is_none());
        }
    }

    #[test]
    fn forward_action_moves_the_arm_within_limits() {
        let mut arb = arbiter();
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0, -1.0]), t0);
        let out = arb.step(obs(0, [0.0, 0.0]), t0);
        assert_eq!(out.hold, None);
        let t = out.targets.unwrap();
        assert!((t[0] - 0.05).abs() < 1e-9 && (t[1] + 0.05).abs() < 1e-9);
    }

    #[test]
    fn backward_action_is_ignored_in_forward_phase() {
        let mut arb = arbiter();
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_BACKWARD, vec![1.0, 1.0]), t0);
        let out = arb.step(obs(0, [0.2, 0.3]), t0);
        assert_eq!(out.hold, Some(HoldReason::NoAction));
        assert_eq!(out.targets, Some(vec![0.2, 0.3]));
    }

    #[test]
    fn watchdog_holds_after_two_silent_periods() {
        let mut arb = arbiter();
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0, 1.0]), t0);
        let first = arb.step(obs(0, [0.0, 0.0]), t0);
        let later = arb.step(obs(1, [0.05, 0.05]), t0 + Duration::from_millis(101));
        assert_eq!(later.hold, Some(HoldReason::StaleAction));
        assert_eq!(
            later.targets, first.targets,
            "holds the last commanded target"
        );
    }

    #[test]
    fn estop_and_bad_actions_hold() {
        let mut arb = arbiter();
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0]), t0);
        assert_eq!(
            arb.step(obs(0, [0.0, 0.0]), t0).hold,
            Some(HoldReason::WrongSize)
        );
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![f32::NAN, 0.0]), t0);
        assert_eq!(
            arb.step(obs(1, [0.0, 0.0]), t0).hold,
            Some(HoldReason::NotFinite)
        );
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.5, 0.5]), t0);
        arb.set_estop(true);
        assert_eq!(
            arb.step(obs(2, [0.0, 0.0]), t0).hold,
            Some(HoldReason::EStop)
        );
    }

    #[test]
    fn transitions_link_consecutive_observations() {
        let mut arb = arbiter();
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.5, 0.0]), t0);
        assert!(arb.step(obs(0, [0.0, 0.0]), t0).transition.is_none());
        let out = arb.step(obs(1, [0.025, 0.0]), t0);
        let t = out.transition.unwrap();
        assert_eq!((t.observation.seq, t.next_observation.seq), (0, 1));
        assert!((t.action[0] - 0.5).abs() < 1e-6);
        assert_eq!(t.phase, Phase::Forward.to_msg());
    }

    #[test]
    fn garbage_observation_before_any_position_commands_nothing() {
        let mut arb = arbiter();
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0, 1.0]), t0);
        let out = arb.step(obs(0, [f64::NAN, 0.0]), t0);
        assert_eq!(out.targets, None, "not the middle of the joint range");
        assert_eq!(out.hold, Some(HoldReason::UnknownPosition));
        let out = arb.step(obs(1, [0.2, 0.1]), t0);
        assert_eq!(out.hold, None);
        assert!(out.targets.is_some());
    }

    /// Two joints about z: a planar arm with 0.5 m links, end effector at 1.0 m along x at q=0.
    fn planar_workspace(max_y: f64) -> Workspace {
        use crate::kinematics::{KinematicChain, WorkspaceBox};
        let chain = KinematicChain::new(
            2,
            &[0.0, 0.0, 0.0, 0.5, 0.0, 0.0],
            &[0.0; 6],
            &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            &[0.5, 0.0, 0.0],
        )
        .unwrap();
        Workspace {
            chain,
            bounds: WorkspaceBox::new(&[-2.0, -2.0, -1.0], &[2.0, max_y, 1.0]).unwrap(),
        }
    }

    #[test]
    fn commands_leaving_the_workspace_are_refused() {
        // y of the end effector ≈ sin(q1) + ... : the box allows y <= 0.06.
        let mut arb = arbiter().with_workspace(planar_workspace(0.06));
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0, 0.0]), t0);
        let first = arb.step(obs(0, [0.0, 0.0]), t0);
        assert_eq!((first.hold, first.refused), (None, None));
        let t1 = first.targets.clone().unwrap();
        assert!(
            (t1[0] - 0.05).abs() < 1e-9,
            "y = sin(0.05) ≈ 0.05 is inside"
        );
        // The next step would reach y ≈ sin(0.10) ≈ 0.0998: refused, the arm stays at t1.
        let second = arb.step(obs(1, [t1[0], t1[1]]), t0);
        assert_eq!(second.refused, Some(Refusal::Workspace));
        assert!(second.clamped, "a refusal counts toward asking for help");
        assert_eq!(second.targets, Some(t1.clone()));
        // Moving back into the box is allowed again.
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![-1.0, 0.0]), t0);
        let third = arb.step(obs(2, [t1[0], t1[1]]), t0);
        assert_eq!(third.refused, None);
        assert!(third.targets.unwrap()[0] < t1[0]);
        // The transition records the policy's request and the targets actually sent (no
        // motion for the refused step).
        let t = third.transition.unwrap();
        assert!(t.clamped && t.action == vec![1.0, 0.0], "{:?}", t.action);
        assert_eq!(t.commanded_position, t1);
    }

    #[test]
    fn outside_the_box_without_a_safe_command_holds_where_it_is() {
        let mut arb = arbiter().with_workspace(planar_workspace(0.06));
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0, 0.0]), t0);
        // Starts outside (y ≈ sin(0.5)): any move further out is refused, the arm holds.
        let out = arb.step(obs(0, [0.5, 0.0]), t0);
        assert_eq!(out.refused, Some(Refusal::Workspace));
        assert_eq!(out.targets, Some(vec![0.5, 0.0]));
    }

    #[test]
    fn outside_the_box_the_way_back_in_is_open() {
        // The dynamics carried the arm past a target on the boundary (y ≈ sin(0.2) > 0.06):
        // a step back towards the box is sent as asked, not refused (that froze the arm there:
        // every later command was refused, for good).
        let mut arb = arbiter().with_workspace(planar_workspace(0.06));
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![-1.0, 0.0]), t0);
        let back = arb.step(obs(0, [0.2, 0.0]), t0);
        assert_eq!(back.refused, None);
        let t = back.targets.unwrap();
        assert!((t[0] - 0.15).abs() < 1e-9, "{t:?}");
        // Per joint: the step of joint 0 (outwards) is refused, joint 1's (inwards) is kept.
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0, -1.0]), t0);
        let mixed = arb.step(obs(1, [0.15, 0.0]), t0);
        assert_eq!(mixed.refused, Some(Refusal::Workspace));
        let t = mixed.targets.unwrap();
        assert!(
            (t[0] - 0.15).abs() < 1e-9 && (t[1] + 0.05).abs() < 1e-9,
            "{t:?}"
        );
    }

    #[test]
    fn steps_start_from_the_last_target_unless_it_leads_the_arm_too_far() {
        // The arm lags its targets: a step continues from the last target (as demo actions
        // are normalised), so the same actions move it as fast as the expert that was recorded.
        let mut arb = arbiter();
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0, 0.0]), t0);
        let first = arb.step(obs(0, [0.0, 0.0]), t0).targets.unwrap();
        assert!((first[0] - 0.05).abs() < 1e-9, "{first:?}");
        let second = arb.step(obs(1, [0.02, 0.0]), t0).targets.unwrap();
        assert!(
            (second[0] - 0.10).abs() < 1e-9,
            "from the last target: {second:?}"
        );
        // A blocked arm (the target leads by more than MAX_LEAD_STEPS steps): from the arm.
        let third = arb.step(obs(2, [-0.05, 0.0]), t0).targets.unwrap();
        assert!(
            third[0].abs() < 1e-9,
            "from the measured position: {third:?}"
        );
    }

    /// An arbiter whose phases last `budget` steps, with rest pose (0.5, -0.5).
    fn homing_arbiter(budget: u64) -> Arbiter {
        let mut arb = arbiter();
        arb.machine = PhaseMachine::new(PhaseConfig {
            forward_steps: budget,
            backward_steps: budget,
            ..PhaseConfig::default()
        });
        arb.with_homing(Homing {
            position: vec![0.5, -0.5],
            tolerance: 0.01,
            max_steps: 100,
        })
        .unwrap()
    }

    #[test]
    fn homing_starts_each_phase_from_the_rest_pose() {
        let mut arb = homing_arbiter(2);
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.0, 0.0]), t0);
        arb.on_action(act(PolicyAction::POLICY_BACKWARD, vec![0.0, 0.0]), t0);
        // two forward steps (no homing before the first phase), then the switch
        let mut pos = [0.0, 0.0];
        assert!(!arb.step(obs(0, pos), t0).homing);
        assert!(!arb.step(obs(1, pos), t0).homing);
        let out = arb.step(obs(2, pos), t0);
        assert_eq!(out.switch.as_ref().map(|s| s.to), Some(Phase::Backward));
        assert!(
            out.transition.unwrap().phase_end,
            "the forward phase's last transition"
        );
        assert!(
            out.homing && arb.has_action_for(99),
            "no policy is waited for"
        );
        // at most a full-scale step (0.05 rad) per period, towards (0.5, -0.5)
        let t = out.targets.unwrap();
        assert!(
            (t[0] - 0.05).abs() < 1e-9 && (t[1] + 0.05).abs() < 1e-9,
            "{t:?}"
        );
        let steps_before = arb.machine.total_steps();
        let mut seq = 3;
        let mut homing_steps = 1;
        pos = [t[0], t[1]]; // the arm follows its targets
        loop {
            let out = arb.step(obs(seq, pos), t0);
            seq += 1;
            assert!(
                out.transition.is_none(),
                "homing steps are no policy's transitions"
            );
            assert!(out.switch.is_none());
            if !out.homing {
                break;
            }
            homing_steps += 1;
            let t = out.targets.unwrap();
            assert!(
                (0..2).all(|j| (t[j] - pos[j]).abs() <= 0.05 + 1e-9),
                "{t:?} from {pos:?}"
            );
            pos = [t[0], t[1]];
            assert!(homing_steps < 20, "homing never ended");
        }
        assert!(
            (pos[0] - 0.5).abs() <= 0.01 && (pos[1] + 0.5).abs() <= 0.01,
            "{pos:?}"
        );
        assert_eq!(arb.machine.phase(), Phase::Backward);
        assert_eq!(
            arb.machine.phase_step(),
            0,
            "homing is not part of the phase's budget"
        );
        assert_eq!(
            arb.machine.total_steps(),
            steps_before + homing_steps - 1,
            "but every homing step is an env step"
        );
    }

    #[test]
    fn homing_gives_up_after_its_step_limit_and_stops_on_estop() {
        let mut arb = homing_arbiter(1);
        arb.homing.as_mut().unwrap().max_steps = 3;
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.0, 0.0]), t0);
        arb.on_action(act(PolicyAction::POLICY_BACKWARD, vec![0.0, 0.0]), t0);
        arb.step(obs(0, [0.0, 0.0]), t0);
        // the switch, then an obstacle: the arm never moves
        let homing: Vec<bool> = (1..6)
            .map(|i| arb.step(obs(i, [0.0, 0.0]), t0).homing)
            .collect();
        assert_eq!(
            homing,
            [true, true, true, false, true],
            "3 homing steps, one policy step (the phase's budget), homing for the next phase"
        );
        // e-stop during homing: the arm holds still
        arb.set_estop(true);
        let out = arb.step(obs(6, [0.0, 0.0]), t0);
        assert!(!out.homing);
        assert_eq!(out.hold, Some(HoldReason::EStop));
        assert!(!arb.is_homing());
    }

    #[test]
    fn homing_to_a_pose_outside_the_limits_is_refused() {
        let bad = |position: Vec<f64>| {
            arbiter()
                .with_homing(Homing {
                    position,
                    tolerance: 0.01,
                    max_steps: 10,
                })
                .err()
                .unwrap()
        };
        assert!(bad(vec![0.0]).contains("1 entries for 2 joints"));
        assert!(bad(vec![0.0, 1.5]).contains("outside the joint limits"));
        assert!(bad(vec![0.0, f64::NAN]).contains("outside the joint limits"));
    }

    /// The sim arm (4 joints) driven in end-effector space: 3-value actions, pose commands.
    fn cartesian_arbiter() -> Arbiter {
        use crate::cartesian::{CartesianLimits, CartesianSpace};
        use crate::kinematics::WorkspaceBox;
        let names: Vec<String> = (1..=4).map(|i| format!("j{i}")).collect();
        let limits = JointLimits::new(
            names,
            vec![-3.0; 4],
            vec![3.0; 4],
            vec![2.0; 4],
            vec![0.05; 4],
        )
        .unwrap();
        let chain = crate::kinematics::tests::sim_arm();
        let bounds = WorkspaceBox::new(&[0.1, -0.3, 0.0], &[0.7, 0.3, 0.7]).unwrap();
        let cl = CartesianLimits::new(&[0.01; 3], &[], 0.5, 1.0, bounds, &[0.0; 3], 1.5).unwrap();
        Arbiter::new(
            limits,
            PhaseMachine::new(PhaseConfig::default()),
            Duration::from_millis(50),
            2.0,
        )
        .with_action_space(Box::new(CartesianSpace::new(chain, cl, 0.05)))
    }

    #[test]
    fn cartesian_mode_steps_the_pose_and_holds_on_silence() {
        use crate::cartesian::command_to_pose;
        let mut arb = cartesian_arbiter();
        assert_eq!(arb.action_dim(), 3);
        let q = vec![0.0, 0.5, 0.8, 0.3];
        let o = |seq| Observation {
            seq,
            joint_position: q.clone(),
            ..Default::default()
        };
        let t0 = Instant::now();
        // a joint-sized action is the wrong size here
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0; 4]), t0);
        assert_eq!(arb.step(o(0), t0).hold, Some(HoldReason::WrongSize));
        let hold = arb.hold_targets().unwrap();
        assert_eq!(hold.len(), 7, "a pose: x y z qx qy qz qw");
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![1.0, 0.0, -1.0]), t0);
        let out = arb.step(o(1), t0);
        assert_eq!(out.hold, None);
        let (from, to) = (
            command_to_pose(&hold).unwrap(),
            command_to_pose(out.targets.as_ref().unwrap()).unwrap(),
        );
        let d = to.translation.vector - from.translation.vector;
        assert!((d.x - 0.01).abs() < 1e-12 && d.y.abs() < 1e-12 && (d.z + 0.01).abs() < 1e-12);
        // the transition records the policy's request and the pose sent
        let out2 = arb.step(o(2), t0 + Duration::from_millis(50));
        let t = out2.transition.unwrap();
        assert_eq!(t.action, vec![1.0, 0.0, -1.0]);
        assert_eq!(t.commanded_position, out.targets.clone().unwrap());
        // silent for more than two periods: hold where the arm is (its measured pose)
        let silent = arb.step(o(3), t0 + Duration::from_millis(151));
        assert_eq!(silent.hold, Some(HoldReason::StaleAction));
        assert_eq!(silent.targets, Some(hold));
    }

    #[test]
    fn the_gripper_takes_the_last_action_value_and_holds_on_silence() {
        use crate::gripper::{Gripper, GripperLimits};
        let mut arb =
            arbiter().with_gripper(Gripper::new(GripperLimits::new(0.08, 0.0, 0.5).unwrap()));
        assert_eq!(arb.action_dim(), 3);
        let t0 = Instant::now();
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.5, 0.0]), t0);
        let out = arb.step(obs(0, [0.0, 0.0]), t0);
        assert_eq!(out.hold, Some(HoldReason::WrongSize));
        assert_eq!(out.gripper, None, "width unknown: nothing sent");
        arb.on_gripper_width(0.05);
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.5, 0.0, 0.2]), t0);
        let out = arb.step(obs(1, [0.0, 0.0]), t0);
        assert_eq!(
            out.gripper,
            Some(0.05),
            "undecided: holds its measured width"
        );
        arb.on_action(act(PolicyAction::POLICY_FORWARD, vec![0.5, 0.0, -2.0]), t0);
        let out = arb.step(obs(2, [0.0, 0.0]), t0);
        assert_eq!(out.gripper, Some(0.0), "closed");
        let next = arb.step(obs(3, [0.0, 0.0]), t0 + Duration::from_millis(151));
        assert_eq!(next.hold, Some(HoldReason::StaleAction));
        assert_eq!(next.gripper, Some(0.0), "a hold keeps it closed");
        let t = next.transition.unwrap();
        assert_eq!(t.action, vec![0.5, 0.0, -1.0], "the request, clamped");
        let arm = out.targets.unwrap();
        assert_eq!(t.commanded_position, [arm, vec![0.0]].concat());
    }
}
