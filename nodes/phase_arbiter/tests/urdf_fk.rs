//! Forward kinematics from the URDFs in models/ against MuJoCo's own: the sim arm's
//! (models/sim_arm/sim_arm.urdf, the chain the sim profile names; the "ee" site of
//! sim/assets/reach.xml) and the Franka Panda's (models/franka/panda.urdf; the "end_effector"
//! site of models/franka/panda_scene.xml), over 150 random joint positions within the limits:
//! position to 1e-6 m, orientation to 1e-6 rad. MuJoCo runs in the ROS venv's Python (the sim's).

use std::io::Write;
use std::process::{Command, Stdio};

use mbarl_testkit::{repo_root, ros_python};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion};
use phase_arbiter::kinematics::KinematicChain;

const MUJOCO_EE: &str = r#"
import json, sys
import mujoco
m = mujoco.MjModel.from_xml_path(sys.argv[1])
d = mujoco.MjData(m)
names = sys.argv[3].split(",")
adr = [m.joint(n).qposadr[0] for n in names]
out = []
for q in json.load(sys.stdin):
    for a, v in zip(adr, q):
        d.qpos[a] = v
    mujoco.mj_kinematics(m, d)
    s = d.site(sys.argv[2])
    out.append([float(x) for x in s.xpos] + [float(x) for x in s.xmat])
print(json.dumps(out))
"#;

/// The end-effector pose of a URDF chain against a MuJoCo site's, over 150 random joint
/// positions within `lower`..`upper`: position to 1e-6 m, orientation to 1e-6 rad.
fn urdf_matches_mujoco(
    model: &str,
    site: &str,
    urdf: &str,
    base: &str,
    tip: &str,
    lower: &[f64],
    upper: &[f64],
) {
    let root = repo_root();
    let chain_urdf = std::fs::read_to_string(root.join(urdf)).unwrap();
    let mujoco_names: Vec<String> = chain_joint_names(&chain_urdf, base, tip);
    let chain = KinematicChain::from_urdf(&chain_urdf, base, tip, &mujoco_names).unwrap();
    // random poses within the limits (a fixed linear congruential sequence)
    let mut x: u64 = 12345;
    let mut uniform = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let poses: Vec<Vec<f64>> = (0..150)
        .map(|_| {
            (0..lower.len())
                .map(|j| lower[j] + (upper[j] - lower[j]) * uniform())
                .collect()
        })
        .collect();
    let mut py = Command::new(ros_python())
        .args(["-c", MUJOCO_EE])
        .arg(root.join(model))
        .arg(site)
        .arg(mujoco_names.join(","))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    py.stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&poses).unwrap().as_bytes())
        .unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "MuJoCo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mujoco: Vec<[f64; 12]> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mujoco.len(), poses.len());
    let (mut worst, mut worst_turn) = (0.0f64, 0.0f64);
    for (q, m) in poses.iter().zip(&mujoco) {
        let pose = chain.end_effector_pose(q).unwrap();
        let p = pose.translation.vector;
        let err = ((p.x - m[0]).powi(2) + (p.y - m[1]).powi(2) + (p.z - m[2]).powi(2)).sqrt();
        let r = Rotation3::from_matrix_unchecked(Matrix3::from_row_slice(&m[3..12]));
        let turn = UnitQuaternion::from_rotation_matrix(&r).angle_to(&pose.rotation);
        worst = worst.max(err);
        worst_turn = worst_turn.max(turn);
        assert!(err <= 1e-6, "q {q:?}: URDF {p:?}, MuJoCo {m:?} ({err} m)");
        assert!(turn <= 1e-6, "q {q:?}: orientations {turn} rad apart");
    }
    eprintln!(
        "{urdf} vs MuJoCo over {} poses: largest difference {worst:.2e} m, {worst_turn:.2e} rad",
        poses.len()
    );
}

/// The movable joints from `base` to `tip`, as the URDF names them (MuJoCo's names too).
fn chain_joint_names(urdf: &str, base: &str, tip: &str) -> Vec<String> {
    let robot = urdf_rs::read_from_string(urdf).unwrap();
    let mut names = Vec::new();
    let mut link = tip.to_string();
    while link != base {
        let j = robot.joints.iter().find(|j| j.child.link == link).unwrap();
        if !matches!(j.joint_type, urdf_rs::JointType::Fixed) {
            names.push(j.name.clone());
        }
        link = j.parent.link.clone();
    }
    names.reverse();
    names
}

#[test]
fn urdf_forward_kinematics_equals_mujocos_to_a_micrometre() {
    urdf_matches_mujoco(
        "sim/assets/reach.xml",
        "ee",
        "models/sim_arm/sim_arm.urdf",
        "base_link",
        "ee",
        &[-1.55, -0.55, 0.05, -0.55],
        &[1.55, 1.85, 2.75, 2.95],
    );
}

#[test]
fn franka_urdf_forward_kinematics_equals_mujocos_to_a_micrometre() {
    // the Panda's joint ranges (models/franka/franka_assets/chain.xml)
    urdf_matches_mujoco(
        "models/franka/panda_scene.xml",
        "end_effector",
        "models/franka/panda.urdf",
        "panda0_link0",
        "panda_hand_tcp",
        &[
            -2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -1.6573, -2.8973,
        ],
        &[2.8973, 1.7628, 2.8973, -0.4, 2.8973, 2.1127, 2.8973],
    );
}

#[test]
fn a_urdf_chain_that_does_not_match_the_profile_is_refused_naming_both() {
    let urdf = std::fs::read_to_string(repo_root().join("models/sim_arm/sim_arm.urdf")).unwrap();
    let three: Vec<String> = (1..=3).map(|i| format!("joint{i}")).collect();
    let e = KinematicChain::from_urdf(&urdf, "base_link", "ee", &three)
        .unwrap_err()
        .to_string();
    assert!(e.contains("joint4") && e.contains("joint_names"), "{e}");
    let e = KinematicChain::from_urdf(&urdf, "base_link", "gripper", &three)
        .unwrap_err()
        .to_string();
    assert!(e.contains("gripper"), "{e}");
    // the tool point is the tip link's origin: with link4 as the tip, 0.10 m shorter
    let four: Vec<String> = (1..=4).map(|i| format!("joint{i}")).collect();
    let ee = KinematicChain::from_urdf(&urdf, "base_link", "ee", &four).unwrap();
    let l4 = KinematicChain::from_urdf(&urdf, "base_link", "link4", &four).unwrap();
    let q = [0.0; 4];
    let d = ee.end_effector(&q).unwrap() - l4.end_effector(&q).unwrap();
    assert!((d.norm() - 0.10).abs() < 1e-12, "{d:?}");
}
