//! Byte-exact compatibility with real ROS 2: `tests/ros_serialize.py` serializes messages with
//! rclpy (rmw_fastrtps); this test builds the same messages in Rust and compares `cdr::encode`
//! with those bytes, then decodes the ROS bytes back.
//!
//! Needs the ROS 2 venv (`scripts/setup.sh`); its interpreter is `$MBARL_ROS_PYTHON`, by default
//! `$HOME/.cache/mbarl/venv-ros/bin/python`. Without it the test fails (it never skips).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use mbarl_msgs::builtin_interfaces::{Duration, Time};
use mbarl_msgs::geometry_msgs::{
    Point, Pose, PoseStamped, Quaternion, Twist, TwistStamped, Vector3,
};
use mbarl_msgs::rosgraph_msgs::Clock;
use mbarl_msgs::sensor_msgs::{CameraInfo, CompressedImage, Image, JointState, RegionOfInterest};
use mbarl_msgs::std_msgs::{
    self, Bool, Empty, Float64, Float64MultiArray, Header, MultiArrayDimension, MultiArrayLayout,
};
use mbarl_msgs::std_srvs::{
    EmptyRequest, SetBoolRequest, SetBoolResponse, TriggerRequest, TriggerResponse,
};
use mbarl_msgs::trajectory_msgs::{JointTrajectory, JointTrajectoryPoint};
use mbarl_msgs::{RosMessage, cdr};

/// The types the brief requires to be checked against ROS 2 (more are checked when present).
const REQUIRED: &[&str] = &[
    "std_msgs/msg/String",
    "std_msgs/msg/Header",
    "std_msgs/msg/Float64MultiArray",
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/JointState",
    "sensor_msgs/msg/CameraInfo",
    "sensor_msgs/msg/CompressedImage",
    "trajectory_msgs/msg/JointTrajectory",
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/TwistStamped",
    "std_srvs/srv/Trigger_Request",
    "std_srvs/srv/Trigger_Response",
];

fn ros_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MBARL_ROS_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").expect("HOME is not set");
    PathBuf::from(home).join(".cache/mbarl/venv-ros/bin/python")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn header() -> Header {
    Header {
        stamp: Time::new(1_700_000_000, 123_456_789),
        frame_id: "camera_optical".into(),
    }
}

/// Compares our encoding of `expected` with ROS's bytes: `raw` is what rclpy returned,
/// `content` the header and message bytes from it with alignment padding zeroed.
fn check<M: RosMessage>(name: &str, expected: M, raw: &[u8], content: &[u8]) {
    assert_eq!(M::type_name(), name, "type name");
    let ours = cdr::encode(&expected);
    assert!(
        ours.len() >= content.len() && ours[..content.len()] == *content,
        "{name}: encoding differs from ROS 2\n ours: {ours:02x?}\n ROS:  {content:02x?}"
    );
    let tail = &ours[content.len()..];
    assert!(
        tail.len() < 4 && tail.iter().all(|&b| b == 0),
        "{name}: unexpected bytes after the message: {tail:02x?}"
    );
    if cdr::is_fixed_size(&expected) {
        // rmw_fastrtps rounds fixed-size ("plain") messages up to a multiple of 4.
        assert_eq!(
            ours.len(),
            raw.len(),
            "{name}: length of a fixed-size message"
        );
    } else {
        assert_eq!(ours.len(), content.len(), "{name}: length");
    }
    assert!(
        raw.len() >= ours.len(),
        "{name}: ROS wrote fewer bytes than we do"
    );
    let decoded: M = cdr::decode(raw).unwrap_or_else(|e| panic!("{name}: decoding ROS bytes: {e}"));
    assert_eq!(decoded, expected, "{name}: decoded ROS bytes");
    let decoded: M = cdr::decode(content).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded, expected, "{name}: decoded content");
}

fn check_case(name: &str, raw: &[u8], content: &[u8]) {
    match name {
        "std_msgs/msg/String" => check(
            name,
            std_msgs::String {
                data: "hello, ROS 2 \u{2713}".into(),
            },
            raw,
            content,
        ),
        "std_msgs/msg/Header" => check(name, header(), raw, content),
        "std_msgs/msg/Bool" => check(name, Bool { data: true }, raw, content),
        "std_msgs/msg/Empty" => check(name, Empty::default(), raw, content),
        "std_msgs/msg/Float64" => check(name, Float64 { data: -2.5 }, raw, content),
        "std_msgs/msg/Float64MultiArray" => check(
            name,
            Float64MultiArray {
                layout: MultiArrayLayout {
                    dim: vec![
                        MultiArrayDimension {
                            label: "rows".into(),
                            size: 2,
                            stride: 6,
                        },
                        MultiArrayDimension {
                            label: "cols".into(),
                            size: 3,
                            stride: 3,
                        },
                    ],
                    data_offset: 1,
                },
                data: vec![1.5, -2.25, 3.0e10, 0.0, 1e-300, -7.0],
            },
            raw,
            content,
        ),
        "builtin_interfaces/msg/Time" => check(name, Time::new(-2, 300_000_000), raw, content),
        "builtin_interfaces/msg/Duration" => check(name, Duration::new(5, 1), raw, content),
        "rosgraph_msgs/msg/Clock" => check(
            name,
            Clock {
                clock: Time::new(42, 7),
            },
            raw,
            content,
        ),
        "sensor_msgs/msg/Image" => check(
            name,
            Image {
                header: header(),
                height: 2,
                width: 3,
                encoding: "rgb8".into(),
                is_bigendian: 0,
                step: 9,
                data: (0..18).collect(),
            },
            raw,
            content,
        ),
        "sensor_msgs/msg/CompressedImage" => check(
            name,
            CompressedImage {
                header: header(),
                format: "jpeg".into(),
                data: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\xff\xd9".to_vec(),
            },
            raw,
            content,
        ),
        "sensor_msgs/msg/JointState" => check(
            name,
            JointState {
                header: header(),
                name: vec!["shoulder".into(), "elbow".into(), "wrist".into()],
                position: vec![0.1, -0.2, 0.3],
                velocity: vec![],
                effort: vec![1.0],
            },
            raw,
            content,
        ),
        "sensor_msgs/msg/CameraInfo" => check(
            name,
            CameraInfo {
                header: header(),
                height: 480,
                width: 640,
                distortion_model: "plumb_bob".into(),
                d: vec![0.1, -0.05, 0.0, 0.0, 0.001],
                k: [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0],
                r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                p: [
                    525.0, 0.0, 319.5, 0.0, 0.0, 525.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0,
                ],
                binning_x: 1,
                binning_y: 2,
                roi: RegionOfInterest {
                    x_offset: 10,
                    y_offset: 20,
                    height: 100,
                    width: 200,
                    do_rectify: true,
                },
            },
            raw,
            content,
        ),
        "sensor_msgs/msg/RegionOfInterest" => check(
            name,
            RegionOfInterest {
                x_offset: 1,
                y_offset: 2,
                height: 3,
                width: 4,
                do_rectify: true,
            },
            raw,
            content,
        ),
        "trajectory_msgs/msg/JointTrajectory" => check(
            name,
            JointTrajectory {
                header: header(),
                joint_names: vec!["a".into(), "b".into()],
                points: vec![
                    JointTrajectoryPoint {
                        positions: vec![0.5, -0.5],
                        velocities: vec![0.1, 0.2],
                        accelerations: vec![],
                        effort: vec![],
                        time_from_start: Duration::new(1, 500_000_000),
                    },
                    JointTrajectoryPoint {
                        positions: vec![1.0, -1.0],
                        time_from_start: Duration::new(3, 0),
                        ..Default::default()
                    },
                ],
            },
            raw,
            content,
        ),
        "geometry_msgs/msg/PoseStamped" => check(
            name,
            PoseStamped {
                header: header(),
                pose: Pose {
                    position: Point {
                        x: 0.4,
                        y: -0.1,
                        z: 0.35,
                    },
                    orientation: Quaternion {
                        x: 1.0,
                        y: 0.0,
                        z: 0.0,
                        w: 0.0,
                    },
                },
            },
            raw,
            content,
        ),
        "geometry_msgs/msg/TwistStamped" => check(
            name,
            TwistStamped {
                header: header(),
                twist: Twist {
                    linear: Vector3 {
                        x: 0.1,
                        y: -0.2,
                        z: 0.0,
                    },
                    angular: Vector3 {
                        x: 0.0,
                        y: 0.0,
                        z: 0.5,
                    },
                },
            },
            raw,
            content,
        ),
        // ROS's default orientation is the identity (w = 1), and so is ours
        "geometry_msgs/msg/Quaternion" => check(name, Quaternion::default(), raw, content),
        "std_srvs/srv/Trigger_Request" => check(name, TriggerRequest::default(), raw, content),
        "std_srvs/srv/Trigger_Response" => check(
            name,
            TriggerResponse {
                success: true,
                message: "done".into(),
            },
            raw,
            content,
        ),
        "std_srvs/srv/SetBool_Request" => check(name, SetBoolRequest { data: true }, raw, content),
        "std_srvs/srv/SetBool_Response" => check(
            name,
            SetBoolResponse {
                success: false,
                message: "refused".into(),
            },
            raw,
            content,
        ),
        "std_srvs/srv/Empty_Request" => check(name, EmptyRequest::default(), raw, content),
        other => panic!("ros_serialize.py printed {other}, which this test does not build"),
    }
}

#[test]
fn encoding_matches_rclpy_byte_for_byte() {
    let python = ros_python();
    assert!(
        python.exists(),
        "the ROS 2 Python interpreter {} is missing: run scripts/setup.sh (or set MBARL_ROS_PYTHON)",
        python.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ros_serialize.py");
    let out = Command::new(&python)
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e} (run scripts/setup.sh)", python.display()));
    assert!(
        out.status.success(),
        "{} {} failed ({}); run scripts/setup.sh if rclpy is missing:\n{}",
        python.display(),
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut seen = BTreeSet::new();
    for line in stdout.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [name, raw, content] = parts[..] else {
            panic!("unexpected line from ros_serialize.py: {line:?}");
        };
        check_case(name, &unhex(raw), &unhex(content));
        assert!(seen.insert(name.to_string()), "{name} printed twice");
    }
    for name in REQUIRED {
        assert!(
            seen.contains(*name),
            "ros_serialize.py did not print {name}"
        );
    }
}
