//! Opening a bag and streaming its messages.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mbarl_msgs::RosMessage;
use mbarl_msgs::view::MessageView;

use crate::decode;
use crate::error::{BagError, Location, Result};
use crate::mcap_reader::{self, McapFile};
use crate::metadata::{BagMetadata, TopicMetadata};
use crate::payload::Payload;
use crate::qos::{self, QosProfile};
use crate::sqlite_reader::{self, SqliteFile};

/// What the bag says about one topic.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicInfo {
    pub name: String,
    /// `pkg/msg/Name`.
    pub type_name: String,
    /// `cdr` for ROS 2 bags.
    pub serialization_format: String,
    pub offered_qos_profiles: Vec<QosProfile>,
    /// The `ros2msg` definition stored with the type, when the storage has one.
    pub definition: Option<String>,
    /// Message count from metadata.yaml or the MCAP summary, when known.
    pub message_count: Option<u64>,
}

/// One stored message, not yet decoded.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub topic: Arc<TopicInfo>,
    /// Receive time, ns since the epoch (rosbag2's timestamp).
    pub log_time: u64,
    /// Publish time, ns (MCAP); equal to `log_time` for sqlite3 bags.
    pub publish_time: u64,
    /// The serialized message (encapsulation header + CDR), shared with the chunk it was read
    /// from (holding it keeps that chunk's buffer alive).
    pub data: Payload,
    pub file: Arc<Path>,
    pub location: Location,
}

impl RawMessage {
    /// Decodes the message as `M`, checking the topic's type first.
    pub fn decode<M: RosMessage>(&self) -> Result<M> {
        if !decode::is_type::<M>(&self.topic.type_name) {
            return Err(BagError::WrongType {
                topic: self.topic.name.clone(),
                expected: M::type_name(),
                found: self.topic.type_name.clone(),
            });
        }
        self.decode_unchecked()
    }

    /// Decodes as `M` without comparing type names (e.g. for a renamed package).
    pub fn decode_unchecked<M: RosMessage>(&self) -> Result<M> {
        mbarl_msgs::cdr::decode::<M>(&self.data).map_err(|e| self.decode_error(e))
    }

    /// Decodes a borrowing view ([`mbarl_msgs::view`]), checking the topic's type as
    /// [`RawMessage::decode`] does: what the message carries is not copied.
    pub fn decode_view<'a, V: MessageView<'a>>(&'a self) -> Result<V> {
        if !decode::is_type::<V::Owned>(&self.topic.type_name) {
            return Err(BagError::WrongType {
                topic: self.topic.name.clone(),
                expected: V::Owned::type_name(),
                found: self.topic.type_name.clone(),
            });
        }
        V::decode(&self.data).map_err(|e| self.decode_error(e))
    }

    fn decode_error(&self, source: mbarl_msgs::CdrError) -> BagError {
        BagError::Decode {
            path: self.file.to_path_buf(),
            location: self.location,
            topic: self.topic.name.clone(),
            type_name: self.topic.type_name.clone(),
            source: Box::new(source),
        }
    }

    /// Decodes any type mbarl knows to JSON; an unknown type is [`BagError::UnknownType`].
    pub fn to_json(&self) -> Result<serde_json::Value> {
        match decode::to_json(&self.topic.type_name, &self.data) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(BagError::UnknownType {
                topic: self.topic.name.clone(),
                type_name: self.topic.type_name.clone(),
            }),
            Err(source) => Err(BagError::Decode {
                path: self.file.to_path_buf(),
                location: self.location,
                topic: self.topic.name.clone(),
                type_name: self.topic.type_name.clone(),
                source: Box::new(source),
            }),
        }
    }

    /// Header stamp in ns when the message starts with a `std_msgs/Header` (types known to
    /// mbarl with a `header` field), else None.
    pub fn header_stamp(&self) -> Option<i64> {
        if !has_header(&self.topic.type_name) || self.data.len() < 12 {
            return None;
        }
        // CDR: encapsulation (4), then Time { int32 sec, uint32 nanosec } at body offset 0.
        let le = self.data[1] == 1;
        let rd = |b: [u8; 4]| {
            if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let sec = rd(self.data[4..8].try_into().ok()?) as i32;
        let nsec = rd(self.data[8..12].try_into().ok()?);
        Some(sec as i64 * 1_000_000_000 + nsec as i64)
    }
}

fn has_header(type_name: &str) -> bool {
    decode::definition(type_name).is_some_and(|d| {
        decode::definition_fields(d).first().is_some_and(|l| {
            let mut it = l.split(' ');
            matches!(it.next(), Some("std_msgs/Header" | "Header")) && it.next() == Some("header")
        })
    })
}

/// Topic information from metadata.yaml, merged into what each storage file says.
#[derive(Debug, Default)]
pub(crate) struct TopicTable {
    by_name: HashMap<String, TopicMetadata>,
}

impl TopicTable {
    pub(crate) fn topic_info(
        &self,
        topic: &str,
        type_name: &str,
        encoding: &str,
        definition: Option<&str>,
        qos_text: Option<&str>,
    ) -> Arc<TopicInfo> {
        let md = self.by_name.get(topic);
        let qos_from_channel = qos_text
            .and_then(|t| qos::parse(&serde_yaml_ng::Value::String(t.to_string())).ok())
            .filter(|q| !q.is_empty());
        Arc::new(TopicInfo {
            name: topic.to_string(),
            type_name: if type_name.is_empty() {
                md.map(|m| m.type_name.clone()).unwrap_or_default()
            } else {
                type_name.to_string()
            },
            serialization_format: if encoding.is_empty() {
                md.map(|m| m.serialization_format.clone())
                    .unwrap_or_else(|| "cdr".into())
            } else {
                encoding.to_string()
            },
            offered_qos_profiles: qos_from_channel
                .or_else(|| md.map(|m| m.offered_qos_profiles.clone()))
                .unwrap_or_default(),
            definition: definition.filter(|d| !d.is_empty()).map(str::to_string),
            message_count: md.map(|m| m.message_count),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    Mcap,
    Sqlite3,
}

#[derive(Debug, Clone)]
struct StorageFile {
    path: PathBuf,
    storage: Storage,
    /// Whole-file zstd compression (`compression_mode: file`).
    zstd: bool,
    size: u64,
}

/// A rosbag2 bag: a directory with metadata.yaml and its storage files, or a single `.mcap` /
/// `.db3` file.
#[derive(Debug)]
pub struct Bag {
    path: PathBuf,
    metadata: Option<BagMetadata>,
    files: Vec<StorageFile>,
    topics: Vec<TopicInfo>,
    message_zstd: bool,
}

/// How to read messages.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Only these topics (all when None).
    pub topics: Option<Vec<String>>,
    /// Skip corrupt chunks, rows and truncated tails instead of stopping at the first; what was
    /// skipped is in [`Messages::skipped`].
    pub skip_corrupt: bool,
}

impl Bag {
    /// Opens a bag directory (with or without metadata.yaml) or a single storage file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let meta = std::fs::metadata(&path).map_err(|e| BagError::io(&path, e))?;
        let (metadata, files) = if meta.is_dir() {
            if path.join("metadata.yaml").exists() {
                let md = BagMetadata::read(&path)?;
                let files = files_from_metadata(&path, &md)?;
                (Some(md), files)
            } else {
                (None, scan_dir(&path)?)
            }
        } else {
            (None, vec![storage_file(&path)?])
        };
        if files.is_empty() {
            return Err(BagError::NotABag {
                path,
                reason: "no metadata.yaml and no .mcap or .db3 files".into(),
            });
        }
        let message_zstd = metadata
            .as_ref()
            .is_some_and(|m| m.compression_mode.eq_ignore_ascii_case("message"));
        let mut bag = Bag {
            path,
            metadata,
            files,
            topics: Vec::new(),
            message_zstd,
        };
        bag.topics = bag.collect_topics()?;
        Ok(bag)
    }

    fn table(&self) -> TopicTable {
        TopicTable {
            by_name: self
                .metadata
                .iter()
                .flat_map(|m| m.topics.iter())
                .map(|t| (t.name.clone(), t.clone()))
                .collect(),
        }
    }

    fn collect_topics(&self) -> Result<Vec<TopicInfo>> {
        let table = self.table();
        let mut out: Vec<TopicInfo> = Vec::new();
        let mut add = |t: TopicInfo| {
            if let Some(existing) = out.iter_mut().find(|e| e.name == t.name) {
                if existing.definition.is_none() {
                    existing.definition = t.definition;
                }
                if existing.message_count.is_none() {
                    existing.message_count = t.message_count;
                }
            } else {
                out.push(t);
            }
        };
        if let Some(md) = &self.metadata {
            for t in &md.topics {
                add((*table.topic_info(
                    &t.name,
                    &t.type_name,
                    &t.serialization_format,
                    None,
                    None,
                ))
                .clone());
            }
        }
        for f in &self.files {
            match (f.storage, f.zstd) {
                (Storage::Mcap, false) => {
                    if let Some(s) = mcap_reader::read_summary(&f.path) {
                        for c in s.channels {
                            let mut t = (*table.topic_info(
                                &c.topic,
                                &c.type_name,
                                &c.message_encoding,
                                Some(&c.definition),
                                Some(&c.qos),
                            ))
                            .clone();
                            if t.message_count.is_none() {
                                t.message_count = s.counts.get(&c.id).copied();
                            }
                            add(t);
                        }
                    } else if self.metadata.is_none() {
                        // No index: find the channels by reading the file once.
                        let mut r = McapFile::open(
                            &f.path,
                            false,
                            false,
                            Arc::new(table.by_name_clone()),
                            None,
                        )?;
                        let mut seen = HashMap::new();
                        while let Some(m) = r.next_message() {
                            match m {
                                Ok(m) => {
                                    seen.entry(m.topic.name.clone())
                                        .or_insert((m.topic.clone(), 0u64))
                                        .1 += 1
                                }
                                Err(e) if e.is_corruption() => break,
                                Err(e) => return Err(e),
                            }
                        }
                        for (_, (t, n)) in seen {
                            let mut t = (*t).clone();
                            t.message_count = Some(n);
                            add(t);
                        }
                    }
                }
                (Storage::Sqlite3, _) => {
                    for t in sqlite_reader::topics(&f.path, f.zstd, &table)? {
                        add(t);
                    }
                }
                (Storage::Mcap, true) => {}
            }
        }
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// metadata.yaml, when the bag has one.
    pub fn metadata(&self) -> Option<&BagMetadata> {
        self.metadata.as_ref()
    }

    /// The storage files, in reading order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }

    /// Total size of the storage files in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn topics(&self) -> &[TopicInfo] {
        &self.topics
    }

    /// The topic, or [`BagError::MissingTopic`] listing the topics the bag has.
    pub fn topic(&self, name: &str) -> Result<&TopicInfo> {
        self.topics
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| BagError::MissingTopic {
                path: self.path.clone(),
                topic: name.to_string(),
                available: self
                    .topics
                    .iter()
                    .map(|t| format!("{} ({})", t.name, t.type_name))
                    .collect(),
            })
    }

    /// Streams the messages of all files in order.
    pub fn messages(&self, options: ReadOptions) -> Messages {
        Messages {
            files: self.files.clone(),
            next_file: 0,
            current: None,
            table: Arc::new(self.table()),
            filter: options
                .topics
                .map(|t| Arc::new(t.into_iter().collect::<HashSet<_>>())),
            skip_corrupt: options.skip_corrupt,
            skipped: Vec::new(),
            done_bytes: 0,
            stopped: false,
            message_zstd: self.message_zstd,
        }
    }
}

impl TopicTable {
    fn by_name_clone(&self) -> TopicTable {
        TopicTable {
            by_name: self.by_name.clone(),
        }
    }
}

fn storage_file(path: &Path) -> Result<StorageFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (base, zstd) = match name.strip_suffix(".zstd") {
        Some(b) => (b.to_string(), true),
        None => (name.clone(), false),
    };
    let storage = if base.ends_with(".mcap") {
        Storage::Mcap
    } else if base.ends_with(".db3") {
        Storage::Sqlite3
    } else {
        return Err(BagError::NotABag {
            path: path.to_path_buf(),
            reason: "not a .mcap or .db3 file (or a directory with metadata.yaml)".into(),
        });
    };
    let size = std::fs::metadata(path)
        .map_err(|e| BagError::io(path, e))?
        .len();
    Ok(StorageFile {
        path: path.to_path_buf(),
        storage,
        zstd,
        size,
    })
}

fn files_from_metadata(dir: &Path, md: &BagMetadata) -> Result<Vec<StorageFile>> {
    let mut out = Vec::new();
    for rel in &md.relative_file_paths {
        // Bag versions < 4 stored the path with the bag directory in front.
        let mut p = dir.join(rel);
        if !p.exists()
            && let Some(name) = Path::new(rel).file_name()
        {
            p = dir.join(name);
        }
        if !p.exists() {
            return Err(BagError::NotABag {
                path: dir.to_path_buf(),
                reason: format!("metadata.yaml lists {rel}, which does not exist"),
            });
        }
        let mut f = storage_file(&p).or_else(|e| match md.storage_identifier.as_str() {
            "mcap" | "sqlite3" => {
                let size = std::fs::metadata(&p)
                    .map_err(|e| BagError::io(&p, e))?
                    .len();
                Ok(StorageFile {
                    path: p.clone(),
                    storage: if md.storage_identifier == "mcap" {
                        Storage::Mcap
                    } else {
                        Storage::Sqlite3
                    },
                    zstd: false,
                    size,
                })
            }
            _ => Err(e),
        })?;
        if md.compression_mode.eq_ignore_ascii_case("file") {
            if !md.compression_format.is_empty() && md.compression_format != "zstd" {
                return Err(BagError::Unsupported {
                    path: dir.to_path_buf(),
                    what: format!("compression format `{}`", md.compression_format),
                    reason: "only zstd file compression exists in rosbag2".into(),
                });
            }
            f.zstd = true;
        }
        out.push(f);
    }
    if !matches!(md.storage_identifier.as_str(), "mcap" | "sqlite3") {
        return Err(BagError::Unsupported {
            path: dir.to_path_buf(),
            what: format!("storage `{}`", md.storage_identifier),
            reason: "mbarl reads mcap and sqlite3 bags".into(),
        });
    }
    Ok(out)
}

fn scan_dir(dir: &Path) -> Result<Vec<StorageFile>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| BagError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".mcap") || n.ends_with(".db3")
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| storage_file(p)).collect()
}

/// Something `skip_corrupt` skipped.
#[derive(Debug)]
pub struct Skipped {
    pub error: BagError,
}

enum Current {
    Mcap(Box<McapFile>),
    Sqlite(Box<SqliteFile>),
}

/// The messages of a bag, in file order. Yields at most one error (reading stops there)
/// unless `skip_corrupt` is set.
pub struct Messages {
    files: Vec<StorageFile>,
    next_file: usize,
    current: Option<(Current, u64)>,
    table: Arc<TopicTable>,
    filter: Option<Arc<HashSet<String>>>,
    skip_corrupt: bool,
    skipped: Vec<Skipped>,
    done_bytes: u64,
    stopped: bool,
    message_zstd: bool,
}

impl Messages {
    /// What was skipped so far (with `skip_corrupt`).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Takes the skipped list.
    pub fn take_skipped(&mut self) -> Vec<Skipped> {
        std::mem::take(&mut self.skipped)
    }

    /// Approximate bytes of the storage files read so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.done_bytes
            + match &self.current {
                Some((Current::Mcap(f), size)) => f.position().min(*size),
                Some((Current::Sqlite(f), size)) => f.progress(*size),
                None => 0,
            }
    }

    /// The file being read.
    pub fn current_file(&self) -> Option<&Path> {
        self.next_file
            .checked_sub(1)
            .and_then(|i| self.files.get(i))
            .map(|f| f.path.as_path())
    }

    /// The index of the file being read (split bags: a new file may start a new episode).
    pub fn current_file_index(&self) -> usize {
        self.next_file.saturating_sub(1)
    }

    fn open_next(&mut self) -> Option<Result<()>> {
        let f = self.files.get(self.next_file)?.clone();
        self.next_file += 1;
        let opened = match f.storage {
            Storage::Mcap => McapFile::open(
                &f.path,
                f.zstd,
                self.message_zstd,
                self.table.clone(),
                self.filter.clone(),
            )
            .map(|m| Current::Mcap(Box::new(m))),
            Storage::Sqlite3 => SqliteFile::open(
                &f.path,
                f.zstd,
                self.message_zstd,
                &self.table,
                self.filter.clone(),
            )
            .map(|s| Current::Sqlite(Box::new(s))),
        };
        Some(opened.map(|c| self.current = Some((c, f.size))))
    }
}

impl Iterator for Messages {
    type Item = Result<RawMessage>;

    fn next(&mut self) -> Option<Result<RawMessage>> {
        loop {
            if self.stopped {
                return None;
            }
            if self.current.is_none() {
                match self.open_next()? {
                    Ok(()) => {}
                    Err(e) => {
                        if self.skip_corrupt && e.is_corruption() {
                            self.skipped.push(Skipped { error: e });
                            continue;
                        }
                        self.stopped = true;
                        return Some(Err(e));
                    }
                }
            }
            let Some((current, size)) = self.current.as_mut() else {
                continue;
            };
            let item = match current {
                Current::Mcap(f) => f.next_message(),
                Current::Sqlite(f) => f.next_message(),
            };
            match item {
                Some(Ok(m)) => return Some(Ok(m)),
                Some(Err(e)) => {
                    if self.skip_corrupt && e.is_corruption() {
                        tracing::warn!("skipping: {e}");
                        self.skipped.push(Skipped { error: e });
                        continue;
                    }
                    self.stopped = true;
                    return Some(Err(e));
                }
                None => {
                    self.done_bytes += *size;
                    self.current = None;
                }
            }
        }
    }
}
