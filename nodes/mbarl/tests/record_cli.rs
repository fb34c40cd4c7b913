//! `mbarl record` end to end against a stock rclpy publisher; the bag is read by `rosbags`.

#[path = "../../../crates/mbarl-bag/tests/common/mod.rs"]
mod bagpy;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mbarl_bag::{Bag, ReadOptions};
use mbarl_msgs::sensor_msgs::JointState;
use mbarl_testkit::{Peer, test_image_data};
use serde_json::Value;

struct Recorder {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Recorder {
    fn start(domain: u16, args: &[&str]) -> Recorder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mbarl"))
            .arg("record")
            .args(args)
            .env("ROS_DOMAIN_ID", domain.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mbarl record");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("record: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Recorder { child, lines: rx }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for exit; returns (success, stderr lines).
    fn wait(mut self, timeout: Duration) -> (bool, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "mbarl record did not exit");
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        (status.success(), self.lines.try_iter().collect())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn records_rclpy_topics_until_ctrl_c_and_rosbags_reads_the_bag() {
    let domain = mbarl_testkit::domain(83);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rec");
    let rec = Recorder::start(
        domain,
        &[
            "/joint_states",
            "/camera/image_raw",
            "-o",
            out.to_str().unwrap(),
            "--progress-lines",
            "--flush-interval",
            "0.2",
        ],
    );
    let mut js = Peer::start(
        domain,
        &["pub", "/joint_states", "sensor_msgs/JointState", "30"],
    );
    let mut img = Peer::start(
        domain,
        &["pub", "/camera/image_raw", "sensor_msgs/Image", "10"],
    );
    js.expect("matched");
    img.expect("matched");
    js.send_line("go");
    img.send_line("go");
    let sent: Vec<Value> = (0..30).map(|_| js.expect("sent")).collect();
    for _ in 0..10 {
        img.expect("sent");
    }
    js.finish();
    img.finish();
    rec.signal("-INT");
    let (ok, lines) = rec.wait(Duration::from_secs(20));
    assert!(ok, "{lines:?}");
    let text = lines.join("\n");
    assert!(
        text.contains("interrupted (Ctrl-C)") && text.contains("wrote 40 messages"),
        "{text}"
    );
    assert!(
        text.contains("/joint_states 30 msg") && text.contains("MB"),
        "progress line: {text}"
    );

    let msgs = bagpy::rosbags_messages(&out);
    let jss: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["topic"] == "/joint_states")
        .collect();
    let imgs: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["topic"] == "/camera/image_raw")
        .collect();
    assert_eq!((jss.len(), imgs.len()), (30, 10));
    for (m, s) in jss.iter().zip(&sent) {
        let msg = &m["msg"];
        assert_eq!(msg["header"]["stamp"]["sec"], s["stamp"][0]);
        assert_eq!(msg["header"]["frame_id"], s["frame_id"]);
        assert_eq!(msg["name"], s["name"]);
        bagpy::assert_json_eq(&msg["position"], &s["position"], "position");
        bagpy::assert_json_eq(&msg["velocity"], &s["velocity"], "velocity");
    }
    for (i, m) in imgs.iter().enumerate() {
        let msg = &m["msg"];
        assert_eq!(
            (
                msg["width"].as_u64(),
                msg["height"].as_u64(),
                msg["encoding"].as_str()
            ),
            (Some(64), Some(64), Some("rgb8"))
        );
        let data: Vec<u8> = msg["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        assert!(data == test_image_data(i as u32, 64, 64), "image {i}");
    }
    let topics = bagpy::rosbags_topics(&out);
    assert_eq!(
        topics["/joint_states"]["type"],
        "sensor_msgs/msg/JointState"
    );
    assert_eq!(topics["/joint_states"]["qos"][0]["reliability"], "reliable");
    assert_eq!(topics["/camera/image_raw"]["msgdef_format"], "MSG");
}

#[test]
fn killed_recorder_leaves_a_bag_readable_up_to_its_last_chunk() {
    let domain = mbarl_testkit::domain(84);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rec");
    let rec = Recorder::start(
        domain,
        &[
            "/joint_states",
            "-o",
            out.to_str().unwrap(),
            "--flush-interval",
            "0.2",
        ],
    );
    let mut js = Peer::start(
        domain,
        &["pub", "/joint_states", "sensor_msgs/JointState", "400"],
    );
    js.expect("matched");
    js.send_line("go");
    for _ in 0..150 {
        js.expect("sent");
    }
    std::thread::sleep(Duration::from_millis(600));
    rec.signal("-KILL");
    let _ = rec.wait(Duration::from_secs(10));
    let bag = Bag::open(&out).expect("metadata.yaml and the MCAP are there");
    let mut msgs = bag.messages(ReadOptions {
        skip_corrupt: true,
        ..Default::default()
    });
    let mut n = 0;
    for m in msgs.by_ref() {
        let js: JointState = m.unwrap().decode().unwrap();
        assert_eq!(js.name.len(), 4);
        n += 1;
    }
    assert!(n >= 100, "{n} messages readable");
    assert!(msgs.skipped().len() <= 1);
}

#[test]
fn duration_limit_leaves_an_empty_readable_bag() {
    let domain = mbarl_testkit::domain(85);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rec");
    let t0 = Instant::now();
    let rec = Recorder::start(
        domain,
        &[
            "/nobody:std_msgs/msg/String",
            "-o",
            out.to_str().unwrap(),
            "--duration",
            "1.5",
        ],
    );
    let (ok, lines) = rec.wait(Duration::from_secs(20));
    assert!(ok, "{lines:?}");
    assert!(t0.elapsed() >= Duration::from_millis(1500));
    assert!(lines.join("\n").contains("duration reached"), "{lines:?}");
    let topics = bagpy::rosbags_topics(&out);
    assert_eq!(topics["/nobody"]["count"], 0);
    assert_eq!(topics["/nobody"]["type"], "std_msgs/msg/String");
}

#[test]
fn max_messages_stops_the_recording() {
    let domain = mbarl_testkit::domain(86);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rec");
    let rec = Recorder::start(
        domain,
        &[
            "/joint_states",
            "-o",
            out.to_str().unwrap(),
            "--max-messages",
            "5",
        ],
    );
    let mut js = Peer::start(
        domain,
        &["pub", "/joint_states", "sensor_msgs/JointState", "20"],
    );
    js.expect("matched");
    js.send_line("go");
    let (ok, lines) = rec.wait(Duration::from_secs(30));
    assert!(ok, "{lines:?}");
    assert!(
        lines.join("\n").contains("message count reached"),
        "{lines:?}"
    );
    assert_eq!(bagpy::rosbags_messages(&out).len(), 5);
}
