//! mbarl-ros against the MuJoCo sim bridge (rclpy, `sim/mbarl_sim/bridge.py`), which looks like a
//! ros2_control arm plus a camera driver: a Rust node receives joint states and images and moves
//! the arm through `/arm_controller/commands`, in lock-step and in real time.

use std::time::Duration;

use mbarl_msgs::sensor_msgs::{Image, JointState};
use mbarl_msgs::std_msgs::Float64MultiArray;
use mbarl_ros::{NodeBuilder, Qos, RosNode};
use mbarl_testkit::{TIMEOUT, domain, start_sim_bridge};

async fn next_state(js: &mbarl_ros::Subscriber<JointState>) -> JointState {
    js.recv_timeout(TIMEOUT)
        .await
        .expect("joint state from the sim bridge")
}

async fn drive(node: &RosNode, lockstep: bool) {
    let js = node
        .subscriber::<JointState>("/joint_states", Qos::SensorData)
        .unwrap();
    let images = node
        .subscriber::<Image>("/camera/image_raw", Qos::SensorData)
        .unwrap();
    let commands = node
        .publisher::<Float64MultiArray>("/arm_controller/commands", Qos::DEFAULT)
        .unwrap();
    assert!(
        commands.wait_for_subscriptions(1, TIMEOUT).await,
        "bridge command subscriber not matched"
    );

    let start = next_state(&js).await;
    assert_eq!(start.name, ["joint1", "joint2", "joint3", "joint4"]);
    let image = images
        .recv_timeout(TIMEOUT)
        .await
        .expect("camera image from the sim bridge");
    assert_eq!(
        (image.width, image.height, image.encoding.as_str()),
        (64, 64, "rgb8")
    );
    assert_eq!(image.data.len(), 64 * 64 * 3);
    assert!(
        image.data.iter().any(|&b| b != image.data[0]),
        "the rendered frame is blank"
    );

    // Turn the base joint by +0.3 rad and hold the others.
    let mut target = start.position.clone();
    target[0] += 0.3;
    let mut last = start.clone();
    for _ in 0..60 {
        commands
            .publish(Float64MultiArray {
                data: target.clone(),
                ..Default::default()
            })
            .unwrap();
        if lockstep {
            // One command = one control period: wait for the state it produced.
            loop {
                let s = next_state(&js).await;
                if s.header.stamp > last.header.stamp {
                    last = s;
                    break;
                }
            }
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            while let Some(s) = js.try_recv() {
                last = s;
            }
        }
        if (last.position[0] - target[0]).abs() < 0.02 {
            break;
        }
    }
    assert!(
        (last.position[0] - target[0]).abs() < 0.02,
        "joint1 at {} wanted {}",
        last.position[0],
        target[0]
    );
    assert!(last.header.stamp > start.header.stamp, "sim time advanced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_node_drives_the_lockstep_sim_arm() {
    let _bridge = start_sim_bridge(domain(81), "reach", true, &[]);
    let node = NodeBuilder::new("sim_driver")
        .domain_id(domain(81))
        .build()
        .unwrap();
    drive(&node, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_node_drives_the_realtime_sim_arm() {
    let _bridge = start_sim_bridge(domain(82), "reach", false, &[]);
    let node = NodeBuilder::new("sim_driver")
        .domain_id(domain(82))
        .build()
        .unwrap();
    drive(&node, false).await;
}
