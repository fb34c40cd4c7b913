//! Rust types for mbarl's ROS 2 interfaces, generated at build time from `.msg` / `.srv` files.
//!
//! - The project's own package `mbarl_msgs` (`msg/` at the repository root): [`msg`] and [`srv`].
//! - The standard ROS 2 Jazzy types mbarl uses (files in `crates/mbarl-msgs/interfaces/`):
//!   [`builtin_interfaces`], [`std_msgs`], [`sensor_msgs`], [`trajectory_msgs`], [`geometry_msgs`],
//!   [`rosgraph_msgs`], [`std_srvs`].
//!
//! Every message is a plain serde struct with public snake_case fields; constants are associated
//! `const`s. A service `X` is a unit struct implementing [`RosService`] with `XRequest` and
//! `XResponse` messages. [`cdr`] encodes and decodes messages exactly as ROS 2 stores them
//! (encapsulation header + CDR body).
//!
//! ```
//! use mbarl_msgs::{cdr, msg::Phase, RosMessage};
//!
//! let phase = Phase { phase: Phase::BACKWARD, reason: "goal reached".into(), ..Default::default() };
//! let bytes = cdr::encode(&phase);
//! assert_eq!(cdr::decode::<Phase>(&bytes).unwrap(), phase);
//! assert_eq!(Phase::type_name(), "mbarl_msgs/msg/Phase");
//! ```

pub mod cdr;
pub mod task_state;
mod time;
pub mod view;

pub use cdr::{CdrError, decode, encode};

include!(concat!(env!("OUT_DIR"), "/generated.rs"));

/// A ROS 2 message type.
pub trait RosMessage:
    serde::Serialize
    + serde::de::DeserializeOwned
    + Clone
    + Send
    + Sync
    + std::fmt::Debug
    + Default
    + PartialEq
    + 'static
{
    /// The ROS 2 package, e.g. `"std_msgs"`.
    const PACKAGE: &'static str;
    /// `"msg"`, or `"srv"` for the request and response of a service.
    const NAMESPACE: &'static str = "msg";
    /// The type name within the package, e.g. `"Header"` or `"Trigger_Request"`.
    const NAME: &'static str;
    /// The full message definition in rosbag2's `ros2msg` format (MCAP schema encoding
    /// `ros2msg`): the message's own text, then each dependency once, depth-first, preceded by
    /// a line of 80 `=` and a line `MSG: pkg/Name`.
    const DEFINITION: &'static str;

    /// `"pkg/msg/Name"` (`"pkg/srv/Name_Request"` for service parts), as ROS 2 tools write it.
    fn type_name() -> String {
        format!("{}/{}/{}", Self::PACKAGE, Self::NAMESPACE, Self::NAME)
    }
}

/// A ROS 2 service type.
pub trait RosService: Send + Sync + 'static {
    type Request: RosMessage;
    type Response: RosMessage;
    /// The ROS 2 package, e.g. `"std_srvs"`.
    const PACKAGE: &'static str;
    /// The service name within the package, e.g. `"Trigger"`.
    const NAME: &'static str;

    /// `"pkg/srv/Name"`.
    fn type_name() -> String {
        format!("{}/srv/{}", Self::PACKAGE, Self::NAME)
    }
}

/// Called by [`visit_all_messages`] once per generated message type.
pub trait MessageVisitor {
    fn visit<M: RosMessage>(&mut self);
}

/// Called by [`visit_all_services`] once per generated service type.
pub trait ServiceVisitor {
    fn visit<S: RosService>(&mut self);
}

/// Serde for fixed-size arrays longer than 32 elements (serde's own impls stop at 32).
/// Used by generated code; the CDR layout is the same as for short arrays (no length prefix).
#[doc(hidden)]
pub mod big_array {
    use std::marker::PhantomData;

    use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
    use serde::ser::{Serialize, SerializeTuple, Serializer};

    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
        array: &[T; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(N)?;
        for element in array {
            tuple.serialize_element(element)?;
        }
        tuple.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[T; N], D::Error> {
        struct ArrayVisitor<T, const N: usize>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for ArrayVisitor<T, N> {
            type Value = [T; N];

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "an array of {N} elements")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[T; N], A::Error> {
                let mut elements = Vec::with_capacity(N);
                for i in 0..N {
                    match seq.next_element()? {
                        Some(e) => elements.push(e),
                        None => return Err(de::Error::invalid_length(i, &self)),
                    }
                }
                elements
                    .try_into()
                    .map_err(|_| de::Error::invalid_length(N, &self))
            }
        }

        deserializer.deserialize_tuple(N, ArrayVisitor::<T, N>(PhantomData))
    }
}
