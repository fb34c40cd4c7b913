//! camera_encoder against the lock-step MuJoCo bridge: observations with 64×64 frames paired
//! to the joint state of the same stamp, one per sim step; a world-model checkpoint published
//! (latched) hot-swaps the encoder and observations then carry its latent and version; a
//! corrupted checkpoint is refused.
use std::process::Command;

use mbarl_learn::{LearnConfig, WorldModel};
use mbarl_msgs::msg::{ModelCheckpoint, Observation};
use mbarl_msgs::std_msgs::Float64MultiArray;
use mbarl_node::bundle;
use mbarl_ros::{NodeBuilder, Qos, Subscriber};
use mbarl_testkit::{TIMEOUT, spawn_in_domain, start_sim_bridge};

async fn next(obs: &Subscriber<Observation>) -> Observation {
    obs.recv_timeout(TIMEOUT)
        .await
        .expect("an observation from camera_encoder")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pixel_observations_and_encoder_hot_swap_with_the_lockstep_sim() {
    let domain = mbarl_testkit::domain(100);
    let _sim = start_sim_bridge(domain, "reach", true, &[]);
    let root = mbarl_testkit::repo_root();
    let preset = root.join("config/presets/pixels.yaml");
    let _enc = spawn_in_domain(
        Command::new(env!("CARGO_BIN_EXE_camera_encoder")).args([
            "--ros-args",
            "--params-file",
            root.join("config/robots/sim_arm.yaml").to_str().unwrap(),
            "-p",
            &format!("learn_config:={}", preset.display()),
            "-p",
            "use_sim_time:=true",
        ]),
        domain,
    );
    let node = NodeBuilder::new("camera_encoder_test")
        .domain_id(domain)
        .build()
        .unwrap();
    let obs = node
        .subscriber::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })
        .unwrap();
    let cmd = node
        .publisher::<Float64MultiArray>("/arm_controller/commands", Qos::DEFAULT)
        .unwrap();
    let ck_pub = node
        .publisher::<ModelCheckpoint>("/mbarl/model/checkpoint", Qos::Latched)
        .unwrap();
    assert!(
        obs.wait_for_publishers(1, TIMEOUT).await,
        "camera_encoder not up"
    );
    assert!(
        cmd.wait_for_subscriptions(1, TIMEOUT).await,
        "sim bridge not up"
    );

    // The bridge published its initial state at start-up; the encoder may have missed it, so
    // step the sim until observations flow.
    let mut first = None;
    for _ in 0..100 {
        cmd.publish(Float64MultiArray {
            data: vec![0.0, 0.3, 1.2, 0.5],
            ..Default::default()
        })
        .unwrap();
        if let Some(o) = obs
            .recv_timeout(std::time::Duration::from_millis(500))
            .await
        {
            first = Some(o);
            break;
        }
    }
    let first = first.expect("an observation after stepping the sim");
    assert_eq!(
        (first.frame_width, first.frame_height, first.frame.len()),
        (64, 64, 64 * 64 * 3)
    );
    assert_eq!(first.joint_names, ["joint1", "joint2", "joint3", "joint4"]);
    assert!(first.latent.is_empty() && first.encoder_version == 0);

    // One observation per step, with increasing seq and stamps.
    let mut last = first;
    for _ in 0..5 {
        cmd.publish(Float64MultiArray {
            data: last.joint_position.clone(),
            ..Default::default()
        })
        .unwrap();
        let o = next(&obs).await;
        assert!(o.seq > last.seq);
        assert!(o.header.stamp.to_nanos() > last.header.stamp.to_nanos());
        assert_eq!(o.frame.len(), 64 * 64 * 3);
        last = o;
    }

    // A corrupted checkpoint is refused, a good one swapped in.
    let cfg = LearnConfig::from_yaml_file(&preset).unwrap();
    let w = WorldModel::new(&cfg, tch::Device::Cpu).unwrap();
    let mut bad = bundle::to_msg(&bundle::save_world_model(&w, &cfg, 9).unwrap(), node.now());
    bad.weights[200] ^= 0xff;
    ck_pub.publish(bad).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ck_pub
        .publish(bundle::to_msg(
            &bundle::save_world_model(&w, &cfg, 7).unwrap(),
            node.now(),
        ))
        .unwrap();
    let mut swapped = None;
    for _ in 0..100 {
        cmd.publish(Float64MultiArray {
            data: last.joint_position.clone(),
            ..Default::default()
        })
        .unwrap();
        let o = next(&obs).await;
        if o.encoder_version != 0 {
            swapped = Some(o);
            break;
        }
        last = o;
    }
    let o = swapped.expect("observations with the published encoder");
    assert_eq!(o.encoder_version, 7);
    assert_eq!(o.latent.len(), 32);
    assert!(o.latent.iter().all(|v| v.is_finite()));
}

/// Compressed (JPEG) frames from the bridge, and state mode (no frames) side by side; a third
/// encoder with `state_topic:=/sim/task_state` puts the sim's task state of the observation's
/// own step (paired by its `sim_time`) into `Observation.state`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_frames_and_state_mode_with_the_lockstep_sim() {
    let domain = mbarl_testkit::domain(103);
    let _sim = start_sim_bridge(domain, "reach", true, &[]);
    let root = mbarl_testkit::repo_root();
    let profile = root.join("config/robots/sim_arm.yaml");
    let spawn = |name: &str, preset: &str, extra: &[&str]| {
        let mut args: Vec<String> = [
            "--ros-args",
            "-r",
            &format!("__node:={name}"),
            "-r",
            &format!("/mbarl/observation:=/{name}/observation"),
            "--params-file",
            profile.to_str().unwrap(),
            "-p",
            &format!("learn_config:={}", root.join(preset).display()),
            "-p",
            "use_sim_time:=true",
        ]
        .map(String::from)
        .to_vec();
        for e in extra {
            args.extend(["-p".to_string(), e.to_string()]);
        }
        spawn_in_domain(
            Command::new(env!("CARGO_BIN_EXE_camera_encoder")).args(args),
            domain,
        )
    };
    let _jpeg = spawn(
        "enc_jpeg",
        "config/presets/pixels.yaml",
        &["image_source:=compressed"],
    );
    let _state = spawn("enc_state", "config/presets/state.yaml", &[]);
    let _task = spawn(
        "enc_task",
        "config/presets/state.yaml",
        &["state_topic:=/sim/task_state"],
    );
    let node = NodeBuilder::new("camera_encoder_test2")
        .domain_id(domain)
        .build()
        .unwrap();
    let jpeg = node
        .subscriber::<Observation>("/enc_jpeg/observation", Qos::Reliable { depth: 5 })
        .unwrap();
    let state = node
        .subscriber::<Observation>("/enc_state/observation", Qos::Reliable { depth: 5 })
        .unwrap();
    let task = node
        .subscriber::<Observation>("/enc_task/observation", Qos::Reliable { depth: 50 })
        .unwrap();
    let task_states = node
        .subscriber::<Float64MultiArray>("/sim/task_state", Qos::Reliable { depth: 50 })
        .unwrap();
    let cmd = node
        .publisher::<Float64MultiArray>("/arm_controller/commands", Qos::DEFAULT)
        .unwrap();
    assert!(
        jpeg.wait_for_publishers(1, TIMEOUT).await
            && state.wait_for_publishers(1, TIMEOUT).await
            && task.wait_for_publishers(1, TIMEOUT).await,
        "encoders not up"
    );
    assert!(
        cmd.wait_for_subscriptions(1, TIMEOUT).await,
        "sim bridge not up"
    );
    let (mut got_jpeg, mut got_state) = (None, None);
    let (mut task_obs, mut sim_states) = (Vec::new(), std::collections::HashMap::new());
    for i in 0..100 {
        cmd.publish(Float64MultiArray {
            data: vec![0.0, 0.3 + 0.01 * (i % 10) as f64, 1.2, 0.5],
            ..Default::default()
        })
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        while let Some(o) = jpeg.try_recv() {
            got_jpeg = Some(o);
        }
        while let Some(o) = state.try_recv() {
            got_state = Some(o);
        }
        while let Some(o) = task.try_recv() {
            task_obs.push(o);
        }
        while let Some(s) = task_states.try_recv() {
            let s = mbarl_msgs::task_state::TaskState::of(&s);
            sim_states.insert(s.stamp_ns.expect("a sim_time stamp"), s.to_f32());
        }
        if got_jpeg.is_some() && got_state.is_some() && task_obs.len() >= 10 {
            break;
        }
    }
    // Each observation's state is the sim's task state of its own step (9 values for reach).
    assert!(
        task_obs.len() >= 10,
        "{} observations with a task state",
        task_obs.len()
    );
    let matched = task_obs
        .iter()
        .filter(|o| sim_states.get(&o.header.stamp.to_nanos()) == Some(&o.state))
        .count();
    assert!(task_obs.iter().all(|o| o.state.len() == 9));
    assert!(
        matched * 10 >= task_obs.len() * 9,
        "{matched} of {} observations carry their own step's task state",
        task_obs.len()
    );
    let j = got_jpeg.expect("observations from JPEG frames");
    assert_eq!(
        (j.frame_width, j.frame_height, j.frame.len()),
        (64, 64, 64 * 64 * 3)
    );
    let s = got_state.expect("state-mode observations");
    assert!(s.frame.is_empty() && s.frame_width == 0);
    assert_eq!(s.joint_position.len(), 4);
}
