//! The phase state machine (ARCHITECTURE.md §3): FORWARD → BACKWARD → FORWARD …, with EVAL,
//! PAUSED and NEEDS_HELP. Pure logic: the ROS shell feeds it one step at a time.

use crate::object_bounds::Outside;
use mbarl_msgs::msg::Phase as PhaseMsg;

/// The arbiter's phases (values as in `mbarl_msgs/Phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Forward,
    Backward,
    Eval,
    Paused,
    NeedsHelp,
}

impl Phase {
    pub fn to_msg(self) -> u8 {
        match self {
            Phase::Forward => PhaseMsg::FORWARD,
            Phase::Backward => PhaseMsg::BACKWARD,
            Phase::Eval => PhaseMsg::EVAL,
            Phase::Paused => PhaseMsg::PAUSED,
            Phase::NeedsHelp => PhaseMsg::NEEDS_HELP,
        }
    }

    pub fn from_msg(v: u8) -> Option<Phase> {
        Some(match v {
            PhaseMsg::FORWARD => Phase::Forward,
            PhaseMsg::BACKWARD => Phase::Backward,
            PhaseMsg::EVAL => Phase::Eval,
            PhaseMsg::PAUSED => Phase::Paused,
            PhaseMsg::NEEDS_HELP => Phase::NeedsHelp,
            _ => return None,
        })
    }

    /// Does a policy act (and the arm move) in this phase?
    pub fn is_active(self) -> bool {
        matches!(self, Phase::Forward | Phase::Backward | Phase::Eval)
    }
}

/// Switching rules (parameters of the arbiter).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseConfig {
    /// Forward phase step budget (H).
    pub forward_steps: u64,
    pub backward_steps: u64,
    /// FORWARD ends when the goal score stays above this for `hold_steps` steps.
    pub goal_threshold: f32,
    /// BACKWARD ends when the demo-state score stays above this for `hold_steps` steps.
    pub demo_threshold: f32,
    /// BACKWARD also ends when the start detector's score (demo states only, which the
    /// backward policy's own states do not argue down) stays above this for `hold_steps`
    /// steps; `None`: off.
    pub start_threshold: Option<f32>,
    pub hold_steps: u64,
    /// Scores end a phase only after this many steps of it (fresh classifiers are noisy; a
    /// phase that ends at once teaches nothing).
    pub min_phase_steps: u64,
    /// NEEDS_HELP after this many consecutive cycles without progress.
    pub stuck_cycles: u32,
    /// The naive baseline (ablation): no backward phase; a forward phase that ends starts the
    /// next forward phase where the arm is (no reset).
    pub forward_only: bool,
    /// A phase made progress when its score rose by at least this much, or the joints travelled
    /// at least `min_travel` (rad, summed over joints and steps).
    pub min_score_gain: f32,
    pub min_travel: f64,
    /// A phase ends, without progress, after this many consecutive clamped steps (the policy
    /// keeps pushing a limit); `stuck_cycles` such cycles in a row ask for help.
    pub max_consecutive_clamps: u64,
    /// NEEDS_HELP after this many consecutive steps with the task's object outside its
    /// bounds ([`crate::object_bounds::ObjectBounds`]: pushed off the table or out of reach,
    /// where neither policy can get it back).
    pub object_outside_steps: u64,
    /// NEEDS_HELP after this many consecutive cycles in which the task's object moved less
    /// than `object_min_travel` (m, summed over the cycle's steps): the scene is stuck where
    /// neither policy moves it (0: off). Needs the object's dimensions (object bounds).
    pub object_still_cycles: u32,
    pub object_min_travel: f64,
}

impl Default for PhaseConfig {
    fn default() -> Self {
        Self {
            forward_steps: 300,
            backward_steps: 300,
            goal_threshold: 0.8,
            demo_threshold: 0.8,
            start_threshold: None,
            hold_steps: 3,
            min_phase_steps: 10,
            stuck_cycles: 5,
            forward_only: false,
            min_score_gain: 0.05,
            min_travel: 0.05,
            max_consecutive_clamps: 200,
            object_outside_steps: 10,
            object_still_cycles: 0,
            object_min_travel: 0.01,
        }
    }
}

/// What one control step looked like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    pub goal_score: Option<f32>,
    pub demo_score: Option<f32>,
    pub start_score: Option<f32>,
    /// Sum over joints of |Δ position| in this step.
    pub travel: f64,
    pub clamped: bool,
    /// The task's object is outside its bounds in this step's observation (`None`: inside,
    /// unknown, or no bounds configured).
    pub object_outside: Option<Outside>,
    /// How far the task's object moved in this step (`None`: unknown or no object bounds).
    pub object_motion: Option<f64>,
}

/// A phase change with its reason, for `/mbarl/phase` and the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Switch {
    pub from: Phase,
    pub to: Phase,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct PhaseMachine {
    config: PhaseConfig,
    phase: Phase,
    /// Phase to return to after PAUSED/NEEDS_HELP.
    resume_to: Phase,
    cycle: u32,
    phase_step: u64,
    total_steps: u64,
    above_threshold: u64,
    consecutive_clamps: u64,
    consecutive_outside: u64,
    // progress tracking of the current phase
    first_score: Option<f32>,
    best_score: Option<f32>,
    travel: f64,
    cycles_without_progress: u32,
    forward_progress: bool,
    /// The object's travel in the current phase, and whether it moved in the cycle's forward
    /// phase; cycles in a row in which it did not move.
    object_travel: f64,
    forward_object_moved: bool,
    cycles_object_still: u32,
    /// The current phase ended on the clamp rule (counts as no progress).
    clamp_ended: bool,
}

impl PhaseMachine {
    pub fn new(config: PhaseConfig) -> Self {
        Self {
            config,
            phase: Phase::Forward,
            resume_to: Phase::Forward,
            cycle: 0,
            phase_step: 0,
            total_steps: 0,
            above_threshold: 0,
            consecutive_clamps: 0,
            consecutive_outside: 0,
            first_score: None,
            best_score: None,
            travel: 0.0,
            cycles_without_progress: 0,
            forward_progress: false,
            object_travel: 0.0,
            forward_object_moved: false,
            cycles_object_still: 0,
            clamp_ended: false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn cycle(&self) -> u32 {
        self.cycle
    }
    pub fn phase_step(&self) -> u64 {
        self.phase_step
    }
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// Continues a run a previous arbiter process left at `cycle` after `total_steps` env
    /// steps (its phase log): the next cycle, the step count going on from there, so a
    /// restart never sets the run's env-step axis back to 0.
    pub fn continue_run(&mut self, cycle: u32, total_steps: u64) {
        self.cycle = cycle.saturating_add(1);
        self.total_steps = total_steps;
    }

    /// Accounts for a control step that is no policy's (the arm homing between phases): an
    /// env step, but not one of the phase's budget.
    pub fn count_unrecorded_step(&mut self) {
        self.total_steps += 1;
    }

    /// Accounts for one executed control step; returns the switch it causes, if any.
    pub fn step(&mut self, report: StepReport) -> Option<Switch> {
        if !self.phase.is_active() {
            return None;
        }
        self.phase_step += 1;
        self.total_steps += 1;
        self.travel += report.travel;
        self.object_travel += report.object_motion.unwrap_or(0.0);
        self.consecutive_clamps = if report.clamped {
            self.consecutive_clamps + 1
        } else {
            0
        };
        self.consecutive_outside = match report.object_outside {
            Some(_) => self.consecutive_outside + 1,
            None => 0,
        };
        if let Some(o) = report.object_outside
            && self.consecutive_outside >= self.config.object_outside_steps
        {
            self.consecutive_outside = 0;
            return Some(self.help(format!(
                "the object is out of the workspace: task state [{}] = {:.3}, outside [{}, {}], for {} steps; put it back within reach",
                o.dim, o.value, o.lower, o.upper, self.config.object_outside_steps
            )));
        }
        if self.consecutive_clamps >= self.config.max_consecutive_clamps {
            self.consecutive_clamps = 0;
            self.clamp_ended = true;
            return self.end_phase(
                format!(
                    "the policy pushed against joint limits for {} consecutive steps",
                    self.config.max_consecutive_clamps
                ),
                false,
            );
        }
        let (score, threshold, budget) = match self.phase {
            Phase::Forward | Phase::Eval => (
                report.goal_score,
                self.config.goal_threshold,
                self.config.forward_steps,
            ),
            _ => (
                report.demo_score,
                self.config.demo_threshold,
                self.config.backward_steps,
            ),
        };
        // the start detector counts in backward phases only, beside the demo-state score
        let start = match (self.phase, self.config.start_threshold, report.start_score) {
            (Phase::Backward, Some(t), Some(s)) if s.is_finite() => Some((s >= t, t)),
            _ => None,
        };
        if let Some(s) = score.filter(|s| s.is_finite()) {
            self.first_score.get_or_insert(s);
            self.best_score = Some(self.best_score.map_or(s, |b| b.max(s)));
        }
        let above = score.is_some_and(|s| s.is_finite() && s >= threshold);
        let at_start = start.is_some_and(|(a, _)| a);
        if score.is_some_and(f32::is_finite) || start.is_some() {
            self.above_threshold = if above || at_start {
                self.above_threshold + 1
            } else {
                0
            };
        }
        if self.above_threshold >= self.config.hold_steps
            && self.phase_step >= self.config.min_phase_steps
        {
            let hold = self.config.hold_steps;
            let reason = match (self.phase, start) {
                (Phase::Backward, Some((true, t))) if !above => {
                    format!(
                        "start score ≥ {t} for {hold} steps (back among the demos' start states)"
                    )
                }
                (Phase::Backward, _) => format!("demo-state score ≥ {threshold} for {hold} steps"),
                _ => format!("goal score ≥ {threshold} for {hold} steps"),
            };
            return self.end_phase(reason, true);
        }
        if self.phase_step >= budget {
            return self.end_phase(format!("step budget of {budget} reached"), false);
        }
        None
    }

    fn made_progress(&self, reached: bool) -> bool {
        if self.clamp_ended {
            return false;
        }
        let gain = match (self.first_score, self.best_score) {
            (Some(f), Some(b)) => b - f >= self.config.min_score_gain,
            _ => false,
        };
        reached || gain || self.travel >= self.config.min_travel
    }

    /// At the end of a cycle (its last phase), counts the cycles in a row in which the object
    /// did not move; `Some(reason)` when they reach `object_still_cycles`.
    fn object_still(&mut self, moved: bool) -> Option<String> {
        let limit = self.config.object_still_cycles;
        self.cycles_object_still = if moved {
            0
        } else {
            self.cycles_object_still + 1
        };
        if limit == 0 || self.cycles_object_still < limit {
            return None;
        }
        self.cycles_object_still = 0;
        Some(format!(
            "the object moved less than {} m in each of {limit} consecutive cycles: it is stuck where neither policy moves it; put it back",
            self.config.object_min_travel
        ))
    }

    fn end_phase(&mut self, reason: String, reached: bool) -> Option<Switch> {
        let progress = self.made_progress(reached);
        let object_moved = self.object_travel >= self.config.object_min_travel;
        let next = match self.phase {
            Phase::Forward if self.config.forward_only => {
                self.cycle += 1;
                if let Some(why) = self.object_still(object_moved) {
                    self.enter(Phase::Forward);
                    return Some(self.help(why));
                }
                Phase::Forward
            }
            Phase::Forward => {
                self.forward_progress = progress;
                self.forward_object_moved = object_moved;
                Phase::Backward
            }
            Phase::Backward => {
                self.cycle += 1;
                if let Some(why) = self.object_still(self.forward_object_moved || object_moved) {
                    self.cycles_without_progress = 0;
                    self.enter(Phase::Forward);
                    return Some(self.help(why));
                }
                if self.forward_progress || progress {
                    self.cycles_without_progress = 0;
                } else {
                    self.cycles_without_progress += 1;
                }
                if self.cycles_without_progress >= self.config.stuck_cycles {
                    self.cycles_without_progress = 0;
                    self.enter(Phase::Forward);
                    return Some(self.help(format!(
                        "no progress in {} consecutive cycles (scores flat, joints not moving)",
                        self.config.stuck_cycles
                    )));
                }
                Phase::Forward
            }
            Phase::Eval => Phase::Backward,
            p => p,
        };
        Some(self.switch_to(next, reason))
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.phase_step = 0;
        self.above_threshold = 0;
        self.first_score = None;
        self.best_score = None;
        self.travel = 0.0;
        self.object_travel = 0.0;
        self.clamp_ended = false;
    }

    fn switch_to(&mut self, to: Phase, reason: String) -> Switch {
        let from = self.phase;
        self.enter(to);
        Switch { from, to, reason }
    }

    fn help(&mut self, reason: String) -> Switch {
        self.resume_to = if self.phase.is_active() {
            self.phase
        } else {
            self.resume_to
        };
        self.switch_to(Phase::NeedsHelp, reason)
    }

    /// Operator request (`SetPhase`). PAUSED remembers where to resume.
    pub fn set_phase(&mut self, to: Phase, reason: &str) -> Switch {
        if (to == Phase::Paused || to == Phase::NeedsHelp) && self.phase.is_active() {
            self.resume_to = self.phase;
        }
        self.switch_to(to, format!("operator: {reason}"))
    }

    /// Operator acknowledges a pause or help request. With `scene_reset` (the operator put the
    /// scene back at the task's start) the arbiter resumes with a forward phase, whatever phase
    /// was interrupted, and the stuck-scene counts start again; otherwise with the interrupted
    /// phase. An interrupted cycle is not counted as completed.
    pub fn resume(&mut self, note: &str, scene_reset: bool) -> Option<Switch> {
        if self.phase.is_active() {
            return None;
        }
        self.consecutive_clamps = 0;
        let to = if scene_reset {
            self.cycles_without_progress = 0;
            self.cycles_object_still = 0;
            Phase::Forward
        } else {
            self.resume_to
        };
        Some(self.switch_to(to, format!("resumed by operator: {note}")))
    }

    pub fn to_msg(&self, reason: &str) -> PhaseMsg {
        PhaseMsg {
            phase: self.phase.to_msg(),
            cycle: self.cycle,
            phase_step: self.phase_step,
            total_steps: self.total_steps,
            reason: reason.to_string(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PhaseConfig {
        PhaseConfig {
            forward_steps: 10,
            backward_steps: 8,
            hold_steps: 2,
            min_phase_steps: 1,
            stuck_cycles: 2,
            ..Default::default()
        }
    }

    fn moving(goal: f32, demo: f32) -> StepReport {
        StepReport {
            goal_score: Some(goal),
            demo_score: Some(demo),
            start_score: None,
            travel: 0.1,
            clamped: false,
            object_outside: None,
            object_motion: None,
        }
    }

    fn still() -> StepReport {
        StepReport {
            goal_score: Some(0.1),
            demo_score: Some(0.1),
            start_score: None,
            travel: 0.0,
            clamped: false,
            object_outside: None,
            object_motion: None,
        }
    }

    #[test]
    fn a_continued_run_counts_on_from_where_it_stopped() {
        let mut m = PhaseMachine::new(cfg());
        m.continue_run(7, 1200);
        assert_eq!((m.cycle(), m.total_steps()), (8, 1200));
        assert_eq!(m.phase(), Phase::Forward);
        m.step(moving(0.0, 0.0));
        assert_eq!(m.total_steps(), 1201);
    }

    #[test]
    fn forward_ends_on_goal_held_then_backward_on_demo_score() {
        let mut m = PhaseMachine::new(cfg());
        assert_eq!(m.step(moving(0.9, 0.0)), None);
        let s = m.step(moving(0.95, 0.0)).unwrap();
        assert_eq!((s.from, s.to), (Phase::Forward, Phase::Backward));
        assert!(s.reason.contains("goal score"));
        m.step(moving(0.0, 0.85));
        let s = m.step(moving(0.0, 0.9)).unwrap();
        assert_eq!((s.from, s.to), (Phase::Backward, Phase::Forward));
        assert_eq!(m.cycle(), 1);
        assert_eq!(m.total_steps(), 4);
    }

    #[test]
    fn the_start_score_ends_backward_phases_only_when_enabled() {
        let at_start = |start: f32| StepReport {
            start_score: Some(start),
            ..moving(0.0, 0.3)
        };
        let run = |threshold| {
            let mut m = PhaseMachine::new(PhaseConfig {
                start_threshold: threshold,
                ..cfg()
            });
            // the start score never ends a forward phase
            for _ in 0..9 {
                assert_eq!(m.step(at_start(0.9)), None);
            }
            m.step(at_start(0.9)).unwrap();
            assert_eq!(m.phase(), Phase::Backward);
            assert_eq!(m.step(at_start(0.2)), None);
            assert_eq!(m.step(at_start(0.6)), None);
            m.step(at_start(0.7))
        };
        let s = run(Some(0.5)).expect("two steps at the start end the phase");
        assert_eq!((s.from, s.to), (Phase::Backward, Phase::Forward));
        assert!(s.reason.contains("start score ≥ 0.5"), "{}", s.reason);
        assert_eq!(run(None), None, "off: only the demo-state score counts");
    }

    #[test]
    fn budgets_end_phases() {
        let mut m = PhaseMachine::new(cfg());
        for _ in 0..9 {
            assert_eq!(m.step(moving(0.1, 0.1)), None);
        }
        let s = m.step(moving(0.1, 0.1)).unwrap();
        assert!(s.reason.contains("budget of 10"));
        for _ in 0..7 {
            assert_eq!(m.step(moving(0.1, 0.1)), None);
        }
        assert_eq!(m.step(moving(0.1, 0.1)).unwrap().to, Phase::Forward);
    }

    #[test]
    fn stuck_robot_asks_for_help_and_resumes() {
        let mut m = PhaseMachine::new(cfg());
        let mut switches = vec![];
        for _ in 0..(10 + 8) * 2 {
            if let Some(s) = m.step(still()) {
                switches.push(s);
            }
        }
        let last = switches.last().unwrap();
        assert_eq!(last.to, Phase::NeedsHelp, "{switches:?}");
        assert!(last.reason.contains("no progress in 2"));
        assert_eq!(
            m.step(still()),
            None,
            "no steps counted while waiting for help"
        );
        let s = m.resume("cleared the table", false).unwrap();
        assert_eq!(s.to, Phase::Forward);
    }

    #[test]
    fn forward_only_never_enters_backward() {
        let mut m = PhaseMachine::new(PhaseConfig {
            forward_only: true,
            ..cfg()
        });
        let mut switches = vec![];
        for _ in 0..35 {
            switches.extend(m.step(moving(0.1, 0.1)));
        }
        assert_eq!(switches.len(), 3, "{switches:?}");
        assert!(
            switches
                .iter()
                .all(|s| (s.from, s.to) == (Phase::Forward, Phase::Forward))
        );
        assert_eq!(m.cycle(), 3);
    }

    #[test]
    fn scores_end_a_phase_only_after_min_phase_steps() {
        let mut m = PhaseMachine::new(PhaseConfig {
            min_phase_steps: 5,
            ..cfg()
        });
        for _ in 0..4 {
            assert_eq!(
                m.step(moving(0.99, 0.0)),
                None,
                "too early to trust the score"
            );
        }
        let s = m.step(moving(0.99, 0.0)).unwrap();
        assert!(s.reason.contains("goal score"), "{s:?}");
        assert_eq!(m.total_steps(), 5);
    }

    #[test]
    fn an_object_out_of_the_workspace_asks_for_help_after_its_steps() {
        let mut m = PhaseMachine::new(PhaseConfig {
            object_outside_steps: 3,
            ..cfg()
        });
        let outside = StepReport {
            object_outside: Some(Outside {
                dim: 5,
                value: -0.73,
                lower: -0.05,
                upper: 0.3,
            }),
            ..moving(0.1, 0.1)
        };
        // a step back inside restarts the count (a brief excursion is not stuck)
        assert_eq!(m.step(outside), None);
        assert_eq!(m.step(outside), None);
        assert_eq!(m.step(moving(0.1, 0.1)), None);
        assert_eq!(m.step(outside), None);
        assert_eq!(m.step(outside), None);
        let s = m.step(outside).expect("help");
        assert_eq!((s.from, s.to), (Phase::Forward, Phase::NeedsHelp));
        assert!(
            s.reason.contains("out of the workspace") && s.reason.contains("[5] = -0.730"),
            "{}",
            s.reason
        );
        assert_eq!(m.step(outside), None, "no steps while waiting for help");
        let r = m.resume("put back", false).expect("resumes");
        assert_eq!(r.to, Phase::Forward, "back to the phase it left");
    }

    #[test]
    fn an_object_that_no_phase_moves_asks_for_help_after_its_cycles() {
        let mut m = PhaseMachine::new(PhaseConfig {
            forward_steps: 2,
            backward_steps: 2,
            min_phase_steps: 100,
            object_still_cycles: 2,
            ..cfg()
        });
        let object = |moved: f64| StepReport {
            object_motion: Some(moved),
            ..moving(0.1, 0.1)
        };
        // cycle 1: the object moves 2 cm in the backward phase; cycles 2 and 3: it does not,
        // although the arm travels (the joint-travel rule sees progress)
        let mut switches = Vec::new();
        for moved in [
            0.0, 0.0, 0.01, 0.01, 0.0, 0.0, 0.0, 0.0, 0.001, 0.001, 0.0, 0.0,
        ] {
            switches.extend(m.step(object(moved)));
        }
        let help: Vec<_> = switches
            .iter()
            .filter(|s| s.to == Phase::NeedsHelp)
            .collect();
        assert_eq!(help.len(), 1, "{switches:?}");
        assert!(help[0].reason.contains("stuck"), "{}", help[0].reason);
        assert_eq!(switches.last().map(|s| s.to), Some(Phase::NeedsHelp));
        // off (0): never
        let mut m = PhaseMachine::new(PhaseConfig {
            forward_steps: 2,
            backward_steps: 2,
            min_phase_steps: 100,
            ..cfg()
        });
        for _ in 0..40 {
            assert_ne!(m.step(object(0.0)).map(|s| s.to), Some(Phase::NeedsHelp));
        }
        // the naive agent's cycles are its forward phases
        let mut m = PhaseMachine::new(PhaseConfig {
            forward_steps: 2,
            min_phase_steps: 100,
            object_still_cycles: 3,
            forward_only: true,
            ..cfg()
        });
        let to: Vec<_> = (0..6)
            .filter_map(|_| m.step(object(0.0)))
            .map(|s| s.to)
            .collect();
        assert_eq!(to, [Phase::Forward, Phase::Forward, Phase::NeedsHelp]);
    }

    #[test]
    fn pushing_limits_ends_the_phase_and_repeated_pushing_asks_for_help() {
        let mut m = PhaseMachine::new(PhaseConfig {
            max_consecutive_clamps: 3,
            ..cfg()
        });
        let clamped = StepReport {
            clamped: true,
            ..moving(0.1, 0.1)
        };
        assert_eq!(m.step(clamped), None);
        assert_eq!(m.step(clamped), None);
        let s = m.step(clamped).unwrap();
        assert_eq!((s.from, s.to), (Phase::Forward, Phase::Backward));
        assert!(s.reason.contains("joint limits"), "{s:?}");
        // every phase of two cycles (stuck_cycles = 2) ends on the clamp rule, despite travel
        let mut last = None;
        for _ in 0..9 {
            if let Some(s) = m.step(clamped) {
                last = Some(s);
            }
        }
        let last = last.unwrap();
        assert_eq!(last.to, Phase::NeedsHelp, "{last:?}");
        assert!(last.reason.contains("no progress in 2"));
    }

    #[test]
    fn pause_and_resume_return_to_the_same_phase() {
        let mut m = PhaseMachine::new(cfg());
        m.step(moving(0.9, 0.0));
        m.step(moving(0.9, 0.0));
        assert_eq!(m.phase(), Phase::Backward);
        m.set_phase(Phase::Paused, "lunch");
        assert_eq!(m.step(moving(0.0, 0.0)), None);
        assert_eq!(m.resume("back", false).unwrap().to, Phase::Backward);
    }

    #[test]
    fn a_resume_after_a_scene_reset_starts_a_forward_phase() {
        let mut m = PhaseMachine::new(cfg());
        m.step(moving(0.9, 0.0));
        m.step(moving(0.9, 0.0));
        assert_eq!(m.phase(), Phase::Backward);
        let cycle = m.cycle();
        m.set_phase(Phase::NeedsHelp, "block off the table");
        assert_eq!(
            m.resume("not yet", false).map(|s| s.to),
            Some(Phase::Backward)
        );
        m.set_phase(Phase::NeedsHelp, "block off the table");
        let s = m.resume("put the block back", true).expect("resumes");
        assert_eq!((s.from, s.to), (Phase::NeedsHelp, Phase::Forward));
        assert_eq!(s.reason, "resumed by operator: put the block back");
        assert_eq!(m.cycle(), cycle, "the interrupted cycle is not counted");
        assert_eq!(m.resume("again", true), None, "already running");
    }

    #[test]
    fn phase_values_round_trip_through_the_message() {
        for p in [
            Phase::Forward,
            Phase::Backward,
            Phase::Eval,
            Phase::Paused,
            Phase::NeedsHelp,
        ] {
            assert_eq!(Phase::from_msg(p.to_msg()), Some(p));
        }
        assert_eq!(Phase::from_msg(99), None);
    }
}
