//! [`InlineBytes`]: a byte payload carried inline in a plain-data message.

use std::fmt;

/// Up to `N` bytes carried inline (a length and the bytes), for byte payloads on topics whose
/// messages must be plain data (shared-memory topics). Any bit pattern is a valid value: a
/// length beyond `N` reads as `N`.
///
/// # Examples
///
/// ```
/// use ringgroup::shm::InlineBytes;
///
/// let record = InlineBytes::<16>::new(b"order #1").unwrap();
/// assert_eq!(record.as_bytes(), b"order #1");
/// assert!(InlineBytes::<4>::new(b"too long").is_none());
/// ```
#[derive(Clone, Copy)]
#[repr(C)]
pub struct InlineBytes<const N: usize> {
    bytes: [u8; N],
    /// Little-endian length (bytes, so the type has no padding whatever `N` is).
    len: [u8; 4],
}

// SAFETY: the struct is `repr(C)` of byte arrays only: no padding, alignment 1, and every bit
// pattern is a valid value (a too-large length is clamped on read).
unsafe impl<const N: usize> bytemuck::Zeroable for InlineBytes<N> {}
// SAFETY: as above; it is `Copy` and `'static`, with no pointers.
unsafe impl<const N: usize> bytemuck::Pod for InlineBytes<N> {}

impl<const N: usize> InlineBytes<N> {
    /// The payload `bytes`, or `None` if it is longer than `N` (or than `u32::MAX`).
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > N {
            return None;
        }
        let len = u32::try_from(bytes.len()).ok()?;
        let mut value = Self {
            bytes: [0; N],
            len: len.to_le_bytes(),
        };
        value.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(value)
    }

    /// The payload.
    pub fn as_bytes(&self) -> &[u8] {
        let len = (u32::from_le_bytes(self.len) as usize).min(N);
        &self.bytes[..len]
    }

    /// The largest payload this type carries.
    pub const CAPACITY: usize = N;
}

impl<const N: usize> Default for InlineBytes<N> {
    fn default() -> Self {
        Self {
            bytes: [0; N],
            len: [0; 4],
        }
    }
}

impl<const N: usize> PartialEq for InlineBytes<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> Eq for InlineBytes<N> {}

impl<const N: usize> fmt::Debug for InlineBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InlineBytes")
            .field(&String::from_utf8_lossy(self.as_bytes()))
            .finish()
    }
}
