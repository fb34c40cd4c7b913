//! The phase_arbiter binary in end-effector mode against a real ROS 2 peer (rclpy): with the sim
//! arm's profile and `command_interface` `cartesian_pose` (or `cartesian_twist`), the policy's
//! 3-value actions step a `geometry_msgs/PoseStamped` target (a `TwistStamped` velocity) that
//! rclpy receives; when the policy falls silent the arm holds its measured pose (zero twist)
//! within two control periods, and no command leaves the box or the speed limit.

use std::process::Command;
use std::time::Duration;

use mbarl_msgs::msg::{Observation, PolicyAction};
use mbarl_ros::params::{load_params_file, resolve_params};
use mbarl_ros::{NodeBuilder, Qos};
use mbarl_testkit::{Peer, TIMEOUT, repo_root, spawn_in_domain};
use phase_arbiter::config::{chain_from, params};
use serde_json::Value;

const PERIOD: f64 = 0.05; // the sim profile's 20 Hz
const STEP: f64 = 0.01; // cartesian.step_xyz
const MAX_SPEED: f64 = 0.5; // cartesian.max_speed: 0.025 m per period
const Q: [f64; 4] = [0.0, 0.5, 0.8, 0.3];
const MOVING: u64 = 6;
const SILENT: u64 = 8;

/// Starts the arbiter with `interface`, plays a policy that pushes +x for `MOVING`
/// observations and then falls silent for `SILENT` more, and returns what the peer received
/// on `topic`, one message per observation.
async fn run(slot: u16, interface: &str, topic: &str, msg_type: &str) -> Vec<Value> {
    let domain = mbarl_testkit::domain(slot);
    let count = (MOVING + SILENT).to_string();
    let mut peer = Peer::start(domain, &["sub", topic, msg_type, &count]);
    peer.expect("ready");
    let profile = repo_root().join("config/robots/sim_arm.yaml");
    let _arbiter = spawn_in_domain(
        Command::new(env!("CARGO_BIN_EXE_phase_arbiter"))
            .current_dir(repo_root())
            .args(["--ros-args", "--params-file", profile.to_str().unwrap()])
            .args(["-p", &format!("command_interface:={interface}")])
            .args(["-p", "cartesian.step_xyz:=[0.01, 0.01, 0.01]"])
            .args(["-p", &format!("cartesian.max_speed:={MAX_SPEED}")])
            .args(["-p", "action_wait_periods:=0.0"]),
        domain,
    );
    let node = NodeBuilder::new("fake_encoder_and_policy")
        .domain_id(domain)
        .build()
        .unwrap();
    let observations = node
        .publisher::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })
        .unwrap();
    let actions = node
        .publisher::<PolicyAction>("/mbarl/forward/action", Qos::Reliable { depth: 5 })
        .unwrap();
    assert!(observations.wait_for_subscriptions(1, TIMEOUT).await);
    assert!(actions.wait_for_subscriptions(1, TIMEOUT).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for seq in 0..MOVING + SILENT {
        if seq < MOVING {
            actions
                .publish(PolicyAction {
                    policy: PolicyAction::POLICY_FORWARD,
                    observation_seq: seq,
                    action: vec![1.0, 0.0, 0.0],
                    ..Default::default()
                })
                .unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        observations
            .publish(Observation {
                seq,
                joint_position: Q.to_vec(),
                ..Default::default()
            })
            .unwrap();
        tokio::time::sleep(Duration::from_secs_f64(PERIOD)).await;
    }
    (0..MOVING + SILENT).map(|_| peer.expect("msg")).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Index of the first message from which every later one satisfies `still`.
fn held_from(msgs: &[Value], still: impl Fn(&Value) -> bool) -> usize {
    (0..msgs.len())
        .rev()
        .take_while(|&i| still(&msgs[i]))
        .last()
        .expect("the last command holds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cartesian_pose_targets_step_and_hold_on_silence() {
    let blocks = load_params_file(&repo_root().join("config/robots/sim_arm.yaml")).unwrap();
    let values =
        resolve_params(&params(), "/phase_arbiter", "phase_arbiter", &blocks, &[]).unwrap();
    let chain = std::env::set_current_dir(repo_root())
        .map(|_| chain_from(&values, 4).unwrap().unwrap())
        .unwrap();
    let home = chain.end_effector_pose(&Q).unwrap();
    let msgs = run(
        74,
        "cartesian_pose",
        "/cartesian_controller/target_pose",
        "geometry_msgs/PoseStamped",
    )
    .await;
    let pos: Vec<Vec<f64>> = msgs.iter().map(|m| floats(&m["position"])).collect();
    for m in &msgs {
        assert_eq!(m["frame_id"], "base_link");
        let q = floats(&m["orientation"]);
        assert!((q.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-9);
    }
    // the first command: one full step along +x from the measured pose
    let h = home.translation.vector;
    assert!(
        (pos[0][0] - h.x - STEP).abs() < 1e-9 && (pos[0][1] - h.y).abs() < 1e-9,
        "first target {:?}, measured pose {h:?}",
        pos[0]
    );
    for w in pos.windows(2) {
        let d: f64 = (0..3)
            .map(|i| (w[1][i] - w[0][i]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(d <= 3.0 * STEP + 1e-9, "consecutive targets {d} m apart");
    }
    // silent: holds the measured pose within two periods of the last action (the step in
    // flight, then the watchdog's two periods), and stays there
    let is_home = |m: &Value| {
        let p = floats(&m["position"]);
        (0..3).all(|i| (p[i] - h[i]).abs() < 1e-9)
    };
    let from = held_from(&msgs, is_home);
    assert!(
        from <= MOVING as usize + 2,
        "held from message {from}, the last action answered message {}: {pos:?}",
        MOVING - 1
    );
    assert!(pos[..MOVING as usize].iter().all(|p| p[0] > h.x));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cartesian_twist_commands_move_then_stop_on_silence() {
    let msgs = run(
        75,
        "cartesian_twist",
        "/servo_node/delta_twist_cmds",
        "geometry_msgs/TwistStamped",
    )
    .await;
    let lin: Vec<Vec<f64>> = msgs.iter().map(|m| floats(&m["linear"])).collect();
    for v in &lin {
        let speed = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!(
            speed <= MAX_SPEED + 1e-9,
            "twist {v:?} above the speed limit"
        );
    }
    // the second command is a full step over one period (the first has no previous target)
    assert!((lin[1][0] - STEP / PERIOD).abs() < 1e-6, "{lin:?}");
    let still = |m: &Value| {
        floats(&m["linear"]).iter().all(|v| *v == 0.0)
            && floats(&m["angular"]).iter().all(|v| *v == 0.0)
    };
    let from = held_from(&msgs, still);
    assert!(
        from <= MOVING as usize + 2,
        "stopped from message {from}: {lin:?}"
    );
}
