//! How a ringgroup message becomes a Kafka record and back: its key (which decides its Kafka
//! partition when partitions are mapped by key), its payload bytes, and the decoding of both.

use std::fmt;

/// Turns a topic's messages into Kafka keys and payloads, and back.
///
/// # Examples
///
/// ```
/// use ringgroup_kafka::{BytesCodec, Codec, KeyedBytes};
///
/// let record = KeyedBytes::new(b"user-7", b"signed up");
/// let mut payload = Vec::new();
/// BytesCodec.encode(&record, &mut payload);
/// assert_eq!(BytesCodec.key(&record), Some(&b"user-7"[..]));
/// assert_eq!(BytesCodec.decode(Some(b"user-7"), &payload)?, record);
/// # Ok::<(), ringgroup_kafka::CodecError>(())
/// ```
pub trait Codec<T>: Send {
    /// The message's key, if it has one.
    fn key<'v>(&self, value: &'v T) -> Option<&'v [u8]>;

    /// Appends the message's payload bytes to `payload` (which is empty).
    fn encode(&self, value: &T, payload: &mut Vec<u8>);

    /// The message of a Kafka record's key and payload.
    fn decode(&self, key: Option<&[u8]>, payload: &[u8]) -> Result<T, CodecError>;
}

/// A record of bytes: an optional key and a payload, for byte topics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyedBytes {
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The payload.
    pub payload: Vec<u8>,
}

impl KeyedBytes {
    /// A keyed record.
    pub fn new(key: &[u8], payload: &[u8]) -> Self {
        Self {
            key: Some(key.to_vec()),
            payload: payload.to_vec(),
        }
    }
}

/// The codec of [`KeyedBytes`]: the key and payload as they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

impl Codec<KeyedBytes> for BytesCodec {
    fn key<'v>(&self, value: &'v KeyedBytes) -> Option<&'v [u8]> {
        value.key.as_deref()
    }

    fn encode(&self, value: &KeyedBytes, payload: &mut Vec<u8>) {
        payload.extend_from_slice(&value.payload);
    }

    fn decode(&self, key: Option<&[u8]>, payload: &[u8]) -> Result<KeyedBytes, CodecError> {
        Ok(KeyedBytes {
            key: key.map(<[u8]>::to_vec),
            payload: payload.to_vec(),
        })
    }
}

/// A record a codec could not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError {
    /// What was wrong with it.
    pub reason: String,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a record could not be decoded: {}", self.reason)
    }
}

impl std::error::Error for CodecError {}
