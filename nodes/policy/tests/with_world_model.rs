//! world_model + forward_policy binaries over the real transport, with this test as the phase
//! arbiter and camera encoder: the world model records the transitions and publishes a verified
//! checkpoint (latched), TrainingStats and imagined rollouts; the policy picks the checkpoint
//! up, answers every observation with an action for its seq, trains, and hands its new actor
//! weights to its acting side (policy_version > 0) and publishes its own checkpoint.
use std::process::Command;
use std::time::Duration;

use mbarl_msgs::msg::{
    ModelCheckpoint, Observation, Phase, PolicyAction, TrainingStats, Transition,
};
use mbarl_msgs::srv::{ImagineRollout, ImagineRolloutRequest};
use mbarl_node::{bundle, synth};
use mbarl_ros::{NodeBuilder, Qos};
use mbarl_testkit::{TIMEOUT, spawn_in_domain};

fn world_model_bin() -> std::path::PathBuf {
    // built by `cargo build` (world_model is another package of the workspace)
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_forward_policy"));
    let p = exe.with_file_name("world_model");
    assert!(
        p.exists(),
        "{} missing: run `cargo build -p world_model` first",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_and_world_model_exchange_checkpoints_and_act() {
    let domain = mbarl_testkit::domain(101);
    let run = tempfile::tempdir().unwrap();
    let preset = mbarl_testkit::repo_root().join("config/presets/state.yaml");
    let common = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--ros-args".into(),
            "-p".into(),
            format!("learn_config:={}", preset.display()),
            "-p".into(),
            format!("run_dir:={}", run.path().display()),
            "-p".into(),
            "stats_period_s:=0.5".into(),
        ];
        for e in extra {
            v.extend(["-p".to_string(), e.to_string()]);
        }
        v
    };
    let _wm = spawn_in_domain(
        Command::new(world_model_bin()).args(common(&["checkpoint_period:=10"])),
        domain,
    );
    let _fp = spawn_in_domain(
        Command::new(env!("CARGO_BIN_EXE_forward_policy")).args(common(&[
            "use_transition_task_reward:=true",
            "actor_sync_updates:=5",
            "checkpoint_period:=10",
        ])),
        domain,
    );
    let node = NodeBuilder::new("arbiter_stand_in")
        .domain_id(domain)
        .build()
        .unwrap();
    let tr_pub = node
        .publisher::<Transition>("/mbarl/transition", Qos::Lossless)
        .unwrap();
    let obs_pub = node
        .publisher::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })
        .unwrap();
    let phase_pub = node
        .publisher::<Phase>("/mbarl/phase", Qos::Latched)
        .unwrap();
    let actions = node
        .subscriber::<PolicyAction>("/mbarl/forward/action", Qos::Reliable { depth: 50 })
        .unwrap();
    let world_ck = node
        .subscriber::<ModelCheckpoint>("/mbarl/model/checkpoint", Qos::Latched)
        .unwrap();
    let policy_ck = node
        .subscriber::<ModelCheckpoint>("/mbarl/forward/checkpoint", Qos::Latched)
        .unwrap();
    let stats = node
        .subscriber::<TrainingStats>("/mbarl/training_stats", Qos::Reliable { depth: 20 })
        .unwrap();
    let imagine = node
        .service_client::<ImagineRollout>("/mbarl/model/imagine")
        .unwrap();
    assert!(
        tr_pub.wait_for_subscriptions(2, TIMEOUT).await,
        "world_model and forward_policy must both record transitions"
    );
    assert!(
        obs_pub.wait_for_subscriptions(1, TIMEOUT).await,
        "forward_policy not up"
    );
    phase_pub
        .publish(Phase {
            phase: Phase::FORWARD,
            ..Default::default()
        })
        .unwrap();

    // The world model publishes its (initial) checkpoint at once.
    let ck = world_ck
        .recv_timeout(TIMEOUT)
        .await
        .expect("a world-model checkpoint");
    assert_eq!(ck.component, bundle::WORLD_MODEL);
    bundle::from_msg(&ck).expect("a verified checkpoint");

    for t in synth::transitions(150, Phase::FORWARD, 0, 0) {
        tr_pub.publish(t).unwrap();
    }
    // Actions answer observations; policy_version turns > 0 once training hands weights over.
    let mut trained = None;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut seq = 1000;
    while tokio::time::Instant::now() < deadline {
        seq += 1;
        obs_pub
            .publish(synth::observation(seq, [0.1, 0.2, 0.3, 0.4]))
            .unwrap();
        let a = loop {
            let a = actions
                .recv_timeout(Duration::from_secs(5))
                .await
                .expect("an action for the observation");
            if a.observation_seq == seq {
                break a;
            }
        };
        assert_eq!(a.policy, PolicyAction::POLICY_FORWARD);
        assert_eq!(a.action.len(), 4);
        assert!(
            a.action
                .iter()
                .all(|v| v.is_finite() && (-1.0..=1.0).contains(v))
        );
        if a.policy_version > 0 {
            trained = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    trained.expect("actions from trained actor weights");
    let pck = policy_ck
        .recv_timeout(TIMEOUT)
        .await
        .expect("a policy checkpoint");
    assert_eq!(pck.component, "forward_policy");
    bundle::from_msg(&pck).unwrap();

    // TrainingStats of both nodes, with updates.
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        let s = stats.recv_timeout(TIMEOUT).await.expect("training stats");
        assert_eq!(s.names.len(), s.values.len());
        if s.updates > 0 {
            seen.insert(s.node.clone());
        }
    }
    // A newer world-model version arrives as training goes on.
    let mut newer = None;
    while let Some(c) = world_ck.recv_timeout(TIMEOUT).await {
        if c.version > ck.version {
            newer = Some(c);
            break;
        }
    }
    newer.expect("a newer world-model checkpoint");

    assert!(imagine.wait_for_service(TIMEOUT).await, "imagine service");
    let resp = imagine
        .call(
            ImagineRolloutRequest {
                start_latent: vec![0.0; 32],
                actions: vec![0.2; 3 * 4],
                horizon: 3,
            },
            TIMEOUT,
        )
        .await
        .unwrap();
    assert!(resp.success, "{}", resp.message);
    assert_eq!(resp.latents.len(), resp.steps as usize * 32);
    // Transitions are persisted.
    assert!(run.path().join("replay/all").read_dir().unwrap().count() > 0);
    assert!(
        run.path()
            .join("replay/forward")
            .read_dir()
            .unwrap()
            .count()
            > 0
    );
}
