//! Interop with a real ROS 2 Jazzy node (rclpy + Fast DDS from PyPI): topics both ways,
//! services both ways, the graph API and the parameter services.
//! Each test runs in its own DDS domain so the tests can run in parallel.

use std::time::Duration;

use mbarl_msgs::builtin_interfaces::Time;
use mbarl_msgs::sensor_msgs::{Image, JointState};
use mbarl_msgs::std_msgs::{Header, String as StringMsg};
use mbarl_msgs::std_srvs::{Trigger, TriggerRequest, TriggerResponse};
use mbarl_ros::{NodeBuilder, ParamSpec, ParameterValue, Qos, RosArgs};
use mbarl_testkit::{Peer, TIMEOUT, domain, test_image_data};
use serde_json::json;
use sha2::{Digest, Sha256};

fn node(name: &str, domain: u16) -> mbarl_ros::RosNode {
    NodeBuilder::new(name)
        .domain_id(domain)
        .build()
        .expect("node")
}

fn header(sec: i32, frame: &str) -> Header {
    Header {
        stamp: Time { sec, nanosec: 500 },
        frame_id: frame.into(),
    }
}

fn joint_state(i: u32) -> JointState {
    JointState {
        header: header(100 + i as i32, "base_link"),
        name: (1..=4).map(|j| format!("joint{j}")).collect(),
        position: (0..4).map(|j| 0.1 * i as f64 + j as f64).collect(),
        velocity: (0..4).map(|j| -0.5 * j as f64).collect(),
        effort: vec![],
    }
}

fn image(i: u32, width: u32, height: u32) -> Image {
    Image {
        header: Header {
            stamp: Time {
                sec: i as i32,
                nanosec: 0,
            },
            frame_id: "camera_optical_frame".into(),
        },
        height,
        width,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: width * 3,
        data: test_image_data(i, width, height),
    }
}

async fn publish_to_peer<M: mbarl_msgs::RosMessage>(
    domain: u16,
    type_arg: &str,
    msgs: Vec<M>,
) -> Vec<serde_json::Value> {
    let mut peer = Peer::start(
        domain,
        &["sub", "/interop", type_arg, &msgs.len().to_string()],
    );
    peer.expect("ready");
    let node = node("rust_talker", domain);
    let publisher = node
        .publisher::<M>("/interop", Qos::Reliable { depth: 50 })
        .unwrap();
    assert!(
        publisher.wait_for_subscriptions(1, TIMEOUT).await,
        "rclpy subscriber never matched"
    );
    // Matching is seen on our side first; give the peer a moment to finish matching too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for m in &msgs {
        publisher.publish(m.clone()).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = (0..msgs.len()).map(|_| peer.expect("msg")).collect();
    peer.finish();
    got
}

async fn receive_from_peer<M: mbarl_msgs::RosMessage>(
    domain: u16,
    type_arg: &str,
    count: usize,
) -> Vec<M> {
    let node = node("rust_listener", domain);
    let sub = node
        .subscriber::<M>("/interop", Qos::Reliable { depth: 50 })
        .unwrap();
    let mut peer = Peer::start(domain, &["pub", "/interop", type_arg, &count.to_string()]);
    peer.expect("matched");
    assert!(
        sub.wait_for_publishers(1, TIMEOUT).await,
        "rclpy publisher never matched"
    );
    peer.send_line("go");
    let mut got = Vec::new();
    for _ in 0..count {
        got.push(sub.recv_timeout(TIMEOUT).await.expect("message from rclpy"));
    }
    assert_eq!(sub.dropped(), 0);
    peer.finish();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_rust_to_rclpy() {
    let msgs: Vec<_> = (0..3)
        .map(|i| StringMsg {
            data: format!("hello from rust {i}"),
        })
        .collect();
    let got = publish_to_peer(domain(41), "std_msgs/String", msgs).await;
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g["data"], format!("hello from rust {i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_rclpy_to_rust() {
    let got = receive_from_peer::<StringMsg>(domain(42), "std_msgs/String", 3).await;
    let data: Vec<_> = got.iter().map(|m| m.data.as_str()).collect();
    assert_eq!(
        data,
        [
            "hello from rclpy 0",
            "hello from rclpy 1",
            "hello from rclpy 2"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joint_state_rust_to_rclpy() {
    let got = publish_to_peer(
        43,
        "sensor_msgs/JointState",
        (0..3).map(joint_state).collect(),
    )
    .await;
    for (i, g) in got.iter().enumerate() {
        let m = joint_state(i as u32);
        assert_eq!(
            g["stamp"],
            json!([m.header.stamp.sec, m.header.stamp.nanosec])
        );
        assert_eq!(g["frame_id"], "base_link");
        assert_eq!(g["name"], json!(m.name));
        assert_eq!(g["position"], json!(m.position));
        assert_eq!(g["velocity"], json!(m.velocity));
        assert_eq!(g["effort"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joint_state_rclpy_to_rust() {
    let got = receive_from_peer::<JointState>(domain(44), "sensor_msgs/JointState", 3).await;
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m, &joint_state(i as u32));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_640x480_rust_to_rclpy_byte_exact() {
    let msgs: Vec<_> = (0..3).map(|i| image(i, 640, 480)).collect();
    let hashes: Vec<String> = msgs
        .iter()
        .map(|m| format!("{:x}", Sha256::digest(&m.data)))
        .collect();
    let got = publish_to_peer(domain(45), "sensor_msgs/Image640x480", msgs).await;
    for (i, g) in got.iter().enumerate() {
        assert_eq!(
            (
                g["width"].as_u64(),
                g["height"].as_u64(),
                g["step"].as_u64()
            ),
            (Some(640), Some(480), Some(1920))
        );
        assert_eq!(g["encoding"], "rgb8");
        assert_eq!(g["stamp"], json!([i, 0]));
        assert_eq!(g["sha256"], hashes[i], "image {i} differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_640x480_rclpy_to_rust_byte_exact() {
    let got = receive_from_peer::<Image>(domain(46), "sensor_msgs/Image640x480", 3).await;
    for (i, m) in got.iter().enumerate() {
        let want = image(i as u32, 640, 480);
        assert_eq!(
            (m.width, m.height, m.step, m.encoding.as_str()),
            (640, 480, 1920, "rgb8")
        );
        assert_eq!(m.header, want.header);
        assert!(m.data == want.data, "image {i}: pixel data differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_service_rclpy_calls_rust() {
    let domain = domain(47);
    let node = node("rust_server", domain);
    let server = node.service_server::<Trigger>("/rust_trigger").unwrap();
    let serving = tokio::spawn(async move {
        let (id, _req) = server.next_request().await.expect("a request");
        server
            .respond(
                id,
                TriggerResponse {
                    success: true,
                    message: "handled by Rust".into(),
                },
            )
            .await
            .unwrap();
        server
    });
    let mut peer = Peer::start(domain, &["trigger-call", "/rust_trigger"]);
    let response = peer.expect("response");
    assert_eq!(response["success"], true);
    assert_eq!(response["message"], "handled by Rust");
    peer.finish();
    serving.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_service_rust_calls_rclpy() {
    let domain = domain(48);
    let mut peer = Peer::start(domain, &["trigger-server", "/py_trigger"]);
    peer.expect("ready");
    let node = node("rust_client", domain);
    let client = node.service_client::<Trigger>("/py_trigger").unwrap();
    assert!(
        client.wait_for_service(TIMEOUT).await,
        "rclpy service not discovered"
    );
    let response = client
        .call(TriggerRequest::default(), TIMEOUT)
        .await
        .expect("response");
    assert!(response.success);
    assert_eq!(response.message, "rclpy handled call 1");
    peer.expect("call");
    peer.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclpy_graph_sees_rust_node_topics_and_services() {
    let domain = domain(49);
    let node = NodeBuilder::new("graph_probe")
        .namespace("/mbarl_test")
        .domain_id(domain)
        .build()
        .unwrap();
    let _pub = node
        .publisher::<StringMsg>("chatter", Qos::DEFAULT)
        .unwrap();
    let _sub = node
        .subscriber::<JointState>("/joint_states", Qos::SensorData)
        .unwrap();
    let _srv = node.service_server::<Trigger>("~/trigger").unwrap();
    let mut peer = Peer::start(domain, &["graph", "/mbarl_test/graph_probe"]);
    let g = peer.expect("graph");
    peer.finish();
    assert!(
        g["nodes"]
            .as_array()
            .unwrap()
            .contains(&json!("/mbarl_test/graph_probe")),
        "{g}"
    );
    assert_eq!(
        g["publishers"]["/mbarl_test/chatter"],
        json!(["std_msgs/msg/String"]),
        "{g}"
    );
    assert_eq!(
        g["subscribers"]["/joint_states"],
        json!(["sensor_msgs/msg/JointState"]),
        "{g}"
    );
    assert_eq!(
        g["services"]["/mbarl_test/graph_probe/trigger"],
        json!(["std_srvs/srv/Trigger"]),
        "{g}"
    );
    assert_eq!(
        g["services"]["/mbarl_test/graph_probe/set_parameters"],
        json!(["rcl_interfaces/srv/SetParameters"]),
        "{g}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclpy_parameter_client_lists_gets_sets() {
    let domain = domain(50);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("params.yaml");
    std::fs::write(&file, "/**:\n  ros__parameters:\n    robot: sim_arm\nparam_node:\n  ros__parameters:\n    gain: 1.5\n")
        .unwrap();
    let (_, args) = RosArgs::parse([
        "--ros-args",
        "--params-file",
        file.to_str().unwrap(),
        "-p",
        "rate_hz:=15.0",
    ])
    .unwrap();
    let node = NodeBuilder::new("param_node")
        .domain_id(domain)
        .ros_args(args)
        .param(ParamSpec::new("gain", 1.0, "a gain"))
        .param(ParamSpec::new("rate_hz", 20.0, "control rate"))
        .param(ParamSpec::required(
            "robot",
            mbarl_ros::ParamKind::String,
            "robot profile",
        ))
        .build()
        .unwrap();
    assert_eq!(node.param::<f64>("rate_hz").unwrap(), 15.0);
    assert_eq!(node.param::<String>("robot").unwrap(), "sim_arm");
    let mut changes = node.param_changes();

    let mut peer = Peer::start(domain, &["params", "/param_node", "gain", "2.5"]);
    let listed = peer.expect("list");
    for name in ["gain", "rate_hz", "robot", "use_sim_time"] {
        assert!(
            listed["names"].as_array().unwrap().contains(&json!(name)),
            "{listed}"
        );
    }
    assert_eq!(peer.expect("get")["values"], json!([1.5]));
    assert_eq!(peer.expect("set")["results"][0]["successful"], true);
    let wrong = peer.expect("set_wrong_type");
    assert_eq!(wrong["results"][0]["successful"], false, "{wrong}");
    assert_eq!(peer.expect("get_after")["values"], json!([2.5]));
    peer.finish();

    assert_eq!(node.param::<f64>("gain").unwrap(), 2.5);
    let change = tokio::time::timeout(TIMEOUT, changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (change.name.as_str(), change.value),
        ("gain", ParameterValue::Double(2.5))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latched_rust_topic_reaches_a_late_transient_local_rclpy_subscriber() {
    let domain = domain(51);
    let node = node("rust_latcher", domain);
    let latched = node
        .publisher::<StringMsg>("/latched_state", Qos::Latched)
        .unwrap();
    latched
        .publish(StringMsg {
            data: "phase BACKWARD".into(),
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The subscriber starts after the publish, as `ros2 topic echo --qos-durability transient_local` would.
    let mut peer = Peer::start(
        domain,
        &[
            "sub",
            "/latched_state",
            "std_msgs/String",
            "1",
            "transient_local",
        ],
    );
    assert_eq!(peer.expect("msg")["data"], "phase BACKWARD");
    peer.finish();
}
