//! [`Bytes`]: a byte payload that (de)serialises as one block.
//!
//! Serde sees a `Vec<u8>` as a sequence and hands it over one `u8` at a
//! time; a megabyte then costs a million calls each way. `Bytes` goes
//! through `serialize_bytes` / `deserialize_byte_buf`: postcard writes the
//! length and copies the block. The wire format is the same as `Vec<u8>`'s
//! (a varint length, then the bytes), so a peer that sends or expects
//! `Vec<u8>` interoperates with one that uses `Bytes`.
//!
//! ```
//! use bus_core::{Bytes, Method};
//!
//! const UPLOAD: Method<Bytes, u32> = Method::new("files.upload");
//! let payload = Bytes::from(vec![1, 2, 3]);
//! assert_eq!(bus_core::codec::encode(&payload).unwrap(), bus_core::codec::encode(&vec![1u8, 2, 3]).unwrap());
//! # let _ = UPLOAD;
//! ```

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte payload that (de)serialises as one block (see the module docs).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes, as a `Vec`.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Bytes {
        Bytes(v.to_vec())
    }
}

impl From<Bytes> for Vec<u8> {
    fn from(b: Bytes) -> Vec<u8> {
        b.0
    }
}

impl Deref for Bytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes(v))
    }

    /// Formats that have no byte strings hand over a sequence.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        // The hint comes from the input: never trust it for the allocation.
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(Bytes(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_wire_as_a_vec_both_ways(v in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let as_vec = encode(&v).unwrap();
            let as_bytes = encode(&Bytes(v.clone())).unwrap();
            prop_assert_eq!(&as_bytes, &as_vec);
            prop_assert_eq!(decode::<Bytes>(&as_vec).unwrap(), Bytes(v.clone()));
            prop_assert_eq!(decode::<Vec<u8>>(&as_bytes).unwrap(), v);
        }
    }

    #[test]
    fn a_length_past_the_end_is_an_error_not_an_allocation() {
        // Claims 2^35 bytes, holds three.
        let lie = [0x80, 0x80, 0x80, 0x80, 0x40, 1, 2, 3];
        assert!(decode::<Bytes>(&lie).is_err());
        // Claims five, holds three.
        assert!(decode::<Bytes>(&[5, 1, 2, 3]).is_err());
    }

    #[test]
    fn inside_a_struct_it_decodes_what_a_vec_encoded() {
        #[derive(Serialize)]
        struct Sent {
            name: &'static str,
            data: Vec<u8>,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct Received {
            name: String,
            data: Bytes,
        }
        let wire = encode(&Sent {
            name: "a",
            data: vec![9; 70_000],
        })
        .unwrap();
        let got: Received = decode(&wire).unwrap();
        assert_eq!(got.name, "a");
        assert_eq!(got.data.len(), 70_000);
        assert!(got.data.iter().all(|&b| b == 9));
    }
}
