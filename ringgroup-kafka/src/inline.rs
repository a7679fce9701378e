//! [`InlineRecord`]: a keyed byte record carried inline, for bridging topics in shared memory
//! (whose messages must be plain data), and its codec.

use ringgroup::shm::InlineBytes;

use crate::codec::{Codec, CodecError};

/// A record of up to `K` key bytes (or no key) and up to `V` payload bytes, inline: plain
/// data, so a topic of it can live in shared memory.
///
/// # Examples
///
/// ```
/// use ringgroup_kafka::{Codec, InlineCodec, InlineRecord};
///
/// let record = InlineRecord::<16, 64>::new(Some(b"user-7"), b"signed up").unwrap();
/// assert_eq!(record.key(), Some(&b"user-7"[..]));
/// assert_eq!(record.payload(), b"signed up");
/// let mut payload = Vec::new();
/// InlineCodec.encode(&record, &mut payload);
/// assert_eq!(InlineCodec.decode(Some(b"user-7"), &payload)?, record);
/// # Ok::<(), ringgroup_kafka::CodecError>(())
/// ```
#[derive(Clone, Copy)]
#[repr(C)]
pub struct InlineRecord<const K: usize, const V: usize> {
    key: InlineBytes<K>,
    payload: InlineBytes<V>,
    /// 1 when the record has a key.
    keyed: u8,
}

// SAFETY: `repr(C)` of two `Pod` byte records and a byte: alignment 1, no padding; every bit
// pattern is valid (`keyed` other than 1 reads as "no key").
unsafe impl<const K: usize, const V: usize> bytemuck::Zeroable for InlineRecord<K, V> {}
// SAFETY: as above; `Copy`, `'static`, no pointers.
unsafe impl<const K: usize, const V: usize> bytemuck::Pod for InlineRecord<K, V> {}

impl<const K: usize, const V: usize> InlineRecord<K, V> {
    /// The record, or `None` if the key or the payload is too long.
    pub fn new(key: Option<&[u8]>, payload: &[u8]) -> Option<Self> {
        Some(Self {
            key: InlineBytes::new(key.unwrap_or_default())?,
            payload: InlineBytes::new(payload)?,
            keyed: u8::from(key.is_some()),
        })
    }

    /// Its key, if it has one.
    pub fn key(&self) -> Option<&[u8]> {
        (self.keyed == 1).then(|| self.key.as_bytes())
    }

    /// Its payload.
    pub fn payload(&self) -> &[u8] {
        self.payload.as_bytes()
    }
}

impl<const K: usize, const V: usize> PartialEq for InlineRecord<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key() && self.payload() == other.payload()
    }
}

impl<const K: usize, const V: usize> Eq for InlineRecord<K, V> {}

impl<const K: usize, const V: usize> std::fmt::Debug for InlineRecord<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineRecord")
            .field("key", &self.key().map(String::from_utf8_lossy))
            .field("payload", &String::from_utf8_lossy(self.payload()))
            .finish()
    }
}

/// The codec of [`InlineRecord`]: its key and payload as they are; a Kafka record too large
/// for it is a [`CodecError`].
#[derive(Clone, Copy, Debug, Default)]
pub struct InlineCodec;

impl<const K: usize, const V: usize> Codec<InlineRecord<K, V>> for InlineCodec {
    fn key<'v>(&self, value: &'v InlineRecord<K, V>) -> Option<&'v [u8]> {
        value.key()
    }

    fn encode(&self, value: &InlineRecord<K, V>, payload: &mut Vec<u8>) {
        payload.extend_from_slice(value.payload());
    }

    fn decode(&self, key: Option<&[u8]>, payload: &[u8]) -> Result<InlineRecord<K, V>, CodecError> {
        InlineRecord::new(key, payload).ok_or_else(|| CodecError {
            reason: format!(
                "key of {} bytes or payload of {} bytes: the record holds {K} and {V}",
                key.map_or(0, <[u8]>::len),
                payload.len()
            ),
        })
    }
}
