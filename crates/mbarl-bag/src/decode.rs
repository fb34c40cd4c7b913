//! Decoding stored messages: typed ([`crate::RawMessage::decode`]) or, for tools and tests,
//! to JSON for any type mbarl knows ([`to_json`]).

use mbarl_msgs::{MessageVisitor, RosMessage};

/// `pkg/msg/Name` for `pkg/Name` (ROS 1 style) and `pkg/msg/Name` alike.
pub fn normalize_type_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('/').collect();
    match parts[..] {
        [pkg, ty] => format!("{pkg}/msg/{ty}"),
        _ => name.to_string(),
    }
}

/// Whether `name` (`pkg/msg/Name` or `pkg/Name`) is `M`'s type: `normalize_type_name(name) ==
/// M::type_name()`, without allocating (it is checked for every message decoded).
pub(crate) fn is_type<M: RosMessage>(name: &str) -> bool {
    // `M::NAME` has no '/': the rest is `Name` or `ns/Name`.
    let Some(rest) = name
        .strip_prefix(M::PACKAGE)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    (rest == M::NAME && M::NAMESPACE == "msg")
        || rest
            .strip_prefix(M::NAMESPACE)
            .and_then(|r| r.strip_prefix('/'))
            == Some(M::NAME)
}

/// Whether mbarl can decode this message type (`pkg/msg/Name` or `pkg/Name`).
pub fn is_known_type(type_name: &str) -> bool {
    mbarl_msgs::message_definition(&normalize_type_name(type_name)).is_some()
}

pub(crate) fn known_types_summary() -> String {
    let standard: Vec<&str> = mbarl_msgs::ALL_MESSAGE_TYPES
        .iter()
        .filter(|t| !t.starts_with("mbarl_msgs/") && t.contains("/msg/"))
        .copied()
        .collect();
    format!("{} and the mbarl_msgs types", standard.join(", "))
}

/// The full `ros2msg` definition (with dependencies) of a known type.
pub fn definition(type_name: &str) -> Option<&'static str> {
    mbarl_msgs::message_definition(&normalize_type_name(type_name))
}

/// A `ros2msg` definition's field lines, without comments, blank lines and extra spacing:
/// what decides how its messages decode.
pub fn definition_fields(definition: &str) -> Vec<String> {
    definition
        .lines()
        .map(|l| {
            let code = l.split('#').next().unwrap_or("");
            code.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// Does a `stored` definition of `type_name` (a bag's schema) decode as mbarl's own? `None`
/// when mbarl does not know the type.
pub fn decodes_as_current(type_name: &str, stored: &str) -> Option<bool> {
    definition(type_name).map(|d| definition_fields(d) == definition_fields(stored))
}

/// Decodes CDR bytes of a known type to JSON (field names as in the .msg files; `uint8[]` as
/// arrays of numbers). `Ok(None)` when the type is not known.
pub fn to_json(
    type_name: &str,
    data: &[u8],
) -> Result<Option<serde_json::Value>, mbarl_msgs::CdrError> {
    struct V<'a> {
        name: String,
        data: &'a [u8],
        out: Option<Result<serde_json::Value, mbarl_msgs::CdrError>>,
    }
    impl MessageVisitor for V<'_> {
        fn visit<M: RosMessage>(&mut self) {
            if self.out.is_none() && M::type_name() == self.name {
                self.out = Some(
                    mbarl_msgs::cdr::decode::<M>(self.data)
                        .map(|m| serde_json::to_value(&m).unwrap_or(serde_json::Value::Null)),
                );
            }
        }
    }
    let mut v = V {
        name: normalize_type_name(type_name),
        data,
        out: None,
    };
    mbarl_msgs::visit_all_messages(&mut v);
    v.out.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mbarl_msgs::sensor_msgs::Image;
    use mbarl_msgs::std_srvs::TriggerRequest;

    #[test]
    fn is_type_is_normalized_equality() {
        for name in [
            "sensor_msgs/msg/Image",
            "sensor_msgs/Image",
            "sensor_msgs/srv/Image",
            "sensor_msgs/msg/Image/x",
            "sensor_msgs/msg/CameraInfo",
            "sensor_msgs/msg/Imagex",
            "sensor_msgs/msgs/Image",
            "sensor_msgs/msg/msg/Image",
            "sensor_msgs//Image",
            "sensor_msgsx/msg/Image",
            "Image",
            "",
            "std_srvs/srv/Trigger_Request",
            "std_srvs/Trigger_Request",
        ] {
            assert_eq!(
                is_type::<Image>(name),
                normalize_type_name(name) == Image::type_name(),
                "{name}"
            );
            assert_eq!(
                is_type::<TriggerRequest>(name),
                normalize_type_name(name) == TriggerRequest::type_name(),
                "{name}"
            );
        }
    }
}
