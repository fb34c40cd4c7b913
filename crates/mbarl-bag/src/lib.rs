//! rosbag2 for mbarl, without ROS 2 installed.
//!
//! **Read** ([`Bag`]): bag directories with metadata.yaml (bag versions 1–9, split into several
//! files, `compression_mode` file or message with zstd), single `.mcap` or `.db3` files, MCAP
//! storage (chunks uncompressed, zstd or lz4; CRCs checked) and sqlite3 storage (schema
//! versions 1–4). Messages stream in file order with bounded memory (one chunk or one batch of
//! rows at a time). [`RawMessage::decode`] decodes the standard types the suite uses and the
//! `mbarl_msgs` types; [`RawMessage::to_json`] decodes any of them to JSON. MCAP messages are
//! not copied: a message's [`Payload`] is a window into its chunk, which is mapped in place
//! when uncompressed, and [`RawMessage::decode_view`] decodes images borrowing their pixels.
//!
//! **Write** ([`BagWriter`]): MCAP bag directories as ROS 2 Jazzy's rosbag2 writes them.
//! Messages are serialized straight into the chunk being written; with
//! [`WriterOptions::io_thread`] the file is written by a thread of the writer's own.
//!
//! **Demo datasets** ([`demo::Transitions`]): the transitions of a `mbarl demo import` dataset,
//! with the next-observation frames a compact dataset shares restored.
//!
//! **Errors** ([`BagError`]): corrupt or truncated content names the file, the byte offset (or
//! sqlite row) and the topic(s) concerned; [`ReadOptions::skip_corrupt`] reads everything else
//! and lists what it skipped. A missing topic lists the topics the bag has; an unknown type is
//! named. Nothing panics on bad input.
//!
//! ```no_run
//! use mbarl_bag::{Bag, ReadOptions};
//! use mbarl_msgs::sensor_msgs::JointState;
//!
//! let bag = Bag::open("demo_bag")?;
//! bag.topic("/joint_states")?; // MissingTopic lists what the bag has
//! for msg in bag.messages(ReadOptions { topics: Some(vec!["/joint_states".into()]), ..Default::default() }) {
//!     let js: JointState = msg?.decode()?;
//!     println!("{:?}", js.position);
//! }
//! # Ok::<(), mbarl_bag::BagError>(())
//! ```

pub mod decode;
pub mod demo;
pub mod error;
mod file_sink;
mod mcap_format;
mod mcap_reader;
mod mcap_writer;
pub mod metadata;
mod payload;
pub mod qos;
mod reader;
mod sqlite_reader;
pub mod writer;

pub use decode::{is_known_type, normalize_type_name};
pub use error::{BagError, Location, Topics};
pub use metadata::BagMetadata;
pub use payload::Payload;
pub use qos::QosProfile;
pub use reader::{Bag, Messages, RawMessage, ReadOptions, Skipped, TopicInfo};
pub use writer::{BagWriter, Compression, TopicId, WriterOptions};
