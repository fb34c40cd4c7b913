//! The arm's kinematic chain (from the robot's URDF or the robot profile), forward kinematics with
//! nalgebra, and the Cartesian workspace box the end effector must stay in.
//!
//! # From a URDF
//!
//! The profile names the URDF (`urdf_file`) and the chain's `base_link` and `tip_link`
//! ([`KinematicChain::from_urdf`], parsed with `urdf-rs`): any serial chain of revolute,
//! continuous and fixed joints, whose movable joints are the profile's `joint_names`.
//!
//! # Chain format without a URDF (robot profile, ROS 2 params file)
//!
//! A URDF-like serial chain of revolute joints, as flat arrays of doubles (params files have no
//! nested lists). For `N` joints, in the profile's `joint_names` order:
//!
//! - `kinematics.joint_origin_xyz`: `3·N` values, joint `i`'s origin (m) in the frame of joint
//!   `i-1` (joint 0: in the base frame), as URDF `<origin xyz>`;
//! - `kinematics.joint_origin_rpy`: `3·N` values, the fixed rotation (rad) of joint `i`'s frame,
//!   as URDF `<origin rpy>`: `R = Rz(yaw)·Ry(pitch)·Rx(roll)`;
//! - `kinematics.joint_axis`: `3·N` values, the rotation axis in joint `i`'s own frame, as URDF
//!   `<axis xyz>` (normalised here);
//! - `kinematics.tool_xyz`: 3 values, the end-effector point in the last joint's frame.
//!
//! The end effector is at `T_0(q_0)·…·T_{N-1}(q_{N-1})·tool` with
//! `T_i(q) = Trans(xyz_i)·Rot(rpy_i)·Rot(axis_i, q)`: exactly URDF's revolute joint. Fixed URDF
//! joints between two revolute ones fold into the next joint's origin (compose the transforms);
//! a fixed joint after the last revolute one is the tool offset.
//!
//! `workspace_min` / `workspace_max` (3 values each, m, base frame) bound the end effector.

use nalgebra::{Isometry3, Point3, Rotation3, Translation3, Unit, UnitQuaternion, Vector3};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum KinematicsError {
    #[error(
        "robot profile: {what} has {got} values, expected {expected} (3 per joint, {joints} joints)"
    )]
    Length {
        what: &'static str,
        got: usize,
        expected: usize,
        joints: usize,
    },
    #[error("robot profile: {what} must be finite, got {values:?}")]
    NotFinite {
        what: &'static str,
        values: Vec<f64>,
    },
    #[error("robot profile: kinematics.joint_axis of joint {joint} is zero")]
    ZeroAxis { joint: usize },
    #[error(
        "robot profile: workspace_min {min:?} must be below workspace_max {max:?} on every axis"
    )]
    EmptyBox { min: [f64; 3], max: [f64; 3] },
    #[error("robot profile: {0}")]
    Incomplete(String),
    #[error("robot profile: URDF: {0}")]
    Urdf(String),
}

/// One revolute joint: its fixed origin in the previous frame and its axis in its own frame.
#[derive(Debug, Clone, PartialEq)]
struct Joint {
    origin: Isometry3<f64>,
    axis: Unit<Vector3<f64>>,
}

/// A serial chain of revolute joints ending in a tool frame (its origin is the end effector).
#[derive(Debug, Clone, PartialEq)]
pub struct KinematicChain {
    joints: Vec<Joint>,
    tool: Isometry3<f64>,
}

fn triples(
    what: &'static str,
    values: &[f64],
    joints: usize,
) -> Result<Vec<[f64; 3]>, KinematicsError> {
    if values.len() != 3 * joints {
        return Err(KinematicsError::Length {
            what,
            got: values.len(),
            expected: 3 * joints,
            joints,
        });
    }
    if !values.iter().all(|v| v.is_finite()) {
        return Err(KinematicsError::NotFinite {
            what,
            values: values.to_vec(),
        });
    }
    Ok(values.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
}

/// URDF `rpy`: roll about x, then pitch about y, then yaw about z (fixed axes).
pub fn rpy_rotation(roll: f64, pitch: f64, yaw: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::z_axis(), yaw)
        * Rotation3::from_axis_angle(&Vector3::y_axis(), pitch)
        * Rotation3::from_axis_angle(&Vector3::x_axis(), roll)
}

impl KinematicChain {
    /// A chain of `joints` revolute joints from the profile's flat arrays (see the module docs).
    pub fn new(
        joints: usize,
        origin_xyz: &[f64],
        origin_rpy: &[f64],
        axis: &[f64],
        tool_xyz: &[f64],
    ) -> Result<Self, KinematicsError> {
        let xyz = triples("kinematics.joint_origin_xyz", origin_xyz, joints)?;
        let rpy = triples("kinematics.joint_origin_rpy", origin_rpy, joints)?;
        let axes = triples("kinematics.joint_axis", axis, joints)?;
        let tool = triples("kinematics.tool_xyz", tool_xyz, 1)?[0];
        let joints = (0..joints)
            .map(|i| {
                let [x, y, z] = xyz[i];
                let [roll, pitch, yaw] = rpy[i];
                let [ax, ay, az] = axes[i];
                let axis = Unit::try_new(Vector3::new(ax, ay, az), 1e-9)
                    .ok_or(KinematicsError::ZeroAxis { joint: i })?;
                Ok(Joint {
                    origin: Isometry3::from_parts(
                        Translation3::new(x, y, z),
                        UnitQuaternion::from_rotation_matrix(&rpy_rotation(roll, pitch, yaw)),
                    ),
                    axis,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            joints,
            tool: Isometry3::translation(tool[0], tool[1], tool[2]),
        })
    }

    /// The serial chain from link `base` to link `tip` of a URDF document: its revolute and
    /// continuous joints must be `joint_names`, in that order (the profile's); fixed joints
    /// fold into the next joint's origin, and those after the last movable joint make the tool
    /// point (the `tip` link's origin).
    pub fn from_urdf(
        urdf: &str,
        base: &str,
        tip: &str,
        joint_names: &[String],
    ) -> Result<Self, KinematicsError> {
        use urdf_rs::JointType;
        let err = |m: String| KinematicsError::Urdf(m);
        let robot = urdf_rs::read_from_string(urdf).map_err(|e| err(e.to_string()))?;
        // walk from the tip up to the base
        let mut path = Vec::new();
        let mut link = tip.to_string();
        while link != base {
            let joint = robot
                .joints
                .iter()
                .find(|j| j.child.link == link)
                .ok_or_else(|| {
                    err(format!(
                        "no joint leads to link `{link}`: `{tip}` is not below `{base}`"
                    ))
                })?;
            if path.len() > robot.joints.len() {
                return Err(err(format!("the joints above `{tip}` form a loop")));
            }
            path.push(joint);
            link = joint.parent.link.clone();
        }
        path.reverse();
        let mut joints = Vec::new();
        let mut names = Vec::new();
        let mut pending = Isometry3::identity();
        for j in path {
            let [x, y, z] = *j.origin.xyz;
            let [roll, pitch, yaw] = *j.origin.rpy;
            let origin = Isometry3::from_parts(
                Translation3::new(x, y, z),
                UnitQuaternion::from_rotation_matrix(&rpy_rotation(roll, pitch, yaw)),
            );
            pending *= origin;
            match j.joint_type {
                JointType::Fixed => {}
                JointType::Revolute | JointType::Continuous => {
                    let [ax, ay, az] = *j.axis.xyz;
                    let axis = Unit::try_new(Vector3::new(ax, ay, az), 1e-9).ok_or(
                        KinematicsError::ZeroAxis {
                            joint: joints.len(),
                        },
                    )?;
                    joints.push(Joint {
                        origin: pending,
                        axis,
                    });
                    names.push(j.name.clone());
                    pending = Isometry3::identity();
                }
                ref other => {
                    return Err(err(format!(
                        "joint `{}` is {other:?}: only revolute, continuous and fixed joints are supported",
                        j.name
                    )));
                }
            }
        }
        if names != joint_names {
            return Err(err(format!(
                "the chain from `{base}` to `{tip}` moves joints {names:?}; the profile's joint_names are {joint_names:?}"
            )));
        }
        Ok(Self {
            joints,
            tool: pending,
        })
    }

    pub fn joints(&self) -> usize {
        self.joints.len()
    }

    /// The end-effector position in the base frame for joint positions `q` (`None` when `q`
    /// has the wrong length or a non-finite value).
    pub fn end_effector(&self, q: &[f64]) -> Option<Point3<f64>> {
        self.end_effector_pose(q)
            .map(|pose| pose * Point3::origin())
    }

    /// The tool frame's pose in the base frame for joint positions `q` (its orientation: the
    /// URDF tip link's; a profile chain's tool frame has the last joint's orientation).
    pub fn end_effector_pose(&self, q: &[f64]) -> Option<Isometry3<f64>> {
        if q.len() != self.joints.len() || !q.iter().all(|v| v.is_finite()) {
            return None;
        }
        let pose =
            self.joints
                .iter()
                .zip(q)
                .fold(Isometry3::identity(), |pose, (joint, &angle)| {
                    pose * joint.origin * UnitQuaternion::from_axis_angle(&joint.axis, angle)
                });
        Some(pose * self.tool)
    }
}

/// An axis-aligned box in the base frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkspaceBox {
    pub min: [f64; 3],
    pub max: [f64; 3],
}

impl WorkspaceBox {
    pub fn new(min: &[f64], max: &[f64]) -> Result<Self, KinematicsError> {
        let min = triples("workspace_min", min, 1)?[0];
        let max = triples("workspace_max", max, 1)?[0];
        if (0..3).any(|i| min[i] >= max[i]) {
            return Err(KinematicsError::EmptyBox { min, max });
        }
        Ok(Self { min, max })
    }

    pub fn contains(&self, p: &Point3<f64>) -> bool {
        (0..3).all(|i| p[i] >= self.min[i] && p[i] <= self.max[i])
    }

    /// How far `p` is outside the box (m, Euclidean; 0 inside).
    pub fn distance_outside(&self, p: &Point3<f64>) -> f64 {
        (0..3)
            .map(|i| {
                (self.min[i] - p[i])
                    .max(p[i] - self.max[i])
                    .max(0.0)
                    .powi(2)
            })
            .sum::<f64>()
            .sqrt()
    }
}

/// The workspace check: the chain's end effector must be inside the box.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub chain: KinematicChain,
    pub bounds: WorkspaceBox,
}

impl Workspace {
    /// Are joint positions `q` safe, i.e. is their end effector in the box? (Malformed `q`
    /// is not.)
    pub fn allows(&self, q: &[f64]) -> bool {
        self.chain
            .end_effector(q)
            .is_some_and(|p| self.bounds.contains(&p))
    }

    /// How far the end effector of `q` is outside the box (0 inside; `None` for malformed `q`).
    pub fn distance_outside(&self, q: &[f64]) -> Option<f64> {
        self.chain
            .end_effector(q)
            .map(|p| self.bounds.distance_outside(&p))
    }

    /// May the arm go from `from` to `to`? Yes when `to`'s end effector is in the box, or when
    /// the arm is already outside (the dynamics can carry it a little past a target on the
    /// boundary) and `to` brings it no farther out: the way back in is never refused.
    pub fn permits(&self, from: &[f64], to: &[f64]) -> bool {
        match self.distance_outside(to) {
            Some(0.0) => true,
            Some(d) => self
                .distance_outside(from)
                .is_some_and(|current| d <= current),
            None => false,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::f64::consts::{FRAC_PI_2, PI};

    /// The sim arm (sim/assets/arm_scene.xml), as in config/robots/sim_arm.yaml.
    pub(crate) fn sim_arm() -> KinematicChain {
        KinematicChain::new(
            4,
            &[
                0.0, 0.0, 0.06, 0.0, 0.0, 0.06, 0.0, 0.0, 0.30, 0.0, 0.0, 0.28,
            ],
            &[0.0; 12],
            &[0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0],
            &[0.0, 0.0, 0.10],
        )
        .unwrap()
    }

    /// The analytic FK of sim/mbarl_sim/arm.py, transcribed.
    fn sim_arm_analytic(q: [f64; 4]) -> [f64; 3] {
        let (a2, a3, a4) = (q[1], q[1] + q[2], q[1] + q[2] + q[3]);
        let r = 0.30 * a2.sin() + 0.28 * a3.sin() + 0.10 * a4.sin();
        let z = 0.12 + 0.30 * a2.cos() + 0.28 * a3.cos() + 0.10 * a4.cos();
        [r * q[0].cos(), r * q[0].sin(), z]
    }

    #[test]
    fn rpy_is_urdf_fixed_axis_order() {
        // Roll then pitch (fixed axes): x → (rotate about x: unchanged) → about y by -90°: +z.
        let r = rpy_rotation(FRAC_PI_2, -FRAC_PI_2, 0.0);
        let v = r * Vector3::x();
        assert!((v - Vector3::z()).norm() < 1e-12, "{v}");
        // Yaw last: y → (roll 90° about x) z → (yaw about z) z.
        let r = rpy_rotation(FRAC_PI_2, 0.0, FRAC_PI_2);
        let v = r * Vector3::y();
        assert!((v - Vector3::z()).norm() < 1e-12, "{v}");
        let v = r * Vector3::x();
        assert!((v - Vector3::y()).norm() < 1e-12, "{v}");
    }

    #[test]
    fn sim_arm_matches_the_analytic_fk() {
        let chain = sim_arm();
        for q in [
            [0.0, 0.0, 0.0, 0.0],
            [0.3, 0.5, 1.2, 1.4],
            [-1.2, -0.4, 2.5, 0.1],
            [1.5, 1.8, 0.05, 2.9],
        ] {
            let p = chain.end_effector(&q).unwrap();
            let want = sim_arm_analytic(q);
            for i in 0..3 {
                assert!((p[i] - want[i]).abs() < 1e-12, "{q:?}: {p} vs {want:?}");
            }
        }
        let p = chain.end_effector(&[0.0; 4]).unwrap();
        assert!((p.z - (0.12 + 0.30 + 0.28 + 0.10)).abs() < 1e-12);
    }

    #[test]
    fn malformed_positions_have_no_end_effector() {
        let chain = sim_arm();
        assert_eq!(chain.end_effector(&[0.0; 3]), None);
        assert_eq!(chain.end_effector(&[0.0, f64::NAN, 0.0, 0.0]), None);
        let ws = Workspace {
            chain,
            bounds: WorkspaceBox::new(&[-1.0; 3], &[1.0; 3]).unwrap(),
        };
        assert!(!ws.allows(&[f64::INFINITY, 0.0, 0.0, 0.0]));
        assert!(ws.allows(&[0.0; 4]));
    }

    #[test]
    fn bad_chains_and_boxes_are_refused() {
        let e = KinematicChain::new(
            2,
            &[0.0; 5],
            &[0.0; 6],
            &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            &[0.0; 3],
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                KinematicsError::Length {
                    got: 5,
                    expected: 6,
                    ..
                }
            ),
            "{e}"
        );
        let e = KinematicChain::new(1, &[0.0; 3], &[0.0; 3], &[0.0; 3], &[0.0; 3]).unwrap_err();
        assert_eq!(e, KinematicsError::ZeroAxis { joint: 0 });
        let e = KinematicChain::new(
            1,
            &[f64::NAN, 0.0, 0.0],
            &[0.0; 3],
            &[0.0, 0.0, 1.0],
            &[0.0; 3],
        )
        .unwrap_err();
        assert!(matches!(e, KinematicsError::NotFinite { .. }), "{e}");
        let e = WorkspaceBox::new(&[0.0, 0.0, 0.0], &[1.0, 0.0, 1.0]).unwrap_err();
        assert!(matches!(e, KinematicsError::EmptyBox { .. }), "{e}");
        assert!(WorkspaceBox::new(&[0.0; 2], &[1.0; 3]).is_err());
    }

    #[test]
    fn axes_are_normalised_and_may_point_anywhere() {
        // One joint about -x with a scaled axis: tool (0, 1, 0) rotates to (0, cos(-a), sin(-a)).
        let chain =
            KinematicChain::new(1, &[0.0; 3], &[0.0; 3], &[-2.0, 0.0, 0.0], &[0.0, 1.0, 0.0])
                .unwrap();
        let p = chain.end_effector(&[PI / 6.0]).unwrap();
        assert!(
            (p.y - (PI / 6.0).cos()).abs() < 1e-12 && (p.z + 0.5).abs() < 1e-12,
            "{p}"
        );
    }
}
