//! The QoS profiles rosbag2 stores per topic (`offered_qos_profiles`).
//!
//! Bag versions up to 8 store them as a YAML *string* with numeric enums; version 9 (Jazzy)
//! stores a YAML *list* with lower-case names in metadata.yaml, and the same list serialized as
//! YAML text in the MCAP channel metadata. Both are read; [`to_yaml_v9`] writes the Jazzy form.

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

/// One offered QoS profile, with enum values as rosbag2 version 9 names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosProfile {
    pub history: String,
    pub depth: u64,
    pub reliability: String,
    pub durability: String,
    pub deadline: QosTime,
    pub lifespan: QosTime,
    pub liveliness: String,
    pub liveliness_lease_duration: QosTime,
    pub avoid_ros_namespace_conventions: bool,
}

/// A duration as rosbag2 writes it; "infinite" is `{sec: 9223372036, nsec: 854775807}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosTime {
    pub sec: u64,
    pub nsec: u64,
}

impl QosTime {
    pub const INFINITE: QosTime = QosTime {
        sec: 9_223_372_036,
        nsec: 854_775_807,
    };
}

impl QosProfile {
    /// rclcpp's defaults with `reliable`/`best_effort`, `volatile`/`transient_local`.
    pub fn new(reliable: bool, transient_local: bool, depth: u64) -> Self {
        Self {
            history: "keep_last".into(),
            depth,
            reliability: if reliable { "reliable" } else { "best_effort" }.into(),
            durability: if transient_local {
                "transient_local"
            } else {
                "volatile"
            }
            .into(),
            deadline: QosTime::INFINITE,
            lifespan: QosTime::INFINITE,
            liveliness: "automatic".into(),
            liveliness_lease_duration: QosTime::INFINITE,
            avoid_ros_namespace_conventions: false,
        }
    }
}

const HISTORY: &[&str] = &["system_default", "keep_last", "keep_all", "unknown"];
const RELIABILITY: &[&str] = &[
    "system_default",
    "reliable",
    "best_effort",
    "unknown",
    "best_available",
];
const DURABILITY: &[&str] = &[
    "system_default",
    "transient_local",
    "volatile",
    "unknown",
    "best_available",
];
const LIVELINESS: &[&str] = &[
    "system_default",
    "automatic",
    "manual_by_node",
    "manual_by_topic",
    "unknown",
    "best_available",
];

fn enum_name(v: Option<&Value>, names: &[&str]) -> String {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|i| names.get(i as usize))
            .unwrap_or(&"unknown")
            .to_string(),
        Some(Value::String(s)) => s.to_lowercase(),
        _ => "unknown".into(),
    }
}

fn time(v: Option<&Value>) -> QosTime {
    let get = |k: &str| {
        v.and_then(|t| t.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    QosTime {
        sec: get("sec"),
        nsec: get("nsec"),
    }
}

/// Parses `offered_qos_profiles` in any bag version: a YAML list, a YAML string holding one,
/// or empty. Unreadable entries give an error text.
pub fn parse(value: &Value) -> Result<Vec<QosProfile>, String> {
    let list = match value {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) if s.trim().is_empty() => return Ok(Vec::new()),
        Value::String(s) => serde_yaml_ng::from_str::<Value>(s)
            .map_err(|e| format!("offered_qos_profiles is not YAML: {e}"))?,
        other => other.clone(),
    };
    let Value::Sequence(items) = list else {
        return Err("offered_qos_profiles is not a list".into());
    };
    Ok(items
        .iter()
        .map(|item| QosProfile {
            history: enum_name(item.get("history"), HISTORY),
            depth: item.get("depth").and_then(Value::as_u64).unwrap_or(0),
            reliability: enum_name(item.get("reliability"), RELIABILITY),
            durability: enum_name(item.get("durability"), DURABILITY),
            deadline: time(item.get("deadline")),
            lifespan: time(item.get("lifespan")),
            liveliness: enum_name(item.get("liveliness"), LIVELINESS),
            liveliness_lease_duration: time(item.get("liveliness_lease_duration")),
            avoid_ros_namespace_conventions: item
                .get("avoid_ros_namespace_conventions")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
        .collect())
}

/// The profiles as a YAML value (version 9 metadata.yaml).
pub fn to_value_v9(profiles: &[QosProfile]) -> Value {
    serde_yaml_ng::to_value(profiles).unwrap_or(Value::Sequence(Vec::new()))
}

/// The profiles as YAML text (MCAP channel metadata `offered_qos_profiles`), the same list as
/// [`to_value_v9`]; empty text for no profiles.
pub fn to_yaml_v9(profiles: &[QosProfile]) -> String {
    if profiles.is_empty() {
        return String::new();
    }
    serde_yaml_ng::to_string(profiles)
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v8_string_and_v9_list_agree() {
        let v8 = "- history: 1\n  depth: 10\n  reliability: 1\n  durability: 2\n  deadline:\n    sec: 9223372036\n    nsec: 854775807\n  lifespan:\n    sec: 9223372036\n    nsec: 854775807\n  liveliness: 1\n  liveliness_lease_duration:\n    sec: 9223372036\n    nsec: 854775807\n  avoid_ros_namespace_conventions: false";
        let a = parse(&Value::String(v8.into())).unwrap();
        let b = QosProfile::new(true, false, 10);
        assert_eq!(a, vec![b.clone()]);
        let text = to_yaml_v9(&a);
        assert_eq!(parse(&Value::String(text)).unwrap(), vec![b.clone()]);
        assert_eq!(parse(&to_value_v9(&a)).unwrap(), vec![b]);
        assert!(parse(&Value::String(String::new())).unwrap().is_empty());
        assert!(parse(&Value::String("{a: [".into())).is_err());
    }
}
