//! QoS presets, named as in rclcpp (`rclcpp::SensorDataQoS`, `SystemDefaultsQoS`, transient-local).

use std::time::Duration;

use ros2_client::QosProfile;
use ros2_client::qos::{Durability, History, Reliability, WhenFull};

/// What a topic needs from DDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// Best effort, volatile, keep last 5: cameras and high-rate sensors. A best-effort
    /// subscriber matches reliable and best-effort publishers alike.
    SensorData,
    /// Reliable, volatile, keep last `depth`: the ROS 2 default for topics (rclpy's default).
    Reliable { depth: usize },
    /// Reliable, keep all: every sample reaches every matched reader; when a reader lags, the
    /// publisher waits (and `publish` fails after a while) instead of dropping old samples.
    /// For data that must not be lost, such as recorded transitions.
    Lossless,
    /// Reliable, transient-local, keep last 1: "latched" state (phase, checkpoints) that late
    /// joiners must still get.
    Latched,
}

impl Qos {
    /// The ROS 2 default: reliable, keep last 10.
    pub const DEFAULT: Qos = Qos::Reliable { depth: 10 };

    pub fn profile(self) -> QosProfile {
        let reliable = Reliability::Reliable {
            when_full: WhenFull::Wait(Duration::from_millis(50)),
        };
        let base = QosProfile::subscription_default();
        match self {
            Qos::SensorData => base
                .reliability(Reliability::BestEffort)
                .durability(Durability::Volatile)
                .history(History::KeepLast { depth: 5 }),
            Qos::Reliable { depth } => base
                .reliability(reliable)
                .durability(Durability::Volatile)
                .history(History::KeepLast {
                    depth: depth.max(1),
                }),
            Qos::Lossless => base
                .reliability(reliable)
                .durability(Durability::Volatile)
                .history(History::KeepAll),
            Qos::Latched => base
                .reliability(reliable)
                .durability(Durability::TransientLocal)
                .history(History::KeepLast { depth: 1 }),
        }
    }
}

/// The QoS used for service request and reply topics (rmw's services default: reliable, keep last 10).
pub fn services() -> QosProfile {
    Qos::Reliable { depth: 10 }.profile()
}
