//! [`Buffer`]: bytes that travel beside the frame, moved rather than copied.

use std::fmt;

use bus_core::Attachment;
use js_sys::Uint8Array;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that cross to the peer without being copied: a payload field of
/// this type is not encoded into the frame but posted beside it, its
/// `ArrayBuffer` in the `postMessage` transfer list (see
/// [`bus_core::attach`]). Use it for large binary data (files, images,
/// audio): 64 KiB or 1 MiB then moves like a raw transfer, instead of being
/// copied into wasm, into the frame, and out again on each side.
///
/// Sending moves the bytes: afterwards the sender's `Uint8Array` is empty
/// (its buffer is detached), as with any transferred buffer. A view over
/// part of a larger buffer is copied into a buffer of its own first, so the
/// rest of the larger buffer stays with the sender.
///
/// Needs the `buffers` feature (about 2.7 KB gzipped; without it the bus
/// refuses frames that bring buffers).
///
/// A payload may hold up to [`bus_core::MAX_ATTACHMENTS_PER_FRAME`]
/// buffers, and they count against the frame limit
/// ([`bus_core::Limits::max_frame_bytes`], 4 MiB by default).
///
/// ```ignore
/// use bus_web::{Buffer, Method};
///
/// const THUMBNAIL: Method<Buffer, Buffer> = Method::new("images.thumbnail");
///
/// // Host: the file's bytes go over as they are.
/// let bytes = js_sys::Uint8Array::new(&file_array_buffer);
/// let small = conn.call(&THUMBNAIL, &Buffer::new(bytes)).await?;
/// show(small.as_uint8_array());
///
/// // Widget: read it in wasm only if it must.
/// conn.serve(THUMBNAIL, |image: Buffer| async move { Ok(shrink(&image.to_vec())) });
/// ```
#[derive(Clone)]
pub struct Buffer(Uint8Array);

impl Buffer {
    /// Wraps a `Uint8Array`; nothing is copied.
    pub fn new(bytes: Uint8Array) -> Buffer {
        Buffer(bytes)
    }

    /// Copies `bytes` out of wasm into a new `Uint8Array`.
    pub fn from_slice(bytes: &[u8]) -> Buffer {
        Buffer(Uint8Array::from(bytes))
    }

    /// The bytes, where they are.
    pub fn as_uint8_array(&self) -> &Uint8Array {
        &self.0
    }

    /// The `Uint8Array`.
    pub fn into_uint8_array(self) -> Uint8Array {
        self.0
    }

    /// Copies the bytes into wasm.
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }

    /// Its length in bytes (0 once sent).
    pub fn len(&self) -> usize {
        self.0.byte_length() as usize
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Uint8Array> for Buffer {
    fn from(bytes: Uint8Array) -> Buffer {
        Buffer(bytes)
    }
}

impl From<Buffer> for Uint8Array {
    fn from(buffer: Buffer) -> Uint8Array {
        buffer.0
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Buffer({} bytes)", self.len())
    }
}

impl Serialize for Buffer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Attachment::new(self.0.clone(), self.len()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Buffer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Buffer, D::Error> {
        let attachment = Attachment::deserialize(deserializer)?;
        attachment
            .downcast_ref::<Uint8Array>()
            .cloned()
            .map(Buffer)
            .ok_or_else(|| D::Error::custom("the attachment is not a Uint8Array"))
    }
}
