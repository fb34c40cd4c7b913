//! Forward kinematics from the sim arm's URDF (models/sim_arm/sim_arm.urdf, the chain the sim
//! profile names) against MuJoCo's own: the "ee" site of sim/assets/reach.xml over 150 random
//! joint positions within the limits, to 1e-6 m. MuJoCo runs in the ROS venv's Python (the sim's).

use std::io::Write;
use std::process::{Command, Stdio};

use mbarl_testkit::{repo_root, ros_python};
use phase_arbiter::kinematics::KinematicChain;

const MUJOCO_EE: &str = r#"
import json, sys
import mujoco
m = mujoco.MjModel.from_xml_path(sys.argv[1])
d = mujoco.MjData(m)
adr = [m.joint(f"joint{i}").qposadr[0] for i in range(1, 5)]
out = []
for q in json.load(sys.stdin):
    for a, v in zip(adr, q):
        d.qpos[a] = v
    mujoco.mj_kinematics(m, d)
    out.append([float(x) for x in d.site("ee").xpos])
print(json.dumps(out))
"#;

#[test]
fn urdf_forward_kinematics_equals_mujocos_to_a_micrometre() {
    let root = repo_root();
    let urdf = std::fs::read_to_string(root.join("models/sim_arm/sim_arm.urdf")).unwrap();
    let names: Vec<String> = (1..=4).map(|i| format!("joint{i}")).collect();
    let chain = KinematicChain::from_urdf(&urdf, "base_link", "ee", &names).unwrap();
    // random poses within the profile's limits (a fixed linear congruential sequence)
    let lower = [-1.55, -0.55, 0.05, -0.55];
    let upper = [1.55, 1.85, 2.75, 2.95];
    let mut x: u64 = 12345;
    let mut uniform = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let poses: Vec<Vec<f64>> = (0..150)
        .map(|_| {
            (0..4)
                .map(|j| lower[j] + (upper[j] - lower[j]) * uniform())
                .collect()
        })
        .collect();
    let mut py = Command::new(ros_python())
        .args(["-c", MUJOCO_EE])
        .arg(root.join("sim/assets/reach.xml"))
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
    let mujoco: Vec<[f64; 3]> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mujoco.len(), poses.len());
    let mut worst = 0.0f64;
    for (q, m) in poses.iter().zip(&mujoco) {
        let p = chain.end_effector(q).unwrap();
        let err = ((p.x - m[0]).powi(2) + (p.y - m[1]).powi(2) + (p.z - m[2]).powi(2)).sqrt();
        worst = worst.max(err);
        assert!(err <= 1e-6, "q {q:?}: URDF {p:?}, MuJoCo {m:?} ({err} m)");
    }
    eprintln!(
        "URDF vs MuJoCo over {} poses: largest difference {worst:.2e} m",
        poses.len()
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
