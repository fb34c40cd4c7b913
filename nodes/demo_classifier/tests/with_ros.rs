//! demo_classifier over the real transport, with a generated forward demo dataset in its run
//! directory and this test as world model, arbiter and camera encoder: it answers every
//! observation with a StateScore for its seq, trains once a world model and backward-phase
//! transitions arrive, publishes a verified `classifiers` checkpoint, and then scores demo-like
//! states above backward-phase ones.
use std::process::Command;
use std::time::Duration;

use mbarl_learn::{LearnConfig, WorldModel};
use mbarl_msgs::msg::{ModelCheckpoint, Observation, Phase, StateScore, Transition};
use mbarl_node::{bundle, synth};
use mbarl_ros::{NodeBuilder, Qos, Subscriber};
use mbarl_testkit::{TIMEOUT, spawn_in_domain};

async fn score_for(
    scores: &Subscriber<StateScore>,
    obs: &mbarl_ros::Publisher<Observation>,
    seq: u64,
    q: [f64; 4],
) -> StateScore {
    obs.publish(synth::observation(seq, q)).unwrap();
    loop {
        let s = scores.recv_timeout(TIMEOUT).await.expect("a state score");
        if s.observation_seq == seq {
            return s;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_every_observation_and_learns_demo_states() {
    let domain = mbarl_testkit::domain(102);
    let run = tempfile::tempdir().unwrap();
    synth::write_demo_dataset(
        run.path(),
        "forward",
        "sim",
        &synth::transitions(40, Phase::FORWARD, 0, 0),
    )
    .unwrap();
    let preset = mbarl_testkit::repo_root().join("config/presets/state.yaml");
    let _node = spawn_in_domain(
        Command::new(env!("CARGO_BIN_EXE_demo_classifier")).args([
            "--ros-args",
            "-p",
            &format!("learn_config:={}", preset.display()),
            "-p",
            &format!("run_dir:={}", run.path().display()),
            "-p",
            "pretrain_updates:=300",
            "-p",
            "checkpoint_period:=50",
        ]),
        domain,
    );
    let node = NodeBuilder::new("classifier_test")
        .domain_id(domain)
        .build()
        .unwrap();
    let obs = node
        .publisher::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })
        .unwrap();
    let tr = node
        .publisher::<Transition>("/mbarl/transition", Qos::Lossless)
        .unwrap();
    let world = node
        .publisher::<ModelCheckpoint>("/mbarl/model/checkpoint", Qos::Latched)
        .unwrap();
    let scores = node
        .subscriber::<StateScore>("/mbarl/state_score", Qos::Reliable { depth: 20 })
        .unwrap();
    let cks = node
        .subscriber::<ModelCheckpoint>("/mbarl/classifier/checkpoint", Qos::Latched)
        .unwrap();
    assert!(
        obs.wait_for_subscriptions(1, TIMEOUT).await,
        "demo_classifier not up"
    );
    assert!(tr.wait_for_subscriptions(1, TIMEOUT).await);
    assert!(scores.wait_for_publishers(1, TIMEOUT).await);

    let first = score_for(&scores, &obs, 1, [0.0, 0.2, 0.3, -0.1]).await;
    assert_eq!((first.classifier_version, first.demo_probability), (0, 0.0));

    let cfg = LearnConfig::from_yaml_file(&preset).unwrap();
    let w = WorldModel::new(&cfg, tch::Device::Cpu).unwrap();
    world
        .publish(bundle::to_msg(
            &bundle::save_world_model(&w, &cfg, 1).unwrap(),
            node.now(),
        ))
        .unwrap();
    for t in synth::transitions(40, Phase::BACKWARD, 20, 100) {
        tr.publish(t).unwrap();
    }
    let ck = cks
        .recv_timeout(TIMEOUT)
        .await
        .expect("a classifier checkpoint");
    assert_eq!(ck.component, bundle::CLASSIFIERS);
    bundle::from_msg(&ck).unwrap();
    // let the scoring side pick up trained weights
    let mut seq = 10;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        seq += 2;
        let demo = score_for(&scores, &obs, seq, [0.0, 0.2, 0.3, -0.1]).await;
        let far = score_for(&scores, &obs, seq + 1, [2.0, 0.2, 0.3, -0.1]).await;
        if demo.classifier_version >= 6 {
            assert!(
                demo.demo_probability > far.demo_probability,
                "demo {} vs far {}",
                demo.demo_probability,
                far.demo_probability
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no trained classifier version in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
