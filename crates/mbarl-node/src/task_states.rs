//! The optional low-dimensional task state of an observation (`state_topic`).
//!
//! A stamped state ([`mbarl_msgs::task_state::TaskState`], `sim_time` in front) goes with the
//! joint state of the same stamp, within a tolerance: the lock-step sim publishes it before that
//! step's joint state. An unstamped one is the latest received. Used by camera_encoder and
//! deployed_eval.
use std::collections::VecDeque;

const KEEP: usize = 16;

/// What [`TaskStates::for_stamp`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found<'a> {
    /// The state of this stamp (or the latest unstamped one).
    Matched(&'a [f32]),
    /// No stamped state of this stamp: the newest one older than it, at most `max_lag` older
    /// (counted as stale).
    Older(&'a [f32]),
    /// No state yet, or only ones older than `max_lag`.
    None,
}

#[derive(Debug, Default)]
pub struct TaskStates {
    tolerance_ns: i64,
    max_lag_ns: i64,
    recent: VecDeque<(Option<i64>, Vec<f32>)>,
}

impl TaskStates {
    pub fn new(tolerance_ns: i64, max_lag_ns: i64) -> Self {
        Self {
            tolerance_ns: tolerance_ns.max(0),
            max_lag_ns: max_lag_ns.max(0),
            recent: VecDeque::new(),
        }
    }

    pub fn push(&mut self, stamp_ns: Option<i64>, values: Vec<f32>) {
        if self.recent.len() == KEEP {
            self.recent.pop_front();
        }
        self.recent.push_back((stamp_ns, values));
    }

    /// The state for a joint state stamped `stamp_ns`.
    pub fn for_stamp(&self, stamp_ns: i64) -> Found<'_> {
        let Some((last_stamp, last)) = self.recent.back() else {
            return Found::None;
        };
        if last_stamp.is_none() {
            return Found::Matched(last);
        }
        let near = self
            .recent
            .iter()
            .filter_map(|(s, v)| Some(((*s)? - stamp_ns).abs()).map(|d| (d, v)))
            .min_by_key(|(d, _)| *d);
        match near {
            Some((d, v)) if d <= self.tolerance_ns => Found::Matched(v),
            _ => self
                .recent
                .iter()
                .rev()
                .find(|(s, _)| s.is_some_and(|s| s < stamp_ns && stamp_ns - s <= self.max_lag_ns))
                .map_or(Found::None, |(_, v)| Found::Older(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_state_goes_with_its_own_joint_state() {
        let mut t = TaskStates::new(1_000, 150_000);
        t.push(Some(100_000), vec![1.0]);
        t.push(Some(200_000), vec![2.0]);
        t.push(Some(300_000), vec![3.0]);
        assert_eq!(t.for_stamp(200_000), Found::Matched(&[2.0]));
        assert_eq!(t.for_stamp(300_500), Found::Matched(&[3.0]));
        // the state of step 4 has not arrived: the newest older one, flagged
        assert_eq!(t.for_stamp(400_000), Found::Older(&[3.0]));
        assert_eq!(t.for_stamp(50_000), Found::None);
        // a state topic gone silent: nothing rather than an ever older state
        assert_eq!(t.for_stamp(500_000), Found::None);
    }

    #[test]
    fn an_unstamped_state_is_the_latest() {
        let mut t = TaskStates::new(0, 0);
        assert_eq!(t.for_stamp(5), Found::None);
        t.push(None, vec![1.0]);
        t.push(None, vec![2.0]);
        assert_eq!(t.for_stamp(5), Found::Matched(&[2.0]));
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = TaskStates::new(0, 0);
        for i in 0..100 {
            t.push(Some(i), vec![i as f32]);
        }
        assert_eq!(t.recent.len(), KEEP);
        assert_eq!(t.for_stamp(99), Found::Matched(&[99.0]));
    }
}
