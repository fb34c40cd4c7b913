//! The policies' logic, testable without ROS: [`Role`] and reward selection, the acting side
//! ([`acting::ActingPolicy`]) and the learner ([`trainer::PolicyTrainer`]), which run in
//! separate threads with their own copies of the networks (acting never waits on training).
pub mod acting;
pub mod deployed_eval;
pub mod imagined_step;
pub mod model_trust;
pub mod node;
pub mod trainer;

use mbarl_msgs::msg::{Phase, PolicyAction};

/// Which policy this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Forward,
    Backward,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "forward" => Some(Role::Forward),
            "backward" => Some(Role::Backward),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Forward => "forward",
            Role::Backward => "backward",
        }
    }
    /// The Transition.phase whose data this policy learns from.
    pub fn phase(self) -> u8 {
        match self {
            Role::Forward => Phase::FORWARD,
            Role::Backward => Phase::BACKWARD,
        }
    }
    pub fn policy_id(self) -> u8 {
        match self {
            Role::Forward => PolicyAction::POLICY_FORWARD,
            Role::Backward => PolicyAction::POLICY_BACKWARD,
        }
    }
    /// Whether to compute actions in `phase` (`None`: phase not known yet → act). The forward
    /// policy also acts in EVAL (deterministically).
    pub fn acts_in(self, phase: Option<u8>) -> bool {
        match (self, phase) {
            (_, None) => true,
            (Role::Forward, Some(p)) => p == Phase::FORWARD || p == Phase::EVAL,
            (Role::Backward, Some(p)) => p == Phase::BACKWARD,
        }
    }
}

/// Whether the policy acts with its mean action in `phase`: always in EVAL, and in its own
/// training phases with `mean_action_in_training` (the executors' `mean_action_in_training`
/// parameter). Otherwise it samples, as SAC explores.
pub fn acts_deterministically(phase: Option<u8>, mean_action_in_training: bool) -> bool {
    phase == Some(Phase::EVAL) || mean_action_in_training
}

/// Whether a policy learns from transitions of `phase`: those of its own phase, and for the
/// backward policy on the demo-state classifier's reward with `relabel`
/// (`medal.backward_learns_from_all`) the forward phases' too: that reward depends on the next
/// state alone, so any transition can be relabelled with it.
pub fn learns_from(role: Role, reward: RewardChoice, relabel: bool, phase: u8) -> bool {
    phase == role.phase()
        || (role == Role::Backward
            && reward == RewardChoice::DemoClassifier
            && relabel
            && phase == Phase::FORWARD)
}

/// Where a policy's reward comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardChoice {
    /// The robot's task reward (recorded / topic) for real steps, the world model's reward
    /// head for imagined ones.
    Task,
    /// The goal classifier's reward on z′ (forward policy without a task reward).
    GoalClassifier,
    /// MEDAL's backward reward −log(1 − f(z′)) of the demo-state classifier.
    DemoClassifier,
}

/// Forward: the task reward when the robot has one (`task_reward_topic` set or rewards in the
/// transitions), else the goal classifier. Backward: the demo-state classifier (MEDAL), unless
/// the backward policy has a reward topic of its own (a simulator's reverse-task reward: the
/// "sim reward" condition, which a real arm does not have).
pub fn select_reward(role: Role, has_task_reward: bool) -> RewardChoice {
    match (role, has_task_reward) {
        (_, true) => RewardChoice::Task,
        (Role::Forward, false) => RewardChoice::GoalClassifier,
        (Role::Backward, false) => RewardChoice::DemoClassifier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_actions_in_eval_and_where_asked() {
        assert!(acts_deterministically(Some(Phase::EVAL), false));
        assert!(!acts_deterministically(Some(Phase::BACKWARD), false));
        assert!(!acts_deterministically(None, false));
        assert!(acts_deterministically(Some(Phase::BACKWARD), true));
    }

    #[test]
    fn the_backward_policy_learns_from_relabelled_forward_steps() {
        use RewardChoice::*;
        let b = Role::Backward;
        assert!(learns_from(b, DemoClassifier, true, Phase::FORWARD));
        assert!(learns_from(b, DemoClassifier, true, Phase::BACKWARD));
        assert!(!learns_from(b, DemoClassifier, false, Phase::FORWARD));
        assert!(!learns_from(b, DemoClassifier, true, Phase::EVAL));
        assert!(!learns_from(Role::Forward, Task, true, Phase::BACKWARD));
        assert!(learns_from(Role::Forward, Task, true, Phase::FORWARD));
    }

    #[test]
    fn reward_selection_and_phases() {
        assert_eq!(select_reward(Role::Forward, true), RewardChoice::Task);
        assert_eq!(
            select_reward(Role::Forward, false),
            RewardChoice::GoalClassifier
        );
        assert_eq!(select_reward(Role::Backward, true), RewardChoice::Task);
        assert_eq!(
            select_reward(Role::Backward, false),
            RewardChoice::DemoClassifier
        );
        assert!(Role::Forward.acts_in(Some(Phase::EVAL)));
        assert!(!Role::Forward.acts_in(Some(Phase::BACKWARD)));
        assert!(Role::Backward.acts_in(None));
        assert!(!Role::Backward.acts_in(Some(Phase::PAUSED)));
        assert_eq!(Role::parse("backward"), Some(Role::Backward));
        assert_eq!(Role::parse("x"), None);
    }
}
