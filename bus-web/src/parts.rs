//! [`Parts`]: an encoded payload as the connection carries it between the
//! engine and the application: with the `buffers` feature, its bytes and the
//! attachments its indexes name; without, its bytes alone (so a bus built
//! without buffers carries no attachment plumbing).

use bus_core::Attachment;

/// An encoded payload and the attachments its indexes name.
#[cfg(feature = "buffers")]
pub(crate) type Parts = (Vec<u8>, Vec<Attachment>);

/// An encoded payload (no attachments in this build).
#[cfg(not(feature = "buffers"))]
pub(crate) type Parts = Vec<u8>;

/// A payload from the engine.
#[cfg(feature = "buffers")]
pub(crate) fn join(bytes: Vec<u8>, attachments: Vec<Attachment>) -> Parts {
    (bytes, attachments)
}

/// A payload from the engine (its attachments: none in this build).
#[cfg(not(feature = "buffers"))]
pub(crate) fn join(bytes: Vec<u8>, _attachments: Vec<Attachment>) -> Parts {
    bytes
}

/// A payload for the engine or the decoder.
#[cfg(feature = "buffers")]
pub(crate) fn split(parts: Parts) -> (Vec<u8>, Vec<Attachment>) {
    parts
}

/// A payload for the engine or the decoder.
#[cfg(not(feature = "buffers"))]
pub(crate) fn split(parts: Parts) -> (Vec<u8>, Vec<Attachment>) {
    (parts, Vec::new())
}
