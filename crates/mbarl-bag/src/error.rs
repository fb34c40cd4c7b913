//! What can go wrong reading or writing a bag. Every error that comes from the content of a
//! file names the file, where in it (a byte offset for MCAP, a row id for sqlite3) and, when
//! known, the topic.

use std::fmt;
use std::path::PathBuf;

use mbarl_msgs::CdrError;

/// Where in a storage file something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// A byte offset from the start of an MCAP file (the start of the record).
    Byte(u64),
    /// A byte offset inside a chunk: the chunk record's file offset and the offset of the
    /// record within the chunk's uncompressed records.
    InChunk { chunk: u64, offset: u64 },
    /// The `id` of a row of the `messages` table of a sqlite3 bag.
    Row(i64),
}

impl Location {
    /// The file byte offset (of the enclosing chunk for records inside one), or the row id.
    pub fn offset(&self) -> u64 {
        match *self {
            Location::Byte(o) => o,
            Location::InChunk { chunk, .. } => chunk,
            Location::Row(r) => r.max(0) as u64,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Byte(o) => write!(f, "offset {o}"),
            Location::InChunk { chunk, offset } => {
                write!(f, "offset {chunk} (chunk), byte {offset} of its records")
            }
            Location::Row(r) => write!(f, "row {r}"),
        }
    }
}

/// The topic(s) an error concerns, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topics(pub Vec<String>);

impl fmt::Display for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            0 => f.write_str("topic unknown"),
            1 => write!(f, "topic {}", self.0[0]),
            _ => write!(f, "topics {}", self.0.join(", ")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BagError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a rosbag2 bag: {reason}")]
    NotABag { path: PathBuf, reason: String },
    #[error("{path}: invalid metadata.yaml: {reason}")]
    Metadata { path: PathBuf, reason: String },
    #[error("{path}: rosbag2 bag version {version} is not supported (versions 1-9 are)")]
    UnsupportedVersion { path: PathBuf, version: u64 },
    #[error("{path}: {what} is not supported: {reason}")]
    Unsupported {
        path: PathBuf,
        what: String,
        reason: String,
    },
    /// Part of a file cannot be read. Reading stops here unless `skip_corrupt` is set.
    #[error("corrupt bag file {path} at {location} ({topics}): {reason}")]
    Corrupt {
        path: PathBuf,
        location: Location,
        topics: Topics,
        reason: String,
    },
    /// The file ends in the middle of a record (e.g. the recorder was killed).
    #[error(
        "truncated bag file {path} at offset {offset} ({topics}): {reason}; the messages before it are readable (--skip-corrupt)"
    )]
    Truncated {
        path: PathBuf,
        offset: u64,
        topics: Topics,
        reason: String,
    },
    /// A message does not decode as its topic's type.
    #[error(
        "cannot decode message on topic {topic} ({type_name}) in {path} at {location}: {source}"
    )]
    Decode {
        path: PathBuf,
        location: Location,
        topic: String,
        type_name: String,
        #[source]
        source: Box<CdrError>,
    },
    #[error("topic {topic} has type {found}, not {expected}")]
    WrongType {
        topic: String,
        expected: String,
        found: String,
    },
    #[error(
        "unknown message type {type_name} on topic {topic}: mbarl decodes {known}",
        known = crate::decode::known_types_summary()
    )]
    UnknownType { topic: String, type_name: String },
    #[error("topic {topic} is not in the bag {path}; it has: {}", list_or_none(.available))]
    MissingTopic {
        path: PathBuf,
        topic: String,
        available: Vec<String>,
    },
    #[error("{path}: sqlite3: {reason}")]
    Sqlite { path: PathBuf, reason: String },
    #[error("writing {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "no topics".into()
    } else {
        v.join(", ")
    }
}

impl BagError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BagError::Io {
            path: path.into(),
            source,
        }
    }

    /// True for damage to the file's content (corrupt, truncated, undecodable), which
    /// `skip_corrupt` skips.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            BagError::Corrupt { .. } | BagError::Truncated { .. } | BagError::Decode { .. }
        )
    }
}

pub type Result<T, E = BagError> = std::result::Result<T, E>;
