//! One observation per NEW joint-state stamp, paired with the camera frame of that stamp.
//!
//! Lock-step sim: the bridge publishes the image(s) and, last, /joint_states with the same
//! stamp, so the frame is usually already there when the joint state arrives. Otherwise the
//! joint state waits at most `wait` (one control period) for a frame within `tolerance` of its
//! stamp. Real time: the same rule at the joint-state rate, throttled to the control rate.
//! Repeated or older stamps (the lock-step bridge re-sends its last state while idle) are ignored.
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A joint state (stamp in ns) ready to become an observation, with its frame in pixel mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready<J, F> {
    pub stamp_ns: i64,
    pub joints: J,
    pub frame: Option<F>,
}

/// Why a joint state produced no observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Same or older stamp than the last observation.
    NotNew,
    /// Arrived sooner than one control period after the last observation (real-time mode).
    Throttled,
    /// No frame within the tolerance arrived in time (pixel mode).
    NoFrame,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NotNew => "not_new",
            Skip::Throttled => "throttled",
            Skip::NoFrame => "no_frame",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PairingConfig {
    /// Pixel mode: every observation needs a frame.
    pub pixels: bool,
    /// Longest wait for the frame of a joint state.
    pub wait: Duration,
    /// A frame pairs with a joint state when their stamps differ by at most this.
    pub tolerance_ns: i64,
    /// Minimum spacing of observations in stamp time (0: no throttling, e.g. lock-step).
    pub min_interval_ns: i64,
}

pub struct Pairer<J, F> {
    cfg: PairingConfig,
    last_stamp: Option<i64>,
    pending: Option<(i64, J, Instant)>,
    frames: VecDeque<(i64, F)>,
}

const MAX_FRAMES: usize = 8;

impl<J, F: Clone> Pairer<J, F> {
    pub fn new(cfg: PairingConfig) -> Self {
        Self {
            cfg,
            last_stamp: None,
            pending: None,
            frames: VecDeque::new(),
        }
    }

    fn take_frame(&self, stamp: i64) -> Option<F> {
        self.frames
            .iter()
            .filter(|(s, _)| (s - stamp).abs() <= self.cfg.tolerance_ns)
            .min_by_key(|(s, _)| (s - stamp).abs())
            .map(|(_, f)| f.clone())
    }

    fn emit(&mut self, stamp_ns: i64, joints: J, frame: Option<F>) -> Ready<J, F> {
        self.last_stamp = Some(stamp_ns);
        self.frames.retain(|(s, _)| *s > stamp_ns);
        Ready {
            stamp_ns,
            joints,
            frame,
        }
    }

    /// A joint state arrived. Returns an observation to publish, or why not (`Ok(None)`: it
    /// waits for its frame). A still-pending older joint state is dropped (`NoFrame`) by the
    /// caller's next [`Pairer::poll`]; here it is replaced.
    pub fn on_joint_state(
        &mut self,
        stamp_ns: i64,
        joints: J,
        now: Instant,
    ) -> Result<Option<Ready<J, F>>, Skip> {
        if self.last_stamp.is_some_and(|l| stamp_ns <= l)
            || self
                .pending
                .as_ref()
                .is_some_and(|(s, _, _)| stamp_ns <= *s)
        {
            return Err(Skip::NotNew);
        }
        if let Some(l) = self.last_stamp
            && stamp_ns - l < self.cfg.min_interval_ns
        {
            return Err(Skip::Throttled);
        }
        if !self.cfg.pixels {
            return Ok(Some(self.emit(stamp_ns, joints, None)));
        }
        if let Some(f) = self.take_frame(stamp_ns) {
            self.pending = None;
            return Ok(Some(self.emit(stamp_ns, joints, Some(f))));
        }
        let replaced = self
            .pending
            .replace((stamp_ns, joints, now + self.cfg.wait));
        if replaced.is_some() {
            return Err(Skip::NoFrame);
        }
        Ok(None)
    }

    /// A camera frame arrived; completes a waiting joint state of the same stamp.
    pub fn on_frame(&mut self, stamp_ns: i64, frame: F) -> Option<Ready<J, F>> {
        if self.last_stamp.is_some_and(|l| stamp_ns <= l) {
            return None;
        }
        self.frames.push_back((stamp_ns, frame));
        while self.frames.len() > MAX_FRAMES {
            self.frames.pop_front();
        }
        let (s, _, _) = self.pending.as_ref()?;
        let s = *s;
        let f = self.take_frame(s)?;
        let (s, j, _) = self.pending.take()?;
        Some(self.emit(s, j, Some(f)))
    }

    /// When the wait for a pending joint state's frame is over: `Some(Skip::NoFrame)`.
    pub fn poll(&mut self, now: Instant) -> Option<Skip> {
        if self.pending.as_ref().is_some_and(|(_, _, d)| now >= *d) {
            self.pending = None;
            return Some(Skip::NoFrame);
        }
        None
    }

    /// The deadline of the pending joint state, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|(_, _, d)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pixels: bool, min_interval_ns: i64) -> PairingConfig {
        PairingConfig {
            pixels,
            wait: Duration::from_millis(50),
            tolerance_ns: 1_000_000,
            min_interval_ns,
        }
    }

    #[test]
    fn state_mode_emits_once_per_new_stamp() {
        let mut p: Pairer<u8, u8> = Pairer::new(cfg(false, 0));
        let t = Instant::now();
        assert_eq!(p.on_joint_state(10, 1, t).unwrap().unwrap().stamp_ns, 10);
        assert_eq!(p.on_joint_state(10, 1, t), Err(Skip::NotNew));
        assert_eq!(p.on_joint_state(5, 1, t), Err(Skip::NotNew));
        assert!(p.on_joint_state(20, 2, t).unwrap().is_some());
    }

    #[test]
    fn lockstep_frame_first_pairs_at_once() {
        let mut p: Pairer<u8, &str> = Pairer::new(cfg(true, 0));
        let t = Instant::now();
        assert!(p.on_frame(100, "f100").is_none());
        let r = p.on_joint_state(100, 7, t).unwrap().unwrap();
        assert_eq!(r.frame, Some("f100"));
        // the republished (same-stamp) state and frame are ignored
        assert!(p.on_frame(100, "f100").is_none());
        assert_eq!(p.on_joint_state(100, 7, t), Err(Skip::NotNew));
    }

    #[test]
    fn joint_state_waits_for_its_frame_then_times_out() {
        let mut p: Pairer<u8, &str> = Pairer::new(cfg(true, 0));
        let t = Instant::now();
        assert_eq!(p.on_joint_state(100_000_000, 1, t), Ok(None));
        // a frame of another time does not pair
        assert!(p.on_frame(50_000_000, "old").is_none());
        let r = p.on_frame(100_000_000, "f").unwrap();
        assert_eq!((r.stamp_ns, r.frame), (100_000_000, Some("f")));
        assert_eq!(p.on_joint_state(200_000_000, 2, t), Ok(None));
        assert_eq!(p.poll(t + Duration::from_millis(10)), None);
        assert_eq!(p.poll(t + Duration::from_millis(60)), Some(Skip::NoFrame));
        assert_eq!(p.deadline(), None);
    }

    #[test]
    fn real_time_throttles_to_the_control_rate() {
        let mut p: Pairer<u8, u8> = Pairer::new(cfg(false, 50_000_000));
        let t = Instant::now();
        assert!(p.on_joint_state(0, 0, t).unwrap().is_some());
        assert_eq!(p.on_joint_state(10_000_000, 0, t), Err(Skip::Throttled));
        assert!(p.on_joint_state(50_000_000, 0, t).unwrap().is_some());
    }

    #[test]
    fn frame_within_tolerance_pairs() {
        let mut p: Pairer<u8, &str> = Pairer::new(cfg(true, 0));
        let t = Instant::now();
        p.on_frame(1_000_500, "near");
        assert_eq!(
            p.on_joint_state(1_000_000, 0, t).unwrap().unwrap().frame,
            Some("near")
        );
    }
}
