//! Untyped (raw bytes) subscriptions and topic discovery, for recording any topic to a bag.
//!
//! [`RawNode`] is a node of its own (own DDS participant, no parameters) that
//! - lists the topics other participants publish, with their ROS type names and offered QoS
//!   ([`RawNode::discovered_topics`]);
//! - subscribes to a topic of any type by name and hands out each sample's serialized bytes as
//!   rosbag2 stores them: the CDR encapsulation header `00 01 00 00` then the body, padding
//!   included ([`RawSubscriber::recv`]).
//!
//! How: ros2-client deserializes every sample through serde; a [`DeserializeSeed`] that asks
//! the CDR deserializer for an unbounded tuple of `u8` and stops at the end of the payload
//! captures the body byte for byte. The seed does not learn the sample's byte order; all
//! ROS 2 middlewares on little-endian hosts (x86-64, ARM) send little-endian CDR, which is what
//! the header written here says.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ros2_client::ros2::policy::{Durability, Reliability};
use ros2_client::{
    Context, ContextOptions, MessageTypeName, Name, NodeName, NodeOptions, ReadError,
};
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

use crate::node::TransportError;
use crate::qos::Qos;

/// A topic seen on the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredTopic {
    /// ROS name, e.g. `/joint_states`.
    pub name: String,
    /// ROS type, e.g. `sensor_msgs/msg/JointState`.
    pub type_name: String,
    /// Every matched publisher offers reliable delivery.
    pub reliable: bool,
    /// Every matched publisher is transient-local (latched).
    pub transient_local: bool,
    pub publishers: usize,
}

/// One received sample.
#[derive(Debug, Clone)]
pub struct RawSample {
    /// Encapsulation header + CDR body, as rosbag2 stores messages.
    pub data: Vec<u8>,
    /// The publisher's source timestamp (ns since the epoch), when it sent one.
    pub source_timestamp_ns: Option<i64>,
}

/// A node for untyped subscriptions.
pub struct RawNode {
    context: Context,
    node: Arc<Mutex<ros2_client::Node>>,
}

impl RawNode {
    /// Joins the DDS domain (`ROS_DOMAIN_ID` unless `domain_id` is given). Must run inside a
    /// tokio runtime.
    pub fn new(name: &str, domain_id: Option<u16>) -> Result<Self, TransportError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TransportError::NoRuntime)?;
        let domain = match domain_id {
            Some(d) => d,
            None => crate::node::domain_id_from_env()?,
        };
        let context = Context::with_options(ContextOptions::new().domain_id(domain))
            .map_err(|e| create_err("DDS participant", e))?;
        let node_name = NodeName::new("/", name).map_err(|e| create_err("node name", e))?;
        let mut node = context
            .new_node(node_name, NodeOptions::new().enable_rosout(false))
            .map_err(|e| create_err("node", e))?;
        let spinner = node.spinner().map_err(|e| create_err("node spinner", e))?;
        let keep = context.clone();
        runtime.spawn(async move {
            let _keep = keep;
            if let Err(e) = spinner.spin().await {
                tracing::error!("raw node background task stopped: {e:?}");
            }
        });
        Ok(Self {
            context,
            node: Arc::new(Mutex::new(node)),
        })
    }

    /// Topics that remote participants publish (ROS topics only: DDS names starting `rt/`).
    pub fn discovered_topics(&self) -> Vec<DiscoveredTopic> {
        let mut out: Vec<DiscoveredTopic> = Vec::new();
        for w in self.context.domain_participant().discovered_writers() {
            let data = &w.publication_topic_data;
            let Some(name) = data.topic_name.strip_prefix("rt") else {
                continue;
            };
            let Some(type_name) = ros_type_name(&data.type_name) else {
                continue;
            };
            let reliable = matches!(data.reliability, Some(Reliability::Reliable { .. }));
            let transient_local = matches!(data.durability, Some(Durability::TransientLocal));
            match out
                .iter_mut()
                .find(|t| t.name == name && t.type_name == type_name)
            {
                Some(t) => {
                    t.reliable &= reliable;
                    t.transient_local &= transient_local;
                    t.publishers += 1;
                }
                None => out.push(DiscoveredTopic {
                    name: name.to_string(),
                    type_name,
                    reliable,
                    transient_local,
                    publishers: 1,
                }),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Waits until `topic` has a publisher on the graph; returns it, or None on timeout.
    pub async fn wait_for_topic(&self, topic: &str, timeout: Duration) -> Option<DiscoveredTopic> {
        let start = std::time::Instant::now();
        loop {
            if let Some(t) = self
                .discovered_topics()
                .into_iter()
                .find(|t| t.name == topic)
            {
                return Some(t);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Subscribes to `topic` (an absolute name) of type `type_name` (`pkg/msg/Name`).
    pub fn subscribe(
        &self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<RawSubscriber, TransportError> {
        let (pkg, ty) = match type_name.split('/').collect::<Vec<_>>()[..] {
            [pkg, "msg", ty] | [pkg, ty] => (pkg.to_string(), ty.to_string()),
            _ => {
                return Err(create_err(
                    &format!("subscriber {topic}"),
                    format!("`{type_name}` is not a message type name (pkg/msg/Name)"),
                ));
            }
        };
        let full = if topic.starts_with('/') {
            topic.to_string()
        } else {
            format!("/{topic}")
        };
        let (ns, base) = full.rsplit_once('/').unwrap_or(("", &full));
        let ns = if ns.is_empty() { "/" } else { ns };
        let name = Name::new(ns, base).map_err(|e| create_err(&format!("name {full}"), e))?;
        let profile = qos.profile();
        let mut node = self.node.lock().unwrap_or_else(|p| p.into_inner());
        let t = node
            .create_topic(&name, MessageTypeName::new(&pkg, &ty), &profile)
            .map_err(|e| create_err(&format!("topic {full}"), e))?;
        let inner = node
            .create_subscription::<RawBytes>(&t, Some(profile))
            .map_err(|e| create_err(&format!("subscriber {full}"), e))?;
        Ok(RawSubscriber {
            inner,
            topic: full,
            type_name: format!("{pkg}/msg/{ty}"),
            node: self.node.clone(),
        })
    }
}

fn create_err(what: &str, e: impl std::fmt::Debug) -> TransportError {
    TransportError::Create {
        what: what.to_string(),
        reason: format!("{e:?}"),
    }
}

/// `sensor_msgs::msg::dds_::JointState_` → `sensor_msgs/msg/JointState`.
pub fn ros_type_name(dds: &str) -> Option<String> {
    let parts: Vec<&str> = dds.split("::").collect();
    match parts[..] {
        [pkg, ns, "dds_", ty] => Some(format!("{pkg}/{ns}/{}", ty.strip_suffix('_').unwrap_or(ty))),
        _ => None,
    }
}

/// A subscription handing out serialized samples.
pub struct RawSubscriber {
    inner: ros2_client::Subscription<RawBytes>,
    topic: String,
    type_name: String,
    node: Arc<Mutex<ros2_client::Node>>,
}

impl RawSubscriber {
    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The next sample; None when the transport has shut down.
    pub async fn recv(&self) -> Option<RawSample> {
        use futures::StreamExt;
        loop {
            match self.inner.take_seed(RawSeed) {
                Ok(Some((b, info))) => return Some(sample(b, &info)),
                Ok(None) => {}
                Err(ReadError::Closed) => return None,
                Err(e) => {
                    tracing::warn!(topic = %self.topic, "dropped a sample: {e}");
                    continue;
                }
            }
            let stream = self.inner.async_stream_seed(RawSeed);
            futures::pin_mut!(stream);
            match stream.next().await {
                Some(Ok((b, info))) => return Some(sample(b, &info)),
                Some(Err(ReadError::Closed)) | None => return None,
                Some(Err(e)) => tracing::warn!(topic = %self.topic, "dropped a sample: {e}"),
            }
        }
    }

    /// Number of publishers currently matched.
    pub fn publisher_count(&self) -> usize {
        let node = self.node.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.get_publisher_count(&node)
    }
}

fn sample(b: RawBytes, info: &ros2_client::MessageInfo) -> RawSample {
    let mut data = Vec::with_capacity(b.0.len() + 4);
    data.extend_from_slice(&[0, 1, 0, 0]);
    data.extend_from_slice(&b.0);
    RawSample {
        data,
        source_timestamp_ns: info.source_timestamp().map(|t| t.to_nanos()),
    }
}

/// A sample's CDR body.
pub struct RawBytes(pub Vec<u8>);

#[derive(Clone, Copy)]
struct RawSeed;

impl<'de> DeserializeSeed<'de> for RawSeed {
    type Value = RawBytes;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawBytes, D::Error> {
        struct AllBytes;
        impl<'de> Visitor<'de> for AllBytes {
            type Value = RawBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the bytes of a CDR payload")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawBytes, A::Error> {
                let mut out = Vec::with_capacity(256);
                // Ends with None (never: the length is unbounded) or an error at the end of
                // the payload, which is where the sample ends.
                while let Ok(Some(b)) = seq.next_element::<u8>() {
                    out.push(b);
                }
                Ok(RawBytes(out))
            }
        }
        deserializer.deserialize_tuple(usize::MAX, AllBytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dds_type_names() {
        assert_eq!(
            ros_type_name("sensor_msgs::msg::dds_::JointState_").as_deref(),
            Some("sensor_msgs/msg/JointState")
        );
        assert_eq!(ros_type_name("Foo"), None);
    }
}
