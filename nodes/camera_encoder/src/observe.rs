//! Joint states in the robot profile's order, validated; camera frames accepted or rejected.
use mbarl_msgs::sensor_msgs::JointState;
use mbarl_msgs::trajectory_msgs::JointTrajectory;
use mbarl_vision::{ImageInput, PreprocessConfig, VisionError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("joint `{0}` missing from the joint state")]
    MissingJoint(String),
    #[error("joint state has {names} names but {positions} positions")]
    Length { names: usize, positions: usize },
    #[error("non-finite joint value for `{0}`")]
    NonFinite(String),
    #[error("joint state is {age_s:.3} s old (max {max_s} s)")]
    Stale { age_s: f64, max_s: f64 },
    #[error("joint state is stamped {ahead_s:.3} s in the future (max {max_s} s)")]
    Future { ahead_s: f64, max_s: f64 },
    #[error("image encoding `{0}` not accepted: rgb8, bgr8 or mono8")]
    Encoding(String),
    #[error(transparent)]
    Vision(#[from] VisionError),
}

impl InputError {
    /// Counter suffix.
    pub fn kind(&self) -> &'static str {
        match self {
            InputError::MissingJoint(_) | InputError::Length { .. } => "bad_joint_state",
            InputError::NonFinite(_) => "non_finite",
            InputError::Stale { .. } => "stale",
            InputError::Future { .. } => "future_stamp",
            InputError::Encoding(_) => "bad_encoding",
            InputError::Vision(_) => "bad_image",
        }
    }
}

/// Positions and velocities in the profile's joint order, and the command the arm's controller
/// was tracking when they came (empty before the first command).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Joints {
    pub names: Vec<String>,
    pub position: Vec<f64>,
    pub velocity: Vec<f64>,
    pub command: Vec<f64>,
}

/// A position-array command (`/arm_controller/commands`, in the profile's joint order, as the
/// arbiter sends it) when it has one finite value per joint.
pub fn position_command(values: &[f64], joints: usize) -> Option<Vec<f64>> {
    (values.len() == joints && values.iter().all(|x| x.is_finite())).then(|| values.to_vec())
}

/// A trajectory command's last point (where the controller is heading), reordered into
/// `order`, when it names every joint with a finite position. An empty trajectory (ros2_control:
/// "stop here") gives none.
pub fn trajectory_command(t: &JointTrajectory, order: &[String]) -> Option<Vec<f64>> {
    let last = t.points.last()?;
    order
        .iter()
        .map(|name| {
            let i = t.joint_names.iter().position(|n| n == name)?;
            last.positions.get(i).copied().filter(|x| x.is_finite())
        })
        .collect()
}

/// Reorders a JointState into `order` (velocities default to 0 when absent) and rejects NaN.
pub fn joints(js: &JointState, order: &[String]) -> Result<Joints, InputError> {
    if js.name.len() != js.position.len() {
        return Err(InputError::Length {
            names: js.name.len(),
            positions: js.position.len(),
        });
    }
    let mut out = Joints {
        names: order.to_vec(),
        ..Default::default()
    };
    for name in order {
        let i = js
            .name
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| InputError::MissingJoint(name.clone()))?;
        let p = js.position[i];
        let v = js.velocity.get(i).copied().unwrap_or(0.0);
        if !p.is_finite() || !v.is_finite() {
            return Err(InputError::NonFinite(name.clone()));
        }
        out.position.push(p);
        out.velocity.push(v);
    }
    Ok(out)
}

/// The joints a joint state carries that the profile does not name (a gripper's fingers, a
/// mobile base's wheels), in the message's order: mbarl ignores them, and says so once.
pub fn unused_joints(js: &JointState, order: &[String]) -> Vec<String> {
    js.name
        .iter()
        .filter(|n| !order.contains(n))
        .cloned()
        .collect()
}

/// Rejects joint states older than `max_age_s` (skipped when `max_age_s <= 0`).
pub fn check_age(stamp_ns: i64, now_ns: i64, max_age_s: f64) -> Result<(), InputError> {
    let age_s = (now_ns - stamp_ns) as f64 / 1e9;
    if max_age_s > 0.0 && age_s > max_age_s {
        return Err(InputError::Stale {
            age_s,
            max_s: max_age_s,
        });
    }
    Ok(())
}

/// Rejects joint states stamped more than `max_ahead_s` after `now_ns` (skipped when the clock
/// is not known yet, `now_ns <= 0`, or `max_ahead_s <= 0`). One such state would otherwise
/// become the newest stamp and every real joint state after it would be "not new": the encoder
/// would stop producing observations until the clock caught up.
pub fn check_not_future(stamp_ns: i64, now_ns: i64, max_ahead_s: f64) -> Result<(), InputError> {
    let ahead_s = (stamp_ns - now_ns) as f64 / 1e9;
    if now_ns > 0 && max_ahead_s > 0.0 && ahead_s > max_ahead_s {
        return Err(InputError::Future {
            ahead_s,
            max_s: max_ahead_s,
        });
    }
    Ok(())
}

/// Preprocesses a raw image (rgb8, bgr8, mono8 only) to the encoder's frame.
pub fn raw_frame(
    img: &mbarl_msgs::sensor_msgs::Image,
    cfg: &PreprocessConfig,
) -> Result<mbarl_vision::Frame, InputError> {
    if !matches!(img.encoding.as_str(), "rgb8" | "bgr8" | "mono8") {
        return Err(InputError::Encoding(img.encoding.clone()));
    }
    Ok(mbarl_vision::preprocess(&ImageInput::from(img), cfg)?)
}

/// Decodes and preprocesses a compressed (JPEG/PNG) image.
pub fn compressed_frame(
    img: &mbarl_msgs::sensor_msgs::CompressedImage,
    cfg: &PreprocessConfig,
) -> Result<mbarl_vision::Frame, InputError> {
    Ok(mbarl_vision::preprocess(&ImageInput::from(img), cfg)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joints_the_profile_does_not_name_are_listed() {
        let order: Vec<String> = ["j1", "j2"].iter().map(|s| s.to_string()).collect();
        let state = js(
            &["finger_left", "j2", "j1", "finger_right"],
            &[0.01, 0.2, 0.1, 0.01],
        );
        assert_eq!(
            unused_joints(&state, &order),
            ["finger_left", "finger_right"]
        );
        assert_eq!(joints(&state, &order).unwrap().position, [0.1, 0.2]);
        assert!(unused_joints(&js(&["j1", "j2"], &[0.0, 0.0]), &order).is_empty());
    }

    fn js(names: &[&str], pos: &[f64]) -> JointState {
        JointState {
            name: names.iter().map(|s| s.to_string()).collect(),
            position: pos.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn commands_in_profile_order_or_none() {
        use mbarl_msgs::trajectory_msgs::JointTrajectoryPoint;
        assert_eq!(position_command(&[0.1, 0.2], 2), Some(vec![0.1, 0.2]));
        assert_eq!(position_command(&[0.1], 2), None);
        assert_eq!(position_command(&[0.1, f64::NAN], 2), None);
        let order = ["a".to_string(), "b".to_string()];
        let point = |p: &[f64]| JointTrajectoryPoint {
            positions: p.to_vec(),
            ..Default::default()
        };
        let t = JointTrajectory {
            joint_names: vec!["b".into(), "a".into()],
            points: vec![point(&[9.0, 9.0]), point(&[0.2, 0.1])],
            ..Default::default()
        };
        assert_eq!(trajectory_command(&t, &order), Some(vec![0.1, 0.2]));
        let stop = JointTrajectory {
            points: vec![],
            ..t.clone()
        };
        assert_eq!(trajectory_command(&stop, &order), None);
        let partial = JointTrajectory {
            joint_names: vec!["a".into()],
            points: vec![point(&[0.1])],
            ..t
        };
        assert_eq!(trajectory_command(&partial, &order), None);
    }

    #[test]
    fn reorders_and_rejects_bad_joint_states() {
        let order = vec!["a".to_string(), "b".to_string()];
        let j = joints(&js(&["b", "a", "c"], &[2.0, 1.0, 3.0]), &order).unwrap();
        assert_eq!(j.position, vec![1.0, 2.0]);
        assert_eq!(j.velocity, vec![0.0, 0.0]);
        assert_eq!(
            joints(&js(&["a"], &[1.0]), &order),
            Err(InputError::MissingJoint("b".into()))
        );
        assert_eq!(
            joints(&js(&["a", "b"], &[1.0, f64::NAN]), &order)
                .unwrap_err()
                .kind(),
            "non_finite"
        );
        assert_eq!(
            joints(&js(&["a", "b"], &[1.0]), &order).unwrap_err().kind(),
            "bad_joint_state"
        );
    }

    #[test]
    fn stale_states_are_rejected() {
        assert!(check_age(0, 100_000_000, 0.5).is_ok());
        assert_eq!(
            check_age(0, 1_000_000_000, 0.5).unwrap_err().kind(),
            "stale"
        );
        assert!(check_age(0, 1_000_000_000, 0.0).is_ok());
    }

    #[test]
    fn future_states_are_rejected() {
        let s = 1_000_000_000;
        assert!(check_not_future(s + 500_000_000, s, 1.0).is_ok());
        assert_eq!(
            check_not_future(s + 1_000 * s, s, 1.0).unwrap_err().kind(),
            "future_stamp"
        );
        assert!(check_not_future(1_000 * s, 0, 1.0).is_ok(), "clock unknown");
        assert!(check_not_future(1_000 * s, s, 0.0).is_ok(), "check off");
    }

    #[test]
    fn only_rgb8_bgr8_mono8_images() {
        let cfg = PreprocessConfig {
            size: 4,
            ..Default::default()
        };
        let mut img = mbarl_msgs::sensor_msgs::Image {
            width: 8,
            height: 8,
            encoding: "bgr8".into(),
            step: 24,
            data: vec![10; 8 * 8 * 3],
            ..Default::default()
        };
        let f = raw_frame(&img, &cfg).unwrap();
        assert_eq!(f.data.len(), 4 * 4 * 3);
        img.encoding = "rgba8".into();
        img.step = 32;
        img.data = vec![0; 8 * 8 * 4];
        assert_eq!(raw_frame(&img, &cfg).unwrap_err().kind(), "bad_encoding");
        img.encoding = "mono8".into();
        img.step = 8;
        img.data = vec![0; 7];
        assert_eq!(raw_frame(&img, &cfg).unwrap_err().kind(), "bad_image");
    }
}
