//! Where the task's object may be: a box over some dimensions of `Observation.state` (the
//! robot's low-dimensional task state, from simulation or motion capture). An object outside
//! it (a block pushed off the table or out of the arm's reach) cannot be brought back by
//! either policy: the arbiter asks for help ([`crate::phases::PhaseConfig::object_outside_steps`]).

/// The box, from the parameters `object_state_indices`, `object_lower`, `object_upper`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectBounds {
    indices: Vec<usize>,
    lower: Vec<f64>,
    upper: Vec<f64>,
}

/// The object's state dimension `dim` holds `value`, outside `[lower, upper]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outside {
    pub dim: usize,
    pub value: f32,
    pub lower: f64,
    pub upper: f64,
}

/// What one observation's task state says about the object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ObjectCheck {
    Inside,
    Outside(Outside),
    /// The state is too short for the configured dimensions, or one of them is not finite.
    Unreadable,
}

impl ObjectBounds {
    /// One `lower` and `upper` per index, finite, `lower < upper`; at least one index.
    pub fn new(indices: &[i64], lower: &[f64], upper: &[f64]) -> Result<Self, String> {
        if indices.is_empty() {
            return Err("object_state_indices is empty".into());
        }
        if lower.len() != indices.len() || upper.len() != indices.len() {
            return Err(format!(
                "object_lower ({}) and object_upper ({}) need one value per object_state_indices entry ({})",
                lower.len(),
                upper.len(),
                indices.len()
            ));
        }
        let indices = indices
            .iter()
            .map(|&i| {
                usize::try_from(i).map_err(|_| format!("object_state_indices: {i} is negative"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (k, (lo, hi)) in lower.iter().zip(upper).enumerate() {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(format!(
                    "object bounds of state dimension {}: need finite lower < upper, got [{lo}, {hi}]",
                    indices[k]
                ));
            }
        }
        Ok(Self {
            indices,
            lower: lower.to_vec(),
            upper: upper.to_vec(),
        })
    }

    /// How far the object moved between two task states: the Euclidean distance over the
    /// configured dimensions; `None` when either state does not hold them (finite).
    pub fn motion(&self, before: &[f32], after: &[f32]) -> Option<f64> {
        let mut sum = 0.0;
        for &dim in &self.indices {
            let (a, b) = (before.get(dim)?, after.get(dim)?);
            let d = f64::from(*b) - f64::from(*a);
            if !d.is_finite() {
                return None;
            }
            sum += d * d;
        }
        Some(sum.sqrt())
    }

    /// The first configured dimension outside its bounds, if any.
    pub fn check(&self, state: &[f32]) -> ObjectCheck {
        for (k, &dim) in self.indices.iter().enumerate() {
            let Some(&value) = state.get(dim).filter(|v| v.is_finite()) else {
                return ObjectCheck::Unreadable;
            };
            let (lower, upper) = (self.lower[k], self.upper[k]);
            if !(lower..=upper).contains(&f64::from(value)) {
                return ObjectCheck::Outside(Outside {
                    dim,
                    value,
                    lower,
                    upper,
                });
            }
        }
        ObjectCheck::Inside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ObjectBounds {
        ObjectBounds::new(&[3, 4, 5], &[-0.1, -0.5, -0.05], &[0.75, 0.5, 0.3]).unwrap()
    }

    #[test]
    fn inside_outside_and_unreadable() {
        let b = table();
        let mut state = vec![0.0f32; 11];
        state[3] = 0.3;
        assert_eq!(b.check(&state), ObjectCheck::Inside);
        state[5] = -0.73; // fallen to the floor
        assert_eq!(
            b.check(&state),
            ObjectCheck::Outside(Outside {
                dim: 5,
                value: -0.73,
                lower: -0.05,
                upper: 0.3
            })
        );
        state[5] = f32::NAN;
        assert_eq!(b.check(&state), ObjectCheck::Unreadable);
        assert_eq!(b.check(&[0.0; 4]), ObjectCheck::Unreadable, "too short");
        assert_eq!(b.check(&[]), ObjectCheck::Unreadable, "no task state");
    }

    #[test]
    fn motion_over_the_configured_dimensions() {
        let b = table();
        let mut before = vec![0.0f32; 11];
        let mut after = before.clone();
        after[0] = 5.0; // the end effector: not the object
        after[3] = 0.03;
        after[4] = 0.04;
        let m = b.motion(&before, &after).expect("readable");
        assert!((m - 0.05).abs() < 1e-6, "{m}");
        before[4] = f32::NAN;
        assert_eq!(b.motion(&before, &after), None);
        assert_eq!(b.motion(&[0.0; 4], &after), None);
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(ObjectBounds::new(&[], &[], &[]).is_err());
        assert!(ObjectBounds::new(&[3], &[0.0, 1.0], &[1.0]).is_err());
        assert!(ObjectBounds::new(&[-1], &[0.0], &[1.0]).is_err());
        assert!(ObjectBounds::new(&[3], &[1.0], &[0.0]).is_err());
        assert!(ObjectBounds::new(&[3], &[f64::NAN], &[1.0]).is_err());
    }
}
