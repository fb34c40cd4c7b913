//! The robot's task reward in the recorded transitions (`task_reward_topic`).
//!
//! Where the robot (or the simulator) publishes a hand-written task reward, as the EARL tasks
//! do, the arbiter stamps it into every `Transition` as the reward of s′: the world model's
//! reward head then learns it from the data of both phases (imagined rollouts need it), and the
//! forward policy uses it (`use_transition_task_reward`) instead of the goal classifier — the
//! MEDAL setting. Without a task reward the goal classifier gives the forward reward (MEDAL++).
//!
//! Pairing: a transition takes the newest reward received since the previous transition. In
//! lock-step the simulator publishes the reward of a step before its joint states, so that is
//! the reward of s′ exactly; in real time it is the newest one. When the step's reward is late
//! (it travels on its own topic; about 2% of lock-step steps), the previous one stands in once
//! (counted as stale: the arm moved at most one step since). After that a transition carries
//! none (`has_task_reward = false`, counted as missing): a silent topic is never papered over.

use mbarl_msgs::msg::Transition;

/// The newest task reward not yet stamped into a transition.
#[derive(Debug, Default)]
pub struct TaskReward {
    latest: Option<f32>,
    /// The last reward stamped, while it may stand in once more.
    previous: Option<f32>,
}

/// What [`TaskReward::label`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    Reward,
    /// The previous reward, once, because this step's was late.
    Stale,
    Missing,
}

impl TaskReward {
    /// A reward message; a non-finite value is refused (and counted by the node).
    pub fn offer(&mut self, value: f64) -> Result<(), String> {
        if !value.is_finite() {
            return Err(format!("non-finite task reward {value}"));
        }
        self.latest = Some(value as f32);
        Ok(())
    }

    /// Stamps the newest unused reward into `t` as the reward of its s′.
    pub fn label(&mut self, t: &mut Transition) -> Labelled {
        let (reward, labelled) = match self.latest.take() {
            Some(r) => {
                self.previous = Some(r);
                (Some(r), Labelled::Reward)
            }
            None => match self.previous.take() {
                Some(r) => (Some(r), Labelled::Stale),
                None => (None, Labelled::Missing),
            },
        };
        match reward {
            Some(r) => {
                t.task_reward = r;
                t.has_task_reward = true;
            }
            None => {
                t.task_reward = 0.0;
                t.has_task_reward = false;
            }
        }
        labelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reward_labels_one_transition_and_is_never_reused() {
        let mut r = TaskReward::default();
        let mut t = Transition::default();
        assert_eq!(r.label(&mut t), Labelled::Missing);
        assert!(!t.has_task_reward);
        r.offer(-0.5).unwrap();
        r.offer(-0.25).unwrap();
        assert_eq!(r.label(&mut t), Labelled::Reward);
        assert_eq!((t.task_reward, t.has_task_reward), (-0.25, true));
        // No new reward since: the previous one stands in once, then none.
        let mut next = Transition::default();
        assert_eq!(r.label(&mut next), Labelled::Stale);
        assert_eq!((next.task_reward, next.has_task_reward), (-0.25, true));
        let mut after = Transition::default();
        assert_eq!(r.label(&mut after), Labelled::Missing);
        assert!(!after.has_task_reward);
        // A new reward labels again.
        r.offer(-0.1).unwrap();
        assert_eq!(r.label(&mut after), Labelled::Reward);
        assert_eq!(after.task_reward, -0.1);
    }

    #[test]
    fn non_finite_rewards_are_refused_and_do_not_replace_a_good_one() {
        let mut r = TaskReward::default();
        r.offer(-1.0).unwrap();
        assert!(r.offer(f64::NAN).is_err());
        assert!(r.offer(f64::INFINITY).is_err());
        let mut t = Transition::default();
        assert_eq!(r.label(&mut t), Labelled::Reward);
        assert_eq!(t.task_reward, -1.0);
    }
}
