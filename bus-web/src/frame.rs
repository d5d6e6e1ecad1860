//! A received frame, read lazily: the engine sees its length and header
//! first, and the bytes are copied into wasm only once it asks. A small
//! frame (most calls, replies and events) is copied whole when its header is
//! asked for, once: one copy out of JavaScript instead of two.
//!
//! A frame travels as one `Uint8Array`, or, when it carries attachments
//! ([`bus_core::attach`]), as an array of `Uint8Array`s: the frame, then its
//! attachments in order. Any other message is not a frame.

use std::borrow::Cow;
use std::cell::OnceCell;

use bus_core::envelope::HEADER_LEN;
use bus_core::{Attachment, FrameSource};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// Frames up to this size are read whole with their header.
const READ_WHOLE_UP_TO: usize = 1024;

pub(crate) struct JsFrame {
    frame: Uint8Array,
    /// The frame's length, read once: the engine asks for it more than once.
    len: usize,
    /// A small frame's bytes, read with its header.
    whole: OnceCell<Vec<u8>>,
    /// The whole message when it carries attachments (they follow the frame).
    with_attachments: Option<Array>,
}

impl JsFrame {
    /// The frame in a message's `data`, if it is one.
    pub(crate) fn of(data: JsValue) -> Option<JsFrame> {
        let parts = match data.dyn_into::<Uint8Array>() {
            Ok(frame) => {
                return Some(JsFrame {
                    len: frame.byte_length() as usize,
                    frame,
                    whole: OnceCell::new(),
                    with_attachments: None,
                });
            }
            Err(data) => data.dyn_into::<Array>().ok()?,
        };
        let frame = parts.get(0).dyn_into::<Uint8Array>().ok()?;
        Some(JsFrame {
            len: frame.byte_length() as usize,
            frame,
            whole: OnceCell::new(),
            with_attachments: Some(parts),
        })
    }
}

impl FrameSource for JsFrame {
    fn len(&self) -> usize {
        self.len
    }

    fn header(&self) -> Option<[u8; HEADER_LEN]> {
        // `to_vec` rather than `copy_to`: no length assertion (and its panic
        // message) in the wasm.
        if self.len() <= READ_WHOLE_UP_TO {
            let whole = self.whole.get_or_init(|| self.frame.to_vec());
            return whole.first_chunk::<HEADER_LEN>().copied();
        }
        let head = self.frame.subarray(0, HEADER_LEN as u32).to_vec();
        head.first_chunk::<HEADER_LEN>().copied()
    }

    fn bytes(&self) -> Cow<'_, [u8]> {
        match self.whole.get() {
            Some(whole) => Cow::Borrowed(whole),
            None => Cow::Owned(self.frame.to_vec()),
        }
    }

    fn attachment_count(&self) -> usize {
        self.with_attachments
            .as_ref()
            .map_or(0, |parts| (parts.length() as usize).saturating_sub(1))
    }

    #[cfg(feature = "buffers")]
    fn attachments(&self) -> Option<Vec<Attachment>> {
        let mut out = Vec::new();
        if let Some(parts) = &self.with_attachments {
            for i in 1..parts.length() {
                let bytes = parts.get(i).dyn_into::<Uint8Array>().ok()?;
                let len = bytes.byte_length() as usize;
                out.push(Attachment::new(bytes, len));
            }
        }
        Some(out)
    }

    /// Without the `buffers` feature the engine refuses a frame that brings
    /// attachments before asking for them.
    #[cfg(not(feature = "buffers"))]
    fn attachments(&self) -> Option<Vec<Attachment>> {
        None
    }
}
