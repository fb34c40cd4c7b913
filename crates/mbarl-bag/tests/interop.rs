//! mbarl-bag against the independent PyPI `rosbags` library: bags rosbags writes (MCAP and
//! sqlite3, compressed, split, older metadata versions) read with identical content; bags
//! mbarl writes open in rosbags with identical content and QoS.

mod common;

use std::path::Path;

use common::*;
use mbarl_bag::{Bag, BagError, BagWriter, Compression, QosProfile, ReadOptions, WriterOptions};
use mbarl_msgs::builtin_interfaces::{Duration, Time};
use mbarl_msgs::msg::{Observation, Phase, Transition};
use mbarl_msgs::sensor_msgs::{CameraInfo, CompressedImage, Image, JointState};
use mbarl_msgs::std_msgs::{
    Float64MultiArray, Header, MultiArrayDimension, MultiArrayLayout, String as StringMsg,
};
use mbarl_msgs::trajectory_msgs::{JointTrajectory, JointTrajectoryPoint};
use serde_json::{Value, json};

/// Reads a bag with mbarl: (topic, type, timestamp, msg or null for unknown types).
fn mbarl_messages(bag: &Path) -> Vec<Value> {
    let bag = Bag::open(bag).expect("open bag");
    let mut out = Vec::new();
    for m in bag.messages(ReadOptions::default()) {
        let m = m.expect("read message");
        let msg = match m.to_json() {
            Ok(v) => v,
            Err(BagError::UnknownType { type_name, .. }) => {
                assert_eq!(type_name, "std_msgs/msg/UInt64");
                Value::Null
            }
            Err(e) => panic!("{e}"),
        };
        out.push(json!({"topic": m.topic.name, "type": m.topic.type_name, "timestamp": m.log_time, "msg": msg}));
    }
    out
}

fn sort_key(v: &Value) -> (u64, String) {
    (
        v["timestamp"].as_u64().unwrap_or(0),
        v["topic"].as_str().unwrap_or("").to_string(),
    )
}

fn compare_with_rosbags(bag: &Path) -> usize {
    let mut ours = mbarl_messages(bag);
    let mut theirs = rosbags_messages(bag);
    ours.sort_by_key(sort_key);
    theirs.sort_by_key(sort_key);
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{}: message counts",
        bag.display()
    );
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a["topic"], b["topic"], "message {i}");
        assert_eq!(a["type"], b["type"], "message {i}");
        assert_eq!(a["timestamp"], b["timestamp"], "message {i}");
        if a["msg"].is_null() {
            continue; // a type mbarl does not decode (std_msgs/UInt64): compared as raw below
        }
        assert_json_eq(
            &a["msg"],
            &b["msg"],
            &format!("{} message {i} ({})", bag.display(), a["topic"]),
        );
    }
    ours.len()
}

#[test]
fn reads_rosbags_bags_with_identical_content() {
    let tmp = tempfile::tempdir().unwrap();
    let variants: &[(&str, &[&str])] = &[
        ("mcap", &["--storage", "mcap"]),
        (
            "mcap_zstd_chunks",
            &["--storage", "mcap", "--compression", "storage"],
        ),
        (
            "mcap_zstd_messages",
            &["--storage", "mcap", "--compression", "message"],
        ),
        (
            "mcap_zstd_file",
            &["--storage", "mcap", "--compression", "file"],
        ),
        ("mcap_v8", &["--storage", "mcap", "--version", "8"]),
        (
            "mcap_split_v6",
            &[
                "--storage",
                "mcap",
                "--split",
                "--meta-version",
                "6",
                "--episodes",
                "3",
            ],
        ),
        ("sqlite3", &["--storage", "sqlite3", "--markers"]),
        (
            "sqlite3_zstd_file",
            &["--storage", "sqlite3", "--compression", "file"],
        ),
        (
            "sqlite3_split_v5",
            &["--storage", "sqlite3", "--split", "--meta-version", "5"],
        ),
        (
            "sqlite3_v7",
            &["--storage", "sqlite3", "--meta-version", "7"],
        ),
    ];
    for (name, args) in variants {
        let dir = tmp.path().join(name);
        let summary = make_bag(&dir, args);
        let n = compare_with_rosbags(&dir);
        let expected: u64 = summary["counts"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(n as u64, expected, "{name}");
        let bag = Bag::open(&dir).unwrap();
        let md = bag.metadata().expect("metadata.yaml");
        let image = bag.topic("/camera/image_raw").unwrap();
        assert_eq!(image.type_name, "sensor_msgs/msg/Image", "{name}");
        assert_eq!(image.offered_qos_profiles.len(), 1, "{name}");
        assert_eq!(
            image.offered_qos_profiles[0].reliability, "reliable",
            "{name}"
        );
        assert_eq!(
            image.message_count,
            summary["counts"]["/camera/image_raw"].as_u64(),
            "{name}"
        );
        if name.contains("split") {
            assert_eq!(bag.files().len(), 2, "{name}");
        }
        if let Some(v) = args.iter().position(|a| *a == "--meta-version") {
            assert_eq!(md.version.to_string(), args[v + 1], "{name}");
        }
        // Typed decoding of the standard types.
        let mut images = 0;
        for m in bag.messages(ReadOptions {
            topics: Some(vec!["/camera/image_raw".into(), "/joint_states".into()]),
            ..Default::default()
        }) {
            let m = m.unwrap();
            if m.topic.name == "/camera/image_raw" {
                let img: Image = m.decode().unwrap();
                assert_eq!(
                    (img.width, img.height, img.encoding.as_str(), img.data.len()),
                    (64, 64, "rgb8", 64 * 64 * 3)
                );
                assert_eq!(
                    m.header_stamp(),
                    Some(
                        img.header.stamp.sec as i64 * 1_000_000_000
                            + img.header.stamp.nanosec as i64
                    )
                );
                images += 1;
                let e = m.decode::<JointState>().unwrap_err();
                assert!(matches!(e, BagError::WrongType { .. }), "{e}");
            } else {
                let js: JointState = m.decode().unwrap();
                assert_eq!(js.name.len(), 4);
            }
        }
        assert_eq!(
            images as u64,
            summary["counts"]["/camera/image_raw"].as_u64().unwrap(),
            "{name}"
        );
    }
}

fn header(sec: i32, frame: &str) -> Header {
    Header {
        stamp: Time { sec, nanosec: 250 },
        frame_id: frame.into(),
    }
}

fn observation(i: u32) -> Observation {
    Observation {
        header: header(i as i32, "camera_optical_frame"),
        seq: i as u64,
        latent: vec![0.5, -1.25],
        encoder_version: 3,
        joint_names: vec!["joint1".into(), "joint2".into()],
        joint_position: vec![0.1 * i as f64, -0.2],
        joint_velocity: vec![0.0, 1.5],
        joint_command: vec![0.05, -0.25],
        state: vec![0.125, 1e-3],
        frame_width: 4,
        frame_height: 4,
        frame: (0..48).map(|x| (x * 5 + i) as u8).collect(),
    }
}

#[test]
fn rosbags_reads_mbarl_bags_with_identical_content() {
    let tmp = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Zstd, Compression::Lz4] {
        let dir = tmp.path().join(format!("{compression:?}"));
        let mut w = BagWriter::create(
            &dir,
            WriterOptions {
                compression,
                chunk_size: 16 * 1024,
                ..Default::default()
            },
        )
        .unwrap();
        let sensor = [QosProfile::new(false, false, 5)];
        let reliable = [QosProfile::new(true, false, 10)];
        let latched = [QosProfile::new(true, true, 1)];
        let t_img = w.add_topic::<Image>("/camera/image_raw", &sensor).unwrap();
        let t_cimg = w
            .add_topic::<CompressedImage>("/camera/image_raw/compressed", &sensor)
            .unwrap();
        let t_info = w
            .add_topic::<CameraInfo>("/camera/camera_info", &sensor)
            .unwrap();
        let t_js = w
            .add_topic::<JointState>("/joint_states", &reliable)
            .unwrap();
        let t_cmd = w
            .add_topic::<Float64MultiArray>("/arm_controller/commands", &reliable)
            .unwrap();
        let t_traj = w
            .add_topic::<JointTrajectory>("/arm_controller/joint_trajectory", &reliable)
            .unwrap();
        let t_str = w
            .add_topic::<StringMsg>("/mbarl/episode", &reliable)
            .unwrap();
        let t_phase = w.add_topic::<Phase>("/mbarl/phase", &latched).unwrap();
        let t_tr = w
            .add_topic::<Transition>("/mbarl/demo/transitions", &reliable)
            .unwrap();
        let mut expected: Vec<(String, u64, Value)> = Vec::new();
        macro_rules! put {
            ($t:expr, $topic:expr, $ns:expr, $msg:expr) => {{
                let msg = $msg;
                w.write($t, $ns, &msg).unwrap();
                expected.push(($topic.to_string(), $ns, serde_json::to_value(&msg).unwrap()));
            }};
        }
        for i in 0..30u32 {
            let ns = 1_000_000_000 + i as u64 * 50_000_000;
            put!(
                t_img,
                "/camera/image_raw",
                ns,
                Image {
                    header: header(i as i32, "cam"),
                    height: 64,
                    width: 64,
                    encoding: "rgb8".into(),
                    is_bigendian: 0,
                    step: 192,
                    data: (0..64 * 64 * 3)
                        .map(|x| ((x * 7 + i as usize * 13) & 0xff) as u8)
                        .collect(),
                }
            );
            put!(
                t_cimg,
                "/camera/image_raw/compressed",
                ns + 1,
                CompressedImage {
                    header: header(i as i32, "cam"),
                    format: "jpeg".into(),
                    data: vec![0xff, 0xd8, i as u8, 0xff, 0xd9]
                }
            );
            put!(
                t_info,
                "/camera/camera_info",
                ns + 2,
                CameraInfo {
                    header: header(i as i32, "cam"),
                    height: 64,
                    width: 64,
                    distortion_model: "plumb_bob".into(),
                    d: vec![0.0; 5],
                    k: [50.0, 0.0, 32.0, 0.0, 50.0, 32.0, 0.0, 0.0, 1.0],
                    p: [1.5; 12],
                    binning_x: 1,
                    ..Default::default()
                }
            );
            put!(
                t_js,
                "/joint_states",
                ns + 3,
                JointState {
                    header: header(i as i32, "base"),
                    name: vec!["joint1".into(), "joint2".into()],
                    position: vec![0.1 * i as f64, 1.0 / 3.0],
                    velocity: vec![-0.5, 0.25],
                    effort: vec![],
                }
            );
            put!(
                t_cmd,
                "/arm_controller/commands",
                ns + 4,
                Float64MultiArray {
                    layout: MultiArrayLayout {
                        dim: vec![MultiArrayDimension {
                            label: "joints".into(),
                            size: 2,
                            stride: 2
                        }],
                        data_offset: 0
                    },
                    data: vec![0.1 * i as f64, std::f64::consts::PI],
                }
            );
            if i % 10 == 0 {
                put!(
                    t_traj,
                    "/arm_controller/joint_trajectory",
                    ns + 5,
                    JointTrajectory {
                        header: header(i as i32, ""),
                        joint_names: vec!["joint1".into()],
                        points: vec![JointTrajectoryPoint {
                            positions: vec![0.5],
                            velocities: vec![],
                            accelerations: vec![],
                            effort: vec![],
                            time_from_start: Duration { sec: 1, nanosec: 5 }
                        }],
                    }
                );
                put!(
                    t_str,
                    "/mbarl/episode",
                    ns + 6,
                    StringMsg {
                        data: format!("episode {i} ünïcode")
                    }
                );
                put!(
                    t_phase,
                    "/mbarl/phase",
                    ns + 7,
                    Phase {
                        header: header(i as i32, ""),
                        phase: Phase::BACKWARD,
                        cycle: i,
                        phase_step: 7,
                        total_steps: 9,
                        reason: "goal".into()
                    }
                );
            }
            put!(
                t_tr,
                "/mbarl/demo/transitions",
                ns + 8,
                Transition {
                    header: header(i as i32, ""),
                    step: i as u64,
                    phase: Phase::FORWARD,
                    cycle: 1,
                    observation: observation(i),
                    action: vec![0.25, -1.0, 0.1],
                    commanded_position: vec![0.3, 0.4],
                    clamped: i % 2 == 0,
                    task_reward: -0.5,
                    has_task_reward: true,
                    next_observation: observation(i + 1),
                    phase_end: i == 29,
                }
            );
        }
        let md = w.finish().unwrap();
        assert_eq!(md.message_count as usize, expected.len());
        // rosbags sees the same messages...
        let theirs = rosbags_messages(&dir);
        assert_eq!(theirs.len(), expected.len(), "{compression:?}");
        for (i, ((topic, ns, msg), b)) in expected.iter().zip(&theirs).enumerate() {
            assert_eq!(b["topic"], json!(topic), "{compression:?} message {i}");
            assert_eq!(b["timestamp"], json!(ns), "{compression:?} message {i}");
            assert_json_eq(
                msg,
                &b["msg"],
                &format!("{compression:?} message {i} on {topic}"),
            );
        }
        // ...the same QoS as metadata.yaml, and our full ros2msg definitions.
        let topics = rosbags_topics(&dir);
        assert_eq!(
            topics["/camera/image_raw"]["qos"][0]["reliability"],
            "best_effort"
        );
        assert_eq!(
            topics["/mbarl/phase"]["qos"][0]["durability"],
            "transient_local"
        );
        assert_eq!(
            topics["/mbarl/demo/transitions"]["type"],
            "mbarl_msgs/msg/Transition"
        );
        assert_eq!(topics["/mbarl/demo/transitions"]["count"], 30);
        assert_eq!(topics["/mbarl/demo/transitions"]["msgdef_format"], "MSG");
        // mbarl reads its own bag back identically too.
        let ours = mbarl_messages(&dir);
        for (i, ((_, _, msg), a)) in expected.iter().zip(&ours).enumerate() {
            assert_json_eq(msg, &a["msg"], &format!("own read {i}"));
        }
        let bag = Bag::open(&dir).unwrap();
        let t = bag.topic("/mbarl/phase").unwrap();
        assert_eq!(t.offered_qos_profiles, latched.to_vec());
        assert!(
            t.definition
                .as_deref()
                .unwrap_or("")
                .contains("MSG: std_msgs/Header")
        );
    }
}

#[test]
fn unknown_types_are_written_without_schema_and_read_by_type_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bag");
    let mut w = BagWriter::create(&dir, WriterOptions::default()).unwrap();
    // std_msgs/UInt64 is not an mbarl type: record its bytes as received, no definition.
    let t = w
        .add_topic_raw(
            "/sim/reset_count",
            "std_msgs/msg/UInt64",
            "",
            &[QosProfile::new(true, true, 1)],
        )
        .unwrap();
    for i in 0..3u64 {
        let mut data = vec![0, 1, 0, 0];
        data.extend_from_slice(&(i + 7).to_le_bytes());
        w.write_raw(t, 1_000 + i, 1_000 + i, &data).unwrap();
    }
    w.finish().unwrap();
    let theirs = rosbags_messages(&dir);
    let values: Vec<u64> = theirs
        .iter()
        .map(|m| m["msg"]["data"].as_u64().unwrap())
        .collect();
    assert_eq!(values, [7, 8, 9]);
    let bag = Bag::open(&dir).unwrap();
    assert_eq!(
        bag.topic("/sim/reset_count").unwrap().type_name,
        "std_msgs/msg/UInt64"
    );
    let m = bag
        .messages(ReadOptions::default())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(m.topic.type_name, "std_msgs/msg/UInt64");
    assert!(matches!(m.to_json(), Err(BagError::UnknownType { .. })));
}
