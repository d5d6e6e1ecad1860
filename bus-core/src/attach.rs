//! Attachments: byte buffers that travel beside a frame instead of inside it.
//!
//! A payload type may hold an [`Attachment`] (bus-web's `Buffer` wraps one
//! around a `Uint8Array`). Encoded with [`encode_parts`], the attachment is
//! set aside and the payload holds only its index; the binding sends the
//! frame with its attachments (in a browser: in the `postMessage` transfer
//! list, so the bytes are moved, never copied into wasm or into the frame).
//! On the receiving side, [`decode_parts`] hands each index its attachment
//! back.
//!
//! On the wire, a `Message::Attach { count }` just before a call, a
//! successful reply or an event says that this message owns the frame's
//! next `count` attachments, in order. A frame carries at most
//! [`MAX_ATTACHMENTS_PER_FRAME`]; its length plus its attachments' bytes
//! must fit the frame limit; every attachment must belong to a message.
//! A frame that breaks any of these is rejected whole, before any of its
//! messages acts.
//!
//! All this needs the `attachments` feature (on by default natively; in the
//! browser, bus-web's `buffers` feature turns it on). Without it
//! [`MAX_ATTACHMENTS_PER_FRAME`] is 0, a frame that brings an attachment is
//! refused before it is looked at, and an [`Attachment`] has no values:
//! nothing can make one, so none costs the wasm a byte.
//!
//! An attachment is opaque to the engine: whatever the binding put in it
//! (a JS object in a browser, a `Vec<u8>` in native tests) and its length.
//!
//! `Attachment::new` (with the feature) shows an example.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{CodecError, decode, encode};

/// Whether this build carries attachments (the `attachments` feature).
pub const ENABLED: bool = cfg!(feature = "attachments");

/// The most attachments one frame may carry; a frame with more is refused
/// before any of them is looked at, and a message with more is refused
/// when sent. 0 without the `attachments` feature.
pub const MAX_ATTACHMENTS_PER_FRAME: usize = if ENABLED { 64 } else { 0 };

/// A buffer that travels beside its frame (see the module docs). Cloning
/// shares the buffer.
#[derive(Clone)]
pub struct Attachment(Inner);

/// What an [`Attachment`] can hold: anything natively that can cross
/// threads (an engine runs on a server's worker threads), any value in the
/// browser (a `Uint8Array` is not `Send`).
#[cfg(not(target_arch = "wasm32"))]
pub trait AttachmentValue: std::any::Any + Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: std::any::Any + Send + Sync> AttachmentValue for T {}

/// What an [`Attachment`] can hold: anything natively that can cross
/// threads (an engine runs on a server's worker threads), any value in the
/// browser (a `Uint8Array` is not `Send`).
#[cfg(target_arch = "wasm32")]
pub trait AttachmentValue: std::any::Any {}
#[cfg(target_arch = "wasm32")]
impl<T: std::any::Any> AttachmentValue for T {}

#[cfg(all(feature = "attachments", not(target_arch = "wasm32")))]
type Shared = std::sync::Arc<dyn std::any::Any + Send + Sync>;
#[cfg(all(feature = "attachments", target_arch = "wasm32"))]
type Shared = std::rc::Rc<dyn std::any::Any>;

#[cfg(feature = "attachments")]
#[derive(Clone)]
struct Inner {
    value: Shared,
    len: usize,
}

/// Without the feature: no values.
#[cfg(not(feature = "attachments"))]
#[derive(Clone)]
enum Inner {}

impl Attachment {
    /// Wraps a binding's buffer of `len` bytes.
    ///
    /// ```
    /// use bus_core::attach::{Attachment, decode_parts, encode_parts};
    ///
    /// let parts = (7u32, Attachment::new(vec![1u8, 2, 3], 3));
    /// let (bytes, attachments) = encode_parts(&parts)?;
    /// assert_eq!(bytes, [7, 0]); // the number, then the attachment's index
    /// assert_eq!(attachments.len(), 1);
    /// let (n, a): (u32, Attachment) = decode_parts(&bytes, attachments)?;
    /// assert_eq!((n, a.downcast_ref::<Vec<u8>>()), (7, Some(&vec![1, 2, 3])));
    /// # Ok::<(), bus_core::CodecError>(())
    /// ```
    #[cfg(feature = "attachments")]
    pub fn new<T: AttachmentValue>(value: T, len: usize) -> Attachment {
        #[cfg(not(target_arch = "wasm32"))]
        let value: Shared = std::sync::Arc::new(value);
        #[cfg(target_arch = "wasm32")]
        let value: Shared = std::rc::Rc::new(value);
        Attachment(Inner { value, len })
    }

    /// Its length in bytes, as the binding measured it.
    pub fn len(&self) -> usize {
        #[cfg(feature = "attachments")]
        return self.0.len;
        #[cfg(not(feature = "attachments"))]
        match self.0 {}
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The binding's buffer, if it is a `T`.
    pub fn downcast_ref<T: std::any::Any>(&self) -> Option<&T> {
        #[cfg(feature = "attachments")]
        return self.0.value.downcast_ref();
        #[cfg(not(feature = "attachments"))]
        match self.0 {}
    }
}

impl PartialEq for Attachment {
    /// The same buffer.
    fn eq(&self, other: &Attachment) -> bool {
        #[cfg(feature = "attachments")]
        return Shared::ptr_eq(&self.0.value, &other.0.value);
        #[cfg(not(feature = "attachments"))]
        {
            let _ = other;
            match self.0 {}
        }
    }
}

impl Eq for Attachment {}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Attachment({} bytes)", self.len())
    }
}

/// Encodes `value` with postcard, setting its attachments aside.
pub fn encode_parts<T: Serialize + ?Sized>(
    value: &T,
) -> Result<(Vec<u8>, Vec<Attachment>), CodecError> {
    #[cfg(feature = "attachments")]
    {
        let outer = scopes::set_outgoing(Some(Vec::new()));
        let bytes = encode(value);
        let attachments = scopes::set_outgoing(outer).unwrap_or_default();
        Ok((bytes?, attachments))
    }
    #[cfg(not(feature = "attachments"))]
    encode(value).map(|bytes| (bytes, Vec::new()))
}

/// Decodes `bytes` with postcard, giving each attachment index in it the
/// attachment it names. An index out of range or named twice fails the
/// decoding; attachments nobody names are dropped.
pub fn decode_parts<T: DeserializeOwned>(
    bytes: &[u8],
    attachments: Vec<Attachment>,
) -> Result<T, CodecError> {
    #[cfg(feature = "attachments")]
    {
        let outer = scopes::enter_incoming(attachments);
        let value = decode(bytes);
        scopes::set_incoming(outer);
        value
    }
    #[cfg(not(feature = "attachments"))]
    {
        drop(attachments);
        decode(bytes)
    }
}

impl Serialize for Attachment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[cfg(feature = "attachments")]
        match scopes::set_aside(self) {
            Some(i) => serializer.serialize_u32(i),
            None => Err(serde::ser::Error::custom(
                "an attachment travels only through a connection",
            )),
        }
        #[cfg(not(feature = "attachments"))]
        {
            let _ = serializer;
            match self.0 {}
        }
    }
}

impl<'de> Deserialize<'de> for Attachment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Attachment, D::Error> {
        let index = u32::deserialize(deserializer)? as usize;
        #[cfg(feature = "attachments")]
        return scopes::claim(index).ok_or_else(|| D::Error::custom("no such attachment"));
        #[cfg(not(feature = "attachments"))]
        {
            let _ = index;
            Err(D::Error::custom("this bus is built without attachments"))
        }
    }
}

/// The attachments of the payload being encoded or decoded.
#[cfg(feature = "attachments")]
mod scopes {
    use std::cell::RefCell;

    use super::Attachment;

    thread_local! {
        /// Set while `encode_parts` runs: the attachments met so far.
        static OUTGOING: RefCell<Option<Vec<Attachment>>> = const { RefCell::new(None) };
        /// Set while `decode_parts` runs: the attachments not claimed yet.
        static INCOMING: RefCell<Option<Vec<Option<Attachment>>>> = const { RefCell::new(None) };
    }

    // Set and reset out of line: once in the wasm, however many payload
    // types are encoded.
    #[inline(never)]
    pub(super) fn set_outgoing(to: Option<Vec<Attachment>>) -> Option<Vec<Attachment>> {
        OUTGOING.with(|o| o.replace(to))
    }

    #[inline(never)]
    pub(super) fn enter_incoming(attachments: Vec<Attachment>) -> Option<Vec<Option<Attachment>>> {
        set_incoming(Some(attachments.into_iter().map(Some).collect()))
    }

    #[inline(never)]
    pub(super) fn set_incoming(
        to: Option<Vec<Option<Attachment>>>,
    ) -> Option<Vec<Option<Attachment>>> {
        INCOMING.with(|i| i.replace(to))
    }

    /// Sets `a` aside in the current encoding; its index, or `None` outside one.
    pub(super) fn set_aside(a: &Attachment) -> Option<u32> {
        let index = OUTGOING.with(|o| {
            o.borrow_mut().as_mut().map(|set_aside| {
                set_aside.push(a.clone());
                set_aside.len() - 1
            })
        });
        index.and_then(|i| u32::try_from(i).ok())
    }

    /// Takes attachment `index` of the current decoding, once.
    pub(super) fn claim(index: usize) -> Option<Attachment> {
        INCOMING.with(|i| {
            i.borrow_mut()
                .as_mut()
                .and_then(|incoming| incoming.get_mut(index))
                .and_then(Option::take)
        })
    }
}

#[cfg(all(test, feature = "attachments"))]
mod tests {
    use serde::ser::Error as _;

    use super::*;

    fn buffer(bytes: &[u8]) -> Attachment {
        Attachment::new(bytes.to_vec(), bytes.len())
    }

    #[test]
    fn indexes_follow_the_order_met() {
        let (a, b) = (buffer(b"a"), buffer(b"bb"));
        let (bytes, set_aside) = encode_parts(&vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(bytes, [2, 0, 1]);
        assert_eq!(set_aside, [a.clone(), b.clone()]);
        let back: Vec<Attachment> = decode_parts(&bytes, set_aside).unwrap();
        assert_eq!(back, [a, b]);
    }

    #[test]
    fn an_index_out_of_range_or_named_twice_fails() {
        let a = buffer(b"a");
        assert!(decode_parts::<Attachment>(&[1], vec![a.clone()]).is_err());
        assert!(decode_parts::<(Attachment, Attachment)>(&[0, 0], vec![a.clone()]).is_err());
        assert!(decode_parts::<Attachment>(&[0], vec![]).is_err());
        assert_eq!(
            decode_parts::<Attachment>(&[0], vec![a.clone()]).unwrap(),
            a
        );
    }

    #[test]
    fn outside_a_connection_an_attachment_does_not_encode_or_decode() {
        assert!(encode(&buffer(b"a")).is_err());
        assert!(decode::<Attachment>(&[0]).is_err());
    }

    #[test]
    fn nested_scopes_keep_their_own_attachments() {
        struct Nested(Attachment);
        impl Serialize for Nested {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // An inner encoding (as a payload type's own Serialize might do).
                let (inner, set_aside) = encode_parts(&self.0).map_err(S::Error::custom)?;
                assert_eq!((inner.as_slice(), set_aside.len()), (&[0u8][..], 1));
                self.0.serialize(s)
            }
        }
        let (a, b) = (buffer(b"a"), buffer(b"b"));
        let (bytes, set_aside) = encode_parts(&(a.clone(), Nested(b.clone()))).unwrap();
        assert_eq!((bytes, set_aside), (vec![0, 1], vec![a, b]));
    }
}
