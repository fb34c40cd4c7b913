//! State standardisation from demonstrations (`encoder.state_from_demos`): the mean and a
//! floored standard deviation of each state dimension, which the state-mode encoder applies as
//! `(state − shift) · scale` (`encoder.state_shift`, `encoder.state_scale`).
use crate::config::LearnConfig;
use crate::error::{LearnError, Result};

/// Per-dimension offset and factor for the state-mode encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct StateNorm {
    /// The mean of each dimension.
    pub shift: Vec<f64>,
    /// 1 / max(std, floor) of each dimension.
    pub scale: Vec<f64>,
}

impl StateNorm {
    /// Mean and 1 / max(std, `floor`) per dimension over `states` (each of length `dim`, finite).
    /// Welford's update in f64: the same states in the same order give the same numbers.
    pub fn from_states<'a>(
        states: impl IntoIterator<Item = &'a [f32]>,
        dim: usize,
        floor: f64,
    ) -> Result<Self> {
        let mut n = 0usize;
        let mut mean = vec![0.0f64; dim];
        let mut m2 = vec![0.0f64; dim];
        for s in states {
            if s.len() != dim {
                return Err(LearnError::Input(format!(
                    "state statistics: a state has {} values, obs.state_dim is {dim}",
                    s.len()
                )));
            }
            if s.iter().any(|v| !v.is_finite()) {
                return Err(LearnError::Input(
                    "state statistics: a state has non-finite values".into(),
                ));
            }
            n += 1;
            for ((m, q), &x) in mean.iter_mut().zip(&mut m2).zip(s) {
                let x = x as f64;
                let d = x - *m;
                *m += d / n as f64;
                *q += d * (x - *m);
            }
        }
        if n == 0 {
            return Err(LearnError::Input(
                "state statistics: no states (encoder.state_from_demos needs demo datasets)".into(),
            ));
        }
        let scale = m2
            .iter()
            .map(|q| 1.0 / (q / n as f64).sqrt().max(floor))
            .collect();
        Ok(Self { shift: mean, scale })
    }
}

impl LearnConfig {
    /// Puts a computed [`StateNorm`] into `encoder.state_shift` / `encoder.state_scale` and turns
    /// `encoder.state_from_demos` off (the config then says what the encoder does); validates.
    pub fn set_state_norm(&mut self, norm: StateNorm) -> Result<()> {
        self.encoder.state_from_demos = false;
        self.encoder.state_shift = norm.shift;
        self.encoder.state_scale = norm.scale;
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_floored_inverse_std() {
        let states: Vec<Vec<f32>> = vec![vec![1.0, 5.0, 0.30], vec![3.0, 5.0, 0.32]];
        let n = StateNorm::from_states(states.iter().map(|s| s.as_slice()), 3, 0.05).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(n.shift[0], 2.0) && close(n.shift[1], 5.0) && close(n.shift[2], 0.31));
        assert!(close(n.scale[0], 1.0), "std 1 → ×1: {:?}", n.scale);
        assert!(
            close(n.scale[1], 20.0),
            "constant → 1 / floor: {:?}",
            n.scale
        );
        assert!(close(n.scale[2], 20.0), "std 0.01 < floor → 1 / floor");
    }

    #[test]
    fn no_states_wrong_length_or_nan_are_errors() {
        let none: Vec<&[f32]> = Vec::new();
        assert!(StateNorm::from_states(none, 2, 0.05).is_err());
        let short: &[f32] = &[1.0];
        let err = StateNorm::from_states([short], 2, 0.05).unwrap_err();
        assert!(err.to_string().contains("obs.state_dim is 2"), "{err}");
        let nan: &[f32] = &[1.0, f32::NAN];
        assert!(StateNorm::from_states([nan], 2, 0.05).is_err());
    }

    #[test]
    fn set_state_norm_fills_the_encoder_keys_and_clears_the_switch() {
        let mut cfg = LearnConfig::default();
        cfg.obs.state_dim = 2;
        cfg.encoder.state_from_demos = true;
        cfg.validate().unwrap();
        cfg.set_state_norm(StateNorm {
            shift: vec![0.5, -1.0],
            scale: vec![2.0, 20.0],
        })
        .unwrap();
        assert!(!cfg.encoder.state_from_demos);
        assert_eq!(cfg.encoder.state_shift, vec![0.5, -1.0]);
        assert_eq!(cfg.encoder.state_scale, vec![2.0, 20.0]);
        let wrong = StateNorm {
            shift: vec![0.0],
            scale: vec![1.0],
        };
        assert!(cfg.set_state_norm(wrong).is_err());
    }
}
