//! A received `ArrayBuffer`, read lazily: the engine sees its length and
//! header first, and the bytes are copied into wasm only once it asks.

use std::borrow::Cow;

use bus_core::FrameSource;
use bus_core::envelope::HEADER_LEN;
use js_sys::{ArrayBuffer, Uint8Array};

pub(crate) struct JsFrame<'a>(pub(crate) &'a ArrayBuffer);

impl FrameSource for JsFrame<'_> {
    fn len(&self) -> usize {
        self.0.byte_length() as usize
    }

    fn header(&self) -> Option<[u8; HEADER_LEN]> {
        if self.len() < HEADER_LEN {
            return None;
        }
        let mut header = [0u8; HEADER_LEN];
        Uint8Array::new_with_byte_offset_and_length(self.0, 0, HEADER_LEN as u32)
            .copy_to(&mut header);
        Some(header)
    }

    fn bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(Uint8Array::new(self.0).to_vec())
    }
}
