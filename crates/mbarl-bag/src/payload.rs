//! [`Payload`]: the bytes of one stored message, shared with the chunk they were read from.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Bytes read from a storage file: on the heap, or a read-only mapping of part of the file.
pub(crate) enum Buf {
    Heap(Vec<u8>),
    Map(memmap2::Mmap),
}

impl Default for Buf {
    fn default() -> Self {
        Buf::Heap(Vec::new())
    }
}

impl Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Buf::Heap(v) => v,
            Buf::Map(m) => m,
        }
    }
}

/// The serialized bytes of one message (encapsulation header + CDR). A message read from an
/// MCAP chunk is a window into the chunk's buffer, not a copy; the buffer is freed (or reused
/// by the reader) when no payload refers to it any more. Derefs to `[u8]`.
#[derive(Clone)]
pub struct Payload {
    buf: Arc<Buf>,
    range: Range<usize>,
}

impl Payload {
    /// The bytes `range` of `buf` (clamped to its length, so never out of bounds).
    pub(crate) fn slice(buf: &Arc<Buf>, range: Range<usize>) -> Self {
        let end = range.end.min(buf.len());
        let start = range.start.min(end);
        Self {
            buf: buf.clone(),
            range: start..end,
        }
    }

    /// The bytes as a slice.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.range.clone()]
    }
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        let len = v.len();
        Self {
            buf: Arc::new(Buf::Heap(v)),
            range: 0..len,
        }
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.range.len())
    }
}

/// A heap buffer to fill anew: `buf` itself when no payload shares it, else a fresh one (the
/// payloads keep the old one alive).
pub(crate) fn reusable(buf: &mut Arc<Buf>) -> &mut Vec<u8> {
    if !matches!(Arc::get_mut(buf), Some(Buf::Heap(_))) {
        *buf = Arc::new(Buf::Heap(Vec::new()));
    }
    match Arc::get_mut(buf) {
        Some(Buf::Heap(v)) => v,
        // Just made a unique heap buffer.
        _ => unreachable!("a fresh buffer is unique"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_buffer_and_reuse_waits_for_them() {
        let mut buf = Arc::new(Buf::Heap(vec![1u8, 2, 3, 4, 5]));
        let p = Payload::slice(&buf, 1..3);
        assert_eq!(&*p, &[2, 3]);
        assert_eq!(Payload::slice(&buf, 4..99).as_slice(), &[5]);
        assert!(Payload::slice(&buf, 7..9).is_empty());
        // Shared: filling gives a new buffer and leaves the payload intact.
        reusable(&mut buf).clear();
        assert_eq!(&*p, &[2, 3]);
        assert!(buf.is_empty());
        drop(p);
        let before = Arc::as_ptr(&buf);
        reusable(&mut buf).push(9);
        assert_eq!(Arc::as_ptr(&buf), before, "unshared buffers are reused");
        let other = Arc::new(Buf::Heap(vec![0, 7, 8]));
        assert_eq!(Payload::from(vec![7u8, 8]), Payload::slice(&other, 1..3));
    }
}
