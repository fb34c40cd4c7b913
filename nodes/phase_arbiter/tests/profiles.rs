//! Every robot profile shipped in config/robots/ is a valid params file for the arbiter: all
//! required parameters present, of the right types, giving consistent joint limits.

use std::path::PathBuf;

use mbarl_ros::params::{load_params_file, resolve_params};
use phase_arbiter::config::{
    action_space_from, limits_from, params, phase_config_from, workspace_from,
};
use phase_arbiter::kinematics::Workspace;

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
        workspace_from(&values, limits.joints())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        action_space_from(&values, &limits, 0.1)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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

fn profile(name: &str) -> Vec<mbarl_ros::params::ResolvedParam> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/robots")
        .join(name);
    let blocks = load_params_file(&path).unwrap_or_else(|e| panic!("{e}"));
    resolve_params(&params(), "/phase_arbiter", "phase_arbiter", &blocks, &[]).unwrap()
}

fn workspace(name: &str) -> (Workspace, usize) {
    let values = profile(name);
    let joints = limits_from(&values).unwrap().joints();
    let ws = workspace_from(&values, joints)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .unwrap_or_else(|| panic!("{name} has a workspace box"));
    (ws, joints)
}

fn assert_close(got: [f64; 3], want: [f64; 3], tolerance: f64, what: &str) {
    for i in 0..3 {
        assert!(
            (got[i] - want[i]).abs() <= tolerance,
            "{what}: {got:?} vs {want:?}"
        );
    }
}

#[test]
fn sim_profile_fk_matches_mujoco() {
    // (q, position of MuJoCo's "ee" site): `data.site_xpos` after `mj_kinematics` on
    // sim/assets/reach.xml (the script is in tests/sim/test_robot_profile_kinematics.py, which
    // also checks the profile against MuJoCo for random poses).
    let fixtures = [
        ([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.8]),
        (
            [0.3, 0.5, 1.2, 1.4],
            [0.406640768, 0.125788730, 0.247284795],
        ),
        (
            [-1.2, -0.4, 2.5, 0.1],
            [0.074545237, -0.191741654, 0.196111277],
        ),
        (
            [-0.536386, 1.819464, 0.910519, 2.209921],
            [0.262486927, -0.156055737, -0.187891965],
        ),
        (
            [1.146679, 0.388604, 1.232281, 0.754621],
            [0.190388071, 0.421660231, 0.311549767],
        ),
        (
            [-1.218444, 0.599517, 0.701651, 0.350008],
            [0.185955101, -0.505729789, 0.434237657],
        ),
        (
            [-0.977332, -0.084725, 2.247335, 0.930445],
            [0.118471548, -0.175621450, 0.162838862],
        ),
        (
            [-0.756646, 0.868167, 1.681535, 1.714003],
            [0.214552523, -0.202556433, 0.038121482],
        ),
    ];
    let (ws, joints) = workspace("sim_arm.yaml");
    assert_eq!(joints, 4);
    for (q, site) in fixtures {
        let p = ws.chain.end_effector(&q).unwrap();
        assert_close([p.x, p.y, p.z], site, 1e-8, &format!("q = {q:?}"));
    }
}

#[test]
fn sim_profile_box_holds_the_task_regions() {
    // Reach start/goal, push start/goal (paddle at pushing height), door hinge side: all inside.
    let (ws, _) = workspace("sim_arm.yaml");
    for p in [
        [0.22, -0.14, 0.16],
        [0.40, 0.18, 0.12],
        [0.26, 0.0, 0.024],
        [0.42, 0.0, 0.024],
        [0.28, 0.12, 0.032],
        [0.24, -0.10, 0.22],
    ] {
        assert!(
            ws.bounds.contains(&nalgebra::Point3::new(p[0], p[1], p[2])),
            "{p:?}"
        );
    }
    // Straight up (z = 0.8) and folded onto the base are outside.
    assert!(!ws.allows(&[0.0; 4]));
    assert!(!ws.allows(&[0.0, -0.5, 2.7, 2.9]));
}

/// franka_ros2's "ready" pose (0, -π/4, 0, -3π/4, 0, π/2, π/4).
const PANDA_READY: [f64; 7] = {
    use std::f64::consts::FRAC_PI_4;
    [
        0.0,
        -FRAC_PI_4,
        0.0,
        -3.0 * FRAC_PI_4,
        0.0,
        2.0 * FRAC_PI_4,
        FRAC_PI_4,
    ]
};

#[test]
fn generic_profile_is_the_franka_panda() {
    let (ws, joints) = workspace("generic_ros2_control_arm.yaml");
    assert_eq!(joints, 7);
    // Panda at q = 0: flange (link8) at (0.088, 0, 0.926); the hand's TCP 0.1034 m below it.
    let p = ws.chain.end_effector(&[0.0; 7]).unwrap();
    assert_close([p.x, p.y, p.z], [0.088, 0.0, 0.8226], 1e-9, "q = 0");
    // The "ready" pose: TCP at about (0.307, 0, 0.487).
    let ready = PANDA_READY;
    let p = ws.chain.end_effector(&ready).unwrap();
    assert_close([p.x, p.y, p.z], [0.307, 0.0, 0.487], 1e-3, "ready");
    assert!(
        ws.allows(&ready),
        "the ready pose is inside the example box"
    );
}

#[test]
fn a_box_without_a_chain_is_an_error_and_no_box_is_allowed() {
    use mbarl_ros::params::parse_params_yaml;
    let resolve = |yaml: &str| {
        let blocks = parse_params_yaml(yaml, std::path::Path::new("p.yaml")).unwrap();
        resolve_params(&params(), "/phase_arbiter", "phase_arbiter", &blocks, &[]).unwrap()
    };
    let base = "/**:\n  ros__parameters:\n    joint_names: [a]\n    position_lower: [-1.0]\n    position_upper: [1.0]\n    max_velocity: [1.0]\n    max_step: [0.1]\n";
    assert!(workspace_from(&resolve(base), 1).unwrap().is_none());
    let with_box = format!("{base}    workspace_min: [0, 0, 0]\n    workspace_max: [1, 1, 1]\n");
    let e = workspace_from(&resolve(&with_box), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("kinematic chain"), "{e}");
    let half_box = format!("{base}    workspace_min: [0, 0, 0]\n");
    assert!(workspace_from(&resolve(&half_box), 1).is_err());
    let full = format!(
        "{with_box}    kinematics:\n      joint_origin_xyz: [0, 0, 0]\n      joint_origin_rpy: [0, 0, 0]\n      joint_axis: [0, 0, 1]\n      tool_xyz: [0.5, 0, 0.5]\n"
    );
    let ws = workspace_from(&resolve(&full), 1).unwrap().unwrap();
    assert!(ws.allows(&[0.3]));
}

/// `object_state_indices` with `object_lower`/`object_upper` (as `-p name:=value`) give the
/// object rule; none of them: no rule; bounds without indices, or of the wrong length: a clear
/// start-up error.
#[test]
fn object_bounds_parameters() {
    use mbarl_ros::args::ParamOverride;
    use phase_arbiter::config::object_bounds_from;
    use phase_arbiter::object_bounds::ObjectCheck;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = load_params_file(&root.join("config/robots/sim_arm.yaml")).unwrap();
    // the sim profile with `-p name:=value` overrides
    let values = |set: &[(&str, &str)]| {
        let overrides: Vec<ParamOverride> = set
            .iter()
            .map(|(n, v)| ParamOverride {
                node: None,
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect();
        resolve_params(
            &params(),
            "/phase_arbiter",
            "phase_arbiter",
            &profile,
            &overrides,
        )
        .unwrap()
    };
    let resolve = |set: &[(&str, &str)]| object_bounds_from(&values(set));
    assert!(resolve(&[]).unwrap().is_none(), "off by default");
    let bounds = resolve(&[
        ("object_state_indices", "[3, 4, 5]"),
        ("object_lower", "[-0.13, -0.5, -0.05]"),
        ("object_upper", "[0.77, 0.5, 0.3]"),
    ])
    .unwrap()
    .expect("the rule");
    let mut state = [0.0f32; 11];
    assert_eq!(bounds.check(&state), ObjectCheck::Inside);
    state[5] = -0.73;
    assert!(matches!(bounds.check(&state), ObjectCheck::Outside(o) if o.dim == 5));
    let err = resolve(&[("object_lower", "[0.0]"), ("object_upper", "[1.0]")]).unwrap_err();
    assert!(
        err.to_string().contains("object_state_indices is empty"),
        "{err}"
    );
    let err = resolve(&[
        ("object_state_indices", "[3, 4]"),
        ("object_lower", "[0.0]"),
        ("object_upper", "[1.0, 1.0]"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("one value per"), "{err}");
    // the stillness rule's parameters reach the phase rules, and are checked
    let cfg = phase_config_from(&values(&[
        ("object_still_cycles", "20"),
        ("object_min_travel", "0.02"),
    ]))
    .unwrap();
    assert_eq!((cfg.object_still_cycles, cfg.object_min_travel), (20, 0.02));
    assert_eq!(
        phase_config_from(&values(&[])).unwrap().object_still_cycles,
        0,
        "off by default"
    );
    assert!(phase_config_from(&values(&[("object_still_cycles", "-1")])).is_err());
    assert!(phase_config_from(&values(&[("object_min_travel", "0.0")])).is_err());
}

#[test]
fn franka_cartesian_profile_steps_the_hand_from_the_ready_pose() {
    use phase_arbiter::cartesian::command_to_pose;
    let values = profile("franka_cartesian_impedance.yaml");
    let limits = limits_from(&values).unwrap();
    let space = action_space_from(&values, &limits, 0.1).unwrap();
    assert_eq!(space.action_dim(), 6, "xyz and roll pitch yaw steps");
    // franka_ros2's ready pose: the hand points down, 0.31 m in front of the base
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};
    let ready = [
        0.0,
        -FRAC_PI_4,
        0.0,
        -3.0 * FRAC_PI_4,
        0.0,
        FRAC_PI_2,
        FRAC_PI_4,
    ];
    let hold = space.hold(Some(&ready), None).unwrap();
    let c = space.command(&ready, None, &hold, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert!(
        !c.clamped,
        "a step from the ready pose is inside every limit"
    );
    let (from, to) = (
        command_to_pose(&hold).unwrap(),
        command_to_pose(&c.targets).unwrap(),
    );
    assert!((from.translation.vector - nalgebra::Vector3::new(0.3069, 0.0, 0.4869)).norm() < 1e-3);
    assert!((to.translation.x - from.translation.x - 0.01).abs() < 1e-12);
}

#[test]
fn the_profile_says_how_many_values_an_action_has() {
    use phase_arbiter::config::profile_action_dim;
    let dim = |name| profile_action_dim(&profile(name)).unwrap();
    assert_eq!(dim("sim_arm.yaml"), Some((4, "position_array".into())));
    assert_eq!(
        dim("generic_ros2_control_arm.yaml"),
        Some((7, "joint_trajectory".into()))
    );
    assert_eq!(
        dim("franka_cartesian_impedance.yaml"),
        Some((6, "cartesian_pose".into()))
    );
    assert_eq!(
        dim("sim_franka.yaml"),
        Some((4, "cartesian_pose with a gripper".into()))
    );
}
