//! A received frame, read lazily: the engine sees its length and header
//! first, and the bytes are copied into wasm only once it asks.
//!
//! A frame travels as one `Uint8Array`; any other message is not a frame.

use std::borrow::Cow;

use bus_core::FrameSource;
use bus_core::envelope::HEADER_LEN;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};

pub(crate) struct JsFrame<'a>(&'a Uint8Array);

impl<'a> JsFrame<'a> {
    /// The frame in a message's `data`, if it is one.
    pub(crate) fn of(data: &'a JsValue) -> Option<JsFrame<'a>> {
        data.dyn_ref::<Uint8Array>().map(JsFrame)
    }
}

impl FrameSource for JsFrame<'_> {
    fn len(&self) -> usize {
        self.0.byte_length() as usize
    }

    fn header(&self) -> Option<[u8; HEADER_LEN]> {
        // `to_vec` rather than `copy_to`: no length assertion (and its panic
        // message) in the wasm.
        let head = self.0.subarray(0, HEADER_LEN as u32).to_vec();
        head.first_chunk::<HEADER_LEN>().copied()
    }

    fn bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_vec())
    }
}
