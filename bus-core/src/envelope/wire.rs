//! The body of a frame, written and read by hand in postcard's layout.
//!
//! Byte for byte what `postcard` makes of [`Body`] with its serde derives
//! (a differential test holds the two together), without serde's generic
//! machinery on the hot path: smaller wasm, and no intermediate visitors.
//!
//! postcard's layout: unsigned integers as LEB128 varints (`i32` zigzagged
//! first), `u8` as one byte, enum variants as a varint index, `Option` as a
//! 0/1 byte, strings and byte strings as a varint length and the bytes,
//! sequences as a varint count and the elements, structs as their fields in
//! order.

use super::{Body, MAX_MESSAGES_PER_FRAME, Message, Nonce, Outcome, Refusal};
use crate::error::RemoteError;
use crate::version::Versions;

/// Appends `body` to `out`.
pub(super) fn write_body(out: &mut Vec<u8>, body: &Body) {
    match body {
        Body::Knock { versions } => {
            varint(out, 0);
            write_versions(out, *versions);
        }
        Body::Hello {
            versions,
            nonce,
            max_frame_bytes,
        } => {
            varint(out, 1);
            write_versions(out, *versions);
            out.extend_from_slice(&nonce.0);
            varint(out, u64::from(*max_frame_bytes));
        }
        Body::Welcome {
            nonce,
            version,
            max_frame_bytes,
        } => {
            varint(out, 2);
            out.extend_from_slice(&nonce.0);
            varint(out, u64::from(*version));
            varint(out, u64::from(*max_frame_bytes));
        }
        Body::Refuse {
            reason: Refusal::VersionMismatch { supported },
        } => {
            varint(out, 3);
            varint(out, 0);
            write_versions(out, *supported);
        }
        Body::Ready => varint(out, 4),
        Body::Messages(messages) => write_messages(out, messages.len(), messages.iter()),
    }
}

/// Appends a `Messages` body of `count` messages taken from `messages`.
pub(super) fn write_messages<'a>(
    out: &mut Vec<u8>,
    count: usize,
    messages: impl Iterator<Item = &'a Message>,
) {
    varint(out, 5);
    varint(out, count as u64);
    for m in messages.take(count) {
        write_message(out, m);
    }
}

/// Appends one message of a `Messages` body.
pub(crate) fn write_message(out: &mut Vec<u8>, message: &Message) {
    match message {
        Message::Call {
            id,
            method,
            payload,
            timeout_ms,
        } => {
            varint(out, 0);
            varint(out, *id);
            bytes(out, method.as_bytes());
            bytes(out, payload);
            match timeout_ms {
                None => out.push(0),
                Some(ms) => {
                    out.push(1);
                    varint(out, u64::from(*ms));
                }
            }
        }
        Message::Reply { id, outcome } => {
            varint(out, 1);
            varint(out, *id);
            match outcome {
                Outcome::Ok(payload) => {
                    varint(out, 0);
                    bytes(out, payload);
                }
                Outcome::Err(e) => {
                    varint(out, 1);
                    write_remote_error(out, e);
                }
            }
        }
        Message::Event { topic, payload } => {
            varint(out, 2);
            bytes(out, topic.as_bytes());
            bytes(out, payload);
        }
        Message::Cancel { id } => {
            varint(out, 3);
            varint(out, *id);
        }
        Message::Ping => varint(out, 4),
        Message::Pong => varint(out, 5),
        Message::Close { reason } => {
            varint(out, 6);
            bytes(out, reason.as_bytes());
        }
        Message::Attach { count } => {
            varint(out, 7);
            varint(out, u64::from(*count));
        }
    }
}

fn write_versions(out: &mut Vec<u8>, v: Versions) {
    varint(out, u64::from(v.min));
    varint(out, u64::from(v.max));
}

fn write_remote_error(out: &mut Vec<u8>, e: &RemoteError) {
    let code = e.code();
    // zigzag
    varint(out, u64::from(((code << 1) ^ (code >> 31)) as u32));
    bytes(out, e.message().as_bytes());
    match e.data() {
        None => out.push(0),
        Some(data) => {
            out.push(1);
            bytes(out, data);
        }
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn bytes(out: &mut Vec<u8>, data: &[u8]) {
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Why a body did not parse. Short, fixed texts: postcard's own messages
/// would pull its error strings into the wasm.
pub(super) type Malformed = &'static str;

/// Reads a body from the start of `input`; bytes after it are ignored.
pub(super) fn read_body(input: &[u8]) -> Result<Body, Malformed> {
    let mut r = Reader(input);
    let body = match r.variant()? {
        0 => Body::Knock {
            versions: r.versions()?,
        },
        1 => Body::Hello {
            versions: r.versions()?,
            nonce: r.nonce()?,
            max_frame_bytes: r.u32()?,
        },
        2 => Body::Welcome {
            nonce: r.nonce()?,
            version: r.u16()?,
            max_frame_bytes: r.u32()?,
        },
        3 => match r.variant()? {
            0 => Body::Refuse {
                reason: Refusal::VersionMismatch {
                    supported: r.versions()?,
                },
            },
            _ => return Err("unknown refusal"),
        },
        4 => Body::Ready,
        5 => {
            let count = r.len()?;
            if count > MAX_MESSAGES_PER_FRAME {
                return Err("too many messages");
            }
            let mut messages = Vec::with_capacity(count);
            for _ in 0..count {
                messages.push(r.message()?);
            }
            Body::Messages(messages)
        }
        _ => return Err("unknown body"),
    };
    Ok(body)
}

/// A cursor over the body's bytes. Every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

const ENDS_EARLY: Malformed = "the frame ends early";
const BAD_VARINT: Malformed = "a number is badly encoded";

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Malformed> {
        let (&b, rest) = self.0.split_first().ok_or(ENDS_EARLY)?;
        self.0 = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.0.len() {
            return Err(ENDS_EARLY);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// A varint of at most `max_bytes`, whose last byte may carry at most
    /// `bits_in_last` bits, as postcard reads it (non-minimal forms allowed).
    fn varint(&mut self, max_bytes: u32, bits_in_last: u32) -> Result<u64, Malformed> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max_bytes - 1 && u32::from(b) >= (1 << bits_in_last) {
                    return Err(BAD_VARINT);
                }
                return Ok(value);
            }
        }
        Err(BAD_VARINT)
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        self.varint(3, 16 % 7).map(|v| v as u16)
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        self.varint(5, 32 % 7).map(|v| v as u32)
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        self.varint(10, 64 % 7)
    }

    /// A `usize` (lengths and counts), as wide as this platform's.
    fn len(&mut self) -> Result<usize, Malformed> {
        let bits = usize::BITS;
        let v = self.varint(bits.div_ceil(7), bits % 7)?;
        usize::try_from(v).map_err(|_| BAD_VARINT)
    }

    fn variant(&mut self) -> Result<u32, Malformed> {
        self.u32()
    }

    fn option(&mut self) -> Result<bool, Malformed> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("an option is badly encoded"),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, Malformed> {
        let n = self.len()?;
        self.take(n).map(<[u8]>::to_vec)
    }

    fn string(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.bytes()?).map_err(|_| "a string is not UTF-8")
    }

    fn versions(&mut self) -> Result<Versions, Malformed> {
        Ok(Versions {
            min: self.u16()?,
            max: self.u16()?,
        })
    }

    fn nonce(&mut self) -> Result<Nonce, Malformed> {
        let bytes = self.take(16)?;
        let mut nonce = [0; 16];
        nonce.copy_from_slice(bytes);
        Ok(Nonce(nonce))
    }

    fn message(&mut self) -> Result<Message, Malformed> {
        Ok(match self.variant()? {
            0 => Message::Call {
                id: self.u64()?,
                method: self.string()?,
                payload: self.bytes()?,
                timeout_ms: if self.option()? {
                    Some(self.u32()?)
                } else {
                    None
                },
            },
            1 => Message::Reply {
                id: self.u64()?,
                outcome: match self.variant()? {
                    0 => Outcome::Ok(self.bytes()?),
                    1 => Outcome::Err(self.remote_error()?),
                    _ => return Err("unknown outcome"),
                },
            },
            2 => Message::Event {
                topic: self.string()?,
                payload: self.bytes()?,
            },
            3 => Message::Cancel { id: self.u64()? },
            4 => Message::Ping,
            5 => Message::Pong,
            6 => Message::Close {
                reason: self.string()?,
            },
            7 => Message::Attach { count: self.u32()? },
            _ => return Err("unknown message"),
        })
    }

    fn remote_error(&mut self) -> Result<RemoteError, Malformed> {
        let zigzag = self.u32()?;
        let code = ((zigzag >> 1) as i32) ^ -((zigzag & 1) as i32);
        let message = self.string()?;
        let data = if self.option()? {
            Some(self.bytes()?)
        } else {
            None
        };
        let error = RemoteError::new(code, message);
        Ok(match data {
            Some(data) => error.with_raw_data(data),
            None => error,
        })
    }
}
