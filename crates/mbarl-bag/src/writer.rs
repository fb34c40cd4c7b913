//! Writing MCAP rosbag2 bags that stock tools (`ros2 bag`, rosbags, Foxglove) read.
//!
//! The directory holds `<name>_0.mcap` and `metadata.yaml` (version 9). The MCAP has profile
//! `ros2`, one schema per type (encoding `ros2msg`, the full definition with dependencies),
//! one channel per topic (message encoding `cdr`, metadata `offered_qos_profiles` = the YAML
//! text of the same list metadata.yaml holds), chunk CRCs, message indexes and a summary, plus
//! the `rosbag2` metadata record rosbag2 writes.
//!
//! Crash safety: `metadata.yaml` is written when the bag is created and rewritten (atomically)
//! on every [`BagWriter::flush`]; chunks are written whole, so a killed writer leaves a bag whose
//! complete chunks are readable (the reader reports the cut-off tail as truncated).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use mbarl_msgs::RosMessage;
use serde::Serialize;

use crate::error::{BagError, Result};
use crate::file_sink::FileSink;
use crate::mcap_writer::{ChunkCompression, McapWriter, WriteError};
use crate::metadata::{BagMetadata, FileInformation, TopicMetadata, VERSION};
use crate::qos::{self, QosProfile};

/// Chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    None,
    #[default]
    Zstd,
    Lz4,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" | "" => Ok(Compression::None),
            "zstd" => Ok(Compression::Zstd),
            "lz4" => Ok(Compression::Lz4),
            other => Err(format!("compression `{other}`: expected none, zstd or lz4")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub compression: Compression,
    /// Target uncompressed chunk size in bytes.
    pub chunk_size: u64,
    /// `custom_data` in metadata.yaml.
    pub custom_data: BTreeMap<String, String>,
    /// Writes the file from a thread of the writer's own: the caller's thread only fills
    /// chunks (for writers that have a core to spare, e.g. `mbarl demo import`).
    pub io_thread: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            chunk_size: 1 << 20,
            custom_data: BTreeMap::new(),
            io_thread: false,
        }
    }
}

/// A topic added to a [`BagWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicId(usize);

struct WTopic {
    meta: TopicMetadata,
    channel: u16,
    sequence: u32,
}

/// Writes one MCAP rosbag2 bag directory.
pub struct BagWriter {
    dir: PathBuf,
    file_name: String,
    mcap: Option<McapWriter>,
    topics: Vec<WTopic>,
    schemas: BTreeMap<String, u16>,
    first_ns: u64,
    last_ns: u64,
    count: u64,
    bytes: u64,
    custom_data: BTreeMap<String, String>,
}

impl BagWriter {
    /// Creates the bag directory (it must not exist, or be empty) and its MCAP file.
    pub fn create(dir: impl AsRef<Path>, options: WriterOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let werr = |reason: String| BagError::Write {
            path: dir.clone(),
            reason,
        };
        if dir.exists() {
            let non_empty = std::fs::read_dir(&dir)
                .map_err(|e| BagError::io(&dir, e))?
                .next()
                .is_some();
            if non_empty {
                return Err(werr(
                    "the directory exists and is not empty; not overwriting".into(),
                ));
            }
        }
        std::fs::create_dir_all(&dir).map_err(|e| BagError::io(&dir, e))?;
        let stem = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "bag".into());
        let file_name = format!("{stem}_0.mcap");
        let path = dir.join(&file_name);
        let file = File::create(&path).map_err(|e| BagError::io(&path, e))?;
        let compression = match options.compression {
            Compression::None => ChunkCompression::None,
            Compression::Zstd => ChunkCompression::Zstd,
            Compression::Lz4 => ChunkCompression::Lz4,
        };
        // Chunk CRCs are kept (readers check them); a second CRC pass over the whole data
        // section adds nothing a reader uses.
        let sink = FileSink::new(file, options.io_thread).map_err(|e| BagError::io(&path, e))?;
        let mcap = McapWriter::new(
            sink,
            "ros2",
            &format!("mbarl-bag/{}", env!("CARGO_PKG_VERSION")),
            compression,
            options.chunk_size.max(1024),
        )
        .map_err(|e| werr(e.to_string()))?;
        let writer = Self {
            dir,
            file_name,
            mcap: Some(mcap),
            topics: Vec::new(),
            schemas: BTreeMap::new(),
            first_ns: u64::MAX,
            last_ns: 0,
            count: 0,
            bytes: 0,
            custom_data: options.custom_data,
        };
        writer.write_metadata()?;
        Ok(writer)
    }

    /// The bag directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds a topic of a type mbarl knows.
    pub fn add_topic<M: RosMessage>(&mut self, topic: &str, qos: &[QosProfile]) -> Result<TopicId> {
        self.add_topic_raw(topic, &M::type_name(), M::DEFINITION, qos)
    }

    /// Adds a topic of any type, given its `ros2msg` definition (with dependencies), or ""
    /// when it is unknown (the schema then only names the type; readers use their own
    /// definition).
    pub fn add_topic_raw(
        &mut self,
        topic: &str,
        type_name: &str,
        definition: &str,
        qos: &[QosProfile],
    ) -> Result<TopicId> {
        if let Some(i) = self.topics.iter().position(|t| t.meta.name == topic) {
            if self.topics[i].meta.type_name == type_name {
                return Ok(TopicId(i));
            }
            return Err(self.werr(format!(
                "topic {topic} was added as {}, not {type_name}",
                self.topics[i].meta.type_name
            )));
        }
        let dir = self.dir.clone();
        let mcap = self.mcap.as_mut().ok_or_else(|| BagError::Write {
            path: dir.clone(),
            reason: "the bag is finished".into(),
        })?;
        // No definition (a type mbarl does not know): a schema that names the type with an
        // empty encoding ("no definition"), so readers use their own definition of the type.
        // (An empty `ros2msg` schema would declare an empty message; a schemaless channel loses
        // the type name.)
        let encoding = if definition.is_empty() { "" } else { "ros2msg" };
        let schema = match self.schemas.get(type_name) {
            Some(id) => *id,
            None => {
                let id = mcap
                    .add_schema(type_name, encoding, definition.as_bytes())
                    .map_err(|e| BagError::Write {
                        path: dir.clone(),
                        reason: e.to_string(),
                    })?;
                self.schemas.insert(type_name.to_string(), id);
                id
            }
        };
        let mut metadata = BTreeMap::new();
        metadata.insert("offered_qos_profiles".to_string(), qos::to_yaml_v9(qos));
        let channel = mcap
            .add_channel(schema, topic, "cdr", &metadata)
            .map_err(|e| BagError::Write {
                path: dir,
                reason: e.to_string(),
            })?;
        self.topics.push(WTopic {
            meta: TopicMetadata {
                name: topic.to_string(),
                type_name: type_name.to_string(),
                serialization_format: "cdr".into(),
                offered_qos_profiles: qos.to_vec(),
                type_description_hash: String::new(),
                message_count: 0,
            },
            channel,
            sequence: 0,
        });
        self.write_metadata()?;
        Ok(TopicId(self.topics.len() - 1))
    }

    fn werr(&self, reason: String) -> BagError {
        BagError::Write {
            path: self.dir.clone(),
            reason,
        }
    }

    /// Serializes and writes one message received at `log_time_ns` (straight into the chunk
    /// being written: no copy in between).
    pub fn write<M: Serialize>(&mut self, topic: TopicId, log_time_ns: u64, msg: &M) -> Result<()> {
        self.write_with(topic, log_time_ns, log_time_ns, |buf| {
            mbarl_msgs::cdr::encode_into(msg, buf).map_err(|e| WriteError::Invalid(e.to_string()))
        })
    }

    /// Writes one already serialized message (encapsulation header + CDR).
    pub fn write_raw(
        &mut self,
        topic: TopicId,
        log_time_ns: u64,
        publish_time_ns: u64,
        data: &[u8],
    ) -> Result<()> {
        self.write_with(topic, log_time_ns, publish_time_ns, |buf| {
            buf.extend_from_slice(data);
            Ok(())
        })
    }

    /// Writes one message that `encode` serializes (encapsulation header + CDR), appending it
    /// to the buffer it is given: straight into the chunk being written.
    pub fn write_encoded(
        &mut self,
        topic: TopicId,
        log_time_ns: u64,
        publish_time_ns: u64,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<()> {
        self.write_with(topic, log_time_ns, publish_time_ns, |buf| {
            encode(buf);
            Ok(())
        })
    }

    /// Writes one message whose serialized bytes `data` appends to the chunk buffer.
    fn write_with(
        &mut self,
        topic: TopicId,
        log_time_ns: u64,
        publish_time_ns: u64,
        data: impl FnOnce(&mut Vec<u8>) -> Result<(), WriteError>,
    ) -> Result<()> {
        let dir = self.dir.clone();
        let t = self
            .topics
            .get_mut(topic.0)
            .ok_or_else(|| BagError::Write {
                path: dir.clone(),
                reason: format!("unknown topic id {}", topic.0),
            })?;
        let mcap = self.mcap.as_mut().ok_or_else(|| BagError::Write {
            path: dir.clone(),
            reason: "the bag is finished".into(),
        })?;
        let mut len = 0;
        mcap.write_message(t.channel, t.sequence, log_time_ns, publish_time_ns, |buf| {
            let start = buf.len();
            data(buf)?;
            len = buf.len() - start;
            Ok(())
        })
        .map_err(|e| BagError::Write {
            path: dir,
            reason: e.to_string(),
        })?;
        t.sequence = t.sequence.wrapping_add(1);
        t.meta.message_count += 1;
        self.count += 1;
        self.bytes += len as u64;
        self.first_ns = self.first_ns.min(log_time_ns);
        self.last_ns = self.last_ns.max(log_time_ns);
        Ok(())
    }

    /// Messages written so far.
    pub fn message_count(&self) -> u64 {
        self.count
    }

    /// Serialized message bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Messages written per topic.
    pub fn topic_counts(&self) -> Vec<(String, u64)> {
        self.topics
            .iter()
            .map(|t| (t.meta.name.clone(), t.meta.message_count))
            .collect()
    }

    /// Ends the current chunk, writes it to disk and refreshes metadata.yaml: everything
    /// written so far survives a crash.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(m) = self.mcap.as_mut() {
            m.flush().map_err(|e| BagError::Write {
                path: self.dir.clone(),
                reason: e.to_string(),
            })?;
        }
        self.write_metadata()
    }

    fn metadata(&self) -> BagMetadata {
        let (start, duration) = if self.count == 0 {
            (0, 0)
        } else {
            (self.first_ns, self.last_ns - self.first_ns)
        };
        BagMetadata {
            version: VERSION,
            storage_identifier: "mcap".into(),
            relative_file_paths: vec![self.file_name.clone()],
            starting_time_ns: start,
            duration_ns: duration,
            message_count: self.count,
            topics: self.topics.iter().map(|t| t.meta.clone()).collect(),
            compression_format: String::new(),
            compression_mode: String::new(),
            files: vec![FileInformation {
                path: self.file_name.clone(),
                starting_time_ns: start,
                duration_ns: duration,
                message_count: self.count,
            }],
            custom_data: self.custom_data.clone(),
            ros_distro: "jazzy".into(),
        }
    }

    fn write_metadata(&self) -> Result<()> {
        let text = self.metadata().to_yaml();
        let path = self.dir.join("metadata.yaml");
        let tmp = self.dir.join(".metadata.yaml.tmp");
        std::fs::write(&tmp, text).map_err(|e| BagError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| BagError::io(&path, e))
    }

    /// Writes the summary and footer and the final metadata.yaml.
    pub fn finish(mut self) -> Result<BagMetadata> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<BagMetadata> {
        let md = self.metadata();
        if let Some(mut mcap) = self.mcap.take() {
            let werr = |e: WriteError| BagError::Write {
                path: self.dir.join(&self.file_name),
                reason: e.to_string(),
            };
            let mut rec = BTreeMap::new();
            rec.insert("serialized_metadata".to_string(), md.info_yaml());
            mcap.write_metadata("rosbag2", &rec).map_err(werr)?;
            mcap.finish().map_err(werr)?;
        }
        self.write_metadata()?;
        Ok(md)
    }
}

impl Drop for BagWriter {
    fn drop(&mut self) {
        if self.mcap.is_some()
            && let Err(e) = self.finish_inner()
        {
            tracing::warn!("finishing bag {} on drop: {e}", self.dir.display());
        }
    }
}
