//! `mbarl example talker|listener`: the smallest end-to-end check that the ROS 2 graph works.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use mbarl_msgs::sensor_msgs::JointState;
use mbarl_msgs::std_msgs::{Header, String as StringMsg};
use mbarl_ros::{NodeBuilder, ParamSpec, Qos, RosArgs};

#[derive(Subcommand)]
pub enum Role {
    /// Publishes `/chatter` (std_msgs/String) and a fake 4-joint arm on `/joint_states`.
    Talker {
        /// Stop after this many messages (default: run until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Prints what arrives on `/chatter` and `/joint_states`.
    Listener {
        #[arg(long)]
        count: Option<u64>,
    },
}

pub async fn run(role: Role, args: RosArgs) -> Result<()> {
    match role {
        Role::Talker { count } => talker(args, count).await,
        Role::Listener { count } => listener(args, count).await,
    }
}

async fn talker(args: RosArgs, count: Option<u64>) -> Result<()> {
    let node = NodeBuilder::new("mbarl_example_talker")
        .ros_args(args)
        .param(ParamSpec::new("rate_hz", 10.0, "publish rate"))
        .build()?;
    let chatter = node.publisher::<StringMsg>("chatter", Qos::DEFAULT)?;
    let joints = node.publisher::<JointState>("joint_states", Qos::DEFAULT)?;
    tracing::info!(
        "{} publishing on {} and {}",
        node.fully_qualified_name(),
        chatter.topic(),
        joints.topic()
    );
    let mut i = 0u64;
    loop {
        if count.is_some_and(|c| i >= c) {
            return Ok(());
        }
        let rate = node.param::<f64>("rate_hz")?.clamp(0.1, 1000.0);
        let t = i as f64 / rate;
        chatter.publish(StringMsg {
            data: format!("hello from mbarl {i}"),
        })?;
        joints.publish(JointState {
            header: Header {
                stamp: node.now(),
                frame_id: "base_link".into(),
            },
            name: (1..=4).map(|j| format!("joint{j}")).collect(),
            position: (0..4).map(|j| (t + j as f64).sin() * 0.5).collect(),
            velocity: (0..4).map(|j| (t + j as f64).cos() * 0.5).collect(),
            effort: vec![],
        })?;
        i += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(1.0 / rate)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

async fn listener(args: RosArgs, count: Option<u64>) -> Result<()> {
    let node = NodeBuilder::new("mbarl_example_listener")
        .ros_args(args)
        .build()?;
    let chatter = node.subscriber::<StringMsg>("chatter", Qos::DEFAULT)?;
    let joints = node.subscriber::<JointState>("joint_states", Qos::SensorData)?;
    let mut n = 0u64;
    while count.is_none_or(|c| n < c) {
        tokio::select! {
            Some(m) = chatter.recv() => { println!("chatter: {}", m.data); n += 1; }
            Some(js) = joints.recv() => println!("joint_states: {:?} {:.3?}", js.name, js.position),
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
