//! Transport behaviour between mbarl nodes (each its own DDS participant) and with rclpy's /clock:
//! malformed data is dropped and counted, latched topics reach late joiners, sim time follows
//! /clock, remapping applies, and service calls time out cleanly.

use std::time::Duration;

use mbarl_msgs::sensor_msgs::JointState;
use mbarl_msgs::std_msgs::String as StringMsg;
use mbarl_msgs::std_srvs::{Trigger, TriggerRequest};
use mbarl_msgs::{RosMessage, msg::Phase};
use mbarl_ros::{NodeBuilder, ParamSpec, Qos, RosArgs, RosNode, TransportError};
use mbarl_testkit::{Peer, TIMEOUT, domain};
use serde::{Deserialize, Serialize};

fn node(name: &str, domain: u16) -> RosNode {
    NodeBuilder::new(name)
        .domain_id(domain)
        .build()
        .expect("node")
}

/// Claims to be sensor_msgs/JointState on the wire but is a single byte: every reader of the
/// real type gets a sample that does not decode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct NotAJointState {
    garbage: u8,
}

impl RosMessage for NotAJointState {
    const PACKAGE: &'static str = "sensor_msgs";
    const NAME: &'static str = "JointState";
    const DEFINITION: &'static str = "uint8 garbage\n";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_samples_are_dropped_and_counted_then_good_ones_still_arrive() {
    let rx = node("strict_listener", 61);
    let tx = node("sloppy_talker", 61);
    let sub = rx
        .subscriber::<JointState>("/joint_states", Qos::Reliable { depth: 20 })
        .unwrap();
    let bad = tx
        .publisher::<NotAJointState>("/joint_states", Qos::Reliable { depth: 20 })
        .unwrap();
    let good = tx
        .publisher::<JointState>("/joint_states", Qos::Reliable { depth: 20 })
        .unwrap();
    assert!(
        bad.wait_for_subscriptions(1, TIMEOUT).await
            && good.wait_for_subscriptions(1, TIMEOUT).await
    );
    assert!(sub.wait_for_publishers(2, TIMEOUT).await);
    for _ in 0..3 {
        bad.publish(NotAJointState { garbage: 7 }).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let js = JointState {
        name: vec!["joint1".into()],
        position: vec![0.5],
        ..Default::default()
    };
    good.publish(js.clone()).unwrap();
    assert_eq!(sub.recv_timeout(TIMEOUT).await, Some(js));
    assert_eq!(sub.dropped(), 3);
    assert_eq!(rx.counters().counter("dropped./joint_states").get(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latched_topic_reaches_a_late_subscriber() {
    let tx = node("phase_source", 62);
    let phase = tx.publisher::<Phase>("/mbarl/phase", Qos::Latched).unwrap();
    let latest = Phase {
        phase: Phase::BACKWARD,
        cycle: 3,
        reason: "goal reached".into(),
        ..Default::default()
    };
    phase
        .publish(Phase {
            phase: Phase::FORWARD,
            ..Default::default()
        })
        .unwrap();
    phase.publish(latest.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Joins after both were published and still gets the newest. (RustDDS may replay older
    // samples of its history too; a latched reader keeps the last one it sees.)
    let rx = node("late_joiner", 62);
    let sub = rx
        .subscriber::<Phase>("/mbarl/phase", Qos::Latched)
        .unwrap();
    let mut last = sub.recv_timeout(TIMEOUT).await;
    assert!(last.is_some(), "late joiner got nothing");
    while let Some(p) = sub.recv_timeout(Duration::from_millis(500)).await {
        last = Some(p);
    }
    assert_eq!(last, Some(latest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_sim_time_follows_rclpy_clock() {
    let (_, args) = RosArgs::parse(["--ros-args", "-p", "use_sim_time:=true"]).unwrap();
    let n = NodeBuilder::new("sim_timed")
        .domain_id(domain(63))
        .ros_args(args)
        .build()
        .unwrap();
    assert!(n.use_sim_time());
    assert_eq!(n.now().sec, 0, "no /clock yet: sim time is zero");
    let _clock = Peer::start(domain(63), &["clock", "1000", "20"]);
    assert!(
        n.wait_for_clock(TIMEOUT).await,
        "/clock from rclpy never arrived"
    );
    let t = n.now();
    assert!((1000..1030).contains(&t.sec), "sim time {t:?}");

    let wall = node("wall_timed", 63);
    assert!(!wall.use_sim_time());
    assert!(wall.now().sec > 1_600_000_000, "system time expected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remapped_names_are_used_on_the_wire() {
    let (_, args) = RosArgs::parse([
        "--ros-args",
        "-r",
        "__ns:=/robot1",
        "-r",
        "chatter:=/global_chatter",
    ])
    .unwrap();
    let talker = NodeBuilder::new("talker")
        .domain_id(domain(64))
        .ros_args(args)
        .build()
        .unwrap();
    assert_eq!(talker.fully_qualified_name(), "/robot1/talker");
    let p = talker
        .publisher::<StringMsg>("chatter", Qos::DEFAULT)
        .unwrap();
    assert_eq!(p.topic(), "/global_chatter");
    let status = talker
        .publisher::<StringMsg>("status", Qos::DEFAULT)
        .unwrap();
    assert_eq!(status.topic(), "/robot1/status");

    let listener = node("listener", 64);
    let s = listener
        .subscriber::<StringMsg>("/global_chatter", Qos::DEFAULT)
        .unwrap();
    assert!(p.wait_for_subscriptions(1, TIMEOUT).await);
    assert!(s.wait_for_publishers(1, TIMEOUT).await);
    p.publish(StringMsg {
        data: "remapped".into(),
    })
    .unwrap();
    assert_eq!(
        s.recv_timeout(TIMEOUT).await.map(|m| m.data),
        Some("remapped".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_call_without_server_times_out_with_an_error() {
    let n = node("lonely_client", 65);
    let client = n.service_client::<Trigger>("/nobody_home").unwrap();
    assert!(!client.wait_for_service(Duration::from_millis(300)).await);
    let err = client
        .call(TriggerRequest::default(), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_rejects_bad_parameters_naming_parameter_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("arm.yaml");
    std::fs::write(
        &file,
        "strict_node:\n  ros__parameters:\n    rate_hz: fast\n",
    )
    .unwrap();
    let (_, args) =
        RosArgs::parse(["--ros-args", "--params-file", file.to_str().unwrap()]).unwrap();
    let err = NodeBuilder::new("strict_node")
        .domain_id(domain(66))
        .ros_args(args)
        .param(ParamSpec::new("rate_hz", 20.0, "control rate"))
        .build()
        .err()
        .expect("wrong type must fail");
    let msg = err.to_string();
    assert!(msg.contains("rate_hz") && msg.contains("arm.yaml"), "{msg}");

    let err = NodeBuilder::new("strict_node")
        .domain_id(domain(66))
        .param(ParamSpec::required(
            "robot",
            mbarl_ros::ParamKind::String,
            "robot profile",
        ))
        .build()
        .err()
        .expect("missing required must fail");
    assert!(err.to_string().contains("robot"), "{err}");

    // At run time a set of the wrong type is refused and the value kept.
    let ok = NodeBuilder::new("typed")
        .domain_id(domain(66))
        .param(ParamSpec::new("gain", 1.0, ""))
        .build()
        .unwrap();
    assert!(
        ok.set_param("gain", mbarl_ros::ParameterValue::String("x".into()))
            .is_err()
    );
    assert_eq!(ok.param::<f64>("gain").unwrap(), 1.0);
}
