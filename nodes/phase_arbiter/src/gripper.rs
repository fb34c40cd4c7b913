//! A parallel gripper driven by one more action value, open or closed with hysteresis (as SERL's
//! grippers are): a value at or above `threshold` opens it, at or below `-threshold` closes it,
//! anything between (or non-finite) keeps what was last commanded. Before the first decision the
//! gripper holds its measured width, so starting the arbiter never opens a closed hand (and drops
//! what it holds). The width (m) goes to a position controller (`Float64MultiArray`, e.g.
//! ros2_control's forward command controller on the fingers); the measured width is the sum of
//! the finger joints' positions in `/joint_states`.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum GripperError {
    #[error("robot profile: gripper.{what} must be finite and >= 0, got {value}")]
    Width { what: &'static str, value: f64 },
    #[error(
        "robot profile: gripper.open_width ({open}) must be larger than gripper.closed_width ({closed})"
    )]
    Order { open: f64, closed: f64 },
    #[error("robot profile: gripper.threshold must be in (0, 1], got {0}")]
    Threshold(f64),
}

/// The gripper's widths and decision threshold (robot profile, `gripper.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct GripperLimits {
    pub open_width: f64,
    pub closed_width: f64,
    pub threshold: f64,
}

impl GripperLimits {
    pub fn new(open_width: f64, closed_width: f64, threshold: f64) -> Result<Self, GripperError> {
        for (what, value) in [("open_width", open_width), ("closed_width", closed_width)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(GripperError::Width { what, value });
            }
        }
        if open_width <= closed_width {
            return Err(GripperError::Order {
                open: open_width,
                closed: closed_width,
            });
        }
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(GripperError::Threshold(threshold));
        }
        Ok(Self {
            open_width,
            closed_width,
            threshold,
        })
    }
}

/// The gripper's commanded state and measured width.
#[derive(Debug, Clone, PartialEq)]
pub struct Gripper {
    pub limits: GripperLimits,
    /// `Some(true)`: commanded closed; `None`: no decision yet.
    closed: Option<bool>,
    measured: Option<f64>,
}

impl Gripper {
    pub fn new(limits: GripperLimits) -> Self {
        Self {
            limits,
            closed: None,
            measured: None,
        }
    }

    /// The measured width (m), from `/joint_states`; non-finite values are ignored.
    pub fn on_width(&mut self, width: f64) {
        if width.is_finite() {
            self.measured = Some(width);
        }
    }

    pub fn measured(&self) -> Option<f64> {
        self.measured
    }

    /// The width to command for action value `a` (module docs); `None` while there is nothing
    /// to command (no decision yet and no measured width).
    pub fn command(&mut self, a: f32) -> Option<f64> {
        let t = self.limits.threshold as f32;
        if a.is_finite() && a >= t {
            self.closed = Some(false);
        } else if a.is_finite() && a <= -t {
            self.closed = Some(true);
        }
        self.hold()
    }

    /// The width that keeps the gripper as it is: the last decision's, else the measured width
    /// within the limits.
    pub fn hold(&self) -> Option<f64> {
        let l = &self.limits;
        match self.closed {
            Some(true) => Some(l.closed_width),
            Some(false) => Some(l.open_width),
            None => self.measured.map(|w| w.clamp(l.closed_width, l.open_width)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gripper() -> Gripper {
        Gripper::new(GripperLimits::new(0.08, 0.0, 0.5).unwrap())
    }

    #[test]
    fn it_holds_its_measured_width_until_told_otherwise() {
        let mut g = gripper();
        assert_eq!(g.command(0.0), None, "nothing known, nothing sent");
        g.on_width(0.03);
        g.on_width(f64::NAN);
        assert_eq!(g.command(0.2), Some(0.03));
        assert_eq!(g.command(f32::NAN), Some(0.03));
        g.on_width(0.2);
        assert_eq!(g.hold(), Some(0.08), "within the limits");
    }

    #[test]
    fn it_opens_and_closes_with_hysteresis() {
        let mut g = gripper();
        g.on_width(0.05);
        assert_eq!(g.command(-0.5), Some(0.0));
        assert_eq!(
            g.command(0.49),
            Some(0.0),
            "between the thresholds: stays closed"
        );
        assert_eq!(g.command(-0.3), Some(0.0));
        assert_eq!(g.command(0.9), Some(0.08));
        assert_eq!(g.command(-0.49), Some(0.08), "stays open");
        assert_eq!(
            g.command(f32::INFINITY),
            Some(0.08),
            "non-finite: no change"
        );
        assert_eq!(g.hold(), Some(0.08));
    }

    #[test]
    fn bad_limits_are_refused() {
        assert!(matches!(
            GripperLimits::new(0.0, 0.08, 0.5),
            Err(GripperError::Order { .. })
        ));
        assert!(matches!(
            GripperLimits::new(f64::NAN, 0.0, 0.5),
            Err(GripperError::Width { .. })
        ));
        assert!(matches!(
            GripperLimits::new(0.08, 0.0, 0.0),
            Err(GripperError::Threshold(_))
        ));
    }
}
