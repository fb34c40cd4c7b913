//! `metadata.yaml`, the index of a rosbag2 directory.
//!
//! Read: bag versions 1–9 (fields added over the versions are optional: per-file information
//! (5), `custom_data` (6), `type_description_hash` (7), `ros_distro` (8), QoS as a YAML list
//! with names (9)). Written: version 9, as ROS 2 Jazzy's rosbag2 writes it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_yaml_ng::Value;

use crate::error::{BagError, Result};
use crate::qos::{self, QosProfile};

/// The newest bag version this crate reads, and the one it writes.
pub const VERSION: u64 = 9;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BagMetadata {
    pub version: u64,
    /// `mcap` or `sqlite3`.
    pub storage_identifier: String,
    pub relative_file_paths: Vec<String>,
    pub starting_time_ns: u64,
    pub duration_ns: u64,
    pub message_count: u64,
    pub topics: Vec<TopicMetadata>,
    /// `zstd` when `compression_mode` is `file` or `message`, else empty.
    pub compression_format: String,
    /// empty (none), `file` or `message`.
    pub compression_mode: String,
    pub files: Vec<FileInformation>,
    pub custom_data: BTreeMap<String, String>,
    pub ros_distro: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicMetadata {
    pub name: String,
    /// `pkg/msg/Name`.
    pub type_name: String,
    pub serialization_format: String,
    pub offered_qos_profiles: Vec<QosProfile>,
    pub type_description_hash: String,
    pub message_count: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileInformation {
    pub path: String,
    pub starting_time_ns: u64,
    pub duration_ns: u64,
    pub message_count: u64,
}

fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for k in path {
        cur = cur.get(*k)?;
    }
    cur.as_u64()
        .or_else(|| cur.as_i64().map(|i| i.max(0) as u64))
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl BagMetadata {
    /// Parses the text of a metadata.yaml; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let err = |reason: String| BagError::Metadata {
            path: path.to_path_buf(),
            reason,
        };
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| err(e.to_string()))?;
        let info = doc
            .get("rosbag2_bagfile_information")
            .ok_or_else(|| err("no `rosbag2_bagfile_information` key".into()))?;
        let version = u64_at(info, &["version"]).ok_or_else(|| err("no `version`".into()))?;
        if version == 0 || version > VERSION {
            return Err(BagError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            });
        }
        let storage_identifier = str_at(info, "storage_identifier")
            .ok_or_else(|| err("no `storage_identifier`".into()))?
            .to_string();
        let relative_file_paths = match info.get("relative_file_paths") {
            Some(Value::Sequence(s)) => s
                .iter()
                .map(|p| {
                    p.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err("a relative_file_paths entry is not a string".into()))
                })
                .collect::<Result<Vec<_>>>()?,
            _ => return Err(err("no `relative_file_paths` list".into())),
        };
        let mut topics = Vec::new();
        if let Some(Value::Sequence(list)) = info.get("topics_with_message_count") {
            for t in list {
                let md = t
                    .get("topic_metadata")
                    .ok_or_else(|| err("a topic without `topic_metadata`".into()))?;
                let name = str_at(md, "name")
                    .ok_or_else(|| err("a topic without `name`".into()))?
                    .to_string();
                let type_name = str_at(md, "type")
                    .ok_or_else(|| err(format!("topic {name} has no `type`")))?
                    .to_string();
                let offered_qos_profiles =
                    qos::parse(md.get("offered_qos_profiles").unwrap_or(&Value::Null))
                        .map_err(|e| err(format!("topic {name}: {e}")))?;
                topics.push(TopicMetadata {
                    serialization_format: str_at(md, "serialization_format")
                        .unwrap_or("cdr")
                        .to_string(),
                    type_description_hash: str_at(md, "type_description_hash")
                        .unwrap_or("")
                        .to_string(),
                    message_count: u64_at(t, &["message_count"]).unwrap_or(0),
                    name,
                    type_name,
                    offered_qos_profiles,
                });
            }
        }
        let files = match info.get("files") {
            Some(Value::Sequence(list)) => list
                .iter()
                .map(|f| FileInformation {
                    path: str_at(f, "path").unwrap_or("").to_string(),
                    starting_time_ns: u64_at(f, &["starting_time", "nanoseconds_since_epoch"])
                        .unwrap_or(0),
                    duration_ns: u64_at(f, &["duration", "nanoseconds"]).unwrap_or(0),
                    message_count: u64_at(f, &["message_count"]).unwrap_or(0),
                })
                .collect(),
            _ => Vec::new(),
        };
        let custom_data = match info.get("custom_data") {
            Some(Value::Mapping(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        Ok(Self {
            version,
            storage_identifier,
            relative_file_paths,
            starting_time_ns: u64_at(info, &["starting_time", "nanoseconds_since_epoch"])
                .unwrap_or(0),
            duration_ns: u64_at(info, &["duration", "nanoseconds"]).unwrap_or(0),
            message_count: u64_at(info, &["message_count"]).unwrap_or(0),
            topics,
            compression_format: str_at(info, "compression_format").unwrap_or("").to_string(),
            compression_mode: str_at(info, "compression_mode").unwrap_or("").to_string(),
            files,
            custom_data,
            ros_distro: str_at(info, "ros_distro").unwrap_or("").to_string(),
        })
    }

    /// Reads `<dir>/metadata.yaml`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("metadata.yaml");
        let text = std::fs::read_to_string(&path).map_err(|e| BagError::io(&path, e))?;
        Self::parse(&text, &path)
    }

    /// The `rosbag2_bagfile_information` content as version 9 YAML (without the outer key):
    /// what rosbag2 also stores in the MCAP metadata record `rosbag2`.
    pub fn info_yaml(&self) -> String {
        serde_yaml_ng::to_string(&self.to_serde()).unwrap_or_default()
    }

    /// The whole metadata.yaml text (version 9).
    pub fn to_yaml(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            rosbag2_bagfile_information: Info<'a>,
        }
        serde_yaml_ng::to_string(&Doc {
            rosbag2_bagfile_information: self.to_serde(),
        })
        .unwrap_or_default()
    }

    fn to_serde(&self) -> Info<'_> {
        Info {
            version: VERSION,
            storage_identifier: &self.storage_identifier,
            duration: Nanos {
                nanoseconds: self.duration_ns,
            },
            starting_time: SinceEpoch {
                nanoseconds_since_epoch: self.starting_time_ns,
            },
            message_count: self.message_count,
            topics_with_message_count: self
                .topics
                .iter()
                .map(|t| TopicCount {
                    topic_metadata: TopicMd {
                        name: &t.name,
                        type_name: &t.type_name,
                        serialization_format: &t.serialization_format,
                        offered_qos_profiles: qos::to_value_v9(&t.offered_qos_profiles),
                        type_description_hash: &t.type_description_hash,
                    },
                    message_count: t.message_count,
                })
                .collect(),
            compression_format: &self.compression_format,
            compression_mode: &self.compression_mode,
            relative_file_paths: &self.relative_file_paths,
            files: self
                .files
                .iter()
                .map(|f| FileMd {
                    path: &f.path,
                    starting_time: SinceEpoch {
                        nanoseconds_since_epoch: f.starting_time_ns,
                    },
                    duration: Nanos {
                        nanoseconds: f.duration_ns,
                    },
                    message_count: f.message_count,
                })
                .collect(),
            custom_data: if self.custom_data.is_empty() {
                None
            } else {
                Some(&self.custom_data)
            },
            ros_distro: &self.ros_distro,
        }
    }
}

#[derive(Serialize)]
struct Info<'a> {
    version: u64,
    storage_identifier: &'a str,
    duration: Nanos,
    starting_time: SinceEpoch,
    message_count: u64,
    topics_with_message_count: Vec<TopicCount<'a>>,
    compression_format: &'a str,
    compression_mode: &'a str,
    relative_file_paths: &'a [String],
    files: Vec<FileMd<'a>>,
    custom_data: Option<&'a BTreeMap<String, String>>,
    ros_distro: &'a str,
}

#[derive(Serialize)]
struct Nanos {
    nanoseconds: u64,
}

#[derive(Serialize)]
struct SinceEpoch {
    nanoseconds_since_epoch: u64,
}

#[derive(Serialize)]
struct TopicCount<'a> {
    topic_metadata: TopicMd<'a>,
    message_count: u64,
}

#[derive(Serialize)]
struct TopicMd<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    type_name: &'a str,
    serialization_format: &'a str,
    offered_qos_profiles: Value,
    type_description_hash: &'a str,
}

#[derive(Serialize)]
struct FileMd<'a> {
    path: &'a str,
    starting_time: SinceEpoch,
    duration: Nanos,
    message_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const V5: &str = r#"
rosbag2_bagfile_information:
  version: 5
  storage_identifier: sqlite3
  relative_file_paths:
    - bag_0.db3
    - bag_1.db3
  duration:
    nanoseconds: 1000
  starting_time:
    nanoseconds_since_epoch: 5
  message_count: 3
  topics_with_message_count:
    - topic_metadata:
        name: /joint_states
        type: sensor_msgs/msg/JointState
        serialization_format: cdr
        offered_qos_profiles: "- history: 3\n  depth: 0\n  reliability: 1\n  durability: 2\n  deadline:\n    sec: 2147483647\n    nsec: 4294967295\n  lifespan:\n    sec: 2147483647\n    nsec: 4294967295\n  liveliness: 1\n  liveliness_lease_duration:\n    sec: 2147483647\n    nsec: 4294967295\n  avoid_ros_namespace_conventions: false"
      message_count: 3
  compression_format: ""
  compression_mode: ""
  files:
    - path: bag_0.db3
      starting_time:
        nanoseconds_since_epoch: 5
      duration:
        nanoseconds: 10
      message_count: 2
"#;

    #[test]
    fn reads_v5_and_round_trips_v9() {
        let m = BagMetadata::parse(V5, Path::new("metadata.yaml")).unwrap();
        assert_eq!(m.version, 5);
        assert_eq!(m.relative_file_paths, ["bag_0.db3", "bag_1.db3"]);
        assert_eq!(m.topics[0].offered_qos_profiles[0].reliability, "reliable");
        assert_eq!(m.topics[0].offered_qos_profiles[0].history, "unknown");
        assert_eq!(m.files[0].message_count, 2);
        let text = m.to_yaml();
        let back = BagMetadata::parse(&text, Path::new("x")).unwrap();
        assert_eq!(back.version, 9);
        assert_eq!(back.topics, m.topics);
        assert_eq!(back.files, m.files);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = BagMetadata::parse(
            "rosbag2_bagfile_information:\n  version: 10\n",
            Path::new("m.yaml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("version 10"), "{e}");
        let e = BagMetadata::parse("a: [", Path::new("m.yaml")).unwrap_err();
        assert!(e.to_string().contains("m.yaml"), "{e}");
        let e = BagMetadata::parse("foo: 1", Path::new("m.yaml")).unwrap_err();
        assert!(e.to_string().contains("rosbag2_bagfile_information"), "{e}");
    }
}
