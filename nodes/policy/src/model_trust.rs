//! Whether the latent model is good enough to imagine with (`alm.max_model_error_ratio`).
//!
//! The model's one-step error ratio ([`mbarl_learn::nets::LatentModel::error_ratio`]: its error
//! against the "nothing changes" guess) is measured on every real policy batch and smoothed
//! with an exponential moving average. While the average is above the configured limit, the
//! policy trainer makes no imagined steps: the actor takes SAC's step on real latents and the
//! critics get no MBPO rollouts, as in the model-free baseline. On door, where this measure
//! never fell below 0.56, imagined actor steps kept MBARL from learning (docs/notes/2026-12-07-results-history.md,
//! "Session 18").

/// Weight of the newest measurement in the moving average.
const RATE: f64 = 0.05;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelTrust {
    limit: Option<f64>,
    average: Option<f64>,
}

impl ModelTrust {
    /// `limit`: `alm.max_model_error_ratio`; `None` trusts the model always (nothing measured).
    pub fn new(limit: Option<f64>) -> Self {
        Self {
            limit,
            average: None,
        }
    }

    /// Whether measurements are wanted (a limit is configured).
    pub fn measures(&self) -> bool {
        self.limit.is_some()
    }

    /// Takes one batch's ratio; `None` (not finite, or nothing changed) is skipped.
    pub fn observe(&mut self, ratio: Option<f64>) {
        if let Some(r) = ratio.filter(|r| r.is_finite()) {
            self.average = Some(match self.average {
                None => r,
                Some(a) => a + RATE * (r - a),
            });
        }
    }

    /// Imagine with the model? Without a limit always; with one, only once measured and while
    /// the average is at most the limit.
    pub fn trusted(&self) -> bool {
        match (self.limit, self.average) {
            (None, _) => true,
            (Some(limit), Some(avg)) => avg <= limit,
            (Some(_), None) => false,
        }
    }

    /// The smoothed ratio (NaN before the first measurement).
    pub fn average(&self) -> f64 {
        self.average.unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_limit_the_model_is_always_trusted_and_nothing_is_measured() {
        let mut t = ModelTrust::new(None);
        assert!(!t.measures());
        assert!(t.trusted());
        t.observe(Some(5.0));
        assert!(t.trusted());
    }

    #[test]
    fn with_a_limit_the_model_waits_for_a_measurement() {
        let mut t = ModelTrust::new(Some(0.35));
        assert!(t.measures());
        assert!(!t.trusted(), "not measured yet");
        assert!(t.average().is_nan());
        t.observe(None);
        t.observe(Some(f64::NAN));
        assert!(!t.trusted(), "unusable ratios are skipped");
        t.observe(Some(0.2));
        assert!(t.trusted());
        assert_eq!(t.average(), 0.2);
    }

    #[test]
    fn one_bad_batch_does_not_switch_but_a_worse_model_does() {
        let mut t = ModelTrust::new(Some(0.35));
        t.observe(Some(0.3));
        t.observe(Some(0.9));
        assert!(t.trusted(), "average 0.33 after one outlier");
        for _ in 0..40 {
            t.observe(Some(0.6));
        }
        assert!(!t.trusted(), "average {}", t.average());
        for _ in 0..80 {
            t.observe(Some(0.2));
        }
        assert!(t.trusted(), "trusted again as it improves: {}", t.average());
    }
}
