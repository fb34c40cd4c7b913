//! Every robot profile shipped in config/robots/ is a valid params file for the arbiter: all
//! required parameters present, of the right types, giving consistent joint limits.

use std::path::PathBuf;

use mbarl_ros::params::{load_params_file, resolve_params};
use phase_arbiter::config::{limits_from, params, phase_config_from};

#[test]
fn shipped_robot_profiles_give_valid_limits() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/robots");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("config/robots") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let blocks = load_params_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let values = resolve_params(&params(), "/phase_arbiter", "phase_arbiter", &blocks, &[])
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let limits = limits_from(&values).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(limits.joints() >= 4, "{}", path.display());
        phase_config_from(&values).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the sim arm and the generic arm profiles"
    );
}

#[test]
fn sim_profile_limits_lie_inside_the_sim_bridge_limits() {
    // The bridge rejects commands outside its limits (sim/config/bridge.yaml); the arbiter's
    // clamping must keep every command inside them.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = load_params_file(&root.join("config/robots/sim_arm.yaml")).unwrap();
    let values =
        resolve_params(&params(), "/phase_arbiter", "phase_arbiter", &profile, &[]).unwrap();
    let limits = limits_from(&values).unwrap();
    let bridge = load_params_file(&root.join("sim/config/bridge.yaml")).unwrap();
    let get = |name: &str| -> Vec<f64> {
        let v = bridge
            .iter()
            .flat_map(|b| &b.params)
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .clone();
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (lower, upper) = (get("joint_lower"), get("joint_upper"));
    for j in 0..limits.joints() {
        assert!(
            limits.lower[j] >= lower[j] && limits.upper[j] <= upper[j],
            "joint {j}"
        );
    }
}
