//! The `mbarl` binary as a ROS 2 user runs it: ROS_DOMAIN_ID from the environment, `--ros-args`
//! remapping and namespaces seen by a stock rclpy node, and clear start-up errors.

use std::process::{Command, Stdio};

use mbarl_testkit::Peer;

#[test]
fn talker_honours_domain_id_namespace_and_remap_seen_from_rclpy() {
    let domain = mbarl_testkit::domain(71);
    let mut listener = Peer::start(domain, &["sub", "/demo_ns/talk", "std_msgs/String", "3"]);
    listener.expect("ready");
    let mut talker = Command::new(env!("CARGO_BIN_EXE_mbarl"))
        .args([
            "example",
            "talker",
            "--count",
            "200",
            "--ros-args",
            "-r",
            "__ns:=/demo_ns",
            "-r",
            "chatter:=talk",
        ])
        .args(["-p", "rate_hz:=50.0"])
        .env("ROS_DOMAIN_ID", domain.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("start mbarl example talker");
    let first = listener.expect("msg");
    assert!(
        first["data"]
            .as_str()
            .unwrap_or("")
            .starts_with("hello from mbarl"),
        "{first}"
    );
    listener.expect("msg");
    listener.expect("msg");
    listener.finish();
    let _ = talker.kill();
    let _ = talker.wait();
}

#[test]
fn wrong_parameter_type_stops_the_node_with_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("mbarl-example-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("talker.yaml");
    std::fs::write(
        &file,
        "mbarl_example_talker:\n  ros__parameters:\n    rate_hz: [1, 2]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mbarl"))
        .args([
            "example",
            "talker",
            "--ros-args",
            "--params-file",
            file.to_str().unwrap(),
        ])
        .env("ROS_DOMAIN_ID", mbarl_testkit::domain(72).to_string())
        .output()
        .expect("run mbarl");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rate_hz") && stderr.contains("talker.yaml") && stderr.contains("double"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mbarl"))
        .args(["example", "talker", "--count", "1"])
        .env("ROS_DOMAIN_ID", "not-a-number")
        .output()
        .expect("run mbarl");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ROS_DOMAIN_ID"));
    let _ = std::fs::remove_dir_all(dir);
}
