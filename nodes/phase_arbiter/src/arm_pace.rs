//! Does the arm move on without the arbiter's commands, and so when must a silent arbiter send
//! the hold position?
//!
//! A real arm and a real-time sim publish joint states at their own rate: when no observation
//! comes (the camera encoder is dead or late), the arbiter keeps sending the hold position, or
//! the controller's own watchdog would see a dead commander. A lock-step sim publishes exactly
//! one new joint state per command and stands still in between: a hold sent there steps it,
//! and when the loop was only slow (not broken) that extra command stays in flight for good.
//! From then on two steps chase each other round the loop, every observation is overtaken by
//! the next before its action comes, the arbiter no longer waits for actions, and a dead
//! policy's last action is reused for up to `watchdog_periods` of wall time, many steps (CI,
//! session 13: 13 commands after a policy's kill). So there the hold is sent only when the
//! loop looks broken: no observation for [`LOST_STEP_PERIODS`] periods (a step the encoder
//! refused, or a restarted arbiter whose sim waits for a command), at most once per such
//! silence. A second step in flight all the same is taken out of the loop by
//! [`ArmPace::drop_overtaken`]. A silence counts from the arm's first joint state, not from
//! the arbiter's start: a suite whose sim comes up after the arbiter has not lost a step (CI,
//! session 19: a hold 1.0 s after the arbiter's start, 0.4 s after the sim's).

use std::time::{Duration, Instant};

/// Lock-step: periods without an observation after which the step is taken as lost (an
/// observation the encoder refused) and a hold is sent to step the sim again.
pub const LOST_STEP_PERIODS: u32 = 20;

/// Periods without an observation after which an arm that runs on its own is sent the hold.
pub const SILENT_PERIODS: u32 = 2;

#[derive(Debug, Default)]
pub struct ArmPace {
    /// New joint states (a stamp not seen just before) since the last command sent.
    new_states: u32,
    newest_stamp_ns: Option<i64>,
    /// When the last hold for a silence was sent while the arm waited for commands.
    last_lost_step_hold: Option<Instant>,
    /// When the arm's first joint state came.
    first_state_at: Option<Instant>,
}

impl ArmPace {
    /// A joint state stamped `stamp_ns` arrived. A repeat of the newest stamp (a lock-step sim
    /// re-sending its last state while idle) is not new; an unstamped one (0) always is.
    pub fn on_joint_state(&mut self, stamp_ns: i64, now: Instant) {
        self.first_state_at.get_or_insert(now);
        if stamp_ns == 0 || self.newest_stamp_ns != Some(stamp_ns) {
            self.new_states = self.new_states.saturating_add(1);
        }
        self.newest_stamp_ns = Some(stamp_ns);
    }

    /// A command went to the arm.
    pub fn on_command(&mut self) {
        self.new_states = 0;
    }

    /// Has the arm published two new states since the last command? Then it runs on its own
    /// clock (a lock-step sim publishes one per command).
    pub fn runs_on_its_own(&self) -> bool {
        self.new_states >= 2
    }

    /// An observation still waiting for its action was overtaken by a newer one: is it
    /// dropped (no command for it) rather than stepped? An arm that runs on its own published
    /// both observations' states since the last command (observations came faster than the
    /// control rate): it is stepped. A lock-step sim published at most one: the two are two
    /// steps in flight, and commanding both would keep them both in the loop.
    pub fn drop_overtaken(&self) -> bool {
        !self.runs_on_its_own()
    }

    /// How long the loop has been silent at `now`: since the last observation, or since the
    /// arm's first joint state when that came later (the start, when no observation came
    /// yet). Zero before any joint state: there is no arm to hold yet.
    pub fn silence(&self, last_observation: Instant, now: Instant) -> Duration {
        self.first_state_at.map_or(Duration::ZERO, |first| {
            now.saturating_duration_since(first.max(last_observation))
        })
    }

    /// Is a hold due now, `silent` after the last observation (or the start)? It is recorded
    /// as sent when due.
    pub fn hold_due(&mut self, silent: Duration, period: Duration, now: Instant) -> bool {
        if self.runs_on_its_own() {
            return silent > period * SILENT_PERIODS;
        }
        let lost = period * LOST_STEP_PERIODS;
        let due = silent > lost
            && self
                .last_lost_step_hold
                .is_none_or(|at| now.duration_since(at) > lost);
        if due {
            self.last_lost_step_hold = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_millis(50);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_arm_publishing_on_its_own_is_held_after_two_silent_periods() {
        let mut pace = ArmPace::default();
        pace.on_command();
        pace.on_joint_state(1_000, Instant::now());
        pace.on_joint_state(2_000, Instant::now());
        assert!(pace.runs_on_its_own());
        let t = Instant::now();
        assert!(!pace.hold_due(ms(90), PERIOD, t));
        assert!(pace.hold_due(ms(110), PERIOD, t));
        assert!(pace.hold_due(ms(160), PERIOD, t + ms(50)), "every period");
        assert!(
            !pace.drop_overtaken(),
            "observations faster than the control rate are stepped"
        );
    }

    #[test]
    fn a_lock_step_arm_gets_no_hold_for_a_slow_loop() {
        let mut pace = ArmPace::default();
        let t = Instant::now();
        for k in 1..=100 {
            pace.on_command();
            pace.on_joint_state(k * 50_000_000, Instant::now());
            // the idle sim re-sends its state with the same stamp
            pace.on_joint_state(k * 50_000_000, Instant::now());
            assert!(!pace.runs_on_its_own());
            assert!(
                pace.drop_overtaken(),
                "a second step in flight leaves the loop"
            );
            assert!(!pace.hold_due(ms(500), PERIOD, t));
        }
    }

    #[test]
    fn a_lock_step_arm_is_stepped_once_per_long_silence() {
        let mut pace = ArmPace::default();
        // a restarted arbiter: the idle sim re-sends its last state, which the encoder has seen
        pace.on_joint_state(50_000_000, Instant::now());
        pace.on_joint_state(50_000_000, Instant::now());
        let t = Instant::now();
        assert!(!pace.hold_due(ms(900), PERIOD, t));
        assert!(pace.hold_due(ms(1_001), PERIOD, t));
        pace.on_command();
        pace.on_joint_state(100_000_000, Instant::now());
        assert!(!pace.hold_due(ms(1_051), PERIOD, t + ms(50)));
        assert!(!pace.hold_due(ms(1_900), PERIOD, t + ms(900)));
        assert!(pace.hold_due(ms(2_100), PERIOD, t + ms(1_100)));
    }

    #[test]
    fn a_silence_counts_from_the_arms_first_state() {
        let mut pace = ArmPace::default();
        let start = Instant::now();
        // the arbiter is up, the sim is not: nothing to hold, however long
        assert_eq!(pace.silence(start, start + ms(5_000)), Duration::ZERO);
        // the sim's first state 4 s later: the silence starts then
        pace.on_joint_state(50_000_000, start + ms(4_000));
        assert_eq!(pace.silence(start, start + ms(4_900)), ms(900));
        assert!(!pace.hold_due(
            pace.silence(start, start + ms(4_900)),
            PERIOD,
            start + ms(4_900)
        ));
        // later joint states do not move it; an observation does
        pace.on_joint_state(100_000_000, start + ms(4_500));
        assert_eq!(pace.silence(start, start + ms(5_100)), ms(1_100));
        assert_eq!(pace.silence(start + ms(5_000), start + ms(5_100)), ms(100));
    }

    #[test]
    fn unstamped_states_count_as_new() {
        let mut pace = ArmPace::default();
        pace.on_joint_state(0, Instant::now());
        pace.on_joint_state(0, Instant::now());
        assert!(pace.runs_on_its_own());
        pace.on_command();
        assert!(!pace.runs_on_its_own());
    }
}
