//! MCAP's file magic and record opcodes (the MCAP specification), shared by the reader and the
//! writer.

pub(crate) const MAGIC: &[u8; 8] = b"\x89MCAP0\r\n";

pub(crate) const OP_HEADER: u8 = 0x01;
pub(crate) const OP_FOOTER: u8 = 0x02;
pub(crate) const OP_SCHEMA: u8 = 0x03;
pub(crate) const OP_CHANNEL: u8 = 0x04;
pub(crate) const OP_MESSAGE: u8 = 0x05;
pub(crate) const OP_CHUNK: u8 = 0x06;
pub(crate) const OP_MESSAGE_INDEX: u8 = 0x07;
pub(crate) const OP_CHUNK_INDEX: u8 = 0x08;
pub(crate) const OP_STATISTICS: u8 = 0x0B;
pub(crate) const OP_METADATA: u8 = 0x0C;
pub(crate) const OP_METADATA_INDEX: u8 = 0x0D;
pub(crate) const OP_SUMMARY_OFFSET: u8 = 0x0E;
pub(crate) const OP_DATA_END: u8 = 0x0F;
