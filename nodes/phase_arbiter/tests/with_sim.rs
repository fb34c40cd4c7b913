//! The phase_arbiter binary commanding the MuJoCo sim bridge (lock-step), with this test as the
//! camera encoder and the forward policy: actions move the arm, e-stop and a silent policy hold
//! it still, every step is published as a Transition, and the phase is latched.

use std::process::Command;
use std::time::Duration;

use mbarl_msgs::msg::{Observation, Phase, PolicyAction, Transition};
use mbarl_msgs::sensor_msgs::JointState;
use mbarl_msgs::std_msgs::Bool;
use mbarl_ros::{NodeBuilder, Publisher, Qos, Subscriber};
use mbarl_testkit::{TIMEOUT, repo_root, spawn_in_domain, start_sim_bridge};

mod common;
use common::next_state;

/// The newest joint state already queued (the silence-timer holds also step the lock-step sim),
/// so that the next `next_state` is one produced after what we publish next.
fn drain(js: &Subscriber<JointState>, mut state: JointState) -> JointState {
    while let Some(s) = js.try_recv() {
        if s.header.stamp > state.header.stamp {
            state = s;
        }
    }
    state
}

/// This test's stand-in for camera_encoder and forward_policy.
struct FakeEncoderAndPolicy<'a> {
    js: &'a Subscriber<JointState>,
    observations: &'a Publisher<Observation>,
    actions: &'a Publisher<PolicyAction>,
}

impl FakeEncoderAndPolicy<'_> {
    /// Publishes observation `seq` of `state` (and the policy's `action` for it, if any), and
    /// returns the joint state of the step the arbiter then commanded.
    async fn step(&self, state: JointState, seq: u64, action: Option<[f32; 4]>) -> JointState {
        let state = drain(self.js, state);
        let obs = Observation {
            seq,
            joint_names: state.name.clone(),
            joint_position: state.position.clone(),
            joint_velocity: state.velocity.clone(),
            ..Default::default()
        };
        self.observations.publish(obs).unwrap();
        if let Some(a) = action {
            let action = PolicyAction {
                policy: PolicyAction::POLICY_FORWARD,
                observation_seq: seq,
                action: a.to_vec(),
                ..Default::default()
            };
            self.actions.publish(action).unwrap();
        }
        next_state(self.js, &state).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbiter_moves_holds_and_records_with_the_sim() {
    let domain = mbarl_testkit::domain(91);
    let _sim = start_sim_bridge(domain, "reach", true, &[]);
    let profile = repo_root().join("config/robots/sim_arm.yaml");
    let _arbiter = spawn_in_domain(
        Command::new(env!("CARGO_BIN_EXE_phase_arbiter")).args([
            "--ros-args",
            "--params-file",
            profile.to_str().unwrap(),
            "-p",
            "action_wait_periods:=4.0",
        ]),
        domain,
    );
    let node = NodeBuilder::new("fake_encoder_and_policy")
        .domain_id(domain)
        .build()
        .unwrap();
    let js = node
        .subscriber::<JointState>("/joint_states", Qos::SensorData)
        .unwrap();
    let obs_pub = node
        .publisher::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })
        .unwrap();
    let act_pub = node
        .publisher::<PolicyAction>("/mbarl/forward/action", Qos::Reliable { depth: 5 })
        .unwrap();
    let estop = node
        .publisher::<Bool>("/mbarl/estop", Qos::Reliable { depth: 5 })
        .unwrap();
    let transitions = node
        .subscriber::<Transition>("/mbarl/transition", Qos::Lossless)
        .unwrap();
    let phase = node
        .subscriber::<Phase>("/mbarl/phase", Qos::Latched)
        .unwrap();
    assert!(
        obs_pub.wait_for_subscriptions(1, TIMEOUT).await,
        "arbiter not up"
    );
    assert!(
        act_pub.wait_for_subscriptions(1, TIMEOUT).await
            && estop.wait_for_subscriptions(1, TIMEOUT).await
    );
    assert!(transitions.wait_for_publishers(1, TIMEOUT).await);
    let first_phase = phase.recv_timeout(TIMEOUT).await.expect("latched phase");
    assert_eq!(first_phase.phase, Phase::FORWARD);

    let fake = FakeEncoderAndPolicy {
        js: &js,
        observations: &obs_pub,
        actions: &act_pub,
    };

    // Ten steps with action +1 on joint1: each moves it by at most max_step (0.06 rad).
    let mut state = js.recv_timeout(TIMEOUT).await.expect("first joint state");
    let start = state.position[0];
    for seq in 0..10u64 {
        state = fake.step(state, seq, Some([1.0, 0.0, 0.0, 0.0])).await;
    }
    let moved = state.position[0] - start;
    assert!(
        moved > 0.25 && moved <= 10.0 * 0.06 + 0.02,
        "joint1 moved {moved}"
    );
    let t = transitions
        .recv_timeout(TIMEOUT)
        .await
        .expect("a transition");
    assert_eq!((t.observation.seq, t.next_observation.seq), (0, 1));
    assert!((t.action[0] - 1.0).abs() < 1e-3 && t.phase == Phase::FORWARD);

    // E-stop: the arm holds still although the policy keeps pushing.
    estop.publish(Bool { data: true }).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    state = drain(&js, state);
    let held_from = state.position[0];
    for seq in 10..15u64 {
        state = fake.step(state, seq, Some([1.0, 0.0, 0.0, 0.0])).await;
    }
    let drift = state.position[0] - held_from;
    assert!(drift.abs() < 0.02, "moved under e-stop: {drift}");

    // Released, but the policy falls silent: the watchdog holds (the arbiter keeps stepping the
    // lock-step sim with hold commands, so joint states keep coming and show no motion).
    estop.publish(Bool { data: false }).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    state = drain(&js, state);
    let silent_from = state.position[0];
    for seq in 15..20u64 {
        state = fake.step(state, seq, None).await;
    }
    let drift = state.position[0] - silent_from;
    assert!(drift.abs() < 0.02, "moved without a policy: {drift}");
}
