//! `mbarl demo import|inspect` on bags written by the independent `rosbags` library.

#[path = "../../../crates/mbarl-bag/tests/common/mod.rs"]
mod bagpy;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use bagpy::make_bag;
use mbarl_bag::{Bag, ReadOptions};
use mbarl_msgs::msg::{Phase, Transition};
use mbarl_msgs::sensor_msgs::Image;
use mbarl_vision::{ImageInput, PreprocessConfig};
use serde_json::Value;

fn mbarl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mbarl"))
        .args(args)
        .output()
        .expect("run mbarl")
}

fn ok_json(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mbarl failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn failed(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "expected a failure: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// The dataset's transitions as every reader sees them (shared next frames restored).
fn transitions(dataset: &Path) -> Vec<Transition> {
    let (trs, skipped) = mbarl_bag::demo::read_transitions(dataset, false).unwrap();
    assert!(skipped.is_empty());
    trs
}

/// The transitions as stored: compact, next-observation frames shared within an episode.
fn stored_transitions(dataset: &Path) -> Vec<Transition> {
    Bag::open(dataset)
        .unwrap()
        .messages(ReadOptions::default())
        .map(|m| m.unwrap().decode::<Transition>().unwrap())
        .collect()
}

/// Source images by header stamp (ns).
fn source_images(bag: &Path) -> HashMap<i64, Image> {
    Bag::open(bag)
        .unwrap()
        .messages(ReadOptions {
            topics: Some(vec!["/camera/image_raw".into()]),
            ..Default::default()
        })
        .map(|m| {
            let img: Image = m.unwrap().decode().unwrap();
            (
                img.header.stamp.sec as i64 * 1_000_000_000 + img.header.stamp.nanosec as i64,
                img,
            )
        })
        .collect()
}

fn stamp(t: &mbarl_msgs::builtin_interfaces::Time) -> i64 {
    t.sec as i64 * 1_000_000_000 + t.nanosec as i64
}

#[test]
fn imports_rosbags_mcap_and_sqlite3_bags() {
    let tmp = tempfile::tempdir().unwrap();
    for storage in ["mcap", "sqlite3"] {
        let bag = tmp.path().join(format!("demo_{storage}"));
        make_bag(
            &bag,
            &[
                "--storage",
                storage,
                "--episodes",
                "3",
                "--steps",
                "15",
                "--js-mult",
                "2",
                "--reward",
            ],
        );
        let run = tmp.path().join("run");
        let out = mbarl(&[
            "demo",
            "import",
            bag.to_str().unwrap(),
            "--role",
            "backward",
            "--run-dir",
            run.to_str().unwrap(),
            // A low-dimensional state topic (as from motion capture); none by default.
            "--state-topic",
            "/sim/task_state",
            // The robot's task reward (as the arbiter's task_reward_topic); none by default.
            "--reward-topic",
            "/sim/task_reward",
            "--json",
            "--no-progress",
        ]);
        let report = ok_json(&out);
        assert_eq!(report["transitions"], 3 * 14, "{report}");
        assert_eq!(report["episodes"], 3, "{report}");
        assert_eq!(report["unmatched_frames"], 0, "{report}");
        assert_eq!(report["actions_from_commands"], 3 * 14, "{report}");
        assert_eq!(report["rewards"], 3 * 15, "{report}");
        assert_eq!(report["transitions_without_reward"], 0, "{report}");
        let dataset = run.join(format!("demos/backward/demo_{storage}"));
        assert_eq!(Path::new(report["dataset"].as_str().unwrap()), dataset);
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(dataset.join("dataset.yaml")).unwrap(),
        )
        .unwrap();
        assert_eq!(yaml["role"].as_str(), Some("backward"));
        assert_eq!(yaml["episodes"].as_u64(), Some(3));
        assert_eq!(yaml["preprocessing"]["size"].as_u64(), Some(64));
        assert!(
            yaml["action"]["normalisation"]
                .as_str()
                .unwrap()
                .contains("max_step")
        );

        let trs = transitions(&dataset);
        assert_eq!(trs.len(), 42);
        // Compact: within an episode the next frame is stored once, as the next transition's
        // observation frame; the reader restores it, everything else is as stored.
        assert_eq!(yaml["format"].as_str(), Some("mbarl-demo-dataset/2"));
        let stored = stored_transitions(&dataset);
        assert_eq!(stored.len(), trs.len());
        for (i, (s, t)) in stored.iter().zip(&trs).enumerate() {
            assert_eq!(s.next_observation.frame.is_empty(), !t.phase_end, "{i}");
            let mut s = s.clone();
            s.next_observation.frame = t.next_observation.frame.clone();
            assert_eq!(&s, t, "transition {i}");
        }
        let images = source_images(&bag);
        let cfg = PreprocessConfig::default();
        for (i, t) in trs.iter().enumerate() {
            let (e, k) = (i / 14, i % 14);
            assert_eq!(t.phase, Phase::BACKWARD);
            assert_eq!(t.cycle as usize, e, "transition {i}");
            assert_eq!(t.phase_end, k == 13, "transition {i}");
            assert_eq!(t.step as usize, i);
            let o = &t.observation;
            assert_eq!(o.joint_names, ["joint1", "joint2", "joint3", "joint4"]);
            for j in 0..4 {
                let q = 0.1 * e as f64 + 0.01 * k as f64 * (j + 1) as f64;
                assert!(
                    (o.joint_position[j] - q).abs() < 1e-9,
                    "transition {i} joint {j}"
                );
                assert!((t.commanded_position[j] - (q + 0.01 * (j + 1) as f64)).abs() < 1e-9);
                // what the controller tracks: the step before's target (none at an episode's
                // first step), and at s′ this step's
                assert_eq!(t.next_observation.joint_command, t.commanded_position);
                if k == 0 {
                    assert!(o.joint_command.is_empty(), "transition {i}");
                } else {
                    assert_eq!(o.joint_command, trs[i - 1].commanded_position);
                }
                let a = 0.01 * (j + 1) as f64 / 0.06;
                assert!(
                    (t.action[j] as f64 - a).abs() < 1e-5,
                    "action {:?}",
                    t.action
                );
            }
            assert_eq!(o.state.len(), 3);
            assert!((o.state[0] as f64 - (0.3 + 0.01 * k as f64)).abs() < 1e-5);
            // The reward of s′ (step k+1), as the arbiter stamps it.
            assert!(t.has_task_reward, "transition {i}");
            let r = -(e as f64 + 0.01 * (k + 1) as f64);
            assert!(
                (t.task_reward as f64 - r).abs() < 1e-6,
                "transition {i}: {}",
                t.task_reward
            );
            // Frames are exactly what the camera encoder's preprocessing makes of the source.
            for obs in [&t.observation, &t.next_observation] {
                let src = images
                    .get(&stamp(&obs.header.stamp))
                    .expect("source image with the frame's stamp");
                let expect = mbarl_vision::preprocess(&ImageInput::from(src), &cfg).unwrap();
                assert_eq!(
                    (obs.frame_width as u32, obs.frame_height as u32),
                    (expect.width, expect.height)
                );
                assert!(
                    obs.frame == expect.data,
                    "frame of transition {i} differs from preprocess()"
                );
            }
            assert_eq!(
                stamp(&t.next_observation.header.stamp) - stamp(&o.header.stamp),
                50_000_000
            );
        }
        // The dataset is a bag rosbags reads.
        let theirs = bagpy::rosbags_messages(&dataset);
        assert_eq!(theirs.len(), 42);
        assert_eq!(theirs[0]["type"], "mbarl_msgs/msg/Transition");
    }
}

#[test]
fn several_bags_without_commands_and_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    make_bag(&a, &["--episodes", "1", "--steps", "10", "--no-commands"]);
    make_bag(
        &b,
        &[
            "--storage",
            "sqlite3",
            "--episodes",
            "2",
            "--steps",
            "8",
            "--markers",
        ],
    );
    let run = tmp.path().join("run");
    let profile = bagpy::repo_root().join("config/robots/sim_arm.yaml");
    let out = mbarl(&[
        "demo",
        "import",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--role",
        "forward",
        "--run-dir",
        run.to_str().unwrap(),
        "--command-topic",
        "",
        "--profile",
        profile.to_str().unwrap(),
        "--json",
        "--no-progress",
        "--max-step",
        "0.02",
    ]);
    let r = ok_json(&out);
    assert_eq!(r["episodes"], 3, "{r}");
    assert_eq!(r["transitions"], 9 + 7 + 7, "{r}");
    assert_eq!(r["actions_from_joint_states"], 23);
    assert_eq!(r["commands"], 0);
    let trs = transitions(&run.join("demos/forward/a"));
    // No reward topic asked for: no transition claims a task reward.
    assert!(
        trs.iter()
            .all(|t| !t.has_task_reward && t.task_reward == 0.0)
    );
    // 0.04 rad steps of joint 4 with max_step 0.02 clamp to 1.
    assert!(trs.iter().all(|t| t.action[3] == 1.0 && t.clamped));
    assert!((trs[0].action[0] - 0.5).abs() < 1e-6);
    assert_eq!(trs.iter().filter(|t| t.phase_end).count(), 3);
    // Importing again without --force refuses; with --force replaces.
    let again = mbarl(&[
        "demo",
        "import",
        a.to_str().unwrap(),
        "--role",
        "forward",
        "--run-dir",
        run.to_str().unwrap(),
        "--no-progress",
    ]);
    assert!(failed(&again).contains("--force"));
    let forced = mbarl(&[
        "demo",
        "import",
        a.to_str().unwrap(),
        "--role",
        "forward",
        "--run-dir",
        run.to_str().unwrap(),
        "--no-progress",
        "--force",
        "--json",
    ]);
    assert_eq!(ok_json(&forced)["transitions"], 9);
}

#[test]
fn commands_come_from_the_profiles_interface_and_an_unused_command_topic_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let bag = tmp.path().join("traj");
    make_bag(
        &bag,
        &["--episodes", "1", "--steps", "10", "--trajectory-commands"],
    );
    let import = |profile: &Path, run: &str| {
        let out = mbarl(&[
            "demo",
            "import",
            bag.to_str().unwrap(),
            "--role",
            "forward",
            "--run-dir",
            tmp.path().join(run).to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--json",
            "--no-progress",
        ]);
        (
            ok_json(&out),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // the sim profile drives /arm_controller/commands: the trajectory topic is not used, and
    // the import says so
    let sim = bagpy::repo_root().join("config/robots/sim_arm.yaml");
    let (r, log) = import(&sim, "run_position");
    assert_eq!(r["actions_from_commands"], 0, "{r}");
    let unused = "/arm_controller/joint_trajectory (trajectory_msgs/msg/JointTrajectory)";
    assert_eq!(
        r["unused_command_topics"],
        serde_json::json!([unused]),
        "{r}"
    );
    assert!(log.contains("does not use"), "{log}");
    // a joint_trajectory profile reads its commands from that topic, reordered
    let traj = tmp.path().join("traj_profile.yaml");
    let text = std::fs::read_to_string(&sim).unwrap().replace(
        "command_interface: position_array",
        "command_interface: joint_trajectory",
    );
    std::fs::write(&traj, text).unwrap();
    let (r, _) = import(&traj, "run_trajectory");
    assert_eq!(r["actions_from_joint_states"], 0, "{r}");
    assert_eq!(r["actions_from_commands"], r["transitions"], "{r}");
    assert_eq!(r["unused_command_topics"], serde_json::json!([]), "{r}");
}

#[test]
fn bad_input_errors_and_skip_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let bag = tmp.path().join("bag");
    make_bag(
        &bag,
        &[
            "--compression",
            "storage",
            "--episodes",
            "2",
            "--steps",
            "100",
        ],
    );
    let run = tmp.path().join("run");
    let run_s = run.to_str().unwrap();
    let bag_s = bag.to_str().unwrap();

    // `mbarl demo import BAG --role forward --run-dir RUN <extra> --no-progress`
    let import = |extra: &[&str]| {
        let base = [
            "demo",
            "import",
            bag_s,
            "--role",
            "forward",
            "--run-dir",
            run_s,
        ];
        mbarl(&[&base[..], extra, &["--no-progress"]].concat())
    };
    let e = failed(&import(&["--camera-topic", "/camera/color/image_raw"]));
    assert!(
        e.contains("topic /camera/color/image_raw is not in the bag")
            && e.contains("/camera/image_raw (sensor_msgs/msg/Image)")
            && e.contains("/joint_states"),
        "{e}"
    );
    // A reward topic asked for but not recorded is an error, not demos without rewards.
    let e = failed(&import(&["--reward-topic", "/task_reward"]));
    assert!(e.contains("topic /task_reward is not in the bag"), "{e}");
    let e = failed(&import(&["--reward-topic", "/joint_states"]));
    assert!(e.contains("std_msgs/msg/Float64"), "{e}");
    let e = failed(&import(&["--camera-topic", "/sim/reset_count"]));
    assert!(
        e.contains("unknown message type std_msgs/msg/UInt64 on topic /sim/reset_count"),
        "{e}"
    );
    assert!(
        !run.join("demos/forward/bag").exists(),
        "no half-written dataset"
    );

    // Cut the file in the middle of its second chunk.
    let file = bag.join("bag.mcap");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let e = failed(&import(&[]));
    assert!(
        e.contains("truncated bag file")
            && e.contains("bag.mcap")
            && e.contains("at offset")
            && e.contains("/camera/image_raw"),
        "{e}"
    );
    let out = import(&["--skip-corrupt", "--json"]);
    let r = ok_json(&out);
    let n = r["transitions"].as_u64().unwrap();
    assert!(n > 50 && n < 198, "{r}");
    assert_eq!(r["skipped"].as_array().unwrap().len(), 1, "{r}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skipped") && stderr.contains("truncated"),
        "{stderr}"
    );
}

#[test]
fn inspect_bag_and_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let bag = tmp.path().join("bag");
    make_bag(&bag, &["--episodes", "2", "--steps", "20", "--gap", "2.0"]);
    let sheet = tmp.path().join("sheet.png");
    let r = ok_json(&mbarl(&[
        "demo",
        "inspect",
        bag.to_str().unwrap(),
        "--json",
        "--sheet",
        sheet.to_str().unwrap(),
        "--frames",
        "9",
    ]));
    let topics = r["topics"].as_array().unwrap();
    let cam = topics
        .iter()
        .find(|t| t["name"] == "/camera/image_raw")
        .unwrap();
    assert_eq!(cam["count"], 40);
    assert!(
        (cam["rate_hz"].as_f64().unwrap() - 40.0 / (19.0 * 0.05 * 2.0 + 2.0)).abs() < 5.0,
        "{cam}"
    );
    assert_eq!(cam["gaps"], 1, "one gap between the episodes: {cam}");
    assert!(cam["max_gap_s"].as_f64().unwrap() > 1.9);
    let reset = topics
        .iter()
        .find(|t| t["name"] == "/sim/reset_count")
        .unwrap();
    assert_eq!(reset["decodable"], false);
    assert!(r["duration_s"].as_f64().unwrap() > 3.0);
    assert_eq!(r["sheet_frames"], 9);
    let png = std::fs::read(&sheet).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let run = tmp.path().join("run");
    ok_json(&mbarl(&[
        "demo",
        "import",
        bag.to_str().unwrap(),
        "--role",
        "forward",
        "--run-dir",
        run.to_str().unwrap(),
        "--json",
        "--no-progress",
    ]));
    let ds = run.join("demos/forward/bag");
    let r = ok_json(&mbarl(&[
        "demo",
        "inspect",
        ds.to_str().unwrap(),
        "--json",
        "--frames",
        "4",
    ]));
    assert_eq!(r["dataset"]["transitions_read"], 38);
    assert_eq!(r["dataset"]["episodes_read"], 2);
    assert_eq!(r["dataset"]["role"], "forward");
    assert!(run.join("demos/forward/bag_contact_sheet.png").exists());
    // The text report names topics, rates and the sheet.
    let out = mbarl(&["demo", "inspect", bag.to_str().unwrap(), "--frames", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("/joint_states")
            && text.contains("rate Hz")
            && text.contains("unknown to mbarl"),
        "{text}"
    );
}
