//! The phase_arbiter binary driving the simulated Franka Panda (sim/mbarl_sim/franka_bridge.py,
//! lock-step) in end-effector space, with the sim Franka profile: this test stands in for the
//! camera encoder and a policy whose actions push the hand along +x and close the gripper. The
//! hand moves about a step per period along x, the fingers close (their width read back from
//! /joint_states), and the hand holds when the policy falls silent.

use std::process::Command;
use std::time::Duration;

use mbarl_msgs::msg::{Observation, PolicyAction};
use mbarl_msgs::sensor_msgs::JointState;
use mbarl_ros::{NodeBuilder, Qos};
use mbarl_testkit::{TIMEOUT, repo_root, ros_python, spawn_in_domain};
use phase_arbiter::kinematics::KinematicChain;

mod common;
use common::next_state;

const ARM: usize = 7;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_arbiter_moves_the_franka_hand_in_end_effector_space_and_holds() {
    let domain = mbarl_testkit::domain(77);
    let root = repo_root();
    let _sim = spawn_in_domain(
        Command::new(ros_python()).args([
            "-m",
            "mbarl_sim.franka_bridge",
            "--ros-args",
            "-p",
            "lockstep:=true",
            "-p",
            "publish_image:=false",
            "-p",
            "init_radius:=0.0",
        ]),
        domain,
    );
    let profile = root.join("config/robots/sim_franka.yaml");
    let _arbiter = spawn_in_domain(
        Command::new(env!("CARGO_BIN_EXE_phase_arbiter"))
            .current_dir(&root)
            .args(["--ros-args", "--params-file", profile.to_str().unwrap()])
            .args(["-p", "action_wait_periods:=4.0"]),
        domain,
    );
    let urdf = std::fs::read_to_string(root.join("models/franka/panda.urdf")).unwrap();
    let names: Vec<String> = (1..=ARM).map(|i| format!("panda_joint{i}")).collect();
    let chain = KinematicChain::from_urdf(&urdf, "panda0_link0", "panda_hand_tcp", &names).unwrap();
    let node = NodeBuilder::new("fake_encoder_and_policy")
        .domain_id(domain)
        .build()
        .unwrap();
    let js = node
        .subscriber::<JointState>("/joint_states", Qos::SensorData)
        .unwrap();
    let observations = node
        .publisher::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })
        .unwrap();
    let actions = node
        .publisher::<PolicyAction>("/mbarl/forward/action", Qos::Reliable { depth: 5 })
        .unwrap();
    assert!(observations.wait_for_subscriptions(1, TIMEOUT).await);
    assert!(actions.wait_for_subscriptions(1, TIMEOUT).await);
    let arm = |s: &JointState| -> Vec<f64> {
        names
            .iter()
            .map(|n| s.position[s.name.iter().position(|m| m == n).unwrap()])
            .collect()
    };
    let mut state = js.recv_timeout(TIMEOUT).await.expect("first joint state");
    assert_eq!(
        state.name.len(),
        ARM + 2,
        "seven arm joints and two fingers"
    );
    let start = chain.end_effector(&arm(&state)).unwrap();
    let mut seq = 0u64;
    let mut step = |state: JointState, action: Option<[f32; 4]>| {
        seq += 1;
        let obs = Observation {
            header: state.header.clone(),
            seq,
            joint_position: arm(&state),
            ..Default::default()
        };
        if let Some(a) = action {
            actions
                .publish(PolicyAction {
                    policy: PolicyAction::POLICY_FORWARD,
                    observation_seq: seq,
                    action: a.to_vec(),
                    ..Default::default()
                })
                .unwrap();
        }
        observations.publish(obs).unwrap();
        state
    };
    let width = |s: &JointState| -> f64 {
        s.name
            .iter()
            .zip(&s.position)
            .filter(|(n, _)| n.starts_with("panda_finger_joint"))
            .map(|(_, p)| p)
            .sum()
    };
    assert!(width(&state) > 0.07, "the fingers start open");
    for _ in 0..15 {
        let s = step(state, Some([1.0, 0.0, 0.0, -1.0]));
        state = next_state(&js, &s).await;
    }
    assert!(width(&state) < 0.01, "closed: width {}", width(&state));
    let moved = chain.end_effector(&arm(&state)).unwrap() - start;
    eprintln!("15 steps of +x moved the hand by {moved:?}");
    assert!(
        moved.x > 0.08 && moved.x < 0.16 && moved.y.abs() < 0.02 && moved.z.abs() < 0.02,
        "15 full +x steps of 1 cm moved the hand by {moved:?}"
    );
    // the policy falls silent: the arbiter's watchdog holds the pose (its hold commands keep
    // stepping the lock-step sim), and the hand stops
    let s = step(state, None);
    state = next_state(&js, &s).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..6 {
        let s = step(state, None);
        state = next_state(&js, &s).await;
    }
    let before = chain.end_effector(&arm(&state)).unwrap();
    for _ in 0..10 {
        let s = step(state, None);
        state = next_state(&js, &s).await;
    }
    let drift = (chain.end_effector(&arm(&state)).unwrap() - before).norm();
    eprintln!("holding: the hand moved {drift} m in 10 periods");
    assert!(drift < 0.005, "the hand drifted {drift} m while holding");
}
