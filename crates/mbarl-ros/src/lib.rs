//! ROS 2 transport for mbarl over the pure-Rust `ros2-client` (RustDDS).
//!
//! Real DDS/RTPS, interoperable with stock ROS 2 nodes (Fast DDS, rclpy, rclcpp), with the
//! ROS 2 conventions a robotics user expects:
//! - `--ros-args` with `-r from:=to`, `__node`, `__ns`, `-p name:=value`, `--params-file`;
//! - parameters declared with types and defaults, served through the standard parameter
//!   services (`ros2 param list/get/set` work), type-checked at start-up and at run time;
//! - `ROS_DOMAIN_ID`, namespaces, QoS presets (sensor data, reliable, latched);
//! - `use_sim_time` with `/clock`;
//! - typed async publishers, subscribers, service servers and clients whose malformed input is
//!   dropped with a counter and a rate-limited warning, never a panic.

pub mod args;
pub mod counters;
pub mod help;
pub mod logging;
pub mod names;
pub mod node;
pub mod params;
pub mod pubsub;
pub mod qos;
pub mod raw;
pub mod service;

pub use args::RosArgs;
pub use counters::{Counter, Counters};
pub use node::{FromParam, NodeBuilder, ParamChange, RosNode, TransportError};
pub use params::{ParamKind, ParamSpec, ParameterValue};
pub use pubsub::{Publisher, Subscriber};
pub use qos::Qos;
pub use service::{RequestId, ServiceClient, ServiceServer};
